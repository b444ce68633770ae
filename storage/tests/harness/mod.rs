//! The harness both storage test files share: one store per test on each backend (a SQLite
//! file, `sqlite::memory:`, a fresh PostgreSQL database from `OMADM_TEST_PG_URL`), cleaned up
//! after the test.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use omadm_storage::Store;
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

pub enum Cleanup {
    None,
    Files(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

/// A unique-enough suffix without a random-number crate.
pub fn unique() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

/// The PostgreSQL URL to test against, `None` to skip (unset and not in CI).
pub fn pg_url() -> Option<String> {
    match std::env::var("OMADM_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "OMADM_TEST_PG_URL is not set and CI=true: the PostgreSQL contract tests \
                     must run in CI (e.g. OMADM_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
                );
            }
            // Once, and straight to stderr: `eprintln!` would be captured by the test harness.
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "note: OMADM_TEST_PG_URL is not set; the PostgreSQL contract tests pass \
                     without running (set it, e.g. postgres://postgres@127.0.0.1:5432/test, \
                     to run them)"
                );
            });
            None
        }
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    match sqlx::PgConnection::connect(admin_url).await {
        Ok(c) => c,
        Err(e) => panic!("OMADM_TEST_PG_URL is set but PostgreSQL is unreachable: {e}"),
    }
}

/// A fresh, migrated store of `backend`; `None` when the backend is skipped.
pub async fn open(backend: Backend) -> Option<(Store, Cleanup)> {
    let (url, cleanup) = match backend {
        Backend::SqliteMemory => ("sqlite::memory:".to_string(), Cleanup::None),
        Backend::SqliteFile => {
            let path = std::env::temp_dir().join(format!("omadm-test-{}.db", unique()));
            (format!("sqlite://{}", path.display()), Cleanup::Files(path))
        }
        Backend::Postgres => {
            let admin_url = pg_url()?;
            let name = format!("omadm_test_{}", unique());
            let mut admin = admin_connection(&admin_url).await;
            // A linguistic default collation (ICU en-US) where the server has ICU, as a
            // production database may have: the schema must still order ids byte-wise.
            let icu = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu \
                 ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )))
            .execute(&mut admin)
            .await;
            if icu.is_err() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .expect("CREATE DATABASE");
            }
            admin.close().await.ok();
            (with_database(&admin_url, &name), Cleanup::PgDatabase { admin_url, name })
        }
    };
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Some((store, cleanup))
}

pub async fn cleanup(store: Store, cleanup: Cleanup) {
    store.close().await;
    match cleanup {
        Cleanup::None => {}
        Cleanup::Files(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        Cleanup::PgDatabase { admin_url, name } => {
            let mut admin = admin_connection(&admin_url).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .expect("DROP DATABASE");
            admin.close().await.ok();
        }
    }
}

/// Run one contract test on one backend; the database is removed even when the test fails.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some((store, c)) = open(backend).await else {
        return;
    };
    // Spawned: the test's futures must be `Send` (as in the server), and a panic is caught.
    let outcome = tokio::spawn(test(store.clone())).await;
    cleanup(store, c).await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}
