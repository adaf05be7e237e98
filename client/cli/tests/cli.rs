//! The real `ctx` binary against a real daemon started in this process: a `files` connector over
//! a few markdown files in a temp folder, served over a real Unix socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ctx_client::{Client, pb};
use serde_json::Value;

const SOURCE: &str = "notes";

/// A daemon on a temp dir, stopped (and the dir removed) on drop.
struct Daemon {
    runtime: tokio::runtime::Runtime,
    daemon: Option<ctx_daemon::RunningDaemon>,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Writes `files` under `<tmp>/docs`, starts a daemon with one `files` connector named
    /// `notes` over it, and waits until indexed.
    fn start(files: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(files, "watch = true\ndebounce = \"100ms\"\n")
    }

    /// Like [`Daemon::start`], with extra lines in the connector file.
    fn start_with(files: &[(&str, &str)], connector_extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let docs = root.join("docs");
        for (name, text) in files {
            let path = docs.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(root.join("conf/connectors.d")).unwrap();
        std::fs::write(
            root.join("conf/config.toml"),
            format!(
                "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n",
                root.join("data").display(),
                root.join("ctxd.sock").display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join(format!("conf/connectors.d/{SOURCE}.toml")),
            format!(
                "type = \"files\"\npaths = [\"{}\"]\npoll_interval = \"1h\"\n{connector_extra}",
                docs.display()
            ),
        )
        .unwrap();
        let config = ctx_config::load(
            &ctx_config::ConfigSource::explicit(root.join("conf/config.toml")),
            &|_| None,
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let socket = root.join("ctxd.sock");
        let daemon = runtime.block_on(async {
            let daemon = ctx_daemon::start(config, vec![]).await.unwrap();
            let mut client = Client::connect_unix(&socket).await.unwrap();
            let started = Instant::now();
            loop {
                let s = client
                    .api()
                    .status(pb::StatusRequest {})
                    .await
                    .unwrap()
                    .into_inner();
                if s.connectors.iter().all(|c| c.passes >= 1) && s.index_lag == 0 {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "not indexed in time: {s:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            daemon
        });
        Daemon {
            runtime,
            daemon: Some(daemon),
            dir,
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("ctxd.sock")
    }

    fn docs(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    /// Runs `ctx --socket <socket> ARGS...`.
    fn ctx(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut full = vec!["--socket", socket.to_str().unwrap()];
        full.extend_from_slice(args);
        ctx(self.dir.path(), &full)
    }

    /// Runs `ctx ... --json`, checks success, parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.push("--json");
        let out = self.ctx(&full);
        assert_success(&out, args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ctx {args:?} --json printed invalid JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            self.runtime.block_on(daemon.stop());
        }
    }
}

/// Runs the real binary with an isolated environment (HOME and XDG dirs inside `home`).
fn ctx(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ctx"))
        .args(args)
        .env_remove("CTX_SOCKET")
        .env_remove("CTX_CONFIG")
        .env_remove("CTX_DATA_DIR")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("XDG_RUNTIME_DIR", home.join("xdg-run"))
        .output()
        .expect("cannot run ctx")
}

fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "ctx {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sample_files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "acme/renewal.md",
            "# Acme renewal\n\nThe Acme Corp renewal is due on 31 March. Janet Morales asked for \
             usage-based pricing; Marcus Chen owns the deal.\n",
        ),
        (
            "projects/falcon.md",
            "# Project Falcon\n\nThe ingestion pipeline of Project Falcon reaches 40k docs/s. \
             Priya Raman leads it.\n",
        ),
        (
            "hr/offsite.md",
            "# Offsite planning\n\nThe team offsite is in Lisbon in May. Budget approved.\n",
        ),
    ]
}

fn titles(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn query_json_obeys_the_budget_and_filters() {
    let d = Daemon::start(&sample_files());

    let q = d.json(&["query", "Acme renewal pricing"]);
    let used = q["tokens_used"].as_u64().unwrap();
    let budget = q["token_budget"].as_u64().unwrap();
    assert!(used <= budget, "{q}");
    assert_eq!(budget, 8192, "the daemon's default budget");
    assert_eq!(q["tokenizer"], "cl100k_base");
    assert!(q["took_ms"].is_f64() || q["took_ms"].is_u64(), "{q}");
    assert!(q["candidates"].as_u64().unwrap() >= 1);
    assert!(q["markdown"].as_str().unwrap().contains("Acme"));
    let items = q["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{q}");
    let first = &items[0];
    assert_eq!(first["title"], "Acme renewal", "{q}");
    assert_eq!(first["source"], SOURCE);
    assert_eq!(first["kind"], "document");
    assert!(first["locator"].as_str().unwrap().ends_with("renewal.md"));
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("usage-based pricing")
    );
    for key in [
        "id",
        "timestamp",
        "tokens",
        "score",
        "why",
        "truncated",
        "people",
    ] {
        assert!(first.get(key).is_some(), "item lacks `{key}`: {first}");
    }
    assert!(first["timestamp"].is_null() || first["timestamp"].as_str().unwrap().contains('T'));
    let fresh = q["freshness"].as_array().unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0]["source"], SOURCE);
    assert!(fresh[0]["last_success"].as_str().unwrap().ends_with('Z'));
    assert!(q["cut"].is_array());

    // A tiny budget is never exceeded.
    let q = d.json(&["query", "Acme renewal pricing", "--budget", "60"]);
    assert_eq!(q["token_budget"], 60);
    assert!(q["tokens_used"].as_u64().unwrap() <= 60, "{q}");

    // Filters.
    let q = d.json(&["query", "Acme", "--source", SOURCE, "--kind", "document"]);
    assert!(
        titles(&q["items"]).contains(&"Acme renewal".to_string()),
        "{q}"
    );
    let q = d.json(&["query", "Acme", "--source", "elsewhere"]);
    assert_eq!(q["items"].as_array().unwrap().len(), 0, "{q}");
    let q = d.json(&["query", "Acme", "--kind", "email"]);
    assert_eq!(q["items"].as_array().unwrap().len(), 0, "{q}");
    // Files were written just now: a window in the future holds nothing, a past one all.
    let q = d.json(&["query", "Acme", "--since", "2d", "--until", "2999-01-01"]);
    assert!(!q["items"].as_array().unwrap().is_empty(), "{q}");
    let q = d.json(&["query", "Acme", "--since", "2999-01-01"]);
    assert_eq!(q["items"].as_array().unwrap().len(), 0, "{q}");

    // An unknown kind is a usage error, reported by the daemon.
    let out = d.ctx(&["query", "Acme", "--kind", "spaceship"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown kind"), "{}", stderr(&out));

    // Text mode: markdown on stdout, a summary on stderr.
    let out = d.ctx(&["query", "Project Falcon"]);
    assert_success(&out, &["query"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Project Falcon"), "{stdout}");
    let err = stderr(&out);
    assert!(
        err.contains("tokens") && err.contains("candidates"),
        "{err}"
    );
}

#[test]
fn query_stream_prints_items_as_json_lines_then_the_summary() {
    let d = Daemon::start(&sample_files());
    for budget in ["8192", "60"] {
        let whole = d.json(&["query", "Acme renewal pricing", "--budget", budget]);
        let args = [
            "query",
            "Acme renewal pricing",
            "--budget",
            budget,
            "--stream",
            "--json",
        ];
        let out = d.ctx(&args);
        assert_success(&out, &args);
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let (summary, items) = lines.split_last().expect("at least the summary");
        assert_eq!(summary["type"], "summary", "{summary}");
        assert!(items.iter().all(|i| i["type"] == "item"), "{lines:?}");
        let whole_items = whole["items"].as_array().unwrap();
        assert_eq!(items.len(), whole_items.len());
        assert_eq!(summary["items"].as_u64().unwrap() as usize, items.len());
        let mut markdown = String::new();
        for (streamed, unary) in items.iter().zip(whole_items) {
            for key in [
                "id",
                "title",
                "tokens",
                "text",
                "why",
                "truncated",
                "people",
            ] {
                assert_eq!(streamed[key], unary[key], "`{key}` differs");
            }
            markdown.push_str(streamed["markdown"].as_str().unwrap());
        }
        assert_eq!(markdown, whole["markdown"].as_str().unwrap());
        for key in [
            "tokens_used",
            "token_budget",
            "candidates",
            "cut",
            "freshness",
            "tokenizer",
        ] {
            assert_eq!(summary[key], whole[key], "`{key}` differs");
        }
    }
    // Text mode: the same markdown, the summary on stderr.
    let whole = d.ctx(&["query", "Project Falcon"]);
    let out = d.ctx(&["query", "Project Falcon", "--stream"]);
    assert_success(&out, &["query", "--stream"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&whole.stdout)
    );
    let err = stderr(&out);
    assert!(
        err.contains("tokens") && err.contains("candidates"),
        "{err}"
    );
    // A bad request is the same usage error as without --stream.
    let out = d.ctx(&["query", "Acme", "--kind", "spaceship", "--stream"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown kind"), "{}", stderr(&out));
}

#[test]
fn get_search_and_status() {
    let d = Daemon::start(&sample_files());
    let q = d.json(&["query", "offsite Lisbon"]);
    let item = &q["items"][0];
    assert_eq!(item["title"], "Offsite planning", "{q}");
    let id = item["id"].as_str().unwrap();

    let got = d.json(&["get", id]);
    assert_eq!(got["id"], id);
    assert_eq!(got["source"], SOURCE);
    assert!(
        got["body"].as_str().unwrap().contains("Lisbon in May"),
        "{got}"
    );
    assert!(got["tokens"].as_u64().unwrap() > 0);
    assert!(got["updated"].as_str().is_some(), "{got}");

    let out = d.ctx(&["get", id]);
    assert_success(&out, &["get"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Title:") && text.contains("Offsite planning"),
        "{text}"
    );
    assert!(text.contains("Lisbon in May"), "{text}");

    let out = d.ctx(&["get", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no item with id"), "{}", stderr(&out));

    let s = d.json(&["search", "Falcon ingestion"]);
    assert!(s["total"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["hits"][0]["title"], "Project Falcon", "{s}");
    assert!(s["hits"][0]["snippet"].as_str().unwrap().contains("Falcon"));
    let s = d.json(&[
        "search",
        "Falcon ingestion",
        "--limit",
        "1",
        "--offset",
        "5",
    ]);
    assert_eq!(s["hits"].as_array().unwrap().len(), 0, "{s}");
    let out = d.ctx(&["search", "Falcon"]);
    assert_success(&out, &["search"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Project Falcon"));

    let st = d.json(&["status"]);
    assert_eq!(st["index_lag"], 0, "{st}");
    assert_eq!(st["total_items"], 3, "{st}");
    assert_eq!(st["tokenizer"], "cl100k_base");
    assert!(st["started"].as_str().unwrap().ends_with('Z'));
    let c = &st["connectors"][0];
    assert_eq!(c["name"], SOURCE, "{st}");
    assert_eq!(c["type"], "files");
    assert_eq!(c["item_count"], 3);
    assert!(c["passes"].as_u64().unwrap() >= 1);
    assert!(c["last_success"].as_str().is_some(), "{st}");
    assert!(c["last_error"].is_null(), "{st}");
    let out = d.ctx(&["status"]);
    assert_success(&out, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(SOURCE) && text.contains("index lag 0"),
        "{text}"
    );
}

#[test]
fn sync_wait_makes_a_new_file_queryable() {
    let d = Daemon::start(&sample_files());
    let q = d.json(&["query", "quokka sanctuary"]);
    assert!(
        !titles(&q["items"]).contains(&"Quokka sanctuary".to_string()),
        "{q}"
    );
    std::fs::write(
        d.docs().join("quokka.md"),
        "# Quokka sanctuary\n\nThe quokka sanctuary on Rottnest needs a new fence.\n",
    )
    .unwrap();
    // Let the watcher report the file (debounce 100 ms): the files connector only rescans on
    // watch events (see the no-watcher test below), and --wait must then wait for that pass.
    std::thread::sleep(Duration::from_millis(400));
    let out = d.ctx(&["sync", SOURCE, "--wait", "--timeout", "60"]);
    assert_success(&out, &["sync"]);
    assert!(stderr(&out).contains("sync done"), "{}", stderr(&out));
    let q = d.json(&["query", "quokka sanctuary"]);
    assert_eq!(q["items"][0]["title"], "Quokka sanctuary", "{q}");

    // Without --wait it only triggers; all connectors when no name is given.
    let out = d.ctx(&["sync"]);
    assert_success(&out, &["sync"]);
    assert!(
        stderr(&out).contains("sync triggered: notes"),
        "{}",
        stderr(&out)
    );

    let out = d.ctx(&["sync", "nosuch", "--wait"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no connector named `nosuch`"),
        "{}",
        stderr(&out)
    );
}

/// The strict form: no watcher, so only the pass that `ctx sync` triggers can find the file.
/// Regression: a pass triggered by Sync (or the poll interval) did not rescan when the watcher
/// had reported nothing, so with `watch = false` new files were never found after the first pass.
#[test]
fn sync_wait_without_a_watcher_makes_a_new_file_queryable() {
    let d = Daemon::start_with(&sample_files(), "watch = false\n");
    std::fs::write(
        d.docs().join("quokka.md"),
        "# Quokka sanctuary\n\nThe quokka sanctuary on Rottnest needs a new fence.\n",
    )
    .unwrap();
    let out = d.ctx(&["sync", SOURCE, "--wait", "--timeout", "60"]);
    assert_success(&out, &["sync"]);
    let q = d.json(&["query", "quokka sanctuary"]);
    assert_eq!(q["items"][0]["title"], "Quokka sanctuary", "{q}");
}

#[test]
fn config_check_reports_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("connectors.d")).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        "[daemon]\ndata_dir = \"/tmp/x\"\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("connectors.d/bad.toml"),
        "type = \"files\"\npahts = [\"/tmp\"]\n",
    )
    .unwrap();
    let config = conf.join("config.toml");
    let out = ctx(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("bad.toml:2:1"), "{err}");
    assert!(err.contains("hint:"), "{err}");

    // The same configuration without the bad file checks fine and is described.
    std::fs::remove_file(conf.join("connectors.d/bad.toml")).unwrap();
    std::fs::write(
        conf.join("connectors.d/notes.toml"),
        "type = \"files\"\npaths = [\"/srv/notes\"]\n",
    )
    .unwrap();
    let out = ctx(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert_success(&out, &["config", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(config.to_str().unwrap()), "{text}");
    assert!(text.contains("/tmp/x"), "{text}");
    assert!(text.contains("notes (files, enabled"), "{text}");
    assert!(text.contains("/srv/notes"), "{text}");

    // A broken main file stops the client commands too, with exit code 2.
    std::fs::write(&config, "[daemon\n").unwrap();
    let out = ctx(
        dir.path(),
        &["--config", config.to_str().unwrap(), "status"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("config.toml:1:"), "{}", stderr(&out));
}

#[test]
fn config_init_writes_starter_files_once() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cfg");
    let out = ctx(
        dir.path(),
        &["config", "init", "--dir", target.to_str().unwrap()],
    );
    assert_success(&out, &["config", "init"]);
    assert!(target.join("config.toml").is_file());
    assert!(target.join("connectors.d/documents.toml").is_file());
    assert!(String::from_utf8_lossy(&out.stdout).contains("next steps"));

    let config = target.join("config.toml");
    let out = ctx(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert_success(&out, &["config", "check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("documents (files, disabled"));

    let out = ctx(
        dir.path(),
        &["config", "init", "--dir", target.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // Without --dir: next to the default config path ($XDG_CONFIG_HOME/ctx).
    let out = ctx(dir.path(), &["config", "init"]);
    assert_success(&out, &["config", "init"]);
    assert!(dir.path().join("xdg-config/ctx/config.toml").is_file());
}

#[test]
fn query_without_a_daemon_explains_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let out = ctx(
        dir.path(),
        &["--socket", socket.to_str().unwrap(), "query", "Acme"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("nobody.sock") && err.contains("hint:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // A leftover socket file nobody listens on.
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(listener);
    let out = ctx(
        dir.path(),
        &["--socket", socket.to_str().unwrap(), "status"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));

    // With no flags, the socket comes from the default config (none here): still a clear error.
    let out = ctx(dir.path(), &["query", "Acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("xdg-run/ctx/ctxd.sock"),
        "{}",
        stderr(&out)
    );

    // The environment variable works like the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_ctx"))
        .args(["status"])
        .env("CTX_SOCKET", dir.path().join("env.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("env.sock"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let s = socket.to_str().unwrap();
    for args in [
        vec!["--socket", s, "query", "x", "--since", "last tuesday"],
        vec![
            "--socket",
            s,
            "query",
            "x",
            "--since",
            "2024-03-02",
            "--until",
            "2024-03-01",
        ],
        vec!["--socket", s, "query", "  "],
        vec!["--socket", s, "search", "x", "--limit", "0"],
        vec!["--socket", s, "frobnicate"],
        vec![
            "--tcp",
            "http://127.0.0.1:1",
            "--token-env",
            "CTX_TEST_SURELY_UNSET",
            "status",
        ],
    ] {
        let out = ctx(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("error"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let started = Instant::now();
    let out = ctx(
        dir.path(),
        &["demo", "--docs", "40", "--dir", work.to_str().unwrap()],
    );
    assert_success(&out, &["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[1/"), "{stdout}");
    assert!(stdout.contains("budget"), "{stdout}");
    assert!(stdout.contains("tokens"), "{stdout}");
    assert!(stdout.contains("as a model would get it"), "{stdout}");
    assert!(stdout.contains("done in"), "{stdout}");
    assert!(stdout.contains("[email from mail]"), "{stdout}");
    assert!(stdout.contains("[event from calendar]"), "{stdout}");
    // Documents come back too (a mail thread is packed as one unit, so the first lines shown
    // may all be one thread; the kinds line counts everything that came back).
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("kinds:") && l.contains(" document")),
        "{stdout}"
    );
    assert!(work.join("corpus").is_dir());
    assert!(
        work.join("Mail")
            .join(".Customers.Acme")
            .join("cur")
            .is_dir()
    );
    assert!(work.join("calendars").join("acme.ics").is_file());
    assert!(work.join("connectors.d").join("mail.toml").is_file());
    assert!(work.join("connectors.d").join("calendar.toml").is_file());
    assert!(work.join("data").is_dir());
    assert!(
        !work.join("ctxd.sock").exists(),
        "the daemon must be stopped"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    // A second run over the same directory reuses the store.
    let out = ctx(
        dir.path(),
        &["demo", "--docs", "40", "--dir", work.to_str().unwrap()],
    );
    assert_success(&out, &["demo (again)"]);
}

#[test]
fn config_check_describes_mail_and_calendar_connectors_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("connectors.d")).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        "[daemon]\ndata_dir = \"/tmp/x\"\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("connectors.d/work.toml"),
        "type = \"imap\"\nhost = \"imap.example.com\"\nuser = \"me@example.com\"\npassword_env = \"WORK_IMAP_PASSWORD\"\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("connectors.d/cal.toml"),
        "type = \"ics\"\nurls = [\"https://example.com/team.ics\"]\n",
    )
    .unwrap();
    let config = conf.join("config.toml");
    let out = ctx(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert_success(&out, &["config", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("imap.example.com:993 (tls)"), "{text}");
    assert!(
        text.contains("me@example.com with password from $WORK_IMAP_PASSWORD"),
        "{text}"
    );
    assert!(
        text.contains("url      https://example.com/team.ics"),
        "{text}"
    );
    assert!(text.contains("skip     Trash, Spam, Junk"), "{text}");
}

// ------------------------------------------------------------------ ask ----

/// What the fake chat endpoint received.
struct ChatCall {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// A one-shot HTTP/1.1 server on loopback speaking OpenAI's chat-completions wire format.
/// `respond` gets the request body and returns (status line, content type, body chunks); the
/// chunks are written with pauses between them, as a streaming server would.
fn fake_chat_server(
    respond: impl FnOnce(&Value) -> (&'static str, &'static str, Vec<String>) + Send + 'static,
) -> (String, std::thread::JoinHandle<ChatCall>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("the request has a content-length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        let (status, content_type, chunks) = respond(&body);
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        for chunk in chunks {
            stream.write_all(chunk.as_bytes()).unwrap();
            stream.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        ChatCall {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body,
        }
    });
    (url, handle)
}

/// Writes `[ask]` into the CLI's default config file (the daemon's config lives elsewhere).
fn write_ask_config(d: &Daemon, ask: &str) {
    let dir = d.dir.path().join("xdg-config/ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), format!("[ask]\n{ask}")).unwrap();
}

#[test]
fn ask_streams_the_answer_with_the_context_and_lists_what_it_cites() {
    let d = Daemon::start(&sample_files());
    let (url, server) = fake_chat_server(|request| {
        // Cite the renewal document by the id its header shows, as a model would.
        let context = request["messages"][1]["content"].as_str().unwrap();
        let header = context
            .lines()
            .find(|l| l.contains("acme/renewal.md"))
            .expect("the renewal document is in the context");
        let id = header.split("id: ").nth(1).unwrap().trim_end_matches(']');
        let sse = |text: &str| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
            )
        };
        let first = sse("The Acme renewal is due on 31 March ");
        let (a, b) = first.split_at(first.len() / 2);
        (
            "200 OK",
            "text/event-stream",
            vec![
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n".into(),
                a.to_owned(),
                b.to_owned(),
                ": keep-alive\n\n".into(),
                sse(&format!("[id:{}].", &id[..8])),
                "data: [DONE]\n\n".into(),
            ],
        )
    });
    write_ask_config(
        &d,
        &format!(
            "base_url = \"{url}\"\nmodel = \"test-model\"\napi_key_command = \"echo sekrit\"\n\
             temperature = 0.1\nbudget = 4000\n"
        ),
    );
    let out = d.ctx(&["ask", "When is the Acme renewal due?"]);
    assert_success(&out, &["ask"]);
    let call = server.join().unwrap();
    assert_eq!(call.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert!(
        call.headers
            .contains(&("authorization".into(), "Bearer sekrit".into())),
        "{:?}",
        call.headers
    );
    assert_eq!(call.body["model"], "test-model");
    assert_eq!(call.body["stream"], true);
    assert_eq!(call.body["temperature"], 0.1);
    assert_eq!(call.body["messages"][0]["role"], "system");
    assert_eq!(call.body["messages"][1]["role"], "user");
    let user = call.body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("usage-based pricing"), "{user}");
    assert!(
        user.trim_end()
            .ends_with("# Question\n\nWhen is the Acme renewal due?"),
        "{user}"
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    let renewal = d.json(&["query", "Acme renewal"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["locator"].as_str().unwrap().ends_with("acme/renewal.md"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        stdout.contains(&format!(
            "The Acme renewal is due on 31 March [id:{}].",
            &renewal[..8]
        )),
        "{stdout}"
    );
    let cited = stdout.split("cited:").nth(1).expect("a cited list");
    assert_eq!(cited.trim().lines().count(), 1, "{stdout}");
    assert!(
        cited.contains(&renewal[..8]) && cited.contains("Acme renewal"),
        "{stdout}"
    );
    assert!(stderr(&out).contains("context: "), "{}", stderr(&out));
}

#[test]
fn ask_reports_what_the_chat_endpoint_says_is_wrong() {
    let d = Daemon::start(&sample_files());
    let (url, server) = fake_chat_server(|_| {
        (
            "404 Not Found",
            "application/json",
            vec![
                r#"{"error":{"message":"model 'nope' not found","type":"invalid_request_error"}}"#
                    .into(),
            ],
        )
    });
    write_ask_config(&d, &format!("base_url = \"{url}\"\nmodel = \"nope\"\n"));
    let out = d.ctx(&["ask", "anything about Acme?"]);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("404") && err.contains("model 'nope' not found"),
        "{err}"
    );
    assert!(err.contains("[ask] model"), "{err}");
}

#[test]
fn ask_without_a_chat_server_explains_how_to_start_one() {
    let d = Daemon::start(&sample_files());
    // A port nobody listens on: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = d.ctx(&["ask", "--base-url", &url, "Acme?"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot reach the chat endpoint"), "{err}");
    assert!(err.contains("llama-server"), "{err}");
    // A remote plain-http URL is refused before anything is sent.
    let out = d.ctx(&["ask", "--base-url", "http://203.0.113.7:8080/v1", "Acme?"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not loopback"), "{}", stderr(&out));
}

#[test]
fn relevance_benchmark_runs_end_to_end_and_reports_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let output = dir.path().join("BENCHMARKS.md");
    std::fs::write(&output, "# Benchmarks\n\nkept text\n").unwrap();
    let args = [
        "bench",
        "relevance",
        "--companies",
        "4",
        "--noise",
        "30",
        "--in-process",
        "--dir",
        work.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    let out = ctx(dir.path(), &args);
    assert_success(&out, &args);
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nkept text\n"), "{text}");
    assert!(text.contains("<!-- relevance-bench:start -->"));
    assert!(text.contains("<!-- relevance-bench:end -->"));
    assert!(text.contains("| tokens_used <= budget on every call | 0 violations | PASS |"));
    // Mean precision at 32K: ctx's cut-off keeps unrelated keyword hits out.
    let precision = |mode: &str| -> f64 {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {mode} | 32,768 |")))
            .unwrap_or_else(|| panic!("no 32K row for {mode}:\n{text}"));
        row.split('|')
            .nth(4)
            .unwrap()
            .trim()
            .trim_matches('*')
            .parse()
            .unwrap()
    };
    assert!(precision("ctx (full)") > precision("BM25 only"), "{text}");
    assert!(
        !work.exists(),
        "the working directory is removed without --keep"
    );
}
