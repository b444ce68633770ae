//! Generic Alerts and FUMO (OMA-TS-DM_Protocol-V1_2 §8.7 Generic Alert; FUMO 1.0; FACTS.md
//! C.2, C.3, I): an Exec on a FUMO node is accepted with 202 and its result comes back later
//! in a Generic Alert 1226 (echoing the Exec's Correlator), which the server answers 200 or
//! 202 and stores as received.

mod subject;

use omadm_conformance::devsim::{Faults, Outcome, ReportTiming};
use omadm_protocol::{AlertCode, Command};
use serde_json::{Value, json};
use subject::*;

const DOWNLOAD: &str = "org.openmobilealliance.dm.firmwareupdate.download";

/// The one Generic Alert stored for the device.
async fn only_alert(s: &Subject, device_id: &str) -> Value {
    let alerts = s.alerts(device_id).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts[0].clone()
}

/// FACTS.md I.3, C.3 (Exec 202, Generic Alert answered 200/202): Exec of
/// `./FwUpdate/x1/Download` is accepted with 202 (recorded on the command); the device then
/// sends Alert 1226 with Source = the FUMO object, Meta Type
/// `org.openmobilealliance.dm.firmwareupdate.download`, Format int and the result code, which
/// the server acknowledges and stores.
#[tokio::test]
async fn fumo_exec_202_then_generic_alert_is_stored() {
    let s = Subject::start().await;
    let mut d = s.device("fumo", omadm_conformance::devsim::AuthKind::Md5).await;
    let dev = d.config.device_id.clone();
    let url = s.enqueue(&dev, json!({"op": "Replace", "target": "./FwUpdate/x1/Download/PkgURL", "data": "http://fw.example.com/pkg"})).await;
    let exec = s.enqueue(&dev, json!({"op": "Exec", "target": "./FwUpdate/x1/Download"})).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(s.command(&dev, url).await["status"], 200);
    let c = s.command(&dev, exec).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(202)), "{c}");
    check(r.alerts_delivered == 1, "the server acknowledged the Generic Alert", &r);
    let acks: Vec<u16> = r.server_statuses.iter().filter(|st| st.cmd == "Alert").map(|st| st.code).collect();
    check(acks.iter().all(|c| matches!(c, 200 | 202)), "answered 200 or 202", &r);
    let a = only_alert(&s, &dev).await;
    assert_eq!(a["type"], DOWNLOAD);
    assert_eq!(a["format"], "int");
    assert_eq!(a["data"], "200");
    assert_eq!(a["source"], "./FwUpdate/x1");
    assert_eq!(d.tree.text("./FwUpdate/x1/State").as_deref(), Some("40"), "download complete");
    assert!(d.pending_alerts.is_empty());
    s.stop().await;
}

/// FACTS.md I.3 (the Generic Alert echoes the Exec's Correlator), README (Generic Alerts
/// stored as received): the server's Exec carries a Correlator, so that the result can be
/// tied to the command; the stored alert has the same Correlator.
#[tokio::test]
async fn exec_correlator_comes_back_with_the_alert() {
    let s = Subject::start().await;
    let mut d = s.device("fumocorr", omadm_conformance::devsim::AuthKind::Md5).await;
    let dev = d.config.device_id.clone();
    s.enqueue(&dev, json!({"op": "Exec", "target": "./FwUpdate/x1/DownloadAndUpdate"})).await;
    let r = d.run_session().await;
    completed(&r);
    let correlator = r.server_commands().iter().find_map(|c| match c {
        Command::Exec(e) => Some(e.correlator.clone()),
        _ => None,
    });
    let correlator = correlator.flatten();
    check(correlator.is_some(), "the Exec carries a Correlator", &r);
    let sent_alert = r.sent().iter().flat_map(|m| m.body.commands.iter()).find_map(|c| match c {
        Command::Alert(a) if a.data == AlertCode::GenericAlert => Some(a.correlator.clone()),
        _ => None,
    });
    check(sent_alert == Some(correlator.clone()), "the device echoed it", &r);
    let a = only_alert(&s, &dev).await;
    assert_eq!(a["correlator"].as_str(), correlator.as_deref());
    assert_eq!(a["type"], "org.openmobilealliance.dm.firmwareupdate.downloadandupdate");
    s.stop().await;
}

/// FACTS.md I.3, I.4 (failures carry their code and a severity Mark other than
/// informational): a failed update is reported with its result code and Mark `critical`,
/// stored as such.
#[tokio::test]
async fn fumo_failure_is_reported_with_its_code_and_mark() {
    let s = Subject::start().await;
    let mut d = s.device_with("fumofail", |c| c.fumo.result = 410, |_| {}).await;
    let dev = d.config.device_id.clone();
    s.enqueue(&dev, json!({"op": "Exec", "target": "./FwUpdate/x1/Update"})).await;
    let r = d.run_session().await;
    completed(&r);
    let a = only_alert(&s, &dev).await;
    assert_eq!((a["data"].clone(), a["mark"].clone()), (json!("410"), json!("critical")));
    assert_eq!(a["type"], "org.openmobilealliance.dm.firmwareupdate.update");
    assert_eq!(d.tree.text("./FwUpdate/x1/State").as_deref(), Some("80"), "update failed");
    s.stop().await;
}

/// FACTS.md C.4 (Generic Alerts may come in package 1), I.3 (the result is reported in a new
/// or the same session): a result reported in the device's next session is stored the same
/// way.
#[tokio::test]
async fn fumo_result_reported_in_the_next_session() {
    let s = Subject::start().await;
    let mut d = s.device_with("fumonext", |c| c.fumo.report = ReportTiming::NextSession, |_| {}).await;
    let dev = d.config.device_id.clone();
    s.enqueue(&dev, json!({"op": "Exec", "target": "./FwUpdate/x1/Download"})).await;
    let r = d.run_session().await;
    completed(&r);
    assert!(s.alerts(&dev).await.is_empty());
    assert_eq!(d.pending_alerts.len(), 1);
    let r = d.run_session().await;
    completed(&r);
    let p1 = r.sent()[0];
    check(
        p1.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::GenericAlert)),
        "the alert rides in package 1",
        &r,
    );
    check(r.alerts_delivered == 1, "acknowledged", &r);
    assert_eq!(only_alert(&s, &dev).await["type"], DOWNLOAD);
    assert!(d.pending_alerts.is_empty());
    s.stop().await;
}

/// FACTS.md I.3 (the device reports until the server has the result): an alert whose
/// acknowledgement was lost with the link is sent again in the next session, and the server
/// keeps it.
#[tokio::test]
async fn unacknowledged_alert_is_sent_again() {
    let s = Subject::start().await;
    let mut d = s.device_with("fumolost", |c| c.fumo.report = ReportTiming::NextSession, |_| {}).await;
    let dev = d.config.device_id.clone();
    s.enqueue(&dev, json!({"op": "Exec", "target": "./FwUpdate/x1/Download"})).await;
    completed(&d.run_session().await);
    // Package 1 with the alert reaches the server; its answer is lost.
    d.config.faults = Faults { drop_after_message: Some(1), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Dropped { after: 1 }, "dropped", &r);
    assert_eq!(d.pending_alerts.len(), 1, "not acknowledged yet");
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    assert!(d.pending_alerts.is_empty());
    let alerts = s.alerts(&dev).await;
    assert!(!alerts.is_empty() && alerts.iter().all(|a| a["type"] == DOWNLOAD), "{alerts:?}");
    s.stop().await;
}
