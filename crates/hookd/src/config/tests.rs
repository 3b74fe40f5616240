use std::path::{Path, PathBuf};
use std::time::Duration;

use super::load::known_keys;
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
        "auth.jwt.issuer",
        "auth.jwt.jwks_url",
        "auth.jwt.owner_claim",
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
        ("[retention]\nfailed_days = 0", "retention.failed_days"),
        ("[retention]\nfailed_days = 90", "retention.failed_days"),
        ("[retention]\nevents_days = 7", "retention.events_days"),
        ("[retention]\nheld_max = 0", "retention.held_max"),
        ("[telemetry]\notlp_endpoint = \"collector:4318\"", "telemetry.otlp_endpoint"),
        ("[telemetry]\notlp_endpoint = \"ftp://collector\"", "telemetry.otlp_endpoint"),
        ("[telemetry]\nsample_ratio = 1.5", "telemetry.sample_ratio"),
        ("[telemetry]\notlp_protocol = \"grpc\"", "telemetry.otlp_protocol"),
    ] {
        let p = write(dir.path(), body);
        // Refused when read (a duration that does not parse) or when validated.
        let err = match load(Some(&p), &Overrides::default()) {
            Err(e) => e.to_string(),
            Ok(loaded) => Settings::from_loaded(&loaded, false).unwrap_err().to_string(),
        };
        assert!(err.contains(&format!("`{key}`")) && err.contains("hookd.toml"), "{body}: {err}");
    }
    let p = write(dir.path(), "allow_http = \"yes\"");
    let err = load(Some(&p), &Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("allow_http") && err.contains("hookd.toml"), "{err}");
}

#[test]
fn retention_has_a_day_count_for_each_kind_and_keeps_the_older_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "[retention]\ndays = 7\nfailed_days = 14\nevents_days = 60\nheld_max = 50\n");
    let s = Settings::from_loaded(&load(Some(&p), &Overrides::default()).unwrap(), false).unwrap();
    let days = |d: u64| Duration::from_secs(d * 86_400);
    assert_eq!((s.retention.succeeded, s.retention.failed, s.retention.events), (days(7), days(14), days(60)));
    assert_eq!(s.retention.held_max, 50);
}

#[test]
fn telemetry_is_off_until_a_collector_is_named_and_a_base_url_means_v1_traces() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |body: &str| {
        let p = write(dir.path(), body);
        Settings::from_loaded(&load(Some(&p), &Overrides::default()).unwrap(), false).unwrap().telemetry
    };
    assert_eq!(settings("[telemetry]\nsample_ratio = 0.5"), None);
    let t = settings("[telemetry]\notlp_endpoint = \"http://otel.internal:4318\"\nsample_ratio = 0.25").unwrap();
    assert_eq!(t.endpoint.as_str(), "http://otel.internal:4318/v1/traces");
    assert_eq!((t.protocol, t.sample_ratio, t.service_name.as_str()), (OtlpProtocol::HttpProtobuf, 0.25, "hookd"));
    let t = settings(
        "[telemetry]\notlp_endpoint = \"https://otel.example.com/ingest/traces\"\notlp_protocol = \"http/json\"",
    )
    .unwrap();
    assert_eq!((t.endpoint.as_str(), t.protocol), ("https://otel.example.com/ingest/traces", OtlpProtocol::HttpJson));
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
    assert_eq!(format!("{:?}", s.database), "postgres://hookd:***@db.internal:5432/hookd", "no password in messages");
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
