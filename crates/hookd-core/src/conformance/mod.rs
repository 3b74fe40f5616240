//! The conformance suite every [`Store`] backend runs from its own `tests/`.
//!
//! Each check takes a freshly migrated, empty store. A backend declares them all as
//! tests with [`store_conformance_tests!`](crate::store_conformance_tests), one test
//! per check.
//!
//! `accounts.rs` holds the checks of workspaces, keys, webhooks and settings;
//! `deliveries.rs` those of events and deliveries; `web.rs` those of the dashboard's
//! sessions, portal links and statistics; this file the shared fixtures.

use std::time::Duration;

use crate::crypto::Sealed;
use crate::domain::{
    Attempt, Delivery, DeliveryStatus, Event, GeneratedKey, Scope, SigningScheme, Webhook, WebhookSecrets, Workspace,
};
use crate::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use crate::store::{Claim, DeliveryFilter, DeliveryResult, InsertedEvent, NewEventRecord, NextStep, Recorded};
use crate::store::{
    IdempotencyClaim, IdempotencyRequest, PageRequest, Store, StoreError, StoredResponse, WebhookFilter,
    WebhookSettings, WorkspaceFilter,
};
use crate::time_fmt;

mod accounts;
mod deliveries;
mod records;
mod retention;
mod web;

pub use accounts::*;
pub use deliveries::*;
pub use records::*;
pub use retention::*;
pub use web::*;

