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
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,smartflow=debug")
            .with_test_writer()
            .try_init();
    }
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
    // Tests share one Redis: give each its own key space.
    settings.redis.key_prefix = format!("{db_name}:");
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
    let name = format!("smartflow_tpl_{}", &hash[..16]);
    let mut conn = maintenance_connection().await.expect("PostgreSQL must be running for tests");
    // Serialise template creation across the parallel test processes.
    sqlx::query("SELECT pg_advisory_lock(7283001)").execute(&mut conn).await.expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("query");
    if !exists {
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

/// Old templates and databases left by killed test runs (over two hours old).
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
        let old_template = n.starts_with("smartflow_tpl_") && n != keep;
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
