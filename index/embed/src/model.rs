//! A BERT-family sentence-embedding model loaded from a local directory, run on the CPU.

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{Tokenizer, TruncationParams};

use crate::query_encoder::QueryEncoder;
use crate::{EmbedError, Result};

/// The three files a model directory must hold.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Longest input when neither the options nor `sentence_bert_config.json` say otherwise.
const DEFAULT_MAX_TOKENS: usize = 256;

/// How token vectors become one sentence vector (sentence-transformers' `1_Pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Attention-masked mean of the token vectors (all-MiniLM-L6-v2 and most models).
    Mean,
    /// The `[CLS]` token's vector (bge-*).
    Cls,
}

impl Pooling {
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// Options of [`Embedder::load`].
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Longest input in word pieces, special tokens included; `None`: the model's
    /// `sentence_bert_config.json` `max_seq_length`, else 256 (capped by the model's positions).
    pub max_tokens: Option<usize>,
    /// Build the f16 query encoder ([`Embedder::embed_query`]); off, queries take the f32 path
    /// like documents (slower, for comparisons). Default on.
    pub half_precision_queries: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            max_tokens: None,
            half_precision_queries: true,
        }
    }
}

/// A checked model directory: the paths of its files and what was read from its small ones.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub dir: PathBuf,
    pub config: BertConfig,
    pub pooling: Pooling,
    /// `max_seq_length` of `sentence_bert_config.json`, when present.
    pub max_seq_length: Option<usize>,
}

impl ModelDir {
    /// Checks that `dir` holds the three files and that `config.json` describes a BERT model.
    /// Cheap: the weights are not read.
    pub fn open(dir: &Path) -> Result<ModelDir> {
        let problem = |problem: String| EmbedError::ModelDir {
            dir: dir.to_path_buf(),
            problem,
        };
        if !dir.is_dir() {
            return Err(problem("is not a directory".into()));
        }
        let missing: Vec<&str> = REQUIRED_FILES
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(problem(format!(
                "lacks {} (a model directory holds config.json, tokenizer.json and model.safetensors)",
                missing.join(", ")
            )));
        }
        let config_text = read_text(&dir.join("config.json"))?;
        let raw: serde_json::Value = serde_json::from_str(&config_text)
            .map_err(|e| problem(format!("config.json is not valid JSON: {e}")))?;
        if let Some(model_type) = raw.get("model_type").and_then(|v| v.as_str())
            && model_type != "bert"
        {
            return Err(problem(format!(
                "config.json says model_type = \"{model_type}\"; only BERT-family models (model_type \"bert\") are supported"
            )));
        }
        let config: BertConfig = serde_json::from_value(raw)
            .map_err(|e| problem(format!("config.json is not a BERT configuration: {e}")))?;
        if config.hidden_size == 0
            || config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(problem(format!(
                "config.json: hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        let pooling = read_pooling(dir)?;
        let max_seq_length = read_max_seq_length(dir)?;
        Ok(ModelDir {
            dir: dir.to_path_buf(),
            config,
            pooling,
            max_seq_length,
        })
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| EmbedError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// `1_Pooling/config.json` of a sentence-transformers export; mean pooling when absent.
fn read_pooling(dir: &Path) -> Result<Pooling> {
    let path = dir.join("1_Pooling").join("config.json");
    if !path.is_file() {
        return Ok(Pooling::Mean);
    }
    let value: serde_json::Value =
        serde_json::from_str(&read_text(&path)?).map_err(|e| EmbedError::ModelDir {
            dir: dir.to_path_buf(),
            problem: format!("1_Pooling/config.json is not valid JSON: {e}"),
        })?;
    let flag = |k: &str| value.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    if flag("pooling_mode_cls_token") {
        Ok(Pooling::Cls)
    } else if flag("pooling_mode_mean_tokens") || !flag("pooling_mode_max_tokens") {
        Ok(Pooling::Mean)
    } else {
        Err(EmbedError::ModelDir {
            dir: dir.to_path_buf(),
            problem: "1_Pooling/config.json asks for max pooling; only mean and cls pooling are supported".into(),
        })
    }
}

fn read_max_seq_length(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join("sentence_bert_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_str(&read_text(&path)?).map_err(|e| EmbedError::ModelDir {
            dir: dir.to_path_buf(),
            problem: format!("sentence_bert_config.json is not valid JSON: {e}"),
        })?;
    Ok(value
        .get("max_seq_length")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize))
}

/// A loaded model: tokenizer + BERT encoder + pooling + L2 normalisation. `Sync`: one instance
/// serves the background worker and queries.
pub struct Embedder {
    model: BertModel,
    /// The f16 copy that embeds queries ([`Embedder::embed_query`]); `None` when turned off.
    query_encoder: Option<QueryEncoder>,
    /// Where queries are embedded: built on the first query, so that its threads take the
    /// priority of the thread that asks (not the background worker's, which loads the model).
    query_pool: std::sync::OnceLock<Option<rayon::ThreadPool>>,
    tokenizer: Tokenizer,
    pooling: Pooling,
    dim: usize,
    max_tokens: usize,
    pad_id: u32,
    model_id: String,
    dir: PathBuf,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("dir", &self.dir)
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("pooling", &self.pooling)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl Embedder {
    /// Loads the model in `dir` (see [`ModelDir::open`]). Reads every file; downloads nothing.
    pub fn load(dir: &Path, options: &EmbedOptions) -> Result<Embedder> {
        let checked = ModelDir::open(dir)?;
        let config = &checked.config;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EmbedError::ModelDir {
                dir: dir.to_path_buf(),
                problem: format!("tokenizer.json cannot be read: {e}"),
            })?;
        let max_tokens = options
            .max_tokens
            .or(checked.max_seq_length)
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .clamp(8, config.max_position_embeddings.max(8));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| EmbedError::ModelDir {
                dir: dir.to_path_buf(),
                problem: format!("tokenizer.json: cannot set truncation: {e}"),
            })?;
        tokenizer.with_padding(None);
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .unwrap_or(config.pad_token_id as u32);

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| EmbedError::Io {
            path: weights_path.clone(),
            source: e,
        })?;
        let (model, query_encoder) = {
            let vb = VarBuilder::from_slice_safetensors(&weights, DType::F32, &Device::Cpu)
                .map_err(|e| EmbedError::ModelDir {
                    dir: dir.to_path_buf(),
                    problem: format!("model.safetensors cannot be read: {e}"),
                })?;
            let mismatch = |e: candle_core::Error| EmbedError::ModelDir {
                dir: dir.to_path_buf(),
                problem: format!("model.safetensors does not match config.json: {e}"),
            };
            let query_encoder = if options.half_precision_queries {
                Some(QueryEncoder::load(&vb, config).map_err(mismatch)?)
            } else {
                None
            };
            (
                BertModel::load(vb, config).map_err(mismatch)?,
                query_encoder,
            )
        };
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > config.vocab_size {
            return Err(EmbedError::ModelDir {
                dir: dir.to_path_buf(),
                problem: format!(
                    "tokenizer.json has {vocab} tokens but config.json's vocab_size is {}",
                    config.vocab_size
                ),
            });
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"ctx-embed-model-v1\0");
        for file in ["config.json", "tokenizer.json"] {
            hasher.update(read_text(&dir.join(file))?.as_bytes());
            hasher.update(b"\0");
        }
        hasher.update(&weights);
        hasher.update(format!("\0{}\0{max_tokens}", checked.pooling.as_str()).as_bytes());
        let model_id = hasher.finalize().to_hex()[..16].to_string();
        drop(weights);
        Ok(Embedder {
            model,
            query_encoder,
            query_pool: std::sync::OnceLock::new(),
            tokenizer,
            pooling: checked.pooling,
            dim: config.hidden_size,
            max_tokens,
            pad_id,
            model_id,
            dir: dir.to_path_buf(),
        })
    }

