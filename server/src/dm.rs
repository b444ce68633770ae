//! `POST /dm`: the DM endpoint devices talk to (OMA-TS-DM_Protocol-V1_2 §5 HTTP binding).
//!
//! One request is one DM message. The session it belongs to is named by the token in the
//! RespURI we handed out (`/dm?s=<token>`); without a token the message must be a package 1.
//! The session state is loaded, the engine runs, and every change (session state, command
//! states, results, nonces) is committed in one transaction before the answer leaves.
//!
//! Every log line of a message's handling is inside a `dm` span naming the device (Source
//! LocURI) and the DM SessionID; nothing secret (credentials, secrets, nonces, the RespURI
//! token) is logged. Messages, sessions, authentication failures, command outcomes and the
//! transaction's time are counted in [`crate::metrics`].

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode as Http, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use omadm_protocol::auth::{HmacHeader, Nonce, Secret, hmac};
use omadm_protocol::{Encoding, Limits, StatusCode, SyncMl, decode_as, encode};
use omadm_storage::{
    ClientAuthType, Device, DeviceChange, Direction, SessionOutcome, SessionRecord, StoreError, Tx,
};
use serde::Deserialize;
use tracing::Instrument as _;

use crate::app::{App, now_millis, random_token, random16};
use crate::metrics::{
    AuthFailure, CommandOp, CommandOutcome, DbOperation, Ended, METRICS, MessageResult, Version,
};
use crate::session::{self, Effect, Input, SessionState, state::version_text};
use crate::tls::ClientCertificate;
use crate::transcript;

/// Queued commands loaded per message (more go in later packages).
const QUEUE_BATCH: u32 = 32;

/// The query of `/dm`.
#[derive(Debug, Deserialize)]
pub struct DmQuery {
    /// Session token from our RespURI.
    s: Option<String>,
}

