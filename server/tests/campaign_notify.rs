//! Campaigns wake their devices (issues 7 and 8): a device admitted by a campaign is notified
//! with the campaign's notification policy through the configured channel, opens a session
//! with the notified session id, and the campaign completes on it.

mod common;

use std::time::Duration;

use common::smsc::smsc;
use common::{Client, DeviceCreds, Server, admin_api};
use omadm_protocol::notification::Notification;
use omadm_protocol::push::{PushPdu, reassemble};
use omadm_server::delivery::{DeliveryConfig, Secret, SmppConfig};
use omadm_server::dispatcher::Backoff;
use omadm_storage::ClientAuthType;
use serde_json::{Value, json};

const DEVICE: &str = "IMEI:353000000000999";

async fn campaign(server: &Server, id: i64) -> Value {
    let (status, c) = admin_api(server, "GET", &format!("/api/v1/campaigns/{id}"), None).await;
    assert_eq!(status, 200, "{c}");
    c
}

/// Rule (issue 8: "notified"; issue 7: "notification policy per device and per campaign").
#[tokio::test]
async fn a_campaign_notifies_its_devices_with_its_policy_and_completes() {
    let (port, inbox) = smsc().await;
    let server = Server::sqlite_with(|c| {
        c.push_backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_millis(500) };
        c.delivery = DeliveryConfig {
            smpp: Some(SmppConfig::new(format!("127.0.0.1:{port}"), "omadm", Secret::new("secret"))),
            pap: None,
            http: None,
        };
        c.campaign.poll_ms = 50;
        c.notification.poll = Duration::from_millis(20);
    })
    .await;
    let mut creds = DeviceCreds::new(DEVICE, ClientAuthType::Md5);
    creds.server_password = Some("srvpw999".into());
    server.add_device(&creds).await;
    let now = omadm_server::app::now_millis();
    server.store.set_notification_target(DEVICE, Some("+491701234999"), Some("smpp"), now).await.unwrap();

    let req = json!({
        "name": "vendor setting",
        "kind": "config",
        "target": { "device_ids": [DEVICE] },
        "payload": { "commands": [{ "op": "Replace", "target": "./Vendor/Setting", "data": "on" }] },
        "policy": { "notification": { "retries": 0, "fallback_retries": 0, "give_up_secs": 600 } }
    });
    let (status, c) = admin_api(&server, "POST", "/api/v1/campaigns", Some(req)).await;
    assert!(status == 201 || status == 200, "{status} {c}");
    let id = c["id"].as_i64().unwrap();

    // The engine admits the device and notifies it: package 0 reaches the SMSC.
    let mut notification = Value::Null;
    for _ in 0..200 {
        let q = format!("/api/v1/notifications?device_id={}", DEVICE.replace(':', "%3A"));
        let (_, list) = admin_api(&server, "GET", &q, None).await;
        if let Some(n) = list.as_array().and_then(|l| l.first())
            && n["push_state"] == "accepted"
        {
            notification = n.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(notification, Value::Null, "the campaign notified its device");
    assert_eq!(notification["policy"]["retries"], 0, "the campaign's policy: {notification}");
    assert_eq!(notification["policy"]["fallback_retries"], 0, "{notification}");
    let sms = inbox.lock().unwrap().clone();
    let (_, wsp) = reassemble(&sms).unwrap();
    let (_, pkg0) = Notification::decode(&PushPdu::decode(&wsp).unwrap().body).unwrap();

    // Woken, the device opens sessions with the notified id until the campaign is done.
    let mut device = Client::new(&server, creds);
    device.session_id = pkg0.session_id_hex();
    for _ in 0..6 {
        device.url = server.dm_url();
        device.msg_id = 0;
        let pkg1 = device.package1();
        let mut answer = device.send(&pkg1).await;
        while !answer.body.commands.iter().all(|c| matches!(c, omadm_protocol::Command::Status(_))) {
            let reply = device.reply(&answer, &[("./Vendor/Setting", "on")]);
            answer = device.send(&reply).await;
        }
        let c = campaign(&server, id).await;
        if c["counts"]["succeeded"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let c = campaign(&server, id).await;
    assert_eq!(
        (c["counts"]["succeeded"].as_i64(), c["counts"]["failed"].as_i64()),
        (Some(1), Some(0)),
        "{c}"
    );
    let n_id = notification["id"].as_i64().unwrap();
    let (_, n) = admin_api(&server, "GET", &format!("/api/v1/notifications/{n_id}"), None).await;
    assert_eq!(n["state"], "session_opened", "{n}");
    server.stop().await;
}

/// Groups through the API: a campaign targets an operator's group (issue 8).
#[tokio::test]
async fn groups_are_managed_through_the_api_and_targeted_by_campaigns() {
    let server = Server::sqlite().await;
    for n in 0..3 {
        server.add_device(&DeviceCreds::new(&format!("IMEI:35300000000010{n}"), ClientAuthType::Md5)).await;
    }
    let ids = json!({ "device_ids": ["IMEI:353000000000100", "IMEI:353000000000102"] });
    let (status, r) = admin_api(&server, "POST", "/api/v1/groups/pilot%20fleet/devices", Some(ids)).await;
    assert_eq!((status, r["added"].as_i64()), (200, Some(2)), "{r}");
    let bad = json!({ "device_ids": ["IMEI:353000000000100", "IMEI:nope"] });
    let (status, r) = admin_api(&server, "POST", "/api/v1/groups/pilot%20fleet/devices", Some(bad)).await;
    assert_eq!(status, 400, "{r}");
    let (_, g) = admin_api(&server, "GET", "/api/v1/groups", None).await;
    assert_eq!(g["groups"], json!([{ "group_name": "pilot fleet", "devices": 2 }]));
    let (_, d) = admin_api(&server, "GET", "/api/v1/groups/pilot%20fleet/devices?limit=1", None).await;
    assert_eq!(d["device_ids"], json!(["IMEI:353000000000100"]));

    let req = json!({
        "name": "pilot",
        "kind": "config",
        "target": { "group": "pilot fleet" },
        "payload": { "commands": [{ "op": "Replace", "target": "./Vendor/Setting", "data": "on" }] }
    });
    let (status, c) = admin_api(&server, "POST", "/api/v1/campaigns", Some(req)).await;
    assert!(status == 201 || status == 200, "{status} {c}");
    assert_eq!(c["counts"]["total"], 2, "{c}");

    let path = "/api/v1/groups/pilot%20fleet/devices/IMEI%3A353000000000102";
    assert_eq!(admin_api(&server, "DELETE", path, None).await.0, 204);
    assert_eq!(admin_api(&server, "DELETE", path, None).await.0, 404);
    server.stop().await;
}
