//! The operators' campaign operations, shared by the admin API and the CLI: check, store,
//! audit. The engine does the rest.

use std::collections::BTreeMap;

use omadm_storage::{
    Campaign, CampaignCounts, CampaignDevice, CampaignDeviceState, CampaignKind, CampaignState, NewCampaign,
    Store, TargetSelector,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::engine::withdraw;
use super::policy::{ConfigPayload, FumoPayload, Policy};
use crate::admin::AdminError;
use crate::app::now_millis;

/// A campaign to create (`POST /api/v1/campaigns`, `omadm campaign create`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    /// Operator's name.
    pub name: String,
    /// `fumo` or `config`.
    pub kind: CampaignKind,
    /// Which devices.
    #[serde(default)]
    pub target: TargetSelector,
    /// [`FumoPayload`] or [`ConfigPayload`].
    pub payload: serde_json::Value,
    /// The rollout policy.
    #[serde(default)]
    pub policy: Policy,
    /// Start time (epoch ms); now when absent.
    #[serde(default)]
    pub start_at: Option<i64>,
    /// Deadline (epoch ms).
    #[serde(default)]
    pub deadline_at: Option<i64>,
    /// Per-device variables of a configuration profile: CSV with a header whose first column
    /// is `device_id` and the others variable names.
    #[serde(default)]
    pub csv: Option<String>,
}

/// A campaign with its counters.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignView {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: Campaign,
    /// Devices per state.
    pub counts: CampaignCounts,
}

/// The largest CSV accepted.
pub const MAX_CSV_BYTES: usize = 16 * 1024 * 1024;

fn invalid(m: impl Into<String>) -> AdminError {
    AdminError::Invalid(m.into())
}

/// Parse the per-device CSV: `device_id,name1,name2` then one row per device. Simple CSV: no
/// quoted commas.
pub fn parse_csv(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, AdminError> {
    if text.len() > MAX_CSV_BYTES {
        return Err(AdminError::TooLarge(format!("csv: at most {MAX_CSV_BYTES} bytes")));
    }
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty());
    let header: Vec<&str> =
        lines.next().ok_or_else(|| invalid("csv: no header"))?.split(',').map(str::trim).collect();
    if header.first() != Some(&"device_id") || header.len() < 2 {
        return Err(invalid("csv: the header is device_id followed by variable names"));
    }
    let mut out = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            return Err(invalid(format!(
                "csv line {}: {} cells, the header has {}",
                n + 2,
                cells.len(),
                header.len()
            )));
        }
        let vars =
            header[1..].iter().zip(&cells[1..]).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if out.insert(cells[0].to_owned(), vars).is_some() {
            return Err(invalid(format!("csv line {}: device {:?} twice", n + 2, cells[0])));
        }
    }
    Ok(out)
}

/// Create a campaign, select its devices, record their CSV values. Audited as
/// `campaign.create`.
pub async fn create(store: &Store, req: CreateCampaign, actor: &str) -> Result<CampaignView, AdminError> {
    req.policy.check()?;
    match req.kind {
        CampaignKind::Fumo => {
            let p: FumoPayload = serde_json::from_value(req.payload.clone())
                .map_err(|e| invalid(format!("payload (fumo): {e}")))?;
            if store.get_firmware(p.firmware_id).await?.is_none() {
                return Err(AdminError::NotFound(format!("firmware package {}", p.firmware_id)));
            }
            if p.fumo_uri.as_ref().is_some_and(|u| !u.starts_with("./")) {
                return Err(invalid("payload.fumo_uri: a node URI starting with ./"));
            }
        }
        CampaignKind::Config => {
            let p: ConfigPayload = serde_json::from_value(req.payload.clone())
                .map_err(|e| invalid(format!("payload (config): {e}")))?;
            p.check()?;
        }
    }
    let csv = req.csv.as_deref().map(parse_csv).transpose()?;
    let now = now_millis();
    let new = NewCampaign {
        name: req.name,
        kind: req.kind,
        target: req.target,
        payload: req.payload,
        policy: serde_json::to_value(&req.policy).unwrap_or_default(),
        start_at: req.start_at.unwrap_or(now),
        deadline_at: req.deadline_at,
        waves: req.policy.wave_split(),
    };
    let mut tx = store.begin().await?;
    let (id, total) = tx.create_campaign(&new, now).await?;
    for (device, vars) in csv.iter().flatten() {
        tx.set_campaign_device_vars(id, device, vars).await?;
    }
    tx.audit(
        actor,
        "campaign.create",
        None,
        &json!({ "campaign_id": id, "name": new.name, "devices": total }),
        now,
    )
    .await?;
    tx.commit().await?;
    show(store, id).await
}

