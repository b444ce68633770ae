//! Security (OMA-TS-DM_Security-V1_2 §5; FACTS.md D.1-D.3): the device authenticating itself
//! with `syncml:auth-basic`, `syncml:auth-md5` and `x-syncml-hmac`, challenges and nonces, and
//! the server authenticating itself to a device that checks it.

mod subject;

use omadm_conformance::devsim::{AuthKind, Direction, Faults, Outcome};
use omadm_protocol::auth::Nonce;
use omadm_protocol::{Command, Format, StatusCode, SyncMl};
use serde_json::json;
use subject::*;

fn get(target: &str) -> serde_json::Value {
    json!({"op": "Get", "target": target})
}

/// The Status the server gave our SyncHdr in `msg`.
fn hdr_status(msg: &SyncMl) -> &omadm_protocol::Status {
    msg.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.is_for_sync_hdr() => Some(s),
            _ => None,
        })
        .expect("a Status for the SyncHdr")
}

/// FACTS.md D.2, D.3: `syncml:auth-basic` credentials are accepted with 212 ("for the rest
/// of the session"), after which the device sends no more credentials.
#[tokio::test]
async fn basic_credentials_accepted_with_212() {
    let s = Subject::start().await;
    let mut d = s.device("basic", AuthKind::Basic).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.server_hdr_codes()[0], 212);
    let sent = r.sent();
    assert_eq!(
        sent[0].hdr.cred.as_ref().unwrap().meta.as_ref().unwrap().type_.as_deref(),
        Some("syncml:auth-basic")
    );
    assert!(sent[1].hdr.cred.is_none(), "no credentials after 212");
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "done");
    s.stop().await;
}

/// FACTS.md D.2, D.3: `syncml:auth-md5` is accepted with 212 and a Chal carrying the
/// NextNonce for the next session; the next session's digest uses that nonce and is accepted.
#[tokio::test]
async fn md5_next_nonce_carries_to_the_next_session() {
    let s = Subject::start().await;
    let mut d = s.device("md5", AuthKind::Md5).await;
    let first_nonce = d.account().client_nonce;
    let r = d.run_session().await;
    completed(&r);
    let st = hdr_status(r.received()[0]);
    assert_eq!(st.data, StatusCode::AuthenticationAccepted);
    let chal = st.chal.as_ref().expect("a Chal with the next nonce");
    assert_eq!(chal.meta.format, Some(Format::B64));
    let next = Nonce::from_b64(chal.meta.next_nonce.as_deref().expect("NextNonce")).unwrap();
    assert_ne!(next, first_nonce, "a new nonce");
    assert_eq!(d.account().client_nonce, next, "the device stored it");
    let r2 = d.run_session().await;
    completed(&r2);
    assert_eq!(r2.server_hdr_codes()[0], 212);
    assert_ne!(
        r.sent()[0].hdr.cred.as_ref().unwrap().data,
        r2.sent()[0].hdr.cred.as_ref().unwrap().data,
        "the digest changes with the nonce"
    );
    s.stop().await;
}

/// FACTS.md D.3: a package 1 without credentials gets 407 with a Chal (type
/// `syncml:auth-md5`, Format b64, a NextNonce) and no management command; package 1 sent
/// again with the digest over that nonce is accepted.
#[tokio::test]
async fn missing_credentials_get_407_then_retry_succeeds() {
    let s = Subject::start().await;
    let mut d = s.device_with("407", |c| c.initial_credentials = false, |_| {}).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.server_hdr_codes()[..2], [407, 212]);
    let first = r.received()[0];
    let st = hdr_status(first);
    let chal = st.chal.as_ref().expect("a challenge");
    assert_eq!(chal.meta.type_.as_deref(), Some("syncml:auth-md5"));
    assert_eq!(chal.meta.format, Some(Format::B64));
    assert!(chal.meta.next_nonce.is_some());
    assert!(
        first.body.commands.iter().all(|c| matches!(c, Command::Status(_))),
        "nothing before authentication"
    );
    assert_eq!(s.command(&d.config.device_id, id).await["status"], 200);
    s.stop().await;
}

/// FACTS.md D.3, README: wrong credentials get 401 with a fresh challenge each time; after
/// three failures the server ends the session (no RespURI), nothing is sent to the device,
/// and the session is recorded as an authentication failure.
#[tokio::test]
async fn wrong_password_is_401_and_the_session_ends() {
    let s = Subject::start().await;
    let mut d = s.device_with("wrongpw", |c| c.max_auth_attempts = 10, |_| {}).await;
    d.config.faults = Faults { wrong_password: true, ..Faults::none() };
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    let r = d.run_session().await;
    check(r.outcome == Outcome::AuthFailed { code: 401 }, "authentication failed", &r);
    assert_eq!(r.server_hdr_codes(), [401, 401, 401]);
    let received = r.received();
    let nonces: Vec<_> =
        received.iter().map(|m| hdr_status(m).chal.as_ref().unwrap().meta.next_nonce.clone()).collect();
    assert!(nonces.iter().all(Option::is_some), "a challenge with a nonce each time");
    assert!(nonces[0] != nonces[1] && nonces[1] != nonces[2], "a fresh nonce each time");
    assert!(received[..2].iter().all(|m| m.hdr.resp_uri.is_some()));
    assert!(received[2].hdr.resp_uri.is_none(), "the third refusal ends the session");
    check(r.server_commands().is_empty(), "no command to an unauthenticated device", &r);
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "queued");
    assert_eq!(s.sessions(&d.config.device_id).await[0]["outcome"], "auth_failed");
    s.stop().await;
}

