//! The SQL: every data operation, written once and run on either backend.
//!
//! A [`Conn`] is a borrowed connection of one backend (a transaction's, or a pooled one for
//! plain reads). [`on_conn!`] expands the same body once per backend, so the query text,
//! the binds and the row decoding are written a single time and type-checked against both
//! drivers. Where the dialects differ (only `FOR UPDATE` today) the SQL is chosen per backend.
//!
//! The shared SQL sticks to what both accept: `$n` placeholders (SQLite binds `$n` by
//! number), `INSERT ... ON CONFLICT ... DO UPDATE/NOTHING ... RETURNING`, `WITH RECURSIVE`.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

use crate::error::{StoreError, classify};
use crate::model::{
    AuditEntry, CommandRecord, CommandSpec, CommandState, DdfRecord, DdfRevision, Device, DeviceChange,
    GenericAlert, InventoryItem, Millis, ResultItem, SessionRecord, TreeNode,
};
use crate::rows::{
    AuditRow, CommandRow, DeviceRow, GenericAlertRow, InventoryRow, ResultRow, SessionRow, TreeNodeRow,
};

/// The most rows any list returns; larger `limit`s are clamped to it.
pub const MAX_LIMIT: u32 = 1000;

/// The most inventory items `list_inventory` returns for one device.
pub const MAX_INVENTORY: u32 = 10_000;

/// The most mirrored tree nodes `list_tree` returns for one device.
pub const MAX_TREE_NODES: u32 = 50_000;

/// The most operator DDFs `list_ddfs` returns.
pub const MAX_DDFS: u32 = 1000;

/// The deepest nesting of Atomic/Sequence `enqueue_command` accepts (1 = no container).
pub const MAX_COMMAND_DEPTH: usize = 8;

/// The most commands (containers and children) one `enqueue_command` tree may hold.
pub const MAX_COMMAND_NODES: usize = 1000;

/// A borrowed connection of either backend.
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Run `$body` with `$c` bound to the `&mut` connection of whichever backend `$conn` holds.
/// The body is compiled once per backend.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
            Conn::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}

macro_rules! device_cols {
    () => {
        "device_id, client_auth_type, client_username, client_secret, client_nonce, server_id, \
         server_secret, server_nonce, dm_version, created_at, updated_at, last_session_at"
    };
}

macro_rules! command_cols {
    () => {
        "id, device_id, parent_id, position, op, target, source, data, format, mime_type, \
         alert_code, texts, state, status, session_token, created_at, updated_at, held_reason, \
         forced"
    };
}

macro_rules! session_cols {
    () => {
        "token, device_id, dm_session_id, dm_version, started_at, last_activity_at, ended_at, \
         messages_in, messages_out, outcome, state"
    };
}

macro_rules! alert_cols {
    () => {
        "id, device_id, session_token, alert_type, format, mark, source, data, correlator, \
         received_at"
    };
}

macro_rules! audit_cols {
    () => {
        "id, at, actor, action, device_id, detail"
    };
}

/// The ids of the command trees whose roots `$anchor` selects (the anchor's own `ORDER BY`
/// and `LIMIT` pick the roots; `UNION` rather than `UNION ALL` so that a corrupt parent
/// cycle cannot recurse forever).
macro_rules! tree_with {
    ($anchor:literal) => {
        concat!(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM (",
            $anchor,
            ") AS top UNION SELECT c.id FROM commands c JOIN tree t ON c.parent_id = t.id) "
        )
    };
}

/// The two statements loading command trees: all their rows, then all their results.
macro_rules! tree_sql {
    ($anchor:literal) => {
        (
            concat!(
                tree_with!($anchor),
                "SELECT ",
                command_cols!(),
                " FROM commands WHERE id IN (SELECT id FROM tree) ORDER BY id"
            ),
            concat!(
                tree_with!($anchor),
                "SELECT command_id, source, format, mime_type, data FROM command_results \
                 WHERE command_id IN (SELECT id FROM tree) ORDER BY id"
            ),
        )
    };
}

type TreeSql = (&'static str, &'static str);

const TREE_LIST_ALL: TreeSql =
    tree_sql!("SELECT id FROM commands WHERE device_id = $1 AND parent_id IS NULL ORDER BY id DESC LIMIT $2");
const TREE_LIST_STATE: TreeSql = tree_sql!(
    "SELECT id FROM commands WHERE device_id = $1 AND parent_id IS NULL AND state = $2 \
     ORDER BY id DESC LIMIT $3"
);

/// The queue's head: top-level commands ready to send, oldest first (`commands_queue_idx`).
const QUEUED_TOP: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND parent_id IS NULL AND state = 'queued' \
     AND held_reason IS NULL ORDER BY id LIMIT $2"
);

/// Top-level commands held back (queued, with a reason), oldest first.
const HELD_TOP: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND parent_id IS NULL AND state = 'queued' \
     AND held_reason IS NOT NULL ORDER BY id LIMIT $2"
);

