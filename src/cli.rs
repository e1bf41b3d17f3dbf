//! `smartflow [serve|worker|migrate|openapi|check-config|healthcheck]`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::{Application, Settings, db, openapi, telemetry};

#[derive(Debug, Parser)]
#[command(name = "smartflow", version, about = "SmartFlow business-automation platform")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and run job workers and cron (the default).
    Serve(ServeArgs),
    /// Run job workers and cron without HTTP (same as `serve --no-http`).
    Worker,
    /// Create the database if needed (and `database.create_if_missing`), apply pending
    /// migrations, then exit.
    Migrate,
    /// Print the OpenAPI document (JSON) of the enabled modules.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Load and validate the configuration, print a redacted summary, and exit.
    CheckConfig,
    /// Create platform staff (or promote an existing account). The password is read from
    /// standard input with --password-stdin, otherwise generated and printed once.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Exit 0 when the local instance answers `/health/ready` (for container health checks).
    Healthcheck {
        /// Port of the instance to probe (default: server.port).
        #[arg(long)]
        port: Option<u16>,
    },
}

#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Do not serve HTTP in this process.
    #[arg(long)]
    pub no_http: bool,
    /// Do not run job workers in this process.
    #[arg(long)]
    pub no_workers: bool,
    /// Do not run the cron ticker in this process.
    #[arg(long)]
    pub no_cron: bool,
    /// Listen on this port (overrides server.port and PORT).
    #[arg(long)]
    pub port: Option<u16>,
}

impl ServeArgs {
    fn apply(&self, settings: &mut Settings) {
        if self.no_http {
            settings.process.http = false;
        }
        if self.no_workers {
            settings.process.workers = false;
        }
        if self.no_cron {
            settings.process.cron = false;
        }
        if let Some(port) = self.port {
            settings.server.port = port;
        }
    }
}

/// Messages for the operator before logging exists (bad configuration, CLI output).
#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("{message}");
}

#[allow(clippy::print_stdout)]
fn output(text: &str) {
    println!("{text}");
}

pub fn main() -> ExitCode {
    // Before anything can build a TLS client (telemetry's OTLP exporter, sqlx, reqwest):
    // every rustls user in the process needs the one provider.
    crate::app::install_crypto_provider();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            report(&format!("smartflow: configuration error: {e}"));
            return ExitCode::from(78); // EX_CONFIG
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report(&format!("smartflow: could not start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime
        .block_on(run(cli.command.unwrap_or(Command::Serve(ServeArgs::default())), settings))
    {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "smartflow failed");
            report(&format!("smartflow: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            args.apply(&mut settings);
            serve(settings).await
        }
        Command::Worker => {
            settings.process.http = false;
            serve(settings).await
        }
        Command::Migrate => {
            let _guard = telemetry::init(&settings.telemetry)?;
            db::ensure_database(&settings.database).await?;
            let pool = db::connect(&settings.database).await?;
            db::migrate(&pool).await?;
            pool.close().await;
            tracing::info!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi { output: path } => {
            let doc = openapi::document(&settings);
            let json = serde_json::to_string_pretty(&doc)?;
            match path {
                Some(path) => std::fs::write(&path, json)
                    .with_context(|| format!("could not write {}", path.display()))?,
                None => output(&json),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CreateAdmin { email, name, password_stdin } => {
            let _guard = telemetry::init(&settings.telemetry)?;
            db::ensure_database(&settings.database).await?;
            let pool = db::connect(&settings.database).await?;
            db::migrate(&pool).await?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("could not read the password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let created = crate::platform::auth::admin::create_admin(
                &pool,
                &settings,
                &email,
                name.as_deref(),
                password,
            )
            .await?;
            match created.generated_password {
                Some(pw) => output(&format!(
                    "staff account {} ready; its password (shown once): {pw}",
                    created.email
                )),
                None => output(&format!("staff account {} ready", created.email)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => match check_config(&settings) {
            Ok(summary) => {
                output(&summary);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                report(&format!("smartflow: configuration error: {e}"));
                Ok(ExitCode::from(78)) // EX_CONFIG, as for settings that do not load
            }
        },
        Command::Healthcheck { port } => {
            let port = port.unwrap_or(settings.server.port);
            let url = format!("http://127.0.0.1:{port}/health/ready");
            let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
            match client.get(&url).send().await {
                Ok(res) if res.status().is_success() => Ok(ExitCode::SUCCESS),
                Ok(res) => {
                    report(&format!("{url} answered {}", res.status()));
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    report(&format!("{url} did not answer: {e}"));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// What `check-config` prints, after the checks `serve` makes of loaded settings before it
/// touches a database (today: every job queue in use is worked by `jobs.queues`).
pub fn check_config(settings: &Settings) -> Result<String, crate::config::ConfigError> {
    crate::platform::checked_job_registry(settings)?;
    Ok(format!("configuration is valid ({})\n{settings:#?}", settings.app.environment.as_str()))
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let _guard = telemetry::init(&settings.telemetry)?;
    tracing::info!(
        environment = settings.app.environment.as_str(),
        modules = ?settings.modules.active(),
        http = settings.process.http,
        workers = settings.process.workers,
        cron = settings.process.cron,
        "starting SmartFlow {}",
        env!("CARGO_PKG_VERSION")
    );
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
