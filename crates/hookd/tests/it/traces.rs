//! Traces: a `publish` span per event and a `deliver` span per attempt, exported over
//! OTLP/HTTP to a collector on loopback, and the W3C `traceparent` continued from the
//! publisher into the deliveries of webhooks that ask for it.

use std::collections::BTreeMap;
use std::time::Duration;

use hookd_test_support::{eventually, Client, Reply, TestReceiver};
use serde_json::{json, Value};

use crate::{create, delivering_server, id_of};

const WAIT: Duration = Duration::from_secs(15);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn caller_traceparent() -> String {
    format!("00-{TRACE}-{CALLER_SPAN}-01")
}

/// Publishes one event with these extra headers; returns its id.
async fn publish_with(c: &Client, event: &str, headers: &[(&str, &str)]) -> String {
    let mut rb = c.request(reqwest::Method::POST, "/v1/events").json(&json!({"event": event, "data": {"n": 1}}));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = Client::send(rb).await;
    r.assert_status(202);
    r.data()["id"].as_str().unwrap().to_owned()
}

/// A span as the collector received it (OTLP/JSON), its attributes flattened to strings.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: BTreeMap<String, String>,
    /// `status.code` 2 is an error.
    error: bool,
    service: String,
}

fn attribute_value(v: &Value) -> String {
    let v = &v["value"];
    for k in ["stringValue", "intValue", "boolValue", "doubleValue"] {
        match &v[k] {
            Value::Null => continue,
            Value::String(s) => return s.clone(),
            other => return other.to_string(),
        }
    }
    v.to_string()
}

fn attributes(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap_or_default().to_owned(), attribute_value(kv))).collect())
        .unwrap_or_default()
}

