//! The storage contract, run against every backend: a SQLite file, `sqlite::memory:` and
//! PostgreSQL.
//!
//! PostgreSQL comes from `OMADM_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! each test creates a fresh database `omadm_test_<random>` through it and drops it at the
//! end, so the tests run in parallel. When the variable is unset the PostgreSQL tests fail
//! if `CI=true` and are skipped with a note otherwise; when it is set but the server is
//! unreachable they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use omadm_storage::{
    AuditEntry, Bootstrap, BootstrapState, ClientAuthType, CommandRecord, CommandSpec, CommandState,
    DdfRecord, DdfRevision, Device, DeviceChange, Direction, GenericAlert, InventoryItem, MAX_LIMIT,
    NewNotification, NewPush, NotificationPolicy, NotificationRecord, NotificationState, NotificationStep,
    Op, PushKind, PushOutcome, PushState, ResultItem, SessionOutcome, SessionRecord, Store, StoreError,
    TranscriptMessage, TreeNode,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

mod harness;

use harness::*;

/// Each listed `async fn(Store)` becomes one test per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::run(crate::harness::Backend::SqliteFile, crate::$name).await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::run(crate::harness::Backend::SqliteMemory, crate::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::run(crate::harness::Backend::Postgres, crate::$name).await;
                }
            )*
        }
    };
}

contract!(
    migrate_is_idempotent,
    device_create_get_update,
    device_conflict,
    device_nonces_and_session,
    list_devices_keyset,
    delete_device_cascades,
    inventory_upsert_and_order,
    enqueue_and_get_tree,
    enqueue_rejects_invalid,
    next_queued_order_with_children,
    command_lifecycle,
    requeue_sent_restores_queue,
    generic_alerts,
    sessions,
    idle_sessions,
    audit_log,
    limits_are_clamped,
    tx_dropped_leaves_nothing,
    tx_sees_own_writes,
    session_lock_serialises,
    concurrent_writers,
    corrupt_data_is_an_error,
    errors_hide_secrets,
    tree_mirror,
    held_and_forced_commands,
    push_delivery_lifecycle,
    session_transcripts,
    pushes_claimed_once,
    bootstrap_state,
    held_commands_listed,
    operator_ddfs,
    notification_schedule,
    notification_answered_by_a_session,
    notifications_claimed_once,
    notification_targets,
);

