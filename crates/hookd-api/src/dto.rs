//! Request and response bodies of the API, and their OpenAPI schemas.

use std::collections::BTreeMap;

use hookd_core::domain::{
    DeliveryOrdering, EventType, FieldErrors, NewWebhook, SigningScheme, Webhook, WebhookChanges, MASKED_VALUE,
};
use hookd_core::time_fmt;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// A public `https://` URL as the schema describes it: a dotted host name, an optional
/// port and a path and query of unreserved characters. (The server takes any URL that
/// parses, is absolute, has no user-info and points to a public host; this is the part
/// of that a schema can say.) Where plain `http://` is allowed, the served document
/// says `^https?://`.
pub const URL_PATTERN: &str = "^https://[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.[a-z]{2,63}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?(\\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?$";
/// An event type name: dotted lower-case segments.
pub const EVENT_NAME_PATTERN: &str = "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$";
/// A subscription: an event type, `*`, or a prefix wildcard such as `link.*`.
pub const EVENT_PATTERN_PATTERN: &str =
    "^(\\*|[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*\\.\\*|[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+)$";
/// A payload filter (docs/filters.md) as JSON Schema: exact but for the bounds on
/// nesting (8), conditions (64) and size (4 KiB), which a schema cannot count.
fn payload_filter_schema() -> serde_json::Value {
    let filters = json!({"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/PayloadFilter"}});
    json!({
        "type": "object",
        "description": "A payload filter: paths into the event (`event`, `id`, `owner`, `data.country`) mapped to a value or to operators, and the combinators `$and`, `$or` and `$not`. See docs/filters.md.",
        "maxProperties": 64,
        "propertyNames": {"anyOf": [
            {"enum": ["$and", "$or", "$not"]},
            {"pattern": "^(event|id|owner|data(\\.[^.]+){0,15})$"}
        ]},
        "properties": {
            "$and": filters.clone(),
            "$or": filters,
            "$not": {"$ref": "#/components/schemas/PayloadFilter"}
        },
        "additionalProperties": {"$ref": "#/components/schemas/FilterCondition"},
        "example": {"data.country": {"$in": ["NL", "BE"]}}
    })
}

/// One path's condition: a value to equal, or an object of operators.
fn filter_condition_schema() -> serde_json::Value {
    let list = json!({"type": "array", "maxItems": 100});
    let comparable = json!({"type": ["number", "string"]});
    json!({"anyOf": [
        {"type": ["string", "number", "boolean", "null", "array"]},
        {"type": "object", "propertyNames": {"not": {"pattern": "^\\$"}}},
        {"type": "object", "minProperties": 1,
         "propertyNames": {"enum": ["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$prefix", "$contains", "$not"]},
         "properties": {
            "$in": list.clone(), "$nin": list,
            "$gt": comparable.clone(), "$gte": comparable.clone(), "$lt": comparable.clone(), "$lte": comparable,
            "$exists": {"type": "boolean"},
            "$prefix": {"type": "string"},
            "$contains": {"type": ["string", "number", "boolean", "null"]},
            "$not": {"$ref": "#/components/schemas/FilterCondition"}
         }}
    ]})
}

/// `c` as a character of an ECMA pattern.
fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else {
        format!("\\{c}")
    }
}

/// Visible ASCII, no spaces.
pub const VISIBLE_ASCII: &str = "^[!-~]+$";
/// The scopes a key may be given.
pub const SCOPES: [&str; 5] = ["webhooks:read", "webhooks:write", "events:write", "*", "admin"];

