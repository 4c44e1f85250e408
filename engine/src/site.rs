//! The site: what differs from one organisation to the next and is no rule's business.
//!
//! One YAML file (`--site FILE`) gives the site's time zone, named calendars for the
//! `calendar` modifier (working days, hours and holidays), and correlation thresholds and
//! windows by rule id or name, so a team tunes the rule pack without editing it:
//!
//! ```yaml
//! timezone: Asia/Tokyo
//! calendars:
//!   business_hours:                     # the calendar the pack's off-hours rules use
//!     days: [mon, tue, wed, thu, fri]
//!     hours: ["08:30-12:00", "13:00-18:00"]
//!     holidays: [2026-01-01, 2026-01-02]
//! correlations:
//!   brute_force_wrong_password:          # a correlation's id or name
//!     timespan: 10m
//!     condition: {gte: 20}
//! ```
//!
//! Without a file, `business_hours` is Monday to Friday, 08:00 to 18:00, with no holidays.
//! Every mistake is reported with the file's line and column; unknown keys are refused, so
//! a misspelt setting is not silently ignored.

use crate::rule::RuleError;
use crate::rule::correlation::{CompareOp, CorrelationRule, Threshold, Timespan};
use crate::yaml::{self, Node, Pos};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Working days, hours and holidays, in the site's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Monday first.
    days: [bool; 7],
    /// Minutes after midnight, `[start, end)`.
    hours: Vec<(u32, u32)>,
    holidays: BTreeSet<Date>,
}

impl Calendar {
    /// Monday to Friday, 08:00 to 18:00.
    pub fn office_hours() -> Calendar {
        Calendar {
            days: [true, true, true, true, true, false, false],
            hours: vec![(8 * 60, 18 * 60)],
            holidays: BTreeSet::new(),
        }
    }

    /// Whether `time`, in `zone`, falls on a working day (not a holiday) within the hours.
    pub fn contains(&self, time: Timestamp, zone: &TimeZone) -> bool {
        let local = time.to_zoned(zone.clone());
        let day = local.weekday().to_monday_zero_offset() as usize;
        if !self.days[day] || self.holidays.contains(&local.date()) {
            return false;
        }
        let minute = u32::from(local.hour() as u8) * 60 + u32::from(local.minute() as u8);
        self.hours
            .iter()
            .any(|&(start, end)| minute >= start && minute < end)
    }
}

/// The site's named calendars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendars(BTreeMap<String, Arc<Calendar>>);

impl Default for Calendars {
    fn default() -> Self {
        let mut calendars = BTreeMap::new();
        calendars.insert(
            "business_hours".to_string(),
            Arc::new(Calendar::office_hours()),
        );
        Calendars(calendars)
    }
}

impl Calendars {
    pub fn get(&self, name: &str) -> Option<&Arc<Calendar>> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// New settings for one correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// The correlation's id or name.
    pub rule: String,
    pub timespan: Option<Timespan>,
    pub condition: Option<Threshold>,
    pub pos: Pos,
}

/// A site settings file, read.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// The file it came from (for errors about its contents).
    pub path: Option<PathBuf>,
    /// The IANA name of the site's time zone, if the file gives one.
    pub timezone: Option<String>,
    pub calendars: Calendars,
    pub tuning: Vec<Tuning>,
}

impl Site {
    pub fn load(path: &Path) -> Result<Site, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut site = Site::parse(&text)
            .map_err(|(pos, message)| format!("{}:{pos}: {message}", path.display()))?;
        site.path = Some(path.to_path_buf());
        Ok(site)
    }

    pub fn parse(text: &str) -> Result<Site, (Pos, String)> {
        let mut site = Site::default();
        let documents = yaml::parse_documents(text).map_err(|e| (e.pos, e.message))?;
        let Some(doc) = documents.first() else {
            return Ok(site);
        };
        let entries = mapping(doc, "the site file")?;
        for (key, value) in entries {
            match key.text.as_str() {
                "timezone" => {
                    let name = text_of(value, "timezone")?;
                    TimeZone::get(name).map_err(|_| {
                        (
                            value.pos,
                            format!(
                                "unknown time zone `{name}` (use an IANA name like Asia/Tokyo)"
                            ),
                        )
                    })?;
                    site.timezone = Some(name.to_string());
                }
                "calendars" => {
                    for (name, node) in mapping(value, "calendars")? {
                        let calendar = parse_calendar(node, &name.text)?;
                        site.calendars
                            .0
                            .insert(name.text.clone(), Arc::new(calendar));
                    }
                }
                "correlations" => {
                    for (rule, node) in mapping(value, "correlations")? {
                        site.tuning.push(parse_tuning(node, &rule.text, rule.pos)?);
                    }
                }
                other => {
                    return Err((
                        key.pos,
                        format!("unknown setting `{other}` (timezone, calendars or correlations)"),
                    ));
                }
            }
        }
        Ok(site)
    }

    /// Applies the correlation settings. A setting for a correlation that is not loaded is
    /// an error: it would otherwise tune nothing without a word.
    pub fn tune(&self, correlations: &mut [CorrelationRule]) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for tuning in &self.tuning {
            let found = correlations.iter_mut().find(|c| {
                c.meta.id == tuning.rule || c.meta.name.as_deref() == Some(tuning.rule.as_str())
            });
            let Some(correlation) = found else {
                errors.push(RuleError {
                    path: self.path.clone().unwrap_or_default(),
                    pos: tuning.pos,
                    rule_id: Some(tuning.rule.clone()),
                    title: None,
                    message: format!(
                        "settings for correlation `{}`, which is not loaded",
                        tuning.rule
                    ),
                });
                continue;
            };
            if let Some(timespan) = &tuning.timespan {
                correlation.timespan = timespan.clone();
            }
            if let Some(condition) = tuning.condition {
                correlation.condition = condition;
            }
        }
        errors
    }
}