/// Why a request got no DM answer.
#[derive(Debug, thiserror::Error)]
enum DmError {
    #[error("content type must be application/vnd.syncml.dm+xml or +wbxml")]
    UnsupportedMediaType,
    #[error("{0}")]
    BadMessage(String),
    #[error("message too large: {0}")]
    TooLarge(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("stored session state is unreadable: {0}")]
    State(#[from] serde_json::Error),
}

impl IntoResponse for DmError {
    fn into_response(self) -> Response {
        let code = match &self {
            DmError::UnsupportedMediaType => Http::UNSUPPORTED_MEDIA_TYPE,
            DmError::BadMessage(_) => Http::BAD_REQUEST,
            DmError::TooLarge(_) => Http::PAYLOAD_TOO_LARGE,
            DmError::Store(_) | DmError::State(_) => {
                tracing::error!(error = %self, "DM request failed");
                Http::SERVICE_UNAVAILABLE
            }
        };
        (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{self}\n")).into_response()
    }
}

/// The handler of `POST /dm`.
pub async fn post(
    State(app): State<App>,
    Query(q): Query<DmQuery>,
    cert: Option<Extension<Arc<ClientCertificate>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cert = cert.as_ref().map(|Extension(c)| c.as_ref());
    match handle(&app, q, &headers, &body, cert).await {
        Ok(r) => r,
        Err(e) => {
            let result = match e {
                DmError::Store(_) | DmError::State(_) => MessageResult::Error,
                _ => MessageResult::Invalid,
            };
            METRICS.dm_message(Version::Unknown, result);
            e.into_response()
        }
    }
}

async fn handle(
    app: &App,
    q: DmQuery,
    headers: &HeaderMap,
    body: &[u8],
    cert: Option<&ClientCertificate>,
) -> Result<Response, DmError> {
    let encoding = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Encoding::from_content_type)
        .ok_or(DmError::UnsupportedMediaType)?;
    let limits = Limits { max_message_bytes: app.config.engine.max_msg_size as usize, ..Limits::default() };
    let msg = decode_as(body, encoding, &limits).map_err(|e| match e {
        omadm_protocol::DecodeError::MessageTooLarge { .. } => DmError::TooLarge(e.to_string()),
        e => DmError::BadMessage(format!("undecodable DM message: {e}")),
    })?;
    // Control characters the device sent are escaped (no forged log lines).
    let span = tracing::info_span!(
        "dm",
        device = %msg.hdr.source.loc_uri.escape_debug(),
        session = %msg.hdr.session_id.escape_debug(),
        msg = msg.hdr.msg_id
    );
    exchange(app, q, headers, body, cert, &msg, encoding).instrument(span).await
}

/// One decoded message: load, run the engine, store, answer.
async fn exchange(
    app: &App,
    q: DmQuery,
    headers: &HeaderMap,
    body: &[u8],
    cert: Option<&ClientCertificate>,
    msg: &SyncMl,
    encoding: Encoding,
) -> Result<Response, DmError> {
    let version = msg.version().map(Version::from).unwrap_or(Version::Unknown);
    let hmac_header = headers.get(hmac::HEADER_NAME).and_then(|v| v.to_str().ok());
    let server_uri = server_uri(app, headers);
    let now = now_millis();

    // Transport authentication: the verified client certificate must name the device.
    if app.config.tls_client_ca.is_some() && !cert.is_some_and(|c| c.names_device(&msg.hdr.source.loc_uri)) {
        tracing::info!("refused: no client certificate naming the device");
        METRICS.auth_failure(AuthFailure::ClientCertificate);
        METRICS.dm_message(version, MessageResult::Rejected);
        return Ok(reply(&session::reject(msg, &server_uri, StatusCode::InvalidCredentials), encoding, None));
    }

    let db_timer = METRICS.db_timer(DbOperation::DmMessage);
    let mut tx = app.store.begin().await?;
    // The device's row first, then its session: one order everywhere, no deadlock.
    let Some(mut device) = tx.lock_device(&msg.hdr.source.loc_uri).await? else {
        // Not a device of ours: refused as an unknown principal, nothing stored.
        METRICS.auth_failure(AuthFailure::UnknownDevice);
        METRICS.dm_message(version, MessageResult::Rejected);
        let r = session::reject(msg, &server_uri, StatusCode::InvalidCredentials);
        return Ok(reply(&r, encoding, None));
    };
    let (mut record, mut state, created) = match &q.s {
        Some(token) => match tx.get_session(token).await? {
            Some(rec) if rec.device_id == msg.hdr.source.loc_uri => {
                let state: SessionState = serde_json::from_value(rec.state.clone())?;
                let idle = now - rec.last_activity_at > app.config.session_idle_timeout.as_millis() as i64;
                let timed_out = rec.outcome == SessionOutcome::TimedOut;
                if timed_out || idle {
                    if rec.outcome == SessionOutcome::Active {
                        // Too late: the session ends, its unanswered commands go back to the queue.
                        expire(&mut tx, rec, now).await?;
                        tx.commit().await?;
                    }
                    METRICS.dm_message(version, MessageResult::Rejected);
                    let r = session::reject(msg, &server_uri, StatusCode::RequestTimeout);
                    return Ok(reply(&r, encoding, None));
                }
                // Other ended sessions go to the engine, which replays its last answer to a
                // retransmission and refuses anything else.
                (rec, state, false)
            }
            // Unknown token, or another device's: no session of this device to continue.
            _ => {
                METRICS.dm_message(version, MessageResult::Rejected);
                return Ok(reply(&session::reject(msg, &server_uri, StatusCode::NotFound), encoding, None));
            }
        },
        None => {
            if !session::is_package_one(msg) {
                METRICS.dm_message(version, MessageResult::Rejected);
                return Ok(reply(&session::reject(msg, &server_uri, StatusCode::BadRequest), encoding, None));
            }
            let Some(version) = msg.version() else {
                METRICS.dm_message(Version::Unknown, MessageResult::Rejected);
                return Ok(reply(
                    &session::reject(msg, &server_uri, StatusCode::DtdVersionNotSupported),
                    encoding,
                    None,
                ));
            };
            let state =
                SessionState::new(version, msg.hdr.session_id.clone(), msg.hdr.source.loc_uri.clone());
            let rec = SessionRecord {
                token: random_token(),
                device_id: state.device_id.clone(),
                dm_session_id: state.session_id.clone(),
                dm_version: version_text::name(version).to_owned(),
                started_at: now,
                last_activity_at: now,
                ended_at: None,
                messages_in: 0,
                messages_out: 0,
                outcome: SessionOutcome::Active,
                state: serde_json::Value::Null,
            };
            (rec, state, true)
        }
    };
    let mut client_auth = (state.phase == session::Phase::AwaitingAuth)
        .then(|| session::auth::check_client(&device, msg, hmac_header, body));
    // Nonce resynchronisation (OMA-TS-DM_Notification; FACTS.md E.2): a device that could not
    // verify our package 0 with its stored nonce retries with nonce 0x00000000 and, if that
    // works, uses that nonce both ways until new ones are exchanged by Chal. Accepted only
    // while the device has a notification open, and only after the stored nonce failed.
    if client_auth == Some(session::auth::ClientAuth::Refused)
        && matches!(device.client_auth_type, ClientAuthType::Md5 | ClientAuthType::Hmac)
        && tx.list_notifications(Some(&device.device_id), None, 5).await?.iter().any(|n| n.state.is_open())
    {
        let zero = Nonce::new(vec![0; 4]).to_b64();
        let resync = Device { client_nonce: zero.clone(), server_nonce: zero, ..device.clone() };
        if session::auth::check_client(&resync, msg, hmac_header, body) == session::auth::ClientAuth::Accepted
        {
            tracing::info!(device = %device.device_id, "nonce resynchronised after a notification (nonce 0x00000000)");
            device = resync;
            client_auth = Some(session::auth::ClientAuth::Accepted);
        }
    }
    match client_auth {
        Some(session::auth::ClientAuth::Missing) => METRICS.auth_failure(AuthFailure::Missing),
        Some(session::auth::ClientAuth::Refused) => METRICS.auth_failure(AuthFailure::Refused),
        _ => {}
    }
    if client_auth == Some(session::auth::ClientAuth::Accepted) {
        // A session that authenticates now replaces any other the device left open: what
        // that one sent and never saw answered goes back to the queue, to be sent in this one.
        // (A package 1 that fails authentication may not disturb the device's sessions.)
        for old in tx.list_sessions(&device.device_id, 5).await? {
            if old.outcome == SessionOutcome::Active && old.token != record.token {
                expire(&mut tx, old, now).await?;
            }
        }
        // The first authenticated session after a bootstrap is its acknowledgement
        // (OMA-TS-DM_Bootstrap: the bootstrap itself gets no response).
        if tx.mark_bootstrapped(&device.device_id, now).await? {
            tracing::info!(device = %device.device_id, "device bootstrapped");
        }
        // The session answers the device's open notifications, the one whose session id it
        // echoes and any other (issue 7): one statement on a partial index of open ones.
        let answered = tx.answer_notifications(&device.device_id, &msg.hdr.session_id, now).await?;
        if answered > 0 {
            tracing::info!(device = %device.device_id, session = %msg.hdr.session_id, answered, "notification answered");
        }
        // A device that speaks DM 1.1.2 is notified and managed with it from now on.
        if record.dm_version == crate::notify::DM_1_1_2 {
            tx.set_notification_dm_version(&device.device_id, crate::notify::DM_1_1_2, now).await?;
        }
    }
    // Until the session is authenticated, also the held commands, to be checked again (the
    // mirror or the DDFs may have changed since they were held).
    let (queued, held) = if state.phase == session::Phase::AwaitingAuth {
        tx.queued_and_held(&device.device_id, QUEUE_BATCH).await?
    } else {
        (tx.next_queued(&device.device_id, QUEUE_BATCH).await?, Vec::new())
    };
    // The mirror, for the ACL checks of what is queued and the Copy of what awaits a Status.
    let tree = if !queued.is_empty() || !held.is_empty() || state.sent.iter().any(|s| !s.answered) {
        tx.list_tree(&device.device_id).await?
    } else {
        Vec::new()
    };
    let resp_uri = format!("{server_uri}?s={}", record.token);
    let ddfs = app.ddfs.current();
    let input = Input {
        msg,
        body,
        hmac: hmac_header,
        encoding,
        resp_uri: &resp_uri,
        server_uri: &server_uri,
        now,
        tree: &tree,
        ddfs: &ddfs,
        held: &held,
    };
    let out = session::handle(&app.config.engine, &mut state, &device, &queued, &input, &mut random16);

    // Our answer as a message, for the transcript (a replayed answer is not kept again).
    let mut answer = None;
    let bytes = match out.response {
        session::Response::Replay => {
            let last = state.last_response.as_deref().unwrap_or_default();
            let last = base64::engine::general_purpose::STANDARD.decode(last).unwrap_or_default();
            // The same answer, in the encoding this retransmission asked for.
            match Encoding::detect(&last) {
                Some(e) if e != encoding => match omadm_protocol::decode(&last, &Limits::default()) {
                    Ok(m) => encode(&m, encoding),
                    Err(_) => encode(&session::reject(msg, &server_uri, StatusCode::BadRequest), encoding),
                },
                _ => last,
            }
        }
        session::Response::Message(m) => {
            let bytes = encode(&m, encoding);
            answer = Some(m);
            bytes
        }
    };
    // The nonce the device handed us in this very message signs our answer.
    let server_nonce = out.effects.iter().rev().find_map(|e| match e {
        Effect::ServerNonce(n) => Some(n.clone()),
        _ => None,
    });
    if out.store {
        // The device row's changes in one statement, the rest in order.
        let mut change = DeviceChange::default();
        for e in &out.effects {
            match e {
                Effect::ClientNonce(n) => change.client_nonce = Some(n),
                Effect::ServerNonce(n) => change.server_nonce = Some(n),
                Effect::DeviceSession => change.session_version = Some(&record.dm_version),
                _ => {}
            }
        }
        if change != DeviceChange::default() {
            tx.update_device_after_message(&device.device_id, &change, now).await?;
        }
        // Commands that reached a final state, counted once the transaction commits.
        let mut finished: Vec<(CommandOp, CommandOutcome)> = Vec::new();
        for e in &out.effects {
            if let Effect::CommandStatus { id, state: s, .. } = e {
                let outcome = match s {
                    omadm_storage::CommandState::Done => CommandOutcome::Done,
                    omadm_storage::CommandState::Failed => CommandOutcome::Failed,
                    _ => continue,
                };
                let op = state.sent.iter().find(|c| c.command_id == *id).map(|c| c.op);
                let op =
                    op.or_else(|| queued.iter().chain(&held).find(|c| c.id == *id).and_then(|c| c.spec.op));
                if let Some(op) = op {
                    finished.push((op.into(), outcome));
                }
            }
        }
        for effect in out.effects {
            apply(&mut tx, &device, &record.token, effect, now).await?;
        }
        state.last_response = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
        record.messages_in += 1;
        record.messages_out += 1;
        record.last_activity_at = now;
        let was_active = record.outcome == SessionOutcome::Active;
        record.outcome = out.outcome;
        if out.outcome != SessionOutcome::Active {
            record.ended_at = Some(now);
        }
        if matches!(out.outcome, SessionOutcome::Aborted | SessionOutcome::Failed) {
            tx.requeue_sent(&record.token, now).await?;
        }
        record.state = serde_json::to_value(&state)?;
        if created {
            tx.create_session(&record).await?;
        } else {
            tx.update_session(&record).await?;
        }
        if app.config.transcript_retention.is_some()
            && let Some(answer) = &answer
        {
            // Message n of the session is seq 2n-1 (the device's) and 2n (ours).
            let seq = u32::try_from(record.messages_in).unwrap_or(u32::MAX).saturating_mul(2);
            let entries = [
                transcript::entry(seq - 1, Direction::Device, msg, encoding, body.len(), now),
                transcript::entry(seq, Direction::Server, answer, encoding, bytes.len(), now),
            ];
            tx.add_session_messages(&record.token, &entries).await?;
        }
        tx.commit().await?;
        drop(db_timer);
        let v = Version::from_name(&record.dm_version);
        METRICS.dm_message(v, MessageResult::Answered);
        if created {
            METRICS.session_started(v);
        }
        if let Some(ended) = Ended::of(record.outcome).filter(|_| was_active) {
            METRICS.session_ended(v, ended);
        }
        for (op, outcome) in finished {
            METRICS.command(op, outcome);
        }
        tracing::info!(
            device = %record.device_id, session = %record.dm_session_id, msg = msg.hdr.msg_id,
            outcome = record.outcome.as_str(), "DM message"
        );
    }
    if !out.store {
        METRICS.dm_message(version, MessageResult::Unchanged);
    }
    // The device that signs its messages gets signed answers (OMA-TS-DM_Security §5.5).
    let hmac_out = if state.hmac && device.server_secret.is_some() {
        let mut device = device.clone();
        if let Some(n) = server_nonce {
            device.server_nonce = n;
        }
        sign(&device, &bytes)
    } else {
        None
    };

    Ok(reply_bytes(bytes, encoding, hmac_out))
}

/// Our URI: the configured public URL, else built from the Host header.
fn server_uri(app: &App, headers: &HeaderMap) -> String {
    if let Some(base) = &app.config.public_url {
        return format!("{base}/dm");
    }
    let scheme = if app.config.tls.is_some() { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| app.config.listen.to_string());
    format!("{scheme}://{host}/dm")
}

/// The x-syncml-hmac header for our answer, with the SRVCRED secret and the server nonce.
fn sign(device: &Device, body: &[u8]) -> Option<HeaderValue> {
    let secret = Secret::new(device.server_secret.clone()?);
    let nonce = Nonce::from_b64(&device.server_nonce).ok()?;
    let h: HmacHeader = hmac::header(&device.server_id, &secret, nonce.as_bytes(), body);
    HeaderValue::from_str(&h.to_header_value()).ok()
}

fn reply(msg: &SyncMl, encoding: Encoding, hmac: Option<HeaderValue>) -> Response {
    reply_bytes(encode(msg, encoding), encoding, hmac)
}

fn reply_bytes(bytes: Vec<u8>, encoding: Encoding, hmac: Option<HeaderValue>) -> Response {
    let mut r =
        (Http::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(encoding.content_type()))], bytes)
            .into_response();
    if let Some(h) = hmac {
        r.headers_mut().insert(hmac::HEADER_NAME, h);
    }
    r
}

