//! The campaign storage contract on every backend (SQLite file, `sqlite::memory:`,
//! PostgreSQL from `OMADM_TEST_PG_URL`, as in `contract.rs`): device selection and waves,
//! leases that never give one device to two claimers, guarded state transitions, counters.

use std::collections::{BTreeMap, BTreeSet};

use omadm_storage::{
    CampaignDevice, CampaignDeviceState as S, CampaignDeviceUpdate, CampaignKind, CampaignState,
    ClientAuthType, Device, InventoryItem, NewCampaign, Store, TargetSelector,
};
use serde_json::json;

mod harness;

use harness::*;

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

    // A group: operator-named devices, combined with the inventory filters.
    let group: Vec<String> = ["IMEI:0002", "IMEI:0003", "IMEI:0004"].map(String::from).to_vec();
    assert_eq!(store.add_to_group("pilot", &group, 6).await.unwrap(), 3);
    assert_eq!(store.add_to_group("pilot", &group[..1], 7).await.unwrap(), 0, "already in it");
    assert!(matches!(
        store.add_to_group("pilot", &["IMEI:9999".to_owned()], 7).await,
        Err(omadm_storage::StoreError::NotFound(_))
    ));
    assert!(store.add_to_group("", &group, 7).await.is_err());
    let sel = TargetSelector { man: Some("Acme".into()), group: Some("pilot".into()), ..Default::default() };
    let (id3, total3) = store.create_campaign(&campaign(sel, vec![]), 8).await.unwrap();
    assert_eq!(total3, 2, "the Acme devices of the group");
    let picked: Vec<String> = store
        .list_campaign_devices(id3, None, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(picked, ["IMEI:0002", "IMEI:0004"]);
    assert_eq!(
        store.group_devices("pilot", Some("IMEI:0002"), 10).await.unwrap(),
        ["IMEI:0003", "IMEI:0004"]
    );
    assert!(store.remove_from_group("pilot", "IMEI:0003").await.unwrap());
    assert!(!store.remove_from_group("pilot", "IMEI:0003").await.unwrap());
    let groups = store.list_groups().await.unwrap();
    assert_eq!(groups, vec![omadm_storage::GroupSummary { group_name: "pilot".into(), devices: 2 }]);
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
