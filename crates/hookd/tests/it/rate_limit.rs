//! Per-key rate limiting.

use hookd_test_support::{Response, TestServer};

use crate::assert_error;

#[tokio::test]
async fn the_limit_is_per_key_with_headers_and_a_429_with_retry_after() {
    let server = TestServer::builder().config(|c| c.rate_limit.requests_per_minute = 3).start().await;
    let c = server.client();
    // The window is a calendar minute; if it turns during the sequence, run it again.
    for _attempt in 0..3 {
        let mut seen: Vec<Response> = Vec::new();
        for _ in 0..4 {
            seen.push(c.get("/v1/webhooks").await);
        }
        let resets: std::collections::HashSet<_> =
            seen.iter().map(|r| r.header("x-ratelimit-reset").map(str::to_owned)).collect();
        if resets.len() != 1 {
            continue;
        }
        for (r, remaining) in seen.iter().take(3).zip(["2", "1", "0"]) {
            r.assert_status(200);
            assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
            assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
            assert_eq!(r.body["meta"]["rate_limit"]["remaining"].to_string(), remaining);
        }
        let limited = &seen[3];
        assert_error(limited, 429, "rate_limited");
        let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(limited.body["meta"]["rate_limit"]["remaining"], 0);

        // Another key has its own budget.
        let ws = server.admin.find_workspace("default").await.unwrap();
        let other = server
            .admin
            .create_key(&ws.id, "k2", vec![hookd_core::domain::Scope::All], false, Default::default())
            .await
            .unwrap()
            .token;
        c.with_key(Some(&other)).get("/v1/webhooks").await.assert_status(200);
        return;
    }
    panic!("the rate-limit window turned during every attempt");
}

/// Two nodes on one database share each key's allowance: together they admit exactly the
/// limit in a window, however the requests are spread over them.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn nodes_on_one_database_share_a_keys_limit() {
    if !hookd_test_support::on_postgres() {
        return;
    }
    let limit = 100;
    let a = TestServer::builder().config(|c| c.rate_limit.requests_per_minute = limit).start().await;
    let b = TestServer::builder()
        .database(a.database_url())
        .config(|c| c.rate_limit.requests_per_minute = limit)
        .start()
        .await;
    let key = a.first_key.clone().unwrap();
    let clients = [a.client(), b.client().with_key(Some(&key))];
    // The window is a calendar minute; if it turns during the sequence, run it again
    // with a key of its own.
    for attempt in 0..3 {
        let c = if attempt == 0 {
            clients.clone()
        } else {
            let ws = a.admin.find_workspace("default").await.unwrap();
            let k = a
                .admin
                .create_key(&ws.id, "k", vec![hookd_core::domain::Scope::All], false, Default::default())
                .await
                .unwrap()
                .token;
            [clients[0].with_key(Some(&k)), clients[1].with_key(Some(&k))]
        };
        let mut seen: Vec<Response> = Vec::new();
        for i in 0..(limit as usize + 40) {
            // Two to A, one to B, and so on.
            seen.push(c[usize::from(i % 3 == 2)].get("/v1/webhooks").await);
        }
        let resets: std::collections::HashSet<_> =
            seen.iter().map(|r| r.header("x-ratelimit-reset").map(str::to_owned)).collect();
        if resets.len() != 1 {
            continue;
        }
        let allowed = seen.iter().filter(|r| r.status == 200).count();
        let limited = seen.iter().filter(|r| r.status == 429).count();
        assert_eq!(allowed + limited, seen.len(), "only 200 and 429 answers");
        // Never more than the limit; less only by what a node holds unspent (a fiftieth
        // of the limit per node).
        assert!(allowed <= limit as usize, "{allowed} admitted over a limit of {limit}");
        assert!(allowed >= limit as usize - 2 * (limit as usize / 50), "only {allowed} of {limit} admitted");
        assert_eq!(seen.last().unwrap().status, 429);
        return;
    }
    panic!("the rate-limit window turned during every attempt");
}
