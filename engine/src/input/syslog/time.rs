//! Timestamps as devices write them, read by hand from bytes.
//!
//! Shapes accepted (`f` = fraction of a second, 1 to 9 digits kept, more ignored; `Z` =
//! optional zone):
//! - BSD: `Mmm dd hh:mm:ss[.f] [yyyy] [Z]`, day space- or zero-padded, month names in any
//!   case; a year may also come first (`yyyy Mmm dd ...`) or before the time
//!   (`Mmm dd yyyy hh:mm:ss`, Cisco ASA); a leading `*` or `.` (Cisco IOS clock marks) is
//!   skipped; a `:` right after the timestamp (ASA, IOS) is read with it.
//! - ISO: `yyyy-mm-dd[T ]hh:mm:ss[.f][Z]` (RFC 3339 and its space-separated cousin), with
//!   `/` as the date separator (PAN-OS) or Sophos UTM's `yyyy:mm:dd-hh:mm:ss`.
//! - Zones: `Z`, `±hh:mm`, `±hhmm`, `±hh`, `UTC`, `GMT`, and a short list of abbreviations
//!   that mean one offset (`JST`, `CET`, `EST`, ...). The ambiguous ones (`CST`, `IST`,
//!   `BST`, `AST`) are read as a zone but resolved with the context's zone, as is any
//!   timestamp without a zone.
//! - Epochs (CEF `rt`): 13 or more digits are milliseconds, 10 digits are seconds.
//!
//! A timestamp without a year takes the context's year; when that year is the one the log
//! was last written (`context.latest`), a time more than a day after that moment is from
//! the year before (a December line in a log written until January). A local time that falls
//! in a daylight-saving gap or fold is resolved as jiff's `compatible` does (later offset
//! for a gap, earlier for a fold). A leap second (`:60`) reads as `:59`.

use super::SyslogContext;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::Offset;

/// A zone as a line states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// A fixed offset the line names.
    Stated(Offset),
    /// No zone, or an ambiguous abbreviation: the context's zone applies.
    Context,
}

/// The parts of a timestamp before they meet the context.
#[derive(Debug, Clone, Copy)]
struct Civil {
    year: Option<i16>,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    nanosecond: i32,
    zone: Zone,
}

impl Civil {
    /// The instant, or `None` when the parts name no real date (`Feb 30`).
    fn resolve(self, context: &SyslogContext) -> Option<Timestamp> {
        let Some(year) = self.year else {
            let time = self.resolve_in(context.year, context)?;
            return match context.latest {
                Some(latest) if time > latest + jiff::SignedDuration::from_hours(24) => {
                    self.resolve_in(context.year - 1, context)
                }
                _ => Some(time),
            };
        };
        self.resolve_in(year, context)
    }

    fn resolve_in(self, year: i16, context: &SyslogContext) -> Option<Timestamp> {
        let datetime = DateTime::new(
            year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second.min(59),
            self.nanosecond,
        )
        .ok()?;
        match self.zone {
            Zone::Stated(offset) => offset.to_timestamp(datetime).ok(),
            Zone::Context => context.zone.to_timestamp(datetime).ok(),
        }
    }
}

/// A timestamp at the start of a header: how many bytes it takes (with a `:` right after
/// it) and the instant, if the parts make one. `None` when the text does not start with a
/// timestamp followed by a space or the end.
pub(crate) fn leading(text: &str, context: &SyslogContext) -> Option<(usize, Option<Timestamp>)> {
    let bytes = text.as_bytes();
    let (civil, mut len) = bsd(bytes).or_else(|| iso(bytes))?;
    if bytes.get(len) == Some(&b':') {
        len += 1;
    }
    if len < bytes.len() && bytes[len] != b' ' {
        return None;
    }
    Some((len, civil.resolve(context)))
}

/// A whole value as a timestamp in any accepted shape (surrounding spaces allowed).
pub(crate) fn any(value: &str, context: &SyslogContext) -> Option<Timestamp> {
    let value = value.trim_matches(' ');
    let bytes = value.as_bytes();
    if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) {
        return epoch(value);
    }
    let (civil, len) = iso(bytes).or_else(|| bsd(bytes))?;
    (len == bytes.len()).then(|| civil.resolve(context))?
}

