//! The store handle, connecting, migrations and transactions.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::campaign::{
    Campaign, CampaignCounts, CampaignDevice, CampaignDeviceState, CampaignDeviceUpdate, CampaignState,
    FirmwarePackage, NewCampaign, RolloutFigures,
};
use crate::conn::Conn;
use crate::error::StoreError;
use crate::model::{
    AuditEntry, CommandRecord, CommandSpec, CommandState, DdfRecord, DdfRevision, Device, DeviceChange,
    GenericAlert, InventoryItem, Millis, ResultItem, SessionRecord, TreeNode,
};
use crate::notification::{
    NewNotification, NotificationRecord, NotificationState, NotificationStep, NotificationTarget,
};
use crate::push::{Bootstrap, NewPush, PushOutcome, PushRecord};
use crate::transcript::TranscriptMessage;

/// How long SQLite waits for another writer's lock before failing with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reading connections of a file-backed SQLite store (they run in parallel under WAL); writes
/// have one connection of their own.
pub const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// Connections of a PostgreSQL pool, per server node.
pub const PG_MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a free pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The database: an embedded SQLite file (the default, one server node) or PostgreSQL
/// (several server nodes sharing state). Cheap to clone: both variants are pool handles.
///
/// Data methods exist on [`Tx`] (the session engine applies all changes of one DM message
/// in one transaction) and, as conveniences, on `Store`: a write opens a transaction, runs
/// and commits; a read runs on a pooled connection without a transaction.
#[derive(Clone, Debug)]
pub enum Store {
    /// SQLite, in WAL mode.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// The SQLite pools: readers, and the one connection every write transaction runs on.
///
/// SQLite has one writer anyway (`BEGIN IMMEDIATE` takes the database's write lock). With
/// writes spread over a pool, the waiting transactions hold connections and sleep in SQLite's
/// busy handler (1 ms and more per retry), and every write invalidates the page cache of the
/// other connections; on one dedicated connection they queue in the pool (first come, first
/// served) and its page cache stays warm (measured in BENCHMARKS.md, "Load").
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// The connection pool (for tests and tools that run their own SQL).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
///
/// On SQLite it began with `BEGIN IMMEDIATE` on the write connection ([`SqliteStore`]): it holds the database's write lock from the start, so transactions
/// never fail half-way on a lock upgrade and are fully serialised.
/// On PostgreSQL it is `READ COMMITTED`; [`Tx::get_session`] locks the session row
/// (`FOR UPDATE`) so two nodes never process messages of one session at once.
///
/// After any error the transaction should be dropped: on PostgreSQL a failed statement
/// aborts the whole transaction.
pub enum Tx {
    /// A SQLite transaction, on the write connection.
    Sqlite(Transaction<'static, Sqlite>),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tx({})", self.backend_name())
    }
}

/// A pooled connection of either backend, for reads outside a transaction.
enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Pooled {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// Whether a `sqlite:` URL names an in-memory database.
fn sqlite_in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (db, query) = rest.split_once('?').unwrap_or((rest, ""));
    db == ":memory:" || query.split('&').any(|kv| kv == "mode=memory")
}

impl Store {
    /// Open the database at `url` and check that it answers.
    ///
    /// - `sqlite://path`, `sqlite:path` (relative) or `sqlite:///abs/path`: the file is
    ///   created if missing; WAL journal, `synchronous = NORMAL` (durable at each checkpoint,
    ///   never corrupt), busy timeout [`SQLITE_BUSY_TIMEOUT`], foreign keys on; a pool of
    ///   [`SQLITE_MAX_CONNECTIONS`] readers and one write connection ([`SqliteStore`]).
    /// - `sqlite::memory:` (tests): one connection that is never recycled, so every use sees
    ///   the same database. Do not call `Store` methods while holding a [`Tx`] on it: they
    ///   would wait for that one connection.
    /// - `postgres://...` / `postgresql://...`: a pool of [`PG_MAX_CONNECTIONS`].
    ///
    /// Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::InvalidUrl(format!("SQLite URL: {e}")))?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .synchronous(SqliteSynchronous::Normal);
            let single = || {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
            };
            let store = if sqlite_in_memory(url) {
                // One connection for everything: each connection would be a database of its own.
                let pool = single().connect_with(opts).await?;
                SqliteStore { writer: pool.clone(), pool }
            } else {
                let opts = opts.journal_mode(SqliteJournalMode::Wal);
                let writer = single().connect_with(opts.clone()).await?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(SQLITE_MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await?;
                SqliteStore { pool, writer }
            };
            tracing::debug!(backend = "sqlite", in_memory = sqlite_in_memory(url), "connected");
            Ok(Store::Sqlite(store))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // The parse error is not repeated: it may quote the URL and its password.
            let opts = PgConnectOptions::from_str(url)
                .map_err(|_| StoreError::InvalidUrl("cannot parse the PostgreSQL URL".to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(PG_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await?;
            tracing::debug!(backend = "postgres", "connected");
            Ok(Store::Postgres(pool))
        } else {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            let scheme: String = scheme.chars().take(20).collect();
            Err(StoreError::InvalidUrl(format!(
                "unsupported scheme {scheme:?}: use sqlite:, postgres: or postgresql:"
            )))
        }
    }

    /// Apply the migrations embedded for this backend (`migrations/sqlite` or
    /// `migrations/postgres`) that are not applied yet. Safe to run on every start and from
    /// several nodes at once (PostgreSQL takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self {
            Store::Sqlite(_) => &SQLITE_MIGRATOR,
            Store::Postgres(_) => &PG_MIGRATOR,
        };
        match self {
            Store::Sqlite(s) => migrator.run(&s.writer).await?,
            Store::Postgres(p) => {
                migrator.run(p).await?;
                // Planner statistics now, not when autovacuum gets round to it (it may be off):
                // without them PostgreSQL plans the queue and tree reads as sequential scans.
                sqlx::query("ANALYZE devices, commands, command_results, sessions, inventory, tree_nodes")
                    .execute(p)
                    .await?;
            }
        }
        tracing::info!(
            backend = self.backend_name(),
            latest = migrator.iter().map(|m| m.version).max(),
            "database schema up to date"
        );
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Check that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pooled().await?.conn().ping().await
    }

