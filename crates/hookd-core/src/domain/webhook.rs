//! Webhooks (endpoint subscriptions) and the rules for creating and changing them.

use std::collections::{BTreeMap, HashSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use time::OffsetDateTime;
use url::Url;

use super::channels::{check_channels, MAX_WEBHOOK_CHANNELS};
use super::event_type::EventCatalog;
use super::filter::Filter;
use super::headers::{check_headers, SealedHeaders};
use super::FieldErrors;
use crate::crypto::Sealed;
use crate::id::{ApiKeyId, WebhookId, WorkspaceId};

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_METADATA_KEYS: usize = 50;
pub const MAX_METADATA_KEY_LEN: usize = 40;
pub const MAX_METADATA_VALUE_LEN: usize = 500;
pub const MIN_SECRET_LEN: usize = 16;
pub const MAX_SECRET_LEN: usize = 255;
const WHSEC: &str = "whsec_";

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    /// A positive integer unique in the deployment and never reused, given by the store
    /// on insert: the id of APIs whose ids are integers (partner v2).
    pub number: i64,
    pub workspace_id: WorkspaceId,
    /// The key that created it.
    pub created_by: Option<ApiKeyId>,
    /// The owner (a sub-account of the workspace's customer) it belongs to; `None` for a
    /// webhook the workspace itself manages. Keys with an owner see only its webhooks.
    pub owner: Option<String>,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Consecutive failed attempts since the last success.
    pub failure_count: i64,
    /// Every attempt ever made.
    pub delivery_attempts: i64,
    pub last_delivered_at: Option<OffsetDateTime>,
    pub metadata: BTreeMap<String, String>,
    /// Most deliveries a second, if the customer set a limit.
    pub rate_limit: Option<u32>,
    pub secrets: WebhookSecrets,
    /// How deliveries are signed: fixed when the webhook is created.
    pub signing: SigningScheme,
    /// Headers sent with every delivery, their values sealed.
    pub headers: Option<SealedHeaders>,
    /// Which events it receives, beyond their types: `None` for all of them.
    pub filter: Option<Filter>,
    /// Whether events with the same `ordering_key` reach it one at a time, in order.
    pub ordering: DeliveryOrdering,
    /// The channels it listens to; empty for every event (see `channels_admit`).
    pub channels: Vec<String>,
    /// Its own name, unique among its owner's webhooks (a Svix endpoint's `uid`).
    pub uid: Option<String>,
    /// What its deliveries look like.
    pub protocol: WebhookProtocol,
    /// Its deliveries carry a W3C `traceparent` header continuing the publisher's trace.
    pub send_traceparent: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The sealed signing secrets. During a rotation the previous one keeps signing
/// alongside the new one until `previous_expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSecrets {
    pub current: Sealed,
    pub previous: Option<Sealed>,
    pub previous_expires_at: Option<OffsetDateTime>,
    /// With Ed25519 signing, the current key's `whpk_…` public key.
    pub public_key: Option<String>,
}

/// How a webhook's deliveries are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningScheme {
    /// A shared `whsec_` secret: the body HMAC header and Standard Webhooks `v1`.
    #[default]
    Hmac,
    /// A key pair whose private half stays in hookd: Standard Webhooks `v1a`, verified
    /// with the `whpk_` public key.
    Ed25519,
}

impl SigningScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hmac" => Some(Self::Hmac),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

/// What a webhook's deliveries look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookProtocol {
    /// hookd's body (`{"id", "event", "created_at", "data"}`) and Standard Webhooks'
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
    #[default]
    Standard,
    /// As Svix sends them, for receivers written against Svix: the event's `data` alone
    /// as the body, and `svix-id` (`msg_…`), `svix-timestamp` and `svix-signature`.
    /// Webhooks created through the Svix-compatible API speak it.
    Svix,
}

impl WebhookProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Svix => "svix",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Self::Standard),
            "svix" => Some(Self::Svix),
            _ => None,
        }
    }
}

/// Whether a webhook receives the events of one `ordering_key` in publish order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOrdering {
    /// Deliveries are attempted as soon as there is room, many at a time: the fastest.
    #[default]
    None,
    /// The deliveries of one key are attempted one at a time, in publish order; a failing
    /// one holds back the later ones of its key (only) until it succeeds, its retries run
    /// out or it is cancelled. Events without a key are delivered unordered.
    PerKey,
}

