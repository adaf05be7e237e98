//! `AUTHENTICATE XOAUTH2` against a real Dovecot whose `oauth2` passdb checks every bearer token
//! with an introspection endpoint (RFC 7662) served by the test itself, on 127.0.0.1. The token
//! comes from a `token_command`, resolved exactly as the daemon does it (`ctx_config::Secret`).

mod dovecot;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctx_config::Secret;
use ctx_connector_api::{Connector, ErrorKind, ItemKind};
use ctx_connector_mail::{ImapAuth, ImapConnector, ImapOptions};
use ctx_connector_testkit::{MiniStore, pull_once, pull_pass};
use dovecot::{Dovecot, Mail, USER};

/// What the introspection endpoint knows: the tokens it accepts now, and every token it was
/// asked about, in order.
#[derive(Default)]
struct Tokens {
    valid: BTreeSet<String>,
    seen: Vec<String>,
}

/// A minimal HTTP/1.1 introspection endpoint: `POST /introspect` with `token=...` answers
/// `{"active": true, "username": "alice"}` for an accepted token, `{"active": false}` otherwise.
struct Introspection {
    port: u16,
    tokens: Arc<Mutex<Tokens>>,
}

impl Introspection {
    fn start(valid: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind introspection");
        let port = listener.local_addr().expect("addr").port();
        let tokens = Arc::new(Mutex::new(Tokens {
            valid: valid.iter().map(|t| (*t).to_owned()).collect(),
            seen: Vec::new(),
        }));
        let shared = Arc::clone(&tokens);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let tokens = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &tokens));
            }
        });
        Introspection { port, tokens }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// From now on only `token` is accepted (the old one was revoked or expired).
    fn rotate_to(&self, token: &str) {
        let mut tokens = self.tokens.lock().unwrap();
        tokens.valid = BTreeSet::from([token.to_owned()]);
    }

    fn seen(&self) -> Vec<String> {
        self.tokens.lock().unwrap().seen.clone()
    }
}

/// Answers the requests of one connection (Dovecot's HTTP client may keep it alive).
fn serve(stream: TcpStream, tokens: &Mutex<Tokens>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut content_length = 0usize;
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "content-type" => content_type = value.to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, json) = if !request_line.starts_with("POST /introspect ") {
            ("404 Not Found", "{}".to_owned())
        } else if !content_type.starts_with("application/x-www-form-urlencoded") {
            ("400 Bad Request", "{}".to_owned())
        } else {
            // The test's tokens need no percent-decoding (letters, digits and `-`).
            let token = body
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .unwrap_or("")
                .to_owned();
            let mut tokens = tokens.lock().unwrap();
            let active = tokens.valid.contains(&token);
            tokens.seen.push(token);
            if active {
                (
                    "200 OK",
                    format!(r#"{{"active": true, "username": "{USER}"}}"#),
                )
            } else {
                ("200 OK", r#"{"active": false}"#.to_owned())
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Standard base64 (RFC 4648, with padding), as IMAP carries SASL responses.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that records every byte clients send, to
/// check what went over the wire.
async fn recording_proxy(upstream: u16) -> (u16, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let down = tokio::spawn(async move {
                    tokio::io::copy(&mut server_read, &mut client_write).await
                });
                let mut buf = [0u8; 4096];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = server_write.shutdown().await;
                let _ = down.await;
            });
        }
    });
    (port, sent)
}