/// Run raw SQL (to inspect or damage the database behind the API).
async fn raw(store: &Store, sql: &'static str) {
    match store {
        Store::Sqlite(p) => {
            sqlx::query(sql).execute(p.pool()).await.expect("raw SQL");
        }
        Store::Postgres(p) => {
            sqlx::query(sql).execute(p).await.expect("raw SQL");
        }
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p.pool()).await.expect("count"),
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.expect("count"),
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn device(id: &str) -> Device {
    Device {
        device_id: id.to_string(),
        client_auth_type: ClientAuthType::Md5,
        client_username: "user".into(),
        client_secret: "Y2xpZW50LXNlY3JldA==".into(),
        client_nonce: "Y25vbmNl".into(),
        server_id: "omadm".into(),
        server_secret: Some("c2VydmVyLXNlY3JldA==".into()),
        server_nonce: "c25vbmNl".into(),
        dm_version: None,
        created_at: 1_000,
        updated_at: 1_000,
        last_session_at: None,
    }
}

fn leaf(op: Op, target: &str) -> CommandSpec {
    CommandSpec { op: Some(op), target: Some(target.to_string()), ..CommandSpec::default() }
}

fn container(op: Op, children: Vec<CommandSpec>) -> CommandSpec {
    CommandSpec { op: Some(op), children, ..CommandSpec::default() }
}

fn session(token: &str, device_id: &str, started_at: i64) -> SessionRecord {
    SessionRecord {
        token: token.to_string(),
        device_id: device_id.to_string(),
        dm_session_id: "1".into(),
        dm_version: "1.2".into(),
        started_at,
        last_activity_at: started_at,
        ended_at: None,
        messages_in: 0,
        messages_out: 0,
        outcome: SessionOutcome::Active,
        state: json!({"phase": "auth"}),
    }
}

fn alert(device_id: &str, data: &str, at: i64) -> GenericAlert {
    GenericAlert {
        id: 0,
        device_id: device_id.to_string(),
        session_token: Some("tok".into()),
        alert_type: Some("org.openmobilealliance.dm.firmwareupdate.download".into()),
        format: Some("int".into()),
        mark: Some("critical".into()),
        source: Some("./FUMO/Download".into()),
        data: Some(data.to_string()),
        correlator: Some("corr-1".into()),
        received_at: at,
    }
}

/// Ids of a tree in pre-order.
fn ids(rec: &CommandRecord) -> Vec<i64> {
    let mut out = vec![rec.id];
    for c in &rec.children {
        out.extend(ids(c));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------------------

async fn migrate_is_idempotent(s: Store) {
    s.migrate().await.expect("second migrate");
    s.ping().await.expect("ping");
    assert!(matches!(s.backend_name(), "sqlite" | "postgres"));
}

async fn device_create_get_update(s: Store) {
    let d = device("IMEI:493005100592800");
    s.create_device(&d).await.unwrap();
    assert_eq!(s.get_device(&d.device_id).await.unwrap(), Some(d.clone()));
    assert_eq!(s.get_device("IMEI:0").await.unwrap(), None);

    let mut changed = d.clone();
    changed.client_auth_type = ClientAuthType::Hmac;
    changed.client_secret = "bmV3".into();
    changed.server_secret = None;
    changed.updated_at = 2_000;
    s.update_device(&changed).await.unwrap();
    assert_eq!(s.get_device(&d.device_id).await.unwrap(), Some(changed));

    let err = s.update_device(&device("IMEI:0")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

async fn device_conflict(s: Store) {
    let d = device("dev-1");
    s.create_device(&d).await.unwrap();
    let mut other = device("dev-1");
    other.client_username = "intruder".into();
    let err = s.create_device(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(s.get_device("dev-1").await.unwrap(), Some(d));

    // Inside a transaction the conflict does not poison it (PostgreSQL aborts a
    // transaction on a failed statement; ON CONFLICT DO NOTHING avoids the failure).
    let mut tx = s.begin().await.unwrap();
    assert!(matches!(tx.create_device(&other).await, Err(StoreError::Conflict(_))));
    tx.create_device(&device("dev-2")).await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.get_device("dev-2").await.unwrap().is_some());
}

async fn device_nonces_and_session(s: Store) {
    let d = device("dev");
    s.create_device(&d).await.unwrap();

    let nonce = |c: Option<&'static str>, sv: Option<&'static str>| DeviceChange {
        client_nonce: c,
        server_nonce: sv,
        session_version: None,
    };
    s.update_device_after_message("dev", &nonce(Some("bmV3LWM="), None), 2_000).await.unwrap();
    let got = s.get_device("dev").await.unwrap().unwrap();
    assert_eq!(got.client_nonce, "bmV3LWM=");
    assert_eq!(got.server_nonce, d.server_nonce);
    assert_eq!(got.updated_at, 2_000);
    assert_eq!(got.last_session_at, None, "no session recorded by a nonce change");

    s.update_device_after_message("dev", &nonce(None, Some("bmV3LXM=")), 3_000).await.unwrap();
    let got = s.get_device("dev").await.unwrap().unwrap();
    assert_eq!(got.client_nonce, "bmV3LWM=");
    assert_eq!(got.server_nonce, "bmV3LXM=");

    let session =
        DeviceChange { client_nonce: Some("bmV4dA=="), session_version: Some("1.1.2"), ..nonce(None, None) };
    s.update_device_after_message("dev", &session, 4_000).await.unwrap();
    let got = s.get_device("dev").await.unwrap().unwrap();
    assert_eq!(got.dm_version.as_deref(), Some("1.1.2"));
    assert_eq!(got.last_session_at, Some(4_000));
    assert_eq!(got.updated_at, 4_000);
    assert_eq!(got.created_at, 1_000);
    assert_eq!(got.client_nonce, "bmV4dA==");
    assert_eq!(got.server_nonce, "bmV3LXM=");

    s.update_device_after_message("dev", &nonce(None, None), 5_000).await.unwrap();
    let got = s.get_device("dev").await.unwrap().unwrap();
    assert_eq!((got.last_session_at, got.dm_version.as_deref()), (Some(4_000), Some("1.1.2")));

    assert!(matches!(
        s.update_device_after_message("nope", &nonce(Some("x"), None), 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn list_devices_keyset(s: Store) {
    // Byte order on both backends: upper case before lower case, ':' after digits.
    let ids = ["imei:2", "IMEI:10", "IMEI:2", "IMEI:1", "MEID:1", "imei:1", "IMEI:1:0"];
    for id in ids {
        s.create_device(&device(id)).await.unwrap();
    }
    let mut expected: Vec<&str> = ids.to_vec();
    expected.sort(); // Rust's str order is byte order
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_devices(after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|d| d.device_id.clone());
        seen.extend(page.into_iter().map(|d| d.device_id));
    }
    assert_eq!(seen, expected);
    assert_eq!(s.list_devices(None, 0).await.unwrap(), vec![]);
    assert_eq!(s.list_devices(Some("zzz"), 10).await.unwrap(), vec![]);
}

async fn delete_device_cascades(s: Store) {
    for id in ["gone", "kept"] {
        s.create_device(&device(id)).await.unwrap();
        s.upsert_inventory(
            id,
            &[InventoryItem {
                uri: "./DevInfo/Man".into(),
                format: Some("chr".into()),
                value: "ACME".into(),
                updated_at: 5,
            }],
        )
        .await
        .unwrap();
        let cmd = s
            .enqueue_command(id, &container(Op::Atomic, vec![leaf(Op::Get, "./DevInfo/Mod")]), 10)
            .await
            .unwrap();
        let tree = s.get_command(id, cmd).await.unwrap().unwrap();
        s.add_results(
            tree.children[0].id,
            &[ResultItem {
                source: "./DevInfo/Mod".into(),
                format: None,
                mime_type: None,
                data: "X1".into(),
            }],
            11,
        )
        .await
        .unwrap();
        s.add_generic_alert(&alert(id, "200", 12)).await.unwrap();
        s.create_session(&session(&format!("tok-{id}"), id, 13)).await.unwrap();
        s.audit("api", "device.create", Some(id), &json!({}), 14).await.unwrap();
    }
    assert_eq!(count(&s, "SELECT COUNT(*) FROM command_results").await, 2);

    assert!(s.delete_device("gone").await.unwrap());
    assert!(!s.delete_device("gone").await.unwrap());

    assert_eq!(s.get_device("gone").await.unwrap(), None);
    assert!(s.list_inventory("gone").await.unwrap().is_empty());
    assert!(s.list_commands("gone", None, 10).await.unwrap().is_empty());
    assert!(s.list_generic_alerts(Some("gone"), 10).await.unwrap().is_empty());
    assert!(s.list_sessions("gone", 10).await.unwrap().is_empty());
    assert_eq!(s.get_session("tok-gone").await.unwrap(), None);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM commands WHERE device_id = 'gone'").await, 0);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM command_results").await, 1);
    // The audit log outlives the device.
    assert_eq!(s.list_audit(Some("gone"), 10).await.unwrap().len(), 1);

    // The other device is untouched.
    assert_eq!(s.list_inventory("kept").await.unwrap().len(), 1);
    assert_eq!(s.list_commands("kept", None, 10).await.unwrap().len(), 1);
    assert_eq!(s.list_generic_alerts(Some("kept"), 10).await.unwrap().len(), 1);
    assert!(s.get_session("tok-kept").await.unwrap().is_some());
}

async fn inventory_upsert_and_order(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let item = |uri: &str, value: &str, at: i64| InventoryItem {
        uri: uri.to_string(),
        format: Some("chr".into()),
        value: value.to_string(),
        updated_at: at,
    };
    s.upsert_inventory(
        "dev",
        &[
            item("./DevInfo/Man", "ACME", 1),
            item("./DevDetail/SwV", "1.0", 1),
            item("./DevInfo/Lang", "en", 1),
        ],
    )
    .await
    .unwrap();
    let mut newer = item("./DevDetail/SwV", "2.0", 2);
    newer.format = None;
    s.upsert_inventory("dev", std::slice::from_ref(&newer)).await.unwrap();
    let got = s.list_inventory("dev").await.unwrap();
    assert_eq!(got, vec![newer, item("./DevInfo/Lang", "en", 1), item("./DevInfo/Man", "ACME", 1),]);
    s.upsert_inventory("dev", &[]).await.unwrap();
    // One call naming a URI twice keeps the last value; large calls go in several statements.
    let many: Vec<_> = (0..1200).map(|i| item(&format!("./Vendor/{i:04}"), "v", 3)).collect();
    s.upsert_inventory("dev", &many).await.unwrap();
    s.upsert_inventory("dev", &[item("./DevInfo/Lang", "de", 4), item("./DevInfo/Lang", "fr", 5)])
        .await
        .unwrap();
    let got = s.list_inventory("dev").await.unwrap();
    assert_eq!(got.len(), 1203);
    assert!(got.contains(&item("./DevInfo/Lang", "fr", 5)));
    assert!(got.contains(&item("./Vendor/1199", "v", 3)));
    assert!(matches!(s.upsert_inventory("nope", &[item("./x", "y", 1)]).await, Err(StoreError::NotFound(_))));
    assert!(s.list_inventory("nope").await.unwrap().is_empty());
}

async fn enqueue_and_get_tree(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    s.create_device(&device("other")).await.unwrap();
    let replace = CommandSpec {
        op: Some(Op::Replace),
        target: Some("./Vendor/Setting".into()),
        data: Some("42".into()),
        format: Some("int".into()),
        mime_type: Some("text/plain".into()),
        ..CommandSpec::default()
    };
    let alert = CommandSpec {
        op: Some(Op::Alert),
        alert_code: Some(1103),
        texts: vec!["MINDT=10".into(), "Pick one".into(), "A".into(), "B".into()],
        ..CommandSpec::default()
    };
    let copy = CommandSpec {
        op: Some(Op::Copy),
        source: Some("./A".into()),
        target: Some("./B".into()),
        ..CommandSpec::default()
    };
    let spec = container(
        Op::Atomic,
        vec![
            replace.clone(),
            container(Op::Sequence, vec![alert.clone(), leaf(Op::Exec, "./FUMO/Update")]),
            copy.clone(),
        ],
    );
    let id = s.enqueue_command("dev", &spec, 100).await.unwrap();
    let tree = s.get_command("dev", id).await.unwrap().unwrap();

    assert_eq!(tree.id, id);
    assert_eq!(tree.device_id, "dev");
    assert_eq!(tree.parent_id, None);
    assert_eq!(tree.position, 0);
    assert_eq!(tree.spec.op, Some(Op::Atomic));
    assert!(tree.spec.children.is_empty(), "children live in `children`");
    assert_eq!(tree.state, CommandState::Queued);
    assert_eq!(tree.status, None);
    assert_eq!(tree.session_token, None);
    assert_eq!((tree.created_at, tree.updated_at), (100, 100));
    assert_eq!(tree.children.len(), 3);
    assert_eq!(tree.children[0].spec, replace);
    assert_eq!(tree.children[2].spec, copy);
    let seq = &tree.children[1];
    assert_eq!(seq.spec.op, Some(Op::Sequence));
    assert_eq!(seq.parent_id, Some(id));
    assert_eq!(seq.children[0].spec, alert);
    assert_eq!(seq.children[1].spec, leaf(Op::Exec, "./FUMO/Update"));
    for (i, c) in tree.children.iter().enumerate() {
        assert_eq!(c.position, i as i32);
        assert_eq!(c.parent_id, Some(id));
        assert_eq!(c.state, CommandState::Queued);
    }
    for (i, c) in seq.children.iter().enumerate() {
        assert_eq!(c.position, i as i32);
        assert_eq!(c.parent_id, Some(seq.id));
    }
    assert_eq!(ids(&tree).len(), 6);

    // A child on its own, with its subtree.
    let sub = s.get_command("dev", seq.id).await.unwrap().unwrap();
    assert_eq!(&sub, seq);
    // Another device's id space.
    assert_eq!(s.get_command("other", id).await.unwrap(), None);
    assert_eq!(s.get_command("dev", id + 1000).await.unwrap(), None);
}

async fn enqueue_rejects_invalid(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let invalid = [
        CommandSpec::default(),
        CommandSpec { op: Some(Op::Get), children: vec![leaf(Op::Get, "./a")], ..CommandSpec::default() },
        container(Op::Atomic, vec![]),
        container(Op::Sequence, vec![CommandSpec::default()]),
        (0..10).fold(leaf(Op::Get, "./deep"), |inner, _| container(Op::Sequence, vec![inner])),
        container(Op::Atomic, vec![leaf(Op::Get, "./a"); 1000]),
    ];
    for spec in &invalid {
        let err = s.enqueue_command("dev", spec, 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
    assert!(s.list_commands("dev", None, 100).await.unwrap().is_empty());
    assert_eq!(count(&s, "SELECT COUNT(*) FROM commands").await, 0);

    let err = s.enqueue_command("nope", &leaf(Op::Get, "./a"), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

async fn next_queued_order_with_children(s: Store) {
    s.create_device(&device("a")).await.unwrap();
    s.create_device(&device("b")).await.unwrap();
    let c1 = s.enqueue_command("a", &leaf(Op::Get, "./1"), 1).await.unwrap();
    s.enqueue_command("b", &leaf(Op::Get, "./b"), 2).await.unwrap();
    let c2 = s
        .enqueue_command(
            "a",
            &container(
                Op::Atomic,
                vec![
                    leaf(Op::Replace, "./2/a"),
                    container(Op::Sequence, vec![leaf(Op::Exec, "./2/b/x"), leaf(Op::Get, "./2/b/y")]),
                    leaf(Op::Delete, "./2/c"),
                ],
            ),
            3,
        )
        .await
        .unwrap();
    let c3 = s.enqueue_command("a", &leaf(Op::Add, "./3"), 4).await.unwrap();

    let q = s.next_queued("a", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c1, c2, c3]);
    let atomic = &q[1];
    let targets: Vec<_> = atomic.children.iter().map(|c| c.spec.target.clone().unwrap_or_default()).collect();
    assert_eq!(targets, vec!["./2/a", "", "./2/c"]);
    let seq: Vec<_> = atomic.children[1].children.iter().map(|c| c.spec.target.clone().unwrap()).collect();
    assert_eq!(seq, vec!["./2/b/x", "./2/b/y"]);
    assert_eq!(ids(atomic).len(), 6);

    // The limit counts top-level commands; trees stay whole.
    let q = s.next_queued("a", 2).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c1, c2]);
    assert_eq!(ids(&q[1]).len(), 6);

    // Sent ones leave the queue (the caller marks the children too).
    s.mark_sent(&[c1], "tok", 5).await.unwrap();
    s.mark_sent(&ids(&q[1]), "tok", 5).await.unwrap();
    let q = s.next_queued("a", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c3]);
    assert_eq!(s.next_queued("b", 10).await.unwrap().len(), 1);
    assert!(s.next_queued("nope", 10).await.unwrap().is_empty());
    assert!(s.next_queued("a", 0).await.unwrap().is_empty());

    // More ids than one statement carries.
    let mut bulk = Vec::new();
    for i in 0..1100 {
        bulk.push(s.enqueue_command("b", &leaf(Op::Get, &format!("./n/{i}")), 6).await.unwrap());
    }
    assert_eq!(s.mark_sent(&bulk, "tok2", 7).await.unwrap(), 1100);
    assert_eq!(s.next_queued("b", 10).await.unwrap().len(), 1);
}

async fn command_lifecycle(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let get = s.enqueue_command("dev", &leaf(Op::Get, "./DevInfo"), 10).await.unwrap();
    let seq =
        s.enqueue_command("dev", &container(Op::Sequence, vec![leaf(Op::Replace, "./x")]), 11).await.unwrap();
    let seq_tree = s.get_command("dev", seq).await.unwrap().unwrap();
    let child = seq_tree.children[0].id;

    assert_eq!(s.mark_sent(&[get, seq, child], "tok-1", 20).await.unwrap(), 3);
    let sent = s.get_command("dev", get).await.unwrap().unwrap();
    assert_eq!(sent.state, CommandState::Sent);
    assert_eq!(sent.session_token.as_deref(), Some("tok-1"));
    assert_eq!(sent.updated_at, 20);
    let sent_seq = s.get_command("dev", seq).await.unwrap().unwrap();
    assert_eq!(sent_seq.children[0].state, CommandState::Sent);

    let items = [
        ResultItem {
            source: "./DevInfo/Man".into(),
            format: Some("chr".into()),
            mime_type: Some("text/plain".into()),
            data: "ACME".into(),
        },
        ResultItem { source: "./DevInfo/Mod".into(), format: None, mime_type: None, data: "X1".into() },
    ];
    s.add_results(get, &items[..1], 30).await.unwrap();
    s.add_results(get, &items[1..], 31).await.unwrap();
    s.set_command_status(get, CommandState::Done, Some(200), 32).await.unwrap();
    s.set_command_status(child, CommandState::Failed, Some(500), 33).await.unwrap();
    s.set_command_status(seq, CommandState::Failed, Some(215), 33).await.unwrap();

    let done = s.get_command("dev", get).await.unwrap().unwrap();
    assert_eq!(done.state, CommandState::Done);
    assert_eq!(done.status, Some(200));
    assert_eq!(done.results, items.to_vec());
    assert_eq!(done.updated_at, 32);

    // A finished command is not sent again.
    assert_eq!(s.mark_sent(&[get], "tok-2", 40).await.unwrap(), 0);
    assert_eq!(s.get_command("dev", get).await.unwrap().unwrap().session_token.as_deref(), Some("tok-1"));

    let third = s.enqueue_command("dev", &leaf(Op::Delete, "./y"), 50).await.unwrap();
    let all = s.list_commands("dev", None, 10).await.unwrap();
    assert_eq!(all.iter().map(|c| c.id).collect::<Vec<_>>(), vec![third, seq, get]);
    assert_eq!(all[1].children.len(), 1);
    assert_eq!(all[1].children[0].status, Some(500));
    assert_eq!(all[2].results.len(), 2);
    let failed = s.list_commands("dev", Some(CommandState::Failed), 10).await.unwrap();
    assert_eq!(failed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![seq]);
    let queued = s.list_commands("dev", Some(CommandState::Queued), 10).await.unwrap();
    assert_eq!(queued.iter().map(|c| c.id).collect::<Vec<_>>(), vec![third]);
    assert_eq!(s.list_commands("dev", None, 1).await.unwrap().len(), 1);

    assert!(matches!(
        s.set_command_status(999_999, CommandState::Done, None, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(s.add_results(999_999, &items, 1).await, Err(StoreError::NotFound(_))));
    s.add_results(get, &[], 1).await.unwrap();
}

async fn requeue_sent_restores_queue(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let a = s.enqueue_command("dev", &leaf(Op::Get, "./a"), 1).await.unwrap();
    let atomic = s
        .enqueue_command("dev", &container(Op::Atomic, vec![leaf(Op::Add, "./b1"), leaf(Op::Add, "./b2")]), 2)
        .await
        .unwrap();
    let c = s.enqueue_command("dev", &leaf(Op::Get, "./c"), 3).await.unwrap();
    let d = s.enqueue_command("dev", &leaf(Op::Get, "./d"), 4).await.unwrap();
    let atomic_ids = ids(&s.get_command("dev", atomic).await.unwrap().unwrap());

    let mut in_s1 = vec![a, c];
    in_s1.extend(&atomic_ids);
    assert_eq!(s.mark_sent(&in_s1, "s1", 10).await.unwrap(), 5);
    s.mark_sent(&[d], "s2", 10).await.unwrap();
    s.set_command_status(a, CommandState::Done, Some(200), 11).await.unwrap();

    // The session timed out: everything still `sent` in it goes back.
    assert_eq!(s.requeue_sent("s1", 20).await.unwrap(), 4);
    assert_eq!(s.requeue_sent("s1", 21).await.unwrap(), 0);

    let q = s.next_queued("dev", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), vec![atomic, c]);
    for rec in &q {
        assert_eq!(rec.session_token, None);
        assert_eq!(rec.updated_at, 20);
        for child in &rec.children {
            assert_eq!(child.state, CommandState::Queued);
            assert_eq!(child.session_token, None);
        }
    }
    let done = s.get_command("dev", a).await.unwrap().unwrap();
    assert_eq!(done.state, CommandState::Done);
    assert_eq!(done.session_token.as_deref(), Some("s1"));
    let other = s.get_command("dev", d).await.unwrap().unwrap();
    assert_eq!(other.state, CommandState::Sent);
    assert_eq!(other.session_token.as_deref(), Some("s2"));

    // An Exec the device may have run is never sent again: its whole tree fails, no Status.
    let fumo =
        container(Op::Sequence, vec![leaf(Op::Replace, "./FUMO/PkgURL"), leaf(Op::Exec, "./FUMO/Update")]);
    let seq = s.enqueue_command("dev", &fumo, 30).await.unwrap();
    let exec = s.enqueue_command("dev", &leaf(Op::Exec, "./Reboot"), 31).await.unwrap();
    let get = s.enqueue_command("dev", &leaf(Op::Get, "./e"), 32).await.unwrap();
    let mut in_s3 = ids(&s.get_command("dev", seq).await.unwrap().unwrap());
    in_s3.extend([exec, get]);
    s.mark_sent(&in_s3, "s3", 33).await.unwrap();
    assert_eq!(s.requeue_sent("s3", 34).await.unwrap(), 1, "only the Get goes back");
    for id in [seq, exec] {
        let rec = s.get_command("dev", id).await.unwrap().unwrap();
        assert_eq!((rec.state, rec.status, rec.session_token.as_deref()), (CommandState::Failed, None, None));
        assert!(rec.children.iter().all(|c| c.state == CommandState::Failed));
    }
    let q = s.next_queued("dev", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), vec![atomic, c, get]);
}

async fn generic_alerts(s: Store) {
    s.create_device(&device("a")).await.unwrap();
    s.create_device(&device("b")).await.unwrap();
    let a1 = s.add_generic_alert(&alert("a", "200", 10)).await.unwrap();
    let b1 = s.add_generic_alert(&alert("b", "410", 11)).await.unwrap();
    let mut bare = alert("a", "", 12);
    bare.id = 12345; // ignored
    bare.session_token = None;
    bare.alert_type = None;
    bare.format = None;
    bare.mark = None;
    bare.source = None;
    bare.data = None;
    bare.correlator = None;
    let a2 = s.add_generic_alert(&bare).await.unwrap();
    assert!(a1 < b1 && b1 < a2);

    let of_a = s.list_generic_alerts(Some("a"), 10).await.unwrap();
    assert_eq!(of_a.iter().map(|g| g.id).collect::<Vec<_>>(), vec![a2, a1]);
    assert_eq!(of_a[0], GenericAlert { id: a2, ..bare });
    assert_eq!(of_a[1], GenericAlert { id: a1, ..alert("a", "200", 10) });
    let all = s.list_generic_alerts(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|g| g.id).collect::<Vec<_>>(), vec![a2, b1, a1]);
    assert_eq!(s.list_generic_alerts(None, 2).await.unwrap().len(), 2);
    assert!(matches!(s.add_generic_alert(&alert("nope", "1", 1)).await, Err(StoreError::NotFound(_))));
}

async fn sessions(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let first = session("tok-1", "dev", 100);
    s.create_session(&first).await.unwrap();
    assert_eq!(s.get_session("tok-1").await.unwrap(), Some(first.clone()));
    assert_eq!(s.get_session("tok-x").await.unwrap(), None);
    assert!(matches!(s.create_session(&first).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.create_session(&session("tok-2", "nope", 1)).await, Err(StoreError::NotFound(_))));

    let mut updated = first.clone();
    updated.dm_session_id = "2A".into();
    updated.dm_version = "1.1.2".into();
    updated.last_activity_at = 150;
    updated.ended_at = Some(160);
    updated.messages_in = 3;
    updated.messages_out = 2;
    updated.outcome = SessionOutcome::AuthFailed;
    updated.state = json!({"phase": "done", "pending": [1, 2, {"cmd": "Get"}], "n": null});
    // Immutable fields are not rewritten.
    let mut attempt = updated.clone();
    attempt.started_at = 1;
    attempt.device_id = "other".into();
    s.update_session(&attempt).await.unwrap();
    assert_eq!(s.get_session("tok-1").await.unwrap(), Some(updated.clone()));

    let mut tx = s.begin().await.unwrap();
    assert_eq!(tx.get_session("tok-1").await.unwrap(), Some(updated));
    tx.commit().await.unwrap();

    assert!(matches!(s.update_session(&session("tok-x", "dev", 1)).await, Err(StoreError::NotFound(_))));

    s.create_session(&session("tok-3", "dev", 300)).await.unwrap();
    s.create_session(&session("tok-2", "dev", 200)).await.unwrap();
    let list = s.list_sessions("dev", 10).await.unwrap();
    assert_eq!(list.iter().map(|x| x.token.as_str()).collect::<Vec<_>>(), vec!["tok-3", "tok-2", "tok-1"]);
    assert_eq!(s.list_sessions("dev", 1).await.unwrap().len(), 1);
    assert!(s.list_sessions("nope", 10).await.unwrap().is_empty());
}

async fn idle_sessions(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let mut a = session("a", "dev", 100);
    a.last_activity_at = 500;
    let mut b = session("b", "dev", 100);
    b.last_activity_at = 200;
    let mut c = session("c", "dev", 100);
    c.last_activity_at = 900; // still fresh
    let mut d = session("d", "dev", 100);
    d.last_activity_at = 100;
    d.outcome = SessionOutcome::Completed;
    d.ended_at = Some(100);
    for x in [&a, &b, &c, &d] {
        s.create_session(x).await.unwrap();
    }
    let idle = s.idle_sessions(600, 10).await.unwrap();
    assert_eq!(idle.iter().map(|x| x.token.as_str()).collect::<Vec<_>>(), vec!["b", "a"]);
    assert_eq!(s.idle_sessions(600, 1).await.unwrap()[0].token, "b");
    assert!(s.idle_sessions(200, 10).await.unwrap().is_empty());

    // Timing it out takes it off the list.
    b.outcome = SessionOutcome::TimedOut;
    b.ended_at = Some(700);
    s.update_session(&b).await.unwrap();
    let idle = s.idle_sessions(600, 10).await.unwrap();
    assert_eq!(idle.iter().map(|x| x.token.as_str()).collect::<Vec<_>>(), vec!["a"]);
}

async fn audit_log(s: Store) {
    let detail = json!({"command": 7, "op": "Replace", "nested": {"ok": true}});
    let a = s.audit("api", "command.enqueue", Some("dev"), &detail, 10).await.unwrap();
    let b = s.audit("cli", "server.start", None, &json!(null), 11).await.unwrap();
    let c = s.audit("session", "session.end", Some("dev"), &json!([1, "x"]), 12).await.unwrap();
    assert!(a < b && b < c);
    let of_dev = s.list_audit(Some("dev"), 10).await.unwrap();
    assert_eq!(of_dev.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c, a]);
    assert_eq!(
        of_dev[1],
        AuditEntry {
            id: a,
            at: 10,
            actor: "api".into(),
            action: "command.enqueue".into(),
            device_id: Some("dev".into()),
            detail,
        }
    );
    let all = s.list_audit(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![c, b, a]);
    assert_eq!(all[1].device_id, None);
    assert_eq!(all[1].detail, json!(null));
}

async fn limits_are_clamped(s: Store) {
    let mut tx = s.begin().await.unwrap();
    for i in 0..(MAX_LIMIT as i64 + 5) {
        tx.audit("test", "bulk", None, &json!(i), i).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(s.list_audit(None, u32::MAX).await.unwrap().len(), MAX_LIMIT as usize);
    assert_eq!(s.list_audit(None, 7).await.unwrap().len(), 7);
    assert!(s.list_audit(None, 0).await.unwrap().is_empty());
}

async fn tx_dropped_leaves_nothing(s: Store) {
    {
        let mut tx = s.begin().await.unwrap();
        tx.create_device(&device("ghost")).await.unwrap();
        tx.enqueue_command("ghost", &leaf(Op::Get, "./a"), 1).await.unwrap();
        tx.audit("api", "device.create", Some("ghost"), &json!({}), 1).await.unwrap();
        // dropped without commit
    }
    assert_eq!(s.get_device("ghost").await.unwrap(), None);
    assert_eq!(count(&s, "SELECT COUNT(*) FROM commands").await, 0);
    assert!(s.list_audit(None, 10).await.unwrap().is_empty());

    let mut tx = s.begin().await.unwrap();
    tx.create_device(&device("ghost")).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(s.get_device("ghost").await.unwrap(), None);

    // A failed step leaves the earlier steps of the same transaction uncommitted as well.
    s.create_device(&device("real")).await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.enqueue_command("real", &leaf(Op::Get, "./a"), 1).await.unwrap();
    assert!(
        tx.add_results(
            999_999,
            &[ResultItem { source: "./a".into(), format: None, mime_type: None, data: "x".into() }],
            1
        )
        .await
        .is_err()
    );
    drop(tx);
    assert!(s.list_commands("real", None, 10).await.unwrap().is_empty());

    let mut tx = s.begin().await.unwrap();
    assert_eq!(tx.backend_name(), s.backend_name());
    tx.create_device(&device("kept")).await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.get_device("kept").await.unwrap().is_some());
}

async fn tx_sees_own_writes(s: Store) {
    let mut tx = s.begin().await.unwrap();
    tx.create_device(&device("dev")).await.unwrap();
    assert!(tx.get_device("dev").await.unwrap().is_some());
    let id = tx.enqueue_command("dev", &container(Op::Atomic, vec![leaf(Op::Get, "./a")]), 1).await.unwrap();
    let q = tx.next_queued("dev", 10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, id);
    let all = ids(&q[0]);
    tx.mark_sent(&all, "tok", 2).await.unwrap();
    assert!(tx.next_queued("dev", 10).await.unwrap().is_empty());
    tx.create_session(&session("tok", "dev", 2)).await.unwrap();
    assert!(tx.get_session("tok").await.unwrap().is_some());
    tx.commit().await.unwrap();
    assert_eq!(s.list_commands("dev", Some(CommandState::Sent), 10).await.unwrap().len(), 1);
}

/// Two transactions handling one session do not interleave: the second waits in
/// `get_session` (PostgreSQL: `FOR UPDATE`) or `begin` (SQLite: `BEGIN IMMEDIATE`) until the
/// first commits, then sees its changes; no update is lost.
async fn session_lock_serialises(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    s.create_session(&session("tok", "dev", 1)).await.unwrap();

    let mut tx1 = s.begin().await.unwrap();
    let mut rec = tx1.get_session("tok").await.unwrap().unwrap();
    assert_eq!(rec.messages_in, 0);

    let s2 = s.clone();
    let second = tokio::spawn(async move {
        let mut tx2 = s2.begin().await.unwrap();
        let mut rec = tx2.get_session("tok").await.unwrap().unwrap();
        let seen = rec.messages_in;
        rec.messages_in += 1;
        tx2.update_session(&rec).await.unwrap();
        tx2.commit().await.unwrap();
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second transaction did not wait");

    rec.messages_in += 1;
    tx1.update_session(&rec).await.unwrap();
    tx1.commit().await.unwrap();

    assert_eq!(second.await.unwrap(), 1, "the second saw the first's update");
    assert_eq!(s.get_session("tok").await.unwrap().unwrap().messages_in, 2);
}

/// Many writers at once: each transaction succeeds (SQLite queues them on its write lock
/// within the busy timeout), none is lost.
async fn concurrent_writers(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let mut tx = s.begin().await.unwrap();
                let id = tx.enqueue_command("dev", &leaf(Op::Get, &format!("./{t}/{i}")), i).await.unwrap();
                tx.audit("test", "enqueue", Some("dev"), &json!(id), i).await.unwrap();
                tx.commit().await.unwrap();
                // and a read on the pool meanwhile
                s.list_commands("dev", None, 5).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.next_queued("dev", 100).await.unwrap().len(), 60);
    assert_eq!(s.list_audit(Some("dev"), 100).await.unwrap().len(), 60);
}

async fn corrupt_data_is_an_error(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let id = s.enqueue_command("dev", &leaf(Op::Get, "./a"), 1).await.unwrap();
    s.create_session(&session("tok", "dev", 1)).await.unwrap();
    s.audit("api", "x", Some("dev"), &json!({}), 1).await.unwrap();

    raw(&s, "UPDATE commands SET state = 'lost'").await;
    let err = s.get_command("dev", id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    raw(&s, "UPDATE commands SET state = 'queued', texts = 'not json'").await;
    assert!(matches!(s.next_queued("dev", 10).await, Err(StoreError::Corrupt(_))));
    raw(&s, "UPDATE commands SET texts = '[]', status = 70000").await;
    assert!(matches!(s.list_commands("dev", None, 10).await, Err(StoreError::Corrupt(_))));
    raw(&s, "UPDATE commands SET status = NULL, op = 'Frobnicate'").await;
    assert!(matches!(s.get_command("dev", id).await, Err(StoreError::Corrupt(_))));

    raw(&s, "UPDATE sessions SET state = '{broken'").await;
    assert!(matches!(s.get_session("tok").await, Err(StoreError::Corrupt(_))));
    raw(&s, "UPDATE sessions SET state = '{}', outcome = 'exploded'").await;
    assert!(matches!(s.list_sessions("dev", 10).await, Err(StoreError::Corrupt(_))));

    raw(&s, "UPDATE devices SET client_auth_type = 'kerberos'").await;
    assert!(matches!(s.get_device("dev").await, Err(StoreError::Corrupt(_))));
    assert!(matches!(s.list_devices(None, 10).await, Err(StoreError::Corrupt(_))));

    raw(&s, "UPDATE audit_log SET detail = ''").await;
    assert!(matches!(s.list_audit(None, 10).await, Err(StoreError::Corrupt(_))));
}

async fn errors_hide_secrets(s: Store) {
    let mut d = device("dev");
    d.client_secret = "TOP-SECRET-VALUE".into();
    s.create_device(&d).await.unwrap();
    let err = s.create_device(&d).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("TOP-SECRET-VALUE"), "{shown}");

    let mut sess = session("SECRET-TOKEN", "dev", 1);
    sess.state = json!({"nonce": "TOP-SECRET-VALUE"});
    s.create_session(&sess).await.unwrap();
    let err = s.create_session(&sess).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
    assert!(!shown.contains("TOP-SECRET-VALUE"), "{shown}");

    // A stored value that does not parse: the error names the column, not the row's values.
    raw(&s, "UPDATE sessions SET outcome = 'bogus'").await;
    let err = s.get_session("SECRET-TOKEN").await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
    assert!(!shown.contains("TOP-SECRET-VALUE"), "{shown}");
}

// ---------------------------------------------------------------------------------------
// Backend-specific and static checks
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connect_rejects_bad_urls_without_echoing_them() {
    for url in ["mysql://root:hunter2@localhost/omadm", "hunter2", "", "postgres://user:hunter2@[::1/db"] {
        match Store::connect(url).await {
            Err(e @ StoreError::InvalidUrl(_)) => {
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains("hunter2"), "{shown}");
            }
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_file_pragmas() {
    let path = std::env::temp_dir().join(format!("omadm-pragmas-{}.db", unique()));
    // `sqlite:` followed by a path, the other accepted spelling.
    let store = Store::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    assert!(path.exists(), "the file is created");
    store.migrate().await.unwrap();
    let Store::Sqlite(lite) = &store else { panic!("not SQLite") };
    let pool = lite.pool();
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
    drop(conn);
    assert_eq!(mode, "wal");
    assert_eq!(sync, 1, "NORMAL");
    assert_eq!(fk, 1);
    assert_eq!(busy, 5000);
    assert_eq!(store.backend_name(), "sqlite");
    cleanup(store, Cleanup::Files(path)).await;
}

#[tokio::test]
async fn sqlite_memory_is_one_database() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store.create_device(&device("dev")).await.unwrap();
    // Many uses later (and after idle time) it is still the same database.
    for _ in 0..20 {
        assert!(store.get_device("dev").await.unwrap().is_some());
    }
    let Store::Sqlite(lite) = &store else { panic!("not SQLite") };
    let pool = lite.pool();
    assert_eq!(pool.options().get_max_connections(), 1);
    // A second in-memory store is a different database.
    let other = Store::connect("sqlite::memory:").await.unwrap();
    other.migrate().await.unwrap();
    assert!(other.get_device("dev").await.unwrap().is_none());
}

#[tokio::test]
async fn postgres_reports_its_backend() {
    let Some((store, c)) = open(Backend::Postgres).await else {
        return;
    };
    assert_eq!(store.backend_name(), "postgres");
    assert!(matches!(store, Store::Postgres(_)));
    cleanup(store, c).await;
}

fn tnode(uri: &str, value: Option<&str>, acl: Option<&str>, at: i64) -> TreeNode {
    TreeNode {
        uri: uri.into(),
        value: value.map(Into::into),
        acl: acl.map(Into::into),
        updated_at: at,
        ..TreeNode::default()
    }
}

async fn tree_mirror(s: Store) {
    s.create_device(&device("a")).await.unwrap();
    s.create_device(&device("b")).await.unwrap();
    let nodes = [
        TreeNode { format: Some("node".into()), ..tnode("./Vendor", None, Some("Get=*"), 1) },
        tnode("./Vendor/A", Some("1"), None, 1),
        tnode("./Vendor/A/x", Some("2"), None, 1),
        tnode("./Vendor/AB", Some("3"), None, 1),
        tnode("./Vendor0", Some("4"), None, 1),
        TreeNode { size: Some(5), ver_no: Some(7), ..tnode(".", None, None, 1) },
    ];
    s.upsert_tree_nodes("a", &nodes).await.unwrap();
    s.upsert_tree_nodes("b", &[tnode("./Vendor/A", Some("b"), None, 1)]).await.unwrap();
    let uris = |v: Vec<TreeNode>| v.into_iter().map(|n| n.uri).collect::<Vec<_>>();
    assert_eq!(
        uris(s.list_tree("a").await.unwrap()),
        [".", "./Vendor", "./Vendor/A", "./Vendor/A/x", "./Vendor/AB", "./Vendor0"]
    );
    let root = s.get_tree_node("a", ".").await.unwrap().unwrap();
    assert_eq!((root.size, root.ver_no), (Some(5), Some(7)));

    // Merge: what is known stays unless replaced.
    s.upsert_tree_nodes(
        "a",
        &[tnode("./Vendor", None, None, 2), tnode("./Vendor/A", Some("9"), Some(""), 2)],
    )
    .await
    .unwrap();
    let v = s.get_tree_node("a", "./Vendor").await.unwrap().unwrap();
    assert_eq!((v.acl.as_deref(), v.format.as_deref(), v.updated_at), (Some("Get=*"), Some("node"), 2));
    let a = s.get_tree_node("a", "./Vendor/A").await.unwrap().unwrap();
    assert_eq!((a.value.as_deref(), a.acl.as_deref()), (Some("9"), Some("")));

    // A subtree goes whole; siblings sharing the prefix and other devices stay.
    assert_eq!(s.delete_tree_subtree("a", "./Vendor/A").await.unwrap(), 2);
    assert_eq!(uris(s.list_tree("a").await.unwrap()), [".", "./Vendor", "./Vendor/AB", "./Vendor0"]);
    assert_eq!(s.list_tree("b").await.unwrap().len(), 1);
    assert_eq!(s.delete_tree_subtree("a", ".").await.unwrap(), 4);
    assert!(s.list_tree("a").await.unwrap().is_empty());
    assert!(s.get_tree_node("a", "./Vendor").await.unwrap().is_none());

    assert!(matches!(
        s.upsert_tree_nodes("nope", &[tnode("./X", None, None, 1)]).await,
        Err(StoreError::NotFound(_))
    ));
    // The mirror goes with its device.
    assert!(s.delete_device("b").await.unwrap());
    assert!(s.list_tree("b").await.unwrap().is_empty());
}

async fn held_and_forced_commands(s: Store) {
    s.create_device(&device("a")).await.unwrap();
    let c1 = s.enqueue_command("a", &leaf(Op::Replace, "./DevInfo/Man"), 1).await.unwrap();
    let c2 = s.enqueue_command("a", &leaf(Op::Get, "./X"), 2).await.unwrap();
    s.set_command_held(c1, Some("the DDF does not allow Replace"), 3).await.unwrap();
    let q = s.next_queued("a", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), [c2], "held commands are not sent");
    let rec = s.get_command("a", c1).await.unwrap().unwrap();
    assert_eq!(rec.state, CommandState::Queued);
    assert_eq!(rec.held_reason.as_deref(), Some("the DDF does not allow Replace"));
    assert!(!rec.forced);

    assert!(!s.force_command("b", c1, 4).await.unwrap(), "another device's command");
    assert!(!s.force_command("a", 999_999, 4).await.unwrap());
    assert!(s.force_command("a", c1, 4).await.unwrap());
    let rec = s.get_command("a", c1).await.unwrap().unwrap();
    assert_eq!((rec.held_reason, rec.forced), (None, true));
    let q = s.next_queued("a", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), [c1, c2]);
    assert!(q[0].forced);
    assert!(matches!(s.set_command_held(999_999, None, 5).await, Err(StoreError::NotFound(_))));
}

async fn held_commands_listed(s: Store) {
    s.create_device(&device("a")).await.unwrap();
    s.create_device(&device("b")).await.unwrap();
    let free = s.enqueue_command("a", &leaf(Op::Get, "./X"), 1).await.unwrap();
    let atomic = container(Op::Atomic, vec![leaf(Op::Replace, "./A"), leaf(Op::Delete, "./B")]);
    let held2 = s.enqueue_command("a", &atomic, 2).await.unwrap();
    let held1 = s.enqueue_command("a", &leaf(Op::Replace, "./DevInfo/Man"), 3).await.unwrap();
    let other = s.enqueue_command("b", &leaf(Op::Replace, "./Y"), 4).await.unwrap();
    for id in [held1, held2, other] {
        s.set_command_held(id, Some("ACL"), 5).await.unwrap();
    }
    assert!(s.held_commands("a", 10).await.unwrap().iter().all(|c| c.id != free));
    let held = s.held_commands("a", 10).await.unwrap();
    assert_eq!(
        held.iter().map(|c| c.id).collect::<Vec<_>>(),
        [held2, held1],
        "oldest first, own device only"
    );
    assert_eq!(held[0].children.len(), 2, "with the container's children");
    assert_eq!(held[0].children[0].spec.target.as_deref(), Some("./A"));
    assert_eq!(s.held_commands("a", 1).await.unwrap().len(), 1);
    // Both lists in one read, the same as the two reads.
    let (ready, both_held) = s.queued_and_held("a", 10).await.unwrap();
    assert_eq!(ready.iter().map(|c| c.id).collect::<Vec<_>>(), [free]);
    assert_eq!(both_held, held);
    let (ready, both_held) = s.queued_and_held("a", 1).await.unwrap();
    assert_eq!((ready.len(), both_held.len()), (1, 1));
    // Released: back in the queue, no longer held.
    s.set_command_held(held1, None, 6).await.unwrap();
    assert_eq!(s.held_commands("a", 10).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(), [held2]);
    let q = s.next_queued("a", 10).await.unwrap();
    assert_eq!(q.iter().map(|c| c.id).collect::<Vec<_>>(), [free, held1]);
    // A forced command is no longer held.
    s.force_command("a", held2, 7).await.unwrap();
    assert!(s.held_commands("a", 10).await.unwrap().is_empty());
}

fn ddf(name: &str, document: &[u8], at: i64) -> DdfRecord {
    DdfRecord {
        id: 0,
        name: name.into(),
        mo_id: Some("urn:acme:mo:volume:1.0".into()),
        mount: "./Vendor/Acme".into(),
        man: Some("Acme".into()),
        model: None,
        document: document.to_vec(),
        created_at: at,
        updated_at: at,
    }
}

async fn operator_ddfs(s: Store) {
    assert_eq!(s.ddf_revision().await.unwrap(), DdfRevision::default(), "empty table");
    assert!(s.list_ddfs(true).await.unwrap().is_empty());
    // Binary documents (WBXML) come back byte for byte.
    let wbxml = [0x02u8, 0x00, 0x00, 0x6A, 0x00, 0xFF, 0x80, 0x01];
    let a = s.create_ddf(&ddf("acme", b"<MgmtTree/>", 10)).await.unwrap();
    let b = s.create_ddf(&ddf("acme-wbxml", &wbxml, 20)).await.unwrap();
    assert!(b > a);
    assert!(matches!(s.create_ddf(&ddf("acme", b"x", 30)).await, Err(StoreError::Conflict(_))));
    let rev = s.ddf_revision().await.unwrap();
    assert_eq!(rev, DdfRevision { count: 2, max_id: b, max_updated_at: 20 });

    let got = s.get_ddf(b).await.unwrap().unwrap();
    assert_eq!(got, DdfRecord { id: b, ..ddf("acme-wbxml", &wbxml, 20) });
    assert!(s.get_ddf(b + 1000).await.unwrap().is_none());
    let full = s.list_ddfs(true).await.unwrap();
    assert_eq!(full.iter().map(|d| d.id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(full[0].document, b"<MgmtTree/>");
    assert_eq!(full[0].man.as_deref(), Some("Acme"));
    let meta = s.list_ddfs(false).await.unwrap();
    assert!(meta.iter().all(|d| d.document.is_empty()), "listed without documents");
    assert_eq!(meta[1].mount, "./Vendor/Acme");

    assert!(s.delete_ddf(a).await.unwrap());
    assert!(!s.delete_ddf(a).await.unwrap());
    assert_eq!(s.ddf_revision().await.unwrap(), DdfRevision { count: 1, max_id: b, max_updated_at: 20 });
    // Deleting the newest and importing again still changes the revision: ids are not reused.
    assert!(s.delete_ddf(b).await.unwrap());
    let c = s.create_ddf(&ddf("acme-wbxml", &wbxml, 20)).await.unwrap();
    assert!(c > b, "ids are never reused");
    assert_ne!(s.ddf_revision().await.unwrap(), rev);
    // Inside a transaction, like the other writes; rolled back, nothing stays.
    let mut tx = s.begin().await.unwrap();
    tx.create_ddf(&ddf("tx", b"y", 40)).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(s.list_ddfs(false).await.unwrap().len(), 1);
}

fn migration_dir(backend: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend)
}

/// `CREATE TABLE` / `CREATE INDEX` names of a migration, by a simple scan.
fn created(sql: &str, what: &str) -> BTreeSet<String> {
    let upper = sql.to_ascii_uppercase();
    let needle = format!("CREATE {what} ");
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = upper[from..].find(&needle) {
        let start = from + i + needle.len();
        let mut rest = &sql[start..];
        let trimmed = rest.trim_start();
        if trimmed.to_ascii_uppercase().starts_with("IF NOT EXISTS ") {
            rest = &trimmed["IF NOT EXISTS ".len()..];
        }
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '"')
            .filter(|c| *c != '"')
            .collect();
        out.insert(name.to_ascii_lowercase());
        from = start;
    }
    out
}

#[test]
fn migrations_in_step() {
    let list = |backend: &str| -> BTreeMap<String, String> {
        std::fs::read_dir(migration_dir(backend))
            .expect("migration folder")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).expect("read migration"))
            })
            .collect()
    };
    let sqlite = list("sqlite");
    let postgres = list("postgres");
    assert!(!sqlite.is_empty(), "no SQLite migrations");
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
    for (name, sql) in &sqlite {
        let pg = &postgres[name];
        for what in ["TABLE", "INDEX"] {
            assert_eq!(
                created(sql, what),
                created(pg, what),
                "{name}: CREATE {what} names differ between the backends"
            );
        }
    }
    assert!(created(&sqlite["0001_init.sql"], "TABLE").contains("commands"));
}

