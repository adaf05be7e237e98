//! iCalendar (RFC 5545) → [`CalEntry`]: the `VEVENT`s and `VTODO`s of a text with the parts ctx
//! shows: summary, description, location, times (date-only = all day, floating, UTC, `TZID`),
//! status, organizer and attendees, URLs and conference links, attachments by reference,
//! recurrence (`RRULE`/`RDATE`/`EXDATE`, `RECURRENCE-ID` overrides), `UID`, `SEQUENCE` and
//! `LAST-MODIFIED`.
//!
//! Parsing is tolerant (see [`crate::contentline`]): a component without usable data is counted
//! in [`Calendar::problems`] and skipped, never failing the file.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::contentline::{self, Component, Property};
use crate::tz;

/// A DATE or DATE-TIME value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSpec {
    /// `VALUE=DATE`: an all-day value.
    Date(NaiveDate),
    /// No zone: the same wall-clock time wherever the reader is (read as UTC for timestamps).
    Floating(NaiveDateTime),
    /// `...Z`.
    Utc(NaiveDateTime),
    /// `TZID=...`, resolved to an IANA zone.
    Zoned(NaiveDateTime, Tz),
}

impl TimeSpec {
    pub fn is_date(&self) -> bool {
        matches!(self, TimeSpec::Date(_))
    }

    /// The local wall-clock time (midnight for a date).
    pub fn naive(&self) -> NaiveDateTime {
        match *self {
            TimeSpec::Date(d) => d.and_time(NaiveTime::MIN),
            TimeSpec::Floating(t) | TimeSpec::Utc(t) | TimeSpec::Zoned(t, _) => t,
        }
    }

    /// The zone the value is expressed in (UTC for dates and floating times).
    pub fn zone(&self) -> Tz {
        match *self {
            TimeSpec::Zoned(_, tz) => tz,
            _ => Tz::UTC,
        }
    }

    /// The instant: dates and floating times are read as UTC; a local time that does not exist
    /// (skipped by a DST change) moves forward by the gap, an ambiguous one takes the earlier.
    pub fn to_utc(&self) -> DateTime<Utc> {
        local_to_utc(self.naive(), self.zone())
    }

    /// The same kind of value at another wall-clock time (used for occurrences).
    pub fn with_naive(&self, naive: NaiveDateTime) -> TimeSpec {
        match *self {
            TimeSpec::Date(_) => TimeSpec::Date(naive.date()),
            TimeSpec::Floating(_) => TimeSpec::Floating(naive),
            TimeSpec::Utc(_) => TimeSpec::Utc(naive),
            TimeSpec::Zoned(_, tz) => TimeSpec::Zoned(naive, tz),
        }
    }
}

/// Wall-clock time in `tz` → UTC, DST gaps and overlaps resolved (see [`TimeSpec::to_utc`]).
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = naive + Duration::hours(1);
            match tz.from_local_datetime(&later) {
                chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
                chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                chrono::LocalResult::None => Utc.from_utc_datetime(&naive),
            }
        }
    }
}

/// `VEVENT` or `VTODO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Event,
    Todo,
}

/// A person named by `ORGANIZER` or `ATTENDEE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Participant {
    pub email: Option<String>,
    pub name: Option<String>,
    /// `PARTSTAT`, lower-case (`accepted`, `declined`, `tentative`, `needs-action`...).
    pub partstat: Option<String>,
    /// `ROLE`, lower-case (`req-participant`, `opt-participant`, `chair`...).
    pub role: Option<String>,
}

impl Participant {
    fn from_property(p: &Property) -> Option<Participant> {
        let value = p.value.trim();
        let email = value
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("mailto:"))
            .map(|_| value[7..].trim().to_owned())
            .or_else(|| value.contains('@').then(|| value.to_owned()))
            .or_else(|| p.param("EMAIL").map(str::to_owned))
            .map(|e| e.trim().to_owned())
            .filter(|e| e.contains('@'));
        let name = p
            .param("CN")
            .map(|n| contentline::unescape(n.trim()))
            .filter(|n| !n.is_empty() && Some(n) != email.as_ref());
        if email.is_none() && name.is_none() {
            return None;
        }
        Some(Participant {
            email,
            name,
            partstat: p.param("PARTSTAT").map(|s| s.to_ascii_lowercase()),
            role: p.param("ROLE").map(|s| s.to_ascii_lowercase()),
        })
    }

    /// `Name <email>`, or whichever is known.
    pub fn display(&self) -> String {
        match (&self.name, &self.email) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        }
    }
}

