//! Campaigns, their per-device state, and firmware packages (`migrations/*/0006_campaign.sql`).
//!
//! A campaign selects devices once, at creation ([`create_campaign`](crate::Tx::create_campaign):
//! inventory filters or an explicit list), and keeps one `campaign_devices` row per device
//! with its state ([`CampaignDeviceState`]). The server's campaign engine moves the rows:
//!
//! - admission (`pending` → `notified`) happens under the campaign's row lock
//!   ([`lock_campaign`](crate::Tx::lock_campaign): `FOR UPDATE` on PostgreSQL, SQLite's single
//!   writer), so the rollout limits are counted by one node at a time;
//! - progress (`notified`/`in_session` → ...) happens under a lease taken exactly like
//!   [`claim_pushes`](crate::Tx::claim_pushes) ([`claim_campaign_devices`](crate::Tx::claim_campaign_devices):
//!   `FOR UPDATE SKIP LOCKED` on PostgreSQL), and every change is guarded by that lease and
//!   the state it read ([`advance_campaign_device`](crate::Tx::advance_campaign_device)), so
//!   a node whose lease ran out, or a device an operator cancelled meanwhile, changes nothing.
//!
//! Counters are counted from the rows (`GROUP BY state` on an index), so they cannot drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::conn::Conn;
use crate::error::{StoreError, classify};
use crate::model::{GenericAlert, Millis};
use crate::rows::GenericAlertRow;

/// What a campaign delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignKind {
    /// A firmware update (OMA FUMO 1.0).
    Fumo,
    /// A configuration profile (management commands), read back for compliance.
    Config,
}

impl CampaignKind {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Fumo => "fumo",
            CampaignKind::Config => "config",
        }
    }

    /// The kind of a stored spelling.
    pub fn parse(s: &str) -> Option<CampaignKind> {
        [CampaignKind::Fumo, CampaignKind::Config].into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a campaign is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    /// Waiting for its start time.
    Scheduled,
    /// Admitting and progressing devices.
    Running,
    /// No new devices are admitted; those in flight finish.
    Paused,
    /// Stopped by an operator: unfinished devices failed with reason `cancelled`.
    Cancelled,
    /// Every device finished (or the deadline passed).
    Completed,
}

