//! The load generator's client logic against the real server, in-process on a loopback port
//! over a fresh SQLite file: a few sessions, and a FUMO campaign over 50 devices; correctness
//! only (no timing is asserted).

use std::sync::Arc;
use std::time::Duration;

use omadm_conformance::loadgen::campaign::{self, CampaignOptions, FW_VERSION, FWV};
use omadm_conformance::loadgen::{self, Fleet, RunOptions, Target, dm};
use omadm_protocol::Encoding;
use omadm_server::app::App;
use omadm_server::config::Overrides;
use omadm_storage::{CommandState, Op, SessionOutcome, Store};

struct Running {
    target: Target,
    store: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    dir: std::path::PathBuf,
}

async fn start() -> Running {
    let dir = std::env::temp_dir().join(format!("omadm-loadgen-test-{}", omadm_server::app::random_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Overrides::default().resolve().unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database_url = format!("sqlite://{}", dir.join("omadm.db").display());
    config.admin_token = Some("test-token".into());
    config.campaign.firmware_dir = dir.join("firmware");
    config.campaign.poll_ms = 100;
    let store = Store::connect(&config.database_url).await.unwrap();
    store.migrate().await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(store.clone(), Arc::new(config));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        omadm_server::serve::serve(listener, app, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let target = Target::new(&format!("http://{addr}"), Some("test-token".into())).unwrap();
    Running { target, store, stop, task, dir }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_complete_with_zero_errors_and_the_baseline_replays_them() {
    let server = start().await;
    let target = &server.target;
    let fleet = Arc::new(Fleet::new(4));

    let s = loadgen::setup(target, &fleet, 2, true).await;
    assert_eq!(s.errors.total(), 0, "{}", s.summary("setup"));
    assert_eq!((s.registered, s.queued, s.requests), (4, 4, 12));
    assert_eq!(fleet.queued(), 4);

    for (round, encoding) in [Encoding::Xml, Encoding::Wbxml].into_iter().enumerate() {
        // Two sessions per device: the second one authenticates with the nonce the server
        // handed out in the first, and needs its commands queued again during the run.
        let mut opts = RunOptions::new(encoding, 2, Duration::from_secs(300));
        opts.max_sessions = 8;
        let r = loadgen::run(target, &fleet, &opts).await;
        assert_eq!(r.errors.total(), 0, "{}", r.summary());
        assert_eq!((r.sessions, r.requests, r.latencies_us.len()), (8, 16, 8), "{}", r.summary());
        assert_eq!(r.enqueues, if round == 0 { 4 } else { 8 }, "{}", r.summary());
        let canned = r.canned.as_ref().expect("the answers of a session are kept for the baseline");
        assert_eq!(canned.content_type, encoding.content_type());
        assert!(r.request_bytes[0] > 0 && r.request_bytes[1] > 0);

        let b = loadgen::run_baseline(canned, target, fleet.len(), 1, &opts).await.unwrap();
        assert_eq!(b.errors.total(), 0, "{}", b.summary());
        assert_eq!((b.sessions, b.requests), (8, 16), "{}", b.summary());
    }

    // The server saw what the devices did: every command answered, Results stored, sessions
    // completed. (A worker that laps a slow one skips the busy device, so the 16 sessions need
    // not be spread evenly.)
    let (mut done_total, mut sessions_total) = (0, 0);
    for i in 0..fleet.len() {
        let id = fleet.id(i);
        let done = server.store.list_commands(id, Some(CommandState::Done), 100).await.unwrap();
        let gets: Vec<_> = done.iter().filter(|c| c.spec.target.as_deref() == Some(dm::GET_TARGET)).collect();
        assert_eq!(2 * gets.len(), done.len(), "{id}: a Replace with every Get");
        assert!(gets.iter().all(|c| c.status == Some(200) && c.results[0].data == dm::SWV));
        let sessions = server.store.list_sessions(id, 100).await.unwrap();
        assert!(sessions.iter().all(|s| s.outcome == SessionOutcome::Completed));
        assert_eq!(sessions.len(), gets.len(), "{id}: one Get per session");
        assert_eq!(fleet.state(i).sessions as usize, sessions.len());
        done_total += done.len();
        sessions_total += sessions.len();
    }
    assert_eq!((sessions_total, done_total), (16, 32));

    // Refill, then open sessions and leave them waiting in package 2.
    assert_eq!(fleet.queued(), 0);
    let s = loadgen::setup(target, &fleet, 2, false).await;
    assert_eq!((s.registered, s.queued, s.errors.total()), (0, 4, 0));
    let (open, errors, held) = loadgen::open_sessions(target, &fleet, 1, 2, 2, Encoding::Xml, true).await;
    assert_eq!((open, errors.total(), held.len()), (2, 0, 2));
    let sessions = server.store.list_sessions(fleet.id(1), 1).await.unwrap();
    assert_eq!(sessions[0].outcome, SessionOutcome::Active);
    drop(held);

    // The fleet's state survives a round trip through the state file.
    let path =
        std::env::temp_dir().join(format!("omadm-loadgen-state-{}", omadm_server::app::random_token()));
    fleet.save(&path).unwrap();
    let again = Fleet::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(again.len(), fleet.len());
    for i in 0..fleet.len() {
        assert_eq!(again.state(i), fleet.state(i));
    }

    // A session of a device whose sessions were left open still completes (the server ends
    // the open one), with the nonce from the open one's package 2.
    let mut opts = RunOptions::new(Encoding::Xml, 1, Duration::from_secs(300));
    opts.max_sessions = 4;
    let r = loadgen::run(target, &fleet, &opts).await;
    assert_eq!((r.sessions, r.errors.total()), (4, 0), "{}", r.summary());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fumo_campaign_over_50_devices_runs_to_its_end() {
    let server = start().await;
    let target = &server.target;
    const N: usize = 50;
    let fleet = Arc::new(Fleet::new(N));
    let s = loadgen::register(target, &fleet, 4).await;
    assert_eq!((s.registered, s.queued, s.requests, s.errors.total()), (N as u64, 0, N as u64, 0));

    let mut opts = CampaignOptions::new(N, 8);
    opts.recall = Duration::from_millis(200);
    opts.recall_max = Duration::from_millis(800);
    opts.poll = Duration::from_millis(100);
    opts.timeout = Duration::from_secs(240);
    opts.firmware_bytes = 4096;
    let r = campaign::run(target, &fleet, &opts, None).await.unwrap();
    println!("{}", r.summary());
    assert_eq!(r.errors.total(), 0, "{}", r.summary());
    let (dispatched, completed) = (r.dispatched.unwrap(), r.completed.unwrap());
    assert!(dispatched <= completed && r.all_verified.unwrap() <= completed, "{}", r.summary());
    assert_eq!((r.last.succeeded, r.last.failed, r.last.unfinished()), (N as i64, 0, 0), "{}", r.summary());
    assert_eq!((r.update_sessions, r.verify_sessions), (N as u64, N as u64), "{}", r.summary());
    // Two messages per session that carried something, one per empty session.
    assert_eq!(r.requests, 4 * N as u64 + r.empty_sessions, "{}", r.summary());
    assert!(r.server_times.dm_requests >= r.requests as f64, "{}", r.summary());

    // What the server recorded: one Sequence whose Exec got 202, and the FwV read answered
    // with the new version, for every device; one Generic Alert echoing the Exec's Correlator.
    for i in 0..N {
        let id = fleet.id(i);
        let cmds = server.store.list_commands(id, None, 100).await.unwrap();
        assert_eq!(cmds.len(), 2, "{id}: {cmds:?}");
        let seq = cmds.iter().find(|c| c.spec.op == Some(Op::Sequence)).expect("the Sequence");
        let exec = seq.children.iter().find(|c| c.spec.op == Some(Op::Exec)).expect("the Exec");
        assert_eq!((exec.state, exec.status), (CommandState::Done, Some(202)), "{id}");
        let get = cmds.iter().find(|c| c.spec.op == Some(Op::Get)).expect("the FwV read");
        assert_eq!(get.spec.target.as_deref(), Some(FWV));
        assert_eq!((get.state, get.results[0].data.as_str()), (CommandState::Done, FW_VERSION), "{id}");
        let corr = omadm_server::session::correlator(exec.id);
        let alert = server.store.find_generic_alert(id, &corr).await.unwrap().expect("the Generic Alert");
        assert_eq!(alert.data.as_deref(), Some("200"));
        assert_eq!(alert.alert_type.as_deref(), Some(campaign::ALERT_TYPE));
    }
    server.stop().await;
}
