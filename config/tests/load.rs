//! End-to-end tests of loading: fixtures on disk, discovery, overrides,
//! starter files and the shipped examples. The environment is always an
//! injected map; the process environment is never read or changed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctx_config::{
    ConfigError, ConfigSource, ConnectorSettings, STARTER_CONFIG, Secret, files_defaults, init,
    load, load_lenient,
};

fn fixtures() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/fixtures")
}

/// An environment made of exactly these variables.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn home_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[("HOME", "/home/test")])
}

/// The single error reported for `file_name` (panics in the test if there
/// is not exactly one).
fn only_error_for<'a>(errors: &'a [ConfigError], file_name: &str) -> &'a ConfigError {
    let found: Vec<_> = errors
        .iter()
        .filter(|e| {
            e.path
                .as_deref()
                .and_then(Path::file_name)
                .is_some_and(|n| n == file_name)
        })
        .collect();
    assert_eq!(found.len(), 1, "errors for {file_name}: {found:#?}");
    found[0]
}

fn assert_error(error: &ConfigError, line: usize, column: usize, message: &str, hint: &str) {
    assert_eq!(
        (error.line, error.column),
        (Some(line), Some(column)),
        "position of: {error}"
    );
    assert!(error.message.starts_with(message), "message of: {error}");
    let actual_hint = error.hint.as_deref().unwrap_or_default();
    assert!(actual_hint.contains(hint), "hint of: {error}");
}

// ---------------------------------------------------------------- good ----

#[test]
fn good_fixture_loads_every_key() {
    let dir = fixtures().join("good");
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
    ]);
    let config = load(&ConfigSource::explicit(dir.join("config.toml")), &env).unwrap();

    assert_eq!(config.main_path, Some(dir.join("config.toml")));
    assert_eq!(config.connectors_dir, dir.join("connectors.d"));
    assert_eq!(config.daemon.data_dir, dir.join("data"));
    assert_eq!(config.daemon.socket, PathBuf::from("/home/test/ctx.sock"));
    assert_eq!(
        config.daemon.listen,
        Some("[::1]:7878".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(config.daemon.token, Some(Secret::Env("CTX_TOKEN".into())));
    assert_eq!(config.daemon.log, "debug");
    assert_eq!(config.retrieval.default_budget, 1000);
    assert_eq!(config.retrieval.max_budget, 2000);

    // Sorted by name; README.txt, old.toml.disabled and .hidden.toml ignored.
    let names: Vec<_> = config.connectors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["archive", "notes"]);

    let archive = &config.connectors[0];
    assert!(!archive.enabled);
    assert_eq!(archive.poll_interval, files_defaults::POLL_INTERVAL);
    let ConnectorSettings::Files(files) = &archive.settings else {
        panic!("expected a files connector");
    };
    assert_eq!(files.paths, [PathBuf::from("/srv/archive")]);
    assert_eq!(files.max_file_size, 1024);
    assert!(files.include.is_empty() && files.exclude.is_empty());
    assert_eq!(files.watch, files_defaults::WATCH);
    assert_eq!(files.debounce, files_defaults::DEBOUNCE);
    assert_eq!(files.extract_timeout, files_defaults::EXTRACT_TIMEOUT);
    assert!(!files.follow_symlinks);

    let notes = &config.connectors[1];
    assert_eq!(notes.path, dir.join("connectors.d/notes.toml"));
    assert!(notes.enabled);
    assert_eq!(notes.poll_interval, Duration::from_secs(90 * 60));
    assert_eq!(notes.settings.type_name(), "files");
    let ConnectorSettings::Files(files) = &notes.settings else {
        panic!("expected a files connector");
    };
    // Relative connector paths resolve against connectors.d.
    assert_eq!(
        files.paths,
        [
            PathBuf::from("/home/test/Notes"),
            dir.join("connectors.d/shared")
        ]
    );
    assert_eq!(files.include, ["**/*.md"]);
    assert_eq!(files.exclude, ["**/drafts/**"]);
    assert_eq!(files.max_file_size, 1024 * 1024);
    assert!(!files.watch);
    assert_eq!(files.debounce, Duration::from_secs(1));
    assert!(files.follow_symlinks);
    assert_eq!(files.extract_timeout, Duration::from_secs(120));

    assert_eq!(config.enabled_connectors().count(), 1);
}