/// A date (`yyyy-mm-dd` or `yyyy/mm/dd`), a time (`hh:mm:ss[.f]`) and an optional zone
/// given apart, as FortiGate and Sophos do.
pub(crate) fn from_parts(
    date: &str,
    time: &str,
    zone: Option<&str>,
    context: &SyslogContext,
) -> Option<Timestamp> {
    let d = date.as_bytes();
    if d.len() != 10 {
        return None;
    }
    let (year, month, day) = ymd(d)?;
    let t = time.as_bytes();
    let (hour, minute, second, nanosecond, len) = clock(t, 0)?;
    if len != t.len() {
        return None;
    }
    let zone = zone.and_then(whole_zone).unwrap_or(Zone::Context);
    Civil {
        year: Some(year),
        month,
        day,
        hour,
        minute,
        second,
        nanosecond,
        zone,
    }
    .resolve(context)
}

fn epoch(digits: &str) -> Option<Timestamp> {
    let n: i64 = digits.parse().ok()?;
    match digits.len() {
        10 => Timestamp::from_second(n).ok(),
        13.. => Timestamp::from_millisecond(n).ok(),
        _ => None,
    }
}

/// BSD shapes, from the first byte; returns the parts and the bytes read.
fn bsd(b: &[u8]) -> Option<(Civil, usize)> {
    let mut i = usize::from(matches!(b.first(), Some(b'*' | b'.')));
    let mut year = None;
    if let Some(y) = digits(b, i, 4)
        && b.get(i + 4) == Some(&b' ')
        && month(b, i + 5).is_some()
    {
        year = Some(y as i16);
        i += 5;
    }
    let month = month(b, i)?;
    i = spaces(b, i + 3)?;
    let (day, n) = number(b, i, 2)?;
    i = spaces(b, i + n)?;
    if year.is_none()
        && let Some(y) = digits(b, i, 4)
        && b.get(i + 4) == Some(&b' ')
    {
        year = Some(y as i16);
        i = spaces(b, i + 4)?;
    }
    let (hour, minute, second, nanosecond, n) = clock(b, i)?;
    i += n;
    if year.is_none()
        && b.get(i) == Some(&b' ')
        && let Some(y) = digits(b, i + 1, 4)
        && is_boundary(b, i + 5)
    {
        year = Some(y as i16);
        i += 5;
    }
    let (zone, n) = zone_after(b, i).unwrap_or((Zone::Context, 0));
    Some((
        Civil {
            year,
            month,
            day: day as i8,
            hour,
            minute,
            second,
            nanosecond,
            zone,
        },
        i + n,
    ))
}

/// ISO-like shapes, from the first byte; returns the parts and the bytes read.
fn iso(b: &[u8]) -> Option<(Civil, usize)> {
    let (year, month, day) = ymd(b)?;
    let separator = *b.get(10)?;
    let date_separator = b[4];
    let ok = match separator {
        b'T' | b't' => true,
        b' ' => b.get(13) == Some(&b':'),
        b'-' => date_separator == b':',
        _ => false,
    };
    if !ok {
        return None;
    }
    let (hour, minute, second, nanosecond, n) = clock(b, 11)?;
    let i = 11 + n;
    let (zone, n) = zone_after(b, i).unwrap_or((Zone::Context, 0));
    Some((
        Civil {
            year: Some(year),
            month,
            day,
            hour,
            minute,
            second,
            nanosecond,
            zone,
        },
        i + n,
    ))
}

