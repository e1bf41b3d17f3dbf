//! The post body accepted by create and update, parsed once into a [`Plan`]: accounts
//! resolved, uploads found, the time placed on the timeline in its timezone, and each target
//! platform's rules checked.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    MediaRef, RuleWarning,
    rules::{self, Checked},
    when::{parse_tz, parse_when},
};
use crate::{
    error::{AppError, Validator},
    modules::social::{accounts, platforms::Platform},
    platform::uploads::{self, Upload},
    state::AppState,
};

const MAX_CONTENT: usize = 100_000;
const MAX_COMMENT: usize = 10_000;
const MAX_MEDIA: usize = 20;

/// A post to create, or the fields to change (absent fields stay as they are).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
pub struct PostInput {
    /// The text (seed field), used on every platform without a variant.
    pub content: Option<String>,
    /// Platforms (seed field). Without `targets`: every connected account on these platforms.
    pub platforms: Option<Vec<String>>,
    /// Linked account ids to publish to.
    pub targets: Option<Vec<Uuid>>,
    /// Text per platform, e.g. `{"x": "A shorter version"}`.
    pub variants: Option<BTreeMap<String, String>>,
    /// Upload ids (`POST /api/uploads`), in order; shorthand for `media` without alt text.
    pub media_ids: Option<Vec<Uuid>>,
    /// Uploads with alt text, in order.
    pub media: Option<Vec<MediaRef>>,
    /// Posted right after the post (a reply or a comment, depending on the platform).
    pub first_comment: Option<String>,
    /// When to publish (seed field): an instant with an offset (`2026-03-29T09:00:00+02:00`)
    /// or a local date-time (`2026-03-29T09:00`) read in `timezone`. Absent: a draft.
    pub scheduled_at: Option<String>,
    /// IANA timezone for a local `scheduled_at`; default the workspace's.
    pub timezone: Option<String>,
    /// Publish as soon as possible.
    pub publish_now: Option<bool>,
    /// Use the first free recurring time slot of the first target account.
    pub queue: Option<bool>,
}

/// When a post goes out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    Draft,
    At(DateTime<Utc>),
}

/// A target account, as far as planning cares.
#[derive(Debug, Clone)]
pub struct TargetAccount {
    pub id: Uuid,
    pub platform: Platform,
    pub username: Option<String>,
    /// When SmartFlow loses access unless the owner reconnects (see `accounts::expiry`).
    pub access_ends_at: Option<DateTime<Utc>>,
    /// The account's own text limit (a Mastodon instance's), when known.
    pub max_characters: Option<usize>,
}

impl TargetAccount {
    pub fn new(id: Uuid, platform: Platform) -> Self {
        TargetAccount { id, platform, username: None, access_ends_at: None, max_characters: None }
    }

    pub fn of(account: &accounts::Account, platform: Platform) -> Self {
        TargetAccount {
            id: account.id,
            platform,
            username: account.username.clone(),
            access_ends_at: accounts::expiry::access_ends_at(account),
            max_characters: account.max_characters.and_then(|n| usize::try_from(n).ok()),
        }
    }
}

/// A post ready to store.
#[derive(Debug, Clone)]
pub struct Plan {
    pub content: String,
    pub accounts: Vec<TargetAccount>,
    pub variants: BTreeMap<String, String>,
    pub media: Vec<MediaRef>,
    pub first_comment: Option<String>,
    pub when: When,
    pub timezone: Tz,
    pub warnings: Vec<RuleWarning>,
}

impl Plan {
    pub fn platforms(&self) -> Vec<String> {
        let mut p: Vec<String> =
            self.accounts.iter().map(|a| a.platform.as_str().to_string()).collect();
        p.sort();
        p.dedup();
        p
    }
}