/// FACTS.md D.3 ("on failure one more challenge with a fresh nonce"): a device whose stored
/// nonce is stale is refused with 401 and a new nonce, and is accepted with that nonce.
#[tokio::test]
async fn stale_client_nonce_is_resynchronised() {
    let s = Subject::start().await;
    let mut d = s.device_with("stale", |_| {}, |r| r.nonce = random_nonce()).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.server_hdr_codes()[..2], [401, 212]);
    s.stop().await;
}

/// FACTS.md D.2 (HMAC): every device message carries `x-syncml-hmac` over its exact body; the
/// server answers each SyncHdr with 200 (never 212) and a new NextNonce every message.
#[tokio::test]
async fn hmac_on_every_message() {
    let s = Subject::start().await;
    let mut d = s.device_with("hmac", |c| c.client.kind = AuthKind::Hmac, |_| {}).await;
    s.enqueue(&d.config.device_id, get("./Vendor/Log")).await;
    // The log goes back in chunks: at least three device messages.
    d.config.send_limit = Some(1500);
    let r = d.run_session().await;
    completed(&r);
    let sent: Vec<_> = r.messages.iter().filter(|m| m.direction == Direction::Sent).collect();
    assert!(sent.len() >= 3, "{r}");
    assert!(sent.iter().all(|m| m.hmac.is_some()), "x-syncml-hmac on every message");
    assert!(r.sent().iter().all(|m| m.hdr.cred.is_none()), "HMAC never travels in Cred");
    assert!(r.server_hdr_codes().iter().all(|c| *c == 200), "{:?}", r.server_hdr_codes());
    let nonces: Vec<String> = r
        .received()
        .iter()
        .map(|m| hdr_status(m).chal.as_ref().unwrap().meta.next_nonce.clone().unwrap())
        .collect();
    let mut unique = nonces.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), nonces.len(), "a new nonce per message: {nonces:?}");
    s.stop().await;
}

/// FACTS.md D.1-D.3: an HMAC device that sends no header gets 407 with a Chal of type
/// `syncml:auth-MAC`; with the header it is accepted.
#[tokio::test]
async fn hmac_missing_header_gets_mac_challenge() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "hmac407",
            |c| {
                c.client.kind = AuthKind::Hmac;
                c.initial_credentials = false;
            },
            |_| {},
        )
        .await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.server_hdr_codes()[..2], [407, 200]);
    let chal = hdr_status(r.received()[0]).chal.clone().unwrap();
    assert_eq!(chal.meta.type_.as_deref(), Some("syncml:auth-MAC"));
    s.stop().await;
}

/// FACTS.md D.2: an HMAC over the wrong secret is refused with 401.
#[tokio::test]
async fn hmac_with_wrong_secret_is_refused() {
    let s = Subject::start().await;
    let mut d = s.device_with("hmacbad", |c| c.client.kind = AuthKind::Hmac, |_| {}).await;
    d.config.faults = Faults { wrong_password: true, ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::AuthFailed { code: 401 }, "refused", &r);
    s.stop().await;
}

/// FACTS.md D.3 (both directions): the server puts `<Cred>` (auth-md5 over the SRVCRED secret
/// and the nonce the device issued) in its SyncHdr; the device accepts it with 212 and a new
/// nonce, the server stops sending Cred in that session, and uses the new nonce next session.
#[tokio::test]
async fn server_authenticates_itself_with_md5() {
    let s = Subject::start().await;
    let mut d = s.device_with("srvauth", |c| c.server = Some(server_credentials()), |_| {}).await;
    for t in ["./DevDetail/SwV", "./DevDetail/FwV"] {
        s.enqueue(&d.config.device_id, get(t)).await;
    }
    d.config.max_msg_size = Some(1600);
    let r = d.run_session().await;
    completed(&r);
    check(r.server_authenticated, "server credentials accepted", &r);
    let received = r.received();
    let cred = received[0].hdr.cred.as_ref().expect("server Cred in package 2");
    assert_eq!(cred.meta.as_ref().unwrap().type_.as_deref(), Some("syncml:auth-md5"));
    let ours = hdr_status(r.sent()[1]);
    assert_eq!(ours.data, StatusCode::AuthenticationAccepted);
    assert!(
        ours.chal.as_ref().and_then(|c| c.meta.next_nonce.as_ref()).is_some(),
        "next nonce for the server"
    );
    assert!(received[1..].iter().all(|m| m.hdr.cred.is_none()), "no Cred after 212");
    let r2 = d.run_session().await;
    completed(&r2);
    check(r2.server_authenticated, "the server uses the nonce the device gave it", &r2);
    s.stop().await;
}

