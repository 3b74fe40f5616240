//! Telling operators what happens to the webhooks hookd serves: each alert becomes an
//! operational event (`webhook.disabled`, …) published for the operational webhooks of
//! the webhook's workspace and of the deployment, a log line, and a count in `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use crate::domain::{Alert, NewEvent, Webhook, OPERATIONAL_EVENTS, OPERATIONS_OWNER};
use crate::id::WorkspaceId;
use crate::service::{EventService, ServiceError};
use crate::store::Store;
use crate::time_fmt;

/// Alerts published in one round.
const MAX_BATCH: usize = 500;

#[derive(Clone)]
pub struct OperationsService {
    store: Arc<dyn Store>,
    events: EventService,
    /// The workspace holding the deployment's own operational webhooks, once known.
    deployment: Arc<OnceLock<WorkspaceId>>,
    counts: Arc<[AtomicU64; OPERATIONAL_EVENTS.len()]>,
}

impl OperationsService {
    pub fn new(store: Arc<dyn Store>, events: EventService) -> Self {
        Self { store, events, deployment: Arc::default(), counts: Arc::default() }
    }

    /// Where the deployment's own operational webhooks are: every alert goes there too.
    pub fn set_deployment(&self, workspace: WorkspaceId) {
        let _ = self.deployment.set(workspace);
    }

    /// Publishes the alerts that arrive, until every sender is gone. A publish the store
    /// refuses is tried again, with a growing pause, so that nothing is dropped while
    /// the database is away.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Alert>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            for alert in batch.drain(..) {
                let mut backoff = Duration::from_millis(100);
                while let Err(e) = self.publish(&alert).await {
                    tracing::warn!(error = %crate::error_chain(&e), event = alert.event_type(), "could not publish an operational event; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Operational events published by this process, by type (for `/metrics`).
    pub fn render_metrics(&self, out: &mut String) {
        out.push_str("# HELP hookd_operational_events_total Operational events raised by this node, by type.\n");
        out.push_str("# TYPE hookd_operational_events_total counter\n");
        for ((name, _), n) in OPERATIONAL_EVENTS.iter().zip(self.counts.iter()) {
            out.push_str(&format!("hookd_operational_events_total{{type=\"{name}\"}} {}\n", n.load(Ordering::Relaxed)));
        }
    }

    async fn publish(&self, alert: &Alert) -> Result<(), ServiceError> {
        let Some(webhook) = self.store.find_webhook(alert.webhook()).await? else { return Ok(()) };
        // Operational webhooks are not reported on: their failures would report
        // themselves.
        if webhook.owner.as_deref() == Some(OPERATIONS_OWNER) {
            tracing::warn!(webhook_id = %webhook.id, event = alert.event_type(), "operational webhook is in trouble");
            return Ok(());
        }
        let Some(data) = self.data_of(alert, &webhook).await? else { return Ok(()) };
        log(alert, &webhook);
        let event = NewEvent {
            event: Some(alert.event_type().to_owned()),
            data: Some(data.to_string()),
            occurred_at: Some(time_fmt::format(time_fmt::now())),
            ..NewEvent::default()
        };
        let mut workspaces = vec![webhook.workspace_id.clone()];
        workspaces.extend(self.deployment.get().filter(|d| **d != webhook.workspace_id).cloned());
        for ws in &workspaces {
            self.events.publish_internal(ws, OPERATIONS_OWNER, vec![event.clone()]).await?;
        }
        if let Some(i) = OPERATIONAL_EVENTS.iter().position(|(name, _)| *name == alert.event_type()) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The event's `data`: the webhook it concerns, and what happened.
    async fn data_of(&self, alert: &Alert, w: &Webhook) -> Result<Option<serde_json::Value>, ServiceError> {
        let mut data = json!({
            "workspace_id": w.workspace_id,
            "webhook_id": w.id,
            "owner": w.owner,
            "url": w.url,
            "description": w.description,
        });
        let more = match alert {
            Alert::Disabled { reason, .. } => json!({"reason": reason, "failure_count": w.failure_count}),
            Alert::Failing { failure_count, .. } => json!({
                "failure_count": failure_count,
                "last_delivered_at": w.last_delivered_at.map(time_fmt::format),
            }),
            Alert::Recovered { .. } => json!({}),
            Alert::Exhausted { delivery, attempts, last_status_code, last_error, .. } => {
                let Some(d) = self.store.get_delivery(&w.workspace_id, delivery).await? else { return Ok(None) };
                json!({
                    "delivery_id": d.id,
                    "event_id": d.event_id,
                    "event_type": d.event_type,
                    "attempts": attempts,
                    "last_status_code": last_status_code,
                    "last_error": last_error,
                })
            }
        };
        if let (Some(d), Some(m)) = (data.as_object_mut(), more.as_object()) {
            d.extend(m.clone());
        }
        Ok(Some(data))
    }
}

fn log(alert: &Alert, w: &Webhook) {
    let (ws, id, url) = (&w.workspace_id, &w.id, w.url.as_str());
    match alert {
        Alert::Disabled { reason, .. } => {
            tracing::warn!(workspace_id = %ws, webhook_id = %id, url, reason, "webhook.disabled")
        }
        Alert::Failing { failure_count, .. } => {
            tracing::warn!(workspace_id = %ws, webhook_id = %id, url, failure_count, "webhook.failing")
        }
        Alert::Recovered { .. } => tracing::info!(workspace_id = %ws, webhook_id = %id, url, "webhook.recovered"),
        Alert::Exhausted { delivery, attempts, .. } => {
            tracing::warn!(workspace_id = %ws, webhook_id = %id, delivery_id = %delivery, attempts, url, "delivery.exhausted")
        }
    }
}
