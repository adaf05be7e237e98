//! Calendar entries → items: one item per series (`UID`), its occurrences listed in the body.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use ctx_connector_api::{Item, ItemKind, PersonRef, PersonRole};

use crate::ical::{CalEntry, EntryKind, TimeSpec};
use crate::recur::{self, Expansion, Occurrence, Window};

/// How series are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// How far back occurrences are listed (default 365 days).
    pub window_back: Duration,
    /// How far ahead occurrences are listed (default 365 days).
    pub window_ahead: Duration,
    /// Occurrences expanded per series at most (default 2,000).
    pub max_occurrences: usize,
    /// Upcoming occurrence dates written into the body at most (default 60).
    pub list_upcoming: usize,
    /// Past occurrence dates (most recent first) written into the body at most (default 20).
    pub list_past: usize,
    /// The zone floating times are read in (the user's; see [`crate::ical::parse_calendar_in`]).
    /// `None` (the default, so that results do not depend on the machine) reads them as UTC;
    /// the daemon sets the configured or system zone ([`crate::tz::system_zone`]).
    pub floating_zone: Option<chrono_tz::Tz>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            window_back: Duration::days(365),
            window_ahead: Duration::days(365),
            max_occurrences: 2_000,
            list_upcoming: 60,
            list_past: 20,
            floating_zone: None,
        }
    }
}

impl RenderOptions {
    /// The same options with the occurrence window given as standard durations (saturating).
    pub fn with_window(self, back: std::time::Duration, ahead: std::time::Duration) -> Self {
        let convert = |d: std::time::Duration| {
            Duration::from_std(d).unwrap_or_else(|_| Duration::days(365 * 100))
        };
        RenderOptions {
            window_back: convert(back),
            window_ahead: convert(ahead),
            ..self
        }
    }
}

/// Entries grouped by `UID`: the series master (or lone event) and its overrides.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub uid: &'a str,
    pub master: &'a CalEntry,
    pub overrides: Vec<&'a CalEntry>,
}

/// Groups entries by `UID`. The master is the entry without `RECURRENCE-ID` with the highest
/// `SEQUENCE` (then the latest `LAST-MODIFIED`); duplicate overrides keep the newest likewise.
/// A `UID` with overrides only (an invitation to one instance) uses its first override as master.
pub fn group(entries: &[CalEntry]) -> Vec<Series<'_>> {
    let mut by_uid: BTreeMap<&str, Vec<&CalEntry>> = BTreeMap::new();
    for e in entries {
        by_uid.entry(e.uid.as_str()).or_default().push(e);
    }
    let newest = |a: &&CalEntry, b: &&CalEntry| {
        (a.sequence, a.last_modified).cmp(&(b.sequence, b.last_modified))
    };
    let mut out = Vec::new();
    for (uid, list) in by_uid {
        let master = list
            .iter()
            .filter(|e| e.recurrence_id.is_none())
            .copied()
            .max_by(newest);
        let mut overrides: BTreeMap<DateTime<Utc>, &CalEntry> = BTreeMap::new();
        for e in list.iter().filter(|e| e.recurrence_id.is_some()) {
            let key = e.recurrence_id.map(|r| r.to_utc()).unwrap_or_default();
            match overrides.get(&key) {
                Some(old) if newest(old, e).is_ge() => {}
                _ => {
                    overrides.insert(key, e);
                }
            }
        }
        let mut overrides: Vec<&CalEntry> = overrides.into_values().collect();
        let master = match master {
            Some(m) => m,
            None => overrides.remove(0),
        };
        out.push(Series {
            uid,
            master,
            overrides,
        });
    }
    out
}

fn zone_label(t: &TimeSpec) -> String {
    match t {
        TimeSpec::Date(_) => String::new(),
        TimeSpec::Floating(_) => " (floating)".into(),
        TimeSpec::Utc(_) => " UTC".into(),
        TimeSpec::Zoned(_, tz) => format!(" {}", tz.name()),
    }
}

fn fmt_time(t: &TimeSpec) -> String {
    match t {
        TimeSpec::Date(d) => d.format("%a %Y-%m-%d").to_string(),
        other => other.naive().format("%a %Y-%m-%d %H:%M").to_string(),
    }
}

