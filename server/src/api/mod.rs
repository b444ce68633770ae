//! The operators' admin API under `/api/v1`: JSON in, JSON out, behind a bearer token.
//!
//! Every route is listed once, in [`route_table`]: the router is built from it and a test
//! checks it against the OpenAPI document served at `/api/v1/openapi.json` (the only route
//! served without the token). The handlers are thin: validation, storage and the audit log
//! are in [`crate::admin`], shared with the CLI. Errors are `{"error": "<message>"}` with
//! 400 (invalid input, malformed JSON or query), 401 (token), 404, 405, 409, 413 (body over
//! [`MAX_BODY`]), 415 (not `application/json`) or 500.
//!
//! Device ids in paths are percent-encoded (`/api/v1/devices/IMEI%3A1234`); axum decodes
//! them.

mod extract;

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any, on};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

pub use extract::{ApiError, ApiJson, ApiPath, ApiQuery};

use crate::admin::{self, AdminError, CommandRequest, CreateDevice};
use crate::app::App;
use crate::ddfs::ImportDdf;

/// Path prefix of every route.
pub const PREFIX: &str = "/api/v1";

/// Largest request body: a command tree's data (at most [`admin::MAX_TOTAL_DATA`]) plus room
/// for JSON escaping and the rest of the tree.
pub const MAX_BODY: usize = admin::MAX_TOTAL_DATA + 4 * 1024 * 1024;

/// The actor recorded in the audit log for changes made through the API.
pub const ACTOR: &str = "api";

/// The OpenAPI 3.0 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// A route: method, path (axum syntax, `{param}`), handler, and whether it needs the token.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Full path, e.g. `/api/v1/devices/{device_id}`.
    pub path: &'static str,
    /// Whether the bearer token is required.
    pub authenticated: bool,
    handler: MethodRouter<App>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: axum::handler::Handler<T, App>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    Route { method, path, authenticated: true, handler: on(filter, handler) }
}

/// `r` with its own body limit instead of [`MAX_BODY`] (larger bodies: 413).
fn with_body_limit(r: Route, limit: usize) -> Route {
    Route { handler: r.handler.layer(DefaultBodyLimit::max(limit)), ..r }
}

