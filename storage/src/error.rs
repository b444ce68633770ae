//! The one error type of the storage layer.

/// What went wrong in the store.
///
/// The messages never contain bound values (device secrets, nonces, session state): for a
/// database error they carry the driver's primary message only (SQLite's message, PostgreSQL's
/// `message` field, not its `detail`, which may quote key values). `Debug` prints the same
/// redacted text, so `{:?}` in a log line is safe too.
#[derive(thiserror::Error)]
pub enum StoreError {
    /// The record already exists (e.g. a device id or a session token taken).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record (or the one it refers to, e.g. the device of a command) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller passed something that cannot be stored (e.g. a command without an op).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database failed (connection, I/O, constraint, SQL).
    #[error("database error: {}", redact(.0))]
    Database(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not one we can use (the URL itself is not repeated: it may hold a
    /// password).
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// A stored value does not parse (unknown state, bad JSON, out-of-range number): the
    /// database was changed behind our back or by a newer version.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl std::fmt::Debug for StoreError {
    /// Same as `Display`: the derived `Debug` of `sqlx::Error` would print PostgreSQL's
    /// `detail` (which quotes key values).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreError({self})")
    }
}

impl StoreError {
    /// Whether retrying the whole transaction may succeed: SQLite busy/locked, PostgreSQL
    /// serialization failure or deadlock, or a pool timeout.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                let code = db.code().unwrap_or_default();
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // Extended result code; the low byte is the primary one:
                    // SQLITE_BUSY (5), SQLITE_LOCKED (6).
                    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
                } else {
                    // SQLSTATE: serialization_failure, deadlock_detected, lock_not_available.
                    matches!(&*code, "40001" | "40P01" | "55P03")
                }
            }
            _ => false,
        }
    }
}

/// The text of a sqlx error without bound values.
fn redact(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            // `message()` is SQLite's message or PostgreSQL's primary message; neither quotes
            // parameter values for the errors our statements can raise.
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_string(),
        },
        // Configuration errors may echo the URL (and its password).
        sqlx::Error::Configuration(_) => "configuration error".to_string(),
        other => other.to_string(),
    }
}

/// Map unique / foreign-key violations of a write to `Conflict` / `NotFound` with `what`.
pub(crate) fn classify(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(what());
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound(what());
        }
    }
    StoreError::Database(e)
}
