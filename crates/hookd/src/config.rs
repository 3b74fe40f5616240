//! Configuration: compiled-in defaults, then a TOML file (`--config FILE`, else
//! `./hookd.toml` when present), then `HOOKD_*` environment variables (`__` for
//! nesting: `HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE`), then command-line flags.
//!
//! [`Config`] is the file's shape, with fixed key names operators rely on. It is
//! validated once into [`Settings`], typed values the components use; every error names
//! the key and where its value came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use hookd_core::crypto::EncryptionKey;
use hookd_core::domain::{validate_key_prefix, EventCatalog, EventType};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

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
    pub encryption_key: Option<String>,
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
    /// Extra API surfaces that mirror an existing product's documented API.
    pub compat: CompatConfig,
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
    pub acquire_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompatConfig {
    pub partner_v2: PartnerV2Config,
    /// Serve `GET …/developer/webhooks/{id}/secret` and `POST …/developer/webhooks/{id}/test`
    /// beside `/v1` (below `path_prefix`), as aliases of the `/v1` routes.
    pub developer_aliases: bool,
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
        let d = hookd_api::PartnerV2Options::default();
        Self { enabled: false, path_prefix: d.path_prefix, token_header: "X-LINQ-INTEGRATION-TOKEN".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Succeeded deliveries and their attempts are deleted after this many days.
    pub days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { days: 30 }
    }
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
    pub retry_schedule: Vec<String>,
    /// CIDRs deliveries may reach although they are not public (`10.0.0.0/8`).
    pub allow_private_cidrs: Vec<String>,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_rotation_overlap: String,
    pub connect_timeout: String,
    /// The whole attempt, connecting to reading the answer.
    pub attempt_timeout: String,
    pub max_in_flight_per_webhook: u32,
    pub max_in_flight: u32,
    /// Consecutive failures that open a webhook's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open circuit holds deliveries before probing.
    pub breaker_cooldown: String,
    /// The cooldown doubles after each failed probe, up to this.
    pub breaker_max_cooldown: String,
    /// A webhook failing without a success for this long is disabled.
    pub disable_after: String,
    /// On SIGTERM, how long in-flight attempts may take to finish.
    pub shutdown_grace: String,
    /// How long a node's claim on a delivery lasts without renewal.
    pub lease: String,
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
            log_format: LogFormat::Json,
            log_level: "info".into(),
            rate_limit: RateLimitConfig::default(),
            event_types: Vec::new(),
            delivery: DeliveryConfig::default(),
            retention: RetentionConfig::default(),
            compat: CompatConfig::default(),
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
        Self {
            signature_header: "X-Hookd-Signature".into(),
            retry_schedule: ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"].map(String::from).to_vec(),
            allow_private_cidrs: Vec::new(),
            secret_rotation_overlap: "24h".into(),
            connect_timeout: "5s".into(),
            attempt_timeout: "15s".into(),
            max_in_flight_per_webhook: 4,
            max_in_flight: 256,
            breaker_threshold: 5,
            breaker_cooldown: "30s".into(),
            breaker_max_cooldown: "10m".into(),
            disable_after: "5days".into(),
            shutdown_grace: "10s".into(),
            lease: "60s".into(),
            proxy_url: None,
        }
    }
}

/// A mount point: a path like `/api` (or empty, where `empty_ok`).
fn path_prefix_ok(p: &str, empty_ok: bool) -> bool {
    (empty_ok && p.is_empty())
        || (p.starts_with('/')
            && p.len() > 1
            && !p.ends_with('/')
            && p.len() <= 100
            && !p.contains("//")
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.')))
}

/// Values given as command-line flags, which override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub role: Option<Role>,
    pub dev: bool,
}

/// A configuration problem, naming the key and the source of its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("invalid value for `{key}` ({source_name}): {message}")]
    Invalid { key: String, source_name: String, message: String },
}

/// Where a configuration was read from, for messages.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    figment: Figment,
    flag_keys: Vec<&'static str>,
}

impl Loaded {
    /// A configuration built in code (tests), with no file or environment.
    pub fn from_config(config: Config) -> Self {
        let figment = Figment::from(Serialized::defaults(config.clone()));
        Self { config, file: None, figment, flag_keys: Vec::new() }
    }

