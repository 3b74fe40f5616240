//! Events and their deliveries: publishing, claims and leases, results, retries,
//! replays and pruning.

use std::sync::Arc;
use std::time::Duration;

use super::*;

pub async fn events_publish_once_per_producer_id(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let a = record(event(&ws.id, Some("p-1")), &[&w.id], None);
    let dup_in_batch = record(event(&ws.id, Some("p-1")), &[&w.id], None);
    let plain = record(Event { channels: vec!["project_1".into()], ..event(&ws.id, None) }, &[&w.id, &w.id], None);
    let out = store.insert_events(&[a.clone(), dup_in_batch, plain.clone()]).await.unwrap();
    assert_eq!(out[0], InsertedEvent::Created);
    assert_eq!(out[1], InsertedEvent::Existing(Box::new(a.event.clone())));
    assert_eq!(out[2], InsertedEvent::Created);
    let again = store.insert_events(&[record(event(&ws.id, Some("p-1")), &[&w.id], None)]).await.unwrap();
    assert_eq!(again, vec![InsertedEvent::Existing(Box::new(a.event.clone()))]);
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
            ordered: false,
        },
        DeliveryResult {
            delivery_id: b.clone(),
            webhook_id: w.id.clone(),
            attempt: Some(attempt(&b, 1, 503)),
            next: NextStep::Failed,
            ordered: false,
        },
        DeliveryResult {
            delivery_id: c.clone(),
            webhook_id: w.id.clone(),
            attempt: None,
            next: NextStep::Cancelled,
            ordered: false,
        },
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
        ordered: false,
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
        ordered: false,
    };
    let disabled = store.record_results(&[fail], time_fmt::now() + Duration::from_secs(1)).await.unwrap();
    assert_eq!(disabled, vec![w.id.clone()]);
    let wh = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((wh.enabled, wh.disabled_reason.as_deref()), (false, Some("failing")));
}

pub async fn gone_disables_and_holds(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let rec = record(event(&ws.id, None), &[&w.id, &w.id], Some(("n", time_fmt::now() + Duration::from_secs(60))));
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    let (a, b) = (rec.deliveries[0].id.clone(), rec.deliveries[1].id.clone());
    let gone = DeliveryResult {
        delivery_id: a.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&a, 1, 410)),
        next: NextStep::DisableWebhook { reason: "endpoint_gone" },
        ordered: false,
    };
    let disabled = store.record_results(&[gone], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    assert_eq!(disabled, vec![w.id.clone()]);
    assert_eq!(store.get_delivery(&ws.id, &a).await.unwrap().unwrap().status, DeliveryStatus::Failed);
    assert_eq!(
        store.get_delivery(&ws.id, &b).await.unwrap().unwrap().status,
        DeliveryStatus::Held,
        "held for its re-enabling"
    );
    assert!(!store.list_routed_webhooks(&ws.id).await.unwrap()[0].enabled);
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
        ordered: false,
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
        ordered: false,
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
                ordered: false,
            }],
            far,
        )
        .await
        .unwrap();
    let soon = time_fmt::now() + Duration::from_secs(1);
    assert_eq!(store.prune_batch(crate::store::PruneTarget::Succeeded, soon, None, 100).await.unwrap().pruned, 1);
    assert!(store.get_delivery(&ws.id, &b).await.unwrap().is_none());
    assert!(store.list_attempts(&b).await.unwrap().is_empty());
    assert!(store.get_delivery(&ws.id, &a).await.unwrap().is_some());
}

