//! Secrets referenced from config files.
//!
//! A config file never contains a secret itself, only *how to get it*: a
//! shell command (`*_command`, e.g. `pass show ctx/token`) or an environment
//! variable name (`*_env`). Resolution happens on demand and the value is
//! handed straight to the caller; it is never stored in config structs,
//! never put into an error message, and never logged.

use std::process::{Command, Stdio};

use toml::Spanned;

use crate::error::{ConfigError, Doc};

/// Where to get a secret from. Holds only the recipe, never the value, so
/// `Debug` (and logging a whole `Config`) cannot leak it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// Run `sh -c COMMAND` and use its stdout, minus trailing newlines.
    Command(String),
    /// Read the named environment variable.
    Env(String),
}

/// Why a secret could not be resolved. Deliberately carries no part of the
/// command's stdout, which is where the secret would be.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The shell could not be started at all.
    #[error("could not run secret command `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The command ran but failed.
    #[error("secret command `{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        command: String,
        /// e.g. "exit status: 1" or "signal: 9 (SIGKILL)".
        status: String,
        /// First non-empty line of stderr, if any (diagnostics, not output).
        stderr: Option<String>,
    },
    /// The command succeeded but printed nothing (an empty bearer token
    /// would silently disable authentication, so it is an error).
    #[error("secret command `{command}` printed nothing")]
    EmptyCommandOutput { command: String },
    /// The command printed something that is not UTF-8.
    #[error("secret command `{command}` printed bytes that are not valid UTF-8")]
    NotUtf8 { command: String },
    /// The environment variable is unset, empty, or not valid UTF-8.
    #[error("environment variable `{var}` is not set (or is empty or not valid UTF-8)")]
    EnvMissing { var: String },
}

fn stderr_suffix(stderr: &Option<String>) -> String {
    stderr
        .as_ref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

impl Secret {
    /// Resolves the secret using the process environment.
    pub fn resolve(&self) -> Result<String, SecretError> {
        self.resolve_with(&crate::process_env)
    }

    /// Resolves the secret with an injectable environment lookup (used for
    /// `Env`; commands still inherit the real process environment).
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, SecretError> {
        match self {
            Self::Env(var) => env(var)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| SecretError::EnvMissing { var: var.clone() }),
            Self::Command(command) => run_command(command),
        }
    }
}

fn run_command(command: &str) -> Result<String, SecretError> {
    // stdin is closed so a command that unexpectedly prompts fails instead of
    // hanging the daemon waiting on a terminal it does not have.
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SecretError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().take(200).collect());
        return Err(SecretError::Failed {
            command: command.to_owned(),
            status: output.status.to_string(),
            stderr,
        });
    }
    let mut value = String::from_utf8(output.stdout).map_err(|_| SecretError::NotUtf8 {
        command: command.to_owned(),
    })?;
    // Only line endings are trimmed: other whitespace might be part of the
    // secret, and `pass`/`echo` always add exactly these.
    let trimmed_len = value.trim_end_matches(['\n', '\r']).len();
    value.truncate(trimmed_len);
    if value.is_empty() {
        return Err(SecretError::EmptyCommandOutput {
            command: command.to_owned(),
        });
    }
    Ok(value)
}

/// Validates a `PREFIX_command` / `PREFIX_env` key pair (e.g. `token_command`
/// / `token_env`, later `password_command` / `password_env` for IMAP):
/// at most one may be set. Problems are pushed to `errors`.
pub(crate) fn secret_pair(
    doc: &Doc<'_>,
    prefix: &str,
    command: Option<&Spanned<String>>,
    env_var: Option<&Spanned<String>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Secret> {
    match (command, env_var) {
        (Some(cmd), Some(var)) => {
            // Point at whichever comes second in the file: that is the line
            // the user most likely just added.
            let later = if cmd.span().start > var.span().start {
                cmd
            } else {
                var
            };
            errors.push(doc.at(
                later.span(),
                format!("both `{prefix}_command` and `{prefix}_env` are set"),
                Some(format!(
                    "keep only one of `{prefix}_command` and `{prefix}_env`"
                )),
            ));
            None
        }
        (Some(cmd), None) => {
            if cmd.get_ref().trim().is_empty() {
                errors.push(doc.at(
                    cmd.span(),
                    format!("`{prefix}_command` is empty"),
                    Some("give a shell command that prints the secret, e.g. \"pass show ctx/token\"".into()),
                ));
                return None;
            }
            Some(Secret::Command(cmd.get_ref().clone()))
        }
        (None, Some(var)) => {
            let name = var.get_ref();
            if name.is_empty() || name.contains(['=', '\0']) || name.starts_with('$') {
                errors.push(doc.at(
                    var.span(),
                    format!("`{prefix}_env` must be an environment variable name, got `{name}`"),
                    Some("write just the name, e.g. \"CTX_TOKEN\" (no `$`)".into()),
                ));
                return None;
            }
            Some(Secret::Env(name.clone()))
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_is_trimmed_of_line_endings_only() {
        let secret = Secret::Command("printf ' tok en \\r\\n\\n'".into());
        assert_eq!(secret.resolve().unwrap(), " tok en ");
    }

    #[test]
    fn failing_command_reports_status_and_stderr_but_not_stdout() {
        let secret = Secret::Command(
            "printf '%s%s' hun ter2; echo 'gpg: decryption failed' >&2; exit 3".into(),
        );
        let err = secret.resolve().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("gpg: decryption failed"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn empty_output_is_an_error() {
        let err = Secret::Command("true".into()).resolve().unwrap_err();
        assert!(matches!(err, SecretError::EmptyCommandOutput { .. }));
    }

    #[test]
    fn env_secret_uses_injected_lookup() {
        let env = |name: &str| (name == "CTX_TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            Secret::Env("CTX_TOKEN".into()).resolve_with(&env).unwrap(),
            "s3cret"
        );
        let err = Secret::Env("OTHER".into()).resolve_with(&env).unwrap_err();
        assert!(err.to_string().contains("`OTHER`"));
    }

    #[test]
    fn debug_shows_recipe_not_value() {
        let dbg = format!("{:?}", Secret::Env("CTX_TOKEN".into()));
        assert_eq!(dbg, "Env(\"CTX_TOKEN\")");
    }
}