/// Every span the collector has received.
fn spans(collector: &TestReceiver) -> Vec<Span> {
    let mut out = Vec::new();
    for r in collector.received_on("/v1/traces") {
        assert_eq!(r.header("content-type"), Some("application/json"), "http/json was configured");
        let body = r.json();
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = attributes(&rs["resource"]["attributes"]).get("service.name").cloned().unwrap_or_default();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push(Span {
                        name: s["name"].as_str().unwrap_or_default().to_owned(),
                        trace_id: s["traceId"].as_str().unwrap_or_default().to_lowercase(),
                        span_id: s["spanId"].as_str().unwrap_or_default().to_lowercase(),
                        parent_span_id: s["parentSpanId"].as_str().unwrap_or_default().to_lowercase(),
                        attributes: attributes(&s["attributes"]),
                        error: s["status"]["code"].as_i64() == Some(2) || s["status"]["code"] == "STATUS_CODE_ERROR",
                        service: service.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The `(trace id, parent id)` of a `traceparent` header.
fn parts(tp: &str) -> (String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "{tp}");
    (p[1].to_owned(), p[2].to_owned())
}

#[tokio::test]
async fn a_publish_and_its_attempts_are_spans_of_the_publishers_trace() {
    let collector = TestReceiver::start().await;
    let server = delivering_server(|c| {
        c.telemetry.otlp_endpoint = Some(collector.url(""));
        c.telemetry.otlp_protocol = hookd::config::OtlpProtocol::HttpJson;
        c.telemetry.export_interval = Duration::from_millis(100);
        c.telemetry.service_name = "hookd-under-test".into();
    })
    .await;
    let c = server.client();
    let traced_rx = TestReceiver::start().await;
    let plain_rx = TestReceiver::start().await;
    let traced =
        create(&c, &json!({"url": traced_rx.url("/in"), "events": ["order.*"], "send_traceparent": true})).await;
    assert_eq!(traced["send_traceparent"], true);
    let plain = create(&c, &json!({"url": plain_rx.url("/in"), "events": ["order.*"]})).await;
    assert_eq!(plain["send_traceparent"], false);
    // The traced webhook's first attempt fails, so its delivery has two attempts.
    traced_rx.script([Reply::status(500)]);
    let event_id = publish_with(&c, "order.paid", &[("traceparent", &caller_traceparent())]).await;

    let got = traced_rx.wait_for(2, None, WAIT).await;
    let sent: Vec<(String, String)> =
        got.iter().map(|r| parts(r.header("traceparent").expect("the webhook asked for traceparent"))).collect();
    assert!(sent.iter().all(|(t, _)| t == TRACE), "deliveries continue the publisher's trace: {sent:?}");
    assert_ne!(sent[0].1, sent[1].1, "each attempt is a span of its own");
    assert!(sent.iter().all(|(_, p)| p != CALLER_SPAN), "the parent is hookd's attempt span, not the caller's");
    let plain_got = plain_rx.wait_for(1, None, WAIT).await;
    assert_eq!(plain_got[0].header("traceparent"), None, "a webhook that did not ask gets no traceparent");

    // Every span reaches the collector: the publish, two attempts to one webhook and one
    // to the other, all in the caller's trace.
    let all = eventually(WAIT, || async {
        let s = spans(&collector);
        let deliver = s.iter().filter(|s| s.name == "deliver").count();
        if s.iter().any(|s| s.name == "publish") && deliver >= 3 {
            Ok(s)
        } else {
            Err(format!("{} spans so far", s.len()))
        }
    })
    .await;
    assert!(all.iter().all(|s| s.service == "hookd-under-test"), "{all:?}");
    let publish: Vec<&Span> = all.iter().filter(|s| s.name == "publish").collect();
    assert_eq!(publish.len(), 1, "{all:?}");
    let publish = publish[0];
    assert_eq!((publish.trace_id.as_str(), publish.parent_span_id.as_str()), (TRACE, CALLER_SPAN));
    assert_eq!(publish.attributes["hookd.event_id"], event_id);
    assert_eq!(publish.attributes["hookd.event_type"], "order.paid");
    assert!(publish.attributes["hookd.workspace_id"].starts_with("ws_"), "{publish:?}");
    assert_eq!(publish.attributes["hookd.deliveries"], "2");

    let deliver_to = |w: &Value| {
        let id = id_of(w);
        all.iter()
            .filter(|s| s.name == "deliver" && s.attributes.get("hookd.webhook_id") == Some(&id))
            .collect::<Vec<&Span>>()
    };
    let mut to_traced = deliver_to(&traced);
    to_traced.sort_by_key(|s| s.attributes["hookd.attempt"].clone());
    assert_eq!(to_traced.len(), 2, "{all:?}");
    for (i, s) in to_traced.iter().enumerate() {
        assert_eq!((s.trace_id.as_str(), s.parent_span_id.as_str()), (TRACE, publish.span_id.as_str()), "{s:?}");
        assert_eq!(s.attributes["hookd.attempt"], (i + 1).to_string());
        assert_eq!(s.attributes["hookd.event_id"], event_id);
        assert!(s.attributes["hookd.delivery_id"].starts_with("dlv_"), "{s:?}");
        assert_eq!(s.attributes["hookd.workspace_id"], publish.attributes["hookd.workspace_id"]);
        assert_eq!(s.attributes["server.address"], "127.0.0.1");
        // The header each attempt carried names that attempt's span.
        assert_eq!(s.span_id, sent[i].1, "attempt {} sent its own span as the parent", i + 1);
    }
    assert_eq!(to_traced[0].attributes["http.response.status_code"], "500");
    assert!(to_traced[0].error, "a failed attempt is an error span: {:?}", to_traced[0]);
    assert_eq!(to_traced[0].attributes["error.type"], "http_status");
    assert_eq!(to_traced[1].attributes["http.response.status_code"], "200");
    assert!(!to_traced[1].error);
    assert_eq!(to_traced[0].attributes["hookd.delivery_id"], to_traced[1].attributes["hookd.delivery_id"]);
    let to_plain = deliver_to(&plain);
    let to_plain = to_plain.first().expect("the other webhook's attempt is traced too");
    assert_eq!(to_plain.parent_span_id, publish.span_id);

    // Without a traceparent a publish starts a trace of its own.
    let untraced_event = publish_with(&c, "order.shipped", &[]).await;
    let root = eventually(WAIT, || async {
        spans(&collector)
            .into_iter()
            .find(|s| s.name == "publish" && s.attributes.get("hookd.event_id") == Some(&untraced_event))
            .ok_or_else(|| "no publish span yet".to_owned())
    })
    .await;
    assert_eq!(root.parent_span_id, "", "a root span: {root:?}");
    assert_ne!(root.trace_id, TRACE);
    let got = traced_rx.wait_for(3, None, WAIT).await;
    let (trace, _) = parts(got[2].header("traceparent").unwrap());
    assert_eq!(trace, root.trace_id, "the delivery continues hookd's own trace");
    server.stop().await;
}

#[tokio::test]
async fn without_telemetry_the_publishers_traceparent_still_reaches_webhooks_that_ask() {
    let server = delivering_server(|_| {}).await;
    let c = server.client();
    let rx = TestReceiver::start().await;
    let wh = create(&c, &json!({"url": rx.url("/in"), "events": ["order.*"]})).await;
    assert_eq!(wh["send_traceparent"], false);
    // Not asked for: nothing sent.
    publish_with(&c, "order.paid", &[("traceparent", &caller_traceparent())]).await;
    assert_eq!(rx.wait_for(1, None, WAIT).await[0].header("traceparent"), None);
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"send_traceparent": true})).await;
    r.assert_status(200);
    assert_eq!(r.data()["send_traceparent"], true);
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"send_traceparent": null})).await;
    crate::assert_error(&r, 422, "validation_error");
    assert!(r.text.contains("send_traceparent"), "{}", r.text);
    // Passed on as it came: no span of hookd's stands between.
    publish_with(&c, "order.paid", &[("traceparent", &caller_traceparent())]).await;
    assert_eq!(rx.wait_for(2, None, WAIT).await[1].header("traceparent"), Some(caller_traceparent().as_str()));
    // An invalid value, or none, starts nothing.
    publish_with(&c, "order.paid", &[("traceparent", &caller_traceparent().to_uppercase())]).await;
    publish_with(&c, "order.paid", &[]).await;
    let got = rx.wait_for(4, None, WAIT).await;
    assert_eq!((got[2].header("traceparent"), got[3].header("traceparent")), (None, None));
    // A batch's events all continue the request's trace.
    let rb = c
        .request(reqwest::Method::POST, "/v1/events/batch")
        .header("traceparent", caller_traceparent())
        .json(&json!({"events": [{"event": "order.a", "data": {}}, {"event": "order.b", "data": {}}]}));
    Client::send(rb).await.assert_status(202);
    let got = rx.wait_for(6, None, WAIT).await;
    assert!(got[4..].iter().all(|r| r.header("traceparent") == Some(caller_traceparent().as_str())));
    server.stop().await;
}

#[tokio::test]
async fn spans_go_as_protobuf_by_default_and_the_last_are_sent_on_shutdown() {
    let collector = TestReceiver::start().await;
    let server = delivering_server(|c| {
        c.telemetry.otlp_endpoint = Some(collector.url("/"));
        // Never within the test: only the shutdown sends them.
        c.telemetry.export_interval = Duration::from_secs(3600);
    })
    .await;
    let c = server.client();
    let event_id = publish_with(&c, "order.paid", &[]).await;
    server.stop().await;
    // Protobuf strings are their UTF-8 bytes: the event id is in the body as it is.
    let got = collector
        .received_on("/v1/traces")
        .into_iter()
        .find(|r| r.body.windows(event_id.len()).any(|w| w == event_id.as_bytes()))
        .expect("the publish span was sent when the server stopped");
    assert_eq!(got.header("content-type"), Some("application/x-protobuf"));
}
