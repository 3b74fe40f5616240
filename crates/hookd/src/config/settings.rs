//! Validating a [`Config`] once into [`Settings`]: typed values the components use.
//! Every error names the key and where its value came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hookd_core::crypto::EncryptionKey;
use hookd_core::domain::{validate_key_prefix, EventCatalog, EventType, OperationalTarget};
use hookd_core::service::Retention;
use ipnet::IpNet;

use super::file::{path_prefix_ok, Config, LogFormat, OwnerVisibility, Role};
use super::load::{ConfigError, Loaded};

/// Validated, typed configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    pub role: Role,
    pub pool: PoolSettings,
    pub key_prefix: String,
    pub allow_http: bool,
    pub secret_retrieval: bool,
    pub path_prefix: String,
    pub max_events_per_webhook: usize,
    pub max_description_length: usize,
    pub encryption_key: Option<EncryptionKey>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub owner_visibility: OwnerVisibility,
    pub requests_per_minute: u32,
    pub catalog: EventCatalog,
    pub signature_header: String,
    pub retry_schedule: Vec<Duration>,
    pub allow_private_cidrs: Vec<IpNet>,
    pub secret_rotation_overlap: Duration,
    pub delivery: DeliverySettings,
    pub retention: Retention,
    /// `[[operational_webhooks]]`, checked in full when `serve` stores them.
    pub operational_webhooks: Vec<OperationalTarget>,
    pub partner_v2: Option<PartnerV2Settings>,
    /// Serve the Svix-compatible API under `{path_prefix}/api/v1`.
    pub svix: bool,
    pub developer_aliases: bool,
    pub dev: bool,
    /// `[auth.jwt]`, when set.
    pub jwt: Option<crate::tokens::jwt::JwtSettings>,
    /// `[auth.introspection]`, when set.
    pub introspection: Option<crate::tokens::introspection::IntrospectionSettings>,
    pub public_url: Option<url::Url>,
    pub web: WebSettings,
    /// `[telemetry]`, when it names a collector.
    pub telemetry: Option<crate::telemetry::TelemetrySettings>,
}

/// `[dashboard]` and `[portal]`, validated.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub enabled: bool,
    pub secure_cookies: bool,
    pub idle_timeout: Duration,
    pub session_lifetime: Duration,
    pub portal: hookd_web::PortalOptions,
}

/// `#rgb` or `#rrggbb`: the only colours the portal's style sheet takes.
fn is_colour(s: &str) -> bool {
    s.strip_prefix('#').is_some_and(|h| matches!(h.len(), 3 | 6) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An origin a CSP `frame-ancestors` names: `https://host[:port]`, or `http://` for
/// loopback hosts.
fn frame_origin(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s).map_err(|_| format!("`{s}` is not an origin like https://app.example.com"))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback))
        || u.host_str().is_none()
        || u.path() != "/"
        || u.query().is_some()
        || u.fragment().is_some()
        || !u.username().is_empty()
    {
        return Err(format!("`{s}` must be an origin like https://app.example.com (https, no path)"));
    }
    Ok(u.origin().ascii_serialization())
}

fn web_settings(
    c: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<(Option<url::Url>, WebSettings), ConfigError> {
    let public_url = c
        .public_url
        .as_deref()
        .map(|s| match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.host_str().is_some() => Ok(u),
            _ => Err(invalid("public_url", format!("`{s}` is not a URL like https://hooks.example.com"))),
        })
        .transpose()?;
    let d = &c.dashboard;
    let idle_timeout =
        at_least(d.idle_timeout, Duration::from_secs(60)).map_err(|m| invalid("dashboard.idle_timeout", m))?;
    let session_lifetime =
        at_least(d.session_lifetime, Duration::from_secs(60)).map_err(|m| invalid("dashboard.session_lifetime", m))?;
    let p = &c.portal;
    if p.title.trim().is_empty() || p.title.chars().count() > 60 {
        return Err(invalid("portal.title", "must be 1 to 60 characters".into()));
    }
    if !is_colour(&p.accent_color) {
        return Err(invalid("portal.accent_color", format!("`{}` is not a colour like #4f46e5", p.accent_color)));
    }
    let logo_url = p
        .logo_url
        .as_deref()
        .map(|s| match url::Url::parse(s) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() => Ok(u),
            _ => Err(invalid("portal.logo_url", format!("`{s}` is not an https:// image URL"))),
        })
        .transpose()?;
    let frame_ancestors = p
        .frame_ancestors
        .iter()
        .map(|s| frame_origin(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid("portal.frame_ancestors", m))?;
    Ok((
        public_url,
        WebSettings {
            enabled: d.enabled,
            secure_cookies: d.secure_cookies,
            idle_timeout,
            session_lifetime,
            portal: hookd_web::PortalOptions {
                title: p.title.trim().to_owned(),
                accent_color: p.accent_color.clone(),
                logo_url,
                frame_ancestors,
            },
        },
    ))
}