    /// Length of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Longest input in word pieces; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Identifies the weights, tokenizer and settings: stored vectors of another id are stale.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Word-piece count of `text` after truncation (special tokens included).
    pub fn token_count(&self, text: &str) -> Result<usize> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        Ok(enc.get_ids().len())
    }

    /// One unit vector per text, in order, computed in one padded forward pass. Callers batch;
    /// [`Embedder::embed_sorted`] groups texts of similar length to pad less.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let longest = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let n = texts.len();
        let mut ids = vec![self.pad_id; n * longest];
        let mut mask = vec![0u32; n * longest];
        for (row, enc) in encodings.iter().enumerate() {
            for (col, &id) in enc.get_ids().iter().enumerate() {
                ids[row * longest + col] = id;
                mask[row * longest + col] = 1;
            }
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (n, longest), &device)?;
        let mask = Tensor::from_vec(mask, (n, longest), &device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let pooled = match self.pooling {
            Pooling::Mean => {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
            Pooling::Cls => hidden.i((.., 0, ..))?.contiguous()?,
        };
        let norms = pooled
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let normalized = pooled.broadcast_div(&norms)?;
        Ok(normalized.to_vec2::<f32>()?)
    }

    /// The vector of one query: like `embed(&[text])`, computed by the f16 query encoder
    /// on a pool of up to two threads (3–4 ms instead of ~9 for a short query on 2 cores;
    /// cosine to the f32 vector above 0.9999 on all-MiniLM-L6-v2, see `ctx model bench`).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let Some(encoder) = &self.query_encoder else {
            return Ok(self.embed(&[text])?.remove(0));
        };
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let pool = self.query_pool.get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("ctx-query-embed-{i}"))
                .build()
                .inspect_err(|e| tracing::warn!(error = %e, "no query thread pool; queries embed on the calling thread"))
                .ok()
        });
        let encode = || encoder.encode(encoding.get_ids(), self.pooling);
        Ok(match pool {
            Some(pool) => pool.install(encode)?,
            None => encode()?,
        })
    }

    /// Whether queries go through the f16 encoder (see [`Embedder::embed_query`]).
    pub fn has_half_precision_queries(&self) -> bool {
        self.query_encoder.is_some()
    }

    /// Like [`Embedder::embed`] for many texts: sorted by length into batches of `batch_size`
    /// so that short texts are not padded to long ones; results in input order.
    ///
    /// Batches run in parallel on the current rayon pool (one batch per thread). That is how
    /// ctx uses several cores: `ctxd` sets `RAYON_NUM_THREADS=1` so that candle's matrix
    /// products run on the calling thread, because splitting each small product across threads
    /// cost more than it saved (a short query: 8.9 ms single-threaded vs 14.3 ms on two busy
    /// cores).
    pub fn embed_sorted(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let groups: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let vectors: Vec<Vec<Vec<f32>>> = groups
            .par_iter()
            .map(|group| {
                let batch: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
                self.embed(&batch)
            })
            .collect::<Result<_>>()?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (group, vs) in groups.iter().zip(vectors) {
            for (&i, v) in group.iter().zip(vs) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
