//! The configuration-rollout flow of one device: a profile of Add/Replace/Delete commands
//! with `{{Name}}` variables, applied, then read back.
//!
//! 1. `apply`: the rendered commands, queued in order. An Add answered 418 (Already exists,
//!    OMA-TS-DM_RepPro §10.2) gets a Replace of the same node and value; any other failure
//!    fails the device with that command and Status (other devices go on).
//! 2. `verify`: a Get of every node written; the device is compliant (succeeded) only when
//!    every value read equals the value written.
//!
//! Variables: `{{DevId}}`, the inventory leaves `{{Man}}`, `{{Mod}}`, `{{DmV}}`, `{{Lang}}`
//! (`./DevInfo`), `{{FwV}}`, `{{SwV}}`, `{{HwV}}`, `{{OEM}}`, `{{DevTyp}}` (`./DevDetail`),
//! and the device's own values from the campaign's CSV (one column per name).

use std::collections::BTreeMap;

use omadm_storage::{CampaignDeviceState as S, CommandSpec, CommandState, Op, StoreError};
use serde_json::{Value, json};

use super::engine::{Decision, Step, in_session_if};
use super::policy::{ConfigPayload, ProfileCommand};

/// The inventory URI of a variable name.
pub fn inventory_uri(name: &str) -> Option<&'static str> {
    Some(match name {
        "Man" => "./DevInfo/Man",
        "Mod" => "./DevInfo/Mod",
        "DmV" => "./DevInfo/DmV",
        "Lang" => "./DevInfo/Lang",
        "FwV" => "./DevDetail/FwV",
        "SwV" => "./DevDetail/SwV",
        "HwV" => "./DevDetail/HwV",
        "OEM" => "./DevDetail/OEM",
        "DevTyp" => "./DevDetail/DevTyp",
        _ => return None,
    })
}

