//! `smartflow migrate` creates a missing database only when allowed, and never needs the
//! `postgres` maintenance database when its own database exists.

use smartflow::db::MIGRATOR;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::{cli::smartflow, helpers::server_url};

fn unique(prefix: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{prefix}_{secs}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", server_url())).await.unwrap()
}

async fn exists(name: &str) -> bool {
    sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut admin().await)
        .await
        .unwrap()
}

async fn drop_database(name: &str) {
    sqlx::query(AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)))
        .execute(&mut admin().await)
        .await
        .unwrap();
}

async fn applied_migrations(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_creates_a_missing_database_and_applies_every_migration() {
    let name = unique("smartflow_test");
    let url = format!("{}/{name}", server_url());
    assert!(!exists(&name).await);
    let out = smartflow().env("DATABASE_URL", &url).arg("migrate").output().unwrap();
    let created = exists(&name).await;
    let applied = if created { applied_migrations(&url).await } else { 0 };
    drop_database(&name).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(created, "the database was created");
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

#[tokio::test]
async fn migrate_does_not_create_the_database_when_not_allowed() {
    let name = unique("smartflow_test");
    let out = smartflow()
        .env("DATABASE_URL", format!("{}/{name}", server_url()))
        .env("SMARTFLOW__DATABASE__CREATE_IF_MISSING", "false")
        .arg("migrate")
        .output()
        .unwrap();
    let created = exists(&name).await;
    drop_database(&name).await;
    assert!(!out.status.success());
    assert!(!created, "create_if_missing = false must not create the database");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&name) && err.contains("database.create_if_missing"), "{err}");
}

/// Managed servers often let an application role open only its own database.
#[tokio::test]
async fn a_role_without_the_maintenance_database_migrates_its_own() {
    let role = unique("sf_role");
    let name = unique("smartflow_test");
    let mut admin = admin().await;
    for sql in [
        format!(r#"CREATE ROLE "{role}" LOGIN"#),
        // Any connection of this role to `postgres` fails at start-up.
        format!(
            r#"ALTER ROLE "{role}" IN DATABASE postgres SET session_preload_libraries = 'smartflow_no_such_library'"#
        ),
        format!(r#"CREATE DATABASE "{name}" OWNER "{role}""#),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }
    let mut base = url::Url::parse(&server_url()).unwrap();
    base.set_username(&role).unwrap();
    base.set_password(None).unwrap();
    let base = base.as_str().trim_end_matches('/').to_string();
    let cannot_reach_postgres = PgConnection::connect(&format!("{base}/postgres")).await.is_err();
    let url = format!("{base}/{name}");
    let out = smartflow().env("DATABASE_URL", &url).arg("migrate").output().unwrap();
    let applied = applied_migrations(&url).await;
    drop_database(&name).await;
    sqlx::query(AssertSqlSafe(format!(r#"DROP ROLE "{role}""#))).execute(&mut admin).await.unwrap();
    assert!(cannot_reach_postgres, "the test role must not reach the maintenance database");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}