#[test]
fn shipped_examples_load() {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("examples");
    let config = load(
        &ConfigSource::explicit(dir.join("config.toml")),
        &home_env(),
    )
    .unwrap();
    assert_eq!(
        config.daemon.data_dir,
        PathBuf::from("/home/test/.local/share/ctx")
    );
    assert_eq!(
        config.daemon.token,
        Some(Secret::Command("pass show ctx/token".into()))
    );
    let names: Vec<&str> = config.connectors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "archive",
            "caldav",
            "calendar",
            "carddav",
            "crm-export-jsonl",
            "documents",
            "hubspot",
            "imap",
            "mail",
            "pipedrive",
            "salesforce"
        ]
    );
    let documents = config
        .connectors
        .iter()
        .find(|c| c.name == "documents")
        .unwrap();
    let ConnectorSettings::Files(files) = &documents.settings else {
        panic!("expected a files connector");
    };
    assert_eq!(
        files.paths,
        [
            PathBuf::from("/home/test/Documents"),
            PathBuf::from("/home/test/Notes")
        ]
    );
}

// ------------------------------------------------------- bad connectors ----

fn bad_connector_errors() -> (ctx_config::Config, Vec<ConfigError>) {
    let path = fixtures().join("bad/connectors/config.toml");
    load_lenient(&ConfigSource::explicit(path), &home_env()).unwrap()
}

#[test]
fn lenient_load_keeps_good_connectors_and_collects_all_file_errors() {
    let (config, errors) = bad_connector_errors();
    let names: Vec<_> = config.connectors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ok"]);
    // 14 broken files, one of which (multi.toml) has four problems and one (imap.toml, an
    // `imap` connector without user and password) two.
    assert_eq!(errors.len(), 14 + 3 + 1, "{errors:#?}");
}

#[test]
fn strict_load_fails_with_every_connector_error() {
    let path = fixtures().join("bad/connectors/config.toml");
    let errors = load(&ConfigSource::explicit(path), &home_env()).unwrap_err();
    assert_eq!(errors.0.len(), 18);
    let rendered = errors.to_string();
    assert!(
        rendered.starts_with("error: invalid connector name `Bad_Name`"),
        "{rendered}"
    );
    assert_eq!(rendered.matches("\nerror: ").count(), 17);
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "typo.toml");
    assert_error(e, 3, 1, "unknown key `pahts`", "did you mean `paths`?");
    assert_eq!(e.message, "unknown key `pahts`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `paths`?"));
    assert!(
        e.to_string()
            .ends_with("typo.toml:3:1\n  hint: did you mean `paths`?"),
        "{e}"
    );
}

#[test]
fn wrong_type_points_at_the_value() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "wrong_type.toml");
    assert_error(
        e,
        3,
        9,
        "invalid type: string \"yes\", expected a boolean",
        "`true` or `false`",
    );
}

#[test]
fn bad_glob_points_at_the_pattern() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "bad_glob.toml");
    assert_error(
        e,
        5,
        3,
        "invalid glob `**/*.{txt`: unclosed alternate group",
        "{a,b}",
    );
}

#[test]
fn missing_paths_points_at_the_type() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "missing_paths.toml");
    assert_error(e, 2, 8, "missing key `paths`", "paths = [\"~/Documents\"]");
}

#[test]
fn empty_paths_is_rejected() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "empty_paths.toml");
    assert_error(e, 2, 9, "`paths` is empty", "at least one directory");
}

#[test]
fn the_bare_crm_type_points_at_the_crm_connectors() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("cal.toml"), "type = \"crm\"\n").unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let (_, errors) = load_lenient(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let e = only_error_for(&errors, "cal.toml");
    assert_error(e, 1, 8, "connector type `crm` names no CRM", "`hubspot`");
}

#[test]
fn imap_without_user_and_password_names_both() {
    let (_, errors) = bad_connector_errors();
    let found: Vec<&ConfigError> = errors
        .iter()
        .filter(|e| {
            e.path
                .as_deref()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "imap.toml")
        })
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found
            .iter()
            .any(|e| e.message.starts_with("missing key `user`"))
    );
    assert!(found.iter().any(|e| {
        e.message
            .starts_with("missing `password_command` or `password_env`")
    }));
}

#[test]
fn misspelled_connector_type_suggests() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "typo_type.toml");
    assert_error(
        e,
        1,
        8,
        "unknown connector type `flies`",
        "did you mean `files`?",
    );
}

#[test]
fn missing_type_is_reported_at_the_top() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "missing_type.toml");
    assert_error(e, 1, 1, "missing key `type`", "type = \"files\"");
}

