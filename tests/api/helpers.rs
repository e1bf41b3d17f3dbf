//! `spawn_app()` boots the real application on a random port against a fresh database (cloned
//! from a migrated template, dropped when the test ends) and the real Redis.

use std::{
    sync::LazyLock,
    time::{SystemTime, UNIX_EPOCH},
};

use reqwest::{Method, Response, header::HeaderMap};
use serde_json::Value;
use smartflow::{
    Application, Settings,
    app::ShutdownHandle,
    config::{Environment, Secret, Sources},
    db::MIGRATOR,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

/// PostgreSQL server used by tests (`TEST_DATABASE_URL`, default the local trust-auth server).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    // The recorder first: the query metrics layer keeps the histogram handles it creates.
    smartflow::telemetry::metrics_handle();
    let logs = std::env::var("TEST_LOG").is_ok().then(|| {
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new("info,smartflow=debug"))
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(smartflow::telemetry::query_metrics_layer())
        .try_init();
});

/// Test settings: `config/default.toml` + `config/test.toml`, no process environment.
pub fn test_settings() -> Settings {
    let sources = Sources {
        dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        environment: Environment::Test,
        use_env: false,
    };
    Settings::load_from(&sources).expect("test configuration must load")
}

/// Which cache a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    Redis,
    Memory,
}

pub struct TestApp {
    pub address: String,
    pub db: PgPool,
    pub db_name: String,
    pub settings: Settings,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub state: smartflow::state::AppState,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(CacheKind::Redis, |_| {}).await
}

