//! The real binary: configuration errors, `openapi`, `check-config`, and `serve` stopping
//! gracefully on SIGTERM while a request is in flight.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::helpers::{create_test_database, server_url};

pub(crate) fn smartflow() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartflow"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMARTFLOW_CONFIG_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .env("SMARTFLOW_ENV", "test");
    cmd
}

#[test]
fn a_wrong_setting_stops_start_up_naming_the_key() {
    let out = smartflow()
        .env("SMARTFLOW__DATABASE__MAX_CONNECTIONS", "lots")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database.max_connections"), "{err}");
    assert!(err.contains("SMARTFLOW__DATABASE__MAX_CONNECTIONS"), "names the variable too: {err}");

    let out = smartflow()
        .env("SMARTFLOW__SERVER__NO_SUCH_KEY", "1")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
}

#[test]
fn check_config_prints_settings_without_secrets() {
    let out = smartflow()
        .env("DATABASE_URL", "postgres://app:hunter2@db.example:5432/smartflow")
        .env("SMARTFLOW__AUTH__JWT_SECRET", "a-very-secret-signing-key-of-sufficient-length")
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configuration is valid (test)"));
    assert!(!text.contains("hunter2") && !text.contains("a-very-secret"), "{text}");
}

/// Every queue a registered job kind uses must be worked (`jobs.queues`): `check-config` fails
/// on what would stop `serve`, with the same message. Configuration layers add queues key by key
/// and cannot remove one, so the settings are narrowed in-process here.
#[tokio::test]
async fn check_config_fails_like_serve_when_a_job_queue_is_not_worked() {
    let mut settings = crate::helpers::test_settings();
    assert!(smartflow::cli::check_config(&settings).is_ok());
    settings.jobs.queues.remove("email");
    let err = smartflow::cli::check_config(&settings).unwrap_err().to_string();
    assert!(err.contains("`jobs.queues`") && err.contains("queue(s) email "), "{err}");

    smartflow::app::install_crypto_provider();
    let db = create_test_database().await;
    settings.database.url = smartflow::config::Secret::new(format!("{}/{db}", server_url()));
    settings.server.port = 0;
    settings.storage.local_path = std::env::temp_dir().join(&db).to_string_lossy().into_owned();
    let serve_err = match smartflow::Application::build(settings).await {
        Ok(_) => panic!("serve started without a worker for the email queue"),
        Err(e) => e.to_string(),
    };
    assert_eq!(serve_err, err, "serve stops on the same check");
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&db));
    crate::helpers::drop_test_database(&db).await;
}

/// The check follows `modules.enabled`: a process runs (and needs queues for) only the job
/// kinds of its modules, as in the four-service layout.
#[cfg(all(feature = "main", feature = "ai"))]
#[test]
fn check_config_asks_only_for_the_queues_of_the_enabled_modules() {
    use smartflow::config::Module;
    let mut settings = crate::helpers::test_settings();
    settings.jobs.queues.remove("ai");
    settings.jobs.queues.remove("social");
    settings.modules.enabled = vec![Module::Main];
    assert!(smartflow::cli::check_config(&settings).is_ok(), "the site's process runs no AI jobs");
    settings.modules.enabled = vec![Module::Ai];
    let err = smartflow::cli::check_config(&settings).unwrap_err().to_string();
    assert!(err.contains("queue(s) ai "), "{err}");
}

#[test]
fn openapi_prints_the_document() {
    let out = smartflow().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "SmartFlow API");
    assert!(doc["paths"]["/api/health"]["get"].is_object());
}

/// A `smartflow serve` child on a random port against `db`, with its log lines.
struct Served {
    child: Child,
    port: u16,
    logs: std::sync::mpsc::Receiver<String>,
}

