//! `hookd backup` and `hookd restore`: a consistent online copy of a SQLite deployment,
//! and putting one back. PostgreSQL has its own tools for both (`pg_dump`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};

use crate::config::{DatabaseUrl, Settings};

fn sqlite_path(settings: &Settings, what: &str) -> anyhow::Result<PathBuf> {
    match &settings.database {
        DatabaseUrl::Sqlite { path, .. } => Ok(path.clone()),
        DatabaseUrl::Postgres { .. } => bail!(
            "hookd {what} is for SQLite deployments; on PostgreSQL use its own tools (pg_dump and pg_restore, \
             or continuous archiving)"
        ),
    }
}

fn megabytes(path: &Path) -> String {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// The companion files SQLite keeps beside a database in WAL mode.
fn companions(db: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Copies the live database into `to` (created 0600; it must not exist).
pub async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<()> {
    let db = sqlite_path(settings, "backup")?;
    anyhow::ensure!(db.exists(), "there is no database at {} (check --database or database_url)", db.display());
    // Created empty first, private: the copy holds the same sealed secrets and hashes.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(to).with_context(|| {
        format!("cannot create {} (it must not exist yet; choose a new name or remove it)", to.display())
    })?;
    eprintln!("backing up {} ({}) to {} …", db.display(), megabytes(&db), to.display());
    let started = Instant::now();
    // The copy grows as SQLite writes it; its size against the database's is the progress
    // (the copy may end smaller: it is written without free pages).
    let total: u64 = std::iter::once(db.clone())
        .chain(companions(&db))
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = crate::progress::bytes(total, "backing up");
    let watch = {
        let (bar, to) = (bar.clone(), to.to_path_buf());
        tokio::spawn(async move {
            loop {
                if let Ok(m) = std::fs::metadata(&to) {
                    bar.set_position(m.len().min(total));
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };
    let result = hookd_store_sqlite::backup(&db, to).await;
    watch.abort();
    bar.finish_and_clear();
    if let Err(e) = result {
        let _ = std::fs::remove_file(to);
        return Err(e).context("the backup failed; nothing was kept");
    }
    println!(
        "backed up {} to {} ({}) in {:.1} s; keep it with the encryption key (hookd.key beside the database, \
         unless encryption_key is set)",
        db.display(),
        to.display(),
        megabytes(to),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Puts the copy `from` in place of the database, which is kept as
/// `<database>.before-restore`. hookd must not be running on it.
pub async fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<()> {
    let db = sqlite_path(settings, "restore")?;
    anyhow::ensure!(from.is_file(), "there is no backup at {}", from.display());
    let version = hookd_store_sqlite::check_database_file(from)
        .await
        .map_err(|why| anyhow::anyhow!("{} cannot be restored: {why}", from.display()))?;
    let latest = hookd_store_sqlite::latest_migration();
    anyhow::ensure!(
        version <= latest,
        "{} was written by a newer hookd (schema version {version}, this one knows up to {latest}); restore it \
         with that version",
        from.display()
    );
    // The same lock `hookd serve` holds: no server may have the file open meanwhile.
    let _lock = crate::app::own_sqlite_file(&db)
        .context("stop hookd before restoring: the database it has open cannot be replaced under it")?;
    let mut kept_name = db.as_os_str().to_owned();
    kept_name.push(".before-restore");
    let kept = PathBuf::from(kept_name);
    let moved_aside = db.exists();
    if moved_aside {
        if kept.exists() && !force {
            bail!("{} exists from an earlier restore; move it away, or pass --force to replace it", kept.display());
        }
        // The database and its WAL move together: what the WAL holds belongs to it.
        std::fs::rename(&db, &kept).with_context(|| format!("cannot move {} aside", db.display()))?;
        for (live, aside) in companions(&db).iter().zip(companions(&kept)) {
            if live.exists() {
                std::fs::rename(live, &aside).with_context(|| format!("cannot move {} aside", live.display()))?;
            } else if aside.exists() {
                std::fs::remove_file(&aside)?;
            }
        }
    }
    let copy = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&db)?;
        let input = std::fs::File::open(from)?;
        let bar = crate::progress::bytes(input.metadata()?.len(), "restoring");
        let copied = std::io::copy(&mut bar.wrap_read(input), &mut out);
        bar.finish_and_clear();
        copied?;
        out.sync_all()
    })();
    if let Err(e) = copy {
        // Put the database back as it was, its WAL with it: the WAL may hold commits.
        let _ = std::fs::remove_file(&db);
        if moved_aside {
            let _ = std::fs::rename(&kept, &db);
            for (live, aside) in companions(&db).iter().zip(companions(&kept)) {
                if aside.exists() {
                    let _ = std::fs::rename(&aside, live);
                }
            }
        }
        return Err(e)
            .with_context(|| format!("cannot copy {} to {}; the database was put back", from.display(), db.display()));
    }
    println!(
        "restored {} to {} (schema version {version}){}; start hookd to use it (it migrates it forward if needed)",
        from.display(),
        db.display(),
        if moved_aside { format!("; the previous database is kept as {}", kept.display()) } else { String::new() }
    );
    Ok(())
}
