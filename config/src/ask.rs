//! The `[ask]` section of the main file: the local chat endpoint `ctx ask` sends the grabbed
//! context and the question to (llama.cpp server, vLLM, Ollama, LM Studio… anything speaking
//! OpenAI's chat-completions API).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ConfigError, Doc};
use crate::secret::{Secret, secret_pair};
use crate::value::{DurationText, parse_duration};

/// Default `[ask] base_url`: llama.cpp's `llama-server` on its default port.
pub const DEFAULT_ASK_BASE_URL: &str = "http://127.0.0.1:8080/v1";
/// Default `[ask] budget`, in tokens of context.
pub const DEFAULT_ASK_BUDGET: u64 = 16_384;
/// Default `[ask] timeout` for the whole answer.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(300);

/// Where and how `ctx ask` asks.
#[derive(Debug, Clone, PartialEq)]
pub struct AskConfig {
    /// Base URL of the OpenAI-compatible API, without the trailing `/chat/completions`.
    pub base_url: String,
    /// Model name sent in the request; `None` lets the server pick (llama.cpp serves one model).
    pub model: Option<String>,
    /// Bearer key for servers that want one (vLLM `--api-key`); never logged.
    pub api_key: Option<Secret>,
    /// Token budget of the context grabbed for a question.
    pub budget: u64,
    /// Sampling temperature, 0–2; `None` keeps the server's default.
    pub temperature: Option<f64>,
    /// Upper bound on the answer's length, in tokens.
    pub max_tokens: Option<u64>,
    /// Time allowed for the whole answer to stream.
    pub timeout: Duration,
    /// Replaces the built-in system prompt.
    pub system_prompt: Option<String>,
}