fn mapping<'a>(node: &'a Node, what: &str) -> Result<&'a [(yaml::Key, Node)], (Pos, String)> {
    node.as_map().ok_or_else(|| {
        (
            node.pos,
            format!("{what} must be a mapping, not {}", node.kind()),
        )
    })
}

fn text_of<'a>(node: &'a Node, what: &str) -> Result<&'a str, (Pos, String)> {
    node.as_str().ok_or_else(|| {
        (
            node.pos,
            format!("`{what}` must be text, not {}", node.kind()),
        )
    })
}

fn list_of<'a>(node: &'a Node, what: &str) -> Result<Vec<(&'a str, Pos)>, (Pos, String)> {
    match &node.value {
        yaml::Value::Seq(items) => items
            .iter()
            .map(|item| text_of(item, what).map(|t| (t, item.pos)))
            .collect(),
        yaml::Value::Null => Ok(Vec::new()),
        _ => Ok(vec![(text_of(node, what)?, node.pos)]),
    }
}

fn parse_calendar(node: &Node, name: &str) -> Result<Calendar, (Pos, String)> {
    let mut calendar = Calendar::office_hours();
    for (key, value) in mapping(node, &format!("calendar `{name}`"))? {
        match key.text.as_str() {
            "days" => {
                calendar.days = [false; 7];
                for (day, pos) in list_of(value, "days")? {
                    let weekday = parse_weekday(day).ok_or_else(|| {
                        (
                            pos,
                            format!("`{day}` is not a day (mon, tue, wed, thu, fri, sat, sun)"),
                        )
                    })?;
                    calendar.days[weekday.to_monday_zero_offset() as usize] = true;
                }
            }
            "hours" => {
                calendar.hours.clear();
                for (range, pos) in list_of(value, "hours")? {
                    let (start, end) = parse_range(range).ok_or_else(|| {
                        (
                            pos,
                            format!("`{range}` is not a time range like 08:30-18:00"),
                        )
                    })?;
                    if start < end {
                        calendar.hours.push((start, end));
                    } else {
                        // Overnight, e.g. a night shift 22:00-06:00.
                        calendar.hours.push((start, 24 * 60));
                        calendar.hours.push((0, end));
                    }
                }
            }
            "holidays" => {
                for (date, pos) in list_of(value, "holidays")? {
                    let date: Date = date
                        .parse()
                        .map_err(|_| (pos, format!("`{date}` is not a date like 2026-01-01")))?;
                    calendar.holidays.insert(date);
                }
            }
            other => {
                return Err((
                    key.pos,
                    format!("unknown calendar setting `{other}` (days, hours or holidays)"),
                ));
            }
        }
    }
    Ok(calendar)
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.to_ascii_lowercase();
    let days = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    days.iter()
        .find(|(short, day)| lower == *short || lower == format!("{:?}", day).to_ascii_lowercase())
        .map(|(_, day)| *day)
}

/// `08:30-18:00` as minutes after midnight; `24:00` ends a day.
fn parse_range(text: &str) -> Option<(u32, u32)> {
    let (start, end) = text.split_once('-')?;
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (minutes(start)?, minutes(end)?);
    (start != end && start < 24 * 60).then_some((start, end))
}