impl DeliveryOrdering {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::PerKey => "per_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "per_key" => Some(Self::PerKey),
            _ => None,
        }
    }
}

/// Deployment rules for webhooks.
#[derive(Debug, Clone)]
pub struct WebhookRules {
    /// Accept plain `http://` URLs.
    pub allow_http: bool,
    pub max_events: usize,
    pub max_description_len: usize,
    /// The delivery engine's verdict on a URL whose host is a literal address, so that
    /// `https://10.0.0.1/` is refused when it is registered rather than on every
    /// delivery. Host names are still checked at connect time, on what they resolve to.
    pub address_check: AddressCheck,
    /// The body-signature header hookd sets, which custom headers may not name.
    pub signature_header: String,
}

impl Default for WebhookRules {
    fn default() -> Self {
        Self {
            allow_http: false,
            max_events: 100,
            max_description_len: 500,
            address_check: AddressCheck::default(),
            signature_header: "x-hookd-signature".into(),
        }
    }
}

/// A check of a webhook URL's host: `Err` carries the rule it breaks.
#[derive(Clone, Default)]
pub struct AddressCheck(Option<std::sync::Arc<UrlVerdict>>);

type UrlVerdict = dyn Fn(&Url) -> Result<(), String> + Send + Sync;

impl AddressCheck {
    pub fn new(f: impl Fn(&Url) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }
}

impl std::fmt::Debug for AddressCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "AddressCheck(set)" } else { "AddressCheck(none)" })
    }
}

/// A create request, as parsed from the client. Everything optional so that validation
/// can report every missing field at once.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// Set by a caller without an owner of its own; a caller with one always creates
    /// webhooks for it.
    pub owner: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub rate_limit: Option<u32>,
    pub headers: Option<BTreeMap<String, String>>,
    /// Default [`SigningScheme::Hmac`].
    pub signing: Option<SigningScheme>,
    /// The filter as sent; [`WebhookRules::check_new`] parses it into `parsed_filter`.
    pub filter: Option<serde_json::Value>,
    pub parsed_filter: Option<Filter>,
    /// Default [`DeliveryOrdering::None`].
    pub ordering: Option<DeliveryOrdering>,
    /// Default none: every event.
    pub channels: Option<Vec<String>>,
    /// Unique among the owner's webhooks; default none.
    pub uid: Option<String>,
    /// Default [`WebhookProtocol::Standard`].
    pub protocol: Option<WebhookProtocol>,
    /// Default `false`.
    pub send_traceparent: Option<bool>,
}

/// A change request (PATCH). `None` leaves a field alone; `description: Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<u32>>,
    /// Replaces every custom header; `Some(None)` removes them all.
    pub headers: Option<Option<BTreeMap<String, String>>>,
    /// `Some(None)` removes the filter. [`WebhookRules::check_changes`] parses it into
    /// `parsed_filter`.
    pub filter: Option<Option<serde_json::Value>>,
    pub parsed_filter: Option<Filter>,
    /// Applies to deliveries created from then on.
    pub ordering: Option<DeliveryOrdering>,
    /// Replaces the channels; `Some(None)` or an empty list listens to every event.
    pub channels: Option<Option<Vec<String>>>,
    /// `Some(None)` clears it.
    pub uid: Option<Option<String>>,
    pub send_traceparent: Option<bool>,
    /// When this change re-enables a disabled webhook: deliver the deliveries held while
    /// it was disabled (`true`) or cancel them (`false`, the default). Otherwise it has
    /// no effect.
    pub deliver_held: Option<bool>,
}

impl WebhookChanges {
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.events.is_none()
            && self.description.is_none()
            && self.enabled.is_none()
            && self.metadata.is_none()
            && self.rate_limit.is_none()
            && self.headers.is_none()
            && self.filter.is_none()
            && self.ordering.is_none()
            && self.channels.is_none()
            && self.uid.is_none()
            && self.send_traceparent.is_none()
            && self.deliver_held.is_none()
    }
}

