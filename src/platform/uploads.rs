//! File uploads (`/api/uploads`): type checked by content, size bounded, stored in object
//! storage, described in `smartflow_shared.uploads`; media served to platforms through signed
//! links (`/media/{id}`). Videos are measured on the way in (length and picture size, see
//! `video`), so platform rules on them apply when a post is scheduled.

use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::{HttpResponse, delete, get, http::header, post, web};
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

mod sniff;
mod video;

pub use sniff::sniff;

use crate::{
    error::{AppError, PageError},
    platform::{
        auth::{Authorized, Read, Write},
        crypto::sha256_hex,
        events::{Event, record_event},
        storage::{self, MEDIA_KEY_LABEL, StorageError},
    },
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Upload {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Pixel size of images and videos (videos as displayed, rotation applied).
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Length of videos in milliseconds, from the file's movie header.
    pub duration_ms: Option<i64>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub storage_key: String,
    /// A public link that expires (storage.signed_url_ttl_secs), for platforms that fetch media.
    #[sqlx(skip)]
    pub url: Option<String>,
}

/// The multipart form: one `file` part.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

const COLUMNS: &str = "id, filename, content_type, size_bytes, sha256, width, height, duration_ms, created_by, created_at, storage_key";

fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("file");
    let clean: String = base
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(120)
        .collect();
    let clean = clean.trim_matches('.').to_string();
    if clean.is_empty() { "file".into() } else { clean }
}

fn with_url(state: &AppState, mut u: Upload) -> Upload {
    let ttl = Duration::from_secs(state.settings.storage.signed_url_ttl_secs);
    u.url = Some(storage::signed_media_url(
        &state.settings.app.base_url,
        &state.cipher.derive_key(MEDIA_KEY_LABEL),
        u.id,
        ttl,
    ));
    u
}

/// Reads the uploaded file, stores it and records it. Shared by modules that accept files.
pub async fn store(
    state: &AppState,
    who: &crate::platform::auth::Principal,
    filename: &str,
    bytes: bytes::Bytes,
) -> Result<Upload, AppError> {
    let content_type = sniff(&bytes, filename).ok_or_else(|| {
        AppError::validation(
            "file",
            "unsupported_type",
            "Upload a JPEG, PNG, GIF or WebP image, an MP4 or MOV video, a PDF, or a UTF-8 text file.",
        )
    })?;
    if bytes.is_empty() {
        return Err(AppError::validation("file", "empty", "The file is empty."));
    }
    let (width, height, duration_ms) = if content_type.starts_with("image/") {
        match imagesize::blob_size(&bytes) {
            Ok(size) => (Some(size.width as i32), Some(size.height as i32), None),
            Err(_) => {
                return Err(AppError::validation(
                    "file",
                    "corrupt_image",
                    "The image could not be read; it may be damaged.",
                ));
            }
        }
    } else if content_type.starts_with("video/") {
        let Some(v) = video::probe(&bytes) else {
            return Err(AppError::validation(
                "file",
                "corrupt_video",
                "The video has no readable movie header; it may be damaged or incomplete. \
                 Export it again as MP4 (or MOV).",
            ));
        };
        let dim = |d: Option<u32>| d.and_then(|d| i32::try_from(d).ok());
        (dim(v.width), dim(v.height), v.duration_ms.and_then(|d| i64::try_from(d).ok()))
    } else {
        (None, None, None)
    };
    let id = Uuid::new_v4();
    let name = sanitize(filename);
    let key = format!("workspaces/{}/uploads/{id}/{name}", who.workspace_id);
    let size = bytes.len() as i64;
    let digest = sha256_hex(&bytes);
    state.storage.put(&key, bytes).await.map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    let mut tx = state.db.begin().await?;
    let upload: Upload = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into smartflow_shared.uploads (id, workspace_id, created_by, filename, content_type, size_bytes, sha256, storage_key, width, height, duration_ms) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning {COLUMNS}"
    )))
    .bind(id)
    .bind(who.workspace_id)
    .bind(who.user_id)
    .bind(&name)
    .bind(content_type)
    .bind(size)
    .bind(&digest)
    .bind(&key)
    .bind(width)
    .bind(height)
    .bind(duration_ms)
    .fetch_one(&mut *tx)
    .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new(
            "upload.created",
            "upload",
            id,
            json!({ "filename": name, "content_type": content_type, "size_bytes": size,
                    "duration_ms": duration_ms }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(with_url(state, upload))
}

/// Uploads one file (`multipart/form-data`, part `file`). The type is detected from the
/// content; the size limit is `server.upload_limit_bytes`.
#[utoipa::path(
    tag = "uploads",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Upload), (status = 413), (status = 422)),
    security(("bearer" = []), ("api_key" = []), ("session_cookie" = []))
)]
#[post("/api/uploads")]
pub async fn create_upload(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    mut form: Multipart,
) -> Result<HttpResponse, AppError> {
    let limit = state.settings.server.upload_limit_bytes;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| {
            AppError::BadRequest(format!("The multipart body could not be read: {e}."))
        })?;
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or("file")
            .to_string();
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|e| AppError::BadRequest(format!("The upload was interrupted: {e}.")))?;
            if buf.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge(format!(
                    "Files may be at most {} MB.",
                    limit / (1024 * 1024)
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        let upload = store(&state, &who, &filename, buf.freeze()).await?;
        return Ok(HttpResponse::Created().json(upload));
    }
    Err(AppError::validation(
        "file",
        "required",
        "Send the file as a `file` part of a multipart/form-data body.",
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Uploads created before this instant (the `created_at` of the last item of a page).
    pub before: Option<DateTime<Utc>>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// Uploads of the workspace, newest first.
#[utoipa::path(tag = "uploads", params(UploadQuery), responses((status = 200, body = Vec<Upload>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/uploads")]
pub async fn list_uploads(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    q: web::Query<UploadQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = crate::http::pagination::page_size(q.limit)?;
    let rows: Vec<Upload> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.uploads where workspace_id = $1 \
         and ($2::timestamptz is null or created_at < $2) order by created_at desc limit $3"
    )))
    .bind(who.workspace_id)
    .bind(q.before)
    .bind(limit)
    .fetch_all(&state.db)
    .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(|u| with_url(&state, u)).collect::<Vec<_>>()))
}