/// What the derive attributes cannot say (patterns from constants, `propertyNames`,
/// alternatives), as JSON Schema fragments merged into the document: (a component schema
/// or `param:<name>` for a parameter of every operation, the property, the fragment).
/// `component:<name>` adds a whole schema, such as the recursive payload filter; an
/// empty property merges the fragment into the schema itself.
pub fn schema_bounds(allow_http: bool, signature_header: &str) -> Vec<(&'static str, &'static str, serde_json::Value)> {
    let url = if allow_http { URL_PATTERN.replacen("^https://", "^https?://", 1) } else { URL_PATTERN.to_owned() };
    let secret = json!({"anyOf": [
        {"type": "null"},
        {"type": "string", "pattern": "^whsec_([A-Za-z0-9+/]{4}){6,62}$"},
        {"type": "string", "minLength": 16, "maxLength": 255, "pattern": VISIBLE_ASCII, "not": {"pattern": "^whsec_"}}
    ]});
    let metadata = |nullable: bool| {
        json!({"type": if nullable { json!(["object", "null"]) } else { json!("object") }, "maxProperties": 50,
            "propertyNames": {"minLength": 1, "maxLength": 40},
            "additionalProperties": {"type": "string", "maxLength": 500}})
    };
    let events = json!({"type": "string", "maxLength": 128, "pattern": EVENT_PATTERN_PATTERN});
    let headers = {
        // Names are RFC 9110 tokens, except the ones hookd or the connection sets; ECMA
        // patterns have no case-insensitive flag, so each letter is a class.
        let any_case = |name: &str| -> String {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        regex_escape(c)
                    }
                })
                .collect()
        };
        let refused: Vec<String> = hookd_core::domain::REFUSED_HEADERS
            .iter()
            .map(|n| any_case(n))
            .chain(hookd_core::domain::REFUSED_HEADER_PREFIXES.iter().map(|p| format!("{}.*", any_case(p))))
            .chain(std::iter::once(any_case(signature_header)))
            .collect();
        json!({"type": ["object", "null"], "maxProperties": 20,
            "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", "not": {"pattern": format!("^({})$", refused.join("|"))}},
            "additionalProperties": {"type": "string", "pattern": "^[\\t -~\\u0080-\\uffff]*$"}})
    };
    let external_id = json!({"pattern": VISIBLE_ASCII, "not": {"type": "string", "pattern": "^ws_"}});
    let filter_ref = json!({"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/PayloadFilter"}]});
    let channels = json!({"uniqueItems": true,
        "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[a-zA-Z0-9_.-]+$"}});
    vec![
        // An erasure names whose events: an owner's, a workspace's, or both.
        (
            "StartErasureRequest",
            "",
            json!({"anyOf": [
                {"required": ["owner"], "properties": {"owner": {"type": "string"}}},
                {"required": ["workspace"], "properties": {"workspace": {"type": "string"}}}
            ]}),
        ),
        ("CreateWebhookRequest", "url", json!({"pattern": url})),
        ("CreateWebhookRequest", "events", json!({"uniqueItems": true, "items": events})),
        ("CreateWebhookRequest", "secret", secret.clone()),
        ("CreateWebhookRequest", "metadata", metadata(true)),
        ("component:PayloadFilter", "", payload_filter_schema()),
        ("component:FilterCondition", "", filter_condition_schema()),
        ("CreateWebhookRequest", "filter", filter_ref.clone()),
        ("UpdateWebhookRequest", "filter", filter_ref),
        ("CreateWebhookRequest", "headers", headers.clone()),
        // `secret` is for hmac signing only.
        (
            "CreateWebhookRequest",
            "",
            json!({"if": {"required": ["signing"], "properties": {"signing": {"const": "ed25519"}}},
                   "then": {"properties": {"secret": {"type": "null"}}}}),
        ),
        ("CreateWebhookRequest", "signing", json!({"type": ["string", "null"], "enum": ["hmac", "ed25519", null]})),
        ("WebhookResponse", "signing", json!({"enum": ["hmac", "ed25519"]})),
        ("CreateWebhookRequest", "ordering", json!({"type": ["string", "null"], "enum": ["none", "per_key", null]})),
        ("UpdateWebhookRequest", "ordering", json!({"enum": ["none", "per_key"]})),
        ("WebhookResponse", "ordering", json!({"enum": ["none", "per_key"]})),
        ("WebhookResponse", "protocol", json!({"enum": ["standard", "svix"]})),
        ("UpdateWebhookRequest", "headers", headers),
        ("CreateWebhookRequest", "channels", channels.clone()),
        ("UpdateWebhookRequest", "channels", channels.clone()),
        ("WebhookResponse", "channels", channels.clone()),
        ("PublishEventRequest", "channels", channels.clone()),
        ("EventResponse", "channels", channels),
        ("UpdateWebhookRequest", "url", json!({"pattern": url})),
        ("UpdateWebhookRequest", "events", json!({"uniqueItems": true, "items": events})),
        ("UpdateWebhookRequest", "metadata", metadata(false)),
        ("RotateSecretRequest", "secret", secret),
        ("PublishEventRequest", "event", json!({"pattern": EVENT_NAME_PATTERN})),
        ("PublishEventRequest", "id", json!({"pattern": VISIBLE_ASCII})),
        ("param:event", "", json!({"pattern": EVENT_NAME_PATTERN})),
        ("CreateWorkspaceRequest", "metadata", metadata(true)),
        ("CreateWorkspaceRequest", "external_id", external_id.clone()),
        ("UpdateWorkspaceRequest", "metadata", metadata(false)),
        ("UpdateWorkspaceRequest", "external_id", external_id),
        ("CreateKeyRequest", "scopes", json!({"uniqueItems": true, "items": {"type": "string", "enum": SCOPES}})),
    ]
}

