//! The configuration file's shape: [`Config`], its key names (operators rely on them)
//! and its defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::{duration, durations, optional_duration, KeyText};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "hookd.toml";

/// The configuration file's shape. Every key is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// `sqlite://relative/path`, `sqlite:///absolute/path`, or
    /// `postgres://user:password@host:5432/dbname` for several nodes.
    pub database_url: String,
    /// What a `hookd serve` node does: `all` (API and delivery), `api` or `worker`.
    /// `api` and `worker` need a postgres:// database shared with other nodes.
    pub role: Role,
    pub database: DatabaseConfig,
    /// Keys are `<key_prefix>_<8 hex>.<64 alphanumerics>`.
    pub key_prefix: String,
    /// Accept plain `http://` webhook URLs.
    pub allow_http: bool,
    /// Enable `GET /v1/webhooks/{id}/secret`.
    pub secret_retrieval: bool,
    /// Serve the API below this path (`/api` serves `/api/v1/webhooks`); empty for none.
    pub path_prefix: String,
    /// Most event types one webhook may subscribe to.
    pub max_events_per_webhook: u32,
    /// Longest webhook description, in characters.
    pub max_description_length: u32,
    /// 32 bytes in standard base64 that seal signing secrets at rest. When absent, a
    /// key is generated into `hookd.key` beside the SQLite database.
    pub encryption_key: Option<KeyText>,
    /// Which webhooks a caller without an owner sees: `all` of its workspace, or only
    /// those without an owner (`unowned`: "API-key callers see only dashboard-managed
    /// webhooks", as seed 003 puts it). Callers with an owner always see only theirs.
    pub owner_visibility: OwnerVisibility,
    /// `json` or `text`.
    pub log_format: LogFormat,
    /// A tracing filter: `info`, `debug`, `hookd=debug,info`.
    pub log_level: String,
    pub rate_limit: RateLimitConfig,
    /// Left out of `config print` when empty, so that `[[event_types]]` blocks can be
    /// appended to its output (an `event_types = []` line would make them a duplicate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<EventTypeConfig>,
    pub delivery: DeliveryConfig,
    pub retention: RetentionConfig,
    /// The deployment's own operational webhooks: they hear of disabled and failing
    /// webhooks and exhausted deliveries in every workspace (docs/operations.md). Left
    /// out of `config print` when empty, like `event_types`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operational_webhooks: Vec<OperationalWebhookConfig>,
    /// Extra API surfaces that mirror an existing product's documented API.
    pub compat: CompatConfig,
    /// The product's own tokens, accepted beside hookd's keys.
    pub auth: AuthConfig,
    /// The address users reach hookd at (`https://hooks.example.com`): portal links
    /// start with it. Unset, they start with the address the API request came to.
    pub public_url: Option<String>,
    pub dashboard: DashboardConfig,
    pub portal: PortalConfig,
    /// OpenTelemetry traces, exported when `otlp_endpoint` is set.
    pub telemetry: TelemetryConfig,
}

/// `[telemetry]`: a span per publish and per delivery attempt, exported over OTLP/HTTP
/// (docs/operations.md, "Traces"). Off, and free, while `otlp_endpoint` is unset.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The collector: `http://collector:4318` (spans go to `/v1/traces` below it), or a
    /// full URL with a path, used as it is.
    pub otlp_endpoint: Option<String>,
    /// `http/protobuf` (OTLP's default) or `http/json`.
    pub otlp_protocol: OtlpProtocol,
    /// The `service.name` spans carry.
    pub service_name: String,
    /// The share of new traces recorded, 0.0–1.0. A publish that continues the
    /// publisher's trace follows its sampling decision instead.
    pub sample_ratio: f64,
    /// How often recorded spans are sent to the collector.
    #[serde(with = "duration")]
    pub export_interval: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            service_name: "hookd".into(),
            sample_ratio: 1.0,
            export_interval: Duration::from_secs(5),
        }
    }
}

/// See [`TelemetryConfig::otlp_protocol`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum OtlpProtocol {
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "http/json")]
    HttpJson,
}

/// `[dashboard]`: the operator dashboard at `/dashboard`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Serve `/dashboard` and `/portal`.
    pub enabled: bool,
    /// Mark session cookies `Secure` even on plain HTTP (behind a TLS proxy that does not
    /// send `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// A session unused this long ends.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// A dashboard session ends this long after signing in, however active.
    #[serde(with = "duration")]
    pub session_lifetime: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            secure_cookies: false,
            idle_timeout: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
        }
    }
}

/// `[portal]`: the customer portal at `/portal`, opened with one-time links.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// The portal's title and heading.
    pub title: String,
    /// Links and buttons, as `#rgb` or `#rrggbb`.
    pub accent_color: String,
    /// An https image shown beside the title.
    pub logo_url: Option<String>,
    /// Origins that may embed the portal in a frame (`https://app.example.com`).
    pub frame_ancestors: Vec<String>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self { title: "Webhooks".into(), accent_color: "#4f46e5".into(), logo_url: None, frame_ancestors: Vec::new() }
    }
}

