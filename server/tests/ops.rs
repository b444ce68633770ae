//! Operating the server: `/healthz`, `/readyz` and the Prometheus exposition at `/metrics`,
//! checked over HTTP against a real server. The exposition is checked line by line against the
//! text format's rules (Prometheus "Exposition formats", text-based format 0.0.4) by a parser
//! written here, independent of the renderer.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, CommandSpec, Op};

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> http::Response {
    let headers: Vec<(String, String)> =
        headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    http::request("GET", &format!("http://{}{path}", server.addr), "HTTP/1.1", &headers, b"").await
}

fn json(r: &http::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

#[tokio::test]
async fn healthz_and_readyz_follow_the_database_and_shutdown() {
    let server = Server::sqlite().await;
    let r = get(&server, "/healthz", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(json(&r), serde_json::json!({"status": "ok"}));
    let r = get(&server, "/readyz", &[]).await;
    assert_eq!((r.status, json(&r)), (200, serde_json::json!({"status": "ready", "database": "ok"})));

    // Draining: not ready, still alive.
    server.app.draining.start();
    let r = get(&server, "/readyz", &[]).await;
    assert_eq!(
        (r.status, json(&r)),
        (503, serde_json::json!({"status": "not_ready", "reason": "shutting_down"}))
    );
    assert_eq!(get(&server, "/healthz", &[]).await.status, 200);
    server.stop().await;

    // The database gone: not ready, still alive (liveness never touches the database).
    let server = Server::sqlite().await;
    server.store.close().await;
    let r = get(&server, "/readyz", &[]).await;
    assert_eq!((r.status, json(&r)), (503, serde_json::json!({"status": "not_ready", "reason": "database"})));
    assert_eq!(get(&server, "/healthz", &[]).await.status, 200);
    // No authentication on the probes even though the admin API has a token.
    assert_eq!(get(&server, "/api/v1/devices", &[]).await.status, 401);
    server.stop().await;
}

/// One parsed exposition: series (name + sorted labels) to value, and each family's type.
#[derive(Debug, Default)]
struct Exposition {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    fn value(&self, series: &str) -> f64 {
        *self.samples.get(series).unwrap_or_else(|| panic!("no series {series}"))
    }
}

/// Parse and check the text format strictly; panics on the first violation.
fn parse_exposition(text: &str) -> Exposition {
    let mut e = Exposition::default();
    let mut helped = BTreeSet::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, arg) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(is_name(name), "{line}");
            match kw {
                "HELP" => assert!(helped.insert(name.to_owned()), "two HELP for {name}"),
                "TYPE" => {
                    assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg), "{line}");
                    assert!(e.types.insert(name.to_owned(), arg.to_owned()).is_none(), "two TYPE for {name}");
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((n, l)) => {
                let l = l.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut map = BTreeMap::new();
                for pair in l.split(',') {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(is_name(k) && !k.starts_with("__"), "bad label name: {line}");
                    let v =
                        v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("quoted label value");
                    assert!(!v.contains(['"', '\\', '\n']), "unescaped label value: {line}");
                    assert!(map.insert(k.to_owned(), v.to_owned()).is_none(), "label twice: {line}");
                }
                (n, map)
            }
        };
        assert!(is_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| e.types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        let kind = e.types.get(family).unwrap_or_else(|| panic!("sample before its TYPE: {line}"));
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counter without _total: {line}");
            assert!(value >= 0.0 && value.is_finite(), "{line}");
        }
        if name.ends_with("_bucket") && kind == "histogram" {
            assert!(labels.contains_key("le"), "bucket without le: {line}");
        }
        let key = format!(
            "{name}{{{}}}",
            labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")
        );
        assert!(e.samples.insert(key, value).is_none(), "series twice: {line}");
    }
    // Histograms: buckets ascending in le and cumulative, +Inf equal to _count.
    for (family, kind) in &e.types {
        if kind != "histogram" {
            continue;
        }
        let mut per_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (k, v) in &e.samples {
            if let Some(rest) = k.strip_prefix(&format!("{family}_bucket{{")) {
                let labels: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
                let le = labels.iter().find_map(|l| l.strip_prefix("le=\"")).unwrap().trim_end_matches('"');
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                let others =
                    labels.iter().filter(|l| !l.starts_with("le=")).cloned().collect::<Vec<_>>().join(",");
                per_series.entry(others).or_default().push((le, *v));
            }
        }
        assert!(!per_series.is_empty(), "histogram {family} has no buckets");
        for (labels, mut buckets) in per_series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{family}{{{labels}}} not cumulative");
            let (le, inf) = *buckets.last().unwrap();
            assert!(le.is_infinite(), "{family}{{{labels}}} has no +Inf bucket");
            assert_eq!(inf, e.value(&format!("{family}_count{{{labels}}}")), "{family}{{{labels}}}");
            assert!(e.samples.contains_key(&format!("{family}_sum{{{labels}}}")));
        }
    }
    e
}

