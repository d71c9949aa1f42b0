//! The audit log.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};

use super::projects::like_escaped;
use super::{Db, DbRow, Meta};
use crate::sql::WriteLock;
use crate::{AuditEntry, AuditLog, AuditQuery, Result};

fn entry_from_row(row: &DbRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at_ms: row.try_get("op_time")?,
        username: row.try_get("username")?,
        operation: row.try_get("operation")?,
        resource_type: row.try_get("resource_type")?,
        resource: row.try_get("resource")?,
        description: row.try_get("description")?,
        success: row.try_get("success")?,
        project: row.try_get("project")?,
        client_ip: row.try_get("client_ip")?,
    })
}

fn push_audit_filter(q: &mut QueryBuilder<Db>, query: &AuditQuery) {
    q.push(" WHERE 1 = 1");
    for (column, value) in [
        ("username", &query.username),
        ("operation", &query.operation),
        ("resource_type", &query.resource_type),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(part) = &query.resource_contains {
        q.push(" AND resource LIKE ")
            .push_bind(format!("%{}%", like_escaped(part)))
            .push(" ESCAPE '\\'");
    }
    if let Some(projects) = &query.projects {
        if projects.is_empty() {
            q.push(" AND 1 = 0");
        } else {
            q.push(" AND project IN (");
            let mut names = q.separated(", ");
            for p in projects {
                names.push_bind(p.clone());
            }
            q.push(")");
        }
    }
    if let Some(from) = query.from_ms {
        q.push(" AND op_time >= ").push_bind(from);
    }
    if let Some(to) = query.to_ms {
        q.push(" AND op_time <= ").push_bind(to);
    }
}

#[async_trait]
impl AuditLog for Meta {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin(WriteLock::Rows).await?;
        // A few hundred rows per statement keeps under every engine's bind limit.
        for chunk in entries.chunks(200) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO audit_log (op_time, username, operation, resource_type, resource,
                     description, success, project, client_ip) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.at_ms)
                    .push_bind(e.username.clone())
                    .push_bind(e.operation.clone())
                    .push_bind(e.resource_type.clone())
                    .push_bind(e.resource.clone())
                    .push_bind(e.description.clone())
                    .push_bind(e.success)
                    .push_bind(e.project.clone())
                    .push_bind(e.client_ip.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        self.commit(tx).await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<(Vec<AuditEntry>, i64)> {
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM audit_log");
        push_audit_filter(&mut count, query);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut page = QueryBuilder::<Db>::new(
            "SELECT id, op_time, username, operation, resource_type, resource, description,
                 success, project, client_ip FROM audit_log",
        );
        push_audit_filter(&mut page, query);
        page.push(" ORDER BY id DESC LIMIT ")
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = page.build().fetch_all(&self.read).await?;
        let entries = rows.iter().map(entry_from_row).collect::<Result<_>>()?;
        Ok((entries, total))
    }

    async fn purge_audit(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE op_time < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected())
    }
}
