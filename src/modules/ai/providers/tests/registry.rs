use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
};
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use super::{super::*, support::*};
use crate::config::Secret;

/// The `[ai]` section as it belongs in `config/default.toml`; it must equal the defaults.
const DEFAULT_TOML: &str = r#"
[ai]
fallback = []                        # empty: every configured provider (openai, anthropic, gemini, then endpoints)
connect_timeout_ms = 5000

[ai.openai]
api_key = ""                         # empty = not configured
base_url = "https://api.openai.com"
organization = ""
chat_model = "gpt-4.1-mini"
embedding_model = "text-embedding-3-small"
image_model = "gpt-image-1"
timeout_ms = 120000
stream_idle_timeout_ms = 90000
max_retries = 2
retry_base_delay_ms = 500
max_retry_delay_ms = 20000

[ai.anthropic]
api_key = ""
base_url = "https://api.anthropic.com"
organization = ""
chat_model = "claude-sonnet-4-6"
embedding_model = ""
image_model = ""
timeout_ms = 120000
stream_idle_timeout_ms = 90000
max_retries = 2
retry_base_delay_ms = 500
max_retry_delay_ms = 20000

[ai.gemini]
api_key = ""
base_url = "https://generativelanguage.googleapis.com"
organization = ""
chat_model = "gemini-2.5-flash"
embedding_model = "gemini-embedding-001"
image_model = "gemini-2.5-flash-image"
timeout_ms = 120000
stream_idle_timeout_ms = 90000
max_retries = 2
retry_base_delay_ms = 500
max_retry_delay_ms = 20000
"#;

fn load(toml: &str) -> Result<AiProviderSettings, Box<figment::Error>> {
    Figment::from(Serialized::defaults(json!({"ai": AiProviderSettings::default()})))
        .merge(Toml::string(toml))
        .extract_inner("ai")
        .map_err(Box::new)
}

#[test]
fn the_documented_toml_is_the_default() {
    let from_toml: AiProviderSettings =
        Figment::from(Toml::string(DEFAULT_TOML)).extract_inner("ai").unwrap();
    assert_eq!(from_toml, AiProviderSettings::default());
}

#[test]
fn an_endpoint_needs_only_a_name_and_a_url() {
    let settings = load(
        "[[ai.openai_compatible]]\nname = \"ollama\"\nbase_url = \"http://localhost:11434\"\nchat_model = \"llama3.1\"\n",
    )
    .unwrap();
    let endpoint = &settings.openai_compatible[0];
    assert_eq!(endpoint.name, "ollama");
    assert!(endpoint.stream_usage);
    assert!(!endpoint.supports_embeddings);
    assert_eq!(endpoint.timeout_ms, 120_000);
    assert!(!endpoint.api_key.is_set());
    assert_eq!(settings.openai, AiProviderSettings::default().openai);
    assert!(load("[ai.openai]\napi_kye = \"x\"\n").is_err(), "typos in keys must be reported");
}

#[tokio::test]
async fn with_nothing_configured_the_error_names_the_settings_to_set() {
    let registry =
        ProviderRegistry::from_settings(&AiProviderSettings::default(), client()).unwrap();

    assert_eq!(
        registry.configured(),
        vec![("openai".into(), false), ("anthropic".into(), false), ("gemini".into(), false)]
    );
    let message = registry.default_provider().err().unwrap().to_string();
    assert!(
        message.contains("ai.openai.api_key") && message.contains("[[ai.openai_compatible]]"),
        "{message}"
    );
    let message = registry.get("anthropic").err().unwrap().to_string();
    assert_eq!(
        message,
        "the AI provider `anthropic` is not configured: set `ai.anthropic.api_key`"
    );
    assert!(matches!(registry.get("mistral"), Err(RegistryError::Unknown(_))));
}

fn completion(model: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1}
    }))
}

