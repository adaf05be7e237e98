//! Time expressions in queries: "last week", "since March", "next Tuesday", "in the last 10
//! days", "yesterday", "2026-03-01". Each becomes a half-open range of UTC milliseconds and is
//! removed from the text that keyword search sees (the words "last" and "week" are not what
//! the person is looking for).
//!
//! Calendar arithmetic is done here on civil dates (proleptic Gregorian, UTC) so the crate needs
//! no date library; weeks start on Monday. A month or weekday name is only taken as a time when
//! a preposition or a relative word makes it one ("since March", "in May", "next Friday"), so
//! that "May Chen" or "Project March" stay names.

const DAY_MS: i64 = 86_400_000;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A half-open time range `[since, until)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// A query with its time expressions taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimedQuery {
    /// The query without the words of its time expressions.
    pub text: String,
    /// The intersection of every range found; `None` when the query names no time.
    pub range: Option<TimeRange>,
    /// The expressions found, as written (for explanations).
    pub expressions: Vec<String>,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Monday = 0.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn month_start(y: i64, m: i64) -> i64 {
    let y = y + (m - 1).div_euclid(12);
    let m = (m - 1).rem_euclid(12) + 1;
    days_from_civil(y, m as u32, 1)
}

fn range_days(from: i64, to: i64) -> TimeRange {
    TimeRange {
        since_ms: Some(from * DAY_MS),
        until_ms: Some(to * DAY_MS),
    }
}

fn number(word: &str) -> Option<i64> {
    const WORDS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    if let Ok(n) = word.parse::<i64>() {
        return (1..=3650).contains(&n).then_some(n);
    }
    WORDS.iter().position(|w| *w == word).map(|i| i as i64 + 1)
}

fn unit_days(word: &str) -> Option<&'static str> {
    match word.trim_end_matches('s') {
        "day" => Some("day"),
        "week" => Some("week"),
        "month" => Some("month"),
        "year" => Some("year"),
        _ => None,
    }
}

fn month_of(word: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() == 3 && m.starts_with(word) && word != "may"))
        .or_else(|| (word == "may").then_some(4))
        .map(|i| i as i64 + 1)
}

fn weekday_of(word: &str) -> Option<i64> {
    WEEKDAYS
        .iter()
        .position(|d| *d == word || (word.len() == 3 && d.starts_with(word)))
        .map(|i| i as i64)
}

fn iso_date(word: &str) -> Option<i64> {
    let mut parts = word.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    ((1900..=2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| days_from_civil(y, m, d))
}

/// The range of a month named without a year: the most recent such month that has begun
/// (this year's if it has started, else last year's), unless `future` asks for the next one.
fn named_month(today: i64, month: i64, year: Option<i64>, future: bool) -> (i64, i64) {
    let (y, m, _) = civil_from_days(today);
    let y = match year {
        Some(y) => y,
        None if future => {
            if month > i64::from(m) {
                y
            } else {
                y + 1
            }
        }
        None => {
            if month <= i64::from(m) {
                y
            } else {
                y - 1
            }
        }
    };
    (month_start(y, month), month_start(y, month + 1))
}

/// What one expression starting at `words[i]` means: (range, number of words it spans).
fn expression_at(words: &[String], i: usize, today: i64) -> Option<(TimeRange, usize)> {
    let w = |k: usize| words.get(i + k).map(String::as_str).unwrap_or("");
    let (y, m, _) = civil_from_days(today);
    let (y, m) = (y, i64::from(m));
    let week_start = today - weekday(today);
    let year_of = |word: &str| {
        word.parse::<i64>()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
    };
    match w(0) {
        "today" => return Some((range_days(today, today + 1), 1)),
        "yesterday" => return Some((range_days(today - 1, today), 1)),
        "tomorrow" => return Some((range_days(today + 1, today + 2), 1)),
        "recently" | "lately" => return Some((range_days(today - 30, today + 1), 1)),
        _ => {}
    }
    let relative = matches!(
        w(0),
        "last" | "past" | "this" | "next" | "previous" | "coming"
    );
    if relative {
        let which = w(0);
        // "last 10 days", "past two weeks"
        if let (Some(n), Some(unit)) = (number(w(1)), unit_days(w(2)))
            && matches!(which, "last" | "past" | "previous" | "next" | "coming")
        {
            let span = match unit {
                "day" => n,
                "week" => 7 * n,
                "month" => 30 * n,
                _ => 365 * n,
            };
            let r = if matches!(which, "next" | "coming") {
                range_days(today, today + span + 1)
            } else {
                range_days(today - span, today + 1)
            };
            return Some((r, 3));
        }
        let shift = match which {
            "last" | "past" | "previous" => -1,
            "this" => 0,
            _ => 1,
        };
        match unit_days(w(1)) {
            Some("day") if w(1) == "day" => {}
            Some("week") if w(1) == "week" => {
                let from = week_start + 7 * shift;
                return Some((range_days(from, from + 7), 2));
            }
            Some("month") if w(1) == "month" => {
                return Some((
                    range_days(month_start(y, m + shift), month_start(y, m + shift + 1)),
                    2,
                ));
            }
            Some("year") if w(1) == "year" => {
                let yy = y + shift;
                return Some((
                    range_days(days_from_civil(yy, 1, 1), days_from_civil(yy + 1, 1, 1)),
                    2,
                ));
            }
            _ => {}
        }
        if w(1) == "quarter" {
            let q = (m - 1) / 3 + 3 * shift;
            let first = 1 + 3 * q;
            return Some((
                range_days(month_start(y, first), month_start(y, first + 3)),
                2,
            ));
        }
        if let Some(d) = weekday_of(w(1)) {
            let day = match shift {
                -1 => {
                    let back = (weekday(today) - d).rem_euclid(7);
                    today - if back == 0 { 7 } else { back }
                }
                0 => week_start + d,
                _ => {
                    let ahead = (d - weekday(today)).rem_euclid(7);
                    today + if ahead == 0 { 7 } else { ahead }
                }
            };
            return Some((range_days(day, day + 1), 2));
        }
        if let Some(month) = month_of(w(1)) {
            let (from, to) = named_month(today, month, None, shift > 0);
            let (from, to) = if shift < 0 && from > today - 1 {
                named_month(today - 366, month, None, false)
            } else {
                (from, to)
            };
            return Some((range_days(from, to), 2));
        }
        return None;
    }
    // "since March", "since 2026-03-01", "after May 2025", "before June", "until Friday",
    // "in April", "during March 2025", "on Tuesday", "on 2026-03-01".
    let prep = w(0);
    if !matches!(
        prep,
        "since" | "after" | "before" | "until" | "till" | "in" | "during" | "on" | "from"
    ) {
        // A bare ISO date or "March 2025".
        if let Some(d) = iso_date(w(0)) {
            return Some((range_days(d, d + 1), 1));
        }
        if let (Some(month), Some(year)) = (month_of(w(0)), year_of(w(1))) {
            let (from, to) = named_month(today, month, Some(year), false);
            return Some((range_days(from, to), 2));
        }
        return None;
    }
    let (from, to, used) = if let Some(d) = iso_date(w(1)) {
        (d, d + 1, 2)
    } else if let Some(month) = month_of(w(1)) {
        let year = year_of(w(2));
        let (from, to) = named_month(today, month, year, false);
        (from, to, if year.is_some() { 3 } else { 2 })
    } else if let Some(year) = year_of(w(1)).filter(|_| prep != "on") {
        (
            days_from_civil(year, 1, 1),
            days_from_civil(year + 1, 1, 1),
            2,
        )
    } else if let Some(d) = weekday_of(w(1)).filter(|_| prep != "in") {
        // The most recent such day for since/after/on (today counts), the next one for until.
        let back = (weekday(today) - d).rem_euclid(7);
        let day = if matches!(prep, "until" | "till" | "before") {
            today + (d - weekday(today)).rem_euclid(7)
        } else {
            today - back
        };
        (day, day + 1, 2)
    } else if matches!(w(1), "last" | "this" | "next")
        && let Some((r, n)) = expression_at(words, i + 1, today)
    {
        let from = r.since_ms.unwrap_or(0) / DAY_MS;
        let to = r.until_ms.unwrap_or(0) / DAY_MS;
        (from, to, n + 1)
    } else {
        return None;
    };
    let r = match prep {
        "since" | "after" | "from" => TimeRange {
            since_ms: Some(if prep == "after" { to } else { from } * DAY_MS),
            until_ms: None,
        },
        "before" | "until" | "till" => TimeRange {
            since_ms: None,
            until_ms: Some(if prep == "before" { from } else { to } * DAY_MS),
        },
        _ => range_days(from, to),
    };
    Some((r, used))
}

fn intersect(a: TimeRange, b: TimeRange) -> TimeRange {
    let since = match (a.since_ms, b.since_ms) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let until = match (a.until_ms, b.until_ms) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    TimeRange {
        since_ms: since,
        until_ms: until,
    }
}

/// Finds the time expressions of `query` relative to `now_ms` (UTC).
pub fn parse_time(query: &str, now_ms: i64) -> TimedQuery {
    let today = now_ms.div_euclid(DAY_MS);
    // Words with their byte spans, lowercased and stripped of punctuation for matching.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start = None;
    for (at, ch) in query
        .char_indices()
        .chain(std::iter::once((query.len(), ' ')))
    {
        if ch.is_whitespace() || ch == ',' || ch == '?' || ch == '!' || ch == ';' {
            if let Some(s) = start.take() {
                let word = query[s..at]
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase();
                spans.push((s, at));
                words.push(word);
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    let mut removed = vec![false; words.len()];
    let mut range: Option<TimeRange> = None;
    let mut expressions = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((r, n)) = expression_at(&words, i, today) {
            let n = n.min(words.len() - i);
            // "in the last week": drop the filler words before the expression too.
            let mut first = i;
            while first > 0
                && !removed[first - 1]
                && matches!(words[first - 1].as_str(), "the" | "in" | "during" | "over")
            {
                first -= 1;
            }
            for flag in removed.iter_mut().take(i + n).skip(first) {
                *flag = true;
            }
            expressions.push(query[spans[i].0..spans[i + n - 1].1].to_string());
            range = Some(match range {
                Some(old) => intersect(old, r),
                None => r,
            });
            i += n;
        } else {
            i += 1;
        }
    }
    let text = spans
        .iter()
        .zip(&removed)
        .filter(|(_, r)| !**r)
        .map(|((s, e), _)| &query[*s..*e])
        .collect::<Vec<_>>()
        .join(" ");
    TimedQuery {
        text,
        range,
        expressions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03 12:00 UTC, a Thursday.
    const NOW: i64 = 1_796_299_200_000;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    fn range(q: &str) -> (String, TimeRange) {
        let t = parse_time(q, NOW);
        (t.text, t.range.unwrap_or_default())
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(NOW / DAY_MS, days_from_civil(2026, 12, 3));
        assert_eq!(weekday(days_from_civil(2026, 12, 3)), 3, "a Thursday");
        for z in [-800_000, -1, 0, 59, 60, 20_000, 800_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn relative_weeks_months_and_days() {
        let (text, r) = range("Acme renewal last week");
        assert_eq!(text, "Acme renewal");
        assert_eq!(r.since_ms, Some(day(2026, 11, 23)));
        assert_eq!(r.until_ms, Some(day(2026, 11, 30)));
        let (_, r) = range("this month");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 12, 1)), Some(day(2027, 1, 1)))
        );
        let (_, r) = range("last month");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 11, 1)), Some(day(2026, 12, 1)))
        );
        let (text, r) = range("invoices in the last 10 days");
        assert_eq!(text, "invoices");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 11, 23)), Some(day(2026, 12, 4)))
        );
        let (_, r) = range("yesterday");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 12, 2)), Some(day(2026, 12, 3)))
        );
    }

    #[test]
    fn weekdays_and_months() {
        let (text, r) = range("meeting with Dana next Tuesday");
        assert_eq!(text, "meeting with Dana");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 12, 8)), Some(day(2026, 12, 9)))
        );
        let (_, r) = range("last Friday");
        assert_eq!(r.since_ms, Some(day(2026, 11, 27)));
        let (text, r) = range("pricing since March");
        assert_eq!(text, "pricing");
        assert_eq!((r.since_ms, r.until_ms), (Some(day(2026, 3, 1)), None));
        let (_, r) = range("notes from December 2025");
        assert_eq!(r.since_ms, Some(day(2025, 12, 1)));
        let (_, r) = range("in May");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 5, 1)), Some(day(2026, 6, 1)))
        );
        let (_, r) = range("before 2026-02-10");
        assert_eq!((r.since_ms, r.until_ms), (None, Some(day(2026, 2, 10))));
    }

    #[test]
    fn names_are_not_dates() {
        for q in [
            "May Chen",
            "Project March",
            "Acme renewal",
            "what is the weekly sync",
        ] {
            let t = parse_time(q, NOW);
            assert_eq!(t.range, None, "{q}");
            assert_eq!(t.text, q);
        }
    }

    #[test]
    fn several_expressions_intersect() {
        let (text, r) = range("since March before 2026-06-01 roadmap");
        assert_eq!(text, "roadmap");
        assert_eq!(
            (r.since_ms, r.until_ms),
            (Some(day(2026, 3, 1)), Some(day(2026, 6, 1)))
        );
    }
}