/// A replay takes the deliveries created in its window, `[since, until)`, and no other,
/// even where a delivery's id and its creation time were read from the clock a moment
/// apart.
pub async fn replays_take_their_window_by_creation_time(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let now = time_fmt::now();
    let (since, until) = (now - Duration::from_secs(3600), now - Duration::from_secs(1800));
    let ms = time::Duration::milliseconds;
    // (created at, its id's time, replayed)
    let cases = [
        (since - ms(1), since - ms(1), false),
        (since, since - ms(300), true),
        (since + ms(600_000), since + ms(600_000), true),
        (until - ms(1), until + ms(300), true),
        (until, until - ms(300), false),
        (until + ms(60_000), until + ms(60_000), false),
    ];
    let recs: Vec<NewEventRecord> = cases
        .iter()
        .map(|&(created, id_at, _)| {
            let e = Event { id: EventId::generate_at(created), created_at: created, ..event(&ws.id, None) };
            let mut rec = record(e, &[&w.id], Some(("n", now + Duration::from_secs(60))));
            rec.deliveries[0].id = DeliveryId::generate_at(id_at);
            rec
        })
        .collect();
    store.insert_events(&recs).await.unwrap();
    let results: Vec<DeliveryResult> = recs
        .iter()
        .map(|r| {
            let d = &r.deliveries[0].id;
            DeliveryResult {
                delivery_id: d.clone(),
                webhook_id: w.id.clone(),
                attempt: Some(attempt(d, 1, 500)),
                next: NextStep::Failed,
                ordered: false,
            }
        })
        .collect();
    store.record_results(&results, now - Duration::from_secs(86_400)).await.unwrap();
    assert_eq!(store.replay_deliveries(&w.id, since, until, true, now).await.unwrap(), 3);
    for (r, (created, _, replayed)) in recs.iter().zip(cases) {
        let d = store.get_delivery(&ws.id, &r.deliveries[0].id).await.unwrap().unwrap();
        let want = if replayed { DeliveryStatus::Pending } else { DeliveryStatus::Failed };
        assert_eq!(d.status, want, "the delivery created at {created} against [{since}, {until})");
    }
}

