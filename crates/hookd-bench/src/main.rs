//! `hookd-bench`: delivery throughput and latency on this machine.
//!
//! Starts, in one process: receivers (a lean HTTP server answering 200), a hookd on a
//! temp SQLite database, and a publisher. Each scenario publishes through hookd's API and
//! counts what the receivers get; the ceiling is the same publisher posting signed
//! bodies straight to the receiver, with no hookd in between.
//!
//!   cargo run --release -p hookd-bench -- [--seconds 20] [--only s1,s5] [--json] [--quick]

mod measure;
mod node;
mod receiver;
mod scenarios;
mod seed;

use std::sync::Arc;

use clap::Parser;

use crate::measure::Figure;
use crate::node::{serve_node, start_hookd, POSTGRES};
use crate::receiver::{start_receiver, Sink};
use crate::scenarios::Run;

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
    /// Run only these scenarios (comma-separated: ceiling,s1,s2,s3,s4,s5,s6,neighbour,congested,ordered).
    /// S6 is left out unless named: it loads --history deliveries first.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run hookd on PostgreSQL: a URL whose user may create databases
    /// (postgres://postgres@127.0.0.1:5432/postgres); each hookd gets a fresh one.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// S6: stored deliveries of history to load before measuring.
    #[arg(long, default_value_t = 10_000_000)]
    history: u64,
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

/// The least history S6 loads: one event to each of its ten webhooks.
const FAN_OUT_MIN: u64 = 10;

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
    let r = Run { http, sink, rx, conc, secs };
    let mut figures = Vec::new();
    let run = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(name));

    let ceiling = if run("ceiling") { scenarios::ceiling::run(&r).await } else { f64::NAN };
    if ceiling.is_finite() {
        figures.push(Figure::throughput("ceiling", ceiling, ceiling));
    }

    let h = start_hookd(|_| {}).await?;
    let s6 = args.only.iter().any(|o| o.eq_ignore_ascii_case("s6"));
    let mut s1 = f64::NAN;
    if run("s1") || run("s4") || s6 {
        eprintln!("S1: one endpoint, publish as fast as hookd accepts");
        let f = scenarios::fan_out::run(&r, &h, "S1 one endpoint", 1, ceiling).await?;
        s1 = f.per_second;
        figures.push(f);
    }
    let mut s2 = f64::NAN;
    if run("s2") || run("s3") {
        eprintln!("S2: ten endpoints subscribed to the same event");
        let f = scenarios::fan_out::run(&r, &h, "S2 fan-out to 10", 10, ceiling).await?;
        s2 = f.per_second;
        figures.push(f);
    }
    let s4_rate = (s1 / 2.0).max(10.0);
    if run("s4") {
        eprintln!("S4: latency at half the S1 rate");
        figures.push(scenarios::latency::s4(&r, &h, s4_rate).await?);
    }
    if run("neighbour") {
        figures.extend(scenarios::latency::neighbour(&r, &h).await?);
    }
    if run("congested") {
        figures.push(scenarios::congested::run(&r, &h).await?);
    }
    if run("ordered") {
        figures.push(scenarios::ordered::run(&r, &h, ceiling).await?);
    }
    h.stop().await;

    if run("s3") {
        figures.push(scenarios::mixed_health::run(&r, ceiling, s2).await?);
    }
    if run("nodes") && args.database.is_some() && !args.quick {
        for &n in &args.nodes {
            figures.push(scenarios::nodes::nodes_fan_out(&r.http, &r.sink, &r.rx, n, conc, secs, ceiling).await?);
        }
    }
    if s6 {
        let history = if args.quick { 20_000 } else { args.history.max(FAN_OUT_MIN) };
        figures.extend(scenarios::history::run(&r, ceiling, s4_rate, history).await?);
    }
    if run("s5") {
        let backlog = if args.quick { 2_000 } else { args.backlog.max(10) };
        figures.push(scenarios::backlog::backlog_drain(&r.http, backlog).await?);
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