/// Declares one test per check, so that one failing check never hides the others.
///
/// `$make` is an async function returning `Option<(Arc<dyn Store>, guard)>`: a freshly
/// migrated, empty store, and whatever must live until the check ends (a temp
/// directory; a database dropped when the guard is); `None` skips the check. Attributes
/// after it (`#[ignore = "…"]`) go on every test.
///
/// ```text
/// hookd_core::store_conformance_tests!(fresh_store);
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:path $(, #[$attr:meta])* $(,)?) => {
        $crate::store_conformance_tests!(@each $make, [$(#[$attr])*],
            bootstrap_happens_once
            workspace_names_are_unique
            workspaces_have_external_ids_and_delete_with_everything_in_them
            api_keys_round_trip_and_revoke
            imported_keys_are_found_by_their_hash
            webhooks_round_trip
            webhook_numbers_are_never_reused
            webhook_pages_are_newest_first_and_filtered
            settings_and_secrets_are_written_separately
            idempotency_claims
            settings_are_claimed_once
            events_publish_once_per_producer_id
            deliveries_are_claimed_by_lease
            claims_exclude_every_listed_webhook
            results_move_deliveries_and_counters
            gone_disables_and_holds
            retry_replay_and_prune
            replays_take_their_window_by_creation_time
            the_log_filters_by_every_status_event_type_and_event
            an_unleased_retry_is_due_for_any_node
            request_reservations_never_pass_the_limit
            web_sessions_round_trip_and_end
            portal_links_open_once
            attempts_are_counted_by_hour_and_latency
            ordered_deliveries_go_one_at_a_time_per_key
            records_are_found_by_id_or_uid_and_paged_both_ways
            events_are_listed_newest_first_by_owner_type_channel_and_tag
            disabled_webhooks_hold_their_deliveries_until_re_enabled
            re_enabling_without_deliver_held_cancels_and_races_end_in_delivery
            closing_a_webhook_reaches_every_open_delivery_and_no_other
            retention_prunes_by_status_and_age_and_keeps_what_is_still_retried
            erasure_blanks_payloads_and_cancels_what_was_not_sent
            failing_and_recovery_are_reported_once
        );
    };
    (@each $make:path, $attrs:tt, $($check:ident)*) => {
        $( $crate::store_conformance_tests!(@one $make, $attrs, $check); )*
    };
    (@one $make:path, [$(#[$attr:meta])*], $check:ident) => {
        #[::tokio::test]
        $(#[$attr])*
        async fn $check() {
            let Some((store, _guard)) = $make().await else { return };
            $crate::conformance::$check(store).await;
        }
    };
}

fn workspace(name: &str) -> Workspace {
    Workspace::new(name, time_fmt::now())
}

fn key(ws: &WorkspaceId, owner_scoped: bool) -> GeneratedKey {
    GeneratedKey::new(
        ws.clone(),
        "hk_test",
        "k".into(),
        vec![Scope::WebhooksRead, Scope::EventsWrite],
        owner_scoped,
        time_fmt::now(),
    )
}

fn webhook(ws: &WorkspaceId, created_by: &GeneratedKey, url: &str) -> Webhook {
    let now = time_fmt::now();
    Webhook {
        id: WebhookId::generate(),
        number: 0,
        workspace_id: ws.clone(),
        created_by: Some(created_by.key.id.clone()),
        owner: created_by.key.acting_owner(),
        url: url.into(),
        events: vec!["link.created".into(), "link.*".into()],
        description: Some("d".into()),
        enabled: true,
        disabled_reason: None,
        failure_count: 0,
        delivery_attempts: 0,
        last_delivered_at: None,
        metadata: [("team".to_owned(), "growth".to_owned())].into(),
        rate_limit: Some(5),
        secrets: WebhookSecrets {
            current: Sealed(vec![1, 2, 3]),
            previous: None,
            previous_expires_at: None,
            public_key: None,
        },
        signing: SigningScheme::Hmac,
        headers: None,
        filter: None,
        created_at: now,
        updated_at: now,
        ordering: Default::default(),
        channels: Vec::new(),
        uid: None,
        protocol: Default::default(),
        send_traceparent: false,
    }
}

async fn setup(store: &dyn Store) -> (Workspace, GeneratedKey) {
    let ws = workspace("acme");
    let k = key(&ws.id, false);
    assert!(store.bootstrap(&ws, &k.key).await.unwrap());
    (ws, k)
}

/// A fixture for a backend's own tests too: a `link.created` event of `ws`, published
/// now, not yet stored, with no deliveries counted.
pub fn event(ws: &WorkspaceId, producer_id: Option<&str>) -> Event {
    Event {
        owner: None,
        id: EventId::generate(),
        workspace_id: ws.clone(),
        event_type: "link.created".into(),
        producer_id: producer_id.map(str::to_owned),
        data: "{\"n\":1}".into(),
        occurred_at: None,
        created_at: time_fmt::now(),
        deliveries: 0,
        ordering_key: None,
        channels: Vec::new(),
        tags: Vec::new(),
        erased_at: None,
        trace_parent: crate::trace::TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    }
}

fn delivery(e: &Event, w: &WebhookId) -> Delivery {
    Delivery {
        id: DeliveryId::generate(),
        workspace_id: e.workspace_id.clone(),
        webhook_id: w.clone(),
        event_id: e.id.clone(),
        event_type: e.event_type.clone(),
        status: DeliveryStatus::InFlight,
        attempts: 0,
        schedule_base: 0,
        next_attempt_at: Some(e.created_at),
        last_status_code: None,
        last_error: None,
        created_at: e.created_at,
        updated_at: e.created_at,
        ordering_key: None,
    }
}

fn record(e: Event, webhooks: &[&WebhookId], lease: Option<(&str, time::OffsetDateTime)>) -> NewEventRecord {
    let deliveries: Vec<Delivery> = webhooks.iter().map(|w| delivery(&e, w)).collect();
    NewEventRecord {
        event: Event { deliveries: deliveries.len() as i64, ..e },
        deliveries,
        lease: lease.map(|(o, t)| (o.to_owned(), t)),
    }
}

fn attempt(d: &DeliveryId, n: i32, code: i32) -> Attempt {
    Attempt {
        delivery_id: d.clone(),
        attempt: n,
        started_at: time_fmt::now(),
        duration_ms: 3,
        status_code: Some(code),
        response: Some("ok".into()),
        error_kind: (code >= 300).then(|| "http_status".to_owned()),
        error_message: (code >= 300).then(|| format!("answered {code}")),
        request_headers: vec![
            ("webhook-id".into(), "evt_1".into()),
            ("content-type".into(), "application/json".into()),
        ],
        response_headers: vec![("x-seen".into(), "1".into()), ("x-seen".into(), "2".into())],
    }
}

async fn with_webhook(store: &dyn Store) -> (Workspace, Webhook) {
    let (ws, k) = setup(store).await;
    let mut w = webhook(&ws.id, &k, "https://example.com/hook");
    w.number = store.insert_webhook(&w).await.unwrap();
    (ws, w)
}

/// A fixture for a backend's own tests: a workspace, a webhook, and one event with
/// `n` deliveries to it, in flight under a lease held by `node`.
pub async fn webhook_with_deliveries(store: &dyn Store, n: usize, node: &str) -> (Workspace, Webhook, Vec<DeliveryId>) {
    let (ws, w) = with_webhook(store).await;
    let targets = vec![&w.id; n];
    let rec = record(event(&ws.id, None), &targets, Some((node, time_fmt::now() + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let ids = rec.deliveries.iter().map(|d| d.id.clone()).collect();
    (ws, w, ids)
}
