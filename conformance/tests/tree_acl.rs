//! Tree properties and ACLs (OMA-TS-DM_TND-V1_2 §7-§9; FACTS.md C.3, C.7): a device refuses
//! what its ACLs do not grant the server with 425, and the server records the refusal against
//! the command; properties are read and written through `?prop=`.

mod subject;

use omadm_conformance::devsim::objects::OTHER_SERVER;
use omadm_conformance::devsim::{AuthKind, Device};
use serde_json::{Value, json};
use subject::*;

async fn run(s: &Subject, d: &mut Device, cmds: Vec<Value>) -> Vec<Value> {
    let mut ids = Vec::new();
    for c in cmds {
        ids.push(s.enqueue(&d.config.device_id, c).await);
    }
    let r = d.run_session().await;
    completed(&r);
    let mut out = Vec::new();
    for id in ids {
        out.push(s.command(&d.config.device_id, id).await);
    }
    out
}

fn status(c: &Value) -> i64 {
    c["status"].as_i64().unwrap_or(-1)
}

/// FACTS.md C.3, C.7: every command on a node whose ACL names only another server is
/// refused with 425; the server records each command failed with status 425; the node is
/// unchanged.
#[tokio::test]
async fn acl_denial_is_425_and_recorded_failed() {
    let s = Subject::start().await;
    let mut d = s.device("acl425", AuthKind::Md5).await;
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Get", "target": "./Vendor/Secure/Key"}),
            json!({"op": "Replace", "target": "./Vendor/Secure/Key", "data": "mine"}),
            json!({"op": "Delete", "target": "./Vendor/Secure/Key"}),
            json!({"op": "Add", "target": "./Vendor/Secure/New", "data": "x"}),
            json!({"op": "Exec", "target": "./Vendor/Secure/Key"}),
            json!({"op": "Copy", "source": "./Vendor/Secure/Key", "target": "./Vendor/Stolen"}),
        ],
    )
    .await;
    for cmd in &c {
        assert_eq!((cmd["state"].as_str(), status(cmd)), (Some("failed"), 425), "{cmd}");
        assert_eq!(cmd["results"], json!([]));
    }
    assert_eq!(d.tree.text("./Vendor/Secure/Key").as_deref(), Some("s3cret"));
    assert!(d.tree.node("./Vendor/Secure/New").is_none() && d.tree.node("./Vendor/Stolen").is_none());
    s.stop().await;
}

/// FACTS.md C.7, J: DevInfo and DevDetail grant only Get. The server knows it from the
/// standard DDFs and holds Replace, Add and Delete back with a reason instead of sending them;
/// forced by an operator, they reach the device, which refuses them with 425.
#[tokio::test]
async fn read_only_objects() {
    let s = Subject::start().await;
    let mut d = s.device("readonly", AuthKind::Md5).await;
    let dev = d.config.device_id.clone();
    let mut ids = Vec::new();
    for c in [
        json!({"op": "Replace", "target": "./DevInfo/Man", "data": "Evil"}),
        json!({"op": "Add", "target": "./DevInfo/Extra", "data": "x"}),
        json!({"op": "Delete", "target": "./DevDetail/SwV"}),
        json!({"op": "Replace", "target": "./Vendor/ReadOnly", "data": "changed"}),
        json!({"op": "Get", "target": "./Vendor/ReadOnly"}),
    ] {
        ids.push(s.enqueue(&dev, c).await);
    }
    completed(&d.run_session().await);
    let mut c = Vec::new();
    for id in &ids {
        c.push(s.command(&dev, *id).await);
    }
    // Held by the DDF check, not sent: still queued, with the reason.
    for held in &c[..3] {
        assert_eq!(held["state"], "queued", "{held}");
        assert!(held["held"].as_str().is_some_and(|r| r.contains("DDF")), "{held}");
    }
    // The vendor node is not in a standard DDF: the device decides (425, then 200 for Get).
    assert_eq!([status(&c[3]), status(&c[4])], [425, 200]);

    // An operator forces them: the device refuses each with 425, recorded as failed.
    for id in &ids[..3] {
        let (code, _) = s
            .api("POST", &format!("/api/v1/devices/{}/commands/{id}/force", encode_segment(&dev)), None)
            .await;
        assert_eq!(code, 200, "force");
    }
    completed(&d.run_session().await);
    for id in &ids[..3] {
        let cmd = s.command(&dev, *id).await;
        assert_eq!((cmd["state"].as_str(), status(&cmd)), (Some("failed"), 425), "{cmd}");
    }
    assert_eq!(d.tree.text("./DevInfo/Man").as_deref(), Some("Acme"));
    s.stop().await;
}

