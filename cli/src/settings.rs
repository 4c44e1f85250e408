//! Options shared by the commands that compile rules: mapping, placeholders, the site
//! settings and the time zone.

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::tz::TimeZone;
use std::path::PathBuf;
use tansa_engine::compile::{Options, Placeholders};
use tansa_engine::logsource::Mapping;
use tansa_engine::site::Site;

#[derive(Args, Debug, Clone)]
pub struct CompileArgs {
    /// Logsource-to-channel mapping file, applied over the built-in mapping.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Values for `%placeholders%` of the `expand` modifier (YAML: name -> values).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Site settings (YAML): time zone, calendars (business hours, holidays) and
    /// correlation thresholds and windows. See README, "Site settings".
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// The site's time zone (IANA name, e.g. Asia/Tokyo) for the time-part and calendar
    /// modifiers and for --since/--until given without a zone [default: the site file's,
    /// else UTC].
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
}

impl CompileArgs {
    pub fn options(&self) -> Result<Options> {
        let mut mapping = Mapping::builtin();
        if let Some(path) = &self.mapping {
            mapping
                .merge_file(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        let placeholders = match &self.placeholders {
            Some(path) => Placeholders::load(path).map_err(anyhow::Error::msg)?,
            None => Placeholders::default(),
        };
        let site = match &self.site {
            Some(path) => Site::load(path).map_err(anyhow::Error::msg)?,
            None => Site::default(),
        };
        let zone_name = self
            .timezone
            .as_deref()
            .or(site.timezone.as_deref())
            .unwrap_or("UTC");
        Ok(Options {
            mapping,
            placeholders,
            timezone: zone(zone_name)?,
            site,
        })
    }
}

/// A zone by IANA name (`Asia/Tokyo`), `UTC`, or a fixed offset (`+09:00`, `-0530`, `+09`):
/// devices are often set to an offset rather than a place.
fn zone(name: &str) -> Result<TimeZone> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    if let Some(offset) = fixed_offset(name) {
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(name).with_context(|| {
        format!("unknown time zone `{name}` (use an IANA name like Asia/Tokyo, or an offset like +09:00)")
    })
}

/// `±hh`, `±hhmm` or `±hh:mm`, at most 25 hours.
fn fixed_offset(text: &str) -> Option<jiff::tz::Offset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    let colon_at_two = rest.find(':').is_none_or(|at| at == 2 && rest.len() == 5);
    if !colon_at_two
        || !matches!(digits.len(), 2 | 4)
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = match &digits[2..] {
        "" => 0,
        minutes => minutes.parse().ok()?,
    };
    if minutes >= 60 {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// A time bound: RFC 3339 with a zone, or a date / date and time in `zone`.
pub fn parse_bound(text: &str, zone: &TimeZone) -> Result<jiff::Timestamp> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return Ok(dt.to_zoned(zone.clone())?.timestamp());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return Ok(date.to_zoned(zone.clone())?.timestamp());
    }
    bail!("`{text}` is not a time (use 2024-05-01, 2024-05-01T09:00 or 2024-05-01T09:00:00Z)")
}

/// How inputs without a year or zone are read (shared by `hunt` and `events`).
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// The year of syslog timestamps that have none [default: the year the file (or zip
    /// member) was last modified, or, on stdin, this year; a time more than a day after the
    /// file was last written is from the year before].
    #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i16).range(1970..=9999))]
    pub year: Option<i16>,
    /// The time zone of syslog timestamps that have none (IANA name or offset such as
    /// +09:00) [default: the site's zone, see --timezone].
    #[arg(long = "syslog-tz", value_name = "ZONE")]
    pub syslog_tz: Option<String>,
}

impl ReadArgs {
    pub fn options(
        &self,
        site_zone: &TimeZone,
    ) -> Result<tansa_engine::input::records::ReadOptions> {
        Ok(tansa_engine::input::records::ReadOptions {
            year: self.year,
            now: Some(jiff::Timestamp::now()),
            syslog_zone: match &self.syslog_tz {
                Some(name) => zone(name)?,
                None => site_zone.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_names_or_fixed_offsets() {
        let at = |zone: &TimeZone| zone.to_offset(jiff::Timestamp::UNIX_EPOCH).seconds();
        assert_eq!(at(&zone("+09:00").unwrap()), 9 * 3600);
        assert_eq!(at(&zone("-0530").unwrap()), -(5 * 3600 + 30 * 60));
        assert_eq!(at(&zone("+09").unwrap()), 9 * 3600);
        assert_eq!(at(&zone("utc").unwrap()), 0);
        assert_eq!(at(&zone("Asia/Tokyo").unwrap()), 9 * 3600);
        for bad in [
            "+9",
            "+0960",
            "+09:0",
            "+0:900",
            "Mars/Olympus",
            "+09:00:00",
        ] {
            assert!(zone(bad).is_err(), "{bad}");
        }
    }
}