/// Every route of the API, in one place (the router and the documentation test use it).
pub fn route_table() -> Vec<Route> {
    use Method as M;
    vec![
        Route { authenticated: false, ..route(M::GET, "/api/v1/openapi.json", openapi) },
        route(M::POST, "/api/v1/devices", create_device),
        route(M::GET, "/api/v1/devices", list_devices),
        route(M::GET, "/api/v1/devices/{device_id}", get_device),
        route(M::DELETE, "/api/v1/devices/{device_id}", delete_device),
        route(M::GET, "/api/v1/devices/{device_id}/inventory", inventory),
        route(M::GET, "/api/v1/devices/{device_id}/sessions", sessions),
        route(M::GET, "/api/v1/devices/{device_id}/sessions/{session}/transcript", transcript),
        route(M::POST, "/api/v1/devices/{device_id}/commands", enqueue_command),
        route(M::GET, "/api/v1/devices/{device_id}/commands", list_commands),
        route(M::GET, "/api/v1/devices/{device_id}/commands/{id}", get_command),
        route(M::POST, "/api/v1/devices/{device_id}/commands/{id}/force", force_command),
        route(M::GET, "/api/v1/devices/{device_id}/tree", tree),
        route(M::GET, "/api/v1/devices/{device_id}/tree/node", tree_node),
        route(M::GET, "/api/v1/alerts", generic_alerts),
        route(M::GET, "/api/v1/audit", audit_log),
        with_body_limit(route(M::POST, "/api/v1/ddfs", import_ddf), crate::ddfs::MAX_BODY),
        route(M::GET, "/api/v1/ddfs", list_ddfs),
        route(M::GET, "/api/v1/ddfs/{id}", get_ddf),
        route(M::DELETE, "/api/v1/ddfs/{id}", delete_ddf),
        route(M::GET, "/api/v1/groups", list_groups),
        route(M::GET, "/api/v1/groups/{group}/devices", group_devices),
        route(M::POST, "/api/v1/groups/{group}/devices", add_to_group),
        route(M::DELETE, "/api/v1/groups/{group}/devices/{device_id}", remove_from_group),
        route(M::POST, "/api/v1/devices/{device_id}/bootstrap", bootstrap_device),
        route(M::GET, "/api/v1/devices/{device_id}/bootstrap", get_bootstrap),
        route(M::GET, "/api/v1/pushes", list_pushes),
        route(M::GET, "/api/v1/pushes/{id}", get_push),
        route(M::POST, "/api/v1/devices/{device_id}/notify", notify_device),
        route(M::GET, "/api/v1/devices/{device_id}/notify", notification_target),
        route(M::GET, "/api/v1/notifications", list_notifications),
        route(M::GET, "/api/v1/notifications/{id}", get_notification),
        route(M::POST, "/api/v1/campaigns", crate::campaign::api::create),
        route(M::GET, "/api/v1/campaigns", crate::campaign::api::list),
        route(M::GET, "/api/v1/campaigns/{id}", crate::campaign::api::get),
        route(M::POST, "/api/v1/campaigns/{id}/pause", crate::campaign::api::pause),
        route(M::POST, "/api/v1/campaigns/{id}/resume", crate::campaign::api::resume),
        route(M::POST, "/api/v1/campaigns/{id}/cancel", crate::campaign::api::cancel),
        route(M::POST, "/api/v1/campaigns/{id}/retry-failed", crate::campaign::api::retry_failed),
        route(M::GET, "/api/v1/campaigns/{id}/devices", crate::campaign::api::devices),
        with_body_limit(
            route(M::POST, "/api/v1/firmware", crate::campaign::api::upload_firmware),
            crate::campaign::firmware::MAX_UPLOAD,
        ),
        route(M::GET, "/api/v1/firmware", crate::campaign::api::list_firmware),
    ]
}

/// The admin API router, its state applied, ready to merge with the `/dm` router.
///
/// Requests to routes that need the token are refused with 401 unless they carry
/// `Authorization: Bearer <config.admin_token>`; with no token configured the API is open
/// (`serve` allows that only on a loopback address). Unknown paths under `/api/v1` are 404
/// and known paths with another method 405, both as JSON errors (behind the token too, so
/// that the API's shape is not probed anonymously).
pub fn routes(app: App) -> Router {
    let mut open: BTreeMap<&'static str, (MethodRouter<App>, Vec<Method>)> = BTreeMap::new();
    let mut closed: BTreeMap<&'static str, (MethodRouter<App>, Vec<Method>)> = BTreeMap::new();
    for r in route_table() {
        let group = if r.authenticated { &mut closed } else { &mut open };
        match group.remove(r.path) {
            Some((m, mut methods)) => {
                methods.push(r.method);
                group.insert(r.path, (m.merge(r.handler), methods));
            }
            None => {
                group.insert(r.path, (r.handler, vec![r.method]));
            }
        }
    }
    let build = |group: BTreeMap<&'static str, (MethodRouter<App>, Vec<Method>)>| {
        group.into_iter().fold(Router::new(), |router, (path, (handler, methods))| {
            let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
            let allow = HeaderValue::from_str(&allow.join(", ")).expect("method names are valid header text");
            router.route(path, handler.fallback(move || method_not_allowed(allow.clone())))
        })
    };
    let closed = build(closed)
        .route(&format!("{PREFIX}/{{*rest}}"), any(not_found))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    build(open).merge(closed).layer(DefaultBodyLimit::max(MAX_BODY)).with_state(app)
}