impl CampaignState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            CampaignState::Completed => "completed",
        }
    }

    /// The state of a stored spelling.
    pub fn parse(s: &str) -> Option<CampaignState> {
        [
            CampaignState::Scheduled,
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Cancelled,
            CampaignState::Completed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where one device of a campaign is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignDeviceState {
    /// Not admitted yet (or waiting for a retry).
    Pending,
    /// Its commands are queued and it was told to call in.
    Notified,
    /// It has opened a session and is working on the commands.
    InSession,
    /// Done and verified.
    Succeeded,
    /// Given up (`reason` says why).
    Failed,
}

impl CampaignDeviceState {
    /// Every state, in life order.
    pub const ALL: [CampaignDeviceState; 5] = [
        CampaignDeviceState::Pending,
        CampaignDeviceState::Notified,
        CampaignDeviceState::InSession,
        CampaignDeviceState::Succeeded,
        CampaignDeviceState::Failed,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignDeviceState::Pending => "pending",
            CampaignDeviceState::Notified => "notified",
            CampaignDeviceState::InSession => "in_session",
            CampaignDeviceState::Succeeded => "succeeded",
            CampaignDeviceState::Failed => "failed",
        }
    }

    /// The state of a stored spelling.
    pub fn parse(s: &str) -> Option<CampaignDeviceState> {
        CampaignDeviceState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the device is finished with the campaign.
    pub const fn is_final(self) -> bool {
        matches!(self, CampaignDeviceState::Succeeded | CampaignDeviceState::Failed)
    }
}

/// Which devices a campaign is for: every filter given must match (inventory values,
/// exactly), and `device_ids`, when given, limits the choice to those devices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSelector {
    /// `./DevInfo/Man`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub man: Option<String>,
    /// `./DevInfo/Mod`.
    #[serde(default, rename = "mod", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `./DevDetail/FwV`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwv: Option<String>,
    /// `./DevInfo/DmV`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmv: Option<String>,
    /// An explicit list of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ids: Option<Vec<String>>,
    /// The devices of an operator's group (`add_to_group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The most devices an explicit target list may name.
pub const MAX_TARGET_DEVICES: usize = 1_000_000;

impl TargetSelector {
    /// The inventory filters: (URI, value).
    pub fn filters(&self) -> Vec<(&'static str, &str)> {
        let mut f = Vec::new();
        for (uri, v) in [
            ("./DevInfo/Man", &self.man),
            ("./DevInfo/Mod", &self.model),
            ("./DevDetail/FwV", &self.fwv),
            ("./DevInfo/DmV", &self.dmv),
        ] {
            if let Some(v) = v {
                f.push((uri, v.as_str()));
            }
        }
        f
    }
}

/// A campaign to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCampaign {
    /// Operator's name for it.
    pub name: String,
    /// What it delivers.
    pub kind: CampaignKind,
    /// Which devices.
    pub target: TargetSelector,
    /// The firmware package or configuration profile (JSON, interpreted by the server).
    pub payload: serde_json::Value,
    /// The rollout policy (JSON, interpreted by the server).
    pub policy: serde_json::Value,
    /// When admission may begin.
    pub start_at: Millis,
    /// When unfinished devices are given up.
    pub deadline_at: Option<Millis>,
    /// Cumulative percentages of the devices in each wave, e.g. `[5, 100]` for a 5 % canary;
    /// empty: one wave. Devices are split in `device_id` order.
    pub waves: Vec<u32>,
}

/// A stored campaign.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub id: i64,
    /// Operator's name for it.
    pub name: String,
    /// What it delivers.
    pub kind: CampaignKind,
    /// Where it is.
    pub state: CampaignState,
    /// Which devices (as given).
    pub target: serde_json::Value,
    /// The payload.
    pub payload: serde_json::Value,
    /// The rollout policy.
    pub policy: serde_json::Value,
    /// When admission may begin.
    pub start_at: Millis,
    /// When unfinished devices are given up.
    pub deadline_at: Option<Millis>,
    /// Why it is paused.
    pub pause_reason: Option<String>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// How many devices of a campaign are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CampaignCounts {
    /// Every device.
    pub total: i64,
    /// Not admitted yet.
    pub pending: i64,
    /// Commands queued, device told.
    pub notified: i64,
    /// Working on it.
    pub in_session: i64,
    /// Done and verified.
    pub succeeded: i64,
    /// Given up.
    pub failed: i64,
}

impl CampaignCounts {
    /// Devices not yet finished.
    pub fn unfinished(&self) -> i64 {
        self.pending + self.notified + self.in_session
    }
}

/// One device of a campaign.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CampaignDevice {
    /// The campaign.
    pub campaign_id: i64,
    /// The device.
    pub device_id: String,
    /// Its wave (0 first).
    pub wave: i32,
    /// Where it is.
    pub state: CampaignDeviceState,
    /// The flow's step (e.g. `exec`, `alert`, `state`, `verify`).
    pub step: Option<String>,
    /// Why it failed (or why the last attempt failed, while a retry waits).
    pub reason: Option<String>,
    /// Attempts begun.
    pub attempts: i32,
    /// The engine node holding it.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_until: Option<Millis>,
    /// When the engine looks at it next.
    pub next_at: Millis,
    /// When the engine last looked at it.
    pub checked_at: Millis,
    /// Every command queued for it, in order.
    pub command_ids: Vec<i64>,
    /// Its variables (configuration profiles: `{{name}}` values).
    pub vars: BTreeMap<String, String>,
    /// The flow's own progress.
    pub data: serde_json::Value,
    /// When it was first admitted.
    pub admitted_at: Option<Millis>,
    /// When it finished.
    pub finished_at: Option<Millis>,
    /// When it last changed.
    pub updated_at: Millis,
}

