//! The admin API, called in-process through `tower::ServiceExt::oneshot` on the router over a
//! migrated in-memory SQLite store: authentication, device and command life cycles, input
//! errors and their JSON shape, the OpenAPI document, and that no secret ever shows.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use omadm_protocol::auth::md5_secret;
use omadm_server::app::App;
use omadm_server::config::Overrides;
use omadm_storage::{CommandState, GenericAlert, InventoryItem, ResultItem, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-admin-token";
const CLIENT_PW: &str = "client-pass-xyzzy";
const SERVER_PW: &str = "server-pass-plugh";
const CLIENT_NONCE: &str = "Y2xpZW50LW5vbmNlLTEyMw==";
const SERVER_NONCE: &str = "c2VydmVyLW5vbmNlLTQ1Ng==";

/// The API router over a fresh in-memory store, with `token` as the admin token.
async fn setup(token: Option<&str>) -> (Router, Store) {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let mut config = Overrides::default().resolve().unwrap();
    config.admin_token = token.map(str::to_owned);
    config.server_id = "omadm-test".into();
    let app = App::new(store.clone(), Arc::new(config));
    (omadm_server::api::routes(app), store)
}

struct Resp {
    status: StatusCode,
    headers: header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The `{"error": ...}` message, checking the shape.
    fn error(&self) -> String {
        let v = self.json();
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "error body shape: {v}");
        v["error"].as_str().expect("error is a string").to_owned()
    }
}

/// Send a request; `body` is sent as JSON with `Content-Type: application/json`.
async fn call(router: &Router, method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    send(router, req.unwrap()).await
}

async fn send(router: &Router, req: Request<Body>) -> Resp {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp { status, headers, text: String::from_utf8(bytes.to_vec()).unwrap() }
}

/// A raw body with an explicit content type (or none).
async fn raw(router: &Router, uri: &str, content_type: Option<&str>, body: &str) -> Resp {
    let mut req =
        Request::builder().method("POST").uri(uri).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    send(router, req.body(Body::from(body.to_owned())).unwrap()).await
}

fn new_device(id: &str) -> Value {
    json!({
        "device_id": id,
        "client_auth": {"type": "md5", "username": "devuser", "password": CLIENT_PW, "nonce": CLIENT_NONCE},
        "server_auth": {"password": SERVER_PW, "nonce": SERVER_NONCE},
    })
}

async fn create(router: &Router, id: &str) -> Resp {
    call(router, "POST", "/api/v1/devices", Some(TOKEN), Some(new_device(id))).await
}

/// Strings that must never leave the server.
fn secrets() -> Vec<String> {
    vec![
        TOKEN.into(),
        CLIENT_PW.into(),
        SERVER_PW.into(),
        CLIENT_NONCE.into(),
        SERVER_NONCE.into(),
        md5_secret("devuser", CLIENT_PW).expose().into(),
        md5_secret("omadm-test", SERVER_PW).expose().into(),
        "client_secret".into(),
        "server_secret".into(),
        "nonce".into(),
    ]
}

fn assert_no_secret(text: &str) {
    for s in secrets() {
        assert!(!text.contains(&s), "response leaks {s:?}: {text}");
    }
}

