//! The query path: the same BERT encoder for one short text, with its matrix weights in f16
//! and its own matrix product.
//!
//! Why a second copy: a query is one text of a few word pieces, so its forward pass is six
//! layers of products of a handful of rows with every weight matrix. candle's f32 path spends
//! most of that time re-packing the weight matrices (gemm packs its right-hand side on every
//! call) and streaming 42 MB of f32 weights from memory (all-MiniLM-L6-v2); here the weights
//! are half as many bytes, read once per four rows in their stored layout
//! ([`crate::simd::matmul_f16_rows`]), the larger products split over two threads, and the
//! whole pass runs inside one small thread pool (candle's element-wise ops would otherwise hand
//! each op to rayon's global pool and back). Measured on 2 cores: 3–4 ms per short query
//! instead of ~9 ms, cosine to the f32 vector above 0.9999 (`ctx model bench` reports both).
//! Documents keep the f32 path, which matches the reference sentence-transformers vectors.
//!
//! The forward pass is written here rather than taken from candle-transformers because its
//! `BertModel` keeps its linear layers private; it is the same computation for one unpadded
//! sequence (no attention mask), checked against `BertModel` on the tiny test model and on the
//! real one.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

use crate::model::Pooling;
use crate::simd::matmul_f16_rows;

/// One linear layer: weight as f16 bit patterns in its stored `(out, in)` layout, f32 bias.
struct HalfLinear {
    weight: Vec<u16>,
    bias: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
}

impl HalfLinear {
    fn from_tensors(weight: &Tensor, bias: &Tensor) -> candle_core::Result<HalfLinear> {
        let (out_dim, in_dim) = weight.dims2()?;
        let weight = weight
            .to_dtype(DType::F16)?
            .flatten_all()?
            .to_vec1::<half::f16>()?
            .into_iter()
            .map(half::f16::to_bits)
            .collect();
        Ok(HalfLinear {
            weight,
            bias: bias.to_vec1::<f32>()?,
            in_dim,
            out_dim,
        })
    }

    fn load(vb: &VarBuilder, out_dim: usize, in_dim: usize) -> candle_core::Result<HalfLinear> {
        HalfLinear::from_tensors(
            &vb.get((out_dim, in_dim), "weight")?,
            &vb.get(out_dim, "bias")?,
        )
    }

    /// Query, key and value as one product (one pass over the input instead of three).
    fn load_fused(vbs: [VarBuilder; 3], dim: usize) -> candle_core::Result<HalfLinear> {
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for vb in &vbs {
            weights.push(vb.get((dim, dim), "weight")?);
            biases.push(vb.get(dim, "bias")?);
        }
        HalfLinear::from_tensors(&Tensor::cat(&weights, 0)?, &Tensor::cat(&biases, 0)?)
    }

    /// `xs · Wᵀ + b` for `xs` of shape `(rows, in)`.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, in_dim) = xs.dims2()?;
        if in_dim != self.in_dim {
            candle_core::bail!("linear layer of width {} given {in_dim}", self.in_dim);
        }
        let x = xs.flatten_all()?.to_vec1::<f32>()?;
        let n = self.out_dim;
        let mut out = vec![0f32; rows * n];
        if rayon::current_num_threads() > 1 && n >= 64 {
            // Two halves of the output columns on two threads: reading the weights is the
            // cost, and one core does not use all the memory bandwidth. If the other thread
            // is busy, `join` runs both halves here.
            let (left, right) = self.weight.split_at(n / 2 * in_dim);
            let product = |w: &[u16]| {
                let cols = w.len() / in_dim;
                let mut o = vec![0f32; rows * cols];
                matmul_f16_rows(&x, rows, in_dim, w, cols, &mut o);
                o
            };
            let (a, b) = rayon::join(|| product(left), || product(right));
            let split = n / 2;
            for (r, row) in out.chunks_exact_mut(n).enumerate() {
                row[..split].copy_from_slice(&a[r * split..(r + 1) * split]);
                row[split..].copy_from_slice(&b[r * (n - split)..(r + 1) * (n - split)]);
            }
        } else {
            matmul_f16_rows(&x, rows, in_dim, &self.weight, n, &mut out);
        }
        for row in out.chunks_exact_mut(n) {
            for (o, b) in row.iter_mut().zip(&self.bias) {
                *o += b;
            }
        }
        Tensor::from_vec(out, (rows, n), &Device::Cpu)
    }
}

struct Layer {
    qkv: HalfLinear,
    attention_out: HalfLinear,
    attention_norm: LayerNorm,
    intermediate: HalfLinear,
    output: HalfLinear,
    output_norm: LayerNorm,
}