/// After migrating, both backends have the same tables, columns and indexes.
#[tokio::test]
async fn schema_in_step() {
    let Some((pg, c)) = open(Backend::Postgres).await else {
        return;
    };
    let lite = Store::connect("sqlite::memory:").await.unwrap();
    lite.migrate().await.unwrap();

    let Store::Sqlite(lp) = &lite else { unreachable!() };
    let lp = lp.pool();
    let lite_cols: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(lp)
    .await
    .unwrap();
    let lite_idx: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(lp)
            .await
            .unwrap();

    let Store::Postgres(pp) = &pg else { unreachable!() };
    let pg_cols: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pp)
    .await
    .unwrap();
    let pg_idx: Vec<(String,)> = sqlx::query_as(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
         AND indexname NOT LIKE '%\\_pkey'",
    )
    .fetch_all(pp)
    .await
    .unwrap();

    let set = |v: Vec<(String, String)>| v.into_iter().collect::<BTreeSet<_>>();
    let lite_cols = set(lite_cols);
    assert!(lite_cols.contains(&("commands".into(), "parent_id".into())));
    assert_eq!(lite_cols, set(pg_cols), "columns differ between the backends");
    let names = |v: Vec<(String,)>| v.into_iter().map(|t| t.0).collect::<BTreeSet<_>>();
    assert_eq!(names(lite_idx), names(pg_idx), "indexes differ");
    cleanup(pg, c).await;
}