pub async fn spawn_app_with(cache: CacheKind, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let db_name = create_test_database().await;
    let mut settings = test_settings();
    settings.database.url = Secret::new(format!("{}/{db_name}", server_url()));
    settings.database.max_connections = 10;
    settings.server.port = 0;
    settings.redis.url = match cache {
        CacheKind::Redis => Secret::new(redis_url()),
        CacheKind::Memory => Secret::default(),
    };
    // Tests share one Redis: give each its own key space, and its own upload folder.
    settings.redis.key_prefix = format!("{db_name}:");
    settings.storage.local_path =
        std::env::temp_dir().join(&db_name).to_string_lossy().into_owned();
    tweak(&mut settings);

    let app = Application::build(settings.clone()).await.expect("application must build");
    let port = app.port();
    let state = app.state().clone();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    let db = PgPool::connect(settings.database.url.expose()).await.expect("test pool");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        db_name,
        settings,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        shutdown,
        server: Some(server),
        state,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn request(&self, method: Method, path: &str) -> Response {
        self.client.request(method, self.url(path)).send().await.expect("request failed")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request failed")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request failed")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.shutdown();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped with an error");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        let name = self.db_name.clone();
        // Drop runs inside the test's runtime; use a fresh one on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
                rt.block_on(async {
                    if let Ok(mut conn) = maintenance_connection().await {
                        let _ = sqlx::query(AssertSqlSafe(format!(
                            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// Asserts the response is problem+json with `status`, and returns the document.
pub async fn assert_problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let ct =
        res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/problem+json"), "content type was {ct}");
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    body
}

pub fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn maintenance_connection() -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&format!("{}/postgres", server_url())).await
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Migrations are applied once to a template named after their checksums; each test database
/// is a cheap copy of it.
async fn template_name() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE.get_or_init(build_template).await
}

async fn build_template() -> String {
    let mut fingerprint = Vec::new();
    for m in MIGRATOR.iter() {
        fingerprint.extend_from_slice(&m.version.to_le_bytes());
        fingerprint.extend_from_slice(&m.checksum);
    }
    let hash = smartflow::platform::crypto::sha256_hex(&fingerprint);
    let prefix = format!("smartflow_tpl_{}_", &hash[..16]);
    let mut conn = maintenance_connection().await.expect("PostgreSQL must be running for tests");
    // Serialise template creation across the parallel test processes.
    sqlx::query("SELECT pg_advisory_lock(7283001)").execute(&mut conn).await.expect("lock");
    // The creation time is part of the name, so other checkouts' templates (other migrations)
    // are only cleaned up once they are old, never while their suites may be running.
    let existing: Option<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'")
            .bind(prefix.replace('_', "\\_"))
            .fetch_optional(&mut conn)
            .await
            .expect("query");
    let name = existing.clone().unwrap_or_else(|| format!("{prefix}{}", unix_secs()));
    if existing.is_none() {
        let building = format!("{name}_building");
        sqlx::query(AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#)))
            .execute(&mut conn)
            .await
            .expect("drop");
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{building}""#)))
            .execute(&mut conn)
            .await
            .expect("create template");
        let pool =
            PgPool::connect(&format!("{}/{building}", server_url())).await.expect("template pool");
        MIGRATOR.run(&pool).await.expect("migrations must apply to an empty database");
        pool.close().await;
        sqlx::query(AssertSqlSafe(format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#)))
            .execute(&mut conn)
            .await
            .expect("rename");
        cleanup_stale(&mut conn, &name).await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7283001)").execute(&mut conn).await.expect("unlock");
    name
}

/// Databases left by killed test runs (over two hours old) and templates over a day old.
async fn cleanup_stale(conn: &mut PgConnection, keep: &str) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'smartflow\\_tpl\\_%' OR datname LIKE 'smartflow\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let cutoff = unix_secs().saturating_sub(7200);
    for n in names {
        let stale_test = n
            .strip_prefix("smartflow_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t < cutoff);
        let old_template = n != keep
            && n.strip_prefix("smartflow_tpl_")
                .and_then(|rest| rest.rsplit('_').next())
                .and_then(|t| t.parse::<u64>().ok())
                .is_none_or(|t| t < unix_secs().saturating_sub(86_400));
        if stale_test || old_template {
            let _ = sqlx::query(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{n}" WITH (FORCE)"#
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

pub async fn create_test_database() -> String {
    let template = template_name().await;
    let name = format!(
        "smartflow_test_{}_{}",
        unix_secs(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut conn = maintenance_connection().await.expect("PostgreSQL must be running for tests");
    sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#)))
        .execute(&mut conn)
        .await
        .expect("create test database");
    name
}

/// A signed-up user and what they hold.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub user_id: String,
    pub workspace_id: String,
    pub token: String,
    pub refresh_token: String,
    /// `sf_session=<value>`
    pub session_cookie: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Every `Set-Cookie` as `name=value`.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect()
}

pub fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers).into_iter().find(|c| c.starts_with(&format!("{name}=")))
}

impl TestApp {
    pub async fn signup(&self, email: &str) -> TestUser {
        let res = self
            .post_json(
                "/api/auth/signup",
                &serde_json::json!({ "email": email, "password": PASSWORD, "name": "Test" }),
            )
            .await;
        assert_eq!(res.status(), 201, "signup failed");
        let cookie = cookie_named(res.headers(), "sf_session").expect("session cookie");
        let body: Value = res.json().await.unwrap();
        TestUser {
            email: email.to_string(),
            user_id: body["user"]["id"].as_str().unwrap().to_string(),
            workspace_id: body["workspace"]["workspace_id"].as_str().unwrap().to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
            session_cookie: cookie,
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }

    /// A new account added to `owner`'s workspace with `role`, signed in there.
    pub async fn member(&self, owner: &TestUser, email: &str, role: &str) -> TestUser {
        let mut user = self.signup(email).await;
        sqlx::query("insert into smartflow_shared.memberships (workspace_id, user_id, role) values ($1::uuid, $2::uuid, $3)")
            .bind(&owner.workspace_id)
            .bind(&user.user_id)
            .bind(role)
            .execute(&self.db)
            .await
            .unwrap();
        let res = self
            .post_json(
                "/api/auth/login",
                &serde_json::json!({ "email": email, "password": PASSWORD, "workspace_id": owner.workspace_id }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        user.workspace_id = owner.workspace_id.clone();
        user.token = body["access_token"].as_str().unwrap().to_string();
        user.refresh_token = body["refresh_token"].as_str().unwrap().to_string();
        user
    }

    pub async fn send_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.expect("request failed")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.send_as(Method::GET, path, token, None).await
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send_as(Method::POST, path, token, Some(body)).await
    }

    /// Runs every due job now, in this task (the app's own workers must be off).
    pub async fn run_jobs(&self) -> usize {
        smartflow::platform::jobs::run_pending(&self.state, &smartflow::platform::job_registry())
            .await
            .expect("jobs ran")
    }

    /// Makes `user` platform staff.
    pub async fn make_staff(&self, user: &TestUser) {
        sqlx::query("update smartflow_main.users set is_staff = true where id = $1::uuid")
            .bind(&user.user_id)
            .execute(&self.db)
            .await
            .unwrap();
        // Cached sessions carry the old flag for up to a minute; drop them.
        let ids: Vec<uuid::Uuid> =
            sqlx::query_scalar("select id from smartflow_shared.sessions where user_id = $1::uuid")
                .bind(&user.user_id)
                .fetch_all(&self.db)
                .await
                .unwrap();
        smartflow::platform::auth::sessions::forget(&self.state, &ids).await;
    }
}

/// Apps for tests that drive jobs themselves with `run_jobs`.
pub async fn spawn_app_without_workers() -> TestApp {
    spawn_app_with(CacheKind::Redis, |s| {
        s.process.workers = false;
        s.process.cron = false;
    })
    .await
}

/// A `multipart/form-data` body with one file part; returns (content type, body).
pub fn multipart_file(
    field: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("sfboundary{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A valid 3×2 PNG.
pub fn tiny_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let ihdr = [0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0];
    png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&[0x3b, 0x5c, 0x6d, 0x28]); // CRC is not checked by size readers
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&[0xae, 0x42, 0x60, 0x82]);
    png
}

impl TestApp {
    pub async fn upload(&self, token: &str, filename: &str, bytes: &[u8]) -> Response {
        let (ct, body) = multipart_file("file", filename, "application/octet-stream", bytes);
        self.client
            .post(self.url("/api/uploads"))
            .bearer_auth(token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("request")
    }
}

pub async fn drop_test_database(name: &str) {
    if let Ok(mut conn) = maintenance_connection().await {
        let _ =
            sqlx::query(AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)))
                .execute(&mut conn)
                .await;
    }
}
