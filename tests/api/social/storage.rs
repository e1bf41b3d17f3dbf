//! Media in S3-compatible object storage: the same upload, download, public link and delete
//! as with the local folder, against a real S3 endpoint (`moto_server`, PyPI `moto[server]`,
//! installed by `scripts/test`). The test starts and stops its own server; it is skipped only
//! when `moto_server` is not installed.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use object_store::{ObjectStore, ObjectStoreExt, aws::AmazonS3Builder, path::Path};
use reqwest::Method;
use serde_json::Value;
use smartflow::config::{Secret, StorageBackend};

use super::{create_post, received, setup_with, target_state, x_account};
use crate::helpers::tiny_png;

/// A running `moto_server`, killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Option<Moto> {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("moto_server did not start: {e}"),
    };
    let moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.get(&moto.url).send().await.is_ok() {
            return Some(moto);
        }
        assert!(Instant::now() < deadline, "moto_server did not answer within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client of our own on the bucket, to see what really landed in S3.
fn s3(moto: &Moto, bucket: &str) -> impl ObjectStore {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_endpoint(&moto.url)
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap()
}

#[tokio::test]
async fn media_round_trips_through_s3_and_reaches_the_platform() {
    let Some(moto) = start_moto().await else {
        eprintln!("skipped: moto_server is not installed (scripts/ensure-moto installs it)");
        return;
    };
    let bucket = "smartflow-media";
    let http = reqwest::Client::new();
    let created = http.put(format!("{}/{bucket}", moto.url)).send().await.unwrap();
    assert!(created.status().is_success(), "bucket: {}", created.status());
    let endpoint = moto.url.clone();
    let s = setup_with(move |st| {
        st.storage.backend = StorageBackend::S3;
        st.storage.s3_bucket = bucket.into();
        st.storage.s3_region = "us-east-1".into();
        st.storage.s3_endpoint = endpoint;
        st.storage.s3_access_key_id = "testing".into();
        st.storage.s3_secret_access_key = Secret::new("testing");
        st.storage.s3_allow_http = true;
    })
    .await;
    assert_eq!(s.app.state.storage.backend(), "s3");

    let png = tiny_png();
    let res = s.app.upload(&s.owner.token, "photo.png", &png).await;
    assert_eq!(res.status(), 201);
    let up: Value = res.json().await.unwrap();
    let id = up["id"].as_str().unwrap().to_string();
    // The object is in the bucket, under the workspace's prefix.
    let key = format!("workspaces/{}/uploads/{id}/photo.png", s.owner.workspace_id);
    let bucket_store = s3(&moto, bucket);
    let stored = bucket_store.get(&Path::from(key.as_str())).await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().to_vec(), png);
    // Read back through the API and through the signed public link platforms fetch.
    let res = s.app.get_as(&format!("/api/uploads/{id}/content"), &s.owner.token).await;
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);
    let link = up["url"].as_str().unwrap().replace(&s.app.settings.app.base_url, &s.app.address);
    let res = s.app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);

    // Publishing reads the bytes from S3 and uploads them to the platform.
    let x = x_account(&s, "t").await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/2/media/upload"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": { "id": "1880028106020515841", "media_key": "3_1880028106020515841",
                      "processing_info": null }
        })))
        .mount(&s.fake)
        .await;
    super::mount_tweet(&s.fake, super::tweet_created("77")).await;
    let post = create_post(
        &s,
        serde_json::json!({ "content": "From S3", "targets": [x], "media_ids": [id], "publish_now": true }),
    )
    .await;
    let target = post["targets"][0]["id"].as_str().unwrap().to_string();
    s.app.run_jobs().await;
    assert_eq!(target_state(&s.app, &target).await, "confirmed");
    let uploads = received(&s.fake, "POST", "/2/media/upload").await;
    let sent: Value = serde_json::from_slice(&uploads[0].body).unwrap();
    assert_eq!(sent["media"], STANDARD.encode(&png), "the platform got the file's bytes");

    // Deleting the upload removes the object.
    let res =
        s.app.send_as(Method::DELETE, &format!("/api/uploads/{id}"), &s.owner.token, None).await;
    assert_eq!(res.status(), 204);
    let gone = bucket_store.get(&Path::from(key.as_str())).await;
    assert!(matches!(gone, Err(object_store::Error::NotFound { .. })), "{gone:?}");
}