/// The queue's head and the held commands in one read: ready ones first, then held ones, each
/// oldest first.
const QUEUED_AND_HELD_TOP: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND parent_id IS NULL AND state = 'queued' \
     ORDER BY (held_reason IS NOT NULL), id LIMIT $2"
);

/// The most rows one multi-row `INSERT` carries (SQLite allows 32,766 bound values, PostgreSQL
/// 65,535; at 11 values per tree node this stays far below both).
const INSERT_CHUNK: usize = 500;

/// Load command trees with `$sql` (a [`TreeSql`]), binding the same arguments to both
/// statements.
macro_rules! fetch_trees {
    ($conn:expr, $sql:expr, $($arg:expr),+) => {
        on_conn!($conn, c => {
            let rows: Vec<CommandRow> = sqlx::query_as($sql.0)
                $(.bind($arg))+
                .fetch_all(&mut *c)
                .await?;
            let results: Vec<ResultRow> = if rows.is_empty() {
                Vec::new()
            } else {
                sqlx::query_as($sql.1)
                    $(.bind($arg))+
                    .fetch_all(&mut *c)
                    .await?
            };
            (rows, results)
        })
    };
}

/// A list `limit` as bound: clamped to [`MAX_LIMIT`].
fn lim(limit: u32) -> i64 {
    i64::from(limit.min(MAX_LIMIT))
}

/// A u16 code as stored (INTEGER).
fn code(v: Option<u16>) -> Option<i32> {
    v.map(i32::from)
}

fn json_text(v: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail (all keys are strings).
    v.to_string()
}