#[test]
fn bad_file_name_is_a_file_level_error() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "Bad_Name.toml");
    assert_eq!((e.line, e.column), (None, None));
    assert_eq!(e.message, "invalid connector name `Bad_Name`");
    assert!(e.hint.as_deref().unwrap().contains("rename the file"));
}

#[test]
fn bad_duration_and_duration_type() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "bad_duration.toml");
    assert_error(
        e,
        3,
        17,
        "`poll_interval`: invalid duration `5 minutes`",
        "\"5m\"",
    );
    let e = only_error_for(&errors, "duration_type.toml");
    assert_error(
        e,
        3,
        12,
        "invalid type: integer `300`, expected a duration",
        "quoted strings",
    );
}

#[test]
fn bad_size_unit() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "bad_size.toml");
    assert_error(e, 3, 17, "`max_file_size`: unknown size unit `XB`", "MiB");
}

#[test]
fn toml_syntax_error_is_located() {
    let (_, errors) = bad_connector_errors();
    let e = only_error_for(&errors, "syntax.toml");
    assert_error(e, 2, 19, "invalid TOML: unclosed array", "brackets");
}

#[test]
fn one_file_reports_all_its_validation_errors_in_order() {
    let (_, errors) = bad_connector_errors();
    let multi: Vec<_> = errors
        .iter()
        .filter(|e| e.path.as_deref().is_some_and(|p| p.ends_with("multi.toml")))
        .map(|e| (e.line.unwrap(), e.column.unwrap(), e.message.as_str()))
        .collect();
    assert_eq!(
        multi,
        [
            (2, 21, "`~user` paths are not supported: `~bob/x`"),
            (3, 12, "invalid glob `[z-a]`: invalid range; 'z' > 'a'"),
            (4, 19, "`extract_timeout` must be greater than zero"),
            (5, 17, "`max_file_size` must be greater than zero"),
        ]
    );
}

// ------------------------------------------------------------ bad main ----

fn main_errors(file: &str) -> Vec<ConfigError> {
    let path = fixtures().join("bad/main").join(file);
    load_lenient(&ConfigSource::explicit(path), &home_env())
        .map(|_| ())
        .expect_err("main-file errors are fatal even in lenient mode")
        .0
}

fn only_main_error(file: &str) -> ConfigError {
    let errors = main_errors(file);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn non_loopback_listen_is_rejected() {
    let e = only_main_error("non_loopback.toml");
    assert_error(
        &e,
        2,
        10,
        "`listen` address `0.0.0.0:7878` is not a loopback address",
        "SSH tunnel",
    );
}

#[test]
fn listen_without_token_is_rejected() {
    let e = only_main_error("listen_no_token.toml");
    assert_error(
        &e,
        2,
        10,
        "`listen` is set but no bearer token",
        "token_command",
    );
}

#[test]
fn both_token_sources_are_rejected_at_the_second() {
    let e = only_main_error("both_tokens.toml");
    assert_error(
        &e,
        4,
        13,
        "both `token_command` and `token_env` are set",
        "keep only one of `token_command` and `token_env`",
    );
}

#[test]
fn unknown_table_suggests_daemon() {
    let e = only_main_error("unknown_table.toml");
    assert_error(&e, 1, 2, "unknown key `deamon`", "did you mean `daemon`?");
}

#[test]
fn unknown_daemon_key_suggests() {
    let e = only_main_error("unknown_key.toml");
    assert_error(
        &e,
        2,
        1,
        "unknown key `data_dri`",
        "did you mean `data_dir`?",
    );
}

#[test]
fn unparsable_listen_address() {
    let e = only_main_error("bad_listen.toml");
    assert_error(
        &e,
        2,
        10,
        "invalid `listen` address `localhost`",
        "127.0.0.1:7878",
    );
}

#[test]
fn default_budget_above_max_budget() {
    let e = only_main_error("budgets.toml");
    assert_error(
        &e,
        2,
        18,
        "`default_budget` (10000) is larger than `max_budget` (5000)",
        "max_budget",
    );
}

#[test]
fn budget_of_wrong_type() {
    let e = only_main_error("wrong_type.toml");
    assert_error(
        &e,
        2,
        18,
        "invalid type: string \"8k\"",
        "whole non-negative number",
    );
}

#[test]
fn main_file_reports_all_problems() {
    let lines: Vec<_> = main_errors("multi.toml")
        .iter()
        .map(|e| e.line.unwrap())
        .collect();
    assert_eq!(lines, [3, 4, 5]);
}

#[test]
fn main_errors_are_reported_together_with_connector_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[daemon]\nlisten = \"10.0.0.1:1\"\ntoken_env = \"T\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("connectors.d")).unwrap();
    std::fs::write(
        dir.path().join("connectors.d/a.toml"),
        "type = \"files\"\nwatch = 1\n",
    )
    .unwrap();
    let errors = load_lenient(
        &ConfigSource::explicit(dir.path().join("config.toml")),
        &home_env(),
    )
    .map(|_| ())
    .unwrap_err()
    .0;
    let located: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e.path
                    .as_deref()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap(),
                e.line,
            )
        })
        .collect();
    assert_eq!(located, [("config.toml", Some(2)), ("a.toml", Some(2))]);
}

