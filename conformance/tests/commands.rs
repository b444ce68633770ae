//! Management commands (OMA-TS-DM_Protocol-V1_2 §6.5-6.6, §8 user interaction; FACTS.md C.2,
//! C.3, C.4a): each command type reaches the device, the device's Status is recorded against
//! the command, Results are stored, containers keep their semantics, UI alerts carry the
//! user's answer.

mod subject;

use omadm_conformance::devsim::{AuthKind, Device, UiAnswer};
use omadm_protocol::Command;
use serde_json::{Value, json};
use subject::*;

/// Queue `cmds`, run one session, return the commands as the server recorded them.
async fn run(
    s: &Subject,
    d: &mut Device,
    cmds: Vec<Value>,
) -> (Vec<Value>, omadm_conformance::devsim::SessionReport) {
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
    (out, r)
}

fn state_status(c: &Value) -> (String, i64) {
    (c["state"].as_str().unwrap_or("?").to_owned(), c["status"].as_i64().unwrap_or(-1))
}

fn done(code: i64) -> (String, i64) {
    ("done".into(), code)
}

fn failed(code: i64) -> (String, i64) {
    ("failed".into(), code)
}

/// OMA-TS-DM_Protocol §6.5.7, FACTS.md C.4a: Get of a leaf gets 200 and Results with the
/// node's URI as Source, its Format and Type, and its value; the server stores them.
#[tokio::test]
async fn get_leaf_results_are_stored() {
    let s = Subject::start().await;
    let mut d = s.device("getleaf", AuthKind::Md5).await;
    let (c, r) = run(&s, &mut d, vec![json!({"op": "Get", "target": "./DevDetail/SwV"})]).await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(
        c[0]["results"],
        json!([{"source": "./DevDetail/SwV", "format": "chr", "type": "text/plain", "data": "2.0.1"}])
    );
    check(
        !r.server_statuses.iter().any(|st| st.cmd == "Results"),
        "FACTS.md C.4a: no Status for Results answered 200",
        &r,
    );
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.7: Get of an interior node returns its children's names
/// separated by `/`, with Format `node`.
#[tokio::test]
async fn get_interior_node_lists_children() {
    let s = Subject::start().await;
    let mut d = s.device("getinterior", AuthKind::Basic).await;
    let (c, _) = run(&s, &mut d, vec![json!({"op": "Get", "target": "./DevInfo"})]).await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(c[0]["results"][0]["format"], "node");
    assert_eq!(c[0]["results"][0]["data"], "DevId/Man/Mod/DmV/Lang");
    s.stop().await;
}

/// FACTS.md C.7 (`?list=Struct`): the structure below a node comes back as one Results item
/// per node, all stored.
#[tokio::test]
async fn get_list_struct() {
    let s = Subject::start().await;
    let mut d = s.device("getstruct", AuthKind::Basic).await;
    let (c, _) = run(&s, &mut d, vec![json!({"op": "Get", "target": "./DevInfo?list=Struct"})]).await;
    assert_eq!(state_status(&c[0]), done(200));
    let sources: Vec<&str> =
        c[0]["results"].as_array().unwrap().iter().map(|i| i["source"].as_str().unwrap()).collect();
    assert_eq!(
        sources,
        ["./DevInfo", "./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"]
    );
    s.stop().await;
}

/// FACTS.md C.3: Get of a missing node is answered 404; the command is failed with 404 and
/// has no results.
#[tokio::test]
async fn get_missing_node_is_404() {
    let s = Subject::start().await;
    let mut d = s.device("get404", AuthKind::Basic).await;
    let (c, _) = run(&s, &mut d, vec![json!({"op": "Get", "target": "./DevDetail/Nope"})]).await;
    assert_eq!(state_status(&c[0]), failed(404));
    assert_eq!(c[0]["results"], json!([]));
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.1, FACTS.md C.3: Add creates a leaf (200) that a later Get in the
/// same package reads; Add of an existing node is 418; Format `node` creates an interior node.
#[tokio::test]
async fn add_leaf_interior_and_existing() {
    let s = Subject::start().await;
    let mut d = s.device("add", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Add", "target": "./Vendor/Settings/Mode", "data": "eco", "format": "chr"}),
            json!({"op": "Get", "target": "./Vendor/Settings/Mode"}),
            json!({"op": "Add", "target": "./Vendor/Settings/Greeting", "data": "again"}),
            json!({"op": "Add", "target": "./Vendor/Apps", "format": "node"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(c[1]["results"][0]["data"], "eco");
    assert_eq!(state_status(&c[2]), failed(418));
    assert_eq!(state_status(&c[3]), done(200));
    assert_eq!(d.tree.text("./Vendor/Settings/Mode").as_deref(), Some("eco"));
    assert_eq!(d.tree.text("./Vendor/Settings/Greeting").as_deref(), Some("hello"), "418 changed nothing");
    assert!(d.tree.node("./Vendor/Apps").unwrap().is_interior());
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.11, FACTS.md C.3: Replace of a leaf changes it (200); of a missing
/// node is 404; of an interior node's value is 405.
#[tokio::test]
async fn replace_leaf_missing_and_interior() {
    let s = Subject::start().await;
    let mut d = s.device("replace", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Replace", "target": "./Vendor/Settings/Volume", "data": "9", "format": "int"}),
            json!({"op": "Replace", "target": "./Vendor/Settings/Nope", "data": "1"}),
            json!({"op": "Replace", "target": "./Vendor/Settings", "data": "1"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(state_status(&c[1]), failed(404));
    assert_eq!(state_status(&c[2]), failed(405));
    assert_eq!(d.tree.text("./Vendor/Settings/Volume").as_deref(), Some("9"));
    s.stop().await;
}

/// FACTS.md C.7 (binary over XML is Format b64, stored as bin): a b64 value is stored as its
/// bytes, and read back as Base64 with Format b64.
#[tokio::test]
async fn binary_value_travels_as_b64() {
    let s = Subject::start().await;
    let mut d = s.device("b64", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": "AAECA/8=", "format": "b64"}),
            json!({"op": "Get", "target": "./Vendor/Settings/Greeting"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(d.tree.value("./Vendor/Settings/Greeting"), Some(&[0u8, 1, 2, 3, 255][..]));
    assert_eq!(c[1]["results"][0]["format"], "b64");
    assert_eq!(c[1]["results"][0]["data"], "AAECA/8=");
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.5, FACTS.md C.3: Delete removes a node and its subtree (200); a
/// missing node is 404; a permanent node is 405.
#[tokio::test]
async fn delete_node_missing_and_permanent() {
    let s = Subject::start().await;
    let mut d = s.device("delete", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Delete", "target": "./Vendor/Settings"}),
            json!({"op": "Delete", "target": "./Vendor/Settings/Volume"}),
            json!({"op": "Delete", "target": "./Vendor/Log"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(state_status(&c[1]), failed(404));
    assert_eq!(state_status(&c[2]), failed(405));
    assert!(d.tree.node("./Vendor/Settings").is_none());
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.4: Copy carries Source and Target; the device copies the value.
#[tokio::test]
async fn copy_node() {
    let s = Subject::start().await;
    let mut d = s.device("copy", AuthKind::Md5).await;
    let (c, r) = run(
        &s,
        &mut d,
        vec![json!({"op": "Copy", "source": "./Vendor/Settings/Greeting", "target": "./Vendor/Settings/Backup"})],
    )
    .await;
    let sent = r.server_commands();
    check(
        matches!(sent[0], Command::Copy(x) if x.items[0].source.as_ref().unwrap().loc_uri == "./Vendor/Settings/Greeting"),
        "Copy with Source",
        &r,
    );
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(d.tree.text("./Vendor/Settings/Backup").as_deref(), Some("hello"));
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.6, FACTS.md C.3: Exec of an executable node is 200; of a node
/// that cannot run 405; of a missing node 404.
#[tokio::test]
async fn exec_runs_only_executable_nodes() {
    let s = Subject::start().await;
    let mut d = s.device("exec", AuthKind::Md5).await;
    let (c, r) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Exec", "target": "./Vendor/Reboot", "data": "now"}),
            json!({"op": "Exec", "target": "./Vendor/Settings/Volume"}),
            json!({"op": "Exec", "target": "./Vendor/Nothing"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(state_status(&c[1]), failed(405));
    assert_eq!(state_status(&c[2]), failed(404));
    let exec = r.server_commands().into_iter().find_map(|c| match c {
        Command::Exec(e) => Some(e.item.clone()),
        _ => None,
    });
    check(
        exec.and_then(|i| i.data).and_then(|d| d.as_text().map(str::to_owned)).as_deref() == Some("now"),
        "the Exec's data reaches the device",
        &r,
    );
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.5.1, FACTS.md C.7 (Meta Format and Type of the data): the Format and
/// Type given with a command reach the device and become the node's properties.
#[tokio::test]
async fn format_and_type_reach_the_device() {
    let s = Subject::start().await;
    let mut d = s.device("metatype", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Add", "target": "./Vendor/Conf", "data": "<conf/>", "format": "xml", "type": "application/xml"}),
            json!({"op": "Get", "target": "./Vendor/Conf?prop=Type"}),
            json!({"op": "Get", "target": "./Vendor/Conf"}),
        ],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(c[1]["results"][0]["data"], "application/xml");
    assert_eq!(c[2]["results"][0]["format"], "xml");
    assert_eq!(c[2]["results"][0]["data"], "<conf/>");
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.6.2, FACTS.md C.3: an Atomic whose commands all succeed is 200 and
/// every child's 200 is recorded.
#[tokio::test]
async fn atomic_commits() {
    let s = Subject::start().await;
    let mut d = s.device("atomicok", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![json!({"op": "Atomic", "commands": [
            {"op": "Replace", "target": "./Vendor/Settings/Volume", "data": "1"},
            {"op": "Add", "target": "./Vendor/Settings/Mode", "data": "quiet"},
        ]})],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    let children: Vec<_> = c[0]["commands"].as_array().unwrap().iter().map(state_status).collect();
    assert_eq!(children, [done(200), done(200)]);
    assert_eq!(d.tree.text("./Vendor/Settings/Volume").as_deref(), Some("1"));
    assert_eq!(d.tree.text("./Vendor/Settings/Mode").as_deref(), Some("quiet"));
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.6.2, FACTS.md C.3 (507 Atomic failed, 216 rolled back, 215 not
/// executed): when one command of an Atomic fails, the device rolls everything back; the
/// server records the Atomic failed with 507 and each child's own code.
#[tokio::test]
async fn atomic_failure_rolls_back() {
    let s = Subject::start().await;
    let mut d = s.device("atomicfail", AuthKind::Md5).await;
    let (c, r) = run(
        &s,
        &mut d,
        vec![json!({"op": "Atomic", "commands": [
            {"op": "Replace", "target": "./Vendor/Settings/Volume", "data": "1"},
            {"op": "Replace", "target": "./Vendor/Settings/Missing", "data": "2"},
            {"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": "3"},
        ]})],
    )
    .await;
    check(r.device_codes("Replace", "./Vendor/Settings/Volume") == [216], "rolled back", &r);
    assert_eq!(state_status(&c[0]), failed(507));
    // The codes are what matters: 216 and 215 are 2xx codes for commands that took no effect.
    let codes: Vec<_> = c[0]["commands"].as_array().unwrap().iter().map(|x| x["status"].clone()).collect();
    assert_eq!(codes, [216, 404, 215], "{}", c[0]);
    assert_eq!(c[0]["commands"][1]["state"], "failed");
    assert_eq!(d.tree.text("./Vendor/Settings/Volume").as_deref(), Some("5"), "rolled back");
    assert_eq!(d.tree.text("./Vendor/Settings/Greeting").as_deref(), Some("hello"), "never run");
    s.stop().await;
}

/// OMA-TS-DM_Protocol §6.6.13: a Sequence runs its commands in order; a Get after a Replace
/// reads the new value.
#[tokio::test]
async fn sequence_runs_in_order() {
    let s = Subject::start().await;
    let mut d = s.device("sequence", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![json!({"op": "Sequence", "commands": [
            {"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": "first"},
            {"op": "Get", "target": "./Vendor/Settings/Greeting"},
        ]})],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(c[0]["commands"][1]["results"][0]["data"], "first");
    s.stop().await;
}

/// OMA-TS-DM_Protocol §8, FACTS.md C.2 (1101): a confirmation the user accepts is 200.
#[tokio::test]
async fn ui_confirmation_accepted() {
    let s = Subject::start().await;
    let mut d = s.device("uiyes", AuthKind::Md5).await;
    let (c, r) = run(
        &s,
        &mut d,
        vec![json!({"op": "Alert", "alert_code": 1101, "texts": ["MAXDT=30", "Install now?"]})],
    )
    .await;
    let sent = r.server_commands();
    check(matches!(sent[0], Command::Alert(a) if a.items.len() == 2), "options item then the prompt", &r);
    assert_eq!(state_status(&c[0]), done(200));
    s.stop().await;
}

/// FACTS.md C.2 (1101 No → 304; user cancel → 214; no answer → 408): the user's refusal is
/// recorded with its code and the command is not done.
#[tokio::test]
async fn ui_confirmation_rejected_cancelled_or_timed_out() {
    let s = Subject::start().await;
    for (answer, code) in [(UiAnswer::Reject, 304), (UiAnswer::Cancel, 214), (UiAnswer::Timeout, 408)] {
        let mut d = s.device_with("uino", |c| c.user.answer = answer, |_| {}).await;
        let (c, _) =
            run(&s, &mut d, vec![json!({"op": "Alert", "alert_code": 1101, "texts": ["", "Reboot?"]})]).await;
        assert_eq!(c[0]["status"], code, "{answer:?}: {}", c[0]);
        if code != 214 {
            assert_eq!(c[0]["state"], "failed");
        }
    }
    s.stop().await;
}

/// FACTS.md C.2 (1100 display): a notice the user reads is 200.
#[tokio::test]
async fn ui_display() {
    let s = Subject::start().await;
    let mut d = s.device("uidisplay", AuthKind::Md5).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![json!({"op": "Alert", "alert_code": 1100, "texts": ["MINDT=5", "Updating tonight"]})],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    s.stop().await;
}

/// FACTS.md C.2 (1102 text input: the answer comes back in the Status Item): the text the
/// user typed is stored with the command.
#[tokio::test]
async fn ui_text_input_answer_is_stored() {
    let s = Subject::start().await;
    let mut d = s.device_with("uitext", |c| c.user.text = Some("Room 42".into()), |_| {}).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![json!({"op": "Alert", "alert_code": 1102, "texts": ["MAXLEN=20&IT=A", "Where are you?"]})],
    )
    .await;
    assert_eq!(state_status(&c[0]), done(200));
    assert_eq!(c[0]["results"][0]["data"], "Room 42", "{}", c[0]);
    s.stop().await;
}

/// FACTS.md C.2 (1103 single choice, 1104 multiple choice): the chosen indexes come back in
/// Status Items and are stored; without a user choice the default (`DR=`) is taken.
#[tokio::test]
async fn ui_choices_are_stored() {
    let s = Subject::start().await;
    let mut d = s.device_with("uichoice", |c| c.user.choices = Some(vec![1, 3]), |_| {}).await;
    let mut dflt = s.device("uidefault", AuthKind::Md5).await;
    let single = json!({"op": "Alert", "alert_code": 1103, "texts": ["DR=2", "Network?", "2G", "3G", "4G"]});
    let multi =
        json!({"op": "Alert", "alert_code": 1104, "texts": ["DR=2-3", "Apps?", "Mail", "Maps", "Music"]});
    let (c, _) = run(&s, &mut d, vec![single.clone(), multi.clone()]).await;
    assert_eq!(c[0]["results"][0]["data"], "1");
    let picks: Vec<&str> =
        c[1]["results"].as_array().unwrap().iter().map(|i| i["data"].as_str().unwrap()).collect();
    assert_eq!(picks, ["1", "3"]);
    let (c, _) = run(&s, &mut dflt, vec![single, multi]).await;
    assert_eq!(c[0]["results"][0]["data"], "2");
    let picks: Vec<&str> =
        c[1]["results"].as_array().unwrap().iter().map(|i| i["data"].as_str().unwrap()).collect();
    assert_eq!(picks, ["2", "3"]);
    s.stop().await;
}

/// FACTS.md C.2 ("215 for commands skipped because of the user's choice"): in a Sequence,
/// a confirmation answered No (304) stops the rest, each skipped command being 215.
#[tokio::test]
async fn rejected_confirmation_skips_the_rest_of_a_sequence() {
    let s = Subject::start().await;
    let mut d = s.device_with("uiseq", |c| c.user.answer = UiAnswer::Reject, |_| {}).await;
    let (c, _) = run(
        &s,
        &mut d,
        vec![json!({"op": "Sequence", "commands": [
            {"op": "Alert", "alert_code": 1101, "texts": ["", "Wipe settings?"]},
            {"op": "Delete", "target": "./Vendor/Settings"},
        ]})],
    )
    .await;
    let codes: Vec<_> = c[0]["commands"].as_array().unwrap().iter().map(|x| x["status"].clone()).collect();
    assert_eq!(codes, [304, 215]);
    assert!(d.tree.node("./Vendor/Settings").is_some(), "not executed");
    s.stop().await;
}

/// FACTS.md C.4 ("Status for everything except Results"): a package with every command type
/// gets a Status for each, recorded against each command.
#[tokio::test]
async fn every_command_type_in_one_package() {
    let s = Subject::start().await;
    let mut d = s.device("all", AuthKind::Hmac).await;
    let (c, r) = run(
        &s,
        &mut d,
        vec![
            json!({"op": "Add", "target": "./Vendor/X", "data": "v"}),
            json!({"op": "Replace", "target": "./Vendor/X", "data": "w"}),
            json!({"op": "Copy", "source": "./Vendor/X", "target": "./Vendor/Y"}),
            json!({"op": "Get", "target": "./Vendor/Y"}),
            json!({"op": "Delete", "target": "./Vendor/X"}),
            json!({"op": "Exec", "target": "./Vendor/Reboot"}),
            json!({"op": "Atomic", "commands": [{"op": "Replace", "target": "./Vendor/Y", "data": "z"}]}),
            json!({"op": "Sequence", "commands": [{"op": "Get", "target": "./Vendor/Y"}]}),
            json!({"op": "Alert", "alert_code": 1101, "texts": ["", "OK?"]}),
        ],
    )
    .await;
    let names: Vec<&str> = r.server_commands().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["Add", "Replace", "Copy", "Get", "Delete", "Exec", "Atomic", "Sequence", "Alert"]);
    for cmd in &c {
        assert_eq!(state_status(cmd), done(200), "{cmd}");
    }
    assert_eq!(c[3]["results"][0]["data"], "w");
    assert_eq!(c[7]["commands"][0]["results"][0]["data"], "z");
    s.stop().await;
}
