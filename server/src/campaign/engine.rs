//! The campaign engine: the background task `serve` runs on every node.
//!
//! Each round, for every live campaign: start it at its start time; at its deadline fail
//! what is unfinished; pause it when the failure rate of its last finished devices passes the
//! threshold; complete it when nothing is unfinished; admit pending devices of its open wave
//! within the rollout limits (under the campaign's row lock). Then it leases in-flight devices
//! that are due or whose device has talked to us, and moves each one on in a transaction of
//! its own. The crash-safety argument is in the [module doc](super).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use omadm_storage::{
    Campaign, CampaignDevice, CampaignDeviceState, CampaignDeviceUpdate, CampaignKind, CampaignState,
    FirmwarePackage, Store, StoreError, Tx,
};
use serde_json::{Value, json};

use super::policy::{ConfigPayload, FumoPayload, Policy};
use super::{fumo, profile};
use crate::app::now_millis;
use crate::dispatcher::Wake;
use crate::notify::operation::PolicyOverrides;

/// How long a node owns a device it leased: longer than one step takes.
pub const LEASE: Duration = Duration::from_secs(60);
/// Devices leased per claim.
pub const BATCH: u32 = 200;
/// Devices admitted per campaign and round at most.
pub const ADMIT_BATCH: u32 = 200;

/// "Tell this device to call in" (a DM notification, package 0), called after the commit
/// that queued its commands. Best effort: a device that is not reached still gets its
/// commands when it calls in on its own.
pub trait Notifier: Send + Sync {
    /// Wake `device_id`, with the campaign's notification policy (unset fields: the
    /// server's `[notification]` settings).
    fn notify(&self, device_id: &str, policy: &PolicyOverrides);
}

/// A notifier that does nothing (devices call in on their own schedule).
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _device_id: &str, _policy: &PolicyOverrides) {}
}

/// Notifies through [`crate::notify`]: records a notification with the device's stored
/// number; devices without one are skipped.
pub struct DmNotifier {
    /// The store.
    pub store: Store,
    /// The notification settings.
    pub config: crate::notify::NotificationConfig,
    /// Wakes this node's notification scheduler.
    pub wake: Wake,
}

impl Notifier for DmNotifier {
    fn notify(&self, device_id: &str, policy: &PolicyOverrides) {
        let (store, config, wake, id) =
            (self.store.clone(), self.config, self.wake.clone(), device_id.to_owned());
        let policy = *policy;
        tokio::spawn(async move {
            let req = crate::notify::operation::NotifyRequest { policy, ..Default::default() };
            match crate::notify::operation::notify_device(&store, &config, &id, &req, "campaign").await {
                Ok(_) => wake.wake(),
                Err(e) => tracing::debug!(device = %id, error = %e, "campaign: device not notified"),
            }
        });
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// This node's name in leases.
    pub owner: String,
    /// How often a round runs when nobody wakes the engine.
    pub poll: Duration,
    /// The base of firmware download URLs (`http://host:port`) when a campaign gives none.
    pub public_url: String,
}

/// The engine of one node.
#[derive(Clone)]
pub struct Engine {
    /// The database.
    pub store: Store,
    /// Settings.
    pub settings: EngineSettings,
    /// How devices are woken.
    pub notifier: Arc<dyn Notifier>,
}

/// What a campaign delivers, loaded once per round.
pub enum Plan {
    /// A firmware update.
    Fumo {
        /// The payload.
        payload: FumoPayload,
        /// Its package.
        package: Box<FirmwarePackage>,
        /// The download URL written to PkgURL.
        url: String,
    },
    /// A configuration profile.
    Config(ConfigPayload),
}

/// What a flow decided for one device.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Nothing new: look again at `next_at` (or when the device talks).
    Wait {
        /// When.
        next_at: i64,
    },
    /// On to the next step (commands, if any, already queued in the transaction).
    Continue {
        /// `Notified` or `InSession`.
        state: CampaignDeviceState,
        /// The step.
        step: &'static str,
        /// When to look again.
        next_at: i64,
    },
    /// Done and verified.
    Succeed,
    /// Failed; retried (policy `max_attempts`) unless `final_`.
    Fail {
        /// Why.
        reason: String,
        /// Retrying cannot help.
        final_: bool,
    },
}

