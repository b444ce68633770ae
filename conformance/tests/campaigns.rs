//! Campaigns end to end: omadm in-process, campaigns created through the admin API, the
//! campaign engine driven round by round (its clock given, so timeouts need no waiting), and
//! simulated devices running real DM sessions over HTTP (FUMO with configurable results).
//! Needs omadm in-process (its database is read directly to count Exec commands).

mod nodes;
mod subject;

use std::sync::Arc;
use std::time::Duration;

use omadm_conformance::devsim::transport::{self, HttpRequest};
use omadm_conformance::devsim::{Device, ReportTiming};
use omadm_server::campaign::engine::{Engine, EngineSettings, NoNotifier};
use omadm_server::campaign::firmware::{UploadFirmware, upload};
use omadm_storage::{CampaignDeviceState, CommandRecord, Op, Store};
use serde_json::{Value, json};
use subject::Subject;

struct Bed {
    subject: Subject,
    store: Store,
    dir: std::path::PathBuf,
    db_url: String,
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let d = std::env::temp_dir().join(format!("omadm-campaign-{tag}-{hex}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn start_on(dir: &std::path::Path, db_url: &str) -> Option<Subject> {
    let (db, fw) = (db_url.to_owned(), dir.join("firmware"));
    Subject::start_with(move |c| {
        c.database_url = db;
        c.campaign.firmware_dir = fw;
        // The served engine idles; the test drives its own rounds (leases keep both apart).
        c.campaign.poll_ms = 60_000;
    })
    .await
}

impl Bed {
    async fn new(tag: &str) -> Option<Bed> {
        let dir = temp_dir(tag);
        let db_url = format!("sqlite://{}", dir.join("omadm.db").display());
        let subject = start_on(&dir, &db_url).await?;
        let store = Store::connect(&db_url).await.unwrap();
        Some(Bed { subject, store, dir, db_url })
    }

    fn engine(&self, owner: &str) -> Engine {
        Engine {
            store: self.store.clone(),
            settings: EngineSettings {
                owner: owner.into(),
                poll: Duration::from_secs(1),
                public_url: self.subject.base.clone(),
            },
            notifier: Arc::new(NoNotifier),
        }
    }

    /// `n` registered devices, each configured by `f(i, config)`, after a first session.
    async fn devices(
        &self,
        n: usize,
        f: impl Fn(usize, &mut omadm_conformance::devsim::DeviceConfig),
    ) -> Vec<Device> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut d = self.subject.device_with("camp", |c| f(i, c), |_| {}).await;
            subject::completed(&d.run_session().await);
            out.push(d);
        }
        out
    }

    async fn firmware(&self) -> i64 {
        let meta =
            UploadFirmware { name: "rocket-fw8.bin".into(), version: "fw-8".into(), ..Default::default() };
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        upload(&self.store, &self.dir.join("firmware"), 1 << 20, meta, &body, "test").await.unwrap().id
    }

    async fn create(&self, body: Value) -> i64 {
        let (status, v) = self.subject.api("POST", "/api/v1/campaigns", Some(&body)).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_i64().unwrap()
    }

