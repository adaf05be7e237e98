//! Located configuration errors and their rendering.
//!
//! Every problem found in a file is turned into a [`ConfigError`] that knows
//! the file, the 1-based line and column, and (almost always) a hint on how to
//! fix it. Messages never contain secret values: the only secrets this crate
//! handles are produced by [`crate::Secret::resolve`], whose errors are a
//! separate type.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One configuration problem, pointing at where it was found.
///
/// `Display` renders it like cargo/rustc diagnostics (without the leading
/// `error: `, which [`ConfigErrors`] adds, so the daemon can log a single
/// error at whatever level it likes):
///
/// ```text
/// unknown key `pahts` in /home/me/.config/ctx/connectors.d/notes.toml:3:1
///   hint: did you mean `paths`?
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in; `None` for problems that come from the
    /// environment (e.g. `HOME` unset) rather than from a file.
    pub path: Option<PathBuf>,
    /// 1-based line, when the problem is tied to a place in the file.
    pub line: Option<usize>,
    /// 1-based column in characters, present whenever `line` is.
    pub column: Option<usize>,
    /// What is wrong, in one line.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
}

impl ConfigError {
    /// An error about a whole file (no line), e.g. unreadable or badly named.
    pub(crate) fn file(path: &Path, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            path: Some(path.to_path_buf()),
            line: None,
            column: None,
            message: message.into(),
            hint,
        }
    }

    /// An error that is not tied to any file (environment problems).
    pub(crate) fn general(message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            path: None,
            line: None,
            column: None,
            message: message.into(),
            hint,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(path) = &self.path {
            write!(f, " in {}", path.display())?;
            if let (Some(line), Some(column)) = (self.line, self.column) {
                write!(f, ":{line}:{column}")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All problems found while loading a configuration.
///
/// Loading collects errors across files instead of stopping at the first, so
/// a user can fix everything in one round. Never empty when returned by this
/// crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The individual errors, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "error: {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

/// A TOML document being validated: knows how to turn byte spans into
/// located errors.
pub(crate) struct Doc<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Doc<'_> {
    /// An error located at the start of `span`.
    pub fn at(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            path: Some(self.path.to_path_buf()),
            line: Some(line),
            column: Some(column),
            message: message.into(),
            hint,
        }
    }

    /// Converts a `toml` parse/deserialize error, rewriting serde's wording
    /// into something a config author understands and adding hints.
    pub fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let (message, hint) = explain_toml_message(error.message());
        match error.span() {
            Some(span) => self.at(span, message, hint),
            None => ConfigError::file(self.path, message, hint),
        }
    }
}

/// Orders one file's errors by position, so they read top to bottom even
/// though validation checks keys in a fixed order.
pub(crate) fn sort_by_position(errors: &mut [ConfigError]) {
    errors.sort_by_key(|e| (e.line, e.column));
}

/// Converts a byte offset into a 1-based (line, column), column counted in
/// characters so it matches what editors show. Out-of-range offsets clamp to
/// the end of the text instead of panicking.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // A span from the parser is always on a char boundary, but never trust
    // that enough to panic on a slice.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Turns a `toml`/serde message into (message, hint).
fn explain_toml_message(raw: &str) -> (String, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field ") {
        // serde: "unknown field `x`, expected one of `a`, `b`" or
        // "..., expected `a`" or "..., there are no fields". Backtick-quoted
        // pieces are at the odd indices after splitting on '`'.
        let quoted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        if let Some((field, expected)) = quoted.split_first() {
            let message = format!("unknown key `{field}`");
            let hint = match suggest(field, expected.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if expected.is_empty() => {
                    "remove this key; nothing is allowed here".to_owned()
                }
                None => format!("valid keys here: {}", backticked(expected)),
            };
            return (message, Some(hint));
        }
    }
    if raw.starts_with("invalid type: ") || raw.starts_with("invalid value: ") {
        let hint = raw
            .split_once(", expected ")
            .and_then(|(_, expected)| hint_for_expected(expected));
        return (raw.to_owned(), hint);
    }
    if raw.starts_with("duplicate key") {
        return (
            raw.to_owned(),
            Some("each key may appear only once per table; remove one of them".to_owned()),
        );
    }
    if raw.contains("integer number overflowed") {
        return (raw.to_owned(), Some("use a smaller number".to_owned()));
    }
    // Anything else is a TOML syntax error from the parser.
    (
        format!("invalid TOML: {raw}"),
        Some(
            "check quoting, brackets and `key = value` syntax here (see https://toml.io)"
                .to_owned(),
        ),
    )
}

