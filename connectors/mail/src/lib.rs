//! Mail for ctx: the message model every mail connector shares, and the local mailbox
//! connectors (Maildir and mbox), and the IMAP connector.
//!
//! * [`message`]: raw RFC 5322 bytes → [`ParsedMessage`] (MIME, RFC 2047, charsets, HTML → text,
//!   attachments extracted with `ctx-extract`) → one [`ItemKind::Email`](ctx_connector_api::ItemKind)
//!   item plus one `Attachment` item per readable attachment.
//! * [`quote`]: quoted replies and signatures, so packing can drop what a thread already says.
//! * [`maildir`]: a Maildir or Maildir++ tree, reconciled with the store and watched.
//! * [`mbox`]: a single mbox file, re-read when it changes.
//! * [`imap`]: a remote mailbox over IMAP (TLS, STARTTLS or loopback plain), newest first,
//!   CONDSTORE/QRESYNC when offered, IDLE on INBOX.
//! * [`mutf7`]: modified UTF-7 IMAP mailbox names decoded for people.
//!
//! Like the files connector, these never write to the mailboxes they index and do all file IO and
//! parsing on [`tokio::task::spawn_blocking`] threads.

use std::path::PathBuf;

use ctx_connector_api::ConnectorError;

pub mod imap;
pub mod maildir;
pub mod mbox;
pub mod message;
pub mod mutf7;
pub mod quote;
mod watch;

pub use imap::{ExpungeStats, ImapAuth, ImapConnector, ImapOptions, SecretSource, Security};
pub use maildir::{MaildirConnector, MaildirOptions};
pub use mbox::{MboxConnector, MboxOptions};
pub use message::{
    Attachment, MailLimits, Mailbox, ParsedMessage, message_items, parse_message, thread_key,
};
pub use quote::{quote_start, strip_quoted};

/// What can go wrong in this crate: a message that cannot become an item, or a connector that
/// cannot be built or read its mailbox.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("message too large: {size} bytes, limit {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("empty message")]
    Empty,
    #[error("not a parseable message")]
    Unparseable,
    #[error("mime parser panicked: {detail}")]
    Panicked { detail: String },
    #[error("cannot make path {path:?} absolute: {source}")]
    BadPath {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path:?}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<MailError> for ConnectorError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::BadPath { .. } => ConnectorError::config(e.to_string()).with_source(e),
            // A mailbox that cannot be read now (a locked or vanished file) may be readable later.
            MailError::Io { .. } => ConnectorError::transient(e.to_string()).with_source(e),
            _ => ConnectorError::permanent(e.to_string()).with_source(e),
        }
    }
}
