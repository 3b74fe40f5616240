//! The dashboard and the portal over plain HTTP: sessions, CSRF, scopes, owners,
//! one-time portal links and the security headers. (The browser suite in
//! `tests/browser` drives the same pages in Chromium.)

use std::collections::BTreeMap;

use hookd_test_support::{eventually, TestServer};
use serde_json::json;

use crate::{assert_error, create, id_of};

/// A page as a browser got it.
pub(crate) struct Page {
    pub(crate) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Page {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn location(&self) -> &str {
        self.header("location")
    }

    /// The CSRF token of the page's first form.
    pub(crate) fn csrf(&self) -> String {
        let at = self.text.find(r#"name="csrf" value=""#).expect("a form with a CSRF token");
        let rest = &self.text[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect()
    }
}

/// A browser without JavaScript: keeps cookies, follows no redirects.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: base.to_owned(), cookies: BTreeMap::new() }
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let rb = if cookie.is_empty() { rb } else { rb.header("cookie", cookie) };
        let res = rb.send().await.unwrap();
        let page = Page { status: res.status().as_u16(), headers: res.headers().clone(), text: String::new() };
        let text = res.text().await.unwrap();
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page { text, ..page }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        self.send(self.http.get(url)).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let rb = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb).await
    }

    pub(crate) async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.text);
        self.post("/dashboard/sign-in", &[("csrf", &form.csrf()), ("api_key", key)]).await
    }
}

#[tokio::test]
async fn signing_in_opens_a_strict_session_and_signing_out_ends_it() {
    let server = TestServer::start().await;
    let key = server.first_key.clone().unwrap();
    let mut b = Browser::new(&server.base);
    assert_eq!(b.get("/dashboard/webhooks").await.location(), "/dashboard/sign-in");

    // A wrong key: 401 with the reason, and no session.
    let form = b.get("/dashboard/sign-in").await;
    let wrong = b.post("/dashboard/sign-in", &[("csrf", &form.csrf()), ("api_key", "hk_live_00000000.nope")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("not an API key"), "{}", wrong.text);
    assert!(!b.cookies.contains_key("hookd_session"));

    let ok = b.sign_in(&key).await;
    assert_eq!((ok.status, ok.location()), (303, "/dashboard/webhooks"));
    let cookie = ok.set_cookies().into_iter().find(|c| c.starts_with("hookd_session=")).expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let list = b.get("/dashboard/webhooks").await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains("<h1>Webhooks</h1>"));
    assert!(!list.text.contains(&key), "the key is not echoed into pages");

    let out = b.post("/dashboard/sign-out", &[("csrf", &list.csrf())]).await;
    assert_eq!(out.location(), "/dashboard/sign-in");
    assert!(!b.cookies.contains_key("hookd_session"), "the cookie is cleared");
    // The old cookie value no longer works either: the session is gone server-side.
    let mut replay = Browser::new(&server.base);
    replay.cookies.insert("hookd_session".into(), cookie.split(';').next().unwrap()[14..].to_owned());
    assert_eq!(replay.get("/dashboard/webhooks").await.location(), "/dashboard/sign-in");
}

