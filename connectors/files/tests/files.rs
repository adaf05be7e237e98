//! Files-specific behaviour: filtering, limits, skipped files, DOCX, renames, directory
//! deletions, the watcher, and reconciliation after a restart.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use ctx_connector_api::{Connector, ItemKind, Wake};
use ctx_connector_files::{FilesConnector, FilesError, FilesOptions};
use ctx_connector_testkit::{MiniStore, PassReport, pull_pass};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Fixture { _dir: dir, root }
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn id(&self, rel: &str) -> String {
        self.root.join(rel).to_string_lossy().into_owned()
    }

    fn options(&self) -> FilesOptions {
        FilesOptions {
            watch: false,
            debounce: Duration::from_millis(100),
            ..FilesOptions::new([self.root.clone()])
        }
    }

    fn connector(&self, options: FilesOptions) -> FilesConnector {
        FilesConnector::new(options).unwrap()
    }
}

async fn pass(connector: &mut FilesConnector, store: &mut MiniStore) -> PassReport {
    pull_pass(connector, store).await.unwrap()
}

fn sorted_ids(report: &PassReport) -> Vec<String> {
    let mut ids: Vec<String> = report
        .upserts
        .iter()
        .map(|i| i.external_id.clone())
        .collect();
    ids.sort();
    ids
}

/// Waits for the watcher, then pulls until `done` holds for the accumulated report.
async fn wait_and_pass_until(
    connector: &mut FilesConnector,
    store: &mut MiniStore,
    done: impl Fn(&PassReport) -> bool,
) -> PassReport {
    let mut all = PassReport::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&all) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let woke = tokio::time::timeout(left, connector.wait_for_change())
            .await
            .expect("watcher reported the change in time")
            .unwrap();
        assert_eq!(woke, Wake::Changed);
        let report = pass(connector, store).await;
        all.upserts.extend(report.upserts);
        all.deletes.extend(report.deletes);
    }
    all
}

#[tokio::test]
async fn items_carry_path_title_locator_version_and_fields() {
    let fx = Fixture::new();
    let path = fx.write("My Notes/plan.md", "# Launch Plan\n\nship it\n");
    fx.write("untitled.txt", "no heading here");
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(fx.options()), &mut store).await;
    assert_eq!(report.upserts.len(), 2);
    let item = store.get(&fx.id("My Notes/plan.md")).unwrap();
    assert_eq!(item.kind, ItemKind::Document);
    assert_eq!(item.title, "Launch Plan");
    assert_eq!(item.body, "# Launch Plan\n\nship it\n");
    assert!(item.locator.starts_with("file:///"), "{}", item.locator);
    assert!(
        item.locator.ends_with("/My%20Notes/plan.md"),
        "{}",
        item.locator
    );
    let meta = std::fs::metadata(&path).unwrap();
    let mtime_ns = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert_eq!(item.version, Some(format!("{mtime_ns}:{}", meta.len())));
    assert_eq!(item.timestamp_ms, Some((mtime_ns / 1_000_000) as i64));
    assert!(item.fields.contains(&("format".into(), "markdown".into())));
    assert!(
        item.fields
            .contains(&("size".into(), meta.len().to_string()))
    );
    assert_eq!(
        store.get(&fx.id("untitled.txt")).unwrap().title,
        "untitled.txt"
    );
    assert_eq!(
        store.cursor().map(|c| c.as_str()),
        Some(ctx_connector_files::CURSOR)
    );
}

#[tokio::test]
async fn include_and_exclude_globs_and_builtin_exclusions() {
    let fx = Fixture::new();
    fx.write("a.md", "a");
    fx.write("deep/er/b.md", "b");
    fx.write("c.txt", "c");
    fx.write("drafts/d.md", "d");
    fx.write("x.private.md", "x");
    fx.write(".git/e.md", "e");
    fx.write("node_modules/pkg/f.md", "f");
    fx.write("target/g.md", "g");
    fx.write(".hidden/h.md", "h");
    fx.write("notes.md~", "backup");
    let options = FilesOptions {
        include: vec!["*.md".into()],
        exclude: vec!["drafts/**".into(), "*.private.md".into()],
        ..fx.options()
    };
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(options), &mut store).await;
    assert_eq!(
        sorted_ids(&report),
        vec![fx.id("a.md"), fx.id("deep/er/b.md")]
    );
}

#[tokio::test]
async fn hidden_files_are_indexed_when_asked_but_vcs_dirs_never() {
    let fx = Fixture::new();
    fx.write(".notes/a.md", "a");
    fx.write(".git/b.md", "b");
    let options = FilesOptions {
        include_hidden: true,
        ..fx.options()
    };
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(options), &mut store).await;
    assert_eq!(sorted_ids(&report), vec![fx.id(".notes/a.md")]);
}

