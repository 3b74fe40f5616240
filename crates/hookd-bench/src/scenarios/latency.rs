//! S4 and `neighbour`: publish-to-receive latency at a fixed rate, and a healthy
//! endpoint's latency alone and beside one that never answers.

use super::Run;
use crate::measure::{latency_at, Figure};
use crate::node::{create_webhooks, delete_webhooks, Hookd};
use crate::receiver::start_hanging_receiver;

/// S4: latency at `rate` events per second to one endpoint.
pub(crate) async fn s4(r: &Run, h: &Hookd, rate: f64) -> anyhow::Result<Figure> {
    let ids = create_webhooks(&r.http, &h.base, &h.key, &[format!("{}/s4", r.rx)]).await?;
    let measured = latency_at(&r.http, &r.sink, &format!("{}/v1/events", h.base), &h.key, rate, r.secs).await;
    delete_webhooks(&r.http, h, &ids).await?;
    Ok(Figure::latency("S4 latency", rate, measured))
}

/// The healthy endpoint's latency at a modest fixed rate, alone and then beside a
/// webhook whose endpoint never answers.
pub(crate) async fn neighbour(r: &Run, h: &Hookd) -> anyhow::Result<Vec<Figure>> {
    let rate = 200.0;
    let events_url = format!("{}/v1/events", h.base);
    eprintln!("neighbour: healthy endpoint alone, {rate}/s");
    let ids = create_webhooks(&r.http, &h.base, &h.key, &[format!("{}/healthy", r.rx)]).await?;
    let alone = latency_at(&r.http, &r.sink, &events_url, &h.key, rate, r.secs).await;
    let hang = start_hanging_receiver().await?;
    let hanging = create_webhooks(&r.http, &h.base, &h.key, &[format!("{hang}/stuck")]).await?;
    eprintln!("neighbour: healthy endpoint beside a hanging one, {rate}/s");
    let beside = latency_at(&r.http, &r.sink, &events_url, &h.key, rate, r.secs).await;
    delete_webhooks(&r.http, h, &ids).await?;
    delete_webhooks(&r.http, h, &hanging).await?;
    Ok(vec![Figure::latency("healthy alone", rate, alone), Figure::latency("healthy + hanging", rate, beside)])
}