/// The f16 encoder for single texts (see the module docs).
pub(crate) struct QueryEncoder {
    /// Word-piece embeddings in f16: only a few rows are gathered per query, so the table's
    /// size matters more than its precision (24 MB instead of 47 MB for a 30K vocabulary).
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    /// Row 0 of the token-type table (a query is one segment).
    token_type: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
}

impl QueryEncoder {
    /// Builds the encoder from the same weights as [`candle_transformers::models::bert::BertModel`]
    /// (`vb` at the root of the safetensors file), trying the same name prefixes it does.
    pub(crate) fn load(vb: &VarBuilder, config: &Config) -> candle_core::Result<QueryEncoder> {
        let mut prefixes = vec![String::new(), "bert.".to_string()];
        if let Some(model_type) = &config.model_type {
            prefixes.push(format!("{model_type}."));
        }
        let prefix = prefixes
            .iter()
            .find(|p| vb.contains_tensor(&format!("{p}embeddings.word_embeddings.weight")))
            .cloned()
            .unwrap_or_default();
        let root = if prefix.is_empty() {
            vb.clone()
        } else {
            vb.pp(prefix.trim_end_matches('.'))
        };
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let emb = root.pp("embeddings");
        let word_embeddings = emb
            .pp("word_embeddings")
            .get((config.vocab_size, hidden), "weight")?
            .to_dtype(DType::F16)?;
        let position_embeddings = emb
            .pp("position_embeddings")
            .get((config.max_position_embeddings, hidden), "weight")?;
        let token_type = emb
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, hidden), "weight")?
            .narrow(0, 0, 1)?;
        let embeddings_norm = candle_nn::layer_norm(hidden, eps, emb.pp("LayerNorm"))?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let layer = root.pp(format!("encoder.layer.{index}"));
            let attention = layer.pp("attention");
            let own = attention.pp("self");
            layers.push(Layer {
                qkv: HalfLinear::load_fused(
                    [own.pp("query"), own.pp("key"), own.pp("value")],
                    hidden,
                )?,
                attention_out: HalfLinear::load(&attention.pp("output.dense"), hidden, hidden)?,
                attention_norm: candle_nn::layer_norm(
                    hidden,
                    eps,
                    attention.pp("output.LayerNorm"),
                )?,
                intermediate: HalfLinear::load(
                    &layer.pp("intermediate.dense"),
                    config.intermediate_size,
                    hidden,
                )?,
                output: HalfLinear::load(
                    &layer.pp("output.dense"),
                    hidden,
                    config.intermediate_size,
                )?,
                output_norm: candle_nn::layer_norm(hidden, eps, layer.pp("output.LayerNorm"))?,
            });
        }
        Ok(QueryEncoder {
            word_embeddings,
            position_embeddings,
            token_type,
            embeddings_norm,
            layers,
            heads: config.num_attention_heads,
            head_dim: hidden / config.num_attention_heads,
            act: config.hidden_act,
        })
    }

    /// The pooled, L2-normalised vector of one tokenized text (`ids` includes the special
    /// tokens; at most the position table's length).
    pub(crate) fn encode(&self, ids: &[u32], pooling: Pooling) -> candle_core::Result<Vec<f32>> {
        let device = Device::Cpu;
        let len = ids.len().max(1);
        let ids = if ids.is_empty() { &[0u32][..] } else { ids };
        let ids = Tensor::from_slice(ids, len, &device)?;
        let words = self
            .word_embeddings
            .index_select(&ids, 0)?
            .to_dtype(DType::F32)?;
        let positions = self.position_embeddings.narrow(0, 0, len)?;
        let mut x = self
            .embeddings_norm
            .forward(&(words + positions)?.broadcast_add(&self.token_type)?)?;
        let hidden = self.heads * self.head_dim;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            // (len, 3·hidden) → three (heads, len, head_dim) tensors.
            let qkv = layer.qkv.forward(&x)?;
            let split = |part: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, part * hidden, hidden)?
                    .reshape((len, self.heads, self.head_dim))?
                    .transpose(0, 1)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs
                .matmul(&v)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((len, hidden))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?;
            let inner = match self.act {
                HiddenAct::Gelu => inner.gelu_erf()?,
                HiddenAct::GeluApproximate => inner.gelu()?,
                HiddenAct::Relu => inner.relu()?,
            };
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + attended)?)?;
        }
        let pooled = match pooling {
            Pooling::Mean => x.mean(0)?,
            Pooling::Cls => x.get(0)?,
        };
        let norm = pooled
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        pooled.broadcast_div(&norm)?.to_vec1::<f32>()
    }
}