/// `[auth]`: the product's own credentials.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The product's JWTs, verified against its JWKS.
    pub jwt: Option<JwtConfig>,
    /// The product's opaque tokens, asked about at its introspection endpoint.
    pub introspection: Option<IntrospectionConfig>,
}

/// `[auth.introspection]` (RFC 7662).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The endpoint, asked with HTTP Basic authentication.
    pub url: String,
    pub client_id: String,
    /// Never shown by `config print`.
    pub client_secret: KeyText,
    /// Only tokens starting with one of these are introspected; others are hookd keys.
    pub token_prefixes: Vec<String>,
    /// How long an active answer is kept (never past the token's `exp`).
    #[serde(default = "default_cache_ttl", with = "duration")]
    pub cache_ttl: Duration,
    #[serde(default = "default_workspace_claim")]
    pub workspace_claim: String,
    #[serde(default = "default_owner_claim")]
    pub owner_claim: String,
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(60)
}

/// `[auth.jwt]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// Where the JWKS is fetched from (https, or http on loopback); or `jwks_file`.
    pub jwks_url: Option<String>,
    pub jwks_file: Option<std::path::PathBuf>,
    /// Accepted algorithms: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA.
    #[serde(default = "default_jwt_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim naming the workspace: its id (`ws_…`) or its external id.
    #[serde(default = "default_workspace_claim")]
    pub workspace_claim: String,
    /// The claim naming the owner the token acts for (falling back to `sub`); `""`:
    /// tokens act for the whole workspace.
    #[serde(default = "default_owner_claim")]
    pub owner_claim: String,
    /// The claim carrying scopes: a space-separated string or an array.
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// The product's scope names, each with the hookd scopes it grants.
    #[serde(default)]
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
}

fn default_jwt_algorithms() -> Vec<String> {
    ["RS256", "ES256", "EdDSA"].map(String::from).to_vec()
}
fn default_workspace_claim() -> String {
    "workspace".into()
}
fn default_owner_claim() -> String {
    "client_id".into()
}
fn default_scope_claim() -> String {
    "scope".into()
}

/// What a node does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serve the API and deliver.
    #[default]
    All,
    /// Serve the API only; deliveries are stored for workers to send.
    Api,
    /// Deliver only; the HTTP listener serves /healthz, /readyz and /metrics.
    Worker,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }

    pub fn delivers(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        })
    }
}

/// The database connection pool.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Most connections this node opens: 16 on PostgreSQL; on SQLite, the writer plus
    /// readers (default 5). Unset means the default.
    pub max_connections: Option<u32>,
    /// How long a request waits for a connection before it fails with 503: 5s on
    /// PostgreSQL, 30s on SQLite (whose one writer is shared). Unset means the default.
    #[serde(with = "optional_duration")]
    pub acquire_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompatConfig {
    pub partner_v2: PartnerV2Config,
    pub svix: SvixConfig,
    /// Serve `GET …/developer/webhooks/{id}/secret` and `POST …/developer/webhooks/{id}/test`
    /// beside `/v1` (below `path_prefix`), as aliases of the `/v1` routes.
    pub developer_aliases: bool,
}

/// The Svix-compatible API under `{path_prefix}/api/v1` (see docs/svix.md).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SvixConfig {
    pub enabled: bool,
}

/// `webhook_subscriptions` with integer ids and a token header (see docs/api.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerV2Config {
    pub enabled: bool,
    /// Serves `{path_prefix}/webhook_subscriptions`.
    pub path_prefix: String,
    /// The header carrying the API key; `Authorization: Bearer` works as well.
    pub token_header: String,
}

impl Default for PartnerV2Config {
    fn default() -> Self {
        Self { enabled: false, path_prefix: "/api/partner/v2".into(), token_header: "X-LINQ-INTEGRATION-TOKEN".into() }
    }
}

/// `[[operational_webhooks]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperationalWebhookConfig {
    pub url: String,
    /// The signing secret (`whsec_…`, or 16–255 visible ASCII characters): the receiver
    /// verifies operational events with it, as any delivery.
    pub secret: String,
    /// Which operational events: `webhook.disabled`, `webhook.failing`,
    /// `webhook.recovered`, `delivery.exhausted`, or `webhook.*`; all of them when left
    /// out.
    #[serde(default = "all_operational_events")]
    pub events: Vec<String>,
}

fn all_operational_events() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Succeeded deliveries and their attempts are deleted after this many days.
    pub succeeded_days: u32,
    /// The older name of `succeeded_days`, which it overrides when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Failed and cancelled deliveries and their attempts are deleted after this many
    /// days.
    pub failed_days: u32,
    /// Events (their payloads) are deleted after this many days, with the deliveries
    /// left of them, but never while one is still being retried. At least
    /// `succeeded_days` and `failed_days`: a delivery's payload is its event's.
    pub events_days: u32,
    /// Most deliveries kept for a disabled webhook (`held`); beyond it the oldest are
    /// cancelled.
    pub held_max: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { succeeded_days: 30, days: None, failed_days: 30, events_days: 30, held_max: 10_000 }
    }
}

