//! The campaign storage contract on every backend (SQLite file, `sqlite::memory:`,
//! PostgreSQL from `OMADM_TEST_PG_URL`, as in `contract.rs`): device selection and waves,
//! leases that never give one device to two claimers, guarded state transitions, counters.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use omadm_storage::{
    CampaignDevice, CampaignDeviceState as S, CampaignDeviceUpdate, CampaignKind, CampaignState,
    ClientAuthType, Device, InventoryItem, NewCampaign, Store, TargetSelector,
};
use serde_json::json;
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
enum Backend {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

enum Cleanup {
    None,
    Files(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

/// A unique-enough suffix without a random-number crate.
fn unique() -> String {
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
fn pg_url() -> Option<String> {
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
fn with_database(url: &str, name: &str) -> String {
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

async fn admin_connection(admin_url: &str) -> sqlx::PgConnection {
    match sqlx::PgConnection::connect(admin_url).await {
        Ok(c) => c,
        Err(e) => panic!("OMADM_TEST_PG_URL is set but PostgreSQL is unreachable: {e}"),
    }
}

/// A fresh, migrated store of `backend`; `None` when the backend is skipped.
async fn open(backend: Backend) -> Option<(Store, Cleanup)> {
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

async fn cleanup(store: Store, cleanup: Cleanup) {
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
async fn run<F, Fut>(backend: Backend, test: F)
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

fn device(id: &str) -> Device {
    Device {
        device_id: id.to_string(),
        client_auth_type: ClientAuthType::Md5,
        client_username: "user".into(),
        client_secret: "Y2xpZW50LXNlY3JldA==".into(),
        client_nonce: "Y25vbmNl".into(),
        server_id: "omadm".into(),
        server_secret: None,
        server_nonce: "c25vbmNl".into(),
        dm_version: None,
        created_at: 1_000,
        updated_at: 1_000,
        last_session_at: None,
    }
}

fn campaign(target: TargetSelector, waves: Vec<u32>) -> NewCampaign {
    NewCampaign {
        name: "c".into(),
        kind: CampaignKind::Fumo,
        target,
        payload: json!({"firmware_id": 1}),
        policy: json!({}),
        start_at: 0,
        deadline_at: None,
        waves,
    }
}

/// `n` devices `IMEI:0000`..; the even ones report Man `Acme`, the others `Other`.
async fn devices(store: &Store, n: usize) {
    for i in 0..n {
        let id = format!("IMEI:{i:04}");
        store.create_device(&device(&id)).await.unwrap();
        let man = if i % 2 == 0 { "Acme" } else { "Other" };
        let items = [
            InventoryItem { uri: "./DevInfo/Man".into(), format: None, value: man.into(), updated_at: 1 },
            InventoryItem {
                uri: "./DevDetail/FwV".into(),
                format: None,
                value: "fw-7".into(),
                updated_at: 1,
            },
        ];
        store.upsert_inventory(&id, &items).await.unwrap();
    }
}

/// Admit every pending device of wave 0 (as the engine does, under the campaign's lock).
async fn admit_all(store: &Store, id: i64, now: i64) -> usize {
    let mut tx = store.begin().await.unwrap();
    tx.lock_campaign(id).await.unwrap().unwrap();
    let pending = tx.pending_campaign_devices(id, 0, now, 1000).await.unwrap();
    for cd in &pending {
        let up = CampaignDeviceUpdate {
            state: S::Notified,
            step: Some("exec".into()),
            reason: None,
            attempts: 1,
            next_at: now + 60_000,
            command_ids: vec![],
            data: json!({}),
        };
        assert!(tx.advance_campaign_device(cd, &up, now).await.unwrap());
    }
    tx.commit().await.unwrap();
    pending.len()
}

async fn selection_and_waves(store: Store) {
    devices(&store, 20).await;
    let (id, total) = store
        .create_campaign(
            &campaign(TargetSelector { man: Some("Acme".into()), ..Default::default() }, vec![20, 100]),
            5,
        )
        .await
        .unwrap();
    assert_eq!(total, 10);
    let all = store.list_campaign_devices(id, None, None, 100).await.unwrap();
    assert!(all.iter().all(|d| d.state == S::Pending));
    let waves: BTreeMap<i32, usize> = all.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(d.wave).or_default() += 1;
        m
    });
    assert_eq!(waves, BTreeMap::from([(0, 2), (1, 8)]));
    // An explicit list, filtered too: odd devices are not Acme; unknown ids are skipped.
    let ids = vec!["IMEI:0000".into(), "IMEI:0001".into(), "IMEI:0002".into(), "IMEI:9999".into()];
    let sel = TargetSelector { man: Some("Acme".into()), device_ids: Some(ids), ..Default::default() };
    let (id2, total2) = store.create_campaign(&campaign(sel, vec![]), 5).await.unwrap();
    assert_eq!(total2, 2);
    let c = store.get_campaign(id2).await.unwrap().unwrap();
    assert_eq!(c.state, CampaignState::Scheduled);
    assert_eq!(
        c.target,
        json!({"man": "Acme", "device_ids": ["IMEI:0000", "IMEI:0001", "IMEI:0002", "IMEI:9999"]})
    );
    let counts = store.campaign_counts(id).await.unwrap();
    assert_eq!((counts.total, counts.pending), (10, 10));
    let f = store.campaign_rollout_figures(id, 0, 10).await.unwrap();
    assert_eq!((f.open_wave, f.active, f.admitted_since), (Some(0), 0, 0));
}

async fn leases_are_exclusive(store: Store) {
    devices(&store, 300).await;
    let (id, total) = store.create_campaign(&campaign(TargetSelector::default(), vec![]), 0).await.unwrap();
    assert_eq!(total, 300);
    assert_eq!(admit_all(&store, id, 1_000).await, 300);
    // Eight claimers at once, each taking up to 25 per claim until none are left.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got =
                    store.claim_campaign_devices(&format!("node-{n}"), 100_000, 60_000, 25).await.unwrap();
                if got.is_empty() {
                    break;
                }
                assert!(got.iter().all(|d| d.lease_owner.as_deref() == Some(&format!("node-{n}"))));
                mine.extend(got.into_iter().map(|d| d.device_id));
            }
            mine
        }));
    }
    let mut seen = BTreeSet::new();
    for t in tasks {
        for d in t.await.unwrap() {
            assert!(seen.insert(d.clone()), "{d} was given to two claimers");
        }
    }
    assert_eq!(seen.len(), 300);
    // While the leases run nobody gets them; after they run out they are due again.
    assert!(store.claim_campaign_devices("late", 100_001, 60_000, 100).await.unwrap().is_empty());
    assert_eq!(store.claim_campaign_devices("late", 200_000, 60_000, 1000).await.unwrap().len(), 300);
}

async fn transitions_are_guarded(store: Store) {
    devices(&store, 3).await;
    let (id, _) = store.create_campaign(&campaign(TargetSelector::default(), vec![]), 0).await.unwrap();
    admit_all(&store, id, 1_000).await;
    let done = CampaignDeviceUpdate {
        state: S::Succeeded,
        step: None,
        reason: None,
        attempts: 1,
        next_at: 0,
        command_ids: vec![7],
        data: json!({"fwv": "fw-8"}),
    };
    // Not yet due (next_at is 61 000) and the devices have not talked: nothing to claim.
    assert!(store.claim_campaign_devices("a", 2_000, 10_000, 10).await.unwrap().is_empty());
    // A device that sent a message since the last look is due at once.
    let mut d0 = device("IMEI:0000");
    d0.updated_at = 5_000;
    store.update_device(&d0).await.unwrap();
    let a: Vec<CampaignDevice> = store.claim_campaign_devices("a", 6_000, 10_000, 10).await.unwrap();
    assert_eq!(a.iter().map(|d| d.device_id.as_str()).collect::<Vec<_>>(), ["IMEI:0000"]);
    // Node a stalls; its lease runs out and node b takes the device.
    let b = store.claim_campaign_devices("b", 17_000, 10_000, 10).await.unwrap();
    assert_eq!(b.len(), 1);
    assert!(
        !store.advance_campaign_device(&a[0], &done, 17_500).await.unwrap(),
        "stale lease must not write"
    );
    assert!(store.advance_campaign_device(&b[0], &done, 17_500).await.unwrap());
    let row = store.get_campaign_device(id, "IMEI:0000").await.unwrap().unwrap();
    assert_eq!((row.state, row.finished_at, row.lease_owner.clone()), (S::Succeeded, Some(17_500), None));
    assert_eq!(row.command_ids, vec![7]);
    // A cancel wins over a node working on a device.
    let c = store.claim_campaign_devices("c", 70_000, 10_000, 10).await.unwrap();
    assert_eq!(c.len(), 2);
    let failed = store.fail_unfinished_campaign_devices(id, "cancelled", 70_001).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert!(!store.advance_campaign_device(&c[0], &done, 70_002).await.unwrap());
    assert!(!store.release_campaign_device(&c[1], 90_000, 70_002).await.unwrap());
    let counts = store.campaign_counts(id).await.unwrap();
    assert_eq!((counts.succeeded, counts.failed, counts.unfinished()), (1, 2, 0));
    let f = store.campaign_rollout_figures(id, 0, 2).await.unwrap();
    assert_eq!((f.open_wave, f.recent_finished, f.recent_failed), (None, 2, 2));
    // Retry: the failed go back to pending.
    assert_eq!(store.retry_failed_campaign_devices(id, 80_000).await.unwrap(), 2);
    let counts = store.campaign_counts(id).await.unwrap();
    assert_eq!((counts.pending, counts.succeeded), (2, 1));
    assert!(
        store
            .set_campaign_state(id, &[CampaignState::Scheduled], CampaignState::Running, None, 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_campaign_state(id, &[CampaignState::Paused], CampaignState::Running, None, 1)
            .await
            .unwrap()
    );
}

macro_rules! on_every_backend {
    ($($name:ident => $body:ident;)*) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite_file() { run(Backend::SqliteFile, $body).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite_memory() { run(Backend::SqliteMemory, $body).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() { run(Backend::Postgres, $body).await }
            }
        )*
    };
}

on_every_backend! {
    selection => selection_and_waves;
    leases => leases_are_exclusive;
    transitions => transitions_are_guarded;
}