#[tokio::test]
async fn cookies_are_secure_behind_https_or_when_configured() {
    let server = TestServer::builder().config(|c| c.dashboard.secure_cookies = true).start().await;
    let mut b = Browser::new(&server.base);
    let ok = b.sign_in(server.first_key.as_deref().unwrap()).await;
    assert!(ok.set_cookies().iter().any(|c| c.starts_with("hookd_session=") && c.contains("; Secure")));

    let server = TestServer::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http
        .get(format!("{}/dashboard/sign-in", server.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let set = form.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn every_post_needs_the_sessions_csrf_token_and_a_refused_one_changes_nothing() {
    let server = TestServer::start().await;
    let c = server.client();
    let w = create(&c, &json!({"url": "https://example.com/a", "events": ["*"]})).await;
    let id = id_of(&w);
    let mut b = Browser::new(&server.base);
    // Signing in needs the token of the form, matched by its cookie.
    let no_cookie =
        b.post("/dashboard/sign-in", &[("csrf", "abc"), ("api_key", server.first_key.as_deref().unwrap())]).await;
    assert_eq!(no_cookie.status, 403);
    b.sign_in(server.first_key.as_deref().unwrap()).await;
    let page = b.get(&format!("/dashboard/webhooks/{id}")).await;
    let csrf = page.csrf();
    for form in [
        vec![("enabled", "false")],
        vec![("enabled", "false"), ("csrf", "0")],
        vec![("csrf", ""), ("enabled", "false")],
    ] {
        let r = b.post(&format!("/dashboard/webhooks/{id}/enabled"), &form).await;
        assert_eq!(r.status, 403, "{form:?}");
        assert!(r.text.contains("This form has expired"));
    }
    for path in ["/delete", "/rotate", "/test", "/secret"] {
        assert_eq!(b.post(&format!("/dashboard/webhooks/{id}{path}"), &[]).await.status, 403, "{path}");
    }
    let huge = "x".repeat(100 * 1024);
    let r = b.post(&format!("/dashboard/webhooks/{id}"), &[("csrf", &csrf), ("description", &huge)]).await;
    assert_eq!(r.status, 413, "forms take at most 64 KiB");
    let still = c.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(still.data()["enabled"], true);
    // With the token, the same request works.
    let r = b.post(&format!("/dashboard/webhooks/{id}/enabled"), &[("csrf", &csrf), ("enabled", "false")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(c.get(&format!("/v1/webhooks/{id}")).await.data()["enabled"], false);
}

#[tokio::test]
async fn pages_send_a_strict_content_security_policy_and_no_referrer() {
    let server = TestServer::start().await;
    let mut b = Browser::new(&server.base);
    b.sign_in(server.first_key.as_deref().unwrap()).await;
    for path in ["/dashboard/sign-in", "/dashboard/webhooks", "/dashboard/nope", "/portal/webhooks"] {
        let p = b.get(path).await;
        let csp = p.header("content-security-policy");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(p.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(p.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(p.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(p.header("cache-control"), "no-store", "{path}");
    }
    let missing = b.get("/dashboard/nope").await;
    assert_eq!(missing.status, 404);
    // A trailing slash is the page without it.
    assert_eq!(b.get("/dashboard/").await.location(), "/dashboard");
    assert_eq!(b.get("/dashboard/webhooks/?cursor=x").await.location(), "/dashboard/webhooks?cursor=x");
    assert_eq!(b.get("/portal/").await.location(), "/portal");
    assert!(missing.header("content-type").starts_with("text/html"));
    let css = b.get("/dashboard/assets/app.css").await;
    assert_eq!((css.status, css.header("content-type")), (200, "text/css; charset=utf-8"));
    // No inline script anywhere: the one script is a file.
    let page = b.get("/dashboard/webhooks").await;
    assert!(!page.text.contains("<script>") && !page.text.contains(" style="), "inline script or style");
}

#[tokio::test]
async fn what_a_key_may_not_do_is_neither_shown_nor_done() {
    let server = TestServer::start().await;
    let c = server.client();
    let w = create(&c, &json!({"url": "https://example.com/a", "events": ["*"]})).await;
    let id = id_of(&w);
    let ws = server.admin.find_workspace("default").await.unwrap();
    let read = server
        .admin
        .create_key(&ws.id, "viewer", vec![hookd_core::domain::Scope::WebhooksRead], false, Default::default())
        .await
        .unwrap();
    let mut b = Browser::new(&server.base);
    b.sign_in(&read.token).await;
    let page = b.get(&format!("/dashboard/webhooks/{id}")).await;
    assert_eq!(page.status, 200);
    for control in ["New webhook", "Send test event", "Rotate secret", ">Delete<", ">Settings<", "Workspaces"] {
        assert!(!page.text.contains(control), "a read-only key sees {control}");
    }
    let r = b.post(&format!("/dashboard/webhooks/{id}/rotate"), &[("csrf", &page.csrf())]).await;
    assert_eq!(r.status, 403);
    assert_eq!(b.get("/dashboard/settings/keys").await.status, 403);
    assert_eq!(b.get("/dashboard/workspaces").await.status, 403);

    // A key with an owner sees only that owner's webhooks.
    let mine = create(&c, &json!({"url": "https://example.com/mine", "events": ["*"], "owner": "acct_1"})).await;
    let owned = server
        .admin
        .create_key(
            &ws.id,
            "acct",
            vec![hookd_core::domain::Scope::All],
            false,
            hookd_core::service::KeyLimits { owner: Some("acct_1".into()), expires_at: None },
        )
        .await
        .unwrap();
    let mut o = Browser::new(&server.base);
    o.sign_in(&owned.token).await;
    let list = o.get("/dashboard/webhooks").await;
    assert!(list.text.contains("https://example.com/mine") && !list.text.contains("https://example.com/a<"));
    assert_eq!(o.get(&format!("/dashboard/webhooks/{id}")).await.status, 404);
    assert_eq!(o.get(&format!("/dashboard/webhooks/{}", id_of(&mine))).await.status, 200);
    assert_eq!(o.get("/dashboard/settings/keys").await.status, 403, "owner keys manage no keys");
}

#[tokio::test]
async fn revoking_the_key_ends_its_sessions() {
    let server = TestServer::start().await;
    let ws = server.admin.find_workspace("default").await.unwrap();
    let k = server
        .admin
        .create_key(&ws.id, "temp", vec![hookd_core::domain::Scope::All], false, Default::default())
        .await
        .unwrap();
    let mut b = Browser::new(&server.base);
    b.sign_in(&k.token).await;
    assert_eq!(b.get("/dashboard/webhooks").await.status, 200);
    server.admin.revoke_key(&k.key.id).await.unwrap();
    eventually(std::time::Duration::from_secs(5), || {
        let mut b = Browser { http: b.http.clone(), base: b.base.clone(), cookies: b.cookies.clone() };
        async move {
            let p = b.get("/dashboard/webhooks").await;
            if p.location() == "/dashboard/sign-in" {
                Ok(())
            } else {
                Err(format!("still signed in ({})", p.status))
            }
        }
    })
    .await;
}

#[tokio::test]
async fn an_admin_switches_workspace_and_sees_its_webhooks() {
    let server = TestServer::start().await;
    let c = server.client();
    let other = c.post("/v1/workspaces", &json!({"name": "beta", "external_id": "cust_b"})).await;
    other.assert_status(201);
    let other_id = id_of(other.data());
    create(&c.in_workspace(&other_id), &json!({"url": "https://example.com/in-beta", "events": ["*"]})).await;
    let mut b = Browser::new(&server.base);
    b.sign_in(server.first_key.as_deref().unwrap()).await;
    let list = b.get("/dashboard/webhooks").await;
    assert!(list.text.contains(r#"<label for="workspace-switch">Workspace</label>"#));
    assert!(!list.text.contains("in-beta"));
    let r = b.post("/dashboard/workspace", &[("csrf", &list.csrf()), ("workspace", &other_id)]).await;
    assert_eq!(r.status, 303);
    assert!(b.get("/dashboard/webhooks").await.text.contains("https://example.com/in-beta"));
    let bogus = b.post("/dashboard/workspace", &[("csrf", &list.csrf()), ("workspace", "ws_nope")]).await;
    assert_eq!(bogus.status, 404);
}

#[tokio::test]
async fn portal_links_open_once_and_show_one_owners_webhooks() {
    let server = TestServer::start().await;
    let c = server.client();
    let mine = create(&c, &json!({"url": "https://example.com/mine", "events": ["*"], "owner": "acct_42"})).await;
    let theirs = create(&c, &json!({"url": "https://example.com/theirs", "events": ["*"], "owner": "acct_7"})).await;
    let r = c.post("/v1/portal/sessions", &json!({"owner": "acct_42", "expires_in": 900})).await;
    r.assert_status(201);
    let url = r.data()["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/portal/open?token=", server.base)), "{url}");
    assert_eq!(r.data()["owner"], "acct_42");

    // Two browsers open the link at once: one gets in, the other is told it is used.
    let (mut a, mut b) = (Browser::new(&server.base), Browser::new(&server.base));
    let (pa, pb) = tokio::join!(a.get(&url), b.get(&url));
    let mut statuses = [pa.status, pb.status];
    statuses.sort();
    assert_eq!(statuses, [303, 410]);
    let (inside, page) = if pa.status == 303 { (&mut a, pa) } else { (&mut b, pb) };
    assert_eq!(page.location(), "/portal/webhooks");
    let cookie = page.set_cookies().into_iter().find(|c| c.starts_with("hookd_portal=")).unwrap().to_owned();
    assert!(
        cookie.contains("Path=/portal") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let list = inside.get("/portal/webhooks").await;
    assert!(list.text.contains("https://example.com/mine") && !list.text.contains("https://example.com/theirs"));
    assert!(!list.text.contains(">Settings<") && !list.text.contains("Sign out"));
    assert_eq!(inside.get(&format!("/portal/webhooks/{}", id_of(&theirs))).await.status, 404);
    let own = inside.get(&format!("/portal/webhooks/{}", id_of(&mine))).await;
    assert_eq!(own.status, 200);
    let poke = inside.post(&format!("/portal/webhooks/{}/rotate", id_of(&theirs)), &[("csrf", &own.csrf())]).await;
    assert_eq!(poke.status, 404, "another owner's webhook cannot be changed either");
    // The portal session is not a dashboard session, and the reverse.
    assert_eq!(inside.get("/dashboard/webhooks").await.status, 303);
    assert_eq!(inside.get("/portal/events").await.status, 404);
    let mut dash = Browser::new(&server.base);
    dash.sign_in(server.first_key.as_deref().unwrap()).await;
    assert_eq!(dash.get("/portal/webhooks").await.status, 401);

    // An admin key makes links into its customers' workspaces with Hookd-Workspace.
    c.post("/v1/workspaces", &json!({"name": "beta", "external_id": "cust_b"})).await.assert_status(201);
    let in_beta = c.in_workspace("cust_b");
    create(&in_beta, &json!({"url": "https://example.com/beta-42", "events": ["*"], "owner": "acct_42"})).await;
    let r = in_beta.post("/v1/portal/sessions", &json!({"owner": "acct_42"})).await;
    r.assert_status(201);
    let mut p = Browser::new(&server.base);
    p.get(r.data()["url"].as_str().unwrap()).await;
    let list = p.get("/portal/webhooks").await;
    assert!(list.text.contains("https://example.com/beta-42"), "{}", list.text);
    assert!(!list.text.contains("https://example.com/mine"), "the default workspace's acct_42 is another customer");
}

#[tokio::test]
async fn portal_sessions_check_their_request_and_the_callers_owner() {
    let server = TestServer::start().await;
    let c = server.client();
    for (body, field) in [
        (json!({}), "owner"),
        (json!({"owner": ""}), "owner"),
        (json!({"owner": "acct_1", "expires_in": 10}), "expires_in"),
        (json!({"owner": "acct_1", "expires_in": 700_000}), "expires_in"),
        (json!({"owner": "acct_1", "extra": 1}), "extra"),
        (json!({"owner": "acct_1", "expires_in": 90.5}), "expires_in"),
    ] {
        let r = c.post("/v1/portal/sessions", &body).await;
        assert_error(&r, 422, "validation_error");
        assert!(r.error_fields().contains(&field.to_owned()), "{body}: {}", r.text);
    }
    // 120.0 is an integer to JSON Schema, and so here.
    let r = c.post("/v1/portal/sessions", &json!({"owner": "acct_1", "expires_in": 120.0})).await;
    r.assert_status(201);
    let ws = server.admin.find_workspace("default").await.unwrap();
    let reader = server
        .admin
        .create_key(&ws.id, "r", vec![hookd_core::domain::Scope::WebhooksRead], false, Default::default())
        .await
        .unwrap();
    let r = c.with_key(Some(&reader.token)).post("/v1/portal/sessions", &json!({"owner": "a"})).await;
    assert_error(&r, 403, "insufficient_scope");
    let owned = server
        .admin
        .create_key(
            &ws.id,
            "o",
            vec![hookd_core::domain::Scope::WebhooksWrite],
            false,
            hookd_core::service::KeyLimits { owner: Some("acct_1".into()), expires_at: None },
        )
        .await
        .unwrap();
    let o = c.with_key(Some(&owned.token));
    o.post("/v1/portal/sessions", &json!({"owner": "acct_1"})).await.assert_status(201);
    let r = o.post("/v1/portal/sessions", &json!({"owner": "acct_2"})).await;
    assert_error(&r, 422, "validation_error");
    // An unknown or malformed token is refused without a session.
    let mut b = Browser::new(&server.base);
    assert_eq!(b.get("/portal/open?token=abc").await.status, 410);
    assert_eq!(b.get(&format!("/portal/open?token={}", "a".repeat(64))).await.status, 410);
    assert!(b.cookies.is_empty());
}

#[tokio::test]
async fn the_portal_is_branded_and_framed_only_where_configured() {
    let server = TestServer::builder()
        .config(|c| {
            c.public_url = Some("https://hooks.example.com/".into());
            c.portal.title = "Acme webhooks".into();
            c.portal.accent_color = "#0a7d55".into();
            c.portal.logo_url = Some("https://cdn.example.com/logo.png".into());
            c.portal.frame_ancestors = vec!["https://app.example.com".into()];
        })
        .start()
        .await;
    let c = server.client();
    let r = c.post("/v1/portal/sessions", &json!({"owner": "acct_1"})).await;
    r.assert_status(201);
    let url = r.data()["url"].as_str().unwrap();
    assert!(url.starts_with("https://hooks.example.com/portal/open?token="), "{url}");
    let local = url.replace("https://hooks.example.com", &server.base);
    let mut b = Browser::new(&server.base);
    let opened = b.get(&local).await;
    let cookie = opened.set_cookies().into_iter().find(|c| c.starts_with("hookd_portal=")).unwrap().to_owned();
    assert!(
        cookie.contains("SameSite=None; Secure; Partitioned"),
        "a framed portal needs a third-party cookie: {cookie}"
    );
    // (Over plain HTTP a browser would not send a Secure cookie back; this client does.)
    let page = b.get("/portal/webhooks").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Acme webhooks") && page.text.contains(r#"src="https://cdn.example.com/logo.png""#));
    let csp = page.header("content-security-policy");
    assert!(csp.contains("frame-ancestors https://app.example.com"), "{csp}");
    assert!(csp.contains("img-src 'self' data: https://cdn.example.com"), "{csp}");
    assert_eq!(page.header("x-frame-options"), "", "X-Frame-Options would forbid the frame");
    let theme = b.get("/portal/assets/theme.css").await;
    assert!(theme.text.contains("--accent: #0a7d55"), "{}", theme.text);
    // The dashboard is never framed.
    let dash = b.get("/dashboard/sign-in").await;
    assert!(dash.header("content-security-policy").contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn a_deliverys_page_shows_exactly_the_headers_that_were_sent_and_the_answers() {
    let server = crate::delivering_server(|_| {}).await;
    let rx = hookd_test_support::TestReceiver::start().await;
    let c = server.client();
    let w = create(&c, &json!({"url": rx.url("/h"), "events": ["*"]})).await;
    let test = c.post_raw(&format!("/v1/webhooks/{}/test", id_of(&w)), "").await;
    test.assert_status(200);
    let delivery = test.data()["delivery_id"].as_str().unwrap().to_owned();
    let got = rx.wait_for(1, Some("/h"), std::time::Duration::from_secs(5)).await;
    let mut b = Browser::new(&server.base);
    b.sign_in(server.first_key.as_deref().unwrap()).await;
    let page = b.get(&format!("/dashboard/deliveries/{delivery}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let sent: Vec<(String, String)> = got[0]
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "accept" | "content-length"))
        .collect();
    assert!(sent.len() >= 9, "{sent:?}");
    for (name, value) in &sent {
        let row = format!(r#"<tr><th scope="row">{name}</th><td>{}</td></tr>"#, value.replace('+', "&#43;"));
        let row_plain = format!(r#"<tr><th scope="row">{name}</th><td>{value}</td></tr>"#);
        assert!(page.text.contains(&row) || page.text.contains(&row_plain), "{name}: {value} is not on the page");
    }
    // And what the receiver answered.
    assert!(page.text.contains("<th scope=\"row\">content-type</th><td>"), "the response's headers");
}

#[tokio::test]
async fn the_health_figures_count_what_the_engine_delivered() {
    let server = crate::delivering_server(|_| {}).await;
    let rx = hookd_test_support::TestReceiver::start().await;
    let c = server.client();
    let w = create(&c, &json!({"url": rx.url("/h"), "events": ["*"]})).await;
    for i in 0..5 {
        crate::publish(&c, "link.created", json!({"i": i})).await;
    }
    rx.wait_for(5, Some("/h"), std::time::Duration::from_secs(5)).await;
    let mut b = Browser::new(&server.base);
    b.sign_in(server.first_key.as_deref().unwrap()).await;
    // Counted in memory and written every few seconds.
    eventually(std::time::Duration::from_secs(15), || {
        let mut b = Browser { http: b.http.clone(), base: b.base.clone(), cookies: b.cookies.clone() };
        let path = format!("/dashboard/webhooks/{}", id_of(&w));
        async move {
            let page = b.get(&path).await;
            if page.text.contains("<dt>Attempts</dt><dd>5</dd>") && page.text.contains("<dt>Success</dt><dd>100%</dd>")
            {
                Ok(())
            } else {
                Err("not counted yet".to_owned())
            }
        }
    })
    .await;
    let list = b.get("/dashboard/webhooks").await;
    assert!(list.text.contains("100% <span class=\"muted\">of 5</span>"), "{}", list.text);
}
