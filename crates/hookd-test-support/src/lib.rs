//! Helpers for black-box tests of hookd: a real server on a random port with a temp
//! SQLite database ([`TestServer`]), the real binary as a child process
//! ([`HookdProcess`]), an HTTP client that speaks the envelope ([`Client`]), and
//! [`eventually`] for waiting on a condition without fixed sleeps.
//!
//! Set `HOOKD_TEST_LOG=1` to see the servers' logs.

mod postgres;
mod receiver;

pub use postgres::PrivatePostgres;
pub use receiver::{Received, Reply, TestReceiver};

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd::app::App;
use hookd::config::{Config, LogFormat, Settings};
use hookd_core::service::AdminService;
use hookd_store_postgres::TempDatabase;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Polls `check` until it returns `Ok`, or fails with its last error after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= deadline => {
                panic!("condition not met within {deadline:?}; last observed: {last}")
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

fn init_test_log() {
    if std::env::var_os("HOOKD_TEST_LOG").is_some() {
        hookd::telemetry::init(LogFormat::Text, "debug,sqlx=warn,hyper=info");
    }
}

/// A response: status, headers, and the body parsed as JSON (`Value::Null` if it is not).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `data` of the envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `error.code` of the envelope.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The `field`s of `error.details`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }
}

/// An HTTP client for one base URL and (optionally) one API key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    /// Sent with every request (`Hookd-Workspace`).
    headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(base: impl Into<String>, key: Option<String>) -> Self {
        Self { http: reqwest::Client::new(), base: base.into(), key, headers: Vec::new() }
    }

    /// The same client, acting in another workspace (`Hookd-Workspace`).
    pub fn in_workspace(&self, workspace: &str) -> Self {
        let mut c = self.clone();
        c.headers.push(("hookd-workspace".into(), workspace.into()));
        c
    }

    /// The same server with another key (or none).
    pub fn with_key(&self, key: Option<&str>) -> Self {
        Self { key: key.map(str::to_owned), ..self.clone() }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            r = r.bearer_auth(k);
        }
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        r
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> Response {
        let res = rb.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, headers, body, text }
    }

    pub async fn get(&self, path: &str) -> Response {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        Self::send(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        Self::send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        Self::send(self.request(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        Self::send(self.request(reqwest::Method::PATCH, path).json(body)).await
    }

    /// POST with a raw body, as a client with a bug might send it.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        Self::send(self.request(reqwest::Method::POST, path).header("content-type", "application/json").body(body))
            .await
    }
}

/// Builds a [`TestServer`].
pub struct TestServerBuilder {
    config: Config,
    dir: Option<Arc<tempfile::TempDir>>,
    database: Option<String>,
    temp_db: Option<Arc<TempDatabase>>,
}

/// The key tests use on PostgreSQL, where hookd requires a configured one.
const TEST_ENCRYPTION_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=";

/// A fresh database on the PostgreSQL server of `HOOKD_TEST_DATABASE_URL`, dropped when
/// the returned guard is; `None` without a server. For nodes started as processes
/// ([`HookdProcess`]).
pub async fn fresh_postgres_database() -> Option<TempDatabase> {
    let admin = std::env::var("HOOKD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    Some(TempDatabase::create(&admin, "hookd_test").await.expect("create a test database"))
}

/// The encryption key of test servers on PostgreSQL, for nodes started as processes.
pub fn test_encryption_key() -> &'static str {
    TEST_ENCRYPTION_KEY
}

/// The databases test servers made, by URL, so that another node on one keeps it.
static TEMP_DATABASES: Mutex<std::collections::BTreeMap<String, std::sync::Weak<TempDatabase>>> =
    Mutex::new(std::collections::BTreeMap::new());

/// A database for one test server: a temp SQLite file, or, when
/// `HOOKD_TEST_DATABASE_URL` names a PostgreSQL server, a fresh database on it (dropped
/// with the last server that uses it).
async fn test_database(dir: &Path) -> (String, Option<Arc<TempDatabase>>) {
    match fresh_postgres_database().await {
        Some(db) => {
            let db = Arc::new(db);
            let mut live = TEMP_DATABASES.lock().unwrap();
            live.retain(|_, db| db.strong_count() > 0);
            live.insert(db.url().to_owned(), Arc::downgrade(&db));
            (db.url().to_owned(), Some(db))
        }
        None => (format!("sqlite://{}", dir.join("hookd.db").display()), None),
    }
}

/// Whether the suite runs on PostgreSQL (`HOOKD_TEST_DATABASE_URL` is set). Tests of
/// several nodes need it; without it they say so and pass, unless
/// `HOOKD_TEST_REQUIRE_POSTGRES=1`, which CI sets.
pub fn on_postgres() -> bool {
    if std::env::var("HOOKD_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return true;
    }
    skip_postgres_test("HOOKD_TEST_DATABASE_URL is not set");
    false
}

/// Says why a PostgreSQL test does not run, and fails it instead when
/// `HOOKD_TEST_REQUIRE_POSTGRES=1` (CI), so that it cannot silently pass.
pub fn skip_postgres_test(why: &str) {
    skip_test(why)
}

/// Says why a test that needs something of the machine (PostgreSQL, root) does not
/// run, and fails it instead when `HOOKD_TEST_REQUIRE_POSTGRES=1`: CI has everything, so
/// there a skip is a failure.
pub fn skip_test(why: &str) {
    assert!(
        std::env::var("HOOKD_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "HOOKD_TEST_REQUIRE_POSTGRES=1 but {why}"
    );
    eprintln!("skipped: {why}");
}

impl TestServerBuilder {
    /// Starts from a configuration file, as `hookd serve --config <file>` reads it
    /// (`listen` and `database_url` are replaced with the test's own).
    pub fn profile(mut self, file: &Path) -> Self {
        let loaded = hookd::config::load(Some(file), &Default::default())
            .unwrap_or_else(|e| panic!("{} does not load: {e}", file.display()));
        self.config = loaded.config;
        self
    }

    /// Another node on the database of a running server (a PostgreSQL URL). The
    /// database stays until every server on it is gone.
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self.temp_db = TEMP_DATABASES.lock().unwrap().get(url).and_then(std::sync::Weak::upgrade);
        self
    }

    /// A temp SQLite file even when `HOOKD_TEST_DATABASE_URL` is set: for tests of what
    /// only SQLite has, such as the generated key file.
    pub fn sqlite(mut self) -> Self {
        let dir = self.dir.get_or_insert_with(|| Arc::new(tempfile::tempdir().expect("temp dir"))).clone();
        self.database = Some(format!("sqlite://{}", dir.path().join("hookd.db").display()));
        self
    }

    /// Adjusts the configuration (built in code; no file, no environment).
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    pub async fn start(self) -> TestServer {
        init_test_log();
        let dir = self.dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
        let mut config = self.config;
        config.listen = "127.0.0.1:0".into();
        let mut temp_db = self.temp_db;
        config.database_url = match self.database {
            Some(d) => d,
            None => {
                let (url, db) = test_database(dir.path()).await;
                temp_db = db;
                url
            }
        };
        if config.database_url.starts_with("postgres") && config.encryption_key.is_none() {
            config.encryption_key = Some(TEST_ENCRYPTION_KEY.into());
        }
        let settings = Settings::from_config(config.clone()).expect("valid test configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = App::build(&settings).await.expect("app builds");
        let first_key = app.bootstrap().await.expect("bootstrap").map(|b| b.token);
        let admin = app.admin().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(listener, async move {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        TestServer { addr, base, first_key, admin, dir, config, shutdown: Some(tx), handle: Some(handle), temp_db }
    }
}

/// The real hookd app, serving on `127.0.0.1:<random>` with a temp SQLite file.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    /// The key printed on first start; `None` after a restart on the same database.
    pub first_key: Option<String>,
    /// Provisioning, as the CLI does it.
    pub admin: AdminService,
    dir: Arc<tempfile::TempDir>,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// The PostgreSQL database made for this server, dropped after it.
    temp_db: Option<Arc<TempDatabase>>,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder { config: Config::default(), dir: None, database: None, temp_db: None }
    }

    pub async fn start() -> TestServer {
        Self::builder().start().await
    }

    /// A client authenticated with the first-start key.
    pub fn client(&self) -> Client {
        Client::new(self.base.clone(), self.first_key.clone())
    }

    /// A client with no key.
    pub fn anonymous(&self) -> Client {
        Client::new(self.base.clone(), None)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database this server runs on.
    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }

    /// Stops the server (as SIGTERM would) and waits for it to finish.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server stopped cleanly");
        }
    }

    /// Stops the server and starts a new one on the same database and configuration.
    pub async fn restart(self) -> TestServer {
        self.restart_with(|_| {}).await
    }

    /// Stops the server and starts a new one on the same database, with `f`'s changes
    /// to the configuration.
    pub async fn restart_with(mut self, f: impl FnOnce(&mut Config)) -> TestServer {
        self.stop_inner().await;
        let mut config = self.config.clone();
        f(&mut config);
        TestServerBuilder {
            database: Some(self.config.database_url.clone()),
            config,
            dir: Some(self.dir.clone()),
            temp_db: self.temp_db.take(),
        }
        .start()
        .await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // A database made for it is dropped (after the last server on it) with FORCE,
        // closing this server's connections: stop the server first.
        if let (Some(h), Some(_)) = (self.handle.take(), &self.temp_db) {
            h.abort();
        }
    }
}

