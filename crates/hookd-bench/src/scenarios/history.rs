//! S6: flat cost as history grows. Loads a database with millions of stored deliveries
//! (straight through the store: events fanned out to ten webhooks over the last 30
//! days, each delivery with one attempt, 1 in 20 failed), then runs S1, S2 and S4 on it
//! to compare with the empty database; then prunes the oldest day of history while S2
//! runs, and the next days while publishing at a fixed rate, in windows alternately with
//! pruning and without, to see what pruning costs publishing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::domain::{Delivery, Event, GeneratedKey, Scope, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{DeliveryId, EventId, WebhookId};
use hookd_core::service::{Pruned, Retention, RetentionService};
use hookd_core::store::{NewEventRecord, Store, StoreError};
use hookd_core::time_fmt;

use super::{fan_out, latency, Run};
use crate::measure::{latency_at, Figure};
use crate::node::{create_webhooks, database_url, delete_webhooks, start_hookd, start_hookd_on, Hookd, POSTGRES};

/// Days of history (the default retention), and webhooks each historic event went to.
const DAYS: i64 = 30;
const FAN_OUT: usize = 10;
/// Slices each day pruned in alternate windows is cut into, and the fewest pairs of
/// windows (more days are pruned until there are as many).
const SLICES: u64 = 96;
const PAIRS: usize = 10;

/// Windows of each scenario on each database, alternately (an odd number, so that each
/// has a middle one). Fifteen, not five: an 8-second window's p99 rests on its worst
/// hundred-odd publishes, one stall of the disk moves it by half, and the ratio of the
/// medians of five windows went from 0.79 to 1.34 between runs on the same database
/// (docs/performance.md).
const WINDOWS: usize = 15;

