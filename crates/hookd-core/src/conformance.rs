//! The conformance suite every [`Store`] backend runs from its own `tests/`.
//!
//! Each check takes a freshly migrated, empty store. A backend declares them all as
//! tests with [`store_conformance_tests!`](crate::store_conformance_tests), one test
//! per check.

use std::sync::Arc;
use std::time::Duration;

use crate::crypto::Sealed;
use crate::domain::{
    Attempt, Delivery, DeliveryStatus, Event, GeneratedKey, Scope, Webhook, WebhookSecrets, Workspace,
};
use crate::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use crate::store::{Claim, DeliveryFilter, DeliveryResult, InsertedEvent, NewEventRecord, NextStep};
use crate::store::{
    IdempotencyClaim, IdempotencyRequest, PageRequest, Store, StoreError, StoredResponse, WebhookFilter,
    WebhookSettings,
};
use crate::time_fmt;

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
            api_keys_round_trip_and_revoke
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
            gone_disables_and_cancels
            retry_replay_and_prune
            an_unleased_retry_is_due_for_any_node
            request_reservations_never_pass_the_limit
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
    Workspace { id: WorkspaceId::generate(), name: name.into(), created_at: time_fmt::now() }
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
        secrets: WebhookSecrets { current: Sealed(vec![1, 2, 3]), previous: None, previous_expires_at: None },
        created_at: now,
        updated_at: now,
    }
}

async fn setup(store: &dyn Store) -> (Workspace, GeneratedKey) {
    let ws = workspace("acme");
    let k = key(&ws.id, false);
    assert!(store.bootstrap(&ws, &k.key).await.unwrap());
    (ws, k)
}

pub async fn bootstrap_happens_once(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    let (ws, k) = setup(&*store).await;
    let other = workspace("other");
    assert!(!store.bootstrap(&other, &key(&other.id, false).key).await.unwrap(), "second bootstrap must do nothing");
    assert_eq!(store.list_workspaces().await.unwrap(), vec![ws.clone()]);
    assert_eq!(store.get_api_key(&k.key.id).await.unwrap().unwrap(), k.key);
}

pub async fn workspace_names_are_unique(store: Arc<dyn Store>) {
    let (ws, _) = setup(&*store).await;
    let err = store.create_workspace(&workspace("acme")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "workspace_name" }), "{err:?}");
    let b = workspace("beta");
    store.create_workspace(&b).await.unwrap();
    assert_eq!(store.find_workspace_by_name("beta").await.unwrap().unwrap(), b);
    assert_eq!(store.get_workspace(&ws.id).await.unwrap().unwrap(), ws);
    assert!(store.get_workspace(&WorkspaceId::generate()).await.unwrap().is_none());
}

pub async fn api_keys_round_trip_and_revoke(store: Arc<dyn Store>) {
    let (ws, first) = setup(&*store).await;
    let k = key(&ws.id, true);
    store.create_api_key(&k.key).await.unwrap();
    let err = store.create_api_key(&k.key).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "api_key_id" }), "{err:?}");
    let got = store.get_api_key(&k.key.id).await.unwrap().unwrap();
    assert_eq!(got, k.key);
    assert!(got.owner_scoped);
    assert_eq!(store.list_api_keys(Some(&ws.id)).await.unwrap().len(), 2);
    assert_eq!(store.list_api_keys(Some(&WorkspaceId::generate())).await.unwrap().len(), 0);

    let at = time_fmt::now();
    store.touch_api_key(&first.key.id, at).await.unwrap();
    assert_eq!(store.get_api_key(&first.key.id).await.unwrap().unwrap().last_used_at, Some(at));
    assert!(store.revoke_api_key(&k.key.id, at).await.unwrap());
    assert!(!store.revoke_api_key(&k.key.id, at).await.unwrap(), "revoking twice reports false");
    assert_eq!(store.get_api_key(&k.key.id).await.unwrap().unwrap().revoked_at, Some(at));
}

