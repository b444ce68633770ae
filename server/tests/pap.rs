//! The PAP channel against a real Push Proxy Gateway written by other people: Kannel 1.4.5
//! (Debian `kannel`, `kannel-extras`) with its fake SMSC, configured as shared/tools/kannel/
//! does but on free ports. Checks that Kannel accepts our push (1001), that the SMS it makes
//! carries the WDP port 2948 and our body, and that its refusals map to the right errors. HTTPS
//! is checked against an in-process TLS endpoint (Kannel's PPG here speaks plain HTTP).
//! Under `CI` a missing Kannel fails the test; elsewhere the test prints a notice and skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omadm_server::delivery::{
    DeliveryError, DeliveryOutcome, OutboundPush, PapChannel, PapConfig, PushChannel, PushContent,
};

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const WAPBOX: &str = "/usr/sbin/wapbox";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// shared/tools/kannel/kannel.conf with the ports as placeholders.
const KANNEL_CONF: &str = r#"group = core
admin-port = ADMIN_PORT
admin-password = adminpw
admin-interface = 127.0.0.1
wapbox-port = WAPBOX_PORT
smsbox-port = SMSBOX_PORT
box-allow-ip = 127.0.0.1
log-file = "bearerbox.log"
log-level = 0
access-log = "access.log"

group = smsc
smsc = fake
smsc-id = fake1
host = 127.0.0.1
port = SMSC_PORT
connect-allow-ip = 127.0.0.1

group = wapbox
bearerbox-host = 127.0.0.1
log-file = "wapbox.log"
log-level = 0

group = ppg
ppg-url = /wappush
ppg-port = PPG_PORT
concurrent-pushes = 10
users = 10
trusted-pi = true
ppg-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
"#;

/// Whether Kannel's boxes and fakesmsc are installed; under `CI` their absence is a failure.
fn kannel_present() -> bool {
    let missing: Vec<&str> =
        [BEARERBOX, WAPBOX, FAKESMSC].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} required under CI (apt-get install kannel kannel-extras)"
    );
    eprintln!("notice: skipping the Kannel PPG test, {missing:?} not installed");
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running bearerbox + fakesmsc + wapbox, stopped on drop (also when the test fails).
struct Kannel {
    dir: PathBuf,
    ppg_port: u16,
    /// wapbox, fakesmsc, bearerbox: the order to stop them in.
    children: Vec<Child>,
}

impl Kannel {
    fn start() -> Kannel {
        let dir = std::env::temp_dir().join(format!("omadm-kannel-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let [admin, wapbox, smsbox, smsc, ppg] = std::array::from_fn(|_| free_port());
        let conf = KANNEL_CONF
            .replace("ADMIN_PORT", &admin.to_string())
            .replace("WAPBOX_PORT", &wapbox.to_string())
            .replace("SMSBOX_PORT", &smsbox.to_string())
            .replace("SMSC_PORT", &smsc.to_string())
            .replace("PPG_PORT", &ppg.to_string());
        std::fs::write(dir.join("kannel.conf"), conf).unwrap();
        let mut k = Kannel { dir, ppg_port: ppg, children: Vec::new() };
        k.spawn(BEARERBOX, &["-v", "1", "kannel.conf"], "bb.out");
        k.wait_for("bb.out", "Start-up done");
        let smsc = smsc.to_string();
        k.spawn(FAKESMSC, &["-H", "127.0.0.1", "-r", &smsc, "-m", "0", "1 2 text x"], "fakesmsc.out");
        k.wait_for("bb.out", "Fakesmsc client connected");
        k.spawn(WAPBOX, &["-v", "1", "kannel.conf"], "wb.out");
        k.wait_for("wb.out", "Connected to bearerbox");
        k.wait_for("wb.out", &format!("Opening server at port {ppg}"));
        k
    }

    fn spawn(&mut self, program: &str, args: &[&str], out: &str) {
        let log = std::fs::File::create(self.dir.join(out)).unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        self.children.insert(0, child);
    }

    fn output(&self, file: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join(file)).unwrap_or_default()).into_owned()
    }

    fn wait_for(&self, file: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output(file).contains(needle) {
            assert!(Instant::now() < deadline, "{needle:?} not in {file}:\n{}", self.output(file));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ppg_port)
    }
}

