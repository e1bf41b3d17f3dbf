//! Posts: one text (with per-platform variants), media, an optional first comment and a time,
//! published to one or more linked accounts ("targets"). The seed's `posts` columns are kept
//! (`content`, `platforms`, `scheduled_at`, `published_at`, `created_at`), as `timestamptz`.

pub mod edit;
pub mod input;
pub mod publish_now;
pub mod repo;
pub mod routes;
pub mod rules;
pub mod targets;
pub mod when;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An attachment: an upload (`POST /api/uploads`) and its description for screen readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaRef {
    pub upload_id: Uuid,
    pub alt_text: Option<String>,
}

/// A post and where it goes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Post {
    pub id: Uuid,
    /// The text, used on every platform without a variant.
    pub content: String,
    /// Platforms of the targets.
    pub platforms: Vec<String>,
    /// When it is (or was) due; `null` for drafts.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// `scheduled_at` as a local time in `timezone`, with its offset.
    pub scheduled_local: Option<String>,
    /// The IANA timezone the time was given in.
    pub timezone: String,
    /// When the first target was confirmed.
    pub published_at: Option<DateTime<Utc>>,
    /// `draft`, `scheduled`, `publishing`, `published`, `partially_published`, `failed` or
    /// `cancelled`.
    pub status: String,
    /// Text per platform, e.g. `{"x": "…"}`.
    pub variants: BTreeMap<String, String>,
    pub media: Vec<MediaRef>,
    pub first_comment: Option<String>,
    pub created_by: Option<Uuid>,
    pub duplicated_from: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub targets: Vec<TargetView>,
}

/// One (post, account) delivery and its state in the publishing ledger.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TargetView {
    pub id: Uuid,
    #[serde(skip)]
    pub post_id: Uuid,
    pub account_id: Uuid,
    pub platform: String,
    pub account_username: Option<String>,
    /// `draft`, `scheduled`, `claimed`, `sent`, `confirmed`, `unconfirmed`, `failed` or
    /// `cancelled`.
    pub state: String,
    pub due_at: Option<DateTime<Utc>>,
    /// After a temporary failure: the next try.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// `auth`, `permission`, `rate_limited`, `validation`, `media`, `duplicate`,
    /// `transient`, `unknown_outcome` or `config`.
    pub last_error_class: Option<String>,
    /// What to do about the last problem, for people.
    pub hint: Option<String>,
    /// First comment: `posted` or `failed`.
    pub comment_state: Option<String>,
    pub comment_hint: Option<String>,
    /// Times the sweeper found it overdue and re-queued it.
    pub alarm_count: i32,
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<Attempt>>,
}

/// One try, as the ledger recorded it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Attempt {
    #[serde(skip)]
    pub target_id: Uuid,
    pub attempt: i32,
    /// `publish` or `reconcile` (reading recent posts after an unknown outcome).
    pub kind: String,
    /// SmartFlow's id of this try (in its logs).
    pub request_id: Uuid,
    /// The platform's own id of its request (`x-transaction-id`, `x-fb-trace-id`,
    /// `x-li-uuid`, `x-request-id`) when it sent one; quote it to the platform's support.
    pub platform_request_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `in_flight`, `confirmed`, `reconciled`, `not_found`, `error` or `unknown`.
    pub outcome: String,
    pub error_class: Option<String>,
    pub remote_code: Option<String>,
    pub http_status: Option<i32>,
    /// The platform's answer with secrets removed.
    pub response: Option<String>,
    pub hint: Option<String>,
    pub message: Option<String>,
    pub retry_after_ms: Option<i64>,
}

/// A rule a platform would not accept, or warns about, named by platform and rule code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleWarning {
    pub platform: String,
    pub rule: String,
    pub field: String,
    pub message: String,
}

/// What creating or changing a post answers: the post and the platforms' warnings.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostResponse {
    #[serde(flatten)]
    pub post: Post,
    pub warnings: Vec<RuleWarning>,
}
