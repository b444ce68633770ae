//! The server's mirror of a device's management tree, driven by whole DM sessions over HTTP
//! (OMA-TS-DM_TND-V1_2; FACTS.md C.7): filled from package 1 and Results, changed by the
//! changes the device accepted (not those it refused, nothing of a failed Atomic), and used to
//! hold back commands the mirrored ACLs or the DDF forbid until an operator forces them.

mod common;

use common::*;
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, CommandSpec, CommandState, Op, Store};

fn cmd(op: Op, target: &str, data: Option<&str>) -> CommandSpec {
    CommandSpec {
        op: Some(op),
        target: Some(target.into()),
        data: data.map(Into::into),
        ..CommandSpec::default()
    }
}

/// One whole session: package 1, then replies from `tree` until the server has nothing more;
/// `tweak` edits each reply (e.g. to refuse a command). Returns the server's commands.
async fn session(
    server: &Server,
    creds: &DeviceCreds,
    tree: &[(&str, &str)],
    tweak: impl Fn(&mut SyncMl),
) -> Vec<Command> {
    let mut dev = Client::new(server, creds.clone());
    let pkg1 = dev.package1();
    let mut msg = dev.send(&pkg1).await;
    let mut sent = Vec::new();
    for _ in 0..10 {
        let cmds = commands(&msg);
        if cmds.is_empty() {
            return sent;
        }
        sent.extend(cmds.into_iter().cloned());
        let mut reply = dev.reply(&msg, tree);
        tweak(&mut reply);
        msg = dev.send(&reply).await;
    }
    panic!("the session does not end");
}

/// Answer every Status of `name` commands with `code`.
fn refuse(name: &'static str, code: StatusCode) -> impl Fn(&mut SyncMl) {
    move |m: &mut SyncMl| {
        for c in &mut m.body.commands {
            if let Command::Status(s) = c
                && s.cmd == name
            {
                s.data = code;
            }
        }
    }
}

fn targets(cmds: &[Command]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cmds {
        match c {
            Command::Atomic(x) | Command::Sequence(x) => out.extend(targets(&x.commands)),
            Command::Add(x) | Command::Replace(x) | Command::Delete(x) | Command::Get(x) => {
                out.push(x.items[0].target.as_ref().unwrap().loc_uri.clone())
            }
            _ => {}
        }
    }
    out
}

async fn value(store: &Store, device: &str, uri: &str) -> Option<String> {
    store.get_tree_node(device, uri).await.unwrap().and_then(|n| n.value)
}

/// Package 1 DevInfo and Results of Get fill the mirror; an accepted Replace changes it, a
/// refused one (425) does not; an accepted Delete removes the subtree.
#[tokio::test]
async fn mirror_follows_what_the_device_reports_and_accepts() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:700000000000001", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let d = creds.device_id.as_str();
    let s = &server.store;
    let tree = [("./Vendor/Volume", "3"), ("./Vendor/Sub/A", "a")];
    s.enqueue_command(d, &cmd(Op::Get, "./Vendor/Volume", None), 1).await.unwrap();
    s.enqueue_command(d, &cmd(Op::Get, "./Vendor/Sub/A", None), 1).await.unwrap();
    session(&server, &creds, &tree, |_| {}).await;
    assert_eq!(value(s, d, "./DevInfo/Man").await.as_deref(), Some("Acme"), "package 1 DevInfo");
    assert_eq!(s.get_tree_node(d, "./DevInfo/Man").await.unwrap().unwrap().format.as_deref(), Some("chr"));
    assert_eq!(value(s, d, "./Vendor/Volume").await.as_deref(), Some("3"), "Results of a Get");

    s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Volume", Some("7")), 2).await.unwrap();
    session(&server, &creds, &tree, |_| {}).await;
    assert_eq!(value(s, d, "./Vendor/Volume").await.as_deref(), Some("7"), "accepted Replace");

    let refused = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Volume", Some("9")), 3).await.unwrap();
    session(&server, &creds, &tree, refuse("Replace", StatusCode::PermissionDenied)).await;
    let rec = s.get_command(d, refused).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.status), (CommandState::Failed, Some(425)));
    assert_eq!(
        value(s, d, "./Vendor/Volume").await.as_deref(),
        Some("7"),
        "a refused Replace changes nothing"
    );

    s.enqueue_command(d, &cmd(Op::Delete, "./Vendor/Sub", None), 4).await.unwrap();
    session(&server, &creds, &tree, |_| {}).await;
    assert!(s.get_tree_node(d, "./Vendor/Sub/A").await.unwrap().is_none(), "Delete removes the subtree");
    assert!(s.get_tree_node(d, "./Vendor/Volume").await.unwrap().is_some());
    server.stop().await;
}

