//! Layered settings: `Settings::default()` ← `config/default.toml` ← `config/{environment}.toml`
//! ← `SMARTFLOW__SECTION__KEY` environment variables (plus the conventional `DATABASE_URL`,
//! `REDIS_URL` and `PORT`). A wrong value fails start-up with a message naming the key.

pub mod ai;
mod main_site;

use std::{collections::BTreeMap, fmt, path::PathBuf, str::FromStr};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use main_site::MainSiteSettings;
pub mod social;

/// Name of the variable that selects `config/{environment}.toml`.
pub const ENVIRONMENT_VAR: &str = "SMARTFLOW_ENV";
/// Name of the variable that points at the configuration folder (default `./config`).
pub const CONFIG_DIR_VAR: &str = "SMARTFLOW_CONFIG_DIR";

/// The conventional variables read besides `SMARTFLOW__*`, and the key each sets.
const CONVENTIONAL_ENV: [(&str, &str); 3] =
    [("DATABASE_URL", "database.url"), ("REDIS_URL", "redis.url"), ("PORT", "server.port")];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub process: ProcessSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub modules: ModuleSettings,
    pub telemetry: TelemetrySettings,
    pub metrics: MetricsSettings,
    pub health: HealthSettings,
    pub rate_limit: RateLimitSettings,
    pub security: SecuritySettings,
    pub http_client: HttpClientSettings,
    pub jobs: JobsSettings,
    pub cron: CronSettings,
    pub auth: AuthSettings,
    pub mail: MailSettings,
    pub webhooks: WebhookSettings,
    pub events: EventSettings,
    pub storage: StorageSettings,
    pub billing: BillingSettings,
    pub main_site: MainSiteSettings,
    pub social: social::SocialSettings,
    pub ai: ai::AiProviderSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// `development`, `test` or `production`; chosen by `SMARTFLOW_ENV`.
    pub environment: Environment,
    /// Product name shown in pages and e-mails.
    pub name: String,
    /// Public URL of the site, used in links, e-mails and to decide on HSTS.
    pub base_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

