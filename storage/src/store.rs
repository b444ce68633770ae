//! The store handle, connecting, migrations and transactions.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::conn::Conn;
use crate::error::StoreError;
use crate::model::{
    AuditEntry, CommandRecord, CommandSpec, CommandState, DdfRecord, DdfRevision, Device, DeviceChange,
    GenericAlert, InventoryItem, Millis, ResultItem, SessionRecord, TreeNode,
};
use crate::push::{Bootstrap, NewPush, PushOutcome, PushRecord};

/// How long SQLite waits for another writer's lock before failing with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections of a file-backed SQLite pool (readers run in parallel under WAL; writers are
/// serialised by SQLite itself).
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

/// The SQLite pool and the gate that lets one write transaction run at a time in this process.
///
/// SQLite has one writer anyway (`BEGIN IMMEDIATE` takes the database's write lock). Without
/// the gate, the waiting transactions hold pooled connections and sleep in SQLite's busy
/// handler (1 ms and more per retry), and every write invalidates the page cache of the
/// other connections; with it they queue in tokio and are woken as soon as the lock is free
/// (measured in BENCHMARKS.md, "Load").
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Semaphore>,
}

impl SqliteStore {
    /// The connection pool (for tests and tools that run their own SQL).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// An open write transaction. Dropped without [`Tx::commit`], it rolls back.
///
/// On SQLite it began with `BEGIN IMMEDIATE` after taking the process's write permit
/// ([`SqliteStore`]): it holds the database's write lock from the start, so transactions
/// never fail half-way on a lock upgrade and are fully serialised.
/// On PostgreSQL it is `READ COMMITTED`; [`Tx::get_session`] locks the session row
/// (`FOR UPDATE`) so two nodes never process messages of one session at once.
///
/// After any error the transaction should be dropped: on PostgreSQL a failed statement
/// aborts the whole transaction.
pub enum Tx {
    /// A SQLite transaction, and the process's write permit it holds until it ends.
    Sqlite(Transaction<'static, Sqlite>, OwnedSemaphorePermit),
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
    ///   [`SQLITE_MAX_CONNECTIONS`].
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
            let pool = if sqlite_in_memory(url) {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts)
                    .await?
            } else {
                SqlitePoolOptions::new()
                    .max_connections(SQLITE_MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(opts.journal_mode(SqliteJournalMode::Wal))
                    .await?
            };
            tracing::debug!(backend = "sqlite", in_memory = sqlite_in_memory(url), "connected");
            Ok(Store::Sqlite(SqliteStore { pool, writer: Arc::new(Semaphore::new(1)) }))
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
            Store::Sqlite(s) => migrator.run(&s.pool).await?,
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
            Store::Sqlite(s) => s.pool.close().await,
            Store::Postgres(p) => p.close().await,
        }
    }

    /// Begin a write transaction (`BEGIN IMMEDIATE` on SQLite; see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => {
                // The permit first: a queued writer holds no pooled connection.
                let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, s.writer.clone().acquire_owned())
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
                Tx::Sqlite(s.pool.begin_with("BEGIN IMMEDIATE").await?, permit)
            }
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
            Tx::Sqlite(t, _) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// Make every change of this transaction durable (SQLite: at the next WAL checkpoint
    /// with `synchronous = NORMAL`).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t, _permit) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Undo every change of this transaction (dropping it does the same).
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t, _permit) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Tx::Sqlite(..) => "sqlite",
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
    /// token cleared), so that a session that timed out or broke loses nothing. Returns how
    /// many rows changed.
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
