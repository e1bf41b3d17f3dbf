//! Behind proxies the client address comes from `X-Forwarded-For`, counted from the right, so
//! a client cannot pick its own rate-limit key by writing the header itself.

use smartflow::config::RateLimitGroup;

use crate::helpers::{CacheKind, TestApp, assert_problem, spawn_app_with};

async fn behind_one_proxy() -> TestApp {
    spawn_app_with(CacheKind::Memory, |s| {
        s.server.trust_proxy_headers = true;
        s.server.trusted_proxies = 1;
        s.rate_limit.groups = vec![RateLimitGroup {
            name: "api".into(),
            prefixes: vec!["/api/".into()],
            requests: 2,
            window_secs: 60,
            methods: vec![],
        }];
    })
    .await
}

async fn get_via_proxy(app: &TestApp, forwarded_for: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/main/info"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_cannot_choose_its_rate_limit_key() {
    let app = behind_one_proxy().await;
    // nginx appends the address it saw (198.51.100.7); the client made up the rest.
    for spoof in ["1.1.1.1", "2.2.2.2"] {
        let res = get_via_proxy(&app, &format!("{spoof}, 198.51.100.7")).await;
        assert_eq!(res.status(), 200);
    }
    assert_problem(get_via_proxy(&app, "3.3.3.3, 198.51.100.7").await, 429).await;
    // Another visitor behind the same proxy has a limit of their own.
    assert_eq!(get_via_proxy(&app, "1.1.1.1, 198.51.100.8").await.status(), 200);
}

#[tokio::test]
async fn a_second_proxy_moves_the_client_one_entry_left() {
    let app = spawn_app_with(CacheKind::Memory, |s| {
        s.server.trust_proxy_headers = true;
        s.server.trusted_proxies = 2;
        s.rate_limit.groups = vec![RateLimitGroup {
            name: "api".into(),
            prefixes: vec!["/api/".into()],
            requests: 1,
            window_secs: 60,
            methods: vec![],
        }];
    })
    .await;
    // Load balancer appends the client, nginx appends the load balancer.
    assert_eq!(get_via_proxy(&app, "9.9.9.9, 198.51.100.7, 10.0.0.5").await.status(), 200);
    assert_problem(get_via_proxy(&app, "8.8.8.8, 198.51.100.7, 10.0.0.6").await, 429).await;
    assert_eq!(get_via_proxy(&app, "198.51.100.8, 10.0.0.5").await.status(), 200);
}