pub async fn find(state: &AppState, workspace: Uuid, id: Uuid) -> Result<Upload, AppError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.uploads where id = $1 and workspace_id = $2"
    )))
    .bind(id)
    .bind(workspace)
    .fetch_optional(&state.db)
    .await?
    .map(|u| with_url(state, u))
    .ok_or_else(|| AppError::not_found("Upload"))
}

/// One upload's details, with a fresh signed link.
#[utoipa::path(tag = "uploads", params(("id" = Uuid, Path)), responses((status = 200, body = Upload)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/uploads/{id}")]
pub async fn get_upload(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(find(&state, who.workspace_id, *id).await?))
}

fn file_response(upload: &Upload, bytes: bytes::Bytes, inline: bool) -> HttpResponse {
    // Only media render inline; anything else (HTML!) downloads, in a sandbox.
    let inline = inline
        && (upload.content_type.starts_with("image/") || upload.content_type.starts_with("video/"));
    let disposition = if inline { "inline" } else { "attachment" };
    HttpResponse::Ok()
        .content_type(upload.content_type.as_str())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{}\"", upload.filename),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(bytes)
}

/// The file itself.
#[utoipa::path(tag = "uploads", params(("id" = Uuid, Path)), responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[get("/api/uploads/{id}/content")]
pub async fn download_upload(
    state: web::Data<AppState>,
    who: Authorized<Read>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let upload = find(&state, who.workspace_id, *id).await?;
    let bytes = state.storage.get(&upload.storage_key).await.map_err(|e| match e {
        StorageError::NotFound => {
            AppError::NotFound("The file's content is missing from storage.".into())
        }
        other => AppError::internal(anyhow::anyhow!("{other}")),
    })?;
    Ok(file_response(&upload, bytes, false))
}

/// Deletes an upload and its stored file (admins, or the user who uploaded it).
#[utoipa::path(tag = "uploads", params(("id" = Uuid, Path)), responses((status = 204)), security(("bearer" = []), ("api_key" = []), ("session_cookie" = [])))]
#[delete("/api/uploads/{id}")]
pub async fn delete_upload(
    state: web::Data<AppState>,
    who: Authorized<Write>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let upload = find(&state, who.workspace_id, *id).await?;
    who.ensure_can_delete(upload.created_by)?;
    let mut tx = state.db.begin().await?;
    sqlx::query("delete from smartflow_shared.uploads where id = $1 and workspace_id = $2")
        .bind(upload.id)
        .bind(who.workspace_id)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut tx,
        &who.actor(),
        Event::new("upload.deleted", "upload", upload.id, json!({ "filename": upload.filename })),
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = state.storage.delete(&upload.storage_key).await {
        tracing::warn!(error = %e, upload = %upload.id, "stored file not deleted; it is orphaned");
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct MediaQuery {
    expires: i64,
    sig: String,
}

// not-in-openapi: signed public media links, fetched by social platforms
#[get("/media/{id}")]
pub async fn public_media(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    q: web::Query<MediaQuery>,
) -> Result<HttpResponse, PageError> {
    if !storage::verify_media_signature(
        &state.cipher.derive_key(MEDIA_KEY_LABEL),
        *id,
        q.expires,
        &q.sig,
    ) {
        return Err(AppError::NotFound("This link is invalid or has expired.".into()).into());
    }
    let upload: Upload = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from smartflow_shared.uploads where id = $1"
    )))
    .bind(*id)
    .fetch_optional(&state.db)
    .await
    .map_err(AppError::from)?
    .ok_or_else(|| AppError::NotFound("This file no longer exists.".into()))?;
    let bytes = state
        .storage
        .get(&upload.storage_key)
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(file_response(&upload, bytes, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_made_safe() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("C:\\photos\\my cat.jpg"), "my_cat.jpg");
        assert_eq!(sanitize("..."), "file");
        assert_eq!(sanitize("\"q\";.png"), "_q__.png");
    }
}
