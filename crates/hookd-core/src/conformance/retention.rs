//! Deliveries held for disabled webhooks, and retention.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::store::{HeldDeliveries, PruneStep, PruneTarget, WebhookSettings};

async fn set_enabled(store: &dyn Store, w: &Webhook, enabled: bool, held: Option<HeldDeliveries>) {
    let s = WebhookSettings {
        enabled,
        disabled_reason: (!enabled).then(|| "manual".to_owned()),
        reset_failures: enabled,
        held,
        hold_pending: !enabled,
        ..WebhookSettings::of(w)
    };
    assert!(store.update_webhook_settings(&w.workspace_id, &w.id, &s).await.unwrap());
}

/// One event with one delivery to `w` in `status`.
async fn one(store: &dyn Store, w: &Webhook, status: DeliveryStatus) -> DeliveryId {
    let mut rec = record(event(&w.workspace_id, None), &[&w.id], None);
    rec.deliveries[0] = match status {
        DeliveryStatus::Held => rec.deliveries[0].clone().held(),
        s => Delivery { status: s, ..rec.deliveries[0].clone() },
    };
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    rec.deliveries[0].id.clone()
}

async fn status(store: &dyn Store, w: &Webhook, d: &DeliveryId) -> DeliveryStatus {
    store.get_delivery(&w.workspace_id, d).await.unwrap().expect("the delivery").status
}