/// A device's next state, written by [`advance_campaign_device`](crate::Tx::advance_campaign_device).
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignDeviceUpdate {
    /// The new state.
    pub state: CampaignDeviceState,
    /// The flow's step.
    pub step: Option<String>,
    /// The failure reason.
    pub reason: Option<String>,
    /// Attempts begun.
    pub attempts: i32,
    /// When to look again.
    pub next_at: Millis,
    /// Every command queued for it (the old ones and any queued in this transaction).
    pub command_ids: Vec<i64>,
    /// The flow's progress.
    pub data: serde_json::Value,
}

/// An uploaded firmware package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirmwarePackage {
    /// Its id (ignored when creating).
    pub id: i64,
    /// File name, used in the download URL.
    pub name: String,
    /// The version it installs (the expected `./DevDetail/FwV` afterwards).
    pub version: String,
    /// Target `./DevInfo/Man`.
    pub man: Option<String>,
    /// Target `./DevInfo/Mod`.
    #[serde(rename = "mod")]
    pub model: Option<String>,
    /// The `./DevDetail/FwV` it updates from.
    pub fwv: Option<String>,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Where the file is on disk.
    #[serde(skip)]
    pub path: String,
    /// When it was uploaded.
    pub created_at: Millis,
}

macro_rules! campaign_cols {
    () => {
        "id, name, kind, state, target, payload, policy, start_at, deadline_at, pause_reason, \
         created_at, updated_at"
    };
}

macro_rules! cd_cols {
    () => {
        "campaign_id, device_id, wave, state, step, reason, attempts, lease_owner, lease_until, next_at, \
         checked_at, command_ids, vars, data, admitted_at, finished_at, updated_at"
    };
}

