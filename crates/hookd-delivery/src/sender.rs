//! One HTTP attempt: sign, send with timeouts and no redirects, read at most 64 KiB of
//! the answer, classify the outcome. Touches no store.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(doc)]
use hookd_core::domain::attempt_headers;
use hookd_core::domain::{DeliveryJob, SigningScheme, WebhookProtocol};
use hookd_core::service::WebhookRoute;
use hookd_core::trace::{AttemptInfo, TraceParent, Tracer};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::StatusCode;
use time::OffsetDateTime;

use crate::signing;
use crate::ssrf::{AddressPolicy, Blocked, GuardedResolver};

/// Most of a response read.
const MAX_READ: usize = 64 * 1024;
/// Most of a response kept in the attempt log.
const MAX_STORED: usize = 4 * 1024;
/// Most response headers kept in the attempt log, and the longest value kept.
pub const MAX_HEADERS_KEPT: usize = 32;
const MAX_HEADER_VALUE_KEPT: usize = 512;

#[derive(Debug, Clone)]
pub struct SenderOptions {
    pub connect_timeout: Duration,
    /// The whole attempt, from connecting to the last byte read.
    pub attempt_timeout: Duration,
    /// Header carrying the body HMAC.
    pub signature_header: HeaderName,
    pub policy: AddressPolicy,
    /// Idle connections kept per host: the engine's `max_in_flight`, so that many
    /// webhooks on one host (a platform hosting many customers' endpoints) keep every
    /// connection they use, instead of closing some after each burst and reconnecting.
    pub max_idle_per_host: usize,
    /// The egress proxy every request goes through, if any. Proxy environment
    /// variables are never read.
    pub proxy: Option<url::Url>,
}

impl Default for SenderOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(15),
            signature_header: HeaderName::from_static("x-hookd-signature"),
            max_idle_per_host: 256,
            policy: AddressPolicy::default(),
            proxy: None,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub started_at: OffsetDateTime,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub response: Option<String>,
    /// `None` on success.
    pub error_kind: Option<&'static str>,
    pub error_message: Option<String>,
    /// `Retry-After` of a 429 or 503.
    pub retry_after: Option<Duration>,
    /// The signature headers sent and the custom headers' names, as the attempt log keeps
    /// them (none when the request was not sent).
    pub request_headers: Vec<(String, String)>,
    /// The response's headers, at most [`MAX_HEADERS_KEPT`] of them.
    pub response_headers: Vec<(String, String)>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error_kind.is_none()
    }

    pub fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    options: Arc<SenderOptions>,
    /// Set when telemetry is on: a `deliver` span per attempt.
    tracer: Option<Tracer>,
}

