//! Workspaces, keys, webhooks, settings, idempotency claims and shared rate limits.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::{ApiKey, Filter, SealedHeaders, SigningScheme, WebhookProtocol};

pub async fn bootstrap_happens_once(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    let (ws, k) = setup(&*store).await;
    let other = workspace("other");
    assert!(!store.bootstrap(&other, &key(&other.id, false).key).await.unwrap(), "second bootstrap must do nothing");
    let all = PageRequest { limit: 10, before: None };
    assert_eq!(store.list_workspaces(&Default::default(), &all).await.unwrap(), vec![ws.clone()]);
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

/// A product's customers: external ids are unique and found, lists page oldest first,
/// and a deleted workspace takes its keys and webhooks with it and cancels its deliveries.
pub async fn workspaces_have_external_ids_and_delete_with_everything_in_them(store: Arc<dyn Store>) {
    let (home, _) = setup(&*store).await;
    let mut a = workspace("cust-a");
    a.external_id = Some("acct_1".into());
    a.metadata = [("plan".to_owned(), "pro".to_owned())].into();
    store.create_workspace(&a).await.unwrap();
    let mut dup = workspace("cust-b");
    dup.external_id = Some("acct_1".into());
    let err = store.create_workspace(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "workspace_external_id" }), "{err:?}");
    dup.external_id = None;
    store.create_workspace(&dup).await.unwrap();
    assert_eq!(store.find_workspace_by_external_id("acct_1").await.unwrap().unwrap(), a);
    assert!(store.find_workspace_by_external_id("acct_2").await.unwrap().is_none());
    // Oldest first, in pages that follow each other.
    let first = store.list_workspaces(&Default::default(), &PageRequest { limit: 2, before: None }).await.unwrap();
    assert_eq!(first.iter().map(|w| &w.id).collect::<Vec<_>>(), [&home.id, &a.id]);
    let rest = store
        .list_workspaces(&Default::default(), &PageRequest { limit: 2, before: Some(a.id.clone()) })
        .await
        .unwrap();
    assert_eq!(rest, vec![dup.clone()]);
    let only = WorkspaceFilter { external_id: Some("acct_1".into()) };
    assert_eq!(store.list_workspaces(&only, &PageRequest { limit: 10, before: None }).await.unwrap(), vec![a.clone()]);
    // Updates, with the same uniqueness.
    dup.external_id = Some("acct_1".into());
    let err = store.update_workspace(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "workspace_external_id" }), "{err:?}");
    dup.external_id = Some("acct_2".into());
    dup.name = "cust-b-renamed".into();
    assert!(store.update_workspace(&dup).await.unwrap());
    assert_eq!(store.get_workspace(&dup.id).await.unwrap().unwrap(), dup);
    // Delete: keys and webhooks go, open deliveries are cancelled.
    let k = key(&a.id, false);
    store.create_api_key(&k.key).await.unwrap();
    let mut w = webhook(&a.id, &k, "https://example.com/a");
    w.number = store.insert_webhook(&w).await.unwrap();
    let rec = record(event(&a.id, None), &[&w.id], None);
    store.insert_events(std::slice::from_ref(&rec)).await.unwrap();
    assert!(store.delete_workspace(&a.id).await.unwrap());
    assert!(!store.delete_workspace(&a.id).await.unwrap());
    assert!(store.get_workspace(&a.id).await.unwrap().is_none());
    assert!(store.get_api_key(&k.key.id).await.unwrap().is_none());
    assert!(store.find_webhook(&w.id).await.unwrap().is_none());
    let d = store.get_delivery(&a.id, &rec.deliveries[0].id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Cancelled);
    assert!(store.get_workspace(&home.id).await.unwrap().is_some(), "other workspaces stay");
}

/// A product's own key, imported: found by the hash of the whole token only, once.
pub async fn imported_keys_are_found_by_their_hash(store: Arc<dyn Store>) {
    let (ws, minted) = setup(&*store).await;
    let token = "sk_live_51Habcdefghijklmnopqrstuvwxyz0123456789";
    let k = ApiKey::imported(ws.id.clone(), "product".into(), token, vec![Scope::All], false, time_fmt::now()).unwrap();
    store.create_api_key(&k).await.unwrap();
    let again =
        ApiKey::imported(ws.id.clone(), "again".into(), token, vec![Scope::All], false, time_fmt::now()).unwrap();
    let err = store.create_api_key(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "imported_key" }), "{err:?}");
    let found = store.find_imported_api_key(&crate::domain::token_hash(token)).await.unwrap().unwrap();
    assert_eq!(found, k);
    assert!(found.is_imported() && !minted.key.is_imported());
    assert!(store.find_imported_api_key(&crate::domain::token_hash("sk_live_other")).await.unwrap().is_none());
    // A minted key's secret alone is no imported key.
    let secret = minted.token.split_once('.').unwrap().1;
    assert!(store.find_imported_api_key(&crate::domain::token_hash(secret)).await.unwrap().is_none());
}

