//! The `hookd` binary: first start, provisioning while a server runs, configuration
//! layers, help, and secrets kept out of logs.

use std::path::Path;

use hookd_test_support::{run_cli, run_cli_with_input, HookdProcess};
use serde_json::json;

use crate::seed_webhook;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookd"))
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[tokio::test]
async fn first_start_prints_a_key_once_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    let key = p.first_key().expect("the first start prints `API key: …`");
    assert!(p.stdout().iter().any(|l| l.contains("curl") && l.contains(&key)), "{:?}", p.stdout());
    p.client(Some(key.clone())).get("/v1/webhooks").await.assert_status(200);
    assert!(dir.path().join("hookd.db").exists());
    let status = p.terminate().await;
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");

    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    assert_eq!(p.first_key(), None, "no key on a later start: {:?}", p.stdout());
    p.client(Some(key)).get("/v1/webhooks").await.assert_status(200);
    assert!(p.terminate().await.success());
}

#[tokio::test]
async fn workspaces_and_keys_are_provisioned_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;

    let (code, out, err) = run_cli(bin(), dir.path(), &["workspace", "create", "--name", "acme"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let ws = last_line(&out).to_owned();
    assert!(ws.starts_with("ws_"), "{out}");

    let (code, out, err) = run_cli(
        bin(),
        dir.path(),
        &["key", "create", "--workspace", "acme", "--scopes", "webhooks:read,webhooks:write", "--name", "portal"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let key = last_line(&out).to_owned();
    assert!(key.starts_with("hk_live_"), "{out}");
    let c = p.client(Some(key.clone()));
    c.post("/v1/webhooks", &seed_webhook()).await.assert_status(201);
    // The new workspace sees only its own webhook; the default key sees none of it.
    assert_eq!(c.get("/v1/webhooks").await.data().as_array().unwrap().len(), 1);
    let default = p.client(p.first_key());
    assert_eq!(default.get("/v1/webhooks").await.data().as_array().unwrap().len(), 0);

    // By id works too; a missing scope is reported.
    let (code, out, _) =
        run_cli(bin(), dir.path(), &["key", "create", "--workspace", &ws, "--scopes", "events:write"], &[]).await;
    assert_eq!(code, 0);
    assert!(last_line(&out).starts_with("hk_live_"));
    let (code, _, err) =
        run_cli(bin(), dir.path(), &["key", "create", "--workspace", "acme", "--scopes", "root"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("unknown scope `root`"), "{err}");
    let (code, _, err) =
        run_cli(bin(), dir.path(), &["key", "create", "--workspace", "nope", "--scopes", "*"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("hookd workspace create"), "{err}");

    let (code, out, _) = run_cli(bin(), dir.path(), &["key", "list", "--workspace", "acme"], &[]).await;
    assert_eq!(code, 0);
    let key_id = format!("key_{}", &key.split_once('.').unwrap().0["hk_live_".len()..]);
    assert!(out.contains(&key_id) && out.contains("portal"), "{out}");
    assert!(!out.contains(key.split_once('.').unwrap().1), "key list must never show secrets");

    let (code, out, _) = run_cli(bin(), dir.path(), &["workspace", "list"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("acme") && out.contains("default"), "{out}");

    let (code, _, err) = run_cli(bin(), dir.path(), &["key", "revoke", &key], &[]).await;
    assert_eq!(code, 0, "{err}");
    // The running server notices within its key cache's lifetime (one second).
    hookd_test_support::eventually(std::time::Duration::from_secs(5), || async {
        let r = c.get("/v1/webhooks").await;
        if r.status == 401 {
            Ok(())
        } else {
            Err(format!("still {}", r.status))
        }
    })
    .await;
    assert!(p.terminate().await.success());
}

#[tokio::test]
async fn environment_overrides_the_file_and_flags_override_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hookd.toml"),
        "key_prefix = \"from_file\"\n[rate_limit]\nrequests_per_minute = 10\n",
    )
    .unwrap();
    let (code, out, err) =
        run_cli(bin(), dir.path(), &["config", "print"], &[("HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE", "99")]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("key_prefix = \"from_file\""), "{out}");
    assert!(out.contains("requests_per_minute = 99"), "{out}");
    let (code, out, _) = run_cli(
        bin(),
        dir.path(),
        &["config", "print", "--database", "other.db"],
        &[("HOOKD_DATABASE_URL", "sqlite://env.db")],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.contains("database_url = \"sqlite://other.db\""), "{out}");

    // A server started there uses the file's prefix and the environment's limit.
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[("HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE", "99")]).await;
    let key = p.first_key().unwrap();
    assert!(key.starts_with("from_file_"), "{key}");
    let r = p.client(Some(key)).get("/v1/webhooks").await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("99"));
    assert!(p.terminate().await.success());
}

#[tokio::test]
async fn hookd_variables_that_are_no_setting_are_ignored_and_bad_values_name_their_variable() {
    let dir = tempfile::tempdir().unwrap();
    // What the README has a user export, and `hookd listen`'s own variable.
    let env =
        [("HOOKD_KEY", "hk_live_0123abcd.secret"), ("HOOKD_LISTEN_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let (code, out, err) = run_cli(bin(), dir.path(), &["config", "check"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("HOOKD_KEY") && out.contains("HOOKD_LISTEN_SECRET") && out.contains("ignored"), "{out}");
    let (code, _, err) = run_cli(bin(), dir.path(), &["key", "list"], &env).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(bin(), dir.path(), &["listen", "--help"], &env).await;
    assert_eq!(code, 0, "{err}");
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &env).await;
    assert!(p.terminate().await.success());

    for (var, value) in [
        ("HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE", "abc"),
        ("HOOKD_DELIVERY__CONNECT_TIMEOUT", "soon"),
        ("HOOKD_ALLOW_HTTP", "maybe"),
        // Settings that are unset by default are settings too.
        ("HOOKD_DATABASE__MAX_CONNECTIONS", "1"),
        ("HOOKD_DELIVERY__PROXY_URL", "socks5://127.0.0.1:1080"),
    ] {
        let (code, _, err) = run_cli(bin(), dir.path(), &["config", "check"], &[(var, value)]).await;
        assert_ne!(code, 0, "{var}={value} was accepted");
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

#[tokio::test]
async fn bad_configuration_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[delivery]\nretry_schedule = [\"0s\", \"soon\"]\n").unwrap();
    let (code, _, err) =
        run_cli(bin(), dir.path(), &["config", "check", "--config", file.to_str().unwrap()], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("delivery.retry_schedule") && err.contains("bad.toml") && err.contains("soon"), "{err}");

    std::fs::write(&file, "listen_address = \"127.0.0.1:1\"\n").unwrap();
    let (code, _, err) = run_cli(bin(), dir.path(), &["serve", "--config", file.to_str().unwrap()], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("listen_address") && err.contains("bad.toml"), "{err}");

    let (code, _, err) =
        run_cli(bin(), dir.path(), &["config", "check"], &[("HOOKD_ENCRYPTION_KEY", "dG9vIHNob3J0")]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("encryption_key") && err.contains("HOOKD_ENCRYPTION_KEY") && err.contains("openssl rand"),
        "{err}"
    );

    std::fs::write(&file, "listen = \"127.0.0.1:8080\"\n").unwrap();
    let (code, out, err) =
        run_cli(bin(), dir.path(), &["config", "check", "--config", file.to_str().unwrap()], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("APIs:            /v1\n"), "{out}");
    std::fs::write(&file, "path_prefix = \"/hooks\"\n[compat.svix]\nenabled = true\n").unwrap();
    let (code, out, err) =
        run_cli(bin(), dir.path(), &["config", "check", "--config", file.to_str().unwrap()], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("APIs:            /hooks/v1, Svix at /hooks/api/v1"), "{out}");
}

#[tokio::test]
async fn every_command_explains_itself_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["workspace", "--help"],
        vec!["key", "--help"],
        vec!["config", "--help"],
        vec!["version", "--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["workspace", "create", "--help"],
        vec!["workspace", "list", "--help"],
        vec!["key", "create", "--help"],
        vec!["key", "import", "--help"],
        vec!["key", "list", "--help"],
        vec!["key", "revoke", "--help"],
        vec!["config", "check", "--help"],
        vec!["config", "print", "--help"],
        vec!["listen", "--help"],
        vec!["healthcheck", "--help"],
        vec!["completions", "--help"],
        vec!["man", "--help"],
    ] {
        let (code, out, _) = run_cli(bin(), dir.path(), &args, &[("COLUMNS", "80")]).await;
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Example"), "{args:?} has no example:\n{out}");
        // On an 80-column terminal no example line wraps: each is a command (`hookd …`,
        // a variable assignment), its indented continuation, or its explanation.
        let examples = out.split_once("Example").unwrap().1.split("\n\n").next().unwrap();
        for line in examples.lines().skip(1) {
            let ok = line.starts_with("  hookd ")
                || line.starts_with("  HOOKD_")
                || line.starts_with("  WS=")
                || line.starts_with("    ");
            assert!(ok, "{args:?}: an example line wraps at 80 columns: {line:?}\n{out}");
        }
    }
    let (code, out, _) = run_cli(bin(), dir.path(), &["version"], &[]).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some(format!("hookd {}", env!("CARGO_PKG_VERSION")).as_str()));
    let commit = out.lines().find_map(|l| l.strip_prefix("commit:")).expect("a commit line").trim();
    assert!(commit == "unknown" || commit.len() >= 12, "{out}");
    assert!(out.contains("target:") && out.contains("built in:") && out.contains("features:"), "{out}");
    let (code, out, err) = run_cli(bin(), dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("migrated to the latest schema: applied 0001 init, 0002"), "{out}");
    assert!(err.contains("applying database migrations"), "each migration is logged: {err}");
    assert_quiet(&err);
    let (code, out, _) = run_cli(bin(), dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("already at the latest schema"), "{out}");
}

/// Progress bars draw on a terminal only: piped output has no carriage returns or
/// terminal escapes.
fn assert_quiet(stderr: &str) {
    assert!(!stderr.contains('\r') && !stderr.contains('\u{1b}'), "progress drawn on a pipe: {stderr:?}");
}

#[tokio::test]
async fn keys_are_imported_in_bulk_after_every_line_is_checked_and_a_rerun_skips_the_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(bin(), dir.path(), &["workspace", "create", "--name", "acme"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let import = ["key", "import", "--workspace", "acme", "--scopes", "*", "--jsonl"];

    // One bad line among good ones: every problem is named, and nothing is stored.
    let lines = concat!(
        r#"{"key": "cust-key-0001-aaaaaaaaaaaaaaaa", "owner": "cus_1"}"#,
        "\n",
        r#"{"key": "short"}"#,
        "\n\n",
        r#"{"key": "cust-key-0001-aaaaaaaaaaaaaaaa"}"#,
        "\n",
        r#"{"key": "cust-key-0002-bbbbbbbbbbbbbbbb", "colour": "red"}"#,
        "\n",
        r#"{"key": "cust-key-0003-cccccccccccccccc", "expires": "someday"}"#,
        "\n",
    );
    let (code, out, err) = run_cli_with_input(bin(), dir.path(), &import, &[], lines.as_bytes()).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("nothing was imported: 4 line(s) are wrong"), "{err}");
    assert!(err.contains("line 2: invalid request: key: must be 16 to 512"), "{err}");
    assert!(err.contains("line 4: key: the same key as line 1"), "{err}");
    assert!(err.contains("line 5: unknown field `colour`"), "{err}");
    assert!(err.contains("line 6: expires:"), "{err}");
    let (_, listed, _) = run_cli(bin(), dir.path(), &["key", "list", "--workspace", "acme"], &[]).await;
    assert_eq!(listed.lines().count(), 1, "only the header: {listed}");

    let good = concat!(
        r#"{"key": "cust-key-0001-aaaaaaaaaaaaaaaa", "owner": "cus_1"}"#,
        "\n",
        r#"{"key": "cust-key-0002-bbbbbbbbbbbbbbbb", "name": "second", "expires": "30d"}"#,
        "\n",
    );
    let (code, out, err) = run_cli_with_input(bin(), dir.path(), &import, &[], good.as_bytes()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_quiet(&err);
    let results: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), 2, "{out}");
    assert_eq!(results[0]["line"], 1);
    assert!(results[1]["id"].as_str().unwrap().starts_with("key_"), "{out}");
    assert!(err.contains("Imported 2 key(s) into workspace acme"), "{err}");
    let (_, listed, _) = run_cli(bin(), dir.path(), &["key", "list", "--workspace", "acme"], &[]).await;
    assert!(listed.contains("cus_1") && listed.contains("second"), "{listed}");

    // Run again with one more: the two stored already are skipped.
    let more = format!("{good}{}\n", r#"{"key": "cust-key-0004-dddddddddddddddd"}"#);
    let (code, out, err) = run_cli_with_input(bin(), dir.path(), &import, &[], more.as_bytes()).await;
    assert_eq!(code, 0, "{out}{err}");
    let results: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results[0]["skipped"], "this key has been imported already");
    assert_eq!(results[1]["skipped"], "this key has been imported already");
    assert!(results[2]["id"].as_str().unwrap().starts_with("key_"), "{out}");
    assert!(err.contains("Imported 1 key(s) into workspace acme (2 skipped: imported before)"), "{err}");

    // The imported keys work, each as its owner.
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    let c = p.client(Some("cust-key-0001-aaaaaaaaaaaaaaaa".to_owned()));
    let created = crate::create(&c, &json!({"url": "https://example.com/cus-1", "events": ["*"]})).await;
    assert_eq!(created["owner"], "cus_1");
    let other = p.client(Some("cust-key-0004-dddddddddddddddd".to_owned()));
    other.get("/v1/webhooks").await.assert_status(200);
    assert!(p.terminate().await.success());
}

#[tokio::test]
async fn no_log_line_or_other_response_carries_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = HookdProcess::serve(
        bin(),
        dir.path(),
        &[],
        &[("HOOKD_LOG_LEVEL", "trace"), ("HOOKD_SECRET_RETRIEVAL", "false")],
    )
    .await;
    let key = p.first_key().unwrap();
    let key_secret = key.split_once('.').unwrap().1.to_owned();
    let c = p.client(Some(key.clone()));
    let created = c
        .post(
            "/v1/webhooks",
            &json!({"url": "https://example.com/h", "events": ["*"], "secret": "supplied-secret-value-1"}),
        )
        .await;
    created.assert_status(201);
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let generated = c.post("/v1/webhooks", &seed_webhook()).await;
    let generated_secret = generated.data()["signing_secret"].as_str().unwrap().to_owned();
    let rotated = c.post_raw(&format!("/v1/webhooks/{id}/secret/rotate"), "").await;
    rotated.assert_status(200);
    let rotated_secret = rotated.data()["signing_secret"].as_str().unwrap().to_owned();
    let supplied_rotation = "supplied-rotation-value-2";
    c.post(&format!("/v1/webhooks/{id}/secret/rotate"), &json!({"secret": supplied_rotation})).await.assert_status(200);
    // A rejected request echoing a secret must not log it either.
    c.post("/v1/webhooks", &json!({"url": "ftp://x", "events": ["*"], "secret": "rejected-secret-value-3"})).await;
    // The dashboard's sign-in (the key in a form) and a portal link (a token in its URL).
    let web = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = web.get(format!("{}/dashboard/sign-in", p.base)).send().await.unwrap();
    let pre = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let text = form.text().await.unwrap();
    let csrf = text.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let signed_in = web
        .post(format!("{}/dashboard/sign-in", p.base))
        .header("cookie", &pre)
        .form(&[("csrf", csrf.as_str()), ("api_key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap()[14..].to_owned();
    let link = c.post("/v1/portal/sessions", &json!({"owner": "acct_1"})).await;
    link.assert_status(201);
    let url = link.data()["url"].as_str().unwrap().to_owned();
    let portal_token = url.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(web.get(&url).send().await.unwrap().status(), 303);

    let secrets = [
        key_secret.as_str(),
        "supplied-secret-value-1",
        &generated_secret,
        &rotated_secret,
        supplied_rotation,
        "rejected-secret-value-3",
        &session,
        &portal_token,
    ];
    let views = [
        c.get("/v1/webhooks").await,
        c.get(&format!("/v1/webhooks/{id}")).await,
        c.patch(&format!("/v1/webhooks/{id}"), &json!({"description": "x"})).await,
        c.get(&format!("/v1/webhooks/{id}/secret")).await,
    ];
    for v in &views {
        for s in secrets {
            assert!(!v.text.contains(s), "a response leaks a secret: {}", v.text);
        }
    }
    let status = p.terminate().await;
    assert!(status.success());
    let logs = p.stderr();
    assert!(logs.iter().filter(|l| l.contains("\"request\"")).count() >= 8, "trace logs were captured: {logs:?}");
    let stdout: Vec<String> =
        p.stdout().into_iter().filter(|l| !l.starts_with("API key:") && !l.starts_with("Try it:")).collect();
    for line in logs.iter().chain(&stdout) {
        for s in secrets {
            assert!(!line.contains(s), "a log line leaks a secret: {line}");
        }
    }
}

#[tokio::test]
async fn the_example_profiles_are_valid_and_carry_each_seeds_rules() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (file, prefix, events) in [
        ("xqr.toml", "xqr_pk", "10 event types"),
        ("linq.toml", "linq_live", "15 event types"),
        ("aw.toml", "aw_live", "37 event types"),
    ] {
        let path = examples.join(file);
        let (code, out, err) =
            run_cli(bin(), dir.path(), &["config", "check", "--config", path.to_str().unwrap()], &[]).await;
        assert_eq!(code, 0, "{file}: {err}");
        assert!(out.contains(prefix) && out.contains(events), "{file}: {out}");
    }
}

#[tokio::test]
async fn config_print_writes_a_file_that_takes_an_event_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let (code, printed, err) = run_cli(bin(), dir.path(), &["config", "print"], &[]).await;
    assert_eq!(code, 0, "{err}");
    // The README's next step: append a catalog block.
    let file = format!("{printed}\n[[event_types]]\nname = \"link.created\"\ndescription = \"A new short link.\"\n");
    std::fs::write(dir.path().join("hookd.toml"), file).unwrap();
    let (code, out, err) = run_cli(bin(), dir.path(), &["config", "check"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("catalog:         2 event types"), "link.created and test.ping: {out}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_file_is_refused_and_commands_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    let listen = format!("127.0.0.1:{}", hookd_test_support::free_port());
    let (code, _, err) = run_cli(bin(), dir.path(), &["serve", "--listen", &listen], &[]).await;
    assert_ne!(code, 0, "a second serve started on the same file");
    assert!(err.contains("another hookd serve") && err.contains("hookd.db") && err.contains("PostgreSQL"), "{err}");
    // Commands share the file with the server.
    let (code, _, err) = run_cli(bin(), dir.path(), &["key", "list"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(first.terminate().await.success());
    // Once the first has stopped, the file is free.
    let mut again = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    assert!(again.terminate().await.success());
}

#[tokio::test]
async fn key_and_workspace_lists_are_aligned_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(bin(), dir.path(), &["migrate"], &[]).await;
    assert_eq!(code, 0, "{err}");
    run_cli(bin(), dir.path(), &["workspace", "create", "--name", "acme"], &[]).await;
    for args in [&["key", "create", "--workspace", "acme", "--scopes", "events:write", "--name", "a long key name"][..]]
    {
        let (code, _, err) = run_cli(bin(), dir.path(), args, &[]).await;
        assert_eq!(code, 0, "{err}");
    }
    for (args, column) in [(&["key", "list"][..], "WORKSPACE"), (&["workspace", "list"][..], "NAME")] {
        let (code, out, err) = run_cli(bin(), dir.path(), args, &[]).await;
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() >= 2, "{out}");
        let at = lines[0].find(column).unwrap();
        for l in &lines[1..] {
            assert!(l.len() > at && l.as_bytes()[at - 1] == b' ' && l.as_bytes()[at] != b' ', "misaligned:\n{out}");
        }
    }
}

#[tokio::test]
async fn healthcheck_answers_for_a_running_hookd_and_fails_for_a_dead_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    let ready = format!("{}/readyz", p.base);
    let (code, out, err) = run_cli(bin(), dir.path(), &["healthcheck", "--url", &ready], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ready"), "{out}");
    // Without --url it asks the address in the configuration (here the flag's).
    let addr = p.base.trim_start_matches("http://").to_owned();
    let (code, _, err) = run_cli(bin(), dir.path(), &["healthcheck"], &[("HOOKD_LISTEN", addr.as_str())]).await;
    assert_eq!(code, 0, "{err}");
    assert!(p.terminate().await.success());
    let (code, _, err) = run_cli(bin(), dir.path(), &["healthcheck", "--url", &ready, "--timeout", "2s"], &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("did not answer"), "{err}");
}

#[tokio::test]
async fn completions_and_the_manual_come_from_the_command_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = run_cli(bin(), dir.path(), &["completions", shell], &[]).await;
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["serve", "verify", "healthcheck", "workspace"] {
            assert!(out.contains(sub), "{shell} completes `{sub}`");
        }
    }
    let (code, _, err) = run_cli(bin(), dir.path(), &["completions", "tcsh"], &[]).await;
    assert_eq!(code, 2, "an unknown shell is a usage error");
    assert!(err.contains("bash") && err.contains("zsh"), "{err}");
    let (code, man, _) = run_cli(bin(), dir.path(), &["man"], &[]).await;
    assert_eq!(code, 0);
    assert!(man.starts_with(".ie") || man.contains(".TH hookd 1"), "{man}");
    assert!(man.contains("SUBCOMMANDS") || man.contains("hookd\\-serve"), "{man}");
}

#[tokio::test]
async fn backup_copies_a_running_deployment_and_restore_puts_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    let key = p.first_key().unwrap();
    let c = p.client(Some(key.clone()));
    crate::create(&c, &json!({"url": "https://example.com/kept", "events": ["*"]})).await;

    // While it runs.
    let (code, out, err) = run_cli(bin(), dir.path(), &["backup", "copy.db"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("backed up") && out.contains("hookd.key"), "{out}");
    let copy = dir.path().join("copy.db");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (code, _, err) = run_cli(bin(), dir.path(), &["backup", "copy.db"], &[]).await;
    assert_eq!(code, 1, "an existing file is not overwritten");
    assert!(err.contains("must not exist"), "{err}");

    // Changes after the copy, then a restore: refused while hookd runs.
    crate::create(&c, &json!({"url": "https://example.com/after-the-copy", "events": ["*"]})).await;
    let (code, _, err) = run_cli(bin(), dir.path(), &["restore", "copy.db"], &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("stop hookd"), "{err}");
    assert!(p.terminate().await.success());

    // Not a hookd database: refused, nothing moved.
    std::fs::write(dir.path().join("junk.db"), b"not a database").unwrap();
    let (code, _, err) = run_cli(bin(), dir.path(), &["restore", "junk.db"], &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot be restored"), "{err}");
    assert!(!dir.path().join("hookd.db.before-restore").exists());

    let (code, out, err) = run_cli(bin(), dir.path(), &["restore", "copy.db"], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(dir.path().join("hookd.db.before-restore").exists(), "the replaced database is kept");
    let (code, _, err) = run_cli(bin(), dir.path(), &["restore", "copy.db"], &[]).await;
    assert_eq!(code, 1, "an earlier .before-restore is not replaced without --force");
    assert!(err.contains("--force"), "{err}");

    // The restored deployment has what the copy had, and the same key works.
    let mut p = HookdProcess::serve(bin(), dir.path(), &[], &[]).await;
    assert_eq!(p.first_key(), None);
    let list = p.client(Some(key)).get("/v1/webhooks").await;
    let urls: Vec<&str> = list.data().as_array().unwrap().iter().map(|w| w["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["https://example.com/kept"]);
    assert!(p.terminate().await.success());
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn migrate_and_provisioning_run_on_postgres_without_the_encryption_key() {
    if !hookd_test_support::on_postgres() {
        return;
    }
    let db = hookd_test_support::fresh_postgres_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("HOOKD_DATABASE_URL", db.url())];
    // Ahead of a deploy, from one place: no signing secret is opened, so no key is needed.
    let (code, out, err) = run_cli(bin(), dir.path(), &["migrate"], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("applied 0001 init"), "{out}");
    assert_quiet(&err);
    let (code, out, _) = run_cli(bin(), dir.path(), &["migrate"], &env).await;
    assert_eq!(code, 0);
    assert!(out.contains("already at the latest schema"), "{out}");
    let (code, _, err) = run_cli(bin(), dir.path(), &["workspace", "create", "--name", "acme"], &env).await;
    assert_eq!(code, 0, "{err}");
    // A server does need it, and says how to make one.
    let (code, _, err) = run_cli(bin(), dir.path(), &["serve"], &env).await;
    assert_eq!(code, 1);
    assert!(err.contains("encryption_key") && err.contains("openssl rand"), "{err}");
}
