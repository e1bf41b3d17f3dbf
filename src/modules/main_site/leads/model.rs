//! Leads as the API shows them, and the status workflow.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Where a lead stands: new → contacted → qualified → won | lost, or spam at any point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum LeadStatus {
    New,
    Contacted,
    Qualified,
    Won,
    Lost,
    Spam,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 6] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Won,
        LeadStatus::Lost,
        LeadStatus::Spam,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Won => "won",
            LeadStatus::Lost => "lost",
            LeadStatus::Spam => "spam",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LeadStatus::New => "New",
            LeadStatus::Contacted => "Contacted",
            LeadStatus::Qualified => "Qualified",
            LeadStatus::Won => "Won",
            LeadStatus::Lost => "Lost",
            LeadStatus::Spam => "Spam",
        }
    }

    pub fn parse(s: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The statuses a lead may move to from this one. A lost lead can be reopened, and one marked
    /// as spam by mistake goes back to new; a won lead is final.
    pub fn next(self) -> &'static [LeadStatus] {
        use LeadStatus::*;
        match self {
            New => &[Contacted, Qualified, Lost, Spam],
            Contacted => &[Qualified, Won, Lost, Spam],
            Qualified => &[Won, Lost, Spam],
            Won => &[],
            Lost => &[Contacted],
            Spam => &[New],
        }
    }

    pub fn can_become(self, to: LeadStatus) -> bool {
        self == to || self.next().contains(&to)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Lead {
    pub id: Uuid,
    pub name: String,
    /// Trimmed and lower-cased as it was parsed (the same value as `email_normalized`, on
    /// which duplicates are found).
    pub email: String,
    pub company: Option<String>,
    /// Where the lead came from, e.g. `homepage`, `demo`, `webinar-2026`.
    pub source: Option<String>,
    pub phone: Option<String>,
    /// The first submission's message; later ones are in the history.
    pub message: Option<String>,
    /// Agreed to receive news (the time is `consent_at`).
    pub consent: bool,
    pub consent_at: Option<DateTime<Utc>>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
    pub status: LeadStatus,
    /// The staff member who follows the lead up.
    pub owner_id: Option<Uuid>,
    pub notes: String,
    /// How many times the form was sent with this e-mail address.
    pub submission_count: i32,
    pub last_submitted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const LEAD_COLUMNS: &str = "id, name, email, company, source, phone, message, consent, consent_at, \
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_page, status, \
    owner_id, notes, submission_count, last_submitted_at, created_at, updated_at";

/// One entry of a lead's history, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct LeadHistoryEntry {
    pub id: i64,
    /// `submitted`, `status_changed`, `owner_changed` or `notes_changed`.
    pub kind: String,
    pub actor_user_id: Option<Uuid>,
    /// For `submitted`: the fields of that submission; for changes: `from` and `to`.
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadDetail {
    #[serde(flatten)]
    pub lead: Lead,
    pub history: Vec<LeadHistoryEntry>,
    /// Statuses the lead may move to next.
    pub next_statuses: Vec<LeadStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadPage {
    pub items: Vec<Lead>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters shared by the list, the CSV export and the admin table.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadFilter {
    /// `new`, `contacted`, `qualified`, `won`, `lost` or `spam`.
    pub status: Option<String>,
    pub source: Option<String>,
    /// Created on or after this day (UTC), `YYYY-MM-DD`.
    pub from: Option<NaiveDate>,
    /// Created on or before this day (UTC), `YYYY-MM-DD`.
    pub to: Option<NaiveDate>,
    /// Words found in the name, e-mail address or company.
    pub q: Option<String>,
    pub owner_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// A change to a lead; absent fields stay as they are, `owner_id: null` removes the owner.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    pub status: Option<LeadStatus>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<Option<Uuid>>,
    /// Replaces the notes (at most 10,000 characters).
    pub notes: Option<String>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_moves_forward_and_allows_the_two_ways_back() {
        use LeadStatus::*;
        assert!(
            New.can_become(Contacted)
                && Contacted.can_become(Qualified)
                && Qualified.can_become(Won)
        );
        assert!(New.can_become(Spam) && Qualified.can_become(Lost));
        assert!(Lost.can_become(Contacted) && Spam.can_become(New));
        assert!(!Won.can_become(Lost) && !New.can_become(Won) && !Lost.can_become(Won));
        assert!(Won.can_become(Won), "setting the same status is a no-op");
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let p: LeadPatch = serde_json::from_str(r#"{"owner_id": null}"#).unwrap();
        assert_eq!(p.owner_id, Some(None));
        let p: LeadPatch = serde_json::from_str(r#"{"notes": "x"}"#).unwrap();
        assert_eq!(p.owner_id, None);
        assert!(serde_json::from_str::<LeadPatch>(r#"{"status": "bogus"}"#).is_err());
    }
}
