//! `hookd-bench`: delivery throughput and latency on this machine.
//!
//! Starts, in one process: receivers (a lean HTTP server answering 200), a hookd on a
//! temp SQLite database, and a publisher. Each scenario publishes through hookd's API and
//! counts what the receivers get; the ceiling is the same publisher posting signed
//! bodies straight to the receiver, with no hookd in between.
//!
//!   cargo run --release -p hookd-bench -- [--seconds 20] [--only s1,s5] [--json] [--quick]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use hookd::app::App;
use hookd::config::{Config, Settings};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    about = "Measure hookd's delivery throughput and latency on this machine",
    after_help = "Example:\n  \
    cargo run --release -p hookd-bench -- --seconds 20 --json"
)]
struct Args {
    /// Length of each throughput scenario.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent publishing connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// A few seconds in all, for CI: proves the bench runs, measures nothing.
    #[arg(long)]
    quick: bool,
    /// Print the results as JSON too.
    #[arg(long)]
    json: bool,
    /// Run only these scenarios (comma-separated: ceiling,s1,s2,s3,s4,s5,neighbour).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run hookd on PostgreSQL: a URL whose user may create databases
    /// (postgres://postgres@127.0.0.1:5432/postgres); each hookd gets a fresh one.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// S5: deliveries queued while the receivers are down (10 webhooks x backlog/10 events).
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// The `nodes` scenario (with --database): S2 through this many `hookd` node
    /// processes on one database, for each count given.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    nodes: Vec<usize>,
    /// Internal: run one hookd node on this database URL and address (the `nodes`
    /// scenario starts its nodes as processes of this binary).
    #[arg(long, hide = true, num_args = 2, value_names = ["DATABASE_URL", "ADDR"])]
    serve_node: Vec<String>,
}

