//! The real all-MiniLM-L6-v2 against reference vectors computed once by an independent numpy
//! implementation of the forward pass (`tests/fixtures/make_reference.py`).
//!
//! The model directory is `CTX_EMBED_TEST_MODEL` or `~/.cache/ctx-models/all-MiniLM-L6-v2`
//! (README: "Semantic search" says how to get it offline; `.ci/run` installs it). When it is
//! absent the test says so and passes, unless `CTX_EMBED_REQUIRE_MODEL=1` (set by CI).

use std::path::PathBuf;

use ctx_embed::{EmbedOptions, Embedder, Pooling};

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CTX_EMBED_TEST_MODEL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/ctx-models/all-MiniLM-L6-v2"))
        })?;
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CTX_EMBED_REQUIRE_MODEL").as_deref() != Ok("1"),
        "CTX_EMBED_REQUIRE_MODEL=1 but no model at {}",
        dir.display()
    );
    eprintln!(
        "all-MiniLM-L6-v2 not found at {}; real-model check not run",
        dir.display()
    );
    None
}

/// One sentence of the reference fixture: its text, word-piece count and vector.
struct Reference {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference_sentences() -> Vec<Reference> {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Reference {
            text: s["text"].as_str().unwrap().to_string(),
            tokens: s["tokens"].as_u64().unwrap() as usize,
            vector: s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn minilm_matches_the_reference_vectors() {
    let Some(dir) = model_dir() else {
        return;
    };
    let sentences = reference_sentences();
    let model = Embedder::load(&dir, &EmbedOptions::default()).expect("model loads");
    assert_eq!(model.dim(), 384);
    assert_eq!(model.pooling(), Pooling::Mean);
    assert_eq!(model.max_tokens(), 256);
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    // One padded batch: the reference was computed sentence by sentence without padding.
    let vectors = model.embed(&texts).unwrap();
    for (s, v) in sentences.iter().zip(&vectors) {
        assert_eq!(model.token_count(&s.text).unwrap(), s.tokens);
        let cos = dot(&s.vector, v);
        assert!(cos >= 0.9999, "{:?}: cosine {cos}", s.text);
        let worst = s
            .vector
            .iter()
            .zip(v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{:?}: component off by {worst}", s.text);
    }
    // The paraphrase is closer than the unrelated sentence (the point of the feature).
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.2);
}

#[test]
fn minilm_query_vectors_stay_close_to_the_reference() {
    let Some(dir) = model_dir() else {
        return;
    };
    let sentences = reference_sentences();
    let model = Embedder::load(&dir, &EmbedOptions::default()).expect("model loads");
    assert!(model.has_half_precision_queries());
    let mut queries = Vec::new();
    for s in &sentences {
        let query = model.embed_query(&s.text).unwrap();
        let cos = dot(&query, &s.vector);
        assert!(cos >= 0.9995, "{:?}: query path cosine {cos}", s.text);
        queries.push(query);
    }
    // A query vector still finds the paraphrase among the (f32) document vectors.
    assert!(dot(&queries[0], &sentences[1].vector) > dot(&queries[0], &sentences[2].vector) + 0.2);
}
