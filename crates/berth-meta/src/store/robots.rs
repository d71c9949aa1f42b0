//! Robot accounts (Harbor's v2 robots): machine credentials with a permission list, an
//! expiry and a switch. What the permissions mean is decided above; here are the rows.

use async_trait::async_trait;

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotRecord {
    pub id: i64,
    /// The full login name, prefix included: `robot$ci` or `robot$team+ci`.
    pub name: String,
    pub description: String,
    /// The project of a project-level robot; `None` for a system-level one.
    pub project_id: Option<i64>,
    pub secret_hash: String,
    /// Days it is valid for, counted from its creation; -1: never expires.
    pub duration_days: i64,
    /// Unix seconds after which it no longer signs in; -1: never.
    pub expires_at: i64,
    pub disabled: bool,
    /// Harbor's permission list as JSON, exactly as it was accepted.
    pub permissions: String,
    /// Who created it: `local` (a user, `creator_ref` their id) or `robot` (a robot's id).
    pub creator_type: String,
    pub creator_ref: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Which robots a listing returns.
#[derive(Debug, Clone, Default)]
pub struct RobotQuery {
    /// The robots of this project; `None`: the system-level robots.
    pub project_id: Option<i64>,
    /// Names containing this text.
    pub name_contains: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

#[async_trait]
pub trait Robots: Send + Sync + 'static {
    /// The new robot's id; `None` when a robot of that name exists already (`robot.id` is
    /// not used). A project-level robot is only created while its project exists.
    async fn create_robot(&self, robot: &RobotRecord) -> Result<Option<i64>>;

    async fn robot(&self, id: i64) -> Result<Option<RobotRecord>>;

    async fn robot_by_name(&self, name: &str) -> Result<Option<RobotRecord>>;

    /// One page of robots by id, and how many match in all.
    async fn robots(&self, query: &RobotQuery) -> Result<(Vec<RobotRecord>, i64)>;

    /// Stores description, duration, expiry, switch, permissions and secret of
    /// `robot.id`; `false` when there is no such robot.
    async fn update_robot(&self, robot: &RobotRecord) -> Result<bool>;

    /// `false` when there is no such robot.
    async fn delete_robot(&self, id: i64) -> Result<bool>;
}