    /// Close the pool: waits for checked-out connections to come back, then closes them all.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => {
                s.writer.close().await;
                s.pool.close().await
            }
            Store::Postgres(p) => p.close().await,
        }
    }

    /// Begin a write transaction (`BEGIN IMMEDIATE` on SQLite; see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => Tx::Sqlite(s.writer.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    async fn pooled(&self) -> Result<Pooled, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => Pooled::Sqlite(s.pool.acquire().await?),
            Store::Postgres(p) => Pooled::Postgres(p.acquire().await?),
        })
    }

    /// A session by token, without locking it (admin reads). The session engine reads
    /// sessions with [`Tx::get_session`] instead.
    pub async fn get_session(&self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.pooled().await?.conn().get_session(token, false).await
    }
}

impl Tx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// Make every change of this transaction durable (SQLite: at the next WAL checkpoint
    /// with `synchronous = NORMAL`).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Undo every change of this transaction (dropping it does the same).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "sqlite",
            Tx::Postgres(_) => "postgres",
        }
    }

    /// A session by token. On PostgreSQL the row stays locked (`SELECT ... FOR UPDATE`) until
    /// this transaction ends, so a second node handling the same session waits here; on
    /// SQLite `BEGIN IMMEDIATE` already serialised the transactions.
    pub async fn get_session(&mut self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.conn().get_session(token, true).await
    }

    /// A device, its row locked until this transaction ends (PostgreSQL `FOR UPDATE`; SQLite's
    /// `BEGIN IMMEDIATE` already serialises). Taken first for every DM message, so messages of
    /// one device are handled one at a time across nodes and two sessions of a device never
    /// pick the same queued commands.
    pub async fn lock_device(&mut self, device_id: &str) -> Result<Option<Device>, StoreError> {
        self.conn().device(device_id, true).await
    }

    /// A campaign, its row locked until this transaction ends (PostgreSQL `FOR UPDATE`;
    /// SQLite's `BEGIN IMMEDIATE` already serialises): campaign admission runs under it, so
    /// the rollout limits are counted by one node at a time.
    pub async fn lock_campaign(&mut self, id: i64) -> Result<Option<Campaign>, StoreError> {
        self.conn().campaign(id, true).await
    }
}

