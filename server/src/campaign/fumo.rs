//! The FUMO 1.0 flow of one device (FACTS.md I).
//!
//! 1. `exec`: Replace `<x>/DownloadAndUpdate/PkgURL` (our download URL) and Exec
//!    `<x>/DownloadAndUpdate`, in a Sequence; the session engine gives the Exec the Correlator
//!    `omadm-<command id>` (I.3). 202 means accepted for later; a DM 1.1.2 device, which has
//!    no Generic Alert, answers the Exec with the result itself. `<x>/PkgName` and
//!    `<x>/PkgVersion` are not written: FUMO 1.0 gives them Get access only (I.1), so the
//!    standard DDF refuses a Replace and the server would hold the command.
//! 2. `alert`: wait for the Generic Alert 1226 echoing that Correlator, in this session or a
//!    later one; its Data is the result code (I.4): 2xx success, else failure with its meaning.
//! 3. `state`: no alert before the timeout: Get `<x>/State` (I.2): 90/100 updated, 20/70/80
//!    failed, anything else: wait for the alert again, at most `max_state_reads` times.
//! 4. `verify`: after success, Get `./DevDetail/FwV` (next session) and succeed only when it
//!    is the package's version.

use omadm_storage::{
    CampaignDeviceState as S, CommandRecord, CommandSpec, CommandState, FirmwarePackage, Op, StoreError,
};
use serde_json::json;

use super::engine::{Decision, Step};
use super::policy::FumoPayload;

/// The FUMO MO identifier (the Type of `<x>`; FACTS.md I.1).
pub const FUMO_MO: &str = "urn:oma:mo:oma-fumo:1.0";
/// The node holding the device's firmware version (FACTS.md J.2).
pub const FWV: &str = "./DevDetail/FwV";

/// The meaning of a FUMO result code (FACTS.md I.4).
pub fn result_meaning(code: u16) -> &'static str {
    match code {
        200 => "Successful",
        250..=299 => "Successful, vendor specified",
        400 => "Management client error",
        401 => "User cancelled",
        402 => "Corrupted firmware update package",
        403 => "Firmware update package - device mismatch",
        404 => "Failed firmware update package validation",
        405 => "Firmware update package not acceptable",
        406 => "Alternate download authentication failure",
        407 => "Alternate download request time-out",
        408 => "Not implemented",
        409 => "Undefined error",
        410 => "Firmware update failed",
        411 => "Malformed or bad URL",
        412 => "Alternate download server unavailable",
        450..=499 => "Client error, vendor specified",
        500 => "Alternate download server error",
        501 => "Download failed: device out of memory",
        502 => "Update failed: device out of memory",
        503 => "Download failed: network issues",
        550..=599 => "Alternate download server error, vendor specified",
        _ => "unknown result code",
    }
}

/// Whether a retry cannot change the outcome (the package itself is refused).
pub fn result_is_final(code: u16) -> bool {
    matches!(code, 402..=405 | 408)
}

/// The meaning of a FUMO `State` value (FACTS.md I.2).
pub fn state_meaning(state: u16) -> &'static str {
    match state {
        10 => "Idle/Start",
        20 => "Download Failed",
        30 => "Download Progressing",
        40 => "Download Complete",
        50 => "Ready to Update",
        60 => "Update Progressing",
        70 => "Update Failed/Have Data",
        80 => "Update Failed/No Data",
        90 => "Update Successful/Have Data",
        100 => "Update Successful/No Data",
        _ => "unknown state",
    }
}

/// Whether a Generic Alert type is a FUMO result: `org.openmobilealliance.dm.firmwareupdate.*`
/// or the older `org.openmobilealliance.firmwareupdate.*` (FACTS.md I.3), bare or with the
/// `Reversed-Domain-Name:` namespace.
pub fn is_fumo_alert_type(t: &str) -> bool {
    let t = t.trim();
    let t = t.strip_prefix("Reversed-Domain-Name:").map_or(t, str::trim);
    t.starts_with("org.openmobilealliance.dm.firmwareupdate.")
        || t.starts_with("org.openmobilealliance.firmwareupdate.")
}

fn leaf(op: Op, target: String, data: Option<String>) -> CommandSpec {
    CommandSpec { op: Some(op), target: Some(target), data, ..CommandSpec::default() }
}

/// Where the FUMO object is on this device: the payload's, else the mirror's node of type
/// [`FUMO_MO`].
async fn fumo_node(step: &mut Step<'_>, payload: &FumoPayload) -> Result<Option<String>, StoreError> {
    if let Some(u) = &payload.fumo_uri {
        return Ok(Some(u.trim_end_matches('/').to_owned()));
    }
    let tree = step.tx.list_tree(&step.cd.device_id).await?;
    Ok(tree.into_iter().find(|n| n.mime_type.as_deref() == Some(FUMO_MO)).map(|n| n.uri))
}

