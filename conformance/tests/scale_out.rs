//! Scale-out (issue 9): three `omadm serve` processes on one fresh PostgreSQL database behind a
//! round-robin load balancer (a loopback TCP proxy; every node's `public_url` is the
//! balancer's, so RespURI sends each next message to the next node in turn). Simulated devices
//! run real DM sessions through it; the database is read directly to count what was done.

mod nodes;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nodes::{Balancer, Node, NodeSpec, PgDb, TempDir};
use omadm_conformance::devsim::transport::{self, HttpRequest};
use omadm_conformance::devsim::{Device, DeviceConfig, ReportTiming, SessionReport};
use omadm_storage::{CampaignDeviceState, CommandRecord, CommandState, Op, Store};
use serde_json::{Value, json};

/// Three nodes on a fresh database, behind a balancer.
struct Cluster {
    nodes: Vec<Node>,
    lb: Balancer,
    store: Store,
    _dir: TempDir,
    _db: PgDb,
}

async fn cluster(tag: &str) -> Option<Cluster> {
    let base = nodes::pg_url()?;
    let db = PgDb::create(&base).await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let dir = TempDir::new(tag);
    // The balancer's port is chosen first: the nodes put its URL in RespURI.
    let ports: Vec<u16> = (0..3).map(|_| nodes::free_port()).collect();
    let lb = Balancer::start(ports.clone()).await;
    let spec = NodeSpec {
        database_url: db.url.clone(),
        firmware_dir: dir.0.join("firmware"),
        poll_ms: 50,
        public_url: Some(lb.base.clone()),
        dir: dir.0.clone(),
    };
    let mut nodes = Vec::new();
    for port in ports {
        nodes.push(Node::start_on(&spec, port).await);
    }
    Some(Cluster { nodes, lb, store, _dir: dir, _db: db })
}

impl Cluster {
    async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        nodes::api(&self.lb.base, method, path, body).await
    }

    /// `n` registered devices calling the balancer.
    async fn devices(&self, n: usize, f: impl Fn(usize, &mut DeviceConfig)) -> Vec<Device> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut c = DeviceConfig::new(
                &format!("{}/dm", self.lb.base),
                &format!("IMEI:scale-{}-{i}", nodes::random_hex()),
            );
            c.client.password = format!("pw-{}", nodes::random_hex());
            c.http_timeout = Duration::from_secs(20);
            f(i, &mut c);
            let reg = json!({
                "device_id": c.device_id,
                "client_auth": {
                    "type": c.client.kind.as_str(),
                    "username": c.client.username,
                    "password": c.client.password,
                    "nonce": c.client.nonce.to_b64(),
                },
            });
            let (s, v) = self.api("POST", "/api/v1/devices", Some(&reg)).await;
            assert_eq!(s, 201, "{v}");
            out.push(Device::new(c));
        }
        out
    }
}

#[track_caller]
fn completed(r: &SessionReport) {
    assert!(r.completed() && r.violations.is_empty(), "{r}\n{}", r.transcript());
}

fn execs(cmds: &[CommandRecord]) -> usize {
    cmds.iter().map(|c| usize::from(c.spec.op == Some(Op::Exec)) + execs(&c.children)).sum()
}

/// Exec commands the device answered (ran) in a session.
fn execs_run(r: &SessionReport) -> usize {
    r.device_statuses.iter().filter(|s| s.cmd == "Exec").count()
}

/// Twelve devices at once, each session's messages spread over the three nodes in turn: every
/// queued command is done once, with the device's value, whichever node took which message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_alternate_between_three_nodes() {
    let Some(cl) = cluster("alternate").await else { return };
    let mut devices = cl
        .devices(12, |i, c| {
            c.info.firmware_version = format!("fw-{i}");
            // Small messages: one command's answer per message, so sessions take several turns.
            c.max_msg_size = Some(1400);
        })
        .await;
    let targets = ["./DevDetail/FwV", "./DevInfo/Man", "./DevDetail/SwV", "./DevInfo/Lang"];
    for d in &devices {
        for t in targets {
            let path = format!("/api/v1/devices/{}/commands", d.config.device_id.replace(':', "%3A"));
            let (s, v) = cl.api("POST", &path, Some(&json!({"op": "Get", "target": t}))).await;
            assert_eq!(s, 201, "{v}");
        }
    }
    let before: Vec<usize> = (0..3).map(|i| cl.lb.count(i)).collect();
    let reports = nodes::join_all(devices.iter_mut().map(|d| d.run_session())).await;
    let mut messages = 0;
    for r in &reports {
        completed(r);
        messages += r.messages.len() / 2;
        assert!(r.messages.len() >= 6, "several round trips:\n{}", r.transcript());
    }
    // Round robin: every node took a share of the DM messages.
    for (i, b) in before.iter().enumerate() {
        assert!(cl.lb.count(i) - b >= messages / 3 - 1, "node {i}: {} of {messages}", cl.lb.count(i) - b);
    }
    for d in &devices {
        let cmds = cl.store.list_commands(&d.config.device_id, None, 100).await.unwrap();
        assert_eq!(cmds.len(), targets.len(), "nothing queued twice: {cmds:?}");
        for c in &cmds {
            assert_eq!(c.state, CommandState::Done, "{c:?}");
            assert_eq!(c.results.len(), 1, "one Results, stored once: {c:?}");
        }
        let fwv = cmds.iter().find(|c| c.spec.target.as_deref() == Some("./DevDetail/FwV")).unwrap();
        assert_eq!(fwv.results[0].data, d.config.info.firmware_version);
        let sessions = cl.store.list_sessions(&d.config.device_id, 10).await.unwrap();
        assert_eq!(sessions.len(), 1, "one session, though three nodes served it");
        assert!(sessions[0].messages_in >= 3, "{:?}", sessions[0]);
    }
    // A second round: nothing left to send, nothing done again.
    for r in nodes::join_all(devices.iter_mut().map(|d| d.run_session())).await {
        completed(&r);
        assert!(r.device_statuses.iter().all(|s| s.cmd == "SyncHdr"), "{}", r.transcript());
    }
}

