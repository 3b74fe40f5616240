//! Operational events: what hookd tells the operators about the webhooks it serves
//! (`webhook.disabled`, `webhook.failing`, `webhook.recovered`, `delivery.exhausted`),
//! delivered to operational webhooks like any event.

use crate::id::{DeliveryId, WebhookId};

/// The owner of operational webhooks and of the events they receive. An operational
/// webhook receives operational events alone, and no other webhook receives them.
pub const OPERATIONS_OWNER: &str = "hookd:operations";

pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
pub const WEBHOOK_FAILING: &str = "webhook.failing";
pub const WEBHOOK_RECOVERED: &str = "webhook.recovered";
pub const DELIVERY_EXHAUSTED: &str = "delivery.exhausted";

/// Every operational event type, with what it means.
pub const OPERATIONAL_EVENTS: [(&str, &str); 4] = [
    (WEBHOOK_DISABLED, "A webhook was disabled: its endpoint answered 410, kept failing, or someone disabled it."),
    (WEBHOOK_FAILING, "A webhook's consecutive failed attempts reached `failing_after`."),
    (WEBHOOK_RECOVERED, "A failing webhook's endpoint accepted a delivery again."),
    (DELIVERY_EXHAUSTED, "A delivery used its whole retry schedule without success."),
];

/// Something operators are told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    Disabled {
        webhook: WebhookId,
        reason: String,
    },
    Failing {
        webhook: WebhookId,
        failure_count: i64,
    },
    Recovered {
        webhook: WebhookId,
    },
    Exhausted {
        webhook: WebhookId,
        delivery: DeliveryId,
        attempts: i32,
        last_status_code: Option<i32>,
        last_error: Option<String>,
    },
}

impl Alert {
    pub fn event_type(&self) -> &'static str {
        match self {
            Alert::Disabled { .. } => WEBHOOK_DISABLED,
            Alert::Failing { .. } => WEBHOOK_FAILING,
            Alert::Recovered { .. } => WEBHOOK_RECOVERED,
            Alert::Exhausted { .. } => DELIVERY_EXHAUSTED,
        }
    }

    pub fn webhook(&self) -> &WebhookId {
        match self {
            Alert::Disabled { webhook, .. }
            | Alert::Failing { webhook, .. }
            | Alert::Recovered { webhook }
            | Alert::Exhausted { webhook, .. } => webhook,
        }
    }
}

/// Where alerts go: the operations service's queue.
pub type AlertSender = tokio::sync::mpsc::UnboundedSender<Alert>;

/// An operational webhook of the configuration (`[[operational_webhooks]]`): it receives
/// the operational events of every workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationalTarget {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
}