fn fmt_when(start: &TimeSpec, length: Duration) -> String {
    if start.is_date() {
        let days = length.num_days().max(1);
        return if days == 1 {
            format!("{} (all day)", fmt_time(start))
        } else {
            let last = start.naive().date() + Duration::days(days - 1);
            format!(
                "{} – {} (all day)",
                fmt_time(start),
                last.format("%a %Y-%m-%d")
            )
        };
    }
    let end = start.naive() + length;
    let end_text = if length.is_zero() {
        String::new()
    } else if end.date() == start.naive().date() {
        format!("–{}", end.format("%H:%M"))
    } else {
        format!(" – {}", end.format("%a %Y-%m-%d %H:%M"))
    };
    format!("{}{}{}", fmt_time(start), end_text, zone_label(start))
}

fn day_name(code: &str) -> &'static str {
    match code {
        "MO" => "Monday",
        "TU" => "Tuesday",
        "WE" => "Wednesday",
        "TH" => "Thursday",
        "FR" => "Friday",
        "SA" => "Saturday",
        "SU" => "Sunday",
        _ => "?",
    }
}

fn ordinal(n: i32) -> String {
    match n {
        -1 => "last".into(),
        -2 => "second to last".into(),
        n if n < 0 => format!("{}th to last", -n),
        1 => "1st".into(),
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}

/// A readable summary of an `RRULE`: "Weekly on Tuesday 09:00 Europe/Berlin, 10 times".
pub fn describe_rule(rule: &str, start: &TimeSpec) -> String {
    let mut freq = "";
    let mut interval = 1;
    let mut days = Vec::new();
    let mut month_days = Vec::new();
    let mut count = None;
    let mut until = None;
    for part in rule.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_uppercase().as_str() {
            "FREQ" => {
                freq = if v.eq_ignore_ascii_case("DAILY") {
                    "day"
                } else if v.eq_ignore_ascii_case("WEEKLY") {
                    "week"
                } else if v.eq_ignore_ascii_case("MONTHLY") {
                    "month"
                } else if v.eq_ignore_ascii_case("YEARLY") {
                    "year"
                } else {
                    "other"
                }
            }
            "INTERVAL" => interval = v.trim().parse().unwrap_or(1),
            "COUNT" => count = v.trim().parse::<u32>().ok(),
            "UNTIL" => until = crate::ical::parse_time(v, None, false).map(|t| t.naive().date()),
            "BYDAY" => {
                for d in v.split(',') {
                    let d = d.trim().to_ascii_uppercase();
                    let (num, code) = d.split_at(d.len().saturating_sub(2));
                    let name = day_name(code);
                    days.push(match num.parse::<i32>() {
                        Ok(n) => format!("{} {name}", ordinal(n)),
                        Err(_) => name.to_owned(),
                    });
                }
            }
            "BYMONTHDAY" => month_days.extend(v.split(',').map(|d| d.trim().to_owned())),
            _ => {}
        }
    }
    let mut text = match (freq, interval) {
        ("day", 1) => "Daily".to_owned(),
        ("week", 1) => "Weekly".to_owned(),
        ("month", 1) => "Monthly".to_owned(),
        ("year", 1) => "Yearly".to_owned(),
        ("other", _) | ("", _) => format!("Repeats ({rule})"),
        (unit, n) => format!("Every {n} {unit}s"),
    };
    if !days.is_empty() {
        let _ = write!(text, " on {}", days.join(", "));
    }
    if !month_days.is_empty() {
        let _ = write!(text, " on day {}", month_days.join(", "));
    }
    if freq == "year" && days.is_empty() {
        let _ = write!(text, " on {}", start.naive().format("%d %B"));
    }
    if !start.is_date() {
        let _ = write!(
            text,
            " {}{}",
            start.naive().format("%H:%M"),
            zone_label(start)
        );
    }
    if let Some(n) = count {
        let _ = write!(text, ", {n} times");
    }
    if let Some(d) = until {
        let _ = write!(text, ", until {}", d.format("%Y-%m-%d"));
    }
    text
}