impl Default for AskConfig {
    fn default() -> Self {
        AskConfig {
            base_url: DEFAULT_ASK_BASE_URL.to_owned(),
            model: None,
            api_key: None,
            budget: DEFAULT_ASK_BUDGET,
            temperature: None,
            max_tokens: None,
            timeout: DEFAULT_ASK_TIMEOUT,
            system_prompt: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAsk {
    base_url: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    api_key_command: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    budget: Option<Spanned<u64>>,
    temperature: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<u64>>,
    timeout: Option<Spanned<DurationText>>,
    system_prompt: Option<Spanned<String>>,
}

/// Validates `[ask]`; problems are pushed to `errors`.
pub(crate) fn build_ask(doc: &Doc<'_>, raw: RawAsk, errors: &mut Vec<ConfigError>) -> AskConfig {
    let mut ask = AskConfig::default();
    if let Some(url) = &raw.base_url {
        match check_ask_base_url(url.get_ref()) {
            Ok(clean) => ask.base_url = clean,
            Err((message, hint)) => errors.push(doc.at(url.span(), message, Some(hint))),
        }
    }
    if let Some(model) = &raw.model {
        if model.get_ref().trim().is_empty() {
            errors.push(
                doc.at(
                    model.span(),
                    "`model` is empty",
                    Some(
                        "name the model the server serves, e.g. \"llama3.1:8b\", or remove the key"
                            .into(),
                    ),
                ),
            );
        } else {
            ask.model = Some(model.get_ref().trim().to_owned());
        }
    }
    ask.api_key = secret_pair(
        doc,
        "api_key",
        raw.api_key_command.as_ref(),
        raw.api_key_env.as_ref(),
        errors,
    );
    if let Some(budget) = &raw.budget {
        if *budget.get_ref() == 0 {
            errors.push(doc.at(
                budget.span(),
                "`budget` must be greater than zero",
                Some("a token count of context per question, e.g. 16384".into()),
            ));
        } else {
            ask.budget = *budget.get_ref();
        }
    }
    if let Some(t) = &raw.temperature {
        let value = *t.get_ref();
        if !(0.0..=2.0).contains(&value) {
            errors.push(doc.at(
                t.span(),
                format!("`temperature` {value} is outside 0–2"),
                Some("0 is deterministic, 0.7 a common default".into()),
            ));
        } else {
            ask.temperature = Some(value);
        }
    }
    if let Some(max) = &raw.max_tokens {
        if *max.get_ref() == 0 {
            errors.push(doc.at(
                max.span(),
                "`max_tokens` must be greater than zero",
                Some("remove it to let the server decide".into()),
            ));
        } else {
            ask.max_tokens = Some(*max.get_ref());
        }
    }
    if let Some(timeout) = &raw.timeout {
        match parse_duration(&timeout.get_ref().0) {
            Ok(d) if d.is_zero() => errors.push(doc.at(
                timeout.span(),
                "`timeout` must be longer than zero",
                Some("e.g. \"5m\"".into()),
            )),
            Ok(d) => ask.timeout = d,
            Err(e) => errors.push(doc.at(timeout.span(), e.message, e.hint)),
        }
    }
    if let Some(prompt) = &raw.system_prompt {
        if prompt.get_ref().trim().is_empty() {
            errors.push(doc.at(
                prompt.span(),
                "`system_prompt` is empty",
                Some("remove the key to use the built-in prompt".into()),
            ));
        } else {
            ask.system_prompt = Some(prompt.get_ref().clone());
        }
    }
    ask
}

/// Checks a chat API base URL (`[ask] base_url`, `ctx ask --base-url`): `http(s)://host[:port]/path`,
/// returned without a trailing slash. Plain http is only accepted for loopback hosts: the request
/// carries the user's private context. An error is a message and a hint.
pub fn check_ask_base_url(url: &str) -> Result<String, (String, String)> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
        (
            format!("`base_url` `{url}` is not an http(s) URL"),
            "write e.g. \"http://127.0.0.1:8080/v1\" (llama.cpp) or \"http://127.0.0.1:11434/v1\" (Ollama)".to_owned(),
        )
    })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host_of(authority);
    if host.is_empty() {
        return Err((
            format!("`base_url` `{url}` has no host"),
            "write e.g. \"http://127.0.0.1:8080/v1\"".to_owned(),
        ));
    }
    if trimmed.ends_with("/chat/completions") {
        return Err((
            format!("`base_url` `{url}` already ends in /chat/completions"),
            "give the API base, e.g. \"http://127.0.0.1:8080/v1\"; ctx appends /chat/completions"
                .to_owned(),
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(trimmed.to_owned()),
        "http" if is_loopback_host(host) => Ok(trimmed.to_owned()),
        "http" => Err((
            format!("`base_url` `{url}` is plain http to a host that is not loopback"),
            "the request carries your private context: use https, or a server on 127.0.0.1 / [::1] / localhost".to_owned(),
        )),
        other => Err((
            format!("`base_url` scheme `{other}` is not supported"),
            "use http (loopback only) or https".to_owned(),
        )),
    }
}

/// The host part of `user@host:port`, brackets of IPv6 literals removed.
fn host_of(authority: &str) -> &str {
    let hostport = authority.rsplit('@').next().unwrap_or("");
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    hostport.split(':').next().unwrap_or("")
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_ask_base_url("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert!(check_ask_base_url("http://localhost:11434/v1").is_ok());
        assert!(check_ask_base_url("http://[::1]:8000/v1").is_ok());
        assert!(check_ask_base_url("https://llm.example.com/v1").is_ok());
        let (message, _) = check_ask_base_url("http://192.168.1.5:8080/v1").unwrap_err();
        assert!(message.contains("not loopback"), "{message}");
        let (message, _) = check_ask_base_url("127.0.0.1:8080").unwrap_err();
        assert!(message.contains("not an http(s) URL"), "{message}");
        let (message, _) =
            check_ask_base_url("http://127.0.0.1:8080/v1/chat/completions").unwrap_err();
        assert!(message.contains("/chat/completions"), "{message}");
        let (message, _) = check_ask_base_url("ftp://127.0.0.1/v1").unwrap_err();
        assert!(message.contains("scheme"), "{message}");
        let (message, _) = check_ask_base_url("http:///v1").unwrap_err();
        assert!(message.contains("no host"), "{message}");
    }
}
