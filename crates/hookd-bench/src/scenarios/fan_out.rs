//! S1 and S2: every event to one endpoint, or to ten subscribed to the same event,
//! publishing as fast as hookd accepts.

use super::Run;
use crate::measure::{drain, publish_step, sustained, Figure};
use crate::node::{create_webhooks, delete_webhooks, Hookd};

/// Deliveries per second to `endpoints` webhooks on one event.
pub(crate) async fn run(
    r: &Run,
    h: &Hookd,
    name: &'static str,
    endpoints: usize,
    ceiling: f64,
) -> anyhow::Result<Figure> {
    let urls: Vec<String> = (0..endpoints).map(|i| format!("{}/fan-out/{endpoints}/{i}", r.rx)).collect();
    let ids = create_webhooks(&r.http, &h.base, &h.key, &urls).await?;
    let events_url = format!("{}/v1/events", h.base);
    let rate = sustained(&r.sink, r.conc, r.secs, publish_step(r.http.clone(), events_url, h.key.clone())).await;
    drain(&r.sink).await;
    delete_webhooks(&r.http, h, &ids).await?;
    Ok(Figure::throughput(name, rate, ceiling))
}
