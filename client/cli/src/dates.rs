//! Dates on the command line (`--since`, `--until`) and timestamps in output.
//!
//! Accepted inputs:
//!
//! - `YYYY-MM-DD`: midnight UTC at the start of that day; for `--until` the *end* of that day
//!   (so `--until 2024-03-31` includes March 31);
//! - RFC 3339: `2024-03-31T14:00:00Z`, `2024-03-31T14:00:00+02:00`;
//! - relative, meaning "that long ago": `12h`, `7d`, `2w`, `3m` (calendar months), `1y`;
//! - `now`, `today` (midnight UTC), `yesterday`.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, Month, OffsetDateTime, Time};

/// Which end of a range a date is for: a bare day means its start for `Since`, its end for
/// `Until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Since,
    Until,
}

/// Parses a date argument into ms since the Unix epoch, relative to `now`.
pub fn parse_date(input: &str, bound: Bound, now: OffsetDateTime) -> Result<i64, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty date".into());
    }
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let day = |date: Date| -> Result<i64, String> {
        let date = match bound {
            Bound::Since => date,
            Bound::Until => date
                .next_day()
                .ok_or_else(|| format!("date `{s}` is out of range"))?,
        };
        Ok(to_ms(date.with_time(Time::MIDNIGHT).assume_utc()))
    };
    match s.to_ascii_lowercase().as_str() {
        "now" => return Ok(to_ms(now)),
        "today" => return day(today),
        "yesterday" => {
            return day(today
                .previous_day()
                .ok_or_else(|| "date out of range".to_string())?);
        }
        _ => {}
    }
    if let Ok(date) = Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return day(date);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(to_ms(t));
    }
    if let Some(t) = parse_relative(s, now)? {
        return Ok(to_ms(t));
    }
    Err(format!(
        "cannot read `{s}` as a date; use YYYY-MM-DD, RFC 3339 (2024-03-31T14:00:00Z), \
         or a relative age like 12h, 7d, 2w, 3m, 1y"
    ))
}

/// `N` followed by a unit, meaning "N units before now"; `Ok(None)` when it is not of that shape.
fn parse_relative(s: &str, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, String> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let unit = unit.trim();
    if digits.is_empty() {
        return Ok(None);
    }
    let n: i64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => return Err(format!("`{s}`: number too large")),
    };
    let too_far = || format!("`{s}` reaches too far into the past");
    let span = |d: Option<Duration>| -> Result<Option<OffsetDateTime>, String> {
        let d = d.ok_or_else(too_far)?;
        now.checked_sub(d).map(Some).ok_or_else(too_far)
    };
    match unit {
        "h" | "hour" | "hours" => span(n.checked_mul(3600).map(Duration::seconds)),
        "d" | "day" | "days" => span(n.checked_mul(86_400).map(Duration::seconds)),
        "w" | "week" | "weeks" => span(n.checked_mul(7 * 86_400).map(Duration::seconds)),
        "m" | "mo" | "month" | "months" => months_ago(now, n).map(Some).ok_or_else(too_far),
        "y" | "year" | "years" => n
            .checked_mul(12)
            .and_then(|m| months_ago(now, m))
            .map(Some)
            .ok_or_else(too_far),
        _ => Ok(None),
    }
}