/// What the receivers saw.
#[derive(Default)]
struct Sink {
    count: AtomicU64,
    /// Answer 503 and count nothing (S5's receivers are down).
    down: AtomicBool,
    /// Publish-to-receive latencies in microseconds, when recording.
    latencies: Mutex<Vec<u64>>,
    record: AtomicBool,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

async fn receive(State(sink): State<Arc<Sink>>, _h: HeaderMap, body: Bytes) -> StatusCode {
    if sink.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    sink.count.fetch_add(1, Ordering::Relaxed);
    if sink.record.load(Ordering::Relaxed) {
        // The publisher put its clock in the data as "t":<µs>.
        if let Some(i) = body.windows(4).position(|w| w == b"\"t\":") {
            let digits: String = body[i + 4..].iter().take_while(|b| b.is_ascii_digit()).map(|b| *b as char).collect();
            if let Ok(t) = digits.parse::<u64>() {
                sink.latencies.lock().unwrap().push(now_us().saturating_sub(t));
            }
        }
    }
    StatusCode::OK
}

async fn start_receiver(sink: Arc<Sink>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(receive).with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// An endpoint that answers every request with 500.
async fn start_failing_receiver() -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// An endpoint that accepts connections and never answers.
async fn start_hanging_receiver() -> anyhow::Result<String> {
    async fn hang() -> StatusCode {
        std::future::pending::<()>().await;
        StatusCode::OK
    }
    let app = axum::Router::new().fallback(hang);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

struct Hookd {
    base: String,
    key: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Where each hookd of the run keeps its data: SQLite in a temp dir, or a fresh database
/// on the PostgreSQL server of `--database`.
static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn database_url(dir: &std::path::Path) -> anyhow::Result<String> {
    let Some(admin) = POSTGRES.get() else {
        return Ok(format!("sqlite://{}", dir.join("hookd.db").display()));
    };
    hookd_store_postgres::create_database(admin, "hookd_bench").await.context("cannot create a database on --database")
}

/// The configuration of every hookd the bench runs.
fn bench_config(database_url: String) -> Config {
    Config {
        database_url,
        allow_http: true,
        log_level: "warn".into(),
        // A fixed throwaway key, so no key file is generated (and warned about).
        encryption_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        rate_limit: hookd::config::RateLimitConfig { requests_per_minute: u32::MAX },
        delivery: hookd::config::DeliveryConfig {
            allow_private_cidrs: vec!["127.0.0.0/8".into()],
            // The neighbour scenario leaves attempts hanging; do not wait for them.
            shutdown_grace: Duration::from_secs(1),
            ..Default::default()
        },
        ..Config::default()
    }
}

async fn start_hookd(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Hookd> {
    let dir = tempfile::tempdir()?;
    let mut config = bench_config(database_url(dir.path()).await?);
    adjust(&mut config);
    let settings = Settings::from_config(config)?;
    static LOG: std::sync::Once = std::sync::Once::new();
    LOG.call_once(|| hookd::telemetry::init(settings.log_format, &settings.log_level));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = App::build(&settings).await?;
    let key = app.bootstrap().await?.context("fresh database")?.token;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async move {
        let _ = rx.await;
    }));
    Ok(Hookd { base, key, _dir: dir, stop: Some(tx), task })
}

impl Hookd {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct Figure {
    scenario: &'static str,
    per_second: f64,
    ratio_to_ceiling: Option<f64>,
    /// What else the scenario measured, for people: "0.85 x S2", "peak RSS 97 MB".
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_mb: Option<f64>,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    publish_p99_ms: Option<f64>,
}

impl Figure {
    fn throughput(scenario: &'static str, per_second: f64, ceiling: f64) -> Self {
        let ratio = Some(per_second / ceiling).filter(|r| r.is_finite());
        Self {
            scenario,
            per_second,
            ratio_to_ceiling: ratio,
            note: None,
            peak_rss_mb: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            publish_p99_ms: None,
        }
    }

    fn latency(scenario: &'static str, rate: f64, (p50, p95, p99, publish_p99): (f64, f64, f64, f64)) -> Self {
        Self {
            scenario,
            per_second: rate,
            ratio_to_ceiling: None,
            note: None,
            peak_rss_mb: None,
            p50_ms: Some(p50),
            p95_ms: Some(p95),
            p99_ms: Some(p99),
            publish_p99_ms: Some(publish_p99),
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Runs `concurrency` loops of `step` for `secs`, returning how many the sink counted
/// per second over the window (after a warm-up of a fifth of it).
async fn sustained<F, Fut>(sink: &Sink, concurrency: usize, secs: f64, step: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (step, stop, seq) = (step.clone(), stop.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                step(seq.fetch_add(1, Ordering::Relaxed)).await;
            }
        }));
    }
    let warm = Duration::from_secs_f64(secs / 5.0);
    tokio::time::sleep(warm).await;
    let c0 = sink.count.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let window = Duration::from_secs_f64(secs);
    let progress_every = Duration::from_secs(5);
    let mut next = t0 + progress_every;
    while t0.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if Instant::now() >= next {
            let rate = (sink.count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
            eprint!("\r  {:>4.0}s  {rate:>8.0}/s", t0.elapsed().as_secs_f64());
            next += progress_every;
        }
    }
    let rate = (sink.count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    eprintln!("\r  done: {rate:.0}/s            ");
    rate
}

fn publish_step(http: reqwest::Client, url: String, key: String) -> impl Fn(u64) -> futures_like::BoxFut + Send + Sync {
    move |n| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        Box::pin(async move {
            let body = json!({"event": "bench.ping", "data": {"n": n, "t": now_us()}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
        })
    }
}

mod futures_like {
    pub type BoxFut = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

async fn create_webhooks(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    urls: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for u in urls {
        let r: serde_json::Value = http
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(key)
            .json(&json!({"url": u, "events": ["*"]}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(r["data"]["id"].as_str().context("webhook id")?.to_owned());
    }
    Ok(ids)
}

async fn delete_webhooks(http: &reqwest::Client, h: &Hookd, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        // A webhook left behind would take its share of the next scenario's events.
        http.delete(format!("{}/v1/webhooks/{id}", h.base))
            .bearer_auth(&h.key)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("deleting webhook {id}"))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let [database_url, addr] = args.serve_node.as_slice() {
        return serve_node(database_url, addr).await;
    }
    if let Some(url) = &args.database {
        anyhow::ensure!(url.starts_with("postgres"), "--database takes a postgres:// URL (SQLite is the default)");
        let _ = POSTGRES.set(url.clone());
    }
    let secs = if args.quick { 1.0 } else { args.seconds as f64 };
    let conc = args.concurrency;
    let http = reqwest::Client::builder().pool_max_idle_per_host(conc * 2).build()?;
    let sink = Arc::new(Sink::default());
    let rx = start_receiver(sink.clone()).await?;
    eprintln!(
        "hookd-bench: {} cores, {secs} s per scenario, {conc} publishers, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.database.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    let mut figures = Vec::new();
    let run = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(name));

    // Ceiling: the publisher's own client posting signed bodies straight to the receiver.
    eprintln!("ceiling: publisher -> receiver, no hookd");
    let ceiling = if !run("ceiling") {
        f64::NAN
    } else {
        let http = http.clone();
        let url = format!("{rx}/direct");
        sustained(&sink, conc, secs, move |n| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body = json!({"id": "evt_x", "event": "bench.ping", "data": {"n": n, "t": now_us()}}).to_string();
                let sig = hookd_delivery::signing::body_hmac("whsec_bench", body.as_bytes());
                let _ = http.post(&url).header("x-hookd-signature", sig).body(body).send().await;
            }
        })
        .await
    };
    if ceiling.is_finite() {
        figures.push(Figure::throughput("ceiling", ceiling, ceiling));
    }

    let h = start_hookd(|_| {}).await?;
    let events_url = format!("{}/v1/events", h.base);

    let mut s1 = f64::NAN;
    if run("s1") || run("s4") {
        eprintln!("S1: one endpoint, publish as fast as hookd accepts");
        let ids = create_webhooks(&http, &h.base, &h.key, &[format!("{rx}/s1")]).await?;
        s1 = sustained(&sink, conc, secs, publish_step(http.clone(), events_url.clone(), h.key.clone())).await;
        figures.push(Figure::throughput("S1 one endpoint", s1, ceiling));
        drain(&sink).await;
        delete_webhooks(&http, &h, &ids).await?;
    }

    let mut s2 = f64::NAN;
    if run("s2") || run("s3") {
        eprintln!("S2: ten endpoints subscribed to the same event");
        let urls: Vec<String> = (0..10).map(|i| format!("{rx}/s2/{i}")).collect();
        let ids = create_webhooks(&http, &h.base, &h.key, &urls).await?;
        s2 = sustained(&sink, conc, secs, publish_step(http.clone(), events_url.clone(), h.key.clone())).await;
        figures.push(Figure::throughput("S2 fan-out to 10", s2, ceiling));
        drain(&sink).await;
        delete_webhooks(&http, &h, &ids).await?;
    }

    if run("s4") {
        eprintln!("S4: latency at half the S1 rate");
        let ids = create_webhooks(&http, &h.base, &h.key, &[format!("{rx}/s4")]).await?;
        let rate = (s1 / 2.0).max(10.0);
        let measured = latency_at(&http, &sink, &events_url, &h.key, rate, secs).await;
        figures.push(Figure::latency("S4 latency", rate, measured));
        delete_webhooks(&http, &h, &ids).await?;
    }

    if run("neighbour") {
        // The healthy endpoint's latency at a modest fixed rate, alone and then beside a
        // webhook whose endpoint never answers.
        let rate = 200.0;
        eprintln!("neighbour: healthy endpoint alone, {rate}/s");
        let ids = create_webhooks(&http, &h.base, &h.key, &[format!("{rx}/healthy")]).await?;
        let measured = latency_at(&http, &sink, &events_url, &h.key, rate, secs).await;
        figures.push(Figure::latency("healthy alone", rate, measured));
        let hang = start_hanging_receiver().await?;
        let hanging = create_webhooks(&http, &h.base, &h.key, &[format!("{hang}/stuck")]).await?;
        eprintln!("neighbour: healthy endpoint beside a hanging one, {rate}/s");
        let measured = latency_at(&http, &sink, &events_url, &h.key, rate, secs).await;
        figures.push(Figure::latency("healthy + hanging", rate, measured));
        delete_webhooks(&http, &h, &ids).await?;
        delete_webhooks(&http, &h, &hanging).await?;
    }
    h.stop().await;

    if run("s3") {
        // 100 webhooks on the same event: 50 healthy, 25 answering 500, 25 never answering.
        // A hookd of its own: what the unhealthy half leaves behind must not weigh on
        // the other scenarios.
        let h = start_hookd(|_| {}).await?;
        let events_url = format!("{}/v1/events", h.base);
        eprintln!("S3: 100 endpoints, half failing (500) or hanging; counting the healthy half");
        let (failing, hanging) = (start_failing_receiver().await?, start_hanging_receiver().await?);
        let urls: Vec<String> = (0..100)
            .map(|i| match i % 4 {
                0 => format!("{failing}/s3/{i}"),
                1 => format!("{hanging}/s3/{i}"),
                _ => format!("{rx}/s3/{i}"),
            })
            .collect();
        let ids = create_webhooks(&http, &h.base, &h.key, &urls).await?;
        let s3 = sustained(&sink, conc, secs, publish_step(http.clone(), events_url.clone(), h.key.clone())).await;
        let mut f = Figure::throughput("S3 healthy of 100", s3, ceiling);
        f.note = Some(format!("{:.2} x S2", s3 / s2));
        figures.push(f);
        delete_webhooks(&http, &h, &ids).await?;
        drain(&sink).await;
        h.stop().await;
    }

    if run("nodes") && args.database.is_some() && !args.quick {
        for &n in &args.nodes {
            figures.push(nodes_fan_out(&http, &sink, &rx, n, conc, secs, ceiling).await?);
        }
    }

    if run("s5") {
        let backlog = if args.quick { 2_000 } else { args.backlog.max(10) };
        figures.push(backlog_drain(&http, backlog).await?);
    }

    println!(
        "\n{:<20} {:>12} {:>10} {:>9} {:>9} {:>9} {:>12}  note",
        "scenario", "per second", "x ceiling", "p50 ms", "p95 ms", "p99 ms", "publish p99"
    );
    let f = |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |x| format!("{x:.p$}"));
    for x in &figures {
        println!(
            "{:<20} {:>12.0} {:>10} {:>9} {:>9} {:>9} {:>12}  {}",
            x.scenario,
            x.per_second,
            f(x.ratio_to_ceiling, 2),
            f(x.p50_ms, 1),
            f(x.p95_ms, 1),
            f(x.p99_ms, 1),
            f(x.publish_p99_ms, 1),
            x.note.as_deref().unwrap_or("")
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    }
    Ok(())
}

/// Waits until the receiver stops counting (the backlog is delivered).
async fn drain(sink: &Sink) {
    let mut last = sink.count.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = sink.count.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Publishes at a fixed rate; returns publish-to-receive p50/p95/p99 and publish p99, in ms.
async fn latency_at(
    http: &reqwest::Client,
    sink: &Arc<Sink>,
    url: &str,
    key: &str,
    rate: f64,
    secs: f64,
) -> (f64, f64, f64, f64) {
    sink.latencies.lock().unwrap().clear();
    sink.record.store(true, Ordering::Relaxed);
    let publish_lat = Arc::new(Mutex::new(Vec::new()));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    let mut n = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        n += 1;
        let (http, url, key, publish_lat) = (http.clone(), url.to_owned(), key.to_owned(), publish_lat.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = json!({"event": "bench.ping", "data": {"n": n, "t": now_us()}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
            publish_lat.lock().unwrap().push(t.elapsed().as_micros() as u64);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    drain(sink).await;
    sink.record.store(false, Ordering::Relaxed);
    let mut l = std::mem::take(&mut *sink.latencies.lock().unwrap());
    l.sort_unstable();
    let mut p = std::mem::take(&mut *publish_lat.lock().unwrap());
    p.sort_unstable();
    eprintln!("  {} deliveries timed", l.len());
    (percentile(&l, 0.5), percentile(&l, 0.95), percentile(&l, 0.99), percentile(&p, 0.99))
}

/// This process's resident set, in MB (Linux; `None` elsewhere).
fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

/// S5: `backlog` deliveries (10 webhooks x backlog/10 events) published while the
/// receivers answer 503, so they pile up behind open circuits; then the receivers come
/// back and the backlog drains. Measures the drain rate, and the peak resident memory of
/// this process (hookd with the bench's receiver and publisher) from the first publish
/// to the last delivery.
async fn backlog_drain(http: &reqwest::Client, backlog: u64) -> anyhow::Result<Figure> {
    const WEBHOOKS: u64 = 10;
    const BATCH: u64 = 1000;
    let events = backlog / WEBHOOKS;
    let sink = Arc::new(Sink::default());
    sink.down.store(true, Ordering::Relaxed);
    let rx = start_receiver(sink.clone()).await?;
    // Circuits probe at most every second, so the drain starts within a second of the
    // receivers' return; the retry schedule is long enough that no delivery runs out of
    // attempts while the receivers are down.
    let h = start_hookd(|c| {
        c.delivery.breaker_cooldown = Duration::from_millis(200);
        c.delivery.breaker_max_cooldown = Duration::from_secs(1);
        c.delivery.retry_schedule = [0, 1, 5, 30, 60, 300, 600, 1800, 3600, 7200].map(Duration::from_secs).to_vec();
    })
    .await?;
    let urls: Vec<String> = (0..WEBHOOKS).map(|i| format!("{rx}/s5/{i}")).collect();
    create_webhooks(http, &h.base, &h.key, &urls).await?;

    let peak = Arc::new(Mutex::new(rss_mb().unwrap_or(0.0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(now) = rss_mb() {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    eprintln!("S5: publishing {events} events to {WEBHOOKS} webhooks while their receivers are down");
    let t = Instant::now();
    let url = format!("{}/v1/events/batch", h.base);
    let batches = events.div_ceil(BATCH);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (http, url, key, next) = (http.clone(), url.clone(), h.key.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<_, anyhow::Error>(());
                }
                let n = BATCH.min(events - b * BATCH);
                let body = json!({"events": (0..n).map(|i| json!({"event": "bench.ping", "data": {"n": b * BATCH + i}})).collect::<Vec<_>>()});
                let r = http.post(&url).bearer_auth(&key).json(&body).send().await?;
                anyhow::ensure!(r.status().is_success(), "batch publish answered {}", r.status());
                if b % 100 == 99 {
                    eprint!("\r  {} of {events} events published", (b + 1) * BATCH);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!("\r  {backlog} deliveries queued in {:.1} s; receivers back up", t.elapsed().as_secs_f64());

    sink.down.store(false, Ordering::Relaxed);
    let t0 = Instant::now();
    let mut last_report = Instant::now();
    let deadline = Duration::from_secs(3600);
    while sink.count.load(Ordering::Relaxed) < backlog && t0.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last_report.elapsed() >= Duration::from_secs(5) {
            let got = sink.count.load(Ordering::Relaxed);
            eprint!(
                "\r  {:>4.0}s  {got} delivered  {:>8.0}/s",
                t0.elapsed().as_secs_f64(),
                got as f64 / t0.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let took = t0.elapsed().as_secs_f64();
    let delivered = sink.count.load(Ordering::Relaxed);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = *peak.lock().unwrap();
    eprintln!("\r  done: {delivered} of {backlog} delivered in {took:.1} s            ");
    h.stop().await;
    let rate = delivered as f64 / took;
    let mut f = Figure::throughput("S5 backlog drain", rate, f64::NAN);
    f.peak_rss_mb = Some(peak);
    let missing = backlog.saturating_sub(delivered);
    f.note = Some(format!(
        "{backlog} queued; peak RSS {peak:.0} MB{}",
        if missing > 0 { format!("; {missing} NOT delivered within {}s", deadline.as_secs()) } else { String::new() }
    ));
    Ok(f)
}

/// One hookd node in a process of its own (see `--serve-node`): prints `key <token>` if
/// it provisioned the deployment, then `ready`, and runs until killed.
async fn serve_node(database_url: &str, addr: &str) -> anyhow::Result<()> {
    let mut config = bench_config(database_url.to_owned());
    config.listen = addr.to_owned();
    let settings = Settings::from_config(config)?;
    hookd::telemetry::init(settings.log_format, &settings.log_level);
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let app = App::build(&settings).await?;
    if let Some(b) = app.bootstrap().await? {
        println!("key {}", b.token);
    }
    println!("ready");
    app.run(listener, std::future::pending()).await
}

/// S2 (ten webhooks on one event) published round-robin through `n` node processes on
/// one fresh PostgreSQL database.
async fn nodes_fan_out(
    http: &reqwest::Client,
    sink: &Sink,
    rx: &str,
    n: usize,
    conc: usize,
    secs: f64,
    ceiling: f64,
) -> anyhow::Result<Figure> {
    use tokio::io::AsyncBufReadExt;

    eprintln!("nodes: S2 through {n} hookd processes on one PostgreSQL database");
    let dir = tempfile::tempdir()?;
    let url = database_url(dir.path()).await?;
    let mut nodes = Vec::new();
    let mut key = None;
    for _ in 0..n {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--serve-node", &url, &addr.to_string()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().context("node stdout")?).lines();
        while let Some(line) = lines.next_line().await? {
            if let Some(k) = line.strip_prefix("key ") {
                key = Some(k.to_owned());
            }
            if line == "ready" {
                break;
            }
        }
        nodes.push((child, format!("http://{addr}")));
    }
    let key = key.context("the first node prints the deployment's key")?;
    let urls: Vec<String> = (0..10).map(|i| format!("{rx}/nodes/{n}/{i}")).collect();
    create_webhooks(http, &nodes[0].1, &key, &urls).await?;
    let events: Vec<String> = nodes.iter().map(|(_, base)| format!("{base}/v1/events")).collect();
    let steps: Vec<_> = events.into_iter().map(|u| publish_step(http.clone(), u, key.clone())).collect();
    let rate = sustained(sink, conc, secs, move |i| steps[i as usize % steps.len()](i)).await;
    for (mut child, _) in nodes {
        let _ = child.kill().await;
    }
    drain(sink).await;
    let name: &'static str = Box::leak(format!("S2 on {n} node{}", if n == 1 { "" } else { "s" }).into_boxed_str());
    Ok(Figure::throughput(name, rate, ceiling))
}