fn new_push(device: Option<&str>, max_attempts: u32) -> NewPush {
    NewPush {
        device_id: device.map(str::to_owned),
        kind: PushKind::Notification,
        msisdn: "+491701234567".into(),
        channel: None,
        content_type: "application/vnd.syncml.notification".into(),
        pdu: vec![1, 6, 3, 0xC4, 0xAF, 0x87, 0],
        max_attempts,
    }
}

async fn push_delivery_lifecycle(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let a = s.enqueue_push(&new_push(Some("dev"), 2), 1_000).await.unwrap();
    let b = s.enqueue_push(&new_push(None, 1), 1_001).await.unwrap();
    assert!(matches!(s.enqueue_push(&new_push(Some("nope"), 1), 1).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        s.enqueue_push(&NewPush { pdu: vec![], ..new_push(None, 1) }, 1).await,
        Err(StoreError::Invalid(_))
    ));

    // Not due before its time; taken with its PDU, the attempt counted.
    assert!(s.claim_pushes(999, 60_000, 10).await.unwrap().is_empty());
    let got = s.claim_pushes(2_000, 60_000, 10).await.unwrap();
    assert_eq!(got.iter().map(|p| p.id).collect::<Vec<_>>(), vec![a, b]);
    assert!(got.iter().all(|p| p.state == PushState::Sending && p.attempts == 1 && p.pdu.is_some()));
    // Leased: nobody else gets them until the lease runs out.
    assert!(s.claim_pushes(3_000, 60_000, 10).await.unwrap().is_empty());

    // A retry goes back to the queue, then fails for good past its attempts; the PDU goes.
    let r =
        s.finish_push(a, &PushOutcome::Retry { reason: "throttled".into(), retry_at: 5_000 }, 3_000).await;
    let r = r.unwrap();
    assert_eq!(
        (r.state, r.failure.as_deref(), r.next_attempt_at),
        (PushState::Queued, Some("throttled"), 5_000)
    );
    assert!(r.pdu.is_some());
    assert!(s.claim_pushes(4_999, 60_000, 10).await.unwrap().is_empty());
    assert_eq!(s.claim_pushes(5_000, 60_000, 10).await.unwrap()[0].attempts, 2);
    let r = s
        .finish_push(a, &PushOutcome::Retry { reason: "again".into(), retry_at: 9_000 }, 6_000)
        .await
        .unwrap();
    assert_eq!((r.state, r.pdu), (PushState::Failed, None));

    let r =
        s.finish_push(b, &PushOutcome::Accepted { reference: "msg-1,msg-2".into() }, 7_000).await.unwrap();
    assert_eq!((r.state, r.reference.as_deref(), r.pdu), (PushState::Accepted, Some("msg-1,msg-2"), None));
    // A late result for a push no longer being sent changes nothing.
    assert!(matches!(
        s.finish_push(b, &PushOutcome::Failed { reason: "late".into() }, 8_000).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.get_push(b).await.unwrap().unwrap().state, PushState::Accepted);

    // A dispatcher that died: its lease runs out and the push is taken again.
    let c = s.enqueue_push(&new_push(Some("dev"), 3), 10_000).await.unwrap();
    assert_eq!(s.claim_pushes(10_000, 1_000, 10).await.unwrap()[0].id, c);
    assert!(s.claim_pushes(10_500, 1_000, 10).await.unwrap().is_empty());
    let again = s.claim_pushes(11_001, 1_000, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (c, 2));

    let listed = s.list_pushes(Some("dev"), 10).await.unwrap();
    assert_eq!(listed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![c, a]);
    assert_eq!(s.list_pushes(None, 10).await.unwrap().len(), 3);
    assert!(s.get_push(9999).await.unwrap().is_none());
}

async fn pushes_claimed_once(s: Store) {
    for _ in 0..40 {
        s.enqueue_push(&new_push(None, 1), 1).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_pushes(10, 60_000, 3).await.unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|p| p.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (40, 40), "every push taken exactly once");
}

async fn bootstrap_state(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    assert!(s.get_bootstrap("dev").await.unwrap().is_none());
    assert!(!s.mark_bootstrapped("dev", 5).await.unwrap());
    let push = s.enqueue_push(&new_push(Some("dev"), 1), 1).await.unwrap();
    let b = Bootstrap {
        device_id: "dev".into(),
        push_id: Some(push),
        profile: "cp".into(),
        state: BootstrapState::Pending,
        created_at: 1,
        bootstrapped_at: None,
    };
    s.set_bootstrap(&b).await.unwrap();
    assert_eq!(s.get_bootstrap("dev").await.unwrap(), Some(b.clone()));
    assert!(s.mark_bootstrapped("dev", 7).await.unwrap());
    assert!(!s.mark_bootstrapped("dev", 8).await.unwrap(), "only once");
    let got = s.get_bootstrap("dev").await.unwrap().unwrap();
    assert_eq!((got.state, got.bootstrapped_at), (BootstrapState::Bootstrapped, Some(7)));
    assert!(matches!(
        s.set_bootstrap(&Bootstrap { device_id: "nope".into(), ..b }).await,
        Err(StoreError::NotFound(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------

fn new_notification(device: &str, session_id: u16) -> NewNotification {
    NewNotification {
        device_id: device.into(),
        session_id,
        ui_mode: 1,
        dm_version: "1.2".into(),
        msisdn: "+491701234567".into(),
        channel: None,
        policy: NotificationPolicy {
            retries: 1,
            interval_ms: 100,
            jitter_pct: 0,
            fallback_retries: 1,
            fallback_interval_ms: 200,
        },
        give_up_at: 100_000,
    }
}

fn sent_step(
    state: NotificationState,
    version: &str,
    push: i64,
    fallback: bool,
    next: i64,
) -> NotificationStep {
    NotificationStep {
        state,
        dm_version: version.into(),
        push_id: Some(push),
        fallback,
        next_attempt_at: Some(next),
    }
}

async fn notification_schedule(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    let id = s.create_notification(&new_notification("dev", 0xABC), 1_000).await.unwrap();
    assert!(matches!(
        s.create_notification(&new_notification("nope", 1), 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_notification(&new_notification("dev", 0), 1).await,
        Err(StoreError::Invalid(_))
    ));
    let n = s.get_notification(id).await.unwrap().unwrap();
    assert_eq!(
        (n.state, n.session_id_hex.as_str(), n.attempts, n.next_attempt_at, n.push_state),
        (NotificationState::Queued, "ABC", 0, Some(1_000), None)
    );
    assert_eq!(n.policy.fallback_interval_ms, 200);

    // Not due before its time; queued ones only up to the queued limit.
    assert!(s.claim_notifications(999, 5_000, 10, 10).await.unwrap().is_empty());
    assert!(s.claim_notifications(1_000, 5_000, 0, 10).await.unwrap().is_empty(), "throttled");
    let got = s.claim_notifications(1_000, 5_000, 10, 10).await.unwrap();
    assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), vec![id]);
    // Leased: nobody else takes it.
    assert!(s.claim_notifications(1_001, 5_000, 10, 10).await.unwrap().is_empty());

    // First send: sent, the push linked with its state, waiting for the interval.
    let push = s.enqueue_push(&new_push(Some("dev"), 1), 1_000).await.unwrap();
    let step = sent_step(NotificationState::Sent, "1.2", push, false, 1_100);
    let n = s.step_notification(&got[0], 6_000, &step, 1_000).await.unwrap().unwrap();
    assert_eq!(
        (n.state, n.attempts, n.fallback_attempts, n.push_ids.clone(), n.push_state),
        (NotificationState::Sent, 1, 0, vec![push], Some(PushState::Queued))
    );
    // A stale lease changes nothing.
    assert_eq!(s.step_notification(&got[0], 6_000, &step, 1_000).await.unwrap(), None);
    assert_eq!(s.outstanding_notifications().await.unwrap(), 1);

    // Due again: the other limit takes it; a fallback send counts separately.
    assert!(s.claim_notifications(1_099, 5_000, 10, 10).await.unwrap().is_empty());
    let got = s.claim_notifications(1_100, 5_000, 0, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    let push2 = s.enqueue_push(&new_push(Some("dev"), 1), 1_100).await.unwrap();
    let step = sent_step(NotificationState::FellBack, "1.1.2", push2, true, 1_300);
    let n = s.step_notification(&got[0], 6_100, &step, 1_100).await.unwrap().unwrap();
    assert_eq!(
        (n.state, n.dm_version.as_str(), n.attempts, n.fallback_attempts, n.push_ids.clone()),
        (NotificationState::FellBack, "1.1.2", 2, 1, vec![push, push2])
    );

    // A scheduler that died: its lease runs out and the notification is taken again.
    let got = s.claim_notifications(1_300, 1_000, 10, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(s.claim_notifications(2_000, 1_000, 10, 10).await.unwrap().is_empty());
    let again = s.claim_notifications(2_301, 1_000, 10, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    // Given up: final, no next look, no longer outstanding.
    let end = NotificationStep {
        state: NotificationState::GaveUp,
        dm_version: "1.1.2".into(),
        push_id: None,
        fallback: false,
        next_attempt_at: None,
    };
    let n = s.step_notification(&again[0], 3_301, &end, 2_301).await.unwrap().unwrap();
    assert_eq!((n.state, n.next_attempt_at, n.attempts), (NotificationState::GaveUp, None, 2));
    assert_eq!(s.outstanding_notifications().await.unwrap(), 0);
    assert!(s.claim_notifications(1_000_000, 1_000, 10, 10).await.unwrap().is_empty());
    assert_eq!(s.answer_notifications("dev", "ABC", 4_000).await.unwrap(), 0, "a final state stays");

    // Listing by device and state, newest first.
    let other = s.create_notification(&new_notification("dev", 7), 5_000).await.unwrap();
    let ids = |v: Vec<NotificationRecord>| v.iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_notifications(Some("dev"), None, 10).await.unwrap()), vec![other, id]);
    assert_eq!(ids(s.list_notifications(None, Some(NotificationState::GaveUp), 10).await.unwrap()), vec![id]);
    assert!(s.list_notifications(Some("x"), None, 10).await.unwrap().is_empty());
    assert!(s.get_notification(9999).await.unwrap().is_none());
}

async fn notification_answered_by_a_session(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    s.create_device(&device("dev2")).await.unwrap();
    let a = s.create_notification(&new_notification("dev", 0x12), 1_000).await.unwrap();
    let b = s.create_notification(&new_notification("dev", 0x34), 1_000).await.unwrap();
    let c = s.create_notification(&new_notification("dev2", 0x12), 1_000).await.unwrap();
    let got = s.claim_notifications(1_000, 5_000, 10, 10).await.unwrap();
    assert_eq!(got.len(), 3);
    // Any session of the device answers all its open notifications; which one is recorded.
    assert_eq!(s.answer_notifications("dev", "12", 2_000).await.unwrap(), 2);
    for id in [a, b] {
        let n = s.get_notification(id).await.unwrap().unwrap();
        assert_eq!(
            (n.state, n.answered_session_id.as_deref(), n.answered_at, n.next_attempt_at),
            (NotificationState::SessionOpened, Some("12"), Some(2_000), None)
        );
    }
    // The scheduler's late step does not reopen an answered notification.
    let step = sent_step(NotificationState::Retried, "1.2", 1, false, 3_000);
    let mine = got.iter().find(|n| n.id == a).unwrap();
    assert_eq!(s.step_notification(mine, 6_000, &step, 2_500).await.unwrap(), None);
    assert_eq!(s.get_notification(a).await.unwrap().unwrap().state, NotificationState::SessionOpened);
    assert_eq!(s.get_notification(c).await.unwrap().unwrap().state, NotificationState::Queued);
    // A hostile SessionID is clipped.
    assert_eq!(s.answer_notifications("dev2", &"F".repeat(5000), 2_000).await.unwrap(), 1);
    let n = s.get_notification(c).await.unwrap().unwrap();
    assert_eq!(n.answered_session_id.map(|x| x.len()), Some(16));
    assert_eq!(s.answer_notifications("dev2", "1", 2_000).await.unwrap(), 0);
}

async fn notifications_claimed_once(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    for i in 1..=40 {
        s.create_notification(&new_notification("dev", i), 1).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_notifications(10, 60_000, 3, 3).await.unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|n| n.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (40, 40), "every notification taken exactly once");
}

async fn notification_targets(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    assert!(s.get_notification_target("dev").await.unwrap().is_none());
    s.set_notification_target("dev", Some("+491701234567"), Some("smpp"), 10).await.unwrap();
    let t = s.get_notification_target("dev").await.unwrap().unwrap();
    assert_eq!(
        (t.msisdn.as_deref(), t.channel.as_deref(), t.dm_version.as_str(), t.updated_at),
        (Some("+491701234567"), Some("smpp"), "1.2", 10)
    );
    // The DM version is kept apart from the number; no write when unchanged.
    assert!(s.set_notification_dm_version("dev", "1.1.2", 20).await.unwrap());
    assert!(!s.set_notification_dm_version("dev", "1.1.2", 30).await.unwrap());
    s.set_notification_target("dev", Some("+491709999999"), None, 40).await.unwrap();
    let t = s.get_notification_target("dev").await.unwrap().unwrap();
    assert_eq!(
        (t.msisdn.as_deref(), t.channel, t.dm_version.as_str(), t.updated_at),
        (Some("+491709999999"), None, "1.1.2", 40)
    );
    // A device without a target row gets one with just the version.
    s.create_device(&device("dev2")).await.unwrap();
    assert!(s.set_notification_dm_version("dev2", "1.1.2", 50).await.unwrap());
    assert_eq!(s.get_notification_target("dev2").await.unwrap().unwrap().msisdn, None);
    assert!(matches!(s.set_notification_dm_version("dev2", "2.0", 1).await, Err(StoreError::Invalid(_))));
    assert!(matches!(
        s.set_notification_target("nope", Some("+1"), None, 1).await,
        Err(StoreError::NotFound(_))
    ));
    // Deleting the device removes its target and notifications.
    s.create_notification(&new_notification("dev", 1), 1).await.unwrap();
    assert!(s.delete_device("dev").await.unwrap());
    assert!(s.get_notification_target("dev").await.unwrap().is_none());
    assert!(s.list_notifications(Some("dev"), None, 10).await.unwrap().is_empty());
}

async fn session_transcripts(s: Store) {
    s.create_device(&device("dev")).await.unwrap();
    s.create_session(&session("tok", "dev", 1)).await.unwrap();
    let msg = |seq: u32, direction, at: i64| TranscriptMessage {
        seq,
        direction,
        encoding: "wbxml".into(),
        size: 400 + seq,
        xml: format!("<SyncML><!-- {seq} --></SyncML>"),
        at,
    };
    s.add_session_messages("tok", &[msg(1, Direction::Device, 10), msg(2, Direction::Server, 10)])
        .await
        .unwrap();
    s.add_session_messages("tok", &[msg(3, Direction::Device, 20), msg(4, Direction::Server, 20)])
        .await
        .unwrap();
    // The same seq again keeps the first.
    s.add_session_messages(
        "tok",
        &[TranscriptMessage { xml: "other".into(), ..msg(3, Direction::Device, 30) }],
    )
    .await
    .unwrap();
    let got = s.session_transcript("tok").await.unwrap();
    assert_eq!(
        got,
        vec![
            msg(1, Direction::Device, 10),
            msg(2, Direction::Server, 10),
            msg(3, Direction::Device, 20),
            msg(4, Direction::Server, 20)
        ]
    );
    assert!(matches!(
        s.add_session_messages("nope", &[msg(1, Direction::Device, 1)]).await,
        Err(StoreError::NotFound(_))
    ));
    // Retention.
    assert_eq!(s.delete_transcripts_before(15).await.unwrap(), 2);
    assert_eq!(s.session_transcript("tok").await.unwrap().len(), 2);
    assert!(s.session_transcript("nope").await.unwrap().is_empty());
}
