use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::spawn_app;

/// The seed's public API contract: these must be served and documented when the module is on.
pub const SEED_ROUTES: &[(&str, &str, &str)] = &[("main", "get", "/api/health")];

#[tokio::test]
async fn document_is_served_and_covers_the_seed_contract() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let compiled: Vec<&str> = smartflow::modules::compiled().iter().map(|m| m.as_str()).collect();
    for (module, method, path) in SEED_ROUTES {
        if compiled.contains(module) {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is missing from the document"
            );
        }
    }
}

#[tokio::test]
async fn every_operation_has_a_unique_id_and_an_error_response() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
            assert!(
                op["responses"]["default"].is_object(),
                "{method} {path} documents no error response"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
        }
    }
}

/// `smartflow openapi` prints the very document the server serves, for the same modules.
async fn assert_cli_prints_the_served_document(
    app: &crate::helpers::TestApp,
    env: &[(&str, &str)],
) {
    let res = app.get("/api-docs/openapi.json").await;
    assert_eq!(res.status(), 200);
    let served: Value = res.json().await.unwrap();
    let out = crate::cli::smartflow().envs(env.iter().copied()).arg("openapi").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed["paths"].as_object().is_some_and(|p| !p.is_empty()));
    assert!(printed == served, "`smartflow openapi` differs from /api-docs/openapi.json");
}

#[tokio::test]
async fn cli_document_matches_the_served_one() {
    let app = spawn_app().await;
    assert_cli_prints_the_served_document(&app, &[]).await;
}

#[cfg(feature = "ai")]
#[tokio::test]
async fn cli_document_matches_the_served_one_for_fewer_modules() {
    use smartflow::config::Module;
    let app = crate::helpers::spawn_app_with(crate::helpers::CacheKind::Memory, |s| {
        s.modules.enabled = vec![Module::Ai];
    })
    .await;
    assert_cli_prints_the_served_document(&app, &[("SMARTFLOW__MODULES__ENABLED", r#"["ai"]"#)])
        .await;
    let doc: Value = app.get("/api-docs/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/ai/info"]["get"].is_object());
    assert!(doc["paths"].get("/api/main/info").is_none(), "only the enabled module's routes");
}

/// Every route handler in `src/` carries `#[utoipa::path]`, so `.service()` documents it, or
/// says why not with a `// not-in-openapi: <reason>` line (HTML pages, static files).
#[test]
fn every_route_handler_is_documented_or_exempted() {
    let mut missing = Vec::new();
    let mut seen = 0;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    visit(std::path::Path::new(root), &mut |file, text| {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let l = line.trim();
            if !["#[get(", "#[post(", "#[put(", "#[patch(", "#[delete("]
                .iter()
                .any(|p| l.starts_with(p))
            {
                continue;
            }
            seen += 1;
            let block: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .take_while(|l| {
                    let t = l.trim();
                    !t.is_empty() && !t.ends_with('}') && !t.ends_with(';')
                })
                .copied()
                .collect();
            let ok = block
                .iter()
                .any(|l| l.contains("utoipa::path") || l.contains("// not-in-openapi:"));
            if !ok {
                missing.push(format!("{}:{} {}", file.display(), i + 1, l));
            }
        }
    });
    assert!(seen > 0, "the scan found no handlers; has the route macro style changed?");
    assert!(
        missing.is_empty(),
        "handlers neither documented nor exempted:\n{}",
        missing.join("\n")
    );
}

fn visit(dir: &std::path::Path, f: &mut dyn FnMut(&std::path::Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            f(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}