pub(crate) async fn run(r: &Run, ceiling: f64, s4_rate: f64, deliveries: u64) -> anyhow::Result<Vec<Figure>> {
    let dir = tempfile::tempdir()?;
    let (url, db) = database_url(dir.path()).await?;
    let started = Instant::now();
    let (token, size) = seed(&url, dir.path(), deliveries).await?;
    let took = started.elapsed();
    let per_million = size as f64 / 1e6 / (deliveries as f64 / 1e6);
    eprintln!(
        "S6: {deliveries} deliveries stored in {took:.0?} ({:.0}/s); database {:.0} MB, {per_million:.0} MB per million deliveries",
        deliveries as f64 / took.as_secs_f64(),
        size as f64 / 1e6
    );
    let (h, store) = start_hookd_on(dir, url.clone(), db, Some(token), |_| {}).await?;
    let empty = start_hookd(|_| {}).await?;
    let vacuumed = autovacuum(&url).await?;
    let [mut s1, s2, mut s4] = paired(r, &h, &empty, ceiling, s4_rate).await?;
    empty.stop().await;
    if let Some(ran) = autovacuumed(&vacuumed, &autovacuum(&url).await?) {
        eprintln!("S6: PostgreSQL's autovacuum during S1, S2 and S4 over the history: {ran}");
        s4.note = Some(format!("{}; autovacuum meanwhile: {ran}", s4.note.take().unwrap_or_default()));
    }
    s1.note = Some(format!(
        "{}; {deliveries} deliveries stored, {per_million:.0} MB per million, loaded in {took:.0?}",
        s1.note.take().unwrap_or_default()
    ));
    let s2_rate = s2.per_second;
    let mut out = vec![s1, s2, s4];

    // The oldest day, pruned by hookd's own retention while S2 runs.
    let day = |n: i64| Duration::from_secs(((DAYS - n) * 86_400) as u64);
    eprintln!("S6: S2 while the oldest day is pruned");
    let task = {
        let store = store.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let mut rounds = Rounds::default();
            let done = rounds.prune(&store, day(1), None).await;
            (done.map(|()| rounds.total), t.elapsed(), rounds.errors)
        })
    };
    let mut rates = Vec::new();
    while !task.is_finished() {
        rates.push(fan_out::run(r, &h, "S6 S2 while pruning", 10, ceiling).await?.per_second);
    }
    let (pruned, took, errors) = task.await?;
    let pruned = pruned?;
    let during = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let mut f = Figure::throughput("S6 S2 while pruning", during, ceiling);
    f.note = Some(format!(
        "pruned a day ({} deliveries, {} events) in {took:.1?}, {}{}; {:.2} x S2 without pruning",
        pruned.succeeded + pruned.failed,
        pruned.events,
        steps(&pruned),
        restarts(errors),
        during / s2_rate
    ));
    out.push(f);

    // The next days, while publishing at S4's rate, in alternate windows with pruning
    // and without it: each pair measured minutes apart at most, so that the machine's
    // drift over the run does not pass for pruning's cost.
    eprintln!("S6: publish latency while the next day is pruned, in alternate windows");
    let ids = create_webhooks(&r.http, &h.base, &h.key, &[format!("{}/s6-prune", r.rx)]).await?;
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let enough = Arc::new(AtomicBool::new(false));
    let task = {
        let (store, gate, enough) = (store.clone(), gate.clone(), enough.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let mut rounds = Rounds::default();
            // Day after day (until enough windows are measured), each in slices short
            // enough that a window without pruning starts soon after it is asked for (it
            // waits for the slice under way).
            for n in 1..DAYS - 1 {
                for slice in 1..=SLICES {
                    let keep = day(n) - Duration::from_secs(86_400 * slice / SLICES);
                    if let Err(e) = rounds.prune(&store, keep, Some(&gate)).await {
                        return (Err(e), t.elapsed(), rounds.errors, n);
                    }
                }
                if enough.load(Ordering::Relaxed) {
                    return (Ok(rounds.total), t.elapsed(), rounds.errors, n);
                }
            }
            (Ok(rounds.total), t.elapsed(), rounds.errors, DAYS - 2)
        })
    };
    let events_url = format!("{}/v1/events", h.base);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut last = None;
    while !task.is_finished() {
        let m = latency_at(&r.http, &r.sink, &events_url, &h.key, s4_rate, r.secs).await;
        with.push(m.3);
        last = Some(m);
        let paused = gate.lock().await;
        without.push(latency_at(&r.http, &r.sink, &events_url, &h.key, s4_rate, r.secs).await.3);
        drop(paused);
        if without.len() >= PAIRS {
            enough.store(true, Ordering::Relaxed);
        }
    }
    delete_webhooks(&r.http, &h, &ids).await?;
    let (pruned, took, errors2, days) = task.await?;
    let pruned = pruned?;
    if let Some(m) = last {
        let worst = with.iter().copied().fold(f64::NAN, f64::max);
        let with_median = median(&mut with);
        let without_median = median(&mut without);
        let mut f = Figure::latency("S6 S4 while pruning", s4_rate, m);
        f.publish_p99_ms = Some(with_median);
        f.note = Some(format!(
            "publish p99 {with_median:.1} ms (median of {} windows; worst {worst:.1} ms) while pruning {days} day{} \
             ({} deliveries in {took:.1?} of pruning and pauses, {}{}) vs {without_median:.1} ms in the {} windows \
             between them without pruning: {:.2} x",
            with.len(),
            if days == 1 { "" } else { "s" },
            pruned.succeeded + pruned.failed,
            steps(&pruned),
            restarts(errors2),
            without.len(),
            with_median / without_median,
        ));
        out.push(f);
    }
    h.stop().await;
    Ok(out)
}

