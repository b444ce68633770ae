//! The SMPP channel against an SMSC written by other people (Debian `libnet-smpp-perl`, running
//! the simulator of shared/tools/smsc_sim_netsmpp.pl), and against a scripted fake SMSC built
//! on our PDU codec for the failure paths (throttling, lost connection, refused bind, window,
//! timeouts, rate). Under `CI` a missing Perl or Net::SMPP fails the test; elsewhere the test
//! prints a notice and skips.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omadm_server::delivery::smpp::pdu::{Body, CommandStatus, Pdu, frame_length};
use omadm_server::delivery::{
    DeliveryError, DeliveryOutcome, OutboundPush, PushChannel, PushContent, Secret, SmppChannel, SmppConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// The simulator of shared/tools/smsc_sim_netsmpp.pl, verbatim, so the test needs no checkout
/// of shared/.
const SMSC_SIM: &str = r#"#!/usr/bin/perl
use strict; use warnings; use Net::SMPP;
my ($port, $secs) = (shift || 12777, shift || 30);
$SIG{ALRM} = sub { print "timeout, exiting\n"; exit 0 }; alarm $secs; $| = 1;
my $listen = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34) or die "listen: $!";
print "listening $port\n"; my $n = 0;
while (my $esme = $listen->accept) {
  while (my $pdu = $esme->read_pdu()) {
    my $cmd = Net::SMPP::pdu_tab->{$pdu->{cmd}}{cmd} || sprintf('0x%08x', $pdu->{cmd});
    if ($cmd =~ /^bind_/) {
      print "$cmd seq=$pdu->{seq} system_id=$pdu->{system_id}\n";
      my $m = "${cmd}_resp"; $esme->$m(seq => $pdu->{seq}, system_id => 'PERLSMSC');
    } elsif ($cmd eq 'submit_sm') {
      printf "submit_sm seq=%d src=%s dst=%s esm_class=0x%02x data_coding=0x%02x sm_len=%d sm=%s\n",
        $pdu->{seq}, $pdu->{source_addr}, $pdu->{destination_addr}, $pdu->{esm_class},
        $pdu->{data_coding}, length($pdu->{short_message}), unpack('H*', $pdu->{short_message});
      $esme->submit_sm_resp(seq => $pdu->{seq}, message_id => 'p' . ++$n);
    } elsif ($cmd eq 'enquire_link') { $esme->enquire_link_resp(seq => $pdu->{seq}); }
    elsif ($cmd eq 'unbind') { print "unbind seq=$pdu->{seq}\n"; $esme->unbind_resp(seq => $pdu->{seq}); last; }
    else { print "other $cmd\n"; }
  }
  close $esme;
}
"#;