// -------------------------------------------- discovery and overrides ----

#[test]
fn zero_config_when_default_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().to_str().unwrap();
    let env = env_of(&[("HOME", "/home/test"), ("XDG_CONFIG_HOME", xdg)]);
    let config = load(&ConfigSource::default(), &env).unwrap();
    assert_eq!(config.main_path, None);
    assert_eq!(config.connectors_dir, dir.path().join("ctx/connectors.d"));
    assert_eq!(
        config.daemon.data_dir,
        PathBuf::from("/home/test/.local/share/ctx")
    );
    // No XDG_RUNTIME_DIR: the socket lives in the data dir.
    assert_eq!(
        config.daemon.socket,
        PathBuf::from("/home/test/.local/share/ctx/ctxd.sock")
    );
    assert_eq!(config.daemon.listen, None);
    assert_eq!(config.daemon.token, None);
    assert_eq!(config.daemon.log, "info");
    assert_eq!(config.retrieval.default_budget, 8192);
    assert_eq!(config.retrieval.max_budget, 4_000_000);
    assert!(config.connectors.is_empty());
}

#[test]
fn default_paths_follow_xdg() {
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("XDG_CONFIG_HOME", "/cfg"),
        ("XDG_DATA_HOME", "/data"),
        ("XDG_RUNTIME_DIR", "/run/user/7"),
    ]);
    assert_eq!(
        ctx_config::default_config_path(&env),
        Some(PathBuf::from("/cfg/ctx/config.toml"))
    );
    // Relative XDG values are ignored, as the XDG spec requires.
    let relative = env_of(&[("HOME", "/home/test"), ("XDG_CONFIG_HOME", "cfg")]);
    assert_eq!(
        ctx_config::default_config_path(&relative),
        Some(PathBuf::from("/home/test/.config/ctx/config.toml"))
    );
    assert_eq!(ctx_config::default_config_path(&env_of(&[])), None);
}

#[test]
fn xdg_data_and_runtime_dirs_set_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[
        ("XDG_CONFIG_HOME", dir.path().to_str().unwrap()),
        ("XDG_DATA_HOME", "/data"),
        ("XDG_RUNTIME_DIR", "/run/user/7"),
    ]);
    let config = load(&ConfigSource::default(), &env).unwrap();
    assert_eq!(config.daemon.data_dir, PathBuf::from("/data/ctx"));
    assert_eq!(
        config.daemon.socket,
        PathBuf::from("/run/user/7/ctx/ctxd.sock")
    );
}

#[test]
fn explicit_missing_file_is_an_error() {
    let missing = fixtures().join("does-not-exist.toml");
    let errors = load(&ConfigSource::explicit(&missing), &home_env()).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].path.as_deref(), Some(missing.as_path()));
    assert_eq!(errors.0[0].message, "config file not found");
}

#[test]
fn ctx_config_env_is_used_and_must_exist() {
    let good = fixtures().join("good/config.toml");
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("CTX_CONFIG", good.to_str().unwrap()),
    ]);
    let config = load(&ConfigSource::default(), &env).unwrap();
    assert_eq!(config.main_path, Some(good));

    let env = env_of(&[
        ("HOME", "/home/test"),
        ("CTX_CONFIG", "/nonexistent/ctx.toml"),
    ]);
    let errors = load(&ConfigSource::default(), &env).unwrap_err();
    assert_eq!(errors.0[0].message, "config file not found");
}

#[test]
fn explicit_flag_beats_ctx_config() {
    let example = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("examples/config.toml");
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("CTX_CONFIG", "/nonexistent/ctx.toml"),
    ]);
    let config = load(&ConfigSource::explicit(&example), &env).unwrap();
    assert_eq!(config.main_path, Some(example));
}

