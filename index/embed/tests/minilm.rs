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

#[test]
fn minilm_matches_the_reference_vectors() {
    let Some(dir) = model_dir() else {
        return;
    };
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    let model = Embedder::load(&dir, &EmbedOptions::default()).expect("model loads");
    assert_eq!(model.dim(), 384);
    assert_eq!(model.pooling(), Pooling::Mean);
    assert_eq!(model.max_tokens(), 256);
    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    // One padded batch: the reference was computed sentence by sentence without padding.
    let vectors = model.embed(&texts).unwrap();
    for (s, v) in sentences.iter().zip(&vectors) {
        let expected: Vec<f32> = s["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(
            model.token_count(s["text"].as_str().unwrap()).unwrap(),
            s["tokens"].as_u64().unwrap() as usize
        );
        let cos: f32 = expected.iter().zip(v).map(|(a, b)| a * b).sum();
        assert!(cos >= 0.9999, "{:?}: cosine {cos}", s["text"]);
        let worst = expected
            .iter()
            .zip(v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{:?}: component off by {worst}", s["text"]);
    }
    // The paraphrase is closer than the unrelated sentence (the point of the feature).
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.2);
}

#[test]
fn minilm_query_vectors_stay_close_to_the_reference() {
    let Some(dir) = model_dir() else {
        return;
    };
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).unwrap();
    let model = Embedder::load(&dir, &EmbedOptions::default()).expect("model loads");
    assert!(model.has_half_precision_queries());
    let sentences = reference["sentences"].as_array().unwrap();
    let expected: Vec<Vec<f32>> = sentences
        .iter()
        .map(|s| {
            s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut queries = Vec::new();
    for (s, reference_vector) in sentences.iter().zip(&expected) {
        let text = s["text"].as_str().unwrap();
        let query = model.embed_query(text).unwrap();
        let cos = dot(&query, reference_vector);
        assert!(cos >= 0.9995, "{text:?}: query path cosine {cos}");
        queries.push(query);
    }
    // A query vector still finds the paraphrase among the (f32) document vectors.
    assert!(dot(&queries[0], &expected[1]) > dot(&queries[0], &expected[2]) + 0.2);
}
