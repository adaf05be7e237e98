//! Parsers for the small value languages used in config files: durations,
//! sizes and paths. Each returns a [`ValueError`] (message + hint) that the
//! caller locates in the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// A value that does not parse; the caller attaches file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// What is wrong with the value.
    pub message: String,
    /// How to write it instead.
    pub hint: Option<String>,
}

impl ValueError {
    fn new(message: impl Into<String>, hint: &str) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.to_owned()),
        }
    }
}

const DURATION_HINT: &str = "use a whole number followed by a unit: ms, s, m, h or d (e.g. \"300ms\", \"30s\", \"5m\", \"1h30m\")";

/// Parses a duration such as `"300ms"`, `"30s"`, `"5m"`, `"1h"`, `"2d"` or a
/// sum of those (`"1h30m"`, `"1h 30m"`). A unit is mandatory: a bare `"30"`
/// is ambiguous (seconds? milliseconds?) so it is rejected.
pub fn parse_duration(input: &str) -> Result<Duration, ValueError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(ValueError::new("empty duration", DURATION_HINT));
    }
    let invalid = || ValueError::new(format!("invalid duration `{input}`"), DURATION_HINT);
    let mut total_ms: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(invalid());
        }
        let number: u128 = rest[..digits_end].parse().map_err(|_| invalid())?;
        rest = rest[digits_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(ValueError::new(
                    format!("duration `{input}` has no unit"),
                    "add a unit, e.g. \"30s\" for seconds or \"300ms\" for milliseconds",
                ));
            }
            _ => return Err(invalid()),
        };
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(invalid)?;
        rest = rest[unit_end..].trim_start();
    }
    let ms = u64::try_from(total_ms)
        .map_err(|_| ValueError::new(format!("duration `{input}` is too long"), DURATION_HINT))?;
    Ok(Duration::from_millis(ms))
}

const SIZE_HINT: &str = "use a byte count (20971520) or a whole number with a unit: B, KB, KiB, MB, MiB, GB, GiB (e.g. \"20 MiB\")";

/// Parses a size such as `"20 MiB"`, `"512KB"`, `"1GiB"` or `"1048576"`.
/// Units are case-insensitive; `KB`/`MB`/`GB` are powers of 1000 and
/// `KiB`/`MiB`/`GiB` powers of 1024, as their names say.
pub fn parse_size(input: &str) -> Result<u64, ValueError> {
    let text = input.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(ValueError::new(
            format!("invalid size `{input}`"),
            SIZE_HINT,
        ));
    }
    let number: u64 = text[..digits_end]
        .parse()
        .map_err(|_| ValueError::new(format!("size `{input}` is too large"), SIZE_HINT))?;
    let unit = text[digits_end..].trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(ValueError::new(
                format!("unknown size unit `{unit}`"),
                SIZE_HINT,
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| ValueError::new(format!("size `{input}` is too large"), SIZE_HINT))
}

/// Expands a path written in a config file: `~` and `~/...` use `HOME`, and
/// relative paths are resolved against `base` (the directory of the file the
/// path was written in), so a config behaves the same whatever the daemon's
/// working directory is.
pub(crate) fn expand_path(
    raw: &str,
    base: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, ValueError> {
    if raw.is_empty() {
        return Err(ValueError::new(
            "empty path",
            "write an absolute path or one starting with `~/`",
        ));
    }
    let expanded = if raw == "~" || raw.starts_with("~/") {
        let home = non_empty(env, "HOME").ok_or_else(|| {
            ValueError::new(
                format!("cannot expand `~` in `{raw}`: HOME is not set"),
                "set HOME or write an absolute path",
            )
        })?;
        let mut path = PathBuf::from(home);
        if let Some(rest) = raw.strip_prefix("~/") {
            path.push(rest);
        }
        path
    } else if raw.starts_with('~') {
        return Err(ValueError::new(
            format!("`~user` paths are not supported: `{raw}`"),
            "write the full path, or `~/...` for your own home directory",
        ));
    } else if raw.starts_with('$') {
        // Nobody writes a path starting with `$` on purpose; it is an
        // attempt at shell expansion, which we do not do.
        return Err(ValueError::new(
            format!("environment variables are not expanded in paths: `{raw}`"),
            "use `~/...` or an absolute path",
        ));
    } else {
        PathBuf::from(raw)
    };
    Ok(match base {
        Some(base) if expanded.is_relative() => base.join(expanded),
        _ => expanded,
    })
}

/// Environment lookup that treats an empty value as unset, which is what
/// users mean by `FOO= ctxd`.
pub(crate) fn non_empty(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// A duration as written in TOML. It is kept as a string so that parsing
/// happens after deserialization, where the error can carry a hint; the
/// custom visitor only exists to make wrong-type errors say "expected a
/// duration" instead of "expected a string".
#[derive(Debug, Clone)]
pub(crate) struct DurationText(pub String);

impl<'de> serde::Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string such as \"30s\", \"5m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A size as written in TOML: an integer byte count or a string with a unit.
#[derive(Debug, Clone)]
pub(crate) enum SizeValue {
    Bytes(u64),
    Negative,
    Text(String),
}

impl<'de> serde::Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SizeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"20 MiB\" or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeValue, E> {
                Ok(u64::try_from(v).map_or(SizeValue::Negative, SizeValue::Bytes))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl SizeValue {
    pub fn to_bytes(&self) -> Result<u64, ValueError> {
        match self {
            Self::Bytes(n) => Ok(*n),
            Self::Negative => Err(ValueError::new("a size cannot be negative", SIZE_HINT)),
            Self::Text(text) => parse_size(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/me".to_owned())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_have_hints() {
        for bad in [
            "",
            "30",
            "5 minutes",
            "m5",
            "1.5s",
            "-1s",
            "99999999999999999999999999999999999999999d",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.hint.is_some(), "{bad}: {err:?}");
        }
        assert_eq!(
            parse_duration("30").unwrap_err().message,
            "duration `30` has no unit"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20 MiB"), Ok(20 * 1024 * 1024));
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("512 kib"), Ok(512 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("7 GB"), Ok(7_000_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("10 B"), Ok(10));
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(
            parse_size("20 XB").unwrap_err().message,
            "unknown size unit `XB`"
        );
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1.5 GiB").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18446744073709551615 GiB").is_err());
    }

    #[test]
    fn paths_expand_tilde_and_resolve_relative() {
        let base = Path::new("/etc/ctx/connectors.d");
        assert_eq!(expand_path("~", None, &home), Ok(PathBuf::from("/home/me")));
        assert_eq!(
            expand_path("~/Documents", Some(base), &home),
            Ok(PathBuf::from("/home/me/Documents"))
        );
        assert_eq!(
            expand_path("notes", Some(base), &home),
            Ok(PathBuf::from("/etc/ctx/connectors.d/notes"))
        );
        assert_eq!(
            expand_path("/abs", Some(base), &home),
            Ok(PathBuf::from("/abs"))
        );
        assert!(expand_path("~bob/x", None, &home).is_err());
        assert!(expand_path("$HOME/x", None, &home).is_err());
        assert!(expand_path("", None, &home).is_err());
        let no_env = |_: &str| None;
        assert!(
            expand_path("~/x", None, &no_env)
                .unwrap_err()
                .message
                .contains("HOME is not set")
        );
    }
}