/// One `VEVENT` or `VTODO` (a series master, a single event, or a `RECURRENCE-ID` override).
#[derive(Debug, Clone, PartialEq)]
pub struct CalEntry {
    pub kind: EntryKind,
    /// The `UID`, or a hash of the component when it has none.
    pub uid: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: Option<TimeSpec>,
    pub end: Option<TimeSpec>,
    pub duration: Option<Duration>,
    /// `DUE` of a to-do.
    pub due: Option<TimeSpec>,
    /// `STATUS`, lower-case (`confirmed`, `tentative`, `cancelled`, `needs-action`, `completed`...).
    pub status: Option<String>,
    pub organizer: Option<Participant>,
    pub attendees: Vec<Participant>,
    pub url: Option<String>,
    /// The first video-conference link found in the URL, location, description or vendor
    /// properties (Zoom, Google Meet, Teams, Webex...).
    pub conference_url: Option<String>,
    /// `ATTACH` values given by reference (URIs); inline binary attachments are ignored.
    pub attachments: Vec<String>,
    pub categories: Vec<String>,
    /// The `RRULE` value as written (`FREQ=WEEKLY;BYDAY=TU`), when any.
    pub rrule: Option<String>,
    pub rdates: Vec<TimeSpec>,
    pub exdates: Vec<TimeSpec>,
    pub recurrence_id: Option<TimeSpec>,
    pub sequence: i64,
    pub last_modified: Option<DateTime<Utc>>,
}

impl CalEntry {
    pub fn is_cancelled(&self) -> bool {
        self.status.as_deref() == Some("cancelled")
    }

    /// The length of one occurrence: `DTEND - DTSTART`, else `DURATION`, else one day for a
    /// date and zero otherwise (RFC 5545 §3.6.1).
    pub fn length(&self) -> Duration {
        if let (Some(start), Some(end)) = (self.start, self.end) {
            let d = end.to_utc() - start.to_utc();
            if d >= Duration::zero() {
                return d;
            }
        }
        if let Some(d) = self.duration {
            return d;
        }
        match self.start {
            Some(TimeSpec::Date(_)) => Duration::days(1),
            _ => Duration::zero(),
        }
    }
}

/// What a text held: its entries and how much was unusable.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// `X-WR-CALNAME`, when given.
    pub name: Option<String>,
    pub entries: Vec<CalEntry>,
    /// Unreadable lines, unbalanced components, entries without usable data, unknown zones.
    pub problems: usize,
}

/// Parses every `VEVENT`/`VTODO` of an iCalendar text (also of several concatenated calendars).
/// Floating times stay floating (read as UTC); see [`parse_calendar_in`].
pub fn parse_calendar(text: &str) -> Calendar {
    parse_calendar_in(text, None)
}

/// Like [`parse_calendar`], reading floating times (no `TZID`, no `Z`) of calendars without an
/// `X-WR-TIMEZONE` in `floating_zone`, the reader's own zone: RFC 5545 §3.3.5 says a floating
/// 09:00 is 09:00 wherever the user is, so its instant is 09:00 in the user's zone.
pub fn parse_calendar_in(text: &str, floating_zone: Option<Tz>) -> Calendar {
    let parsed = contentline::parse(text);
    let mut cal = Calendar {
        problems: parsed.bad_lines + parsed.unbalanced,
        ..Calendar::default()
    };
    for top in &parsed.components {
        // Components may sit directly at the top level in fragments; treat them as one calendar.
        let (container, singles): (&[Component], Vec<&Component>) = if top.name == "VCALENDAR" {
            (&top.children, Vec::new())
        } else {
            (&[], vec![top])
        };
        let vtimezones: Vec<&Component> = container
            .iter()
            .chain(singles.iter().copied())
            .filter(|c| c.name == "VTIMEZONE")
            .collect();
        let default_tz = top
            .prop("X-WR-TIMEZONE")
            .and_then(|p| tz::resolve(&p.value, &vtimezones))
            .or(floating_zone);
        if cal.name.is_none() {
            cal.name = top.text("X-WR-CALNAME");
        }
        let mut reader = Reader {
            vtimezones: &vtimezones,
            default_tz,
            problems: 0,
        };
        for comp in container.iter().chain(singles.iter().copied()) {
            let kind = match comp.name.as_str() {
                "VEVENT" => EntryKind::Event,
                "VTODO" => EntryKind::Todo,
                _ => continue,
            };
            match reader.entry(comp, kind) {
                Some(entry) => cal.entries.push(entry),
                None => reader.problems += 1,
            }
        }
        cal.problems += reader.problems;
    }
    cal
}