    /// The source of a key's value, for error messages.
    fn source_of(&self, key: &str) -> String {
        if self.flag_keys.contains(&key) {
            return "command-line flag".into();
        }
        match self.figment.find_metadata(key) {
            Some(md) => match &md.source {
                Some(figment::Source::File(p)) => p.display().to_string(),
                _ if md.name.contains("environment") => {
                    format!("environment variable HOOKD_{}", key.to_uppercase().replace('.', "__"))
                }
                _ => "default".into(),
            },
            None => "default".into(),
        }
    }
}

/// Reads the layers into a [`Config`].
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let file = match file {
        Some(p) => {
            if !p.exists() {
                return Err(ConfigError::Read {
                    path: p.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            Some(p.to_owned())
        }
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
    };
    if let Some(p) = &file {
        figment = figment.merge(Toml::file_exact(p));
    }
    // Only variables that name a setting: others, such as the HOOKD_KEY a user exports
    // for curl or HOOKD_LISTEN_SECRET for `hookd listen`, are not configuration.
    let known = known_keys();
    figment = figment.merge(
        Env::prefixed("HOOKD_")
            .split("__")
            .filter(move |k| known.contains(&k.as_str().to_ascii_lowercase().replace("__", "."))),
    );
    let mut flag_keys = Vec::new();
    if let Some(l) = &overrides.listen {
        figment = figment.merge(Serialized::default("listen", l));
        flag_keys.push("listen");
    }
    if let Some(r) = overrides.role {
        figment = figment.merge(Serialized::default("role", r));
        flag_keys.push("role");
    }
    if let Some(d) = &overrides.database {
        figment = figment.merge(Serialized::default("database_url", database_url_from_flag(d)));
        flag_keys.push("database_url");
    }
    if overrides.dev {
        figment =
            figment.merge(Serialized::default("allow_http", true)).merge(Serialized::default("log_format", "text"));
        flag_keys.extend(["allow_http", "log_format"]);
    }
    let config: Config = figment.extract().map_err(|e| ConfigError::Parse(describe_figment_error(e)))?;
    Ok(Loaded { config, file, figment, flag_keys })
}

/// Every setting's key, dotted (`delivery.proxy_url`), as `HOOKD_*` variables name them
/// (`HOOKD_DELIVERY__PROXY_URL`), lower-cased as figment compares them.
fn known_keys() -> std::collections::HashSet<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut std::collections::HashSet<String>) {
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(&key, child, out);
                out.insert(key);
            }
        }
    }
    // The defaults, with a list that is left out when empty filled in, so it is named too.
    let mut all = Config::default();
    all.event_types.push(EventTypeConfig { name: String::new(), description: String::new() });
    let mut out = std::collections::HashSet::new();
    walk("", &serde_json::to_value(all).expect("the defaults serialise"), &mut out);
    out
}

/// The `HOOKD_*` variables set in this environment that name no setting, for
/// `hookd config check` to mention.
pub fn ignored_env_vars() -> Vec<String> {
    let known = known_keys();
    let mut out: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            k.strip_prefix("HOOKD_").is_some_and(|rest| !known.contains(&rest.to_ascii_lowercase().replace("__", ".")))
        })
        .collect();
    out.sort();
    out
}

/// The variable that sets `key` (`rate_limit.requests_per_minute`).
fn env_var_of(key: &str) -> String {
    format!("HOOKD_{}", key.to_ascii_uppercase().replace('.', "__"))
}

/// `--database` accepts a URL or, for convenience, a plain SQLite file path.
fn database_url_from_flag(d: &str) -> String {
    if d.contains("://") || d.starts_with("sqlite:") {
        d.to_owned()
    } else {
        format!("sqlite://{d}")
    }
}