#[test]
fn env_overrides_data_dir_and_socket() {
    let good = fixtures().join("good/config.toml");
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("CTX_DATA_DIR", "~/override"),
        ("CTX_SOCKET", "/tmp/override.sock"),
    ]);
    let config = load(&ConfigSource::explicit(good), &env).unwrap();
    assert_eq!(config.daemon.data_dir, PathBuf::from("/home/test/override"));
    assert_eq!(config.daemon.socket, PathBuf::from("/tmp/override.sock"));
}

#[test]
fn socket_default_follows_overridden_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[
        ("XDG_CONFIG_HOME", dir.path().to_str().unwrap()),
        ("HOME", "/home/test"),
        ("CTX_DATA_DIR", "/var/lib/ctx"),
    ]);
    let config = load(&ConfigSource::default(), &env).unwrap();
    assert_eq!(
        config.daemon.socket,
        PathBuf::from("/var/lib/ctx/ctxd.sock")
    );
}

#[test]
fn no_home_and_no_xdg_is_an_error_not_a_panic() {
    let errors = load(&ConfigSource::default(), &env_of(&[])).unwrap_err();
    assert!(errors.0[0].message.contains("HOME"), "{errors}");

    // With an explicit file, only the data directory is unknown.
    let example = fixtures().join("bad/connectors/config.toml");
    let errors = load(&ConfigSource::explicit(example), &env_of(&[])).unwrap_err();
    assert!(
        errors
            .0
            .iter()
            .any(|e| e.message.contains("data directory")),
        "{errors}"
    );
}

#[test]
fn non_utf8_and_binary_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, [0xff, 0xfe, 0x00, b'[']).unwrap();
    let errors = load(&ConfigSource::explicit(&main), &home_env()).unwrap_err();
    assert_eq!(errors.0[0].message, "file is not valid UTF-8");

    std::fs::write(&main, "").unwrap();
    std::fs::create_dir(dir.path().join("connectors.d")).unwrap();
    std::fs::write(
        dir.path().join("connectors.d/x.toml"),
        "\u{0}\u{1}type = \"files\"",
    )
    .unwrap();
    let errors = load(&ConfigSource::explicit(&main), &home_env()).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].line, Some(1));
}

// ----------------------------------------------------- starter and init ----

#[test]
fn starter_config_loads_to_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[
        ("HOME", "/home/test"),
        ("XDG_CONFIG_HOME", dir.path().to_str().unwrap()),
    ]);
    let zero = load(&ConfigSource::default(), &env).unwrap();

    std::fs::create_dir(dir.path().join("ctx")).unwrap();
    std::fs::write(dir.path().join("ctx/config.toml"), STARTER_CONFIG).unwrap();
    let starter = load(&ConfigSource::default(), &env).unwrap();
    assert_eq!(starter.main_path, Some(dir.path().join("ctx/config.toml")));
    assert_eq!(starter.daemon, zero.daemon);
    assert_eq!(starter.retrieval, zero.retrieval);
}

#[test]
fn starter_config_documents_every_key() {
    for key in [
        "data_dir",
        "socket",
        "listen",
        "token_command",
        "token_env",
        "log",
        "default_budget",
        "max_budget",
    ] {
        assert!(STARTER_CONFIG.contains(&format!("# {key} = ")), "{key}");
    }
    for key in [
        "include",
        "exclude",
        "max_file_size",
        "watch",
        "poll_interval",
        "debounce",
        "follow_symlinks",
        "extract_timeout",
    ] {
        assert!(
            ctx_config::STARTER_FILES_CONNECTOR.contains(&format!("# {key} = ")),
            "{key}"
        );
    }
}

#[test]
fn init_writes_loadable_starter_files_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let ctx_dir = dir.path().join("ctx");
    let written = init(&ctx_dir).unwrap();
    assert_eq!(
        written,
        [
            ctx_dir.join("config.toml"),
            ctx_dir.join("connectors.d/documents.toml")
        ]
    );

    let config = load(
        &ConfigSource::explicit(ctx_dir.join("config.toml")),
        &home_env(),
    )
    .unwrap();
    let names: Vec<&str> = config.connectors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["documents"]);
    let documents = &config.connectors[0];
    assert!(!documents.enabled, "starter connector must be opt-in");
    let ConnectorSettings::Files(files) = &documents.settings else {
        panic!("expected a files connector");
    };
    assert_eq!(files.paths, [PathBuf::from("/home/test/Documents")]);
    assert_eq!(files.max_file_size, files_defaults::MAX_FILE_SIZE);

    // Second run: refuses, names the existing file, leaves it untouched.
    std::fs::write(ctx_dir.join("config.toml"), "# mine\n").unwrap();
    let e = init(&ctx_dir).unwrap_err();
    assert_eq!(e.path, Some(ctx_dir.join("config.toml")));
    assert!(e.message.contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(ctx_dir.join("config.toml")).unwrap(),
        "# mine\n"
    );

    // Only the connector exists: still refuses, and does not write config.toml.
    std::fs::remove_file(ctx_dir.join("config.toml")).unwrap();
    let e = init(&ctx_dir).unwrap_err();
    assert_eq!(e.path, Some(ctx_dir.join("connectors.d/documents.toml")));
    assert!(!ctx_dir.join("config.toml").exists());
}