fn hint_for_expected(expected: &str) -> Option<String> {
    let hint = if expected.contains("duration") {
        "durations are quoted strings with a unit: ms, s, m, h or d (e.g. \"30s\", \"5m\", \"1h30m\")"
    } else if expected.contains("size") {
        "write a byte count (20971520) or a quoted size with a unit (\"20 MiB\")"
    } else if expected.contains("boolean") {
        "use `true` or `false` without quotes"
    } else if expected.contains("sequence") {
        "use a list, e.g. `[\"~/Documents\", \"~/Notes\"]`"
    } else if expected.contains("string") {
        "put the value in double quotes, e.g. `\"...\"`"
    } else if expected.starts_with('u') || expected.starts_with('i') || expected.contains("integer")
    {
        "use a whole non-negative number without quotes"
    } else if expected.contains("struct") || expected.contains("map") {
        "this must be a table, e.g. a `[daemon]` section"
    } else {
        return None;
    };
    Some(hint.to_owned())
}

/// Renders names as "`a`, `b`, `c`".
pub(crate) fn backticked<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `given`, if it is close enough to be a likely
/// typo (at most a third of the candidate's length, and at least one edit).
pub(crate) fn suggest<'c>(
    given: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(given, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: Levenshtein plus adjacent
/// transpositions, because swapped letters (`pahts`) are the most common typo.
/// Case differences count as edits but cheap ones are still within threshold.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // prev2 = row i-2, prev = row i-1, cur = row i.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(prev2[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // "bé " is 4 bytes but 3 characters: the `=` is column 4.
        assert_eq!(line_col(text, 10), (2, 4));
        // Past the end and mid-character offsets clamp instead of panicking.
        assert_eq!(line_col(text, 1000), (3, 1));
        assert_eq!(line_col(text, 8), (2, 2));
    }

    #[test]
    fn edit_distance_counts_transpositions_as_one() {
        assert_eq!(edit_distance("pahts", "paths"), 1);
        assert_eq!(edit_distance("deamon", "daemon"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggest_only_close_candidates() {
        let keys = ["paths", "include", "exclude", "watch"];
        assert_eq!(suggest("pahts", keys), Some("paths"));
        assert_eq!(suggest("exlcude", keys), Some("exclude"));
        assert_eq!(suggest("colour", keys), None);
    }

    #[test]
    fn unknown_field_message_is_rewritten_with_suggestion() {
        let (msg, hint) =
            explain_toml_message("unknown field `pahts`, expected one of `type`, `paths`, `watch`");
        assert_eq!(msg, "unknown key `pahts`");
        assert_eq!(hint.as_deref(), Some("did you mean `paths`?"));

        let (_, hint) =
            explain_toml_message("unknown field `zzz`, expected `daemon` or `retrieval`");
        assert_eq!(
            hint.as_deref(),
            Some("valid keys here: `daemon`, `retrieval`")
        );
    }

    #[test]
    fn display_matches_cargo_style() {
        let error = ConfigError {
            path: Some(PathBuf::from("connectors.d/notes.toml")),
            line: Some(3),
            column: Some(1),
            message: "unknown key `pahts`".into(),
            hint: Some("did you mean `paths`?".into()),
        };
        assert_eq!(
            ConfigErrors(vec![error.clone()]).to_string(),
            "error: unknown key `pahts` in connectors.d/notes.toml:3:1\n  hint: did you mean `paths`?"
        );
        let no_line = ConfigError::general("HOME is not set", None);
        assert_eq!(no_line.to_string(), "HOME is not set");
    }
}
