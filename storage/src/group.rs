//! Device groups (`migrations/*/0009_groups.sql`): operator-named sets of devices, used to
//! target campaigns (`TargetSelector::group`).

use serde::Serialize;

use crate::conn::Conn;
use crate::error::{StoreError, classify};
use crate::model::Millis;

/// The longest group name.
pub const MAX_GROUP_NAME: usize = 128;

/// A group and how many devices it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct GroupSummary {
    /// Its name.
    pub group_name: String,
    /// Its devices.
    pub devices: i64,
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > MAX_GROUP_NAME || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "a group name is 1-{MAX_GROUP_NAME} bytes without control characters"
        )));
    }
    Ok(())
}

impl Conn<'_> {
    pub(crate) async fn add_to_group(
        &mut self,
        group: &str,
        device_ids: &[String],
        now: Millis,
    ) -> Result<u64, StoreError> {
        check_name(group)?;
        let mut added = 0;
        for chunk in device_ids.chunks(500) {
            added += on_conn!(self, c => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO device_groups (group_name, device_id, added_at) ");
                q.push_values(chunk, |mut b, d| {
                    b.push_bind(group).push_bind(d).push_bind(now);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build()
                    .execute(&mut *c)
                    .await
                    .map_err(|e| classify(e, || format!("a device of group {group:?}")))?
                    .rows_affected()
            });
        }
        Ok(added)
    }

    pub(crate) async fn remove_from_group(
        &mut self,
        group: &str,
        device_id: &str,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM device_groups WHERE group_name = $1 AND device_id = $2";
        Ok(
            on_conn!(self, c => sqlx::query(SQL).bind(group).bind(device_id).execute(&mut *c).await?.rows_affected())
                > 0,
        )
    }

    pub(crate) async fn group_devices(
        &mut self,
        group: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT device_id FROM device_groups WHERE group_name = $1 AND device_id > $2 \
             ORDER BY device_id LIMIT $3";
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(group)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?))
    }

    pub(crate) async fn list_groups(&mut self) -> Result<Vec<GroupSummary>, StoreError> {
        const SQL: &str = "SELECT group_name, COUNT(*) AS devices FROM device_groups GROUP BY group_name \
             ORDER BY group_name LIMIT 1000";
        Ok(on_conn!(self, c => sqlx::query_as(SQL).fetch_all(&mut *c).await?))
    }
}