/// One device's step, as the flows see it.
pub struct Step<'a> {
    /// The campaign's transaction.
    pub tx: &'a mut Tx,
    /// The device row as leased.
    pub cd: &'a CampaignDevice,
    /// The policy.
    pub policy: &'a Policy,
    /// Now.
    pub now: i64,
    /// The flow's data (changed in place).
    pub data: Value,
    /// Commands queued so far (appended to when queueing).
    pub commands: Vec<i64>,
}

impl Step<'_> {
    /// Queue a command for the device and remember its id.
    pub async fn enqueue(&mut self, spec: &omadm_storage::CommandSpec) -> Result<i64, StoreError> {
        let id = self.tx.enqueue_command(&self.cd.device_id, spec, self.now).await?;
        self.commands.push(id);
        Ok(id)
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Devices admitted.
    pub admitted: usize,
    /// Devices looked at.
    pub progressed: usize,
}

impl Engine {
    /// Run rounds until `shutdown` resolves.
    pub async fn run(self, wake: Wake, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.round(now_millis()).await {
                Ok(r) if r.progressed >= BATCH as usize || r.admitted > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "campaign engine: database error"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// One round over every live campaign and every due device.
    pub async fn round(&self, now: i64) -> Result<RoundReport, StoreError> {
        let mut report = RoundReport::default();
        let live = [CampaignState::Scheduled, CampaignState::Running, CampaignState::Paused];
        let mut plans: HashMap<i64, (Campaign, Policy, Option<Plan>)> = HashMap::new();
        for c in self.store.list_campaigns(&live, omadm_storage::MAX_LIMIT).await? {
            report.admitted += self.campaign_round(&c, now).await?;
        }
        let due = self
            .store
            .claim_campaign_devices(&self.settings.owner, now, LEASE.as_millis() as i64, BATCH)
            .await?;
        report.progressed = due.len();
        for cd in due {
            if !plans.contains_key(&cd.campaign_id) {
                let Some(c) = self.store.get_campaign(cd.campaign_id).await? else { continue };
                let policy: Policy = serde_json::from_value(c.policy.clone()).unwrap_or_default();
                let plan = self.plan(&c).await?;
                plans.insert(c.id, (c, policy, plan));
            }
            let (_, policy, plan) = &plans[&cd.campaign_id];
            if let Err(e) = self.progress(&cd, policy, plan.as_ref(), now).await {
                tracing::warn!(campaign = cd.campaign_id, device = %cd.device_id, error = %e, "campaign step failed");
            }
        }
        Ok(report)
    }

    /// What the campaign delivers; `None` when it cannot be loaded (its devices fail).
    async fn plan(&self, c: &Campaign) -> Result<Option<Plan>, StoreError> {
        Ok(match c.kind {
            CampaignKind::Fumo => {
                let Ok(payload) = serde_json::from_value::<FumoPayload>(c.payload.clone()) else {
                    return Ok(None);
                };
                let Some(package) = self.store.get_firmware(payload.firmware_id).await? else {
                    return Ok(None);
                };
                let base = payload.download_base.clone().unwrap_or_else(|| self.settings.public_url.clone());
                let url = super::firmware::download_url(&base, &package);
                Some(Plan::Fumo { payload, package: Box::new(package), url })
            }
            CampaignKind::Config => {
                serde_json::from_value::<ConfigPayload>(c.payload.clone()).ok().map(Plan::Config)
            }
        })
    }

    /// Start, stop, guard and admit for one campaign; returns how many devices it admitted.
    async fn campaign_round(&self, c: &Campaign, now: i64) -> Result<usize, StoreError> {
        use CampaignState as S;
        if c.state == S::Scheduled {
            if c.start_at > now {
                return Ok(0);
            }
            self.store.set_campaign_state(c.id, &[S::Scheduled], S::Running, None, now).await?;
        }
        if c.deadline_at.is_some_and(|d| d <= now) {
            let mut tx = self.store.begin().await?;
            if tx
                .lock_campaign(c.id)
                .await?
                .is_some_and(|c| matches!(c.state, S::Running | S::Paused | S::Scheduled))
            {
                for cd in tx.fail_unfinished_campaign_devices(c.id, "deadline passed", now).await? {
                    withdraw(&mut tx, &cd.command_ids, now).await?;
                }
                tx.set_campaign_state(c.id, &[S::Running, S::Paused, S::Scheduled], S::Completed, None, now)
                    .await?;
                tracing::info!(campaign = c.id, "campaign deadline passed");
            }
            tx.commit().await?;
            return Ok(0);
        }
        let policy: Policy = serde_json::from_value(c.policy.clone()).unwrap_or_default();
        let plan = self.plan(c).await?;

        let mut tx = self.store.begin().await?;
        let Some(c) = tx.lock_campaign(c.id).await? else { return Ok(0) };
        let figures = tx.campaign_rollout_figures(c.id, now - 60_000, policy.failure_window).await?;
        if figures.open_wave.is_none() {
            if matches!(c.state, S::Running | S::Paused) {
                tx.set_campaign_state(c.id, &[S::Running, S::Paused], S::Completed, None, now).await?;
                tracing::info!(campaign = c.id, "campaign completed");
            }
            tx.commit().await?;
            return Ok(0);
        }
        if c.state != S::Running {
            return Ok(0);
        }
        let window = i64::from(policy.failure_window.max(1));
        if figures.recent_finished >= window
            && figures.recent_failed * 100 > i64::from(policy.failure_threshold_pct) * figures.recent_finished
        {
            let reason = format!(
                "auto-paused: {} of the last {} finished devices failed (threshold {} %)",
                figures.recent_failed, figures.recent_finished, policy.failure_threshold_pct
            );
            tx.set_campaign_state(c.id, &[S::Running], S::Paused, Some(&reason), now).await?;
            tx.commit().await?;
            tracing::warn!(campaign = c.id, %reason, "campaign paused");
            return Ok(0);
        }
        if policy.maintenance_window.as_ref().is_some_and(|w| !w.contains(now)) {
            return Ok(0);
        }
        let slots = (i64::from(policy.max_concurrent) - figures.active)
            .min(i64::from(policy.max_per_minute) - figures.admitted_since)
            .clamp(0, i64::from(ADMIT_BATCH)) as u32;
        if slots == 0 {
            return Ok(0);
        }
        let wave = figures.open_wave.unwrap_or(0);
        let pending = tx.pending_campaign_devices(c.id, wave, now, slots).await?;
        let mut admitted = Vec::new();
        for cd in &pending {
            let mut step = Step {
                tx: &mut tx,
                cd,
                policy: &policy,
                now,
                data: json!({}),
                commands: cd.command_ids.clone(),
            };
            let decision = match &plan {
                None => {
                    Decision::Fail { reason: "the campaign's payload cannot be loaded".into(), final_: true }
                }
                Some(Plan::Fumo { payload, url, .. }) => fumo::admit(&mut step, payload, url).await?,
                Some(Plan::Config(p)) => profile::admit(&mut step, p).await?,
            };
            let (data, commands) = (step.data, step.commands);
            let started = matches!(decision, Decision::Continue { .. });
            let update = settle(cd, &policy, decision, data, commands, now, true);
            if !tx.advance_campaign_device(cd, &update, now).await? {
                return Err(StoreError::Invalid(format!(
                    "campaign {}: device {} moved during admission",
                    c.id, cd.device_id
                )));
            }
            if update.state == CampaignDeviceState::Failed {
                withdraw(&mut tx, &update.command_ids, now).await?;
            }
            if started {
                admitted.push(cd.device_id.clone());
            }
        }
        tx.commit().await?;
        for d in &admitted {
            self.notifier.notify(d, &policy.notification);
        }
        Ok(pending.len())
    }

    /// Move one leased device on, in a transaction of its own.
    async fn progress(
        &self,
        cd: &CampaignDevice,
        policy: &Policy,
        plan: Option<&Plan>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        let mut step =
            Step { tx: &mut tx, cd, policy, now, data: cd.data.clone(), commands: cd.command_ids.clone() };
        let decision = match plan {
            None => Decision::Fail { reason: "the campaign's payload cannot be loaded".into(), final_: true },
            Some(Plan::Fumo { package, .. }) => fumo::progress(&mut step, package).await?,
            Some(Plan::Config(p)) => profile::progress(&mut step, p).await?,
        };
        let (data, commands) = (step.data, step.commands);
        let ok = match decision {
            Decision::Wait { next_at } => tx.release_campaign_device(cd, next_at, now).await?,
            d => {
                let update = settle(cd, policy, d, data, commands, now, false);
                let ok = tx.advance_campaign_device(cd, &update, now).await?;
                if ok && matches!(update.state, CampaignDeviceState::Failed | CampaignDeviceState::Pending) {
                    withdraw(&mut tx, &update.command_ids, now).await?;
                }
                ok
            }
        };
        if ok {
            tx.commit().await
        } else {
            // Someone else moved it (lease ran out, operator cancelled): undo what we queued.
            tx.rollback().await
        }
    }
}

/// The row update for a decision: failures become a retry while attempts remain.
fn settle(
    cd: &CampaignDevice,
    policy: &Policy,
    decision: Decision,
    data: Value,
    command_ids: Vec<i64>,
    now: i64,
    admission: bool,
) -> CampaignDeviceUpdate {
    let attempts = cd.attempts + i32::from(admission);
    let base = CampaignDeviceUpdate {
        state: CampaignDeviceState::Failed,
        step: None,
        reason: None,
        attempts,
        next_at: now,
        command_ids,
        data,
    };
    match decision {
        Decision::Wait { next_at } => CampaignDeviceUpdate { state: cd.state, next_at, ..base },
        Decision::Continue { state, step, next_at } => {
            CampaignDeviceUpdate { state, step: Some(step.into()), next_at, ..base }
        }
        Decision::Succeed => {
            CampaignDeviceUpdate { state: CampaignDeviceState::Succeeded, step: None, ..base }
        }
        Decision::Fail { reason, final_ } => {
            if !final_ && (attempts as u32) < policy.max_attempts {
                let next_at = now.saturating_add(policy.backoff_ms(attempts as u32));
                CampaignDeviceUpdate {
                    state: CampaignDeviceState::Pending,
                    reason: Some(format!("attempt {attempts}: {reason}")),
                    next_at,
                    data: json!({}),
                    ..base
                }
            } else {
                CampaignDeviceUpdate { reason: Some(reason), ..base }
            }
        }
    }
}

/// Withdraw the commands a device will no longer need, if not yet sent.
pub async fn withdraw(tx: &mut Tx, ids: &[i64], now: i64) -> Result<(), StoreError> {
    for id in ids {
        tx.cancel_queued_command(*id, now).await?;
    }
    Ok(())
}

/// The state a device is in once a command of its step has gone out.
pub fn in_session_if(sent: bool, cd: &CampaignDevice) -> CampaignDeviceState {
    if sent || cd.state == CampaignDeviceState::InSession {
        CampaignDeviceState::InSession
    } else {
        CampaignDeviceState::Notified
    }
}

/// The engine `serve` runs: notifications through [`crate::notify`], download URLs on the
/// public URL (else the listen address), poll from `[campaign]`.
pub fn for_app(app: &crate::app::App) -> Engine {
    let c = &app.config;
    let public_url = c.public_url.clone().unwrap_or_else(|| {
        let scheme = if c.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", c.listen)
    });
    Engine {
        store: app.store.clone(),
        settings: EngineSettings {
            owner: format!("node-{}", crate::app::random_token()),
            poll: Duration::from_millis(c.campaign.poll_ms.clamp(10, 60_000)),
            public_url,
        },
        notifier: Arc::new(DmNotifier {
            store: app.store.clone(),
            config: c.notification,
            wake: app.notify_wake.clone(),
        }),
    }
}