/// `now` minus `n` calendar months, clamping the day (March 31 minus 1 month is February 28/29).
fn months_ago(now: OffsetDateTime, n: i64) -> Option<OffsetDateTime> {
    let total = i64::from(now.year()) * 12 + i64::from(u8::from(now.month())) - 1 - n;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = now.day().min(time::util::days_in_month(month, year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(now.replace_date(date))
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// An API timestamp (ms since the epoch, 0 = unknown) as RFC 3339 UTC, `None` when unknown.
pub fn rfc3339(ms: i64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&Rfc3339).ok()
}

/// A timestamp for people: `2024-03-31 14:02 UTC`, or `-` when unknown.
pub fn human(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// How long ago `ms` was, relative to `now_ms`: `12s ago`, `5m ago`, `3h ago`, `2d ago`, `never`.
pub fn ago(ms: i64, now_ms: i64) -> String {
    if ms == 0 {
        return "never".into();
    }
    let secs = (now_ms - ms) / 1000;
    if secs < 0 {
        return "just now".into();
    }
    format!("{} ago", short_duration(secs as u64))
}

/// `45s`, `12m`, `3h`, `2d`.
pub fn short_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Current time in ms since the epoch.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2024-03-31 15:30:00 UTC);

    fn ms(t: OffsetDateTime) -> i64 {
        to_ms(t)
    }

    #[test]
    fn plain_dates_are_utc_day_bounds() {
        assert_eq!(
            parse_date("2024-03-01", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-01 0:00 UTC)))
        );
        assert_eq!(
            parse_date("2024-03-01", Bound::Until, NOW),
            Ok(ms(datetime!(2024-03-02 0:00 UTC)))
        );
        assert_eq!(
            parse_date(" 2023-12-31 ", Bound::Until, NOW),
            Ok(ms(datetime!(2024-01-01 0:00 UTC)))
        );
    }

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(
            parse_date("2024-03-01T10:00:00Z", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-01 10:00 UTC)))
        );
        assert_eq!(
            parse_date("2024-03-01T10:00:00+02:00", Bound::Until, NOW),
            Ok(ms(datetime!(2024-03-01 8:00 UTC)))
        );
        assert_eq!(
            parse_date("2024-03-01T10:00:00.250Z", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-01 10:00:00.250 UTC)))
        );
    }

    #[test]
    fn relative_ages() {
        assert_eq!(
            parse_date("7d", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-24 15:30 UTC)))
        );
        assert_eq!(
            parse_date("2w", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-17 15:30 UTC)))
        );
        assert_eq!(
            parse_date("12h", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-31 3:30 UTC)))
        );
        // Calendar months, with the day clamped to the shorter month.
        assert_eq!(
            parse_date("1m", Bound::Since, NOW),
            Ok(ms(datetime!(2024-02-29 15:30 UTC)))
        );
        assert_eq!(
            parse_date("3m", Bound::Since, NOW),
            Ok(ms(datetime!(2023-12-31 15:30 UTC)))
        );
        assert_eq!(
            parse_date("15M", Bound::Since, NOW),
            Ok(ms(datetime!(2022-12-31 15:30 UTC)))
        );
        assert_eq!(
            parse_date("1y", Bound::Since, NOW),
            Ok(ms(datetime!(2023-03-31 15:30 UTC)))
        );
        assert_eq!(parse_date("0d", Bound::Since, NOW), Ok(ms(NOW)));
    }

    #[test]
    fn words() {
        assert_eq!(parse_date("now", Bound::Until, NOW), Ok(ms(NOW)));
        assert_eq!(
            parse_date("today", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-31 0:00 UTC)))
        );
        assert_eq!(
            parse_date("Yesterday", Bound::Since, NOW),
            Ok(ms(datetime!(2024-03-30 0:00 UTC)))
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "  ",
            "d",
            "7",
            "7x",
            "2024-13-01",
            "2024-02-30",
            "yesterday-ish",
            "99999999999999999999d",
            "9223372036854775807d",
            "9223372036854775807m",
            "9223372036854775807y",
            "-3d",
            "2024-03-01T10:00:00",
        ] {
            assert!(parse_date(bad, Bound::Since, NOW).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn output_formats() {
        assert_eq!(rfc3339(0), None);
        assert_eq!(
            rfc3339(ms(datetime!(2024-03-31 15:30 UTC))).as_deref(),
            Some("2024-03-31T15:30:00Z")
        );
        assert_eq!(human(ms(NOW)), "2024-03-31 15:30 UTC");
        assert_eq!(ago(0, 10_000), "never");
        assert_eq!(ago(1_000, 13_000), "12s ago");
        assert_eq!(ago(1, 3 * 3600 * 1000 + 1), "3h ago");
        assert_eq!(ago(20_000, 10_000), "just now");
    }
}
