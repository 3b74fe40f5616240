//! A PostgreSQL server of a test's own, which the test may stop and start again: for
//! database outages, which must not disturb the other tests' shared server.

use std::path::PathBuf;
use std::process::Command;

/// A throwaway PostgreSQL server on `127.0.0.1:<free port>`, stopped when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Where the data directory lives, when not in `dir` (a small disk of the test's).
    data: Option<PathBuf>,
    port: u16,
}

impl PrivatePostgres {
    /// Starts one from Debian's `postgresql` package (`/usr/lib/postgresql/<n>/bin`), run
    /// as the `postgres` user when the tests run as root (initdb refuses root). `None`
    /// when the package is not installed.
    pub fn start() -> Option<PrivatePostgres> {
        Self::start_with_data(None)
    }

    /// Starts one whose data directory is `data` (created; its parent must exist), with
    /// small WAL settings so that it fits a small disk.
    pub fn start_with_data(data: Option<&std::path::Path>) -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
            if let Some(d) = data {
                std::fs::create_dir_all(d).expect("data dir");
                run(Command::new("chown").arg("postgres").arg(d));
            }
        }
        let pg = PrivatePostgres { bin, port: crate::free_port(), dir, data: data.map(|d| d.to_path_buf()) };
        pg.as_postgres("initdb", &["-D", &pg.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        pg.resume();
        Some(pg)
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): every connection drops,
    /// as in a crash.
    pub fn stop(&self) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&self) {
        let mut opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        if self.data.is_some() {
            opts.push_str(" -c min_wal_size=32MB -c max_wal_size=64MB -c wal_init_zero=off");
        }
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &opts, "start"]);
    }

    fn data(&self) -> String {
        match &self.data {
            Some(d) => d.display().to_string(),
            None => self.dir.path().join("data").display().to_string(),
        }
    }

    /// Whether the server answers (it may have stopped itself, as after a full disk).
    pub fn is_running(&self) -> bool {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "status"];
        let out = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
        out.is_ok_and(|o| o.status.success())
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        run(&mut cmd);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)] // geteuid has no preconditions
    unsafe {
        libc::geteuid() == 0
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