    async fn show(&self, id: i64) -> Value {
        let (status, v) = self.subject.api("GET", &format!("/api/v1/campaigns/{id}"), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn finish(self) {
        self.store.close().await;
        self.subject.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sessions for every device whose campaign state is in flight, 16 at a time.
async fn sessions(bed: &Bed, campaign: i64, devices: &mut [Device], silent: &dyn Fn(usize) -> bool) -> usize {
    let mut ran = 0;
    let mut batch = Vec::new();
    for (i, d) in devices.iter_mut().enumerate() {
        if silent(i) {
            continue;
        }
        let cd = bed.store.get_campaign_device(campaign, &d.config.device_id).await.unwrap();
        if cd.is_some_and(|c| {
            matches!(c.state, CampaignDeviceState::Notified | CampaignDeviceState::InSession)
        }) {
            batch.push(d);
        }
    }
    for chunk in batch.chunks_mut(16) {
        let runs = chunk.iter_mut().map(|d| d.run_session());
        for r in futures_join(runs).await {
            subject::completed(&r);
            ran += 1;
        }
    }
    ran
}

/// Await every future, polled together (the devices are borrowed, so they cannot be spawned).
async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = fs.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    results.into_iter().map(Option::unwrap).collect()
}

/// Exec commands queued for a device (top level and in containers).
fn execs(cmds: &[CommandRecord]) -> usize {
    cmds.iter().map(|c| usize::from(c.spec.op == Some(Op::Exec)) + execs(&c.children)).sum()
}

async fn exec_count(store: &Store, device: &str) -> usize {
    execs(&store.list_commands(device, None, 1000).await.unwrap())
}

fn now() -> i64 {
    omadm_server::app::now_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fumo_campaign_over_200_devices() {
    let Some(bed) = Bed::new("fumo").await else { return };
    const N: usize = 200;
    // Every 10th device fails its download (503), every 25th never calls back, every 7th
    // reports its result in the next session.
    let failing = |i: usize| i % 10 == 3;
    let silent = |i: usize| i % 25 == 5;
    let mut devices = bed
        .devices(N, |i, c| {
            c.fumo.installs = Some("fw-8".into());
            if failing(i) {
                c.fumo.result = 503;
            }
            if i % 7 == 0 {
                c.fumo.report = ReportTiming::NextSession;
            }
        })
        .await;
    let fw = bed.firmware().await;
    let id = bed
        .create(json!({
            "name": "rocket fw-8",
            "kind": "fumo",
            "target": {"man": "Acme", "mod": "Rocket 3"},
            "payload": {"firmware_id": fw, "fumo_uri": "./FwUpdate/x1"},
            "policy": {"max_concurrent": 60, "failure_threshold_pct": 100, "session_timeout_secs": 3600}
        }))
        .await;
    let v = bed.show(id).await;
    assert_eq!(v["counts"]["total"], N, "{v}");
    // Devices of other tests share the database but not this campaign's selection? They do
    // share Man/Mod: the campaign is limited to this test's database, which only has these.
    let engine = bed.engine("node-a");
    for _ in 0..40 {
        let r = engine.round(now()).await.unwrap();
        let ran = sessions(&bed, id, &mut devices, &silent).await;
        let v = bed.show(id).await;
        let c = &v["counts"];
        // Never more in flight than the policy allows.
        assert!(c["notified"].as_i64().unwrap() + c["in_session"].as_i64().unwrap() <= 60, "{v}");
        if r.admitted == 0 && ran == 0 && c["pending"] == 0 {
            break;
        }
    }
    // The silent devices time out.
    engine.round(now() + 3_700_000).await.unwrap();
    engine.round(now() + 3_700_000).await.unwrap();
    let v = bed.show(id).await;
    let c = &v["counts"];
    let n_failing = (0..N).filter(|i| failing(*i) && !silent(*i)).count() as i64;
    let n_silent = (0..N).filter(|i| silent(*i)).count() as i64;
    assert_eq!(c["failed"].as_i64().unwrap(), n_failing + n_silent, "{v}");
    assert_eq!(c["succeeded"].as_i64().unwrap(), N as i64 - n_failing - n_silent, "{v}");
    assert_eq!(v["state"], "completed", "{v}");
    for (i, d) in devices.iter().enumerate() {
        let id_ = &d.config.device_id;
        let cd = bed.store.get_campaign_device(id, id_).await.unwrap().unwrap();
        assert_eq!(exec_count(&bed.store, id_).await, 1, "{id_}: one Exec");
        if silent(i) {
            assert_eq!(cd.reason.as_deref(), Some("no session within 3600 s"), "{cd:?}");
            // Its unsent commands were withdrawn.
            let cmds =
                bed.store.list_commands(id_, Some(omadm_storage::CommandState::Queued), 10).await.unwrap();
            assert!(cmds.is_empty(), "{cmds:?}");
        } else if failing(i) {
            assert_eq!(cd.reason.as_deref(), Some("FUMO result 503: Download failed: network issues"));
        } else {
            assert_eq!(cd.state, CampaignDeviceState::Succeeded, "{cd:?}");
            assert_eq!(cd.data["fwv"], "fw-8");
            assert_eq!(
                d.tree.value("./FwUpdate/x1/DownloadAndUpdate/PkgURL").map(<[u8]>::to_vec),
                Some(format!("{}/firmware/{fw}/rocket-fw8.bin", bed.subject.base).into_bytes())
            );
        }
    }
    // The package as devices download it: whole, one range (a resumed download), past the end.
    let get = |range: Option<&str>| {
        let url = format!("{}/firmware/{fw}/rocket-fw8.bin", bed.subject.base);
        let headers = range.map(|r| vec![("Range".to_owned(), r.to_owned())]).unwrap_or_default();
        let req = HttpRequest { method: "GET".into(), url, headers, body: vec![] };
        async move { transport::send(&req, Duration::from_secs(10)).await.unwrap() }
    };
    let whole = get(None).await;
    let expected: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!((whole.status, whole.body.len()), (200, 100_000));
    assert_eq!(whole.body, expected);
    let part = get(Some("bytes=70000-")).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, expected[70_000..]);
    assert_eq!(get(Some("bytes=100000-")).await.status, 416);
    // The device list of the API shows the states.
    let (s, l) = bed
        .subject
        .api("GET", &format!("/api/v1/campaigns/{id}/devices?state=failed&limit=1000"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(l["devices"].as_array().unwrap().len() as i64, n_failing + n_silent);
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_then_auto_pause() {
    let Some(bed) = Bed::new("canary").await else { return };
    let mut devices = bed.devices(40, |_, c| c.fumo.result = 410).await;
    let fw = bed.firmware().await;
    let id = bed
        .create(json!({
            "name": "bad firmware",
            "kind": "fumo",
            "payload": {"firmware_id": fw, "fumo_uri": "./FwUpdate/x1"},
            "policy": {"canary_pct": 10, "failure_window": 4, "failure_threshold_pct": 50}
        }))
        .await;
    let engine = bed.engine("node-a");
    engine.round(now()).await.unwrap();
    let v = bed.show(id).await;
    assert_eq!(
        (v["counts"]["notified"].as_i64(), v["counts"]["pending"].as_i64()),
        (Some(4), Some(36)),
        "{v}"
    );
    for _ in 0..4 {
        sessions(&bed, id, &mut devices, &|_| false).await;
        engine.round(now()).await.unwrap();
    }
    let v = bed.show(id).await;
    assert_eq!(v["state"], "paused", "{v}");
    assert_eq!(v["counts"]["failed"], 4, "{v}");
    assert_eq!(v["counts"]["pending"], 36, "{v}");
    assert!(v["pause_reason"].as_str().unwrap().starts_with("auto-paused: 4 of the last 4"), "{v}");
    // Paused: nothing more is admitted.
    engine.round(now()).await.unwrap();
    assert_eq!(bed.show(id).await["counts"]["pending"], 36);
    // The operator cancels: the pending devices fail with "cancelled".
    let (s, v) = bed.subject.api("POST", &format!("/api/v1/campaigns/{id}/cancel"), None).await;
    assert_eq!((s, &v["state"], &v["counts"]["failed"]), (200, &json!("cancelled"), &json!(40)), "{v}");
    let (s, _) = bed.subject.api("POST", &format!("/api/v1/campaigns/{id}/resume"), None).await;
    assert_eq!(s, 409);
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_rollout_with_read_back() {
    let Some(bed) = Bed::new("config").await else { return };
    let mut devices = bed.devices(6, |_, _| {}).await;
    // Device 0 has the node already: its Add is answered 418 and gets a Replace.
    let d0 = devices[0].config.device_id.clone();
    bed.subject.enqueue(&d0, json!({"op": "Add", "target": "./Vendor/SyncServer", "data": "old"})).await;
    subject::completed(&devices[0].run_session().await);
    // Device 5 has no CSV row: it fails with its reason, the others go on.
    let csv: String = std::iter::once("device_id,server".to_owned())
        .chain(
            devices[..5]
                .iter()
                .enumerate()
                .map(|(i, d)| format!("{},https://sync{i}.example.com", d.config.device_id)),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let id = bed
        .create(json!({
            "name": "sync account",
            "kind": "config",
            "payload": {"commands": [
                {"op": "Add", "target": "./Vendor/SyncServer", "data": "{{server}}"},
                {"op": "Replace", "target": "./Vendor/Settings/Volume", "data": "7", "format": "int"},
                {"op": "Add", "target": "./Vendor/Owner", "data": "{{DevId}} by {{Man}}"}
            ]},
            "csv": csv
        }))
        .await;
    let engine = bed.engine("node-a");
    for _ in 0..6 {
        engine.round(now()).await.unwrap();
        sessions(&bed, id, &mut devices, &|_| false).await;
    }
    engine.round(now()).await.unwrap();
    let v = bed.show(id).await;
    assert_eq!(
        (v["counts"]["succeeded"].as_i64(), v["counts"]["failed"].as_i64()),
        (Some(5), Some(1)),
        "{v}"
    );
    let bad = bed.store.get_campaign_device(id, &devices[5].config.device_id).await.unwrap().unwrap();
    assert_eq!(bad.reason.as_deref(), Some("no value for {{server}}"));
    for (i, d) in devices[..5].iter().enumerate() {
        assert_eq!(
            d.tree.value("./Vendor/SyncServer"),
            Some(format!("https://sync{i}.example.com").as_bytes())
        );
        assert_eq!(
            d.tree.value("./Vendor/Owner"),
            Some(format!("{} by Acme", d.config.device_id).as_bytes())
        );
        let cd = bed.store.get_campaign_device(id, &d.config.device_id).await.unwrap().unwrap();
        assert_eq!(cd.data["verify"].as_array().unwrap().len(), 3, "{cd:?}");
        assert_eq!(cd.data["apply"][0].get("replace").is_some(), i == 0, "{cd:?}");
    }
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_mid_campaign_updates_no_device_twice() {
    let Some(bed) = Bed::new("restart").await else { return };
    let mut devices = bed
        .devices(30, |i, c| {
            c.fumo.installs = Some("fw-8".into());
            if i % 3 == 0 {
                c.fumo.report = ReportTiming::NextSession;
            }
        })
        .await;
    let fw = bed.firmware().await;
    let id = bed
        .create(json!({
            "name": "restart",
            "kind": "fumo",
            "payload": {"firmware_id": fw, "fumo_uri": "./FwUpdate/x1"},
            "policy": {"max_concurrent": 10}
        }))
        .await;
    let a = bed.engine("node-a");
    a.round(now()).await.unwrap();
    sessions(&bed, id, &mut devices, &|_| false).await;
    // Node a dies holding leases (claimed, never written), and the server is killed.
    let held = bed.store.claim_campaign_devices("node-a", now(), 1_500, 1000).await.unwrap();
    assert!(!held.is_empty());
    let Bed { subject, store, dir, db_url } = bed;
    subject.stop().await;
    store.close().await;
    // A new server on the same database, a new engine node.
    let subject = start_on(&dir, &db_url).await.unwrap();
    for d in &mut devices {
        d.config.server_url = subject.dm_url();
    }
    let store = Store::connect(&db_url).await.unwrap();
    let bed = Bed { subject, store, dir, db_url };
    let b = bed.engine("node-b");
    // While node a's leases run, its devices are left alone; then node b takes them.
    b.round(now()).await.unwrap();
    for h in &held {
        let cd = bed.store.get_campaign_device(id, &h.device_id).await.unwrap().unwrap();
        assert_eq!(cd.lease_owner.as_deref(), Some("node-a"), "{cd:?}");
    }
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    for _ in 0..30 {
        b.round(now()).await.unwrap();
        sessions(&bed, id, &mut devices, &|_| false).await;
        if bed.show(id).await["state"] == "completed" {
            break;
        }
    }
    let v = bed.show(id).await;
    assert_eq!(
        (v["state"].as_str(), v["counts"]["succeeded"].as_i64()),
        (Some("completed"), Some(30)),
        "{v}"
    );
    for d in &devices {
        assert_eq!(exec_count(&bed.store, &d.config.device_id).await, 1, "{}", d.config.device_id);
    }
    bed.finish().await;
}

/// A device's registration for `POST /api/v1/devices`.
fn registration(c: &omadm_conformance::devsim::DeviceConfig) -> Value {
    json!({
        "device_id": c.device_id,
        "client_auth": {
            "type": c.client.kind.as_str(),
            "username": c.client.username,
            "password": c.client.password,
            "nonce": c.client.nonce.to_b64(),
        },
    })
}

/// Exec commands a device answered (it ran them), over its sessions.
fn execs_run(r: &omadm_conformance::devsim::SessionReport) -> usize {
    r.device_statuses.iter().filter(|s| s.cmd == "Exec").count()
}

/// Issue 8's proof: a FUMO campaign over 1,000 devices (every 10th fails its download, every
/// 50th never calls in) run by a separate `omadm serve` process on SQLite, which is killed
/// with SIGKILL in the middle of the campaign (while its engine and DM sessions are busy) and
/// started again on the same database; it completes the campaign with every counter right,
/// one Exec per device queued in the database and no device running the Exec twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_campaign_over_1000_devices() {
    if std::env::var("OMADM_TEST_SUBJECT_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("skipped: kills the server process, which an external subject is not");
        return;
    }
    const N: usize = 1000;
    let failing = |i: usize| i % 10 == 3;
    let silent = |i: usize| i % 50 == 7;
    let dir = nodes::TempDir::new("kill9");
    let db_url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let store = Store::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let spec = nodes::NodeSpec {
        database_url: db_url.clone(),
        firmware_dir: dir.0.join("firmware"),
        poll_ms: 50,
        public_url: None,
        dir: dir.0.clone(),
    };
    let mut node = nodes::Node::start(&spec).await;
    let base = node.base();

    let mut devices = Vec::new();
    for i in 0..N {
        let mut c = omadm_conformance::devsim::DeviceConfig::new(
            &format!("{base}/dm"),
            &subject::unique_device_id("kill9"),
        );
        c.client.password = format!("pw-{i}");
        c.client.nonce = subject::random_nonce();
        c.http_timeout = Duration::from_secs(20);
        c.fumo.installs = Some("fw-8".into());
        if failing(i) {
            c.fumo.result = 503;
        }
        if i % 7 == 0 {
            c.fumo.report = ReportTiming::NextSession;
        }
        devices.push(Device::new(c));
    }
    for chunk in devices.chunks(50) {
        let regs = chunk.iter().map(|d| {
            let (base, body) = (base.clone(), registration(&d.config));
            async move { nodes::api(&base, "POST", "/api/v1/devices", Some(&body)).await }
        });
        for (s, v) in futures_join(regs).await {
            assert_eq!(s, 201, "{v}");
        }
    }
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let req = HttpRequest {
        method: "POST".into(),
        url: format!("{base}/api/v1/firmware?name=rocket-fw8.bin&version=fw-8"),
        headers: vec![("Authorization".into(), format!("Bearer {}", nodes::TOKEN))],
        body,
    };
    let r = transport::send(&req, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let fw: Value = serde_json::from_slice(&r.body).unwrap();
    let ids: Vec<&str> = devices.iter().map(|d| d.config.device_id.as_str()).collect();
    let (s, v) = nodes::api(
        &base,
        "POST",
        "/api/v1/campaigns",
        Some(&json!({
            "name": "fw-8 for 1000",
            "kind": "fumo",
            "target": {"device_ids": ids},
            "payload": {"firmware_id": fw["firmware"]["id"], "fumo_uri": "./FwUpdate/x1"},
            "policy": {"max_concurrent": 250, "max_per_minute": 100000, "failure_threshold_pct": 100,
                       "session_timeout_secs": 3600}
        })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["counts"]["total"], N, "{v}");

    let mut ran = vec![0usize; N];
    let mut killed = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        assert!(std::time::Instant::now() < deadline, "the campaign did not finish within 600 s");
        // The devices the engine has woken (and those in a session): they call in.
        let mut due = std::collections::HashSet::new();
        for st in [CampaignDeviceState::Notified, CampaignDeviceState::InSession] {
            let mut after: Option<String> = None;
            loop {
                let page = store.list_campaign_devices(id, Some(st), after.as_deref(), 1000).await.unwrap();
                due.extend(page.iter().map(|cd| cd.device_id.clone()));
                match page.last() {
                    Some(l) if page.len() == 1000 => after = Some(l.device_id.clone()),
                    _ => break,
                }
            }
        }
        let c = store.campaign_counts(id).await.unwrap();
        let finished = c.succeeded + c.failed;
        let mut batch: Vec<(usize, &mut Device)> = devices
            .iter_mut()
            .enumerate()
            .filter(|(i, d)| !silent(*i) && due.contains(&d.config.device_id))
            .collect();
        if batch.is_empty() {
            if c.pending == 0 && due.len() == (0..N).filter(|i| silent(*i)).count() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let kill_now = !killed && finished >= 300;
        let runs = async {
            let mut out = Vec::new();
            for chunk in batch.chunks_mut(32) {
                out.extend(
                    futures_join(chunk.iter_mut().map(|(i, d)| {
                        let i = *i;
                        async move { (i, d.run_session().await) }
                    }))
                    .await,
                );
            }
            out
        };
        let reports = if kill_now {
            // SIGKILL somewhere inside the first chunk of sessions.
            let mut b = [0u8; 1];
            getrandom::fill(&mut b).unwrap();
            let (reports, ()) = tokio::join!(runs, async {
                tokio::time::sleep(Duration::from_millis(u64::from(b[0]) % 40)).await;
                node.kill();
            });
            reports
        } else {
            runs.await
        };
        for (i, r) in &reports {
            ran[*i] += execs_run(r);
            if !kill_now {
                subject::completed(r);
            }
        }
        if kill_now {
            killed = true;
            node = nodes::Node::start(&spec).await;
            for d in &mut devices {
                d.config.server_url = format!("{}/dm", node.base());
            }
        }
    }
    assert!(killed, "the node was killed mid-campaign");
    // The silent devices time out: one round with the clock past `session_timeout_secs`
    // (leases keep this engine and the node's apart).
    let engine = Engine {
        store: store.clone(),
        settings: EngineSettings {
            owner: "clock".into(),
            poll: Duration::from_secs(1),
            public_url: node.base(),
        },
        notifier: Arc::new(NoNotifier),
    };
    engine.round(now() + 3_700_000).await.unwrap();
    let mut v;
    loop {
        engine.round(now() + 3_700_000).await.unwrap();
        v = nodes::api(&node.base(), "GET", &format!("/api/v1/campaigns/{id}"), None).await.1;
        if v["state"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not completed: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = &v["counts"];
    let n_silent = (0..N).filter(|i| silent(*i)).count() as i64;
    let n_failing = (0..N).filter(|i| failing(*i) && !silent(*i)).count() as i64;
    assert_eq!(c["failed"].as_i64(), Some(n_failing + n_silent), "{v}");
    assert_eq!(c["succeeded"].as_i64(), Some(N as i64 - n_failing - n_silent), "{v}");
    for (i, d) in devices.iter().enumerate() {
        let dev = &d.config.device_id;
        let cd = store.get_campaign_device(id, dev).await.unwrap().unwrap();
        assert_eq!(exec_count(&store, dev).await, 1, "{dev}: one Exec queued");
        let expected_runs = usize::from(!silent(i));
        assert_eq!(ran[i], expected_runs, "{dev}: Exec run {} times: {cd:?}", ran[i]);
        if silent(i) {
            assert_eq!(cd.reason.as_deref(), Some("no session within 3600 s"), "{cd:?}");
        } else if failing(i) {
            assert_eq!(cd.reason.as_deref(), Some("FUMO result 503: Download failed: network issues"));
        } else {
            assert_eq!(
                (cd.state, &cd.data["fwv"]),
                (CampaignDeviceState::Succeeded, &json!("fw-8")),
                "{cd:?}"
            );
        }
    }
    store.close().await;
    drop(node);
}
