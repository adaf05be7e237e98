//! `ctx ask`: grab the context of a question from ctxd, send both to a local OpenAI-compatible
//! chat endpoint (llama.cpp's `llama-server`, vLLM, Ollama, LM Studio…), and stream the answer to
//! the terminal, followed by the items it cites.
//!
//! The wire format is OpenAI's chat-completions API with `stream: true`: the server answers with
//! server-sent events, one `data: {json}` line per chunk carrying `choices[0].delta.content`, and
//! a final `data: [DONE]`. Servers that ignore `stream` and answer with one JSON object are
//! accepted too.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use ctx_client::pb;
use serde::Serialize;

use crate::GlobalArgs;
use crate::client::{ConfigFailure, call_error, connect, usage};
use crate::dates;
use crate::fmt::clip;
use crate::query::{FilterArgs, freshness_warnings};

/// Characters of an item id a model is asked to cite: enough to be unique in one window.
const CITE_PREFIX: usize = 8;

const DEFAULT_SYSTEM_PROMPT: &str = "You answer questions about the user's own documents, email, \
calendar, contacts and CRM records, mirrored on this device. The context below is a set of \
markdown blocks; each opens with a header giving the item's kind, source, date and `id`. \
Answer from this context only; if it does not hold the answer, say so plainly. After each \
statement, cite the item it comes from as [id:XXXXXXXX], the first 8 characters of its id.";

#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question.
    #[arg(value_name = "QUESTION")]
    pub question: String,
    /// Token budget of the context sent with the question [default: `[ask] budget`, 16384].
    #[arg(long, short = 'b', value_name = "N")]
    pub budget: Option<u32>,
    /// Model name to request [default: `[ask] model`].
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Base URL of the chat API, e.g. http://127.0.0.1:8080/v1 [default: `[ask] base_url`].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Print the context sent to the model (on stderr) before the answer.
    #[arg(long)]
    pub show_context: bool,
}

/// The settings of one question: `[ask]` with the flags applied.
struct AskSettings {
    endpoint: String,
    model: Option<String>,
    api_key: Option<String>,
    budget: u32,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    timeout: Duration,
    system_prompt: String,
}

fn settings(global: &GlobalArgs, args: &AskArgs) -> anyhow::Result<AskSettings> {
    let source = ctx_config::ConfigSource {
        explicit_path: global.config.clone(),
    };
    let (config, _bad) = ctx_config::load_lenient(&source, &ctx_config::process_env)
        .map_err(|errors| anyhow::Error::new(ConfigFailure(errors)))?;
    let ask = config.ask;
    let base_url = match &args.base_url {
        Some(url) => ctx_config::check_ask_base_url(url)
            .map_err(|(message, hint)| usage(format!("--base-url: {message}\n  hint: {hint}")))?,
        None => ask.base_url,
    };
    let api_key = match &ask.api_key {
        Some(secret) => Some(
            secret
                .resolve()
                .map_err(|e| anyhow!("cannot get the `[ask]` API key: {e}"))?,
        ),
        None => None,
    };
    let budget = match args.budget {
        Some(0) => return Err(usage("--budget must be at least 1 token")),
        Some(b) => b,
        None => u32::try_from(ask.budget).unwrap_or(u32::MAX),
    };
    Ok(AskSettings {
        endpoint: format!("{base_url}/chat/completions"),
        model: args.model.clone().or(ask.model),
        api_key,
        budget,
        temperature: ask.temperature,
        max_tokens: ask.max_tokens,
        timeout: ask.timeout,
        system_prompt: ask
            .system_prompt
            .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned()),
    })
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    /// OpenAI's API requires a model; single-model servers (llama.cpp) ignore the name.
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
}

