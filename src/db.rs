//! PostgreSQL: pool, database creation, embedded migrations, query timing.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, PgPool,
    migrate::{MigrateDatabase, Migrator},
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

/// Creates the database named in `database.url` when it does not exist yet.
pub async fn ensure_database(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let url = settings.url.expose();
    if sqlx::Postgres::database_exists(url).await.context("could not reach PostgreSQL")? {
        return Ok(());
    }
    match sqlx::Postgres::create_database(url).await {
        Ok(()) => {
            tracing::info!("created database");
            Ok(())
        }
        // Another instance created it between the check and the create.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(e).context("could not create the database"),
    }
}

pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .idle_timeout(Duration::from_secs(settings.idle_timeout_secs))
        .max_lifetime(Duration::from_secs(settings.max_lifetime_secs))
        .connect_with(connect_options(settings)?)
        .await
        .context("could not connect to PostgreSQL (database.url)")?;
    Ok(pool)
}

/// Applies pending migrations; concurrent instances serialise on sqlx's advisory lock.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("database migration failed")?;
    Ok(())
}

/// Times a query into `database_query_duration_seconds{operation,table}`.
pub async fn timed<F: std::future::Future>(
    operation: &'static str,
    table: &'static str,
    fut: F,
) -> F::Output {
    let started = std::time::Instant::now();
    let out = fut.await;
    metrics::histogram!("database_query_duration_seconds", "operation" => operation, "table" => table)
        .record(started.elapsed().as_secs_f64());
    out
}
