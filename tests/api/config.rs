use figment::providers::{Format, Toml};
use serde_json::Value;
use smartflow::{
    Settings,
    config::{Environment, Module, Sources},
};

fn config_dir() -> std::path::PathBuf {
    concat!(env!("CARGO_MANIFEST_DIR"), "/config").into()
}

#[test]
fn default_toml_matches_settings_default() {
    // Every key in the file, with the same value as in code, and nothing else.
    let from_file: Value = figment::Figment::from(Toml::file(config_dir().join("default.toml")))
        .extract()
        .expect("config/default.toml parses");
    let from_code = serde_json::to_value(Settings::default()).unwrap();
    assert_eq!(
        from_file, from_code,
        "config/default.toml and Settings::default() differ; update one to match the other"
    );
}

#[test]
fn every_environment_file_loads() {
    for env in [Environment::Development, Environment::Test, Environment::Production] {
        let sources = Sources { dir: config_dir(), environment: env, use_env: false };
        let result = Settings::load_from(&sources);
        if env == Environment::Production {
            // Production refuses to start without its own secrets.
            let err = result.unwrap_err().to_string();
            assert!(err.contains("required in production"), "{err}");
        } else {
            assert_eq!(result.unwrap().app.environment, env);
        }
    }
}

fn load_with(toml: &str) -> Result<Settings, String> {
    let dir = std::env::temp_dir().join(format!("smartflow-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("test.toml"), toml).unwrap();
    let result = Settings::load_from(&Sources {
        dir: dir.clone(),
        environment: Environment::Test,
        use_env: false,
    })
    .map_err(|e| e.to_string());
    std::fs::remove_dir_all(&dir).ok();
    result
}

#[test]
fn wrong_settings_name_the_key_and_the_expected_form() {
    let err = load_with("[server]\nport = \"eighty\"").unwrap_err();
    assert!(err.contains("server.port"), "{err}");
    assert!(err.contains("u16") || err.contains("integer"), "{err}");

    let err = load_with("[database]\nurl = \"mysql://localhost/db\"").unwrap_err();
    assert!(err.contains("database.url") && err.contains("postgres"), "{err}");

    let err = load_with("[telemetry]\nlog_format = \"xml\"").unwrap_err();
    assert!(err.contains("telemetry.log_format") && err.contains("json"), "{err}");

    let err = load_with("[server]\nprot = 3000").unwrap_err();
    assert!(err.contains("prot"), "unknown keys are refused: {err}");

    let err = load_with("[security]\nencryption_key = \"c2hvcnQ=\"").unwrap_err();
    assert!(err.contains("security.encryption_key") && err.contains("32 bytes"), "{err}");

    let err = load_with("[modules]\nenabled = [\"crm\"]").unwrap_err();
    assert!(err.contains("modules.enabled"), "{err}");
}

#[test]
fn environment_variables_override_files() {
    let sources = Sources { dir: config_dir(), environment: Environment::Test, use_env: false };
    let settings: Settings = Settings::figment(&sources)
        .merge(figment::providers::Serialized::default("server.port", 4321))
        .merge(figment::providers::Serialized::default("modules.enabled", vec!["main"]))
        .extract()
        .unwrap();
    assert_eq!(settings.server.port, 4321);
    assert_eq!(settings.modules.enabled, vec![Module::Main]);
    // Sibling keys keep their defaults when one key is overridden.
    assert_eq!(settings.server.body_limit_bytes, Settings::default().server.body_limit_bytes);
}

#[test]
fn secrets_are_not_printed() {
    let mut settings = Settings::default();
    settings.database.url = smartflow::config::Secret::new("postgres://user:hunter2@db/smartflow");
    let printed = format!("{settings:?}");
    assert!(!printed.contains("hunter2"));
    assert!(printed.contains("[redacted]"));
}

#[test]
fn production_needs_its_own_secrets() {
    let mut settings = Settings::default();
    settings.app.environment = Environment::Production;
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("auth.jwt_secret"), "{err}");
    settings.auth.jwt_secret = smartflow::config::Secret::new("j".repeat(48));
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("security.encryption_key"), "{err}");
    settings.security.encryption_key =
        smartflow::config::Secret::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
    settings.validate().unwrap();
    settings.auth.jwt_secret = smartflow::config::Secret::new("short");
    assert!(settings.validate().unwrap_err().to_string().contains("at least 32"));
}