/// S1, S2 and S4 over the history, each against the same on an empty database (a second
/// hookd, idle meanwhile) in alternate windows: the empty one first in one pair, the
/// loaded one first in the next. On a machine whose speed drifts by more than the 10 %
/// being looked for, only windows measured side by side compare. Each figure is the
/// loaded database's median window, with the empty one's median and their ratio: S1, S2
/// and S4, in that order.
async fn paired(r: &Run, loaded: &Hookd, empty: &Hookd, ceiling: f64, s4_rate: f64) -> anyhow::Result<[Figure; 3]> {
    let s1 = paired_throughput(r, loaded, empty, "S6 S1 one endpoint", 1, ceiling).await?;
    let s2 = paired_throughput(r, loaded, empty, "S6 S2 fan-out to 10", 10, ceiling).await?;
    eprintln!("S6: S4 at {s4_rate:.0}/s, over the history and on an empty database in alternate windows");
    let (loaded_w, empty_w) = alternate(loaded, empty, |h| latency::s4(r, h, s4_rate)).await?;
    let p99 = |v: &[Figure]| v.iter().map(|f| f.p99_ms.unwrap_or(f64::NAN)).collect::<Vec<_>>();
    let publish = |v: &[Figure]| v.iter().map(|f| f.publish_p99_ms.unwrap_or(f64::NAN)).collect::<Vec<_>>();
    // The loaded database's window with the median p99, with the median publish p99.
    let mut by_p99 = loaded_w.clone();
    by_p99.sort_by(|a, b| a.p99_ms.unwrap_or(f64::NAN).total_cmp(&b.p99_ms.unwrap_or(f64::NAN)));
    let mut s4 = by_p99.swap_remove(by_p99.len() / 2);
    s4.scenario = "S6 S4 latency";
    s4.publish_p99_ms = Some(median(&mut publish(&loaded_w)));
    s4.note = Some(format!(
        "p99 {}; publish p99 {}",
        compared(&p99(&loaded_w), &p99(&empty_w), " ms"),
        compared(&publish(&loaded_w), &publish(&empty_w), " ms")
    ));
    Ok([s1, s2, s4])
}

/// Throughput to `endpoints` endpoints over the history against the empty database, in
/// alternate windows: the loaded database's median, with the comparison in its note.
async fn paired_throughput(
    r: &Run,
    loaded: &Hookd,
    empty: &Hookd,
    name: &'static str,
    endpoints: usize,
    ceiling: f64,
) -> anyhow::Result<Figure> {
    eprintln!("S6: {name}, over the history and on an empty database in alternate windows");
    let (loaded_w, empty_w) = alternate(loaded, empty, |h| fan_out::run(r, h, name, endpoints, ceiling)).await?;
    let rate = |v: &[Figure]| v.iter().map(|f| f.per_second).collect::<Vec<_>>();
    let mut f = Figure::throughput(name, median(&mut rate(&loaded_w)), ceiling);
    f.note = Some(compared(&rate(&loaded_w), &rate(&empty_w), "/s"));
    Ok(f)
}