/// The partner-v2 surface, when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerV2Settings {
    pub path_prefix: String,
    /// A valid header name, lower-case.
    pub token_header: String,
}

/// Whether `name` is an HTTP header name: an RFC 9110 token of at most 64 characters.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The delivery engine's settings, validated.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub max_in_flight_per_webhook: usize,
    pub max_in_flight: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub breaker_max_cooldown: Duration,
    pub disable_after: Duration,
    pub failing_after: u32,
    pub shutdown_grace: Duration,
    pub lease: Duration,
    pub proxy: Option<url::Url>,
}

/// The database connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// `None`: the backend's default.
    pub max_connections: Option<u32>,
    pub acquire_timeout: Option<Duration>,
}

/// The database to use.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite {
        url: String,
        path: PathBuf,
    },
    /// Shared by several nodes.
    Postgres {
        url: String,
    },
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite { url, .. } => write!(f, "{url}"),
            DatabaseUrl::Postgres { url } => write!(f, "{}", hookd_store_postgres::redact(url)),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or("");
            if path.is_empty() {
                return Err("sqlite:// needs a file path: sqlite://hookd.db or sqlite:///var/lib/hookd/hookd.db".into());
            }
            return Ok(DatabaseUrl::Sqlite { url: url.to_owned(), path: PathBuf::from(path) });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return match url::Url::parse(url) {
                Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {
                    Ok(DatabaseUrl::Postgres { url: url.to_owned() })
                }
                _ => Err("is not a PostgreSQL URL like postgres://user:password@host:5432/hookd".into()),
            };
        }
        Err("must start with sqlite:// (sqlite://hookd.db) or postgres:// (postgres://user:password@host/hookd)".into())
    }

    /// Where a generated encryption key is kept: `hookd.key` beside a SQLite database.
    /// PostgreSQL has none: its nodes must share a configured key.
    pub fn key_file(&self) -> Option<PathBuf> {
        match self {
            DatabaseUrl::Sqlite { path, .. } => Some(match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.join("hookd.key"),
                _ => PathBuf::from("hookd.key"),
            }),
            DatabaseUrl::Postgres { .. } => None,
        }
    }

    /// Whether several nodes may share this database.
    pub fn is_shared(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres { .. })
    }
}

impl Settings {
    /// Validates a loaded configuration.
    pub fn from_loaded(loaded: &Loaded, dev: bool) -> Result<Self, ConfigError> {
        Self::validate(loaded, dev, true)
    }

    /// [`Self::from_loaded`] for the commands that never open a signing secret
    /// (`hookd migrate`, `workspace`, `key`, `backup`): a PostgreSQL deployment's
    /// `encryption_key` is not required to run them.
    pub fn from_loaded_without_key(loaded: &Loaded, dev: bool) -> Result<Self, ConfigError> {
        Self::validate(loaded, dev, false)
    }

