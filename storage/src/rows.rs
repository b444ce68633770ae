//! Raw rows as both backends return them, and their checked conversion into the model.
//!
//! Every column type here decodes on SQLite and PostgreSQL alike (`TEXT` → `String`,
//! `INTEGER` → `i32`, `BIGINT`/`INTEGER` on SQLite → `i64`). Enum spellings, JSON and
//! narrow integers are parsed here; a value that does not parse is `StoreError::Corrupt`,
//! never a panic.

use crate::error::StoreError;
use crate::model::{
    AuditEntry, ClientAuthType, CommandRecord, CommandSpec, CommandState, Device, GenericAlert,
    InventoryItem, Op, ResultItem, SessionOutcome, SessionRecord, TreeNode,
};

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    device_id: String,
    client_auth_type: String,
    client_username: String,
    client_secret: String,
    client_nonce: String,
    server_id: String,
    server_secret: Option<String>,
    server_nonce: String,
    dm_version: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_session_at: Option<i64>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;

    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        let client_auth_type = ClientAuthType::parse(&r.client_auth_type)
            .ok_or_else(|| corrupt("devices.client_auth_type", &r.device_id, &r.client_auth_type))?;
        Ok(Device {
            device_id: r.device_id,
            client_auth_type,
            client_username: r.client_username,
            client_secret: r.client_secret,
            client_nonce: r.client_nonce,
            server_id: r.server_id,
            server_secret: r.server_secret,
            server_nonce: r.server_nonce,
            dm_version: r.dm_version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_session_at: r.last_session_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InventoryRow {
    uri: String,
    format: Option<String>,
    value: String,
    updated_at: i64,
}

impl From<InventoryRow> for InventoryItem {
    fn from(r: InventoryRow) -> Self {
        InventoryItem { uri: r.uri, format: r.format, value: r.value, updated_at: r.updated_at }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CommandRow {
    pub(crate) id: i64,
    device_id: String,
    pub(crate) parent_id: Option<i64>,
    position: i32,
    op: String,
    target: Option<String>,
    source: Option<String>,
    data: Option<String>,
    format: Option<String>,
    mime_type: Option<String>,
    alert_code: Option<i32>,
    texts: String,
    state: String,
    status: Option<i32>,
    session_token: Option<String>,
    created_at: i64,
    updated_at: i64,
    pub(crate) held_reason: Option<String>,
    forced: bool,
}

impl CommandRow {
    /// Whether this row is an Atomic or Sequence (has child rows).
    pub(crate) fn is_container(&self) -> bool {
        Op::parse(&self.op).is_some_and(Op::is_container)
    }

    /// The record without children and results (filled in by the tree assembly).
    pub(crate) fn into_record(self) -> Result<CommandRecord, StoreError> {
        let id = self.id.to_string();
        let op = Op::parse(&self.op).ok_or_else(|| corrupt("commands.op", &id, &self.op))?;
        let state =
            CommandState::parse(&self.state).ok_or_else(|| corrupt("commands.state", &id, &self.state))?;
        let status = self
            .status
            .map(|s| u16::try_from(s).map_err(|_| corrupt("commands.status", &id, &s.to_string())))
            .transpose()?;
        let alert_code = self
            .alert_code
            .map(|s| u16::try_from(s).map_err(|_| corrupt("commands.alert_code", &id, &s.to_string())))
            .transpose()?;
        let texts: Vec<String> = serde_json::from_str(&self.texts)
            .map_err(|e| StoreError::Corrupt(format!("commands.texts of command {id}: {e}")))?;
        Ok(CommandRecord {
            id: self.id,
            device_id: self.device_id,
            parent_id: self.parent_id,
            position: self.position,
            spec: CommandSpec {
                op: Some(op),
                target: self.target,
                source: self.source,
                data: self.data,
                format: self.format,
                mime_type: self.mime_type,
                alert_code,
                texts,
                children: Vec::new(),
            },
            state,
            status,
            results: Vec::new(),
            session_token: self.session_token,
            children: Vec::new(),
            held_reason: self.held_reason,
            forced: self.forced,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResultRow {
    pub(crate) command_id: i64,
    source: String,
    format: Option<String>,
    mime_type: Option<String>,
    data: String,
}

impl From<ResultRow> for ResultItem {
    fn from(r: ResultRow) -> Self {
        ResultItem { source: r.source, format: r.format, mime_type: r.mime_type, data: r.data }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GenericAlertRow {
    id: i64,
    device_id: String,
    session_token: Option<String>,
    alert_type: Option<String>,
    format: Option<String>,
    mark: Option<String>,
    source: Option<String>,
    data: Option<String>,
    correlator: Option<String>,
    received_at: i64,
}

impl From<GenericAlertRow> for GenericAlert {
    fn from(r: GenericAlertRow) -> Self {
        GenericAlert {
            id: r.id,
            device_id: r.device_id,
            session_token: r.session_token,
            alert_type: r.alert_type,
            format: r.format,
            mark: r.mark,
            source: r.source,
            data: r.data,
            correlator: r.correlator,
            received_at: r.received_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    token: String,
    device_id: String,
    dm_session_id: String,
    dm_version: String,
    started_at: i64,
    last_activity_at: i64,
    ended_at: Option<i64>,
    messages_in: i32,
    messages_out: i32,
    outcome: String,
    state: String,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        // The token is a bearer secret of the session: not quoted in errors.
        let outcome = SessionOutcome::parse(&r.outcome)
            .ok_or_else(|| corrupt("sessions.outcome", "a session", &r.outcome))?;
        let state = serde_json::from_str(&r.state)
            .map_err(|e| StoreError::Corrupt(format!("sessions.state of a session: {e}")))?;
        Ok(SessionRecord {
            token: r.token,
            device_id: r.device_id,
            dm_session_id: r.dm_session_id,
            dm_version: r.dm_version,
            started_at: r.started_at,
            last_activity_at: r.last_activity_at,
            ended_at: r.ended_at,
            messages_in: r.messages_in,
            messages_out: r.messages_out,
            outcome,
            state,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    device_id: Option<String>,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        let detail = serde_json::from_str(&r.detail)
            .map_err(|e| StoreError::Corrupt(format!("audit_log.detail of entry {}: {e}", r.id)))?;
        Ok(AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            device_id: r.device_id,
            detail,
        })
    }
}

/// `Corrupt` for an unknown enum spelling. Only the column, the record key and the short
/// unknown value are quoted (enum columns never hold secrets).
fn corrupt(column: &str, key: &str, value: &str) -> StoreError {
    let shown: String = value.chars().take(40).collect();
    StoreError::Corrupt(format!("{column} of {key}: unknown value {shown:?}"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct TreeNodeRow {
    uri: String,
    value: Option<String>,
    format: Option<String>,
    mime_type: Option<String>,
    acl: Option<String>,
    title: Option<String>,
    size: Option<i64>,
    tstamp: Option<String>,
    ver_no: Option<i32>,
    updated_at: i64,
}

impl From<TreeNodeRow> for TreeNode {
    fn from(r: TreeNodeRow) -> Self {
        TreeNode {
            uri: r.uri,
            value: r.value,
            format: r.format,
            mime_type: r.mime_type,
            acl: r.acl,
            title: r.title,
            size: r.size,
            tstamp: r.tstamp,
            ver_no: r.ver_no,
            updated_at: r.updated_at,
        }
    }
}
