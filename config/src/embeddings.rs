//! The `[embeddings]` table of the main file: an on-device sentence-embedding model for semantic
//! search. Absent (or without `model`): keyword and entity-graph retrieval only.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, Doc};
use crate::value::expand_path;

/// Default `[embeddings] threads`.
pub const DEFAULT_EMBED_THREADS: usize = 1;
/// Default `[embeddings] batch_size`, in chunks per forward pass.
pub const DEFAULT_EMBED_BATCH: usize = 16;
/// Default `[embeddings] nice`: the OS scheduling priority of the embedding threads.
pub const DEFAULT_EMBED_NICE: i32 = 10;
/// Files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Semantic search settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingsConfig {
    /// Directory holding `config.json`, `tokenizer.json` and `model.safetensors`; `None`: no
    /// semantic search.
    pub model: Option<PathBuf>,
    /// Threads of the background embedding worker.
    pub threads: usize,
    /// Chunks per forward pass of the background worker.
    pub batch_size: usize,
    /// Longest input in word pieces (`None`: the model's own setting).
    pub max_tokens: Option<usize>,
    /// Nice value (0–19) of the embedding worker thread and its pool's threads only; 0 leaves
    /// them at the daemon's priority.
    pub nice: i32,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            model: None,
            threads: DEFAULT_EMBED_THREADS,
            batch_size: DEFAULT_EMBED_BATCH,
            max_tokens: None,
            nice: DEFAULT_EMBED_NICE,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmbeddings {
    model: Option<Spanned<String>>,
    threads: Option<Spanned<u64>>,
    batch_size: Option<Spanned<u64>>,
    max_tokens: Option<Spanned<u64>>,
    nice: Option<Spanned<i64>>,
}

/// The main file read for its `[embeddings]` table alone (the other tables are checked by
/// `main_file`).
#[derive(Deserialize, Default)]
struct RawMainEmbeddings {
    #[serde(default)]
    embeddings: Option<RawEmbeddings>,
}

/// Validates `[embeddings]` of the main file. The model directory is checked to hold the three
/// files (a stat of each, nothing is read).
pub(crate) fn build(
    file: Option<(&Path, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EmbeddingsConfig, Vec<ConfigError>> {
    let Some((path, text)) = file else {
        return Ok(EmbeddingsConfig::default());
    };
    let doc = Doc { path, text };
    let raw = match toml::from_str::<RawMainEmbeddings>(text) {
        Ok(raw) => raw.embeddings.unwrap_or_default(),
        Err(e) => return Err(vec![doc.toml_error(&e)]),
    };
    let mut errors = Vec::new();
    let mut config = EmbeddingsConfig::default();
    let positive = |key: &str, value: &Spanned<u64>, max: u64, errors: &mut Vec<ConfigError>| {
        let v = *value.get_ref();
        if v == 0 || v > max {
            errors.push(doc.at(
                value.span(),
                format!("`{key}` must be between 1 and {max}"),
                None,
            ));
            None
        } else {
            Some(v as usize)
        }
    };
    if let Some(v) = &raw.threads {
        config.threads = positive("threads", v, 64, &mut errors).unwrap_or(config.threads);
    }
    if let Some(v) = &raw.batch_size {
        config.batch_size =
            positive("batch_size", v, 1024, &mut errors).unwrap_or(config.batch_size);
    }
    if let Some(v) = &raw.max_tokens {
        config.max_tokens = positive("max_tokens", v, 8192, &mut errors);
    }
    if let Some(v) = &raw.nice {
        match i32::try_from(*v.get_ref()) {
            Ok(nice) if (0..=19).contains(&nice) => config.nice = nice,
            _ => errors.push(
                doc.at(
                    v.span(),
                    "`nice` must be between 0 and 19".to_string(),
                    Some(
                        "the embedding threads' OS priority: 0 = the daemon's own, 19 = the \
                     lowest (default 10); a higher priority than the daemon's is never asked for"
                            .into(),
                    ),
                ),
            ),
        }
    }
    if let Some(model) = &raw.model {
        match expand_path(model.get_ref(), path.parent(), env) {
            Err(e) => errors.push(doc.at(model.span(), e.message, e.hint)),
            Ok(dir) if !dir.is_dir() => errors.push(doc.at(
                model.span(),
                format!("model directory `{}` does not exist", dir.display()),
                Some(import_hint()),
            )),
            Ok(dir) => {
                let missing: Vec<&str> = MODEL_FILES
                    .iter()
                    .copied()
                    .filter(|f| !dir.join(f).is_file())
                    .collect();
                if missing.is_empty() {
                    config.model = Some(dir);
                } else {
                    errors.push(doc.at(
                        model.span(),
                        format!(
                            "model directory `{}` lacks {}",
                            dir.display(),
                            missing.join(", ")
                        ),
                        Some(import_hint()),
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        crate::error::sort_by_position(&mut errors);
        Err(errors)
    }
}

fn import_hint() -> String {
    "a model directory holds config.json, tokenizer.json and model.safetensors; \
     `ctx model import FILE_OR_DIR` installs one (README: Semantic search), \
     or remove `model` for keyword search only"
        .into()
}
