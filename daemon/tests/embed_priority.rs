//! `[embeddings] nice` lowers the embedding worker thread and its pool's threads, and nothing
//! else: read back from `/proc/self/task/*/stat` (field 19) of this test process, which runs
//! one daemon (its own test binary, so no other test's threads are counted).
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::{Duration, Instant};

/// (thread id, command name, nice) of every thread of this process.
fn threads() -> Vec<(u32, String, i32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let entry = entry.unwrap();
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // the thread ended
        };
        let open = stat.find('(').unwrap();
        let close = stat.rfind(')').unwrap();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        out.push((
            entry.file_name().to_string_lossy().parse().unwrap(),
            stat[open + 1..close].to_string(),
            fields[19 - 3].parse().unwrap(),
        ));
    }
    out
}

fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let close = stat.rfind(')').unwrap();
    stat[close + 1..]
        .split_whitespace()
        .nth(19 - 3)
        .unwrap()
        .parse()
        .unwrap()
}

fn write_config(root: &Path, model: &Path, nice: i32) {
    std::fs::create_dir_all(root.join("conf/connectors.d")).unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(
        root.join("docs/a.md"),
        "# Renewal\nThe Acme renewal is signed.",
    )
    .unwrap();
    std::fs::write(
        root.join("conf/config.toml"),
        format!(
            "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n[embeddings]\nmodel = \"{}\"\nthreads = 2\nnice = {nice}\n",
            root.join("data").display(),
            root.join("run/ctxd.sock").display(),
            model.display()
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("conf/connectors.d/docs.toml"),
        format!(
            "type = \"files\"\npaths = [\"{}\"]\n",
            root.join("docs").display()
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_embedding_threads_run_at_the_configured_nice() {
    let before = own_nice();
    if before > 14 {
        eprintln!("skipped: this test already runs at nice {before}");
        return;
    }
    let nice = before + 5;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    ctx_embed::tiny::write_model(&model, 3).unwrap();
    write_config(dir.path(), &model, nice);
    let config = ctx_config::load(
        &ctx_config::ConfigSource::explicit(dir.path().join("conf/config.toml")),
        &|_| None,
    )
    .unwrap();
    assert_eq!(config.embeddings.nice, nice);
    let daemon = ctx_daemon::start(config, vec![]).await.unwrap();
    let engine = daemon.engine().clone();
    let started = Instant::now();
    while !(engine.semantic.progress().state == "idle"
        && engine.semantic.progress().items_embedded == 1)
    {
        let p = engine.semantic.progress();
        assert!(p.state != "error", "{p:?}");
        assert!(started.elapsed() < Duration::from_secs(120), "{p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A query embeds on its own thread (or rayon's global pool): not lowered.
    let e2 = engine.clone();
    tokio::task::spawn_blocking(move || e2.semantic.candidates("renewal", 5))
        .await
        .unwrap();

    let all = threads();
    let embedding: Vec<&(u32, String, i32)> = all
        .iter()
        .filter(|(_, name, _)| name.starts_with("ctx-embed-"))
        .collect();
    let mut names: Vec<&str> = embedding.iter().map(|(_, n, _)| n.as_str()).collect();
    names.sort_unstable();
    // Thread names are cut to 15 bytes: "ctx-embed-worker" shows as "ctx-embed-worke".
    assert_eq!(
        names,
        ["ctx-embed-0", "ctx-embed-1", "ctx-embed-worke"],
        "the worker and its two pool threads, and no other thread under their names: {all:?}"
    );
    for (tid, name, n) in &embedding {
        assert_eq!(*n, nice, "{name} ({tid}) in {all:?}");
    }
    for (tid, name, n) in all
        .iter()
        .filter(|(_, name, _)| !name.starts_with("ctx-embed-"))
    {
        assert_eq!(
            *n, before,
            "{name} ({tid}) is not an embedding thread: {all:?}"
        );
    }
    assert_eq!(own_nice(), before, "the test's own thread");
    daemon.stop().await;
}
