//! The operator CLI (`omadm device ...`, `omadm command ...`, `omadm alerts`, `omadm bootstrap
//! ...`, `omadm push ...`) run as the built binary against a temporary SQLite file.
//!
//! The bootstrap output is checked with decoders other than the one that built it: libwbxml's
//! `wbxml2xml -l PROV10` (Debian `libwbxml2-utils`; under `CI` a missing tool fails the test,
//! elsewhere that check is skipped with a notice), and our WSP / SMS / SEC-MAC decoders.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "omadm-cli-{}-{}",
            std::process::id(),
            omadm_server::app::random_token()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `omadm <args>` on the database `url`, with the environment scrubbed of our variables.
fn omadm(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omadm"));
    for var in [
        "OMADM_CONFIG",
        "OMADM_SERVER_ID",
        "OMADM_DEVICE_PASSWORD",
        "OMADM_SERVER_PASSWORD",
        "OMADM_PUBLIC_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("OMADM_DATABASE_URL", url).args(args).output().expect("run omadm")
}

/// Run and expect success; stdout.
fn ok(url: &str, args: &[&str]) -> String {
    let out = omadm(url, args);
    assert!(
        out.status.success(),
        "omadm {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run and expect failure with exit code 2 and a one-line message; stderr.
fn fails(url: &str, args: &[&str]) -> String {
    let out = omadm(url, args);
    assert_eq!(out.status.code(), Some(2), "omadm {args:?}: {out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("omadm: "), "{err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    err
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn devices_and_commands_from_the_command_line() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());

    // Add (with the server's credentials), list, show.
    let out = ok(
        &url,
        &[
            "device",
            "add",
            "IMEI:1",
            "--auth",
            "md5",
            "--username",
            "u",
            "--password",
            "p-secret",
            "--nonce",
            "bm9uY2U=",
            "--server-password",
            "sp-secret",
            "--server-id",
            "srv1",
        ],
    );
    assert!(out.contains("IMEI:1") && out.contains("md5"), "{out}");
    assert!(!out.contains("p-secret") && !out.contains("bm9uY2U="), "{out}");
    let d = json_of(&ok(
        &url,
        &["device", "add", "IMEI:2", "--auth", "basic", "--username", "u2", "--password", "pw", "--json"],
    ));
    assert_eq!(d["device_id"], "IMEI:2");
    assert_eq!(d["client_auth"], json!({"type": "basic", "username": "u2"}));
    assert_eq!((d["server_id"].as_str(), d["server_auth"].as_bool()), (Some("omadm"), Some(false)));

    let table = ok(&url, &["device", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DEVICE"), "{table}");
    assert!(
        lines[1].starts_with("IMEI:1 ") && lines[1].contains("srv1") && lines[1].contains("yes"),
        "{table}"
    );
    assert!(lines[2].starts_with("IMEI:2 "), "{table}");
    let page = json_of(&ok(&url, &["device", "list", "--json", "--limit", "1"]));
    assert_eq!(page["devices"][0]["device_id"], "IMEI:1");
    assert_eq!(page["next_after"], "IMEI:1");

    let show = ok(&url, &["device", "show", "IMEI:1"]);
    assert!(show.contains("srv1") && show.contains("inventory (0 nodes)"), "{show}");
    let shown = json_of(&ok(&url, &["device", "show", "IMEI:1", "--json"]));
    assert_eq!(shown["server_auth"], true);
    assert_eq!(shown["inventory"], json!([]));

    // Errors: one line, exit code 2.
    assert!(
        fails(&url, &["device", "add", "IMEI:1", "--auth", "md5", "--username", "u", "--password", "p"])
            .contains("already exists")
    );
    assert!(fails(&url, &["device", "show", "IMEI:404"]).contains("not found"));
    assert!(
        fails(
            &url,
            &[
                "device",
                "add",
                "IMEI:3",
                "--auth",
                "md5",
                "--username",
                "u",
                "--password",
                "p",
                "--nonce",
                "%%"
            ]
        )
        .contains("nonce")
    );

    // Commands from flags and from JSON; show and list.
    let id = ok(&url, &["command", "add", "IMEI:1", "--op", "Get", "--target", "./DevDetail/SwV"]);
    let id: i64 = id.trim().parse().expect("the id alone");
    let c = json_of(&ok(&url, &["command", "show", "IMEI:1", &id.to_string(), "--json"]));
    assert_eq!(
        (c["op"].as_str(), c["target"].as_str(), c["state"].as_str()),
        (Some("Get"), Some("./DevDetail/SwV"), Some("queued"))
    );
    let human = ok(&url, &["command", "show", "IMEI:1", &id.to_string()]);
    assert!(human.contains(&format!("#{id} Get ./DevDetail/SwV")) && human.contains("queued"), "{human}");

    let spec = r#"{"op":"Sequence","commands":[{"op":"Alert","alert_code":1101,"texts":["MAXDT=30","Install?"]},{"op":"Exec","target":"./FUMO/Update"}]}"#;
    let seq: i64 = ok(&url, &["command", "add", "IMEI:1", "--json", spec]).trim().parse().unwrap();
    let c = json_of(&ok(&url, &["command", "show", "IMEI:1", &seq.to_string(), "--json"]));
    assert_eq!(c["commands"][0]["alert_code"], 1101);
    assert_eq!(c["commands"][1]["target"], "./FUMO/Update");
    let spec_file = dir.0.join("cmd.json");
    std::fs::write(&spec_file, r#"{"op":"Replace","target":"./Vendor/X","data":"7","format":"int"}"#)
        .unwrap();
    ok(&url, &["command", "add", "IMEI:1", "--json", &format!("@{}", spec_file.display())]);

    let list = ok(&url, &["command", "list", "IMEI:1"]);
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains("./Vendor/X") && list.contains("./DevDetail/SwV"), "{list}");
    let list = json_of(&ok(&url, &["command", "list", "IMEI:1", "--state", "queued", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);

    assert!(
        fails(
            &url,
            &[
                "command",
                "add",
                "IMEI:1",
                "--json",
                r#"{"op":"Atomic","commands":[{"op":"Get","target":"./A"}]}"#
            ]
        )
        .contains("Atomic")
    );
    assert!(fails(&url, &["command", "add", "IMEI:1", "--op", "Get", "--target", "DevInfo"]).contains("./"));
    assert!(
        fails(&url, &["command", "add", "IMEI:404", "--op", "Get", "--target", "./A"]).contains("not found")
    );
    assert!(fails(&url, &["command", "show", "IMEI:1", "999999"]).contains("not found"));

    // Alerts (none yet), sessions (none yet), delete.
    assert_eq!(json_of(&ok(&url, &["alerts", "--json"])), json!([]));
    assert!(ok(&url, &["alerts", "--device", "IMEI:1"]).starts_with("ID"));
    assert_eq!(json_of(&ok(&url, &["device", "sessions", "IMEI:1", "--json"])), json!([]));
    assert!(ok(&url, &["device", "rm", "IMEI:2"]).contains("deleted"));
    assert!(fails(&url, &["device", "rm", "IMEI:2"]).contains("not found"));

    // Everything was audited as the CLI, without secrets.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let audit = rt.block_on(async {
        let store = omadm_storage::Store::connect(&url).await.unwrap();
        let audit = store.list_audit(None, 100).await.unwrap();
        store.close().await;
        audit
    });
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "device.delete",
            "command.enqueue",
            "command.enqueue",
            "command.enqueue",
            "device.create",
            "device.create"
        ]
    );
    assert!(audit.iter().all(|e| e.actor == "cli"));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("p-secret") && !text.contains("sp-secret") && !text.contains("bm9uY2U="),
        "{text}"
    );
}

#[test]
fn ddfs_from_the_command_line() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let file = dir.0.join("acme-audio.xml");
    std::fs::write(
        &file,
        r#"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Acme</NodeName>
  <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
    <DFType><DDFName>urn:acme:mo:audio:1.0</DDFName></DFType></DFProperties></Node></MgmtTree>"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let id = ok(&url, &["ddf", "import", path, "--mount", "./Vendor/Acme"]);
    let id: i64 = id.trim().parse().unwrap_or_else(|_| panic!("an id: {id:?}"));
    let table = ok(&url, &["ddf", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(
        lines[1].starts_with(&format!("{id} "))
            && lines[1].contains("acme-audio")
            && lines[1].contains("./Vendor/Acme")
            && lines[1].contains("urn:acme:mo:audio:1.0"),
        "{table}"
    );
    let list = json_of(&ok(&url, &["ddf", "list", "--json"]));
    assert_eq!(list[0]["name"], "acme-audio", "named after the file");
    let err = fails(&url, &["ddf", "import", path, "--mount", "./Vendor/Acme"]);
    assert!(err.contains("already exists"), "{err}");
    let bad = dir.0.join("bad.xml");
    std::fs::write(&bad, "<MgmtTree><Node>").unwrap();
    let err = fails(&url, &["ddf", "import", bad.to_str().unwrap(), "--mount", "./X"]);
    assert!(err.contains("DDF document"), "{err}");
    ok(&url, &["ddf", "delete", &id.to_string()]);
    assert_eq!(json_of(&ok(&url, &["ddf", "list", "--json"])), json!([]));
    let err = fails(&url, &["ddf", "delete", &id.to_string()]);
    assert!(err.contains("not found"), "{err}");
}

// ---- bootstrap ----

/// Whether libwbxml's `wbxml2xml` is installed; under `CI` its absence is a failure.
fn wbxml2xml_present() -> bool {
    if Command::new("wbxml2xml").arg("-h").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "wbxml2xml required under CI (apt-get install libwbxml2-utils)"
    );
    eprintln!("notice: skipping the wbxml2xml checks, libwbxml2-utils is not installed");
    false
}

/// `wbxml2xml -l PROV10` of a CP document.
fn prov_xml(dir: &std::path::Path, wbxml: &[u8]) -> String {
    let (inp, out) = (dir.join("oracle.wbxml"), dir.join("oracle.xml"));
    std::fs::write(&inp, wbxml).unwrap();
    let run = Command::new("wbxml2xml").args(["-l", "PROV10", "-o"]).arg(&out).arg(&inp).output().unwrap();
    assert!(run.status.success(), "wbxml2xml: {}", String::from_utf8_lossy(&run.stderr));
    std::fs::read_to_string(&out).unwrap()
}

/// The value of a `name: value` line of the output.
fn field<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

/// The lines under the heading starting with `heading`, up to the next blank line.
fn section<'a>(out: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with(heading));
    assert!(lines.next().is_some(), "no {heading:?} in {out}");
    lines.take_while(|l| !l.is_empty()).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "{text}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Rule (issue 6; FACTS.md G.4, F.1, F.2): `omadm bootstrap cp` prints the document, its
/// WBXML, the WSP push PDU and the SMS, and they are one and the same push: the WBXML decodes
/// with libwbxml to a document holding the account, the PDU carries it with SEC=USERPIN and a
/// MAC that checks with the PIN, the SMS reassemble into the PDU. Nothing is stored.
#[test]
fn bootstrap_cp_prints_every_layer() {
    use omadm_protocol::bootstrap::Credential;
    use omadm_protocol::push::{MediaType, Ports, PushPdu, reassemble};

    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let out = ok(
        &url,
        &[
            "bootstrap",
            "cp",
            "IMEI:490154203237518",
            "--server-id",
            "srv-cli",
            "--addr",
            "http://dm.example.com/dm",
            "--username",
            "cliuser",
            "--server-password",
            "srvpw-cli",
            "--sec",
            "userpin",
            "--pin",
            "2468",
            "--napid",
            "NAP1",
            "--apn",
            "internet.example",
        ],
    );
    // The device's password was drawn and is shown; the given one is not repeated.
    let client_pw = field(&out, "client password").expect("the drawn password").to_owned();
    assert_eq!(client_pw.len(), 22, "16 random bytes in URL-safe Base64");
    assert_eq!(field(&out, "server password"), None, "{out}");
    assert_eq!(field(&out, "user PIN"), Some("2468"));

    let wbxml = unhex(section(&out, "WBXML (")[0]);
    let wsp = unhex(section(&out, "WSP push PDU (")[0]);
    let sms: Vec<Vec<u8>> =
        section(&out, "SMS (").iter().map(|l| unhex(l.split_once(": ").expect("N: hex").1)).collect();

    let pdu = PushPdu::decode(&wsp).unwrap();
    assert_eq!(pdu.body, wbxml, "the PDU carries the printed WBXML");
    assert_eq!(pdu.content_type.media, MediaType::ConnectivityWbxml);
    assert_eq!(pdu.content_type.sec.map(|s| s.code()), Some(1), "SEC=USERPIN");
    assert_eq!(pdu.application_id, None, "CP pushes carry no application id");
    let mac = pdu.content_type.mac.as_ref().expect("MAC").as_str().to_owned();
    assert!(Credential::UserPin { pin: "2468".into() }.verify(&wbxml, &mac).unwrap());
    assert!(!Credential::UserPin { pin: "2469".into() }.verify(&wbxml, &mac).unwrap());
    assert_eq!(
        field(&out, "content type"),
        Some(format!("application/vnd.wap.connectivity-wbxml; SEC=USERPIN; MAC={mac}").as_str())
    );

    assert!(sms.len() >= 2 && sms.iter().all(|s| s.len() <= 140), "{sms:?}");
    let (ports, reassembled) = reassemble(&sms).unwrap();
    assert_eq!(reassembled, wsp);
    assert_eq!(ports.destination, Ports::WAP_PUSH);

    let xml = section(&out, "document (XML").join("\n");
    assert!(xml.contains(r#"<parm name="PROVIDER-ID" value="srv-cli"/>"#), "{xml}");
    if wbxml2xml_present() {
        let theirs = prov_xml(&dir.0, &wbxml);
        for line in [
            r#"<parm name="PROVIDER-ID" value="srv-cli"/>"#.to_owned(),
            r#"<parm name="ADDR" value="http://dm.example.com/dm"/>"#.to_owned(),
            r#"<parm name="AAUTHNAME" value="cliuser"/>"#.to_owned(),
            format!(r#"<parm name="AAUTHSECRET" value="{client_pw}"/>"#),
            r#"<parm name="AAUTHSECRET" value="srvpw-cli"/>"#.to_owned(),
            r#"<parm name="NAP-ADDRESS" value="internet.example"/>"#.to_owned(),
        ] {
            assert!(theirs.contains(&line), "{line} not in {theirs}");
        }
    }
    assert!(!dir.0.join("omadm.db").exists(), "printing stores nothing");
}

/// Rule (FACTS.md G.4, G.5): `omadm bootstrap dm --out` writes the DM-profile message (a
/// WBXML DM message adding the DM 1.1.2 account), its push (0xC2, application id 0x07,
/// SEC=USERPINMAC without MAC) and the SMS; the printed PIN checks the document.
#[test]
fn bootstrap_dm_writes_files() {
    use omadm_protocol::bootstrap::security::verify_userpinmac;
    use omadm_protocol::push::{MediaType, PushPdu, reassemble};
    use omadm_protocol::{Command as DmCommand, Encoding, Limits};

    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let files = dir.0.join("dm-out");
    let out = ok(
        &url,
        &[
            "bootstrap",
            "dm",
            "IMEI:490154203237518",
            "--public-url",
            "http://dm.example.com/",
            "--username",
            "dmuser",
            "--sec",
            "userpinmac",
            "--dm-version",
            "1.1.2",
            "--form",
            "commands",
            "--out",
            files.to_str().unwrap(),
        ],
    );
    assert!(!out.contains("WBXML ("), "files instead of hex: {out}");
    let pin = field(&out, "user PIN").expect("USERPINMAC PIN");
    let wbxml = std::fs::read(files.join("doc.wbxml")).unwrap();
    assert!(verify_userpinmac(pin, &wbxml), "the PIN {pin} checks the document");
    let wsp = std::fs::read(files.join("push.wsp")).unwrap();
    let pdu = PushPdu::decode(&wsp).unwrap();
    assert_eq!(pdu.body, wbxml);
    assert_eq!(pdu.content_type.media, MediaType::DmBootstrap);
    assert_eq!(pdu.application_id.map(|a| a.0), Some(0x07));
    assert_eq!(pdu.content_type.sec.map(|s| s.code()), Some(3), "SEC=USERPINMAC");
    assert!(pdu.content_type.mac.is_none());
    let sms: Vec<Vec<u8>> =
        (1..).map_while(|n| std::fs::read(files.join(format!("sms-{n}.bin"))).ok()).collect();
    assert!(!sms.is_empty());
    assert_eq!(reassemble(&sms).unwrap().1, wsp);

    let msg = omadm_protocol::decode_as(&wbxml, Encoding::Wbxml, &Limits::default()).unwrap();
    let items: Vec<(String, String)> = msg
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            DmCommand::Add(a) => a.items.first().map(|i| {
                let target = i.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                (target, format!("{:?}", i.data))
            }),
            _ => None,
        })
        .collect();
    let user = items.iter().find(|(t, _)| t.starts_with("./SyncML/DMAcc/") && t.ends_with("/UserName"));
    assert!(user.is_some_and(|(_, d)| d.contains("dmuser")), "{items:?}");
    let xml = std::fs::read_to_string(files.join("doc.xml")).unwrap();
    assert!(xml.contains("http://dm.example.com/dm"), "the public URL's /dm: {xml}");
    assert!(!dir.0.join("omadm.db").exists(), "writing files stores nothing");
}

/// Rule (issue 6): `--send` stores the device's credentials, the queued push and the pending
/// bootstrap, which `omadm push list|show` and `omadm bootstrap status` show.
#[test]
fn bootstrap_send_queues_a_push() {
    use omadm_protocol::bootstrap::Credential;
    use omadm_protocol::push::PushPdu;

    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let device = "IMEI:490154203237518";
    let args = [
        "bootstrap",
        "cp",
        device,
        "--send",
        "--msisdn",
        "+491701234567",
        "--channel",
        "smpp",
        "--username",
        "senduser",
        "--sec",
        "userpin",
    ];
    assert!(fails(&url, &args).contains("public_url"));
    let mut with_url = args.to_vec();
    with_url.extend(["--public-url", "http://dm.example.com"]);
    let mut with_addr = with_url.clone();
    with_addr.extend(["--addr", "http://other.example/dm"]);
    assert!(fails(&url, &with_addr).contains("--addr"));

    let out = ok(&url, &with_url);
    let id: i64 = field(&out, "push").expect("push id").parse().unwrap();
    assert_eq!(field(&out, "state"), Some("queued"));
    assert_eq!(field(&out, "bootstrap"), Some("pending"));
    let pin = field(&out, "user PIN").expect("a drawn PIN").to_owned();
    assert!(pin.len() == 8 && pin.bytes().all(|b| b.is_ascii_digit()), "{pin}");

    let list = json_of(&ok(&url, &["push", "list", "--device", device, "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let p = &list[0];
    assert_eq!(p["id"], id);
    assert_eq!(
        (p["state"].as_str(), p["kind"].as_str(), p["msisdn"].as_str(), p["channel"].as_str()),
        (Some("queued"), Some("bootstrap-cp"), Some("+491701234567"), Some("smpp"))
    );
    assert_eq!((p["attempts"].as_i64(), p["max_attempts"].as_i64()), (Some(0), Some(5)));
    let table = ok(&url, &["push", "list"]);
    assert!(
        table.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{id} ")) && l.contains("queued")),
        "{table}"
    );
    let shown = ok(&url, &["push", "show", &id.to_string()]);
    assert!(shown.contains("SEC=USERPIN; MAC=") && shown.contains("0/5"), "{shown}");
    assert!(fails(&url, &["push", "show", "999"]).contains("not found"));

    let status = json_of(&ok(&url, &["bootstrap", "status", device, "--json"]));
    assert_eq!((status["state"].as_str(), status["push_id"].as_i64()), (Some("pending"), Some(id)));
    assert_eq!(status["push"]["state"], "queued");
    assert!(ok(&url, &["bootstrap", "status", device]).contains("not yet"));
    assert!(fails(&url, &["bootstrap", "status", "IMEI:404"]).contains("not found"));
    let shown = json_of(&ok(&url, &["device", "show", device, "--json"]));
    assert_eq!(shown["client_auth"]["username"], "senduser");

    // The stored PDU is the push a running server's dispatcher sends: signed with the PIN.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stored = rt.block_on(async {
        let store = omadm_storage::Store::connect(&url).await.unwrap();
        let push = store.get_push(id).await.unwrap().unwrap();
        store.close().await;
        push
    });
    let pdu = PushPdu::decode(&stored.pdu.expect("queued with its PDU")).unwrap();
    let mac = pdu.content_type.mac.as_ref().unwrap().as_str().to_owned();
    assert!(Credential::UserPin { pin }.verify(&pdu.body, &mac).unwrap());
}

/// Rule (seed 003 §5.1.2.1, FACTS.md G.4, D.2): the factory export writes one document per
/// device, signed with NETWPIN from its IMSI, and stores each device with the credentials its
/// document carries; a bad CSV is refused with its line and nothing is stored or written.
#[test]
fn factory_export() {
    use omadm_protocol::Limits;
    use omadm_protocol::auth::{Nonce, Secret, md5, md5_secret};
    use omadm_protocol::bootstrap::{Credential, ProvisioningDoc};

    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let csv = dir.0.join("batch.csv");
    let rows = [
        ("356000000000018", "262011234567890", "alice"),
        ("356000000000026", "262011234567891", "356000000000026"),
        ("356000000000034", "26201123456789", "bob"),
    ];
    std::fs::write(
        &csv,
        "imei,imsi,msisdn,username\n\
         356000000000018,262011234567890,+491701234567,alice\n\
         356000000000026,262011234567891,,\n\
         356000000000034,26201123456789,,bob\n",
    )
    .unwrap();
    let out_dir = dir.0.join("factory");
    let (csv_arg, out_arg) = (csv.to_str().unwrap(), out_dir.to_str().unwrap());
    let factory = ["bootstrap", "factory", "--csv", csv_arg, "--out", out_arg, "--profile", "cp"];
    let mut args = factory.to_vec();
    args.extend(["--server-id", "srv-factory", "--public-url", "http://dm.example.com"]);
    let out = ok(&url, &args);
    assert!(out.starts_with("exported 3 devices"), "{out}");

    let manifest = std::fs::read_to_string(out_dir.join("manifest.csv")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines[0], "imei,device_id,username,sec,mac,document");
    assert_eq!(lines.len(), 4, "{manifest}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = rt.block_on(omadm_storage::Store::connect(&url)).unwrap();
    for ((imei, imsi, username), line) in rows.iter().zip(&lines[1..]) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[..4], [*imei, &format!("IMEI:{imei}"), *username, "NETWPIN"], "{line}");
        let wbxml = std::fs::read(out_dir.join(format!("{imei}.wbxml"))).unwrap();
        assert!(out_dir.join(format!("{imei}.xml")).exists());
        assert!(
            Credential::NetwPin { imsi: (*imsi).into() }.verify(&wbxml, cols[4]).unwrap(),
            "the MAC checks with the row's IMSI"
        );
        assert!(!Credential::NetwPin { imsi: "262011234567899".into() }.verify(&wbxml, cols[4]).unwrap());

        let doc = ProvisioningDoc::from_wbxml(&wbxml, &Limits::default()).unwrap();
        let app = doc.dm_accounts().next().expect("a w7 APPLICATION");
        assert_eq!(app.value_of("PROVIDER-ID"), Some("srv-factory"));
        assert_eq!(app.value_of("ADDR"), Some("http://dm.example.com/dm"));
        let auth =
            |level: &str| app.children.iter().find(|c| c.value_of("AAUTHLEVEL") == Some(level)).unwrap();
        let (client, server) = (auth("APPSRV"), auth("CLIENT"));
        assert_eq!(client.value_of("AAUTHNAME"), Some(*username));
        let password = client.value_of("AAUTHSECRET").unwrap();
        let nonce = Nonce::from_b64(client.value_of("AAUTHDATA").unwrap()).unwrap();

        // The stored device: a digest the device computes with its document's password and
        // nonce is the one the server expects from the stored secret.
        let device = rt.block_on(store.get_device(&format!("IMEI:{imei}"))).unwrap().expect("stored");
        assert_eq!(device.client_username, *username);
        assert_eq!(Nonce::from_b64(&device.client_nonce).unwrap().as_bytes(), nonce.as_bytes());
        let theirs = md5::digest(&md5_secret(username, password), nonce.as_bytes());
        assert_eq!(md5::digest(&Secret::new(device.client_secret.clone()), nonce.as_bytes()), theirs);
        assert_eq!(
            device.server_secret.as_deref(),
            Some(md5_secret("srv-factory", server.value_of("AAUTHSECRET").unwrap()).expose())
        );
        let b = rt.block_on(store.get_bootstrap(&format!("IMEI:{imei}"))).unwrap().expect("bootstrap");
        assert_eq!((b.state.as_str(), b.push_id, b.profile.as_str()), ("pending", None, "cp"));
    }
    assert!(rt.block_on(store.list_pushes(None, 10)).unwrap().is_empty(), "no push is queued");
    if wbxml2xml_present() {
        let theirs = prov_xml(&dir.0, &std::fs::read(out_dir.join("356000000000018.wbxml")).unwrap());
        assert!(theirs.contains(r#"<parm name="AAUTHNAME" value="alice"/>"#), "{theirs}");
    }

    // A bad row (line 3: wrong IMEI check digit) stops the whole batch before anything is
    // stored or written.
    std::fs::write(&csv, "imei,imsi\n490154203237518,262011234567890\n356000000000019,262011234567890\n")
        .unwrap();
    let bad_out = dir.0.join("bad");
    let mut args = factory.to_vec();
    args[5] = bad_out.to_str().unwrap();
    args.extend(["--addr", "http://dm.example.com/dm"]);
    let err = fails(&url, &args);
    assert!(err.contains("line 3") && err.contains("imei"), "{err}");
    assert!(!bad_out.exists(), "no files");
    assert!(rt.block_on(store.get_device("IMEI:490154203237518")).unwrap().is_none(), "nothing stored");
    std::fs::write(&csv, "imei,msisdn\n490154203237518,+491701234567\n").unwrap();
    assert!(fails(&url, &args).contains("line 1: header: the imsi column is missing"));
    rt.block_on(store.close());
}
