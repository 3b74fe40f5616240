//! A full disk: hookd answers 503 `storage_unavailable`, acknowledges nothing it did not
//! commit, recovers by itself when space is back, and every event it acknowledged
//! before, during and after survives `kill -9` and is delivered.
//!
//! The database lives on a small tmpfs that the test mounts, so it needs root (as CI
//! has): the tests are ignored by a plain `cargo test` and run with `--include-ignored`,
//! where a missing permission fails them unless it is said why.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookd_test_support::{eventually, Client, HookdProcess, Reply, TestReceiver};
use serde_json::json;

use crate::create;

/// A small tmpfs mounted for one test, unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why it cannot.
    pub fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("cannot mount a tmpfs (needs root): {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with a ballast file until a write fails, then gives `slack` bytes
    /// back; returns the ballast's path.
    pub fn fill(&self, slack: u64) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("ballast");
        let mut f = std::fs::File::create(&path).expect("ballast file");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = vec![0u8; 512];
        while f.write_all(&small).is_ok() {}
        let len = f.metadata().expect("ballast size").len();
        f.set_len(len.saturating_sub(slack)).expect("shrink the ballast");
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[derive(Default)]
struct Tally {
    accepted: Vec<String>,
    refused: usize,
    /// The error codes of the refusals, each once.
    codes: Vec<String>,
}

/// Publishes `n` events of about 16 KB, four at a time; returns what was accepted
/// and how many were refused with 503 `storage_unavailable`. Any other answer fails.
async fn publish_some(client: &Client, n: usize, tag: &str) -> Tally {
    publish_refused_as(client, n, tag, &["storage_unavailable"]).await
}

/// [`publish_some`], refusals allowed with any of `codes`.
async fn publish_refused_as(client: &Client, n: usize, tag: &str, codes: &[&str]) -> Tally {
    // Letters that do not compress (PostgreSQL compresses large values).
    let padding = hookd_store_sql::incompressible(16 * 1024);
    let mut tally = Tally::default();
    for round in 0..n.div_ceil(4) {
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..4 {
            let body = json!({"event": "order.paid", "data": {"tag": tag, "n": round * 4 + i, "pad": padding}});
            let client = client.clone();
            sends.spawn(async move { client.post("/v1/events", &body).await });
        }
        for r in sends.join_all().await {
            match r.status {
                202 => tally.accepted.push(r.data()["id"].as_str().expect("an event id").to_owned()),
                503 => {
                    assert!(codes.contains(&r.error_code()), "{}", r.text);
                    if !tally.codes.iter().any(|c| c == r.error_code()) {
                        tally.codes.push(r.error_code().to_owned());
                    }
                    assert!(r.header("retry-after").is_some(), "a 503 without Retry-After: {:?}", r.headers);
                    tally.refused += 1;
                }
                s => panic!("a publish on a full disk was answered {s}: {}", r.text),
            }
        }
    }
    tally
}

/// Every event in `want` reaches the receiver and is answered 200.
async fn assert_all_delivered(rx: &TestReceiver, want: &HashSet<String>) {
    eventually(Duration::from_secs(60), || async {
        let got: HashSet<String> = rx
            .received()
            .iter()
            .filter(|r| r.reply_status == 200)
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect();
        let missing = want.difference(&got).count();
        if missing == 0 {
            Ok(())
        } else {
            Err(format!("{missing} of {} acknowledged events not delivered", want.len()))
        }
    })
    .await;
}

/// Waits until `/readyz` answers 200 again.
async fn wait_ready(client: &Client, within: Duration) {
    eventually(within, || async {
        match client.get("/readyz").await.status {
            200 => Ok(()),
            s => Err(format!("/readyz answers {s} after space came back")),
        }
    })
    .await;
}

/// Every accepted event is readable now.
async fn assert_readable(client: &Client, ids: &[String], when: &str) {
    for id in ids {
        let r = client.get(&format!("/v1/events/{id}")).await;
        assert_eq!(r.status, 200, "event {id}, acknowledged {when}, is not readable: {}", r.text);
    }
}

#[tokio::test]
#[ignore = "mounts a tmpfs, so needs root; run with `-- --include-ignored` (README)"]
async fn a_full_disk_refuses_publishes_with_503_and_loses_nothing_acknowledged() {
    let disk = match SmallDisk::mount("16m") {
        Ok(d) => d,
        Err(why) => {
            hookd_test_support::skip_test(&why);
            return;
        }
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_hookd"));
    let config = disk.path().join("hookd.toml");
    std::fs::write(
        &config,
        "[delivery]\nretry_schedule = [\"0s\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \
         \"200ms\", \"200ms\", \"200ms\"]\nbreaker_cooldown = \"100ms\"\nbreaker_max_cooldown = \"200ms\"\n",
    )
    .unwrap();
    let db = format!("sqlite://{}", disk.path().join("hookd.db").display());
    let args = ["--dev", "--database", db.as_str(), "--config", config.to_str().unwrap()];
    let env = [("HOOKD_LOG_LEVEL", "warn")];
    let work = tempfile::tempdir().unwrap();
    let mut node = HookdProcess::serve(bin, work.path(), &args, &env).await;
    let key = node.first_key().expect("a first-start key");
    let client = node.client(Some(key.clone()));
    let rx = TestReceiver::start().await;
    // The receiver is down while the disk fills: every attempt fails and is retried.
    rx.set_default(Reply::status(503));
    create(&client, &json!({"url": rx.url("/full"), "events": ["*"]})).await;

    let before = publish_some(&client, 40, "before").await;
    assert_eq!(before.refused, 0, "publishes refused before the disk filled");
    assert_readable(&client, &before.accepted, "before the disk filled").await;
    let mut dashboard = crate::web::Browser::new(&node.base);
    assert_eq!(dashboard.sign_in(&key).await.status, 303, "signed in to the dashboard");

    // A little room left: publishes fill it, then the disk is full.
    let ballast = disk.fill(512 * 1024);
    let mut during = Tally::default();
    for _ in 0..20 {
        let t = publish_some(&client, 40, "during").await;
        assert_readable(&client, &t.accepted, "while the disk was full").await;
        during.accepted.extend(t.accepted);
        during.refused += t.refused;
        if during.refused >= 20 {
            break;
        }
    }
    assert!(during.refused >= 20, "the full disk refused only {} publishes", during.refused);
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status, 503, "/readyz with the disk full: {}", ready.text);
    assert_eq!(ready.error_code(), "storage_unavailable");
    // The dashboard still shows what is stored, and a form that must write says so with
    // a 503 and Retry-After (or works, if the little room left takes it).
    let page = dashboard.get("/dashboard/webhooks").await;
    assert_eq!(page.status, 200, "reading the dashboard with the disk full: {}", page.text);
    let form = dashboard.get("/dashboard/webhooks/new").await;
    let made = dashboard
        .post("/dashboard/webhooks", &[("csrf", &form.csrf()), ("url", "http://127.0.0.1:9/x"), ("events", "*")])
        .await;
    assert!(
        made.status == 201 || (made.status == 503 && made.header("retry-after") == "5"),
        "a write from the dashboard with the disk full: {} {}",
        made.status,
        made.text
    );

    // Space comes back: hookd recovers by itself, with no restart.
    std::fs::remove_file(&ballast).unwrap();
    wait_ready(&client, Duration::from_secs(20)).await;
    let after = publish_some(&client, 40, "after").await;
    assert_eq!(after.refused, 0, "publishes still refused after space came back");
    assert_readable(&client, &after.accepted, "after space came back").await;

    let (before_count, during_count, after_count, during_refused) =
        (before.accepted.len(), during.accepted.len(), after.accepted.len(), during.refused);
    // A crash, a restart on the same file: everything acknowledged is there.
    node.kill9().await;
    let node = HookdProcess::serve(bin, work.path(), &args, &env).await;
    let client = node.client(Some(key));
    let all: Vec<String> = [before.accepted, during.accepted, after.accepted].concat();
    assert_readable(&client, &all, "before the crash").await;

    // The receiver is back: every acknowledged event is delivered.
    rx.set_default(Reply::ok());
    let want: HashSet<String> = all.iter().cloned().collect();
    assert_all_delivered(&rx, &want).await;
    println!(
        "full disk: {} acknowledged ({before_count} before, {during_count} while filling, {after_count} after), {} refused with 503",
        want.len(),
        during_refused
    );
}

#[tokio::test]
#[ignore = "mounts a tmpfs and starts PostgreSQL, so needs root and Debian's postgresql; run with `-- --include-ignored` (README)"]
async fn a_full_disk_under_postgresql_refuses_publishes_with_503_and_loses_nothing_acknowledged() {
    let disk = match SmallDisk::mount("160m") {
        Ok(d) => d,
        Err(why) => {
            hookd_test_support::skip_test(&why);
            return;
        }
    };
    let Some(pg) = hookd_test_support::PrivatePostgres::start_with_data(Some(&disk.path().join("pgdata"))) else {
        hookd_test_support::skip_postgres_test(
            "PostgreSQL is not installed in /usr/lib/postgresql (Debian's postgresql package)",
        );
        return;
    };
    let url = hookd_store_postgres::create_database(&pg.url(), "hookd_full").await.unwrap();
    let server = hookd_test_support::TestServer::builder()
        .database(&url)
        .config(|c| {
            c.allow_http = true;
            c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
            c.delivery.retry_schedule =
                vec![Duration::ZERO; 1].into_iter().chain(vec![Duration::from_millis(200); 30]).collect();
            c.delivery.breaker_cooldown = Duration::from_millis(100);
            c.delivery.breaker_max_cooldown = Duration::from_millis(200);
            c.database.acquire_timeout = Some(Duration::from_secs(1));
            c.rate_limit.requests_per_minute = 1_000_000;
        })
        .start()
        .await;
    let key = server.first_key.clone();
    let client = server.client();
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(503));
    create(&client, &json!({"url": rx.url("/full"), "events": ["*"]})).await;
    // A full disk makes PostgreSQL refuse writes (53100) or, when its WAL cannot grow,
    // stop with every connection dropped: either way a 503, and nothing acknowledged lost.
    let refusals = ["storage_unavailable", "service_unavailable"];
    let before = publish_refused_as(&client, 40, "before", &refusals).await;
    assert_eq!(before.refused, 0);

    let ballast = disk.fill(512 * 1024);
    let mut during = Tally::default();
    for _ in 0..50 {
        let t = publish_refused_as(&client, 40, "during", &refusals).await;
        during.accepted.extend(t.accepted);
        during.refused += t.refused;
        for c in t.codes {
            if !during.codes.contains(&c) {
                during.codes.push(c);
            }
        }
        if during.refused >= 20 {
            break;
        }
    }
    assert!(during.refused >= 20, "the full disk refused only {} publishes", during.refused);
    assert_eq!(client.get("/readyz").await.status, 503, "/readyz with the disk full");

    // Space comes back; a database that stopped itself is started again, as its operator
    // would. hookd itself is not restarted.
    std::fs::remove_file(&ballast).unwrap();
    let stopped = !pg.is_running();
    if stopped {
        pg.resume();
    }
    wait_ready(&client, Duration::from_secs(60)).await;
    let after = publish_refused_as(&client, 40, "after", &refusals).await;
    assert_eq!(after.refused, 0, "publishes still refused after space came back");

    let server = server.restart().await;
    let client = server.anonymous().with_key(key.as_deref());
    let all: Vec<String> = [before.accepted, during.accepted.clone(), after.accepted].concat();
    assert_readable(&client, &all, "before the restart").await;
    rx.set_default(Reply::ok());
    let want: HashSet<String> = all.iter().cloned().collect();
    assert_all_delivered(&rx, &want).await;
    println!(
        "full disk on PostgreSQL: {} acknowledged ({} while filling), {} refused with 503 ({}), the server {}",
        want.len(),
        during.accepted.len(),
        during.refused,
        during.codes.join(", "),
        if stopped { "stopped itself and was started again" } else { "kept running" }
    );
    server.stop().await;
}