fn occurrence_label(o: &Occurrence) -> String {
    let mut s = match o.start {
        TimeSpec::Date(d) => d.format("%Y-%m-%d").to_string(),
        t => t.naive().format("%Y-%m-%d %H:%M").to_string(),
    };
    if o.cancelled {
        s.push_str(" (cancelled)");
    } else if o.overridden {
        let mut notes = Vec::new();
        if let Some(summary) = &o.summary {
            notes.push(format!("\"{summary}\""));
        }
        if let Some(location) = &o.location {
            notes.push(format!("at {location}"));
        }
        if notes.is_empty() {
            notes.push("changed".into());
        }
        let _ = write!(s, " ({})", notes.join(", "));
    }
    s
}

/// The item of one series, with its occurrences within the window around `now`.
pub fn series_item(
    series: &Series<'_>,
    now: DateTime<Utc>,
    opts: &RenderOptions,
    locator: &str,
) -> Item {
    let m = series.master;
    let window = Window::around(now, opts.window_back, opts.window_ahead);
    let expansion: Expansion = recur::expand(m, &series.overrides, window, opts.max_occurrences);
    let live: Vec<&Occurrence> = expansion
        .occurrences
        .iter()
        .filter(|o| !o.cancelled)
        .collect();
    let next = live.iter().find(|o| o.end_utc > now || o.start_utc >= now);
    let last = live.iter().rev().find(|o| o.start_utc < now);
    let kind = match m.kind {
        EntryKind::Event => ItemKind::Event,
        EntryKind::Todo => ItemKind::Task,
    };
    let title = m
        .summary
        .clone()
        .unwrap_or_else(|| "(untitled event)".to_owned());
    let length = m.length();
    let all_day = m.start.is_some_and(|s| s.is_date());

    let mut body = String::new();
    let _ = writeln!(body, "{title}");
    if let Some(start) = &m.start {
        let _ = writeln!(body, "When: {}", fmt_when(start, length));
    }
    if let Some(due) = &m.due {
        let _ = writeln!(body, "Due: {}{}", fmt_time(due), zone_label(due));
    }
    if let (Some(rule), Some(start)) = (&m.rrule, &m.start) {
        let _ = writeln!(body, "Repeats: {}", describe_rule(rule, start));
    }
    if expansion.recurring
        && let Some(next) = next
    {
        let _ = writeln!(
            body,
            "Next: {}",
            fmt_when(&next.start, next.end_utc - next.start_utc)
        );
    }
    if let Some(location) = &m.location {
        let _ = writeln!(body, "Where: {location}");
    }
    if let Some(conf) = &m.conference_url {
        let _ = writeln!(body, "Conference: {conf}");
    }
    if let Some(org) = &m.organizer {
        let _ = writeln!(body, "Organizer: {}", org.display());
    }
    if !m.attendees.is_empty() {
        let list: Vec<String> = m
            .attendees
            .iter()
            .map(|a| match &a.partstat {
                Some(status) => format!("{} ({status})", a.display()),
                None => a.display(),
            })
            .collect();
        let _ = writeln!(body, "Attendees: {}", list.join("; "));
    }
    if let Some(status) = &m.status {
        let _ = writeln!(body, "Status: {status}");
    }
    if let Some(url) = &m.url
        && Some(url) != m.conference_url.as_ref()
    {
        let _ = writeln!(body, "URL: {url}");
    }
    for attachment in &m.attachments {
        let _ = writeln!(body, "Attachment: {attachment}");
    }
    if !m.categories.is_empty() {
        let _ = writeln!(body, "Categories: {}", m.categories.join(", "));
    }
    if let Some(description) = &m.description {
        let _ = write!(body, "\n{}\n", description.trim_end());
    }
    if expansion.recurring {
        let upcoming: Vec<String> = expansion
            .occurrences
            .iter()
            .filter(|o| o.start_utc >= now)
            .take(opts.list_upcoming)
            .map(occurrence_label)
            .collect();
        let past: Vec<String> = expansion
            .occurrences
            .iter()
            .rev()
            .filter(|o| o.start_utc < now)
            .take(opts.list_past)
            .map(occurrence_label)
            .collect();
        let _ = write!(
            body,
            "\nOccurrences {} – {}: {}{}\n",
            window.start.format("%Y-%m-%d"),
            window.end.format("%Y-%m-%d"),
            expansion.occurrences.len(),
            if expansion.truncated { "+" } else { "" }
        );
        if !upcoming.is_empty() {
            let _ = writeln!(body, "Upcoming: {}", upcoming.join(", "));
        }
        if !past.is_empty() {
            let _ = writeln!(body, "Recent: {}", past.join(", "));
        }
        if !expansion.excluded.is_empty() {
            let except: Vec<String> = expansion
                .excluded
                .iter()
                .map(|t| t.naive().format("%Y-%m-%d").to_string())
                .collect();
            let _ = writeln!(body, "Except: {}", except.join(", "));
        }
    }

    let mut item = Item::new(series.uid, kind, title, body);
    item.locator = locator.to_owned();
    item.timestamp_ms = next
        .or(last)
        .map(|o| o.start_utc.timestamp_millis())
        .or_else(|| m.due.map(|d| d.to_utc().timestamp_millis()))
        .or_else(|| m.start.map(|s| s.to_utc().timestamp_millis()));
    if expansion.recurring {
        item.occurrences_ms = live
            .iter()
            .map(|o| o.start_utc.timestamp_millis())
            .collect();
    }
    if let Some(org) = &m.organizer {
        item.people.push(PersonRef {
            email: org.email.clone(),
            name: org.name.clone(),
            role: PersonRole::Organizer,
        });
    }
    for a in &m.attendees {
        item.people.push(PersonRef {
            email: a.email.clone(),
            name: a.name.clone(),
            role: PersonRole::Attendee,
        });
    }
    let fields = &mut item.fields;
    fields.push((
        "status".into(),
        m.status.clone().unwrap_or_else(|| "confirmed".into()),
    ));
    fields.push(("all_day".into(), all_day.to_string()));
    if let Some(rule) = &m.rrule {
        fields.push(("rrule".into(), rule.clone()));
    }
    if let Some(location) = &m.location {
        fields.push(("location".into(), location.clone()));
    }
    if let Some(conf) = &m.conference_url {
        fields.push(("conference_url".into(), conf.clone()));
    }
    if expansion.recurring {
        fields.push((
            "occurrences".into(),
            expansion.occurrences.len().to_string(),
        ));
    }
    if let Some(due) = &m.due {
        fields.push(("due".into(), fmt_time(due)));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::parse_calendar;
    use chrono::TimeZone;

    #[test]
    fn renders_a_recurring_series_as_one_item() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:s1\nSUMMARY:Team sync\n\
DTSTART;TZID=Europe/Berlin:20261103T090000\nDTEND;TZID=Europe/Berlin:20261103T093000\n\
RRULE:FREQ=WEEKLY;BYDAY=TU\nEXDATE;TZID=Europe/Berlin:20261222T090000\nLOCATION:Room 1\n\
ORGANIZER;CN=Anna:mailto:anna@acme.example\nATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@acme.example\n\
DESCRIPTION:Join https://meet.google.com/abc-defg-hij\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:s1\nRECURRENCE-ID;TZID=Europe/Berlin:20261208T090000\nSUMMARY:Team sync\n\
DTSTART;TZID=Europe/Berlin:20261208T090000\nSTATUS:CANCELLED\nEND:VEVENT\nEND:VCALENDAR\n";
        let cal = parse_calendar(text);
        let series = group(&cal.entries);
        assert_eq!(series.len(), 1);
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let item = series_item(&series[0], now, &RenderOptions::default(), "file:///c.ics");
        assert_eq!(item.external_id, "s1");
        assert_eq!(item.kind, ItemKind::Event);
        assert_eq!(item.title, "Team sync");
        // Next occurrence: Tue 1 Dec 2026 09:00 Berlin = 08:00 UTC.
        assert_eq!(
            item.timestamp_ms,
            Some(
                Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
                    .unwrap()
                    .timestamp_millis()
            )
        );
        let body = &item.body;
        assert!(
            body.contains("Repeats: Weekly on Tuesday 09:00 Europe/Berlin"),
            "{body}"
        );
        assert!(
            body.contains("Next: Tue 2026-12-01 09:00–09:30 Europe/Berlin"),
            "{body}"
        );
        assert!(body.contains("Upcoming: 2026-12-01 09:00, 2026-12-08 09:00 (cancelled), 2026-12-15 09:00, 2026-12-29 09:00"), "{body}");
        assert!(
            body.contains("Recent: 2026-11-24 09:00, 2026-11-17 09:00"),
            "{body}"
        );
        assert!(body.contains("Except: 2026-12-22"), "{body}");
        assert!(
            body.contains("Attendees: Bob <bob@acme.example> (accepted)"),
            "{body}"
        );
        assert!(
            body.contains("Conference: https://meet.google.com/abc-defg-hij"),
            "{body}"
        );
        assert_eq!(item.people.len(), 2);
        assert_eq!(item.people[0].role, PersonRole::Organizer);
        assert!(
            item.fields
                .contains(&("rrule".into(), "FREQ=WEEKLY;BYDAY=TU".into()))
        );
        assert!(item.fields.contains(&("all_day".into(), "false".into())));
        // Every live occurrence in the window is an instant the index can match by date: the
        // cancelled 8 December and the excluded 22 December are not among them.
        let at = |d: u32, m: u32, y: i32, h: u32| {
            Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert_eq!(item.occurrences_ms.first(), Some(&at(3, 11, 2026, 8)));
        assert!(item.occurrences_ms.contains(&at(1, 12, 2026, 8)));
        assert!(!item.occurrences_ms.contains(&at(8, 12, 2026, 8)));
        assert!(!item.occurrences_ms.contains(&at(22, 12, 2026, 8)));
        // After the DST change (Berlin goes to UTC+2 on 28 March 2027): 09:00 local is 07:00 UTC.
        assert!(item.occurrences_ms.contains(&at(30, 3, 2027, 7)));
        assert!(item.occurrences_ms.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn single_cancelled_and_all_day_and_todo() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nSUMMARY:Offsite\nDTSTART;VALUE=DATE:20260610\n\
DTEND;VALUE=DATE:20260612\nSTATUS:CANCELLED\nEND:VEVENT\n\
BEGIN:VTODO\nUID:t\nSUMMARY:Send report\nDUE:20260301T170000Z\nEND:VTODO\nEND:VCALENDAR\n";
        let cal = parse_calendar(text);
        let series = group(&cal.entries);
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let offsite = series_item(&series[0], now, &RenderOptions::default(), "");
        assert!(
            offsite
                .body
                .contains("When: Wed 2026-06-10 – Thu 2026-06-11 (all day)"),
            "{}",
            offsite.body
        );
        assert!(
            offsite
                .fields
                .contains(&("status".into(), "cancelled".into()))
        );
        assert!(offsite.fields.contains(&("all_day".into(), "true".into())));
        assert_eq!(
            offsite.timestamp_ms,
            Some(
                Utc.with_ymd_and_hms(2026, 6, 10, 0, 0, 0)
                    .unwrap()
                    .timestamp_millis()
            )
        );
        let todo = series_item(&series[1], now, &RenderOptions::default(), "");
        assert_eq!(todo.kind, ItemKind::Task);
        assert!(
            todo.body.contains("Due: Sun 2026-03-01 17:00 UTC"),
            "{}",
            todo.body
        );
        assert!(todo.timestamp_ms.is_some());
        // Things that happen once have no occurrence list: their timestamp says it all.
        assert!(offsite.occurrences_ms.is_empty() && todo.occurrences_ms.is_empty());
    }

    #[test]
    fn describes_rules() {
        let start = crate::ical::parse_time(
            "20260130T180000",
            Some(chrono_tz::Tz::America__New_York),
            false,
        )
        .unwrap();
        assert_eq!(
            describe_rule("FREQ=MONTHLY;BYDAY=-1FR;COUNT=4", &start),
            "Monthly on last Friday 18:00 America/New_York, 4 times"
        );
        assert_eq!(
            describe_rule(
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20261231T000000Z",
                &start
            ),
            "Every 2 weeks on Monday, Wednesday 18:00 America/New_York, until 2026-12-31"
        );
    }
}