/// Refuse the request unless it carries the configured bearer token (compared in constant
/// time; only the token's length may show in the timing).
async fn require_token(State(app): State<App>, req: Request, next: Next) -> Response {
    if let Some(expected) = app.config.admin_token.as_deref() {
        let presented =
            req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
        let refusal = match presented {
            None => {
                Some(("missing bearer token: send Authorization: Bearer <token>", "Bearer realm=\"omadm\""))
            }
            Some(token) if !bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
                Some(("invalid bearer token", "Bearer realm=\"omadm\", error=\"invalid_token\""))
            }
            Some(_) => None,
        };
        if let Some((message, challenge)) = refusal {
            let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            return resp;
        }
    }
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API route: see /api/v1/openapi.json")
}

async fn method_not_allowed(allow: HeaderValue) -> Response {
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here; allowed: {}", allow.to_str().unwrap_or("")),
    )
    .into_response();
    resp.headers_mut().insert(header::ALLOW, allow);
    resp
}

/// Percent-encode a path segment (everything but RFC 3986 unreserved characters).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `Location` header value for a created resource.
fn location(path: String) -> [(header::HeaderName, HeaderValue); 1] {
    // Every byte is ASCII after encoding, so this cannot fail; fall back to the prefix anyway.
    [(header::LOCATION, HeaderValue::from_str(&path).unwrap_or(HeaderValue::from_static(PREFIX)))]
}

// ------------------------------------------------------------------------------------------
// Handlers

type ApiResult<T> = Result<T, ApiError>;