/// For a `queue: true` post being stored in `conn`'s transaction: takes the queue's first
/// free slot under the queue's lock (the time `plan` found may have been taken meanwhile).
pub async fn take_queue_slot(
    conn: &mut sqlx::PgConnection,
    input: &PostInput,
    plan: &mut Plan,
) -> Result<(), AppError> {
    let (Some(true), When::At(_), Some(first)) = (input.queue, plan.when, plan.accounts.first())
    else {
        return Ok(());
    };
    match accounts::slots::take_free(conn, first.id, Utc::now()).await? {
        Some(at) => {
            plan.when = When::At(at);
            Ok(())
        }
        None => Err(AppError::validation(
            "queue",
            "no_slots",
            "This account's time slots are all taken; add some, or give `scheduled_at`.",
        )),
    }
}

pub async fn workspace_tz(state: &AppState, workspace: Uuid) -> Result<Tz, AppError> {
    let tz: String =
        sqlx::query_scalar("select timezone from smartflow_shared.workspaces where id = $1")
            .bind(workspace)
            .fetch_one(&state.db)
            .await?;
    Ok(parse_tz(&tz).unwrap_or(Tz::UTC))
}

fn text_field(v: &mut Validator, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    let raw = raw?;
    if raw.chars().count() > max {
        v.add(field, "too_long", format!("Use at most {max} characters."));
        return None;
    }
    if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        v.add(field, "invalid_characters", "Remove control characters.");
        return None;
    }
    Some(raw.to_string())
}

/// Parses `input` over `base` (the stored post, for updates). `scheduling` says whether the
/// post is meant to go out: then platform rules block; for drafts they only warn.
pub async fn plan(
    state: &AppState,
    workspace: Uuid,
    input: &PostInput,
    base: Option<&Plan>,
) -> Result<Plan, AppError> {
    let mut v = Validator::new();
    let content = match (&input.content, base) {
        (Some(c), _) => text_field(&mut v, "content", Some(c), MAX_CONTENT).unwrap_or_default(),
        (None, Some(b)) => b.content.clone(),
        (None, None) => {
            v.add("content", "required", "Write the post's text (it may be empty with media).");
            String::new()
        }
    };
    let first_comment = match (&input.first_comment, base) {
        (Some(c), _) => text_field(&mut v, "first_comment", Some(c), MAX_COMMENT)
            .filter(|c| !c.trim().is_empty()),
        (None, Some(b)) => b.first_comment.clone(),
        (None, None) => None,
    };
    let timezone = match (&input.timezone, base) {
        (Some(raw), _) => v.check("timezone", parse_tz(raw)).unwrap_or(Tz::UTC),
        (None, Some(b)) => b.timezone,
        (None, None) => workspace_tz(state, workspace).await?,
    };
    let accounts = super::targets::resolve(state, workspace, input, base, &mut v).await?;
    let variants = match (&input.variants, base) {
        (Some(map), _) => {
            let mut out = BTreeMap::new();
            for (key, text) in map {
                let field = format!("variants.{key}");
                match key.parse::<Platform>() {
                    Ok(p) if accounts.iter().any(|a| a.platform == p) => {
                        if let Some(t) = text_field(&mut v, &field, Some(text), MAX_CONTENT) {
                            out.insert(p.as_str().to_string(), t);
                        }
                    }
                    Ok(p) => {
                        v.add(field, "no_target", format!("No target account is on {}.", p.name()))
                    }
                    Err(e) => v.add(field, "unknown_platform", e.to_string()),
                }
            }
            out
        }
        (None, Some(b)) => b.variants.clone(),
        (None, None) => BTreeMap::new(),
    };
    let media_refs: Option<Vec<MediaRef>> = match (&input.media, &input.media_ids) {
        (Some(_), Some(_)) => {
            v.add("media", "conflict", "Send either `media` or `media_ids`, not both.");
            None
        }
        (Some(m), None) => Some(m.clone()),
        (None, Some(ids)) => {
            Some(ids.iter().map(|id| MediaRef { upload_id: *id, alt_text: None }).collect())
        }
        (None, None) => None,
    };
    let (media, uploads) = match (media_refs, base) {
        (Some(refs), _) => load_uploads(state, workspace, refs, &mut v).await,
        (None, Some(b)) => load_uploads(state, workspace, b.media.clone(), &mut v).await,
        (None, None) => (Vec::new(), Vec::new()),
    };
    let when = schedule(state, input, base, timezone, &accounts, &mut v).await?;
    let draft = Plan {
        content,
        accounts,
        variants,
        media,
        first_comment,
        when,
        timezone,
        warnings: Vec::new(),
    };
    let Checked { errors, warnings } = rules::check(state, &draft, &uploads)?;
    let plan = Plan { warnings, ..draft };
    if plan.when != When::Draft {
        for e in errors {
            v.add(e.field, &e.code, e.message);
        }
    }
    v.finish()?;
    Ok(plan)
}

