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

fn zone(name: &str) -> Result<TimeZone> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name)
        .with_context(|| format!("unknown time zone `{name}` (use an IANA name like Asia/Tokyo)"))
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