/// Define each data method on [`Tx`] (with its doc) and its [`Store`] convenience: `write`
/// ones open a transaction, call, commit; `read` ones run on a pooled connection.
macro_rules! api {
    ($(
        $(#[$doc:meta])*
        $kind:ident fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;
    )*) => {
        impl Tx {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    self.conn().$name($($arg),*).await
                }
            )*
        }

        impl Store {
            $(
                #[doc = concat!("[`Tx::", stringify!($name), "`] ", api!(@how $kind), ".")]
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    api!(@body $kind, self, $name, $($arg),*)
                }
            )*
        }
    };
    (@how write) => { "in a transaction of its own" };
    (@how read) => { "on a pooled connection, outside a transaction" };
    (@body write, $self:ident, $name:ident, $($arg:ident),*) => {{
        let mut tx = $self.begin().await?;
        let out = tx.$name($($arg),*).await?;
        tx.commit().await?;
        Ok(out)
    }};
    (@body read, $self:ident, $name:ident, $($arg:ident),*) => {{
        $self.pooled().await?.conn().$name($($arg),*).await
    }};
}

api! {
    /// Store a new device. `Conflict` if its `device_id` exists.
    write fn create_device(device: &Device) -> ();

    /// Replace every field of an existing device but `device_id` and `created_at`
    /// (credential changes from the admin API). `NotFound` if it does not exist.
    write fn update_device(device: &Device) -> ();

    /// A device by id.
    read fn get_device(device_id: &str) -> Option<Device>;

    /// Devices ordered by `device_id` (byte order on both backends), those after `after`
    /// (keyset pagination: pass the last id of the previous page). At most `limit`, clamped
    /// to [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn list_devices(after: Option<&str>, limit: u32) -> Vec<Device>;

    /// Delete a device and, by cascade, its inventory, commands, results, generic alerts
    /// and sessions (not its audit entries). `false` if it did not exist.
    write fn delete_device(device_id: &str) -> bool;

    /// Apply what one DM message changed on the device row (see [`DeviceChange`]) and set
    /// `updated_at`. `NotFound` if the device does not exist.
    write fn update_device_after_message(device_id: &str, change: &DeviceChange<'_>, now: Millis) -> ();

    /// Insert or replace inventory items by `(device_id, uri)`. `NotFound` if the device does
    /// not exist.
    write fn upsert_inventory(device_id: &str, items: &[InventoryItem]) -> ();

    /// A device's inventory ordered by URI (at most [`MAX_INVENTORY`](crate::MAX_INVENTORY)
    /// items).
    read fn list_inventory(device_id: &str) -> Vec<InventoryItem>;

    /// Queue a command tree for a device: one row per command, children of Atomic/Sequence
    /// with `parent_id` and `position`, all `queued`. Returns the id of the top command.
    /// `Invalid` for a tree without op, with children under a non-container, an empty
    /// container, deeper than [`MAX_COMMAND_DEPTH`](crate::MAX_COMMAND_DEPTH) or larger than
    /// [`MAX_COMMAND_NODES`](crate::MAX_COMMAND_NODES); `NotFound` if the device does not
    /// exist.
    write fn enqueue_command(device_id: &str, spec: &CommandSpec, now: Millis) -> i64;

    /// A command of a device (top-level or child) with its children, recursively, and its
    /// results.
    read fn get_command(device_id: &str, id: i64) -> Option<CommandRecord>;

    /// Top-level commands of a device, newest first, optionally only those in `state`,
    /// with children and results. At most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn list_commands(
        device_id: &str,
        state: Option<CommandState>,
        limit: u32
    ) -> Vec<CommandRecord>;

    /// The device's queued top-level commands, oldest first, with children (in position
    /// order): what the next package should carry. At most `limit`, clamped to
    /// [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn next_queued(device_id: &str, limit: u32) -> Vec<CommandRecord>;

    /// Mark the given commands `sent` in session `session_token` (the caller lists the
    /// children of containers too). Only `queued` or `sent` rows change; returns how many.
    write fn mark_sent(ids: &[i64], session_token: &str, now: Millis) -> u64;

    /// Record the device's answer to a command: its new state and Status code.
    /// `NotFound` if the command does not exist.
    write fn set_command_status(
        id: i64,
        state: CommandState,
        status: Option<u16>,
        now: Millis
    ) -> ();

    /// Append Results items to a command. `NotFound` if the command does not exist.
    write fn add_results(command_id: i64, items: &[ResultItem], now: Millis) -> ();

    /// Put the commands still `sent` in session `session_token` back to `queued` (session
    /// token cleared), so that a session that timed out or broke loses nothing; except the
    /// command trees holding an Exec, which the device may have run: those become `failed`
    /// with no Status (outcome unknown), never sent twice. Returns how many rows went back to
    /// the queue.
    write fn requeue_sent(session_token: &str, now: Millis) -> u64;

    /// Hold a queued command back with `reason` (it is no longer returned by
    /// [`next_queued`](Tx::next_queued)), or release it with `None`. `NotFound` if the
    /// command does not exist.
    write fn set_command_held(id: i64, reason: Option<&str>, now: Millis) -> ();

    /// An operator's override: the top-level command `id` of `device_id` is released (no
    /// longer held) and will be sent without the ACL and DDF checks. `false` if there is no
    /// such top-level command.
    write fn force_command(device_id: &str, id: i64, now: Millis) -> bool;

    /// Insert or merge mirrored tree nodes by `(device_id, uri)`: each field that is `Some`
    /// replaces the stored one, `None` keeps it. `NotFound` if the device does not exist.
    write fn upsert_tree_nodes(device_id: &str, nodes: &[TreeNode]) -> ();

    /// Remove a mirrored node and everything below it (`uri` and `uri/...`); returns how many
    /// nodes went.
    write fn delete_tree_subtree(device_id: &str, uri: &str) -> u64;

    /// A device's mirrored tree ordered by URI (byte order; at most
    /// [`MAX_TREE_NODES`](crate::MAX_TREE_NODES) nodes).
    read fn list_tree(device_id: &str) -> Vec<TreeNode>;

    /// One mirrored node.
    read fn get_tree_node(device_id: &str, uri: &str) -> Option<TreeNode>;

    /// The device's held commands (queued, with a `held_reason`), top-level, oldest first,
    /// with children: those to check again when the mirror or the DDFs may have changed. At
    /// most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn held_commands(device_id: &str, limit: u32) -> Vec<CommandRecord>;

    /// [`next_queued`](Tx::next_queued) and [`held_commands`](Tx::held_commands) in one read
    /// (package 1). Held ones are listed only after up to `limit` ready ones.
    read fn queued_and_held(device_id: &str, limit: u32) -> (Vec<CommandRecord>, Vec<CommandRecord>);

    /// Store an operator DDF (its `id` is ignored); returns the new id. `Conflict` if its
    /// `name` exists.
    write fn create_ddf(ddf: &DdfRecord) -> i64;

    /// Every operator DDF, by id (at most [`MAX_DDFS`](crate::MAX_DDFS)); `document` is left
    /// empty unless `documents`.
    read fn list_ddfs(documents: bool) -> Vec<DdfRecord>;

    /// One operator DDF with its document.
    read fn get_ddf(id: i64) -> Option<DdfRecord>;

    /// Delete an operator DDF; `false` if it did not exist.
    write fn delete_ddf(id: i64) -> bool;

    /// Count, largest id and latest change of the operator DDFs: one cheap aggregate a node
    /// polls to see whether its in-memory DDFs are stale.
    read fn ddf_revision() -> DdfRevision;

    /// Store a received Generic Alert (its `id` is ignored); returns the new id.
    /// `NotFound` if the device does not exist.
    write fn add_generic_alert(alert: &GenericAlert) -> i64;

    /// Generic alerts, newest first, of one device or of all. At most `limit`, clamped to
    /// [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn list_generic_alerts(device_id: Option<&str>, limit: u32) -> Vec<GenericAlert>;

    /// Store a new session. `Conflict` if the token exists; `NotFound` if the device does
    /// not.
    write fn create_session(session: &SessionRecord) -> ();

    /// Update every mutable field of a session (all but `token`, `device_id` and
    /// `started_at`). `NotFound` if it does not exist.
    write fn update_session(session: &SessionRecord) -> ();

    /// A device's sessions, newest (by `started_at`) first. At most `limit`, clamped to
    /// [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn list_sessions(device_id: &str, limit: u32) -> Vec<SessionRecord>;

    /// Sessions still `active` whose last message came before `before`, the longest idle
    /// first: those to time out. At most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn idle_sessions(before: Millis, limit: u32) -> Vec<SessionRecord>;

    /// Append an audit entry (`detail` must hold no secrets); returns its id.
    write fn audit(
        actor: &str,
        action: &str,
        device_id: Option<&str>,
        detail: &serde_json::Value,
        now: Millis
    ) -> i64;

    /// Audit entries, newest first, of one device or of all. At most `limit`, clamped to
    /// [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn list_audit(device_id: Option<&str>, limit: u32) -> Vec<AuditEntry>;
}

