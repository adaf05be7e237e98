//! Semantic search in the daemon end to end: a real `files` connector, the background embedding
//! worker with a tiny random BERT (the real loading and inference path), `Status` over the real
//! gRPC socket, resumption after a restart, re-embedding of changed items only, and a model
//! change re-embedding everything. With the real all-MiniLM-L6-v2 present, a paraphrase query
//! finds a document that shares no word with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ctx_client::{Client, pb};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(model: Option<&Path>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let s = Setup { dir };
        std::fs::create_dir_all(s.root().join("docs")).unwrap();
        std::fs::create_dir_all(s.root().join("conf/connectors.d")).unwrap();
        s.write_config(model);
        std::fs::write(
            s.root().join("conf/connectors.d/docs.toml"),
            format!(
                "type = \"files\"\npaths = [\"{}\"]\ndebounce = \"100ms\"\n",
                s.root().join("docs").display()
            ),
        )
        .unwrap();
        s
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self, model: Option<&Path>) {
        let embeddings = match model {
            Some(m) => format!(
                "[embeddings]\nmodel = \"{}\"\nbatch_size = 4\n",
                m.display()
            ),
            None => String::new(),
        };
        std::fs::write(
            self.root().join("conf/config.toml"),
            format!(
                "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n{embeddings}",
                self.root().join("data").display(),
                self.root().join("run/ctxd.sock").display()
            ),
        )
        .unwrap();
    }

    fn doc(&self, name: &str, text: &str) {
        std::fs::write(self.root().join("docs").join(name), text).unwrap();
    }

    async fn start(&self) -> (ctx_daemon::RunningDaemon, Client) {
        let config = ctx_config::load(
            &ctx_config::ConfigSource::explicit(self.root().join("conf/config.toml")),
            &|_| None,
        )
        .unwrap();
        let daemon = ctx_daemon::start(config, vec![]).await.unwrap();
        let client = Client::connect_unix(self.root().join("run/ctxd.sock"))
            .await
            .unwrap();
        (daemon, client)
    }
}