/// A webhook endpoint subscription. The signing secret itself never appears here.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    /// Always `webhook_endpoint`: what kind of object this is.
    #[schema(example = "webhook_endpoint")]
    pub object: &'static str,
    #[schema(example = "wh_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "https://example.com/webhooks/xqr")]
    pub url: String,
    #[schema(example = json!(["link.created", "link.scanned"]))]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the webhook is disabled: `manual`, or set by the delivery engine.
    pub disabled_reason: Option<String>,
    /// Consecutive failed delivery attempts since the last success.
    pub failure_count: i64,
    pub secret_configured: bool,
    #[schema(format = DateTime)]
    pub last_delivered_at: Option<String>,
    /// Every delivery attempt made to this webhook.
    pub delivery_attempts: i64,
    pub metadata: BTreeMap<String, String>,
    /// Most deliveries a second to this endpoint; `null` for no limit.
    pub rate_limit: Option<u32>,
    /// The owner it belongs to; `null` for a webhook the workspace itself manages.
    pub owner: Option<String>,
    /// The custom headers sent with every delivery, their values masked
    /// (`GET /v1/webhooks/{id}/headers` shows them).
    #[schema(example = json!({"X-Api-Key": "********"}))]
    pub headers: BTreeMap<String, String>,
    /// Which events it receives beyond their types; `null` for all of them.
    #[schema(value_type = Option<Object>, example = json!({"data.country": {"$in": ["NL", "BE"]}}))]
    pub filter: Option<serde_json::Value>,
    /// `hmac` (a shared `whsec_` secret: the body HMAC and Standard Webhooks `v1`) or
    /// `ed25519` (Standard Webhooks `v1a`, verified with `public_key`).
    #[schema(value_type = String, example = "hmac")]
    pub signing: SigningScheme,
    /// With `ed25519` signing: the `whpk_…` key receivers verify with; `null` otherwise.
    pub public_key: Option<String>,
    /// `none`, or `per_key`: events published with the same `ordering_key` arrive one at
    /// a time, in publish order (docs/ordering.md).
    #[schema(value_type = String, example = "per_key")]
    pub ordering: DeliveryOrdering,
    /// The channels it listens to: it receives only events sent to one of them. Empty:
    /// every event, whatever its channels.
    #[schema(example = json!(["project_123"]))]
    pub channels: Vec<String>,
    /// What its deliveries look like: `standard` (this API's body and `webhook-*`
    /// headers), or `svix` for a webhook created through the Svix-compatible API (the
    /// payload alone and `svix-*` headers; docs/svix.md).
    #[schema(value_type = String, example = "standard")]
    pub protocol: hookd_core::domain::WebhookProtocol,
    /// Its unique name among its owner's webhooks, set through the Svix-compatible API.
    pub uid: Option<String>,
    /// Its deliveries carry a W3C `traceparent` header that continues the publisher's
    /// trace (docs/operations.md, "Traces").
    pub send_traceparent: bool,
    #[schema(format = DateTime, example = "2026-03-21T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2026-03-21T14:30:00Z")]
    pub updated_at: String,
}

