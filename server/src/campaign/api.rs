//! The admin API's campaign and firmware handlers (listed in [`crate::api::route_table`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::firmware::{self, UploadFirmware};
use super::operation::{self, Action, CreateCampaign};
use crate::api::{ACTOR, ApiError, ApiJson, ApiPath, ApiQuery};
use crate::app::App;

type ApiResult<T> = Result<T, ApiError>;

fn campaign_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("campaign id {id:?} is not an integer")))
}

/// `POST /api/v1/campaigns` → 201 with the campaign and its counters.
pub async fn create(State(app): State<App>, ApiJson(req): ApiJson<CreateCampaign>) -> ApiResult<Response> {
    let view = operation::create(&app.store, req, ACTOR).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Query of list routes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/campaigns` → `{"campaigns": [...]}`.
pub async fn list(State(app): State<App>, ApiQuery(q): ApiQuery<LimitQuery>) -> ApiResult<Response> {
    Ok(Json(json!({ "campaigns": operation::list(&app.store, q.limit).await? })).into_response())
}

/// `GET /api/v1/campaigns/{id}` → the campaign with its counters.
pub async fn get(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    Ok(Json(operation::show(&app.store, campaign_id(&id)?).await?).into_response())
}

async fn act(app: App, id: &str, action: Action) -> ApiResult<Response> {
    let view = operation::act(&app.store, campaign_id(id)?, action, ACTOR).await.map_err(|e| match e {
        crate::admin::AdminError::Invalid(m) => ApiError::new(StatusCode::CONFLICT, m),
        e => e.into(),
    })?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/campaigns/{id}/pause`.
pub async fn pause(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    act(app, &id, Action::Pause).await
}

/// `POST /api/v1/campaigns/{id}/resume`.
pub async fn resume(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    act(app, &id, Action::Resume).await
}

/// `POST /api/v1/campaigns/{id}/cancel`.
pub async fn cancel(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    act(app, &id, Action::Cancel).await
}

/// `POST /api/v1/campaigns/{id}/retry-failed`.
pub async fn retry_failed(State(app): State<App>, ApiPath(id): ApiPath<String>) -> ApiResult<Response> {
    act(app, &id, Action::RetryFailed).await
}

/// Query of the device list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesQuery {
    state: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/campaigns/{id}/devices?state=&after=&limit=` → `{"devices": [...]}`.
pub async fn devices(
    State(app): State<App>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DevicesQuery>,
) -> ApiResult<Response> {
    let list =
        operation::devices(&app.store, campaign_id(&id)?, q.state.as_deref(), q.after.as_deref(), q.limit)
            .await?;
    Ok(Json(json!({ "devices": list })).into_response())
}

/// `POST /api/v1/firmware?name=&version=&man=&mod=&fwv=` with the package as the raw body →
/// 201 with the package (size, SHA-256, download path).
pub async fn upload_firmware(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<UploadFirmware>,
    body: Bytes,
) -> ApiResult<Response> {
    let c = &app.config.campaign;
    let p = firmware::upload(&app.store, &c.firmware_dir, c.max_firmware_bytes, q, &body, ACTOR).await?;
    let path = firmware::download_url("", &p);
    Ok((StatusCode::CREATED, Json(json!({ "firmware": p, "download_path": path }))).into_response())
}

/// `GET /api/v1/firmware` → `{"firmware": [...]}`.
pub async fn list_firmware(State(app): State<App>) -> ApiResult<Response> {
    Ok(Json(json!({ "firmware": app.store.list_firmware().await.map_err(crate::admin::AdminError::from)? }))
        .into_response())
}
