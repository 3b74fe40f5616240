//! The ceiling: the publisher's own client posting signed bodies straight to the
//! receiver, with no hookd in between. Every other figure is a fraction of it.

use serde_json::json;

use super::Run;
use crate::measure::sustained;
use crate::receiver::now_us;

/// Requests per second the machine carries with no hookd in between.
pub(crate) async fn run(r: &Run) -> f64 {
    eprintln!("ceiling: publisher -> receiver, no hookd");
    let http = r.http.clone();
    let url = format!("{}/direct", r.rx);
    sustained(&r.sink, r.conc, r.secs, move |n| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = json!({"id": "evt_x", "event": "bench.ping", "data": {"n": n, "t": now_us()}}).to_string();
            let sig = hookd_delivery::signing::body_hmac("whsec_bench", body.as_bytes());
            let _ = http.post(&url).header("x-hookd-signature", sig).body(body).send().await;
        }
    })
    .await
}