/// FACTS.md H.1 (AAuthSecret and AAuthData have no Get), C.7: the account's secrets cannot
/// be read back (425), its other leaves can.
#[tokio::test]
async fn account_secrets_cannot_be_read() {
    let s = Subject::start().await;
    let mut d = s.device("secrets", AuthKind::Md5).await;
    let acc = format!("./DMAcc/{}", d.config.account);
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Get", "target": format!("{acc}/AppAuth/1/AAuthSecret")}),
            json!({"op": "Get", "target": format!("{acc}/AppAuth/1/AAuthData")}),
            json!({"op": "Get", "target": format!("{acc}/AppAuth/1/AAuthName")}),
            json!({"op": "Get", "target": format!("{acc}/ServerID")}),
        ],
    )
    .await;
    assert_eq!(c.iter().map(status).collect::<Vec<_>>(), [425, 425, 200, 200]);
    assert_eq!(c[3]["results"][0]["data"], d.config.server_id.as_str());
    s.stop().await;
}

/// FACTS.md C.7 (`?prop=ACL`; Get on an empty ACL returns empty Data): a node's own ACL
/// comes back as written; a node that inherits has an empty ACL.
#[tokio::test]
async fn get_acl_property() {
    let s = Subject::start().await;
    let mut d = s.device("getacl", AuthKind::Md5).await;
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Get", "target": "./Vendor?prop=ACL"}),
            json!({"op": "Get", "target": "./Vendor/Settings?prop=ACL"}),
            json!({"op": "Get", "target": "./FwUpdate/x1?prop=ACL"}),
        ],
    )
    .await;
    assert_eq!(c[0]["results"][0]["data"], "Add=*&Delete=*&Exec=*&Get=*&Replace=*");
    assert_eq!(c[0]["results"][0]["source"], "./Vendor?prop=ACL");
    assert_eq!(c[1]["results"][0]["data"], "");
    let sid = &d.config.server_id;
    assert_eq!(c[2]["results"][0]["data"], format!("Get=*&Replace={sid}&Exec={sid}"));
    s.stop().await;
}

/// FACTS.md C.7 (Replace on `?prop=ACL` replaces the whole ACL; inheritance from the nearest
/// ancestor with a value): once a node's ACL names only another server, the nodes below it
/// refuse the server with 425.
#[tokio::test]
async fn replaced_acl_is_inherited_below() {
    let s = Subject::start().await;
    let mut d = s.device("setacl", AuthKind::Md5).await;
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Get", "target": "./Vendor/Settings/Volume"}),
            json!({"op": "Replace", "target": "./Vendor/Settings?prop=ACL", "data": format!("Get={OTHER_SERVER}")}),
            json!({"op": "Get", "target": "./Vendor/Settings/Volume"}),
            json!({"op": "Replace", "target": "./Vendor/Settings/Volume", "data": "0"}),
        ],
    )
    .await;
    assert_eq!(c.iter().map(status).collect::<Vec<_>>(), [200, 200, 425, 425]);
    assert_eq!(d.tree.node("./Vendor/Settings").unwrap().acl.to_string(), format!("Get={OTHER_SERVER}"));
    s.stop().await;
}