impl From<&Webhook> for WebhookResponse {
    fn from(w: &Webhook) -> Self {
        Self {
            object: "webhook_endpoint",
            id: w.id.to_string(),
            url: w.url.clone(),
            events: w.events.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            failure_count: w.failure_count,
            secret_configured: true,
            last_delivered_at: w.last_delivered_at.map(time_fmt::format),
            delivery_attempts: w.delivery_attempts,
            metadata: w.metadata.clone(),
            rate_limit: w.rate_limit,
            owner: w.owner.clone(),
            headers: masked_headers(w),
            filter: w.filter.as_ref().map(|f| f.source().clone()),
            signing: w.signing,
            public_key: w.secrets.public_key.clone(),
            ordering: w.ordering,
            channels: w.channels.clone(),
            protocol: w.protocol,
            uid: w.uid.clone(),
            send_traceparent: w.send_traceparent,
            created_at: time_fmt::format(w.created_at),
            updated_at: time_fmt::format(w.updated_at),
        }
    }
}

/// A webhook's custom header names, each with a masked value.
pub(crate) fn masked_headers(w: &Webhook) -> BTreeMap<String, String> {
    w.headers.iter().flat_map(|h| h.names.iter().map(|n| (n.clone(), MASKED_VALUE.to_owned()))).collect()
}

/// A webhook with its signing secret: the create and rotate responses, the only times
/// the secret is shown (unless the deployment enables secret retrieval).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// What receivers verify with: the `whsec_…` secret (store it now: it is not shown
    /// again), or with `ed25519` signing the `whpk_…` public key.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub signing_secret: String,
    /// After a rotation: until when the previous secret also signs deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed. `https://` (plain `http://` only where the
    /// deployment allows it), at most 2,048 characters, no user-info, a public host.
    #[schema(required = true, value_type = String, max_length = 2048,
        example = "https://example.com/webhooks/xqr")]
    pub url: Option<String>,
    /// Event types: catalog names (`GET /v1/event-types`), `*` for all, or prefix
    /// wildcards such as `link.*`; each once.
    #[schema(required = true, value_type = Vec<String>, min_items = 1, max_items = 100,
        example = json!(["link.created", "link.scanned"]))]
    pub events: Option<Vec<String>>,
    /// At most 500 characters. (`null`, like every optional field here, means absent.)
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<String>,
    /// Your own signing secret (16–255 visible ASCII characters; a `whsec_` secret is
    /// standard base64 of at least 16 bytes); generated when omitted.
    #[schema(value_type = Option<String>)]
    pub secret: Option<String>,
    /// Default true.
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<bool>,
    /// Up to 50 string keys (1–40 characters) with string values (≤ 500 characters).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Most deliveries a second to this endpoint (1–10,000); no limit when omitted.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub rate_limit: Option<u32>,
    /// The owner (a sub-account of your customer) the webhook belongs to: 1–128 visible
    /// ASCII characters. A key with an owner always creates webhooks for it.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub owner: Option<String>,
    /// Headers sent with every delivery and test ping: at most 20, 4 KiB in all. Names
    /// are RFC 9110 tokens; values have no CR, LF, NUL or other control character
    /// except tab. Refused: hop-by-hop headers, `Host`, `Content-Length`,
    /// `Content-Type`, `Content-Encoding`, `Expect`, `User-Agent`, and hookd's own signature,
    /// `X-Hookd-*`, `webhook-*` and `svix-*` headers. Values are stored encrypted.
    #[schema(value_type = Option<Object>, example = json!({"X-Api-Key": "k_live_123"}))]
    pub headers: Option<BTreeMap<String, String>>,
    /// Deliver only the events this filter matches (docs/filters.md): paths such as
    /// `data.country` mapped to a value or to operators (`$eq $ne $in $nin $gt $gte $lt
    /// $lte $exists $prefix $contains`), combined with `$and`, `$or`, `$not`.
    #[schema(value_type = Option<Object>, example = json!({"data.country": {"$in": ["NL", "BE"]}}))]
    pub filter: Option<serde_json::Value>,
    /// `hmac` (default): a shared secret signs the body HMAC and Standard Webhooks `v1`.
    /// `ed25519`: hookd generates a key pair, keeps the private key and signs Standard
    /// Webhooks `v1a`; `signing_secret` and `public_key` carry the `whpk_…` public key.
    /// Fixed at creation; `secret` applies to `hmac` only.
    #[schema(value_type = Option<String>, example = "ed25519")]
    pub signing: Option<SigningScheme>,
    /// `none` (default) or `per_key`: the events of one `ordering_key` are delivered one
    /// at a time, in publish order, and a failing one holds back only its own key
    /// (docs/ordering.md).
    #[schema(value_type = Option<String>, example = "per_key")]
    pub ordering: Option<DeliveryOrdering>,
    /// Receive only the events sent to one of these channels (up to 10, each 1–128 of
    /// `a-z A-Z 0-9 - _ .`, each once). Omitted, `null` or empty: every event.
    #[schema(value_type = Option<Vec<String>>, max_items = 10, example = json!(["project_123"]))]
    pub channels: Option<Vec<String>>,
    /// Send each delivery with a W3C `traceparent` header continuing the trace of the
    /// publish (the publisher's own `traceparent`, and hookd's spans when telemetry is
    /// on). Default false.
    #[schema(value_type = Option<bool>)]
    pub send_traceparent: Option<bool>,
}