    fn validate(loaded: &Loaded, dev: bool, needs_key: bool) -> Result<Self, ConfigError> {
        let c = &loaded.config;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            source_name: loaded.source_of(key),
            message,
        };
        let listen: SocketAddr = c
            .listen
            .parse()
            .map_err(|_| invalid("listen", format!("`{}` is not an address like 127.0.0.1:8080", c.listen)))?;
        let database = DatabaseUrl::parse(&c.database_url).map_err(|m| invalid("database_url", m))?;
        if c.role != Role::All && !database.is_shared() {
            return Err(invalid(
                "role",
                format!(
                    "`{}` needs a postgres:// database_url shared with other nodes; a SQLite database is served \
                     by one `role = \"all\"` node",
                    c.role
                ),
            ));
        }
        // One connection for the writer (or the change listener) and at least one more.
        if c.database.max_connections.is_some_and(|n| n < 2) {
            return Err(invalid("database.max_connections", "must be at least 2".into()));
        }
        let acquire_timeout = c
            .database
            .acquire_timeout
            .map(|t| at_least(t, Duration::from_millis(100)))
            .transpose()
            .map_err(|m| invalid("database.acquire_timeout", m))?;
        let pool = PoolSettings { max_connections: c.database.max_connections, acquire_timeout };
        validate_key_prefix(&c.key_prefix).map_err(|m| invalid("key_prefix", m))?;
        let encryption_key = c
            .encryption_key
            .as_ref()
            .map(|k| EncryptionKey::from_base64(k.expose()).map_err(|e| invalid("encryption_key", e.to_string())))
            .transpose()?;
        if needs_key && database.is_shared() && encryption_key.is_none() {
            return Err(invalid(
                "encryption_key",
                "is required with a postgres:// database_url: every node must seal and open signing secrets with \
                 the same key. Make one with `openssl rand -base64 32` and set it as encryption_key (or \
                 HOOKD_ENCRYPTION_KEY) on every node"
                    .into(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&c.log_level)
            .map_err(|e| invalid("log_level", format!("`{}` is not a log filter ({e})", c.log_level)))?;
        if !path_prefix_ok(&c.path_prefix, true) {
            return Err(invalid(
                "path_prefix",
                format!("`{}` must be empty or a path like /api (leading /, no trailing /)", c.path_prefix),
            ));
        }
        let pv2 = &c.compat.partner_v2;
        if !path_prefix_ok(&pv2.path_prefix, false) {
            return Err(invalid(
                "compat.partner_v2.path_prefix",
                format!("`{}` must be a path like /api/partner/v2 (leading /, no trailing /)", pv2.path_prefix),
            ));
        }
        if !is_header_name(&pv2.token_header) {
            return Err(invalid(
                "compat.partner_v2.token_header",
                format!("`{}` is not a header name (letters, digits and '-')", pv2.token_header),
            ));
        }
        if pv2.token_header.eq_ignore_ascii_case("authorization") {
            return Err(invalid(
                "compat.partner_v2.token_header",
                "must not be Authorization, which is always accepted as `Bearer <key>`".into(),
            ));
        }
        if pv2.enabled && !c.path_prefix.is_empty() && pv2.path_prefix.starts_with(&format!("{}/v1", c.path_prefix)) {
            return Err(invalid(
                "compat.partner_v2.path_prefix",
                format!("`{}` lies inside the /v1 API at `{}/v1`", pv2.path_prefix, c.path_prefix),
            ));
        }
        let partner_v2 = pv2.enabled.then(|| PartnerV2Settings {
            path_prefix: pv2.path_prefix.clone(),
            token_header: pv2.token_header.to_ascii_lowercase(),
        });
        if c.max_events_per_webhook == 0 {
            return Err(invalid("max_events_per_webhook", "must be at least 1".into()));
        }
        if c.rate_limit.requests_per_minute == 0 {
            return Err(invalid("rate_limit.requests_per_minute", "must be at least 1".into()));
        }
        let catalog = EventCatalog::new(
            c.event_types
                .iter()
                .map(|t| EventType { name: t.name.clone(), description: t.description.clone() })
                .collect(),
        )
        .map_err(|(name, e)| invalid("event_types", format!("`{name}` {e}")))?;
        let header = &c.delivery.signature_header;
        if header.is_empty() || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(invalid(
                "delivery.signature_header",
                "must be a header name of letters, digits and '-'".into(),
            ));
        }
        if c.delivery.retry_schedule.is_empty() {
            return Err(invalid("delivery.retry_schedule", "must list at least one delay (\"0s\" = at once)".into()));
        }
        let retry_schedule = c.delivery.retry_schedule.clone();
        let mut allow_private_cidrs = c
            .delivery
            .allow_private_cidrs
            .iter()
            .map(|s| s.parse::<IpNet>().map_err(|_| format!("`{s}` is not a CIDR such as 10.0.0.0/8")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("delivery.allow_private_cidrs", m))?;
        if dev {
            allow_private_cidrs.extend(["127.0.0.0/8", "::1/128"].map(|c| c.parse::<IpNet>().expect("valid CIDR")));
        }
        let secret_rotation_overlap = c.delivery.secret_rotation_overlap;
        let d = &c.delivery;
        let duration = |key: &str, v: Duration, min: Duration| at_least(v, min).map_err(|m| invalid(key, m));
        let count = |key: &str, v: u32| {
            if v == 0 {
                Err(invalid(&format!("delivery.{key}"), "must be at least 1".into()))
            } else {
                Ok(v)
            }
        };
        let ms = Duration::from_millis;
        let delivery = DeliverySettings {
            connect_timeout: duration("delivery.connect_timeout", d.connect_timeout, ms(1))?,
            attempt_timeout: duration("delivery.attempt_timeout", d.attempt_timeout, ms(1))?,
            max_in_flight_per_webhook: count("max_in_flight_per_webhook", d.max_in_flight_per_webhook)? as usize,
            max_in_flight: count("max_in_flight", d.max_in_flight)? as usize,
            breaker_threshold: count("breaker_threshold", d.breaker_threshold)?,
            breaker_cooldown: duration("delivery.breaker_cooldown", d.breaker_cooldown, ms(1))?,
            breaker_max_cooldown: duration("delivery.breaker_max_cooldown", d.breaker_max_cooldown, ms(1))?,
            disable_after: duration("delivery.disable_after", d.disable_after, Duration::from_secs(60))?,
            failing_after: count("failing_after", d.failing_after)?,
            shutdown_grace: duration("delivery.shutdown_grace", d.shutdown_grace, Duration::ZERO)?,
            lease: duration("delivery.lease", d.lease, Duration::from_secs(1))?,
            proxy: d
                .proxy_url
                .as_deref()
                .map(parse_proxy_url)
                .transpose()
                .map_err(|m| invalid("delivery.proxy_url", m))?,
        };
        let r = &c.retention;
        let (succeeded_key, succeeded_days) = match r.days {
            Some(d) => ("retention.days", d),
            None => ("retention.succeeded_days", r.succeeded_days),
        };
        for (key, days) in [
            (succeeded_key, succeeded_days),
            ("retention.failed_days", r.failed_days),
            ("retention.events_days", r.events_days),
        ] {
            if days == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if r.events_days < succeeded_days.max(r.failed_days) {
            // Name the setting that was changed: events_days lowered, or another raised.
            let defaults = crate::config::file::RetentionConfig::default();
            let key = if r.events_days != defaults.events_days {
                "retention.events_days"
            } else if r.failed_days > succeeded_days {
                "retention.failed_days"
            } else {
                succeeded_key
            };
            return Err(invalid(
                key,
                format!(
                    "events_days ({}) must be at least succeeded_days ({succeeded_days}) and failed_days ({}): a \
                     delivery's payload is its event's",
                    r.events_days, r.failed_days
                ),
            ));
        }
        if r.held_max == 0 {
            return Err(invalid(
                "retention.held_max",
                "must be at least 1 (deliveries for a disabled webhook are held up to it)".into(),
            ));
        }
        let mut operational_webhooks = Vec::new();
        for (i, o) in c.operational_webhooks.iter().enumerate() {
            let key = "operational_webhooks";
            if let Err(m) = url::Url::parse(&o.url) {
                return Err(invalid(key, format!("[{i}].url is not an absolute URL ({m})")));
            }
            if let Err(m) = hookd_core::domain::validate_signing_secret(&o.secret) {
                return Err(invalid(key, format!("[{i}].secret {m}")));
            }
            let catalog = EventCatalog::operational();
            if let Some(e) = o.events.iter().find(|e| catalog.check_pattern(e).is_err()) {
                return Err(invalid(
                    key,
                    format!(
                        "[{i}].events: `{e}` matches no operational event (webhook.disabled, webhook.failing, \
                         webhook.recovered, delivery.exhausted; or webhook.* or *)"
                    ),
                ));
            }
            operational_webhooks.push(OperationalTarget {
                url: o.url.clone(),
                secret: o.secret.clone(),
                events: o.events.clone(),
            });
        }
        let days = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
        let retention = Retention {
            succeeded: days(succeeded_days),
            failed: days(r.failed_days),
            events: days(r.events_days),
            held_max: r.held_max,
        };
        let (public_url, web) = web_settings(c, &invalid)?;
        let telemetry = telemetry_settings(&c.telemetry, &invalid)?;
        Ok(Settings {
            listen,
            database,
            role: c.role,
            pool,
            key_prefix: c.key_prefix.clone(),
            allow_http: c.allow_http,
            secret_retrieval: c.secret_retrieval,
            path_prefix: c.path_prefix.clone(),
            max_events_per_webhook: c.max_events_per_webhook as usize,
            max_description_length: c.max_description_length as usize,
            encryption_key,
            log_format: c.log_format,
            log_level: c.log_level.clone(),
            owner_visibility: c.owner_visibility,
            requests_per_minute: c.rate_limit.requests_per_minute,
            catalog,
            signature_header: header.clone(),
            retry_schedule,
            allow_private_cidrs,
            secret_rotation_overlap,
            delivery,
            retention,
            operational_webhooks,
            partner_v2,
            svix: c.compat.svix.enabled,
            developer_aliases: c.compat.developer_aliases,
            dev,
            jwt: c.auth.jwt.as_ref().map(|j| jwt_settings(j, &invalid)).transpose()?,
            introspection: c.auth.introspection.as_ref().map(|i| introspection_settings(i, &invalid)).transpose()?,
            public_url,
            web,
            telemetry,
        })
    }

    /// Settings from a configuration built in code (tests).
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        Self::from_loaded(&Loaded::from_config(config), false)
    }
}

/// `[telemetry]`: `None` while no collector is named.
fn telemetry_settings(
    t: &crate::config::file::TelemetryConfig,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Option<crate::telemetry::TelemetrySettings>, ConfigError> {
    if !(0.0..=1.0).contains(&t.sample_ratio) {
        return Err(invalid("telemetry.sample_ratio", format!("{} is not between 0.0 and 1.0", t.sample_ratio)));
    }
    if t.service_name.trim().is_empty() {
        return Err(invalid("telemetry.service_name", "must not be empty".into()));
    }
    if t.export_interval < Duration::from_millis(10) {
        return Err(invalid("telemetry.export_interval", "must be at least 10ms".into()));
    }
    let Some(raw) = t.otlp_endpoint.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let mut url = url::Url::parse(raw.trim()).map_err(|e| {
        invalid("telemetry.otlp_endpoint", format!("is not a URL ({e}); expected http://collector:4318"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("telemetry.otlp_endpoint", "must be an http:// or https:// URL with a host".into()));
    }
    // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is written: spans go to /v1/traces.
    if url.path() == "/" {
        url.set_path("/v1/traces");
    }
    Ok(Some(crate::telemetry::TelemetrySettings {
        endpoint: url,
        protocol: t.otlp_protocol,
        service_name: t.service_name.trim().to_owned(),
        sample_ratio: t.sample_ratio,
        export_interval: t.export_interval,
    }))
}

/// An egress proxy: `http://` or `https://`, a host, nothing after it.
fn parse_proxy_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL ({e}); expected http://host:port"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must use http:// or https://, not {}://", url.scheme()));
    }
    if url.host().is_none() {
        return Err("has no host; expected http://host:port".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a proxy's address only (scheme, optional credentials, host, port)".into());
    }
    Ok(url)
}

/// `[auth.jwt]`, checked: one JWKS source, asymmetric algorithms only, known scopes.
fn jwt_settings(
    j: &super::file::JwtConfig,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<crate::tokens::jwt::JwtSettings, ConfigError> {
    use crate::tokens::jwt::{JwksSource, JwtSettings};
    use crate::tokens::ClaimMap;
    use jsonwebtoken::Algorithm as A;
    if j.issuer.is_empty() {
        return Err(invalid("auth.jwt.issuer", "is required: the `iss` every token must carry".into()));
    }
    if j.audience.is_empty() {
        return Err(invalid("auth.jwt.audience", "is required: the `aud` every token must carry".into()));
    }
    let jwks = match (&j.jwks_url, &j.jwks_file) {
        (Some(u), None) => {
            let url = url::Url::parse(u).map_err(|e| invalid("auth.jwt.jwks_url", format!("is not a URL ({e})")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(invalid("auth.jwt.jwks_url", "must be an https:// URL".into()));
            }
            JwksSource::Url(url)
        }
        (None, Some(f)) => JwksSource::File(f.clone()),
        _ => return Err(invalid("auth.jwt", "needs exactly one of jwks_url and jwks_file".into())),
    };
    let mut algorithms = Vec::new();
    for a in &j.algorithms {
        let alg = match a.as_str() {
            "RS256" => A::RS256,
            "RS384" => A::RS384,
            "RS512" => A::RS512,
            "PS256" => A::PS256,
            "PS384" => A::PS384,
            "PS512" => A::PS512,
            "ES256" => A::ES256,
            "ES384" => A::ES384,
            "EdDSA" => A::EdDSA,
            "HS256" | "HS384" | "HS512" => {
                return Err(invalid(
                    "auth.jwt.algorithms",
                    format!("`{a}` is symmetric: hookd verifies only signatures made with a private key"),
                ))
            }
            other => {
                return Err(invalid("auth.jwt.algorithms", format!("`{other}` is not a JWS algorithm hookd accepts")))
            }
        };
        algorithms.push(alg);
    }
    if algorithms.is_empty() {
        return Err(invalid("auth.jwt.algorithms", "must list at least one algorithm".into()));
    }
    let scopes = scope_map(&j.scopes, "auth.jwt.scopes", invalid)?;
    Ok(JwtSettings {
        issuer: j.issuer.clone(),
        audience: j.audience.clone(),
        jwks,
        algorithms,
        claims: ClaimMap {
            workspace_claim: j.workspace_claim.clone(),
            owner_claim: (!j.owner_claim.is_empty()).then(|| j.owner_claim.clone()),
            scope_claim: j.scope_claim.clone(),
            scopes,
        },
    })
}

/// A product's scope names, each with the hookd scopes it grants.
fn scope_map(
    raw: &std::collections::BTreeMap<String, Vec<String>>,
    key: &str,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<std::collections::HashMap<String, Vec<hookd_core::domain::Scope>>, ConfigError> {
    let mut scopes = std::collections::HashMap::new();
    for (theirs, ours) in raw {
        let parsed = ours
            .iter()
            .map(|s| s.parse::<hookd_core::domain::Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid(&format!("{key}.{theirs}"), m))?;
        scopes.insert(theirs.clone(), parsed);
    }
    Ok(scopes)
}

/// `[auth.introspection]`, checked.
fn introspection_settings(
    i: &super::file::IntrospectionConfig,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<crate::tokens::introspection::IntrospectionSettings, ConfigError> {
    let url = url::Url::parse(&i.url).map_err(|e| invalid("auth.introspection.url", format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("auth.introspection.url", "must be an https:// URL".into()));
    }
    if i.client_id.is_empty() {
        return Err(invalid("auth.introspection.client_id", "is required".into()));
    }
    if i.token_prefixes.is_empty() || i.token_prefixes.iter().any(String::is_empty) {
        return Err(invalid(
            "auth.introspection.token_prefixes",
            "must list at least one non-empty prefix: only tokens starting with one are introspected".into(),
        ));
    }
    let cache_ttl =
        at_least(i.cache_ttl, Duration::from_secs(1)).map_err(|m| invalid("auth.introspection.cache_ttl", m))?;
    Ok(crate::tokens::introspection::IntrospectionSettings {
        url,
        client_id: i.client_id.clone(),
        client_secret: i.client_secret.clone(),
        token_prefixes: i.token_prefixes.clone(),
        cache_ttl,
        claims: crate::tokens::ClaimMap {
            workspace_claim: i.workspace_claim.clone(),
            owner_claim: (!i.owner_claim.is_empty()).then(|| i.owner_claim.clone()),
            scope_claim: i.scope_claim.clone(),
            scopes: scope_map(&i.scopes, "auth.introspection.scopes", invalid)?,
        },
    })
}

/// A duration of at least `min`.
fn at_least(d: Duration, min: Duration) -> Result<Duration, String> {
    if d < min {
        return Err(format!("must be at least {}", humantime::format_duration(min)));
    }
    Ok(d)
}
