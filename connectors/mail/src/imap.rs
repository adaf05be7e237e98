//! The IMAP connector: a remote mailbox mirrored over IMAP4rev1 (RFC 3501), read-only.
//!
//! # Identity and versions
//!
//! A message's external id is `{folder};{uidvalidity};{uid}` (the folder's raw IMAP name), its
//! locator `imap://user@host/FOLDER;UIDVALIDITY=v/;UID=n` (RFC 5092). The version is the sorted
//! flags, plus `;m{MODSEQ}` when the server has CONDSTORE, so a flag change is an upsert of the
//! same id with a new `flags` field. Attachment items (`{id}#att{n}`) carry their message's
//! version and die with it. Messages are fetched with `BODY.PEEK[]`: indexing never marks mail
//! `\Seen`.
//!
//! # Cursor
//!
//! The cursor is JSON, one entry per folder: UIDVALIDITY, the highest UID done, HIGHESTMODSEQ,
//! and for a folder still in its initial sync (newest first) the top UID of that sync and the
//! lowest UID done so far. Every batch carries the cursor as of its last message, so a pass cut
//! anywhere (kill, connection drop) resumes exactly there.
//!
//! # Passes
//!
//! A full pass (first pull, and every `poll_interval`) lists the folders and, per wanted folder:
//! resyncs it from scratch when UIDVALIDITY changed (deleting its old items), fetches UIDs above
//! the highest one done, re-fetches messages whose flags changed (CONDSTORE `CHANGEDSINCE` when
//! advertised, else a comparison of every FLAGS with the stored versions) and deletes messages
//! that are gone (`UID SEARCH ALL` against the stored ids). With QRESYNC (and
//! [`ImapOptions::use_qresync`]) a folder past its first sync instead asks for everything since
//! its HIGHESTMODSEQ in one round trip, `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)`: the
//! `VANISHED (EARLIER)` UIDs are the expunges, the FETCHes the flag changes and new messages.
//! Folders that vanished (or are no longer wanted) lose their items. With QRESYNC a folder whose
//! HIGHESTMODSEQ and UIDNEXT did not move is skipped without a search (QRESYNC servers count
//! expunges in MODSEQ). Between full
//! passes `wait_for_change` IDLEs on INBOX (re-issued every `idle_refresh`, < 29 min) and a wake
//! triggers an INBOX-only pass.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::{Fetch, Flag, NameAttribute};
use async_imap::{Client, Session};
use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, ErrorKind, Item, Progress, SyncContext, Wake,
};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::message::{MailLimits, attachment_parent, message_items, parse_message};

/// Resolves the login secret (password or OAuth2 access token). Called on every (re)connect so a
/// rotated password or a refreshed token is picked up; its value is never logged.
pub type SecretSource = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Implicit TLS (IMAPS, port 993).
    Tls,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    StartTls,
    /// No encryption; only sensible on loopback (the config refuses it elsewhere).
    Plain,
}

impl Security {
    pub fn default_port(self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::StartTls | Security::Plain => 143,
        }
    }
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapAuth {
    /// `LOGIN user password`.
    Password,
    /// `AUTHENTICATE XOAUTH2` with an access token.
    XOAuth2,
}

/// Configuration of an [`ImapConnector`].
#[derive(Clone)]
pub struct ImapOptions {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub auth: ImapAuth,
    /// The password (or access token for XOAUTH2).
    pub secret: SecretSource,
    /// Folders to index (and everything below them); empty means all.
    pub include_folders: Vec<String>,
    /// Folders to skip (and everything below them); default `Trash`, `Spam`, `Junk`. Folders with
    /// the special use `\Trash` or `\Junk` are always skipped unless included by name.
    pub exclude_folders: Vec<String>,
    /// How often every folder is checked (INBOX is watched with IDLE in between).
    pub poll_interval: Duration,
    /// Use IDLE on INBOX when the server supports it (default true).
    pub idle: bool,
    /// Detect expunges with QRESYNC (`VANISHED (EARLIER)`) when the server supports it, instead
    /// of a `UID SEARCH ALL` per folder (default true).
    pub use_qresync: bool,
    /// How long one IDLE command lasts before it is re-issued (default 25 min; servers drop
    /// clients idle for 30).
    pub idle_refresh: Duration,
    /// Messages fetched per pull (default 64).
    pub batch_size: usize,
    /// Connecting (TCP and TLS) gives up after this long (default 30 s).
    pub connect_timeout: Duration,
    /// A read waiting longer than this for the server fails the pull (default 120 s).
    pub io_timeout: Duration,
    /// PEM file of certificate authorities trusted besides Mozilla's roots (a self-hosted server
    /// with a private CA or a self-signed certificate). Read at every connect, so a renewed file
    /// needs no restart.
    pub tls_ca_file: Option<PathBuf>,
    pub limits: MailLimits,
}

impl fmt::Debug for ImapOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("auth", &self.auth)
            .field("secret", &"<secret>")
            .field("include_folders", &self.include_folders)
            .field("exclude_folders", &self.exclude_folders)
            .field("poll_interval", &self.poll_interval)
            .field("idle", &self.idle)
            .field("use_qresync", &self.use_qresync)
            .field("batch_size", &self.batch_size)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish_non_exhaustive()
    }
}

