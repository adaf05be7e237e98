//! Time-zone names as calendars write them → IANA zones (`chrono-tz`).
//!
//! Resolution order for a `TZID`:
//! 1. an IANA name (`Europe/Berlin`), also when prefixed like Mozilla's
//!    `/mozilla.org/20050126_1/Europe/Berlin` or `/citadel.org/.../Europe/Berlin`;
//! 2. a Windows zone name (`W. Europe Standard Time`), via [`WINDOWS_ZONES`], the territory-`001`
//!    rows of CLDR's `windowsZones.xml` for the most common zones;
//! 3. the `X-LIC-LOCATION` of the file's `VTIMEZONE` with that `TZID`;
//! 4. the offsets of that `VTIMEZONE` (standard/daylight pair) or a `(UTC+01:00) ...` display
//!    name, mapped to a representative zone with those rules (see [`by_offsets`]);
//! 5. otherwise unresolved: the caller treats the time as floating and counts a problem.

use chrono_tz::Tz;

use crate::contentline::Component;

/// Windows time-zone name → IANA name (CLDR windowsZones, territory 001).
pub const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Central Standard Time", "America/Chicago"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Greenland Standard Time", "America/Nuuk"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("UTC-02", "Etc/GMT+2"),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("Coordinated Universal Time", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Central Asia Standard Time", "Asia/Almaty"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
];

/// Parses an IANA name, also inside a vendor prefix (`/mozilla.org/20050126_1/Europe/Berlin`).
fn iana(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"');
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    // Try every suffix of 1–3 path segments (longest first).
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    for take in (1..=parts.len().min(3)).rev() {
        let candidate = parts[parts.len() - take..].join("/");
        if let Ok(tz) = candidate.parse::<Tz>() {
            return Some(tz);
        }
    }
    None
}

fn windows(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"');
    WINDOWS_ZONES
        .iter()
        .find(|(win, _)| win.eq_ignore_ascii_case(name))
        .and_then(|(_, iana_name)| iana_name.parse().ok())
}

/// `+0100`, `-0530`, `+01:00` → seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..4].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

/// A representative zone for a (standard, daylight) offset pair in seconds; a zone without
/// daylight time and a whole-hour offset becomes `Etc/GMT∓N`.
pub fn by_offsets(standard: i32, daylight: Option<i32>) -> Option<Tz> {
    const H: i32 = 3600;
    let name = match (standard, daylight) {
        (0, Some(d)) if d == H => "Europe/London",
        (s, Some(d)) if s == H && d == 2 * H => "Europe/Berlin",
        (s, Some(d)) if s == 2 * H && d == 3 * H => "Europe/Helsinki",
        (s, Some(d)) if s == -5 * H && d == -4 * H => "America/New_York",
        (s, Some(d)) if s == -6 * H && d == -5 * H => "America/Chicago",
        (s, Some(d)) if s == -7 * H && d == -6 * H => "America/Denver",
        (s, Some(d)) if s == -8 * H && d == -7 * H => "America/Los_Angeles",
        (s, Some(d)) if s == -4 * H && d == -3 * H => "America/Halifax",
        (s, Some(d)) if s == 10 * H && d == 11 * H => "Australia/Sydney",
        (s, Some(d)) if s == 12 * H && d == 13 * H => "Pacific/Auckland",
        (s, Some(d)) if s == 9 * H + 1800 && d == 10 * H + 1800 => "Australia/Adelaide",
        (s, None) if s % H == 0 && s.abs() <= 14 * H => {
            let hours = s / H;
            return match hours {
                0 => Some(Tz::UTC),
                // POSIX-style names: Etc/GMT-1 is UTC+1.
                h if h > 0 => format!("Etc/GMT-{h}").parse().ok(),
                h => format!("Etc/GMT+{}", -h).parse().ok(),
            };
        }
        (s, None) if s == 5 * H + 1800 => "Asia/Kolkata",
        (s, None) if s == 5 * H + 2700 => "Asia/Kathmandu",
        (s, None) if s == 9 * H + 1800 => "Australia/Darwin",
        (s, None) if s == 3 * H + 1800 => "Asia/Tehran",
        _ => return None,
    };
    name.parse().ok()
}

