//! S3: 100 webhooks on the same event, 50 healthy, 25 answering 500 and 25 never
//! answering; counts what the healthy half receives.

use super::Run;
use crate::measure::{drain, publish_step, sustained, Figure};
use crate::node::{create_webhooks, delete_webhooks, start_hookd};
use crate::receiver::{start_failing_receiver, start_hanging_receiver};

/// A hookd of its own: what the unhealthy half leaves behind must not weigh on the
/// other scenarios. `s2` is the ten-endpoint figure, for the note.
pub(crate) async fn run(r: &Run, ceiling: f64, s2: f64) -> anyhow::Result<Figure> {
    let h = start_hookd(|_| {}).await?;
    eprintln!("S3: 100 endpoints, half failing (500) or hanging; counting the healthy half");
    let (failing, hanging) = (start_failing_receiver().await?, start_hanging_receiver().await?);
    let urls: Vec<String> = (0..100)
        .map(|i| match i % 4 {
            0 => format!("{failing}/s3/{i}"),
            1 => format!("{hanging}/s3/{i}"),
            _ => format!("{}/s3/{i}", r.rx),
        })
        .collect();
    let ids = create_webhooks(&r.http, &h.base, &h.key, &urls).await?;
    let events_url = format!("{}/v1/events", h.base);
    let s3 = sustained(&r.sink, r.conc, r.secs, publish_step(r.http.clone(), events_url, h.key.clone())).await;
    let mut f = Figure::throughput("S3 healthy of 100", s3, ceiling);
    f.note = Some(format!("{:.2} x S2", s3 / s2));
    delete_webhooks(&r.http, &h, &ids).await?;
    drain(&r.sink).await;
    h.stop().await;
    Ok(f)
}