async fn scrape(server: &Server) -> Exposition {
    let r = get(server, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse_exposition(std::str::from_utf8(&r.body).unwrap())
}

/// A session with a Get, a device we do not know and a wrong password move the counters they
/// should. Other tests of this binary run at the same time, so only increases are checked.
#[tokio::test]
async fn metrics_count_messages_sessions_commands_and_auth_failures() {
    let server = Server::sqlite().await;
    let before = scrape(&server).await;

    let creds = DeviceCreds::new("IMEI:700000000000001", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let spec =
        CommandSpec { op: Some(Op::Get), target: Some("./DevDetail/SwV".into()), ..CommandSpec::default() };
    server.store.enqueue_command(&creds.device_id, &spec, 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let pkg1 = dev.package1();
    let pkg2 = dev.send(&pkg1).await;
    assert_eq!(hdr_status(&pkg2).data, StatusCode::AuthenticationAccepted);
    let pkg3 = dev.reply(&pkg2, &[("./DevDetail/SwV", "2.0.1")]);
    let pkg4 = dev.send(&pkg3).await;
    assert!(commands(&pkg4).is_empty());

    // An unknown device, and a known one with the wrong password.
    let mut stranger = Client::new(&server, DeviceCreds::new("IMEI:799999999999999", ClientAuthType::Basic));
    let p = stranger.package1();
    assert_eq!(hdr_status(&stranger.send(&p).await).data, StatusCode::InvalidCredentials);
    let mut wrong = creds.clone();
    wrong.password = "not-the-password".into();
    let mut liar = Client::new(&server, wrong);
    let p = liar.package1();
    assert_eq!(hdr_status(&liar.send(&p).await).data, StatusCode::InvalidCredentials);
    // Not a DM message at all.
    let r = http::post(&server.dm_url(), &[("Content-Type".into(), "text/plain".into())], b"hello").await;
    assert_eq!(r.status, 415);

    let after = scrape(&server).await;
    let grew = |series: &str, by: f64| {
        let (a, b) = (after.value(series), before.value(series));
        assert!(a - b >= by, "{series}: {b} -> {a}, expected +{by}");
    };
    grew(r#"omadm_dm_messages_total{dm_version="1.2",result="answered"}"#, 3.0);
    grew(r#"omadm_dm_messages_total{dm_version="1.2",result="rejected"}"#, 1.0);
    grew(r#"omadm_dm_messages_total{dm_version="unknown",result="invalid"}"#, 1.0);
    grew(r#"omadm_dm_sessions_started_total{dm_version="1.2"}"#, 1.0);
    grew(r#"omadm_dm_sessions_ended_total{dm_version="1.2",outcome="completed"}"#, 1.0);
    grew(r#"omadm_commands_total{op="Get",outcome="done"}"#, 1.0);
    grew(r#"omadm_auth_failures_total{reason="unknown_device"}"#, 1.0);
    grew(r#"omadm_auth_failures_total{reason="refused"}"#, 1.0);
    grew(r#"omadm_db_transaction_duration_seconds_count{operation="dm_message"}"#, 3.0);
    grew(r#"omadm_http_requests_total{code="2xx",route="dm"}"#, 4.0);
    grew(r#"omadm_http_requests_total{code="4xx",route="dm"}"#, 1.0);
    grew(r#"omadm_http_requests_total{code="2xx",route="metrics"}"#, 1.0);
    grew(r#"omadm_http_request_duration_seconds_count{route="dm"}"#, 5.0);
    assert_eq!(after.types["omadm_db_transaction_duration_seconds"], "histogram");
    assert_eq!(after.value(&format!("omadm_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    server.stop().await;
}

#[tokio::test]
async fn metrics_token_guards_the_exposition() {
    let server = Server::sqlite_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    assert_eq!(get(&server, "/metrics", &[]).await.status, 401);
    assert_eq!(get(&server, "/metrics", &[("Authorization", "Bearer wrong")]).await.status, 401);
    // The admin token is not the metrics token.
    assert_eq!(get(&server, "/metrics", &[("Authorization", "Bearer test-token")]).await.status, 401);
    let r = get(&server, "/metrics", &[("Authorization", "Bearer scrape-secret")]).await;
    assert_eq!(r.status, 200);
    parse_exposition(std::str::from_utf8(&r.body).unwrap());
    server.stop().await;
}

#[test]
fn the_checker_refuses_broken_expositions() {
    let bad = [
        "omadm_x_total 1\n",                   // no TYPE
        "# TYPE omadm_x counter\nomadm_x 1\n", // counter without _total
        "# TYPE omadm_x_total counter\nomadm_x_total{a=\"1\"} 1\nomadm_x_total{a=\"1\"} 2\n", // twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n",
    ];
    for text in bad {
        assert!(std::panic::catch_unwind(|| parse_exposition(text)).is_err(), "accepted: {text}");
    }
    parse_exposition(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n",
    );
}
