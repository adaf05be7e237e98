//! Loading and inference on a tiny, randomly initialised BERT that this test writes in the
//! formats a real model directory uses (config.json, a WordPiece tokenizer.json, safetensors
//! weights): the real loading path, the real forward pass, fast.

use std::path::Path;

use ctx_embed::tiny::{HIDDEN, POSITIONS, config_json, vocab, weights};
use ctx_embed::{EmbedOptions, Embedder, ModelDir, Pooling};

fn write_model(dir: &Path, seed: u64) {
    ctx_embed::tiny::write_model(dir, seed).unwrap();
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn load(dir: &Path) -> Embedder {
    Embedder::load(dir, &EmbedOptions::default()).expect("tiny model loads")
}

#[test]
fn tiny_model_loads_and_embeds_unit_vectors_of_its_hidden_size() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 7);
    let model = load(tmp.path());
    assert_eq!(model.dim(), HIDDEN);
    assert_eq!(model.pooling(), Pooling::Mean);
    assert_eq!(model.max_tokens(), POSITIONS.min(256));
    let texts = [
        "The contract renewal is due in March.",
        "We agreed to extend the agreement",
        "lunch soup",
        "",
    ];
    let vectors = model.embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for v in &vectors {
        assert_eq!(v.len(), HIDDEN);
        assert!((norm(v) - 1.0).abs() < 1e-5, "norm {}", norm(v));
        assert!(v.iter().all(|x| x.is_finite()));
    }
    assert!(
        cosine(&vectors[0], &vectors[2]) < 0.9999,
        "distinct texts, distinct vectors"
    );
    assert!(model.embed(&[]).unwrap().is_empty());
}

#[test]
fn embedding_is_deterministic_across_loads() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 11);
    let a = load(tmp.path());
    let b = load(tmp.path());
    assert_eq!(a.model_id(), b.model_id());
    let text = ["Acme signed the deal for a year."];
    let va = a.embed(&text).unwrap();
    let vb = b.embed(&text).unwrap();
    assert_eq!(va, vb);
    assert_eq!(va, a.embed(&text).unwrap());
}

#[test]
fn padding_in_a_batch_does_not_change_a_sentence_vector() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 3);
    let model = load(tmp.path());
    let short = "lunch soup";
    let alone = model.embed(&[short]).unwrap().remove(0);
    let long = "we agreed to extend the contract for a year and the renewal of the agreement is due in march";
    let batched = model.embed(&[long, short, "revenue grew"]).unwrap();
    assert!(
        max_abs_diff(&alone, &batched[1]) < 1e-5,
        "padded {} vs alone",
        max_abs_diff(&alone, &batched[1])
    );
    // embed_sorted groups by length and keeps the input order.
    let sorted = model
        .embed_sorted(&[long, short, "revenue grew"], 2)
        .unwrap();
    for (a, b) in sorted.iter().zip(&batched) {
        assert!(max_abs_diff(a, b) < 1e-5);
    }
}

#[test]
fn every_real_token_counts_in_the_mean() {
    // The counterpart of the padding test: tokens that are text (not padding) do move the
    // pooled vector, so the padding test cannot pass by pooling the first token alone.
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 5);
    let model = load(tmp.path());
    let plain = model.embed(&["acme deal"]).unwrap().remove(0);
    let with_extra_words = model
        .embed(&["acme deal the the the the"])
        .unwrap()
        .remove(0);
    assert!(max_abs_diff(&plain, &with_extra_words) > 1e-3);
}

#[test]
fn long_input_is_truncated_to_max_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 5);
    let model = Embedder::load(
        tmp.path(),
        &EmbedOptions {
            max_tokens: Some(16),
            ..EmbedOptions::default()
        },
    )
    .unwrap();
    assert_eq!(model.max_tokens(), 16);
    let long = "the contract ".repeat(100);
    assert_eq!(model.token_count(&long).unwrap(), 16);
    let v = model.embed(&[long.as_str()]).unwrap();
    assert!((norm(&v[0]) - 1.0).abs() < 1e-5);
    // Beyond the model's position table is clamped, not a crash.
    let clamped = Embedder::load(
        tmp.path(),
        &EmbedOptions {
            max_tokens: Some(10_000),
            ..EmbedOptions::default()
        },
    )
    .unwrap();
    assert_eq!(clamped.max_tokens(), POSITIONS);
    let long = "contract ".repeat(500);
    assert_eq!(clamped.embed(&[long.as_str()]).unwrap()[0].len(), HIDDEN);
}

