//! `[embeddings]` of the main file: defaults, a complete good file, and located errors.

use std::path::PathBuf;

use ctx_config::{ConfigSource, EmbeddingsConfig, load, load_lenient};

fn fixtures() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/fixtures")
}

fn home_env(name: &str) -> Option<String> {
    (name == "HOME").then(|| "/home/test".to_string())
}

#[test]
fn no_embeddings_table_means_no_model() {
    let config = load(
        &ConfigSource::explicit(fixtures().join("good/config.toml")),
        &home_env,
    )
    .unwrap();
    assert_eq!(config.embeddings, EmbeddingsConfig::default());
    assert_eq!(config.embeddings.model, None);
    assert_eq!(config.embeddings.threads, 1);
    assert_eq!(config.embeddings.batch_size, 16);
    assert_eq!(config.embeddings.nice, 10);
}

#[test]
fn every_embeddings_key_is_read_and_the_model_path_is_relative_to_the_file() {
    let dir = fixtures().join("good-embeddings");
    let config = load(&ConfigSource::explicit(dir.join("config.toml")), &home_env).unwrap();
    assert_eq!(
        config.embeddings,
        EmbeddingsConfig {
            model: Some(dir.join("models/tiny")),
            threads: 2,
            batch_size: 8,
            max_tokens: Some(128),
            nice: 5,
        }
    );
}

fn errors(file: &str) -> Vec<ctx_config::ConfigError> {
    load_lenient(
        &ConfigSource::explicit(fixtures().join("bad/main").join(file)),
        &home_env,
    )
    .map(|_| ())
    .expect_err("embeddings errors are fatal")
    .0
}

#[test]
fn bad_values_are_located_with_hints() {
    let errors = errors("embeddings.toml");
    let found: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line.unwrap(), e.column.unwrap(), e.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{errors:#?}");
    assert_eq!((found[0].0, found[0].1), (2, 9));
    assert!(found[0].2.contains("does not exist"), "{}", found[0].2);
    assert!(found[0].2.contains("no-such-model-dir"), "{}", found[0].2);
    assert!(
        errors[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("ctx model import")
    );
    assert_eq!(found[1], (3, 11, "`threads` must be between 1 and 64"));
    assert_eq!(found[2], (4, 14, "`batch_size` must be between 1 and 1024"));
}

#[test]
fn a_model_directory_without_its_files_is_refused() {
    let errors = errors("embeddings_incomplete.toml");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]
            .message
            .contains("lacks tokenizer.json, model.safetensors"),
        "{}",
        errors[0].message
    );
    assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(9)));
}

#[test]
fn unknown_embeddings_key_suggests_the_right_one() {
    let errors = errors("embeddings_unknown_key.toml");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].message.contains("unknown key `modle`"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].hint.as_deref().unwrap_or("").contains("model"),
        "{:?}",
        errors[0].hint
    );
}

#[test]
fn nice_outside_0_to_19_is_located_with_a_hint() {
    for (file, line_col) in [
        ("embeddings_nice.toml", (3, 8)),
        ("embeddings_nice_negative.toml", (2, 8)),
    ] {
        let errors = errors(file);
        assert_eq!(errors.len(), 1, "{file}: {errors:#?}");
        let e = &errors[0];
        assert_eq!(e.message, "`nice` must be between 0 and 19", "{file}");
        assert_eq!(
            (e.line, e.column),
            (Some(line_col.0), Some(line_col.1)),
            "{file}"
        );
        assert!(
            e.path.as_ref().unwrap().ends_with(file),
            "{file}: {:?}",
            e.path
        );
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(hint.contains("19 = the lowest"), "{file}: {hint}");
        let shown = e.to_string();
        assert!(
            shown.contains(&format!("{file}:{}:{}", line_col.0, line_col.1)),
            "{shown}"
        );
    }
}
