//! `timezone` of `ics` and `caldav` connectors: the zone floating times are read in.

use ctx_config::{ConfigSource, ConnectorSettings, load_lenient};

fn load_with(connector: &str) -> (ctx_config::Config, Vec<ctx_config::ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    std::fs::create_dir(dir.path().join("connectors.d")).unwrap();
    std::fs::write(dir.path().join("connectors.d/cal.toml"), connector).unwrap();
    let env = |name: &str| (name == "HOME").then(|| "/home/test".to_owned());
    let loaded = load_lenient(
        &ConfigSource::explicit(dir.path().join("config.toml")),
        &env,
    );
    loaded.unwrap()
}

#[test]
fn ics_and_caldav_read_an_iana_timezone() {
    let (config, bad) =
        load_with("type = \"ics\"\npaths = [\"/cal\"]\ntimezone = \"Europe/Berlin\"\n");
    assert!(bad.is_empty(), "{bad:?}");
    let ConnectorSettings::Ics(ics) = &config.connectors[0].settings else {
        panic!("an ics connector");
    };
    assert_eq!(ics.timezone, Some(chrono_tz::Tz::Europe__Berlin));

    let (config, bad) = load_with(
        "type = \"caldav\"\nurl = \"http://127.0.0.1:5232/\"\ntimezone = \"America/New_York\"\n",
    );
    assert!(bad.is_empty(), "{bad:?}");
    let ConnectorSettings::CalDav(dav) = &config.connectors[0].settings else {
        panic!("a caldav connector");
    };
    assert_eq!(dav.timezone, Some(chrono_tz::Tz::America__New_York));

    // Unset: the daemon uses the system's zone.
    let (config, _) = load_with("type = \"ics\"\npaths = [\"/cal\"]\n");
    let ConnectorSettings::Ics(ics) = &config.connectors[0].settings else {
        panic!("an ics connector");
    };
    assert_eq!(ics.timezone, None);
}

#[test]
fn an_unknown_timezone_is_located_with_a_suggestion() {
    let (_, bad) = load_with("type = \"ics\"\npaths = [\"/cal\"]\ntimezone = \"europe/berlin\"\n");
    assert_eq!(bad.len(), 1, "{bad:?}");
    let e = &bad[0];
    assert_eq!((e.line, e.column), (Some(3), Some(12)), "{e}");
    assert_eq!(e.message, "unknown time zone `europe/berlin`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `Europe/Berlin`?"));

    let (_, bad) = load_with("type = \"ics\"\npaths = [\"/cal\"]\ntimezone = \"CEST\"\n");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].hint.as_deref().unwrap().contains("IANA"),
        "{}",
        bad[0]
    );
}
