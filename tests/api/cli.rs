//! The real binary: configuration errors, `openapi`, `check-config`, and `serve` stopping
//! gracefully on SIGTERM while a request is in flight.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{create_test_database, server_url};

fn smartflow() -> Command {
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

#[test]
fn openapi_prints_the_document() {
    let out = smartflow().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "SmartFlow API");
    assert!(doc["paths"]["/api/health"]["get"].is_object());
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits() {
    smartflow::app::install_crypto_provider();
    let db = create_test_database().await;
    let mut child = smartflow()
        .env("DATABASE_URL", format!("{}/{db}", server_url()))
        .env("PORT", "0")
        .env("SMARTFLOW__TELEMETRY__LOG_LEVEL", "info")
        .env("SMARTFLOW__TELEMETRY__LOG_FORMAT", "json")
        .env("SMARTFLOW__STORAGE__LOCAL_PATH", std::env::temp_dir().join(&db))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log line announcing the listener carries the port.
    let stdout = child.stdout.take().unwrap();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (log_tx, log_rx) = std::sync::mpsc::channel();
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
    let port = port_rx.recv_timeout(Duration::from_secs(60)).expect("the server reports its port");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{base}/health/ready")).send().await.unwrap().status(), 200);

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
    }
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    // Shutdown has begun: the log says so.
    loop {
        let line = log_rx.recv_timeout(Duration::from_secs(30)).expect("shutdown is logged");
        if line.contains("shutting down") {
            break;
        }
    }
    body_tx.send(Ok(br#""password":"wrong wrong wrong"}"#.to_vec())).await.unwrap();
    drop(body_tx);
    let res = request.await.unwrap().expect("the in-flight request is answered, not cut off");
    assert_eq!(res.status(), 401);

    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "exit status {exit}");
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&db));
    crate::helpers::drop_test_database(&db).await;
}
