//! The `hookd` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hookd_core::domain::{ApiKeyToken, Scope};
use hookd_core::id::ApiKeyId;
use hookd_core::service::{AdminService, KeyLimits, NewWorkspace};
use hookd_core::time_fmt;

use crate::app::{App, Database};
use crate::config::{self, Overrides, Settings};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "hookd",
    version,
    about = "Self-hosted webhook delivery: durable, signed, retried.",
    long_about = "hookd accepts events from your backend and delivers them to your customers' webhook \
        endpoints as signed HTTP POSTs, retried until they land.\n\n\
        Configuration is read from, in increasing precedence: built-in defaults, a TOML file \
        (--config, else ./hookd.toml when present), HOOKD_* environment variables \
        (HOOKD_LISTEN, HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE, …), and flags.",
    after_help = "Examples:\n  \
        hookd serve --dev\n      run locally on 127.0.0.1:8080 with ./hookd.db\n  \
        hookd config print > hookd.toml\n      start a configuration file from the defaults\n  \
        hookd key create --workspace default --scopes events:write --name backend\n      \
        a key that may only publish\n  \
        hookd listen --secret whsec_…\n      print deliveries on 127.0.0.1:9000 and check their signatures"
)]
pub struct Cli {
    /// Configuration file (default: ./hookd.toml when present).
    #[arg(long, global = true, env = "HOOKD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (sqlite://hookd.db, postgres://user:password@host/db) or SQLite file
    /// path; overrides database_url.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server.
    #[command(after_help = "Examples:\n  hookd serve\n  hookd serve --dev --listen 127.0.0.1:9000\n  \
        HOOKD_DATABASE_URL=sqlite:///var/lib/hookd/hookd.db hookd serve\n  \
        HOOKD_DATABASE_URL=postgres://hookd@db/hookd HOOKD_ENCRYPTION_KEY=… \\\n    hookd serve --role worker\n\n\
        On the very first start, hookd creates the workspace `default` and prints an API key for it, once.")]
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    #[command(after_help = "Example:\n  hookd migrate --database sqlite:///var/lib/hookd/hookd.db\n\n\
        `hookd serve` migrates on start too; run this to upgrade ahead of a deploy.")]
    Migrate,
    /// Create and list workspaces (tenants).
    #[command(subcommand, after_help = "Example:\n  hookd workspace create --name acme")]
    Workspace(WorkspaceCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand, after_help = "Example:\n  hookd key create --workspace default --scopes '*'")]
    Key(KeyCommand),
    /// Check or print the configuration.
    #[command(subcommand, after_help = "Example:\n  hookd config check --config /etc/hookd/hookd.toml")]
    Config(ConfigCommand),
    /// Run a local receiver that prints each delivery and checks its signatures.
    #[command(after_help = "Example:\n  hookd listen --port 9000 --secret whsec_…\n\n\
        Then create a webhook for http://127.0.0.1:9000/webhooks on a `hookd serve --dev`, and publish an event.")]
    Listen(ListenArgs),
    /// Check a captured delivery's signature (Standard Webhooks v1 or v1a), as a receiver would.
    #[command(after_help = "Examples:\n  \
        hookd verify --secret whsec_… -H 'webhook-id: evt_…' -H 'webhook-timestamp: 1764700000' \\\n    \
        -H 'webhook-signature: v1,…' --body body.json\n  \
        hookd verify --public-key whpk_… --headers request-headers.txt < request-body.json\n\n\
        Exits 0 when the delivery verifies; otherwise prints the reason (missing header, bad signature, \
        timestamp outside the tolerance) and exits 1; exits 2 when a file cannot be read. The body must be \
        byte for byte what was received.")]
    Verify(VerifyArgs),
    /// Print the version, the commit it was built from and what is built in.
    #[command(after_help = "Example:\n  hookd version")]
    Version,
    /// Ask a running hookd whether it is ready (`GET /readyz`); exit 0 if so, 1 if not.
    #[command(
        after_help = "Examples:\n  hookd healthcheck\n  hookd healthcheck --url http://127.0.0.1:8080/readyz\n\n\
        Without --url it asks the address hookd listens on (`listen`, from the same configuration file, \
        environment and flags as `hookd serve`), on 127.0.0.1 when that is 0.0.0.0. For container \
        HEALTHCHECKs and service managers; it answers within --timeout."
    )]
    Healthcheck(HealthcheckArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  \
        hookd completions bash > /etc/bash_completion.d/hookd\n  \
        hookd completions zsh > \"${fpath[1]}/_hookd\"\n  \
        hookd completions fish > ~/.config/fish/completions/hookd.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Copy a SQLite deployment's database while hookd runs (consistent, online).
    #[command(
        after_help = "Example:\n  hookd backup /var/backups/hookd-$(date +%F).db --database sqlite:///var/lib/hookd/hookd.db\n\n\
        One SQLite VACUUM INTO: publishing and delivery go on meanwhile, and the copy holds what was committed \
        when it began. The file is created 0600 and must not exist. Keep hookd.key (beside the database) with \
        it: the signing secrets cannot be read without it. On PostgreSQL, use pg_dump."
    )]
    Backup {
        /// Where to write the copy.
        file: PathBuf,
    },
    /// Put a backup in place of the database (hookd must be stopped).
    #[command(
        after_help = "Example:\n  hookd restore /var/backups/hookd-2026-12-01.db --database sqlite:///var/lib/hookd/hookd.db\n\n\
        Checks the copy (SQLite's integrity check, hookd's schema, not newer than this hookd), keeps the current \
        database as <database>.before-restore, and copies the backup into place. Refused while a hookd serve \
        has the database open."
    )]
    Restore {
        /// The backup to restore.
        file: PathBuf,
        /// Replace an earlier <database>.before-restore.
        #[arg(long)]
        force: bool,
    },
    /// Print the manual page (roff), generated from the same definitions as --help.
    #[command(after_help = "Example:\n  hookd man > /usr/local/share/man/man1/hookd.1 && man hookd")]
    Man,
}