impl Conn<'_> {
    pub(crate) async fn ping(&mut self) -> Result<(), StoreError> {
        on_conn!(self, c => {
            sqlx::query("SELECT 1").execute(&mut *c).await?;
        });
        Ok(())
    }

    // ---- devices ----

    pub(crate) async fn create_device(&mut self, d: &Device) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO devices (",
            device_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (device_id) DO NOTHING"
        );
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(&d.device_id)
            .bind(d.client_auth_type.as_str())
            .bind(&d.client_username)
            .bind(&d.client_secret)
            .bind(&d.client_nonce)
            .bind(&d.server_id)
            .bind(d.server_secret.as_deref())
            .bind(&d.server_nonce)
            .bind(d.dm_version.as_deref())
            .bind(d.created_at)
            .bind(d.updated_at)
            .bind(d.last_session_at)
            .execute(&mut *c)
            .await?
            .rows_affected());
        if done == 0 {
            return Err(StoreError::Conflict(format!("device {}", d.device_id)));
        }
        Ok(())
    }

    pub(crate) async fn update_device(&mut self, d: &Device) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE devices SET client_auth_type = $1, client_username = $2, \
             client_secret = $3, client_nonce = $4, server_id = $5, server_secret = $6, \
             server_nonce = $7, dm_version = $8, updated_at = $9, last_session_at = $10 \
             WHERE device_id = $11";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(d.client_auth_type.as_str())
            .bind(&d.client_username)
            .bind(&d.client_secret)
            .bind(&d.client_nonce)
            .bind(&d.server_id)
            .bind(d.server_secret.as_deref())
            .bind(&d.server_nonce)
            .bind(d.dm_version.as_deref())
            .bind(d.updated_at)
            .bind(d.last_session_at)
            .bind(&d.device_id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        found(done, || format!("device {}", d.device_id))
    }

    pub(crate) async fn get_device(&mut self, id: &str) -> Result<Option<Device>, StoreError> {
        self.device(id, false).await
    }

    /// A device, its row locked until the transaction ends when `lock` (PostgreSQL only).
    pub(crate) async fn device(&mut self, id: &str, lock: bool) -> Result<Option<Device>, StoreError> {
        const PLAIN: &str = concat!("SELECT ", device_cols!(), " FROM devices WHERE device_id = $1");
        const FOR_UPDATE: &str =
            concat!("SELECT ", device_cols!(), " FROM devices WHERE device_id = $1 FOR UPDATE");
        let sql = match self {
            Conn::Postgres(_) if lock => FOR_UPDATE,
            _ => PLAIN,
        };
        let row: Option<DeviceRow> =
            on_conn!(self, c => sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await?);
        row.map(Device::try_from).transpose()
    }

    pub(crate) async fn list_devices(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>, StoreError> {
        const FIRST: &str = concat!("SELECT ", device_cols!(), " FROM devices ORDER BY device_id LIMIT $1");
        const AFTER: &str = concat!(
            "SELECT ",
            device_cols!(),
            " FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2"
        );
        let rows: Vec<DeviceRow> = on_conn!(self, c => match after {
            None => sqlx::query_as(FIRST).bind(lim(limit)).fetch_all(&mut *c).await?,
            Some(after) => {
                sqlx::query_as(AFTER)
                    .bind(after)
                    .bind(lim(limit))
                    .fetch_all(&mut *c)
                    .await?
            }
        });
        rows.into_iter().map(Device::try_from).collect()
    }

    pub(crate) async fn delete_device(&mut self, id: &str) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM devices WHERE device_id = $1";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    pub(crate) async fn update_device_after_message(
        &mut self,
        id: &str,
        change: &DeviceChange<'_>,
        now: Millis,
    ) -> Result<(), StoreError> {
        // One statement for all a DM message changes on the device row.
        const SQL: &str = "UPDATE devices SET client_nonce = COALESCE($1, client_nonce), \
             server_nonce = COALESCE($2, server_nonce), dm_version = COALESCE($3, dm_version), \
             last_session_at = CASE WHEN $4 THEN $5 ELSE last_session_at END, updated_at = $5 \
             WHERE device_id = $6";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(change.client_nonce)
            .bind(change.server_nonce)
            .bind(change.session_version)
            .bind(change.session_version.is_some())
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        found(done, || format!("device {id}"))
    }

    // ---- inventory ----

    pub(crate) async fn upsert_inventory(
        &mut self,
        device_id: &str,
        items: &[InventoryItem],
    ) -> Result<(), StoreError> {
        // One statement per chunk; a URI given twice keeps its last value (one `INSERT` may
        // not update a row twice).
        let items = last_per_key(items, |i| i.uri.as_str());
        for chunk in items.chunks(INSERT_CHUNK) {
            on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO inventory (device_id, uri, format, value, updated_at) ",
                );
                q.push_values(chunk, |mut b, item| {
                    b.push_bind(device_id)
                        .push_bind(&item.uri)
                        .push_bind(item.format.as_deref())
                        .push_bind(&item.value)
                        .push_bind(item.updated_at);
                });
                q.push(
                    " ON CONFLICT (device_id, uri) DO UPDATE SET format = excluded.format, \
                     value = excluded.value, updated_at = excluded.updated_at",
                );
                q.build()
                    .execute(&mut *c)
                    .await
                    .map_err(|e| classify(e, || format!("device {device_id}")))?;
            });
        }
        Ok(())
    }

    pub(crate) async fn list_inventory(&mut self, device_id: &str) -> Result<Vec<InventoryItem>, StoreError> {
        const SQL: &str = "SELECT uri, format, value, updated_at FROM inventory \
             WHERE device_id = $1 ORDER BY uri LIMIT $2";
        let rows: Vec<InventoryRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(device_id)
            .bind(i64::from(MAX_INVENTORY))
            .fetch_all(&mut *c)
            .await?);
        Ok(rows.into_iter().map(InventoryItem::from).collect())
    }

    // ---- commands ----

    pub(crate) async fn enqueue_command(
        &mut self,
        device_id: &str,
        spec: &CommandSpec,
        now: Millis,
    ) -> Result<i64, StoreError> {
        validate_spec(spec)?;
        // Pre-order, so ids follow document order; position is the index among siblings.
        let mut stack: Vec<(&CommandSpec, Option<i64>, i32)> = vec![(spec, None, 0)];
        let mut top = None;
        while let Some((s, parent, position)) = stack.pop() {
            let id = self.insert_command(device_id, s, parent, position, now).await?;
            top.get_or_insert(id);
            for (i, child) in s.children.iter().enumerate().rev() {
                let position =
                    i32::try_from(i).map_err(|_| StoreError::Invalid("too many children".into()))?;
                stack.push((child, Some(id), position));
            }
        }
        top.ok_or_else(|| StoreError::Invalid("empty command".into()))
    }

    async fn insert_command(
        &mut self,
        device_id: &str,
        s: &CommandSpec,
        parent: Option<i64>,
        position: i32,
        now: Millis,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO commands (device_id, parent_id, position, op, target, \
             source, data, format, mime_type, alert_code, texts, state, status, session_token, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             'queued', NULL, NULL, $12, $12) RETURNING id";
        let op = s.op.ok_or_else(|| StoreError::Invalid("command without an op".into()))?;
        let texts =
            serde_json::to_string(&s.texts).map_err(|e| StoreError::Invalid(format!("texts: {e}")))?;
        let id: i64 = on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(device_id)
            .bind(parent)
            .bind(position)
            .bind(op.as_str())
            .bind(s.target.as_deref())
            .bind(s.source.as_deref())
            .bind(s.data.as_deref())
            .bind(s.format.as_deref())
            .bind(s.mime_type.as_deref())
            .bind(code(s.alert_code))
            .bind(&texts)
            .bind(now)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {device_id}")))?);
        Ok(id)
    }

    pub(crate) async fn get_command(
        &mut self,
        device_id: &str,
        id: i64,
    ) -> Result<Option<CommandRecord>, StoreError> {
        // Index reads only, whatever the planner's statistics: the row by its key, the rows
        // below it when it is a container, then their Results (`command_results_command_idx`).
        // (A recursive CTE here was planned as sequential scans of `commands` and
        // `command_results` on PostgreSQL: BENCHMARKS.md, "Campaigns".)
        const ONE: &str =
            concat!("SELECT ", command_cols!(), " FROM commands WHERE device_id = $1 AND id = $2");
        let row: Option<CommandRow> =
            on_conn!(self, c => sqlx::query_as(ONE).bind(device_id).bind(id).fetch_optional(&mut *c).await?);
        let Some(row) = row else { return Ok(None) };
        let mut rows = vec![row];
        self.add_container_children(&mut rows).await?;
        let mut results = Vec::new();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let part: Vec<ResultRow> = on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT command_id, source, format, mime_type, data FROM command_results WHERE command_id IN (",
                );
                let mut list = q.separated(", ");
                for r in chunk {
                    list.push_bind(r.id);
                }
                q.push(") ORDER BY id");
                q.build_query_as().fetch_all(&mut *c).await?
            });
            results.extend(part);
        }
        let mut trees = assemble(rows, results, Some(id), false)?;
        Ok(trees.pop())
    }

    pub(crate) async fn list_commands(
        &mut self,
        device_id: &str,
        state: Option<CommandState>,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let (rows, results) = match state {
            None => fetch_trees!(self, TREE_LIST_ALL, device_id, lim(limit)),
            Some(state) => {
                fetch_trees!(self, TREE_LIST_STATE, device_id, state.as_str(), lim(limit))
            }
        };
        assemble(rows, results, None, true)
    }

    pub(crate) async fn next_queued(
        &mut self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        // Called for every package 1, so it is two plain index reads at most: the queue's head,
        // then, only for Atomic/Sequence (rare), their children. No Results: a queued command
        // is about to be sent, and the engine does not look at earlier ones.
        self.top_level_trees(QUEUED_TOP, device_id, limit).await
    }

    /// Append the rows below every Atomic/Sequence among `rows`: one `parent_id IN (...)`
    /// read (`commands_parent_idx`) per level of nesting, none when no row is a container.
    async fn add_container_children(&mut self, rows: &mut Vec<CommandRow>) -> Result<(), StoreError> {
        let mut parents: Vec<i64> = rows.iter().filter(|r| r.is_container()).map(|r| r.id).collect();
        let mut depth = 0;
        while !parents.is_empty() {
            depth += 1;
            if depth > MAX_STORED_DEPTH {
                return Err(StoreError::Corrupt(format!("commands nested deeper than {MAX_STORED_DEPTH}")));
            }
            let mut level: Vec<CommandRow> = Vec::new();
            for chunk in parents.chunks(INSERT_CHUNK) {
                let part: Vec<CommandRow> = on_conn!(self, c => {
                    let mut q = sqlx::QueryBuilder::new(concat!(
                        "SELECT ",
                        command_cols!(),
                        " FROM commands WHERE parent_id IN ("
                    ));
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(") ORDER BY id");
                    q.build_query_as().fetch_all(&mut *c).await?
                });
                level.extend(part);
            }
            parents = level.iter().filter(|r| r.is_container()).map(|r| r.id).collect();
            rows.extend(level);
        }
        Ok(())
    }

    pub(crate) async fn mark_sent(
        &mut self,
        ids: &[i64],
        session_token: &str,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        for chunk in ids.chunks(INSERT_CHUNK) {
            total += on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new("UPDATE commands SET state = 'sent', session_token = ");
                q.push_bind(session_token).push(", updated_at = ").push_bind(now).push(" WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(") AND state IN ('queued', 'sent')");
                q.build().execute(&mut *c).await?.rows_affected()
            });
        }
        Ok(total)
    }

    pub(crate) async fn set_command_status(
        &mut self,
        id: i64,
        state: CommandState,
        status: Option<u16>,
        now: Millis,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE commands SET state = $1, status = $2, updated_at = $3 WHERE id = $4";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(state.as_str())
            .bind(code(status))
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        found(done, || format!("command {id}"))
    }

    pub(crate) async fn add_results(
        &mut self,
        command_id: i64,
        items: &[ResultItem],
        now: Millis,
    ) -> Result<(), StoreError> {
        for chunk in items.chunks(INSERT_CHUNK) {
            on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO command_results (command_id, source, format, mime_type, data, received_at) ",
                );
                q.push_values(chunk, |mut b, item| {
                    b.push_bind(command_id)
                        .push_bind(&item.source)
                        .push_bind(item.format.as_deref())
                        .push_bind(item.mime_type.as_deref())
                        .push_bind(&item.data)
                        .push_bind(now);
                });
                q.build()
                    .execute(&mut *c)
                    .await
                    .map_err(|e| classify(e, || format!("command {command_id}")))?;
            });
        }
        Ok(())
    }

    pub(crate) async fn requeue_sent(&mut self, session_token: &str, now: Millis) -> Result<u64, StoreError> {
        // An Exec the device may have run already is not sent again (it could start a firmware
        // update twice): its whole command tree is marked failed with no Status ("outcome
        // unknown"), for its owner to find out (FUMO reads the State node). The rest goes back
        // to the queue. Not on the per-message path: only when a session ends badly.
        const SENT: &str =
            "SELECT id, parent_id, op FROM commands WHERE session_token = $1 AND state = 'sent'";
        const REQUEUE: &str = "UPDATE commands SET state = 'queued', session_token = NULL, \
             updated_at = $1 WHERE session_token = $2 AND state = 'sent'";
        let sent: Vec<(i64, Option<i64>, String)> =
            on_conn!(self, c => sqlx::query_as(SENT).bind(session_token).fetch_all(&mut *c).await?);
        if sent.iter().any(|(_, _, op)| op == "Exec") {
            let parent: HashMap<i64, Option<i64>> = sent.iter().map(|(id, p, _)| (*id, *p)).collect();
            // The root of a row: climb while the parent is among the sent rows (bounded).
            let root = |mut id: i64| {
                for _ in 0..=MAX_STORED_DEPTH {
                    match parent.get(&id).copied().flatten() {
                        Some(p) if parent.contains_key(&p) => id = p,
                        _ => break,
                    }
                }
                id
            };
            let exec_roots: HashSet<i64> =
                sent.iter().filter(|(_, _, op)| op == "Exec").map(|(id, _, _)| root(*id)).collect();
            let abandoned: Vec<i64> =
                sent.iter().map(|(id, _, _)| *id).filter(|id| exec_roots.contains(&root(*id))).collect();
            for chunk in abandoned.chunks(INSERT_CHUNK) {
                on_conn!(self, c => {
                    let mut q = sqlx::QueryBuilder::new("UPDATE commands SET state = 'failed', status = NULL, \
                         session_token = NULL, updated_at = ");
                    q.push_bind(now).push(" WHERE id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    q.build().execute(&mut *c).await?;
                });
            }
        }
        Ok(on_conn!(self, c => sqlx::query(REQUEUE)
            .bind(now)
            .bind(session_token)
            .execute(&mut *c)
            .await?
            .rows_affected()))
    }

    pub(crate) async fn set_command_held(
        &mut self,
        id: i64,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE commands SET held_reason = $1, updated_at = $2 WHERE id = $3";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(reason)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        found(done, || format!("command {id}"))
    }

    pub(crate) async fn force_command(
        &mut self,
        device_id: &str,
        id: i64,
        now: Millis,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE commands SET forced = TRUE, held_reason = NULL, updated_at = $1 \
             WHERE device_id = $2 AND id = $3 AND parent_id IS NULL";
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(now)
            .bind(device_id)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    // ---- tree mirror ----

    pub(crate) async fn upsert_tree_nodes(
        &mut self,
        device_id: &str,
        nodes: &[TreeNode],
    ) -> Result<(), StoreError> {
        // Properties not given (NULL) keep their mirrored value. A URI given twice keeps its
        // last value (one `INSERT` may not update a row twice).
        let nodes = last_per_key(nodes, |n| n.uri.as_str());
        for chunk in nodes.chunks(INSERT_CHUNK) {
            on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO tree_nodes (device_id, uri, value, format, mime_type, acl, title, \
                     size, tstamp, ver_no, updated_at) ",
                );
                q.push_values(chunk, |mut b, n| {
                    b.push_bind(device_id)
                        .push_bind(&n.uri)
                        .push_bind(n.value.as_deref())
                        .push_bind(n.format.as_deref())
                        .push_bind(n.mime_type.as_deref())
                        .push_bind(n.acl.as_deref())
                        .push_bind(n.title.as_deref())
                        .push_bind(n.size)
                        .push_bind(n.tstamp.as_deref())
                        .push_bind(n.ver_no)
                        .push_bind(n.updated_at);
                });
                q.push(
                    " ON CONFLICT (device_id, uri) DO UPDATE SET \
                     value = COALESCE(excluded.value, tree_nodes.value), \
                     format = COALESCE(excluded.format, tree_nodes.format), \
                     mime_type = COALESCE(excluded.mime_type, tree_nodes.mime_type), \
                     acl = COALESCE(excluded.acl, tree_nodes.acl), \
                     title = COALESCE(excluded.title, tree_nodes.title), \
                     size = COALESCE(excluded.size, tree_nodes.size), \
                     tstamp = COALESCE(excluded.tstamp, tree_nodes.tstamp), \
                     ver_no = COALESCE(excluded.ver_no, tree_nodes.ver_no), \
                     updated_at = excluded.updated_at",
                );
                q.build()
                    .execute(&mut *c)
                    .await
                    .map_err(|e| classify(e, || format!("device {device_id}")))?;
            });
        }
        Ok(())
    }

    pub(crate) async fn delete_tree_subtree(
        &mut self,
        device_id: &str,
        uri: &str,
    ) -> Result<u64, StoreError> {
        // The node, and every URI starting with `uri/` ('0' is the character after '/').
        const SQL: &str = "DELETE FROM tree_nodes WHERE device_id = $1 AND \
             (uri = $2 OR (uri > $3 AND uri < $4))";
        let below = format!("{uri}/");
        let end = format!("{uri}0");
        Ok(on_conn!(self, c => sqlx::query(SQL)
            .bind(device_id)
            .bind(uri)
            .bind(&below)
            .bind(&end)
            .execute(&mut *c)
            .await?
            .rows_affected()))
    }

    pub(crate) async fn list_tree(&mut self, device_id: &str) -> Result<Vec<TreeNode>, StoreError> {
        const SQL: &str = "SELECT uri, value, format, mime_type, acl, title, size, tstamp, ver_no, \
             updated_at FROM tree_nodes WHERE device_id = $1 ORDER BY uri LIMIT $2";
        let rows: Vec<TreeNodeRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(device_id)
            .bind(i64::from(MAX_TREE_NODES))
            .fetch_all(&mut *c)
            .await?);
        Ok(rows.into_iter().map(TreeNode::from).collect())
    }

    pub(crate) async fn get_tree_node(
        &mut self,
        device_id: &str,
        uri: &str,
    ) -> Result<Option<TreeNode>, StoreError> {
        const SQL: &str = "SELECT uri, value, format, mime_type, acl, title, size, tstamp, ver_no, \
             updated_at FROM tree_nodes WHERE device_id = $1 AND uri = $2";
        let row: Option<TreeNodeRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(device_id).bind(uri).fetch_optional(&mut *c).await?);
        Ok(row.map(TreeNode::from))
    }

    pub(crate) async fn held_commands(
        &mut self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        self.top_level_trees(HELD_TOP, device_id, limit).await
    }

    /// The command trees whose top-level rows `sql` (binding the device and a limit) selects,
    /// without Results.
    async fn top_level_trees(
        &mut self,
        sql: &'static str,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<CommandRecord>, StoreError> {
        let mut rows: Vec<CommandRow> = on_conn!(self, c => sqlx::query_as(sql).bind(device_id).bind(lim(limit)).fetch_all(&mut *c).await?);
        self.add_container_children(&mut rows).await?;
        assemble(rows, Vec::new(), None, false)
    }

    pub(crate) async fn queued_and_held(
        &mut self,
        device_id: &str,
        limit: u32,
    ) -> Result<(Vec<CommandRecord>, Vec<CommandRecord>), StoreError> {
        // One statement instead of `next_queued` + `held_commands` on package 1. Held ones
        // come after up to `limit` ready ones; with more ready than that, fewer held are seen
        // (they are checked again at the next package 1).
        let rows: Vec<CommandRow> = on_conn!(self, c => sqlx::query_as(QUEUED_AND_HELD_TOP)
            .bind(device_id)
            .bind(lim(limit).saturating_mul(2))
            .fetch_all(&mut *c)
            .await?);
        let limit = limit.min(MAX_LIMIT) as usize;
        let (mut ready, mut held): (Vec<CommandRow>, Vec<CommandRow>) =
            rows.into_iter().partition(|r| r.held_reason.is_none());
        ready.truncate(limit);
        held.truncate(limit);
        self.add_container_children(&mut ready).await?;
        self.add_container_children(&mut held).await?;
        Ok((assemble(ready, Vec::new(), None, false)?, assemble(held, Vec::new(), None, false)?))
    }

    // ---- operator DDFs ----

    pub(crate) async fn create_ddf(&mut self, d: &DdfRecord) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO ddfs (name, mo_id, mount, man, model, document, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING id";
        let id: Option<i64> = on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(&d.name)
            .bind(d.mo_id.as_deref())
            .bind(&d.mount)
            .bind(d.man.as_deref())
            .bind(d.model.as_deref())
            .bind(&d.document)
            .bind(d.created_at)
            .bind(d.updated_at)
            .fetch_optional(&mut *c)
            .await?);
        id.ok_or_else(|| StoreError::Conflict(format!("DDF {:?}", d.name)))
    }

    pub(crate) async fn list_ddfs(&mut self, documents: bool) -> Result<Vec<DdfRecord>, StoreError> {
        const META: &str = "SELECT id, name, mo_id, mount, man, model, created_at, updated_at FROM ddfs \
             ORDER BY id LIMIT $1";
        const FULL: &str = "SELECT id, name, mo_id, mount, man, model, created_at, updated_at, document \
             FROM ddfs ORDER BY id LIMIT $1";
        let limit = i64::from(MAX_DDFS);
        if documents {
            let rows: Vec<DdfRow> =
                on_conn!(self, c => sqlx::query_as(FULL).bind(limit).fetch_all(&mut *c).await?);
            return Ok(rows.into_iter().map(ddf_record).collect());
        }
        let rows: Vec<DdfMetaRow> =
            on_conn!(self, c => sqlx::query_as(META).bind(limit).fetch_all(&mut *c).await?);
        Ok(rows
            .into_iter()
            .map(|m| ddf_record((m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7, Vec::new())))
            .collect())
    }

    pub(crate) async fn get_ddf(&mut self, id: i64) -> Result<Option<DdfRecord>, StoreError> {
        const SQL: &str = "SELECT id, name, mo_id, mount, man, model, created_at, updated_at, document \
             FROM ddfs WHERE id = $1";
        let row: Option<DdfRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id).fetch_optional(&mut *c).await?);
        Ok(row.map(ddf_record))
    }

    pub(crate) async fn delete_ddf(&mut self, id: i64) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM ddfs WHERE id = $1";
        let done = on_conn!(self, c => sqlx::query(SQL).bind(id).execute(&mut *c).await?.rows_affected());
        Ok(done > 0)
    }

    pub(crate) async fn ddf_revision(&mut self) -> Result<DdfRevision, StoreError> {
        const SQL: &str = "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(MAX(updated_at), 0) FROM ddfs";
        let (count, max_id, max_updated_at): (i64, i64, i64) =
            on_conn!(self, c => sqlx::query_as(SQL).fetch_one(&mut *c).await?);
        Ok(DdfRevision { count, max_id, max_updated_at })
    }

    // ---- generic alerts ----

    pub(crate) async fn add_generic_alert(&mut self, a: &GenericAlert) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO generic_alerts (device_id, session_token, alert_type, \
             format, mark, source, data, correlator, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(&a.device_id)
            .bind(a.session_token.as_deref())
            .bind(a.alert_type.as_deref())
            .bind(a.format.as_deref())
            .bind(a.mark.as_deref())
            .bind(a.source.as_deref())
            .bind(a.data.as_deref())
            .bind(a.correlator.as_deref())
            .bind(a.received_at)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {}", a.device_id)))?))
    }

    pub(crate) async fn list_generic_alerts(
        &mut self,
        device_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GenericAlert>, StoreError> {
        const ALL: &str = concat!("SELECT ", alert_cols!(), " FROM generic_alerts ORDER BY id DESC LIMIT $1");
        const ONE: &str = concat!(
            "SELECT ",
            alert_cols!(),
            " FROM generic_alerts WHERE device_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<GenericAlertRow> = on_conn!(self, c => match device_id {
            None => sqlx::query_as(ALL).bind(lim(limit)).fetch_all(&mut *c).await?,
            Some(d) => sqlx::query_as(ONE).bind(d).bind(lim(limit)).fetch_all(&mut *c).await?,
        });
        Ok(rows.into_iter().map(GenericAlert::from).collect())
    }

    // ---- sessions ----

    pub(crate) async fn create_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO sessions (",
            session_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (token) DO NOTHING"
        );
        let state = json_text(&s.state);
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(&s.token)
            .bind(&s.device_id)
            .bind(&s.dm_session_id)
            .bind(&s.dm_version)
            .bind(s.started_at)
            .bind(s.last_activity_at)
            .bind(s.ended_at)
            .bind(s.messages_in)
            .bind(s.messages_out)
            .bind(s.outcome.as_str())
            .bind(&state)
            .execute(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {}", s.device_id)))?
            .rows_affected());
        if done == 0 {
            // The token is a bearer secret: not quoted.
            return Err(StoreError::Conflict("session token".into()));
        }
        Ok(())
    }

    /// `lock`: on PostgreSQL, `SELECT ... FOR UPDATE` (ignored on SQLite, whose write
    /// transactions are serialised by `BEGIN IMMEDIATE`).
    pub(crate) async fn get_session(
        &mut self,
        token: &str,
        lock: bool,
    ) -> Result<Option<SessionRecord>, StoreError> {
        const PLAIN: &str = concat!("SELECT ", session_cols!(), " FROM sessions WHERE token = $1");
        const FOR_UPDATE: &str =
            concat!("SELECT ", session_cols!(), " FROM sessions WHERE token = $1 FOR UPDATE");
        let sql = match self {
            Conn::Postgres(_) if lock => FOR_UPDATE,
            _ => PLAIN,
        };
        let row: Option<SessionRow> =
            on_conn!(self, c => sqlx::query_as(sql).bind(token).fetch_optional(&mut *c).await?);
        row.map(SessionRecord::try_from).transpose()
    }

    pub(crate) async fn update_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE sessions SET dm_session_id = $1, dm_version = $2, \
             last_activity_at = $3, ended_at = $4, messages_in = $5, messages_out = $6, \
             outcome = $7, state = $8 WHERE token = $9";
        let state = json_text(&s.state);
        let done = on_conn!(self, c => sqlx::query(SQL)
            .bind(&s.dm_session_id)
            .bind(&s.dm_version)
            .bind(s.last_activity_at)
            .bind(s.ended_at)
            .bind(s.messages_in)
            .bind(s.messages_out)
            .bind(s.outcome.as_str())
            .bind(&state)
            .bind(&s.token)
            .execute(&mut *c)
            .await?
            .rows_affected());
        found(done, || "session".to_string())
    }

    pub(crate) async fn list_sessions(
        &mut self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE device_id = $1 ORDER BY started_at DESC, token DESC LIMIT $2"
        );
        let rows: Vec<SessionRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(device_id)
            .bind(lim(limit))
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(SessionRecord::try_from).collect()
    }

    pub(crate) async fn idle_sessions(
        &mut self,
        before: Millis,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE outcome = 'active' AND last_activity_at < $1 \
             ORDER BY last_activity_at, token LIMIT $2"
        );
        let rows: Vec<SessionRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(before)
            .bind(lim(limit))
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(SessionRecord::try_from).collect()
    }

    // ---- audit ----

    pub(crate) async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        device_id: Option<&str>,
        detail: &serde_json::Value,
        now: Millis,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO audit_log (at, actor, action, device_id, detail) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let detail = json_text(detail);
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(now)
            .bind(actor)
            .bind(action)
            .bind(device_id)
            .bind(&detail)
            .fetch_one(&mut *c)
            .await?))
    }

    pub(crate) async fn list_audit(
        &mut self,
        device_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const ALL: &str = concat!("SELECT ", audit_cols!(), " FROM audit_log ORDER BY id DESC LIMIT $1");
        const ONE: &str = concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit_log WHERE device_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<AuditRow> = on_conn!(self, c => match device_id {
            None => sqlx::query_as(ALL).bind(lim(limit)).fetch_all(&mut *c).await?,
            Some(d) => sqlx::query_as(ONE).bind(d).bind(lim(limit)).fetch_all(&mut *c).await?,
        });
        rows.into_iter().map(AuditEntry::try_from).collect()
    }
}