pub async fn the_log_filters_by_every_status_event_type_and_event(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let k = key(&ws.id, false);
    store.create_api_key(&k.key).await.unwrap();
    let mut other = webhook(&ws.id, &k, "https://example.com/other");
    other.number = store.insert_webhook(&other).await.unwrap();
    // Five deliveries to `w` (one per status to be) and one to the other webhook, of two
    // event types.
    let lease = Some(("n", time_fmt::now() + Duration::from_secs(60)));
    let mut created = event(&ws.id, None);
    created.event_type = "link.created".into();
    let mut deleted = event(&ws.id, None);
    deleted.event_type = "link.deleted".into();
    let a = record(created, &[&w.id, &w.id, &w.id, &other.id], lease);
    let b = record(deleted, &[&w.id, &w.id], lease);
    store.insert_events(&[a.clone(), b.clone()]).await.unwrap();
    let d = |r: &NewEventRecord, i: usize| r.deliveries[i].id.clone();
    let result = |id: DeliveryId, next: NextStep, code: i32| DeliveryResult {
        delivery_id: id.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&id, 1, code)),
        next,
        ordered: false,
    };
    let far = time_fmt::now() - Duration::from_secs(86_400);
    let later = time_fmt::now() + Duration::from_secs(600);
    store
        .record_results(
            &[
                result(d(&a, 0), NextStep::Succeeded, 200),
                result(d(&a, 1), NextStep::Failed, 500),
                result(d(&a, 2), NextStep::RetryAt(later), 503),
                DeliveryResult {
                    delivery_id: d(&b, 0),
                    webhook_id: w.id.clone(),
                    attempt: None,
                    next: NextStep::Cancelled,
                    ordered: false,
                },
            ],
            far,
        )
        .await
        .unwrap();
    // d(&b, 1) stays in flight, and so does the other webhook's.
    let list = |status: Option<DeliveryStatus>, event_type: Option<&str>, event_id: Option<&EventId>| {
        let filter = DeliveryFilter {
            webhook_id: Some(w.id.clone()),
            status,
            event_type: event_type.map(str::to_owned),
            event_id: event_id.cloned(),
            ..Default::default()
        };
        let store = store.clone();
        let ws = ws.id.clone();
        async move {
            let got = store.list_deliveries(&ws, &filter, &PageRequest { limit: 10, before: None }).await.unwrap();
            got.into_iter().map(|d| d.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(Some(DeliveryStatus::Succeeded), None, None).await, vec![d(&a, 0)]);
    assert_eq!(list(Some(DeliveryStatus::Failed), None, None).await, vec![d(&a, 1)]);
    assert_eq!(list(Some(DeliveryStatus::Pending), None, None).await, vec![d(&a, 2)]);
    assert_eq!(list(Some(DeliveryStatus::Cancelled), None, None).await, vec![d(&b, 0)]);
    assert_eq!(list(Some(DeliveryStatus::InFlight), None, None).await, vec![d(&b, 1)], "not the other webhook's");
    let mut deleted_ids = vec![d(&b, 0), d(&b, 1)];
    deleted_ids.sort();
    deleted_ids.reverse();
    assert_eq!(list(None, Some("link.deleted"), None).await, deleted_ids, "newest first");
    assert_eq!(list(Some(DeliveryStatus::Failed), Some("link.deleted"), None).await, Vec::<DeliveryId>::new());
    assert_eq!(list(None, None, Some(&b.event.id)).await, deleted_ids);
    assert_eq!(list(None, Some("link.created"), None).await.len(), 3);

    // Search windows: the floor of the 2 newest is the second newest; past the history,
    // none. A window bounds the list from below.
    let mut all: Vec<DeliveryId> = a.deliveries[..3].iter().chain(&b.deliveries).map(|d| d.id.clone()).collect();
    all.sort();
    all.reverse();
    assert_eq!(store.delivery_window_floor(&w.id, None, 2).await.unwrap(), Some(all[1].clone()));
    assert_eq!(store.delivery_window_floor(&w.id, Some(&all[0]), 2).await.unwrap(), Some(all[2].clone()));
    assert_eq!(store.delivery_window_floor(&w.id, None, 6).await.unwrap(), None);
    let windowed = DeliveryFilter { webhook_id: Some(w.id.clone()), from: Some(all[1].clone()), ..Default::default() };
    let got = store.list_deliveries(&ws.id, &windowed, &PageRequest { limit: 10, before: None }).await.unwrap();
    assert_eq!(got.into_iter().map(|d| d.id).collect::<Vec<_>>(), all[..2].to_vec());
}

/// Deliveries with an ordering key are claimed one at a time per webhook and key, in
/// order: a later one waits while an earlier one is pending (a retry) or any other is
/// in flight; other keys, other webhooks and deliveries without a key are not held.
pub async fn ordered_deliveries_go_one_at_a_time_per_key(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let w2 = Webhook { id: WebhookId::generate(), ..w.clone() };
    store.insert_webhook(&w2).await.unwrap();
    let ordered = |key: Option<&str>, webhook: &WebhookId| {
        let e = Event { ordering_key: key.map(str::to_owned), ..event(&ws.id, None) };
        let d = match key {
            Some(_) => Delivery::new_ordered(&e, webhook, e.created_at),
            None => Delivery::new_pending(&e, webhook, e.created_at),
        };
        NewEventRecord { event: Event { deliveries: 1, ..e }, deliveries: vec![d], lease: None }
    };
    let recs = [
        ordered(Some("A"), &w.id),
        ordered(Some("A"), &w.id),
        ordered(Some("B"), &w.id),
        ordered(None, &w.id),
        ordered(Some("A"), &w2.id),
        ordered(Some("A"), &w.id),
    ];
    // One transaction, as a batch publish writes them.
    store.insert_events(&recs).await.unwrap();
    let ids: Vec<DeliveryId> = recs.iter().map(|r| r.deliveries[0].id.clone()).collect();
    let stored = store.get_delivery(&ws.id, &ids[1]).await.unwrap().unwrap();
    assert_eq!(stored.ordering_key.as_deref(), Some("A"));
    let event = store.get_event(&ws.id, &recs[1].event.id, &Default::default()).await.unwrap().unwrap();
    assert_eq!(event.ordering_key.as_deref(), Some("A"));

    let s: &dyn Store = &*store;
    let claim = |owner: &'static str| {
        let at = time_fmt::now() + Duration::from_secs(1);
        async move {
            let c =
                Claim { owner, now: at, lease_until: at + Duration::from_secs(60), limit: 10, exclude_webhooks: &[] };
            let mut got: Vec<DeliveryId> =
                s.claim_due_deliveries(&c).await.unwrap().into_iter().map(|(d, _)| d.id).collect();
            got.sort();
            got
        }
    };
    let result = |i: usize, next: NextStep| DeliveryResult {
        delivery_id: ids[i].clone(),
        webhook_id: if i == 4 { w2.id.clone() } else { w.id.clone() },
        attempt: Some(attempt(&ids[i], 1, 500)),
        ordered: true,
        next,
    };
    let long_ago = time_fmt::now() - Duration::from_secs(86_400);
    // The first of each key of each webhook, and the delivery without a key.
    assert_eq!(claim("n1").await, vec![ids[0].clone(), ids[2].clone(), ids[3].clone(), ids[4].clone()]);
    assert!(claim("n2").await.is_empty(), "A's next waits for its first, in flight on n1");
    // Those waiting are out of the due range for a while, not read again by every claim.
    let pending = |i: usize| {
        let id = ids[i].clone();
        let ws = ws.id.clone();
        async move { s.get_delivery(&ws, &id).await.unwrap().unwrap().next_attempt_at.unwrap() }
    };
    assert!(pending(1).await > time_fmt::now(), "deferred behind the first of its key");
    // A retry keeps its place: due again, the first is claimed, not the second.
    store.record_results(&[result(0, NextStep::RetryAt(time_fmt::now()))], long_ago).await.unwrap();
    assert_eq!(claim("n2").await, vec![ids[0].clone()]);
    // Once it has finished (its retries spent), the next of its key goes, and only it.
    store.record_results(&[result(0, NextStep::Failed)], long_ago).await.unwrap();
    assert_eq!(claim("n2").await, vec![ids[1].clone()]);
    // A finished delivery sent again waits while another of its key is in flight, then
    // goes before the later ones.
    let (again, _) = store.claim_for_retry(&ws.id, &ids[0], None).await.unwrap().unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert!(claim("n3").await.is_empty(), "the second is in flight");
    store.record_results(&[result(1, NextStep::Succeeded)], long_ago).await.unwrap();
    assert_eq!(claim("n3").await, vec![ids[0].clone()]);
    store.record_results(&[result(0, NextStep::Succeeded)], long_ago).await.unwrap();
    assert_eq!(claim("n3").await, vec![ids[5].clone()]);
}