fn serve(db: &str, env: &[(&str, String)]) -> Served {
    let mut cmd = smartflow();
    cmd.env("DATABASE_URL", format!("{}/{db}", server_url()))
        .env("PORT", "0")
        .env("SMARTFLOW__TELEMETRY__LOG_LEVEL", "info")
        .env("SMARTFLOW__TELEMETRY__LOG_FORMAT", "json")
        .env("SMARTFLOW__STORAGE__LOCAL_PATH", std::env::temp_dir().join(db));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The log line announcing the listener carries the port.
    let stdout = child.stdout.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (log_tx, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "listening"
            {
                let _ = port_tx.send(v["fields"]["port"].as_u64().unwrap_or(0));
            }
            let _ = log_tx.send(line);
        }
    });
    let port = match port_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(port) => port as u16,
        Err(_) => {
            let _ = child.kill();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
            panic!("the server did not report its port; stderr: {err}");
        }
    };
    Served { child, port, logs }
}

/// A failed assertion must not leave the server running.
impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Served {
    fn terminate(&self) {
        let status =
            Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits (up to a minute) for the process to exit.
    async fn wait(mut self) -> std::process::ExitStatus {
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status;
                }
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    panic!("smartflow did not exit within a minute of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits() {
    smartflow::app::install_crypto_provider();
    let db = create_test_database().await;
    let served = serve(&db, &[]);
    let base = format!("http://127.0.0.1:{}", served.port);
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/health/ready")).send().await.unwrap().status(), 200);
    // The binary's own subscriber times every statement: start-up wrote the cron schedules.
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("database_query_duration_seconds_count{")
            && l.contains(r#"operation="insert""#)
            && l.contains(r#"table="smartflow_shared.cron_schedules""#)),
        "{metrics}"
    );

    // A request whose body is still arriving when SIGTERM comes.
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream =
        futures_util::stream::unfold(
            body_rx,
            |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
        );
    let request = tokio::spawn(
        client
            .post(format!("{base}/api/auth/login"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    body_tx.send(Ok(br#"{"email":"someone@example.com","#.to_vec())).await.unwrap();
    // Wait until the server is serving it: in flight are that request and the metrics scrape.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text =
            client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let in_flight = text
            .lines()
            .find(|l| l.starts_with("http_requests_in_flight "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if in_flight >= 2.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the slow request never showed as in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.terminate();
    // Shutdown has begun: the log says so.
    loop {
        let line = served.logs.recv_timeout(Duration::from_secs(30)).expect("shutdown is logged");
        if line.contains("shutting down") {
            break;
        }
    }
    body_tx.send(Ok(br#""password":"wrong wrong wrong"}"#.to_vec())).await.unwrap();
    drop(body_tx);
    let res = request.await.unwrap().expect("the in-flight request is answered, not cut off");
    assert_eq!(res.status(), 401);

    let exit = served.wait().await;
    assert!(exit.success(), "exit status {exit}");
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&db));
    crate::helpers::drop_test_database(&db).await;
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    smartflow::app::install_crypto_provider();
    let collector = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let db = create_test_database().await;
    let served = serve(&db, &[("SMARTFLOW__TELEMETRY__OTLP_ENDPOINT", collector.uri())]);
    let res = reqwest::get(format!("http://127.0.0.1:{}/api/health", served.port)).await.unwrap();
    assert_eq!(res.status(), 200);

    // Shutdown flushes the batch of spans to the collector.
    served.terminate();
    let exit = served.wait().await;
    assert!(exit.success(), "exit status {exit}");
    let received = collector.received_requests().await.unwrap();
    let export = received
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/v1/traces")
        .expect("the collector received spans");
    assert_eq!(
        export.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-protobuf")
    );
    assert!(!export.body.is_empty());
    // The span of the health request is in the protobuf payload (names are plain UTF-8 there).
    let body = String::from_utf8_lossy(&export.body);
    assert!(body.contains("/api/health"), "no span for the request in the export");
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&db));
    crate::helpers::drop_test_database(&db).await;
}