/// FACTS.md D.3 (nonce resynchronisation, server side): a device that refuses the server's
/// credentials (its stored nonce differs) answers 401 with a new nonce; the server retries
/// with it and is accepted, and the queued command is still executed in that session.
#[tokio::test]

async fn server_credentials_retried_with_the_devices_new_nonce() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "srvresync",
            |c| c.server = Some(server_credentials()),
            |r| r.server_nonce = Some(random_nonce()),
        )
        .await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    let r = d.run_session().await;
    check(hdr_status(r.sent()[1]).data == StatusCode::InvalidCredentials, "first Cred refused", &r);
    check(r.server_authenticated, "accepted after the retry with the new nonce", &r);
    check(r.device_codes("Get", "./DevDetail/SwV").ends_with(&[200]), "the Get sent again and executed", &r);
    completed(&r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{c}\n{r}");
    s.stop().await;
}

/// FACTS.md D.3: a server whose credentials the device keeps refusing executes nothing on the
/// device: every command is answered 401 and the tree is unchanged; the server gives up.
#[tokio::test]
async fn server_refused_by_the_device_changes_nothing() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "srvrefused",
            |c| c.server = Some(server_credentials()),
            |r| r.server_password = Some("not-what-the-device-knows".into()),
        )
        .await;
    let id = s
        .enqueue(
            &d.config.device_id,
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": "pwned"}),
        )
        .await;
    let r = d.run_session().await;
    check(!r.server_authenticated, "never accepted", &r);
    assert_eq!(d.tree.text("./Vendor/Settings/Greeting").as_deref(), Some("hello"), "nothing executed");
    check(r.device_statuses.iter().all(|st| st.code == 401), "every command refused with 401", &r);
    check(matches!(r.outcome, Outcome::ServerAborted | Outcome::Completed), "the server gives up", &r);
    assert_ne!(s.command(&d.config.device_id, id).await["state"], "done");
    s.stop().await;
}

/// OMA-TS-DM_Security §5.5, FACTS.md D.2, README ("the device that signs its messages gets
/// signed answers"): to an HMAC device that checks the server, every server message carries
/// an `x-syncml-hmac` over its body with the SRVCRED secret and the nonce the device issued
/// last, and it verifies.
#[tokio::test]

async fn server_signs_its_answers_to_an_hmac_device() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "srvhmac",
            |c| {
                c.client.kind = AuthKind::Hmac;
                c.server = Some(server_credentials());
            },
            |_| {},
        )
        .await;
    for t in ["./DevDetail/SwV", "./DevDetail/FwV"] {
        s.enqueue(&d.config.device_id, get(t)).await;
    }
    d.config.max_msg_size = Some(1600);
    let r = d.run_session().await;
    let received = r.messages.iter().filter(|m| m.direction == Direction::Received).count() as u32;
    check(r.server_hmac_verified == received, "every server message signed and verified", &r);
    completed(&r);
    s.stop().await;
}

/// FACTS.md D.3 (authentication type stays that of the account): a basic device's Cred of
/// another type than it was registered with is refused.
#[tokio::test]
async fn credentials_of_another_type_are_refused() {
    let s = Subject::start().await;
    let mut d =
        s.device_with("othertype", |c| c.client.kind = AuthKind::Basic, |r| r.kind = AuthKind::Md5).await;
    let r = d.run_session().await;
    // Refused, then (following the Chal's type) accepted with MD5.
    assert_eq!(r.server_hdr_codes()[0], 401, "{r}");
    let chal = hdr_status(r.received()[0]).chal.clone().unwrap();
    assert_eq!(chal.meta.type_.as_deref(), Some("syncml:auth-md5"));
    completed(&r);
    s.stop().await;
}

/// FACTS.md D.3 ("use the latest received nonce"): after a session refused for a wrong
/// password, the device uses the nonce of the server's last challenge, and with the right
/// password is accepted at once.
#[tokio::test]
async fn latest_challenge_nonce_is_used_next_session() {
    let s = Subject::start().await;
    let mut d = s.device("latestnonce", AuthKind::Md5).await;
    d.config.faults = Faults { wrong_password: true, ..Faults::none() };
    let r = d.run_session().await;
    check(matches!(r.outcome, Outcome::AuthFailed { .. }), "refused", &r);
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.server_hdr_codes()[0], 212, "accepted at the first message");
    s.stop().await;
}
