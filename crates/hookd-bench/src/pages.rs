//! `pages`: how long the dashboard and the portal take to render with a large log.
//!
//! Seeds a SQLite database with 10,000 webhooks and 1,000,000 deliveries (each with an
//! attempt, spread over the last 7 days; one webhook has 100,000 of them, 1 in 20
//! attempts failed), then starts hookd on it and times each page, signed in as a
//! browser would be.
//!
//!   cargo run --release -p hookd-bench --bin pages -- [--webhooks 10000] [--deliveries 1000000]

#[path = "seed.rs"]
mod seed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hookd::app::App;
use hookd::config::{Config, Settings};
use hookd_core::crypto::{EncryptionKey, SecretCipher};
use hookd_core::domain::{Delivery, Event, GeneratedKey, Scope, StatsTally, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{DeliveryId, EventId, WebhookId};
use hookd_core::store::{NewEventRecord, Store};
use hookd_core::time_fmt;

const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

#[derive(Debug, Parser)]
#[command(about = "Time the dashboard's pages over a large delivery log")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    webhooks: usize,
    #[arg(long, default_value_t = 1_000_000)]
    deliveries: usize,
    /// Requests per page.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("hookd.db").display());
    let started = Instant::now();
    let (token, hot, sample) = seed(&url, &args).await?;
    eprintln!(
        "pages: seeded {} webhooks and {} deliveries in {:.0?}",
        args.webhooks,
        args.deliveries,
        started.elapsed()
    );

    let config =
        Config { database_url: url, log_level: "warn".into(), encryption_key: Some(KEY.into()), ..Config::default() };
    let settings = Settings::from_config(config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = App::build(&settings).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async move {
        let _ = rx.await;
    }));

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = sign_in(&http, &base, &token).await?;
    let portal = portal_cookie(&http, &base, &token).await?;
    let pages: Vec<(&str, String, &str)> = vec![
        ("webhook list, first page", "/dashboard/webhooks".into(), &cookie),
        ("webhook list, a later page", format!("/dashboard/webhooks?cursor={}", sample.webhook), &cookie),
        ("busiest webhook (100k deliveries), 24 h", format!("/dashboard/webhooks/{hot}"), &cookie),
        ("busiest webhook, 7 days", format!("/dashboard/webhooks/{hot}?range=7d"), &cookie),
        ("busiest webhook, failed only", format!("/dashboard/webhooks/{hot}?status=failed"), &cookie),
        ("busiest webhook, a status it has none of", format!("/dashboard/webhooks/{hot}?status=cancelled"), &cookie),
        ("busiest webhook, pending only (it has none)", format!("/dashboard/webhooks/{hot}?status=pending"), &cookie),
        ("busiest webhook, sending only (it has none)", format!("/dashboard/webhooks/{hot}?status=in_flight"), &cookie),
        (
            "busiest webhook, an event type it never got",
            format!("/dashboard/webhooks/{hot}?event_type=test.ping"),
            &cookie,
        ),
        ("busiest webhook, by event type", format!("/dashboard/webhooks/{hot}?event_type=link.deleted"), &cookie),
        (
            "busiest webhook, an older page",
            format!("/dashboard/webhooks/{hot}?cursor={}", sample.hot_delivery),
            &cookie,
        ),
        ("delivery log refresh", format!("/dashboard/webhooks/{hot}/deliveries"), &cookie),
        ("a delivery and its attempt", format!("/dashboard/deliveries/{}", sample.delivery), &cookie),
        ("an event fanned out to every webhook", format!("/dashboard/events?id={}", sample.event), &cookie),
        ("API keys", "/dashboard/settings/keys".into(), &cookie),
        ("workspaces", "/dashboard/workspaces".into(), &cookie),
        ("portal: webhook list", "/portal/webhooks".into(), &portal),
    ];
    println!("{:<44} {:>9} {:>9} {:>9}", "page", "p50 ms", "max ms", "KiB");
    let mut worst = Duration::ZERO;
    for (name, path, cookie) in pages {
        let mut times = Vec::with_capacity(args.repeat);
        let mut size = 0;
        for _ in 0..args.repeat {
            let t = Instant::now();
            let res = http.get(format!("{base}{path}")).header("cookie", cookie).send().await?;
            let status = res.status();
            let body = res.bytes().await?;
            times.push(t.elapsed());
            size = body.len();
            anyhow::ensure!(status.is_success(), "{path} answered {status}");
        }
        times.sort();
        worst = worst.max(*times.last().unwrap());
        println!(
            "{name:<44} {:>9.1} {:>9.1} {:>9.1}",
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap()),
            size as f64 / 1024.0
        );
    }
    println!("slowest single render: {:.1} ms", ms(worst));
    let _ = tx.send(());
    let _ = task.await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Sample {
    webhook: WebhookId,
    hot_delivery: DeliveryId,
    delivery: DeliveryId,
    event: EventId,
}