pub async fn disabled_webhooks_hold_their_deliveries_until_re_enabled(store: Arc<dyn Store>) {
    let (_, w) = with_webhook(&*store).await;
    let s = &*store;
    let pending = one(s, &w, DeliveryStatus::Pending).await;
    set_enabled(s, &w, false, None).await;
    assert_eq!(status(s, &w, &pending).await, DeliveryStatus::Held, "disabling holds what was pending");
    let published = one(s, &w, DeliveryStatus::Held).await;
    assert_eq!(status(s, &w, &published).await, DeliveryStatus::Held, "published while disabled");
    // An attempt that found the webhook disabled.
    let attempted = one(s, &w, DeliveryStatus::InFlight).await;
    let held = DeliveryResult {
        delivery_id: attempted.clone(),
        webhook_id: w.id.clone(),
        attempt: None,
        next: NextStep::Held,
        ordered: false,
    };
    s.record_results(&[held], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    assert_eq!(status(s, &w, &attempted).await, DeliveryStatus::Held);
    // Beyond the limit, the oldest are cancelled (and kept in the log).
    assert_eq!(s.maintain_held(2).await.unwrap(), (1, 0));
    let dropped = s.get_delivery(&w.workspace_id, &pending).await.unwrap().unwrap();
    assert_eq!(dropped.status, DeliveryStatus::Cancelled);
    assert!(dropped.last_error.is_some_and(|e| e.contains("held_max")));
    assert_eq!(s.maintain_held(2).await.unwrap(), (0, 0), "nothing left to do");
    // Re-enabled with `deliver_held`: due at once, oldest first, with a fresh schedule.
    set_enabled(s, &w, true, Some(HeldDeliveries::Deliver { keep: 10 })).await;
    let now = time_fmt::now();
    let claim = Claim { owner: "n", now, lease_until: now + Duration::from_secs(60), limit: 10, exclude_webhooks: &[] };
    let claimed: Vec<DeliveryId> =
        s.claim_due_deliveries(&claim).await.unwrap().into_iter().map(|(d, _)| d.id).collect();
    assert_eq!(claimed, vec![published, attempted]);
    assert_eq!(status(s, &w, &pending).await, DeliveryStatus::Cancelled, "a cancelled one stays so");
}

/// Disabling a webhook holds its pending and in-flight deliveries; deleting it, or its
/// workspace, cancels its pending, in-flight and held ones. Finished deliveries, and the
/// open ones of other webhooks and workspaces, stay as they were.
pub async fn closing_a_webhook_reaches_every_open_delivery_and_no_other(store: Arc<dyn Store>) {
    use DeliveryStatus::{Cancelled, Failed, Held, InFlight, Pending, Succeeded};
    let s = &*store;
    let (ws, a) = with_webhook(s).await;
    let other = workspace("other");
    s.create_workspace(&other).await.unwrap();
    let mut hooks = vec![a];
    for (at, url) in [(&ws.id, "https://example.com/b"), (&other.id, "https://example.com/c")] {
        let k = key(at, false);
        s.create_api_key(&k.key).await.unwrap();
        let mut w = webhook(at, &k, url);
        w.number = s.insert_webhook(&w).await.unwrap();
        hooks.push(w);
    }
    let [a, b, c] = <[Webhook; 3]>::try_from(hooks).unwrap();
    // One delivery in each status, in flight ones under a lease.
    let leased = Some(("n", time_fmt::now() + Duration::from_secs(60)));
    let mut each = Vec::new();
    for w in [&a, &b, &c] {
        let flying = record(event(&w.workspace_id, None), &[&w.id], leased);
        s.insert_events(std::slice::from_ref(&flying)).await.unwrap();
        let mut ids = vec![(flying.deliveries[0].id.clone(), InFlight)];
        for st in [Pending, Succeeded, Failed] {
            ids.push((one(s, w, st).await, st));
        }
        each.push(ids);
    }
    let expect = |w: &Webhook, ids: &[(DeliveryId, DeliveryStatus)], why: &'static str| {
        let (w, ids) = (w.clone(), ids.to_vec());
        async move {
            for (d, want) in ids {
                assert_eq!(status(s, &w, &d).await, want, "{why}: {d} of {}", w.url);
            }
        }
    };
    let closed = |ids: &[(DeliveryId, DeliveryStatus)], to: DeliveryStatus| -> Vec<(DeliveryId, DeliveryStatus)> {
        ids.iter().map(|(d, st)| (d.clone(), if matches!(st, Pending | InFlight | Held) { to } else { *st })).collect()
    };
    // Disabling `a` holds its open deliveries and nothing else.
    set_enabled(s, &a, false, None).await;
    let mut a_ids = closed(&each[0], Held);
    a_ids.push((one(s, &a, Held).await, Held));
    expect(&a, &a_ids, "disabled").await;
    expect(&b, &each[1], "another webhook").await;
    expect(&c, &each[2], "another workspace").await;
    // `b` disabled, then published to by a node that had not seen it yet: held and open.
    set_enabled(s, &b, false, None).await;
    let mut b_ids = closed(&each[1], Held);
    let late = record(event(&ws.id, None), &[&b.id], leased);
    s.insert_events(std::slice::from_ref(&late)).await.unwrap();
    b_ids.push((late.deliveries[0].id.clone(), InFlight));
    b_ids.push((one(s, &b, Pending).await, Pending));
    expect(&b, &b_ids, "disabled, then published to").await;
    // Deleting `a` cancels what it held.
    assert!(s.delete_webhook(&ws.id, &a.id).await.unwrap());
    expect(&a, &closed(&a_ids, Cancelled), "deleted").await;
    expect(&b, &b_ids, "another webhook").await;
    // Deleting the workspace cancels `b`'s held and open deliveries, not `c`'s.
    assert!(s.delete_workspace(&ws.id).await.unwrap());
    expect(&b, &closed(&b_ids, Cancelled), "its workspace deleted").await;
    expect(&c, &each[2], "another workspace").await;
}

