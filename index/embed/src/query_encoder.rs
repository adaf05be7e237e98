//! The query path: the same BERT encoder for one short text, with its matrix weights quantized
//! to 8 bits (candle's Q8_0: blocks of 32 weights sharing one scale).
//!
//! Why a second copy: a query is one text of a few word pieces, so its forward pass is six
//! layers of matrix-vector-like products that read every weight once. In f32 that is ~42 MB of
//! weights streamed per query (all-MiniLM-L6-v2), which is what the ~9 ms of the f32 path
//! were spent on; in Q8_0 it is ~11 MB, with candle's SIMD integer dot products. Documents keep
//! the f32 path (it matches the reference sentence-transformers vectors), and the stored matrix
//! is searched in i8 anyway, so the query's quantisation noise is of the same order as the one
//! search already accepts. `ctx model bench` reports the cosine between both paths.
//!
//! The forward pass is written here rather than taken from candle-transformers because its
//! `BertModel` keeps its linear layers private (no way to swap in quantized weights); it is the
//! same computation for one unpadded sequence (no attention mask), checked against `BertModel`
//! on the tiny test model and on the real one.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

use crate::model::Pooling;

/// The quantisation of the matrix weights; its block size must divide the layer widths.
const QUERY_WEIGHTS: GgmlDType = GgmlDType::Q8_0;

/// One linear layer: quantized weight, f32 bias.
struct QLinear {
    weight: QMatMul,
    bias: Tensor,
}

impl QLinear {
    fn load(vb: &VarBuilder, out_dim: usize, in_dim: usize) -> candle_core::Result<QLinear> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(QLinear {
            weight: QMatMul::from_qtensor(QTensor::quantize(&weight, QUERY_WEIGHTS)?)?,
            bias,
        })
    }

    /// Query, key and value as one product (one pass over the input instead of three).
    fn load_fused(vbs: [VarBuilder; 3], dim: usize) -> candle_core::Result<QLinear> {
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for vb in &vbs {
            weights.push(vb.get((dim, dim), "weight")?);
            biases.push(vb.get(dim, "bias")?);
        }
        let weight = Tensor::cat(&weights, 0)?;
        Ok(QLinear {
            weight: QMatMul::from_qtensor(QTensor::quantize(&weight, QUERY_WEIGHTS)?)?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.weight.forward(xs)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    qkv: QLinear,
    attention_out: QLinear,
    attention_norm: LayerNorm,
    intermediate: QLinear,
    output: QLinear,
    output_norm: LayerNorm,
}

/// The quantized encoder for single texts (see the module docs).
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
    /// Whether the model's layer widths suit the quantisation's blocks; when they do not, the
    /// f32 path serves queries too.
    pub(crate) fn supports(config: &Config) -> bool {
        let block = QUERY_WEIGHTS.block_size();
        config.hidden_size.is_multiple_of(block)
            && config.intermediate_size.is_multiple_of(block)
            && config.num_attention_heads > 0
            && config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
    }

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
                qkv: QLinear::load_fused(
                    [own.pp("query"), own.pp("key"), own.pp("value")],
                    hidden,
                )?,
                attention_out: QLinear::load(&attention.pp("output.dense"), hidden, hidden)?,
                attention_norm: candle_nn::layer_norm(
                    hidden,
                    eps,
                    attention.pp("output.LayerNorm"),
                )?,
                intermediate: QLinear::load(
                    &layer.pp("intermediate.dense"),
                    config.intermediate_size,
                    hidden,
                )?,
                output: QLinear::load(&layer.pp("output.dense"), hidden, config.intermediate_size)?,
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
