//! Projects, groups and members.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};

use super::{Db, DbRow, Meta};
use crate::sql::{WriteLock, json_list};
use crate::{
    GroupQuery, GroupRecord, MemberAdded, MemberEntity, MemberRecord, MetaError, NewMember,
    NewProject, ProjectAccess, ProjectDeletion, ProjectQuery, ProjectRecord, Projects, Result,
    Viewer, Visibility, now_ms,
};

const PROJECT_COLUMNS: &str = "id, name, public, owner, metadata, created_at, updated_at";

/// A member row joined with the user or group it names.
const MEMBER_SELECT: &str = "SELECT m.id, m.project_id, m.role, m.user_name, m.group_id,
        u.id AS user_id, g.name AS group_name
    FROM project_members m
    LEFT JOIN users u ON u.name = m.user_name
    LEFT JOIN user_groups g ON g.id = m.group_id";

fn project_from_row(row: &DbRow) -> Result<ProjectRecord> {
    let metadata: String = row.try_get("metadata")?;
    Ok(ProjectRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        public: row.try_get("public")?,
        owner: row.try_get("owner")?,
        metadata: serde_json::from_str(&metadata).map_err(|_| MetaError::Corrupt {
            column: "projects.metadata",
            value: metadata.clone(),
        })?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}

fn member_from_row(row: &DbRow) -> Result<MemberRecord> {
    let user: Option<String> = row.try_get("user_name")?;
    let entity = match user {
        Some(name) => MemberEntity::User {
            id: row.try_get::<Option<i64>, _>("user_id")?.unwrap_or(0),
            name,
        },
        None => MemberEntity::Group {
            id: row.try_get::<Option<i64>, _>("group_id")?.unwrap_or(0),
            name: row
                .try_get::<Option<String>, _>("group_name")?
                .unwrap_or_default(),
        },
    };
    Ok(MemberRecord {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        entity,
        role: row.try_get("role")?,
    })
}

fn group_from_row(row: &DbRow) -> Result<GroupRecord> {
    Ok(GroupRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        ldap_dn: row.try_get("ldap_dn")?,
    })
}

fn metadata_json(metadata: &BTreeMap<String, String>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

/// `m` is a membership of `viewer`'s (as SQL over a `project_members` row `m`).
fn push_membership(q: &mut QueryBuilder<Db>, viewer: &Viewer) {
    q.push("(m.user_name = ");
    q.push_bind(viewer.user.clone().unwrap_or_default());
    if !viewer.groups.is_empty() {
        q.push(" OR m.group_id IN (");
        let mut ids = q.separated(", ");
        for id in &viewer.groups {
            ids.push_bind(*id);
        }
        q.push(")");
    }
    q.push(")");
}

/// The WHERE clause of a project listing.
fn push_project_filter(q: &mut QueryBuilder<Db>, query: &ProjectQuery) {
    q.push(" WHERE 1 = 1");
    if let Some(name) = &query.name {
        q.push(" AND p.name = ").push_bind(name.clone());
    }
    if let Some(part) = &query.name_contains {
        q.push(" AND p.name LIKE ")
            .push_bind(format!("%{}%", like_escaped(part)))
            .push(" ESCAPE '\\'");
    }
    if let Some(public) = query.public {
        q.push(" AND p.public = ").push_bind(public);
    }
    if let Some(owner) = &query.owner {
        q.push(" AND p.owner = ").push_bind(owner.clone());
    }
    if let Some(visible) = &query.visible {
        q.push(" AND ");
        push_visibility(q, visible);
    }
}

/// `p` (a project row) is one `visible` shows.
pub(super) fn push_visibility(q: &mut QueryBuilder<Db>, visible: &Visibility) {
    q.push("(");
    if !visible.member_only {
        q.push("p.public OR ");
    }
    // The viewer's projects once (a set the database builds one time), not a lookup
    // per project: a member of a few among thousands scans them all.
    q.push("p.id IN (SELECT m.project_id FROM project_members m WHERE ");
    push_membership(q, &visible.viewer);
    q.push(")");
    if !visible.also_ids.is_empty() {
        q.push(" OR p.id IN (");
        let mut ids = q.separated(", ");
        for id in &visible.also_ids {
            ids.push_bind(*id);
        }
        q.push(")");
    }
    q.push(")");
}

/// Whether the project exists, seen from inside `tx`: the check before writing a row
/// that belongs to it (under the lock that orders it with the project's deletion).
pub(super) async fn project_exists(
    tx: &mut sqlx::Transaction<'static, Db>,
    project_id: i64,
) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

/// `text` with LIKE's wildcards taken literally.
pub(super) fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The lower bound and the upper bound (exclusive) of names of repositories in project
/// `name`: `name` itself and everything under `name/`.
pub(super) fn repository_range(name: &str) -> (String, String) {
    (format!("{name}/"), format!("{name}0"))
}

/// Repositories of the project named `$1` (with `$2`, `$3` its [`repository_range`]) that
/// hold a manifest: what a project "holds", as the catalog lists them.
const PROJECT_REPOSITORIES: &str = "SELECT COUNT(*) FROM repositories r
    WHERE (r.name = $1 OR (r.name >= $2 AND r.name < $3))
    AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)";