#[tokio::test]
async fn bad_files_are_skipped_and_large_file_that_grew_is_deleted() {
    let fx = Fixture::new();
    fx.write("ok.md", "fine");
    fx.write("binary.txt", b"abc\x00\x01\x02");
    fx.write("latin1.txt", b"caf\xE9");
    fx.write("broken.pdf", b"%PDF-1.4 not really");
    fx.write("photo.png", b"\x89PNG\r\n");
    fx.write("grows.md", "small");
    let options = FilesOptions {
        max_file_size: 100,
        ..fx.options()
    };
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(options.clone()), &mut store).await;
    assert_eq!(sorted_ids(&report), vec![fx.id("grows.md"), fx.id("ok.md")]);

    fx.write("grows.md", "x".repeat(200));
    let report = pass(&mut fx.connector(options), &mut store).await;
    assert!(report.upserts.is_empty());
    assert_eq!(report.deletes, vec![fx.id("grows.md")]);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn docx_is_extracted() {
    let fx = Fixture::new();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "word/document.xml",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(
        br#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Budget</w:t></w:r></w:p><w:p><w:r><w:t>numbers</w:t></w:r></w:p></w:body></w:document>"#,
    )
    .unwrap();
    fx.write("report.docx", zip.finish().unwrap().into_inner());
    let mut store = MiniStore::new("docs");
    pass(&mut fx.connector(fx.options()), &mut store).await;
    let item = store.get(&fx.id("report.docx")).unwrap();
    assert_eq!(item.body, "Budget\nnumbers\n");
    assert!(item.fields.contains(&("format".into(), "docx".into())));
}

#[tokio::test]
async fn reconcile_after_restart_detects_changes_made_while_stopped() {
    let fx = Fixture::new();
    for i in 0..5 {
        fx.write(&format!("n{i}.md"), format!("note {i}"));
    }
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(fx.options()), &mut store).await;
    assert_eq!(report.upserts.len(), 5);

    // While the daemon is stopped: one deletion, one edit, one new file, one directory removed.
    std::fs::remove_file(fx.root.join("n0.md")).unwrap();
    fx.write("n1.md", "note 1, edited");
    fx.write("n9.md", "brand new");
    let report = pass(&mut fx.connector(fx.options()), &mut store).await;
    assert_eq!(sorted_ids(&report), vec![fx.id("n1.md"), fx.id("n9.md")]);
    assert_eq!(report.deletes, vec![fx.id("n0.md")]);
    assert_eq!(store.get(&fx.id("n1.md")).unwrap().body, "note 1, edited");
    assert_eq!(store.len(), 5);

    // A root removed from the configuration: its items go too.
    let other = tempfile::tempdir().unwrap();
    let options = FilesOptions::new([other.path().to_path_buf()]);
    let report = pass(
        &mut FilesConnector::new(FilesOptions {
            watch: false,
            ..options
        })
        .unwrap(),
        &mut store,
    )
    .await;
    assert_eq!(report.deletes.len(), 5);
    assert!(store.is_empty());
}

#[tokio::test]
async fn progress_and_batches_cover_a_large_initial_scan() {
    let fx = Fixture::new();
    for i in 0..25 {
        fx.write(&format!("d{}/f{i:02}.md", i % 3), format!("file {i}"));
    }
    let options = FilesOptions {
        batch_size: 10,
        ..fx.options()
    };
    let mut store = MiniStore::new("docs");
    let report = pass(&mut fx.connector(options), &mut store).await;
    assert_eq!(report.batches, 3);
    assert_eq!(report.upserts.len(), 25);
    let progress = report.last_progress.unwrap();
    assert_eq!((progress.done, progress.total), (25, 25));
}

#[tokio::test]
async fn missing_root_is_not_an_error_and_keeps_items() {
    let fx = Fixture::new();
    fx.write("notes/a.md", "a");
    let notes = fx.root.join("notes");
    let options = FilesOptions::new([notes.clone()]);
    let options = FilesOptions {
        watch: false,
        ..options
    };
    let mut store = MiniStore::new("docs");
    pass(&mut fx.connector(options.clone()), &mut store).await;
    assert_eq!(store.len(), 1);
    std::fs::rename(&notes, fx.root.join("elsewhere")).unwrap();
    let report = pass(&mut fx.connector(options.clone()), &mut store).await;
    assert!(report.upserts.is_empty() && report.deletes.is_empty());
    assert_eq!(store.len(), 1, "items under a missing root are kept");
    std::fs::rename(fx.root.join("elsewhere"), &notes).unwrap();
    let report = pass(&mut fx.connector(options), &mut store).await;
    assert!(report.upserts.is_empty() && report.deletes.is_empty());
}

#[tokio::test]
async fn invalid_options_are_config_errors() {
    assert!(matches!(
        FilesConnector::new(FilesOptions::default()),
        Err(FilesError::NoRoots)
    ));
    let err = FilesConnector::new(FilesOptions {
        include: vec!["a/[".into()],
        ..FilesOptions::new(["/tmp"])
    });
    let Err(err) = err else {
        panic!("bad glob accepted")
    };
    assert!(matches!(err, FilesError::BadGlob { .. }));
    let err: ctx_connector_api::ConnectorError = err.into();
    assert_eq!(err.kind, ctx_connector_api::ErrorKind::Config);
}

