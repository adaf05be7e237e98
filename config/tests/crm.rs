//! The CRM connector types: the shipped examples parse into the expected settings, and every
//! broken fixture in `fixtures/bad/crm` is reported at its line and column with a hint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctx_config::{
    ConfigError, ConfigSource, ConnectorSettings, ExportFormatSetting, RestAuth,
    RestPaginationSettings, Secret, load, load_lenient,
};

fn env() -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = [("HOME".to_owned(), "/home/test".to_owned())].into();
    move |name: &str| map.get(name).cloned()
}

fn examples() -> ctx_config::Config {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("examples");
    load(&ConfigSource::explicit(dir.join("config.toml")), &env()).unwrap()
}

fn settings(name: &str) -> ConnectorSettings {
    examples()
        .connectors
        .into_iter()
        .find(|c| c.name == name)
        .unwrap()
        .settings
}

#[test]
fn the_hubspot_example_parses_with_defaults() {
    let ConnectorSettings::HubSpot(h) = settings("hubspot") else {
        panic!("expected hubspot");
    };
    assert_eq!(h.base_url, "https://api.hubapi.com");
    assert_eq!(
        h.token,
        Secret::Command("pass show hubspot/private-app".into())
    );
    assert_eq!(h.objects.len(), 7);
    assert_eq!(h.objects[0], "companies");
    assert_eq!(
        h.properties["deals"],
        ["hs_priority", "hs_forecast_category"]
    );
    assert_eq!(h.page_size, 100);
    assert_eq!(h.overlap, Duration::from_secs(300));
}

#[test]
fn the_jsonl_export_example_maps_the_benchmark_shape() {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("examples/connectors.d");
    let ConnectorSettings::CrmExport(e) = settings("crm-export-jsonl") else {
        panic!("expected crm_export");
    };
    let objects: Vec<&str> = e.files.iter().map(|f| f.object.as_str()).collect();
    assert_eq!(objects, ["companies", "contacts", "deals", "notes"]);
    assert_eq!(e.files[2].path, dir.join("exports/deals.jsonl"));
    assert!(
        e.files
            .iter()
            .all(|f| f.format == ExportFormatSetting::Jsonl)
    );
    let deals = &e.files[2].fields;
    for target in [
        "id",
        "name",
        "stage",
        "amount",
        "close_date",
        "company_id",
        "contact_ids",
        "owner_email",
        "updated_at",
    ] {
        assert!(
            deals.iter().any(|(t, s)| t == target && s == target),
            "{target}"
        );
    }
    assert!(e.watch);
}

#[test]
fn the_rest_examples_parse() {
    let ConnectorSettings::CrmRest(p) = settings("pipedrive") else {
        panic!("expected crm_rest");
    };
    assert_eq!(
        p.auth,
        RestAuth::Query("api_token".into(), Secret::Env("PIPEDRIVE_TOKEN".into()))
    );
    assert_eq!(
        p.pagination,
        RestPaginationSettings::Cursor {
            param: "cursor".into(),
            next: "/additional_data/next_cursor".into()
        }
    );
    assert_eq!(p.objects.len(), 3);
    assert_eq!(
        p.objects[2].incremental_param.as_deref(),
        Some("updated_since")
    );
    assert_eq!(p.objects[2].deleted.as_deref(), Some("/is_deleted"));
    let ConnectorSettings::CrmRest(s) = settings("salesforce") else {
        panic!("expected crm_rest");
    };
    assert!(matches!(s.auth, RestAuth::Bearer(Secret::Command(_))));
    assert_eq!(
        s.pagination,
        RestPaginationSettings::NextUrl {
            next: "/nextRecordsUrl".into()
        }
    );
    assert!(
        s.objects[2]
            .incremental_path
            .as_deref()
            .unwrap()
            .contains("{since}")
    );
    assert!(
        s.objects[2]
            .fields
            .contains(&("owner_email".into(), "/Owner/Email".into()))
    );
}