/// Admission: queue the Replace of PkgURL and the Exec.
pub async fn admit(step: &mut Step<'_>, payload: &FumoPayload, url: &str) -> Result<Decision, StoreError> {
    let Some(x) = fumo_node(step, payload).await? else {
        return Ok(Decision::Fail {
            reason: "no FUMO object (urn:oma:mo:oma-fumo:1.0) in the tree mirror; give payload.fumo_uri"
                .into(),
            final_: true,
        });
    };
    let seq = CommandSpec {
        op: Some(Op::Sequence),
        children: vec![
            leaf(Op::Replace, format!("{x}/DownloadAndUpdate/PkgURL"), Some(url.to_owned())),
            leaf(Op::Exec, format!("{x}/DownloadAndUpdate"), None),
        ],
        ..CommandSpec::default()
    };
    let seq_id = step.enqueue(&seq).await?;
    let exec_id = step
        .tx
        .get_command(&step.cd.device_id, seq_id)
        .await?
        .and_then(|c| c.children.last().map(|e| e.id))
        .ok_or_else(|| StoreError::NotFound(format!("command {seq_id}")))?;
    step.data = json!({ "fumo": x, "sequence": seq_id, "exec": exec_id, "state_reads": 0 });
    Ok(Decision::Continue {
        state: S::Notified,
        step: "exec",
        next_at: step.now.saturating_add(step.policy.session_timeout_secs as i64 * 1000),
    })
}

fn id_of(data: &serde_json::Value, key: &str) -> Option<i64> {
    data.get(key).and_then(serde_json::Value::as_i64)
}

async fn command(step: &mut Step<'_>, id: Option<i64>) -> Result<Option<CommandRecord>, StoreError> {
    match id {
        Some(id) => step.tx.get_command(&step.cd.device_id, id).await,
        None => Ok(None),
    }
}

/// Queue the FwV read and move to `verify`.
async fn verify(step: &mut Step<'_>) -> Result<Decision, StoreError> {
    let id = step.enqueue(&leaf(Op::Get, FWV.into(), None)).await?;
    step.data["verify"] = json!(id);
    Ok(Decision::Continue { state: S::InSession, step: "verify", next_at: session_deadline(step) })
}

fn session_deadline(step: &Step<'_>) -> i64 {
    step.now.saturating_add(step.policy.session_timeout_secs as i64 * 1000)
}

/// A command that never went out before the session timeout, or was held.
fn unsent(step: &Step<'_>, c: &CommandRecord, what: &str) -> Option<Decision> {
    if let Some(h) = &c.held_reason {
        return Some(Decision::Fail { reason: format!("{what} held: {h}"), final_: true });
    }
    (step.now >= step.cd.next_at).then(|| Decision::Fail {
        reason: format!("no session within {} s", step.policy.session_timeout_secs),
        final_: false,
    })
}

