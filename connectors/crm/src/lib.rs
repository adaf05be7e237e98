//! CRM records for ctx: contacts, companies, deals and their notes, calls, meetings and tasks.
//!
//! * [`model`]: the record model every CRM maps into and its rendering as items. Associations
//!   become item links (`deal → company`, `note → deal`...) and, resolved, the people and
//!   organisations of the item, so the store merges CRM contacts and companies with the people
//!   and organisations of mail and calendars (same address → same person, same domain → same
//!   company, free-mail domains never a company).
//! * [`http`]: JSON over HTTP with bearer tokens, `Retry-After`, backoff and error kinds.
//! * [`hubspot`]: the `hubspot` connector (CRM v3: list paging, incremental search on the
//!   last-modified property, associations, archived records as tombstones).
//! * [`rest`]: the `crm_rest` connector: any JSON REST API described by paths, a pagination
//!   style and JSON pointers.
//! * [`export`]: the `crm_export` connector: CSV, JSON and JSONL export files (watched) with a
//!   field mapping.
//!
//! This crate depends on the connector API only; it never touches the store. Parsing of files
//! runs on blocking threads; HTTP runs on the async runtime.

pub mod export;
pub mod http;
pub mod hubspot;
pub mod model;
pub mod rest;

pub use export::{ExportConnector, ExportFile, ExportFormat, ExportOptions};
pub use http::{RetryPolicy, TokenSource};
pub use hubspot::{HubSpotConnector, HubSpotOptions};
pub use model::{CrmRecord, Directory, ObjectKind};
pub use rest::{Pagination, RestAuth, RestConnector, RestObject, RestOptions};

use ctx_connector_api::ConnectorError;

/// Why a CRM connector could not be built or a mapping could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// A setting cannot work (bad URL, bad JSON pointer, unknown object type): permanent.
    #[error("{0}")]
    Config(String),
    /// A file could not be read right now (it may be mid-write): retry.
    #[error("cannot read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CrmError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, CrmError::Io { .. })
    }
}

impl From<CrmError> for ConnectorError {
    fn from(e: CrmError) -> Self {
        if e.is_retryable() {
            ConnectorError::transient(e.to_string()).with_source(e)
        } else {
            ConnectorError::config(e.to_string()).with_source(e)
        }
    }
}