#[test]
fn mail_connectors_parse_with_defaults_and_report_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("mail.toml"),
        "type = \"maildir\"\npath = \"~/Mail\"\nexclude_folders = [\"Archive\"]\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("old.toml"),
        "type = \"mbox\"\npath = \"old.mbox\"\nwatch = false\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("broken.toml"),
        "# no path\ntype = \"maildir\"\nwatchh = true\n",
    )
    .unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let (config, errors) = load_lenient(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let mail = config.connectors.iter().find(|c| c.name == "mail").unwrap();
    let ConnectorSettings::Maildir(m) = &mail.settings else {
        panic!("expected maildir");
    };
    assert_eq!(m.path, PathBuf::from("/home/test/Mail"));
    assert_eq!(m.exclude_folders, vec!["Archive".to_string()]);
    assert!(m.watch);
    let old = config.connectors.iter().find(|c| c.name == "old").unwrap();
    let ConnectorSettings::Mbox(o) = &old.settings else {
        panic!("expected mbox");
    };
    assert_eq!(o.path, conf.join("old.mbox"));
    assert!(!o.watch);
    let e = only_error_for(&errors, "broken.toml");
    assert_eq!(e.line, Some(3), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `watch`?"));
}

#[test]
fn ics_connectors_parse_with_defaults_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("cal.toml"),
        "type = \"ics\"\npaths = [\"~/Calendars\", \"work.ics\"]\n\
         urls = [\"webcal://example.com/h.ics\"]\nwindow_ahead = \"30d\"\n",
    )
    .unwrap();
    std::fs::write(conf.join("empty.toml"), "type = \"ics\"\n").unwrap();
    std::fs::write(
        conf.join("badurl.toml"),
        "type = \"ics\"\nurls = [\"ftp://example.com/x.ics\"]\n",
    )
    .unwrap();
    std::fs::write(conf.join("typo.toml"), "type = \"ics\"\npath = [\"x\"]\n").unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let (config, errors) = load_lenient(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let cal = config.connectors.iter().find(|c| c.name == "cal").unwrap();
    assert_eq!(cal.poll_interval, ctx_config::ics_defaults::POLL_INTERVAL);
    let ConnectorSettings::Ics(ics) = &cal.settings else {
        panic!("expected ics");
    };
    assert_eq!(
        ics.paths,
        [PathBuf::from("/home/test/Calendars"), conf.join("work.ics")]
    );
    assert_eq!(ics.urls, ["webcal://example.com/h.ics"]);
    assert!(ics.watch);
    assert_eq!(ics.window_past, ctx_config::ics_defaults::WINDOW);
    assert_eq!(
        ics.window_ahead,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(ics.max_file_size, ctx_config::ics_defaults::MAX_FILE_SIZE);
    let e = only_error_for(&errors, "empty.toml");
    assert_error(
        e,
        1,
        8,
        "an `ics` connector needs `paths` or `urls`",
        "paths = [",
    );
    let e = only_error_for(&errors, "badurl.toml");
    assert_error(
        e,
        2,
        9,
        "`ftp://example.com/x.ics` is not an http(s) or webcal URL",
        "https://",
    );
    let e = only_error_for(&errors, "typo.toml");
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `paths`?"));
}

fn imap_errors(text: &str) -> Vec<ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("work.toml"), text).unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let (_, errors) = load_lenient(&ConfigSource::explicit(&main), &home_env()).unwrap();
    errors
}