impl From<CreateWebhookRequest> for NewWebhook {
    fn from(r: CreateWebhookRequest) -> Self {
        NewWebhook {
            owner: r.owner,
            url: r.url,
            events: r.events,
            description: r.description,
            secret: r.secret,
            enabled: r.enabled,
            metadata: r.metadata,
            rate_limit: r.rate_limit,
            headers: r.headers,
            filter: r.filter,
            parsed_filter: None,
            signing: r.signing,
            ordering: r.ordering,
            channels: r.channels,
            uid: None,
            protocol: None,
            send_traceparent: r.send_traceparent,
        }
    }
}

/// Absent leaves a field alone; `description: null` clears the description.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 2048)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 100)]
    pub events: Option<Option<Vec<String>>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    pub enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present_whole_number")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub rate_limit: Option<Option<u32>>,
    /// Replaces every custom header; `null` or `{}` removes them all.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Option<BTreeMap<String, String>>>,
    /// Replaces the filter; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Option<serde_json::Value>>,
    /// `none` or `per_key`; applies to events published from then on.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub ordering: Option<Option<DeliveryOrdering>>,
    /// Replaces the channels; `null` or `[]` listens to every event.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>, max_items = 10)]
    pub channels: Option<Option<Vec<String>>>,
    /// Send each delivery with a W3C `traceparent` header; applies to attempts made
    /// from then on.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    pub send_traceparent: Option<Option<bool>>,
    /// When `"enabled": true` re-enables a disabled webhook: `true` delivers the
    /// deliveries held while it was disabled (oldest first, at most `[retention]
    /// held_max`); `false`, the default, cancels them. Otherwise it has no effect.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    pub deliver_held: Option<Option<bool>>,
}

/// A count that JSON Schema calls an integer: `2`, or `2.0` (a number whose fraction is
/// zero is an integer too), but not `2.5` or `-1`.
pub(crate) fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => u32::try_from(u).map(Some).map_err(|_| D::Error::custom(format!("{n} is too large"))),
            (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(Some(f as u32)),
            _ => Err(D::Error::custom(format!("invalid value: {n}, expected a whole number"))),
        },
    }
}

