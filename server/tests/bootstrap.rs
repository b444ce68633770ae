//! Bootstrap end to end: the admin API queues a signed bootstrap push, the server's dispatcher
//! submits it to an SMSC over SMPP, the SMS reassemble into the WSP push a phone would get, the
//! document in it carries the provisioned account, and the device's first session with that
//! account marks it bootstrapped. Also: a push queued while no channel is configured survives
//! a restart and is sent by the next server.

mod common;

use std::time::Duration;

use common::smsc::smsc;
use common::{Client, DeviceCreds, Server, TempDir, admin_api};
use omadm_protocol::auth::Nonce;
use omadm_protocol::bootstrap::{Credential, ProvisioningDoc};
use omadm_protocol::push::{MediaType, Ports, PushPdu, reassemble};
use omadm_protocol::{Command, Limits, StatusCode};
use omadm_server::config::Config;
use omadm_server::delivery::{DeliveryConfig, Secret, SmppConfig};
use omadm_server::dispatcher::Backoff;
use omadm_storage::ClientAuthType;
use serde_json::json;

const DEVICE: &str = "IMEI:353000000000777";

fn with_smpp(c: &mut Config, port: u16) {
    c.public_url = Some("http://dm.example.com".into());
    c.push_backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_millis(500) };
    c.delivery = DeliveryConfig {
        smpp: Some(SmppConfig::new(format!("127.0.0.1:{port}"), "omadm", Secret::new("secret"))),
        pap: None,
        http: None,
    };
}

/// Wait until the push reaches `state` (the dispatcher polls every second).
async fn push_state(server: &Server, id: i64, state: &str) -> serde_json::Value {
    for _ in 0..100 {
        let (status, push) = admin_api(server, "GET", &format!("/api/v1/pushes/{id}"), None).await;
        assert_eq!(status, 200);
        if push["state"] == state {
            return push;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("push {id} never reached {state}");
}

fn request(profile: &str) -> serde_json::Value {
    json!({
        "profile": profile,
        "msisdn": "+491701234567",
        "security": { "method": "userpin", "pin": "1234" },
        "client_auth": { "type": "md5", "username": "dev777", "password": "devpw777" },
        "server_password": "srvpw777",
        "nap": { "napid": "NAP1", "name": "Internet", "bearer": "GSM-GPRS", "address": "internet.example", "address_type": "APN" }
    })
}

/// Rule (OMA-TS-DM_Bootstrap §5.1, FACTS.md G.4, F): a CP bootstrap goes out as a WAP push to
/// port 2948 whose MAC the device can check with the user's PIN, and carries the account the
/// device then authenticates with; that first session acknowledges the bootstrap.
#[tokio::test]
async fn cp_bootstrap_is_pushed_over_smpp_and_acknowledged_by_the_first_session() {
    let (port, sms) = smsc().await;
    let server = Server::sqlite_with(|c| with_smpp(c, port)).await;

    let path = format!("/api/v1/devices/{}/bootstrap", DEVICE.replace(':', "%3A"));
    let mut req = request("cp");
    req["ms_extensions"] = json!({"role": 8, "security_policies": [{"id": 4119, "value": "128"}]});
    let (status, view) = admin_api(&server, "POST", &path, Some(req)).await;
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["user_pin"], "1234");
    assert_eq!(view["bootstrap"]["state"], "pending");
    assert_eq!(view["push"]["kind"], "bootstrap-cp");
    let id = view["push"]["id"].as_i64().unwrap();

    let push = push_state(&server, id, "accepted").await;
    assert!(push["reference"].as_str().unwrap().starts_with("smpp:m"), "{push}");

    // What the phone gets: the SMS reassemble into a WSP push to port 2948.
    let segments = sms.lock().unwrap().clone();
    assert!(segments.len() >= 2, "a CP document needs concatenated SMS");
    assert!(segments.iter().all(|s| s.len() <= 140));
    let (ports, wsp) = reassemble(&segments).unwrap();
    assert_eq!(ports.destination, Ports::PUSH.destination);
    let pdu = PushPdu::decode(&wsp).unwrap();
    assert_eq!(pdu.content_type.media, MediaType::ConnectivityWbxml);
    assert_eq!(pdu.content_type.sec.map(|s| s.code()), Some(1), "SEC=USERPIN");
    let mac = pdu.content_type.mac.as_ref().expect("MAC").as_str().to_owned();
    assert!(
        Credential::UserPin { pin: "1234".into() }.verify(&pdu.body, &mac).unwrap(),
        "MAC checks with the PIN"
    );
    assert!(!Credential::UserPin { pin: "1235".into() }.verify(&pdu.body, &mac).unwrap());

    // The document: the w7 account with the provisioned credentials and nonces.
    let doc = ProvisioningDoc::from_wbxml(&pdu.body, &Limits::default()).unwrap();
    let app = doc.dm_accounts().next().expect("a w7 APPLICATION");
    assert_eq!(app.value_of("PROVIDER-ID"), Some("omadm"));
    assert_eq!(app.value_of("ADDR"), Some("http://dm.example.com/dm"));
    // The Microsoft extensions of seed 001.
    assert_eq!(app.value_of("ROLE"), Some("8"));
    let policy = doc.characteristics.iter().find(|c| c.type_ == "SecurityPolicy").expect("SecurityPolicy");
    assert_eq!(policy.value_of("4119"), Some("128"));
    let client = app
        .children
        .iter()
        .find(|c| c.type_ == "APPAUTH" && c.value_of("AAUTHLEVEL") == Some("APPSRV"))
        .expect("client credentials");
    assert_eq!(
        (client.value_of("AAUTHNAME"), client.value_of("AAUTHSECRET")),
        (Some("dev777"), Some("devpw777"))
    );
    let nonce = Nonce::from_b64(client.value_of("AAUTHDATA").unwrap()).unwrap();

    // Not yet bootstrapped; then the device's first session with that account.
    let (_, b) = admin_api(&server, "GET", &path, None).await;
    assert_eq!(b["state"], "pending");
    let mut creds = DeviceCreds::new(DEVICE, ClientAuthType::Md5);
    creds.username = "dev777".into();
    creds.password = "devpw777".into();
    creds.client_nonce = nonce;
    let mut device = Client::new(&server, creds);
    let pkg1 = device.package1();
    let answer = device.send(&pkg1).await;
    let Command::Status(hdr) = &answer.body.commands[0] else { panic!("no SyncHdr status") };
    assert_eq!(hdr.data, StatusCode::AuthenticationAccepted);
    let (_, b) = admin_api(&server, "GET", &path, None).await;
    assert_eq!(b["state"], "bootstrapped", "{b}");
    assert!(b["bootstrapped_at"].as_i64().is_some());

    // The PDU (it held the passwords) is gone from the database once accepted.
    let stored = server.store.get_push(id).await.unwrap().unwrap();
    assert!(stored.pdu.is_none());
    server.stop().await;
}

/// Rule (FACTS.md G.5): the DM-profile bootstrap is a WBXML DM message in a push with content
/// type 0xC2 and application id 0x07.
#[tokio::test]
async fn dm_bootstrap_push_carries_a_wbxml_dm_message() {
    let (port, sms) = smsc().await;
    let server = Server::sqlite_with(|c| with_smpp(c, port)).await;
    let mut req = request("dm");
    req["dm_version"] = json!("1.1.2");
    req["form"] = json!("commands");
    let path = format!("/api/v1/devices/{}/bootstrap", DEVICE.replace(':', "%3A"));
    let (status, view) = admin_api(&server, "POST", &path, Some(req)).await;
    assert_eq!(status, 202, "{view}");
    push_state(&server, view["push"]["id"].as_i64().unwrap(), "accepted").await;
    let (_, wsp) = reassemble(&sms.lock().unwrap().clone()).unwrap();
    let pdu = PushPdu::decode(&wsp).unwrap();
    assert_eq!(pdu.content_type.media, MediaType::DmBootstrap);
    assert_eq!(pdu.application_id.map(|a| a.0), Some(0x07));
    let msg =
        omadm_protocol::decode_as(&pdu.body, omadm_protocol::Encoding::Wbxml, &Limits::default()).unwrap();
    let adds: Vec<String> = msg
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Add(a) => a.items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.clone()),
            _ => None,
        })
        .collect();
    assert!(adds.iter().any(|t| t.starts_with("./SyncML/DMAcc/")), "{adds:?}");
    server.stop().await;
}