api! {
    /// Store a push, `queued` and due now. Returns its id.
    write fn enqueue_push(push: &NewPush, now: Millis) -> i64;

    /// Lease up to `limit` due pushes for `lease_ms` (queued ones whose time has come, and
    /// those whose dispatcher's lease ran out), count the attempt, and return them with
    /// their PDU. Two dispatchers never get the same push while its lease runs
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer).
    write fn claim_pushes(now: Millis, lease_ms: i64, limit: u32) -> Vec<PushRecord>;

    /// Record what came of an attempt on a leased push; a retry past its attempts fails it.
    /// `NotFound` if the push is not being sent (its lease ran out and it was taken again).
    write fn finish_push(id: i64, outcome: &PushOutcome, now: Millis) -> PushRecord;

    /// A push by id.
    read fn get_push(id: i64) -> Option<PushRecord>;

    /// Pushes, newest first, of one device or all (at most `limit`, clamped to
    /// [`MAX_LIMIT`](crate::MAX_LIMIT)).
    read fn list_pushes(device_id: Option<&str>, limit: u32) -> Vec<PushRecord>;

    /// Record a device's bootstrap (replacing an earlier one).
    write fn set_bootstrap(bootstrap: &Bootstrap) -> ();

    /// A device's latest bootstrap.
    read fn get_bootstrap(device_id: &str) -> Option<Bootstrap>;

    /// The device opened an authenticated session: a pending bootstrap is done. `true` if one
    /// was pending.
    write fn mark_bootstrapped(device_id: &str, now: Millis) -> bool;
}