fn present_whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    whole_number(d).map(Some)
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl UpdateWebhookRequest {
    pub fn into_changes(self) -> Result<WebhookChanges, FieldErrors> {
        let mut errs = FieldErrors::default();
        let mut non_null = |name: &str, present: bool| {
            if present {
                errs.push(name, "must not be null");
            }
        };
        non_null("url", matches!(self.url, Some(None)));
        non_null("events", matches!(self.events, Some(None)));
        non_null("enabled", matches!(self.enabled, Some(None)));
        non_null("metadata", matches!(self.metadata, Some(None)));
        non_null("ordering", matches!(self.ordering, Some(None)));
        non_null("deliver_held", matches!(self.deliver_held, Some(None)));
        non_null("send_traceparent", matches!(self.send_traceparent, Some(None)));
        errs.into_result()?;
        Ok(WebhookChanges {
            url: self.url.flatten(),
            events: self.events.flatten(),
            description: self.description,
            enabled: self.enabled.flatten(),
            metadata: self.metadata.flatten(),
            rate_limit: self.rate_limit,
            headers: self.headers,
            filter: self.filter,
            parsed_filter: None,
            ordering: self.ordering.flatten(),
            channels: self.channels,
            uid: None,
            send_traceparent: self.send_traceparent.flatten(),
            deliver_held: self.deliver_held.flatten(),
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Your own new secret (16–255 visible ASCII characters; a `whsec_` secret is
    /// standard base64 of at least 16 bytes); generated when omitted.
    #[schema(value_type = Option<String>)]
    pub secret: Option<String>,
}

/// A webhook's custom headers in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeadersResponse {
    #[schema(example = json!({"X-Api-Key": "k_live_123"}))]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretResponse {
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    pub id: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeResponse {
    #[schema(example = "link.created")]
    pub name: String,
    #[schema(example = "A new short link was created.")]
    pub description: String,
}

impl From<&EventType> for EventTypeResponse {
    fn from(t: &EventType) -> Self {
        Self { name: t.name.clone(), description: t.description.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Cursor pagination of newest-first lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (a webhook id).
    #[param(pattern = "^wh_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
}

/// Cursor pagination of the workspaces, oldest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkspaceListParams {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (a workspace id).
    #[param(pattern = "^ws_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
    /// Only the workspace with this external id.
    #[param(min_length = 1, max_length = 128)]
    pub external_id: Option<String>,
}

/// The window of a webhook's statistics.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// `24h` (the default) or `7d`: the hours up to now the figures cover.
    #[param(value_type = Option<String>, pattern = "^(24h|7d)$")]
    pub window: Option<StatsWindow>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub enum StatsWindow {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
}

/// Attempts by outcome, the success rate and latency percentiles.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptFigures {
    pub attempts: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Succeeded over all attempts; `null` without attempts.
    pub success_rate: Option<f64>,
    /// Milliseconds from the request to the end of the response (or the failure),
    /// estimated from latency buckets; `null` without attempts.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl From<&hookd_core::domain::Health> for AttemptFigures {
    fn from(h: &hookd_core::domain::Health) -> Self {
        let round = |v: Option<f64>| v.map(|x| (x * 10.0).round() / 10.0);
        Self {
            attempts: h.attempts(),
            succeeded: h.succeeded,
            failed: h.failed,
            success_rate: h.success_rate().map(|r| (r * 10_000.0).round() / 10_000.0),
            latency_p50_ms: round(h.latency_quantile(0.5)),
            latency_p95_ms: round(h.latency_quantile(0.95)),
            latency_p99_ms: round(h.latency_quantile(0.99)),
        }
    }
}

/// One hour of a webhook's statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourFigures {
    /// The start of the hour.
    #[schema(format = DateTime, example = "2026-03-21T14:00:00Z")]
    pub hour: String,
    #[serde(flatten)]
    pub figures: AttemptFigures,
}

/// A webhook's attempts over a window: in total and per hour, oldest hour first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookStatsResponse {
    pub webhook_id: String,
    /// `24h` or `7d`.
    pub window: &'static str,
    /// The start of the first hour counted.
    #[schema(format = DateTime, example = "2026-03-20T15:00:00Z")]
    pub since: String,
    #[serde(flatten)]
    pub total: AttemptFigures,
    pub hours: Vec<HourFigures>,
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

impl ListParams {
    pub fn limit(&self) -> Result<u32, FieldErrors> {
        let mut errs = FieldErrors::default();
        let limit = page_limit(self.limit, &mut errs);
        errs.into_result().map(|()| limit)
    }
}

/// A list's `limit`: 1–100, default 20; a bad one is reported in `errs`.
pub fn page_limit(limit: Option<u32>, errs: &mut FieldErrors) -> u32 {
    match limit {
        None => DEFAULT_LIMIT,
        Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            errs.push("limit", format!("must be between 1 and {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    }
}

/// Distinguishes `data: null` (a JSON value like any other) from a missing `data`.
fn raw_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<serde_json::value::RawValue>>, D::Error> {
    Box::<serde_json::value::RawValue>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishEventRequest {
    /// The event type: a catalog name such as `link.created` (`GET /v1/event-types`).
    #[schema(required = true, value_type = String, max_length = 128,
        example = "link.created")]
    pub event: Option<String>,
    /// Any JSON value (an object, an array, a string, a number, `true`, `false` or
    /// `null`), up to 256 KiB; delivered byte for byte.
    #[serde(default, deserialize_with = "raw_present")]
    #[schema(required = true, value_type = serde_json::Value, example = json!({"short_code": "abc123"}))]
    pub data: Option<Box<serde_json::value::RawValue>>,
    /// Your own id for this event: publishing it again returns the stored event and
    /// creates no deliveries (1–255 visible ASCII characters).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub id: Option<String>,
    /// When it happened, if not now (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<String>,
    /// Reach only this owner's webhooks (1–128 visible ASCII characters). A key with an
    /// owner always publishes for its own.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub owner: Option<String>,
    /// Webhooks with `"ordering": "per_key"` receive the events of one key one at a
    /// time, in publish order (docs/ordering.md); others ignore it. 1–255 characters,
    /// none of them a control character: an account, an order, a document id.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", example = "order_1234")]
    pub ordering_key: Option<String>,
    /// The channels it is sent to (up to 5, each 1–128 of `a-z A-Z 0-9 - _ .`, each
    /// once). Webhooks that listen to channels receive it only if they listen to one of
    /// these; webhooks without channels receive it anyway.
    #[schema(value_type = Option<Vec<String>>, max_items = 5, example = json!(["project_123"]))]
    pub channels: Option<Vec<String>>,
}

impl From<PublishEventRequest> for hookd_core::domain::NewEvent {
    fn from(r: PublishEventRequest) -> Self {
        Self {
            event: r.event,
            owner: r.owner,
            data: r.data.map(|d| d.get().to_owned()),
            producer_id: r.id,
            occurred_at: r.occurred_at,
            ordering_key: r.ordering_key,
            channels: r.channels,
            tags: None,
            // From the request's header, not its body.
            trace_parent: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBatchRequest {
    /// 1 to 1,000 events, committed together.
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<PublishEventRequest>,
}

/// A published event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    #[schema(example = "evt_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "link.created")]
    pub event: String,
    /// Webhooks it was sent to.
    pub deliveries: i64,
    /// The producer's id, if it gave one.
    pub producer_id: Option<String>,
    /// The owner it was published for; `null` for every webhook it matched.
    pub owner: Option<String>,
    /// The key that orders it, for webhooks with `per_key` ordering.
    pub ordering_key: Option<String>,
    /// The channels it was sent to.
    pub channels: Vec<String>,
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The event's data as published: any JSON value (on `GET /v1/events/{id}` only);
    /// `null` once erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = serde_json::Value)]
    pub data: Option<Box<serde_json::value::RawValue>>,
    /// When its payload was erased; absent while it is whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub erased_at: Option<String>,
}

impl EventResponse {
    pub fn new(e: &hookd_core::domain::Event, with_data: bool) -> Self {
        Self {
            id: e.id.to_string(),
            event: e.event_type.clone(),
            deliveries: e.deliveries,
            producer_id: e.producer_id.clone(),
            owner: e.owner.clone(),
            ordering_key: e.ordering_key.clone(),
            channels: e.channels.clone(),
            occurred_at: e.occurred_at.map(time_fmt::format),
            created_at: time_fmt::format(e.created_at),
            data: if with_data { serde_json::value::RawValue::from_string(e.data.clone()).ok() } else { None },
            erased_at: e.erased_at.map(time_fmt::format),
        }
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    #[schema(example = "dlv_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    #[schema(example = "link.created")]
    pub event: String,
    /// `pending`, `in_flight`, `succeeded`, `failed` or `cancelled`.
    #[schema(example = "succeeded")]
    pub status: &'static str,
    pub attempt_count: i32,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The key it is ordered by, on a webhook with `per_key` ordering: it is attempted
    /// only after every earlier delivery of the key has finished.
    pub ordering_key: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Every attempt, oldest first (on `GET /v1/deliveries/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptResponse>>,
}

impl DeliveryResponse {
    pub fn new(d: &hookd_core::domain::Delivery, attempts: Option<&[hookd_core::domain::Attempt]>) -> Self {
        let open = matches!(
            d.status,
            hookd_core::domain::DeliveryStatus::Pending | hookd_core::domain::DeliveryStatus::InFlight
        );
        Self {
            id: d.id.to_string(),
            webhook_id: d.webhook_id.to_string(),
            event_id: d.event_id.to_string(),
            event: d.event_type.clone(),
            status: d.status.as_str(),
            attempt_count: d.attempts,
            next_attempt_at: if open { d.next_attempt_at.map(time_fmt::format) } else { None },
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            ordering_key: d.ordering_key.clone(),
            created_at: time_fmt::format(d.created_at),
            updated_at: time_fmt::format(d.updated_at),
            attempts: attempts.map(|a| a.iter().map(AttemptResponse::from).collect()),
        }
    }
}

/// One HTTP request of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    /// 1 for the first.
    pub attempt: i32,
    #[schema(format = DateTime)]
    pub started_at: String,
    pub duration_ms: i64,
    pub status_code: Option<i32>,
    /// The start of the response body (at most 4 KiB).
    pub response: Option<String>,
    /// `timeout`, `connect`, `blocked_address`, `redirect`, `http_status`, …; `null` on success.
    pub error_kind: Option<String>,
    pub error: Option<String>,
}

impl From<&hookd_core::domain::Attempt> for AttemptResponse {
    fn from(a: &hookd_core::domain::Attempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: time_fmt::format(a.started_at),
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            response: a.response.clone(),
            error_kind: a.error_kind.clone(),
            error: a.error_message.clone(),
        }
    }
}

/// The outcome of a test ping.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResponse {
    pub delivery_id: String,
    pub event_id: String,
    pub success: bool,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub response: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (a delivery id).
    #[param(pattern = "^dlv_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
    /// `pending`, `in_flight`, `succeeded`, `failed` or `cancelled`.
    #[param(pattern = "^(pending|in_flight|succeeded|failed|cancelled)$")]
    pub status: Option<String>,
    /// An event type.
    #[param(max_length = 128)]
    pub event: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliveries created at or after this time (RFC 3339).
    #[schema(required = true, value_type = String, format = DateTime)]
    pub since: Option<String>,
    /// … and before this time, which must be later than `since`; default now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// `failed` (default) or `all` (every finished delivery).
    #[schema(value_type = Option<String>, pattern = "^(failed|all)$")]
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// Deliveries queued again.
    pub queued: u64,
}

/// Parses an RFC 3339 timestamp, naming the field on failure.
pub fn parse_time(field: &str, v: &str, errs: &mut FieldErrors) -> Option<time::OffsetDateTime> {
    match time_fmt::parse(v) {
        Ok(t) => Some(t),
        Err(_) => {
            errs.push(field, "must be an RFC 3339 timestamp such as 2026-03-21T14:30:00Z");
            None
        }
    }
}
