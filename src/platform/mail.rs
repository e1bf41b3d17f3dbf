//! E-mail: a `Mailer` with SMTP (lettre, STARTTLS or TLS), file and log transports. Mail is
//! sent by the `mail.send` job, enqueued in the transaction of the change that causes it; the
//! body is encrypted in the job's arguments (it may hold a reset link).

use std::{path::PathBuf, time::Duration};

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::{
    config::{MailSettings, MailTransport, SmtpSecurity},
    error::AppError,
    platform::jobs::{self, Job, JobContext, JobError, JobResult, NewJob, Outcome},
    state::AppState,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub reply_to: Option<String>,
}

impl OutgoingEmail {
    pub fn text(to: &str, subject: &str, text: String) -> Self {
        OutgoingEmail { to: to.into(), subject: subject.into(), text, html: None, reply_to: None }
    }

    fn message(&self, from: &str) -> Result<Message, String> {
        let from: Mailbox =
            from.parse().map_err(|e| format!("invalid setting `mail.from`: {e}"))?;
        let to: Mailbox =
            self.to.parse().map_err(|e| format!("invalid recipient `{}`: {e}", self.to))?;
        let mut builder = Message::builder().from(from).to(to).subject(&self.subject);
        if let Some(reply) = &self.reply_to {
            builder =
                builder.reply_to(reply.parse().map_err(|e| format!("invalid reply-to: {e}"))?);
        }
        let message = match &self.html {
            Some(html) => builder
                .multipart(MultiPart::alternative_plain_html(self.text.clone(), html.clone())),
            None => builder.singlepart(
                SinglePart::builder().header(ContentType::TEXT_PLAIN).body(self.text.clone()),
            ),
        };
        message.map_err(|e| format!("could not build the message: {e}"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message itself is wrong (bad address): retrying will not help.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Transport(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: String,
}

impl SmtpMailer {
    pub fn new(s: &MailSettings) -> Result<Self, MailError> {
        let builder = match s.smtp_security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.smtp_host),
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.smtp_host)
            }
            SmtpSecurity::None => {
                Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host))
            }
        }
        .map_err(|e| MailError::Transport(format!("SMTP setup failed: {e}")))?;
        let mut builder =
            builder.port(s.smtp_port).timeout(Some(Duration::from_millis(s.smtp_timeout_ms)));
        if s.smtp_security == SmtpSecurity::None {
            builder = builder.tls(Tls::None);
        } else if s.smtp_security == SmtpSecurity::Starttls {
            let params = TlsParameters::new(s.smtp_host.clone())
                .map_err(|e| MailError::Transport(e.to_string()))?;
            builder = builder.tls(Tls::Required(params));
        }
        if !s.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.smtp_username.clone(),
                s.smtp_password.expose().to_string(),
            ));
        }
        Ok(SmtpMailer { transport: builder.build(), from: s.from.clone() })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = email.message(&self.from).map_err(MailError::Invalid)?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                MailError::Invalid(format!("the mail server refused the message: {e}"))
            } else {
                MailError::Transport(format!("SMTP delivery failed: {e}"))
            }
        })
    }
}

/// Writes each message as an `.eml` file (development: read sign-up and reset mails).
pub struct FileMailer {
    dir: PathBuf,
    from: String,
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = email.message(&self.from).map_err(MailError::Invalid)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| MailError::Transport(format!("{}: {e}", self.dir.display())))?;
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
            uuid::Uuid::new_v4().simple()
        );
        tokio::fs::write(self.dir.join(name), message.formatted())
            .await
            .map_err(|e| MailError::Transport(format!("could not write the message: {e}")))
    }
}

/// Logs that a message would be sent (recipient and subject only: bodies may hold secrets).
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        tracing::info!(to = %email.to, subject = %email.subject, "e-mail (log transport; set mail.transport to send)");
        Ok(())
    }
}

pub fn from_settings(s: &MailSettings) -> Result<Box<dyn Mailer>, MailError> {
    Ok(match s.transport {
        MailTransport::Smtp => Box::new(SmtpMailer::new(s)?),
        MailTransport::File => {
            Box::new(FileMailer { dir: PathBuf::from(&s.file_dir), from: s.from.clone() })
        }
        MailTransport::Log => Box::new(LogMailer),
    })
}

const CONTEXT: &str = "mail.send";

/// Queues `email` in the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    state: &AppState,
    email: OutgoingEmail,
) -> Result<(), AppError> {
    queue(conn, state, email, None).await
}

/// Queues `email` about a person's record (`"lead:<id>"`), so that erasing the record can
/// also remove the queued, failed or sent copies ([`forget`]).
pub async fn enqueue_regarding(
    conn: &mut PgConnection,
    state: &AppState,
    email: OutgoingEmail,
    regarding: &str,
) -> Result<(), AppError> {
    queue(conn, state, email, Some(regarding.to_string())).await
}

async fn queue(
    conn: &mut PgConnection,
    state: &AppState,
    email: OutgoingEmail,
    regarding: Option<String>,
) -> Result<(), AppError> {
    let json = serde_json::to_string(&email).map_err(AppError::internal)?;
    let sealed = state.cipher.encrypt(&json, CONTEXT).map_err(AppError::internal)?;
    let job = NewJob::of(&SendEmail { sealed, regarding }).map_err(AppError::internal)?;
    jobs::insert(conn, job).await?;
    Ok(())
}

/// Removes the e-mail jobs queued with [`enqueue_regarding`] for `regarding`, whatever their
/// state; one being sent right now keeps running but loses its copy of the message. Returns
/// how many jobs were touched.
pub async fn forget(conn: &mut PgConnection, regarding: &str) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(
        "delete from smartflow_shared.jobs \
         where kind = $1 and args->>'regarding' = $2 and state <> 'running'",
    )
    .bind(SendEmail::KIND)
    .bind(regarding)
    .execute(&mut *conn)
    .await?;
    let redacted = sqlx::query(
        "update smartflow_shared.jobs set args = jsonb_build_object('regarding', $2::text) \
         where kind = $1 and args->>'regarding' = $2 and state = 'running'",
    )
    .bind(SendEmail::KIND)
    .bind(regarding)
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected() + redacted.rows_affected())
}

#[derive(Serialize, Deserialize)]
pub struct SendEmail {
    /// The `OutgoingEmail`, encrypted.
    sealed: String,
    /// The record the message is about, in the clear so erasure can find it (an id, never
    /// personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regarding: Option<String>,
}

#[async_trait]
impl Job for SendEmail {
    const KIND: &'static str = "mail.send";
    const QUEUE: &'static str = "email";
    const MAX_ATTEMPTS: i32 = 12;

    async fn run(self, ctx: JobContext) -> JobResult {
        let json = ctx.state.cipher.decrypt(&self.sealed, CONTEXT).map_err(JobError::permanent)?;
        let email: OutgoingEmail = serde_json::from_str(&json).map_err(JobError::permanent)?;
        match ctx.state.mailer.send(&email).await {
            Ok(()) => Ok(Outcome::Done),
            Err(MailError::Invalid(m)) => Err(JobError::permanent(anyhow::anyhow!(m))),
            Err(MailError::Transport(m)) => Err(anyhow::anyhow!(m).into()),
        }
    }
}