impl FromStr for Environment {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" | "prod" => Ok(Environment::Production),
            other => Err(ConfigError::invalid(
                ENVIRONMENT_VAR,
                format!("expected development, test or production, got `{other}`"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    /// 0 binds a random free port (used by tests).
    pub port: u16,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Largest accepted JSON or form body.
    pub body_limit_bytes: usize,
    /// Largest accepted multipart upload.
    pub upload_limit_bytes: usize,
    /// Time given to in-flight requests on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Time a client has to send its request head.
    pub client_request_timeout_ms: u64,
    pub keep_alive_secs: u64,
    /// Take the client address from `X-Forwarded-For` (only behind your own proxies).
    pub trust_proxy_headers: bool,
    /// How many proxies of yours append to `X-Forwarded-For`: the client address is the entry
    /// this many places from the right (1 = one nginx with `$proxy_add_x_forwarded_for`).
    pub trusted_proxies: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSettings {
    /// Serve HTTP in this process.
    pub http: bool,
    /// Run job workers in this process.
    pub workers: bool,
    /// Run the cron ticker in this process.
    pub cron: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    pub idle_timeout_secs: u64,
    pub max_lifetime_secs: u64,
    /// Server-side limit for any single statement.
    pub statement_timeout_ms: u64,
    /// Create the database at start when it does not exist.
    pub create_if_missing: bool,
    /// Apply pending migrations at start (`smartflow migrate` does it on demand).
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Empty: use the in-process cache (one instance only).
    pub url: Secret,
    pub pool_size: usize,
    pub timeout_ms: u64,
    /// Prepended to every key and channel, so several deployments can share one Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSettings {
    /// Compiled-in modules to mount at run time; empty = every module built into the binary.
    pub enabled: Vec<Module>,
}

impl ModuleSettings {
    pub fn is_enabled(&self, module: Module) -> bool {
        crate::modules::compiled().contains(&module)
            && (self.enabled.is_empty() || self.enabled.contains(&module))
    }

    /// The modules this process mounts.
    pub fn active(&self) -> Vec<Module> {
        Module::ALL.into_iter().filter(|m| self.is_enabled(*m)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Module {
    Main,
    Ai,
    Social,
    SocialAi,
}

impl Module {
    pub const ALL: [Module; 4] = [Module::Main, Module::Ai, Module::Social, Module::SocialAi];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Main => "main",
            Module::Ai => "ai",
            Module::Social => "social",
            Module::SocialAi => "social-ai",
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `tracing` filter directives, overridden by `RUST_LOG`.
    pub log_level: String,
    /// OTLP/HTTP endpoint (e.g. `http://otel-collector:4318`); empty disables trace export.
    pub otlp_endpoint: String,
    pub service_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub bearer_token: Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// Resident memory above which `memory_usage` reports an error; 0 disables the limit.
    pub max_rss_mb: u64,
    /// Process CPU share (percent of one core × cores) above which `cpu_usage` reports an error;
    /// 0 disables the limit.
    pub max_cpu_percent: f64,
    /// Time allowed for each dependency probe.
    pub probe_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Path prefixes never limited.
    pub exempt: Vec<String>,
    /// The group a request falls into is the one with the longest matching prefix.
    pub groups: Vec<RateLimitGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitGroup {
    pub name: String,
    pub prefixes: Vec<String>,
    /// HTTP methods the group counts (e.g. `["POST"]`); empty: every method. Requests of other
    /// methods fall through to the next matching group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    pub requests: u64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// 32 random bytes, base64: encrypts provider keys and social tokens at rest.
    /// Required in production; development and test fall back to a fixed, public key.
    pub encryption_key: Secret,
    /// Content-Security-Policy for pages and API responses.
    pub content_security_policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientSettings {
    /// Connect timeout for every outbound call.
    pub connect_timeout_ms: u64,
    /// Total timeout for an outbound call (streams set their own).
    pub timeout_ms: u64,
    /// Empty: `SmartFlow/<version>`.
    pub user_agent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    /// Queues this process works on, each with its own concurrency.
    pub queues: BTreeMap<String, usize>,
    /// Fallback polling when no notification arrives (LISTEN/NOTIFY wakes workers at once).
    pub poll_interval_ms: u64,
    /// Connections the runner keeps for claiming and recording outcomes, besides
    /// `database.max_connections`.
    pub connections: u32,
    pub heartbeat_interval_ms: u64,
    /// A running job without a heartbeat for this long is rescued and retried.
    pub rescue_after_secs: u64,
    /// On shutdown, running jobs get this long to finish before they are released.
    pub shutdown_deadline_secs: u64,
    pub completed_retention_hours: u64,
    pub dead_retention_days: u64,
    /// Health reports an error when a queue's oldest due job has waited longer.
    pub max_healthy_lag_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens, at least 32 bytes. Required in production; development and
    /// test use a random key per process (tokens then end with the process).
    pub jwt_secret: Secret,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    /// Absolute lifetime of a sign-in (cookie session and its refresh tokens).
    pub session_ttl_hours: u64,
    /// Whether anyone may create an account and workspace at /signup.
    pub allow_signup: bool,
    /// argon2id cost: memory in KiB, iterations, lanes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Failed sign-ins per account, and per client address, before 429 until the window ends.
    pub max_failed_logins_per_account: u64,
    pub max_failed_logins_per_ip: u64,
    pub failed_login_window_secs: u64,
    /// Password-reset requests per e-mail address, and per client address, in each window.
    pub max_password_resets_per_account: u64,
    pub max_password_resets_per_ip: u64,
    pub password_reset_window_secs: u64,
    pub password_reset_ttl_mins: u64,
    pub invitation_ttl_hours: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `log` (recipient and subject only), `file` (one .eml per message in `file_dir`) or `smtp`.
    pub transport: MailTransport,
    /// Sender, e.g. `SmartFlow <no-reply@example.com>`.
    pub from: String,
    pub file_dir: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls`, `tls` (implicit, port 465) or `none` (local relays only).
    pub smtp_security: SmtpSecurity,
    pub smtp_username: String,
    pub smtp_password: Secret,
    pub smtp_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Log,
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Allow endpoints on private, loopback and link-local addresses (development only).
    pub allow_private_targets: bool,
    /// Only `https://` endpoints (recommended in production).
    pub require_https: bool,
    pub timeout_ms: u64,
    /// Attempts per delivery, on the schedule in `webhooks::RETRY_SCHEDULE`.
    pub max_attempts: i32,
    /// An endpoint is disabled after this many failed attempts in a row.
    pub disable_after_failures: i32,
    /// Incoming signatures older or newer than this are refused (replay window).
    pub signature_tolerance_secs: u64,
    /// Delivery attempts (`GET /api/webhooks/{id}/deliveries`) are kept this long; 0 keeps them.
    pub delivery_log_retention_days: u64,
}

/// The event spine: retention of `smartflow_shared.events` and the live feed `/ws/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Dispatched events older than this are deleted (the audit log is kept); 0 keeps them.
    pub retention_days: u64,
    /// `/ws/events`: a ping this often; a client silent for `live_client_timeout_secs` is closed.
    pub live_heartbeat_secs: u64,
    pub live_client_timeout_secs: u64,
    /// A socket opened without credentials must send its `auth` message within this.
    pub live_auth_timeout_secs: u64,
    /// Events queued per client; a client that falls this far behind is disconnected.
    pub live_queue: usize,
    /// A client that cannot take one message for this long is disconnected.
    pub live_send_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (a folder) or `s3` (any S3-compatible service).
    pub backend: StorageBackend,
    pub local_path: String,
    pub s3_bucket: String,
    pub s3_region: String,
    /// For S3-compatible services (MinIO, R2…); empty for AWS.
    pub s3_endpoint: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: Secret,
    /// Allow a plain-http endpoint (local S3-compatible servers only).
    pub s3_allow_http: bool,
    /// Lifetime of the signed public URLs given to platforms that fetch media themselves.
    pub signed_url_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// Plan of workspaces without an active subscription.
    pub default_plan: String,
    /// Three-letter ISO currency of the prices.
    pub currency: String,
    /// Stripe secret key (`sk_…`); empty disables checkout.
    pub stripe_secret_key: Secret,
    /// Signing secret of the Stripe webhook endpoint (`whsec_…`).
    pub stripe_webhook_secret: Secret,
    pub stripe_api_base: String,
    pub stripe_timeout_ms: u64,
    pub plans: Vec<PlanSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Price per interval in the smallest currency unit (cents).
    pub price_cents: i64,
    /// Stripe's billing interval: `day`, `week`, `month` or `year`.
    pub interval: String,
    /// Stripe Price id (`price_…`) used at checkout; empty for free plans.
    pub stripe_price_id: String,
    /// Marketing bullet points for /pricing.
    pub features: Vec<String>,
    pub highlighted: bool,
    pub limits: PlanLimits,
}

/// What a plan allows; -1 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub members: i64,
    pub social_accounts: i64,
    pub scheduled_posts_per_month: i64,
    pub ai_messages_per_month: i64,
    pub ai_images_per_month: i64,
    pub knowledge_bases: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSettings {
    pub entries: Vec<CronEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronEntry {
    pub name: String,
    /// Cron expression with 5 fields, or 6 with seconds first; empty disables the entry.
    pub schedule: String,
    /// IANA timezone the expression is read in.
    pub timezone: String,
    /// Job kind to enqueue (its arguments are `{}`).
    pub job: String,
    pub enabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app: AppSettings {
                environment: Environment::Development,
                name: "SmartFlow".into(),
                base_url: "http://localhost:3000".into(),
            },
            server: ServerSettings {
                host: "127.0.0.1".into(),
                port: 3000,
                workers: 0,
                body_limit_bytes: 1024 * 1024,
                upload_limit_bytes: 25 * 1024 * 1024,
                shutdown_timeout_secs: 30,
                client_request_timeout_ms: 5_000,
                keep_alive_secs: 75,
                trust_proxy_headers: false,
                trusted_proxies: 1,
            },
            process: ProcessSettings { http: true, workers: true, cron: true },
            database: DatabaseSettings {
                url: Secret::new("postgres://postgres@127.0.0.1:5432/smartflow"),
                max_connections: 20,
                min_connections: 1,
                acquire_timeout_ms: 5_000,
                idle_timeout_secs: 600,
                max_lifetime_secs: 1_800,
                statement_timeout_ms: 30_000,
                create_if_missing: true,
                migrate_on_start: true,
            },
            redis: RedisSettings {
                url: Secret::default(),
                pool_size: 16,
                timeout_ms: 2_000,
                key_prefix: String::new(),
            },
            modules: ModuleSettings { enabled: Vec::new() },
            telemetry: TelemetrySettings {
                log_format: LogFormat::Pretty,
                log_level: "info".into(),
                otlp_endpoint: String::new(),
                service_name: "smartflow".into(),
            },
            metrics: MetricsSettings { enabled: true, bearer_token: Secret::default() },
            health: HealthSettings { max_rss_mb: 0, max_cpu_percent: 0.0, probe_timeout_ms: 2_000 },
            rate_limit: RateLimitSettings {
                enabled: true,
                exempt: vec![
                    "/api/health".into(),
                    "/health/".into(),
                    "/metrics".into(),
                    "/static/".into(),
                ],
                groups: vec![
                    RateLimitGroup {
                        name: "api".into(),
                        prefixes: vec!["/api/".into(), "/ws/".into()],
                        methods: vec![],
                        requests: 600,
                        window_secs: 60,
                    },
                    RateLimitGroup {
                        name: "auth".into(),
                        prefixes: vec!["/api/auth/".into()],
                        methods: vec![],
                        requests: 30,
                        window_secs: 60,
                    },
                    RateLimitGroup {
                        name: "forms".into(),
                        prefixes: vec!["/api/leads".into(), "/api/contact".into()],
                        methods: vec!["POST".into()],
                        requests: 20,
                        window_secs: 60,
                    },
                    RateLimitGroup {
                        name: "pages".into(),
                        prefixes: vec!["/".into()],
                        methods: vec![],
                        requests: 1_200,
                        window_secs: 60,
                    },
                ],
            },
            security: SecuritySettings {
                encryption_key: Secret::default(),
                content_security_policy: "default-src 'self'; img-src 'self' data: https:; \
                    style-src 'self'; script-src 'self'; connect-src 'self'; \
                    frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
                    .into(),
            },
            http_client: HttpClientSettings {
                connect_timeout_ms: 5_000,
                timeout_ms: 30_000,
                user_agent: String::new(),
            },
            jobs: JobsSettings {
                queues: [
                    ("default", 16),
                    ("events", 8),
                    ("webhooks", 8),
                    ("email", 4),
                    ("ai", 8),
                    ("social", 8),
                    ("maintenance", 2),
                ]
                .into_iter()
                .map(|(q, n)| (q.to_string(), n))
                .collect(),
                poll_interval_ms: 1_000,
                connections: 4,
                heartbeat_interval_ms: 5_000,
                rescue_after_secs: 60,
                shutdown_deadline_secs: 25,
                completed_retention_hours: 24,
                dead_retention_days: 14,
                max_healthy_lag_secs: 300,
            },
            auth: AuthSettings {
                jwt_secret: Secret::default(),
                issuer: "smartflow".into(),
                audience: "smartflow-api".into(),
                access_token_ttl_secs: 900,
                session_ttl_hours: 720,
                allow_signup: true,
                argon2_memory_kib: 19_456,
                argon2_iterations: 5,
                argon2_parallelism: 1,
                max_failed_logins_per_account: 10,
                max_failed_logins_per_ip: 50,
                failed_login_window_secs: 900,
                max_password_resets_per_account: 5,
                max_password_resets_per_ip: 30,
                password_reset_window_secs: 3600,
                password_reset_ttl_mins: 60,
                invitation_ttl_hours: 168,
            },
            mail: MailSettings {
                transport: MailTransport::Log,
                from: "SmartFlow <no-reply@localhost>".into(),
                file_dir: "data/mail".into(),
                smtp_host: String::new(),
                smtp_port: 587,
                smtp_security: SmtpSecurity::Starttls,
                smtp_username: String::new(),
                smtp_password: Secret::default(),
                smtp_timeout_ms: 10_000,
            },
            webhooks: WebhookSettings {
                allow_private_targets: false,
                require_https: false,
                timeout_ms: 10_000,
                max_attempts: 10,
                disable_after_failures: 20,
                signature_tolerance_secs: 300,
                delivery_log_retention_days: 30,
            },
            events: EventSettings {
                retention_days: 90,
                live_heartbeat_secs: 15,
                live_client_timeout_secs: 45,
                live_auth_timeout_secs: 10,
                live_queue: 64,
                live_send_timeout_ms: 5_000,
            },
            storage: StorageSettings {
                backend: StorageBackend::Local,
                local_path: "data/uploads".into(),
                s3_bucket: String::new(),
                s3_region: "us-east-1".into(),
                s3_endpoint: String::new(),
                s3_access_key_id: String::new(),
                s3_secret_access_key: Secret::default(),
                s3_allow_http: false,
                signed_url_ttl_secs: 3_600,
            },
            billing: BillingSettings {
                default_plan: "free".into(),
                currency: "usd".into(),
                stripe_secret_key: Secret::default(),
                stripe_webhook_secret: Secret::default(),
                stripe_api_base: "https://api.stripe.com".into(),
                stripe_timeout_ms: 10_000,
                plans: default_plans(),
            },
            main_site: MainSiteSettings::default(),
            cron: CronSettings {
                entries: vec![CronEntry {
                    name: "prune-jobs".into(),
                    schedule: "0 17 * * * *".into(),
                    timezone: "UTC".into(),
                    job: "jobs.prune".into(),
                    enabled: true,
                }]
                .into_iter()
                .chain(social::default_cron_entries())
                .collect(),
            },
            social: social::SocialSettings::default(),
            ai: ai::AiProviderSettings::default(),
        }
    }
}

fn default_plans() -> Vec<PlanSettings> {
    let plan = |id: &str,
                name: &str,
                description: &str,
                price: i64,
                features: &[&str],
                highlighted: bool,
                limits: PlanLimits| {
        PlanSettings {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            price_cents: price,
            interval: "month".into(),
            stripe_price_id: String::new(),
            features: features.iter().map(|f| f.to_string()).collect(),
            highlighted,
            limits,
        }
    };
    vec![
        plan(
            "free",
            "Free",
            "Try SmartFlow with one person and one social account.",
            0,
            &[
                "1 team member",
                "1 social account",
                "30 scheduled posts a month",
                "100 AI messages a month",
                "1 knowledge base",
            ],
            false,
            PlanLimits {
                members: 1,
                social_accounts: 1,
                scheduled_posts_per_month: 30,
                ai_messages_per_month: 100,
                ai_images_per_month: 5,
                knowledge_bases: 1,
            },
        ),
        plan(
            "starter",
            "Starter",
            "For a small business getting organised.",
            1_900,
            &[
                "3 team members",
                "5 social accounts",
                "300 scheduled posts a month",
                "2,000 AI messages a month",
                "3 knowledge bases",
            ],
            false,
            PlanLimits {
                members: 3,
                social_accounts: 5,
                scheduled_posts_per_month: 300,
                ai_messages_per_month: 2_000,
                ai_images_per_month: 50,
                knowledge_bases: 3,
            },
        ),
        plan(
            "pro",
            "Pro",
            "For growing teams that publish every day.",
            4_900,
            &[
                "10 team members",
                "20 social accounts",
                "Unlimited scheduled posts",
                "10,000 AI messages a month",
                "A/B testing and analytics",
            ],
            true,
            PlanLimits {
                members: 10,
                social_accounts: 20,
                scheduled_posts_per_month: -1,
                ai_messages_per_month: 10_000,
                ai_images_per_month: 300,
                knowledge_bases: 20,
            },
        ),
        plan(
            "business",
            "Business",
            "Everything, without limits that get in the way.",
            14_900,
            &[
                "Unlimited team members",
                "Unlimited social accounts",
                "Unlimited posts",
                "50,000 AI messages a month",
                "Priority support",
            ],
            false,
            PlanLimits {
                members: -1,
                social_accounts: -1,
                scheduled_posts_per_month: -1,
                ai_messages_per_month: 50_000,
                ai_images_per_month: 2_000,
                knowledge_bases: -1,
            },
        ),
    ]
}

/// A secret setting: never printed by `Debug`, compared only in tests of the defaults.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value: String = value.into();
        if value.is_empty() { Secret(None) } else { Secret(Some(SecretString::from(value))) }
    }

    /// The value, or `None` when unset or empty.
    pub fn get(&self) -> Option<&str> {
        self.0.as_ref().map(|s| s.expose_secret())
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The value, or "" when unset.
    pub fn expose(&self) -> &str {
        self.get().unwrap_or("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "[redacted]" } else { "[unset]" })
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret::new(String::deserialize(d)?))
    }
}

/// Only the defaults layer serializes settings (figment merges key by key); nothing prints them.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("invalid setting {0}")]
    Figment(String),
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.into(), message: message.into() }
    }

    fn from_figment(err: figment::Error) -> Self {
        let messages: Vec<String> = err
            .into_iter()
            .map(|e| {
                let key = if e.path.is_empty() { "(root)".to_string() } else { e.path.join(".") };
                let source = match (&e.metadata, &e.profile) {
                    (Some(md), _) if md.name.contains("SMARTFLOW__") => {
                        format!(
                            " (from environment variable `SMARTFLOW__{}`)",
                            e.path.join("__").to_uppercase()
                        )
                    }
                    // figment would name `SERVER.PORT`; the operator set `PORT`.
                    (Some(md), _) if md.name == "environment variable(s)" => CONVENTIONAL_ENV
                        .iter()
                        .find(|(_, k)| *k == key)
                        .map(|(var, _)| format!(" (from environment variable `{var}`)"))
                        .unwrap_or_default(),
                    (Some(md), Some(profile)) => {
                        format!(" (from {}: `{}`)", md.name, md.interpolate(profile, &e.path))
                    }
                    (Some(md), None) => format!(" (from {})", md.name),
                    _ => String::new(),
                };
                format!("`{key}`{source}: {}", e.kind)
            })
            .collect();
        ConfigError::Figment(messages.join("; "))
    }
}

/// Where settings come from; tests point it at the repository's `config/` folder.
#[derive(Debug, Clone)]
pub struct Sources {
    pub dir: PathBuf,
    pub environment: Environment,
    /// Read `SMARTFLOW__*`, `DATABASE_URL`, `REDIS_URL` and `PORT` from the process environment.
    pub use_env: bool,
}

impl Sources {
    /// The process's own sources: `SMARTFLOW_CONFIG_DIR` (or `./config`) and `SMARTFLOW_ENV`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let environment = match std::env::var(ENVIRONMENT_VAR) {
            Ok(v) if !v.trim().is_empty() => v.parse()?,
            _ => Environment::Development,
        };
        let dir =
            std::env::var_os(CONFIG_DIR_VAR).map(PathBuf::from).unwrap_or_else(|| "config".into());
        Ok(Sources { dir, environment, use_env: true })
    }
}

impl Settings {
    pub fn load() -> Result<Settings, ConfigError> {
        Settings::load_from(&Sources::from_env()?)
    }