fn occurrences(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// Connector options logging in with XOAUTH2 and the token printed by `token_command`, resolved
/// on every connect the way the daemon does it.
fn xoauth2_options(server: &Dovecot, token_command: &str) -> ImapOptions {
    let mut opts = server.options("unused: XOAUTH2 takes the token");
    let secret = Secret::Command(token_command.to_owned());
    opts.secret = Arc::new(move || secret.resolve().map_err(|e| e.to_string()));
    opts.auth = ImapAuth::XOAuth2;
    opts
}

/// A `token_command` printing the content of `file` (a token a helper refreshes in place).
fn cat(file: &Path) -> String {
    format!("cat '{}'", file.display())
}

fn emails(store: &MiniStore) -> BTreeSet<String> {
    store
        .items()
        .filter(|i| i.kind == ItemKind::Email)
        .map(|i| i.title.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_with_a_token_command_syncs_every_message() {
    let introspection = Introspection::start(&["valid-token-1"]);
    let server = Dovecot::start_oauth2(&introspection.url());
    let mut mail = Mail::new(&server).await;
    mail.create("Work").await;
    for i in 0..4 {
        mail.append("INBOX", &format!("i{i}"), &format!("inbox {i}"), "hello")
            .await;
    }
    for i in 0..3 {
        mail.append("Work", &format!("w{i}"), &format!("work {i}"), "report")
            .await;
    }
    // The test client logged in with LOGIN: nothing asked the endpoint yet.
    assert!(
        introspection.seen().is_empty(),
        "{:?}",
        introspection.seen()
    );

    let (proxy_port, sent) = recording_proxy(server.port).await;
    let mut opts = xoauth2_options(&server, "printf '%s\\n' valid-token-1");
    opts.port = proxy_port;
    opts.batch_size = 3;
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    let report = pull_pass(&mut connector, &mut store)
        .await
        .unwrap_or_else(|e| panic!("xoauth2 sync failed: {e} ({:?})\n{}", e.kind, server.logs()));
    assert_eq!(report.upserts.len(), 7, "{:?}", report.upserted_ids());
    let expected: BTreeSet<String> = (0..4)
        .map(|i| format!("inbox {i}"))
        .chain((0..3).map(|i| format!("work {i}")))
        .collect();
    assert_eq!(emails(&store), expected);
    // One login for the whole pass, with the command's output minus its newline.
    assert_eq!(introspection.seen(), vec!["valid-token-1".to_owned()]);
    // The SASL response on the wire: `user=alice^Aauth=Bearer valid-token-1^A^A`, base64.
    let sent = sent.lock().unwrap().clone();
    let response = base64(b"user=alice\x01auth=Bearer valid-token-1\x01\x01");
    assert_eq!(
        response,
        "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB2YWxpZC10b2tlbi0xAQE="
    );
    assert_eq!(occurrences(&sent, " AUTHENTICATE XOAUTH2\r\n"), 1);
    assert_eq!(occurrences(&sent, &format!("\r\n{response}\r\n")), 1);
    assert_eq!(occurrences(&sent, "valid-token-1"), 0, "only ever base64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_an_auth_error_that_does_not_show_the_token() {
    let introspection = Introspection::start(&["valid-token-1"]);
    let server = Dovecot::start_oauth2(&introspection.url());
    let mut mail = Mail::new(&server).await;
    mail.append("INBOX", "i0", "inbox 0", "hello").await;

    let (proxy_port, sent) = recording_proxy(server.port).await;
    let mut opts = xoauth2_options(&server, "printf %s expired-token-7");
    opts.port = proxy_port;
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    let err = pull_once(&mut connector, &mut store)
        .await
        .expect_err("an expired token must not log in");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("expired-token-7"),
        "the token leaked: {text}"
    );
    assert!(
        text.contains("imap login rejected by the server"),
        "a clear message: {text}"
    );
    assert!(text.contains("XOAUTH2"), "which login failed: {text}");
    assert!(text.contains("token_command"), "a hint: {text}");
    // The server's SASL error challenge made it into the message...
    assert!(text.contains(r#"(SASL error {"status":"401""#), "{text}");
    // ...and was answered with an empty line, not with the token again (Google's XOAUTH2 protocol).
    assert_eq!(introspection.seen(), vec!["expired-token-7".to_owned()]);
    let sent = sent.lock().unwrap().clone();
    let response = base64(b"user=alice\x01auth=Bearer expired-token-7\x01\x01");
    assert_eq!(occurrences(&sent, &response), 1, "the token was sent again");
    assert_eq!(occurrences(&sent, &format!("\r\n{response}\r\n\r\n")), 1);
    assert!(emails(&store).is_empty());

    // A token command that fails is an auth problem too, and names the command.
    let mut connector = ImapConnector::new(xoauth2_options(&server, "exit 3"));
    let err = pull_once(&mut connector, &mut store)
        .await
        .expect_err("no token");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("access token"), "{err}");
    assert!(err.to_string().contains("`exit 3` failed"), "{err}");
    assert_eq!(introspection.seen().len(), 1, "no login was tried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_is_picked_up_on_reconnect() {
    let introspection = Introspection::start(&["token-a"]);
    let server = Dovecot::start_oauth2(&introspection.url());
    let mut mail = Mail::new(&server).await;
    for i in 0..2 {
        mail.append("INBOX", &format!("i{i}"), &format!("inbox {i}"), "hello")
            .await;
    }
    let token_file = server.root.join("token");
    std::fs::write(&token_file, "token-a\n").expect("token file");
    let mut connector = ImapConnector::new(xoauth2_options(&server, &cat(&token_file)));
    let mut store = MiniStore::new("imap");
    pull_pass(&mut connector, &mut store)
        .await
        .unwrap_or_else(|e| panic!("first sync: {e}\n{}", server.logs()));
    assert_eq!(emails(&store).len(), 2);
    assert_eq!(introspection.seen(), vec!["token-a".to_owned()]);

    // The token expires: the server accepts only the refreshed one, which the helper wrote.
    introspection.rotate_to("token-b");
    std::fs::write(&token_file, "token-b\n").expect("token file");
    // The server drops the session (as it does when a token's session ends): IDLE notices.
    server.kick();
    let err = tokio::time::timeout(Duration::from_secs(10), connector.wait_for_change())
        .await
        .expect("the dropped connection is noticed within 10 s")
        .expect_err("IDLE over a dropped connection must fail");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(introspection.seen(), vec!["token-a".to_owned()]);

    let mut mail = Mail::new(&server).await;
    mail.append("INBOX", "i2", "inbox 2", "hello").await;
    // The reconnect runs the command again and logs in with the new token.
    pull_pass(&mut connector, &mut store)
        .await
        .unwrap_or_else(|e| panic!("sync after rotation: {e} ({:?})\n{}", e.kind, server.logs()));
    assert_eq!(emails(&store).len(), 3);
    assert_eq!(
        introspection.seen(),
        vec!["token-a".to_owned(), "token-b".to_owned()]
    );

    // A connector still holding the old token would now be refused.
    std::fs::write(&token_file, "token-a\n").expect("token file");
    let mut stale = ImapConnector::new(xoauth2_options(&server, &cat(&token_file)));
    let err = pull_once(&mut stale, &mut MiniStore::new("imap"))
        .await
        .expect_err("the old token is revoked");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
}