/// FACTS.md C.7 (rights to change an ACL: Replace on the parent, or on the node itself for an
/// interior node): without them, Replace of `?prop=ACL` is 425.
#[tokio::test]
async fn acl_change_needs_replace_right() {
    let s = Subject::start().await;
    let mut d = s.device("aclright", AuthKind::Md5).await;
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Replace", "target": "./DevInfo/Man?prop=ACL", "data": "Get=*&Replace=*"}),
            json!({"op": "Replace", "target": "./Vendor/Secure?prop=ACL", "data": "Get=*"}),
        ],
    )
    .await;
    assert_eq!(
        c.iter().map(status).collect::<Vec<_>>(),
        [425, 200],
        "Vendor grants Replace on Secure's parent"
    );
    s.stop().await;
}

/// FACTS.md C.7 (properties Format, Type, Size, Title, Name, TStamp, VerNo; VerNo changes
/// with the value; Title and Name can be replaced): properties read and written by the server.
#[tokio::test]
async fn node_properties() {
    let s = Subject::start().await;
    let mut d = s.device("props", AuthKind::Md5).await;
    let node = "./Vendor/Settings/Greeting";
    let prop = |p: &str| json!({"op": "Get", "target": format!("{node}?prop={p}")});
    let c = run(
        &s,
        &mut d,
        vec![
            prop("Format"),
            prop("Type"),
            prop("Size"),
            prop("Title"),
            prop("Name"),
            prop("TStamp"),
            prop("VerNo"),
            json!({"op": "Replace", "target": node, "data": "hello, world"}),
            prop("VerNo"),
            prop("Size"),
            json!({"op": "Replace", "target": format!("{node}?prop=Title"), "data": "Greeting at start-up"}),
            prop("Title"),
            json!({"op": "Get", "target": "./FwUpdate/x1?prop=Type"}),
        ],
    )
    .await;
    let data = |i: usize| c[i]["results"][0]["data"].as_str().unwrap_or("?").to_owned();
    assert_eq!(data(0), "chr");
    assert_eq!(data(1), "text/plain");
    assert_eq!(data(2), "5");
    assert_eq!(data(3), "Start-up greeting");
    assert_eq!(data(4), "Greeting");
    assert!(data(5).is_empty() || data(5).ends_with('Z'), "ISO 8601 basic UTC: {}", data(5));
    let before: u32 = data(6).parse().unwrap();
    assert_eq!(data(8).parse::<u32>().unwrap(), before + 1, "VerNo changes with the value");
    assert_eq!(data(9), "12");
    assert_eq!(status(&c[10]), 200);
    assert_eq!(data(11), "Greeting at start-up");
    assert_eq!(data(12), "urn:oma:mo:oma-fumo:1.0", "an interior node's Type is its MO identifier");
    s.stop().await;
}

/// FACTS.md C.7: an unknown property is 406; Add on a property and Replace of a read-only
/// property are 405; Replace of Name renames the node.
#[tokio::test]
async fn property_errors_and_rename() {
    let s = Subject::start().await;
    let mut d = s.device("propErr", AuthKind::Md5).await;
    let c = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Get", "target": "./Vendor?prop=Colour"}),
            json!({"op": "Add", "target": "./Vendor/Settings/Greeting?prop=Title", "data": "t"}),
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting?prop=Format", "data": "int"}),
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting?prop=Name", "data": "Welcome"}),
        ],
    )
    .await;
    assert_eq!(c.iter().map(status).collect::<Vec<_>>(), [406, 405, 405, 200]);
    assert!(d.tree.node("./Vendor/Settings/Welcome").is_some());
    s.stop().await;
}

/// FACTS.md C.7 ("when a server adds an interior node without Replace right on the parent,
/// the device sets an ACL giving that server Add, Delete and Replace"): the root grants Add
/// but not Replace, so a new top-level object gets that ACL.
#[tokio::test]
async fn new_interior_node_acl_names_its_creator() {
    let s = Subject::start().await;
    let mut d = s.device("newmo", AuthKind::Md5).await;
    let c = run(&s, &mut d, vec![json!({"op": "Add", "target": "./AcmeMO", "format": "node"})]).await;
    assert_eq!(status(&c[0]), 200);
    let sid = &d.config.server_id;
    assert_eq!(
        d.tree.node("./AcmeMO").unwrap().acl.to_string(),
        format!("Add={sid}&Delete={sid}&Replace={sid}")
    );
    s.stop().await;
}