#[tokio::test]
async fn the_default_chain_follows_the_fallback_order_and_skips_unconfigured_providers() {
    let openai_server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion("gpt-4.1-mini"))
        .mount(&openai_server)
        .await;
    let ollama_server = MockServer::start().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&ollama_server)
        .await;
    let settings = AiProviderSettings {
        openai: ProviderSettings {
            api_key: Secret::new(KEY),
            base_url: openai_server.uri(),
            max_retries: 0,
            ..ProviderSettings::default()
        },
        openai_compatible: vec![CompatibleSettings {
            name: "ollama".into(),
            base_url: ollama_server.uri(),
            chat_model: "llama3.1".into(),
            max_retries: 0,
            ..CompatibleSettings::default()
        }],
        fallback: vec!["ollama".into(), "anthropic".into(), "openai".into()],
        ..AiProviderSettings::default()
    };

    let registry = ProviderRegistry::from_settings(&settings, client()).unwrap();
    let provider = registry.default_provider().unwrap();
    let answer = provider.chat(&hello()).await.unwrap();

    assert_eq!(provider.kind(), ProviderKind::Fallback);
    assert_eq!(
        registry.configured(),
        vec![
            ("openai".into(), true),
            ("anthropic".into(), false),
            ("gemini".into(), false),
            ("ollama".into(), true)
        ]
    );
    assert_eq!(answer.usage.provider, "openai");
    assert_eq!(requests(&ollama_server).await.len(), 1, "ollama is asked first");
    // An empty model setting means the built-in default.
    assert_eq!(body_of(&openai_server, 0).await["model"], "gpt-4.1-mini");
    assert_eq!(registry.get("ollama").unwrap().kind(), ProviderKind::OpenAiCompatible);
    assert_eq!(registry.chain(&["openai"]).unwrap().kind(), ProviderKind::OpenAi);
    assert!(matches!(
        registry.chain(&["openai", "gemini"]),
        Err(RegistryError::NotConfigured { .. })
    ));
}

#[tokio::test]
async fn a_fallback_list_of_unconfigured_providers_is_reported() {
    let mut settings = AiProviderSettings::default();
    settings.gemini.api_key = Secret::new(KEY);
    settings.fallback = vec!["openai".into()];

    let registry = ProviderRegistry::from_settings(&settings, client()).unwrap();
    let message = registry.default_provider().err().unwrap().to_string();

    assert!(message.contains("ai.fallback") && message.contains("openai"), "{message}");
}

fn invalid(edit: impl FnOnce(&mut AiProviderSettings)) -> String {
    let mut settings = AiProviderSettings::default();
    edit(&mut settings);
    match ProviderRegistry::from_settings(&settings, client()) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("settings should be rejected"),
    }
}

fn endpoint(name: &str, base_url: &str) -> CompatibleSettings {
    CompatibleSettings {
        name: name.into(),
        base_url: base_url.into(),
        ..CompatibleSettings::default()
    }
}

#[test]
fn invalid_settings_name_the_key_to_fix() {
    crate::app::install_crypto_provider();
    assert!(invalid(|s| s.fallback = vec!["mistral".into()]).contains("`ai.fallback`"));
    assert!(
        invalid(|s| s.fallback = vec!["openai".into(), "openai".into()]).contains("listed twice")
    );
    assert!(
        invalid(|s| s.openai_compatible = vec![endpoint("openai", "http://x")])
            .contains("`ai.openai_compatible[0].name`")
    );
    assert!(
        invalid(|s| s.openai_compatible = vec![endpoint("Local LLM", "http://x")])
            .contains("`ai.openai_compatible[0].name`")
    );
    assert!(
        invalid(
            |s| s.openai_compatible = vec![endpoint("a", "http://x"), endpoint("a", "http://y")]
        )
        .contains("already taken")
    );
    assert!(
        invalid(|s| s.openai_compatible = vec![endpoint("vllm", "")])
            .contains("`ai.openai_compatible[0].base_url`")
    );
    assert!(
        invalid(|s| s.anthropic.base_url = "ftp://example.com".into())
            .contains("`ai.anthropic.base_url`")
    );
    let message = invalid(|s| s.openai.api_key = Secret::new("sk-abc\n"));
    assert!(message.contains("`ai.openai.api_key`") && !message.contains("sk-abc"), "{message}");
    assert!(invalid(|s| s.gemini.timeout_ms = 0).contains("`ai.gemini.timeout_ms`"));
}