#[test]
fn cls_pooling_is_read_from_the_pooling_config() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 9);
    let mean = load(tmp.path())
        .embed(&["acme deal signed"])
        .unwrap()
        .remove(0);
    std::fs::create_dir_all(tmp.path().join("1_Pooling")).unwrap();
    std::fs::write(
        tmp.path().join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
    )
    .unwrap();
    let model = load(tmp.path());
    assert_eq!(model.pooling(), Pooling::Cls);
    let cls = model.embed(&["acme deal signed"]).unwrap().remove(0);
    assert!((norm(&cls) - 1.0).abs() < 1e-5);
    assert!(max_abs_diff(&mean, &cls) > 1e-3);
}

#[test]
fn other_weights_have_another_model_id() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_model(a.path(), 1);
    write_model(b.path(), 2);
    assert_ne!(load(a.path()).model_id(), load(b.path()).model_id());
}

fn load_error(dir: &Path) -> String {
    Embedder::load(dir, &EmbedOptions::default())
        .expect_err("must not load")
        .to_string()
}

#[test]
fn missing_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 1);
    std::fs::remove_file(tmp.path().join("tokenizer.json")).unwrap();
    let e = load_error(tmp.path());
    assert!(e.contains("lacks tokenizer.json"), "{e}");
    assert!(ModelDir::open(tmp.path()).is_err());
    let e = load_error(&tmp.path().join("nope"));
    assert!(e.contains("is not a directory"), "{e}");
}

#[test]
fn corrupt_files_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_model(dir, 1);
    std::fs::write(dir.join("model.safetensors"), b"definitely not safetensors").unwrap();
    let e = load_error(dir);
    assert!(e.contains("model.safetensors cannot be read"), "{e}");

    write_model(dir, 1);
    let vocab_size = vocab().len();
    std::fs::write(
        dir.join("model.safetensors"),
        weights(vocab_size, 1, Some("encoder.layer.1.output.dense.weight")),
    )
    .unwrap();
    let e = load_error(dir);
    assert!(e.contains("does not match config.json"), "{e}");

    write_model(dir, 1);
    std::fs::write(dir.join("config.json"), "{ not json").unwrap();
    let e = load_error(dir);
    assert!(e.contains("config.json is not valid JSON"), "{e}");

    std::fs::write(
        dir.join("config.json"),
        config_json(vocab_size).replace("\"bert\"", "\"xlm-roberta\""),
    )
    .unwrap();
    let e = load_error(dir);
    assert!(e.contains("only BERT-family"), "{e}");

    write_model(dir, 1);
    std::fs::write(dir.join("tokenizer.json"), "[]").unwrap();
    let e = load_error(dir);
    assert!(e.contains("tokenizer.json cannot be read"), "{e}");

    // A tokenizer with more tokens than the embedding table would index out of range.
    write_model(dir, 1);
    std::fs::write(dir.join("config.json"), config_json(10)).unwrap();
    std::fs::write(dir.join("model.safetensors"), weights(10, 1, None)).unwrap();
    let e = load_error(dir);
    assert!(e.contains("vocab_size"), "{e}");
}

#[test]
fn half_precision_query_vectors_agree_with_the_f32_path() {
    let tmp = tempfile::tempdir().unwrap();
    write_model(tmp.path(), 11);
    let model = load(tmp.path());
    assert!(model.has_half_precision_queries());
    let exact = Embedder::load(
        tmp.path(),
        &EmbedOptions {
            half_precision_queries: false,
            ..EmbedOptions::default()
        },
    )
    .unwrap();
    assert!(!exact.has_half_precision_queries());
    let texts = [
        "The contract renewal is due in March.",
        "lunch soup",
        "acme deal the the the the",
        "",
    ];
    for text in texts {
        let f32_vector = model.embed(&[text]).unwrap().remove(0);
        let query = model.embed_query(text).unwrap();
        assert_eq!(query.len(), HIDDEN);
        assert!((norm(&query) - 1.0).abs() < 1e-5, "norm {}", norm(&query));
        let agreement = cosine(&query, &f32_vector);
        assert!(agreement > 0.9999, "{text:?}: cosine {agreement}");
        // Without the f16 encoder a query is exactly a one-text batch.
        assert_eq!(exact.embed_query(text).unwrap(), f32_vector);
    }
}