/// `GET /api/v1/openapi.json`.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// `POST /api/v1/devices` → 201 with the device.
async fn create_device(State(app): State<App>, ApiJson(req): ApiJson<CreateDevice>) -> ApiResult<Response> {
    let device = admin::create_device(&app.store, req, &app.config.server_id, ACTOR).await?;
    let loc = location(format!("{PREFIX}/devices/{}", encode_segment(&device.device_id)));
    Ok((StatusCode::CREATED, loc, Json(device)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/devices?after=&limit=` → `{"devices": [...], "next_after": ...}`.
async fn list_devices(State(app): State<App>, ApiQuery(q): ApiQuery<DeviceListQuery>) -> ApiResult<Response> {
    Ok(Json(admin::list_devices(&app.store, q.after.as_deref(), q.limit).await?).into_response())
}

/// `GET /api/v1/devices/{device_id}`.
async fn get_device(State(app): State<App>, ApiPath(device_id): ApiPath<String>) -> ApiResult<Response> {
    Ok(Json(admin::get_device(&app.store, &device_id).await?).into_response())
}

/// `DELETE /api/v1/devices/{device_id}` → 204.
async fn delete_device(State(app): State<App>, ApiPath(device_id): ApiPath<String>) -> ApiResult<StatusCode> {
    admin::delete_device(&app.store, &device_id, ACTOR).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/devices/{device_id}/inventory` → `{"device_id", "inventory": [...]}`.
async fn inventory(State(app): State<App>, ApiPath(device_id): ApiPath<String>) -> ApiResult<Response> {
    let items = admin::inventory(&app.store, &device_id).await?;
    Ok(Json(json!({ "device_id": device_id, "inventory": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/devices/{device_id}/sessions` → `{"device_id", "sessions": [...]}`.
async fn sessions(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Response> {
    let sessions = admin::sessions(&app.store, &device_id, q.limit).await?;
    Ok(Json(json!({ "device_id": device_id, "sessions": sessions })).into_response())
}

/// `POST /api/v1/devices/{device_id}/commands` → 201 `{"id": n}`.
async fn enqueue_command(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiJson(req): ApiJson<CommandRequest>,
) -> ApiResult<Response> {
    let id = admin::enqueue_command(&app.store, &device_id, req, ACTOR).await?;
    let loc = location(format!("{PREFIX}/devices/{}/commands/{id}", encode_segment(&device_id)));
    Ok((StatusCode::CREATED, loc, Json(json!({ "id": id, "state": "queued" }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/devices/{device_id}/commands?state=&limit=` → `{"device_id", "commands": [...]}`.
async fn list_commands(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CommandListQuery>,
) -> ApiResult<Response> {
    let commands = admin::list_commands(&app.store, &device_id, q.state.as_deref(), q.limit).await?;
    Ok(Json(json!({ "device_id": device_id, "commands": commands })).into_response())
}

/// `GET /api/v1/devices/{device_id}/commands/{id}`.
async fn get_command(
    State(app): State<App>,
    ApiPath((device_id, id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("command id {id:?} is not an integer"))
    })?;
    Ok(Json(admin::get_command(&app.store, &device_id, id).await?).into_response())
}

/// `POST /api/v1/devices/{device_id}/commands/{id}/force` → the command, no longer held.
async fn force_command(
    State(app): State<App>,
    ApiPath((device_id, id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, format!("command id {id:?} is not an integer"))
    })?;
    Ok(Json(admin::force_command(&app.store, &device_id, id, ACTOR).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeQuery {
    format: Option<String>,
}

/// `GET /api/v1/devices/{device_id}/tree[?format=tnds]` → `{"device_id", "nodes": [...]}`, or
/// the mirror as a TNDS document.
async fn tree(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TreeQuery>,
) -> ApiResult<Response> {
    match q.format.as_deref() {
        None | Some("json") => {
            let nodes = admin::tree(&app.store, &device_id).await?;
            Ok(Json(json!({ "device_id": device_id, "nodes": nodes })).into_response())
        }
        Some("tnds") => {
            let xml = admin::tree_tnds(&app.store, &device_id).await?;
            Ok(([(axum::http::header::CONTENT_TYPE, omadm_protocol::tree::tnds::CONTENT_TYPE_XML)], xml)
                .into_response())
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("format: {:?} is not one of json, tnds", other.chars().take(20).collect::<String>()),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeQuery {
    uri: String,
}

/// `GET /api/v1/devices/{device_id}/tree/node?uri=./DevInfo/Man` → the node, its properties
/// and the ACL in force.
async fn tree_node(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<NodeQuery>,
) -> ApiResult<Response> {
    Ok(Json(admin::tree_node(&app.store, &device_id, &q.uri).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFilterQuery {
    device_id: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/alerts?device_id=&limit=` → `{"alerts": [...]}`.
async fn generic_alerts(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<DeviceFilterQuery>,
) -> ApiResult<Response> {
    let alerts = admin::generic_alerts(&app.store, q.device_id.as_deref(), q.limit).await?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

/// `GET /api/v1/audit?device_id=&limit=` → `{"audit": [...]}`.
async fn audit_log(State(app): State<App>, ApiQuery(q): ApiQuery<DeviceFilterQuery>) -> ApiResult<Response> {
    let entries = admin::audit_log(&app.store, q.device_id.as_deref(), q.limit).await?;
    Ok(Json(json!({ "audit": entries })).into_response())
}

/// A DDF id from the path.
fn ddf_id(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("DDF id {id:?} is not an integer")))
}

/// `POST /api/v1/ddfs` → 201 with the DDF (its placements, no document).
async fn import_ddf(State(app): State<App>, ApiJson(req): ApiJson<ImportDdf>) -> ApiResult<Response> {
    let view = crate::ddfs::import(&app.store, Some(&app.ddfs), req, ACTOR).await?;
    let loc = location(format!("{PREFIX}/ddfs/{}", view.id));
    Ok((StatusCode::CREATED, loc, Json(view)).into_response())
}

/// `GET /api/v1/ddfs` → `{"ddfs": [...]}`.
async fn list_ddfs(State(app): State<App>) -> ApiResult<Response> {
    Ok(Json(json!({ "ddfs": crate::ddfs::list(&app.store).await? })).into_response())
}

/// `GET /api/v1/ddfs/{id}` → the DDF with `document_b64`.
async fn get_ddf(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    Ok(Json(crate::ddfs::get(&app.store, ddf_id(&id)?).await?).into_response())
}

/// `DELETE /api/v1/ddfs/{id}` → 204.
async fn delete_ddf(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    crate::ddfs::delete(&app.store, Some(&app.ddfs), ddf_id(&id)?, ACTOR).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
        let paths = doc["paths"].as_object().expect("paths");
        let table = route_table();
        for r in &table {
            let op = &paths.get(r.path).unwrap_or_else(|| panic!("{} is not documented", r.path))
                [r.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is not documented", r.method, r.path);
            assert!(op["responses"].is_object(), "{} {} has no responses", r.method, r.path);
            assert!(op["operationId"].is_string(), "{} {} has no operationId", r.method, r.path);
            // Open routes say so; the others inherit the global bearer requirement.
            let open = op.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
            assert_eq!(open, !r.authenticated, "{} {} security", r.method, r.path);
            // Every path parameter is declared.
            for seg in r.path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params.iter().any(|p| p["name"] == name && p["in"] == "path"),
                    "{} {} does not declare {name}",
                    r.method,
                    r.path
                );
            }
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    table.iter().any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        fn walk(v: &serde_json::Value, doc: &serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                        let ptr = r.strip_prefix('#').expect("local reference");
                        assert!(doc.pointer(ptr).is_some(), "dangling reference {r}");
                    }
                    m.values().for_each(|x| walk(x, doc));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, doc)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("IMEI:12/3 x"), "IMEI%3A12%2F3%20x");
        assert_eq!(encode_segment("a-b_c.d~"), "a-b_c.d~");
    }
}

/// `POST /api/v1/devices/{device_id}/bootstrap` → 202 the queued push, the bootstrap state and
/// the PIN the user must type (if the method has one).
async fn bootstrap_device(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiJson(req): ApiJson<crate::bootstrap::operation::BootstrapRequest>,
) -> ApiResult<Response> {
    admin::check_device_id(&device_id)?;
    let view = crate::bootstrap::operation::bootstrap_device(&app.store, &app.config, &device_id, req, ACTOR)
        .await?;
    app.push_wake.wake();
    let loc = location(format!("{PREFIX}/pushes/{}", view.push.id));
    Ok((StatusCode::ACCEPTED, loc, Json(view)).into_response())
}

/// `GET /api/v1/devices/{device_id}/bootstrap` → the device's latest bootstrap.
async fn get_bootstrap(State(app): State<App>, ApiPath(device_id): ApiPath<String>) -> ApiResult<Response> {
    admin::check_device_id(&device_id)?;
    match app.store.get_bootstrap(&device_id).await.map_err(AdminError::from)? {
        Some(b) => Ok(Json(b).into_response()),
        None => Err(AdminError::NotFound(format!("device {device_id:?} has no bootstrap")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushListQuery {
    device_id: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/pushes?device_id=&limit=` → pushes, newest first, with their delivery state.
async fn list_pushes(State(app): State<App>, ApiQuery(q): ApiQuery<PushListQuery>) -> ApiResult<Response> {
    if let Some(d) = &q.device_id {
        admin::check_device_id(d)?;
    }
    let limit = admin::check_limit(q.limit)?;
    let pushes = app.store.list_pushes(q.device_id.as_deref(), limit).await.map_err(AdminError::from)?;
    Ok(Json(pushes).into_response())
}

/// `GET /api/v1/pushes/{id}` → one push.
async fn get_push(State(app): State<App>, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    match app.store.get_push(id).await.map_err(AdminError::from)? {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(AdminError::NotFound(format!("push {id}")).into()),
    }
}

/// `POST /api/v1/devices/{device_id}/notify` → 202 the notification, `queued` (the scheduler
/// sends its package 0).
async fn notify_device(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiJson(req): ApiJson<crate::notify::operation::NotifyRequest>,
) -> ApiResult<Response> {
    let n = crate::notify::operation::notify_device(
        &app.store,
        &app.config.notification,
        &device_id,
        &req,
        ACTOR,
    )
    .await?;
    app.notify_wake.wake();
    let loc = location(format!("{PREFIX}/notifications/{}", n.id));
    Ok((StatusCode::ACCEPTED, loc, Json(n)).into_response())
}

/// `GET /api/v1/devices/{device_id}/notify` → the device's notification target (number,
/// channel, the DM version it is managed with) and its latest notifications.
async fn notification_target(
    State(app): State<App>,
    ApiPath(device_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Response> {
    let limit = admin::check_limit(q.limit)?;
    Ok(Json(crate::notify::operation::target(&app.store, &device_id, limit).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationListQuery {
    device_id: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/notifications?device_id=&state=&limit=` → notifications, newest first.
async fn list_notifications(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<NotificationListQuery>,
) -> ApiResult<Response> {
    if let Some(d) = &q.device_id {
        admin::check_device_id(d)?;
    }
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(omadm_storage::NotificationState::parse(s).ok_or_else(|| {
            AdminError::Invalid(
                "state: one of queued, sent, retried, fell_back, session_opened, gave_up".to_owned(),
            )
        })?),
    };
    let limit = admin::check_limit(q.limit)?;
    let list =
        app.store.list_notifications(q.device_id.as_deref(), state, limit).await.map_err(AdminError::from)?;
    Ok(Json(list).into_response())
}

/// `GET /api/v1/notifications/{id}` → one notification.
async fn get_notification(State(app): State<App>, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    match app.store.get_notification(id).await.map_err(AdminError::from)? {
        Some(n) => Ok(Json(n).into_response()),
        None => Err(AdminError::NotFound(format!("notification {id}")).into()),
    }
}

/// `GET /api/v1/devices/{device_id}/sessions/{session}/transcript` → every message of the
/// session as redacted XML, in order.
async fn transcript(
    State(app): State<App>,
    ApiPath((device_id, session)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    admin::check_device_id(&device_id)?;
    let messages = admin::transcript(&app.store, &device_id, &session).await?;
    Ok(Json(json!({ "device_id": device_id, "session": session, "messages": messages })).into_response())
}

/// `GET /api/v1/groups` → `{"groups": [{"group_name", "devices"}]}`.
async fn list_groups(State(app): State<App>) -> ApiResult<Response> {
    let groups = app.store.list_groups().await.map_err(AdminError::from)?;
    Ok(Json(json!({ "groups": groups })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPageQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/groups/{group}/devices?after=&limit=` → the group's device ids, in order.
async fn group_devices(
    State(app): State<App>,
    ApiPath(group): ApiPath<String>,
    ApiQuery(q): ApiQuery<GroupPageQuery>,
) -> ApiResult<Response> {
    let limit = admin::check_limit(q.limit)?;
    let ids = app.store.group_devices(&group, q.after.as_deref(), limit).await.map_err(AdminError::from)?;
    Ok(Json(json!({ "group": group, "device_ids": ids })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupAdd {
    device_ids: Vec<String>,
}

/// `POST /api/v1/groups/{group}/devices` `{"device_ids": [...]}` → `{"added": n}`.
async fn add_to_group(
    State(app): State<App>,
    ApiPath(group): ApiPath<String>,
    ApiJson(req): ApiJson<GroupAdd>,
) -> ApiResult<Response> {
    let added = admin::add_to_group(&app.store, &group, &req.device_ids, ACTOR).await?;
    Ok(Json(json!({ "group": group, "added": added })).into_response())
}

/// `DELETE /api/v1/groups/{group}/devices/{device_id}` → 204.
async fn remove_from_group(
    State(app): State<App>,
    ApiPath((group, device_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    admin::remove_from_group(&app.store, &group, &device_id, ACTOR).await?;
    Ok(StatusCode::NO_CONTENT)
}