macro_rules! firmware_cols {
    () => {
        "id, name, version, man, model, fwv, size, sha256, path, created_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct CampaignRow {
    id: i64,
    name: String,
    kind: String,
    state: String,
    target: String,
    payload: String,
    policy: String,
    start_at: i64,
    deadline_at: Option<i64>,
    pause_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn json_col(table: &str, col: &str, id: &str, s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt(format!("{table}.{col} of {id}")))
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;

    fn try_from(r: CampaignRow) -> Result<Self, StoreError> {
        let id = r.id.to_string();
        let bad = |col: &str, v: &str| StoreError::Corrupt(format!("campaigns.{col} of {id}: {v:?}"));
        Ok(Campaign {
            kind: CampaignKind::parse(&r.kind).ok_or_else(|| bad("kind", &r.kind))?,
            state: CampaignState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?,
            target: json_col("campaigns", "target", &id, &r.target)?,
            payload: json_col("campaigns", "payload", &id, &r.payload)?,
            policy: json_col("campaigns", "policy", &id, &r.policy)?,
            id: r.id,
            name: r.name,
            start_at: r.start_at,
            deadline_at: r.deadline_at,
            pause_reason: r.pause_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CampaignDeviceRow {
    campaign_id: i64,
    device_id: String,
    wave: i32,
    state: String,
    step: Option<String>,
    reason: Option<String>,
    attempts: i32,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    next_at: i64,
    checked_at: i64,
    command_ids: String,
    vars: String,
    data: String,
    admitted_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<CampaignDeviceRow> for CampaignDevice {
    type Error = StoreError;

    fn try_from(r: CampaignDeviceRow) -> Result<Self, StoreError> {
        let id = format!("{}/{}", r.campaign_id, r.device_id);
        let bad = |col: &str| StoreError::Corrupt(format!("campaign_devices.{col} of {id}"));
        Ok(CampaignDevice {
            state: CampaignDeviceState::parse(&r.state).ok_or_else(|| bad("state"))?,
            command_ids: serde_json::from_str(&r.command_ids).map_err(|_| bad("command_ids"))?,
            vars: serde_json::from_str(&r.vars).map_err(|_| bad("vars"))?,
            data: json_col("campaign_devices", "data", &id, &r.data)?,
            campaign_id: r.campaign_id,
            device_id: r.device_id,
            wave: r.wave,
            step: r.step,
            reason: r.reason,
            attempts: r.attempts,
            lease_owner: r.lease_owner,
            lease_until: r.lease_until,
            next_at: r.next_at,
            checked_at: r.checked_at,
            admitted_at: r.admitted_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct FirmwareRow {
    id: i64,
    name: String,
    version: String,
    man: Option<String>,
    model: Option<String>,
    fwv: Option<String>,
    size: i64,
    sha256: String,
    path: String,
    created_at: i64,
}

impl From<FirmwareRow> for FirmwarePackage {
    fn from(r: FirmwareRow) -> Self {
        FirmwarePackage {
            id: r.id,
            name: r.name,
            version: r.version,
            man: r.man,
            model: r.model,
            fwv: r.fwv,
            size: r.size,
            sha256: r.sha256,
            path: r.path,
            created_at: r.created_at,
        }
    }
}

/// The longest reason stored.
const MAX_REASON_LEN: usize = 1000;

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_REASON_LEN) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn to_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Conn<'_> {
    pub(crate) async fn create_campaign(
        &mut self,
        c: &NewCampaign,
        now: Millis,
    ) -> Result<(i64, i64), StoreError> {
        if c.name.is_empty() || c.name.len() > 200 {
            return Err(StoreError::Invalid("a campaign needs a name of 1-200 bytes".into()));
        }
        if c.waves.len() > 100 || c.waves.iter().any(|w| *w == 0 || *w > 100) {
            return Err(StoreError::Invalid("waves: at most 100 percentages of 1-100".into()));
        }
        if c.target.device_ids.as_ref().is_some_and(|d| d.len() > MAX_TARGET_DEVICES) {
            return Err(StoreError::Invalid(format!("target: at most {MAX_TARGET_DEVICES} devices")));
        }
        const INSERT: &str = "INSERT INTO campaigns (name, kind, state, target, payload, policy, start_at, \
             deadline_at, created_at, updated_at) VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, $7, $8, $8) \
             RETURNING id";
        let id: i64 = on_conn!(self, c2 => sqlx::query_scalar(INSERT)
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(to_text(&c.target))
            .bind(to_text(&c.payload))
            .bind(to_text(&c.policy))
            .bind(c.start_at)
            .bind(c.deadline_at)
            .bind(now)
            .fetch_one(&mut *c2)
            .await?);
        // The selection, in SQL: each inventory filter given as an EXISTS; one statement for
        // a filter, one per device for an explicit list.
        const SELECT: &str = "INSERT INTO campaign_devices (campaign_id, device_id, state, next_at, updated_at) \
             SELECT $1, d.device_id, 'pending', $2, $2 FROM devices d WHERE \
             ($3 IS NULL OR EXISTS (SELECT 1 FROM inventory i WHERE i.device_id = d.device_id \
             AND i.uri = './DevInfo/Man' AND i.value = $3)) \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM inventory i WHERE i.device_id = d.device_id \
             AND i.uri = './DevInfo/Mod' AND i.value = $4)) \
             AND ($5 IS NULL OR EXISTS (SELECT 1 FROM inventory i WHERE i.device_id = d.device_id \
             AND i.uri = './DevDetail/FwV' AND i.value = $5)) \
             AND ($6 IS NULL OR EXISTS (SELECT 1 FROM inventory i WHERE i.device_id = d.device_id \
             AND i.uri = './DevInfo/DmV' AND i.value = $6)) \
             AND ($7 IS NULL OR d.device_id = $7) \
             AND ($8 IS NULL OR EXISTS (SELECT 1 FROM device_groups g WHERE g.device_id = d.device_id \
             AND g.group_name = $8)) ON CONFLICT DO NOTHING";
        let t = &c.target;
        macro_rules! one {
            ($dev:expr) => {
                sqlx::query(SELECT)
                    .bind(id)
                    .bind(now)
                    .bind(t.man.as_deref())
                    .bind(t.model.as_deref())
                    .bind(t.fwv.as_deref())
                    .bind(t.dmv.as_deref())
                    .bind($dev)
                    .bind(t.group.as_deref())
            };
        }
        let mut inserted: u64 = 0;
        match &t.device_ids {
            None => {
                inserted += on_conn!(self, c2 => one!(None::<&str>).execute(&mut *c2).await?.rows_affected());
            }
            Some(ids) => {
                for dev in ids {
                    inserted += on_conn!(self, c2 => one!(Some(dev.as_str())).execute(&mut *c2).await?.rows_affected());
                }
            }
        }
        let total = i64::try_from(inserted).unwrap_or(i64::MAX);
        // Waves: cumulative percentages over the devices in device_id order.
        const WAVE: &str = "UPDATE campaign_devices SET wave = $1 WHERE campaign_id = $2 AND device_id IN \
             (SELECT device_id FROM campaign_devices WHERE campaign_id = $2 ORDER BY device_id \
             LIMIT $3 OFFSET $4)";
        let mut from = 0i64;
        for (w, pct) in c.waves.iter().enumerate() {
            let upto = ((total * i64::from(*pct) + 99) / 100).max(from);
            if upto > from {
                on_conn!(self, c2 => sqlx::query(WAVE)
                    .bind(w as i32)
                    .bind(id)
                    .bind(upto - from)
                    .bind(from)
                    .execute(&mut *c2)
                    .await?
                    .rows_affected());
            }
            from = upto;
        }
        if from < total && !c.waves.is_empty() {
            on_conn!(self, c2 => sqlx::query(WAVE)
                .bind(c.waves.len() as i32)
                .bind(id)
                .bind(total - from)
                .bind(from)
                .execute(&mut *c2)
                .await?
                .rows_affected());
        }
        Ok((id, total))
    }

    pub(crate) async fn set_campaign_device_vars(
        &mut self,
        campaign_id: i64,
        device_id: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE campaign_devices SET vars = $1 WHERE campaign_id = $2 AND device_id = $3";
        Ok(on_conn!(self, c => sqlx::query(SQL)
            .bind(to_text(vars))
            .bind(campaign_id)
            .bind(device_id)
            .execute(&mut *c)
            .await?
            .rows_affected())
            > 0)
    }

    pub(crate) async fn campaign(&mut self, id: i64, lock: bool) -> Result<Option<Campaign>, StoreError> {
        const PLAIN: &str = concat!("SELECT ", campaign_cols!(), " FROM campaigns WHERE id = $1");
        const LOCK: &str = concat!("SELECT ", campaign_cols!(), " FROM campaigns WHERE id = $1 FOR UPDATE");
        let row: Option<CampaignRow> = match self {
            Conn::Sqlite(c) => sqlx::query_as(PLAIN).bind(id).fetch_optional(&mut **c).await?,
            Conn::Postgres(c) => {
                sqlx::query_as(if lock { LOCK } else { PLAIN }).bind(id).fetch_optional(&mut **c).await?
            }
        };
        row.map(Campaign::try_from).transpose()
    }

    pub(crate) async fn get_campaign(&mut self, id: i64) -> Result<Option<Campaign>, StoreError> {
        self.campaign(id, false).await
    }

    pub(crate) async fn list_campaigns(
        &mut self,
        states: &[CampaignState],
        limit: u32,
    ) -> Result<Vec<Campaign>, StoreError> {
        const SQL: &str = concat!("SELECT ", campaign_cols!(), " FROM campaigns ORDER BY id DESC LIMIT $1");
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<CampaignRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(limit).fetch_all(&mut *c).await?);
        let all = rows.into_iter().map(Campaign::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(all.into_iter().filter(|c| states.is_empty() || states.contains(&c.state)).collect())
    }

    pub(crate) async fn set_campaign_state(
        &mut self,
        id: i64,
        from: &[CampaignState],
        to: CampaignState,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE campaigns SET state = $1, pause_reason = $2, updated_at = $3 WHERE id = $4 AND state = $5";
        let mut changed = 0;
        for f in from {
            changed += on_conn!(self, c => sqlx::query(SQL)
                .bind(to.as_str())
                .bind(reason.map(clip))
                .bind(now)
                .bind(id)
                .bind(f.as_str())
                .execute(&mut *c)
                .await?
                .rows_affected());
        }
        Ok(changed > 0)
    }

    pub(crate) async fn campaign_counts(&mut self, id: i64) -> Result<CampaignCounts, StoreError> {
        const SQL: &str =
            "SELECT state, COUNT(*) FROM campaign_devices WHERE campaign_id = $1 GROUP BY state";
        let rows: Vec<(String, i64)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id).fetch_all(&mut *c).await?);
        let mut out = CampaignCounts::default();
        for (s, n) in rows {
            out.total += n;
            match CampaignDeviceState::parse(&s) {
                Some(CampaignDeviceState::Pending) => out.pending += n,
                Some(CampaignDeviceState::Notified) => out.notified += n,
                Some(CampaignDeviceState::InSession) => out.in_session += n,
                Some(CampaignDeviceState::Succeeded) => out.succeeded += n,
                Some(CampaignDeviceState::Failed) => out.failed += n,
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "campaign_devices.state of campaign {id}: {s:?}"
                    )));
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn campaign_rollout_figures(
        &mut self,
        id: i64,
        since: Millis,
        last_n: u32,
    ) -> Result<RolloutFigures, StoreError> {
        const OPEN_WAVE: &str = "SELECT MIN(wave) FROM campaign_devices WHERE campaign_id = $1 \
             AND state IN ('pending', 'notified', 'in_session')";
        const ADMITTED: &str =
            "SELECT COUNT(*) FROM campaign_devices WHERE campaign_id = $1 AND admitted_at >= $2";
        const ACTIVE: &str = "SELECT COUNT(*) FROM campaign_devices WHERE campaign_id = $1 \
             AND state IN ('notified', 'in_session')";
        const RECENT: &str = "SELECT state FROM campaign_devices WHERE campaign_id = $1 AND finished_at IS NOT NULL \
             ORDER BY finished_at DESC LIMIT $2";
        let open_wave: Option<i32> =
            on_conn!(self, c => sqlx::query_scalar(OPEN_WAVE).bind(id).fetch_one(&mut *c).await?);
        let admitted_since: i64 =
            on_conn!(self, c => sqlx::query_scalar(ADMITTED).bind(id).bind(since).fetch_one(&mut *c).await?);
        let active: i64 = on_conn!(self, c => sqlx::query_scalar(ACTIVE).bind(id).fetch_one(&mut *c).await?);
        let recent: Vec<String> = on_conn!(self, c => sqlx::query_scalar(RECENT)
            .bind(id)
            .bind(i64::from(last_n.min(100_000)))
            .fetch_all(&mut *c)
            .await?);
        Ok(RolloutFigures {
            open_wave,
            admitted_since,
            active,
            recent_finished: recent.len() as i64,
            recent_failed: recent.iter().filter(|s| s.as_str() == "failed").count() as i64,
        })
    }

    pub(crate) async fn pending_campaign_devices(
        &mut self,
        campaign_id: i64,
        wave: i32,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<CampaignDevice>, StoreError> {
        macro_rules! due {
            ($lock:literal) => {
                concat!(
                    "SELECT ",
                    cd_cols!(),
                    " FROM campaign_devices WHERE campaign_id = $1 AND state = 'pending' AND wave = $2 \
                     AND next_at <= $3 ORDER BY next_at, device_id LIMIT $4",
                    $lock
                )
            };
        }
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<CampaignDeviceRow> = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(due!(""))
                    .bind(campaign_id)
                    .bind(wave)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as(due!(" FOR UPDATE SKIP LOCKED"))
                    .bind(campaign_id)
                    .bind(wave)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        rows.into_iter().map(CampaignDevice::try_from).collect()
    }

    pub(crate) async fn claim_campaign_devices(
        &mut self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<CampaignDevice>, StoreError> {
        // Due: in flight, not leased (or the lease ran out), and either its time has come or
        // the device has talked to us since the engine last looked (a session began, one of
        // its commands was sent or answered, a Generic Alert came).
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE campaign_devices SET lease_owner = $1, lease_until = $2 \
                     WHERE (campaign_id, device_id) IN (SELECT cd.campaign_id, cd.device_id \
                     FROM campaign_devices cd JOIN devices d ON d.device_id = cd.device_id \
                     WHERE cd.state IN ('notified', 'in_session') \
                     AND (cd.lease_until IS NULL OR cd.lease_until < $3) \
                     AND (cd.next_at <= $3 OR d.updated_at > cd.checked_at \
                     OR EXISTS (SELECT 1 FROM commands c WHERE c.device_id = cd.device_id \
                     AND c.updated_at > cd.checked_at) \
                     OR EXISTS (SELECT 1 FROM generic_alerts g WHERE g.device_id = cd.device_id \
                     AND g.received_at > cd.checked_at)) \
                     ORDER BY cd.next_at LIMIT $4",
                    $lock,
                    ") RETURNING ",
                    cd_cols!()
                )
            };
        }
        let until = now.saturating_add(lease_ms);
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<CampaignDeviceRow> = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(claim!(""))
                    .bind(owner)
                    .bind(until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as(claim!(" FOR UPDATE OF cd SKIP LOCKED"))
                    .bind(owner)
                    .bind(until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        let mut out = rows.into_iter().map(CampaignDevice::try_from).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.next_at, &a.device_id).cmp(&(b.next_at, &b.device_id)));
        Ok(out)
    }

    pub(crate) async fn get_campaign_device(
        &mut self,
        campaign_id: i64,
        device_id: &str,
    ) -> Result<Option<CampaignDevice>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            cd_cols!(),
            " FROM campaign_devices WHERE campaign_id = $1 AND device_id = $2"
        );
        let row: Option<CampaignDeviceRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(campaign_id)
            .bind(device_id)
            .fetch_optional(&mut *c)
            .await?);
        row.map(CampaignDevice::try_from).transpose()
    }

    pub(crate) async fn list_campaign_devices(
        &mut self,
        campaign_id: i64,
        state: Option<CampaignDeviceState>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CampaignDevice>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            cd_cols!(),
            " FROM campaign_devices WHERE campaign_id = $1 AND ($2 = '' OR state = $2) AND device_id > $3 \
             ORDER BY device_id LIMIT $4"
        );
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<CampaignDeviceRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(campaign_id)
            .bind(state.map_or("", CampaignDeviceState::as_str))
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(CampaignDevice::try_from).collect()
    }

    pub(crate) async fn advance_campaign_device(
        &mut self,
        current: &CampaignDevice,
        update: &CampaignDeviceUpdate,
        now: Millis,
    ) -> Result<bool, StoreError> {
        // Guarded by what the caller read: the same state and the same lease (none for an
        // admission, which holds the campaign's lock instead). A finished device gets
        // finished_at; a device leaving `pending` the first time gets admitted_at.
        const SQL: &str = "UPDATE campaign_devices SET state = $1, step = $2, reason = $3, attempts = $4, \
             next_at = $5, command_ids = $6, data = $7, checked_at = $8, updated_at = $8, \
             lease_owner = NULL, lease_until = NULL, \
             finished_at = CASE WHEN $1 IN ('succeeded', 'failed') THEN $8 ELSE NULL END, \
             admitted_at = CASE WHEN state = 'pending' AND $1 <> 'pending' THEN $8 ELSE admitted_at END \
             WHERE campaign_id = $9 AND device_id = $10 AND state = $11 \
             AND COALESCE(lease_owner, '') = $12 AND COALESCE(lease_until, 0) = $13";
        let changed = on_conn!(self, c => sqlx::query(SQL)
            .bind(update.state.as_str())
            .bind(update.step.as_deref())
            .bind(update.reason.as_deref().map(clip))
            .bind(update.attempts)
            .bind(update.next_at)
            .bind(to_text(&update.command_ids))
            .bind(to_text(&update.data))
            .bind(now)
            .bind(current.campaign_id)
            .bind(&current.device_id)
            .bind(current.state.as_str())
            .bind(current.lease_owner.as_deref().unwrap_or(""))
            .bind(current.lease_until.unwrap_or(0))
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(changed > 0)
    }

    pub(crate) async fn release_campaign_device(
        &mut self,
        current: &CampaignDevice,
        next_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE campaign_devices SET lease_owner = NULL, lease_until = NULL, next_at = $1, \
             checked_at = $2 WHERE campaign_id = $3 AND device_id = $4 AND state = $5 \
             AND lease_owner = $6 AND lease_until = $7";
        let changed = on_conn!(self, c => sqlx::query(SQL)
            .bind(next_at)
            .bind(now)
            .bind(current.campaign_id)
            .bind(&current.device_id)
            .bind(current.state.as_str())
            .bind(current.lease_owner.as_deref().unwrap_or(""))
            .bind(current.lease_until.unwrap_or(0))
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(changed > 0)
    }

    pub(crate) async fn fail_unfinished_campaign_devices(
        &mut self,
        campaign_id: i64,
        reason: &str,
        now: Millis,
    ) -> Result<Vec<CampaignDevice>, StoreError> {
        const SQL: &str = concat!(
            "UPDATE campaign_devices SET state = 'failed', reason = $1, finished_at = $2, updated_at = $2, \
             lease_owner = NULL, lease_until = NULL WHERE campaign_id = $3 \
             AND state IN ('pending', 'notified', 'in_session') RETURNING ",
            cd_cols!()
        );
        let rows: Vec<CampaignDeviceRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(clip(reason))
            .bind(now)
            .bind(campaign_id)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(CampaignDevice::try_from).collect()
    }

    pub(crate) async fn retry_failed_campaign_devices(
        &mut self,
        campaign_id: i64,
        now: Millis,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE campaign_devices SET state = 'pending', step = NULL, reason = NULL, \
             attempts = 0, next_at = $1, finished_at = NULL, data = '{}', updated_at = $1, \
             lease_owner = NULL, lease_until = NULL WHERE campaign_id = $2 AND state = 'failed'";
        Ok(
            on_conn!(self, c => sqlx::query(SQL).bind(now).bind(campaign_id).execute(&mut *c).await?.rows_affected()),
        )
    }

    pub(crate) async fn cancel_queued_command(&mut self, id: i64, now: Millis) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE commands SET state = 'failed', updated_at = $1 \
             WHERE (id = $2 OR parent_id = $2) AND state = 'queued'";
        Ok(on_conn!(self, c => sqlx::query(SQL).bind(now).bind(id).execute(&mut *c).await?.rows_affected()))
    }

    pub(crate) async fn find_generic_alert(
        &mut self,
        device_id: &str,
        correlator: &str,
    ) -> Result<Option<GenericAlert>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            alert_cols!(),
            " FROM generic_alerts WHERE device_id = $1 AND correlator = $2 ORDER BY id DESC LIMIT 1"
        );
        let row: Option<GenericAlertRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(device_id)
            .bind(correlator)
            .fetch_optional(&mut *c)
            .await?);
        Ok(row.map(GenericAlert::from))
    }

    pub(crate) async fn create_firmware(&mut self, f: &FirmwarePackage) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO firmware_packages (name, version, man, model, fwv, size, sha256, path, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(&f.name)
            .bind(&f.version)
            .bind(f.man.as_deref())
            .bind(f.model.as_deref())
            .bind(f.fwv.as_deref())
            .bind(f.size)
            .bind(&f.sha256)
            .bind(&f.path)
            .bind(f.created_at)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("firmware {}", f.name)))?))
    }

    pub(crate) async fn get_firmware(&mut self, id: i64) -> Result<Option<FirmwarePackage>, StoreError> {
        const SQL: &str = concat!("SELECT ", firmware_cols!(), " FROM firmware_packages WHERE id = $1");
        let row: Option<FirmwareRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id).fetch_optional(&mut *c).await?);
        Ok(row.map(FirmwarePackage::from))
    }

    pub(crate) async fn list_firmware(&mut self) -> Result<Vec<FirmwarePackage>, StoreError> {
        const SQL: &str =
            concat!("SELECT ", firmware_cols!(), " FROM firmware_packages ORDER BY id DESC LIMIT 1000");
        let rows: Vec<FirmwareRow> = on_conn!(self, c => sqlx::query_as(SQL).fetch_all(&mut *c).await?);
        Ok(rows.into_iter().map(FirmwarePackage::from).collect())
    }
}

/// What admission counts, read under the campaign's lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RolloutFigures {
    /// The lowest wave with unfinished devices (`None`: every device finished).
    pub open_wave: Option<i32>,
    /// Devices admitted since the `since` given.
    pub admitted_since: i64,
    /// Devices in flight (notified or in session).
    pub active: i64,
    /// Of the last N finished devices: how many.
    pub recent_finished: i64,
    /// ... and how many of those failed.
    pub recent_failed: i64,
}