impl Sender {
    pub fn new(options: SenderOptions) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(options.policy.clone());
        let mut builder = reqwest::Client::builder()
            // HTTP_PROXY, HTTPS_PROXY and ALL_PROXY are not read: a proxy resolves webhook
            // hosts itself, out of the guard's sight, so only an explicit setting may
            // send deliveries through one.
            .no_proxy();
        let mut resolver = GuardedResolver::new(policy);
        if let Some(proxy) = &options.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.as_str())?);
            // The operator named the proxy, so its own address is trusted, private or not.
            if let Some(url::Host::Domain(host)) = proxy.host() {
                resolver = resolver.trusting(host);
            }
        }
        let client = builder
            .connect_timeout(options.connect_timeout)
            .timeout(options.attempt_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(options.max_idle_per_host)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client, options: Arc::new(options), tracer: None })
    }

    /// Traces every attempt with `tracer` ([`hookd_core::trace`]).
    pub fn with_tracer(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Sends one attempt of `job` to `route`, in a `deliver` span when tracing.
    pub async fn send(&self, route: &WebhookRoute, job: &DeliveryJob) -> Outcome {
        let Some(tracer) = &self.tracer else {
            return self.attempt(route, job, job.trace_parent).await;
        };
        let url = route.url.as_ref().ok();
        let info = AttemptInfo {
            workspace_id: route.webhook.workspace_id.as_str(),
            webhook_id: job.webhook_id.as_str(),
            event_id: job.event_id.as_str(),
            event_type: &job.event_type,
            delivery_id: job.delivery_id.as_str(),
            attempt: i64::from(job.attempts) + 1,
            host: url.and_then(|u| u.host_str()),
            port: url.and_then(|u| u.port_or_known_default()),
        };
        let mut span = tracer.attempt(job.trace_parent.as_ref(), &info);
        let outcome = self.attempt(route, job, Some(span.trace_parent())).await;
        if let Some(code) = outcome.status_code {
            span.set_i64("http.response.status_code", i64::from(code));
        }
        if let Some(kind) = outcome.error_kind {
            span.fail(kind, outcome.error_message.clone().unwrap_or_default());
        }
        span.end();
        outcome
    }

    /// One attempt; `trace` is the context a `traceparent` header carries, for a webhook
    /// that asks for one.
    async fn attempt(&self, route: &WebhookRoute, job: &DeliveryJob, trace: Option<TraceParent>) -> Outcome {
        let started_at = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let fail = |kind: &'static str, message: String, sent: Vec<(String, String)>| Outcome {
            started_at,
            duration: clock.elapsed(),
            status_code: None,
            response: None,
            error_kind: Some(kind),
            error_message: Some(message),
            retry_after: None,
            request_headers: sent,
            response_headers: Vec::new(),
        };
        let url = match &route.url {
            Ok(u) => u.clone(),
            Err(e) => return fail("invalid_url", e.to_string(), Vec::new()),
        };
        if let Err(b) = self.options.policy.check_url(&url) {
            return fail("blocked_address", b.to_string(), Vec::new());
        }
        let body = body_for(route, job);
        let (headers, request_headers) = self.headers(route, job, body.as_bytes(), started_at, trace);
        let sent = self.client.post(url).headers(headers).body(body.as_bytes().to_vec()).send().await;
        let mut res = match sent {
            Ok(r) => r,
            Err(e) => {
                let (kind, msg) = classify(&e);
                return fail(kind, msg, request_headers);
            }
        };
        let status = res.status();
        let response_headers = header_pairs(res.headers());
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                res.headers().get(RETRY_AFTER).and_then(|v| parse_retry_after(v, started_at))
            }
            _ => None,
        };
        let mut body = Vec::new();
        let mut read_error = None;
        while body.len() < MAX_READ {
            match res.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX_READ - body.len())]),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(classify(&e));
                    break;
                }
            }
        }
        let response = Some(excerpt(&body));
        let code = Some(status.as_u16());
        let (error_kind, error_message) = if let Some((kind, msg)) = read_error.filter(|_| !status.is_success()) {
            (Some(kind), Some(msg))
        } else if status.is_success() {
            (None, None)
        } else if status.is_redirection() {
            let to = res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("?");
            (Some("redirect"), Some(format!("answered {status} to {to}; redirects are not followed")))
        } else {
            (Some("http_status"), Some(format!("answered {status}")))
        };
        Outcome {
            started_at,
            duration: clock.elapsed(),
            status_code: code,
            response,
            error_kind,
            error_message,
            retry_after,
            request_headers,
            response_headers,
        }
    }

    /// The request's headers, and for the attempt log the signature headers and the
    /// custom headers' names (the others follow from the delivery: [`attempt_headers`],
    /// which a test holds these to).
    fn headers(
        &self,
        route: &WebhookRoute,
        job: &DeliveryJob,
        body: &[u8],
        now: OffsetDateTime,
        trace: Option<TraceParent>,
    ) -> (HeaderMap, Vec<(String, String)>) {
        let ts = now.unix_timestamp();
        let secrets = route.signing_secrets(now);
        let mut h = HeaderMap::with_capacity(10);
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(USER_AGENT, HeaderValue::from_static(hookd_core::domain::USER_AGENT));
        let value = |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        h.insert(HeaderName::from_static("x-hookd-event"), value(&job.event_type));
        h.insert(HeaderName::from_static("x-hookd-delivery"), value(job.delivery_id.as_str()));
        h.insert(HeaderName::from_static("x-hookd-attempt"), HeaderValue::from(job.attempts + 1));
        let mut logged = Vec::with_capacity(4 + route.headers.len());
        // Svix's protocol names the message `msg_…` and signs that id.
        let (msg_id, signature_header) = match route.webhook.protocol {
            WebhookProtocol::Standard => {
                h.insert(HeaderName::from_static("webhook-id"), value(job.event_id.as_str()));
                h.insert(HeaderName::from_static("webhook-timestamp"), HeaderValue::from(ts));
                (job.event_id.as_str().to_owned(), "webhook-signature")
            }
            WebhookProtocol::Svix => {
                let msg_id = job.event_id.with_prefix(SVIX_MESSAGE_PREFIX);
                h.insert(HeaderName::from_static("svix-id"), value(&msg_id));
                h.insert(HeaderName::from_static("svix-timestamp"), HeaderValue::from(ts));
                logged.push(("svix-id".to_owned(), msg_id.clone()));
                logged.push(("svix-timestamp".to_owned(), ts.to_string()));
                (msg_id, "svix-signature")
            }
        };
        let standard = match route.webhook.signing {
            SigningScheme::Hmac => {
                let hmac = signing::body_hmac(secrets[0].as_str(), body);
                h.insert(self.options.signature_header.clone(), value(&hmac));
                logged.push((self.options.signature_header.as_str().to_owned(), hmac));
                signing::standard_header(secrets.iter().map(|s| s.as_str()), &msg_id, ts, body)
            }
            // No shared secret, so no body HMAC: `v1a` alone.
            SigningScheme::Ed25519 => {
                let keys = secrets.iter().filter_map(|s| s.ed25519());
                signing::ed25519_header(keys, &msg_id, ts, body)
            }
        };
        h.insert(HeaderName::from_static(signature_header), value(&standard));
        logged.push((signature_header.to_owned(), standard));
        // Each attempt has its own span, so its own value: logged with the attempt.
        if let Some(tp) = trace.filter(|_| route.webhook.send_traceparent) {
            let tp = tp.header();
            h.insert(HeaderName::from_static("traceparent"), value(&tp));
            logged.push(("traceparent".to_owned(), tp));
        }
        // The webhook's own headers, checked when they were set; the log shows their
        // names, not their values (which are often credentials).
        for (name, v) in &route.headers {
            if let (Ok(name), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(v)) {
                logged.push((name.as_str().to_owned(), hookd_core::domain::MASKED_VALUE.to_owned()));
                h.insert(name, v);
            }
        }
        (h, logged)
    }
}