impl ImapOptions {
    /// Default options for `user` at `host` over implicit TLS.
    pub fn new(host: impl Into<String>, user: impl Into<String>, secret: SecretSource) -> Self {
        ImapOptions {
            host: host.into(),
            port: Security::Tls.default_port(),
            security: Security::Tls,
            user: user.into(),
            auth: ImapAuth::Password,
            secret,
            include_folders: Vec::new(),
            exclude_folders: ["Trash", "Spam", "Junk"].map(str::to_owned).to_vec(),
            poll_interval: Duration::from_secs(10 * 60),
            idle: true,
            use_qresync: true,
            idle_refresh: Duration::from_secs(25 * 60),
            batch_size: 64,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
            tls_ca_file: None,
            limits: MailLimits::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transport: TCP or TLS, with a read timeout
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The connection under the IMAP session. A read that waits longer than `read_timeout` fails
/// with `TimedOut` (disabled while IDLE waits on purpose).
pub struct ImapStream {
    inner: Inner,
    read_timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for ImapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapStream")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ImapStream {
    fn new(inner: Inner, read_timeout: Duration) -> Self {
        ImapStream {
            inner,
            read_timeout: Some(read_timeout),
            deadline: None,
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
        self.deadline = None;
    }
}

impl AsyncRead for ImapStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let polled = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(result) => {
                this.deadline = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let Some(timeout) = this.read_timeout else {
                    return Poll::Pending;
                };
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.deadline = None;
                        Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no answer from the IMAP server within {timeout:?}"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type ImapSession = Session<ImapStream>;

fn transient(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> ConnectorError {
    ConnectorError::transient(format!("imap {what}: {e}")).with_source(e)
}

/// The certificates of a PEM file of CAs; none at all is a configuration error.
fn pem_certificates(
    path: &Path,
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ConnectorError> {
    use rustls::pki_types::pem::PemObject;
    let mut out = Vec::new();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
        out.push(cert.map_err(|e| {
            ConnectorError::config(format!(
                "tls_ca_file {}: not a readable PEM certificate: {e}",
                path.display()
            ))
        })?);
    }
    if out.is_empty() {
        return Err(ConnectorError::config(format!(
            "tls_ca_file {} holds no `BEGIN CERTIFICATE` block",
            path.display()
        )));
    }
    Ok(out)
}

async fn tls_config(opts: &ImapOptions) -> Result<Arc<rustls::ClientConfig>, ConnectorError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &opts.tls_ca_file {
        let pem = tokio::fs::read(path).await.map_err(|e| {
            ConnectorError::config(format!("cannot read tls_ca_file {}: {e}", path.display()))
        })?;
        for cert in pem_certificates(path, &pem)? {
            roots.add(cert).map_err(|e| {
                ConnectorError::config(format!(
                    "tls_ca_file {}: certificate not usable as a CA: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectorError::permanent(format!("tls setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls_wrap(
    opts: &ImapOptions,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectorError> {
    let name = rustls::pki_types::ServerName::try_from(opts.host.clone()).map_err(|e| {
        ConnectorError::config(format!(
            "`{}` is not a valid TLS server name: {e}",
            opts.host
        ))
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(opts).await?);
    match tokio::time::timeout(opts.connect_timeout, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(handshake_error(opts, e)),
        Err(_) => Err(ConnectorError::transient("imap tls handshake timed out")),
    }
}

/// A refused certificate is not a network hiccup: say so, and how to trust a private CA. It
/// stays retryable (a renewed server certificate fixes it without a restart).
fn handshake_error(opts: &ImapOptions, e: std::io::Error) -> ConnectorError {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(why) => Some(format!("{why:?}")),
            _ => None,
        });
    match certificate {
        Some(why) => ConnectorError::permanent(format!(
            "imap tls: the certificate of {}:{} is not trusted ({why}); if the server uses a \
             private CA or a self-signed certificate, set `tls_ca_file` to its PEM file{}",
            opts.host,
            opts.port,
            match &opts.tls_ca_file {
                Some(path) => format!(" (now {}, which did not sign it)", path.display()),
                None => String::new(),
            }
        ))
        .with_source(e),
        None => transient("tls handshake", e),
    }
}

/// What the server supports, from CAPABILITY after login.
#[derive(Debug, Clone, Copy, Default)]
struct Caps {
    idle: bool,
    condstore: bool,
    qresync: bool,
}

/// The client side of `AUTHENTICATE XOAUTH2` (Google's and Microsoft's SASL mechanism): the first
/// (empty) challenge is answered with `user=U^Aauth=Bearer T^A^A`. A refused token gets a second
/// challenge, a JSON error (`{"status":"401",...}`), which must be answered with an empty line,
/// not with the token again; the server then ends the command with NO. The error is kept for
/// the message.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
    sent: bool,
    server_error: Option<String>,
}

impl<'a> XOAuth2<'a> {
    fn new(user: &'a str, token: &'a str) -> Self {
        XOAuth2 {
            user,
            token,
            sent: false,
            server_error: None,
        }
    }
}

impl async_imap::Authenticator for &mut XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        if !self.sent {
            self.sent = true;
            return format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token);
        }
        let text: String = String::from_utf8_lossy(challenge)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        if !text.is_empty() {
            self.server_error = Some(text);
        }
        String::new()
    }
}

fn login_error(
    e: async_imap::error::Error,
    auth: ImapAuth,
    sasl_error: Option<&str>,
) -> ConnectorError {
    match &e {
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text)
            if !text.contains("UNAVAILABLE") && !text.contains("INUSE") =>
        {
            let message = match auth {
                ImapAuth::Password => format!("imap login rejected by the server: {text}"),
                ImapAuth::XOAuth2 => format!(
                    "imap login rejected by the server (AUTHENTICATE XOAUTH2): {text}{}; the \
                     access token may have expired, been revoked or lack the mail scope (use a \
                     `token_command` that prints a fresh access token each time it runs)",
                    match sasl_error {
                        Some(json) => format!(" (SASL error {json})"),
                        None => String::new(),
                    }
                ),
            };
            ConnectorError::new(ErrorKind::Auth, message)
        }
        _ => transient("login", e),
    }
}

async fn read_greeting(client: &mut Client<ImapStream>) -> Result<(), ConnectorError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ConnectorError::transient(
            "imap server closed the connection before its greeting",
        )),
        Err(e) => Err(transient("greeting", e)),
    }
}

async fn connect(opts: &ImapOptions) -> Result<(ImapSession, Caps), ConnectorError> {
    let addr = (opts.host.as_str(), opts.port);
    let tcp = match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(transient(
                &format!("connect to {}:{}", opts.host, opts.port),
                e,
            ));
        }
        Err(_) => {
            return Err(ConnectorError::transient(format!(
                "imap connect to {}:{} timed out",
                opts.host, opts.port
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let client = match opts.security {
        Security::Plain => {
            let mut client = Client::new(ImapStream::new(Inner::Plain(tcp), opts.io_timeout));
            read_greeting(&mut client).await?;
            client
        }
        Security::Tls => {
            let tls = tls_wrap(opts, tcp).await?;
            let mut client =
                Client::new(ImapStream::new(Inner::Tls(Box::new(tls)), opts.io_timeout));
            read_greeting(&mut client).await?;
            client
        }
        Security::StartTls => {
            let mut plain = Client::new(ImapStream::new(Inner::Plain(tcp), opts.io_timeout));
            read_greeting(&mut plain).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| transient("STARTTLS", e))?;
            let Inner::Plain(tcp) = plain.into_inner().inner else {
                return Err(ConnectorError::permanent("STARTTLS over a TLS stream"));
            };
            let tls = tls_wrap(opts, tcp).await?;
            Client::new(ImapStream::new(Inner::Tls(Box::new(tls)), opts.io_timeout))
        }
    };
    // A secret command may take a while (a password manager): not on the async threads.
    let source = Arc::clone(&opts.secret);
    let secret = tokio::task::spawn_blocking(move || source())
        .await
        .map_err(|e| ConnectorError::transient("imap secret task failed").with_source(e))?
        .map_err(|e| {
            let what = match opts.auth {
                ImapAuth::Password => "password",
                ImapAuth::XOAuth2 => "access token",
            };
            ConnectorError::new(ErrorKind::Auth, format!("cannot get the imap {what}: {e}"))
        })?;
    let mut session = match opts.auth {
        ImapAuth::Password => client
            .login(&opts.user, &secret)
            .await
            .map_err(|(e, _)| login_error(e, opts.auth, None))?,
        ImapAuth::XOAuth2 => {
            let mut sasl = XOAuth2::new(&opts.user, &secret);
            let result = client.authenticate("XOAUTH2", &mut sasl).await;
            result.map_err(|(e, _)| login_error(e, opts.auth, sasl.server_error.as_deref()))?
        }
    };
    drop(secret);
    let caps = session
        .capabilities()
        .await
        .map_err(|e| transient("capability", e))?;
    let caps = Caps {
        idle: caps.has_str("IDLE"),
        condstore: caps.has_str("CONDSTORE") || caps.has_str("QRESYNC"),
        qresync: caps.has_str("QRESYNC"),
    };
    if caps.qresync {
        session
            .run_command_and_check_ok("ENABLE QRESYNC")
            .await
            .map_err(|e| transient("ENABLE QRESYNC", e))?;
    }
    tracing::debug!(host = %opts.host, ?caps, "imap connected");
    Ok((session, caps))
}

// ---------------------------------------------------------------------------------------------
// Cursor, ids, folders
// ---------------------------------------------------------------------------------------------

/// Per-folder sync state, as stored in the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FolderState {
    /// UIDVALIDITY the UIDs below belong to.
    v: u32,
    /// Every UID up to this one is done (outside an initial sync).
    h: u32,
    /// HIGHESTMODSEQ as of the last finished pass of this folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<u64>,
    /// Initial sync in progress: the top UID of that sync...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top: Option<u32>,
    /// ...and the lowest UID done so far (newest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    low: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CursorState {
    #[serde(rename = "imap")]
    version: u32,
    folders: BTreeMap<String, FolderState>,
}

const CURSOR_VERSION: u32 = 1;

impl CursorState {
    fn parse(cursor: Option<&Cursor>) -> CursorState {
        let Some(cursor) = cursor else {
            return CursorState {
                version: CURSOR_VERSION,
                ..CursorState::default()
            };
        };
        match serde_json::from_str::<CursorState>(cursor.as_str()) {
            Ok(state) if state.version == CURSOR_VERSION => state,
            _ => {
                tracing::warn!("unreadable imap cursor; starting a full resync");
                CursorState {
                    version: CURSOR_VERSION,
                    ..CursorState::default()
                }
            }
        }
    }

    fn to_cursor(&self) -> Cursor {
        Cursor(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The external id of message `uid` of `folder`.
pub fn message_external_id(folder: &str, uidvalidity: u32, uid: u32) -> String {
    format!("{folder};{uidvalidity};{uid}")
}

/// Splits a message (not attachment) external id into folder, UIDVALIDITY and UID.
pub fn parse_external_id(id: &str) -> Option<(&str, u32, u32)> {
    let mut parts = id.rsplitn(3, ';');
    let uid = parts.next()?.parse().ok()?;
    let validity = parts.next()?.parse().ok()?;
    let folder = parts.next()?;
    Some((folder, validity, uid))
}

/// Percent-encodes for an IMAP URL path segment (RFC 5092 `achar`-ish: unreserved kept).
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'&' | b'+')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn locator(opts: &ImapOptions, folder: &str, uidvalidity: u32, uid: u32) -> String {
    let host = if opts.port == 143 {
        opts.host.clone()
    } else {
        format!("{}:{}", opts.host, opts.port)
    };
    format!(
        "imap://{}@{host}/{};UIDVALIDITY={uidvalidity}/;UID={uid}",
        url_escape(&opts.user),
        url_escape(folder)
    )
}

/// Whether `folder` (with `/` as separator) is `pattern` or lies below it, ignoring case.
fn folder_matches(folder: &str, pattern: &str) -> bool {
    let pattern = pattern.trim_matches('/');
    folder.eq_ignore_ascii_case(pattern)
        || (folder.len() > pattern.len()
            && folder.is_char_boundary(pattern.len())
            && folder[..pattern.len()].eq_ignore_ascii_case(pattern)
            && folder.as_bytes()[pattern.len()] == b'/')
}

/// Flag names as the maildir connector writes them (`\Answered` is `replied`); `\Recent` is
/// session state, not a property of the message, and is left out.
fn flag_names(flags: impl Iterator<Item = Flag<'static>>) -> Vec<String> {
    let mut names: Vec<String> = flags
        .filter_map(|flag| match flag {
            Flag::Seen => Some("seen".to_owned()),
            Flag::Answered => Some("replied".to_owned()),
            Flag::Flagged => Some("flagged".to_owned()),
            Flag::Deleted => Some("deleted".to_owned()),
            Flag::Draft => Some("draft".to_owned()),
            Flag::Recent | Flag::MayCreate => None,
            Flag::Custom(name) => {
                let name = name.trim_start_matches('$').to_lowercase();
                (!name.is_empty() && !name.starts_with('\\')).then_some(name)
            }
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn owned_flags(fetch: &Fetch) -> Vec<Flag<'static>> {
    fetch
        .flags()
        .map(|f| match f {
            Flag::Seen => Flag::Seen,
            Flag::Answered => Flag::Answered,
            Flag::Flagged => Flag::Flagged,
            Flag::Deleted => Flag::Deleted,
            Flag::Draft => Flag::Draft,
            Flag::Recent => Flag::Recent,
            Flag::MayCreate => Flag::MayCreate,
            Flag::Custom(c) => Flag::Custom(c.into_owned().into()),
        })
        .collect()
}

fn version_of(flags: &[String], modseq: Option<u64>) -> String {
    let mut version = flags.join(",");
    if let Some(m) = modseq {
        version.push_str(&format!(";m{m}"));
    }
    version
}

/// A compact UID set (`1:4,7,9:12`) of sorted, deduplicated UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// What the store holds for one folder.
#[derive(Debug, Default)]
struct KnownFolder {
    /// UID → version, for messages of the current UIDVALIDITY.
    uids: HashMap<u32, Option<String>>,
    /// Ids (messages and attachments) of another UIDVALIDITY: stale.
    stale: Vec<String>,
    /// Attachment ids by their message's UID.
    children: HashMap<u32, Vec<String>>,
}

/// A stored id of a folder: (UIDVALIDITY, UID, external id, version).
type KnownEntry = (u32, u32, String, Option<String>);

/// Groups the store's ids (messages and attachments) by folder.
fn known_by_folder(known: &HashMap<String, Option<String>>) -> HashMap<String, Vec<KnownEntry>> {
    let mut out: HashMap<String, Vec<KnownEntry>> = HashMap::new();
    for (id, version) in known {
        let parent = attachment_parent(id).unwrap_or(id);
        let Some((folder, validity, uid)) = parse_external_id(parent) else {
            continue;
        };
        out.entry(folder.to_owned()).or_default().push((
            validity,
            uid,
            id.clone(),
            version.clone(),
        ));
    }
    out
}

fn known_folder(entries: Option<&Vec<KnownEntry>>, validity: u32) -> KnownFolder {
    let mut folder = KnownFolder::default();
    for (v, uid, id, version) in entries.into_iter().flatten() {
        if *v != validity {
            folder.stale.push(id.clone());
        } else if attachment_parent(id).is_some() {
            folder.children.entry(*uid).or_default().push(id.clone());
        } else {
            folder.uids.insert(*uid, version.clone());
        }
    }
    folder
}

// ---------------------------------------------------------------------------------------------
// Passes
// ---------------------------------------------------------------------------------------------

/// Queues the deletion of the known messages (and their attachments) that are `gone`.
fn plan_deletes(
    folder: &str,
    validity: u32,
    known: &KnownFolder,
    gone: impl Fn(u32) -> bool,
    plan: &mut Plan,
) {
    let mut uids: Vec<u32> = known.uids.keys().copied().filter(|u| gone(*u)).collect();
    uids.sort_unstable();
    for uid in uids {
        plan.deletes
            .push_back(message_external_id(folder, validity, uid));
        for child in known.children.get(&uid).into_iter().flatten() {
            plan.deletes.push_back(child.clone());
        }
    }
}

/// The known messages among `fetches` whose version (flags, MODSEQ) differs from the stored one.
fn changed_uids(fetches: &[Fetch], known: &HashMap<u32, Option<String>>) -> Vec<u32> {
    let mut changed = Vec::new();
    for f in fetches {
        let Some(uid) = f.uid else { continue };
        let Some(known_version) = known.get(&uid) else {
            continue;
        };
        let version = version_of(&flag_names(owned_flags(f).into_iter()), f.modseq);
        if known_version.as_deref() != Some(version.as_str()) {
            changed.push(uid);
        }
    }
    changed
}

/// Which folders a pass looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Inbox,
}

/// Work on one folder within a pass.
#[derive(Debug)]
struct FolderWork {
    name: String,
    uidvalidity: u32,
    /// UIDs to fetch, in order (newest first during an initial sync).
    fetch: VecDeque<u32>,
    /// An initial sync (newest first), as opposed to an incremental pass.
    initial: bool,
    /// Known messages re-read because their flags changed; they do not move the cursor.
    refetch: BTreeSet<u32>,
    /// The folder's state once all of `fetch` is done.
    done_state: FolderState,
    /// Attachment ids of re-fetched messages, to drop those a message no longer has.
    children: HashMap<u32, Vec<String>>,
}

impl FolderWork {
    /// Work of an incremental pass: once `fetch` is done, every UID up to `h` is done.
    fn incremental(
        folder: &str,
        uidvalidity: u32,
        h: u32,
        modseq: Option<u64>,
        fetch: VecDeque<u32>,
        refetch: BTreeSet<u32>,
        children: HashMap<u32, Vec<String>>,
    ) -> FolderWork {
        FolderWork {
            name: folder.to_owned(),
            uidvalidity,
            fetch,
            initial: false,
            refetch,
            done_state: FolderState {
                v: uidvalidity,
                h,
                m: modseq,
                top: None,
                low: None,
            },
            children,
        }
    }
}

#[derive(Debug, Default)]
struct Plan {
    folders: VecDeque<FolderWork>,
    deletes: VecDeque<String>,
    done: u64,
    total: u64,
    /// Another pass is needed at once (new mail arrived during a resumed initial sync).
    followup: bool,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.folders.is_empty()
    }
}

/// Deletes carried per batch.
const MAX_DELETES_PER_BATCH: usize = 10_000;

/// One fetched message, before parsing.
struct Fetched {
    uid: u32,
    flags: Vec<String>,
    modseq: Option<u64>,
    body: Option<Vec<u8>>,
    size: Option<u32>,
}

/// How many folder checks found their expunged messages each way (see
/// [`ImapConnector::expunge_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpungeStats {
    /// Checks that compared a `UID SEARCH ALL` with the stored ids.
    pub uid_search: u64,
    /// Checks that used QRESYNC: `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)`.
    pub vanished: u64,
}

/// An IMAP mailbox; see the module docs.
pub struct ImapConnector {
    opts: ImapOptions,
    session: Option<ImapSession>,
    caps: Caps,
    /// The folder selected on `session`, with its UIDVALIDITY.
    selected: Option<(String, u32)>,
    plan: Option<Plan>,
    /// The state after the last batch handed out, and its serialised cursor.
    state: CursorState,
    emitted: Option<String>,
    next_scope: Scope,
    next_full: Instant,
    /// Folder separator of the server (`/` or `.`), learned from LIST.
    delimiter: Option<String>,
    /// A `wait_for_change` is (or was, when its future was dropped) in progress.
    waiting: bool,
    expunge_stats: ExpungeStats,
}

impl ImapConnector {
    pub fn new(options: ImapOptions) -> Self {
        ImapConnector {
            opts: options,
            session: None,
            caps: Caps::default(),
            selected: None,
            plan: None,
            state: CursorState::default(),
            emitted: None,
            next_scope: Scope::All,
            next_full: Instant::now(),
            delimiter: None,
            waiting: false,
            expunge_stats: ExpungeStats::default(),
        }
    }

    /// How expunges were looked for so far (one count per folder check that looked).
    pub fn expunge_stats(&self) -> ExpungeStats {
        self.expunge_stats
    }

    fn reset_connection(&mut self) {
        self.session = None;
        self.selected = None;
    }

    async fn session(&mut self) -> Result<&mut ImapSession, ConnectorError> {
        if self.session.is_none() {
            let (session, caps) = connect(&self.opts).await?;
            self.session = Some(session);
            self.caps = caps;
            self.selected = None;
        }
        self.session
            .as_mut()
            .ok_or_else(|| ConnectorError::transient("imap session missing"))
    }

    /// Selects `folder` (with CONDSTORE when supported) and returns the mailbox status.
    async fn select(&mut self, folder: &str) -> Result<async_imap::types::Mailbox, ConnectorError> {
        let condstore = self.caps.condstore;
        let session = self.session().await?;
        // Drain what earlier commands left unread; nothing acts on it.
        while session.unsolicited_responses.try_recv().is_ok() {}
        let mailbox = if condstore {
            session.select_condstore(folder).await
        } else {
            session.select(folder).await
        };
        let mailbox = mailbox.map_err(|e| transient(&format!("select {folder:?}"), e))?;
        self.selected = Some((folder.to_owned(), mailbox.uid_validity.unwrap_or(0)));
        Ok(mailbox)
    }

    /// The wanted folders, by their raw IMAP names.
    async fn wanted_folders(&mut self) -> Result<Vec<String>, ConnectorError> {
        let session = self.session().await?;
        let names: Vec<async_imap::types::Name> = session
            .list(Some(""), Some("*"))
            .await
            .map_err(|e| transient("list", e))?
            .try_collect()
            .await
            .map_err(|e| transient("list", e))?;
        let mut out = Vec::new();
        for name in &names {
            if let Some(delim) = name.delimiter() {
                self.delimiter = Some(delim.to_owned());
            }
            let attrs = name.attributes();
            if attrs.iter().any(is_unselectable) {
                continue;
            }
            let raw = name.name().to_owned();
            // Patterns are written as people see names: decoded.
            let slashed = match name.delimiter() {
                Some(d) if d != "/" => crate::mutf7::decode(&raw).replace(d, "/"),
                _ => crate::mutf7::decode(&raw),
            };
            let included = self.opts.include_folders.is_empty()
                || self
                    .opts
                    .include_folders
                    .iter()
                    .any(|p| folder_matches(&slashed, p));
            let named_include = self
                .opts
                .include_folders
                .iter()
                .any(|p| folder_matches(&slashed, p));
            let excluded = self
                .opts
                .exclude_folders
                .iter()
                .any(|p| folder_matches(&slashed, p));
            let special_skip = attrs
                .iter()
                .any(|a| matches!(a, NameAttribute::Trash | NameAttribute::Junk));
            if included && !excluded && (!special_skip || named_include) {
                out.push(raw);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Plans a pass over `scope`, starting from `self.state`.
    async fn plan(&mut self, scope: Scope, ctx: &SyncContext) -> Result<Plan, ConnectorError> {
        let known = ctx.known.versions()?;
        let by_folder = known_by_folder(&known);
        let mut plan = Plan::default();
        let folders = match scope {
            Scope::All => {
                let wanted = self.wanted_folders().await?;
                // Folders that vanished or are no longer wanted lose their items.
                let wanted_set: BTreeSet<&String> = wanted.iter().collect();
                let mut gone: BTreeSet<String> = by_folder
                    .keys()
                    .filter(|f| !wanted_set.contains(f))
                    .cloned()
                    .collect();
                gone.extend(
                    self.state
                        .folders
                        .keys()
                        .filter(|f| !wanted_set.contains(f))
                        .cloned(),
                );
                for folder in gone {
                    tracing::info!(folder = %folder, "imap folder gone or not wanted; deleting its items");
                    self.state.folders.remove(&folder);
                    for (_, _, id, _) in by_folder.get(&folder).into_iter().flatten() {
                        plan.deletes.push_back(id.clone());
                    }
                }
                wanted
            }
            Scope::Inbox => vec!["INBOX".to_owned()],
        };
        for folder in folders {
            self.plan_folder(&folder, by_folder.get(&folder), &mut plan)
                .await?;
        }
        plan.total = plan.folders.iter().map(|f| f.fetch.len() as u64).sum();
        tracing::info!(
            ?scope,
            folders = plan.folders.len(),
            to_fetch = plan.total,
            to_delete = plan.deletes.len(),
            known = known.len(),
            "imap pass planned"
        );
        Ok(plan)
    }

    async fn plan_folder(
        &mut self,
        folder: &str,
        known: Option<&Vec<KnownEntry>>,
        plan: &mut Plan,
    ) -> Result<(), ConnectorError> {
        let mailbox = match self.select(folder).await {
            Ok(mailbox) => mailbox,
            // INBOX-only passes of a server without INBOX, or a folder deleted since LIST.
            Err(e) if self.session.is_some() => {
                tracing::warn!(folder = %folder, reason = %e, "cannot select imap folder; skipping it");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let validity = mailbox.uid_validity.unwrap_or(0);
        let modseq = if self.caps.condstore {
            mailbox.highest_modseq
        } else {
            None
        };
        let known = known_folder(known, validity);
        plan.deletes.extend(known.stale.iter().cloned());
        let prev = self.state.folders.get(folder).cloned();
        let mut state = match prev {
            Some(state) if state.v == validity => state,
            other => {
                if other.is_some() {
                    tracing::info!(folder = %folder, "imap UIDVALIDITY changed; resyncing the folder");
                }
                FolderState {
                    v: validity,
                    h: 0,
                    m: modseq,
                    top: None,
                    low: None,
                }
            }
        };
        let uid_next = mailbox.uid_next.unwrap_or(0);
        let initial = state.top.is_some() || state.h == 0;
        // QRESYNC: nothing moved (MODSEQ counts flag changes and expunges).
        if self.caps.qresync
            && !initial
            && known.stale.is_empty()
            && modseq.is_some()
            && state.m == modseq
            && uid_next != 0
            && uid_next <= state.h.saturating_add(1)
        {
            return Ok(());
        }
        if let Some(m) = state.m
            && self.opts.use_qresync
            && self.caps.qresync
            && !initial
            && mailbox.exists > 0
            && let Some((vanished, fetches)) = self.changes_since(m).await?
        {
            self.expunge_stats.vanished += 1;
            plan_deletes(
                folder,
                validity,
                &known,
                |uid| vanished.contains(&uid),
                plan,
            );
            let changed = changed_uids(&fetches, &known.uids);
            let new: BTreeSet<u32> = fetches
                .iter()
                .filter_map(|f| f.uid)
                .filter(|uid| *uid > state.h && !known.uids.contains_key(uid))
                .collect();
            let max = new.last().copied().unwrap_or(0);
            let refetch: BTreeSet<u32> = changed.iter().copied().collect();
            let mut fetch: VecDeque<u32> = changed.into();
            fetch.extend(new);
            let h = max.max(state.h).max(uid_next.saturating_sub(1));
            self.state.folders.insert(folder.to_owned(), state);
            plan.folders.push_back(FolderWork::incremental(
                folder,
                validity,
                h,
                modseq,
                fetch,
                refetch,
                known.children,
            ));
            return Ok(());
        }
        let condstore = self.caps.condstore;
        if mailbox.exists > 0 {
            self.expunge_stats.uid_search += 1;
        }
        let session = self.session().await?;
        let all: BTreeSet<u32> = if mailbox.exists == 0 {
            BTreeSet::new()
        } else {
            session
                .uid_search("ALL")
                .await
                .map_err(|e| transient("uid search", e))?
                .into_iter()
                .collect()
        };
        plan_deletes(folder, validity, &known, |uid| !all.contains(&uid), plan);
        let max = all.last().copied().unwrap_or(0);
        let mut fetch = VecDeque::new();
        // Known messages whose flags changed (re-read whole: an item is replaced, not patched).
        let check_upto = if initial {
            state.top.unwrap_or(max)
        } else {
            state.h
        };
        let mut changed = Vec::new();
        if check_upto > 0 && !known.uids.is_empty() {
            let query = match (condstore, state.m) {
                (true, Some(m)) if !initial => format!("(UID FLAGS) (CHANGEDSINCE {m})"),
                _ => "(UID FLAGS)".to_owned(),
            };
            let fetches: Vec<Fetch> = session
                .uid_fetch(format!("1:{check_upto}"), &query)
                .await
                .map_err(|e| transient("fetch flags", e))?
                .try_collect()
                .await
                .map_err(|e| transient("fetch flags", e))?;
            changed = changed_uids(&fetches, &known.uids);
        }
        if initial {
            let top = state.top.unwrap_or(max);
            state.top = Some(top);
            let low = state.low.unwrap_or(u32::MAX);
            // Newest first, skipping what the store already has (a reset cursor).
            fetch.extend(
                all.iter()
                    .rev()
                    .filter(|uid| **uid <= top && **uid < low && !known.uids.contains_key(uid))
                    .copied(),
            );
            if max > top {
                plan.followup = true;
            }
            let refetch: BTreeSet<u32> = changed.iter().copied().collect();
            fetch.extend(changed);
            let done_state = FolderState {
                v: validity,
                h: if max > top {
                    top
                } else {
                    top.max(uid_next.saturating_sub(1))
                },
                m: modseq,
                top: None,
                low: None,
            };
            self.state.folders.insert(folder.to_owned(), state);
            plan.folders.push_back(FolderWork {
                name: folder.to_owned(),
                uidvalidity: validity,
                fetch,
                initial: true,
                refetch,
                done_state,
                children: known.children,
            });
        } else {
            let refetch: BTreeSet<u32> = changed.iter().copied().collect();
            fetch.extend(changed);
            fetch.extend(
                all.range(state.h.saturating_add(1)..)
                    .filter(|uid| !known.uids.contains_key(uid)),
            );
            let h = max.max(state.h).max(uid_next.saturating_sub(1));
            self.state.folders.insert(folder.to_owned(), state);
            plan.folders.push_back(FolderWork::incremental(
                folder,
                validity,
                h,
                modseq,
                fetch,
                refetch,
                known.children,
            ));
        }
        Ok(())
    }

    /// QRESYNC (RFC 7162 §3.2.6) on the selected folder: the UIDs expunged since `modseq`
    /// (`VANISHED (EARLIER)`) and the flags of every message changed or added since. `None` when
    /// the VANISHED responses may have been lost (the unsolicited channel overflowed): the
    /// caller then falls back to `UID SEARCH ALL`.
    async fn changes_since(
        &mut self,
        modseq: u64,
    ) -> Result<Option<(BTreeSet<u32>, Vec<Fetch>)>, ConnectorError> {
        let session = self.session().await?;
        // async-imap hands responses it does not know (VANISHED) to the unsolicited channel.
        while session.unsolicited_responses.try_recv().is_ok() {}
        let fetches: Vec<Fetch> = session
            .uid_fetch(
                "1:*",
                format!("(UID FLAGS) (CHANGEDSINCE {modseq} VANISHED)"),
            )
            .await
            .map_err(|e| transient("fetch changes", e))?
            .try_collect()
            .await
            .map_err(|e| transient("fetch changes", e))?;
        let overflowed = session.unsolicited_responses.is_full();
        let mut vanished = BTreeSet::new();
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            if let async_imap::types::UnsolicitedResponse::Other(data) = response
                && let async_imap::imap_proto::Response::Vanished { uids, .. } = data.parsed()
            {
                for range in uids {
                    vanished.extend(range.clone());
                }
            }
        }
        if overflowed {
            tracing::debug!("imap unsolicited responses overflowed; falling back to UID SEARCH");
            return Ok(None);
        }
        Ok(Some((vanished, fetches)))
    }

    /// Fetches `uids` of the selected folder: sizes and flags first, then the bodies of those
    /// within the size limit.
    async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<Fetched>, ConnectorError> {
        let limit = self.opts.limits.max_message_bytes;
        let session = self.session().await?;
        let set = uid_set(uids);
        let heads: Vec<Fetch> = session
            .uid_fetch(&set, "(UID FLAGS RFC822.SIZE)")
            .await
            .map_err(|e| transient("fetch", e))?
            .try_collect()
            .await
            .map_err(|e| transient("fetch", e))?;
        let mut out: BTreeMap<u32, Fetched> = BTreeMap::new();
        for f in &heads {
            let Some(uid) = f.uid else { continue };
            out.insert(
                uid,
                Fetched {
                    uid,
                    flags: flag_names(owned_flags(f).into_iter()),
                    modseq: f.modseq,
                    body: None,
                    size: f.size,
                },
            );
        }
        let small: Vec<u32> = out
            .values()
            .filter(|f| f.size.is_none_or(|s| u64::from(s) <= limit))
            .map(|f| f.uid)
            .collect();
        if !small.is_empty() {
            let bodies: Vec<Fetch> = session
                .uid_fetch(uid_set(&small), "(UID FLAGS BODY.PEEK[])")
                .await
                .map_err(|e| transient("fetch", e))?
                .try_collect()
                .await
                .map_err(|e| transient("fetch", e))?;
            for f in &bodies {
                let Some(uid) = f.uid else { continue };
                if let Some(entry) = out.get_mut(&uid) {
                    entry.body = f.body().map(<[u8]>::to_vec);
                    entry.flags = flag_names(owned_flags(f).into_iter());
                    if f.modseq.is_some() {
                        entry.modseq = f.modseq;
                    }
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Builds the next batch of the current plan.
    async fn next_batch(&mut self, mut plan: Plan) -> Result<(Batch, Plan), ConnectorError> {
        let mut batch = Batch::default();
        let take = plan.deletes.len().min(MAX_DELETES_PER_BATCH);
        batch.deletes.extend(plan.deletes.drain(..take));
        let mut budget = self.opts.batch_size.max(1);
        while budget > 0 {
            let Some(work) = plan.folders.front_mut() else {
                break;
            };
            if work.fetch.is_empty() {
                let work = plan.folders.pop_front().expect("front exists");
                self.state
                    .folders
                    .insert(work.name.clone(), work.done_state);
                continue;
            }
            let n = budget.min(work.fetch.len());
            let uids: Vec<u32> = work.fetch.drain(..n).collect();
            let name = work.name.clone();
            let validity = work.uidvalidity;
            let initial = work.initial;
            let refetch: BTreeSet<u32> = uids
                .iter()
                .copied()
                .filter(|u| work.refetch.contains(u))
                .collect();
            let children: HashMap<u32, Vec<String>> = uids
                .iter()
                .filter_map(|u| work.children.get(u).map(|c| (*u, c.clone())))
                .collect();
            budget -= n;
            plan.done += n as u64;
            if self.selected.as_ref() != Some(&(name.clone(), validity)) {
                let mailbox = self.select(&name).await?;
                if mailbox.uid_validity.unwrap_or(0) != validity {
                    // Changed under our feet: plan again from the state reached so far.
                    tracing::info!(folder = %name, "imap UIDVALIDITY changed during a pass; replanning");
                    plan = Plan {
                        followup: true,
                        ..Plan::default()
                    };
                    break;
                }
            }
            let fetched = self.fetch(&uids).await?;
            let items = to_items(&self.opts, &name, validity, fetched, &uids, children).await;
            batch.upserts.extend(items.0);
            batch.deletes.extend(items.1);
            // Advance the folder's cursor past this batch.
            if let Some(state) = self.state.folders.get_mut(&name) {
                if initial {
                    let top = state.top.unwrap_or(0);
                    let lowest = uids
                        .iter()
                        .copied()
                        .filter(|u| *u <= top && !refetch.contains(u))
                        .min();
                    if let Some(lowest) = lowest {
                        state.low = Some(state.low.map_or(lowest, |l| l.min(lowest)));
                    }
                } else {
                    let above: Option<u32> = uids.iter().copied().filter(|u| *u > state.h).max();
                    if let Some(above) = above {
                        state.h = above;
                    }
                }
            }
        }
        // Close folders whose work is done, so their final state goes with this batch.
        while plan.folders.front().is_some_and(|w| w.fetch.is_empty()) {
            let work = plan.folders.pop_front().expect("front exists");
            self.state
                .folders
                .insert(work.name.clone(), work.done_state);
        }
        batch.has_more = !plan.is_empty() || plan.followup;
        if plan.total > 0 {
            batch.progress = Some(Progress {
                done: plan.done,
                total: plan.total,
            });
        }
        batch.cursor = Some(self.state.to_cursor());
        Ok((batch, plan))
    }
}

/// Parses fetched messages into items (on a blocking thread); returns upserts and the
/// attachment ids to delete.
async fn to_items(
    opts: &ImapOptions,
    folder: &str,
    validity: u32,
    fetched: Vec<Fetched>,
    asked: &[u32],
    children: HashMap<u32, Vec<String>>,
) -> (Vec<Item>, Vec<String>) {
    let limits = opts.limits.clone();
    let folder = folder.to_owned();
    let found: BTreeSet<u32> = fetched.iter().map(|f| f.uid).collect();
    for uid in asked {
        if !found.contains(uid) {
            tracing::debug!(folder = %folder, uid, "imap message vanished before it was fetched");
        }
    }
    // RFC 5092 URLs carry the mailbox name in UTF-8; people read it decoded too.
    let display_folder = crate::mutf7::decode(&folder);
    let locators: Vec<String> = fetched
        .iter()
        .map(|f| locator(opts, &display_folder, validity, f.uid))
        .collect();
    let joined = tokio::task::spawn_blocking(move || {
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            for (f, locator) in fetched.into_iter().zip(locators) {
                let id = message_external_id(&folder, validity, f.uid);
                let Some(body) = f.body else {
                    tracing::warn!(folder = %folder, uid = f.uid, size = ?f.size, reason = "message too large", "skipping message");
                    continue;
                };
                let mut parsed = match parse_message(&body, &limits) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        tracing::warn!(folder = %folder, uid = f.uid, reason = %e, "skipping message");
                        continue;
                    }
                };
                parsed.flags = f.flags.clone();
                parsed.folder = Some(display_folder.clone());
                let version = version_of(&f.flags, f.modseq);
                let mut items = message_items(&parsed, &id, &locator);
                for item in &mut items {
                    item.version = Some(version.clone());
                }
                for child in children.get(&f.uid).into_iter().flatten() {
                    if !items.iter().any(|i| &i.external_id == child) {
                        deletes.push(child.clone());
                    }
                }
                upserts.extend(items);
            }
            (upserts, deletes)
        })
        .await;
    match joined {
        Ok(result) => result,
        Err(e) => {
            tracing::warn!(reason = %e, "imap message parsing failed; skipping the batch's messages");
            (Vec::new(), Vec::new())
        }
    }
}

impl ImapConnector {
    async fn pull_inner(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        if std::mem::take(&mut self.waiting) {
            // The daemon gave up waiting (its poll interval, or `ctx sync`): look everywhere.
            self.next_full = Instant::now();
        }
        let incoming = cursor.map(|c| c.0.clone());
        if self.plan.is_some() && self.emitted != incoming {
            // The daemon did not commit what we handed out (or reset the cursor): start over.
            self.plan = None;
        }
        self.emitted = None;
        let plan = match self.plan.take() {
            Some(plan) => plan,
            None => {
                self.state = CursorState::parse(cursor);
                let now = Instant::now();
                let scope = if now >= self.next_full {
                    Scope::All
                } else {
                    self.next_scope
                };
                if scope == Scope::All {
                    self.next_full = now + self.opts.poll_interval;
                }
                self.next_scope = Scope::Inbox;
                match self.plan(scope, ctx).await {
                    Ok(plan) => plan,
                    Err(e) => {
                        // Retry the same scope next time.
                        if scope == Scope::All {
                            self.next_full = now;
                        }
                        return Err(e);
                    }
                }
            }
        };
        let (batch, plan) = self.next_batch(plan).await?;
        if plan.followup && plan.folders.is_empty() && plan.deletes.is_empty() {
            // The pass is over but more work came in: plan a full pass at once.
            self.next_full = Instant::now();
            self.plan = None;
        } else if !plan.is_empty() {
            self.plan = Some(plan);
        }
        self.emitted = batch.cursor.as_ref().map(|c| c.0.clone());
        Ok(batch)
    }

    /// IDLEs on INBOX until something happens, `until` passes, or the IDLE needs re-issuing.
    async fn idle_inbox(&mut self, until: Instant) -> Result<bool, ConnectorError> {
        let mailbox = self.select("INBOX").await?;
        // Something arrived between the last pass and now?
        if let Some(inbox) = self.state.folders.get("INBOX")
            && inbox.v == mailbox.uid_validity.unwrap_or(0)
            && (mailbox
                .uid_next
                .is_some_and(|next| next > inbox.h.saturating_add(1))
                || (self.caps.condstore
                    && mailbox.highest_modseq.is_some()
                    && inbox.m != mailbox.highest_modseq))
        {
            return Ok(true);
        }
        let Some(session) = self.session.take() else {
            return Err(ConnectorError::transient("imap session missing"));
        };
        self.selected = None;
        let mut idle = session.idle();
        idle.init().await.map_err(|e| transient("IDLE", e))?;
        idle.as_mut().set_read_timeout(None);
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(self.opts.idle_refresh);
        let (fut, _stop) = idle.wait_with_timeout(wait);
        let response = fut.await.map_err(|e| transient("IDLE", e))?;
        idle.as_mut().set_read_timeout(Some(self.opts.io_timeout));
        let session = idle.done().await.map_err(|e| transient("IDLE DONE", e))?;
        self.session = Some(session);
        self.selected = Some(("INBOX".to_owned(), mailbox.uid_validity.unwrap_or(0)));
        Ok(matches!(
            response,
            async_imap::extensions::idle::IdleResponse::NewData(_)
        ))
    }

    fn inbox_wanted(&self) -> bool {
        let included = self.opts.include_folders.is_empty()
            || self
                .opts
                .include_folders
                .iter()
                .any(|p| folder_matches("INBOX", p));
        included
            && !self
                .opts
                .exclude_folders
                .iter()
                .any(|p| folder_matches("INBOX", p))
    }
}

fn is_unselectable(attr: &NameAttribute<'_>) -> bool {
    match attr {
        NameAttribute::NoSelect => true,
        NameAttribute::Extension(name) => name.eq_ignore_ascii_case("\\NonExistent"),
        _ => false,
    }
}

#[async_trait::async_trait]
impl Connector for ImapConnector {
    fn type_name(&self) -> &'static str {
        "imap"
    }

    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        // The session is parked in `self` while in use: a pull dropped half-way leaves a session
        // in an unknown protocol state, so it is dropped at the start of the next call instead.
        let result = self.pull_inner(cursor, ctx).await;
        if let Err(e) = &result {
            if e.kind == ErrorKind::Transient || e.kind == ErrorKind::Auth {
                self.reset_connection();
            }
            self.plan = None;
            self.emitted = None;
            tracing::debug!(reason = %e, kind = ?e.kind, "imap pull failed");
        }
        result
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        self.waiting = true;
        let result = self.wait_inner().await;
        self.waiting = false;
        result
    }
}

impl ImapConnector {
    async fn wait_inner(&mut self) -> Result<Wake, ConnectorError> {
        loop {
            let now = Instant::now();
            if now >= self.next_full {
                return Ok(Wake::Changed);
            }
            let can_idle = self.opts.idle && self.inbox_wanted() && {
                // Capabilities are known once connected.
                if self.session.is_none() {
                    match self.session().await {
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                }
                self.caps.idle
            };
            if !can_idle {
                tokio::time::sleep_until(self.next_full).await;
                return Ok(Wake::Changed);
            }
            match self.idle_inbox(self.next_full).await {
                Ok(true) => {
                    self.next_scope = Scope::Inbox;
                    return Ok(Wake::Changed);
                }
                Ok(false) => continue,
                Err(e) => {
                    self.reset_connection();
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 10, 7]), "1:3,5,7,9:10");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn external_ids_round_trip_even_with_semicolons_in_folders() {
        let id = message_external_id("Work;Old", 7, 42);
        assert_eq!(id, "Work;Old;7;42");
        assert_eq!(parse_external_id(&id), Some(("Work;Old", 7, 42)));
        assert_eq!(parse_external_id("INBOX;x;1"), None);
    }

    #[test]
    fn locators_follow_rfc_5092() {
        let mut opts =
            ImapOptions::new("mail.example.com", "a b@x", Arc::new(|| Ok(String::new())));
        opts.port = 993;
        assert_eq!(
            locator(&opts, "Sent Items", 3, 9),
            "imap://a%20b%40x@mail.example.com:993/Sent%20Items;UIDVALIDITY=3/;UID=9"
        );
    }

    #[test]
    fn cursor_round_trips() {
        let mut state = CursorState {
            version: CURSOR_VERSION,
            ..CursorState::default()
        };
        state.folders.insert(
            "INBOX".into(),
            FolderState {
                v: 1,
                h: 10,
                m: Some(5),
                top: None,
                low: None,
            },
        );
        let cursor = state.to_cursor();
        assert_eq!(CursorState::parse(Some(&cursor)), state);
        assert!(
            CursorState::parse(Some(&Cursor("maildir-v1".into())))
                .folders
                .is_empty()
        );
    }

    #[test]
    fn xoauth2_sends_the_token_once_and_answers_an_error_with_an_empty_line() {
        use async_imap::Authenticator;
        let mut sasl = XOAuth2::new("me@example.com", "ya29.token");
        assert_eq!(
            (&mut sasl).process(b""),
            "user=me@example.com\x01auth=Bearer ya29.token\x01\x01"
        );
        let error = br#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
        assert_eq!(
            (&mut sasl).process(error),
            "",
            "the token must not be sent again"
        );
        assert_eq!(
            sasl.server_error.as_deref(),
            Some(r#"{"status":"401","schemes":"bearer","scope":"mail"}"#)
        );
        let err = login_error(
            async_imap::error::Error::No("[AUTHENTICATIONFAILED] Authentication failed.".into()),
            ImapAuth::XOAuth2,
            sasl.server_error.as_deref(),
        );
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(
            err.message.contains(r#"{"status":"401""#),
            "{}",
            err.message
        );
        assert!(!err.message.contains("ya29.token"), "{}", err.message);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let opts = ImapOptions::new("h", "u", Arc::new(|| Ok("hunter2".into())));
        assert!(!format!("{opts:?}").contains("hunter2"));
    }
}
