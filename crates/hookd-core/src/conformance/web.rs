//! Checks of the dashboard's and the portal's storage: sessions, one-time links and the
//! hourly statistics.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::{hour_of, latency_bucket, PortalLink, StatsTally, WebSession};

fn session(ws: &WorkspaceId, key: Option<&ApiKeyId>, owner: Option<&str>) -> WebSession {
    let now = time_fmt::now();
    WebSession {
        id_hash: rand::random(),
        workspace_id: ws.clone(),
        api_key_id: key.cloned(),
        owner: owner.map(str::to_owned),
        csrf_token: "csrf-1".into(),
        acting_workspace: None,
        created_at: now,
        last_seen_at: now,
        expires_at: now + Duration::from_secs(3600),
    }
}

pub async fn web_sessions_round_trip_and_end(store: Arc<dyn Store>) {
    let (ws, k) = setup(&*store).await;
    let other = workspace("other");
    store.create_workspace(&other).await.unwrap();
    let s = session(&ws.id, Some(&k.key.id), None);
    store.create_web_session(&s).await.unwrap();
    assert_eq!(store.get_web_session(&s.id_hash).await.unwrap(), Some(s.clone()));
    assert_eq!(store.get_web_session(&[7; 32]).await.unwrap(), None);

    let later = s.last_seen_at + Duration::from_secs(90);
    assert!(store.update_web_session(&s.id_hash, later, Some(&other.id)).await.unwrap());
    let got = store.get_web_session(&s.id_hash).await.unwrap().unwrap();
    assert_eq!((got.last_seen_at, got.acting_workspace.as_ref()), (later, Some(&other.id)));
    assert!(store.update_web_session(&s.id_hash, later, None).await.unwrap());
    assert_eq!(store.get_web_session(&s.id_hash).await.unwrap().unwrap().acting_workspace, None);

    let portal = session(&ws.id, None, Some("acct_42"));
    store.create_web_session(&portal).await.unwrap();
    assert!(store.get_web_session(&portal.id_hash).await.unwrap().unwrap().is_portal());

    assert!(store.delete_web_session(&s.id_hash).await.unwrap());
    assert!(!store.delete_web_session(&s.id_hash).await.unwrap());
    assert!(!store.update_web_session(&s.id_hash, later, None).await.unwrap());
    assert_eq!(store.get_web_session(&s.id_hash).await.unwrap(), None);

    // Expired sessions are pruned; live ones stay. A deleted workspace takes its own.
    let expired = WebSession { expires_at: time_fmt::now() - Duration::from_secs(1), ..session(&ws.id, None, None) };
    store.create_web_session(&expired).await.unwrap();
    let far = time_fmt::now() - Duration::from_secs(86_400 * 30);
    assert_eq!(store.prune_web(time_fmt::now(), far).await.unwrap(), 1);
    assert!(store.get_web_session(&portal.id_hash).await.unwrap().is_some());
    let theirs = session(&other.id, None, Some("acct_1"));
    store.create_web_session(&theirs).await.unwrap();
    assert!(store.delete_workspace(&other.id).await.unwrap());
    assert_eq!(store.get_web_session(&theirs.id_hash).await.unwrap(), None);
}

pub async fn portal_links_open_once(store: Arc<dyn Store>) {
    let (ws, _) = setup(&*store).await;
    let now = time_fmt::now();
    let link = |expires_at| PortalLink {
        token_hash: rand::random(),
        workspace_id: ws.id.clone(),
        owner: "acct_42".into(),
        created_at: now,
        expires_at,
        used_at: None,
    };
    let live = link(now + Duration::from_secs(600));
    store.create_portal_link(&live).await.unwrap();
    let got = store.redeem_portal_link(&live.token_hash, now).await.unwrap().expect("the first opening works");
    assert_eq!((got.owner.as_str(), got.used_at), ("acct_42", Some(now)));
    assert_eq!(store.redeem_portal_link(&live.token_hash, now).await.unwrap(), None, "a second opening does not");
    assert_eq!(store.redeem_portal_link(&[9; 32], now).await.unwrap(), None);

    let expired = link(now + Duration::from_secs(5));
    store.create_portal_link(&expired).await.unwrap();
    let after = now + Duration::from_secs(5);
    assert_eq!(store.redeem_portal_link(&expired.token_hash, after).await.unwrap(), None, "expired");

    // Of many openings at once, exactly one gets the link.
    let raced = link(now + Duration::from_secs(600));
    store.create_portal_link(&raced).await.unwrap();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = raced.token_hash;
            tokio::spawn(async move { store.redeem_portal_link(&hash, time_fmt::now()).await.unwrap() })
        })
        .collect();
    let mut opened = 0;
    for t in tries {
        opened += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(opened, 1);
    let far = now - Duration::from_secs(86_400 * 30);
    assert_eq!(store.prune_web(after, far).await.unwrap(), 1, "the expired link is pruned");
}

pub async fn attempts_are_counted_by_hour_and_latency(store: Arc<dyn Store>) {
    let (_, w) = with_webhook(&*store).await;
    let a = |ms: i64, code: i32| Attempt { duration_ms: ms, ..attempt(&DeliveryId::generate(), 1, code) };
    let mut tally = StatsTally::default();
    tally.add(&w.id, &a(3, 200));
    tally.add(&w.id, &a(3, 500));
    store.add_webhook_stats(&tally.take()).await.unwrap();
    // A second write adds to the same rows, and makes others.
    tally.add(&w.id, &a(120, 200));
    tally.add(&w.id, &a(4, 200));
    store.add_webhook_stats(&tally.take()).await.unwrap();
    store.add_webhook_stats(&[]).await.unwrap();

    let hour = hour_of(time_fmt::now());
    let since = hour - Duration::from_secs(3600);
    let rows = store.webhook_stats(&[w.id.clone(), WebhookId::generate()], since).await.unwrap();
    let fast = rows.iter().find(|r| r.bucket == latency_bucket(3)).expect("a row for 3 ms");
    let slow = rows.iter().find(|r| r.bucket == latency_bucket(120)).expect("a row for 120 ms");
    assert_eq!((fast.succeeded, fast.failed, slow.succeeded, slow.failed), (2, 1, 1, 0));
    assert!(rows.iter().all(|r| r.webhook_id == w.id && r.hour >= since));
    assert_eq!(rows.iter().map(|r| r.succeeded + r.failed).sum::<i64>(), 4);

    // Hours before `since` are not read; hours before the cut are pruned.
    assert!(store
        .webhook_stats(std::slice::from_ref(&w.id), hour + Duration::from_secs(7200))
        .await
        .unwrap()
        .is_empty());
    let pruned = store.prune_web(time_fmt::now(), hour + Duration::from_secs(3600)).await.unwrap();
    assert_eq!(pruned, rows.len() as u64);
    let far = time_fmt::now() - Duration::from_secs(86_400);
    assert!(store.webhook_stats(std::slice::from_ref(&w.id), far).await.unwrap().is_empty());
}
