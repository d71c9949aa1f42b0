//! `berth copy-metadata`: move a single-machine registry's metadata from its SQLite file
//! into the PostgreSQL database the config's `database` section names.

use std::path::Path;

use anyhow::{Context, bail};
use berth_meta::{CopyProgress, PgMeta, SqliteMeta, copy_into_postgres};
use indicatif::{ProgressBar, ProgressStyle};

use crate::metadata::MetadataLocation;

/// Rows copied, table by table.
pub(crate) struct Bar(pub ProgressBar);

impl Bar {
    pub(crate) fn new() -> anyhow::Result<Bar> {
        Ok(Bar(ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} rows")?
                .progress_chars("=> "),
        )))
    }
}

impl CopyProgress for Bar {
    fn table(&self, name: &str, rows: u64) {
        self.0.set_length(rows);
        self.0.set_position(0);
        self.0.set_message(name.to_string());
    }
    fn copied(&self, rows: u64) {
        self.0.inc(rows);
    }
}

pub fn run(config: &Path) -> anyhow::Result<()> {
    let loaded = crate::settings::load_config(Some(config))?;
    let MetadataLocation::Postgres(target) = MetadataLocation::from_config(&loaded.config)? else {
        bail!(
            "{} does not enable the database section: add database (enabled: true, host, \
             user, dbname, …) naming the empty PostgreSQL database to copy into",
            config.display()
        );
    };
    let mut sqlite_only = loaded.config.clone();
    sqlite_only.database.enabled = false;
    let source = MetadataLocation::from_config(&sqlite_only)?
        .sqlite_path()
        .map(Path::to_path_buf)
        .context("without the database section the metadata is a SQLite file")?;
    if !source.is_file() {
        bail!(
            "there is no SQLite metadata at {} to copy",
            source.display()
        );
    }
    // Nothing may write the source meanwhile: the claim `berth serve` holds on it.
    let _no_server = crate::serve::claim_sqlite(&source)?;
    eprintln!(
        "copying {} into PostgreSQL {}",
        source.display(),
        target.describe()
    );
    crate::runtime()?.block_on(async {
        let from = SqliteMeta::open(&source)
            .await
            .with_context(|| format!("opening {}", source.display()))?;
        let to = PgMeta::open(&target)
            .await
            .with_context(|| format!("connecting to PostgreSQL {}", target.describe()))?;
        let bar = Bar::new()?;
        let counts = copy_into_postgres(&from, &to, &bar).await?;
        bar.0.finish_and_clear();
        for (table, rows) in &counts {
            println!("{table:>20}: {rows} rows, counts match");
        }
        println!(
            "copied; serve with this config to use PostgreSQL (keep {} until you are sure)",
            source.display()
        );
        Ok(())
    })
}