/// The `hookd` binary running as a child process, with its output captured.
pub struct HookdProcess {
    child: tokio::process::Child,
    pub base: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl HookdProcess {
    /// Runs `<bin> serve <args>` in `dir` with `env`, on a free port, and waits until it
    /// answers `/readyz`.
    pub async fn serve(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> HookdProcess {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("serve").arg("--listen").arg(&listen).args(args).current_dir(dir);
        cmd.env_remove("HOOKD_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("hookd starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect_lines(child.stdout.take().expect("stdout"), stdout.clone()),
            collect_lines(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        let base = format!("http://{listen}");
        let probe = reqwest::Client::new();
        let url = format!("{base}/readyz");
        let errs = stderr.clone();
        eventually(Duration::from_secs(20), || {
            let probe = probe.clone();
            let url = url.clone();
            let errs = errs.clone();
            async move {
                match probe.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("readyz answered {}", r.status())),
                    Err(e) => Err(format!("{e}; stderr so far: {:?}", errs.lock().unwrap())),
                }
            }
        })
        .await;
        HookdProcess { child, base, stdout, stderr, readers }
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The key printed on first start, if any.
    pub fn first_key(&self) -> Option<String> {
        self.stdout().iter().find_map(|l| l.strip_prefix("API key: ").map(str::to_owned))
    }

    pub fn client(&self, key: Option<String>) -> Client {
        Client::new(self.base.clone(), key)
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it to be gone.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid, with a valid signal number.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("hookd exits after SIGTERM")
            .expect("wait");
        // The readers end at EOF, once they have everything the process wrote.
        for r in self.readers.drain(..) {
            let _ = r.await;
        }
        status
    }
}

fn collect_lines<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    r: R,
    sink: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    let echo = std::env::var_os("HOOKD_TEST_LOG").is_some();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("[hookd] {line}");
            }
            sink.lock().unwrap().push(line);
        }
    })
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs the `hookd` binary with `args` in `dir` and returns (status, stdout, stderr).
pub async fn run_cli(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run_cli_with_input(bin, dir, args, env, b"").await
}

/// [`run_cli`] with `input` on standard input.
pub async fn run_cli_with_input(
    bin: &Path,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: &[u8],
) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args).current_dir(dir).env_remove("HOOKD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("hookd runs");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin.write_all(input).await.expect("hookd reads its input");
    drop(stdin);
    let out = child.wait_with_output().await.expect("hookd runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