pub async fn api_keys_round_trip_and_revoke(store: Arc<dyn Store>) {
    let (ws, first) = setup(&*store).await;
    let mut k = key(&ws.id, true);
    k.key.expires_at = Some(time_fmt::now() + Duration::from_secs(3600));
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
    w.channels = vec!["project_1".into(), "team.a".into()];
    w.ordering = crate::domain::DeliveryOrdering::PerKey;
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
    let mine = WebhookFilter::Owner(owner.key.id.to_string());
    let p = store.list_webhooks(&ws.id, &mine, &PageRequest { limit: 10, before: None }).await.unwrap();
    assert_eq!(p.iter().map(|w| &w.id).collect::<Vec<_>>(), vec![&ids[3], &ids[1]]);
    let unowned = store.list_webhooks(&ws.id, &WebhookFilter::Unowned, &PageRequest { limit: 10, before: None });
    let unowned = unowned.await.unwrap();
    assert_eq!(unowned.iter().map(|w| &w.id).collect::<Vec<_>>(), vec![&ids[4], &ids[2], &ids[0]]);
    assert!(unowned.iter().all(|w| w.owner.is_none()) && p.iter().all(|w| w.owner == owner.key.acting_owner()));
}

pub async fn settings_and_secrets_are_written_separately(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let mut w = webhook(&ws.id, &k, "https://example.com/a");
    w.failure_count = 3;
    w.delivery_attempts = 9;
    w.headers = Some(SealedHeaders { names: vec!["X-Api-Key".into(), "X-Tenant".into()], sealed: Sealed(vec![7, 8]) });
    w.filter = Some(Filter::parse(&serde_json::json!({"data.country": {"$in": ["NL", "BE"]}})).unwrap());
    w.signing = SigningScheme::Ed25519;
    w.secrets.public_key = Some("whpk_old".into());
    w.uid = Some("orders-endpoint".into());
    w.protocol = WebhookProtocol::Svix;
    w.number = store.insert_webhook(&w).await.unwrap();
    let got = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((&got.headers, &got.filter), (&w.headers, &w.filter), "headers and filter round-trip");
    assert_eq!((got.uid.as_deref(), got.protocol), (Some("orders-endpoint"), WebhookProtocol::Svix));
    // A uid is unique among one owner's webhooks, and free for another owner.
    let mut twin = webhook(&ws.id, &k, "https://example.com/twin");
    twin.uid = w.uid.clone();
    assert!(matches!(store.insert_webhook(&twin).await, Err(StoreError::Conflict { constraint: "webhook_uid" })));
    twin.owner = Some("someone-else".into());
    store.insert_webhook(&twin).await.unwrap();
    assert_eq!((got.signing, &got.secrets), (SigningScheme::Ed25519, &w.secrets), "and the signing scheme and key");
    let later = time_fmt::now() + Duration::from_secs(1);
    let settings = WebhookSettings {
        url: "https://example.com/b".into(),
        events: vec!["*".into()],
        description: None,
        enabled: false,
        disabled_reason: Some("manual".into()),
        metadata: Default::default(),
        rate_limit: None,
        headers: Some(SealedHeaders { names: vec!["Authorization".into()], sealed: Sealed(vec![9]) }),
        filter: None,
        ordering: Default::default(),
        channels: Vec::new(),
        uid: Some("renamed".into()),
        send_traceparent: true,
        reset_failures: false,
        held: None,
        hold_pending: false,
        updated_at: later,
    };
    assert!(store.update_webhook_settings(&ws.id, &w.id, &settings).await.unwrap());
    let got = store.get_webhook(&ws.id, &w.id).await.unwrap().unwrap();
    assert_eq!((got.uid.as_deref(), got.protocol), (Some("renamed"), WebhookProtocol::Svix), "the protocol stays");
    assert_eq!((got.url.as_str(), got.enabled, got.description.as_deref()), ("https://example.com/b", false, None));
    assert_eq!((got.failure_count, got.delivery_attempts), (3, 9), "settings must not touch counters");
    assert_eq!(got.secrets, w.secrets, "settings must not touch secrets");
    assert_eq!(got.updated_at, later);
    assert_eq!((&got.headers, &got.filter), (&settings.headers, &None));

    let secrets = WebhookSecrets {
        current: Sealed(vec![9]),
        previous: Some(w.secrets.current.clone()),
        previous_expires_at: Some(later),
        public_key: Some("whpk_new".into()),
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