/// A `ddfs` row: id, name, mo_id, mount, man, model, created_at, updated_at, document.
type DdfRow = (i64, String, Option<String>, String, Option<String>, Option<String>, i64, i64, Vec<u8>);
/// A `ddfs` row without its document.
type DdfMetaRow = (i64, String, Option<String>, String, Option<String>, Option<String>, i64, i64);

fn ddf_record(r: DdfRow) -> DdfRecord {
    let (id, name, mo_id, mount, man, model, created_at, updated_at, document) = r;
    DdfRecord { id, name, mo_id, mount, man, model, document, created_at, updated_at }
}

/// `Ok` when an update touched a row, `NotFound(what)` otherwise.
/// `items` with only the last of each key, in first-seen order of the keys kept.
fn last_per_key<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items.iter().enumerate().filter(|(i, item)| last[key(item)] == *i).map(|(_, item)| item).collect()
}

fn found(rows_affected: u64, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if rows_affected == 0 { Err(StoreError::NotFound(what())) } else { Ok(()) }
}

/// Reject trees the session engine could not send: no op, children under a non-container,
/// an empty container, too deep or too large.
fn validate_spec(spec: &CommandSpec) -> Result<(), StoreError> {
    let mut nodes = 0usize;
    let mut stack = vec![(spec, 1usize)];
    while let Some((s, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_COMMAND_NODES {
            return Err(StoreError::Invalid(format!("more than {MAX_COMMAND_NODES} commands in one tree")));
        }
        if depth > MAX_COMMAND_DEPTH {
            return Err(StoreError::Invalid(format!("containers nested deeper than {MAX_COMMAND_DEPTH}")));
        }
        let op = s.op.ok_or_else(|| StoreError::Invalid("command without an op".into()))?;
        match (op.is_container(), s.children.is_empty()) {
            (true, true) => {
                return Err(StoreError::Invalid(format!("{} without children", op.as_str())));
            }
            (false, false) => {
                return Err(StoreError::Invalid(format!("{} with children", op.as_str())));
            }
            _ => {}
        }
        stack.extend(s.children.iter().map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// Deepest tree `assemble` builds from stored rows (deeper is `Corrupt`; enqueue allows
/// [`MAX_COMMAND_DEPTH`]).
const MAX_STORED_DEPTH: usize = 64;

/// Build command trees from the rows of [`tree_sql!`]. Roots are `root` if given, else the
/// rows whose parent is not among the rows, ordered by id (descending if `newest_first`);
/// children are ordered by position.
fn assemble(
    rows: Vec<CommandRow>,
    results: Vec<ResultRow>,
    root: Option<i64>,
    newest_first: bool,
) -> Result<Vec<CommandRecord>, StoreError> {
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    let mut results_of: HashMap<i64, Vec<ResultItem>> = HashMap::new();
    for r in results {
        results_of.entry(r.command_id).or_default().push(r.into());
    }
    let mut roots = Vec::new();
    let mut children_of: HashMap<i64, Vec<CommandRecord>> = HashMap::new();
    for row in rows {
        let mut rec = row.into_record()?;
        rec.results = results_of.remove(&rec.id).unwrap_or_default();
        let is_root = match root {
            Some(root) => rec.id == root,
            None => rec.parent_id.is_none_or(|p| !ids.contains(&p)),
        };
        match rec.parent_id {
            Some(parent) if !is_root => children_of.entry(parent).or_default().push(rec),
            _ => roots.push(rec),
        }
    }
    for list in children_of.values_mut() {
        list.sort_by_key(|c| (c.position, c.id));
    }
    roots.sort_by_key(|r| r.id);
    if newest_first {
        roots.reverse();
    }
    for r in &mut roots {
        attach(r, &mut children_of, 0)?;
    }
    Ok(roots)
}

fn attach(
    rec: &mut CommandRecord,
    children_of: &mut HashMap<i64, Vec<CommandRecord>>,
    depth: usize,
) -> Result<(), StoreError> {
    if depth > MAX_STORED_DEPTH {
        return Err(StoreError::Corrupt(format!("command {} nested deeper than {MAX_STORED_DEPTH}", rec.id)));
    }
    if let Some(mut kids) = children_of.remove(&rec.id) {
        for k in &mut kids {
            attach(k, children_of, depth + 1)?;
        }
        rec.children = kids;
    }
    Ok(())
}