#[test]
fn debug_output_never_shows_keys() {
    let mut settings = AiProviderSettings::default();
    settings.openai.api_key = Secret::new("sk-live-very-secret");
    settings.openai_compatible = vec![CompatibleSettings {
        api_key: Secret::new("or-very-secret"),
        ..endpoint("openrouter", "https://openrouter.ai/api")
    }];
    let config = AnthropicConfig {
        name: "anthropic".into(),
        base_url: String::new(),
        api_key: Secret::new("sk-ant-very-secret"),
        models: DefaultModels::default(),
        options: ClientOptions::default(),
    };

    let printed = format!("{settings:?} {config:?}");

    assert!(!printed.contains("very-secret"), "{printed}");
    assert!(printed.contains("[redacted]"));
}

fn chain_names(provider: &dyn LlmProvider) -> Vec<String> {
    provider.targets(Operation::Chat, None).into_iter().map(|t| t.provider).collect()
}

#[test]
fn workspace_keys_follow_the_fallback_order_and_membership() {
    let mut settings = AiProviderSettings {
        openai: ProviderSettings {
            api_key: Secret::new(KEY),
            ..ProviderSettings::built_in("openai")
        },
        gemini: ProviderSettings {
            api_key: Secret::new(KEY),
            ..ProviderSettings::built_in("gemini")
        },
        openai_compatible: vec![CompatibleSettings {
            chat_model: "llama3.1".into(),
            ..endpoint("ollama", "http://127.0.0.1:11434")
        }],
        fallback: vec!["gemini".into(), "anthropic".into(), "openai".into()],
        ..AiProviderSettings::default()
    };
    let keys = vec![
        ("ollama".to_string(), Secret::new("ollama-key-1234")),
        ("anthropic".to_string(), Secret::new("sk-ant-workspace-1")),
    ];

    let registry = ProviderRegistry::from_settings(&settings, client()).unwrap();
    let listed = registry.default_with_keys(&keys).unwrap();
    settings.fallback.clear();
    let registry = ProviderRegistry::from_settings(&settings, client()).unwrap();
    let unlisted = registry.default_with_keys(&keys).unwrap();

    assert_eq!(
        chain_names(listed.as_ref()),
        ["gemini", "anthropic", "openai"],
        "the listed order; a key for a provider not listed is not used"
    );
    assert_eq!(
        chain_names(unlisted.as_ref()),
        ["anthropic", "ollama", "openai", "gemini"],
        "without a list, the workspace's own providers first"
    );
}

#[test]
fn targets_name_the_model_each_member_would_use() {
    let settings = AiProviderSettings {
        openai: ProviderSettings {
            api_key: Secret::new(KEY),
            ..ProviderSettings::built_in("openai")
        },
        anthropic: ProviderSettings {
            api_key: Secret::new(KEY),
            ..ProviderSettings::built_in("anthropic")
        },
        ..AiProviderSettings::default()
    };
    let registry = ProviderRegistry::from_settings(&settings, client()).unwrap();
    let chain = registry.default_provider().unwrap();

    let chat = chain.targets(Operation::Chat, Some("gpt-4o"));
    let embed = chain.targets(Operation::Embedding, None);

    let pairs: Vec<(String, String)> = chat.into_iter().map(|t| (t.provider, t.model)).collect();
    assert_eq!(
        pairs,
        [("openai".into(), "gpt-4o".into()), ("anthropic".into(), "claude-sonnet-4-6".into())]
    );
    assert_eq!(embed.len(), 1);
    assert_eq!(embed[0].model, "text-embedding-3-small");
}
