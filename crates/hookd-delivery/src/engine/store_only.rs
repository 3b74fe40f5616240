//! The engine of an API-only node.

use super::*;

/// The engine of a node that serves the API but does not deliver (`--role api`): every
/// new delivery is stored due and unleased, for worker nodes to claim (the store tells
/// them); only test pings are sent from here, at once.
pub struct StoreOnlyEngine {
    store: Arc<dyn Store>,
    directory: Arc<WebhookDirectory>,
    sender: Sender,
    options: EngineOptions,
    metrics: Arc<Metrics>,
}

impl StoreOnlyEngine {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<WebhookDirectory>,
        sender: Sender,
        options: EngineOptions,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self { store, directory, sender, options, metrics })
    }
}

#[async_trait]
impl Engine for StoreOnlyEngine {
    /// A manual retry claimed a delivery for this node: give it back to the workers.
    fn hand_off(&self, jobs: Vec<DeliveryJob>) {
        let store = self.store.clone();
        let owner = self.options.node_id.clone();
        let ids: Vec<DeliveryId> = jobs.into_iter().map(|j| j.delivery_id).collect();
        tokio::spawn(async move {
            // If this fails the lease expires and a worker claims the delivery then.
            if let Err(e) = store.release_deliveries(&owner, &ids, time_fmt::now()).await {
                tracing::warn!(error = %hookd_core::error_chain(&e), "could not hand deliveries to the workers; they resume when the lease expires");
            }
        });
    }

    /// Replayed deliveries: the store announces them to the workers.
    fn wake(&self) {}

    fn refusals(&self) -> Refusals {
        Refusals { all: true, webhooks: Arc::default() }
    }

    async fn send_now(&self, job: DeliveryJob) -> Result<Attempt, ServiceError> {
        send_once(&self.store, &self.directory, &self.sender, &self.metrics, &self.options, job).await
    }
}