async fn seed(url: &str, args: &Args) -> anyhow::Result<(String, WebhookId, Sample)> {
    let sqlite = hookd_store_sqlite::open(url, &Default::default()).await?;
    hookd_store_sqlite::migrate(&sqlite).await?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let now = time_fmt::now();
    let ws = Workspace::new("default", now);
    let key = GeneratedKey::new(ws.id.clone(), "hk_live", "bench".into(), vec![Scope::All, Scope::Admin], false, now);
    store.bootstrap(&ws, &key.key).await?;
    let cipher = SecretCipher::new(&EncryptionKey::from_base64(KEY)?);
    let mut webhooks = Vec::with_capacity(args.webhooks);
    for i in 0..args.webhooks {
        let id = WebhookId::generate();
        let w = Webhook {
            secrets: WebhookSecrets {
                current: cipher.seal(hookd_core::domain::generate_signing_secret().as_bytes(), id.as_str()),
                previous: None,
                previous_expires_at: None,
                public_key: None,
            },
            signing: hookd_core::domain::SigningScheme::Hmac,
            id,
            number: 0,
            workspace_id: ws.id.clone(),
            created_by: Some(key.key.id.clone()),
            owner: (i % 10 == 0).then(|| format!("acct_{}", i % 100)),
            url: format!("https://hooks{i}.example.com/webhooks"),
            events: vec!["link.created".into(), "link.deleted".into()],
            description: Some(format!("endpoint {i}")),
            enabled: true,
            disabled_reason: None,
            failure_count: 0,
            delivery_attempts: 0,
            last_delivered_at: None,
            metadata: Default::default(),
            rate_limit: None,
            headers: None,
            filter: None,
            created_at: now,
            updated_at: now,
            ordering: Default::default(),
            channels: Vec::new(),
            uid: None,
            protocol: Default::default(),
            send_traceparent: false,
        };
        store.insert_webhook(&w).await?;
        webhooks.push(w.id);
    }
    // One webhook gets a tenth of the log; the rest is fanned out to every webhook.
    let hot = webhooks[0].clone();
    let hot_share = args.deliveries / 10;
    let fanout_events = (args.deliveries - hot_share) / args.webhooks.max(1);
    let week = time::Duration::days(7);
    let total_events = fanout_events + hot_share;
    let every = (total_events / fanout_events.max(1)).max(1);
    let mut sample_event = None;
    let mut sample_delivery = None;
    let mut hot_middle = None;
    let mut made = 0usize;
    let mut batch: Vec<NewEventRecord> = Vec::new();
    let mut pending = 0usize;
    let bar = hookd::progress::items(total_events as u64, "pages: storing events");
    for n in 0..total_events {
        let at = now - week + week * (n as f64 / total_events as f64);
        // The fanned-out events are spread evenly among the busiest webhook's own.
        let targets: &[WebhookId] =
            if n % every == 0 && n / every < fanout_events { &webhooks } else { std::slice::from_ref(&hot) };
        let event = Event {
            id: EventId::generate(),
            workspace_id: ws.id.clone(),
            event_type: if n % 3 == 0 { "link.deleted" } else { "link.created" }.into(),
            producer_id: None,
            owner: None,
            data: format!(r#"{{"link":{{"id":"lnk_{n}","url":"https://example.com/{n}"}}}}"#),
            occurred_at: None,
            created_at: at,
            deliveries: targets.len() as i64,
            ordering_key: None,
            channels: Vec::new(),
            tags: Vec::new(),
            erased_at: None,
            trace_parent: None,
        };
        let deliveries: Vec<Delivery> = targets.iter().map(|w| Delivery::new_in_flight(&event, w, at)).collect();
        if targets.len() > 1 && sample_event.is_none() {
            sample_event = Some(event.id.clone());
            sample_delivery = Some(deliveries[1].id.clone());
        }
        if targets.len() == 1 && n > total_events / 2 && hot_middle.is_none() {
            hot_middle = Some(deliveries[0].id.clone());
        }
        pending += deliveries.len();
        batch.push(NewEventRecord { event, deliveries, lease: None });
        if pending >= 5_000 || n + 1 == total_events {
            made += pending;
            record(&*store, std::mem::take(&mut batch)).await?;
            pending = 0;
            bar.set_position(n as u64 + 1);
        }
    }
    bar.finish_and_clear();
    eprintln!("pages: {made} deliveries stored");
    sqlite.close().await;
    let sample = Sample {
        webhook: webhooks[args.webhooks / 2].clone(),
        hot_delivery: hot_middle.context("no middle delivery of the busiest webhook")?,
        delivery: sample_delivery.context("no fanned-out delivery")?,
        event: sample_event.context("no fanned-out event")?,
    };
    Ok((key.token, hot, sample))
}

/// Stores a batch of events with their deliveries, then one attempt for each: 1 in 20
/// failed (a 500), the rest succeeded, with a latency between 3 and 400 ms.
async fn record(store: &dyn Store, batch: Vec<NewEventRecord>) -> anyhow::Result<()> {
    store.insert_events(&batch).await?;
    let results = seed::outcomes(&batch);
    let far = time_fmt::now() - time::Duration::days(365);
    let mut tally = StatsTally::default();
    for chunk in results.chunks(2_000) {
        store.record_results(chunk, far).await?;
        for r in chunk {
            tally.add(&r.webhook_id, r.attempt.as_ref().expect("an attempt"));
        }
    }
    store.add_webhook_stats(&tally.take()).await?;
    Ok(())
}

async fn sign_in(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/dashboard/sign-in")).send().await?;
    let pre = cookie_of(&form, "hookd_sign_in")?;
    let text = form.text().await?;
    let csrf =
        text.split(r#"name="csrf" value=""#).nth(1).and_then(|s| s.split('"').next()).context("no CSRF field")?;
    let res = http
        .post(format!("{base}/dashboard/sign-in"))
        .header("cookie", format!("hookd_sign_in={pre}"))
        .form(&[("csrf", csrf), ("api_key", token)])
        .send()
        .await?;
    Ok(format!("hookd_session={}", cookie_of(&res, "hookd_session")?))
}

async fn portal_cookie(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let res = http
        .post(format!("{base}/v1/portal/sessions"))
        .bearer_auth(token)
        .json(&serde_json::json!({"owner": "acct_0"}))
        .send()
        .await?;
    let v: serde_json::Value = res.json().await?;
    let url = v["data"]["url"].as_str().context("no portal url")?;
    let opened = http.get(url).send().await?;
    Ok(format!("hookd_portal={}", cookie_of(&opened, "hookd_portal")?))
}

fn cookie_of(res: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned()))
        .with_context(|| format!("no {name} cookie"))
}