/// The prefix of a message id in Svix's protocol (`msg_…` for the event's `evt_…`).
pub const SVIX_MESSAGE_PREFIX: &str = "msg_";

/// The body `route`'s webhook receives: hookd's, or the event's `data` alone for a webhook
/// that speaks Svix's protocol.
fn body_for<'a>(route: &WebhookRoute, job: &'a DeliveryJob) -> &'a str {
    match route.webhook.protocol {
        WebhookProtocol::Standard => &job.body,
        WebhookProtocol::Svix => hookd_core::domain::Event::data_of_body(&job.body),
    }
}

/// Headers as name and value pairs, in order, values cut to a readable length.
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .take(MAX_HEADERS_KEPT)
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes());
            let cut = text.char_indices().nth(MAX_HEADER_VALUE_KEPT).map_or(text.len(), |(i, _)| i);
            (name.as_str().to_owned(), text[..cut].to_owned())
        })
        .collect()
}

/// Names the failure of a request that got no response.
fn classify(e: &reqwest::Error) -> (&'static str, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<Blocked>() {
            return ("blocked_address", b.to_string());
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "response"
    } else {
        "request"
    };
    (kind, hookd_core::error_chain(e))
}

/// The start of a response body, cut at a character boundary.
fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(MAX_STORED)];
    let text = String::from_utf8_lossy(cut);
    let mut s = text.into_owned();
    if body.len() > MAX_STORED && !s.is_empty() {
        // A multi-byte character split by the cut shows as U+FFFD; drop it.
        if s.ends_with('\u{FFFD}') {
            s.pop();
        }
    }
    s
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &HeaderValue, now: OffsetDateTime) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(s).ok()?;
    let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(now.unix_timestamp().max(0) as u64);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("Thu, 01 Jan 2026 00:02:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon"), now), None);
    }

    #[test]
    fn the_headers_sent_are_those_the_delivery_log_shows() {
        use hookd_core::crypto::Sealed;
        use hookd_core::domain::{Webhook, WebhookSecrets};
        use hookd_core::id::{DeliveryId, EventId, WebhookId, WorkspaceId};
        use hookd_core::service::{SigningSecret, WebhookRoute};
        let sender = Sender::new(SenderOptions::default()).unwrap();
        let now = time::macros::datetime!(2026-12-02 12:00 UTC);
        let webhook = Webhook {
            id: WebhookId::generate(),
            number: 1,
            workspace_id: WorkspaceId::generate(),
            created_by: None,
            owner: None,
            url: "https://example.com/h".into(),
            events: vec!["*".into()],
            description: None,
            enabled: true,
            disabled_reason: None,
            failure_count: 0,
            delivery_attempts: 0,
            last_delivered_at: None,
            metadata: Default::default(),
            rate_limit: None,
            headers: None,
            filter: None,
            secrets: WebhookSecrets {
                current: Sealed(Vec::new()),
                previous: None,
                previous_expires_at: None,
                public_key: None,
            },
            signing: SigningScheme::Hmac,
            created_at: now,
            updated_at: now,
            ordering: Default::default(),
            channels: Vec::new(),
            uid: None,
            protocol: Default::default(),
            send_traceparent: false,
        };
        let route = WebhookRoute {
            url: url::Url::parse(&webhook.url),
            webhook,
            secret: SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            previous_secret: Some((
                SigningSecret::new("whsec_dGVzdC1rZXktdGVzdC1rZXk=".into()),
                now + time::Duration::HOUR,
            )),
            headers: vec![("X-Api-Key".into(), "k_live_1".into())],
        };
        let job = DeliveryJob {
            delivery_id: DeliveryId::generate(),
            webhook_id: WebhookId::generate(),
            event_id: EventId::generate(),
            event_type: "link.created".into(),
            body: "{}".into(),
            attempts: 2,
            schedule_base: 0,
            ordered: false,
            trace_parent: None,
        };
        let (sent, signatures) = sender.headers(&route, &job, body_for(&route, &job).as_bytes(), now, None);
        assert!(signatures[1].1.contains(' '), "both secrets sign during the overlap");
        let mut expected: Vec<(String, String)> = hookd_core::domain::attempt_headers(
            &job.event_type,
            &job.delivery_id,
            job.attempts + 1,
            &job.event_id,
            now.unix_timestamp(),
        )
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(signatures)
        .collect();
        let mut got: Vec<(String, String)> =
            sent.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        assert!(got.contains(&("x-api-key".into(), "k_live_1".into())), "custom headers are sent");
        assert!(expected.contains(&("x-api-key".into(), "********".into())), "and logged masked");
        got.retain(|(k, _)| k != "x-api-key");
        expected.retain(|(k, _)| k != "x-api-key");
        expected.sort();
        got.sort();
        assert_eq!(got, expected);

        // An Ed25519 webhook: `v1a` from both keys during the overlap, and no body HMAC.
        let (new_sk, new_pk) = hookd_core::ed25519::generate();
        let (old_sk, old_pk) = hookd_core::ed25519::generate();
        let mut route = route;
        route.webhook.signing = SigningScheme::Ed25519;
        route.secret = SigningSecret::new(new_sk);
        route.previous_secret = Some((SigningSecret::new(old_sk), now + time::Duration::HOUR));
        let (sent, logged) = sender.headers(&route, &job, body_for(&route, &job).as_bytes(), now, None);
        assert!(sent.get("x-hookd-signature").is_none(), "no shared secret, no body HMAC");
        let pairs: Vec<(String, String)> =
            sent.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        let sig = sent["webhook-signature"].to_str().unwrap();
        assert!(sig.split(' ').all(|s| s.starts_with("v1a,")) && sig.split(' ').count() == 2, "{sig}");
        assert!(logged.iter().any(|(k, v)| k == "webhook-signature" && v == sig));
        for pk in [new_pk, old_pk] {
            let ok = signing::verify(&signing::VerifyKey::PublicKey(pk), &pairs, b"{}", now.unix_timestamp(), 300);
            assert_eq!(ok.unwrap().scheme, "v1a");
        }

        // Svix's protocol: svix-* headers naming the message `msg_…`, signing the data
        // alone, and the log shows what was sent.
        route.webhook.signing = SigningScheme::Hmac;
        route.webhook.protocol = WebhookProtocol::Svix;
        route.secret = SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        route.previous_secret = None;
        let job = DeliveryJob { body: r#"{"id":"evt_1","event":"user.created","data":{"n":1}}"#.into(), ..job };
        assert_eq!(body_for(&route, &job), r#"{"n":1}"#);
        let (sent, logged) = sender.headers(&route, &job, body_for(&route, &job).as_bytes(), now, None);
        assert!(sent.get("webhook-id").is_none() && sent.get("webhook-signature").is_none());
        let msg_id = sent["svix-id"].to_str().unwrap();
        assert_eq!(msg_id, job.event_id.with_prefix("msg_"));
        let pairs: Vec<(String, String)> =
            sent.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        let key = signing::VerifyKey::Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let ok = signing::verify(&key, &pairs, br#"{"n":1}"#, now.unix_timestamp(), 300);
        assert_eq!(ok.unwrap().scheme, "v1", "verified as Svix's own Webhook class does");
        for name in ["svix-id", "svix-timestamp", "svix-signature"] {
            assert!(logged.iter().any(|(k, v)| k == name && v == sent[name].to_str().unwrap()), "{name} is logged");
        }

        // A trace context is sent, and logged, only to a webhook that asks for it.
        let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let (sent, logged) = sender.headers(&route, &job, b"{}", now, tp);
        assert!(sent.get("traceparent").is_none() && !logged.iter().any(|(k, _)| k == "traceparent"));
        route.webhook.send_traceparent = true;
        let (sent, logged) = sender.headers(&route, &job, b"{}", now, tp);
        let want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(sent["traceparent"], want);
        assert!(logged.iter().any(|(k, v)| k == "traceparent" && v == want));
        let (sent, _) = sender.headers(&route, &job, b"{}", now, None);
        assert!(sent.get("traceparent").is_none(), "no trace, no header");
    }

    #[test]
    fn excerpts_stop_at_four_kibibytes_on_a_character_boundary() {
        let body = "é".repeat(3000);
        let e = excerpt(body.as_bytes());
        assert!(e.len() <= MAX_STORED && e.chars().all(|c| c == 'é'), "{}", e.len());
    }
}