/// `yyyy-mm-dd`, `yyyy/mm/dd` or `yyyy:mm:dd` at the start.
fn ymd(b: &[u8]) -> Option<(i16, i8, i8)> {
    let year = digits(b, 0, 4)?;
    let separator = *b.get(4)?;
    if !matches!(separator, b'-' | b'/' | b':') || b.get(7) != Some(&separator) {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    Some((year as i16, month as i8, day as i8))
}

/// `h[h]:mm:ss[.f]` at `at`: hour, minute, second, nanosecond, bytes read.
fn clock(b: &[u8], at: usize) -> Option<(i8, i8, i8, i32, usize)> {
    let (hour, n) = number(b, at, 2)?;
    let mut i = at + n;
    if b.get(i) != Some(&b':') {
        return None;
    }
    let minute = digits(b, i + 1, 2)?;
    if b.get(i + 3) != Some(&b':') {
        return None;
    }
    let second = digits(b, i + 4, 2)?;
    i += 6;
    let mut nanosecond = 0;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut scale = 100_000_000;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanosecond += i32::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some((hour as i8, minute as i8, second as i8, nanosecond, i - at))
}

/// A zone right after a time, attached (`Z`, `+09:00`) or after one space (`UTC`,
/// `+0900`, `JST`), ending at a boundary; returns the zone and the bytes read.
fn zone_after(b: &[u8], at: usize) -> Option<(Zone, usize)> {
    match b.get(at)? {
        b'Z' | b'z' if is_boundary(b, at + 1) => Some((Zone::Stated(Offset::UTC), 1)),
        b'+' | b'-' => offset(b, at).map(|(o, n)| (Zone::Stated(o), n)),
        b' ' => {
            let start = at + 1;
            if matches!(b.get(start), Some(b'+' | b'-')) {
                let (o, n) = offset(b, start)?;
                return is_boundary(b, start + n).then_some((Zone::Stated(o), n + 1));
            }
            let end = b[start..]
                .iter()
                .position(|&c| c == b' ' || c == b':')
                .map_or(b.len(), |p| start + p);
            Some((named_zone(&b[start..end])?, end - at))
        }
        _ => None,
    }
}

/// A whole value as a zone (FortiGate `tz="+0900"`, Sophos `timezone="IST"`).
fn whole_zone(value: &str) -> Option<Zone> {
    let b = value.trim_matches(' ').as_bytes();
    match b.first()? {
        b'+' | b'-' => offset(b, 0)
            .filter(|(_, n)| *n == b.len())
            .map(|(o, _)| Zone::Stated(o)),
        _ => named_zone(b),
    }
}

/// `±hh[:mm]` or `±hhmm` at `at`.
fn offset(b: &[u8], at: usize) -> Option<(Offset, usize)> {
    let sign = match b.get(at)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits(b, at + 1, 2)? as i32;
    let (minutes, n) = if b.get(at + 3) == Some(&b':') {
        (digits(b, at + 4, 2)? as i32, 6)
    } else if let Some(m) = digits(b, at + 3, 2) {
        (m as i32, 5)
    } else {
        (0, 3)
    };
    if minutes > 59 {
        return None;
    }
    let offset = Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()?;
    Some((offset, n))
}

/// Zone abbreviations that name one offset; `None` marks the ones read as a zone but too
/// ambiguous to trust (`CST` is Chicago or Shanghai), which take the context's zone.
const NAMED_ZONES: &[(&str, Option<i32>)] = &[
    ("UTC", Some(0)),
    ("GMT", Some(0)),
    ("UT", Some(0)),
    ("Z", Some(0)),
    ("WET", Some(0)),
    ("WEST", Some(1)),
    ("CET", Some(1)),
    ("CEST", Some(2)),
    ("EET", Some(2)),
    ("EEST", Some(3)),
    ("MSK", Some(3)),
    ("HKT", Some(8)),
    ("SGT", Some(8)),
    ("AWST", Some(8)),
    ("JST", Some(9)),
    ("KST", Some(9)),
    ("AEST", Some(10)),
    ("AEDT", Some(11)),
    ("NZST", Some(12)),
    ("NZDT", Some(13)),
    ("HST", Some(-10)),
    ("AKST", Some(-9)),
    ("AKDT", Some(-8)),
    ("PST", Some(-8)),
    ("PDT", Some(-7)),
    ("MST", Some(-7)),
    ("MDT", Some(-6)),
    ("CDT", Some(-5)),
    ("EST", Some(-5)),
    ("EDT", Some(-4)),
    ("CST", None),
    ("IST", None),
    ("BST", None),
    ("AST", None),
];

fn named_zone(token: &[u8]) -> Option<Zone> {
    if token.is_empty() || token.len() > 4 || !token.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let (_, hours) = NAMED_ZONES
        .iter()
        .find(|(name, _)| name.as_bytes() == token)?;
    Some(match hours {
        Some(h) => Zone::Stated(Offset::from_seconds(h * 3600).ok()?),
        None => Zone::Context,
    })
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A three-letter English month name at `at`, any case: 1 to 12.
fn month(b: &[u8], at: usize) -> Option<i8> {
    let name = b.get(at..at + 3)?;
    let lower = [
        name[0].to_ascii_lowercase(),
        name[1].to_ascii_lowercase(),
        name[2].to_ascii_lowercase(),
    ];
    let index = MONTHS.iter().position(|m| **m == lower)?;
    Some(index as i8 + 1)
}

/// Exactly `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let run = b.get(at..at + n)?;
    run.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

/// One to `max` ASCII digits at `at`: the value and how many.
fn number(b: &[u8], at: usize, max: usize) -> Option<(u32, usize)> {
    let run = b.get(at..)?;
    let n = run
        .iter()
        .take(max)
        .take_while(|d| d.is_ascii_digit())
        .count();
    if n == 0 || run.get(n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((digits(b, at, n)?, n))
}

/// Past one or more spaces at `at`; `None` if there is none.
fn spaces(b: &[u8], at: usize) -> Option<usize> {
    let n = b.get(at..)?.iter().take_while(|&&c| c == b' ').count();
    (n > 0).then_some(at + n)
}

fn is_boundary(b: &[u8], at: usize) -> bool {
    matches!(b.get(at), None | Some(b' ' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn context() -> SyslogContext {
        SyslogContext {
            year: 2023,
            zone: TimeZone::fixed(Offset::constant(1)),
            latest: None,
        }
    }

    #[test]
    fn a_log_written_until_january_has_its_december_in_the_year_before() {
        let written = SyslogContext {
            year: 2024,
            zone: TimeZone::UTC,
            latest: Some("2024-01-01T00:05:00Z".parse().unwrap()),
        };
        let at = |text: &str| {
            leading(text, &written)
                .and_then(|(_, t)| t)
                .map(|t| t.to_string())
        };
        assert_eq!(
            at("Dec 31 23:59:58 h").as_deref(),
            Some("2023-12-31T23:59:58Z")
        );
        assert_eq!(
            at("Jan  1 00:04:00 h").as_deref(),
            Some("2024-01-01T00:04:00Z")
        );
        // Up to a day after the file's time is still this year (clocks disagree).
        assert_eq!(
            at("Jan  1 23:00:00 h").as_deref(),
            Some("2024-01-01T23:00:00Z")
        );
        // A stated year is never moved.
        assert_eq!(
            at("Dec 31 2024 23:59:58 h").as_deref(),
            Some("2024-12-31T23:59:58Z")
        );
    }

    fn at(text: &str) -> Option<(usize, String)> {
        leading(text, &context()).map(|(n, t)| (n, t.map(|t| t.to_string()).unwrap_or_default()))
    }

    #[test]
    fn bsd_with_context_year_and_zone() {
        assert_eq!(
            at("Jan  2 03:04:05 host"),
            Some((15, "2023-01-02T02:04:05Z".into()))
        );
        assert_eq!(
            at("Jan 02 03:04:05"),
            Some((15, "2023-01-02T02:04:05Z".into()))
        );
        assert_eq!(
            at("JAN 2 03:04:05 x"),
            Some((14, "2023-01-02T02:04:05Z".into()))
        );
    }

    #[test]
    fn bsd_years_before_and_after() {
        let expected = "2024-01-02T02:04:05Z".to_string();
        assert_eq!(
            at("Jan  2 03:04:05 2024 router"),
            Some((20, expected.clone()))
        );
        assert_eq!(
            at("2024 Jan  2 03:04:05 router"),
            Some((20, expected.clone()))
        );
        assert_eq!(at("Jan 02 2024 03:04:05: %ASA"), Some((21, expected)));
    }

    #[test]
    fn bsd_fractions_and_zones() {
        assert_eq!(
            at("Jan  2 03:04:05.123456 UTC host"),
            Some((26, "2023-01-02T03:04:05.123456Z".into()))
        );
        assert_eq!(
            at("*Mar  1 18:46:11.5 JST: %SYS"),
            Some((23, "2023-03-01T09:46:11.5Z".into()))
        );
        assert_eq!(
            at("Jan  2 03:04:05 +09:00 h"),
            Some((22, "2023-01-01T18:04:05Z".into()))
        );
        assert_eq!(
            at("Jan  2 03:04:05 -0500 h"),
            Some((21, "2023-01-02T08:04:05Z".into()))
        );
        // Ambiguous: read, but the context's zone applies.
        assert_eq!(
            at("Jan  2 03:04:05 CST h"),
            Some((19, "2023-01-02T02:04:05Z".into()))
        );
        // Not a zone: the host.
        assert_eq!(
            at("Jan  2 03:04:05 gw1 k"),
            Some((15, "2023-01-02T02:04:05Z".into()))
        );
    }

    #[test]
    fn iso_shapes() {
        assert_eq!(
            at("2024-01-02T12:00:00+00:00 h"),
            Some((25, "2024-01-02T12:00:00Z".into()))
        );
        assert_eq!(
            at("2024-01-02T12:00:00.5Z h"),
            Some((22, "2024-01-02T12:00:00.5Z".into()))
        );
        assert_eq!(
            at("2024-01-02 12:00:00 h"),
            Some((19, "2024-01-02T11:00:00Z".into()))
        );
        assert_eq!(
            at("2024:01:02-12:00:00 utm"),
            Some((19, "2024-01-02T11:00:00Z".into()))
        );
        assert_eq!(
            at("2024/01/02T12:00:00Z"),
            Some((20, "2024-01-02T12:00:00Z".into()))
        );
    }

    #[test]
    fn not_timestamps() {
        for text in [
            "Jan  2 03:04",
            "Foo  2 03:04:05 x",
            "Jan 2 25:00:00 x",
            "2024-01-02T12:00:00x",
            "Jan 123 03:04:05 x",
            "",
            "2024-01-02",
            "date=2024-01-02 time=x",
        ] {
            assert_eq!(at(text), None, "{text}");
        }
    }

    #[test]
    fn impossible_dates_are_read_but_have_no_instant() {
        assert_eq!(at("Feb 30 03:04:05 h"), Some((15, String::new())));
    }

    #[test]
    fn whole_values() {
        let c = context();
        let show = |t: Option<Timestamp>| t.map(|t| t.to_string());
        assert_eq!(
            show(any("1704196800000", &c)),
            Some("2024-01-02T12:00:00Z".into())
        );
        assert_eq!(
            show(any("1704196800", &c)),
            Some("2024-01-02T12:00:00Z".into())
        );
        assert_eq!(
            show(any("Jan 02 2024 12:00:00", &c)),
            Some("2024-01-02T11:00:00Z".into())
        );
        assert_eq!(
            show(any("2024-01-02 12:00:00 UTC", &c)),
            Some("2024-01-02T12:00:00Z".into())
        );
        assert_eq!(
            show(any("2021-06-23T10:44:41+0530", &c)),
            Some("2021-06-23T05:14:41Z".into())
        );
        assert_eq!(any("12345", &c), None);
        assert_eq!(any("2024-01-02 12:00:00 trailing", &c), None);
        assert_eq!(
            show(from_parts("2024-01-02", "12:00:00", Some("+0900"), &c)),
            Some("2024-01-02T03:00:00Z".into())
        );
        assert_eq!(
            show(from_parts("2024/01/02", "12:00:00", Some("nowhere"), &c)),
            Some("2024-01-02T11:00:00Z".into())
        );
        assert_eq!(from_parts("2024-01-02", "12:00", None, &c), None);
    }
}