struct Reader<'a> {
    vtimezones: &'a [&'a Component],
    /// `X-WR-TIMEZONE`: the zone of floating times in Google/Apple exports.
    default_tz: Option<Tz>,
    problems: usize,
}

impl Reader<'_> {
    fn entry(&mut self, comp: &Component, kind: EntryKind) -> Option<CalEntry> {
        let start = comp.prop("DTSTART").and_then(|p| self.time_prop(p));
        let summary = comp.text("SUMMARY");
        if start.is_none() && summary.is_none() && kind == EntryKind::Event {
            return None;
        }
        let uid = comp.text("UID").unwrap_or_else(|| synthetic_uid(comp));
        let mut rdates = Vec::new();
        for p in comp.props_named("RDATE") {
            // PERIOD values (`start/end`) keep their start.
            rdates.extend(self.time_list(p));
        }
        let mut exdates = Vec::new();
        for p in comp.props_named("EXDATE") {
            exdates.extend(self.time_list(p));
        }
        let description = comp.text("DESCRIPTION");
        let location = comp.text("LOCATION");
        let url = comp.text("URL");
        let conference_url = [
            "X-GOOGLE-CONFERENCE",
            "X-MICROSOFT-SKYPETEAMSMEETINGURL",
            "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
            "CONFERENCE",
        ]
        .iter()
        .filter_map(|name| comp.text(name))
        .chain(url.clone())
        .chain(location.clone())
        .chain(description.clone())
        .find_map(|text| find_conference_url(&text));
        let attachments = comp
            .props_named("ATTACH")
            .filter(|p| {
                !p.param("VALUE")
                    .is_some_and(|v| v.eq_ignore_ascii_case("BINARY"))
                    && p.param("ENCODING").is_none()
            })
            .map(|p| p.value.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let categories = comp
            .props_named("CATEGORIES")
            .flat_map(|p| contentline::split_unescaped(&p.value, ','))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        Some(CalEntry {
            kind,
            uid,
            summary,
            description,
            location,
            start,
            end: comp.prop("DTEND").and_then(|p| self.time_prop(p)),
            duration: comp.prop("DURATION").and_then(|p| parse_duration(&p.value)),
            due: comp.prop("DUE").and_then(|p| self.time_prop(p)),
            status: comp.text("STATUS").map(|s| s.to_ascii_lowercase()),
            organizer: comp.prop("ORGANIZER").and_then(Participant::from_property),
            attendees: comp
                .props_named("ATTENDEE")
                .filter_map(Participant::from_property)
                .collect(),
            url,
            conference_url,
            attachments,
            categories,
            rrule: comp
                .prop("RRULE")
                .map(|p| p.value.trim().to_owned())
                .filter(|v| !v.is_empty()),
            rdates,
            exdates,
            recurrence_id: comp.prop("RECURRENCE-ID").and_then(|p| self.time_prop(p)),
            sequence: comp
                .prop("SEQUENCE")
                .and_then(|p| p.value.trim().parse().ok())
                .unwrap_or(0),
            last_modified: comp
                .prop("LAST-MODIFIED")
                .or_else(|| comp.prop("DTSTAMP"))
                .and_then(|p| parse_time(&p.value, None, false))
                .map(|t| t.to_utc()),
        })
    }

    fn zone_of(&mut self, p: &Property) -> Option<Tz> {
        let tzid = p.param("TZID")?;
        let resolved = tz::resolve(tzid, self.vtimezones);
        if resolved.is_none() {
            tracing::debug!(tzid, "unknown time zone; reading the time as floating");
            self.problems += 1;
        }
        resolved
    }

    fn time_prop(&mut self, p: &Property) -> Option<TimeSpec> {
        let zone = self.zone_of(p).or(self.default_tz);
        let date_only = p
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        let parsed = parse_time(&p.value, zone, date_only);
        if parsed.is_none() {
            self.problems += 1;
        }
        parsed
    }

    fn time_list(&mut self, p: &Property) -> Vec<TimeSpec> {
        let zone = self.zone_of(p).or(self.default_tz);
        let date_only = p
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        p.value
            .split(',')
            .filter_map(|v| parse_time(v.split('/').next().unwrap_or(v), zone, date_only))
            .collect()
    }
}