pub async fn ask(global: &GlobalArgs, args: AskArgs) -> anyhow::Result<()> {
    if args.question.trim().is_empty() {
        return Err(usage(
            "the question is empty\n  hint: ctx ask \"when is the Acme renewal due?\"",
        ));
    }
    let settings = settings(global, &args)?;
    let filters = args.filters.to_filters()?;

    let mut client = connect(global).await?;
    let context = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: args.question.clone(),
            token_budget: settings.budget,
            filters: Some(filters),
            ..Default::default()
        })
        .await
        .map_err(call_error)?
        .into_inner();
    eprintln!(
        "context: {} item{}, {} tokens, {} ms",
        context.items.len(),
        if context.items.len() == 1 { "" } else { "s" },
        context.tokens_used,
        context.took_us / 1000
    );
    let warnings = freshness_warnings(&context.freshness, dates::now_ms());
    for line in &warnings {
        eprintln!("{line}");
    }
    if context.items.is_empty() {
        eprintln!("warning: nothing related was found; the model gets the question alone");
    }
    if args.show_context {
        eprintln!("{}", context.markdown);
    }

    let user_message = user_message(&args.question, &context, &warnings);
    let request = ChatRequest {
        model: settings.model.as_deref().unwrap_or("default"),
        messages: vec![
            ChatMessage {
                role: "system",
                content: &settings.system_prompt,
            },
            ChatMessage {
                role: "user",
                content: &user_message,
            },
        ],
        stream: true,
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
    };

    let started = Instant::now();
    let answer = tokio::time::timeout(settings.timeout, stream_answer(&settings, &request))
        .await
        .map_err(|_| {
            anyhow!(
                "the model did not finish within {} s\n  hint: raise `[ask] timeout` or lower `--budget`",
                settings.timeout.as_secs()
            )
        })??;
    println!();
    let cited = cited_items(&answer, &context.items);
    let mut out = std::io::stdout().lock();
    if cited.is_empty() {
        writeln!(
            out,
            "\n(no item cited; {} item(s) were in the context)",
            context.items.len()
        )?;
    } else {
        writeln!(out, "\ncited:")?;
        for item in cited {
            writeln!(
                out,
                "  [{}] {} · {} · {}{}",
                &item.id[..CITE_PREFIX.min(item.id.len())],
                item.kind,
                item.source,
                clip(&item.title, 70),
                if item.locator.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", clip(&item.locator, 80))
                }
            )?;
        }
    }
    drop(out);
    eprintln!("answered in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The question with its context, as the user turn.
fn user_message(question: &str, context: &pb::GrabResponse, warnings: &[String]) -> String {
    let mut text = String::with_capacity(context.markdown.len() + question.len() + 256);
    text.push_str("# Context\n\n");
    if context.items.is_empty() {
        text.push_str("(nothing related was found)\n\n");
    } else {
        text.push_str(&context.markdown);
    }
    if !warnings.is_empty() {
        text.push_str("Freshness:\n");
        for w in warnings {
            text.push_str("- ");
            text.push_str(w.trim_start_matches("warning: "));
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("# Question\n\n");
    text.push_str(question.trim());
    text.push('\n');
    text
}

/// Sends the request and prints the answer as it streams; returns the whole answer.
async fn stream_answer(
    settings: &AskSettings,
    request: &ChatRequest<'_>,
) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("cannot set up the HTTP client")?;
    let mut call = http
        .post(&settings.endpoint)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(request).context("encoding the chat request")?);
    if let Some(key) = &settings.api_key {
        call = call.bearer_auth(key);
    }
    let mut response = call.send().await.map_err(|e| {
        anyhow!(
            "cannot reach the chat endpoint {}: {}\n  hint: start a local server (e.g. `llama-server -m model.gguf --port 8080`) \
             or set `[ask] base_url` in config.toml",
            settings.endpoint,
            crate::client::with_sources(&e)
        )
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let hint = match status.as_u16() {
            401 | 403 => "check `[ask] api_key_command` / `api_key_env`",
            404 => "check `[ask] base_url` (it should end in /v1) and `[ask] model`",
            _ => "see the server's log",
        };
        return Err(anyhow!(
            "the chat endpoint answered {status}: {}\n  hint: {hint}",
            error_message(&body)
        ));
    }
    let is_event_stream = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));

    let mut stdout = std::io::stdout();
    if !is_event_stream {
        // A server that ignored `stream: true` answers with one completion object.
        let body = response.text().await.context("reading the answer")?;
        let answer = whole_completion(&body)?;
        write!(stdout, "{answer}")?;
        stdout.flush()?;
        return Ok(answer);
    }
    let mut events = EventStream::default();
    let mut answer = String::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        anyhow!(
            "the answer stream broke: {}",
            crate::client::with_sources(&e)
        )
    })? {
        for event in events.feed(&chunk) {
            match event? {
                StreamEvent::Text(text) => {
                    write!(stdout, "{text}")?;
                    stdout.flush()?;
                    answer.push_str(&text);
                }
                StreamEvent::Done => return Ok(answer),
            }
        }
    }
    // Some servers close the stream without `[DONE]`; what arrived is the answer.
    Ok(answer)
}

/// What one server-sent event meant.
#[derive(Debug, PartialEq)]
enum StreamEvent {
    Text(String),
    Done,
}

/// Splits a server-sent-event byte stream into `data:` payloads, however the chunks fall.
#[derive(Default)]
struct EventStream {
    pending: Vec<u8>,
}

impl EventStream {
    fn feed(&mut self, bytes: &[u8]) -> Vec<anyhow::Result<StreamEvent>> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=newline).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            // Comments (`: keep-alive`), `event:`/`id:` lines and blank separators carry no text.
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim_start();
            if data == "[DONE]" {
                events.push(Ok(StreamEvent::Done));
                continue;
            }
            if let Some(event) = parse_chunk(data) {
                events.push(event);
            }
        }
        events
    }
}

