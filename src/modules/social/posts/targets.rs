//! Which accounts a post goes to: `targets` (account ids), or every connected account on the
//! seed's `platforms`, or (on update) the stored ones, checked again.

use uuid::Uuid;

use super::input::{Plan, PostInput, TargetAccount};
use crate::{
    error::{AppError, Validator},
    modules::social::{accounts, platforms::Platform},
    state::AppState,
};

const MAX_TARGETS: usize = 50;

pub async fn resolve(
    state: &AppState,
    workspace: Uuid,
    input: &PostInput,
    base: Option<&Plan>,
    v: &mut Validator,
) -> Result<Vec<TargetAccount>, AppError> {
    let all = accounts::list(&state.db, workspace, true).await?;
    let mut out: Vec<TargetAccount> = Vec::new();
    let mut push = |a: &accounts::Account, p: Platform| {
        if !out.iter().any(|t| t.id == a.id) {
            out.push(TargetAccount::of(a, p));
        }
    };
    let wanted: Option<Vec<Platform>> = match &input.platforms {
        Some(list) => {
            let mut ps = Vec::new();
            for (i, raw) in list.iter().enumerate() {
                match raw.parse::<Platform>() {
                    Ok(p) => ps.push(p),
                    Err(e) => v.add(format!("platforms.{i}"), "unknown_platform", e.to_string()),
                }
            }
            Some(ps)
        }
        None => None,
    };
    // Without new targets or platforms, the stored accounts are checked again (one may have
    // been disconnected since).
    let stored: Option<Vec<Uuid>> = match (&input.targets, &wanted, base) {
        (None, None, Some(b)) => Some(b.accounts.iter().map(|a| a.id).collect()),
        _ => None,
    };
    match (input.targets.as_ref().or(stored.as_ref()), &wanted) {
        (Some(ids), _) => {
            if ids.len() > MAX_TARGETS {
                v.add(
                    "targets",
                    "too_many",
                    format!("Use at most {MAX_TARGETS} accounts per post."),
                );
            }
            for (i, id) in ids.iter().enumerate() {
                let field = format!("targets.{i}");
                match all.iter().find(|a| a.id == *id) {
                    None => v.add(field, "not_found", "No linked account has this id."),
                    Some(a) if a.status == "disconnected" => v.add(
                        field,
                        "disconnected",
                        "This account was disconnected; link it again.",
                    ),
                    Some(a) if a.status == "needs_reauth" => v.add(
                        field,
                        "needs_reauth",
                        "This account must be reconnected before posts can go out to it.",
                    ),
                    Some(a) => match a.platform.parse::<Platform>() {
                        Ok(p) => push(a, p),
                        Err(e) => return Err(AppError::internal(e)),
                    },
                }
            }
            if let Some(ps) = &wanted {
                for (i, p) in ps.iter().enumerate() {
                    if !out.iter().any(|a| a.platform == *p) {
                        v.add(
                            format!("platforms.{i}"),
                            "no_target",
                            format!("No target account is on {}.", p.name()),
                        );
                    }
                }
            }
        }
        (None, Some(ps)) => {
            for (i, p) in ps.iter().enumerate() {
                let matching: Vec<_> = all
                    .iter()
                    .filter(|a| a.platform == p.as_str() && a.status == "active")
                    .collect();
                if matching.is_empty() {
                    v.add(
                        format!("platforms.{i}"),
                        "no_account",
                        format!("Link a {} account first (POST /api/accounts).", p.name()),
                    );
                }
                for a in matching {
                    push(a, *p);
                }
            }
        }
        (None, None) => v.add(
            "targets",
            "required",
            "Choose the accounts to publish to (`targets` or `platforms`).",
        ),
    }
    Ok(out)
}