/// A stable stand-in for a missing `UID`: a hash of the component's properties.
fn synthetic_uid(comp: &Component) -> String {
    let mut hasher = blake3::Hasher::new();
    for p in &comp.props {
        hasher.update(p.name.as_bytes());
        hasher.update(b"\0");
        hasher.update(p.value.as_bytes());
        hasher.update(b"\n");
    }
    format!("no-uid-{}", &hasher.finalize().to_hex()[..16])
}

/// Parses `20260301`, `20260301T090000`, `20260301T090000Z` (also with `-`/`:` separators, which
/// some producers write). `zone` applies to times without `Z`.
pub fn parse_time(value: &str, zone: Option<Tz>, date_only: bool) -> Option<TimeSpec> {
    let cleaned: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let (date_part, time_part) = match cleaned.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (cleaned.as_str(), None),
    };
    if date_part.len() != 8 || !date_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        date_part[..4].parse().ok()?,
        date_part[4..6].parse().ok()?,
        date_part[6..8].parse().ok()?,
    )?;
    let Some(time_part) = time_part.filter(|_| !date_only) else {
        return Some(TimeSpec::Date(date));
    };
    let utc = time_part.ends_with(['Z', 'z']);
    let digits = time_part.trim_end_matches(['Z', 'z']);
    let digits = digits.split(['.', ',']).next().unwrap_or(digits);
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hour: u32 = digits[..2].parse().ok()?;
    let minute: u32 = digits[2..4].parse().ok()?;
    let second: u32 = digits.get(4..6).and_then(|s| s.parse().ok()).unwrap_or(0);
    // A leap second (`60`) is read as the last second of the minute.
    let naive = date.and_hms_opt(hour, minute, second.min(59))?;
    Some(if utc {
        TimeSpec::Utc(naive)
    } else {
        match zone {
            Some(tz) if tz == Tz::UTC || tz == Tz::Etc__UTC => TimeSpec::Utc(naive),
            Some(tz) => TimeSpec::Zoned(naive, tz),
            None => TimeSpec::Floating(naive),
        }
    })
}

/// Parses an RFC 5545 duration: `P1W`, `PT1H30M`, `-P1DT2H`, `P1D`.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let (sign, rest) = match value.as_bytes().first()? {
        b'-' => (-1, &value[1..]),
        b'+' => (1, &value[1..]),
        _ => (1, value),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => number.push(c),
            'T' => {}
            unit @ ('W' | 'D' | 'H' | 'M' | 'S') => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                total += match unit {
                    'W' => Duration::weeks(n),
                    'D' => Duration::days(n),
                    'H' => Duration::hours(n),
                    'M' => Duration::minutes(n),
                    _ => Duration::seconds(n),
                };
            }
            _ => return None,
        }
    }
    (any && number.is_empty()).then_some(total * sign)
}

/// Hosts of video-conference services, for [`find_conference_url`].
const CONFERENCE_HOSTS: &[&str] = &[
    "zoom.us",
    "zoom.com",
    "meet.google.com",
    "teams.microsoft.com",
    "teams.live.com",
    "webex.com",
    "whereby.com",
    "meet.jit.si",
    "gotomeeting.com",
    "meet.goto.com",
    "chime.aws",
    "bluejeans.com",
    "around.co",
];