async fn status(client: &mut Client) -> pb::StatusResponse {
    client
        .api()
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Waits until the connector finished a pass and every live item is embedded.
async fn wait_embedded(client: &mut Client, items: u64, timeout: Duration) -> pb::StatusResponse {
    let started = Instant::now();
    loop {
        let s = status(client).await;
        let e = s.embeddings.clone().unwrap_or_default();
        let synced = s
            .connectors
            .iter()
            .all(|c| c.passes >= 1 && c.state == "idle")
            && s.index_lag == 0;
        if synced && e.state == "idle" && e.items_embedded == items && s.total_items == items {
            return s;
        }
        assert!(e.state != "error", "embedding failed: {}", e.last_error);
        assert!(started.elapsed() < timeout, "not embedded in time: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tiny_model(dir: &Path, seed: u64) -> PathBuf {
    let model = dir.join(format!("tiny-{seed}"));
    ctx_embed::tiny::write_model(&model, seed).unwrap();
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_status_says_keyword_only_and_grab_works() {
    let setup = Setup::new(None);
    setup.doc("a.md", "# Renewal\nThe Acme renewal is signed.");
    let (daemon, mut client) = setup.start().await;
    let started = Instant::now();
    let s = loop {
        let s = status(&mut client).await;
        if s.total_items == 1 && s.index_lag == 0 {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let e = s.embeddings.unwrap();
    assert!(!e.enabled);
    assert_eq!(e.state, "off");
    assert!(e.note.contains("no model configured"), "{}", e.note);
    let r = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "Acme renewal".into(),
            token_budget: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.items.len(), 1);
    assert!(!setup.root().join("data/vectors.sqlite").exists());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_embedded_in_the_background_and_only_changes_after_a_restart() {
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path(), 1);
    let setup = Setup::new(Some(&model));
    for i in 0..9 {
        setup.doc(
            &format!("d{i}.md"),
            &format!("# Note {i}\nthe contract renewal for acme is due in march {i}."),
        );
    }
    // A long document: several chunks, all embedded.
    setup.doc(
        "long.md",
        &"we agreed to extend the agreement for a year. ".repeat(400),
    );
    let (daemon, mut client) = setup.start().await;
    let s = wait_embedded(&mut client, 10, Duration::from_secs(120)).await;
    let e = s.embeddings.unwrap();
    assert!(e.enabled);
    assert_eq!(e.dim, ctx_embed::tiny::HIDDEN as u32);
    assert_eq!(e.items_pending, 0);
    assert!(
        e.vectors > 10,
        "the long document has several chunk vectors: {e:?}"
    );
    assert_eq!(daemon.engine().semantic.progress().embedded_this_run, 10);
    // Semantic candidates are fused into GrabEverythingRelated: a query whose words are in no
    // document still gets the nearest items, explained as semantically similar (the tiny
    // model's similarities are arbitrary but positive for some items).
    let semantic = daemon.engine().semantic.candidates("renewal", 5);
    assert!(!semantic.is_empty());
    daemon.stop().await;

    // Restart: nothing changed, nothing is embedded again.
    let (daemon, mut client) = setup.start().await;
    let s = wait_embedded(&mut client, 10, Duration::from_secs(60)).await;
    assert_eq!(s.embeddings.unwrap().vectors, e.vectors);
    assert_eq!(daemon.engine().semantic.progress().embedded_this_run, 0);
    // One changed file and one deleted file: one item embedded, one removed.
    setup.doc("d3.md", "# Note 3\nlunch soup changed.");
    std::fs::remove_file(setup.root().join("docs/d4.md")).unwrap();
    let started = Instant::now();
    loop {
        let p = daemon.engine().semantic.progress();
        if p.embedded_this_run == 1 && p.items_embedded == 9 && p.state == "idle" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.stop().await;

    // Another model: everything is embedded again with it.
    setup.write_config(Some(&tiny_model(models.path(), 2)));
    let (daemon, mut client) = setup.start().await;
    wait_embedded(&mut client, 9, Duration::from_secs(120)).await;
    assert_eq!(daemon.engine().semantic.progress().embedded_this_run, 9);
    daemon.stop().await;
}

/// A paragraph of distinct words, so that chunks differ from each other.
fn paragraph(n: usize) -> String {
    (0..60)
        .map(|w| format!("w{n}x{w}"))
        .collect::<Vec<_>>()
        .join(" ")
        + ".\n\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_re_embeds_only_the_chunks_whose_text_changed() {
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path(), 3);
    let setup = Setup::new(Some(&model));
    let head = "# Handbook\n\n".to_string();
    let body: String = (0..30).map(paragraph).collect();
    setup.doc("handbook.md", &format!("{head}{body}"));
    let (daemon, mut client) = setup.start().await;
    let s = wait_embedded(&mut client, 1, Duration::from_secs(120)).await;
    let chunks = s.embeddings.unwrap().vectors;
    assert!(chunks >= 4, "several chunks: {chunks}");
    let p = daemon.engine().semantic.progress();
    assert_eq!(
        (p.chunks_embedded_this_run, p.chunks_reused_this_run),
        (chunks, 0)
    );

    // Only the last paragraph changes: the chunks before it keep their vectors.
    let edited: String = (0..29).map(paragraph).collect::<String>() + "a new closing line.\n";
    setup.doc("handbook.md", &format!("{head}{edited}"));
    let started = Instant::now();
    let p = loop {
        let p = daemon.engine().semantic.progress();
        if p.embedded_this_run == 2 && p.state == "idle" {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let changed = p.chunks_embedded_this_run - chunks;
    assert_eq!(changed, 1, "only the last chunk is embedded again: {p:?}");
    assert_eq!(p.chunks_reused_this_run, chunks - 1, "{p:?}");
    // The search matrix holds the item's vectors once, not old and new.
    let s = status(&mut client).await;
    assert_eq!(s.embeddings.unwrap().vectors, chunks);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_model_is_reported_and_keyword_search_still_works() {
    let models = tempfile::tempdir().unwrap();
    let model = tiny_model(models.path(), 1);
    std::fs::write(model.join("model.safetensors"), b"garbage").unwrap();
    let setup = Setup::new(Some(&model));
    setup.doc("a.md", "# Renewal\nThe Acme renewal is signed.");
    let (daemon, mut client) = setup.start().await;
    let started = Instant::now();
    let e = loop {
        let s = status(&mut client).await;
        let e = s.embeddings.clone().unwrap();
        if e.state == "error" && s.total_items == 1 && s.index_lag == 0 {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!e.enabled);
    assert!(
        e.last_error.contains("model.safetensors"),
        "{}",
        e.last_error
    );
    assert!(e.note.contains("semantic search is off"), "{}", e.note);
    let r = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "Acme renewal".into(),
            token_budget: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.items.len(), 1);
    daemon.stop().await;
}

fn real_model() -> Option<PathBuf> {
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
        "all-MiniLM-L6-v2 not found at {}; paraphrase check not run",
        dir.display()
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paraphrase_is_found_by_meaning_with_the_real_model() {
    let Some(model) = real_model() else {
        return;
    };
    let setup = Setup::new(Some(&model));
    setup.doc(
        "acme.md",
        "# Acme account\nAcme agreed to renew their subscription for two more years at the same price.",
    );
    setup.doc(
        "lunch.md",
        "# Team lunch\nWe ordered pizza and salads for the whole team.",
    );
    setup.doc(
        "wifi.md",
        "# Office network\nThe office wifi password rotates every month.",
    );
    let (daemon, mut client) = setup.start().await;
    wait_embedded(&mut client, 3, Duration::from_secs(120)).await;
    let r = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "contract extension".into(),
            token_budget: 2000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = r.items.first().expect("a semantic candidate");
    assert_eq!(first.title, "Acme account", "{r:?}");
    assert!(first.why.contains("semantically similar"), "{}", first.why);
    daemon.stop().await;
}
