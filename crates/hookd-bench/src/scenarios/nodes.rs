//! `nodes`: S2 through several hookd node processes on one PostgreSQL database.

use anyhow::Context;

use crate::measure::{drain, publish_step, sustained, Figure};
use crate::node::{create_webhooks, database_url};
use crate::receiver::Sink;

/// S2 (ten webhooks on one event) published round-robin through `n` node processes on
/// one fresh PostgreSQL database.
pub(crate) async fn nodes_fan_out(
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
    let (url, _db) = database_url(dir.path()).await?;
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