impl Drop for Kannel {
    /// As shared/tools/kannel/stop.sh: SIGINT in order, then SIGKILL what is left.
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A DM notification (package 0) as the content: the computed example of FACTS E.3 (EX).
fn package0() -> Vec<u8> {
    let hex = "2e84b4d47d65793a313fb4b5ffcbaac502d0000000123412636f6d2e6d676d747372762e6d616e616765";
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn push(id: &str) -> OutboundPush {
    OutboundPush {
        device_id: None,
        push_id: id.into(),
        msisdn: "+491701234567".into(),
        sms_user_data: vec![],
        content: PushContent {
            content_type: "application/vnd.syncml.notification".into(),
            application_id: Some("x-wap-application:syncml.dm".into()),
            body: package0(),
        },
    }
}

/// fakesmsc prints URL-encoded octets (`%0B`); other characters stand for themselves.
fn url_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// `Got message N: <from to udh UDH data DATA>` lines of fakesmsc, decoded.
fn received_sms(output: &str) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    output
        .lines()
        .filter_map(|l| l.split_once("Got message ")?.1.split_once(": <"))
        .map(|(_, rest)| {
            let fields: Vec<&str> = rest.trim_end_matches('>').split(' ').collect();
            assert_eq!((fields[2], fields[4]), ("udh", "data"), "{rest}");
            (fields[1].to_owned(), url_decode(fields[3]), url_decode(fields[5]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_ppg_accepts_our_push_and_refusals_are_mapped() {
    if !kannel_present() {
        return;
    }
    let kannel = Kannel::start();

    // Accepted: push-response 1001 and one SMS to port 2948 carrying our body.
    let channel = PapChannel::new(PapConfig::new(kannel.url("/wappush"), "ppg.example.com")).unwrap();
    let outcome = channel.deliver(&push("omadm-1@example.com")).await;
    assert_eq!(outcome, Ok(DeliveryOutcome::Accepted { references: vec!["omadm-1@example.com".into()] }));
    kannel.wait_for("wb.out", "push message accepted for processing");
    kannel.wait_for("fakesmsc.out", "Got message 1:");
    let sms = received_sms(&kannel.output("fakesmsc.out"));
    assert_eq!(sms.len(), 1, "{sms:?}");
    let (to, udh, data) = &sms[0];
    assert_eq!(to, "+491701234567");
    // UDHL 6, IE 05 (16-bit ports), dst 0x0B84 = 2948, src 9200 (FACTS F.2).
    assert_eq!(udh, &[0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
    assert_eq!(data[1], 0x06, "WSP Push PDU");
    let text = String::from_utf8_lossy(data);
    assert!(text.contains("application/vnd.syncml.notification"), "{text}");
    assert!(data.windows(2).any(|w| w == [0xAF, 0x87]), "X-Wap-Application-Id syncml.dm");
    assert!(data.ends_with(&package0()), "body bytes at the end of the WSP push");

    // A document the PPG refuses (an unknown bearer): badmessage-response 2000, permanent.
    let mut config = PapConfig::new(kannel.url("/wappush"), "ppg.example.com");
    config.bearer = "FOO".into();
    let err = PapChannel::new(config).unwrap().deliver(&push("omadm-2@example.com")).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Rejected { code: 2000, reason } if reason.contains("badmessage")),
        "{err}"
    );
    assert!(!err.is_retryable());

    // Nothing reached the SMSC for the refused push.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(received_sms(&kannel.output("fakesmsc.out")).len(), 1);

    // No PPG listening: unavailable, retry later.
    let closed =
        PapChannel::new(PapConfig::new(format!("http://127.0.0.1:{}/wappush", free_port()), "ppg")).unwrap();
    let err = closed.deliver(&push("omadm-3@example.com")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
}

/// An in-process PPG over TLS (rcgen certificate for `localhost`): the channel trusts the CA of
/// `ca_file` and no other, and sends the same multipart body over HTTPS.
#[tokio::test]
async fn https_ppg_with_the_configured_ca() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("omadm-pap-tls-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key.into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut request = Vec::new();
        loop {
            assert!(tls.read_buf(&mut request).await.unwrap() > 0, "request cut short");
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap();
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let answer = r#"<?xml version="1.0"?><pap><push-response push-id="tls-1"><response-result code="1001" desc="ok"/></push-response></pap>"#;
        let response = format!(
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        tls.write_all(response.as_bytes()).await.unwrap();
        tls.shutdown().await.unwrap();
        (request, listener, acceptor)
    });

    let mut config = PapConfig::new(format!("https://localhost:{port}/wappush"), "ppg.example.com");
    config.ca_file = Some(ca);
    let outcome = PapChannel::new(config).unwrap().deliver(&push("tls-1")).await;
    assert_eq!(outcome, Ok(DeliveryOutcome::Accepted { references: vec!["tls-1".into()] }));
    let (request, listener, acceptor) = server.await.unwrap();
    let text = String::from_utf8_lossy(&request);
    assert!(text.starts_with("POST /wappush HTTP/1.1\r\n"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("\r\ncontent-type: multipart/related; boundary=omadm-"), "{text}");
    assert!(lower.contains("; type=\"application/xml\"\r\n"), "{text}");
    let mut tail = package0();
    tail.extend_from_slice(b"\r\n--omadm-");
    assert!(request.windows(tail.len()).any(|w| w == tail), "body bytes then the closing delimiter");

    // The system trust store does not know this CA: the TLS handshake fails, retry later.
    let refuse = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    let channel =
        PapChannel::new(PapConfig::new(format!("https://localhost:{port}/wappush"), "ppg")).unwrap();
    let err = channel.deliver(&push("tls-2")).await.unwrap_err();
    assert!(matches!(&err, DeliveryError::Unavailable { reason } if reason.contains("TLS")), "{err}");
    refuse.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