/// Replace every `{{Name}}` in `text` with `lookup(Name)`; the first name without a value is
/// the error.
pub fn render(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("an unclosed {{".into());
        };
        let name = after[..end].trim();
        out.push_str(&lookup(name).ok_or_else(|| format!("no value for {{{{{name}}}}}"))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn spec(op: &str, target: String, data: Option<String>, c: &ProfileCommand) -> CommandSpec {
    CommandSpec {
        op: Op::parse(op),
        target: Some(target),
        data,
        format: c.format.clone(),
        mime_type: c.mime_type.clone(),
        ..CommandSpec::default()
    }
}

/// Admission: render and queue the profile.
pub async fn admit(step: &mut Step<'_>, p: &ConfigPayload) -> Result<Decision, StoreError> {
    let device = step.cd.device_id.clone();
    let inventory: BTreeMap<String, String> =
        step.tx.list_inventory(&device).await?.into_iter().map(|i| (i.uri, i.value)).collect();
    let vars = step.cd.vars.clone();
    let lookup = |name: &str| -> Option<String> {
        if name == "DevId" {
            return Some(device.clone());
        }
        vars.get(name).cloned().or_else(|| inventory_uri(name).and_then(|u| inventory.get(u).cloned()))
    };
    let mut rendered = Vec::new();
    for c in &p.commands {
        let target = render(&c.target, &lookup);
        let data = c.data.as_deref().map(|d| render(d, &lookup)).transpose();
        match (target, data) {
            (Ok(t), Ok(d)) => rendered.push((c, t, d)),
            (Err(e), _) | (_, Err(e)) => return Ok(Decision::Fail { reason: e, final_: true }),
        }
    }
    let mut apply = Vec::new();
    for (index, (c, target, data)) in rendered.into_iter().enumerate() {
        let id = step.enqueue(&spec(&c.op, target.clone(), data.clone(), c)).await?;
        apply.push(json!({ "id": id, "index": index, "op": c.op, "target": target, "data": data }));
    }
    step.data = json!({ "apply": apply });
    Ok(Decision::Continue {
        state: S::Notified,
        step: "apply",
        next_at: step.now.saturating_add(step.policy.session_timeout_secs as i64 * 1000),
    })
}

fn deadline(step: &Step<'_>) -> i64 {
    step.now.saturating_add(step.policy.session_timeout_secs as i64 * 1000)
}

/// One look at an in-flight device.
pub async fn progress(step: &mut Step<'_>, p: &ConfigPayload) -> Result<Decision, StoreError> {
    let wait = Decision::Wait { next_at: step.cd.next_at };
    let key = match step.cd.step.as_deref() {
        Some("apply") => "apply",
        Some("verify") => "verify",
        other => return Ok(Decision::Fail { reason: format!("unknown step {other:?}"), final_: true }),
    };
    let mut entries: Vec<Value> = step.data[key].as_array().cloned().unwrap_or_default();
    let mut all_done = true;
    let mut any_sent = false;
    let mut changed = false;
    for e in entries.iter_mut() {
        let id = e.get("replace").or_else(|| e.get("id")).and_then(Value::as_i64).unwrap_or(0);
        let Some(c) = step.tx.get_command(&step.cd.device_id, id).await? else {
            return Ok(Decision::Fail { reason: format!("command {id} is gone"), final_: false });
        };
        let target = e["target"].as_str().unwrap_or_default().to_owned();
        let op = c.spec.op.map_or("?", |o| o.as_str());
        match c.state {
            CommandState::Queued => {
                all_done = false;
                if let Some(h) = &c.held_reason {
                    return Ok(Decision::Fail { reason: format!("{op} {target} held: {h}"), final_: true });
                }
                if step.now >= step.cd.next_at {
                    return Ok(Decision::Fail {
                        reason: format!("no session within {} s", step.policy.session_timeout_secs),
                        final_: false,
                    });
                }
            }
            CommandState::Sent => {
                all_done = false;
                any_sent = true;
            }
            CommandState::Done => any_sent = true,
            CommandState::Failed => {
                if key == "apply" && op == "Add" && c.status == Some(418) && e.get("replace").is_none() {
                    // Already exists: set it instead.
                    let index = e["index"].as_u64().unwrap_or(u64::MAX) as usize;
                    let pc = p.commands.get(index).cloned().unwrap_or(ProfileCommand {
                        op: "Add".into(),
                        target: target.clone(),
                        data: None,
                        format: None,
                        mime_type: None,
                    });
                    let data = e["data"].as_str().map(str::to_owned);
                    let rid = step.enqueue(&spec("Replace", target.clone(), data, &pc)).await?;
                    e["replace"] = json!(rid);
                    changed = true;
                    all_done = false;
                    continue;
                }
                return Ok(Decision::Fail {
                    reason: format!(
                        "{op} {target} answered {}",
                        c.status.map_or("nothing".into(), |s| s.to_string())
                    ),
                    final_: false,
                });
            }
        }
        if key == "verify" && c.state == CommandState::Done {
            let got = c.results.first().map(|r| r.data.as_str()).unwrap_or_default();
            let want = e["expect"].as_str().unwrap_or_default();
            if got != want {
                return Ok(Decision::Fail {
                    reason: format!("not compliant: {target} is {got:?}, expected {want:?}"),
                    final_: false,
                });
            }
        }
    }
    let state = in_session_if(any_sent, step.cd);
    if changed {
        step.data[key] = Value::Array(entries);
        return Ok(Decision::Continue { state, step: key_step(key), next_at: deadline(step) });
    }
    if !all_done {
        return Ok(if state != step.cd.state {
            Decision::Continue { state, step: key_step(key), next_at: step.cd.next_at }
        } else {
            wait
        });
    }
    if key == "verify" || !p.verify {
        return Ok(Decision::Succeed);
    }
    let mut verify = Vec::new();
    for e in &entries {
        if e["op"] == "Delete" {
            continue;
        }
        let target = e["target"].as_str().unwrap_or_default().to_owned();
        let id = step
            .enqueue(&CommandSpec {
                op: Some(Op::Get),
                target: Some(target.clone()),
                ..CommandSpec::default()
            })
            .await?;
        verify.push(json!({ "id": id, "target": target, "expect": e["data"] }));
    }
    if verify.is_empty() {
        return Ok(Decision::Succeed);
    }
    step.data["apply"] = Value::Array(entries);
    step.data["verify"] = Value::Array(verify);
    Ok(Decision::Continue { state: S::InSession, step: "verify", next_at: deadline(step) })
}

fn key_step(key: &str) -> &'static str {
    if key == "verify" { "verify" } else { "apply" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_variables() {
        let look = |n: &str| match n {
            "DevId" => Some("IMEI:1".to_owned()),
            "user" => Some("alice".to_owned()),
            _ => None,
        };
        assert_eq!(render("acct-{{DevId}}/{{ user }}", &look).unwrap(), "acct-IMEI:1/alice");
        assert_eq!(render("plain", &look).unwrap(), "plain");
        assert_eq!(render("{{nope}}", &look).unwrap_err(), "no value for {{nope}}");
        assert!(render("{{open", &look).is_err());
    }
}
