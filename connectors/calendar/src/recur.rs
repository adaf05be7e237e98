//! Recurrence: a series (`RRULE`, `RDATE`, `EXDATE`) and its `RECURRENCE-ID` overrides →
//! occurrences within a window.
//!
//! The rule itself is expanded by the `rrule` crate (a port of python-dateutil: every `FREQ`,
//! `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY` with ordinals, `BYMONTHDAY`, `BYMONTH`, `BYSETPOS`,
//! `WKST`...), in the event's own zone, so a weekly 09:00 Europe/Berlin meeting stays at 09:00
//! local across DST changes; instants are then converted to UTC. What real-world files get wrong
//! is handled here rather than rejected by the crate's validation: `UNTIL` is parsed by us (a
//! date, a floating or a zoned time is read in the event's zone and converted to UTC), `RDATE`
//! and `EXDATE` are applied by us (a date-only `EXDATE` on a timed series removes that day's
//! occurrence), and a rule the crate refuses leaves the series with its first occurrence.
//! All-day and floating series are expanded in UTC, wall-clock preserved.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::ical::{CalEntry, TimeSpec, local_to_utc};

/// Occurrences are listed within `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// `back` before and `ahead` after `now`, `now` taken at midnight UTC so that renderings stay
    /// stable within a day.
    pub fn around(now: DateTime<Utc>, back: Duration, ahead: Duration) -> Window {
        let day = Utc.from_utc_datetime(&now.date_naive().and_time(chrono::NaiveTime::MIN));
        Window {
            start: day - back,
            end: day + ahead,
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// One occurrence of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// Start as written (wall-clock in the series' zone; a date for all-day series).
    pub start: TimeSpec,
    pub start_utc: DateTime<Utc>,
    pub end_utc: DateTime<Utc>,
    /// Comes from a `RECURRENCE-ID` override.
    pub overridden: bool,
    /// The override cancels this occurrence (`STATUS:CANCELLED`); it is listed, marked.
    pub cancelled: bool,
    /// The override's summary, when it differs from the series'.
    pub summary: Option<String>,
    /// The override's location, when it differs from the series'.
    pub location: Option<String>,
}

/// The occurrences of a series within a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expansion {
    /// Sorted by start.
    pub occurrences: Vec<Occurrence>,
    /// Excluded (`EXDATE`) starts that fall within the window.
    pub excluded: Vec<TimeSpec>,
    /// More occurrences exist in the window than the cap allowed.
    pub truncated: bool,
    /// Whether the series recurs at all (`RRULE` or `RDATE`).
    pub recurring: bool,
    /// Why the rule could not be expanded, when it could not.
    pub rule_error: Option<String>,
}

/// Raw iterations allowed while skipping to the window (a daily rule from 1970 needs ~20,000).
const MAX_SKIPPED: usize = 200_000;

/// Expands `master` with its `overrides` (entries of the same `UID` with a `RECURRENCE-ID`).
///
/// A series that does not recur yields its one occurrence whether or not it lies in the window.
pub fn expand(master: &CalEntry, overrides: &[&CalEntry], window: Window, cap: usize) -> Expansion {
    let mut out = Expansion::default();
    let Some(start) = master.start else {
        return out;
    };
    let length = master.length();
    out.recurring = master.rrule.is_some() || !master.rdates.is_empty();
    let mut starts: Vec<TimeSpec> = Vec::new();
    if !out.recurring {
        starts.push(start);
    } else {
        starts.push(start);
        if let Some(rule) = &master.rrule {
            match rule_starts(start, rule, window, cap + 1) {
                Ok((list, truncated)) => {
                    starts = list;
                    out.truncated = truncated;
                }
                Err(e) => out.rule_error = Some(e),
            }
        }
        starts.extend(master.rdates.iter().map(|r| align(start, *r)));
        starts.retain(|s| window.contains(s.to_utc()));
    }
    let excluded = |s: &TimeSpec| {
        master.exdates.iter().any(|x| match (x, s) {
            (TimeSpec::Date(d), s) if !s.is_date() => *d == s.naive().date(),
            (x, s) => x.to_utc() == s.to_utc(),
        })
    };
    out.excluded = starts.iter().filter(|s| excluded(s)).copied().collect();
    starts.retain(|s| !excluded(s));

    let by_recurrence: BTreeMap<DateTime<Utc>, &CalEntry> = overrides
        .iter()
        .filter_map(|o| Some((align(start, o.recurrence_id?).to_utc(), *o)))
        .collect();
    let mut list: BTreeMap<DateTime<Utc>, Occurrence> = BTreeMap::new();
    for s in starts {
        let utc = s.to_utc();
        if by_recurrence.contains_key(&utc) {
            continue;
        }
        list.insert(
            utc,
            Occurrence {
                start: s,
                start_utc: utc,
                end_utc: utc + length,
                overridden: false,
                cancelled: false,
                summary: None,
                location: None,
            },
        );
    }
    for o in by_recurrence.values() {
        let Some(o_start) = o.start.or(o.recurrence_id) else {
            continue;
        };
        let utc = o_start.to_utc();
        if out.recurring && !window.contains(utc) {
            continue;
        }
        list.insert(
            utc,
            Occurrence {
                start: o_start,
                start_utc: utc,
                end_utc: utc
                    + o.length().max(if o.end.is_none() && o.duration.is_none() {
                        length
                    } else {
                        Duration::zero()
                    }),
                overridden: true,
                cancelled: o.is_cancelled(),
                summary: o
                    .summary
                    .clone()
                    .filter(|s| Some(s) != master.summary.as_ref()),
                location: o
                    .location
                    .clone()
                    .filter(|l| Some(l) != master.location.as_ref()),
            },
        );
    }
    out.occurrences = list.into_values().collect();
    if out.occurrences.len() > cap {
        out.occurrences.truncate(cap);
        out.truncated = true;
    }
    out
}