/// One `chat.completion.chunk`: its text, or the error the server sent mid-stream.
fn parse_chunk(data: &str) -> Option<anyhow::Result<StreamEvent>> {
    let value: serde_json::Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            return Some(Err(anyhow!(
                "the chat endpoint sent a malformed stream chunk ({e}): {}",
                clip(data, 200)
            )));
        }
    };
    if value.get("error").is_some() {
        return Some(Err(anyhow!(
            "the chat endpoint failed mid-answer: {}",
            error_message(data)
        )));
    }
    let text = value
        .pointer("/choices/0/delta/content")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())?;
    Some(Ok(StreamEvent::Text(text.to_owned())))
}

/// The text of a non-streamed `chat.completion` object.
fn whole_completion(body: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        anyhow!(
            "the chat endpoint answered something that is not a chat completion ({e}): {}",
            clip(body, 200)
        )
    })?;
    value
        .pointer("/choices/0/message/content")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the chat completion has no choices[0].message.content"))
}

/// The message of an OpenAI-style error body (`{"error": {"message": …}}` or `{"error": "…"}`),
/// else the body itself, shortened.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str().map(str::to_owned))
    });
    match message {
        Some(m) => m,
        None if body.trim().is_empty() => "(empty body)".to_owned(),
        None => clip(body.trim(), 300),
    }
}

/// Context items the answer cites, in the order of first citation. A citation is any run of
/// at least [`CITE_PREFIX`] hex digits that starts an item id of the window.
fn cited_items<'a>(answer: &str, items: &'a [pb::ContextItem]) -> Vec<&'a pb::ContextItem> {
    let mut cited: Vec<&pb::ContextItem> = Vec::new();
    for run in answer
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| run.len() >= CITE_PREFIX)
    {
        let run = run.to_ascii_lowercase();
        if let Some(item) = items
            .iter()
            .find(|item| item.id.starts_with(&run) || run.starts_with(&item.id))
            && !cited.iter().any(|c| c.id == item.id)
        {
            cited.push(item);
        }
    }
    cited
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(events: Vec<anyhow::Result<StreamEvent>>) -> Vec<StreamEvent> {
        events.into_iter().map(|e| e.unwrap()).collect()
    }

    #[test]
    fn events_are_reassembled_across_chunk_boundaries() {
        let mut stream = EventStream::default();
        let first = br#"data: {"choices":[{"delta":{"role":"assistant"}}]}

data: {"choices":[{"delta":{"content":"Hel"#;
        assert!(stream.feed(first).is_empty());
        let second = b"lo\"}}]}\r\n\r\n: keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\" world\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            text(stream.feed(second)),
            vec![
                StreamEvent::Text("Hello".into()),
                StreamEvent::Text(" world".into()),
                StreamEvent::Done
            ]
        );
    }

    #[test]
    fn a_mid_stream_error_is_reported_with_its_message() {
        let mut stream = EventStream::default();
        let events = stream.feed(b"data: {\"error\":{\"message\":\"context too long\"}}\n\n");
        let error = events.into_iter().next().unwrap().unwrap_err();
        assert!(error.to_string().contains("context too long"), "{error}");
        let events = stream.feed(b"data: {not json\n");
        assert!(
            events[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
    }

    #[test]
    fn error_bodies_in_both_shapes() {
        assert_eq!(
            error_message(
                r#"{"error":{"message":"model 'x' not found","type":"invalid_request_error"}}"#
            ),
            "model 'x' not found"
        );
        assert_eq!(
            error_message(r#"{"error":"model not loaded"}"#),
            "model not loaded"
        );
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(""), "(empty body)");
    }

    #[test]
    fn citations_match_id_prefixes_once_each() {
        let item = |id: &str| pb::ContextItem {
            id: id.into(),
            ..Default::default()
        };
        let items = vec![
            item("0123456789abcdef0123456789abcdef"),
            item("fedcba9876543210fedcba9876543210"),
            item("aaaaaaaa00000000aaaaaaaa00000000"),
        ];
        let answer = "Renewal is due in May [id:fedcba98]. Price rose [id:01234567], \
                      see also [id:FEDCBA98] and deadbeef (not an id of the window).";
        let ids: Vec<&str> = cited_items(answer, &items)
            .into_iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "fedcba9876543210fedcba9876543210",
                "0123456789abcdef0123456789abcdef"
            ]
        );
        // Seven digits are too few to be a citation.
        assert!(cited_items("[id:0123456]", &items).is_empty());
    }

    #[test]
    fn whole_completions_are_accepted() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"Yes."}}]}"#;
        assert_eq!(whole_completion(body).unwrap(), "Yes.");
        assert!(whole_completion("{}").is_err());
    }
}
