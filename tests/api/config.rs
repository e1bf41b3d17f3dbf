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

    let err = load_with("[jobs]\nconnections = 0").unwrap_err();
    assert!(err.contains("jobs.connections") && err.contains("at least 1"), "{err}");
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

/// The block of `check-config`'s output that starts with `opening` (`redis: RedisSettings {`).
fn printed_block<'a>(text: &'a str, opening: &str) -> &'a str {
    let start = text.find(opening).unwrap_or_else(|| panic!("no `{opening}` in {text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n    },").unwrap_or(rest.len())]
}

/// The real process-environment path: the binary's `check-config` with variables set, so the
/// variables the operator writes are the ones read (the test process's environment is untouched).
#[test]
fn the_process_environment_sets_keys_and_names_them_when_wrong() {
    let check = |vars: &[(&str, &str)]| {
        let mut cmd = crate::cli::smartflow();
        cmd.envs(vars.iter().copied()).arg("check-config");
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text, String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let (code, files_only, _) = check(&[]);
    assert_eq!(code, Some(0));
    assert!(printed_block(&files_only, "redis: RedisSettings {").contains("url: [unset],"));
    assert!(printed_block(&files_only, "server: ServerSettings {").contains("port: 0,"));

    let (code, text, err) = check(&[
        ("PORT", "4321"),
        ("REDIS_URL", "redis://cache.example:6379"),
        ("DATABASE_URL", "postgres://app@db.example:5432/smartflow"),
        ("SMARTFLOW__DATABASE__MAX_CONNECTIONS", "40"),
        ("SMARTFLOW__RATE_LIMIT__EXEMPT", r#"["/health/"]"#),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(printed_block(&text, "server: ServerSettings {").contains("port: 4321,"), "{text}");
    assert!(printed_block(&text, "redis: RedisSettings {").contains("url: [redacted],"), "{text}");
    let database = printed_block(&text, "database: DatabaseSettings {");
    assert!(database.contains("max_connections: 40,"), "{database}");
    let rate_limit = printed_block(&text, "rate_limit: RateLimitSettings {");
    assert!(
        rate_limit.contains("exempt: [\n            \"/health/\",\n        ],"),
        "{rate_limit}"
    );
    // `SMARTFLOW__SERVER__PORT` is the more specific of the two.
    let (_, text, _) = check(&[("PORT", "4321"), ("SMARTFLOW__SERVER__PORT", "4400")]);
    assert!(printed_block(&text, "server: ServerSettings {").contains("port: 4400,"), "{text}");

    // A wrong value stops with EX_CONFIG, naming the key (and the variable when figment knows).
    for (var, value, names) in [
        ("PORT", "eighty", &["`server.port`", "`PORT`"][..]),
        ("DATABASE_URL", "mysql://db.example/smartflow", &["`database.url`", "postgres"][..]),
        ("REDIS_URL", "http://cache.example", &["`redis.url`", "redis"][..]),
        (
            "SMARTFLOW__SERVER__BODY_LIMIT_BYTES",
            "big",
            &["`server.body_limit_bytes`", "`SMARTFLOW__SERVER__BODY_LIMIT_BYTES`"][..],
        ),
    ] {
        let (code, _, err) = check(&[(var, value)]);
        assert_eq!(code, Some(78), "{var}={value}: {err}");
        for name in names {
            assert!(err.contains(name), "{var}={value} should name {name}: {err}");
        }
        assert!(!err.contains("SERVER.PORT"), "names a variable nobody set: {err}");
    }
}