impl WebhookRules {
    /// Checks a create request; on success the URL, events and secret are normalised.
    pub fn check_new(&self, req: &mut NewWebhook, catalog: &EventCatalog) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if let Some(Err(m)) = req.owner.as_deref().map(validate_owner) {
            errs.push("owner", m);
        }
        match &req.url {
            None => errs.push("url", "is required"),
            Some(u) => match self.check_url(u) {
                Ok(n) => req.url = Some(n),
                Err(m) => errs.push("url", m),
            },
        }
        match &req.events {
            None => errs.push("events", "is required"),
            Some(ev) => self.check_events(ev, catalog, &mut errs),
        }
        if let Some(d) = &req.description {
            self.check_description(d, &mut errs);
        }
        if let Some(s) = &req.secret {
            if req.signing == Some(SigningScheme::Ed25519) {
                errs.push("secret", "applies to hmac signing only: an ed25519 webhook's key pair is generated");
            } else if let Err(m) = validate_signing_secret(s) {
                errs.push("secret", m);
            }
        }
        if let Some(m) = &req.metadata {
            check_metadata(m, &mut errs);
        }
        if let Some(r) = req.rate_limit {
            check_rate_limit(r, &mut errs);
        }
        if let Some(h) = &req.headers {
            check_headers(h, &self.signature_header, &mut errs);
        }
        if let Some(c) = &req.channels {
            check_channels(c, MAX_WEBHOOK_CHANNELS, "channels", &mut errs);
        }
        if let Some(Err(m)) = req.uid.as_deref().map(validate_uid) {
            errs.push("uid", m);
        }
        req.parsed_filter = req.filter.as_ref().and_then(|f| parse_filter(f, &mut errs));
        errs.into_result()
    }

    /// Checks a change request; on success the URL is normalised.
    pub fn check_changes(&self, ch: &mut WebhookChanges, catalog: &EventCatalog) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if let Some(u) = &ch.url {
            match self.check_url(u) {
                Ok(n) => ch.url = Some(n),
                Err(m) => errs.push("url", m),
            }
        }
        if let Some(ev) = &ch.events {
            self.check_events(ev, catalog, &mut errs);
        }
        if let Some(Some(d)) = &ch.description {
            self.check_description(d, &mut errs);
        }
        if let Some(m) = &ch.metadata {
            check_metadata(m, &mut errs);
        }
        if let Some(Some(r)) = ch.rate_limit {
            check_rate_limit(r, &mut errs);
        }
        if let Some(Some(h)) = &ch.headers {
            check_headers(h, &self.signature_header, &mut errs);
        }
        if let Some(Some(f)) = &ch.filter {
            ch.parsed_filter = parse_filter(f, &mut errs);
        }
        if let Some(Some(c)) = &ch.channels {
            check_channels(c, MAX_WEBHOOK_CHANNELS, "channels", &mut errs);
        }
        if let Some(Some(Err(m))) = ch.uid.as_ref().map(|u| u.as_deref().map(validate_uid)) {
            errs.push("uid", m);
        }
        errs.into_result()
    }

    /// [`validate_url`], then the address check.
    fn check_url(&self, raw: &str) -> Result<String, String> {
        let normalised = validate_url(raw, self.allow_http)?;
        if let Some(check) = &self.address_check.0 {
            check(&Url::parse(&normalised).expect("a validated URL parses"))?;
        }
        Ok(normalised)
    }

    fn check_events(&self, events: &[String], catalog: &EventCatalog, errs: &mut FieldErrors) {
        if events.is_empty() {
            errs.push("events", "must contain at least 1 event type");
            return;
        }
        if events.len() > self.max_events {
            errs.push("events", format!("must contain at most {} event types", self.max_events));
            return;
        }
        let mut seen = HashSet::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            if !seen.insert(e.as_str()) {
                errs.push(format!("events[{i}]"), format!("`{e}` is listed more than once"));
            } else if let Err(err) = catalog.check_pattern(e) {
                errs.push(format!("events[{i}]"), format!("`{e}` {err}"));
            }
        }
    }

    fn check_description(&self, d: &str, errs: &mut FieldErrors) {
        if d.chars().count() > self.max_description_len {
            errs.push("description", format!("must be at most {} characters", self.max_description_len));
        }
    }
}

/// A filter, or its problem reported under `filter` (`filter.data.country.$gt`).
fn parse_filter(f: &serde_json::Value, errs: &mut FieldErrors) -> Option<Filter> {
    match Filter::parse(f) {
        Ok(f) => Some(f),
        Err(e) => {
            let field = if e.at.is_empty() { "filter".to_owned() } else { format!("filter.{}", e.at) };
            errs.push(field, e.message);
            None
        }
    }
}

/// Most deliveries a second a webhook's `rate_limit` may ask for.
pub const MAX_RATE_LIMIT: u32 = 10_000;