api! {
    /// Store a notification, `queued` and due now. Returns its id. `NotFound` if the device
    /// does not exist.
    write fn create_notification(notification: &NewNotification, now: Millis) -> i64;

    /// A notification by id, with the state of its latest push.
    read fn get_notification(id: i64) -> Option<NotificationRecord>;

    /// Notifications, newest first, of one device or all, optionally only those in `state`
    /// (at most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT)).
    read fn list_notifications(
        device_id: Option<&str>,
        state: Option<NotificationState>,
        limit: u32
    ) -> Vec<NotificationRecord>;

    /// How many notifications are out and unanswered (`sent`, `retried`, `fell_back`): what
    /// the outstanding cap counts.
    read fn outstanding_notifications() -> i64;

    /// Lease due notifications until `now + lease_ms`: up to `queued_limit` first sends
    /// (oldest due first) and up to `open_limit` others (re-sends, fallbacks, give-ups).
    /// Two schedulers never get the same one while its lease runs (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one writer).
    write fn claim_notifications(
        now: Millis,
        lease_ms: i64,
        queued_limit: u32,
        open_limit: u32
    ) -> Vec<NotificationRecord>;

    /// Record what the scheduler did with `claimed`, leased until `lease_until`: the new
    /// state, the push it queued, the next look. `None` (nothing changed) if the lease is no
    /// longer this one or a session answered it meanwhile.
    write fn step_notification(
        claimed: &NotificationRecord,
        lease_until: Millis,
        step: &NotificationStep,
        now: Millis
    ) -> Option<NotificationRecord>;

    /// The device opened a session whose SyncHdr/SessionID is `session_id`: every open
    /// notification of it is `session_opened`. One indexed statement; returns how many.
    write fn answer_notifications(device_id: &str, session_id: &str, now: Millis) -> u64;

    /// Set where the device is notified (its number and channel), keeping its DM version.
    /// `NotFound` if the device does not exist.
    write fn set_notification_target(
        device_id: &str,
        msisdn: Option<&str>,
        channel: Option<&str>,
        now: Millis
    ) -> ();

    /// Notify and manage the device with `dm_version` (`1.2` or `1.1.2`) from now on. `true`
    /// if that changed something.
    write fn set_notification_dm_version(device_id: &str, dm_version: &str, now: Millis) -> bool;

    /// Where and how the device is notified.
    read fn get_notification_target(device_id: &str) -> Option<NotificationTarget>;
}