#[tokio::test]
async fn token_is_required_and_compared() {
    let (router, _) = setup(Some(TOKEN)).await;
    let r = call(&router, "GET", "/api/v1/devices", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.error().contains("bearer"));
    assert!(r.headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
    let r = call(&router, "GET", "/api/v1/devices", Some("wrong"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid bearer token");
    let r = call(&router, "GET", "/api/v1/devices", Some(&format!("{TOKEN}x")), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Another scheme is not a bearer token.
    let req = Request::get("/api/v1/devices").header(header::AUTHORIZATION, format!("Basic {TOKEN}"));
    assert_eq!(send(&router, req.body(Body::empty()).unwrap()).await.status, StatusCode::UNAUTHORIZED);
    // Writes are refused before the body is looked at.
    let r = call(&router, "POST", "/api/v1/devices", None, Some(new_device("IMEI:1"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r =
        call(&router, "POST", "/api/v1/devices/IMEI:1/commands", Some("nope"), Some(json!({"op": "Get"})))
            .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Unknown routes do not tell anonymous callers what exists.
    assert_eq!(call(&router, "GET", "/api/v1/nothing", None, None).await.status, StatusCode::UNAUTHORIZED);

    let r = call(&router, "GET", "/api/v1/devices", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"devices": [], "next_after": null}));
    // The scheme is case-insensitive.
    let req = Request::get("/api/v1/devices").header(header::AUTHORIZATION, format!("bearer {TOKEN}"));
    assert_eq!(send(&router, req.body(Body::empty()).unwrap()).await.status, StatusCode::OK);
    // The OpenAPI document needs no token.
    assert_eq!(call(&router, "GET", "/api/v1/openapi.json", None, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_configured_token_the_api_is_open() {
    let (router, _) = setup(None).await;
    assert_eq!(call(&router, "GET", "/api/v1/devices", None, None).await.status, StatusCode::OK);
    let r = call(&router, "POST", "/api/v1/devices", None, Some(new_device("IMEI:9"))).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn device_life_cycle() {
    let (router, store) = setup(Some(TOKEN)).await;
    let r = create(&router, "IMEI:493005100592800").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.headers[header::LOCATION], "/api/v1/devices/IMEI%3A493005100592800");
    let d = r.json();
    assert_eq!(d["device_id"], "IMEI:493005100592800");
    assert_eq!(d["client_auth"], json!({"type": "md5", "username": "devuser"}));
    assert_eq!(d["server_id"], "omadm-test");
    assert_eq!(d["server_auth"], true);
    assert_eq!(d["dm_version"], Value::Null);
    assert!(d["created_at"].as_i64().unwrap() > 0);

    // Stored as digests, with the nonces given.
    let stored = store.get_device("IMEI:493005100592800").await.unwrap().unwrap();
    assert_eq!(stored.client_secret, md5_secret("devuser", CLIENT_PW).expose());
    assert_eq!(stored.server_secret.as_deref(), Some(md5_secret("omadm-test", SERVER_PW).expose()));
    assert_eq!(stored.client_nonce, CLIENT_NONCE);
    assert_eq!(stored.server_nonce, SERVER_NONCE);

    // Percent-encoded and plain ids reach the same device.
    for uri in ["/api/v1/devices/IMEI%3A493005100592800", "/api/v1/devices/IMEI:493005100592800"] {
        let r = call(&router, "GET", uri, Some(TOKEN), None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.json(), d);
    }

    // A slash in an id survives encoding.
    let r = create(&router, "urn:dev/1 2").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "whitespace is refused: {}", r.text);
    let r = create(&router, "urn:dev/12").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.headers[header::LOCATION], "/api/v1/devices/urn%3Adev%2F12");
    let r = call(&router, "GET", "/api/v1/devices/urn%3Adev%2F12", Some(TOKEN), None).await;
    assert_eq!(r.json()["device_id"], "urn:dev/12");

    // Duplicate.
    let r = create(&router, "IMEI:493005100592800").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("already exists"));

    // Defaults: random nonces, no server auth, the configured ServerID unless given.
    let body = json!({
        "device_id": "MAC:00112233",
        "client_auth": {"type": "hmac", "username": "u2", "password": "p2"},
        "server_id": "other-server",
    });
    let r = call(&router, "POST", "/api/v1/devices", Some(TOKEN), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["server_auth"], false);
    assert_eq!(r.json()["server_id"], "other-server");
    let stored = store.get_device("MAC:00112233").await.unwrap().unwrap();
    assert_eq!(stored.client_nonce.len(), 24, "16 random bytes in Base64");
    assert!(stored.server_secret.is_none());

    // List, paged.
    let r = call(&router, "GET", "/api/v1/devices", Some(TOKEN), None).await;
    let list = r.json();
    let ids: Vec<&str> =
        list["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["IMEI:493005100592800", "MAC:00112233", "urn:dev/12"]);
    let r = call(&router, "GET", "/api/v1/devices?limit=2", Some(TOKEN), None).await;
    let page = r.json();
    assert_eq!(page["devices"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_after"], "MAC:00112233");
    let r = call(&router, "GET", "/api/v1/devices?limit=3", Some(TOKEN), None).await;
    assert_eq!(r.json()["next_after"], Value::Null, "an exactly full last page says so");
    let r = call(&router, "GET", "/api/v1/devices?limit=2&after=MAC%3A00112233", Some(TOKEN), None).await;
    assert_eq!(r.json()["devices"][0]["device_id"], "urn:dev/12");
    assert_eq!(r.json()["next_after"], Value::Null);
    for bad in ["limit=0", "limit=1001", "limit=x", "bogus=1"] {
        let r = call(&router, "GET", &format!("/api/v1/devices?{bad}"), Some(TOKEN), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!r.error().is_empty());
    }

    // Inventory and sessions of a fresh device are empty.
    let r = call(&router, "GET", "/api/v1/devices/IMEI%3A493005100592800/inventory", Some(TOKEN), None).await;
    assert_eq!(r.json(), json!({"device_id": "IMEI:493005100592800", "inventory": []}));
    let r = call(&router, "GET", "/api/v1/devices/IMEI%3A493005100592800/sessions", Some(TOKEN), None).await;
    assert_eq!(r.json(), json!({"device_id": "IMEI:493005100592800", "sessions": []}));

    // Delete.
    let r = call(&router, "DELETE", "/api/v1/devices/IMEI%3A493005100592800", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    for (method, uri) in [
        ("GET", "/api/v1/devices/IMEI%3A493005100592800"),
        ("DELETE", "/api/v1/devices/IMEI%3A493005100592800"),
        ("GET", "/api/v1/devices/IMEI%3A493005100592800/inventory"),
        ("GET", "/api/v1/devices/IMEI%3A493005100592800/sessions"),
        ("GET", "/api/v1/devices/IMEI%3A493005100592800/commands"),
        ("GET", "/api/v1/devices/IMEI%3A493005100592800/commands/1"),
        ("GET", "/api/v1/alerts?device_id=IMEI%3A493005100592800"),
    ] {
        let r = call(&router, method, uri, Some(TOKEN), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert!(r.error().contains("not found"), "{method} {uri}");
    }
    let r = call(
        &router,
        "POST",
        "/api/v1/devices/IMEI%3A493005100592800/commands",
        Some(TOKEN),
        Some(json!({"op": "Get", "target": "./DevInfo/Man"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_requests_are_json_errors() {
    let (router, _) = setup(Some(TOKEN)).await;
    let devices = "/api/v1/devices";
    // Bad JSON.
    let r = raw(&router, devices, Some("application/json"), "{\"device_id\": ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.error().is_empty());
    // Not JSON at all: 415 for the wrong or a missing content type.
    let r = raw(&router, devices, Some("text/plain"), &new_device("IMEI:1").to_string()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.error().contains("application/json"));
    let r = raw(&router, devices, None, &new_device("IMEI:1").to_string()).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(!r.error().is_empty());
    // application/json with a charset is fine.
    let r = raw(&router, devices, Some("application/json; charset=utf-8"), &new_device("IMEI:1").to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Missing and unknown fields, wrong types, failed validation: 400 with a message naming the field.
    let cases = [
        (json!({"device_id": "IMEI:2"}), "client_auth"),
        (json!({"device_id": "IMEI:2", "client_auth": {"type": "md5", "username": "u"}}), "password"),
        (
            json!({"device_id": "IMEI:2", "client_auth": {"type": "md5", "username": "u", "password": "p", "pasword": "x"}}),
            "pasword",
        ),
        (
            json!({"device_id": 5, "client_auth": {"type": "md5", "username": "u", "password": "p"}}),
            "device_id",
        ),
        (
            json!({"device_id": "IMEI:2", "client_auth": {"type": "digest", "username": "u", "password": "p"}}),
            "client_auth.type",
        ),
        (
            json!({"device_id": "", "client_auth": {"type": "md5", "username": "u", "password": "p"}}),
            "device_id",
        ),
        (
            json!({"device_id": "IMEI:2", "client_auth": {"type": "md5", "username": "u", "password": ""}}),
            "client_auth.password",
        ),
        (
            json!({"device_id": "IMEI:2", "client_auth": {"type": "md5", "username": "u", "password": "p", "nonce": "%%%"}}),
            "client_auth.nonce",
        ),
        (
            json!({"device_id": "IMEI:2", "client_auth": {"type": "md5", "username": "u", "password": "p"}, "server_auth": {}}),
            "password",
        ),
        (json!([1, 2]), "invalid request body"),
    ];
    for (body, needle) in cases {
        let r = call(&router, "POST", devices, Some(TOKEN), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let msg = r.error();
        assert!(msg.contains(needle), "{body}: {msg:?} does not mention {needle:?}");
    }

    // Commands: wrong JSON and wrong content type too.
    let cmds = "/api/v1/devices/IMEI%3A1/commands";
    assert_eq!(
        raw(&router, cmds, Some("application/json"), "not json").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        raw(&router, cmds, Some("application/xml"), "{}").await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let r = raw(&router, cmds, Some("application/json"), "{\"target\": \"./A\"}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("op"));

    // Over the API's body limit: 413, still as JSON.
    let huge = format!(
        "{{\"op\":\"Replace\",\"target\":\"./A\",\"data\":\"{}\"}}",
        "x".repeat(omadm_server::api::MAX_BODY)
    );
    let r = raw(&router, cmds, Some("application/json"), &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!r.error().is_empty());

    // Unknown routes and methods.
    let r = call(&router, "GET", "/api/v1/nothing/here", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.error().is_empty());
    let r = call(&router, "PUT", "/api/v1/devices", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!r.error().is_empty());
    let allow = r.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let r = call(&router, "GET", "/api/v1/devices/IMEI%3A1/commands/abc", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("integer"));
}

#[tokio::test]
async fn commands_are_queued_and_read_back() {
    let (router, store) = setup(Some(TOKEN)).await;
    assert_eq!(create(&router, "IMEI:1").await.status, StatusCode::CREATED);
    let cmds = "/api/v1/devices/IMEI%3A1/commands";
    let post = |body: Value| {
        let router = router.clone();
        async move { call(&router, "POST", cmds, Some(TOKEN), Some(body)).await }
    };

    let r = post(json!({"op": "Get", "target": "./DevDetail/SwV"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let get_id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.headers[header::LOCATION], format!("/api/v1/devices/IMEI%3A1/commands/{get_id}"));
    let r = call(&router, "GET", &format!("{cmds}/{get_id}"), Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let c = r.json();
    assert_eq!(c["id"], get_id);
    assert_eq!(c["op"], "Get");
    assert_eq!(c["target"], "./DevDetail/SwV");
    assert_eq!(c["state"], "queued");
    assert_eq!(c["status"], Value::Null);
    assert_eq!(c["results"], json!([]));
    assert_eq!(c["commands"], json!([]));

    let r = post(json!({"op": "Replace", "target": "./Vendor/Setting", "data": "42", "type": "text/plain"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c = call(&router, "GET", &format!("{cmds}/{}", r.json()["id"]), Some(TOKEN), None).await.json();
    assert_eq!(
        (c["data"].as_str(), c["format"].as_str(), c["type"].as_str()),
        (Some("42"), Some("chr"), Some("text/plain"))
    );

    // An Atomic with children, read back whole; a child on its own.
    let atomic = json!({"op": "Atomic", "commands": [
        {"op": "Add", "target": "./Vendor/New", "format": "node"},
        {"op": "Replace", "target": "./Vendor/New/Leaf", "data": "1", "format": "int"},
        {"op": "Sequence", "commands": [{"op": "Delete", "target": "./Vendor/Old"}]}
    ]});
    let r = post(atomic).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let atomic_id = r.json()["id"].as_i64().unwrap();
    let c = call(&router, "GET", &format!("{cmds}/{atomic_id}"), Some(TOKEN), None).await.json();
    assert_eq!(c["op"], "Atomic");
    assert_eq!(c["target"], Value::Null);
    assert_eq!(c["state"], "queued");
    let kids = c["commands"].as_array().unwrap();
    assert_eq!(kids.len(), 3);
    assert_eq!(
        kids.iter().map(|k| k["op"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Add", "Replace", "Sequence"]
    );
    assert!(kids.iter().all(|k| k["state"] == "queued" && k["parent_id"] == atomic_id));
    assert_eq!(kids[2]["commands"][0]["target"], "./Vendor/Old");
    let child = call(&router, "GET", &format!("{cmds}/{}", kids[1]["id"]), Some(TOKEN), None).await.json();
    assert_eq!(child["target"], "./Vendor/New/Leaf");

    // A UI alert.
    let r = post(json!({"op": "Alert", "alert_code": 1101, "texts": ["MAXDT=30", "Install?"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c = call(&router, "GET", &format!("{cmds}/{}", r.json()["id"]), Some(TOKEN), None).await.json();
    assert_eq!((c["alert_code"].as_i64(), c["texts"].clone()), (Some(1101), json!(["MAXDT=30", "Install?"])));

    // Refused: each with a 400 and a message naming the problem.
    let refused = [
        (json!({"op": "Fetch", "target": "./A"}), "op"),
        (json!({"op": "Get"}), "target"),
        (json!({"op": "Get", "target": "/DevInfo/Man"}), "./"),
        (json!({"op": "Get", "target": "./A\u{0}B"}), "control"),
        (json!({"op": "Copy", "target": "./A"}), "source"),
        (json!({"op": "Replace", "target": "./A", "data": "x", "format": "text"}), "format"),
        (
            json!({"op": "Atomic", "commands": [{"op": "Get", "target": "./DevInfo/Man"}]}),
            "Get is not allowed inside an Atomic",
        ),
        (
            json!({"op": "Atomic", "commands": [{"op": "Atomic", "commands": [{"op": "Delete", "target": "./A"}]}]}),
            "nested",
        ),
        (json!({"op": "Sequence", "commands": []}), "commands"),
        (json!({"op": "Alert", "alert_code": 1226, "texts": ["", "x"]}), "alert_code"),
        (json!({"op": "Get", "target": "./A", "bogus": 1}), "bogus"),
        (json!({"op": "Get", "target": 7}), "target"),
    ];
    for (body, needle) in refused {
        let r = post(body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let msg = r.error();
        assert!(msg.contains(needle), "{body}: {msg:?} does not mention {needle:?}");
    }
    // Data over 4 MiB.
    let r = post(json!({"op": "Replace", "target": "./A", "data": "x".repeat(4 * 1024 * 1024 + 1)})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("data"));

    // List, newest first, by state.
    let r = call(&router, "GET", cmds, Some(TOKEN), None).await;
    let list = r.json();
    let ids: Vec<i64> =
        list["commands"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 4, "top-level commands only: {list}");
    assert_eq!(*ids.last().unwrap(), get_id);
    let r = call(&router, "GET", &format!("{cmds}?state=queued&limit=2"), Some(TOKEN), None).await;
    assert_eq!(r.json()["commands"].as_array().unwrap().len(), 2);
    let r = call(&router, "GET", &format!("{cmds}?state=done"), Some(TOKEN), None).await;
    assert_eq!(r.json()["commands"], json!([]));
    let r = call(&router, "GET", &format!("{cmds}?state=finished"), Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("state"));

    // The device answers: state, status and results show.
    store.mark_sent(&[get_id], "tok", 1).await.unwrap();
    assert_eq!(
        call(&router, "GET", &format!("{cmds}/{get_id}"), Some(TOKEN), None).await.json()["state"],
        "sent"
    );
    let item = ResultItem {
        source: "./DevDetail/SwV".into(),
        format: Some("chr".into()),
        mime_type: Some("text/plain".into()),
        data: "1.2.3".into(),
    };
    store.add_results(get_id, &[item], 2).await.unwrap();
    store.set_command_status(get_id, CommandState::Done, Some(200), 2).await.unwrap();
    let c = call(&router, "GET", &format!("{cmds}/{get_id}"), Some(TOKEN), None).await.json();
    assert_eq!(c["state"], "done");
    assert_eq!(c["status"], 200);
    assert_eq!(
        c["results"],
        json!([{"source": "./DevDetail/SwV", "format": "chr", "type": "text/plain", "data": "1.2.3"}])
    );
    assert!(!c.to_string().contains("tok"), "no session token: {c}");

    // Unknown command, and a command of another device.
    assert_eq!(
        call(&router, "GET", &format!("{cmds}/999999"), Some(TOKEN), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(create(&router, "IMEI:2").await.status, StatusCode::CREATED);
    let r =
        call(&router, "GET", &format!("/api/v1/devices/IMEI%3A2/commands/{get_id}"), Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("command"));
}

#[tokio::test]
async fn inventory_and_generic_alerts_are_shown() {
    let (router, store) = setup(Some(TOKEN)).await;
    assert_eq!(create(&router, "IMEI:1").await.status, StatusCode::CREATED);
    let item = InventoryItem {
        uri: "./DevInfo/Man".into(),
        format: Some("chr".into()),
        value: "Acme".into(),
        updated_at: 5,
    };
    store.upsert_inventory("IMEI:1", &[item]).await.unwrap();
    let r = call(&router, "GET", "/api/v1/devices/IMEI%3A1/inventory", Some(TOKEN), None).await;
    assert_eq!(
        r.json()["inventory"],
        json!([{"uri": "./DevInfo/Man", "format": "chr", "value": "Acme", "updated_at": 5}])
    );

    let alert = GenericAlert {
        id: 0,
        device_id: "IMEI:1".into(),
        session_token: Some("session-token-abc".into()),
        alert_type: Some("org.openmobilealliance.dm.firmwareupdate.download".into()),
        format: Some("int".into()),
        mark: Some("critical".into()),
        source: Some("./FUMO/Download".into()),
        data: Some("200".into()),
        correlator: Some("corr-1".into()),
        received_at: 7,
    };
    store.add_generic_alert(&alert).await.unwrap();
    for uri in ["/api/v1/alerts", "/api/v1/alerts?device_id=IMEI%3A1&limit=10"] {
        let r = call(&router, "GET", uri, Some(TOKEN), None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        let a = &r.json()["alerts"][0];
        assert_eq!(a["device_id"], "IMEI:1");
        assert_eq!(a["type"], "org.openmobilealliance.dm.firmwareupdate.download");
        assert_eq!(
            (a["data"].as_str(), a["source"].as_str(), a["correlator"].as_str()),
            (Some("200"), Some("./FUMO/Download"), Some("corr-1"))
        );
        assert!(!r.text.contains("session-token-abc"));
    }
    assert_eq!(
        call(&router, "GET", "/api/v1/alerts?device_id=IMEI%3A404", Some(TOKEN), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn changes_are_audited_without_secrets_and_no_response_leaks_one() {
    let (router, _) = setup(Some(TOKEN)).await;
    let mut bodies = Vec::new();
    let mut record = |r: Resp| {
        bodies.push(r.text.clone());
        r
    };
    assert_eq!(record(create(&router, "IMEI:1").await).status, StatusCode::CREATED);
    assert_eq!(record(create(&router, "IMEI:1").await).status, StatusCode::CONFLICT);
    let cmd =
        json!({"op": "Replace", "target": "./DMAcc/x/AppAuth/1/AAuthSecret", "data": "new-device-password"});
    let r = record(call(&router, "POST", "/api/v1/devices/IMEI%3A1/commands", Some(TOKEN), Some(cmd)).await);
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    for uri in [
        "/api/v1/devices".to_owned(),
        "/api/v1/devices/IMEI%3A1".to_owned(),
        "/api/v1/devices/IMEI%3A1/inventory".to_owned(),
        "/api/v1/devices/IMEI%3A1/sessions".to_owned(),
        "/api/v1/devices/IMEI%3A1/commands".to_owned(),
        format!("/api/v1/devices/IMEI%3A1/commands/{id}"),
        "/api/v1/alerts".to_owned(),
        "/api/v1/openapi.json".to_owned(),
    ] {
        assert_eq!(
            record(call(&router, "GET", &uri, Some(TOKEN), None).await).status,
            StatusCode::OK,
            "{uri}"
        );
    }
    assert_eq!(
        record(call(&router, "GET", "/api/v1/devices", Some("wrong"), None).await).status,
        StatusCode::UNAUTHORIZED
    );
    let r = record(call(&router, "DELETE", "/api/v1/devices/IMEI%3A1", Some(TOKEN), None).await);
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // The audit log: newest first, actor "api", survives the device's deletion.
    let r = call(&router, "GET", "/api/v1/audit?device_id=IMEI%3A1", Some(TOKEN), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let audit = r.json();
    let entries = audit["audit"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["device.delete", "command.enqueue", "device.create"]);
    assert!(entries.iter().all(|e| e["actor"] == "api" && e["device_id"] == "IMEI:1"));
    assert_eq!(entries[1]["detail"]["id"], id);
    assert_eq!(entries[1]["detail"]["target"], "./DMAcc/x/AppAuth/1/AAuthSecret");
    assert_eq!(entries[2]["detail"]["client_auth_type"], "md5");
    assert!(!r.text.contains("new-device-password"), "command data is not audited: {}", r.text);
    bodies.push(r.text.clone());
    let all = call(&router, "GET", "/api/v1/audit", Some(TOKEN), None).await;
    assert_eq!(all.json()["audit"].as_array().unwrap().len(), 3);
    bodies.push(all.text);

    for (i, b) in bodies.iter().enumerate() {
        // The OpenAPI document documents the "nonce" fields: check it for secret values only.
        if b.contains("\"openapi\"") {
            for s in &secrets()[..7] {
                assert!(!b.contains(s.as_str()), "openapi.json leaks {s}");
            }
        } else {
            assert_no_secret(b);
        }
        assert!(!b.contains(TOKEN), "body {i} leaks the token");
    }
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let (router, _) = setup(Some(TOKEN)).await;
    let r = call(&router, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let paths = doc["paths"].as_object().unwrap();
    for route in omadm_server::api::route_table() {
        let method = route.method.as_str().to_ascii_lowercase();
        assert!(
            paths.get(route.path).is_some_and(|p| p[&method].is_object()),
            "{method} {} undocumented",
            route.path
        );
    }
    for p in [
        "/api/v1/devices",
        "/api/v1/devices/{device_id}",
        "/api/v1/devices/{device_id}/inventory",
        "/api/v1/devices/{device_id}/sessions",
        "/api/v1/devices/{device_id}/commands",
        "/api/v1/devices/{device_id}/commands/{id}",
        "/api/v1/alerts",
        "/api/v1/audit",
        "/api/v1/ddfs",
        "/api/v1/ddfs/{id}",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p}");
    }
    assert!(doc["components"]["schemas"]["CommandRequest"].is_object());
}

#[tokio::test]
async fn the_api_is_served_by_the_server_router() {
    // The router `omadm serve` runs: `/dm` merged with the API.
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let mut config = Overrides::default().resolve().unwrap();
    config.admin_token = Some(TOKEN.into());
    let router = omadm_server::serve::router(App::new(store, Arc::new(config)));
    assert_eq!(call(&router, "GET", "/api/v1/devices", None, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&router, "GET", "/api/v1/openapi.json", None, None).await.status, StatusCode::OK);
    let r = call(&router, "POST", "/api/v1/devices", Some(TOKEN), Some(new_device("IMEI:1"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A command body larger than the DM message limit still fits the API's own limit.
    let big = json!({"op": "Replace", "target": "./A", "data": "x".repeat(3 * 1024 * 1024)});
    let r = call(&router, "POST", "/api/v1/devices/IMEI%3A1/commands", Some(TOKEN), Some(big)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}
