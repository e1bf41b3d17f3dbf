use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_problem, header, spawn_app, spawn_app_with, tiny_png};

#[tokio::test]
async fn images_are_stored_typed_by_content_and_served() {
    let app = spawn_app().await;
    let user = app.signup("uploader@example.com").await;
    let png = tiny_png();
    let res = app.upload(&user.token, "../../photo.jpg", &png).await;
    assert_eq!(res.status(), 201);
    let up: Value = res.json().await.unwrap();
    assert_eq!(up["content_type"], "image/png", "the content decides, not the name");
    assert_eq!(up["filename"], "photo.jpg");
    assert_eq!((up["width"].as_i64(), up["height"].as_i64()), (Some(3), Some(2)));
    assert_eq!(up["size_bytes"], png.len());
    let id = up["id"].as_str().unwrap();

    let res = app.get_as(&format!("/api/uploads/{id}/content"), &user.token).await;
    assert_eq!(res.status(), 200);
    assert!(header(res.headers(), "content-disposition").starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);

    // The signed public link works without credentials, until tampered with.
    let url = up["url"].as_str().unwrap().replace(&app.settings.app.base_url, &app.address);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(res.headers(), "content-type"), "image/png");
    let tampered = url.replace("sig=", "sig=0");
    assert_eq!(app.client.get(&tampered).send().await.unwrap().status(), 404);

    let list: Value = app.get_as("/api/uploads", &user.token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        app.send_as(Method::DELETE, &format!("/api/uploads/{id}"), &user.token, None)
            .await
            .status(),
        204
    );
    assert_problem(app.get_as(&format!("/api/uploads/{id}"), &user.token).await, 404).await;
}

#[tokio::test]
async fn unknown_types_empty_and_oversized_files_are_refused() {
    let app =
        spawn_app_with(crate::helpers::CacheKind::Memory, |s| s.server.upload_limit_bytes = 1024)
            .await;
    let user = app.signup("strict@example.com").await;
    let body = assert_problem(
        app.upload(&user.token, "x.exe", &[0x4d, 0x5a, 0x90, 0x00, 0xff, 0xfe]).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "unsupported_type");
    let body = assert_problem(
        app.upload(&user.token, "broken.png", b"\x89PNG\r\n\x1a\nnot really").await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "corrupt_image");
    assert_problem(app.upload(&user.token, "big.txt", &vec![b'a'; 4096]).await, 413).await;
    let res = app
        .client
        .post(app.url("/api/uploads"))
        .bearer_auth(&user.token)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "file");
}

#[tokio::test]
async fn uploads_belong_to_their_workspace() {
    let app = spawn_app().await;
    let a = app.signup("ua@example.com").await;
    let b = app.signup("ub@example.com").await;
    let up: Value = app.upload(&a.token, "notes.md", b"# Notes").await.json().await.unwrap();
    let id = up["id"].as_str().unwrap();
    assert_problem(app.get_as(&format!("/api/uploads/{id}"), &b.token).await, 404).await;
    assert_problem(app.get_as(&format!("/api/uploads/{id}/content"), &b.token).await, 404).await;
    assert_problem(
        app.send_as(Method::DELETE, &format!("/api/uploads/{id}"), &b.token, None).await,
        404,
    )
    .await;
    let list: Value = app.get_as("/api/uploads", &b.token).await.json().await.unwrap();
    assert!(list.as_array().unwrap().is_empty());
    // A viewer may read but not upload; a user may delete only their own.
    let viewer = app.member(&a, "uv@example.com", "viewer").await;
    assert_eq!(app.get_as(&format!("/api/uploads/{id}"), &viewer.token).await.status(), 200);
    assert_problem(app.upload(&viewer.token, "x.txt", b"hi").await, 403).await;
    let user = app.member(&a, "uu@example.com", "user").await;
    assert_problem(
        app.send_as(Method::DELETE, &format!("/api/uploads/{id}"), &user.token, None).await,
        403,
    )
    .await;
}