    pub fn figment(sources: &Sources) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(sources.dir.join("default.toml")))
            .merge(Toml::file(sources.dir.join(format!("{}.toml", sources.environment.as_str()))))
            .merge(Serialized::default("app.environment", sources.environment));
        if sources.use_env {
            for (var, key) in CONVENTIONAL_ENV {
                figment = figment.merge(Env::raw().only(&[var]).map(move |_| key.into()));
            }
            figment = figment.merge(Env::prefixed("SMARTFLOW__").split("__"));
        }
        figment
    }

    pub fn load_from(sources: &Sources) -> Result<Settings, ConfigError> {
        let settings: Settings =
            Settings::figment(sources).extract().map_err(ConfigError::from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that go beyond types: URLs parse, modules are compiled in, production has keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        parse_url("app.base_url", &self.app.base_url, &["http", "https"])?;
        parse_url("database.url", self.database.url.expose(), &["postgres", "postgresql"])?;
        if let Some(url) = self.redis.url.get() {
            parse_url("redis.url", url, &["redis", "rediss"])?;
        }
        if !self.telemetry.otlp_endpoint.is_empty() {
            parse_url(
                "telemetry.otlp_endpoint",
                &self.telemetry.otlp_endpoint,
                &["http", "https"],
            )?;
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::invalid("database.max_connections", "expected at least 1"));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(ConfigError::invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.server.trusted_proxies == 0 {
            return Err(ConfigError::invalid(
                "server.trusted_proxies",
                "expected at least 1 (the proxies in front of SmartFlow that append to X-Forwarded-For)",
            ));
        }
        if self.redis.pool_size == 0 {
            return Err(ConfigError::invalid("redis.pool_size", "expected at least 1"));
        }
        for module in &self.modules.enabled {
            if !crate::modules::compiled().contains(module) {
                return Err(ConfigError::invalid(
                    "modules.enabled",
                    format!(
                        "`{module}` is not compiled into this binary (built with: {}); rebuild with \
                         `--features {module}` or remove it",
                        crate::modules::compiled()
                            .iter()
                            .map(|m| m.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        for group in &self.rate_limit.groups {
            if let Some(m) = group
                .methods
                .iter()
                .find(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'))
            {
                return Err(ConfigError::invalid(
                    format!("rate_limit.groups[{}].methods", group.name),
                    format!("`{m}` is not an HTTP method in capitals such as \"POST\""),
                ));
            }
            if group.requests == 0 || group.window_secs == 0 {
                return Err(ConfigError::invalid(
                    format!("rate_limit.groups[{}]", group.name),
                    "requests and window_secs must both be at least 1",
                ));
            }
        }
        if self.jobs.queues.values().any(|&n| n == 0) {
            return Err(ConfigError::invalid(
                "jobs.queues",
                "every queue needs a concurrency of at least 1",
            ));
        }
        if self.jobs.connections == 0 {
            return Err(ConfigError::invalid("jobs.connections", "must be at least 1"));
        }
        if self.jobs.heartbeat_interval_ms * 2 > self.jobs.rescue_after_secs * 1000 {
            return Err(ConfigError::invalid(
                "jobs.rescue_after_secs",
                "must be at least two heartbeats (jobs.heartbeat_interval_ms) long",
            ));
        }
        if self.webhooks.max_attempts < 1 {
            return Err(ConfigError::invalid("webhooks.max_attempts", "must be at least 1"));
        }
        let ev = &self.events;
        if ev.live_heartbeat_secs == 0 || ev.live_client_timeout_secs <= ev.live_heartbeat_secs {
            return Err(ConfigError::invalid(
                "events.live_client_timeout_secs",
                "must be longer than events.live_heartbeat_secs, which must be at least 1",
            ));
        }
        if ev.live_auth_timeout_secs == 0 || ev.live_queue == 0 || ev.live_send_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "events.live_queue",
                "events.live_queue, live_auth_timeout_secs and live_send_timeout_ms must be at least 1",
            ));
        }
        for e in &self.cron.entries {
            if e.enabled && !e.schedule.trim().is_empty() {
                crate::platform::jobs::cron::parse_schedule(&e.schedule).map_err(|m| {
                    ConfigError::invalid(format!("cron.entries[{}].schedule", e.name), m)
                })?;
                crate::platform::jobs::cron::parse_timezone(&e.timezone).map_err(|m| {
                    ConfigError::invalid(format!("cron.entries[{}].timezone", e.name), m)
                })?;
            }
        }
        match self.auth.jwt_secret.get() {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::invalid(
                    "auth.jwt_secret",
                    "use at least 32 characters (e.g. `openssl rand -base64 48`)",
                ));
            }
            None if self.app.environment == Environment::Production => {
                return Err(ConfigError::invalid(
                    "auth.jwt_secret",
                    "required in production: at least 32 random characters (e.g. `openssl rand -base64 48`)",
                ));
            }
            _ => {}
        }
        if self.auth.argon2_memory_kib < 8 * self.auth.argon2_parallelism.max(1)
            || self.auth.argon2_iterations == 0
        {
            return Err(ConfigError::invalid(
                "auth.argon2_memory_kib",
                "argon2 needs at least 8 KiB per lane and 1 iteration",
            ));
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp_host.is_empty() {
            return Err(ConfigError::invalid(
                "mail.smtp_host",
                "required when mail.transport = \"smtp\"",
            ));
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3_bucket.is_empty() {
            return Err(ConfigError::invalid(
                "storage.s3_bucket",
                "required when storage.backend = \"s3\"",
            ));
        }
        if !self.billing.plans.iter().any(|p| p.id == self.billing.default_plan) {
            return Err(ConfigError::invalid(
                "billing.default_plan",
                format!("`{}` is not one of billing.plans", self.billing.default_plan),
            ));
        }
        for p in &self.billing.plans {
            if !matches!(p.interval.as_str(), "day" | "week" | "month" | "year") {
                return Err(ConfigError::invalid(
                    format!("billing.plans[{}].interval", p.id),
                    "expected Stripe's `day`, `week`, `month` or `year`",
                ));
            }
        }
        self.main_site.validate()?;
        if let Some(key) = self.security.encryption_key.get() {
            crate::platform::crypto::parse_key(key)
                .map_err(|message| ConfigError::invalid("security.encryption_key", message))?;
        } else if self.app.environment == Environment::Production {
            return Err(ConfigError::invalid(
                "security.encryption_key",
                "required in production: 32 random bytes in base64 (e.g. `openssl rand -base64 32`)",
            ));
        }
        self.social.validate()?;
        self.ai.validate()?;
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.app.environment == Environment::Production
    }
}

fn parse_url(key: &str, value: &str, schemes: &[&str]) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value)
        .map_err(|e| ConfigError::invalid(key, format!("expected a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::invalid(
            key,
            format!("expected a {} URL, got scheme `{}`", schemes.join(" or "), url.scheme()),
        ));
    }
    Ok(url)
}