pub async fn re_enabling_without_deliver_held_cancels_and_races_end_in_delivery(store: Arc<dyn Store>) {
    let (_, w) = with_webhook(&*store).await;
    let s = &*store;
    set_enabled(s, &w, false, None).await;
    let held = one(s, &w, DeliveryStatus::Held).await;
    set_enabled(s, &w, true, Some(HeldDeliveries::Cancel)).await;
    assert_eq!(status(s, &w, &held).await, DeliveryStatus::Cancelled);
    // A publish that read the webhook disabled just before it was re-enabled: delivered.
    let late = one(s, &w, DeliveryStatus::Held).await;
    let d = s.get_delivery(&w.workspace_id, &late).await.unwrap().unwrap();
    assert_eq!((d.status, d.next_attempt_at.is_some()), (DeliveryStatus::Pending, true));
    // So is an attempt that found it disabled.
    let attempted = one(s, &w, DeliveryStatus::InFlight).await;
    let r = DeliveryResult {
        delivery_id: attempted.clone(),
        webhook_id: w.id.clone(),
        attempt: None,
        next: NextStep::Held,
        ordered: false,
    };
    s.record_results(&[r], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    assert_eq!(status(s, &w, &attempted).await, DeliveryStatus::Pending);
}

pub async fn retention_prunes_by_status_and_age_and_keeps_what_is_still_retried(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let s = &*store;
    let succeeded = [one(s, &w, DeliveryStatus::Succeeded).await, one(s, &w, DeliveryStatus::Succeeded).await];
    let failed = one(s, &w, DeliveryStatus::Failed).await;
    let cancelled = one(s, &w, DeliveryStatus::Cancelled).await;
    let pending = one(s, &w, DeliveryStatus::Pending).await;
    let r = DeliveryResult {
        delivery_id: succeeded[0].clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&succeeded[0], 1, 200)),
        next: NextStep::Succeeded,
        ordered: false,
    };
    s.record_results(&[r], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    let yesterday = time_fmt::now() - Duration::from_secs(86_400);
    for t in [PruneTarget::Succeeded, PruneTarget::Finished, PruneTarget::Events] {
        assert_eq!(s.prune_batch(t, yesterday, None, 100).await.unwrap().pruned, 0, "{t:?}: nothing is a day old");
    }
    let soon = time_fmt::now() + Duration::from_secs(1);
    // One step looks at `limit` rows; the walk goes on from where the last one stopped,
    // and steps over the rows it keeps.
    let first = s.prune_batch(PruneTarget::Succeeded, soon, None, 1).await.unwrap();
    assert_eq!(first.pruned, 1, "the oldest is a succeeded one");
    assert!(first.held > Duration::ZERO, "it held the writer to delete");
    let second = s.prune_batch(PruneTarget::Succeeded, soon, first.next.as_deref(), 1).await.unwrap();
    assert_eq!(second.pruned, 1);
    let rest = s.prune_batch(PruneTarget::Succeeded, soon, second.next.as_deref(), 100).await.unwrap();
    let nothing = PruneStep { pruned: 0, next: None, held: Duration::ZERO };
    assert_eq!(rest, nothing, "the failed, cancelled and pending ones stay; the writer was not taken");
    assert!(s.get_delivery(&ws.id, &succeeded[0]).await.unwrap().is_none());
    assert!(s.list_attempts(&succeeded[0]).await.unwrap().is_empty(), "with its attempts");
    assert_eq!(status(s, &w, &failed).await, DeliveryStatus::Failed, "only succeeded ones");
    assert_eq!(s.prune_batch(PruneTarget::Finished, soon, None, 100).await.unwrap().pruned, 2);
    assert!(s.get_delivery(&ws.id, &failed).await.unwrap().is_none());
    assert!(s.get_delivery(&ws.id, &cancelled).await.unwrap().is_none());
    // Events: the four with no delivery still retried go, the fifth stays.
    assert_eq!(s.prune_batch(PruneTarget::Events, soon, None, 100).await.unwrap().pruned, 4);
    let kept = s.get_delivery(&ws.id, &pending).await.unwrap().expect("still retried");
    assert!(s.get_event(&ws.id, &kept.event_id, &Default::default()).await.unwrap().is_some());
    assert_eq!(status(s, &w, &pending).await, DeliveryStatus::Pending);
}