pub async fn webhooks_round_trip(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let mut w = webhook(&ws.id, &k, "https://example.com/a");
    w.number = store.insert_webhook(&w).await.unwrap();
    assert_eq!(store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap(), w);
    // Another workspace cannot see it.
    let other = workspace("other");
    store.create_workspace(&other).await.unwrap();
    assert!(store.get_webhook(&other.id, &w.id).await.unwrap().is_none());
    assert!(!store.delete_webhook(&other.id, &w.id).await.unwrap());
    assert_eq!(store.find_webhooks_by_url(&ws.id, "https://example.com/a").await.unwrap(), vec![w.clone()]);
    assert!(store.find_webhooks_by_url(&ws.id, "https://example.com/b").await.unwrap().is_empty());
    assert!(store.delete_webhook(&ws.id, &w.id).await.unwrap());
    assert!(store.get_webhook(&ws.id, &w.id).await.unwrap().is_none());
    assert!(!store.delete_webhook(&ws.id, &w.id).await.unwrap());
}

pub async fn webhook_numbers_are_never_reused(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let other = workspace("other");
    store.create_workspace(&other).await.unwrap();
    let mut numbers = Vec::new();
    for i in 0..3 {
        let mut w = webhook(&ws.id, &k, &format!("https://example.com/{i}"));
        w.number = store.insert_webhook(&w).await.unwrap();
        assert!(w.number > 0, "numbers are positive");
        assert_eq!(store.get_webhook_by_number(&ws.id, w.number).await.unwrap().as_ref(), Some(&w));
        assert!(store.get_webhook_by_number(&other.id, w.number).await.unwrap().is_none(), "numbers are per workspace");
        numbers.push((w.number, w.id));
    }
    assert!(numbers.windows(2).all(|p| p[0].0 < p[1].0), "numbers grow: {numbers:?}");
    // Deleting the newest must not let its number be handed out again.
    let (last, last_id) = numbers.last().unwrap().clone();
    assert!(store.delete_webhook(&ws.id, &last_id).await.unwrap());
    assert!(store.get_webhook_by_number(&ws.id, last).await.unwrap().is_none());
    let w = webhook(&other.id, &k, "https://example.com/next");
    let next = store.insert_webhook(&w).await.unwrap();
    assert!(next > last, "number {next} reused after {last} was deleted");
}

pub async fn webhook_pages_are_newest_first_and_filtered(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let owner = key(&ws.id, true);
    store.create_api_key(&owner.key).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let by = if i % 2 == 0 { &k } else { &owner };
        let mut w = webhook(&ws.id, by, &format!("https://example.com/{i}"));
        w.number = store.insert_webhook(&w).await.unwrap();
        ids.push(w.id);
    }
    let all = WebhookFilter::default();
    let p1 = store.list_webhooks(&ws.id, &all, &PageRequest { limit: 2, before: None }).await.unwrap();
    assert_eq!(p1.iter().map(|w| &w.id).collect::<Vec<_>>(), vec![&ids[4], &ids[3]]);
    let p2 = store.list_webhooks(&ws.id, &all, &PageRequest { limit: 10, before: Some(ids[3].clone()) }).await.unwrap();
    assert_eq!(p2.iter().map(|w| &w.id).collect::<Vec<_>>(), vec![&ids[2], &ids[1], &ids[0]]);
    let mine = WebhookFilter { created_by: Some(owner.key.id.clone()) };
    let p = store.list_webhooks(&ws.id, &mine, &PageRequest { limit: 10, before: None }).await.unwrap();
    assert_eq!(p.iter().map(|w| &w.id).collect::<Vec<_>>(), vec![&ids[3], &ids[1]]);
}

