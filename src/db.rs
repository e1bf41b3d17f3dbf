//! PostgreSQL: pool, database creation, embedded migrations (statements are timed by
//! `telemetry::query_metrics`).

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseSettings;

pub static MIGRATOR: Migrator = sqlx::migrate!();

pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(settings.url.expose())
        .context("database.url is not a valid PostgreSQL URL")?
        .application_name("smartflow")
        .options([("statement_timeout", settings.statement_timeout_ms.to_string())])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    Ok(options)
}

/// SQLSTATE of "database does not exist".
const INVALID_CATALOG_NAME: &str = "3D000";
/// SQLSTATE of "database already exists" (another instance created it first).
const DUPLICATE_DATABASE: &str = "42P04";

/// Makes sure the database named in `database.url` exists. It connects to that database first,
/// so roles that may not open the `postgres` maintenance database (managed servers) start
/// normally; only when PostgreSQL says it does not exist, and `database.create_if_missing` is
/// on, is it created through the maintenance database.
pub async fn ensure_database(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let options = connect_options(settings)?;
    let name = options.get_database().unwrap_or(options.get_username()).to_string();
    let limit = Duration::from_millis(settings.acquire_timeout_ms);
    match within(limit, PgConnection::connect_with(&options)).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(ConnectError::Sql(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some(INVALID_CATALOG_NAME) => {}
        Err(e) => return Err(e).context("could not connect to PostgreSQL (database.url)"),
    }
    if !settings.create_if_missing {
        anyhow::bail!(
            "database `{name}` does not exist; create it, or set database.create_if_missing = true \
             to let SmartFlow create it"
        );
    }
    // `createdb` does the same: `postgres` is the maintenance database unless it is the target.
    let maintenance =
        options.clone().database(if name == "postgres" { "template1" } else { "postgres" });
    let mut conn = within(limit, PgConnection::connect_with(&maintenance))
        .await
        .with_context(|| format!("database `{name}` does not exist and the maintenance database to create it is not reachable"))?;
    let create = format!(r#"CREATE DATABASE "{}""#, name.replace('"', "\"\""));
    match within(limit, conn.execute(sqlx::AssertSqlSafe(create))).await {
        Ok(_) => tracing::info!(database = %name, "created database"),
        Err(ConnectError::Sql(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some(DUPLICATE_DATABASE) => {}
        Err(e) => return Err(e).with_context(|| format!("could not create database `{name}`")),
    }
    let _ = conn.close().await;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ConnectError::TimedOut(limit)),
    }
}

/// Pool timeouts and lifetimes from `settings`, for the main pool and the job runner's own.
pub fn pool_options(settings: &DatabaseSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_secs))
        .max_lifetime(Duration::from_secs(settings.max_lifetime_secs))
}

pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let pool = pool_options(settings)
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_with(connect_options(settings)?)
        .await
        .context("could not connect to PostgreSQL (database.url)")?;
    Ok(pool)
}

/// Takes the transaction-scoped advisory lock named `namespace:id`: other transactions asking
/// for the same name wait until this one ends.
pub async fn xact_lock(
    conn: &mut sqlx::PgConnection,
    namespace: &str,
    id: uuid::Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1 || ':' || $2::text, 0))")
        .bind(namespace)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Applies pending migrations; concurrent instances serialise on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("database migration failed")?;
    Ok(())
}