/// The first `http(s)` URL in `text` whose host is a known video-conference service.
pub fn find_conference_url(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(pos) = rest.find("http") {
        let candidate = &rest[pos..];
        let end = candidate
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')' | ']' | '|')
            })
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ',', ';']);
        if let Some(after) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        {
            let host = after
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if CONFERENCE_HOSTS
                .iter()
                .any(|h| host == *h || host.ends_with(&format!(".{h}")))
            {
                return Some(url.to_owned());
            }
        }
        rest = &candidate[end.max(4)..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTLOOK: &str = "BEGIN:VCALENDAR\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nORGANIZER;CN=\"Smith, Anna\":mailto:anna@acme.example\r\n\
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Bob Jones:mailto:bob@example.org\r\n\
ATTENDEE;PARTSTAT=DECLINED;CN=carol@example.org:mailto:carol@example.org\r\n\
DESCRIPTION:Agenda:\\n1. budget\\, travel\\nJoin: https://acme.zoom.us/j/123456?pwd=abc \r\n now\r\nUID:040000008200E00074C5B7101A82E008\r\n\
SUMMARY;LANGUAGE=en-US:Quarterly review\r\n\
DTSTART;TZID=\"W. Europe Standard Time\":20260310T090000\r\n\
DTEND;TZID=\"W. Europe Standard Time\":20260310T103000\r\n\
LOCATION:Room 4\r\nSTATUS:CONFIRMED\r\nSEQUENCE:3\r\n\
LAST-MODIFIED:20260301T120000Z\r\n\
ATTACH:https://files.example/agenda.pdf\r\n\
ATTACH;ENCODING=BASE64;VALUE=BINARY:AAAA\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn reads_an_outlook_event() {
        let cal = parse_calendar(OUTLOOK);
        assert_eq!(cal.problems, 0);
        let e = &cal.entries[0];
        assert_eq!(e.uid, "040000008200E00074C5B7101A82E008");
        assert_eq!(e.summary.as_deref(), Some("Quarterly review"));
        let start = e.start.unwrap();
        assert_eq!(
            start,
            TimeSpec::Zoned(
                NaiveDate::from_ymd_opt(2026, 3, 10)
                    .unwrap()
                    .and_hms_opt(9, 0, 0)
                    .unwrap(),
                Tz::Europe__Berlin
            )
        );
        assert_eq!(start.to_utc().to_rfc3339(), "2026-03-10T08:00:00+00:00");
        assert_eq!(e.length(), Duration::minutes(90));
        assert_eq!(
            e.organizer.as_ref().unwrap().name.as_deref(),
            Some("Smith, Anna")
        );
        assert_eq!(e.attendees.len(), 2);
        assert_eq!(e.attendees[0].partstat.as_deref(), Some("accepted"));
        assert_eq!(
            e.attendees[1].name, None,
            "a CN equal to the address is no name"
        );
        assert_eq!(
            e.conference_url.as_deref(),
            Some("https://acme.zoom.us/j/123456?pwd=abc")
        );
        assert!(
            e.description
                .as_deref()
                .unwrap()
                .contains("1. budget, travel\nJoin")
        );
        assert!(
            e.description.as_deref().unwrap().ends_with("pwd=abc now"),
            "folded line joined"
        );
        assert_eq!(e.attachments, vec!["https://files.example/agenda.pdf"]);
        assert_eq!(e.sequence, 3);
        assert_eq!(e.status.as_deref(), Some("confirmed"));
        assert!(e.last_modified.is_some());
    }

    #[test]
    fn times_dates_and_durations() {
        let d = parse_time("20260301", None, false).unwrap();
        assert!(d.is_date());
        assert_eq!(parse_time("20260301T090000", None, true), Some(d));
        assert!(matches!(
            parse_time("20260301T090000Z", None, false),
            Some(TimeSpec::Utc(_))
        ));
        assert!(matches!(
            parse_time("2026-03-01T09:00:00", None, false),
            Some(TimeSpec::Floating(_))
        ));
        assert!(parse_time("2026031", None, false).is_none());
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("-P1DT2H"), Some(-Duration::hours(26)));
        assert_eq!(parse_duration("P2W"), Some(Duration::days(14)));
        assert_eq!(parse_duration("P"), None);
        // 02:30 on the spring-forward day does not exist in Berlin: moved to 03:30 (01:30 UTC).
        let gap = parse_time("20260329T023000", Some(Tz::Europe__Berlin), false).unwrap();
        assert_eq!(gap.to_utc().to_rfc3339(), "2026-03-29T01:30:00+00:00");
    }

    #[test]
    fn missing_vtimezone_unknown_zone_and_google_default_zone() {
        let text = "BEGIN:VCALENDAR\nX-WR-TIMEZONE:America/New_York\nX-WR-CALNAME:Team\n\
BEGIN:VEVENT\nUID:a\nSUMMARY:floating in NY\nDTSTART:20260601T100000\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:b\nSUMMARY:unknown zone\nDTSTART;TZID=Mars/Olympus:20260601T100000\nEND:VEVENT\n\
BEGIN:VEVENT\nDESCRIPTION:no summary, no start\nEND:VEVENT\n\
BEGIN:VTODO\nUID:t\nSUMMARY:file taxes\nDUE;VALUE=DATE:20260415\nSTATUS:NEEDS-ACTION\nEND:VTODO\n\
END:VCALENDAR\n";
        let cal = parse_calendar(text);
        assert_eq!(cal.name.as_deref(), Some("Team"));
        assert_eq!(cal.entries.len(), 3);
        assert_eq!(cal.entries[0].start.unwrap().zone(), Tz::America__New_York);
        // Unknown TZID falls back to the calendar's default zone; counted as a problem.
        assert_eq!(cal.entries[1].start.unwrap().zone(), Tz::America__New_York);
        assert_eq!(cal.problems, 2);
        assert_eq!(cal.entries[2].kind, EntryKind::Todo);
        assert!(cal.entries[2].due.unwrap().is_date());
    }

    #[test]
    fn floating_times_are_read_in_the_readers_zone() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:w\nSUMMARY:winter standup\n\
