//! Records (applications, event types) and listing events.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::{Record, RecordKind};
use crate::store::{EventFilter, RecordPage};

fn rec(ws: &WorkspaceId, kind: RecordKind, id: &str, uid: Option<&str>) -> Record {
    let now = time_fmt::now();
    Record {
        workspace_id: ws.clone(),
        kind,
        id: id.into(),
        uid: uid.map(str::to_owned),
        body: format!(r#"{{"name":"{id}"}}"#),
        created_at: now,
        updated_at: now,
    }
}

pub async fn records_are_found_by_id_or_uid_and_paged_both_ways(store: Arc<dyn Store>) {
    let (ws, _) = with_webhook(&*store).await;
    let app = RecordKind::Application;
    for (id, uid) in [("app_1", Some("acme")), ("app_2", None), ("app_3", Some("app_1")), ("app_4", Some("globex"))] {
        store.insert_record(&rec(&ws.id, app, id, uid)).await.unwrap();
    }
    // The same id or uid again is refused, and names which; another kind is separate.
    let taken = store.insert_record(&rec(&ws.id, app, "app_1", None)).await;
    assert!(matches!(taken, Err(StoreError::Conflict { constraint: "record_id" })), "{taken:?}");
    let taken = store.insert_record(&rec(&ws.id, app, "app_9", Some("acme"))).await;
    assert!(matches!(taken, Err(StoreError::Conflict { constraint: "record_uid" })), "{taken:?}");
    store.insert_record(&rec(&ws.id, RecordKind::EventType, "app_1", Some("acme"))).await.unwrap();

    let get = |key: &'static str| {
        let store = store.clone();
        let ws = ws.id.clone();
        async move { store.get_record(&ws, app, key).await.unwrap().map(|r| r.id) }
    };
    assert_eq!(get("acme").await.as_deref(), Some("app_1"));
    assert_eq!(get("app_1").await.as_deref(), Some("app_1"), "an id wins over another record's equal uid");
    assert_eq!(get("globex").await.as_deref(), Some("app_4"));
    assert_eq!(get("nobody").await, None);

    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let page = |descending, from: Option<&str>| RecordPage { limit: 2, descending, from: from.map(str::to_owned) };
    let list = |p: RecordPage| {
        let store = store.clone();
        let ws = ws.id.clone();
        async move { ids(store.list_records(&ws, app, &p).await.unwrap()) }
    };
    assert_eq!(list(page(false, None)).await, ["app_1", "app_2"]);
    assert_eq!(list(page(false, Some("app_2"))).await, ["app_3", "app_4"]);
    assert_eq!(list(page(true, None)).await, ["app_4", "app_3"]);
    assert_eq!(list(page(true, Some("app_3"))).await, ["app_2", "app_1"]);

    let mut changed = rec(&ws.id, app, "app_2", Some("initech"));
    changed.body = r#"{"name":"Initech"}"#.into();
    changed.updated_at += Duration::from_secs(1);
    assert!(store.update_record(&changed).await.unwrap());
    let got = store.get_record(&ws.id, app, "initech").await.unwrap().unwrap();
    assert_eq!((got.body.as_str(), got.updated_at), (changed.body.as_str(), changed.updated_at));
    assert!(!store.update_record(&rec(&ws.id, app, "app_missing", None)).await.unwrap());

    assert!(store.delete_record(&ws.id, app, "app_2").await.unwrap());
    assert!(!store.delete_record(&ws.id, app, "app_2").await.unwrap());
    assert_eq!(get("initech").await, None);
    // Records go with their workspace.
    assert!(store.delete_workspace(&ws.id).await.unwrap());
    assert!(store.list_records(&ws.id, app, &page(false, None)).await.unwrap().is_empty());
}

pub async fn events_are_listed_newest_first_by_owner_type_channel_and_tag(store: Arc<dyn Store>) {
    let (ws, w) = with_webhook(&*store).await;
    let make = |owner: Option<&str>, ty: &str, channels: &[&str], tags: &[&str]| Event {
        owner: owner.map(str::to_owned),
        event_type: ty.into(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        ..event(&ws.id, None)
    };
    let events = [
        make(Some("app_a"), "user.created", &["eu"], &["t_1"]),
        make(Some("app_a"), "user.deleted", &["us", "eu_2"], &[]),
        make(Some("app_b"), "user.created", &["eu"], &["t_1", "t_2"]),
        make(Some("app_a"), "invoice.paid", &[], &["T_1"]),
    ];
    for e in &events {
        store.insert_events(&[record(e.clone(), &[&w.id], None)]).await.unwrap();
    }
    let list = |filter: EventFilter, before: Option<EventId>| {
        let store = store.clone();
        let ws = ws.id.clone();
        async move {
            let page = PageRequest { limit: 10, before };
            store.list_events(&ws, &filter, &page).await.unwrap().into_iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    let id = |i: usize| events[i].id.clone();
    assert_eq!(list(EventFilter::default(), None).await, [id(3), id(2), id(1), id(0)]);
    let a = || EventFilter { owner: Some("app_a".into()), ..Default::default() };
    assert_eq!(list(a(), None).await, [id(3), id(1), id(0)]);
    assert_eq!(list(a(), Some(id(3))).await, [id(1), id(0)], "older than the cursor");
    let types = EventFilter { event_types: vec!["user.created".into(), "invoice.paid".into()], ..a() };
    assert_eq!(list(types, None).await, [id(3), id(0)]);
    // A channel or tag matches whole names, case-sensitively.
    assert_eq!(list(EventFilter { channel: Some("eu".into()), ..Default::default() }, None).await, [id(2), id(0)]);
    assert_eq!(list(EventFilter { tag: Some("t_1".into()), ..Default::default() }, None).await, [id(2), id(0)]);
    assert_eq!(list(EventFilter { tag: Some("t".into()), ..Default::default() }, None).await, []);
    let by_producer = EventFilter { producer_id: Some("p-9".into()), ..Default::default() };
    assert_eq!(list(by_producer.clone(), None).await, []);
    let named = Event { producer_id: Some("p-9".into()), ..make(Some("app_a"), "user.created", &[], &[]) };
    store.insert_events(&[record(named.clone(), &[&w.id], None)]).await.unwrap();
    assert_eq!(list(by_producer, None).await, std::slice::from_ref(&named.id));
    let got = store.get_event(&ws.id, &id(2), &Default::default()).await.unwrap().unwrap();
    assert_eq!(got.tags, ["t_1", "t_2"], "tags round-trip");
    let until = EventFilter { until: Some(events[1].created_at), ..Default::default() };
    assert!(list(until, None).await.iter().all(|e| *e <= id(1)));
}
