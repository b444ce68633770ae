//! Session state lives in the database: a session begun on one `omadm serve` process continues
//! on a second process sharing the same PostgreSQL database (the RespURI token is all a node
//! needs). Also whole sessions on PostgreSQL in-process.

mod common;

use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use common::*;
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, CommandSpec, CommandState, Op, Store};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_node(db: &str, port: u16) -> Node {
    let child = Node(
        Process::new(env!("CARGO_BIN_EXE_omadm"))
            .arg("serve")
            .env("OMADM_LISTEN", format!("127.0.0.1:{port}"))
            .env("OMADM_DATABASE_URL", db)
            .env("OMADM_ADMIN_TOKEN", "t")
            .env("OMADM_PUBLIC_URL", "http://lb.example")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node on port {port} did not start");
}

fn get(target: &str) -> CommandSpec {
    CommandSpec { op: Some(Op::Get), target: Some(target.into()), ..CommandSpec::default() }
}

#[tokio::test]
async fn session_continues_on_another_node() {
    let Some(base) = pg_url() else { return };
    let db = fresh_pg_db(&base).await;
    let store = Store::connect(&db).await.unwrap();
    store.migrate().await.unwrap();
    let (pa, pb) = (free_port(), free_port());
    let _a = start_node(&db, pa).await;
    let _b = start_node(&db, pb).await;

    // Register the device and a command through the shared database.
    let server_stub = Server::start(config(&db)).await;
    let creds = DeviceCreds::new("IMEI:400000000000001", ClientAuthType::Md5);
    server_stub.add_device(&creds).await;
    server_stub.stop().await;
    let id = store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
    store.enqueue_command(&creds.device_id, &get("./DevDetail/FwV"), 2).await.unwrap();

    let mut dev = Client {
        creds: creds.clone(),
        version: DmVersion::V1_2,
        encoding: Encoding::Wbxml,
        url: format!("http://127.0.0.1:{pa}/dm"),
        session_id: "2A".into(),
        msg_id: 0,
        max_msg_size: Some(1400), // one Get per message: the session needs several round trips
        send_creds: true,
        last_response: None,
        last_http: None,
    };
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::AuthenticationAccepted);
    // The load balancer's RespURI: the next message goes to the other node.
    let resp_uri = r.hdr.resp_uri.clone().unwrap();
    assert!(resp_uri.starts_with("http://lb.example/dm?s="));
    let token = resp_uri.split("?s=").nth(1).unwrap().to_owned();
    let mut node = pb;
    let mut r = r;
    for _ in 0..4 {
        let reply = dev.reply(&r, &[("./DevDetail/SwV", "2.0"), ("./DevDetail/FwV", "fw9")]);
        dev.url = format!("http://127.0.0.1:{node}/dm?s={token}");
        r = dev.send(&reply).await;
        node = if node == pa { pb } else { pa };
        if commands(&r).is_empty() {
            break;
        }
    }
    assert!(commands(&r).is_empty(), "the session completed across nodes");
    let c = store.get_command(&creds.device_id, id).await.unwrap().unwrap();
    assert_eq!((c.state, c.results[0].data.as_str()), (CommandState::Done, "2.0"));
    let done = store.list_commands(&creds.device_id, Some(CommandState::Done), 10).await.unwrap();
    assert_eq!(done.len(), 2);
    let s = &store.list_sessions(&creds.device_id, 1).await.unwrap()[0];
    assert!(s.messages_in >= 2, "package 1 on node A, package 3 on node B");
    store.close().await;
    drop(_a);
    drop(_b);
    drop_pg_db(&base, &db).await;
}

/// A whole session, with an Atomic and results, on PostgreSQL.
#[tokio::test]
async fn full_session_on_postgres() {
    let Some(base) = pg_url() else { return };
    let db = fresh_pg_db(&base).await;
    let server = Server::start(config(&db)).await;
    let creds = DeviceCreds::new("IMEI:400000000000002", ClientAuthType::Hmac);
    server.add_device(&creds).await;
    let atomic = CommandSpec {
        op: Some(Op::Atomic),
        children: vec![
            CommandSpec {
                op: Some(Op::Replace),
                target: Some("./Vendor/A".into()),
                data: Some("1".into()),
                ..CommandSpec::default()
            },
            CommandSpec {
                op: Some(Op::Add),
                target: Some("./Vendor/B".into()),
                data: Some("2".into()),
                ..CommandSpec::default()
            },
        ],
        ..CommandSpec::default()
    };
    let a = server.store.enqueue_command(&creds.device_id, &atomic, 1).await.unwrap();
    let g = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 2).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(commands(&r).len(), 2);
    let reply = dev.reply(&r, &[("./DevDetail/SwV", "3.1")]);
    let r = dev.send(&reply).await;
    assert!(commands(&r).is_empty());
    let a = server.store.get_command(&creds.device_id, a).await.unwrap().unwrap();
    assert_eq!(a.state, CommandState::Done);
    assert!(a.children.iter().all(|c| c.state == CommandState::Done));
    let g = server.store.get_command(&creds.device_id, g).await.unwrap().unwrap();
    assert_eq!(g.results[0].data, "3.1");
    server.stop().await;
    drop_pg_db(&base, &db).await;
}