async fn load_uploads(
    state: &AppState,
    workspace: Uuid,
    refs: Vec<MediaRef>,
    v: &mut Validator,
) -> (Vec<MediaRef>, Vec<Upload>) {
    if refs.len() > MAX_MEDIA {
        v.add("media_ids", "too_many", format!("Attach at most {MAX_MEDIA} files."));
        return (Vec::new(), Vec::new());
    }
    let mut uploads = Vec::with_capacity(refs.len());
    let mut kept = Vec::with_capacity(refs.len());
    for (i, r) in refs.into_iter().enumerate() {
        let field = format!("media_ids.{i}");
        match uploads::find(state, workspace, r.upload_id).await {
            Ok(u)
                if u.content_type.starts_with("image/") || u.content_type.starts_with("video/") =>
            {
                if r.alt_text.as_ref().is_some_and(|a| a.chars().count() > 5_000) {
                    v.add(
                        format!("media.{i}.alt_text"),
                        "too_long",
                        "Use at most 5000 characters.",
                    );
                }
                uploads.push(u);
                kept.push(r);
            }
            Ok(u) => v.add(
                field,
                "unsupported_type",
                format!("{} cannot be posted; attach images or videos.", u.content_type),
            ),
            Err(_) => v.add(
                field,
                "not_found",
                "No upload has this id (upload it with POST /api/uploads).",
            ),
        }
    }
    (kept, uploads)
}

async fn schedule(
    state: &AppState,
    input: &PostInput,
    base: Option<&Plan>,
    tz: Tz,
    accounts: &[TargetAccount],
    v: &mut Validator,
) -> Result<When, AppError> {
    let now = Utc::now();
    let chosen =
        [input.scheduled_at.is_some(), input.publish_now == Some(true), input.queue == Some(true)]
            .iter()
            .filter(|b| **b)
            .count();
    if chosen > 1 {
        v.add("scheduled_at", "conflict", "Use one of `scheduled_at`, `publish_now` and `queue`.");
        return Ok(When::Draft);
    }
    if input.publish_now == Some(true) {
        return Ok(When::At(now));
    }
    if input.queue == Some(true) {
        let Some(first) = accounts.first() else { return Ok(When::Draft) };
        let mut conn = state.db.acquire().await?;
        let next = accounts::slots::next_free(&mut conn, first.id, now, 1).await?;
        return Ok(match next.first() {
            Some(at) => When::At(*at),
            None => {
                v.add(
                    "queue",
                    "no_slots",
                    "This account has no time slots; add some, or give `scheduled_at`.",
                );
                When::Draft
            }
        });
    }
    let Some(raw) = &input.scheduled_at else {
        return Ok(base.map_or(When::Draft, |b| b.when));
    };
    if raw.trim().is_empty() {
        return Ok(When::Draft);
    }
    let Some(at) = v.check("scheduled_at", parse_when(raw, tz)) else { return Ok(When::Draft) };
    if at < now - chrono::Duration::minutes(1) {
        v.add(
            "scheduled_at",
            "in_the_past",
            "This time has passed; choose a later one or use `publish_now`.",
        );
    } else if at > now + chrono::Duration::days(730) {
        v.add("scheduled_at", "too_far", "Schedule at most two years ahead.");
    }
    Ok(When::At(at))
}