/// Gives `value` the shape of `start` (a date-only value against a timed series keeps the
/// series' time of day; a timed value against an all-day series becomes its date).
fn align(start: TimeSpec, value: TimeSpec) -> TimeSpec {
    match (start, value) {
        (TimeSpec::Date(_), v) if !v.is_date() => TimeSpec::Date(v.naive().date()),
        (s, TimeSpec::Date(d)) if !s.is_date() => s.with_naive(d.and_time(s.naive().time())),
        (_, v) => v,
    }
}

/// The starts the rule generates within the window (at most `limit`), and whether it was cut.
fn rule_starts(
    start: TimeSpec,
    rule: &str,
    window: Window,
    limit: usize,
) -> Result<(Vec<TimeSpec>, bool), String> {
    let zone = rrule::Tz::Tz(start.zone());
    let dt_start = local_to_utc(start.naive(), start.zone()).with_timezone(&zone);
    // UNTIL is taken out and applied by us, see the module docs.
    let mut until = None;
    let mut parts = Vec::new();
    for part in rule.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("UNTIL") => {
                until = Some(value.to_owned())
            }
            _ => parts.push(part),
        }
    }
    let mut parsed: rrule::RRule<rrule::Unvalidated> = parts
        .join(";")
        .parse()
        .map_err(|e: rrule::RRuleError| e.to_string())?;
    let mut until_utc = None;
    if let Some(text) = until {
        let spec = crate::ical::parse_time(&text, Some(start.zone()), false)
            .ok_or_else(|| format!("bad UNTIL {text:?}"))?;
        let utc = match spec {
            // Inclusive: the whole day in the series' zone.
            TimeSpec::Date(d) => {
                local_to_utc(d.and_hms_opt(23, 59, 59).unwrap_or_default(), start.zone())
            }
            TimeSpec::Floating(n) => local_to_utc(n, start.zone()),
            other => other.to_utc(),
        };
        if utc < dt_start.with_timezone(&Utc) {
            return Ok((vec![start], false));
        }
        until_utc = Some(utc);
        parsed = parsed.until(utc.with_timezone(&rrule::Tz::UTC));
    }
    let set = parsed.build(dt_start).map_err(|e| e.to_string())?.limit();
    let mut out = Vec::new();
    let mut truncated = false;
    for (skipped, occurrence) in set.into_iter().enumerate() {
        let utc = occurrence.with_timezone(&Utc);
        if utc >= window.end || until_utc.is_some_and(|u| utc > u) {
            break;
        }
        if utc < window.start {
            if skipped > MAX_SKIPPED {
                break;
            }
            continue;
        }
        if out.len() >= limit {
            truncated = true;
            break;
        }
        let local = occurrence.naive_local();
        out.push(match start {
            TimeSpec::Date(_) => TimeSpec::Date(local.date()),
            other => other.with_naive(local),
        });
    }
    Ok((out, truncated))
}