#[test]
fn imap_connectors_parse_with_defaults_and_validate_security_and_secrets() {
    use ctx_config::{ImapLogin, ImapSecurity};
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("work.toml"),
        "type = \"imap\"\nhost = \"imap.example.com\"\nuser = \"me@example.com\"\n\
         password_command = \"pass show imap\"\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("bridge.toml"),
        "type = \"imap\"\nhost = \"127.0.0.1\"\nport = 1143\nsecurity = \"plain\"\n\
         user = \"me\"\npassword_env = \"BRIDGE_PW\"\nbatch_size = 10\npoll_interval = \"2m\"\n\
         include_folders = [\"INBOX\"]\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("gmail.toml"),
        "type = \"imap\"\nhost = \"imap.gmail.com\"\nsecurity = \"starttls\"\nuser = \"me@gmail.com\"\n\
         auth = \"xoauth2\"\ntoken_command = \"oauth2token me\"\n",
    )
    .unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let config = load(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let get = |name: &str| {
        let c = config.connectors.iter().find(|c| c.name == name).unwrap();
        let ConnectorSettings::Imap(imap) = &c.settings else {
            panic!("expected imap");
        };
        (c.poll_interval, imap.clone())
    };
    let (poll, work) = get("work");
    assert_eq!(poll, Duration::from_secs(600));
    assert_eq!(work.port, 993);
    assert_eq!(work.security, ImapSecurity::Tls);
    assert_eq!(
        work.login,
        ImapLogin::Password(Secret::Command("pass show imap".into()))
    );
    assert_eq!(work.exclude_folders, ["Trash", "Spam", "Junk"]);
    assert!(work.include_folders.is_empty());
    assert_eq!(work.batch_size, 64);
    assert_eq!(work.max_message_size, 50 * 1024 * 1024);
    let (poll, bridge) = get("bridge");
    assert_eq!(poll, Duration::from_secs(120));
    assert_eq!((bridge.port, bridge.security), (1143, ImapSecurity::Plain));
    assert_eq!(
        bridge.login,
        ImapLogin::Password(Secret::Env("BRIDGE_PW".into()))
    );
    assert_eq!(bridge.batch_size, 10);
    assert_eq!(bridge.include_folders, ["INBOX"]);
    let (_, gmail) = get("gmail");
    assert_eq!((gmail.port, gmail.security), (143, ImapSecurity::StartTls));
    assert_eq!(
        gmail.login,
        ImapLogin::XOAuth2(Secret::Command("oauth2token me".into()))
    );
}

#[test]
fn imap_plain_is_refused_off_loopback() {
    let errors = imap_errors(
        "type = \"imap\"\nhost = \"mail.example.com\"\nsecurity = \"plain\"\nuser = \"me\"\npassword_env = \"PW\"\n",
    );
    let e = only_error_for(&errors, "work.toml");
    assert_error(
        e,
        3,
        12,
        "`security = \"plain\"` is only allowed for a loopback host",
        "\"tls\"",
    );
    for host in ["localhost", "::1", "127.0.0.1"] {
        let text = format!(
            "type = \"imap\"\nhost = \"{host}\"\nsecurity = \"plain\"\nuser = \"me\"\npassword_env = \"PW\"\n"
        );
        assert!(imap_errors(&text).is_empty(), "{host}");
    }
}

#[test]
fn imap_secret_keys_are_checked() {
    let base = "type = \"imap\"\nhost = \"h\"\nuser = \"me\"\n";
    for (extra, message) in [
        (
            "password_env = \"PW\"\npassword_command = \"x\"\n",
            "both `password_command` and `password_env`",
        ),
        (
            "password_env = \"PW\"\ntoken_env = \"T\"\n",
            "need `auth = \"xoauth2\"`",
        ),
        (
            "password_env = \"PW\"\nsecurity = \"ssl\"\n",
            "unknown `security` value `ssl`",
        ),
        (
            "password_env = \"PW\"\nport = 70000\n",
            "`port` must be between 1 and 65535",
        ),
        (
            "auth = \"xoauth2\"\npassword_env = \"PW\"\n",
            "`password_command` / `password_env` are not used",
        ),
    ] {
        let errors = imap_errors(&format!("{base}{extra}"));
        let found = errors.iter().any(|e| e.message.contains(message));
        assert!(found, "{extra}: {errors:#?}");
    }
}