/// The offsets a `VTIMEZONE` declares: the last `STANDARD` and `DAYLIGHT` `TZOFFSETTO`.
fn vtimezone_offsets(vtz: &Component) -> Option<(i32, Option<i32>)> {
    let offset_of = |name: &str| {
        vtz.children
            .iter()
            .filter(|c| c.name == name)
            .filter_map(|c| c.prop("TZOFFSETTO").and_then(|p| parse_offset(&p.value)))
            .next_back()
    };
    let standard = offset_of("STANDARD").or_else(|| offset_of("DAYLIGHT"))?;
    let daylight = offset_of("DAYLIGHT").filter(|d| *d != standard);
    Some((standard, daylight))
}

/// Resolves a `TZID` (see the module docs); `vtimezones` are the file's `VTIMEZONE`s.
pub fn resolve(tzid: &str, vtimezones: &[&Component]) -> Option<Tz> {
    let tzid = tzid.trim().trim_matches('"').trim();
    if let Some(tz) = iana(tzid).or_else(|| windows(tzid)) {
        return Some(tz);
    }
    let vtz = vtimezones.iter().find(|v| {
        v.prop("TZID")
            .is_some_and(|p| p.value.trim().trim_matches('"') == tzid)
    });
    if let Some(vtz) = vtz {
        if let Some(tz) = vtz
            .prop("X-LIC-LOCATION")
            .and_then(|p| iana(&p.value).or_else(|| windows(&p.value)))
        {
            return Some(tz);
        }
        if let Some(tz) = vtimezone_offsets(vtz).and_then(|(s, d)| by_offsets(s, d)) {
            return Some(tz);
        }
    }
    // `(UTC+01:00) Amsterdam, Berlin, ...` (Outlook display names) without a usable VTIMEZONE.
    if let Some(rest) = tzid
        .strip_prefix("(UTC")
        .or_else(|| tzid.strip_prefix("(GMT"))
    {
        let offset = rest.split(')').next().unwrap_or("");
        if offset.is_empty() {
            return Some(Tz::UTC);
        }
        return parse_offset(offset).and_then(|s| {
            // Display names do not say whether daylight time applies; the European and North
            // American ones almost always do.
            let daylight = match s / 3600 {
                0..=2 if !tzid.contains("Monrovia") && !tzid.contains("Reykjavik") => {
                    Some(s + 3600)
                }
                -8..=-5 => Some(s + 3600),
                _ => None,
            };
            by_offsets(s, daylight).or_else(|| by_offsets(s, None))
        });
    }
    None
}

/// The zone of this machine's user: `TZ` when it names a zone (`Europe/Berlin`, `:Europe/Berlin`),
/// else the system zone (`/etc/localtime`, via iana-time-zone), else `None`.
pub fn system_zone() -> Option<Tz> {
    let from_env = std::env::var("TZ")
        .ok()
        .and_then(|v| zone_named(v.trim_start_matches(':')));
    from_env.or_else(|| {
        iana_time_zone::get_timezone()
            .ok()
            .and_then(|name| zone_named(&name))
    })
}

/// An IANA or Windows zone name (`Europe/Berlin`, `W. Europe Standard Time`), as a config file
/// or the environment may give it.
pub fn zone_named(name: &str) -> Option<Tz> {
    let name = name.trim();
    iana(name).or_else(|| windows(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_mapping_names_a_known_zone() {
        for (win, iana_name) in WINDOWS_ZONES {
            assert!(iana_name.parse::<Tz>().is_ok(), "{win} → {iana_name}");
        }
    }

    #[test]
    fn resolves_iana_windows_prefixed_and_offsets() {
        assert_eq!(resolve("Europe/Berlin", &[]), Some(Tz::Europe__Berlin));
        assert_eq!(
            resolve("\"W. Europe Standard Time\"", &[]),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            resolve("/mozilla.org/20050126_1/America/New_York", &[]),
            Some(Tz::America__New_York)
        );
        assert_eq!(
            resolve(
                "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
                &[]
            ),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(resolve("(UTC+05:30) Chennai", &[]), Some(Tz::Asia__Kolkata));
        assert_eq!(resolve("Nowhere Standard Time", &[]), None);
        let vtz = crate::contentline::parse(
            "BEGIN:VTIMEZONE\nTZID:Custom\nBEGIN:STANDARD\nTZOFFSETTO:+0100\nEND:STANDARD\n\
             BEGIN:DAYLIGHT\nTZOFFSETTO:+0200\nEND:DAYLIGHT\nEND:VTIMEZONE\n",
        );
        let refs: Vec<&Component> = vtz.components.iter().collect();
        assert_eq!(resolve("Custom", &refs), Some(Tz::Europe__Berlin));
        assert_eq!(by_offsets(3 * 3600, None), "Etc/GMT-3".parse().ok());
    }
}
