//! Dashboard pages: chat (over the WebSocket) and knowledge bases. Both are thin shells; the
//! script in `static/js/ai.js` talks to the JSON API with the session cookie.

use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;

use crate::{
    error::PageError,
    http::page::{CachePolicy, Layout, render},
    platform::auth::{csrf::CsrfToken, pages::SignedIn},
    state::AppState,
};

#[derive(Template)]
#[template(path = "ai/chat.html")]
struct ChatPage {
    layout: Layout,
    agents: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "ai/knowledge.html")]
struct KnowledgePage {
    layout: Layout,
    can_write: bool,
}

fn layout(title: &str, path: &str, csrf: &CsrfToken, who: &SignedIn) -> Layout {
    Layout::new(format!("{title} — SmartFlow"), title, path)
        .private()
        .with_csrf(&csrf.0)
        .with_user(Some(&who.0))
}

// not-in-openapi: HTML page
#[get("/app/chat")]
pub async fn chat_page(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    who: SignedIn,
) -> Result<HttpResponse, PageError> {
    let agents: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "select id, name from smartflow_ai.agents where workspace_id = $1 order by name limit 200",
    )
    .bind(who.0.workspace_id)
    .fetch_all(&state.db)
    .await
    .map_err(crate::error::AppError::from)?;
    let page = ChatPage {
        layout: layout("AI chat", "/app/chat", &csrf, &who),
        agents: agents.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}

// not-in-openapi: HTML page
#[get("/app/knowledge")]
pub async fn knowledge_page(csrf: CsrfToken, who: SignedIn) -> Result<HttpResponse, PageError> {
    let can_write = who.0.has(crate::platform::auth::Permission::Write)
        || who.0.has(crate::platform::auth::Permission::WriteOwn);
    let page = KnowledgePage {
        layout: layout("Knowledge bases", "/app/knowledge", &csrf, &who),
        can_write,
    };
    render(&page, StatusCode::OK, CachePolicy::NoStore)
}