fn check_rate_limit(r: u32, errs: &mut FieldErrors) {
    if !(1..=MAX_RATE_LIMIT).contains(&r) {
        errs.push("rate_limit", format!("must be between 1 and {MAX_RATE_LIMIT} deliveries per second"));
    }
}

pub(crate) fn check_metadata(m: &BTreeMap<String, String>, errs: &mut FieldErrors) {
    if m.len() > MAX_METADATA_KEYS {
        errs.push("metadata", format!("must have at most {MAX_METADATA_KEYS} keys"));
        return;
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN {
            errs.push(format!("metadata.{k}"), format!("keys must be 1 to {MAX_METADATA_KEY_LEN} characters"));
        } else if v.chars().count() > MAX_METADATA_VALUE_LEN {
            errs.push(format!("metadata.{k}"), format!("values must be at most {MAX_METADATA_VALUE_LEN} characters"));
        }
    }
}

/// A caller's own unique name for an object (a Svix `uid`): 1 to 256 of a-z, A-Z, 0-9,
/// `-`, `_` and `.`.
pub fn validate_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() || uid.len() > 256 || !uid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err("must be 1 to 256 characters of a-z, A-Z, 0-9, '-', '_' and '.'".into());
    }
    Ok(())
}

/// Owners: 1–128 visible ASCII characters (the product's own id for a sub-account, an
/// OAuth client id, a key id).
pub fn validate_owner(owner: &str) -> Result<(), String> {
    if owner.is_empty() || owner.len() > 128 || !owner.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be 1 to 128 visible ASCII characters".into());
    }
    Ok(())
}

/// Checks a webhook URL and returns its normalised form.
///
/// The rules: it parses as an absolute URL, uses `https` (or `http` when allowed), has
/// a host, carries no user-info (credentials in URLs end up in logs), and is at most
/// 2,048 characters. Whether the host is a public address is decided at connect time,
/// on the resolved addresses, by the delivery engine's SSRF guard.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<String, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if raw.trim() != raw || raw.is_empty() {
        return Err("must be an absolute URL without surrounding whitespace".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not a valid absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("must use https:// (plain http:// is not allowed on this deployment)".into()),
        other => return Err(format!("must use https://, not {other}://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must include a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a username or password".into());
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        // The parser has lower-cased and IDNA-encoded it; what is left must be a DNS name.
        let name = name.strip_suffix('.').unwrap_or(name);
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.len() > 253 || !name.split('.').all(label_ok) {
            return Err("must have a valid host name (labels of letters, digits and hyphens, separated by dots)".into());
        }
    }
    // The limit is on what the caller sent: normalising may add a character or two
    // (`https://host?q` becomes `https://host/?q`).
    Ok(String::from(url))
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes, the Standard
/// Webhooks form.
pub fn generate_signing_secret() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{WHSEC}{}", STANDARD.encode(b))
}