/// A node whose mirrored ACL does not grant our ServerID: the command is held with a reason
/// and not sent, until an operator forces it. A DDF-invalid command is held too.
#[tokio::test]
async fn acl_and_ddf_hold_commands_until_forced() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:700000000000002", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let d = creds.device_id.as_str();
    let s = &server.store;
    let tree = [("./Vendor/Secure?prop=ACL", "Get=*&Replace=other"), ("./Vendor/Secure/Key", "k")];
    s.enqueue_command(d, &cmd(Op::Get, "./Vendor/Secure?prop=ACL", None), 1).await.unwrap();
    session(&server, &creds, &tree, |_| {}).await;
    let n = s.get_tree_node(d, "./Vendor/Secure").await.unwrap().unwrap();
    assert_eq!(n.acl.as_deref(), Some("Get=*&Replace=other"));

    let denied = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Secure/Key", Some("x")), 2).await.unwrap();
    let ddf_bad = s.enqueue_command(d, &cmd(Op::Replace, "./DevInfo/Man", Some("Evil")), 2).await.unwrap();
    let allowed = s.enqueue_command(d, &cmd(Op::Get, "./Vendor/Secure/Key", None), 2).await.unwrap();
    let sent = session(&server, &creds, &tree, |_| {}).await;
    assert_eq!(targets(&sent), ["./Vendor/Secure/Key"], "only the Get goes out");
    assert!(matches!(sent[0], Command::Get(_)));
    let rec = s.get_command(d, denied).await.unwrap().unwrap();
    assert_eq!(rec.state, CommandState::Queued);
    let reason = rec.held_reason.unwrap();
    assert!(
        reason.starts_with("ACL:") && reason.contains("Replace") && reason.contains("./Vendor/Secure"),
        "{reason}"
    );
    let rec = s.get_command(d, ddf_bad).await.unwrap().unwrap();
    assert!(rec.held_reason.as_deref().is_some_and(|r| r.starts_with("DDF:")), "{:?}", rec.held_reason);
    assert_eq!(s.get_command(d, allowed).await.unwrap().unwrap().state, CommandState::Done);

    // Not retried every session.
    assert!(session(&server, &creds, &tree, |_| {}).await.is_empty());

    // Forced: sent without the checks (the device still has the last word).
    let view = omadm_server::admin::force_command(s, d, denied, "test").await.unwrap();
    assert!(view.held.is_none() && view.forced);
    let sent = session(&server, &creds, &tree, |_| {}).await;
    assert_eq!(targets(&sent), ["./Vendor/Secure/Key"]);
    assert!(matches!(sent[0], Command::Replace(_)));
    assert_eq!(s.get_command(d, denied).await.unwrap().unwrap().state, CommandState::Done);
    assert_eq!(value(s, d, "./Vendor/Secure/Key").await.as_deref(), Some("x"));
    let audit = s.list_audit(Some(d), 10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "command.force"));
    server.stop().await;
}

/// Replace of `?prop=ACL` updates the mirrored ACL once accepted; an Atomic the device
/// refuses changes nothing, even for children it answered 200.
#[tokio::test]
async fn acl_replace_and_failed_atomic() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:700000000000003", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let d = creds.device_id.as_str();
    let s = &server.store;
    s.enqueue_command(
        d,
        &cmd(Op::Replace, "./Vendor/Settings?prop=ACL", Some("Add=*&Get=*&Replace=omadm")),
        1,
    )
    .await
    .unwrap();
    session(&server, &creds, &[], |_| {}).await;
    let n = s.get_tree_node(d, "./Vendor/Settings").await.unwrap().unwrap();
    assert_eq!(n.acl.as_deref(), Some("Add=*&Get=*&Replace=omadm"));

    let atomic = CommandSpec {
        op: Some(Op::Atomic),
        children: vec![
            cmd(Op::Add, "./Vendor/Settings/A", Some("1")),
            cmd(Op::Replace, "./Vendor/Settings/B", Some("2")),
        ],
        ..CommandSpec::default()
    };
    let id = s.enqueue_command(d, &atomic, 2).await.unwrap();
    session(&server, &creds, &[], refuse("Atomic", StatusCode::AtomicFailed)).await;
    assert_eq!(s.get_command(d, id).await.unwrap().unwrap().state, CommandState::Failed);
    assert!(s.get_tree_node(d, "./Vendor/Settings/A").await.unwrap().is_none(), "failed Atomic");
    assert!(s.get_tree_node(d, "./Vendor/Settings/B").await.unwrap().is_none());

    let id = s.enqueue_command(d, &atomic, 3).await.unwrap();
    session(&server, &creds, &[], |_| {}).await;
    assert_eq!(s.get_command(d, id).await.unwrap().unwrap().state, CommandState::Done);
    assert_eq!(value(s, d, "./Vendor/Settings/A").await.as_deref(), Some("1"));
    assert_eq!(value(s, d, "./Vendor/Settings/B").await.as_deref(), Some("2"));
    server.stop().await;
}

