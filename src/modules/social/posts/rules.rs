//! Each target platform's rules, checked when a post is scheduled (text length counted as the
//! platform counts it, media count, size, type and aspect ratio, links), so a post is refused
//! now with the platform and rule named, not at publish time.

use super::{RuleWarning, input::Plan};
use crate::{
    error::{AppError, FieldError},
    modules::social::{
        Social,
        platforms::{MediaInfo, PostDraft, RuleViolation},
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

pub fn media_info(upload: &Upload, alt: Option<&str>) -> MediaInfo {
    let mut info = MediaInfo::new(upload.content_type.clone(), upload.size_bytes.max(0) as u64);
    if let (Some(w), Some(h)) = (upload.width, upload.height) {
        info = info.with_dimensions(w.max(0) as u32, h.max(0) as u32);
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
    let mut platforms: Vec<_> = plan.accounts.iter().map(|a| a.platform).collect();
    platforms.sort();
    platforms.dedup();
    let mut out = Checked { errors: Vec::new(), warnings: Vec::new() };
    for p in platforms {
        let variant = plan.variants.get(p.as_str());
        let draft = PostDraft {
            text: variant.cloned().unwrap_or_else(|| plan.content.clone()),
            media: media.clone(),
            first_comment: plan.first_comment.clone(),
        };
        for v in social.registry.get(p).validate(&draft) {
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
    Ok(out)
}
