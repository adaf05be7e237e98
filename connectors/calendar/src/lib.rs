//! Calendars and contacts for ctx.
//!
//! * [`contentline`]: a tolerant reader of the iCalendar/vCard line format. Written here rather
//!   than using `icalendar::parser` (0.17), which rejects a whole file on a stray line, a
//!   missing `END:VCALENDAR`, an unclosed component, two concatenated calendars or a byte-order
//!   mark (checked on these inputs); a mirror must keep what parses.
//! * [`ical`]: `VEVENT`/`VTODO` → [`CalEntry`] (times, zones, people, links, recurrence parts);
//!   [`tz`]: `TZID`s (IANA, Windows names, vendor prefixes, `VTIMEZONE` offsets) → `chrono-tz`.
//! * [`recur`]: series + overrides → occurrences in a window, DST-correct (the `rrule` crate).
//! * [`item`]: one item per series (`UID`), occurrences listed in the body; [`vcf`]: vCards →
//!   `Contact` items.
//! * [`ics`]: the `ics` connector: local `.ics`/`.vcf` files and folders (watched) plus
//!   HTTP(S) subscriptions polled with `ETag`/`If-Modified-Since`.
//! * [`davsync`]: the `caldav` and `carddav` connectors (discovery, RFC 6578 sync tokens,
//!   multiget), over the WebDAV plumbing of [`dav`] (namespace-aware XML, multistatus).
//!
//! Like the files connector, file IO and parsing run on [`tokio::task::spawn_blocking`]
//! threads; HTTP runs on the async runtime (`reqwest`).

pub mod contentline;
pub mod dav;
pub mod davsync;
pub mod ical;
pub mod ics;
pub mod item;
pub mod recur;
pub mod tz;
pub mod vcf;

pub use dav::PasswordSource;
pub use davsync::{DavCollection, DavConnector, DavKind, DavOptions};
pub use ical::{
    CalEntry, Calendar, EntryKind, Participant, TimeSpec, parse_calendar, parse_calendar_in,
};
pub use ics::{IcsConnector, IcsOptions};
pub use item::{RenderOptions, Series, group, series_item};
pub use recur::{Expansion, Occurrence, Window, expand};
pub use tz::{system_zone, zone_named};
pub use vcf::{Contact, contact_item, parse_vcards};

use ctx_connector_api::ConnectorError;

/// Why a calendar connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("nothing to read: give at least one path or URL")]
    NothingConfigured,
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot make path {path:?} absolute: {source}")]
    BadPath {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl From<CalendarError> for ConnectorError {
    fn from(e: CalendarError) -> Self {
        ConnectorError::config(e.to_string()).with_source(e)
    }
}
