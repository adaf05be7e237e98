//! The daemon end to end: a real `files` connector on a temp folder, the real gRPC API over a
//! real Unix socket (and loopback TCP), the real `ctxd` binary for crash tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ctx_client::{Client, pb};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// A config dir with one `files` connector named `docs` over `<tmp>/docs`.
    fn new(extra_main: &str, extra_connector: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join("conf/connectors.d")).unwrap();
        std::fs::write(
            root.join("conf/config.toml"),
            format!(
                "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n{extra_main}\n",
                root.join("data").display(),
                root.join("run/ctxd.sock").display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("conf/connectors.d/docs.toml"),
            format!(
                "type = \"files\"\npaths = [\"{}\"]\ndebounce = \"100ms\"\n{extra_connector}\n",
                root.join("docs").display()
            ),
        )
        .unwrap();
        Setup { dir }
    }

    fn docs(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/ctxd.sock")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("conf/config.toml")
    }

    fn config(&self) -> ctx_config::Config {
        ctx_config::load(
            &ctx_config::ConfigSource::explicit(self.config_path()),
            &|_| None,
        )
        .unwrap()
    }

    async fn start(&self) -> (ctx_daemon::RunningDaemon, Client) {
        let daemon = ctx_daemon::start(self.config(), vec![]).await.unwrap();
        let client = Client::connect_unix(self.socket()).await.unwrap();
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

/// Waits until every connector finished a pass and the index caught up.
async fn wait_synced(client: &mut Client, timeout: Duration) -> pb::StatusResponse {
    let started = Instant::now();
    loop {
        let s = status(client).await;
        if s.connectors
            .iter()
            .all(|c| c.passes >= 1 && c.state == "idle")
            && s.index_lag == 0
        {
            return s;
        }
        assert!(started.elapsed() < timeout, "not synced in time: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn search(client: &mut Client, query: &str) -> pb::SearchResponse {
    client
        .api()
        .search(pb::SearchRequest {
            query: query.into(),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls a search until `check` holds; returns the time it took.
async fn until(
    client: &mut Client,
    query: &str,
    timeout: Duration,
    check: impl Fn(&pb::SearchResponse) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let r = search(client, query).await;
        if check(&r) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "condition on `{query}` not met within {timeout:?}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn grab(client: &mut Client, query: &str, budget: u32) -> pb::GrabResponse {
    client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: query.into(),
            token_budget: budget,
            filters: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_is_private_and_new_edited_deleted_files_propagate_within_two_seconds() {
    let setup = Setup::new("", "");
    std::fs::write(setup.docs().join("existing.md"), "# Existing\nsome words").unwrap();
    let (daemon, mut client) = setup.start().await;
    let mode = std::fs::metadata(setup.socket())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    wait_synced(&mut client, Duration::from_secs(20)).await;

    // New file.
    std::fs::write(
        setup.docs().join("plan.md"),
        "# Zebra plan\nThe zebracorn launch is in May.",
    )
    .unwrap();
    let took = until(&mut client, "zebracorn", Duration::from_secs(2), |r| {
        r.total == 1
    })
    .await;
    eprintln!("new file searchable after {took:?}");
    let found = grab(&mut client, "zebracorn", 8192).await;
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].title, "Zebra plan");
    let id = found.items[0].id.clone();

    // Edit: same id, new text, no duplicate.
    std::fs::write(
        setup.docs().join("plan.md"),
        "# Zebra plan\nThe zebracorn launch moved to June.",
    )
    .unwrap();
    until(&mut client, "june", Duration::from_secs(2), |r| {
        r.total == 1
    })
    .await;
    let after = search(&mut client, "zebracorn").await;
    assert_eq!(after.total, 1, "an edit must not duplicate");
    assert_eq!(after.hits[0].id, id);

    // Delete.
    std::fs::remove_file(setup.docs().join("plan.md")).unwrap();
    until(&mut client, "zebracorn", Duration::from_secs(2), |r| {
        r.total == 0
    })
    .await;
    let err = client
        .api()
        .get_item(pb::GetItemRequest { id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    daemon.stop().await;
    assert!(!setup.socket().exists(), "socket removed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_skipped_and_the_daemon_keeps_serving() {
    let setup = Setup::new("", "max_file_size = \"64 KiB\"");
    let docs = setup.docs();
    std::fs::write(docs.join("good.md"), "# Good\nquokka facts").unwrap();
    std::fs::write(
        docs.join("binary.dat"),
        [0u8, 1, 2, 3, 0, 255, 0, 7].repeat(100),
    )
    .unwrap();
    std::fs::write(docs.join("latin1.txt"), b"quokka caf\xe9 cr\xe8me").unwrap();
    std::fs::write(docs.join("huge.md"), "quokka ".repeat(20_000)).unwrap();
    std::fs::write(
        docs.join("broken.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog quokka",
    )
    .unwrap();
    std::fs::write(
        docs.join("broken.docx"),
        b"PK\x03\x04 not really a zip quokka",
    )
    .unwrap();
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(30)).await;
    assert_eq!(s.total_items, 1, "only the good file is an item: {s:?}");
    assert_eq!(search(&mut client, "quokka").await.total, 1);
    // Still serving and still watching.
    std::fs::write(docs.join("second.md"), "# Second\nquokka again").unwrap();
    until(&mut client, "quokka", Duration::from_secs(2), |r| {
        r.total == 2
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_respects_budgets_and_large_budgets_return_everything_related() {
    let setup = Setup::new("", "");
    for i in 0..30 {
        std::fs::write(
            setup.docs().join(format!("n{i}.md")),
            format!(
                "# Note {i} on the aardvark project\n{}",
                // Distinct sentences: repeating one would make the notes near-identical copies.
                (0..20 + i * 10)
                    .map(|j| format!(
                        "The aardvark rollout step {i}.{j} needs review and sign-off. "
                    ))
                    .collect::<String>()
            ),
        )
        .unwrap();
    }
    std::fs::write(setup.docs().join("other.md"), "# Other\nunrelated").unwrap();
    let (daemon, mut client) = setup.start().await;
    wait_synced(&mut client, Duration::from_secs(30)).await;
    // Every note searchable before the packing checks (on a loaded machine the last commit of
    // the projection can trail the status by a moment).
    until(&mut client, "aardvark", Duration::from_secs(30), |r| {
        r.total == 30
    })
    .await;
    for budget in [50, 500, 2000, 8192, 32_000] {
        let r = grab(&mut client, "aardvark rollout", budget).await;
        assert!(
            r.tokens_used <= budget,
            "budget {budget}: {}",
            r.tokens_used
        );
        assert_eq!(r.token_budget, budget);
        assert_eq!(r.tokenizer, "cl100k_base");
        assert!(r.items.iter().all(|i| !i.why.is_empty()));
    }
    let all = grab(&mut client, "aardvark", 1_000_000).await;
    assert_eq!(all.items.len(), 30, "everything related, and nothing else");
    assert!(all.items.iter().all(|i| !i.truncated));
    assert!(all.markdown.contains("source: docs"));
    assert_eq!(all.freshness.len(), 1);
    assert!(all.freshness[0].last_success_ms > 0);
    // Default budget.
    let default = grab(&mut client, "aardvark", 0).await;
    assert_eq!(default.token_budget, 8192);
    // Filters are validated.
    let err = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "aardvark".into(),
            token_budget: 100,
            filters: Some(pb::Filters {
                kinds: vec!["spreadsheet".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("unknown kind"), "{}", err.message());
    let filtered = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "aardvark".into(),
            token_budget: 1_000_000,
            filters: Some(pb::Filters {
                sources: vec!["elsewhere".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(filtered.items.is_empty());
    // Time expressions are understood (the files are from today), unless the request asks for
    // the keyword baseline, where they are just words.
    let mode_grab = |mode: pb::RetrievalMode| {
        let mut client = client.clone();
        async move {
            client
                .api()
                .grab_everything_related(pb::GrabRequest {
                    query: "aardvark before 2001-01-01".into(),
                    token_budget: 1_000_000,
                    mode: mode as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    assert!(mode_grab(pb::RetrievalMode::Full).await.items.is_empty());
    assert_eq!(mode_grab(pb::RetrievalMode::Bm25Only).await.items.len(), 30);
    daemon.stop().await;
}

fn grab_request(query: &str, budget: u32) -> pb::GrabRequest {
    pb::GrabRequest {
        query: query.into(),
        token_budget: budget,
        filters: None,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_returns_what_the_unary_call_does_and_survives_readers_that_leave() {
    let setup = Setup::new("", "");
    for i in 0..30 {
        std::fs::write(
            setup.docs().join(format!("n{i}.md")),
            format!(
                "# Note {i} on the aardvark project\n{}",
                "The aardvark rollout needs review and sign-off. ".repeat(20 + i * 10)
            ),
        )
        .unwrap();
    }
    // Many small items too, so a large window is more messages than the stream buffers.
    for i in 0..120 {
        std::fs::write(
            setup.docs().join(format!("memo{i}.txt")),
            format!("Aardvark memo {i}: the rollout checklist item {i} is done."),
        )
        .unwrap();
    }
    let (daemon, mut client) = setup.start().await;
    wait_synced(&mut client, Duration::from_secs(30)).await;
    let mut cut_somewhere = false;
    for budget in [50, 500, 2000, 8192, 32_000, 1_000_000, 0] {
        let unary = client
            .api()
            .grab_everything_related(grab_request("aardvark rollout", budget))
            .await
            .unwrap()
            .into_inner();
        let mut stream = client
            .grab_stream(grab_request("aardvark rollout", budget))
            .await
            .unwrap();
        // Each streamed item carries its rendering; the unary markdown is their concatenation.
        let mut items = Vec::new();
        let mut markdown = String::new();
        let summary = loop {
            match stream
                .next()
                .await
                .unwrap()
                .expect("a summary ends the stream")
            {
                ctx_client::GrabEvent::Item(item) => {
                    markdown.push_str(&item.markdown);
                    items.push(item.item.unwrap());
                }
                ctx_client::GrabEvent::Summary(summary) => break summary,
            }
        };
        assert!(
            stream.next().await.unwrap().is_none(),
            "nothing after the summary"
        );
        assert_eq!(
            items, unary.items,
            "budget {budget}: same items, order, tokens and text"
        );
        assert_eq!(markdown, unary.markdown, "budget {budget}");
        assert_eq!(summary.items as usize, unary.items.len());
        assert_eq!(summary.tokens_used, unary.tokens_used, "budget {budget}");
        assert_eq!(summary.token_budget, unary.token_budget);
        assert_eq!(summary.candidates, unary.candidates);
        assert_eq!(summary.cut, unary.cut, "budget {budget}");
        assert_eq!(summary.freshness, unary.freshness);
        assert_eq!(summary.tokenizer, unary.tokenizer);
        assert!(summary.tokens_used <= summary.token_budget);
        cut_somewhere |= !summary.cut.is_empty() && !items.is_empty();
        // The client's collect() rebuilds the unary response (all but the timing).
        let mut rebuilt = client
            .grab_stream(grab_request("aardvark rollout", budget))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        rebuilt.took_us = unary.took_us;
        assert_eq!(rebuilt, unary, "budget {budget}");
    }
    assert!(
        cut_somewhere,
        "some budget packs some items and cuts others"
    );

    // Bad requests fail with the unary call's status.
    let too_big = 5_000_000;
    let unary = client
        .api()
        .grab_everything_related(grab_request("aardvark", too_big))
        .await
        .unwrap_err();
    let streamed = client
        .api()
        .grab_everything_related_stream(grab_request("aardvark", too_big))
        .await
        .unwrap_err();
    assert_eq!(unary.code(), tonic::Code::InvalidArgument);
    assert_eq!(streamed.code(), unary.code());
    assert_eq!(streamed.message(), unary.message());
    let bad_kind = pb::GrabRequest {
        filters: Some(pb::Filters {
            kinds: vec!["spreadsheet".into()],
            ..Default::default()
        }),
        ..grab_request("aardvark", 100)
    };
    let err = match client.grab_stream(bad_kind).await {
        Err(ctx_client::ClientError::Status(s)) => s,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an unknown kind was accepted"),
    };
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Readers that leave early (after one item, or before any) break nothing.
    let everything = grab(&mut client, "aardvark", 1_000_000).await;
    assert!(everything.items.len() > 100, "{}", everything.items.len());
    for read in [1, 0, 1, 0] {
        let mut stream = client
            .grab_stream(grab_request("aardvark", 1_000_000))
            .await
            .unwrap();
        for _ in 0..read {
            assert!(matches!(
                stream.next().await.unwrap(),
                Some(ctx_client::GrabEvent::Item(_))
            ));
        }
        drop(stream);
    }
    let after = grab(&mut client, "aardvark", 1_000_000).await;
    assert_eq!(after.items, everything.items);
    let streamed = client
        .grab_stream(grab_request("aardvark", 1_000_000))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed.items, everything.items);
    tokio::time::timeout(Duration::from_secs(10), daemon.stop())
        .await
        .expect("the daemon stops with abandoned streams behind it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_refuses_calls_without_the_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = Setup::new(
        &format!("listen = \"127.0.0.1:{port}\"\ntoken_command = \"echo s3cret-token\""),
        "",
    );
    let (daemon, _unix) = setup.start().await;
    let url = format!("http://127.0.0.1:{port}");
    let mut anonymous = Client::connect_tcp(&url, None).await.unwrap();
    let err = anonymous
        .api()
        .status(pb::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = anonymous
        .api()
        .grab_everything_related_stream(pb::GrabRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut wrong = Client::connect_tcp(&url, Some("nope")).await.unwrap();
    assert_eq!(
        wrong
            .api()
            .status(pb::StatusRequest {})
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );
    let mut authed = Client::connect_tcp(&url, Some("s3cret-token"))
        .await
        .unwrap();
    assert!(authed.api().status(pb::StatusRequest {}).await.is_ok());
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_serve_generic_tools() {
    let setup = Setup::new("", "");
    let (daemon, client) = setup.start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(client.channel());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "ctx.v1.ContextService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(client.channel());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"ctx.v1.ContextService".to_string()),
        "{names:?}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_socket_refuses_to_start_and_sync_names_are_checked() {
    let setup = Setup::new("", "");
    let (daemon, mut client) = setup.start().await;
    let second = ctx_daemon::start(setup.config(), vec![]).await;
    match second {
        Err(ctx_daemon::DaemonError::AlreadyRunning(path)) => assert_eq!(path, setup.socket()),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second daemon started on a live socket"),
    }
    // The first one still answers.
    wait_synced(&mut client, Duration::from_secs(20)).await;
    let err = client
        .api()
        .sync(pb::SyncRequest {
            name: "nosuch".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("docs"), "{}", err.message());
    let ok = client
        .api()
        .sync(pb::SyncRequest {
            name: "docs".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.triggered.len(), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_serves_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let env = |name: &str| match name {
        "XDG_CONFIG_HOME" => Some(dir.path().join("nowhere").display().to_string()),
        "CTX_DATA_DIR" => Some(dir.path().join("data").display().to_string()),
        "CTX_SOCKET" => Some(dir.path().join("s.sock").display().to_string()),
        "HOME" => Some(dir.path().display().to_string()),
        _ => None,
    };
    let config = ctx_config::load(&ctx_config::ConfigSource::default(), &env).unwrap();
    assert!(config.connectors.is_empty());
    let daemon = ctx_daemon::start(config, vec![]).await.unwrap();
    let mut client = Client::connect_unix(dir.path().join("s.sock"))
        .await
        .unwrap();
    let s = status(&mut client).await;
    assert_eq!(s.total_items, 0);
    assert!(s.connectors.is_empty());
    let r = grab(&mut client, "anything", 1000).await;
    assert!(r.items.is_empty());
    assert_eq!(r.tokens_used, 0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_connector_file_removes_its_items_but_a_broken_file_keeps_them() {
    let setup = Setup::new("", "");
    std::fs::write(setup.docs().join("a.md"), "# A\nokapi").unwrap();
    {
        let (daemon, mut client) = setup.start().await;
        wait_synced(&mut client, Duration::from_secs(20)).await;
        daemon.stop().await;
    }
    // A typo in the connector file: the connector does not run, its data stays.
    let connector_file = setup.dir.path().join("conf/connectors.d/docs.toml");
    let good = std::fs::read_to_string(&connector_file).unwrap();
    std::fs::write(&connector_file, format!("{good}\npahts = 1\n")).unwrap();
    let (config, bad) = ctx_config::load_lenient(
        &ctx_config::ConfigSource::explicit(setup.config_path()),
        &|_| None,
    )
    .unwrap();
    assert_eq!(bad.len(), 1);
    {
        let daemon = ctx_daemon::start(config, bad).await.unwrap();
        let mut client = Client::connect_unix(setup.socket()).await.unwrap();
        assert_eq!(status(&mut client).await.total_items, 1);
        daemon.stop().await;
    }
    // The file is gone: so are its items.
    std::fs::remove_file(&connector_file).unwrap();
    let (daemon, mut client) = setup.start().await;
    assert_eq!(status(&mut client).await.total_items, 0);
    assert_eq!(search(&mut client, "okapi").await.total, 0);
    daemon.stop().await;
}

fn spawn_ctxd(setup: &Setup) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ctxd"))
        .arg("--config")
        .arg(setup.config_path())
        .arg("--log")
        .arg("warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

async fn connect_retrying(socket: &Path) -> Client {
    let started = Instant::now();
    loop {
        if let Ok(c) = Client::connect_unix(socket).await {
            return c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ctxd did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_an_initial_scan_loses_and_duplicates_nothing() {
    const FILES: usize = 10_000;
    let setup = Setup::new("", "");
    for i in 0..FILES {
        let sub = setup.docs().join(format!("d{:03}", i % 100));
        if i < 100 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(
            sub.join(format!("f{i}.md")),
            format!("# File {i}\ncommonword unique{i} text about item {i}\n"),
        )
        .unwrap();
    }
    let mut child = spawn_ctxd(&setup);
    let mut client = connect_retrying(&setup.socket()).await;
    // Wait until the scan is under way but not done, then kill -9.
    let started = Instant::now();
    loop {
        let s = status(&mut client).await;
        if s.total_items > 200 {
            assert!(
                (s.total_items as usize) < FILES,
                "scan finished before the kill; make the corpus bigger"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "scan never started: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(client);

    let mut child = spawn_ctxd(&setup);
    let mut client = connect_retrying(&setup.socket()).await;
    let s = wait_synced(&mut client, Duration::from_secs(300)).await;
    assert_eq!(s.total_items as usize, FILES);
    assert_eq!(s.connectors[0].item_count as usize, FILES);
    // The index holds each file exactly once.
    let all = search(&mut client, "commonword").await;
    assert_eq!(all.total as usize, FILES);
    for probe in [0, 1234, FILES - 1] {
        let r = search(&mut client, &format!("unique{probe}")).await;
        assert_eq!(r.total, 1, "unique{probe}");
    }
    // SIGTERM: clean shutdown removes the socket.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let code = child.wait().unwrap();
    assert!(code.success(), "ctxd exit on SIGTERM: {code:?}");
    assert!(!setup.socket().exists());
}

fn write_mail(dir: &Path, name: &str, raw: &str) {
    std::fs::write(dir.join(name), raw.replace('\n', "\r\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_messages_are_found_by_person_and_company_and_flag_changes_are_not_new_items() {
    let setup = Setup::new("", "");
    let maildir = setup.dir.path().join("Mail");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(
        setup.dir.path().join("conf/connectors.d/mail.toml"),
        format!(
            "type = \"maildir\"\npath = \"{}\"\ndebounce = \"100ms\"\n",
            maildir.display()
        ),
    )
    .unwrap();
    write_mail(
        &maildir.join("cur"),
        "1000.a.host:2,S",
        "From: Dana Lee <dana@acme-corp.com>\nTo: me@example.org\nSubject: Renewal terms\nMessage-ID: <r1@acme-corp.com>\nDate: Mon, 02 Nov 2026 10:00:00 +0000\n\nCan we talk about the renewal pricing?\n",
    );
    write_mail(
        &maildir.join("cur"),
        "1001.b.host:2,S",
        "From: me@example.org\nTo: Dana Lee <dana@acme-corp.com>\nSubject: Re: Renewal terms\nMessage-ID: <r2@example.org>\nIn-Reply-To: <r1@acme-corp.com>\nReferences: <r1@acme-corp.com>\nDate: Mon, 02 Nov 2026 11:00:00 +0000\n\nSure, Tuesday works.\n\nOn Mon, Dana Lee wrote:\n> Can we talk about the renewal pricing?\n",
    );
    write_mail(
        &maildir.join("new"),
        "1002.c.host",
        "From: Bob <bob@globex.io>\nTo: me@example.org\nSubject: Lunch\nMessage-ID: <x@globex.io>\nDate: Tue, 03 Nov 2026 12:00:00 +0000\n\nPizza?\n",
    );
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(30)).await;
    let mail = s.connectors.iter().find(|c| c.name == "mail").unwrap();
    assert_eq!(mail.item_count, 3, "{s:?}");
    assert_eq!(mail.r#type, "maildir");

    // A person named in the query brings both messages of the thread, not the lunch mail.
    let r = grab(&mut client, "Dana Lee", 8192).await;
    let titles: Vec<&str> = r.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(r.items.len(), 2, "{titles:?}");
    assert!(
        r.items
            .iter()
            .all(|i| i.kind == "email" && i.source == "mail")
    );
    // The organisation from the address domain.
    let r = grab(&mut client, "acme-corp.com", 8192).await;
    assert_eq!(r.items.len(), 2);
    let mut thread_keys = Vec::new();
    for found in &r.items {
        let item = client
            .api()
            .get_item(pb::GetItemRequest {
                id: found.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .item
            .unwrap();
        thread_keys.push(item.thread_key);
    }
    assert_eq!(thread_keys[0], thread_keys[1], "one thread");
    assert!(
        thread_keys[0].contains("r1@acme-corp.com"),
        "{thread_keys:?}"
    );

    // Reading the new mail (new/ → cur/ with the seen flag) is not a new item.
    std::fs::rename(
        maildir.join("new/1002.c.host"),
        maildir.join("cur/1002.c.host:2,S"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let s = wait_synced(&mut client, Duration::from_secs(10)).await;
    let mail = s.connectors.iter().find(|c| c.name == "mail").unwrap();
    assert_eq!(mail.item_count, 3);
    assert_eq!(search(&mut client, "pizza").await.total, 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_of_a_successful_pass_show_in_status_and_clear_when_fixed() {
    let setup = Setup::new("", "");
    let cal = setup.dir.path().join("cal");
    std::fs::create_dir_all(&cal).unwrap();
    std::fs::write(cal.join("notes.ics"), "this is not a calendar").unwrap();
    // A subscription nobody serves: the pass succeeds (nothing to delete), the failure shows.
    std::fs::write(
        setup.dir.path().join("conf/connectors.d/cal.toml"),
        format!(
            "type = \"ics\"\npaths = [\"{}\"]\nurls = [\"http://127.0.0.1:9/gone.ics\"]\ndebounce = \"100ms\"\n",
            cal.display()
        ),
    )
    .unwrap();
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(30)).await;
    let c = s.connectors.iter().find(|c| c.name == "cal").unwrap();
    assert_eq!(c.last_error, "", "{c:?}");
    assert_eq!(c.problems.len(), 2, "{c:?}");
    assert!(
        c.problems
            .iter()
            .any(|p| p.starts_with("subscription http://127.0.0.1:9/gone.ics could not be fetched")),
        "{c:?}"
    );
    assert!(
        c.problems
            .iter()
            .any(|p| p.ends_with("/notes.ics: not an iCalendar file")),
        "{c:?}"
    );
    let docs = s.connectors.iter().find(|c| c.name == "docs").unwrap();
    assert!(docs.problems.is_empty(), "{docs:?}");

    // The file is fixed: the next pass reports only the subscription.
    let passes = c.passes;
    std::fs::write(
        cal.join("notes.ics"),
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:n1\r\nSUMMARY:Review\r\nDTSTART:20261201T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let started = Instant::now();
    let c = loop {
        let s = status(&mut client).await;
        let c = s.connectors.into_iter().find(|c| c.name == "cal").unwrap();
        if c.passes > passes && c.state == "idle" {
            break c;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(c.item_count, 1, "{c:?}");
    assert_eq!(c.problems.len(), 1, "{c:?}");
    assert!(c.problems[0].contains("gone.ics"), "{c:?}");
    daemon.stop().await;
}

/// Issue 4: a recurring series is one stored item, found by the date of any occurrence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_meeting_is_found_by_a_past_occurrence_while_staying_one_item() {
    use chrono::{Datelike, Duration as Days, Utc};
    let setup = Setup::new("", "");
    let cal = setup.dir.path().join("cal");
    std::fs::create_dir_all(&cal).unwrap();
    let today = Utc::now().date_naive();
    let this_monday = today - Days::days(i64::from(today.weekday().num_days_from_monday()));
    // Every Monday 10:00 UTC since eight weeks ago: its stored timestamp is the next
    // occurrence, never last week, so only the occurrence index can place it there.
    let series_start = this_monday - Days::days(56);
    // A one-off meeting three weeks ago with the same person: not last week.
    let one_off = this_monday - Days::days(19);
    let day = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    std::fs::write(
        cal.join("work.ics"),
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly-1\r\nSUMMARY:Pipeline review\r\nDTSTART:{s}T100000Z\r\nDTEND:{s}T103000Z\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO\r\nATTENDEE;CN=Dana Whitfield:mailto:dana@acme.example\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:once-1\r\nSUMMARY:Kickoff\r\nDTSTART:{o}T150000Z\r\nDTEND:{o}T160000Z\r\n\
ATTENDEE;CN=Dana Whitfield:mailto:dana@acme.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            s = day(series_start),
            o = day(one_off),
        ),
    )
    .unwrap();
    std::fs::write(
        setup.dir.path().join("conf/connectors.d/cal.toml"),
        format!(
            "type = \"ics\"\npaths = [\"{}\"]\ndebounce = \"100ms\"\n",
            cal.display()
        ),
    )
    .unwrap();
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(30)).await;
    let c = s.connectors.iter().find(|c| c.name == "cal").unwrap();
    assert_eq!(c.item_count, 2, "the series is one item: {c:?}");

    let titles = |r: &pb::GrabResponse| -> Vec<String> {
        let mut t: Vec<String> = r.items.iter().map(|i| i.title.clone()).collect();
        t.sort();
        t
    };
    let r = grab(&mut client, "meetings with Dana Whitfield last week", 8_000).await;
    assert_eq!(titles(&r), vec!["Pipeline review".to_string()], "{r:?}");
    let last_monday = (this_monday - Days::days(7)).format("%Y-%m-%d 10:00 UTC");
    assert!(
        r.items[0].why.contains(&format!("occurs {last_monday}")),
        "the why names the occurrence: {r:?}"
    );
    let r = grab(&mut client, "meetings with Dana Whitfield", 8_000).await;
    assert_eq!(
        titles(&r),
        vec!["Kickoff".to_string(), "Pipeline review".to_string()],
        "{r:?}"
    );
    daemon.stop().await;
}
