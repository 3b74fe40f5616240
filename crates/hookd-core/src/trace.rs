//! Traces: the W3C trace context hookd takes from a publisher and continues into
//! deliveries, and the spans it exports when `[telemetry]` names a collector.
//!
//! A publish makes one `publish` span per event, a child of the publisher's span when
//! the request carried a `traceparent`. Its context is stored with the event, so every
//! attempt, on whichever node and however much later, makes a `deliver` span that is its
//! child. A webhook with `send_traceparent` receives the attempt's context as its own
//! `traceparent` header, so the receiver's work joins the same trace.
//!
//! Without a tracer nothing here runs but [`TraceParent::parse`] of a header the
//! publisher sent: no span is built, and no context is made up.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};

/// A W3C `traceparent`: `00-{trace id}-{parent id}-{flags}`, in lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// The header's value, if it is a valid one. Per the W3C recommendation a version
    /// above `00` is read for its first four fields; `ff`, all-zero ids, upper-case hex or
    /// anything malformed is `None` (the trace restarts here).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex_bytes::<1>(&s[0..2])?[0];
        // Version 00 has exactly four fields; a later one may add more after a dash.
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        let trace_id = hex_bytes::<16>(&s[3..35])?;
        let parent_id = hex_bytes::<8>(&s[36..52])?;
        let flags = hex_bytes::<1>(&s[53..55])?[0];
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self { trace_id, parent_id, flags })
    }

    /// The header's value (version `00`).
    pub fn header(&self) -> String {
        format!("00-{}-{}-{:02x}", hex::encode(self.trace_id), hex::encode(self.parent_id), self.flags)
    }

    fn of(cx: &SpanContext) -> Self {
        Self { trace_id: cx.trace_id().to_bytes(), parent_id: cx.span_id().to_bytes(), flags: cx.trace_flags().to_u8() }
    }

    fn context(&self) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            TraceState::default(),
        ))
    }
}

fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    // Lower case only, as the recommendation requires.
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Makes hookd's spans; built by the binary from `[telemetry]`.
#[derive(Clone)]
pub struct Tracer(Arc<BoxedTracer>);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

/// What a `deliver` span records of its attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptInfo<'a> {
    pub workspace_id: &'a str,
    pub webhook_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub delivery_id: &'a str,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub host: Option<&'a str>,
    pub port: Option<u16>,
}

impl Tracer {
    pub fn new(tracer: BoxedTracer) -> Self {
        Self(Arc::new(tracer))
    }

    /// The `publish` span of one event, begun at `start`, a child of `parent` (the
    /// publisher's context) when there is one.
    pub fn publish(
        &self,
        parent: Option<&TraceParent>,
        start: SystemTime,
        workspace_id: &str,
        event_id: &str,
        event_type: &str,
    ) -> TraceSpan {
        let cx = parent.map(TraceParent::context).unwrap_or_default();
        let span = self
            .0
            .span_builder("publish")
            .with_kind(SpanKind::Producer)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("hookd.workspace_id", workspace_id.to_owned()),
                KeyValue::new("hookd.event_id", event_id.to_owned()),
                KeyValue::new("hookd.event_type", event_type.to_owned()),
            ])
            .start_with_context(self.0.as_ref(), &cx);
        TraceSpan(span)
    }

    /// The `deliver` span of one attempt, a child of the event's stored context (its
    /// `publish` span, or the publisher's when the event was published untraced).
    pub fn attempt(&self, parent: Option<&TraceParent>, a: &AttemptInfo<'_>) -> TraceSpan {
        let cx = parent.map(TraceParent::context).unwrap_or_default();
        let mut attributes = vec![
            KeyValue::new("hookd.workspace_id", a.workspace_id.to_owned()),
            KeyValue::new("hookd.webhook_id", a.webhook_id.to_owned()),
            KeyValue::new("hookd.event_id", a.event_id.to_owned()),
            KeyValue::new("hookd.event_type", a.event_type.to_owned()),
            KeyValue::new("hookd.delivery_id", a.delivery_id.to_owned()),
            KeyValue::new("hookd.attempt", a.attempt),
            KeyValue::new("http.request.method", "POST"),
        ];
        if let Some(h) = a.host {
            attributes.push(KeyValue::new("server.address", h.to_owned()));
        }
        if let Some(p) = a.port {
            attributes.push(KeyValue::new("server.port", i64::from(p)));
        }
        let span = self
            .0
            .span_builder("deliver")
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(self.0.as_ref(), &cx);
        TraceSpan(span)
    }
}

/// A span under way; ended by [`TraceSpan::end`] (or when dropped).
pub struct TraceSpan(BoxedSpan);

impl TraceSpan {
    /// Its context, to store or to send on as a `traceparent`.
    pub fn trace_parent(&self) -> TraceParent {
        TraceParent::of(self.0.span_context())
    }

    pub fn set_i64(&mut self, key: &'static str, value: i64) {
        self.0.set_attribute(KeyValue::new(key, value));
    }

    pub fn set_bool(&mut self, key: &'static str, value: bool) {
        self.0.set_attribute(KeyValue::new(key, value));
    }

    /// Marks the span failed, with `error.type` and a message.
    pub fn fail(&mut self, kind: &'static str, message: impl Into<Cow<'static, str>>) {
        self.0.set_attribute(KeyValue::new("error.type", kind));
        self.0.set_status(Status::error(message));
    }

    pub fn end(mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_writes_back_a_traceparent() {
        let t = TraceParent::parse(VALID).unwrap();
        assert_eq!(hex::encode(t.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(t.parent_id), "00f067aa0ba902b7");
        assert_eq!(t.flags, 1, "sampled");
        assert_eq!(t.header(), VALID);
        assert_eq!(TraceParent::parse(&VALID.replace("-01", "-00")).unwrap().flags, 0, "not sampled");
    }

    #[test]
    fn refuses_what_the_recommendation_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_a_later_version_for_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        let t = TraceParent::parse(later).unwrap();
        assert_eq!(t.header(), VALID);
        assert_eq!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), None);
    }
}
