//! A real browser against the running app: Debian's Chromium, headless, driven over the Chrome
//! DevTools Protocol. It sends the lead and contact forms, signs in as staff, changes a lead's
//! status on /admin, and saves screenshots under `test-output/screenshots/`. A workspace admin
//! goes from /app/billing to (a fake of) Stripe Checkout, which the page's CSP must allow.

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

use smartflow::config::Secret;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use super::support::{app_with, count};
use crate::helpers::{PASSWORD, TestApp};

/// Every wait for the browser is bounded: a broken page fails the test instead of hanging it.
const STEP: Duration = Duration::from_secs(30);

fn chromium() -> PathBuf {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser"].iter().flat_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |dir| dir.join(name))
                .collect::<Vec<_>>()
        }))
        .collect::<Vec<_>>();
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "Chromium is not installed, so the browser test cannot run. Run `scripts/ensure-chromium` \
             (it installs Debian's `chromium` package) or set CHROMIUM to the browser's path."
        )
    })
}

struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    /// The tab's target id, known to the browser whichever renderer shows it.
    target: String,
    next_id: u64,
    /// Events read while waiting for a command's answer.
    events: VecDeque<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn launch() -> Browser {
        let profile = std::env::temp_dir().join(format!("sf-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Chromium starts");
        // Chromium prints its DevTools address on stderr; keep draining it afterwards.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(STEP))
            .await
            .unwrap()
            .expect("Chromium printed its DevTools address");
        let (ws, _) = connect_async(url.as_str()).await.expect("DevTools WebSocket");
        let mut browser = Browser {
            child,
            profile,
            ws,
            session: String::new(),
            target: String::new(),
            next_id: 0,
            events: VecDeque::new(),
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" })).await;
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.target = target["targetId"].as_str().unwrap().to_string();
        browser.call("Page.enable", json!({})).await;
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await;
        browser
    }

    async fn read(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(STEP, self.ws.next())
                .await
                .expect("the browser answered in time")
                .expect("the DevTools connection is open")
                .expect("a DevTools message");
            if let Message::Text(text) = msg {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }

    /// Sends a command (to the page once attached) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    /// [`Self::call`], handing back the browser's error instead of failing the test.
    async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await.unwrap();
        loop {
            let v = self.read().await;
            if v["id"] == id {
                return if v["error"].is_null() {
                    Ok(v["result"].clone())
                } else {
                    Err(v["error"].clone())
                };
            }
            self.events.push_back(v);
        }
    }

    async fn wait_for(&mut self, event: &str) {
        if let Some(i) = self.events.iter().position(|e| e["method"] == event) {
            self.events.drain(..=i);
            return;
        }
        loop {
            if self.read().await["method"] == event {
                return;
            }
        }
    }

    async fn goto(&mut self, url: &str) {
        self.events.clear();
        let nav = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(nav["errorText"].is_null(), "navigating to {url}: {}", nav["errorText"]);
        self.wait_for("Page.loadEventFired").await;
    }

    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "script failed: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    /// Runs `js` (which submits a form) and waits for the page it leads to.
    async fn submit(&mut self, js: &str) {
        self.events.clear();
        assert_eq!(self.eval(js).await, json!(true), "the form was found");
        self.wait_for("Page.loadEventFired").await;
    }

    async fn path(&mut self) -> String {
        self.eval("location.pathname + location.search").await.as_str().unwrap().to_string()
    }

    /// The URL the tab shows now (committed navigations only). Asked of the browser rather
    /// than the page: a cross-origin navigation moves the page to another renderer, and the
    /// page session cannot answer meanwhile.
    async fn current_url(&mut self) -> String {
        let session = std::mem::take(&mut self.session);
        let info = self.try_call("Target.getTargetInfo", json!({ "targetId": self.target })).await;
        self.session = session;
        info.ok()
            .and_then(|i| i["targetInfo"]["url"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Polls until the tab shows a URL starting with `prefix`; `Err` with the last URL seen.
    async fn reach(&mut self, prefix: &str) -> Result<String, String> {
        let deadline = Instant::now() + STEP;
        loop {
            let url = self.current_url().await;
            if url.starts_with(prefix) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                return Err(url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Console and log messages received so far that report a Content-Security-Policy violation.
    fn csp_violations(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Log.entryAdded") => e["params"]["entry"]["text"].as_str(),
                Some("Runtime.consoleAPICalled") => e["params"]["args"][0]["value"].as_str(),
                _ => None,
            })
            .filter(|text| text.contains("Content Security Policy"))
            .map(str::to_string)
            .collect()
    }

    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/test-output/screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap();
        file
    }
}

/// JavaScript that fills `fields` (selector → value) of the form matching `form` and submits it.
fn fill_and_submit(form: &str, fields: &[(&str, &str)]) -> String {
    let mut js = format!(
        "(() => {{ const f = document.querySelector({}); if (!f) return false;",
        json!(form)
    );
    for (selector, value) in fields {
        js.push_str(&format!(" f.querySelector({}).value = {};", json!(selector), json!(value)));
    }
    js.push_str(" f.requestSubmit(); return true; })()");
    js
}

async fn staff_member(app: &TestApp) {
    let user = app.signup("staff@example.com").await;
    app.make_staff(&user).await;
}

#[tokio::test]
async fn a_browser_sends_the_forms_and_staff_work_the_lead_on_admin() {
    // Forms are filled in milliseconds here; the fill-time rule has its own tests.
    let app = app_with(|s| s.main_site.min_fill_secs = 0).await;
    staff_member(&app).await;
    let mut b = Browser::launch().await;

    b.goto(&app.url("/?utm_source=browser-test")).await;
    assert!(b.eval("document.title").await.as_str().unwrap().contains("SmartFlow"));
    assert!(b.screenshot("home").await.is_file());
    b.submit(&fill_and_submit(
        "form.lead-form",
        &[
            ("#f-name", "Browser Lead"),
            ("#f-email", "browser@example.com"),
            ("#f-company", "Headless Ltd"),
        ],
    ))
    .await;
    assert_eq!(b.path().await, "/thanks?form=lead");
    let (source, utm): (String, Option<String>) = sqlx::query_as(
        "select source, utm_source from smartflow_main.leads where email = 'browser@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((source.as_str(), utm.as_deref()), ("homepage", Some("browser-test")));

    b.goto(&app.url("/contact")).await;
    b.submit(&fill_and_submit(
        "form.contact-form",
        &[
            ("#f-name", "Curious Visitor"),
            ("#f-email", "curious@example.com"),
            ("#f-topic", "sales"),
            ("#f-message", "Do you integrate with my CRM?"),
        ],
    ))
    .await;
    assert_eq!(b.path().await, "/thanks?form=contact");
    assert!(
        b.eval("document.querySelector('h1').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("Thank you")
    );
    assert_eq!(
        count(&app, "select count(*) from smartflow_main.inquiries where topic = 'sales'").await,
        1
    );

    b.goto(&app.url("/pricing")).await;
    assert!(b.screenshot("pricing").await.is_file());

    b.goto(&app.url("/login?next=/admin/leads")).await;
    b.submit(&fill_and_submit(
        "form[action='/login']",
        &[("#f-email", "staff@example.com"), ("#f-password", PASSWORD)],
    ))
    .await;
    assert_eq!(b.path().await, "/admin/leads");

    let id: uuid::Uuid = sqlx::query_scalar(
        "select id from smartflow_main.leads where email = 'browser@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let row = format!("tr[data-lead='{id}'] form.status-form");
    b.submit(&fill_and_submit(&row, &[("select[name=status]", "contacted")])).await;
    assert_eq!(b.path().await, "/admin/leads?notice=updated");
    assert!(b.eval("document.body.innerText").await.as_str().unwrap().contains("Saved."));
    assert!(b.screenshot("admin-leads").await.is_file());
    let status: String =
        sqlx::query_scalar("select status from smartflow_main.leads where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "contacted");

    b.goto(&app.url("/admin")).await;
    assert!(b.eval("!!document.querySelector('svg.chart-svg rect')").await.as_bool().unwrap());
    assert!(b.screenshot("admin").await.is_file());
}

#[tokio::test]
async fn an_admin_goes_from_the_billing_page_to_stripe_checkout() {
    // A fake Stripe: the API creates a Checkout Session whose hosted page it also serves.
    let stripe = MockServer::start().await;
    let checkout = format!("{}/c/pay/cs_test_browser", stripe.uri());
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_browser", "object": "checkout.session", "url": checkout,
            "mode": "subscription", "status": "open", "payment_status": "unpaid",
            "customer": null, "subscription": null, "livemode": false,
        })))
        .mount(&stripe)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/c/pay/cs_test_browser"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!doctype html><title>Fake Checkout</title><h1>Pay SmartFlow</h1>",
            "text/html; charset=utf-8",
        ))
        .mount(&stripe)
        .await;
    let base = stripe.uri();
    let app = app_with(move |s| {
        s.billing.stripe_secret_key = Secret::new("sk_test_123");
        s.billing.stripe_api_base = base.clone();
        s.billing.plans[2].stripe_price_id = "price_pro".into();
        s.main_site.stripe_redirect_origins = vec![base];
    })
    .await;
    app.signup("owner@example.com").await;
    let mut b = Browser::launch().await;
    b.call("Log.enable", json!({})).await;
    b.call("Runtime.enable", json!({})).await;

    b.goto(&app.url("/login?next=/app/billing")).await;
    b.submit(&fill_and_submit(
        "form[action='/login']",
        &[("#f-email", "owner@example.com"), ("#f-password", PASSWORD)],
    ))
    .await;
    assert_eq!(b.path().await, "/app/billing");
    b.events.clear();
    let clicked = b
        .eval(
            "(() => { const f = document.querySelector(\"form[action='/app/billing/checkout'] \
             input[value='pro']\"); if (!f) return false; \
             f.form.querySelector('button[type=submit]').click(); return true; })()",
        )
        .await;
    assert_eq!(clicked, json!(true), "the Upgrade to Pro button is on the page");

    let reached = b.reach(&checkout).await;
    let violations = b.csp_violations();
    assert!(
        reached.is_ok(),
        "the browser stopped at {:?} instead of Stripe Checkout; CSP reports: {violations:?}",
        reached
    );
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    let sent = stripe.received_requests().await.unwrap();
    assert_eq!(sent.iter().filter(|r| r.url.path() == "/v1/checkout/sessions").count(), 1);
}