/// A FUMO campaign run by the engines of all three nodes; one node is killed with SIGKILL in
/// the middle (while it serves sessions and runs engine rounds). The other two complete it:
/// every device updated exactly once, one Exec queued per device, counters right.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn campaign_survives_losing_one_of_three_nodes() {
    let Some(mut cl) = cluster("campaign").await else { return };
    const N: usize = 90;
    let failing = |i: usize| i % 9 == 4;
    let mut devices = cl
        .devices(N, |i, c| {
            c.fumo.installs = Some("fw-8".into());
            if failing(i) {
                c.fumo.result = 503;
            }
            if i % 4 == 0 {
                c.fumo.report = ReportTiming::NextSession;
            }
        })
        .await;
    let req = HttpRequest {
        method: "POST".into(),
        url: format!("{}/api/v1/firmware?name=rocket-fw8.bin&version=fw-8", cl.lb.base),
        headers: vec![("Authorization".into(), format!("Bearer {}", nodes::TOKEN))],
        body: (0..50_000u32).map(|i| (i % 251) as u8).collect(),
    };
    let r = transport::send(&req, Duration::from_secs(30)).await.unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let fw: Value = serde_json::from_slice(&r.body).unwrap();
    let ids: Vec<&str> = devices.iter().map(|d| d.config.device_id.as_str()).collect();
    let (s, v) = cl
        .api(
            "POST",
            "/api/v1/campaigns",
            Some(&json!({
                "name": "fw-8 on three nodes",
                "kind": "fumo",
                "target": {"device_ids": ids},
                "payload": {"firmware_id": fw["firmware"]["id"], "fumo_uri": "./FwUpdate/x1"},
                "policy": {"max_concurrent": 30, "failure_threshold_pct": 100}
            })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();

    let mut ran = vec![0usize; N];
    let mut killed = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "the campaign did not finish within 300 s");
        let mut due = HashSet::new();
        for st in [CampaignDeviceState::Notified, CampaignDeviceState::InSession] {
            for cd in cl.store.list_campaign_devices(id, Some(st), None, 1000).await.unwrap() {
                due.insert(cd.device_id);
            }
        }
        let c = cl.store.campaign_counts(id).await.unwrap();
        if c.pending == 0 && due.is_empty() {
            break;
        }
        let mut batch: Vec<(usize, &mut Device)> =
            devices.iter_mut().enumerate().filter(|(_, d)| due.contains(&d.config.device_id)).collect();
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let kill_now = !killed && c.succeeded + c.failed >= (N / 3) as i64;
        let runs = nodes::join_all(batch.iter_mut().map(|(i, d)| {
            let i = *i;
            async move { (i, d.run_session().await) }
        }));
        let reports = if kill_now {
            let mut b = [0u8; 1];
            getrandom::fill(&mut b).unwrap();
            let node = &mut cl.nodes[2];
            let (reports, ()) = tokio::join!(runs, async {
                tokio::time::sleep(Duration::from_millis(u64::from(b[0]) % 40)).await;
                node.kill();
            });
            killed = true;
            reports
        } else {
            runs.await
        };
        for (i, r) in &reports {
            ran[*i] += execs_run(r);
            if !kill_now {
                completed(r);
            }
        }
    }
    assert!(killed && !cl.nodes[2].alive() && cl.nodes[0].alive() && cl.nodes[1].alive());
    let v = loop {
        let (_, v) = cl.api("GET", &format!("/api/v1/campaigns/{id}"), None).await;
        if v["state"] == "completed" {
            break v;
        }
        assert!(Instant::now() < deadline, "not completed: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let n_failing = (0..N).filter(|i| failing(*i)).count() as i64;
    assert_eq!(v["counts"]["failed"].as_i64(), Some(n_failing), "{v}");
    assert_eq!(v["counts"]["succeeded"].as_i64(), Some(N as i64 - n_failing), "{v}");
    for (i, d) in devices.iter().enumerate() {
        let dev = &d.config.device_id;
        let cmds = cl.store.list_commands(dev, None, 100).await.unwrap();
        assert_eq!(execs(&cmds), 1, "{dev}: one Exec queued: {cmds:?}");
        assert_eq!(ran[i], 1, "{dev}: the device ran the Exec {} times", ran[i]);
        let cd = cl.store.get_campaign_device(id, dev).await.unwrap().unwrap();
        let want = if failing(i) { CampaignDeviceState::Failed } else { CampaignDeviceState::Succeeded };
        assert_eq!(cd.state, want, "{cd:?}");
    }
    cl.store.close().await;
}
