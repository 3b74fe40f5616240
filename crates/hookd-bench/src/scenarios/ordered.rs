//! `ordered`: S1 with per-key ordering. One endpoint with `"ordering": "per_key"`, every
//! event carrying one of 1,000 ordering keys, published as fast as hookd accepts. Each
//! key's deliveries go one at a time, so this measures what the ordering check and the
//! claims it needs cost against S1, where deliveries go straight from the publish.

use anyhow::Context;
use serde_json::json;

use super::Run;
use crate::measure::{drain, futures_like, sustained, Figure};
use crate::node::{delete_webhooks, Hookd};
use crate::receiver::now_us;

/// Distinct ordering keys the events are spread over.
pub(crate) const KEYS: u64 = 1_000;

pub(crate) async fn run(r: &Run, h: &Hookd, ceiling: f64) -> anyhow::Result<Figure> {
    eprintln!("ordered: one endpoint with per-key ordering, {KEYS} keys, publish as fast as hookd accepts");
    let created: serde_json::Value = r
        .http
        .post(format!("{}/v1/webhooks", h.base))
        .bearer_auth(&h.key)
        .json(&json!({"url": format!("{}/ordered", r.rx), "events": ["*"], "ordering": "per_key"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["data"]["id"].as_str().context("webhook id")?.to_owned();
    let (http, url, key) = (r.http.clone(), format!("{}/v1/events", h.base), h.key.clone());
    let step = move |n: u64| -> futures_like::BoxFut {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        Box::pin(async move {
            let body = json!({"event": "bench.ping", "ordering_key": format!("k{}", n % KEYS),
                              "data": {"n": n, "t": now_us()}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
        })
    };
    let rate = sustained(&r.sink, r.conc, r.secs, step).await;
    drain(&r.sink).await;
    delete_webhooks(&r.http, h, &[id]).await?;
    let mut f = Figure::throughput("ordered, 1k keys", rate, ceiling);
    f.note = Some(format!("{KEYS} ordering keys, one endpoint"));
    Ok(f)
}