use common::admin_api as api;

/// A vendor MO: `Acme` (interior) with an int `Volume` whose AccessType is `access`.
fn acme_ddf(access: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd">
<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Man>Acme</Man>
  <Node><NodeName>Acme</NodeName>
    <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
      <DFType><DDFName>urn:acme:mo:audio:1.0</DDFName></DFType></DFProperties>
    <Node><NodeName>Volume</NodeName>
      <DFProperties><AccessType>{access}</AccessType><DFFormat><int/></DFFormat>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties>
    </Node>
  </Node>
</MgmtTree>"#
    )
}

/// Operator DDFs through the admin API: good, bad and too large imports, list, read, delete;
/// a session then checks commands against them (held when invalid, sent when valid), and a
/// held command goes out once the DDF that held it is deleted.
#[tokio::test]
async fn operator_ddfs_are_imported_and_validate_commands() {
    use base64::Engine as _;
    use serde_json::json;
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:700000000000004", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let d = creds.device_id.as_str();
    let s = &server.store;

    // Bad documents: 400 with the parse error; nothing stored.
    let (code, body) = api(
        &server,
        "POST",
        "/api/v1/ddfs",
        Some(json!({"name": "x", "mount": "./A", "document": "<MgmtTree"})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("DDF document"), "{body}");
    let no_node =
        json!({"name": "x", "mount": "./A", "document": "<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>"});
    let (code, body) = api(&server, "POST", "/api/v1/ddfs", Some(no_node)).await;
    assert_eq!((code, body["error"].as_str().unwrap()), (400, "DDF <MgmtTree>: no Node"));
    let bad_mount = json!({"name": "x", "mount": "Vendor//A", "document": acme_ddf("<Get/>")});
    assert_eq!(api(&server, "POST", "/api/v1/ddfs", Some(bad_mount)).await.0, 400);
    let both = json!({"name": "x", "mount": "./A", "document": "a", "document_b64": "YQ=="});
    assert_eq!(api(&server, "POST", "/api/v1/ddfs", Some(both)).await.0, 400);
    // Too large: a document over 1 MiB, and a body over the route's limit.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b' '; 1024 * 1024 + 1]);
    let (code, body) =
        api(&server, "POST", "/api/v1/ddfs", Some(json!({"name": "x", "mount": "./A", "document_b64": big})))
            .await;
    assert_eq!(code, 413, "{body}");
    let huge = "x".repeat(omadm_server::ddfs::MAX_BODY + 1);
    let (code, _) =
        api(&server, "POST", "/api/v1/ddfs", Some(json!({"name": "x", "mount": "./A", "document": huge})))
            .await;
    assert_eq!(code, 413);
    assert!(s.list_ddfs(false).await.unwrap().is_empty());

    // A DDF that lets Volume only be read: a Replace of it is held.
    let get_only = json!({"name": "acme-ro", "mount": "./Vendor/Acme", "document": acme_ddf("<Get/>")});
    let (code, ro) = api(&server, "POST", "/api/v1/ddfs", Some(get_only.clone())).await;
    assert_eq!(code, 201, "{ro}");
    assert_eq!(ro["nodes"], json!(["./Vendor/Acme"]));
    assert_eq!(ro["mo_id"], "urn:acme:mo:audio:1.0", "the DFType of the MO root");
    assert_eq!(api(&server, "POST", "/api/v1/ddfs", Some(get_only)).await.0, 409, "names are unique");
    let held = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Acme/Volume", Some("7")), 1).await.unwrap();
    let free = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Other", Some("x")), 1).await.unwrap();
    let sent = session(&server, &creds, &[], |_| {}).await;
    assert_eq!(
        targets(&sent),
        ["./Vendor/Other"],
        "nodes the DDF does not describe are the device's to judge"
    );
    let rec = s.get_command(d, held).await.unwrap().unwrap();
    let reason = rec.held_reason.unwrap();
    assert!(reason.starts_with("DDF:") && reason.contains("Replace"), "{reason}");
    assert_eq!(s.get_command(d, free).await.unwrap().unwrap().state, CommandState::Done);

    // Read back: the list without documents, one DDF with its document.
    let (code, list) = api(&server, "GET", "/api/v1/ddfs", None).await;
    assert_eq!(code, 200);
    assert_eq!(list["ddfs"].as_array().unwrap().len(), 1);
    assert!(list["ddfs"][0].get("document_b64").is_none());
    let id = ro["id"].as_i64().unwrap();
    let (code, one) = api(&server, "GET", &format!("/api/v1/ddfs/{id}"), None).await;
    assert_eq!(code, 200);
    let doc =
        base64::engine::general_purpose::STANDARD.decode(one["document_b64"].as_str().unwrap()).unwrap();
    assert_eq!(doc, acme_ddf("<Get/>").into_bytes());
    assert_eq!(api(&server, "GET", "/api/v1/ddfs/999999", None).await.0, 404);
    assert_eq!(api(&server, "GET", "/api/v1/ddfs/abc", None).await.0, 400);

    // Deleted: the held command is checked again at the next session and goes out.
    assert_eq!(api(&server, "DELETE", &format!("/api/v1/ddfs/{id}"), None).await.0, 204);
    assert_eq!(api(&server, "DELETE", &format!("/api/v1/ddfs/{id}"), None).await.0, 404);
    let sent = session(&server, &creds, &[], |_| {}).await;
    assert_eq!(targets(&sent), ["./Vendor/Acme/Volume"]);
    let rec = s.get_command(d, held).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.held_reason, rec.forced), (CommandState::Done, None, false));

    // A DDF that allows Replace of an int: a bad value is held, a good one sent (WBXML-free
    // Base64 upload this time).
    let rw = base64::engine::general_purpose::STANDARD.encode(acme_ddf("<Get/><Replace/>"));
    let (code, _) = api(
        &server,
        "POST",
        "/api/v1/ddfs",
        Some(json!({"name": "acme", "mount": "./Vendor", "document_b64": rw, "man": "Acme"})),
    )
    .await;
    assert_eq!(code, 201);
    let bad = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Acme/Volume", Some("loud")), 2).await.unwrap();
    let good = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Acme/Volume", Some("9")), 2).await.unwrap();
    let sent = session(&server, &creds, &[], |_| {}).await;
    assert_eq!(targets(&sent), ["./Vendor/Acme/Volume"]);
    let reason = s.get_command(d, bad).await.unwrap().unwrap().held_reason.unwrap();
    assert!(reason.starts_with("DDF:") && reason.contains("int"), "{reason}");
    assert_eq!(s.get_command(d, good).await.unwrap().unwrap().state, CommandState::Done);
    assert_eq!(value(s, d, "./Vendor/Acme/Volume").await.as_deref(), Some("9"));

    let actions: Vec<String> = s.list_audit(None, 20).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "ddf.import").count(), 2);
    assert_eq!(actions.iter().filter(|a| *a == "ddf.delete").count(), 1);
    server.stop().await;
}