#[test]
fn caldav_and_carddav_connectors() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    let files = [
        (
            "work.toml",
            "type = \"caldav\"\nurl = \"https://dav.example.com/\"\nuser = \"me\"\n\
             password_env = \"DAV_PW\"\ncalendars = [\"Work\"]\nwindow_ahead = \"30d\"\n",
        ),
        (
            "people.toml",
            "type = \"carddav\"\nurl = \"http://127.0.0.1:5232/\"\naddressbooks = [\"P\"]\n",
        ),
        ("nourl.toml", "type = \"caldav\"\n"),
        (
            "plain.toml",
            "type = \"carddav\"\nurl = \"http://dav.example.com/\"\n",
        ),
        (
            "nouser.toml",
            "type = \"caldav\"\nurl = \"https://x.example/\"\npassword_command = \"pass x\"\n",
        ),
        (
            "typo.toml",
            "type = \"carddav\"\nurl = \"https://x.example/\"\ncalendars = [\"A\"]\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(conf.join(name), text).unwrap();
    }
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let (config, errors) = load_lenient(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let work = config.connectors.iter().find(|c| c.name == "work").unwrap();
    assert_eq!(work.poll_interval, ctx_config::dav_defaults::POLL_INTERVAL);
    let ConnectorSettings::CalDav(dav) = &work.settings else {
        panic!("expected caldav");
    };
    assert_eq!(dav.url, "https://dav.example.com/");
    assert_eq!(dav.user.as_deref(), Some("me"));
    assert_eq!(dav.password, Some(Secret::Env("DAV_PW".into())));
    assert_eq!(dav.collections, ["Work"]);
    assert_eq!(dav.window_ahead, Duration::from_secs(30 * 86_400));
    let people = config
        .connectors
        .iter()
        .find(|c| c.name == "people")
        .unwrap();
    let ConnectorSettings::CardDav(dav) = &people.settings else {
        panic!("expected carddav");
    };
    assert_eq!(dav.url, "http://127.0.0.1:5232/");
    assert_eq!((dav.user.as_deref(), dav.password.as_ref()), (None, None));
    assert_eq!(dav.collections, ["P"]);
    assert_error(
        only_error_for(&errors, "nourl.toml"),
        1,
        8,
        "missing key `url` for a `caldav` connector",
        "url = ",
    );
    assert_error(
        only_error_for(&errors, "plain.toml"),
        2,
        7,
        "`http://` is only allowed for a loopback host, not `dav.example.com`",
        "use `https://`",
    );
    assert_error(
        only_error_for(&errors, "nouser.toml"),
        3,
        20,
        "a password needs `user`",
        "user = ",
    );
    let typo = only_error_for(&errors, "typo.toml");
    assert!(typo.message.contains("calendars"), "{}", typo.message);
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[test]
fn imap_tls_ca_file_is_expanded_read_and_checked() {
    use ctx_config::ImapSecurity;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("connectors.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        dir.path().join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let base =
        "type = \"imap\"\nhost = \"mail.example.org\"\nuser = \"me\"\npassword_env = \"PW\"\n";
    // Relative to the connector file's folder, like every other path.
    std::fs::write(
        conf.join("work.toml"),
        format!("{base}security = \"starttls\"\ntls_ca_file = \"../ca.pem\"\n"),
    )
    .unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(&main, "").unwrap();
    let config = load(&ConfigSource::explicit(&main), &home_env()).unwrap();
    let ConnectorSettings::Imap(imap) = &config.connectors[0].settings else {
        panic!("expected imap");
    };
    assert_eq!(imap.security, ImapSecurity::StartTls);
    assert_eq!(
        imap.tls_ca_file
            .as_deref()
            .map(|p| p.canonicalize().unwrap()),
        Some(dir.path().join("ca.pem").canonicalize().unwrap())
    );

    let missing = dir.path().join("nope.pem");
    let key = dir.path().join("key.pem");
    for (extra, message, hint) in [
        (
            format!("tls_ca_file = \"{}\"\n", missing.display()),
            "cannot read `tls_ca_file`".to_string(),
            "PEM file of the CA",
        ),
        (
            format!("tls_ca_file = \"{}\"\n", key.display()),
            format!("`tls_ca_file` {} holds no PEM certificate", key.display()),
            "openssl x509",
        ),
    ] {
        let errors = imap_errors(&format!("{base}{extra}"));
        let e = only_error_for(&errors, "work.toml");
        assert_error(e, 5, 15, &message, hint);
    }
    let errors = imap_errors(&format!(
        "type = \"imap\"\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nuser = \"me\"\npassword_env = \"PW\"\ntls_ca_file = \"{}\"\n",
        dir.path().join("ca.pem").display()
    ));
    let e = only_error_for(&errors, "work.toml");
    assert_error(e, 6, 15, "`tls_ca_file` has no effect", "starttls");
}