/// One look at an in-flight device.
pub async fn progress(step: &mut Step<'_>, package: &FirmwarePackage) -> Result<Decision, StoreError> {
    let data = step.data.clone();
    let wait = Decision::Wait { next_at: step.cd.next_at };
    let current = step.cd.step.clone().unwrap_or_default();
    // The Generic Alert wins whenever it comes (exec, alert, state steps).
    if current != "verify"
        && let Some(exec_id) = id_of(&data, "exec")
        && let Some(a) =
            step.tx.find_generic_alert(&step.cd.device_id, &crate::session::correlator(exec_id)).await?
    {
        let code = a.data.as_deref().and_then(|d| d.trim().parse::<u16>().ok());
        let typed = a.alert_type.as_deref().is_some_and(is_fumo_alert_type);
        step.data["result"] = json!(a.data);
        return match code {
            Some(c) if (200..300).contains(&c) && typed => verify(step).await,
            Some(c) => Ok(Decision::Fail {
                reason: format!("FUMO result {c}: {}", result_meaning(c)),
                final_: result_is_final(c),
            }),
            None => {
                Ok(Decision::Fail { reason: format!("FUMO result not a code: {:?}", a.data), final_: false })
            }
        };
    }
    match current.as_str() {
        "exec" => {
            let Some(exec) = command(step, id_of(&data, "exec")).await? else {
                return Ok(Decision::Fail { reason: "its Exec command is gone".into(), final_: false });
            };
            match (exec.state, exec.status) {
                (CommandState::Queued, _) => {
                    // A hold is recorded on the top-level command (the Sequence).
                    let seq = command(step, id_of(&data, "sequence")).await?;
                    Ok(unsent(step, seq.as_ref().unwrap_or(&exec), "Exec").unwrap_or(wait))
                }
                (CommandState::Sent, _) if step.cd.state == S::Notified => {
                    Ok(Decision::Continue { state: S::InSession, step: "exec", next_at: step.cd.next_at })
                }
                (CommandState::Sent, _) => Ok(wait),
                (CommandState::Done, Some(202)) => {
                    let deadline = step.now.saturating_add(step.policy.alert_timeout_secs as i64 * 1000);
                    Ok(Decision::Continue { state: S::InSession, step: "alert", next_at: deadline })
                }
                // Synchronous (DM 1.1.2 has no Generic Alert): done means updated.
                (CommandState::Done, _) => verify(step).await,
                // Sent, then the session was lost: the device may have started the update.
                // Never sent again (storage `requeue_sent`); wait for its alert, then read State.
                (CommandState::Failed, None) => {
                    let deadline = step.now.saturating_add(step.policy.alert_timeout_secs as i64 * 1000);
                    Ok(Decision::Continue { state: S::InSession, step: "alert", next_at: deadline })
                }
                (CommandState::Failed, Some(s)) => Ok(Decision::Fail {
                    reason: format!("Exec DownloadAndUpdate answered {s}"),
                    final_: false,
                }),
            }
        }
        "alert" => {
            if step.now < step.cd.next_at {
                return Ok(wait);
            }
            let x = data.get("fumo").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let id = step.enqueue(&leaf(Op::Get, format!("{x}/State"), None)).await?;
            step.data["state_get"] = json!(id);
            Ok(Decision::Continue { state: S::InSession, step: "state", next_at: session_deadline(step) })
        }
        "state" => {
            let Some(get) = command(step, id_of(&data, "state_get")).await? else {
                return Ok(Decision::Fail { reason: "its State read is gone".into(), final_: false });
            };
            match get.state {
                CommandState::Queued => Ok(unsent(step, &get, "Get State").unwrap_or(wait)),
                CommandState::Sent => Ok(wait),
                CommandState::Failed => Ok(Decision::Fail {
                    reason: format!(
                        "Get State answered {}",
                        get.status.map_or("nothing".into(), |s| s.to_string())
                    ),
                    final_: false,
                }),
                CommandState::Done => {
                    let value = get.results.first().map(|r| r.data.trim().to_owned()).unwrap_or_default();
                    let reads = id_of(&data, "state_reads").unwrap_or(0) + 1;
                    step.data["state_reads"] = json!(reads);
                    match value.parse::<u16>() {
                        Ok(s @ (90 | 100)) => {
                            step.data["result"] = json!(format!("State {s}"));
                            verify(step).await
                        }
                        Ok(s @ (20 | 70 | 80)) => Ok(Decision::Fail {
                            reason: format!("no alert; State {s}: {}", state_meaning(s)),
                            final_: false,
                        }),
                        _ if reads >= i64::from(step.policy.max_state_reads) => Ok(Decision::Fail {
                            reason: format!("no result after {reads} State reads (last {value:?})"),
                            final_: false,
                        }),
                        _ => {
                            let deadline =
                                step.now.saturating_add(step.policy.alert_timeout_secs as i64 * 1000);
                            Ok(Decision::Continue { state: S::InSession, step: "alert", next_at: deadline })
                        }
                    }
                }
            }
        }
        "verify" => {
            let Some(get) = command(step, id_of(&data, "verify")).await? else {
                return Ok(Decision::Fail { reason: "its FwV read is gone".into(), final_: false });
            };
            match get.state {
                CommandState::Queued => Ok(unsent(step, &get, "Get FwV").unwrap_or(wait)),
                CommandState::Sent => Ok(wait),
                CommandState::Failed => Ok(Decision::Fail {
                    reason: format!(
                        "Get {FWV} answered {}",
                        get.status.map_or("nothing".into(), |s| s.to_string())
                    ),
                    final_: false,
                }),
                CommandState::Done => {
                    let fwv = get.results.first().map(|r| r.data.trim().to_owned()).unwrap_or_default();
                    step.data["fwv"] = json!(fwv);
                    if fwv == package.version {
                        Ok(Decision::Succeed)
                    } else {
                        Ok(Decision::Fail {
                            reason: format!("updated, but FwV is {fwv:?}, expected {:?}", package.version),
                            final_: true,
                        })
                    }
                }
            }
        }
        other => Ok(Decision::Fail { reason: format!("unknown step {other:?}"), final_: true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_types_both_spellings() {
        assert!(is_fumo_alert_type("org.openmobilealliance.dm.firmwareupdate.downloadandupdate"));
        assert!(is_fumo_alert_type("org.openmobilealliance.firmwareupdate.download"));
        assert!(is_fumo_alert_type("Reversed-Domain-Name: org.openmobilealliance.dm.firmwareupdate.update"));
        assert!(!is_fumo_alert_type("org.openmobilealliance.dm.samplealert"));
    }

    #[test]
    fn result_codes() {
        assert_eq!(result_meaning(503), "Download failed: network issues");
        assert_eq!(result_meaning(412), "Alternate download server unavailable");
        assert_eq!(result_meaning(260), "Successful, vendor specified");
        assert!(result_is_final(403) && !result_is_final(503));
        assert_eq!(state_meaning(80), "Update Failed/No Data");
    }
}