pub async fn settings_and_secrets_are_written_separately(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let mut w = webhook(&ws.id, &k, "https://example.com/a");
    w.failure_count = 3;
    w.delivery_attempts = 9;
    w.number = store.insert_webhook(&w).await.unwrap();
    let later = time_fmt::now() + Duration::from_secs(1);
    let settings = WebhookSettings {
        url: "https://example.com/b".into(),
        events: vec!["*".into()],
        description: None,
        enabled: false,
        disabled_reason: Some("manual".into()),
        metadata: Default::default(),
        rate_limit: None,
        reset_failures: false,
        updated_at: later,
    };
    assert!(store.update_webhook_settings(&ws.id, &w.id, &settings).await.unwrap());
    let got = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((got.url.as_str(), got.enabled, got.description.as_deref()), ("https://example.com/b", false, None));
    assert_eq!((got.failure_count, got.delivery_attempts), (3, 9), "settings must not touch counters");
    assert_eq!(got.secrets, w.secrets, "settings must not touch secrets");
    assert_eq!(got.updated_at, later);

    let secrets = WebhookSecrets {
        current: Sealed(vec![9]),
        previous: Some(w.secrets.current.clone()),
        previous_expires_at: Some(later),
    };
    assert!(store.update_webhook_secrets(&ws.id, &w.id, &secrets, later).await.unwrap());
    let got = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!(got.secrets, secrets);
    assert_eq!(got.url, "https://example.com/b");
    assert!(!store.update_webhook_secrets(&ws.id, &WebhookId::generate(), &secrets, later).await.unwrap());
}

pub async fn idempotency_claims(store: Arc<dyn Store>) {
    let (_, k) = setup(&*store).await;
    let now = time_fmt::now();
    let req = |hash: &'static [u8], now| IdempotencyRequest {
        api_key_id: &k.key.id,
        key: "abc",
        request_hash: hash,
        now,
        expired_before: now - Duration::from_secs(86_400),
        stale_before: now - Duration::from_secs(60),
    };
    assert_eq!(store.begin_idempotent(&req(b"h1", now)).await.unwrap(), IdempotencyClaim::Acquired);
    assert_eq!(store.begin_idempotent(&req(b"h1", now)).await.unwrap(), IdempotencyClaim::InFlight);
    // A claim whose request died is taken over.
    let much_later = now + Duration::from_secs(120);
    assert_eq!(store.begin_idempotent(&req(b"h1", much_later)).await.unwrap(), IdempotencyClaim::Acquired);
    let resp = StoredResponse { status: 201, body: "{\"x\":1}".into() };
    store.complete_idempotent(&k.key.id, "abc", &resp).await.unwrap();
    assert_eq!(
        store.begin_idempotent(&req(b"h2", much_later)).await.unwrap(),
        IdempotencyClaim::Completed { request_hash: b"h1".to_vec(), response: resp.clone() }
    );
    // After 24 h the key may be used afresh.
    let next_day = much_later + Duration::from_secs(86_401);
    assert_eq!(store.begin_idempotent(&req(b"h2", next_day)).await.unwrap(), IdempotencyClaim::Acquired);
    store.abandon_idempotent(&k.key.id, "abc").await.unwrap();
    assert_eq!(store.begin_idempotent(&req(b"h3", next_day)).await.unwrap(), IdempotencyClaim::Acquired);
    assert_eq!(store.prune_idempotency(next_day + Duration::from_secs(1)).await.unwrap(), 1);
}

pub async fn settings_are_claimed_once(store: Arc<dyn Store>) {
    assert_eq!(store.claim_setting("key_fingerprint", "aaa").await.unwrap(), "aaa");
    assert_eq!(store.claim_setting("key_fingerprint", "bbb").await.unwrap(), "aaa", "the first value stays");
    assert_eq!(store.claim_setting("other", "bbb").await.unwrap(), "bbb");
}

