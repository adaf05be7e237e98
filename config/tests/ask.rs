//! The `[ask]` section of the main file: every key, defaults, and located errors.

use std::path::PathBuf;
use std::time::Duration;

use ctx_config::{
    AskConfig, ConfigError, ConfigSource, DEFAULT_ASK_BASE_URL, DEFAULT_ASK_BUDGET, Secret,
    load_lenient,
};

fn fixture(name: &str) -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/fixtures/ask")
    .join(name)
}

fn env(name: &str) -> Option<String> {
    (name == "HOME").then(|| "/home/test".to_owned())
}

fn errors_of(name: &str) -> Vec<ConfigError> {
    load_lenient(&ConfigSource::explicit(fixture(name)), &env)
        .map(|_| ())
        .expect_err("[ask] errors are main-file errors, fatal")
        .0
}

#[test]
fn every_ask_key_is_read() {
    let (config, bad) = load_lenient(&ConfigSource::explicit(fixture("good.toml")), &env).unwrap();
    assert!(bad.is_empty());
    assert_eq!(
        config.ask,
        AskConfig {
            base_url: "http://localhost:11434/v1".into(),
            model: Some("llama3.1:8b".into()),
            api_key: Some(Secret::Env("CTX_LLM_KEY".into())),
            budget: 32000,
            temperature: Some(0.2),
            max_tokens: Some(800),
            timeout: Duration::from_secs(120),
            system_prompt: Some("Answer tersely.".into()),
        }
    );
}

#[test]
fn ask_defaults_point_at_a_local_llama_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[daemon]\nlog = \"info\"\n").unwrap();
    let (config, _) = load_lenient(
        &ConfigSource::explicit(dir.path().join("config.toml")),
        &env,
    )
    .unwrap();
    assert_eq!(config.ask.base_url, DEFAULT_ASK_BASE_URL);
    assert_eq!(config.ask.budget, DEFAULT_ASK_BUDGET);
    assert_eq!(config.ask.model, None);
    assert_eq!(config.ask.api_key, None);
}

#[test]
fn ask_mistakes_are_located_and_explained() {
    let errors = errors_of("bad.toml");
    let found: Vec<(Option<usize>, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    assert!(
        found[0].1.contains("not loopback") && found[0].0 == Some(3),
        "{found:?}"
    );
    assert!(found[1].1.contains("`budget` must be greater than zero") && found[1].0 == Some(4));
    assert!(found[2].1.contains("outside 0–2") && found[2].0 == Some(5));
    assert_eq!(found[3].0, Some(6), "{found:?}");
    assert!(
        found[4]
            .1
            .contains("both `api_key_command` and `api_key_env`")
            && found[4].0 == Some(8),
        "{found:?}"
    );
    assert!(errors[0].hint.as_deref().unwrap().contains("https"));
}

#[test]
fn a_misspelt_ask_key_gets_a_suggestion() {
    let errors = errors_of("typo.toml");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!((e.line, e.column), (Some(2), Some(1)), "{e}");
    assert!(e.message.contains("modle"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("model"), "{e}");
}
