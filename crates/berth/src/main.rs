//! The `berth` command: run the registry, import a registry:2 tree, check a config.

mod audit_cmd;
mod auth;
mod background;
mod backup_cmd;
mod blob_location;
mod configurations;
mod copy_cmd;
mod gc_cmd;
mod import;
mod logging;
mod metadata;
mod project_cmd;
mod robot_cmd;
mod serve;
mod settings;
mod user_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A private container image registry: a drop-in for registry:2 in one binary.",
    long_about = "A private container image registry: a drop-in for registry:2 in one binary.\n\n\
        berth speaks the OCI distribution API to docker, podman, skopeo, containerd and \
        friends, reads registry:2's config.yml and REGISTRY_* variables unchanged, and \
        serves an existing registry:2 data directory in place.",
    after_help = "Examples:\n  \
        berth serve                                  # :5000, data in ./data\n  \
        berth serve /etc/docker/registry/config.yml  # an existing registry:2 config\n  \
        berth import /var/lib/registry               # index a registry:2 tree\n  \
        berth user add alice                         # a user for `docker login`\n  \
        berth gc --dry-run                           # what garbage collection would free\n  \
        berth config check config.yml                # validate a config file\n  \
        berth health http://127.0.0.1:5000           # is a running registry ready?\n  \
        berth backup /backups/registry --config config.yml   # while it serves"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry. Without CONFIG: listen on :5000 with data in ./data.
    Serve {
        /// A registry:2-style config.yml; REGISTRY_* variables override it.
        config: Option<PathBuf>,
    },
    /// Index a registry:2 tree into berth's metadata, in place (no copying): a data
    /// directory, or with --config whatever storage the config names (an S3 bucket too).
    Import {
        /// The storage root (registry:2's storage.filesystem.rootdirectory).
        #[arg(required_unless_present = "config")]
        rootdir: Option<PathBuf>,
        /// Where the metadata database is (default: <ROOTDIR>/berth/metadata.db).
        #[arg(long, conflicts_with = "config")]
        metadata: Option<PathBuf>,
        /// The registry's config: import from its storage into its metadata.
        #[arg(long, conflicts_with = "rootdir")]
        config: Option<PathBuf>,
    },
    /// Manage the users of the built-in token service (auth.local).
    User {
        /// The config whose metadata database holds the users (default: ./data).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: user_cmd::UserCommand,
    },
    /// Manage projects: the first path component of repository names.
    Project {
        /// The config whose metadata database holds the projects (default: ./data).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: project_cmd::ProjectCommand,
    },
    /// Manage who holds which role in a project.
    Member {
        /// The config whose metadata database holds the projects (default: ./data).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: project_cmd::MemberCommand,
    },
    /// Manage robot accounts: machine credentials with a list of accesses.
    Robot {
        /// The config whose metadata database holds the robots (default: ./data).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: robot_cmd::RobotCommand,
    },
    /// Show the audit log: who did what to which resource, when, and whether it worked.
    Audit {
        /// The config whose metadata database holds the log (default: ./data).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        args: audit_cmd::AuditArgs,
    },
    /// Remove blobs and manifests nothing needs, while the registry keeps serving.
    Gc(gc_cmd::GcArgs),
    /// registry:2's `garbage-collect`, for existing scripts: the same as `berth gc`.
    #[command(name = "garbage-collect")]
    GarbageCollect(gc_cmd::GcArgs),
    /// Apply the retention policies (berth.retention) now.
    Retention(gc_cmd::RetentionArgs),
    /// Ask a running registry whether it is ready (exit 0) or not (exit 1): for health
    /// checks of containers and service managers.
    Health {
        /// The registry's base URL.
        #[arg(default_value = "http://127.0.0.1:5000")]
        url: String,
    },
    /// Copy the registry (metadata snapshot and blobs) into DEST while it serves; a
    /// later backup into the same DEST adds only what is new.
    Backup {
        dest: PathBuf,
        /// The registry's config (default: the defaults, data in ./data).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Bring a backup made by `berth backup` back into an empty storage root.
    Restore {
        src: PathBuf,
        /// The config naming the (empty) storage root to restore into.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy the SQLite metadata into the empty PostgreSQL database CONFIG's database
    /// section names, and check the counts; stop `berth serve` first.
    CopyMetadata {
        /// The config with the database section enabled (the SQLite file is the one it
        /// would use without it).
        config: PathBuf,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load CONFIG with REGISTRY_* overrides applied and report problems.
    Check { config: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve::run(config.as_deref()),
        Command::Import {
            rootdir,
            metadata,
            config,
        } => match (rootdir, config) {
            (_, Some(config)) => import::run_config(&config),
            (Some(rootdir), None) => import::run(&rootdir, metadata.as_deref()),
            (None, None) => unreachable!("clap requires ROOTDIR or --config"),
        },
        Command::User { config, command } => user_cmd::run(config.as_deref(), command),
        Command::Project {
            config,
            json,
            command,
        } => project_cmd::project(config.as_deref(), json, command),
        Command::Member {
            config,
            json,
            command,
        } => project_cmd::member(config.as_deref(), json, command),
        Command::Robot {
            config,
            json,
            command,
        } => robot_cmd::robot(config.as_deref(), json, command),
        Command::Audit { config, json, args } => audit_cmd::audit(config.as_deref(), json, args),
        Command::Gc(args) | Command::GarbageCollect(args) => gc_cmd::gc(args),
        Command::Retention(args) => gc_cmd::retention(args),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => settings::check(&config),
        Command::Health { url } => health(&url),
        Command::Backup { dest, config } => backup_cmd::backup(config.as_deref(), &dest),
        Command::Restore { src, config } => backup_cmd::restore(config.as_deref(), &src),
        Command::CopyMetadata { config } => copy_cmd::run(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn health(url: &str) -> anyhow::Result<()> {
    let (status, body) = runtime()?
        .block_on(berth_api::health::ask_ready(url))
        .map_err(|e| anyhow::anyhow!("{url} does not answer: {e}"))?;
    if status == 200 {
        println!("{url}: ready");
        Ok(())
    } else {
        anyhow::bail!("{url}: not ready ({status}): {}", body.trim())
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