/// End an idle session: outcome timed out, unanswered commands back to the queue.
pub async fn expire(tx: &mut Tx, mut rec: SessionRecord, now: i64) -> Result<(), StoreError> {
    rec.outcome = SessionOutcome::TimedOut;
    rec.ended_at = Some(now);
    tx.requeue_sent(&rec.token, now).await?;
    tx.update_session(&rec).await?;
    METRICS.session_ended(Version::from_name(&rec.dm_version), Ended::TimedOut);
    Ok(())
}

/// Store one effect other than the device row's (those are merged by the caller).
async fn apply(tx: &mut Tx, device: &Device, token: &str, e: Effect, now: i64) -> Result<(), StoreError> {
    let id = device.device_id.as_str();
    match e {
        Effect::ClientNonce(_) | Effect::ServerNonce(_) | Effect::DeviceSession => Ok(()),
        Effect::Inventory(items) => tx.upsert_inventory(id, &items).await,
        Effect::CommandsSent(ids) => tx.mark_sent(&ids, token, now).await.map(|_| ()),
        Effect::CommandStatus { id: cmd, state, status } => {
            tx.set_command_status(cmd, state, status, now).await
        }
        Effect::Results { id: cmd, items } => tx.add_results(cmd, &items, now).await,
        Effect::GenericAlert(mut a) => {
            a.session_token = Some(token.to_owned());
            tx.add_generic_alert(&a).await.map(|_| ())
        }
        Effect::TreeUpsert(nodes) => tx.upsert_tree_nodes(id, &nodes).await,
        Effect::TreeDelete(uri) => tx.delete_tree_subtree(id, &uri).await.map(|_| ()),
        Effect::CommandHeld { id: cmd, reason } => {
            tracing::info!(device = id, command = cmd, %reason, "command held back");
            tx.set_command_held(cmd, Some(&reason), now).await
        }
        Effect::CommandReleased { id: cmd } => {
            tracing::info!(device = id, command = cmd, "held command released: the checks now pass");
            tx.set_command_held(cmd, None, now).await
        }
    }
}