/// See [`Config::owner_visibility`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerVisibility {
    #[default]
    All,
    Unowned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per API key per minute.
    pub requests_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Header carrying `sha256=<hex HMAC>` of the body.
    pub signature_header: String,
    /// Delay before each attempt (`0s` = at once), with ±20 % jitter; after the last
    /// the delivery has failed.
    #[serde(with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// CIDRs deliveries may reach although they are not public (`10.0.0.0/8`).
    pub allow_private_cidrs: Vec<String>,
    /// How long the previous secret keeps signing after a rotation.
    #[serde(with = "duration")]
    pub secret_rotation_overlap: Duration,
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// The whole attempt, connecting to reading the answer.
    #[serde(with = "duration")]
    pub attempt_timeout: Duration,
    /// The most attempts one webhook may have in flight; within it, each webhook's limit
    /// adapts to how its endpoint answers (from 4, between 1 and this).
    pub max_in_flight_per_webhook: u32,
    pub max_in_flight: u32,
    /// Consecutive failures that open a webhook's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open circuit holds deliveries before probing.
    #[serde(with = "duration")]
    pub breaker_cooldown: Duration,
    /// The cooldown doubles after each failed probe, up to this.
    #[serde(with = "duration")]
    pub breaker_max_cooldown: Duration,
    /// A webhook failing without a success for this long is disabled.
    #[serde(with = "duration")]
    pub disable_after: Duration,
    /// Consecutive failed attempts after which operators hear `webhook.failing`.
    pub failing_after: u32,
    /// On SIGTERM, how long in-flight attempts may take to finish.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// How long a node's claim on a delivery lasts without renewal.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// An egress proxy for every delivery and test ping (`http://proxy.internal:3128`;
    /// https deliveries tunnel through it with CONNECT). The proxy resolves webhook
    /// hosts itself, so it must refuse private and metadata addresses (as smokescreen
    /// does); hookd still refuses literal non-public addresses. HTTP_PROXY, HTTPS_PROXY
    /// and ALL_PROXY are ignored: only this setting sends deliveries through a proxy.
    pub proxy_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://hookd.db".into(),
            role: Role::All,
            database: DatabaseConfig::default(),
            key_prefix: "hk_live".into(),
            allow_http: false,
            secret_retrieval: false,
            path_prefix: String::new(),
            max_events_per_webhook: 100,
            max_description_length: 500,
            encryption_key: None,
            owner_visibility: OwnerVisibility::All,
            log_format: LogFormat::Json,
            log_level: "info".into(),
            rate_limit: RateLimitConfig::default(),
            event_types: Vec::new(),
            delivery: DeliveryConfig::default(),
            retention: RetentionConfig::default(),
            operational_webhooks: Vec::new(),
            compat: CompatConfig::default(),
            auth: AuthConfig::default(),
            public_url: None,
            dashboard: DashboardConfig::default(),
            portal: PortalConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { requests_per_minute: 600 }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let (s, m, h) =
            (Duration::from_secs, |n: u64| Duration::from_secs(60 * n), |n: u64| Duration::from_secs(3600 * n));
        Self {
            signature_header: "X-Hookd-Signature".into(),
            retry_schedule: vec![s(0), s(5), m(5), m(30), h(2), h(5), h(10), h(10)],
            allow_private_cidrs: Vec::new(),
            secret_rotation_overlap: h(24),
            connect_timeout: s(5),
            attempt_timeout: s(15),
            max_in_flight_per_webhook: 64,
            max_in_flight: 256,
            breaker_threshold: 5,
            breaker_cooldown: s(30),
            breaker_max_cooldown: m(10),
            disable_after: h(5 * 24),
            failing_after: 10,
            shutdown_grace: s(10),
            lease: s(60),
            proxy_url: None,
        }
    }
}

/// A mount point: a path like `/api` (or empty, where `empty_ok`).
pub(super) fn path_prefix_ok(p: &str, empty_ok: bool) -> bool {
    (empty_ok && p.is_empty())
        || (p.starts_with('/')
            && p.len() > 1
            && !p.ends_with('/')
            && p.len() <= 100
            && !p.contains("//")
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.')))
}

/// The configuration as TOML, with the encryption key redacted.
pub fn to_toml(config: &Config) -> String {
    // The encryption key serialises as `<redacted>`.
    let mut out = toml::to_string_pretty(config).expect("configuration serialises");
    if config.event_types.is_empty() {
        out.push_str(
            "\n# The event catalog: with none, any dotted lower-case name is accepted. Add one block per type:\n\
             # [[event_types]]\n# name = \"link.created\"\n# description = \"A new short link was created.\"\n",
        );
    }
    out
}
