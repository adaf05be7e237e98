//! A tiny, randomly initialised BERT written in the formats of a real model directory
//! (config.json, a WordPiece tokenizer.json with a few dozen tokens, safetensors weights), so
//! tests exercise the real loading path and forward pass in milliseconds. Not a model: its
//! vectors mean nothing.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

pub const HIDDEN: usize = 32;
pub const LAYERS: usize = 2;
pub const HEADS: usize = 4;
pub const INTERMEDIATE: usize = 64;
pub const POSITIONS: usize = 64;

const WORDS: &[&str] = &[
    "the",
    "contract",
    "renewal",
    "extension",
    "meeting",
    "lunch",
    "soup",
    "revenue",
    "grew",
    "acme",
    "deal",
    "signed",
    "march",
    "year",
    "agreement",
    "we",
    "agreed",
    "to",
    "extend",
    "slides",
    "send",
    "me",
    "from",
    "yesterday",
    "a",
    "of",
    "and",
    "for",
    "is",
    "due",
    "in",
    "##s",
    "##ed",
    "##ing",
    ".",
    ",",
    "?",
];

pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(WORDS.iter().map(|s| s.to_string()));
    v
}

pub fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = vocab()
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, serde_json::json!(i)))
        .collect();
    let special = |id: usize, content: &str| {
        serde_json::json!({"id": id, "special": true, "content": content, "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false})
    };
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"),
            special(3, "[SEP]"), special(4, "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab}
    })
    .to_string()
}

pub fn config_json(vocab_size: usize) -> String {
    serde_json::json!({
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": POSITIONS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": vocab_size
    })
    .to_string()
}

/// A small deterministic generator (the test must not depend on a random crate's stream).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }
}

pub fn weights(vocab_size: usize, seed: u64, skip: Option<&str>) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut shapes: Vec<(String, Vec<usize>, bool)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab_size, HIDDEN],
            false,
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![POSITIONS, HIDDEN],
            false,
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, HIDDEN],
            false,
        ),
        ("embeddings.LayerNorm.weight".into(), vec![HIDDEN], true),
        ("embeddings.LayerNorm.bias".into(), vec![HIDDEN], false),
    ];
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        for (name, shape, ones) in [
            ("attention.self.query.weight", vec![HIDDEN, HIDDEN], false),
            ("attention.self.query.bias", vec![HIDDEN], false),
            ("attention.self.key.weight", vec![HIDDEN, HIDDEN], false),
            ("attention.self.key.bias", vec![HIDDEN], false),
            ("attention.self.value.weight", vec![HIDDEN, HIDDEN], false),
            ("attention.self.value.bias", vec![HIDDEN], false),
            ("attention.output.dense.weight", vec![HIDDEN, HIDDEN], false),
            ("attention.output.dense.bias", vec![HIDDEN], false),
            ("attention.output.LayerNorm.weight", vec![HIDDEN], true),
            ("attention.output.LayerNorm.bias", vec![HIDDEN], false),
            (
                "intermediate.dense.weight",
                vec![INTERMEDIATE, HIDDEN],
                false,
            ),
            ("intermediate.dense.bias", vec![INTERMEDIATE], false),
            ("output.dense.weight", vec![HIDDEN, INTERMEDIATE], false),
            ("output.dense.bias", vec![HIDDEN], false),
            ("output.LayerNorm.weight", vec![HIDDEN], true),
            ("output.LayerNorm.bias", vec![HIDDEN], false),
        ] {
            shapes.push((format!("{p}{name}"), shape, ones));
        }
    }
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .filter(|(name, _, _)| Some(name.as_str()) != skip)
        .map(|(name, shape, ones)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    if ones {
                        1.0 + 0.1 * rng.next()
                    } else {
                        0.4 * rng.next()
                    }
                })
                .collect();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .expect("shape and byte length agree"),
            )
        })
        .collect();
    safetensors::tensor::serialize(views, None::<HashMap<String, String>>)
        .expect("serialising in memory cannot fail")
}

/// Writes config.json, tokenizer.json and model.safetensors (weights from `seed`) into `dir`.
pub fn write_model(dir: &Path, seed: u64) -> std::io::Result<()> {
    let vocab_size = vocab().len();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), config_json(vocab_size))?;
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json())?;
    std::fs::write(
        dir.join("model.safetensors"),
        weights(vocab_size, seed, None),
    )?;
    Ok(())
}
