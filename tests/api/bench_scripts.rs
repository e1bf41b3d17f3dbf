//! The benchmarks empty tables: they refuse any database whose name does not say `bench`, and
//! run once. Nothing here runs a benchmark: the scripts find a `cargo` that only fails, so a
//! missing guard fails the test instead of emptying a database.

use std::process::Command;

#[path = "../../bench/guard.rs"]
mod guard;

const SCRIPTS: [&str; 3] = ["bench/jobs.sh", "bench/social.sh", "bench/ai.sh"];

/// Runs a script with a `cargo` first on its `PATH` that only exits 99: whatever else the
/// machine has, no benchmark can start, and reaching it fails the test.
fn script(name: &str, env: &[(&str, &str)]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt;
    let bin = std::env::temp_dir().join(format!("smartflow-no-cargo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\nexit 99\n").unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("bash")
        .arg(name)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&bin);
    assert_ne!(out.status.code(), Some(99), "{name} got as far as running cargo");
    out
}

#[test]
fn only_databases_named_bench_are_accepted() {
    for url in [
        "postgres://postgres@127.0.0.1:5432/smartflow_bench",
        "postgres://app:secret@db.example/bench?sslmode=require",
        "postgres://app@db.example/x?dbname=smartflow_bench",
    ] {
        assert!(guard::require_bench_database(url).is_ok(), "{url}");
    }
    for url in [
        "postgres://postgres@127.0.0.1:5432/smartflow",
        "postgres://app:bench-pass@db.example/smartflow",
        "postgres://app@db.example/smartflow_bench?dbname=smartflow",
        "postgres://db.example",
    ] {
        let err = guard::require_bench_database(url).unwrap_err();
        assert!(err.contains("refusing"), "{url}: {err}");
        assert!(!err.contains("pass"), "the URL's password is not printed: {err}");
    }
}

#[test]
fn benchmark_scripts_refuse_other_databases_before_building() {
    for name in ["bench/jobs.sh", "bench/social.sh"] {
        for url in [
            "postgres://postgres@127.0.0.1:5432/smartflow",
            "postgres://app:bench-pass@db.example/smartflow?sslmode=require",
            "postgres://app@db.example/smartflow_bench?dbname=smartflow",
        ] {
            let out = script(name, &[("DATABASE_URL", url)]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} with {url}: {err}");
            assert!(err.contains("refusing to run") && err.contains("'smartflow'"), "{err}");
            assert!(!err.contains("bench-pass"), "{err}");
        }
    }
}

#[test]
fn http_benchmarks_refuse_to_drop_a_database_not_named_bench() {
    // bench/common.sh (sourced by the HTTP benchmarks) drops and recreates BENCH_DB.
    let out = script("bench/common.sh", &[("BENCH_DB", "smartflow")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'smartflow'") && err.contains("BENCH_DB"), "{err}");
}

#[test]
fn benchmark_scripts_run_once() {
    // `cmd || cmd` reran a failed benchmark with its first error thrown away.
    for name in SCRIPTS {
        let text =
            std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let runs: Vec<&str> = text.lines().filter(|l| l.contains("cargo bench")).collect();
        assert_eq!(runs.len(), 1, "{name}: {runs:?}");
        assert!(!runs[0].contains("||") && !runs[0].contains("2>"), "{name}: {}", runs[0]);
    }
}
