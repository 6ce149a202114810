//! Reading operations for `GET /operations`: filters, pages, and a fan-out's children.

use super::operations::{COLUMNS, OperationRow};
use super::{Db, Page, with_db};

/// Filters of `GET /operations`.
#[derive(Debug, Default, Clone)]
pub struct OperationQuery {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub server_id: Option<i64>,
    pub client_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub page: u32,
    pub per_page: u32,
}

/// Operations, newest first.
pub async fn list(db: &Db, q: &OperationQuery) -> sqlx::Result<Page<OperationRow>> {
    let offset = i64::from(q.page.saturating_sub(1)) * i64::from(q.per_page);
    with_db!(db, |pool| {
        let mut count = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM operations WHERE TRUE");
        push_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
        let mut sql =
            sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM operations WHERE TRUE"));
        push_filters(&mut sql, q);
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.per_page));
        sql.push(" OFFSET ").push_bind(offset);
        let items = sql.build_query_as().fetch_all(pool).await?;
        Ok(Page { items, total })
    })
}

fn push_filters<DB>(sql: &mut sqlx::QueryBuilder<DB>, q: &OperationQuery)
where
    DB: sqlx::Database,
    for<'e> i64: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> String: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    if let Some(kind) = &q.kind {
        sql.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(status) = &q.status {
        sql.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(id) = q.server_id {
        sql.push(" AND server_id = ").push_bind(id);
    }
    if let Some(id) = q.client_id {
        sql.push(" AND client_id = ").push_bind(id);
    }
    if let Some(id) = q.parent_id {
        sql.push(" AND parent_id = ").push_bind(id);
    }
}

/// Counts of a fan-out's children by status.
pub async fn children_summary(db: &Db, parent_id: i64) -> sqlx::Result<Vec<(String, i64)>> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT status, COUNT(*) FROM operations WHERE parent_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(parent_id)
        .fetch_all(pool)
        .await
    })
}

/// The child operations of `parent_id`, oldest first (a fan-out run again adopts them).
pub async fn children(db: &Db, parent_id: i64) -> sqlx::Result<Vec<OperationRow>> {
    with_db!(db, |pool| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM operations WHERE parent_id = $1 ORDER BY id"
        )))
        .bind(parent_id)
        .fetch_all(pool)
        .await
    })
}
