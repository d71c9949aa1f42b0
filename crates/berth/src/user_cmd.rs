//! `berth user add|passwd|admin|remove|list`: manage the built-in token service's users in
//! the metadata database (safe while the registry runs: SQLite serialises the writes).
//! The database is the one the registry uses — named on every run, and never created
//! here: a typo in `--config` must not quietly start an empty user list.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_auth::{password, users};
use berth_meta::MetaStore;

use crate::metadata::MetadataLocation;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create a user. Prints a generated password unless --password-stdin is given.
    Add {
        name: String,
        /// May manage users and run garbage collection and retention.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (revokes the user's refresh tokens).
    Passwd {
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a user an administrator, or with --revoke no longer one (never the last).
    Admin {
        name: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Delete a user (never the last administrator).
    Remove { name: String },
    /// List users.
    List,
}

/// Where the users are: the metadata database, and the storage root beside it (for the
/// first administrator's password file).
pub(crate) struct UserDatabase {
    pub metadata: MetadataLocation,
    pub root: PathBuf,
}

/// `--config` names a config file, or a registry's data directory (its storage root). The
/// database must exist already: `what` says what the command looks for in it.
pub(crate) fn locate(config: Option<&Path>, what: &str) -> anyhow::Result<UserDatabase> {
    let db = if let Some(dir) = config.filter(|p| p.is_dir()) {
        UserDatabase {
            metadata: MetadataLocation::Sqlite(dir.join("berth").join("metadata.db")),
            root: dir.to_path_buf(),
        }
    } else {
        let s = crate::settings::load(config)?;
        UserDatabase {
            metadata: s.metadata,
            root: s.root,
        }
    };
    if let Some(path) = db.metadata.sqlite_path().filter(|p| !p.is_file()) {
        bail!(
            "there is no metadata database at {}{}: `berth serve` creates it (and the first \
             administrator) when it first starts; pass --config with the registry's config \
             file or data directory",
            path.display(),
            if config.is_none() {
                " (the default, ./data, in the current directory)"
            } else {
                ""
            }
        );
    }
    eprintln!("{what} in {}", db.metadata.describe());
    Ok(db)
}

pub fn run(config: Option<&Path>, command: UserCommand) -> anyhow::Result<()> {
    let db = locate(config, "users")?;
    crate::runtime()?.block_on(async move {
        let meta = db.metadata.open().await?;
        execute(meta.as_ref(), &db.root, command).await
    })
}

/// The password from stdin (one line), or a generated one that is printed.
fn obtain_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let plain = line.trim_end_matches(['\n', '\r']).to_string();
        return Ok((plain, false));
    }
    Ok((password::generate(24)?, true))
}

async fn execute(meta: &dyn MetaStore, root: &Path, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let (plain, generated) = obtain_password(password_stdin)?;
            users::add(meta, &name, &plain, admin, Default::default()).await?;
            println!("created user {name}{}", if admin { " (admin)" } else { "" });
            show_generated(&plain, generated);
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (plain, generated) = obtain_password(password_stdin)?;
            users::set_password(meta, &name, &plain).await?;
            println!("changed the password of {name}; its refresh tokens no longer work");
            if users::forget_initial_password(&root.join(users::INITIAL_PASSWORD_FILE), &name)? {
                println!(
                    "removed {}, which held the old password",
                    users::INITIAL_PASSWORD_FILE
                );
            }
            show_generated(&plain, generated);
        }
        UserCommand::Admin { name, revoke } => {
            users::set_admin(meta, &name, !revoke).await?;
            if revoke {
                println!("{name} is no longer an administrator");
            } else {
                println!("{name} is an administrator");
            }
        }
        UserCommand::Remove { name } => {
            users::remove(meta, &name).await?;
            println!("removed user {name}");
        }
        UserCommand::List => {
            let all = meta.users().await?;
            let width = all.iter().map(|u| u.name.len()).max().unwrap_or(0).max(4);
            println!("{:width$}  ADMIN  CREATED", "NAME");
            for u in all {
                let created = berth_notify::time::rfc3339((u.created_at_ms / 1000) as u64);
                let admin = if u.admin { "yes" } else { "no" };
                println!("{:width$}  {admin:5}  {created}", u.name);
            }
        }
    }
    Ok(())
}

fn show_generated(plain: &str, generated: bool) {
    if generated {
        println!("password: {plain}");
        if std::io::stdout().is_terminal() {
            println!("(shown once; pass --password-stdin to choose one)");
        }
    }
}