fn event(ws: &WorkspaceId, producer_id: Option<&str>) -> Event {
    Event {
        id: EventId::generate(),
        workspace_id: ws.clone(),
        event_type: "link.created".into(),
        producer_id: producer_id.map(str::to_owned),
        data: "{\"n\":1}".into(),
        occurred_at: None,
        created_at: time_fmt::now(),
        deliveries: 0,
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

pub async fn events_publish_once_per_producer_id(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let a = record(event(&ws.id, Some("p-1")), &[&w.id], None);
    let dup_in_batch = record(event(&ws.id, Some("p-1")), &[&w.id], None);
    let plain = record(event(&ws.id, None), &[&w.id, &w.id], None);
    let out = store.insert_events(&[a.clone(), dup_in_batch, plain.clone()]).await.unwrap();
    assert_eq!(out[0], InsertedEvent::Created);
    assert_eq!(out[1], InsertedEvent::Existing(a.event.clone()));
    assert_eq!(out[2], InsertedEvent::Created);
    let again = store.insert_events(&[record(event(&ws.id, Some("p-1")), &[&w.id], None)]).await.unwrap();
    assert_eq!(again, vec![InsertedEvent::Existing(a.event.clone())]);
    assert_eq!(store.get_event(&ws.id, &plain.event.id, &Default::default()).await.unwrap().unwrap(), plain.event);
    let all = store
        .list_deliveries(
            &ws.id,
            &DeliveryFilter { webhook_id: Some(w.id.clone()), ..Default::default() },
            &PageRequest { limit: 10, before: None },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "the duplicate wrote no deliveries");
}

pub async fn deliveries_are_claimed_by_lease(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let now = time_fmt::now();
    let live = now + Duration::from_secs(60);
    let rec = record(event(&ws.id, None), &[&w.id, &w.id], Some(("node-a", live)));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    fn claim<'a>(owner: &'a str, at: time::OffsetDateTime, exclude: &'a [WebhookId]) -> Claim<'a> {
        Claim { owner, now: at, lease_until: at + Duration::from_secs(60), limit: 10, exclude_webhooks: exclude }
    }
    assert!(
        store.claim_due_deliveries(&claim("node-b", now, &[])).await.unwrap().is_empty(),
        "live leases are not claimed"
    );
    // After the lease expires another node takes them, with their event.
    let later = live + Duration::from_secs(1);
    let got = store.claim_due_deliveries(&claim("node-b", later, &[])).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, rec.event);
    assert_eq!(got[0].0.status, DeliveryStatus::InFlight);
    // Released deliveries are due at once, except for excluded webhooks.
    let ids: Vec<DeliveryId> = got.iter().map(|(d, _)| d.id.clone()).collect();
    store.release_deliveries("node-b", &ids, later).await.unwrap();
    assert!(store.next_due_at().await.unwrap().is_some_and(|t| t <= later));
    let excluded = [w.id.clone()];
    assert!(store.claim_due_deliveries(&claim("node-c", later, &excluded)).await.unwrap().is_empty());
    let got = store.claim_due_deliveries(&claim("node-c", later, &[])).await.unwrap();
    assert_eq!(got.len(), 2);
    // Renewed leases hold; release_all_leases frees everything.
    store.renew_leases("node-c", &ids, later + Duration::from_secs(3600)).await.unwrap();
    assert!(store
        .claim_due_deliveries(&claim("node-d", later + Duration::from_secs(120), &[]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.release_all_leases(later).await.unwrap(), 2);
    assert_eq!(store.claim_due_deliveries(&claim("node-d", later, &[])).await.unwrap().len(), 2);
}

/// A node with thousands of saturated webhooks excludes every one of them, not the first
/// few hundred.
pub async fn claims_exclude_every_listed_webhook(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    // Leased to a node whose lease has run out: due for any node.
    let expired = Some(("node-gone", time_fmt::now()));
    store.insert_events(&[record(event(&ws.id, None), &[&w.id], expired)]).await.unwrap();
    let now = time_fmt::now() + Duration::from_secs(1);
    let mut excluded: Vec<WebhookId> = (0..5_000).map(|_| WebhookId::generate()).collect();
    excluded.push(w.id.clone());
    let claim = |exclude| Claim {
        owner: "node-a",
        now,
        lease_until: now + Duration::from_secs(60),
        limit: 10,
        exclude_webhooks: exclude,
    };
    assert!(store.claim_due_deliveries(&claim(&excluded)).await.unwrap().is_empty());
    assert_eq!(store.claim_due_deliveries(&claim(&excluded[..5_000])).await.unwrap().len(), 1);
}

pub async fn results_move_deliveries_and_counters(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let rec =
        record(event(&ws.id, None), &[&w.id, &w.id, &w.id], Some(("n", time_fmt::now() + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let [a, b, c] = [0, 1, 2].map(|i| rec.deliveries[i].id.clone());
    let retry_at = time_fmt::now() + Duration::from_secs(30);
    let results = vec![
        DeliveryResult {
            delivery_id: a.clone(),
            webhook_id: w.id.clone(),
            attempt: Some(attempt(&a, 1, 500)),
            next: NextStep::RetryAt(retry_at),
        },
        DeliveryResult {
            delivery_id: b.clone(),
            webhook_id: w.id.clone(),
            attempt: Some(attempt(&b, 1, 503)),
            next: NextStep::Failed,
        },
        DeliveryResult { delivery_id: c.clone(), webhook_id: w.id.clone(), attempt: None, next: NextStep::Cancelled },
    ];
    let far = time_fmt::now() - Duration::from_secs(86_400);
    assert!(store.record_results(&results, far).await.unwrap().is_empty());
    let da = store.get_delivery(&ws.id, &a).await.unwrap().unwrap();
    assert_eq!((da.status, da.attempts, da.last_status_code), (DeliveryStatus::Pending, 1, Some(500)));
    assert_eq!(da.next_attempt_at, Some(retry_at));
    assert_eq!(store.get_delivery(&ws.id, &b).await.unwrap().unwrap().status, DeliveryStatus::Failed);
    assert_eq!(store.get_delivery(&ws.id, &c).await.unwrap().unwrap().status, DeliveryStatus::Cancelled);
    assert_eq!(store.list_attempts(&a).await.unwrap(), vec![results[0].attempt.clone().unwrap()]);
    let wh = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((wh.failure_count, wh.delivery_attempts), (2, 2));
    assert_eq!(store.next_due_at().await.unwrap(), Some(retry_at));
    // A success resets the consecutive failures.
    let ok = DeliveryResult {
        delivery_id: a.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&a, 2, 200)),
        next: NextStep::Succeeded,
    };
    store.record_results(&[ok], far).await.unwrap();
    let wh = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((wh.failure_count, wh.delivery_attempts), (0, 3));
    assert!(wh.last_delivered_at.is_some());
    let filter = DeliveryFilter {
        webhook_id: Some(w.id.clone()),
        status: Some(DeliveryStatus::Succeeded),
        ..Default::default()
    };
    assert_eq!(
        store.list_deliveries(&ws.id, &filter, &PageRequest { limit: 10, before: None }).await.unwrap().len(),
        1
    );
    // Failing since before the cutoff disables the webhook.
    let fail = DeliveryResult {
        delivery_id: b.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&b, 2, 500)),
        next: NextStep::Failed,
    };
    let disabled = store.record_results(&[fail], time_fmt::now() + Duration::from_secs(1)).await.unwrap();
    assert_eq!(disabled, vec![w.id.clone()]);
    let wh = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((wh.enabled, wh.disabled_reason.as_deref()), (false, Some("failing")));
}

pub async fn gone_disables_and_cancels(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let rec = record(event(&ws.id, None), &[&w.id, &w.id], Some(("n", time_fmt::now() + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let (a, b) = (rec.deliveries[0].id.clone(), rec.deliveries[1].id.clone());
    let gone = DeliveryResult {
        delivery_id: a.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&a, 1, 410)),
        next: NextStep::DisableWebhook { reason: "endpoint_gone" },
    };
    let disabled = store.record_results(&[gone], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    assert_eq!(disabled, vec![w.id.clone()]);
    assert_eq!(store.get_delivery(&ws.id, &a).await.unwrap().unwrap().status, DeliveryStatus::Failed);
    assert_eq!(store.get_delivery(&ws.id, &b).await.unwrap().unwrap().status, DeliveryStatus::Cancelled);
    assert!(store.list_enabled_webhooks(&ws.id).await.unwrap().is_empty());
    assert_eq!(store.find_webhook(&w.id).await.unwrap().unwrap().disabled_reason.as_deref(), Some("endpoint_gone"));
}

/// A retry the node will not send itself (an API-only node) is one write: the delivery
/// is pending and due, with no lease, for any node to claim.
pub async fn an_unleased_retry_is_due_for_any_node(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let start = time_fmt::now();
    let rec = record(event(&ws.id, None), &[&w.id], Some(("n", start + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let id = rec.deliveries[0].id.clone();
    let failed = DeliveryResult {
        delivery_id: id.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&id, 1, 500)),
        next: NextStep::Failed,
    };
    store.record_results(&[failed], start - Duration::from_secs(86_400)).await.unwrap();
    let (d, _) = store.claim_for_retry(&ws.id, &id, None).await.unwrap().unwrap();
    assert_eq!((d.status, d.attempts, d.schedule_base), (DeliveryStatus::Pending, 1, 1));
    let later = time_fmt::now() + Duration::from_secs(1);
    let claim = Claim {
        owner: "worker",
        now: later,
        lease_until: later + Duration::from_secs(60),
        limit: 10,
        exclude_webhooks: &[],
    };
    let got = store.claim_due_deliveries(&claim).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.id, id);
}

pub async fn retry_replay_and_prune(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let start = time_fmt::now();
    let rec = record(event(&ws.id, None), &[&w.id, &w.id], Some(("n", start + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let (a, b) = (rec.deliveries[0].id.clone(), rec.deliveries[1].id.clone());
    assert!(store.claim_for_retry(&ws.id, &a, Some(("n", start))).await.unwrap().is_none(), "in flight: no retry");
    let far = start - Duration::from_secs(86_400);
    let results = [(&a, 500, NextStep::Failed), (&b, 200, NextStep::Succeeded)].map(|(d, code, next)| DeliveryResult {
        delivery_id: d.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(d, 1, code)),
        next,
    });
    store.record_results(&results, far).await.unwrap();
    let (d, e) =
        store.claim_for_retry(&ws.id, &a, Some(("n", start + Duration::from_secs(60)))).await.unwrap().unwrap();
    assert_eq!((d.status, d.attempts, d.schedule_base), (DeliveryStatus::InFlight, 1, 1));
    assert_eq!(e.id, rec.event.id);
    let until = time_fmt::now() + Duration::from_secs(1);
    assert_eq!(
        store.replay_deliveries(&w.id, start - Duration::from_secs(1), until, true, until).await.unwrap(),
        0,
        "a is in flight, b succeeded"
    );
    assert_eq!(store.replay_deliveries(&w.id, start - Duration::from_secs(1), until, false, until).await.unwrap(), 1);
    let db = store.get_delivery(&ws.id, &b).await.unwrap().unwrap();
    assert_eq!((db.status, db.schedule_base), (DeliveryStatus::Pending, 1));
    // Only succeeded deliveries are pruned.
    store
        .record_results(
            &[DeliveryResult {
                delivery_id: b.clone(),
                webhook_id: w.id.clone(),
                attempt: Some(attempt(&b, 2, 200)),
                next: NextStep::Succeeded,
            }],
            far,
        )
        .await
        .unwrap();
    assert_eq!(store.prune_deliveries(time_fmt::now() + Duration::from_secs(1)).await.unwrap(), 1);
    assert!(store.get_delivery(&ws.id, &b).await.unwrap().is_none());
    assert!(store.list_attempts(&b).await.unwrap().is_empty());
    assert!(store.get_delivery(&ws.id, &a).await.unwrap().is_some());
}

pub async fn request_reservations_never_pass_the_limit(store: Arc<dyn Store>) {
    let (a, b) = (ApiKeyId::from_hex("0000000a").unwrap(), ApiKeyId::from_hex("0000000b").unwrap());
    assert_eq!(store.reserve_requests(&a, 100, 4, 10).await.unwrap(), (4, 4));
    assert_eq!(store.reserve_requests(&a, 100, 4, 10).await.unwrap(), (4, 8));
    assert_eq!(store.reserve_requests(&a, 100, 4, 10).await.unwrap(), (2, 10));
    assert_eq!(store.reserve_requests(&a, 100, 4, 10).await.unwrap(), (0, 10));
    // A lower limit than the total so far grants nothing.
    assert_eq!(store.reserve_requests(&a, 100, 4, 5).await.unwrap(), (0, 10));
    // Each key and each window has its own allowance.
    assert_eq!(store.reserve_requests(&b, 100, 4, 10).await.unwrap(), (4, 4));
    assert_eq!(store.reserve_requests(&a, 101, 1, 10).await.unwrap(), (1, 1));
    // Many concurrent reservations together take the limit exactly.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move { store.reserve_requests(&a, 200, 3, 50).await.unwrap().0 })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert_eq!(granted, 50);
}
