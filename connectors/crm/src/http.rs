//! JSON over HTTP for CRM APIs: bearer tokens, retries and error kinds.
//!
//! * `429 Too Many Requests` waits `Retry-After` (capped) and retries; `5xx` and transport
//!   failures retry with exponential backoff; when attempts run out the error is
//!   [`ErrorKind::Transient`] with the suggested wait, so the daemon backs off further.
//! * `401`/`403` are [`ErrorKind::Auth`] at once, never retried: repeating a rejected token only
//!   gets an account locked, and the daemon shows the error in `ctx status` and waits.
//! * Other `4xx` are [`ErrorKind::Permanent`] with the server's message.

use std::sync::Arc;
use std::time::Duration;

use ctx_connector_api::{ConnectorError, ErrorKind};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Produces the API token (runs `token_command` or reads `token_env`); called once per pass, on
/// a blocking thread. The value never leaves the connector.
pub type TokenSource = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// How hard to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// First backoff after a `5xx` or transport failure; doubles each time.
    pub backoff: Duration,
    /// The longest wait for one `Retry-After` or backoff; longer waits go back to the daemon.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// An answer: status, JSON body (or `Null`), and the headers connectors look at.
#[derive(Debug, Clone)]
pub struct JsonResponse {
    pub status: StatusCode,
    pub body: Value,
    /// The `Date` header, in epoch milliseconds (the server's clock).
    pub date_ms: Option<i64>,
    /// The `Link` header (RFC 8288), for link-header paging.
    pub link: Option<String>,
}

/// A client for one API.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    token: Option<TokenSource>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("retry", &self.retry)
            .finish()
    }
}

impl ApiClient {
    pub fn new(
        timeout: Duration,
        token: Option<TokenSource>,
        retry: RetryPolicy,
    ) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(20)))
            .user_agent(concat!("ctx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient { http, token, retry })
    }

    /// Resolves the token for a pass (on a blocking thread: it may run a command).
    pub async fn token(&self) -> Result<Option<String>, ConnectorError> {
        let Some(source) = self.token.clone() else {
            return Ok(None);
        };
        let resolved = tokio::task::spawn_blocking(move || source())
            .await
            .map_err(|e| ConnectorError::transient(format!("token task failed: {e}")))?;
        match resolved {
            Ok(token) => Ok(Some(token)),
            Err(e) => Err(ConnectorError::new(
                ErrorKind::Auth,
                format!("cannot get the API token: {e}"),
            )),
        }
    }

    /// Sends a request with retries; returns a 2xx answer or a kinded error.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<JsonResponse, ConnectorError> {
        self.send_inner(method, url, token, body, None).await
    }

    /// [`ApiClient::send`] with the token in a header of its own (`X-Api-Key: …`).
    pub async fn send_with_header(
        &self,
        method: Method,
        url: &str,
        header: (&str, &str),
    ) -> Result<JsonResponse, ConnectorError> {
        self.send_inner(method, url, None, None, Some(header)).await
    }

    async fn send_inner(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        header: Option<(&str, &str)>,
    ) -> Result<JsonResponse, ConnectorError> {
        let mut backoff = self.retry.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts.max(1);
            let mut request = self
                .http
                .request(method.clone(), url)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let error = ConnectorError::transient(format!("{method} {url} failed: {e}"))
                        .with_source(e);
                    if last {
                        return Err(error.with_retry_after(backoff));
                    }
                    tracing::debug!(%url, attempt, wait_ms = backoff.as_millis() as u64, "crm request failed, retrying");
                    tokio::time::sleep(backoff.min(self.retry.max_wait)).await;
                    backoff = (backoff * 2).min(self.retry.max_wait);
                    continue;
                }
            };
            let status = response.status();
            let header = |name: reqwest::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after =
                header(reqwest::header::RETRY_AFTER).and_then(|v| parse_retry_after(&v));
            let date_ms = header(reqwest::header::DATE).and_then(|v| {
                chrono::DateTime::parse_from_rfc2822(&v)
                    .ok()
                    .map(|d| d.timestamp_millis())
            });
            let link = header(reqwest::header::LINK);
            let text = match response.text().await {
                Ok(t) => t,
                Err(e) => {
                    let error = ConnectorError::transient(format!(
                        "reading the answer to {method} {url} failed: {e}"
                    ))
                    .with_source(e);
                    if last {
                        return Err(error);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_wait);
                    continue;
                }
            };
            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        ConnectorError::transient(format!(
                            "{method} {url}: the answer is not JSON: {e}"
                        ))
                    })?
                };
                return Ok(JsonResponse {
                    status,
                    body,
                    date_ms,
                    link,
                });
            }
            let message = error_message(&text);
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(ConnectorError::new(
                    ErrorKind::Auth,
                    format!(
                        "{url} rejected the token (HTTP {}): {message}; check `token_command` / `token_env` and the token's scopes",
                        status.as_u16()
                    ),
                ));
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after.unwrap_or(backoff);
                if last || wait > self.retry.max_wait {
                    return Err(ConnectorError::transient(format!(
                        "{url}: rate limited (HTTP 429): {message}"
                    ))
                    .with_retry_after(wait));
                }
                tracing::debug!(%url, attempt, wait_ms = wait.as_millis() as u64, "crm rate limited, waiting");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(self.retry.max_wait);
                continue;
            }
            if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                if last {
                    let mut error = ConnectorError::transient(format!(
                        "{url}: HTTP {}: {message}",
                        status.as_u16()
                    ));
                    error = error.with_retry_after(retry_after.unwrap_or(backoff));
                    return Err(error);
                }
                let wait = retry_after.unwrap_or(backoff).min(self.retry.max_wait);
                tracing::debug!(%url, attempt, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "crm server error, retrying");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(self.retry.max_wait);
                continue;
            }
            return Err(ConnectorError::permanent(format!(
                "{method} {url}: HTTP {}: {message}",
                status.as_u16()
            )));
        }
    }
}

/// `Retry-After` as seconds (the HTTP-date form is turned into a wait from now).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(ms.max(0) as u64))
}

/// The message of an error answer: HubSpot's `{"status","message","correlationId","category"}`
/// (and most other APIs' `message`/`error` fields), else the start of the text.
pub fn error_message(text: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        let message = value
            .get("message")
            .or_else(|| value.get("error_description"))
            .or_else(|| value.get("error"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            let category = value.get("category").and_then(Value::as_str);
            return match category {
                Some(c) => format!("{message} ({c})"),
                None => message.to_owned(),
            };
        }
    }
    let snippet: String = text.trim().chars().take(200).collect();
    if snippet.is_empty() {
        "no details".to_owned()
    } else {
        snippet
    }
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_error_bodies_give_their_message() {
        let text = r#"{"status":"error","message":"Authentication credentials not found.","correlationId":"c0ffee","category":"INVALID_AUTHENTICATION"}"#;
        assert_eq!(
            error_message(text),
            "Authentication credentials not found. (INVALID_AUTHENTICATION)"
        );
        assert_eq!(error_message(""), "no details");
        assert_eq!(error_message("<html>oops"), "<html>oops");
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
