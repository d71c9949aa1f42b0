//! The built-in token service's users.

use async_trait::async_trait;

use crate::{Result, UserChange, UserRecord};

#[async_trait]
pub trait Users: Send + Sync + 'static {
    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;

    /// Every user, by name.
    async fn users(&self) -> Result<Vec<UserRecord>>;

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>>;

    /// The new user's id; `None` when a user of that name exists already, in any mix of
    /// case (`Admin` beside `admin` would be a look-alike). `user.id` is not used.
    async fn create_user(&self, user: &UserRecord) -> Result<Option<i64>>;

    /// `false` when there is no such user.
    async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool>;

    /// Sets Harbor's profile fields; `false` when there is no such user.
    async fn set_user_profile(
        &self,
        name: &str,
        email: Option<&str>,
        realname: Option<&str>,
        comment: Option<&str>,
    ) -> Result<bool>;

    /// What a directory said about its user at sign-in: profile fields (`None` keeps
    /// them), groups and administration. `false` when there is no such user.
    async fn record_directory_sign_in(
        &self,
        name: &str,
        email: Option<&str>,
        realname: Option<&str>,
        groups: &[i64],
        admin: bool,
    ) -> Result<bool>;

    /// Grants or revokes administration; never revokes the last administrator's, checked
    /// in the same transaction as the change.
    async fn set_user_admin(&self, name: &str, admin: bool) -> Result<UserChange>;

    /// Removes a user and their project memberships; never the last administrator, checked in the same transaction as
    /// the delete (two administrators removing each other at once leave one).
    async fn delete_user(&self, name: &str) -> Result<UserChange>;
}