/// [`WINDOWS`] windows of `measure` on each of two hookds, alternately, the empty one
/// first in even pairs and the loaded one first in odd ones: the loaded one's windows
/// and the empty one's, pair by pair.
async fn alternate<'a, F, Fut>(
    loaded: &'a Hookd,
    empty: &'a Hookd,
    mut measure: F,
) -> anyhow::Result<(Vec<Figure>, Vec<Figure>)>
where
    F: FnMut(&'a Hookd) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Figure>>,
{
    let (mut loaded_w, mut empty_w) = (Vec::new(), Vec::new());
    for w in 0..WINDOWS {
        for on_empty in [w % 2 == 0, w % 2 != 0] {
            let (h, v) = if on_empty { (empty, &mut empty_w) } else { (loaded, &mut loaded_w) };
            v.push(measure(h).await?);
        }
    }
    Ok((loaded_w, empty_w))
}

/// The loaded database's windows against the empty one's: their medians, the ratio of
/// the medians, and the range of the ratios pair by pair.
fn compared(loaded: &[f64], empty: &[f64], unit: &str) -> String {
    let (l, e) = (median(&mut loaded.to_vec()), median(&mut empty.to_vec()));
    let mut pairs: Vec<f64> = loaded.iter().zip(empty).map(|(l, e)| l / e).collect();
    pairs.sort_by(f64::total_cmp);
    format!(
        "{l:.1}{unit} against {e:.1}{unit} empty, medians of {} windows each: {:.2} x (pairs {:.2} to {:.2} x)",
        loaded.len(),
        l / e,
        pairs.first().copied().unwrap_or(f64::NAN),
        pairs.last().copied().unwrap_or(f64::NAN),
    )
}

/// Pruning rounds run by the benchmark, and what they did in all.
#[derive(Default)]
struct Rounds {
    total: Pruned,
    errors: u32,
}

impl Rounds {
    /// Prunes everything older than `keep` with hookd's own retention, holding `gate`
    /// while it does. As hookd's own rounds do, a round stopped by an error is started
    /// again (it steps quickly over what is kept), ten times at most, and the figures say so.
    async fn prune(
        &mut self,
        store: &Arc<dyn Store>,
        keep: Duration,
        gate: Option<&tokio::sync::Mutex<()>>,
    ) -> Result<(), StoreError> {
        let retention = Retention { succeeded: keep, failed: keep, events: keep, ..Retention::default() };
        let service = RetentionService::new(store.clone(), retention);
        loop {
            let _pruning = match gate {
                Some(gate) => Some(gate.lock().await),
                None => None,
            };
            match service.prune().await {
                Ok(p) => {
                    self.total += p;
                    return Ok(());
                }
                Err(e) => {
                    self.errors += 1;
                    eprintln!("S6: a pruning round stopped ({e}); starting it again");
                    if self.errors == 10 {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// The median of `v`, which it sorts.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// How many steps a prune took, and how long they held the writer.
fn steps(p: &Pruned) -> String {
    let mean = p.writer_held.as_secs_f64() * 1e3 / p.steps.max(1) as f64;
    format!("{} steps holding the writer {:.1?} in all, {mean:.1} ms each", p.steps, p.writer_held)
}

fn restarts(errors: u32) -> String {
    match errors {
        0 => String::new(),
        n => format!(", {n} rounds stopped by an error and started again"),
    }
}

/// Loads `deliveries` deliveries into a fresh database; returns a key and the database's
/// size in bytes.
async fn seed(url: &str, dir: &std::path::Path, deliveries: u64) -> anyhow::Result<(String, u64)> {
    let store: Arc<dyn Store> = if POSTGRES.get().is_some() {
        let pg = hookd_store_postgres::open(url, &Default::default()).await?;
        hookd_store_postgres::migrate(&pg).await?;
        Arc::new(pg)
    } else {
        let sqlite = hookd_store_sqlite::open(url, &Default::default()).await?;
        hookd_store_sqlite::migrate(&sqlite).await?;
        Arc::new(sqlite)
    };
    let now = time_fmt::now();
    let ws = Workspace::new("default", now);
    let key = GeneratedKey::new(ws.id.clone(), "hk_live", "bench".into(), vec![Scope::All, Scope::Admin], false, now);
    store.bootstrap(&ws, &key.key).await?;
    let cipher =
        hookd_core::crypto::SecretCipher::new(&hookd_core::crypto::EncryptionKey::from_base64(crate::node::BENCH_KEY)?);
    let mut webhooks = Vec::new();
    for i in 0..FAN_OUT {
        let id = WebhookId::generate();
        let w = Webhook {
            secrets: WebhookSecrets {
                current: cipher.seal(hookd_core::domain::generate_signing_secret().as_bytes(), id.as_str()),
                previous: None,
                previous_expires_at: None,
                public_key: None,
            },
            signing: Default::default(),
            id,
            number: 0,
            workspace_id: ws.id.clone(),
            created_by: Some(key.key.id.clone()),
            owner: None,
            url: format!("https://history{i}.example.com/webhooks"),
            // History only: the bench's own events are for its own webhooks.
            events: vec!["history.recorded".into()],
            description: None,
            enabled: true,
            disabled_reason: None,
            failure_count: 0,
            delivery_attempts: 0,
            last_delivered_at: None,
            metadata: Default::default(),
            rate_limit: None,
            headers: None,
            filter: None,
            ordering: Default::default(),
            channels: Vec::new(),
            uid: None,
            protocol: Default::default(),
            send_traceparent: false,
            created_at: now,
            updated_at: now,
        };
        store.insert_webhook(&w).await?;
        webhooks.push(w.id);
    }
    let events = (deliveries / FAN_OUT as u64).max(1);
    let span = time::Duration::days(DAYS);
    let start = now - span;
    let bar = hookd::progress::items(events, "S6: storing history");
    let mut batch = Vec::new();
    for n in 0..events {
        let at = start + span * (n as f64 / events as f64);
        let event = Event {
            id: EventId::generate_at(at),
            workspace_id: ws.id.clone(),
            event_type: "history.recorded".into(),
            producer_id: None,
            owner: None,
            data: format!(r#"{{"order":{{"id":"ord_{n}","total":{},"currency":"EUR"}}}}"#, n % 997),
            occurred_at: None,
            created_at: at,
            deliveries: FAN_OUT as i64,
            ordering_key: None,
            channels: Vec::new(),
            tags: Vec::new(),
            erased_at: None,
            trace_parent: None,
        };
        let deliveries = webhooks
            .iter()
            // Ids that sort by the history's own time, as retention walks them.
            .map(|w| Delivery { id: DeliveryId::generate_at(at), ..Delivery::new_in_flight(&event, w, at) })
            .collect();
        batch.push(NewEventRecord { event, deliveries, lease: None });
        if batch.len() == 500 || n + 1 == events {
            record(&*store, std::mem::take(&mut batch)).await?;
            bar.set_position(n + 1);
        }
    }
    bar.finish_and_clear();
    drop(store);
    let settling = Instant::now();
    settle(url, dir).await?;
    eprintln!("S6: database settled in {:.0?}", settling.elapsed());
    let size = database_size(url, dir).await?;
    Ok((key.token, size))
}

/// Leaves the loaded database as one that grew over the month would be, so that what is
/// measured next is hookd over its history, not the aftermath of loading gigabytes in
/// minutes: SQLite's log copied into the file and the file on disk (the kernel would
/// otherwise be writing it back during the first scenarios); PostgreSQL vacuumed,
/// analysed (as autovacuum would have done) and checkpointed.
async fn settle(url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    if POSTGRES.get().is_some() {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut conn).await?;
        sqlx::raw_sql("CHECKPOINT").execute(&mut conn).await?;
        conn.close().await?;
        return Ok(());
    }
    let mut conn =
        url.parse::<sqlx::sqlite::SqliteConnectOptions>()?.busy_timeout(Duration::from_secs(60)).connect().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    let file = dir.join("hookd.db");
    tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_all()).await??;
    Ok(())
}

/// Stores a batch and one attempt for each of its deliveries ([`crate::seed::outcomes`]).
async fn record(store: &dyn Store, batch: Vec<NewEventRecord>) -> anyhow::Result<()> {
    store.insert_events(&batch).await?;
    let results = crate::seed::outcomes(&batch);
    store.record_results(&results, time_fmt::now() - time::Duration::days(365)).await?;
    Ok(())
}

/// How often PostgreSQL's autovacuum has vacuumed and analysed each table of the loaded
/// database, with when it last did; empty on SQLite.
type Autovacuum = std::collections::BTreeMap<String, (i64, i64, Option<String>)>;

async fn autovacuum(url: &str) -> anyhow::Result<Autovacuum> {
    if POSTGRES.get().is_none() {
        return Ok(Autovacuum::new());
    }
    let pool = sqlx::PgPool::connect(url).await?;
    let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT relname::text, autovacuum_count, autoanalyze_count, \
                to_char(GREATEST(last_autovacuum, last_autoanalyze) AT TIME ZONE 'UTC', 'HH24:MI:SS') \
         FROM pg_stat_user_tables",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    Ok(rows.into_iter().map(|(table, v, a, last)| (table, (v, a, last))).collect())
}

/// What autovacuum did between `before` and `after`: the tables it vacuumed or analysed,
/// how often and when last; `None` when it did nothing. A vacuum of a table of millions
/// of rows reads its indexes whole, so it is the first suspect for a slow window.
fn autovacuumed(before: &Autovacuum, after: &Autovacuum) -> Option<String> {
    let ran: Vec<String> = after
        .iter()
        .filter_map(|(table, (v, a, last))| {
            let (v0, a0, _) = before.get(table).cloned().unwrap_or_default();
            let (v, a) = (v - v0, a - a0);
            ((v, a) != (0, 0)).then(|| {
                format!("{table} vacuumed {v}x, analysed {a}x, last at {} UTC", last.as_deref().unwrap_or("?"))
            })
        })
        .collect();
    (!ran.is_empty()).then(|| ran.join("; "))
}

/// The database's size on disk: the SQLite file with its write-ahead log, or what
/// PostgreSQL reports.
async fn database_size(url: &str, dir: &std::path::Path) -> anyhow::Result<u64> {
    if POSTGRES.get().is_some() {
        let pool = sqlx::PgPool::connect(url).await?;
        let (size,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())").fetch_one(&pool).await?;
        pool.close().await;
        return Ok(size as u64);
    }
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let e = entry?;
        if e.file_name().to_string_lossy().starts_with("hookd.db") {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}