#[derive(Debug, Args)]
struct HealthcheckArgs {
    /// The readiness URL to ask (default: http://<listen>/readyz).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    timeout: std::time::Duration,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["secret", "public_key"])))]
struct VerifyArgs {
    /// The webhook's signing secret (whsec_… or your own), for v1 signatures.
    #[arg(long, env = "HOOKD_VERIFY_SECRET", value_name = "SECRET")]
    secret: Option<String>,
    /// An Ed25519 webhook's public key (whpk_…), for v1a signatures.
    #[arg(long, value_name = "whpk_…")]
    public_key: Option<String>,
    /// A header as `Name: value`; repeat for each (webhook-id, webhook-timestamp, webhook-signature).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Headers from a file: `Name: value` lines (a raw HTTP request's head) or a JSON object.
    #[arg(long = "headers", value_name = "FILE")]
    headers_file: Option<PathBuf>,
    /// The raw body; standard input when left out or `-`.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    /// How far the timestamp may be from now (raise it to check an old capture).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    tolerance: std::time::Duration,
}

#[derive(Debug, Args)]
struct ListenArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// The webhook's signing secret, to check both signatures.
    #[arg(long, env = "HOOKD_LISTEN_SECRET")]
    secret: Option<String>,
    /// An ed25519 webhook's public key (whpk_…), to check its v1a signature.
    #[arg(long, value_name = "whpk_…", conflicts_with = "secret")]
    public_key: Option<String>,
    /// Answer with this status (e.g. 500 to watch retries, 410 to disable the webhook).
    #[arg(long, default_value_t = 200)]
    status: u16,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; overrides `listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Development mode: plain http:// webhook URLs allowed, loopback allowed as a
    /// delivery target, readable text logs.
    #[arg(long)]
    dev: bool,
    /// What this node does; overrides `role`. `api` and `worker` need a postgres://
    /// database: scale the API and delivery separately.
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<config::Role>,
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace; prints its id on the last line.
    #[command(after_help = "Example:\n  WS=$(hookd workspace create --name acme | tail -n1)")]
    Create {
        /// Unique name: letters, digits, '-', '_', '.'.
        #[arg(long)]
        name: String,
        /// The product's own id for this customer (unique; `Hookd-Workspace` accepts it).
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
    },
    /// List workspaces.
    #[command(after_help = "Example:\n  hookd workspace list")]
    List,
    /// Delete a workspace with its webhooks and keys; its pending deliveries are
    /// cancelled.
    #[command(after_help = "Example:\n  hookd workspace delete acme")]
    Delete {
        /// Workspace id (ws_…) or name.
        workspace: String,
    },
}

/// What `key create` and `key import` both take.
#[derive(Debug, clap::Args)]
struct NewKeyArgs {
    /// Workspace id (ws_…) or name.
    #[arg(long)]
    workspace: String,
    /// Comma-separated scopes.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
    /// The key sees and changes only the webhooks it creates.
    #[arg(long)]
    owner_scoped: bool,
    /// The key sees and creates only this owner's webhooks (a sub-account of the
    /// workspace's customer).
    #[arg(long, value_name = "OWNER", conflicts_with = "owner_scoped")]
    owner: Option<String>,
    /// Refuse the key after this long (90d, 12h) or from this time (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    expires: Option<String>,
}

impl NewKeyArgs {
    /// The workspace, scopes and limits the arguments name.
    async fn resolve(
        self,
        admin: &AdminService,
    ) -> anyhow::Result<(hookd_core::domain::Workspace, Vec<Scope>, KeyLimits)> {
        let expires_at = self.expires.as_deref().map(parse_expiry).transpose()?;
        let scopes = self
            .scopes
            .iter()
            .map(|s| s.trim().parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let ws = find_workspace(admin, &self.workspace).await?;
        Ok((ws, scopes, KeyLimits { expires_at, owner: self.owner }))
    }
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create an API key; prints the key, once, alone on the last line.
    #[command(after_help = "Examples:\n  hookd key create --workspace default --scopes '*'\n  \
        hookd key create --workspace acme --scopes webhooks:read,webhooks:write \\\n    --owner-scoped --name portal\n\n\
        Scopes: webhooks:read, webhooks:write (includes read), events:write, * (all of these),\n\
        admin (manage workspaces and keys over HTTP; act in any workspace).")]
    Create {
        #[command(flatten)]
        key: NewKeyArgs,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Import a key your product already issued, read from standard input (never from
    /// the command line, where other users could see it). Only its hash is kept.
    #[command(after_help = "Examples:\n  hookd key import --workspace acme --scopes '*' <<< \"$CUSTOMER_KEY\"\n  \
        hookd key import --workspace acme --scopes '*' --jsonl < keys.jsonl\n\n\
        With --jsonl, each line of standard input is one key: {\"key\": \"…\", \"owner\": \"cus_1\", \"name\": \"…\", \
        \"expires\": \"90d\"} (all but key optional; they override the flags). Every line is checked before the \
        first key is stored; keys imported before are skipped, so an interrupted import can be run again. \
        Prints one JSON line per key: its line number and id, or why it was skipped.")]
    Import {
        #[command(flatten)]
        key: NewKeyArgs,
        /// A label for the key.
        #[arg(long, default_value = "imported")]
        name: String,
        /// Many keys, one JSON object per line of standard input.
        #[arg(long)]
        jsonl: bool,
    },
    /// List API keys (never their secrets).
    #[command(after_help = "Example:\n  hookd key list --workspace default")]
    List {
        /// Only this workspace (id or name).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revoke an API key at once.
    #[command(after_help = "Examples:\n  hookd key revoke key_a1b2c3d4\n  hookd key revoke \"$OLD_KEY\"")]
    Revoke {
        /// The key id (key_a1b2c3d4) or the whole key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration (file, environment and flags) and summarise it.
    #[command(after_help = "Example:\n  hookd config check --config /etc/hookd/hookd.toml")]
    Check,
    /// Print the effective configuration as TOML (the defaults, with no file).
    #[command(after_help = "Example:\n  hookd config print > hookd.toml")]
    Print,
}

/// What `hookd version` prints: the version, the commit, the target and what is built in.
pub fn version_text() -> String {
    format!(
        "hookd {}\ncommit:   {}\ntarget:   {} ({} build)\nbuilt in: SQLite, PostgreSQL, the dashboard and portal, \
         the partner v2 and Svix-compatible APIs\nfeatures: none (every part above is always built)\n",
        env!("CARGO_PKG_VERSION"),
        env!("HOOKD_GIT_COMMIT"),
        env!("HOOKD_BUILD_TARGET"),
        env!("HOOKD_BUILD_PROFILE"),
    )
}

/// Asks `/readyz` of a running hookd: Ok when it answers 200, an error saying why not.
async fn healthcheck(settings: &Settings, a: &HealthcheckArgs) -> anyhow::Result<()> {
    let url = match &a.url {
        Some(u) => u.clone(),
        None => {
            let mut addr = settings.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            format!("http://{addr}/readyz")
        }
    };
    // Straight to hookd: never through a proxy from the environment.
    let client = reqwest::Client::builder().no_proxy().timeout(a.timeout).build()?;
    let res = client.get(&url).send().await.with_context(|| format!("{url} did not answer"))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {}", body.trim());
    println!("ready: {url} answered {status}");
    Ok(())
}

/// Writes generated text to standard output. A reader that stops early (`| head`) is
/// not an error.
fn print_out(bytes: &[u8], what: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Completions and the manual need nothing but the command's own definitions.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "hookd", &mut script);
            return print_out(&script, "the completion script");
        }
        Command::Version => {
            print!("{}", version_text());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
                eprintln!("error: cannot render the manual page: {e}");
                return ExitCode::FAILURE;
            }
            return print_out(&page, "the manual page");
        }
        _ => {}
    }
    // Verifying needs no configuration and no runtime: a receiver's developer runs it anywhere.
    if let Command::Verify(a) = &cli.command {
        let key = match (&a.secret, &a.public_key) {
            (_, Some(pk)) => hookd_delivery::signing::VerifyKey::PublicKey(pk.clone()),
            (Some(s), None) => hookd_delivery::signing::VerifyKey::Secret(s.clone()),
            (None, None) => unreachable!("clap requires one"),
        };
        let opts = crate::verify::VerifyOptions {
            key,
            headers: &a.headers,
            headers_file: a.headers_file.as_deref(),
            body_file: a.body.as_deref(),
            tolerance: a.tolerance,
        };
        return match crate::verify::verify(&opts) {
            Ok(Ok(summary)) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Ok(Err(reason)) => {
                eprintln!("not verified: {reason}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (listen, dev, role) = match &cli.command {
        Command::Serve(a) => (a.listen.clone(), a.dev, a.role),
        _ => (None, false, None),
    };
    let overrides = Overrides { listen, database: cli.database.clone(), role, dev };
    let loaded = config::load(cli.config.as_deref(), &overrides)?;
    // Only a server seals and opens signing secrets; `config check` reports what it needs.
    let settings = if matches!(cli.command, Command::Serve(_) | Command::Config(_)) {
        Settings::from_loaded(&loaded, dev)?
    } else {
        Settings::from_loaded_without_key(&loaded, dev)?
    };
    match cli.command {
        Command::Serve(_) => serve(settings).await,
        Command::Migrate => {
            telemetry::init(settings.log_format, &settings.log_level);
            let db = Database::open(&settings.database, &settings.pool, settings.role).await?;
            db.close().await;
            let m = &db.migrated;
            if m.applied.is_empty() {
                println!("database {:?} was already at the latest schema", settings.database);
            } else {
                println!(
                    "database {:?} is migrated to the latest schema: applied {} in {:.1} s",
                    settings.database,
                    m.applied.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    m.took.as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Workspace(cmd) => workspace(&settings, cmd).await,
        Command::Key(cmd) => key(&settings, cmd).await,
        Command::Config(ConfigCommand::Check) => {
            let file =
                loaded.file.as_ref().map_or("none (defaults and environment)".to_owned(), |p| p.display().to_string());
            println!("configuration OK");
            println!("  file:            {file}");
            println!("  listen:          {}", settings.listen);
            println!("  database:        {:?}", settings.database);
            println!("  role:            {}", settings.role);
            println!("  key prefix:      {}", settings.key_prefix);
            let n = settings.catalog.types().len();
            let catalog = if settings.catalog.is_open() {
                "open (any dotted name)".to_owned()
            } else {
                format!("{n} event types")
            };
            println!("  catalog:         {catalog}");
            println!(
                "  encryption key:  {}",
                match &settings.encryption_key {
                    Some(k) => format!("configured (fingerprint {})", k.fingerprint()),
                    None => match settings.database.key_file() {
                        Some(f) => format!("from {}", f.display()),
                        None => "missing".to_owned(),
                    },
                }
            );
            let prefix = &settings.path_prefix;
            let mut surfaces = vec![format!("{prefix}/v1")];
            if let Some(p) = &settings.partner_v2 {
                surfaces.push(format!("partner v2 at {}", p.path_prefix));
            }
            if settings.svix {
                surfaces.push(format!("Svix at {prefix}/api/v1"));
            }
            println!("  APIs:            {}", surfaces.join(", "));
            let r = &settings.retention;
            let days = |d: std::time::Duration| d.as_secs() / 86_400;
            println!(
                "  retention:       succeeded {}d, failed {}d, events {}d; {} held per disabled webhook",
                days(r.succeeded),
                days(r.failed),
                days(r.events),
                r.held_max
            );
            if !settings.operational_webhooks.is_empty() {
                let urls: Vec<&str> = settings.operational_webhooks.iter().map(|o| o.url.as_str()).collect();
                println!("  operational:     {} (workspace hookd-operations)", urls.join(", "));
            }
            match &settings.telemetry {
                Some(t) => println!(
                    "  traces:          to {} ({}), {}% of new traces",
                    t.endpoint,
                    match t.protocol {
                        config::OtlpProtocol::HttpProtobuf => "http/protobuf",
                        config::OtlpProtocol::HttpJson => "http/json",
                    },
                    t.sample_ratio * 100.0
                ),
                None => println!("  traces:          off ([telemetry] otlp_endpoint)"),
            }
            let ignored = config::ignored_env_vars();
            if !ignored.is_empty() {
                println!("  not settings:    {} (ignored)", ignored.join(", "));
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Print) => {
            print!("{}", config::to_toml(&loaded.config));
            Ok(())
        }
        Command::Listen(a) => {
            let status = axum::http::StatusCode::from_u16(a.status)
                .map_err(|_| anyhow::anyhow!("--status {} is not an HTTP status", a.status))?;
            let key = match (a.public_key, a.secret) {
                (Some(pk), _) => Some(hookd_delivery::signing::VerifyKey::PublicKey(pk)),
                (None, Some(s)) => Some(hookd_delivery::signing::VerifyKey::Secret(s)),
                (None, None) => None,
            };
            crate::listen::listen(crate::listen::ListenOptions {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], a.port)),
                key,
                signature_header: settings.signature_header.to_ascii_lowercase(),
                status,
            })
            .await
        }
        Command::Verify(_) => unreachable!("handled in main"),
        Command::Healthcheck(a) => healthcheck(&settings, &a).await,
        Command::Backup { file } => crate::backup::backup(&settings, &file).await,
        Command::Restore { file, force } => crate::backup::restore(&settings, &file, force).await,
        Command::Version | Command::Completions { .. } | Command::Man => unreachable!("handled in main"),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format, &settings.log_level);
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| {
        format!("cannot listen on {} (is another hookd running? choose another with --listen)", settings.listen)
    })?;
    let addr = listener.local_addr()?;
    let app = App::build(&settings).await?;
    if let Some(first) = app.bootstrap().await? {
        // On stdout, set apart from the log lines (stderr), so it cannot be missed.
        let rule = "=".repeat(78);
        println!("{rule}");
        println!("hookd created the workspace `default` and its first API key. It is shown only once:");
        println!();
        println!("API key: {}", first.token);
        println!();
        println!("Try it:  curl -H \"Authorization: Bearer {}\" http://{addr}/v1/webhooks", first.token);
        if settings.web.enabled && settings.role.serves_api() {
            println!("Or sign in with it at http://{addr}/dashboard");
        }
        println!("Lost it? With hookd stopped or running: hookd key create --workspace default --scopes '*'");
        println!("{rule}");
    }
    let dashboard = (settings.web.enabled && settings.role.serves_api()).then(|| format!("http://{addr}/dashboard"));
    tracing::info!(%addr, database = ?settings.database, role = %settings.role, dashboard, "hookd listening");
    app.run(listener, shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

async fn admin(settings: &Settings) -> anyhow::Result<(Database, AdminService)> {
    telemetry::init(settings.log_format, "warn");
    let db =
        Database::open(&settings.database, &settings.pool, settings.role).await.context("cannot open the database")?;
    let admin = AdminService::new(db.store.clone(), settings.key_prefix.clone());
    Ok((db, admin))
}

async fn workspace(settings: &Settings, cmd: WorkspaceCommand) -> anyhow::Result<()> {
    let (db, admin) = admin(settings).await?;
    let result = async {
        match cmd {
            WorkspaceCommand::Create { name, external_id } => {
                let ws =
                    admin.create_workspace(NewWorkspace { name, external_id, metadata: Default::default() }).await?;
                eprintln!("Created workspace {}", ws.name);
                println!("{}", ws.id);
            }
            WorkspaceCommand::List => {
                let list = admin.all_workspaces().await?;
                let rows: Vec<[String; 4]> = list
                    .iter()
                    .map(|ws| {
                        let external = ws.external_id.clone().unwrap_or_else(|| "-".into());
                        [ws.id.to_string(), ws.name.clone(), external, time_fmt::format(ws.created_at)]
                    })
                    .collect();
                print!("{}", table(&["ID", "NAME", "EXTERNAL ID", "CREATED"], &rows));
            }
            WorkspaceCommand::Delete { workspace } => {
                let ws = find_workspace(&admin, &workspace).await?;
                // No key is asking: the command line may delete any workspace.
                admin.delete_workspace(&ws.id, &hookd_core::id::WorkspaceId::generate()).await?;
                println!("Deleted workspace {} ({})", ws.name, ws.id);
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

async fn key(settings: &Settings, cmd: KeyCommand) -> anyhow::Result<()> {
    let (db, admin) = admin(settings).await?;
    let result = async {
        match cmd {
            KeyCommand::Create { key, name } => {
                let owner_scoped = key.owner_scoped;
                let (ws, scopes, limits) = key.resolve(&admin).await?;
                let g = admin.create_key(&ws.id, &name, scopes, owner_scoped, limits).await?;
                let scopes: Vec<&str> = g.key.scopes.iter().map(|s| s.as_str()).collect();
                eprintln!(
                    "Created API key {} in workspace {} (scopes: {}{}). It is shown only once:",
                    g.key.id,
                    ws.name,
                    scopes.join(","),
                    if owner_scoped { ", owner-scoped" } else { "" }
                );
                println!("{}", g.token);
            }
            KeyCommand::Import { key, name, jsonl: true } => import_keys(&admin, key, &name).await?,
            KeyCommand::Import { key, name, jsonl: false } => {
                let owner_scoped = key.owner_scoped;
                let (ws, scopes, limits) = key.resolve(&admin).await?;
                let mut token = String::new();
                std::io::stdin().read_line(&mut token).context("cannot read the key from standard input")?;
                let key = admin.import_key(&ws.id, &name, token.trim(), scopes, owner_scoped, limits).await?;
                eprintln!("Imported the key as {} in workspace {}; only its hash is kept.", key.id, ws.name);
                println!("{}", key.id);
            }
            KeyCommand::List { workspace } => {
                let ws = match workspace {
                    Some(w) => Some(find_workspace(&admin, &w).await?.id),
                    None => None,
                };
                let keys = admin.list_keys(ws.as_ref()).await?;
                let fmt = |t: Option<time::OffsetDateTime>| t.map_or("-".to_owned(), time_fmt::format);
                let header = ["ID", "WORKSPACE", "NAME", "SCOPES", "OWNER", "CREATED", "LAST USED", "REVOKED"];
                let rows: Vec<[String; 8]> = keys
                    .iter()
                    .map(|k| {
                        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                        [
                            k.id.to_string(),
                            k.workspace_id.to_string(),
                            k.name.clone(),
                            scopes.join(","),
                            match (&k.owner, k.owner_scoped) {
                                (Some(owner), _) => owner.clone(),
                                (None, true) => "(its own)".to_owned(),
                                (None, false) => "-".to_owned(),
                            },
                            time_fmt::format(k.created_at),
                            fmt(k.last_used_at),
                            fmt(k.revoked_at),
                        ]
                    })
                    .collect();
                print!("{}", table(&header, &rows));
            }
            KeyCommand::Revoke { key } => {
                let id = ApiKeyId::parse(&key)
                    .or_else(|_| ApiKeyToken::parse(&key).map(|t| t.id))
                    .map_err(|_| anyhow::anyhow!("`{key}` is neither a key id (key_a1b2c3d4) nor an API key"))?;
                admin.revoke_key(&id).await.with_context(|| format!("cannot revoke {id}"))?;
                println!("Revoked {id}");
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `--expires`: a duration from now (`90d`) or a time (RFC 3339).
/// One line of `hookd key import --jsonl`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    key: String,
    owner: Option<String>,
    name: Option<String>,
    expires: Option<String>,
}

/// `hookd key import --jsonl`: checks every line, then stores the keys one by one with a
/// progress bar, skipping keys imported before.
async fn import_keys(admin: &AdminService, args: NewKeyArgs, default_name: &str) -> anyhow::Result<()> {
    use hookd_core::service::ServiceError;
    use std::io::{BufRead, Write};
    let owner_scoped = args.owner_scoped;
    let (ws, scopes, limits) = args.resolve(admin).await?;
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let n = i + 1;
        let line = line.context("cannot read the keys from standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ImportLine = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("line {n}: {e}"));
                continue;
            }
        };
        let expires_at = match parsed.expires.as_deref().map(parse_expiry).transpose() {
            Ok(t) => t.or(limits.expires_at),
            Err(e) => {
                problems.push(format!("line {n}: expires: {e}"));
                continue;
            }
        };
        let line_limits = KeyLimits { expires_at, owner: parsed.owner.or_else(|| limits.owner.clone()) };
        let name = parsed.name.as_deref().unwrap_or(default_name);
        if let Some(first) = seen.insert(parsed.key.trim().to_owned(), n) {
            problems.push(format!("line {n}: key: the same key as line {first}"));
            continue;
        }
        match AdminService::check_import(&ws.id, name, parsed.key.trim(), scopes.clone(), owner_scoped, line_limits) {
            Ok(k) => keys.push((n, k)),
            Err(e) => problems.push(format!("line {n}: {e}")),
        }
    }
    if !problems.is_empty() {
        let shown = problems.len().min(20);
        let more = problems.len() - shown;
        anyhow::bail!(
            "nothing was imported: {} line(s) are wrong:\n  {}{}",
            problems.len(),
            problems[..shown].join("\n  "),
            if more > 0 { format!("\n  … and {more} more") } else { String::new() }
        );
    }
    anyhow::ensure!(!keys.is_empty(), "standard input held no keys (one JSON object per line)");
    let bar = crate::progress::items(keys.len() as u64, "importing keys");
    let (mut imported, mut skipped) = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for (n, key) in keys {
        let line = match admin.import_checked(key).await {
            Ok(k) => {
                imported += 1;
                serde_json::json!({"line": n, "id": k.id.as_str()})
            }
            Err(ServiceError::Conflict(why)) => {
                skipped += 1;
                serde_json::json!({"line": n, "skipped": why})
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(anyhow::Error::new(e).context(format!(
                    "line {n} could not be stored ({imported} key(s) before it were); run the same import again \
                     to go on: the keys stored already are skipped"
                )));
            }
        };
        writeln!(out, "{line}")?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "Imported {imported} key(s) into workspace {}{}; only their hashes are kept.",
        ws.name,
        if skipped > 0 { format!(" ({skipped} skipped: imported before)") } else { String::new() }
    );
    Ok(())
}

fn parse_expiry(raw: &str) -> anyhow::Result<time::OffsetDateTime> {
    if let Ok(d) = humantime::parse_duration(raw) {
        return Ok(time_fmt::now() + d);
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).map_err(|_| {
        anyhow::anyhow!("--expires `{raw}` is neither a duration (90d, 12h) nor a time (2027-01-31T00:00:00Z)")
    })
}

async fn find_workspace(admin: &AdminService, id_or_name: &str) -> anyhow::Result<hookd_core::domain::Workspace> {
    admin.find_workspace(id_or_name).await.with_context(|| {
        format!(
            "no workspace `{id_or_name}`: list them with `hookd workspace list`, create one with \
             `hookd workspace create --name {id_or_name}` (the first `hookd serve` creates `default`)"
        )
    })
}

/// Columns padded to their widest cell (in characters), two spaces apart.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
