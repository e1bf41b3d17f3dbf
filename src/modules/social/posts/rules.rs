//! Each target platform's rules, checked when a post is scheduled (text length counted as the
//! platform counts it, media count, size, type and aspect ratio, links), so a post is refused
//! now with the platform and rule named, not at publish time.

use chrono::{DateTime, Utc};

use super::{
    RuleWarning,
    input::{Plan, When},
};
use crate::{
    error::{AppError, FieldError},
    modules::social::{
        Social,
        platforms::{MediaInfo, Platform, PostDraft, RuleViolation, limits},
    },
    platform::uploads::Upload,
    state::AppState,
};

pub struct Checked {
    /// Violations that block scheduling: field, code `<platform>.<rule>`, message.
    pub errors: Vec<FieldError>,
    /// Everything found, blocking or not, for the response.
    pub warnings: Vec<RuleWarning>,
}

/// What the rules know of an upload: type, size, pixels, and a video's length (measured when
/// it was uploaded). Shared with publishing, so both check the same facts.
pub fn media_info(upload: &Upload, alt: Option<&str>) -> MediaInfo {
    let mut info = MediaInfo::new(upload.content_type.clone(), upload.size_bytes.max(0) as u64);
    if let (Some(w), Some(h)) = (upload.width, upload.height) {
        info = info.with_dimensions(w.max(0) as u32, h.max(0) as u32);
    }
    if let Some(ms) = upload.duration_ms.and_then(|d| u64::try_from(d).ok()) {
        info = info.with_duration_ms(ms);
    }
    if let Some(alt) = alt.filter(|a| !a.trim().is_empty()) {
        info = info.with_alt_text(alt);
    }
    info
}

/// The request field a violation is about: the platform's variant or the shared content,
/// `first_comment`, or the attachment by position.
fn field_of(v: &RuleViolation, uses_variant: bool) -> String {
    match v.field.as_str() {
        "text" if uses_variant => format!("variants.{}", v.platform.as_str()),
        "text" => "content".into(),
        "first_comment" => "first_comment".into(),
        other => match other.strip_prefix("media[").and_then(|r| r.strip_suffix(']')) {
            Some(i) => format!("media_ids.{i}"),
            None => "media_ids".into(),
        },
    }
}

pub fn check(state: &AppState, plan: &Plan, uploads: &[Upload]) -> Result<Checked, AppError> {
    let social = state.ext::<Social>()?;
    let media: Vec<MediaInfo> = uploads
        .iter()
        .zip(&plan.media)
        .map(|(u, r)| media_info(u, r.alt_text.as_deref()))
        .collect();
    // One check per platform, or per text limit where accounts have their own (Mastodon
    // instances say theirs).
    let mut checks: Vec<(Platform, Option<usize>)> =
        plan.accounts.iter().map(|a| (a.platform, a.max_characters)).collect();
    checks.sort();
    checks.dedup();
    let mut out = Checked { errors: Vec::new(), warnings: Vec::new() };
    for (p, own_limit) in checks {
        let variant = plan.variants.get(p.as_str());
        let draft = PostDraft {
            text: variant.cloned().unwrap_or_else(|| plan.content.clone()),
            media: media.clone(),
            first_comment: plan.first_comment.clone(),
        };
        let violations = match (p, own_limit) {
            (Platform::Mastodon, Some(n)) => limits::mastodon(n).validate(&draft),
            _ => social.registry.get(p).validate(&draft),
        };
        for v in violations {
            let field = field_of(&v, variant.is_some());
            let message = format!("{}: {}", p.name(), v.message);
            if v.is_blocking() {
                out.errors.push(FieldError::new(
                    field.clone(),
                    format!("{}.{}", p.as_str(), v.rule.as_str()),
                    message.clone(),
                ));
            }
            out.warnings.push(RuleWarning {
                platform: p.as_str().into(),
                rule: v.rule.as_str().into(),
                field,
                message,
            });
        }
    }
    if let When::At(due) = plan.when {
        expiry_warnings(plan, due, &mut out.warnings);
    }
    Ok(out)
}

/// Accounts whose access ends before the post is due (a token that cannot be refreshed):
/// the post is accepted, but the person hears now that it needs a reconnection first.
fn expiry_warnings(plan: &Plan, due: DateTime<Utc>, out: &mut Vec<RuleWarning>) {
    for (i, a) in plan.accounts.iter().enumerate() {
        let Some(ends) = a.access_ends_at.filter(|ends| *ends < due) else { continue };
        let who = a.username.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        out.push(RuleWarning {
            platform: a.platform.as_str().into(),
            rule: "access_expires".into(),
            field: format!("targets.{i}"),
            message: format!(
                "{name}: SmartFlow's access to the account{who} ends on {ends} UTC, before this \
                 post is due, and {name} does not let SmartFlow renew it: reconnect the account \
                 before then or the post will not go out.",
                name = a.platform.name(),
                ends = ends.format("%Y-%m-%d %H:%M"),
            ),
        });
    }
}
