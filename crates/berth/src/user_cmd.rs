//! `berth user add|passwd|remove|list`: manage the built-in token service's users in the
//! metadata database (safe while the registry runs: SQLite serialises the writes).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::Context;
use berth_auth::{password, users};
use berth_meta::{MetaStore, SqliteMeta};

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create a user. Prints a generated password unless --password-stdin is given.
    Add {
        name: String,
        /// May manage users.
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
    /// Delete a user.
    Remove { name: String },
    /// List users.
    List,
}

pub fn run(config: Option<&Path>, command: UserCommand) -> anyhow::Result<()> {
    let loaded = crate::settings::load_config(config)?;
    let path = loaded
        .config
        .metadata_path()
        .context("berth.metadata.path: set where the metadata database lives")?;
    crate::runtime()?.block_on(async move {
        let meta = SqliteMeta::open(&path)
            .await
            .with_context(|| format!("opening metadata database {}", path.display()))?;
        execute(&meta, command).await
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

async fn execute(meta: &dyn MetaStore, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => {
            let (plain, generated) = obtain_password(password_stdin)?;
            users::add(meta, &name, &plain, admin).await?;
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
            show_generated(&plain, generated);
        }
        UserCommand::Remove { name } => {
            users::remove(meta, &name).await?;
            println!("removed user {name}");
        }
        UserCommand::List => {
            for u in meta.users().await? {
                println!("{}{}", u.name, if u.admin { "\tadmin" } else { "" });
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