/// A campaign with its counters.
pub async fn show(store: &Store, id: i64) -> Result<CampaignView, AdminError> {
    let campaign =
        store.get_campaign(id).await?.ok_or_else(|| AdminError::NotFound(format!("campaign {id}")))?;
    let counts = store.campaign_counts(id).await?;
    Ok(CampaignView { campaign, counts })
}

/// Campaigns, newest first, with counters.
pub async fn list(store: &Store, limit: Option<u32>) -> Result<Vec<CampaignView>, AdminError> {
    let mut out = Vec::new();
    for campaign in store.list_campaigns(&[], limit.unwrap_or(100)).await? {
        let counts = store.campaign_counts(campaign.id).await?;
        out.push(CampaignView { campaign, counts });
    }
    Ok(out)
}

/// The devices of a campaign by id, optionally in one state.
pub async fn devices(
    store: &Store,
    id: i64,
    state: Option<&str>,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<CampaignDevice>, AdminError> {
    let state = state
        .map(|s| {
            CampaignDeviceState::parse(s)
                .ok_or_else(|| invalid("state: pending, notified, in_session, succeeded or failed"))
        })
        .transpose()?;
    store.get_campaign(id).await?.ok_or_else(|| AdminError::NotFound(format!("campaign {id}")))?;
    Ok(store.list_campaign_devices(id, state, after, limit.unwrap_or(100)).await?)
}

/// What an operator does to a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop admitting devices.
    Pause,
    /// Admit again.
    Resume,
    /// Stop: unfinished devices fail with `cancelled`, their unsent commands are withdrawn.
    Cancel,
    /// Failed devices go back to pending (and a completed campaign runs again).
    RetryFailed,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
            Action::RetryFailed => "retry",
        }
    }
}

/// Apply an operator's action; `Invalid` when the campaign's state does not allow it.
/// Audited as `campaign.<action>`.
pub async fn act(store: &Store, id: i64, action: Action, actor: &str) -> Result<CampaignView, AdminError> {
    use CampaignState as S;
    let now = now_millis();
    let mut tx = store.begin().await?;
    let c = tx.lock_campaign(id).await?.ok_or_else(|| AdminError::NotFound(format!("campaign {id}")))?;
    let ok = match action {
        Action::Pause => {
            tx.set_campaign_state(
                id,
                &[S::Running, S::Scheduled],
                S::Paused,
                Some("paused by an operator"),
                now,
            )
            .await?
        }
        Action::Resume => tx.set_campaign_state(id, &[S::Paused], S::Running, None, now).await?,
        Action::Cancel => {
            let ok = tx
                .set_campaign_state(id, &[S::Running, S::Scheduled, S::Paused], S::Cancelled, None, now)
                .await?;
            if ok {
                for cd in tx.fail_unfinished_campaign_devices(id, "cancelled", now).await? {
                    withdraw(&mut tx, &cd.command_ids, now).await?;
                }
            }
            ok
        }
        Action::RetryFailed => {
            let n = tx.retry_failed_campaign_devices(id, now).await?;
            if c.state == S::Completed {
                tx.set_campaign_state(id, &[S::Completed], S::Running, None, now).await?;
            }
            c.state != S::Cancelled && (n > 0 || c.state != S::Completed)
        }
    };
    if !ok {
        return Err(invalid(format!("campaign {id} is {}: cannot {}", c.state.as_str(), action.name())));
    }
    tx.audit(actor, &format!("campaign.{}", action.name()), None, &json!({ "campaign_id": id }), now).await?;
    tx.commit().await?;
    show(store, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_values() {
        let m = parse_csv("device_id,user,server\nIMEI:1,alice,s1\r\nIMEI:2, bob ,s2\n").unwrap();
        assert_eq!(m["IMEI:2"]["user"], "bob");
        assert_eq!(m["IMEI:1"]["server"], "s1");
        assert!(parse_csv("id,user\nx,y\n").is_err());
        assert!(parse_csv("device_id,user\nx\n").is_err());
        assert!(parse_csv("device_id,user\nx,1\nx,2\n").is_err());
    }
}