fn bad() -> Vec<ConfigError> {
    let path: PathBuf = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/fixtures/bad/crm/config.toml");
    let (config, errors) = load_lenient(&ConfigSource::explicit(path), &env()).unwrap();
    assert!(config.connectors.is_empty(), "{:?}", config.connectors);
    errors
}

fn only(errors: &[ConfigError], file: &str) -> ConfigError {
    let found: Vec<&ConfigError> = errors
        .iter()
        .filter(|e| {
            e.path
                .as_deref()
                .and_then(Path::file_name)
                .is_some_and(|n| n == file)
        })
        .collect();
    assert_eq!(found.len(), 1, "errors for {file}: {found:#?}");
    found[0].clone()
}

fn check(
    errors: &[ConfigError],
    file: &str,
    line: usize,
    column: usize,
    message: &str,
    hint: &str,
) {
    let e = only(errors, file);
    assert_eq!((e.line, e.column), (Some(line), Some(column)), "{e}");
    assert!(e.message.starts_with(message), "{e}");
    assert!(e.hint.as_deref().unwrap_or_default().contains(hint), "{e}");
}

#[test]
fn broken_crm_files_are_reported_precisely() {
    let errors = bad();
    assert_eq!(errors.len(), 11, "{errors:#?}");
    check(
        &errors,
        "hubspot_no_token.toml",
        1,
        8,
        "missing `token_command` or `token_env`",
        "private app",
    );
    check(
        &errors,
        "hubspot_object.toml",
        3,
        25,
        "unknown CRM object type `deels`",
        "did you mean `deals`?",
    );
    check(
        &errors,
        "hubspot_http.toml",
        3,
        12,
        "`http://` is only allowed for a loopback host",
        "https://",
    );
    check(
        &errors,
        "hubspot_page.toml",
        3,
        13,
        "`page_size` must be between 1 and 100",
        "100",
    );
    check(
        &errors,
        "export_field.toml",
        7,
        1,
        "unknown field `stge`",
        "did you mean `stage`?",
    );
    check(
        &errors,
        "export_format.toml",
        4,
        8,
        "cannot tell the export format",
        "format = \"csv\"",
    );
    check(
        &errors,
        "export_no_files.toml",
        1,
        8,
        "missing `[[files]]`",
        "[[files]]",
    );
    check(
        &errors,
        "rest_cursor_next.toml",
        4,
        1,
        "`cursor` pagination needs `next`",
        "/additional_data/next_cursor",
    );
    check(
        &errors,
        "rest_pointer.toml",
        8,
        6,
        "`id` is not a JSON pointer",
        "\"/id\"",
    );
    check(
        &errors,
        "rest_since.toml",
        7,
        20,
        "`incremental_path` has no `{since}`",
        "{since}",
    );
    check(
        &errors,
        "rest_auth_token.toml",
        3,
        8,
        "`auth = \"query:api_token\"` needs `token_command` or `token_env`",
        "",
    );
}

#[test]
fn extra_free_mail_domains_come_from_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("config.toml");
    std::fs::write(
        &main,
        "[entities]\nfree_mail_domains = [\"Solo-Mail.example\", \"alumni.example.org\"]\n",
    )
    .unwrap();
    let config = load(&ConfigSource::explicit(&main), &env()).unwrap();
    assert_eq!(
        config.daemon.free_mail_domains,
        ["solo-mail.example", "alumni.example.org"]
    );
    std::fs::write(
        &main,
        "[entities]\nfree_mail_domains = [\"me@gmail.com\"]\n",
    )
    .unwrap();
    let errors = load(&ConfigSource::explicit(&main), &env()).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(22)));
    assert!(
        errors[0].message.contains("is not a mail domain"),
        "{}",
        errors[0]
    );
    std::fs::write(&main, "[entities]\nfree_mail = []\n").unwrap();
    let errors = load(&ConfigSource::explicit(&main), &env()).unwrap_err().0;
    assert!(
        errors[0].message.starts_with("unknown key `free_mail`"),
        "{}",
        errors[0]
    );
}
