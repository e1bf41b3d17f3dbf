use serde_json::Value;
use smartflow::config::Module;

use crate::helpers::{CacheKind, spawn_app_with};

const INFO: [(Module, &str); 4] = [
    (Module::Main, "/api/main/info"),
    (Module::Ai, "/api/ai/info"),
    (Module::Social, "/api/social/info"),
    (Module::SocialAi, "/api/social-ai/info"),
];

#[tokio::test]
async fn every_compiled_module_is_mounted_by_default() {
    let app = spawn_app_with(CacheKind::Memory, |_| {}).await;
    for (module, path) in INFO {
        let res = app.get(path).await;
        if smartflow::modules::compiled().contains(&module) {
            assert_eq!(res.status(), 200, "{path}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["module"], module.as_str());
        } else {
            assert_eq!(res.status(), 404, "{path} is not compiled in");
        }
    }
}

#[tokio::test]
async fn modules_can_be_switched_off_at_run_time() {
    let Some(&first) = smartflow::modules::compiled().first() else { return };
    let app = spawn_app_with(CacheKind::Memory, |s| s.modules.enabled = vec![first]).await;
    for (module, path) in INFO {
        let expected = if module == first { 200 } else { 404 };
        assert_eq!(app.get(path).await.status(), expected, "{path}");
    }
    // The document lists only what is served.
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    for (module, path) in INFO {
        assert_eq!(doc["paths"].get(path).is_some(), module == first, "{path}");
    }
}