/// Whether Perl with Net::SMPP is installed; under `CI` its absence is a failure.
fn net_smpp_present() -> bool {
    let ok = Command::new("perl")
        .args(["-MNet::SMPP", "-e", "1"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "perl with Net::SMPP is required under CI (apt-get install libnet-smpp-perl)"
        );
        eprintln!("notice: skipping the Net::SMPP simulator test, perl or Net::SMPP is not installed");
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The SMS of the spec's DM notification example (FACTS E.3, EX): port UDH, WSP push, pkg0.
fn notification_sms() -> Vec<u8> {
    unhex(
        "0605040b84c002 010603c4af87 2e84b4d47d65793a313fb4b5ffcbaac5 02d0000000 1234 12
         636f6d2e6d676d747372762e6d616e616765",
    )
}

/// Three concatenated SMS (port + 8-bit concatenation IE, FACTS F.2) of a longer push.
fn three_sms() -> Vec<Vec<u8>> {
    (1..=3u8)
        .map(|i| {
            let mut sms = unhex("0b 0504 0b84 c002 0003 5a 03");
            sms.push(i);
            sms.extend((0..128u8).map(|b| b.wrapping_mul(i)));
            sms
        })
        .collect()
}

fn push(id: &str, sms: Vec<Vec<u8>>) -> OutboundPush {
    OutboundPush {
        device_id: None,
        push_id: id.into(),
        msisdn: "+491701234567".into(),
        sms_user_data: sms,
        content: PushContent {
            content_type: "application/vnd.syncml.notification".into(),
            application_id: Some("x-wap-application:syncml.dm".into()),
            body: vec![],
        },
    }
}

fn config(port: u16) -> SmppConfig {
    let mut c = SmppConfig::new(format!("127.0.0.1:{port}"), "omadm", Secret::new("secret"));
    c.response_timeout_ms = 2_000;
    c.reconnect_min_ms = 100;
    c.reconnect_max_ms = 400;
    c.throttle_pause_ms = 200;
    c.submits_per_second = 1_000;
    c
}

/// Delivers an owned push (for `join!` next to the fake SMSC).
async fn send(channel: &SmppChannel, push: OutboundPush) -> Result<DeliveryOutcome, DeliveryError> {
    channel.deliver(&push).await
}

/// A child process killed on drop, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_smpp_simulator_sees_our_submits() {
    if !net_smpp_present() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("omadm-smpp-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("smsc_sim_netsmpp.pl");
    std::fs::write(&script, SMSC_SIM).unwrap();
    let port = free_port();
    let mut child = Command::new("perl")
        .arg(&script)
        .args([port.to_string(), "30".into()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("perl");
    let stdout = child.stdout.take().unwrap();
    let _sim = Killed(child);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let wait_for = |pred: &dyn Fn(&[String]) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !pred(&lines.lock().unwrap()) {
            assert!(std::time::Instant::now() < deadline, "simulator output: {:?}", lines.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&|l| l.iter().any(|l| l.starts_with("listening")));

    let channel = SmppChannel::start(config(port)).unwrap();
    let one = channel.deliver(&push("one", vec![notification_sms()])).await;
    assert_eq!(one, Ok(DeliveryOutcome::Accepted { references: vec!["p1".into()] }));
    let three = channel.deliver(&push("three", three_sms())).await;
    assert_eq!(
        three,
        Ok(DeliveryOutcome::Accepted { references: vec!["p2".into(), "p3".into(), "p4".into()] })
    );
    channel.shutdown().await;
    wait_for(&|l| l.iter().any(|l| l.starts_with("unbind")));

    let out = lines.lock().unwrap().clone();
    assert_eq!(out[1], "bind_transmitter seq=1 system_id=omadm", "{out:?}");
    let submits: Vec<&String> = out.iter().filter(|l| l.starts_with("submit_sm")).collect();
    let mut expected = vec![notification_sms()];
    expected.extend(three_sms());
    assert_eq!(submits.len(), expected.len(), "{out:?}");
    for (i, (line, sms)) in submits.iter().zip(&expected).enumerate() {
        let want = format!(
            "submit_sm seq={} src= dst=491701234567 esm_class=0x40 data_coding=0x04 sm_len={} sm={}",
            i + 2,
            sms.len(),
            hex(sms)
        );
        assert_eq!(**line, want);
    }
    assert_eq!(out.last().unwrap(), "unbind seq=6", "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scripted SMSC on our own codec, for the paths a friendly simulator never takes.
struct FakeSmsc {
    listener: TcpListener,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FakeSmsc {
    async fn new() -> (FakeSmsc, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (FakeSmsc { listener }, port)
    }

    async fn accept(&self) -> Conn {
        let (stream, _) = timeout(Duration::from_secs(10), self.listener.accept()).await.unwrap().unwrap();
        Conn { stream, buf: Vec::new() }
    }

    /// Accepts a connection and answers its bind_transmitter with `status`.
    async fn bound(&self, status: CommandStatus) -> Conn {
        let mut c = self.accept().await;
        let bind = c.read().await.expect("bind_transmitter");
        let Body::BindTransmitter(b) = &bind.body else { panic!("expected bind_transmitter, got {bind:?}") };
        assert_eq!(
            (b.system_id.as_str(), b.password.as_str(), b.interface_version),
            ("omadm", "secret", 0x34)
        );
        let body = Body::BindTransmitterResp { system_id: "FAKE".into(), tlvs: vec![] };
        c.write(Pdu { command_status: status, sequence_number: bind.sequence_number, body }).await;
        c
    }
}

impl Conn {
    /// The next PDU, or `None` when the peer closed the connection.
    async fn read(&mut self) -> Option<Pdu> {
        loop {
            if let Some(n) = frame_length(&self.buf).unwrap()
                && self.buf.len() >= n
            {
                let frame: Vec<u8> = self.buf.drain(..n).collect();
                return Some(Pdu::decode(&frame).unwrap());
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// The next PDU within `limit`, or `None` if none came.
    async fn read_within(&mut self, limit: Duration) -> Option<Pdu> {
        timeout(limit, self.read()).await.ok().flatten()
    }

    async fn submit(&mut self) -> (u32, Vec<u8>) {
        let pdu = self.read_within(Duration::from_secs(5)).await.expect("submit_sm");
        let Body::SubmitSm(s) = pdu.body else { panic!("expected submit_sm, got {pdu:?}") };
        assert_eq!((s.esm_class, s.data_coding, s.destination_addr.as_str()), (0x40, 0x04, "491701234567"));
        assert_eq!((s.dest_addr_ton, s.dest_addr_npi, s.registered_delivery), (1, 1, 0));
        (pdu.sequence_number, s.short_message)
    }

    async fn write(&mut self, pdu: Pdu) {
        self.stream.write_all(&pdu.encode().unwrap()).await.unwrap();
    }

    async fn answer(&mut self, seq: u32, status: CommandStatus, message_id: &str) {
        let body = Body::SubmitSmResp { message_id: message_id.into() };
        self.write(Pdu { command_status: status, sequence_number: seq, body }).await;
    }
}

#[tokio::test]
async fn throttled_submit_is_retried_after_a_pause() {
    let (smsc, port) = FakeSmsc::new().await;
    let channel = SmppChannel::start(config(port)).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        let (seq, first) = c.submit().await;
        c.answer(seq, CommandStatus::Throttled, "").await;
        let throttled_at = Instant::now();
        let (seq, second) = c.submit().await;
        assert!(throttled_at.elapsed() >= Duration::from_millis(190), "resubmitted without a pause");
        assert_eq!(first, second);
        c.answer(seq, CommandStatus::Ok, "m1").await;
        c
    };
    let (outcome, _c) = tokio::join!(send(&channel, push("t", vec![notification_sms()])), fake);
    assert_eq!(outcome, Ok(DeliveryOutcome::Accepted { references: vec!["m1".into()] }));
}

#[tokio::test]
async fn persistent_throttling_is_a_temporary_error() {
    let (smsc, port) = FakeSmsc::new().await;
    let channel = SmppChannel::start(config(port)).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        for _ in 0..3 {
            let (seq, _) = c.submit().await;
            c.answer(seq, CommandStatus::MessageQueueFull, "").await;
        }
        assert!(c.read_within(Duration::from_millis(400)).await.is_none(), "a 4th attempt");
        c
    };
    let (outcome, _c) = tokio::join!(send(&channel, push("t", vec![notification_sms()])), fake);
    let err = outcome.unwrap_err();
    assert!(matches!(&err, DeliveryError::Temporary { reason } if reason.contains("ESME_RMSGQFUL")), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn refused_destination_is_permanent() {
    let (smsc, port) = FakeSmsc::new().await;
    let channel = SmppChannel::start(config(port)).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        let (seq, _) = c.submit().await;
        c.answer(seq, CommandStatus::InvalidDestinationAddress, "").await;
        c
    };
    let (outcome, _c) = tokio::join!(send(&channel, push("t", vec![notification_sms()])), fake);
    let err = outcome.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Rejected { code: 0x0B, reason } if reason.contains("ESME_RINVDSTADR"))
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn lost_connection_fails_the_window_then_reconnects() {
    let (smsc, port) = FakeSmsc::new().await;
    let channel = SmppChannel::start(config(port)).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        for _ in 0..3 {
            c.submit().await;
        }
        drop(c); // mid-window: three submits unanswered
    };
    let (outcome, ()) = tokio::join!(send(&channel, push("lost", three_sms())), fake);
    let err = outcome.unwrap_err();
    assert!(matches!(&err, DeliveryError::Temporary { reason } if reason.contains("connection")), "{err}");

    // The channel binds again by itself and the retry goes through.
    let mut c = smsc.bound(CommandStatus::Ok).await;
    let fake = async {
        for i in 0..3 {
            let (seq, _) = c.submit().await;
            c.answer(seq, CommandStatus::Ok, &format!("r{i}")).await;
        }
    };
    let (outcome, ()) = tokio::join!(send(&channel, push("lost", three_sms())), fake);
    assert_eq!(
        outcome,
        Ok(DeliveryOutcome::Accepted { references: vec!["r0".into(), "r1".into(), "r2".into()] })
    );
}

#[tokio::test]
async fn refused_bind_is_reported() {
    let (smsc, port) = FakeSmsc::new().await;
    let mut cfg = config(port);
    cfg.reconnect_min_ms = 1_000;
    cfg.reconnect_max_ms = 2_000;
    let channel = SmppChannel::start(cfg).unwrap();
    let fake = async {
        let c = smsc.bound(CommandStatus::InvalidPassword).await;
        // The channel closes the refused connection.
        let mut c = c;
        assert!(c.read_within(Duration::from_secs(2)).await.is_none());
    };
    let ((), ()) = tokio::join!(fake, tokio::time::sleep(Duration::from_millis(50)));
    let err = channel.deliver(&push("b", vec![notification_sms()])).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Unavailable { reason } if reason.contains("bind refused") && reason.contains("ESME_RINVPASWD")),
        "{err}"
    );
    // And it keeps trying: the next connection binds.
    let _c = smsc.bound(CommandStatus::Ok).await;
}

#[tokio::test]
async fn window_limits_outstanding_submits() {
    let (smsc, port) = FakeSmsc::new().await;
    let mut cfg = config(port);
    cfg.window = 2;
    let channel = SmppChannel::start(cfg).unwrap();
    let mut sms = three_sms();
    sms.extend(three_sms());
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        let mut open = vec![c.submit().await.0, c.submit().await.0];
        let mut answered = Vec::new();
        while answered.len() < 6 {
            // Never more than two outstanding: nothing else arrives until one is answered.
            if open.len() == 2 {
                assert!(c.read_within(Duration::from_millis(300)).await.is_none(), "window exceeded");
            }
            // Answer the newest first: message ids must still come back in SMS order.
            let seq = open.pop().unwrap();
            c.answer(seq, CommandStatus::Ok, &format!("s{seq}")).await;
            answered.push(seq);
            if answered.len() + open.len() < 6 {
                open.push(c.submit().await.0);
            }
        }
        c
    };
    let (outcome, _c) = tokio::join!(send(&channel, push("w", sms)), fake);
    let Ok(DeliveryOutcome::Accepted { references }) = outcome else { panic!("{outcome:?}") };
    let seqs: Vec<u32> = references.iter().map(|r| r[1..].parse().unwrap()).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6, 7], "ids in SMS order");
}

#[tokio::test]
async fn lost_response_times_out_as_temporary() {
    let (smsc, port) = FakeSmsc::new().await;
    let mut cfg = config(port);
    cfg.response_timeout_ms = 300;
    let channel = SmppChannel::start(cfg).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        c.submit().await;
        c
    };
    let started = Instant::now();
    let (outcome, _c) = tokio::join!(send(&channel, push("x", vec![notification_sms()])), fake);
    let err = outcome.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary { reason } if reason.contains("submit_sm_resp")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn enquire_link_both_ways_and_clean_unbind() {
    let (smsc, port) = FakeSmsc::new().await;
    let mut cfg = config(port);
    cfg.enquire_link_interval_secs = 1;
    let channel = SmppChannel::start(cfg).unwrap();
    let mut c = smsc.bound(CommandStatus::Ok).await;
    // The SMSC checks the link: answered with the same sequence number.
    c.write(Pdu::new(77, Body::EnquireLink)).await;
    let resp = c.read_within(Duration::from_secs(2)).await.unwrap();
    assert_eq!((resp.body, resp.sequence_number), (Body::EnquireLinkResp, 77));
    // Our own check arrives after the interval.
    let ours = c.read_within(Duration::from_secs(3)).await.unwrap();
    assert_eq!(ours.body, Body::EnquireLink);
    c.write(Pdu::new(ours.sequence_number, Body::EnquireLinkResp)).await;
    // A request a transmitter does not serve is nacked.
    c.write(Pdu::new(78, Body::Other { command_id: 0x0000_0005 })).await;
    let nack = c.read_within(Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        (nack.body, nack.command_status, nack.sequence_number),
        (Body::GenericNack, CommandStatus::InvalidCommandId, 78)
    );
    // Shutdown unbinds and waits for unbind_resp.
    let fake = async {
        let unbind = loop {
            let pdu = c.read_within(Duration::from_secs(3)).await.unwrap();
            match pdu.body {
                Body::EnquireLink => c.write(Pdu::new(pdu.sequence_number, Body::EnquireLinkResp)).await,
                Body::Unbind => break pdu,
                other => panic!("expected unbind, got {other:?}"),
            }
        };
        c.write(Pdu::new(unbind.sequence_number, Body::UnbindResp)).await;
        assert!(c.read_within(Duration::from_secs(2)).await.is_none(), "connection closed after unbind");
    };
    tokio::join!(channel.shutdown(), fake);
    let err = channel.deliver(&push("late", vec![notification_sms()])).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn submits_respect_the_rate_limit() {
    let (smsc, port) = FakeSmsc::new().await;
    let mut cfg = config(port);
    cfg.submits_per_second = 5;
    let channel = SmppChannel::start(cfg).unwrap();
    let fake = async {
        let mut c = smsc.bound(CommandStatus::Ok).await;
        let mut times = Vec::new();
        for i in 0..4 {
            let (seq, _) = c.submit().await;
            times.push(Instant::now());
            c.answer(seq, CommandStatus::Ok, &format!("m{i}")).await;
        }
        (c, times)
    };
    let mut sms = three_sms();
    sms.push(notification_sms());
    let (outcome, (_c, times)) = tokio::join!(send(&channel, push("r", sms)), fake);
    assert!(outcome.is_ok(), "{outcome:?}");
    // 5/s: 200 ms between submits, so three gaps take at least ~600 ms.
    let span = times[3] - times[0];
    assert!(span >= Duration::from_millis(550), "4 submits in {span:?}");
}

#[tokio::test]
async fn invalid_pushes_never_reach_the_smsc() {
    let channel = SmppChannel::start(config(free_port())).unwrap();
    for bad in [
        OutboundPush { msisdn: "0170123".into(), ..push("a", vec![notification_sms()]) },
        push("b", vec![]),
        push("c", vec![vec![0; 141]]),
        push("", vec![notification_sms()]),
    ] {
        let err = channel.deliver(&bad).await.unwrap_err();
        assert!(matches!(err, DeliveryError::InvalidPush(_)), "{err}");
        assert!(!err.is_retryable());
    }
}