/// A streak of failures that reaches the threshold is reported once, and so is the
/// success that ends it; a disabled webhook comes with its reason.
pub async fn failing_and_recovery_are_reported_once(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let far = time_fmt::now() - Duration::from_secs(86_400);
    let outcome = |code: i32| {
        let rec = record(event(&ws.id, None), &[&w.id], Some(("n", time_fmt::now() + Duration::from_secs(60))));
        let d = rec.deliveries[0].id.clone();
        let next = if code < 300 { NextStep::Succeeded } else { NextStep::RetryAt(time_fmt::now()) };
        let r = DeliveryResult {
            delivery_id: d.clone(),
            webhook_id: w.id.clone(),
            attempt: Some(attempt(&d, 1, code)),
            next,
            ordered: false,
        };
        (rec, r)
    };
    let run = |codes: Vec<i32>| {
        let store = store.clone();
        let pairs: Vec<_> = codes.into_iter().map(&outcome).collect();
        async move {
            let recs: Vec<NewEventRecord> = pairs.iter().map(|(rec, _)| rec.clone()).collect();
            store.insert_events(&recs).await.unwrap();
            let results: Vec<DeliveryResult> = pairs.into_iter().map(|(_, r)| r).collect();
            store.record_outcomes(&results, far, 3).await.unwrap()
        }
    };
    assert_eq!(run(vec![500, 500]).await, Recorded::default(), "two failures: not yet");
    assert_eq!(run(vec![503]).await.failing, vec![(w.id.clone(), 3)], "the third");
    assert_eq!(run(vec![500, 500]).await, Recorded::default(), "told once");
    // The default path tells nobody and leaves the streak's flag alone.
    let (rec, ok) = outcome(200);
    store.insert_events(&[rec]).await.unwrap();
    assert!(store.record_results(&[ok], far).await.unwrap().is_empty());
    assert_eq!(run(vec![500, 500, 500]).await, Recorded::default(), "still the same streak as far as operators know");
    assert_eq!(run(vec![200]).await.recovered, vec![w.id.clone()]);
    assert_eq!(run(vec![200]).await, Recorded::default());
    // A success followed by a new streak in one batch: not recovered.
    assert_eq!(run(vec![500, 500, 500]).await.failing.len(), 1);
    assert_eq!(run(vec![200, 500, 500, 500]).await, Recorded::default());
    // Disabled, with the reason.
    let (rec, _) = outcome(410);
    let d = rec.deliveries[0].id.clone();
    store.insert_events(&[rec]).await.unwrap();
    let gone = DeliveryResult {
        delivery_id: d.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&d, 1, 410)),
        next: NextStep::DisableWebhook { reason: "endpoint_gone" },
        ordered: false,
    };
    let got = store.record_outcomes(&[gone], far, 3).await.unwrap();
    assert_eq!(got.disabled, vec![(w.id.clone(), "endpoint_gone".to_owned())]);
}