/// Convenience for tests and rendering: the calendar date of an occurrence in its own zone.
pub fn local_date(o: &Occurrence) -> NaiveDate {
    o.start.naive().date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ical::parse_calendar;

    fn window(from: &str, to: &str) -> Window {
        let p = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        };
        Window {
            start: p(from),
            end: p(to),
        }
    }

    fn expand_text(body: &str, w: Window) -> Expansion {
        let text = format!("BEGIN:VCALENDAR\n{body}\nEND:VCALENDAR\n");
        let cal = parse_calendar(&text);
        let master = cal
            .entries
            .iter()
            .find(|e| e.recurrence_id.is_none())
            .expect("a master");
        let overrides: Vec<&CalEntry> = cal
            .entries
            .iter()
            .filter(|e| e.recurrence_id.is_some())
            .collect();
        expand(master, &overrides, w, 1000)
    }

    fn local(e: &Expansion) -> Vec<String> {
        e.occurrences
            .iter()
            .map(|o| o.start.naive().format("%Y-%m-%d %H:%M").to_string())
            .collect()
    }

    fn utc(e: &Expansion) -> Vec<String> {
        e.occurrences
            .iter()
            .map(|o| o.start_utc.format("%Y-%m-%d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn weekly_with_exdate() {
        let e = expand_text(
            "BEGIN:VEVENT\nUID:w\nSUMMARY:Standup\nDTSTART;TZID=Europe/Berlin:20260106T090000\n\
             DTEND;TZID=Europe/Berlin:20260106T091500\nRRULE:FREQ=WEEKLY;COUNT=5\n\
             EXDATE;TZID=Europe/Berlin:20260120T090000\nEND:VEVENT",
            window("2025-01-01", "2027-01-01"),
        );
        assert_eq!(
            local(&e),
            [
                "2026-01-06 09:00",
                "2026-01-13 09:00",
                "2026-01-27 09:00",
                "2026-02-03 09:00"
            ]
        );
        assert_eq!(e.excluded.len(), 1);
        assert_eq!(
            e.occurrences[0].end_utc - e.occurrences[0].start_utc,
            Duration::minutes(15)
        );
    }

    #[test]
    fn monthly_second_tuesday_and_last_friday() {
        let e = expand_text(
            "BEGIN:VEVENT\nUID:m\nSUMMARY:Board\nDTSTART:20260113T170000Z\n\
             RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=4\nEND:VEVENT",
            window("2025-01-01", "2027-01-01"),
        );
        assert_eq!(
            local(&e),
            [
                "2026-01-13 17:00",
                "2026-02-10 17:00",
                "2026-03-10 17:00",
                "2026-04-14 17:00"
            ]
        );
        let e = expand_text(
            "BEGIN:VEVENT\nUID:f\nSUMMARY:Drinks\nDTSTART;TZID=America/New_York:20260130T180000\n\
             RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20260501T000000Z\nEND:VEVENT",
            window("2025-01-01", "2027-01-01"),
        );
        assert_eq!(
            local(&e),
            [
                "2026-01-30 18:00",
                "2026-02-27 18:00",
                "2026-03-27 18:00",
                "2026-04-24 18:00"
            ]
        );
    }

    #[test]
    fn overrides_move_and_cancel_occurrences() {
        let e = expand_text(
            "BEGIN:VEVENT\nUID:s\nSUMMARY:Sync\nDTSTART;TZID=Europe/Berlin:20260105T100000\n\
             DTEND;TZID=Europe/Berlin:20260105T110000\nRRULE:FREQ=DAILY;COUNT=4\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:s\nSUMMARY:Sync (moved)\nRECURRENCE-ID;TZID=Europe/Berlin:20260106T100000\n\
             DTSTART;TZID=Europe/Berlin:20260106T150000\nDTEND;TZID=Europe/Berlin:20260106T153000\nEND:VEVENT\n\
             BEGIN:VEVENT\nUID:s\nSUMMARY:Sync\nRECURRENCE-ID;TZID=Europe/Berlin:20260107T100000\n\
             DTSTART;TZID=Europe/Berlin:20260107T100000\nSTATUS:CANCELLED\nEND:VEVENT",
            window("2025-01-01", "2027-01-01"),
        );
        assert_eq!(
            local(&e),
            [
                "2026-01-05 10:00",
                "2026-01-06 15:00",
                "2026-01-07 10:00",
                "2026-01-08 10:00"
            ]
        );
        let moved = &e.occurrences[1];
        assert!(moved.overridden && !moved.cancelled);
        assert_eq!(moved.summary.as_deref(), Some("Sync (moved)"));
        assert_eq!(moved.end_utc - moved.start_utc, Duration::minutes(30));
        assert!(e.occurrences[2].cancelled);
        assert_eq!(e.occurrences[2].summary, None);
    }

    #[test]
    fn dst_crossing_keeps_local_time() {
        let e = expand_text(
            "BEGIN:VEVENT\nUID:d\nSUMMARY:Weekly\nDTSTART;TZID=Europe/Berlin:20260317T090000\n\
             RRULE:FREQ=WEEKLY;BYDAY=TU\nEND:VEVENT",
            window("2026-03-01", "2026-04-08"),
        );
        assert_eq!(
            local(&e),
            [
                "2026-03-17 09:00",
                "2026-03-24 09:00",
                "2026-03-31 09:00",
                "2026-04-07 09:00"
            ]
        );
        // CET (UTC+1) before 29 March, CEST (UTC+2) after.
        assert_eq!(
            utc(&e),
            [
                "2026-03-17 08:00",
                "2026-03-24 08:00",
                "2026-03-31 07:00",
                "2026-04-07 07:00"
            ]
        );
        let autumn = expand_text(
            "BEGIN:VEVENT\nUID:d\nSUMMARY:Weekly\nDTSTART;TZID=W. Europe Standard Time:20261020T090000\n\
             RRULE:FREQ=WEEKLY\nEND:VEVENT",
            window("2026-10-01", "2026-11-01"),
        );
        assert_eq!(utc(&autumn), ["2026-10-20 07:00", "2026-10-27 08:00"]);
    }

    #[test]
    fn all_day_yearly_and_until_by_date() {
        let e = expand_text(
            "BEGIN:VEVENT\nUID:b\nSUMMARY:Birthday\nDTSTART;VALUE=DATE:20200229\n\
             RRULE:FREQ=YEARLY\nEND:VEVENT",
            window("2023-01-01", "2029-01-01"),
        );
        // 29 February exists only in leap years.
        assert_eq!(local(&e), ["2024-02-29 00:00", "2028-02-29 00:00"]);
        assert!(e.occurrences.iter().all(|o| o.start.is_date()));
        let e = expand_text(
            "BEGIN:VEVENT\nUID:y\nSUMMARY:Anniversary\nDTSTART;VALUE=DATE:20200310\n\
             RRULE:FREQ=YEARLY;UNTIL=20240310\nEND:VEVENT",
            window("2019-01-01", "2029-01-01"),
        );
        assert_eq!(e.occurrences.len(), 5, "UNTIL as a date is inclusive");
        let e = expand_text(
            "BEGIN:VEVENT\nUID:u\nSUMMARY:Until floating\nDTSTART;TZID=Europe/Berlin:20260101T090000\n\
             RRULE:FREQ=DAILY;UNTIL=20260103T090000\nEND:VEVENT",
            window("2025-01-01", "2027-01-01"),
        );
        assert_eq!(e.occurrences.len(), 3);
    }

    #[test]
    fn count_window_rdate_and_cap() {
        let w = window("2026-01-01", "2026-02-01");
        let e = expand_text(
            "BEGIN:VEVENT\nUID:c\nSUMMARY:Daily\nDTSTART:20251201T080000Z\nRRULE:FREQ=DAILY;COUNT=40\n\
             RDATE:20260125T120000Z\nEXDATE;VALUE=DATE:20260102\nEND:VEVENT",
            w,
        );
        // 1 Dec + 40 days ends on 9 Jan: 1..=9 January minus the 2nd, plus the RDATE.
        assert_eq!(e.occurrences.len(), 9);
        assert_eq!(local(&e).last().unwrap(), "2026-01-25 12:00");
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nSUMMARY:x\nDTSTART:20260101T000000Z\n\
                    RRULE:FREQ=HOURLY\nEND:VEVENT\nEND:VCALENDAR";
        let cal = parse_calendar(text);
        let capped = expand(&cal.entries[0], &[], w, 50);
        assert_eq!(capped.occurrences.len(), 50);
        assert!(capped.truncated);
        let broken = expand_text(
            "BEGIN:VEVENT\nUID:z\nSUMMARY:bad rule\nDTSTART:20260105T080000Z\nRRULE:FREQ=SOMETIMES\nEND:VEVENT",
            w,
        );
        assert!(broken.rule_error.is_some());
        assert_eq!(
            broken.occurrences.len(),
            1,
            "a bad rule keeps the first occurrence"
        );
    }
}
