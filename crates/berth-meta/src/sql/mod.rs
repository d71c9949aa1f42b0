//! What the SQL engines (SQLite, PostgreSQL) share. The aggregates themselves are written
//! once, in `aggregates/`, and compiled into each engine's module (`#[path]`), where the
//! engine names its types (`Db`, `Conn`, `DbRow`, `Meta`) and the few pieces of SQL that
//! differ (`greatest!`, `json_strings!`, `FORGET_REVIEWED_MANIFESTS`). The SQL there is
//! the common ground of both: `$n` placeholders, `EXISTS` for booleans, `CAST` for sums.
//! This module holds what needs no engine type.

use berth_oci::{Digest, RepoName};
use std::str::FromStr;

use crate::{MetaError, Result};

pub(crate) mod counter;

/// What a write transaction must exclude while it runs, beyond the rows it touches.
/// SQLite has one writer at a time anyway; PostgreSQL takes advisory locks, so the
/// decisions that read before they write (is the blob still held? is someone else still
/// an administrator?) see the state their writes apply to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteLock<'a> {
    /// Rows of its own only (an outbox entry, a run).
    Rows,
    /// Excludes garbage collection, which decides across repositories.
    Shared,
    /// Excludes garbage collection and every other writer on the same repository.
    Repository(&'a RepoName),
    /// Excludes every other writer: garbage collection, imports, user changes.
    Everything,
}

/// Lifecycle runs kept in the history (ids are shared between kinds, so a kind keeps at
/// most this many).
pub(crate) const RUN_HISTORY: i64 = 1000;

/// `(repository_id, digest)` is a blob the repository holds.
pub(crate) const HOLDS_BLOB: &str =
    "SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_id = $1 AND digest = $2)";
/// `(repository_id, digest)` is a manifest the repository holds.
pub(crate) const HOLDS_MANIFEST: &str =
    "SELECT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2)";

/// SQL over a manifest row `m`: an index in its repository lists it, or it is a referrer
/// whose subject is present.
pub(crate) const NEEDED_BY_INDEX_OR_SUBJECT: &str = "(EXISTS (SELECT 1 FROM manifest_references c
        WHERE c.repository_id = m.repository_id AND c.child_digest = m.digest AND c.kind = 'manifest')
    OR (m.subject IS NOT NULL AND EXISTS (SELECT 1 FROM manifests s
        WHERE s.repository_id = m.repository_id AND s.digest = m.subject)))";

pub(crate) fn parse_digest(value: String) -> Result<Digest> {
    Digest::from_str(&value).map_err(|_| MetaError::Corrupt {
        column: "digest",
        value,
    })
}

pub(crate) fn opt_digest(value: Option<String>) -> Result<Option<Digest>> {
    value.map(parse_digest).transpose()
}

/// A JSON array of strings, for `json_strings!()`: one statement over a whole batch
/// instead of one per item.
pub(crate) fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::Value::from(items.into_iter().collect::<Vec<_>>()).to_string()
}
