//! omadm's database: SQLite (embedded, the default) and PostgreSQL (several server nodes),
//! behind one API.
//!
//! - [`Store`] is the handle (a pool of either backend): [`Store::connect`], then
//!   [`Store::migrate`].
//! - [`Tx`] is a write transaction. The session engine loads a session's state and applies
//!   every change of one DM message in one `Tx`, so nothing is acknowledged to the device
//!   before it is stored. Every data method exists on `Tx` and, as a convenience, on `Store`.
//! - [`model`] holds the records both sides exchange; [`StoreError`] is the only error.
//!
//! The SQL is written once for both backends (`$n` placeholders, `ON CONFLICT`,
//! `RETURNING`, `WITH RECURSIVE`), forked only where the dialects differ. The schema lives in
//! `migrations/sqlite` and `migrations/postgres` (same file, table and column names), both
//! embedded in the binary. Times are Unix epoch milliseconds; JSON is stored as text.

#[macro_use]
mod conn;
mod campaign;
mod error;
mod group;
pub mod model;
mod notification;
mod push;
mod rows;
mod store;
mod transcript;

pub use campaign::{
    Campaign, CampaignCounts, CampaignDevice, CampaignDeviceState, CampaignDeviceUpdate, CampaignKind,
    CampaignState, FirmwarePackage, MAX_TARGET_DEVICES, NewCampaign, RolloutFigures, TargetSelector,
};
pub use conn::{MAX_COMMAND_DEPTH, MAX_COMMAND_NODES, MAX_DDFS, MAX_INVENTORY, MAX_LIMIT, MAX_TREE_NODES};
pub use error::StoreError;
pub use group::{GroupSummary, MAX_GROUP_NAME};
pub use model::*;
pub use notification::{
    NewNotification, NotificationPolicy, NotificationRecord, NotificationState, NotificationStep,
    NotificationTarget,
};
pub use push::{Bootstrap, BootstrapState, NewPush, PushKind, PushOutcome, PushRecord, PushState};
pub use store::{
    ACQUIRE_TIMEOUT, PG_MAX_CONNECTIONS, SQLITE_BUSY_TIMEOUT, SQLITE_MAX_CONNECTIONS, SqliteStore, Store, Tx,
};
pub use transcript::{Direction, TranscriptMessage};