/// Checks a caller-supplied secret: 16–255 printable ASCII characters without spaces;
/// a `whsec_` secret must carry valid base64 of at least 16 bytes, because Standard
/// Webhooks signatures use the decoded bytes as the key.
pub fn validate_signing_secret(s: &str) -> Result<(), String> {
    let len = s.len();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len) {
        return Err(format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters"));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    if let Some(b64) = s.strip_prefix(WHSEC) {
        match STANDARD.decode(b64) {
            Ok(bytes) if bytes.len() >= 16 => {}
            Ok(_) => return Err("a whsec_ secret must encode at least 16 bytes".into()),
            Err(_) => return Err("a whsec_ secret must be followed by standard base64".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::EventType;

    fn catalog() -> EventCatalog {
        EventCatalog::new(vec![
            EventType { name: "link.created".into(), description: String::new() },
            EventType { name: "link.scanned".into(), description: String::new() },
        ])
        .unwrap()
    }

    #[test]
    fn url_rules() {
        assert_eq!(validate_url("https://example.com/hook", false).unwrap(), "https://example.com/hook");
        assert_eq!(validate_url("https://EXAMPLE.com", false).unwrap(), "https://example.com/");
        assert!(validate_url("http://example.com", false).unwrap_err().contains("https"));
        assert!(validate_url("http://example.com", true).is_ok());
        assert!(validate_url("ftp://example.com", true).unwrap_err().contains("ftp"));
        assert!(validate_url("/relative", false).unwrap_err().contains("absolute"));
        assert!(validate_url("https://user:pw@example.com", false).unwrap_err().contains("username"));
        assert!(validate_url("https://user@example.com", false).is_err());
        assert!(validate_url(&format!("https://e.com/{}", "a".repeat(2100)), false).unwrap_err().contains("2048"));
        assert!(validate_url(" https://example.com", false).is_err());
        assert!(validate_url("", false).is_err());
    }

    #[test]
    fn create_reports_every_problem_at_once() {
        let rules = WebhookRules::default();
        let mut req = NewWebhook {
            url: Some("http://x.com".into()),
            events: Some(vec!["link.created".into(), "nope.nope".into(), "link.created".into()]),
            description: Some("d".repeat(501)),
            secret: Some("short".into()),
            ..Default::default()
        };
        let errs = rules.check_new(&mut req, &catalog()).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events[1]", "events[2]", "description", "secret"]);
    }

    #[test]
    fn create_requires_url_and_events() {
        let errs = WebhookRules::default().check_new(&mut NewWebhook::default(), &catalog()).unwrap_err();
        assert_eq!(errs.0.len(), 2);
        assert_eq!(errs.0[0].field, "url");
        assert_eq!(errs.0[1].field, "events");
    }

    #[test]
    fn events_count_limits() {
        let rules = WebhookRules { max_events: 2, ..Default::default() };
        let mut req = NewWebhook { url: Some("https://x.com".into()), events: Some(vec![]), ..Default::default() };
        assert!(rules.check_new(&mut req, &catalog()).unwrap_err().to_string().contains("at least 1"));
        req.events = Some(vec!["link.created".into(), "link.scanned".into(), "*".into()]);
        assert!(rules.check_new(&mut req, &catalog()).unwrap_err().to_string().contains("at most 2"));
    }

    #[test]
    fn metadata_limits() {
        let rules = WebhookRules::default();
        let base =
            || NewWebhook { url: Some("https://x.com".into()), events: Some(vec!["*".into()]), ..Default::default() };
        let mut req = base();
        req.metadata = Some((0..51).map(|i| (format!("k{i}"), "v".into())).collect());
        assert!(rules.check_new(&mut req, &catalog()).unwrap_err().to_string().contains("at most 50 keys"));
        let mut req = base();
        req.metadata = Some([("k".repeat(41), "v".into())].into());
        assert!(rules.check_new(&mut req, &catalog()).is_err());
        let mut req = base();
        req.metadata = Some([("team".into(), "v".repeat(501))].into());
        assert_eq!(rules.check_new(&mut req, &catalog()).unwrap_err().0[0].field, "metadata.team");
        let mut req = base();
        req.metadata = Some([("team".into(), "growth".into())].into());
        assert!(rules.check_new(&mut req, &catalog()).is_ok());
    }

    #[test]
    fn secrets() {
        assert!(validate_signing_secret("your-webhook-secret-key").is_ok());
        assert!(validate_signing_secret(&generate_signing_secret()).is_ok());
        assert!(validate_signing_secret("too-short").is_err());
        assert!(validate_signing_secret("has spaces in the secret").is_err());
        assert!(validate_signing_secret("whsec_!!!!notbase64!!!!").is_err());
        assert!(validate_signing_secret(&format!("whsec_{}", STANDARD.encode([1u8; 8]))).is_err());
    }

    proptest! {
        #[test]
        fn accepted_urls_are_https_with_a_host_and_no_credentials(s in "\\PC{0,80}") {
            if let Ok(n) = validate_url(&s, false) {
                let u = Url::parse(&n).unwrap();
                prop_assert_eq!(u.scheme(), "https");
                prop_assert!(u.host_str().is_some());
                prop_assert!(u.username().is_empty() && u.password().is_none());
                prop_assert!(n.len() <= MAX_URL_LEN);
            }
        }

        #[test]
        fn normalisation_is_idempotent(host in "[a-z]{1,10}\\.(com|io)", path in "(/[a-zA-Z0-9_~-]{0,8}){0,4}", q in "(\\?[a-z]=[a-z0-9]{0,5})?") {
            let raw = format!("https://{host}{path}{q}");
            let n = validate_url(&raw, false).unwrap();
            prop_assert_eq!(validate_url(&n, false).unwrap(), n);
        }

        #[test]
        fn credentials_are_always_refused(user in "[a-z]{1,8}", host in "[a-z]{1,10}\\.com") {
            let raw = format!("https://{user}@{host}/");
            prop_assert!(validate_url(&raw, false).is_err());
        }
    }
}