api! {
    /// Store a campaign (`scheduled`) and select its devices (`pending`, due at once), split
    /// into waves. Returns its id and how many devices it has. `Invalid` for a bad name or
    /// waves.
    write fn create_campaign(campaign: &NewCampaign, now: Millis) -> (i64, i64);

    /// Set a campaign device's variables; `false` if the device is not in the campaign.
    write fn set_campaign_device_vars(
        campaign_id: i64,
        device_id: &str,
        vars: &std::collections::BTreeMap<String, String>
    ) -> bool;

    /// A campaign by id.
    read fn get_campaign(id: i64) -> Option<Campaign>;

    /// Campaigns, newest first, only those in `states` unless empty (at most `limit`,
    /// clamped to [`MAX_LIMIT`](crate::MAX_LIMIT), before the filter).
    read fn list_campaigns(states: &[CampaignState], limit: u32) -> Vec<Campaign>;

    /// Move a campaign from one of `from` to `to` (with a pause reason, or `None`). `false`
    /// if it was in none of them.
    write fn set_campaign_state(
        id: i64,
        from: &[CampaignState],
        to: CampaignState,
        reason: Option<&str>,
        now: Millis
    ) -> bool;

    /// How many devices of a campaign are in each state.
    read fn campaign_counts(id: i64) -> CampaignCounts;

    /// What admission needs: the open wave, admissions since `since`, devices in flight,
    /// and the outcome of the last `last_n` finished devices.
    read fn campaign_rollout_figures(id: i64, since: Millis, last_n: u32) -> RolloutFigures;

    /// Pending devices of `wave` due by `now`, oldest due first (PostgreSQL: locked, skipping
    /// locked ones). At most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT).
    read fn pending_campaign_devices(campaign_id: i64, wave: i32, now: Millis, limit: u32) -> Vec<CampaignDevice>;

    /// Lease in-flight devices (notified, in session) that are due, or whose device has sent
    /// a message since they were last looked at, to `owner` until `now + lease_ms`. Two
    /// claimers never get the same device while its lease runs (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one writer).
    write fn claim_campaign_devices(owner: &str, now: Millis, lease_ms: i64, limit: u32) -> Vec<CampaignDevice>;

    /// One device of a campaign.
    read fn get_campaign_device(campaign_id: i64, device_id: &str) -> Option<CampaignDevice>;

    /// Devices of a campaign by `device_id` after `after`, optionally only those in `state`
    /// (at most `limit`, clamped to [`MAX_LIMIT`](crate::MAX_LIMIT)).
    read fn list_campaign_devices(
        campaign_id: i64,
        state: Option<CampaignDeviceState>,
        after: Option<&str>,
        limit: u32
    ) -> Vec<CampaignDevice>;

    /// Write a device's next state, releasing its lease, only if it is still as `current`
    /// was read (same state, same lease owner and expiry). `false`: someone else moved it,
    /// and the caller must roll back whatever it queued in the same transaction.
    write fn advance_campaign_device(
        current: &CampaignDevice,
        update: &CampaignDeviceUpdate,
        now: Millis
    ) -> bool;

    /// Nothing to do yet: release the lease and look again at `next_at` (or when the device
    /// talks). `false` if the lease was no longer held.
    write fn release_campaign_device(current: &CampaignDevice, next_at: Millis, now: Millis) -> bool;

    /// Fail every unfinished device of a campaign with `reason` (cancel, deadline); returns
    /// them as they are now (their `command_ids` to withdraw).
    write fn fail_unfinished_campaign_devices(campaign_id: i64, reason: &str, now: Millis) -> Vec<CampaignDevice>;

    /// Put a campaign's failed devices back to `pending` with no attempts; returns how many.
    write fn retry_failed_campaign_devices(campaign_id: i64, now: Millis) -> u64;

    /// Withdraw a command (and its children) not yet sent: `queued` rows become `failed`.
    /// Returns how many rows changed.
    write fn cancel_queued_command(id: i64, now: Millis) -> u64;

    /// The device's latest Generic Alert carrying `correlator`.
    read fn find_generic_alert(device_id: &str, correlator: &str) -> Option<GenericAlert>;

    /// Store a firmware package (its `id` is ignored); returns the new id.
    write fn create_firmware(package: &FirmwarePackage) -> i64;

    /// A firmware package.
    read fn get_firmware(id: i64) -> Option<FirmwarePackage>;

    /// Firmware packages, newest first (at most 1000).
    read fn list_firmware() -> Vec<FirmwarePackage>;
}

api! {
    /// Keep messages of a session's transcript (after the session row exists). A `seq` kept
    /// already is left as it is.
    write fn add_session_messages(session_token: &str, messages: &[TranscriptMessage]) -> ();

    /// A session's transcript in order (at most 10,000 messages).
    read fn session_transcript(session_token: &str) -> Vec<TranscriptMessage>;

    /// Delete transcript messages older than `cutoff` (retention). Returns how many.
    write fn delete_transcripts_before(cutoff: Millis) -> u64;
}

api! {
    /// Put devices in a group (created by its first device). Devices already in it are left
    /// as they are; `NotFound` if a device does not exist. Returns how many were added.
    write fn add_to_group(group: &str, device_ids: &[String], now: Millis) -> u64;

    /// Take a device out of a group. `false` if it was not in it.
    write fn remove_from_group(group: &str, device_id: &str) -> bool;

    /// A group's devices in id order, those after `after` (keyset pagination), at most
    /// `limit` (clamped to [`MAX_LIMIT`](crate::MAX_LIMIT)).
    read fn group_devices(group: &str, after: Option<&str>, limit: u32) -> Vec<String>;

    /// Every group with its device count (at most 1000 groups).
    read fn list_groups() -> Vec<crate::GroupSummary>;
}