pub async fn erasure_blanks_payloads_and_cancels_what_was_not_sent(store: Arc<dyn Store>) {
    use crate::domain::{Erasure, ErasureScope, ErasureStatus, ERASED_DATA};
    let (ws, w) = with_webhook(&*store).await;
    let s = &*store;
    let sent = one(s, &w, DeliveryStatus::Succeeded).await;
    let r = DeliveryResult {
        delivery_id: sent.clone(),
        webhook_id: w.id.clone(),
        attempt: Some(attempt(&sent, 1, 200)),
        next: NextStep::Succeeded,
        ordered: false,
    };
    s.record_results(&[r], time_fmt::now() - Duration::from_secs(3600)).await.unwrap();
    let waiting = one(s, &w, DeliveryStatus::Pending).await;
    let e1 = s.get_delivery(&ws.id, &sent).await.unwrap().unwrap().event_id;
    let e2 = s.get_delivery(&ws.id, &waiting).await.unwrap().unwrap().event_id;
    let now = time_fmt::now();
    assert!(!s.erase_event(&ws.id, &EventId::generate(), now).await.unwrap(), "no such event");
    let other = workspace("other");
    s.create_workspace(&other).await.unwrap();
    assert!(!s.erase_event(&other.id, &e1, now).await.unwrap(), "another workspace's event");
    assert!(s.erase_event(&ws.id, &e1, now).await.unwrap());
    let e = s.get_event(&ws.id, &e1, &Default::default()).await.unwrap().unwrap();
    assert_eq!((e.data.as_str(), e.erased_at.is_some()), (ERASED_DATA, true));
    assert_eq!(s.list_attempts(&sent).await.unwrap()[0].response, None, "the response body is dropped");
    assert_eq!(status(s, &w, &sent).await, DeliveryStatus::Succeeded);
    // In bulk: one owner's events, or all of them, before a time.
    let owned = record(Event { owner: Some("acct_1".into()), ..event(&ws.id, None) }, &[&w.id], None);
    s.insert_events(std::slice::from_ref(&owned)).await.unwrap();
    let scope = |owner: Option<&str>| ErasureScope {
        workspace_id: ws.id.clone(),
        owner: owner.map(str::to_owned),
        before: time_fmt::now() + Duration::from_secs(1),
    };
    assert_eq!(s.count_unerased(&scope(Some("acct_1"))).await.unwrap(), 1);
    assert_eq!(s.count_unerased(&scope(None)).await.unwrap(), 2, "the first is erased already");
    let before_all = ErasureScope { before: time_fmt::now() - Duration::from_secs(86_400), ..scope(None) };
    assert_eq!(s.count_unerased(&before_all).await.unwrap(), 0);
    let step = s.erase_events(&scope(Some("acct_1")), None, 100, now).await.unwrap().unwrap();
    assert_eq!((step.last, step.erased), (owned.event.id.clone(), 1));
    assert!(step.held > Duration::ZERO);
    assert_eq!(s.erase_events(&scope(Some("acct_1")), None, 100, now).await.unwrap(), None, "done");
    let step = s.erase_events(&scope(None), None, 1, now).await.unwrap().unwrap();
    let last = step.last;
    assert_eq!((&last, step.erased), (&e2, 1));
    assert_eq!(status(s, &w, &waiting).await, DeliveryStatus::Cancelled, "not sent after its payload is gone");
    assert_eq!(s.erase_events(&scope(None), Some(&last), 1, now).await.unwrap(), None);
    // The erasure's own record, advanced by one node at a time.
    let mut job = Erasure::start(scope(Some("acct_2")), 3, now);
    s.insert_erasure(&job).await.unwrap();
    assert_eq!(s.get_erasure(&ws.id, &job.id).await.unwrap().as_ref(), Some(&job));
    assert!(s.get_erasure(&other.id, &job.id).await.unwrap().is_none());
    assert_eq!(s.stalled_erasures(now + Duration::from_secs(1)).await.unwrap(), vec![job.clone()]);
    let seen = job.updated_at;
    job = Erasure { erased: 2, cursor: Some(e2.clone()), updated_at: now + Duration::from_secs(2), ..job };
    assert!(s.update_erasure(&job, seen).await.unwrap());
    assert!(!s.update_erasure(&job, seen).await.unwrap(), "another node advanced it");
    assert!(s.stalled_erasures(now + Duration::from_secs(1)).await.unwrap().is_empty());
    job = Erasure { status: ErasureStatus::Succeeded, finished_at: Some(job.updated_at), ..job };
    assert!(s.update_erasure(&job, job.updated_at).await.unwrap());
    assert_eq!(s.get_erasure(&ws.id, &job.id).await.unwrap().unwrap(), job);
    assert!(s.stalled_erasures(now + Duration::from_secs(3600)).await.unwrap().is_empty(), "finished");
}
