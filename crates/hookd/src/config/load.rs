//! Reading the layers (defaults, file, `HOOKD_*` variables, flags) into a [`Config`],
//! and saying where a value came from when it is wrong.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::file::{Config, EventTypeConfig, Role, DEFAULT_CONFIG_FILE};

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
    pub(super) fn source_of(&self, key: &str) -> String {
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
pub(super) fn known_keys() -> std::collections::HashSet<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut std::collections::HashSet<String>) {
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(&key, child, out);
                out.insert(key);
            }
        }
    }
    // The defaults, with what is left out when empty or unset filled in, so it is named
    // too (`HOOKD_AUTH__JWT__ISSUER`).
    let mut all = Config::default();
    all.event_types.push(EventTypeConfig { name: String::new(), description: String::new() });
    all.auth.jwt = Some(super::file::JwtConfig {
        issuer: String::new(),
        audience: String::new(),
        jwks_url: Some(String::new()),
        jwks_file: Some(Default::default()),
        algorithms: Vec::new(),
        workspace_claim: String::new(),
        owner_claim: String::new(),
        scope_claim: String::new(),
        scopes: Default::default(),
    });
    all.auth.introspection = Some(super::file::IntrospectionConfig {
        url: String::new(),
        client_id: String::new(),
        client_secret: String::new().into(),
        token_prefixes: Vec::new(),
        cache_ttl: Default::default(),
        workspace_claim: String::new(),
        owner_claim: String::new(),
        scope_claim: String::new(),
        scopes: Default::default(),
    });
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