fn describe_figment_error(e: figment::Error) -> String {
    let mut parts = Vec::new();
    for err in e {
        let key = err.path.join(".");
        let source = match &err.metadata {
            Some(md) => match &md.source {
                Some(figment::Source::File(p)) => p.display().to_string(),
                _ if md.name.contains("environment") && !key.is_empty() => {
                    format!("environment variable {}", env_var_of(&key))
                }
                _ => md.name.to_string(),
            },
            None => "configuration".into(),
        };
        let what = err.kind.to_string();
        if key.is_empty() {
            parts.push(format!("invalid configuration ({source}): {what}"));
        } else {
            parts.push(format!("invalid value for `{key}` ({source}): {what}"));
        }
    }
    parts.join("\n")
}

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
    pub requests_per_minute: u32,
    pub catalog: EventCatalog,
    pub signature_header: String,
    pub retry_schedule: Vec<Duration>,
    pub allow_private_cidrs: Vec<IpNet>,
    pub secret_rotation_overlap: Duration,
    pub delivery: DeliverySettings,
    pub retention: Duration,
    pub partner_v2: Option<hookd_api::PartnerV2Options>,
    pub developer_aliases: bool,
    pub dev: bool,
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
            .as_deref()
            .map(|t| duration_at_least(t, Duration::from_millis(100)))
            .transpose()
            .map_err(|m| invalid("database.acquire_timeout", m))?;
        let pool = PoolSettings { max_connections: c.database.max_connections, acquire_timeout };
        validate_key_prefix(&c.key_prefix).map_err(|m| invalid("key_prefix", m))?;
        let encryption_key = c
            .encryption_key
            .as_deref()
            .map(|k| EncryptionKey::from_base64(k).map_err(|e| invalid("encryption_key", e.to_string())))
            .transpose()?;
        if database.is_shared() && encryption_key.is_none() {
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
        let token_header = axum::http::HeaderName::try_from(pv2.token_header.as_str()).map_err(|_| {
            invalid(
                "compat.partner_v2.token_header",
                format!("`{}` is not a header name (letters, digits and '-')", pv2.token_header),
            )
        })?;
        if token_header == axum::http::header::AUTHORIZATION {
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
        let partner_v2 =
            pv2.enabled.then(|| hookd_api::PartnerV2Options { path_prefix: pv2.path_prefix.clone(), token_header });
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
        let retry_schedule = c
            .delivery
            .retry_schedule
            .iter()
            .map(|s| parse_duration(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid("delivery.retry_schedule", m))?;
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
        let secret_rotation_overlap = parse_duration(&c.delivery.secret_rotation_overlap)
            .map_err(|m| invalid("delivery.secret_rotation_overlap", m))?;
        let d = &c.delivery;
        let duration = |key: &str, v: &str, min: Duration| duration_at_least(v, min).map_err(|m| invalid(key, m));
        let count = |key: &str, v: u32| {
            if v == 0 {
                Err(invalid(&format!("delivery.{key}"), "must be at least 1".into()))
            } else {
                Ok(v)
            }
        };
        let ms = Duration::from_millis;
        let delivery = DeliverySettings {
            connect_timeout: duration("delivery.connect_timeout", &d.connect_timeout, ms(1))?,
            attempt_timeout: duration("delivery.attempt_timeout", &d.attempt_timeout, ms(1))?,
            max_in_flight_per_webhook: count("max_in_flight_per_webhook", d.max_in_flight_per_webhook)? as usize,
            max_in_flight: count("max_in_flight", d.max_in_flight)? as usize,
            breaker_threshold: count("breaker_threshold", d.breaker_threshold)?,
            breaker_cooldown: duration("delivery.breaker_cooldown", &d.breaker_cooldown, ms(1))?,
            breaker_max_cooldown: duration("delivery.breaker_max_cooldown", &d.breaker_max_cooldown, ms(1))?,
            disable_after: duration("delivery.disable_after", &d.disable_after, Duration::from_secs(60))?,
            shutdown_grace: duration("delivery.shutdown_grace", &d.shutdown_grace, Duration::ZERO)?,
            lease: duration("delivery.lease", &d.lease, Duration::from_secs(1))?,
            proxy: d
                .proxy_url
                .as_deref()
                .map(parse_proxy_url)
                .transpose()
                .map_err(|m| invalid("delivery.proxy_url", m))?,
        };
        if c.retention.days == 0 {
            return Err(invalid("retention.days", "must be at least 1".into()));
        }
        let retention = Duration::from_secs(u64::from(c.retention.days) * 86_400);
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
            requests_per_minute: c.rate_limit.requests_per_minute,
            catalog,
            signature_header: header.clone(),
            retry_schedule,
            allow_private_cidrs,
            secret_rotation_overlap,
            delivery,
            retention,
            partner_v2,
            developer_aliases: c.compat.developer_aliases,
            dev,
        })
    }

    /// Settings from a configuration built in code (tests).
    pub fn from_config(config: Config) -> Result<Self, ConfigError> {
        Self::from_loaded(&Loaded::from_config(config), false)
    }
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|_| format!("`{s}` is not a duration such as 30s, 5m, 2h"))
}