/// Rule (issue 6): every push is stored before it is sent; one queued while no channel could
/// take it is sent by the server that runs next.
#[tokio::test]
async fn a_queued_push_survives_a_restart() {
    let dir = TempDir::new("bootstrap-restart");
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let mut first = common::config(&url);
    first.public_url = Some("http://dm.example.com".into());
    first.push_backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_millis(500) };
    let server = Server::start(first).await;
    let path = format!("/api/v1/devices/{}/bootstrap", DEVICE.replace(':', "%3A"));
    let (status, view) = admin_api(&server, "POST", &path, Some(request("cp"))).await;
    assert_eq!(status, 202, "{view}");
    let id = view["push"]["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, push) = admin_api(&server, "GET", &format!("/api/v1/pushes/{id}"), None).await;
    assert_eq!(push["state"], "queued", "{push}");
    assert_eq!(push["failure"], "no delivery channel is configured");
    server.stop().await;

    let (port, sms) = smsc().await;
    let mut second = common::config(&url);
    with_smpp(&mut second, port);
    let server = Server::start(second).await;
    push_state(&server, id, "accepted").await;
    assert!(!sms.lock().unwrap().is_empty());
    server.stop().await;
}

/// Bad requests store nothing and say why.
#[tokio::test]
async fn bad_bootstrap_requests_are_refused() {
    let (port, _sms) = smsc().await;
    let server = Server::sqlite_with(|c| with_smpp(c, port)).await;
    let path = format!("/api/v1/devices/{}/bootstrap", DEVICE.replace(':', "%3A"));
    let cases = [
        (json!({"security": {"method": "netwpin"}}), "imsi"),
        (json!({"security": {"method": "netwpin", "imsi": "12x"}}), "IMSI"),
        (json!({"msisdn": "call me"}), "msisdn"),
        (json!({"profile": "ota"}), ""),
        (json!({"dm_version": "2.0"}), "dm_version"),
        (json!({"client_auth": {"username": "", "password": "x"}}), "username"),
        (json!({"profile": "dm", "ms_extensions": {"role": 8}}), "ms_extensions"),
    ];
    for (change, needle) in cases {
        let mut req = request("cp");
        for (k, v) in change.as_object().unwrap() {
            req[k] = v.clone();
        }
        let (status, body) = admin_api(&server, "POST", &path, Some(req)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains(needle), "{needle}: {body}");
    }
    let (_, pushes) = admin_api(&server, "GET", "/api/v1/pushes", None).await;
    assert_eq!(pushes, json!([]));
    assert!(server.store.get_device(DEVICE).await.unwrap().is_none());
    server.stop().await;
}
