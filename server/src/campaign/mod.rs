//! Campaigns: a firmware update (OMA FUMO 1.0) or a configuration profile rolled out over
//! many devices, with a rollout policy, pausable, crash-safe.
//!
//! - [`policy`]: the rollout policy and the payloads as operators write them (JSON).
//! - [`operation`]: create, list, show, pause, resume, cancel, retry (API and CLI share it).
//! - [`engine`]: the scheduler `serve` runs: admits devices, follows each one's commands,
//!   alerts and read-backs, decides.
//! - [`fumo`] and [`profile`]: the two flows, per device.
//! - [`firmware`]: firmware packages: upload, storage on disk, download with Range.
//! - [`api`]: the `/api/v1/campaigns` and `/api/v1/firmware` handlers, `GET /firmware/...`.
//!
//! # Crash safety
//!
//! Everything the engine knows is in the database: the campaign row, one `campaign_devices`
//! row per device (state, step, the ids of the commands it queued, the flow's data), the
//! command queue and the Generic Alerts. The engine holds nothing in memory between rounds.
//!
//! - **A device is never lost.** A device is `pending` until a transaction moves it on; a
//!   node that dies before committing leaves it `pending` (admission) or leased (progress),
//!   and a lease runs out ([`engine::LEASE`]) so another node, or the restarted one, takes it
//!   again. Nothing is decided from memory: each step re-reads the commands and alerts.
//! - **No command is queued twice.** Commands are queued in the *same transaction* that
//!   records their ids and moves the device to the next step. Either both are committed (the
//!   next look sees the step done and queues nothing) or neither is (the next look queues
//!   them afresh, for the first time). The state change is guarded by what was read (state,
//!   lease owner and expiry: [`omadm_storage::Tx::advance_campaign_device`]); when the guard
//!   fails, the transaction, with the commands it queued, is rolled back. Admission runs under
//!   the campaign's row lock, so two nodes cannot admit the same pending device either. A
//!   kill -9 anywhere therefore queues a firmware Exec at most once per attempt; only a
//!   retry after a reported failure (policy `max_attempts`) queues another, deliberately.
//! - **Effects after state.** The notification that wakes a device is sent after the commit
//!   that queued its commands; if the node dies in between, the device still gets them the
//!   next time it calls in on its own (the engine also follows devices that call in
//!   unasked: every DM message bumps `devices.updated_at`, which the claim looks at).
//!
//! What the session engine does with a sent command whose Status never came back (it puts it
//! back in the queue when the session times out, see [`crate::session`]) is outside this
//! argument: a device that took an Exec but lost the session may be sent it again.

pub mod api;
pub mod engine;
pub mod firmware;
pub mod fumo;
pub mod operation;
pub mod policy;
pub mod profile;

pub use engine::{Engine, EngineSettings, Notifier};
pub use policy::{ConfigPayload, FumoPayload, Policy};

use std::path::PathBuf;

use serde::Deserialize;

/// `[campaign]` in the configuration file; every key optional.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignConfig {
    /// Where uploaded firmware packages are stored.
    pub firmware_dir: PathBuf,
    /// The largest firmware package accepted, bytes.
    pub max_firmware_bytes: u64,
    /// How often the engine runs a round when nobody wakes it, milliseconds.
    pub poll_ms: u64,
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            firmware_dir: PathBuf::from("firmware"),
            max_firmware_bytes: 512 * 1024 * 1024,
            poll_ms: 1000,
        }
    }
}