/// A duration of at least `min`.
fn duration_at_least(s: &str, min: Duration) -> Result<Duration, String> {
    let parsed = parse_duration(s)?;
    if parsed < min {
        return Err(format!("must be at least {}", humantime::format_duration(min)));
    }
    Ok(parsed)
}

/// The configuration as TOML, with the encryption key redacted.
pub fn to_toml(config: &Config) -> String {
    let mut c = config.clone();
    if c.encryption_key.is_some() {
        c.encryption_key = Some("<redacted>".into());
    }
    let mut out = toml::to_string_pretty(&c).expect("configuration serialises");
    if c.event_types.is_empty() {
        out.push_str(
            "\n# The event catalog: with none, any dotted lower-case name is accepted. Add one block per type:\n\
             # [[event_types]]\n# name = \"link.created\"\n# description = \"A new short link was created.\"\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("hookd.toml");
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn every_setting_is_known_including_those_unset_by_default() {
        let known = known_keys();
        for key in [
            "listen",
            "encryption_key",
            "event_types",
            "database.max_connections",
            "database.acquire_timeout",
            "delivery.proxy_url",
            "compat.partner_v2.token_header",
        ] {
            assert!(known.contains(key), "{key} is not a known setting");
        }
        assert!(!known.contains("key") && !known.contains("listen_secret"));
    }

    #[test]
    fn the_documented_example_file_parses() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"
listen = "127.0.0.1:9090"
database_url = "sqlite:///var/lib/hookd/hookd.db"
key_prefix = "xqr_pk"
allow_http = false
secret_retrieval = true
encryption_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
[rate_limit]
requests_per_minute = 600
[[event_types]]
name = "link.created"
description = "A new short link was created."
[delivery]
signature_header = "X-XQR-Signature"
retry_schedule = ["0s", "5s", "5m"]
allow_private_cidrs = ["10.0.0.0/8"]
"#,
        );
        let loaded = load(Some(&p), &Overrides::default()).unwrap();
        let s = Settings::from_loaded(&loaded, false).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(s.database.key_file(), Some(PathBuf::from("/var/lib/hookd/hookd.key")));
        assert_eq!(s.key_prefix, "xqr_pk");
        assert!(s.secret_retrieval);
        assert!(s.encryption_key.is_some());
        assert_eq!(s.signature_header, "X-XQR-Signature");
        assert_eq!(s.retry_schedule, vec![Duration::ZERO, Duration::from_secs(5), Duration::from_secs(300)]);
        assert!(s.catalog.check_event("link.created").is_ok());
        assert!(s.catalog.check_event("link.deleted").is_err());
    }

    #[test]
    fn unknown_keys_name_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "listne = \"127.0.0.1:1\"\n");
        let err = load(Some(&p), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("listne") && err.contains("hookd.toml"), "{err}");
        let p = write(dir.path(), "[delivery]\nretries = 3\n");
        let err = load(Some(&p), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("retries") && err.contains("hookd.toml"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        for (body, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("key_prefix = \"has space\"", "key_prefix"),
            ("encryption_key = \"c2hvcnQ=\"", "encryption_key"),
            ("[delivery]\nretry_schedule = [\"5x\"]", "delivery.retry_schedule"),
            ("[delivery]\nallow_private_cidrs = [\"10.0.0.0/99\"]", "delivery.allow_private_cidrs"),
            ("[rate_limit]\nrequests_per_minute = 0", "rate_limit.requests_per_minute"),
            ("path_prefix = \"api/\"", "path_prefix"),
            ("[compat.partner_v2]\npath_prefix = \"/\"", "compat.partner_v2.path_prefix"),
            ("[compat.partner_v2]\ntoken_header = \"X Token\"", "compat.partner_v2.token_header"),
            ("[compat.partner_v2]\ntoken_header = \"Authorization\"", "compat.partner_v2.token_header"),
            (
                "path_prefix = \"/api\"\n[compat.partner_v2]\nenabled = true\npath_prefix = \"/api/v1/partner\"",
                "compat.partner_v2.path_prefix",
            ),
            ("max_events_per_webhook = 0", "max_events_per_webhook"),
            ("[[event_types]]\nname = \"Bad Name\"", "event_types"),
            ("role = \"worker\"", "role"),
            ("[database]\nmax_connections = 1", "database.max_connections"),
            ("[database]\nacquire_timeout = \"10ms\"", "database.acquire_timeout"),
        ] {
            let p = write(dir.path(), body);
            let loaded = load(Some(&p), &Overrides::default()).unwrap();
            let err = Settings::from_loaded(&loaded, false).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")) && err.contains("hookd.toml"), "{body}: {err}");
        }
        let p = write(dir.path(), "allow_http = \"yes\"");
        let err = load(Some(&p), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("allow_http") && err.contains("hookd.toml"), "{err}");
    }

    #[test]
    fn postgres_needs_a_shared_encryption_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "database_url = \"postgres://hookd:pw@db.internal:5432/hookd\"");
        let loaded = load(Some(&p), &Overrides::default()).unwrap();
        let err = Settings::from_loaded(&loaded, false).unwrap_err().to_string();
        assert!(err.contains("`encryption_key`") && err.contains("openssl rand -base64 32"), "{err}");
        let p = write(
            dir.path(),
            "database_url = \"postgres://hookd:pw@db.internal:5432/hookd\"\nencryption_key = \"dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=\"",
        );
        let s = Settings::from_loaded(&load(Some(&p), &Overrides::default()).unwrap(), false).unwrap();
        assert!(s.database.is_shared() && s.database.key_file().is_none());
        assert_eq!(
            format!("{:?}", s.database),
            "postgres://hookd:***@db.internal:5432/hookd",
            "no password in messages"
        );
        assert!(DatabaseUrl::parse("postgres://").is_err());
    }

    #[test]
    fn roles_and_pool_sizes_apply_on_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "database_url = \"postgres://hookd@db/hookd\"\nencryption_key = \"dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=\"\n\
             role = \"api\"\n[database]\nmax_connections = 40\nacquire_timeout = \"2s\"",
        );
        let s = Settings::from_loaded(&load(Some(&p), &Overrides::default()).unwrap(), false).unwrap();
        assert_eq!(s.role, Role::Api);
        assert!(s.role.serves_api() && !s.role.delivers());
        assert_eq!(s.pool, PoolSettings { max_connections: Some(40), acquire_timeout: Some(Duration::from_secs(2)) });
        // The flag wins over the file.
        let o = Overrides { role: Some(Role::Worker), ..Default::default() };
        let s = Settings::from_loaded(&load(Some(&p), &o).unwrap(), false).unwrap();
        assert_eq!(s.role, Role::Worker);
        // On SQLite the role names why it cannot be used.
        let p = write(dir.path(), "role = \"api\"");
        let err = Settings::from_loaded(&load(Some(&p), &Overrides::default()).unwrap(), false).unwrap_err();
        assert!(err.to_string().contains("postgres://"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "listen = \"127.0.0.1:1111\"\nallow_http = false\n");
        let o = Overrides {
            listen: Some("127.0.0.1:2222".into()),
            database: Some("x/y.db".into()),
            dev: true,
            ..Default::default()
        };
        let loaded = load(Some(&p), &o).unwrap();
        let s = Settings::from_loaded(&loaded, true).unwrap();
        assert_eq!(s.listen.port(), 2222);
        assert_eq!(s.database.key_file(), Some(PathBuf::from("x/hookd.key")));
        assert!(s.allow_http);
        assert_eq!(s.log_format, LogFormat::Text);
        assert!(s.allow_private_cidrs.iter().any(|c| c.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap())));
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/hookd.toml")), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hookd.toml"));
    }

    #[test]
    fn printed_config_redacts_the_key_and_reparses() {
        let c = Config { encryption_key: Some("secret".into()), ..Config::default() };
        let out = to_toml(&c);
        assert!(!out.contains("secret\"") && out.contains("<redacted>"));
        let back: Config = toml::from_str(&to_toml(&Config::default())).unwrap();
        assert_eq!(back, Config::default());
    }
}