DTSTART:20260115T090000\nEND:VEVENT\nBEGIN:VEVENT\nUID:s\nSUMMARY:summer standup\n\
DTSTART:20260715T090000\nEND:VEVENT\nBEGIN:VEVENT\nUID:u\nSUMMARY:utc call\n\
DTSTART:20260715T090000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let starts = |cal: &Calendar| -> Vec<String> {
            cal.entries
                .iter()
                .map(|e| e.start.unwrap().to_utc().to_rfc3339())
                .collect()
        };
        // Without a reader zone (tests, no system zone): as UTC, as before.
        assert_eq!(
            starts(&parse_calendar(text)),
            [
                "2026-01-15T09:00:00+00:00",
                "2026-07-15T09:00:00+00:00",
                "2026-07-15T09:00:00+00:00"
            ]
        );
        // In Berlin, 09:00 wall-clock is 08:00 UTC in winter and 07:00 UTC in summer;
        // a UTC time stays what it says.
        let berlin = parse_calendar_in(text, Some(Tz::Europe__Berlin));
        assert_eq!(
            starts(&berlin),
            [
                "2026-01-15T08:00:00+00:00",
                "2026-07-15T07:00:00+00:00",
                "2026-07-15T09:00:00+00:00"
            ]
        );
        // A calendar naming its own zone (X-WR-TIMEZONE) beats the reader's.
        let google = text.replace(
            "BEGIN:VCALENDAR\n",
            "BEGIN:VCALENDAR\nX-WR-TIMEZONE:America/New_York\n",
        );
        let ny = parse_calendar_in(&google, Some(Tz::Europe__Berlin));
        assert_eq!(starts(&ny)[0], "2026-01-15T14:00:00+00:00");
    }

    #[test]
    fn conference_links() {
        assert_eq!(
            find_conference_url("Join <https://meet.google.com/abc-defg-hij>."),
            Some("https://meet.google.com/abc-defg-hij".into())
        );
        assert_eq!(
            find_conference_url(
                "see https://example.com then https://teams.microsoft.com/l/meetup-join/x"
            ),
            Some("https://teams.microsoft.com/l/meetup-join/x".into())
        );
        assert_eq!(find_conference_url("https://notzoom.us.evil.com/x"), None);
        assert_eq!(find_conference_url("http"), None);
    }
}