fn parse_tuning(node: &Node, rule: &str, pos: Pos) -> Result<Tuning, (Pos, String)> {
    let mut tuning = Tuning {
        rule: rule.to_string(),
        timespan: None,
        condition: None,
        pos,
    };
    for (key, value) in mapping(node, &format!("settings of `{rule}`"))? {
        match key.text.as_str() {
            "timespan" => {
                tuning.timespan =
                    Some(Timespan::parse(text_of(value, "timespan")?).map_err(|e| (value.pos, e))?);
            }
            "condition" => {
                let entries = mapping(value, "condition")?;
                let [(op, number)] = entries else {
                    return Err((
                        value.pos,
                        "a condition has exactly one comparison, like `gte: 10`".into(),
                    ));
                };
                let op_value = CompareOp::parse(&op.text).ok_or_else(|| {
                    (
                        op.pos,
                        format!(
                            "unknown comparison `{}` (gt, gte, lt, lte, eq, neq)",
                            op.text
                        ),
                    )
                })?;
                let text = text_of(number, &op.text)?;
                let threshold: f64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| (number.pos, format!("`{text}` is not a number")))?;
                tuning.condition = Some(Threshold {
                    op: op_value,
                    value: threshold,
                });
            }
            other => {
                return Err((
                    key.pos,
                    format!("unknown correlation setting `{other}` (timespan or condition)"),
                ));
            }
        }
    }
    Ok(tuning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn calendars_follow_days_hours_holidays_and_the_zone() {
        let site = Site::parse(
            "timezone: Asia/Tokyo
calendars:
  business_hours:
    days: [mon, tue, wed, thu, fri]
    hours: ['08:30-12:00', '13:00-18:00']
    holidays: [2026-01-02]
  night_shift:
    days: [sat, sunday]
    hours: '22:00-06:00'
",
        )
        .unwrap();
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        let business = site.calendars.get("business_hours").unwrap();
        // Thursday 2026-01-08 09:00 in Tokyo is 00:00 UTC.
        assert!(business.contains(at("2026-01-08T00:00:00Z"), &tokyo));
        // 08:29 and the lunch hour are outside; 17:59 is inside; 18:00 is not.
        assert!(!business.contains(at("2026-01-07T23:29:00Z"), &tokyo));
        assert!(!business.contains(at("2026-01-08T03:30:00Z"), &tokyo));
        assert!(business.contains(at("2026-01-08T08:59:00Z"), &tokyo));
        assert!(!business.contains(at("2026-01-08T09:00:00Z"), &tokyo));
        // A holiday (Friday) and a Saturday.
        assert!(!business.contains(at("2026-01-02T01:00:00Z"), &tokyo));
        assert!(!business.contains(at("2026-01-10T01:00:00Z"), &tokyo));
        let night = site.calendars.get("night_shift").unwrap();
        assert!(
            night.contains(at("2026-01-10T14:00:00Z"), &tokyo),
            "Sat 23:00"
        );
        assert!(
            night.contains(at("2026-01-10T20:00:00Z"), &tokyo),
            "Sun 05:00"
        );
        assert!(
            !night.contains(at("2026-01-10T22:00:00Z"), &tokyo),
            "Sun 07:00"
        );
        assert_eq!(site.timezone.as_deref(), Some("Asia/Tokyo"));
    }

    #[test]
    fn the_default_calendar_is_office_hours() {
        let calendars = Calendars::default();
        let business = calendars.get("business_hours").unwrap();
        // Wednesday 2026-01-07.
        assert!(business.contains(at("2026-01-07T08:00:00Z"), &TimeZone::UTC));
        assert!(!business.contains(at("2026-01-07T07:59:59Z"), &TimeZone::UTC));
        assert!(!business.contains(at("2026-01-07T18:00:00Z"), &TimeZone::UTC));
    }

    #[test]
    fn mistakes_point_at_their_line() {
        let e = Site::parse("calendars:\n  b:\n    days: [mon, funday]\n").unwrap_err();
        assert_eq!(
            e.0,
            Pos {
                line: 3,
                column: 17
            }
        );
        assert!(e.1.contains("funday"), "{e:?}");
        let e = Site::parse("calendars:\n  b:\n    hours: 8-18\n").unwrap_err();
        assert!(e.1.contains("time range"), "{e:?}");
        let e = Site::parse("timezone: Mars/Olympus\n").unwrap_err();
        assert!(e.1.contains("unknown time zone"), "{e:?}");
        let e = Site::parse("correlation:\n  x: {}\n").unwrap_err();
        assert!(e.1.contains("unknown setting `correlation`"), "{e:?}");
        let e = Site::parse("correlations:\n  x:\n    condition: {gte: 10, lt: 2}\n").unwrap_err();
        assert!(e.1.contains("exactly one"), "{e:?}");
    }

    #[test]
    fn tuning_changes_the_named_correlation_and_refuses_unknown_ones() {
        let site = Site::parse(
            "correlations:\n  bf:\n    timespan: 10m\n    condition: {gte: 20}\n  nothing:\n    timespan: 1h\n",
        )
        .unwrap();
        let loaded = crate::rule::load_str(
            Path::new("c.yml"),
            "title: t\nname: bf\ncorrelation:\n  type: event_count\n  rules: [r]\n  timespan: 5m\n  condition: {gte: 5}\n",
        );
        let mut correlations = loaded.correlations;
        let errors = site.tune(&mut correlations);
        assert_eq!(correlations[0].timespan.seconds, 600);
        assert_eq!(correlations[0].condition.value, 20.0);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("`nothing`"), "{errors:?}");
        assert_eq!(errors[0].pos.line, 5);
    }
}