/// A DDF imported on another node (here: straight into the store, as the CLI does) is used
/// once this node refreshes, with no restart.
#[tokio::test]
async fn ddfs_imported_elsewhere_are_picked_up_on_refresh() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:700000000000005", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let d = creds.device_id.as_str();
    let s = &server.store;
    let req = omadm_server::ddfs::ImportDdf {
        name: "acme".into(),
        mount: "./Vendor/Acme".into(),
        document: Some(acme_ddf("<Get/>")),
        ..Default::default()
    };
    let first = omadm_server::ddfs::import(s, None, req.clone(), "cli").await.unwrap();
    let ddfs = &server.app.ddfs;
    // (The background refresher may have got there first.)
    ddfs.refresh(s).await.unwrap();
    assert!(!ddfs.refresh(s).await.unwrap(), "unchanged: not reloaded");
    let other = omadm_server::ddfs::ImportDdf { name: "other".into(), ..req };
    let second = omadm_server::ddfs::import(s, None, other, "cli").await.unwrap();
    assert!(ddfs.refresh(s).await.unwrap(), "an import elsewhere changes the revision");
    omadm_server::ddfs::delete(s, None, second.id, "cli").await.unwrap();
    assert!(ddfs.refresh(s).await.unwrap(), "so does a delete");
    assert!(first.id < second.id);
    let id = s.enqueue_command(d, &cmd(Op::Replace, "./Vendor/Acme/Volume", Some("1")), 1).await.unwrap();
    assert!(session(&server, &creds, &[], |_| {}).await.is_empty());
    assert!(s.get_command(d, id).await.unwrap().unwrap().held_reason.is_some());
    server.stop().await;
}