fn watching(fx: &Fixture) -> FilesConnector {
    fx.connector(FilesOptions {
        watch: true,
        ..fx.options()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_picks_up_a_new_file_quickly() {
    let fx = Fixture::new();
    let mut connector = watching(&fx);
    let mut store = MiniStore::new("docs");
    pass(&mut connector, &mut store).await;
    let started = std::time::Instant::now();
    fx.write("sub/new.md", "# Fresh\nhello");
    let id = fx.id("sub/new.md");
    wait_and_pass_until(&mut connector, &mut store, |r| {
        r.upserts.iter().any(|i| i.external_id == id)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(store.get(&id).unwrap().title, "Fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_propagates_as_delete_and_upsert() {
    let fx = Fixture::new();
    fx.write("old.md", "content");
    let mut connector = watching(&fx);
    let mut store = MiniStore::new("docs");
    pass(&mut connector, &mut store).await;
    std::fs::rename(fx.root.join("old.md"), fx.root.join("new.md")).unwrap();
    let (old, new) = (fx.id("old.md"), fx.id("new.md"));
    let report = wait_and_pass_until(&mut connector, &mut store, |r| {
        r.deletes.contains(&old) && r.upserts.iter().any(|i| i.external_id == new)
    })
    .await;
    assert_eq!(report.deletes, vec![old]);
    assert_eq!(sorted_ids(&report), vec![new.clone()]);
    assert_eq!(
        store.external_ids().into_iter().collect::<Vec<_>>(),
        vec![new]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_deletion_and_move_in_are_propagated() {
    let fx = Fixture::new();
    fx.write("proj/a.md", "a");
    fx.write("proj/sub/b.md", "b");
    fx.write("keep.md", "k");
    let outside = tempfile::tempdir().unwrap();
    let staged = outside.path().join("incoming");
    std::fs::create_dir_all(staged.join("deep")).unwrap();
    std::fs::write(staged.join("deep/c.md"), "c").unwrap();
    let mut connector = watching(&fx);
    let mut store = MiniStore::new("docs");
    pass(&mut connector, &mut store).await;
    assert_eq!(store.len(), 3);

    std::fs::remove_dir_all(fx.root.join("proj")).unwrap();
    let (a, b) = (fx.id("proj/a.md"), fx.id("proj/sub/b.md"));
    let report = wait_and_pass_until(&mut connector, &mut store, |r| {
        r.deletes.contains(&a) && r.deletes.contains(&b)
    })
    .await;
    assert!(report.upserts.is_empty());
    assert_eq!(
        store.external_ids().into_iter().collect::<Vec<_>>(),
        vec![fx.id("keep.md")]
    );

    // A whole tree moved in from outside the root arrives as one directory event.
    std::fs::rename(&staged, fx.root.join("incoming")).unwrap();
    let c = fx.id("incoming/deep/c.md");
    wait_and_pass_until(&mut connector, &mut store, |r| {
        r.upserts.iter().any(|i| i.external_id == c)
    })
    .await;
    assert_eq!(store.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_ignores_excluded_dirs() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.root.join(".git")).unwrap();
    let mut connector = watching(&fx);
    let mut store = MiniStore::new("docs");
    pass(&mut connector, &mut store).await;
    fx.write(".git/index", "churn");
    fx.write("node_modules/x.md", "churn");
    let woke = tokio::time::timeout(Duration::from_millis(800), connector.wait_for_change()).await;
    assert!(woke.is_err(), "woken by changes in excluded directories");
}

#[tokio::test]
async fn unwatched_connector_never_wakes() {
    let fx = Fixture::new();
    let mut connector = fx.connector(fx.options());
    assert_eq!(connector.wait_for_change().await.unwrap(), Wake::Never);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_root_that_appears_later_is_scanned() {
    let fx = Fixture::new();
    let later = fx.root.join("later");
    let mut connector = fx.connector(FilesOptions {
        watch: true,
        debounce: Duration::from_millis(100),
        ..FilesOptions::new([later.clone()])
    });
    let mut store = MiniStore::new("docs");
    let report = pass(&mut connector, &mut store).await;
    assert!(report.upserts.is_empty() && report.deletes.is_empty());
    fx.write("later/a.md", "arrived");
    let id = fx.id("later/a.md");
    wait_and_pass_until(&mut connector, &mut store, |r| {
        r.upserts.iter().any(|i| i.external_id == id)
    })
    .await;
    // Now watched: a second file arrives through the watcher.
    fx.write("later/b.md", "second");
    let id = fx.id("later/b.md");
    wait_and_pass_until(&mut connector, &mut store, |r| {
        r.upserts.iter().any(|i| i.external_id == id)
    })
    .await;
    assert_eq!(store.len(), 2);
}
