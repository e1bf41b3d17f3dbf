//! `GET /api/forms/token`: the signed timestamp for forms drawn by scripts or other sites.

use actix_web::{HttpResponse, get, http::header, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct FormToken {
    /// Send as `form_token` with the lead or contact form.
    pub token: String,
    /// Send the form no sooner than this many seconds from now…
    pub submit_after_secs: u64,
    /// …and no later than this.
    pub expires_in_secs: u64,
}

/// A form token: public forms must be sent with one that is old enough and not expired.
#[utoipa::path(tag = "main", responses((status = 200, body = FormToken)))]
#[get("/api/forms/token")]
pub async fn issue_form_token(state: web::Data<AppState>) -> HttpResponse {
    let s = &state.settings.main_site;
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(FormToken {
        token: super::new_token(&state),
        submit_after_secs: s.min_fill_secs,
        expires_in_secs: s.form_max_age_secs,
    })
}