impl Meta {
    /// Changes project `id`'s metadata with `change` (and its visibility, when given) in
    /// one transaction; `false` if there is no such project.
    async fn change_metadata(
        &self,
        id: i64,
        public: Option<bool>,
        change: impl FnOnce(&mut BTreeMap<String, String>) + Send,
    ) -> Result<bool> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT metadata FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Ok(false);
        };
        let mut metadata: BTreeMap<String, String> =
            serde_json::from_str(&current).unwrap_or_default();
        change(&mut metadata);
        sqlx::query(
            "UPDATE projects SET public = COALESCE($2, public), metadata = $3, updated_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(public)
        .bind(metadata_json(&metadata))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(true)
    }
}

#[async_trait]
impl Projects for Meta {
    async fn project(&self, name: &str) -> Result<Option<ProjectRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await?
        .map(|r| project_from_row(&r))
        .transpose()
    }

    async fn project_by_id(&self, id: i64) -> Result<Option<ProjectRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(|r| project_from_row(&r))
        .transpose()
    }

    async fn projects(&self, query: &ProjectQuery) -> Result<(Vec<ProjectRecord>, i64)> {
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM projects p");
        push_project_filter(&mut count, query);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut page = QueryBuilder::<Db>::new(
            "SELECT p.id, p.name, p.public, p.owner, p.metadata, p.created_at, p.updated_at FROM projects p",
        );
        push_project_filter(&mut page, query);
        page.push(" ORDER BY p.name LIMIT ")
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = page.build().fetch_all(&self.read).await?;
        let projects = rows.iter().map(project_from_row).collect::<Result<_>>()?;
        Ok((projects, total))
    }

    async fn create_project(&self, p: &NewProject<'_>) -> Result<Option<ProjectRecord>> {
        let now = now_ms();
        let mut tx = self.begin(WriteLock::Rows).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO projects (name, public, owner, metadata, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(p.name)
        .bind(p.public)
        .bind(p.owner)
        .bind(metadata_json(&p.metadata))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some((user, role)) = p.first_member {
            sqlx::query(
                "INSERT INTO project_members (project_id, user_name, role, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(user)
            .bind(role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(Some(ProjectRecord {
            id,
            name: p.name.into(),
            public: p.public,
            owner: p.owner.map(String::from),
            metadata: p.metadata.clone(),
            created_at_ms: now,
            updated_at_ms: now,
        }))
    }

    async fn update_project(
        &self,
        id: i64,
        public: Option<bool>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool> {
        self.change_metadata(id, public, |current| current.extend(metadata.clone()))
            .await
    }

    async fn remove_project_metadata(&self, id: i64, key: &str) -> Result<bool> {
        self.change_metadata(id, None, |current| {
            current.remove(key);
        })
        .await
    }

    async fn delete_project(&self, id: i64) -> Result<ProjectDeletion> {
        // Everything: a push creating the first repository of this project waits, then
        // finds (and re-creates) its project, never a repository without one.
        let mut tx = self.begin(WriteLock::Everything).await?;
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(name) = name else {
            return Ok(ProjectDeletion::NoSuchProject);
        };
        let (from, to) = repository_range(&name);
        let held: i64 = sqlx::query_scalar(PROJECT_REPOSITORIES)
            .bind(&name)
            .bind(&from)
            .bind(&to)
            .fetch_one(&mut *tx)
            .await?;
        if held > 0 {
            return Ok(ProjectDeletion::HoldsRepositories(held));
        }
        for dependent in [
            "DELETE FROM project_members WHERE project_id = $1",
            "DELETE FROM robots WHERE project_id = $1",
            "DELETE FROM outbox WHERE policy_id IN (SELECT id FROM webhook_policies WHERE project_id = $1)",
            "DELETE FROM webhook_policies WHERE project_id = $1",
            "DELETE FROM immutable_rules WHERE project_id = $1",
            "DELETE FROM lifecycle_runs WHERE policy_id IN
                (SELECT id FROM retention_policies WHERE project_id = $1)",
            "DELETE FROM retention_policies WHERE project_id = $1",
            "DELETE FROM artifact_labels WHERE label_id IN
                (SELECT id FROM labels WHERE scope = 'p' AND project_id = $1)",
            "DELETE FROM labels WHERE scope = 'p' AND project_id = $1",
        ] {
            sqlx::query(dependent).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(ProjectDeletion::Deleted)
    }

    async fn project_repository_counts(
        &self,
        names: &[&str],
    ) -> Result<std::collections::HashMap<String, i64>> {
        if names.is_empty() {
            return Ok(Default::default());
        }
        // The same rule as PROJECT_REPOSITORIES, per name of the JSON list.
        let rows = sqlx::query(concat!(
            "SELECT n.value AS name, (SELECT COUNT(*) FROM repositories r
                 WHERE (r.name = n.value OR (r.name >= n.value || '/' AND r.name < n.value || '0'))
                 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)) AS held
             FROM ",
            json_strings!(),
            " n"
        ))
        .bind(json_list(names.iter().copied()))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("held")?)))
            .collect()
    }

    async fn project_repository_count(&self, name: &str) -> Result<i64> {
        let (from, to) = repository_range(name);
        Ok(sqlx::query_scalar(PROJECT_REPOSITORIES)
            .bind(name)
            .bind(&from)
            .bind(&to)
            .fetch_one(&self.read)
            .await?)
    }

    async fn project_statistics(&self) -> Result<(Vec<(String, bool, i64)>, i64)> {
        let rows = sqlx::query(
            "SELECT p.name, p.public, (SELECT COUNT(*) FROM repositories r
                 WHERE (r.name = p.name OR (r.name >= p.name || '/' AND r.name < p.name || '0'))
                 AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)) AS repos
             FROM projects p ORDER BY p.name",
        )
        .fetch_all(&self.read)
        .await?;
        let projects = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("public")?,
                    r.try_get("repos")?,
                ))
            })
            .collect::<Result<_>>()?;
        let bytes: Option<i64> = sqlx::query_scalar("SELECT CAST(SUM(size) AS BIGINT) FROM blobs")
            .fetch_one(&self.read)
            .await?;
        Ok((projects, bytes.unwrap_or(0)))
    }

    async fn member_roles(
        &self,
        project_ids: &[i64],
        viewer: &Viewer,
    ) -> Result<std::collections::HashMap<i64, Vec<i64>>> {
        let mut roles: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        if project_ids.is_empty() || (viewer.user.is_none() && viewer.groups.is_empty()) {
            return Ok(roles);
        }
        let mut q = QueryBuilder::<Db>::new(
            "SELECT DISTINCT m.project_id, m.role FROM project_members m WHERE m.project_id IN (",
        );
        let mut ids = q.separated(", ");
        for id in project_ids {
            ids.push_bind(*id);
        }
        q.push(") AND ");
        push_membership(&mut q, viewer);
        for row in q.build().fetch_all(&self.read).await? {
            let project: i64 = row.try_get("project_id")?;
            roles.entry(project).or_default().push(row.try_get("role")?);
        }
        Ok(roles)
    }

    async fn project_access(&self, name: &str, viewer: &Viewer) -> Result<Option<ProjectAccess>> {
        let Some(row) = sqlx::query("SELECT id, public FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let project_id: i64 = row.try_get("id")?;
        let roles = if viewer.user.is_none() && viewer.groups.is_empty() {
            Vec::new()
        } else {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT DISTINCT m.role FROM project_members m WHERE m.project_id = ",
            );
            q.push_bind(project_id).push(" AND ");
            push_membership(&mut q, viewer);
            q.build_query_scalar::<i64>().fetch_all(&self.read).await?
        };
        Ok(Some(ProjectAccess {
            project_id,
            public: row.try_get("public")?,
            roles,
        }))
    }

    async fn members(
        &self,
        project_id: i64,
        entity_name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<MemberRecord>, i64)> {
        // `$2` NULL: every member.
        const MATCHING: &str = "WHERE m.project_id = $1
            AND ($2 IS NULL OR COALESCE(m.user_name, g.name) = $2)";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM project_members m
             LEFT JOIN user_groups g ON g.id = m.group_id {MATCHING}"
        )))
        .bind(project_id)
        .bind(entity_name)
        .fetch_one(&self.read)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} {MATCHING} ORDER BY COALESCE(m.user_name, g.name), m.id LIMIT $3 OFFSET $4"
        )))
        .bind(project_id)
        .bind(entity_name)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let members = rows.iter().map(member_from_row).collect::<Result<_>>()?;
        Ok((members, total))
    }

    async fn member(&self, project_id: i64, member_id: i64) -> Result<Option<MemberRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE m.project_id = $1 AND m.id = $2"
        )))
        .bind(project_id)
        .bind(member_id)
        .fetch_optional(&self.read)
        .await?
        .map(|r| member_from_row(&r))
        .transpose()
    }

    async fn add_member(
        &self,
        project_id: i64,
        entity: &NewMember<'_>,
        role: i64,
    ) -> Result<MemberAdded> {
        // Everything: the user or group must still be there when the row lands (a user
        // removed at the same time takes their memberships with them).
        let mut tx = self.begin(WriteLock::Everything).await?;
        let project: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)")
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await?;
        if !project {
            return Ok(MemberAdded::NoSuchProject);
        }
        let (user, group) = match entity {
            NewMember::User(name) => (Some(*name), None),
            NewMember::Group(id) => (None, Some(*id)),
        };
        let entity_exists: bool = match entity {
            NewMember::User(name) => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)")
                    .bind(*name)
                    .fetch_one(&mut *tx)
                    .await?
            }
            NewMember::Group(id) => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM user_groups WHERE id = $1)")
                    .bind(*id)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        if !entity_exists {
            return Ok(MemberAdded::NoSuchEntity);
        }
        let now = now_ms();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO project_members (project_id, user_name, group_id, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(project_id)
        .bind(user)
        .bind(group)
        .bind(role)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(MemberAdded::Exists);
        };
        self.commit(tx).await?;
        Ok(MemberAdded::Added(id))
    }

    async fn set_member_role(&self, project_id: i64, member_id: i64, role: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE project_members SET role = $3, updated_at = $4 WHERE project_id = $1 AND id = $2",
        )
        .bind(project_id)
        .bind(member_id)
        .bind(role)
        .bind(now_ms())
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_member(&self, project_id: i64, member_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(member_id)
            .execute(&self.write)
            .await
            .inspect(|_| self.writes.raise())?;
        Ok(done.rows_affected() == 1)
    }

    async fn ensure_group(
        &self,
        kind: i64,
        name: &str,
        ldap_dn: Option<&str>,
    ) -> Result<GroupRecord> {
        sqlx::query(
            "INSERT INTO user_groups (name, kind, ldap_dn, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, name) DO NOTHING",
        )
        .bind(name)
        .bind(kind)
        .bind(ldap_dn)
        .bind(now_ms())
        .execute(&self.write)
        .await
        .inspect(|_| self.writes.raise())?;
        let row = sqlx::query(
            "SELECT id, name, kind, ldap_dn FROM user_groups WHERE kind = $1 AND name = $2",
        )
        .bind(kind)
        .bind(name)
        .fetch_one(&self.write)
        .await?;
        group_from_row(&row)
    }

    async fn group(&self, id: i64) -> Result<Option<GroupRecord>> {
        sqlx::query("SELECT id, name, kind, ldap_dn FROM user_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| group_from_row(&r))
            .transpose()
    }

    async fn groups(&self, query: &GroupQuery) -> Result<(Vec<GroupRecord>, i64)> {
        let filter = |q: &mut QueryBuilder<Db>| {
            q.push(" WHERE 1 = 1");
            if let Some(kind) = query.kind {
                q.push(" AND kind = ").push_bind(kind);
            }
            if let Some(part) = &query.name_contains {
                q.push(" AND name LIKE ")
                    .push_bind(format!("%{}%", like_escaped(part)))
                    .push(" ESCAPE '\\'");
            }
            if let Some(dn) = &query.ldap_dn {
                q.push(" AND ldap_dn = ").push_bind(dn.clone());
            }
        };
        let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM user_groups");
        filter(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
        let mut page = QueryBuilder::<Db>::new("SELECT id, name, kind, ldap_dn FROM user_groups");
        filter(&mut page);
        page.push(" ORDER BY id LIMIT ")
            .push_bind(query.limit)
            .push(" OFFSET ")
            .push_bind(query.offset);
        let rows = page.build().fetch_all(&self.read).await?;
        let groups = rows.iter().map(group_from_row).collect::<Result<_>>()?;
        Ok((groups, total))
    }

    async fn delete_group(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        sqlx::query("DELETE FROM project_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM user_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.commit(tx).await?;
        Ok(done == 1)
    }

    async fn rename_group(&self, id: i64, name: &str) -> Result<Option<bool>> {
        let mut tx = self.begin(WriteLock::Rows).await?;
        let kind: Option<i64> = sqlx::query_scalar("SELECT kind FROM user_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(kind) = kind else {
            return Ok(None);
        };
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_groups WHERE kind = $1 AND name = $2 AND id <> $3)",
        )
        .bind(kind)
        .bind(name)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if taken {
            return Ok(Some(false));
        }
        sqlx::query("UPDATE user_groups SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(Some(true))
    }

    async fn project_usage(&self, name: &str) -> Result<i64> {
        let (from, to) = repository_range(name);
        Ok(sqlx::query_scalar(
            "SELECT CAST(
                 (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
                     (SELECT rb.digest FROM repository_blobs rb
                      JOIN repositories r ON r.id = rb.repository_id
                      WHERE r.name = $1 OR (r.name >= $2 AND r.name < $3)))
               + (SELECT COALESCE(SUM(u.size), 0) FROM
                     (SELECT DISTINCT m.digest, m.size FROM manifests m
                      JOIN repositories r ON r.id = m.repository_id
                      WHERE r.name = $1 OR (r.name >= $2 AND r.name < $3)) u)
             AS BIGINT)",
        )
        .bind(name)
        .bind(&from)
        .bind(&to)
        .fetch_one(&self.read)
        .await?)
    }

    async fn project_holds_blob(&self, name: &str, digest: &str) -> Result<bool> {
        let (from, to) = repository_range(name);
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM repository_blobs rb
                 JOIN repositories r ON r.id = rb.repository_id
                 WHERE rb.digest = $4 AND (r.name = $1 OR (r.name >= $2 AND r.name < $3)))",
        )
        .bind(name)
        .bind(&from)
        .bind(&to)
        .bind(digest)
        .fetch_one(&self.read)
        .await?)
    }
}
