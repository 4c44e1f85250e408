//! Correlation: Sigma correlation rules over a time-ordered stream of matches.
//!
//! This is its own stage. Workers evaluate detection rules and, for rules a correlation
//! names, turn each match into a `Match`: the event's identity and the few field values the
//! correlations need. The hunt orders every match by event time (then source file, record
//! and rule, so ties are broken the same way on every run) and feeds them to a
//! `Correlator`, which keeps per-group windows and says when a correlation fires. Because
//! the stage sees only `Match`es in order, matches saved by several runs (one per machine)
//! and merged by time give the same alerts as one run over all the logs.
//!
//! Semantics (README, "Correlation"):
//! - A window is the group's matches in `[t - timespan, t]` for the match at `t`: windows
//!   slide, so a burst that straddles a clock boundary is still seen.
//! - Lower-bound conditions (`gt`, `gte`) are checked as each match arrives. When one
//!   first holds the correlation fires; matches that keep it holding join the same alert,
//!   which is written when the condition stops holding or the group goes quiet for a
//!   timespan. Its matches are then spent: the next alert needs new ones.
//! - Other conditions (`lt`, `lte`, `eq`, `neq`) are judged on whole windows, which open at
//!   a group's first match and close a timespan later (or when the input ends).
//! - The same event read twice (two copies of one log) counts once.
//! - Group and counted values that are IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`) are
//!   taken in their IPv4 form, as Windows writes one client both ways.
//! - State is bounded: a group is dropped once its window is empty, and the number of live
//!   groups is capped; matches refused at the cap are counted, never silently lost.

pub mod plan;
mod run;
mod window;

pub use plan::{CorrelationInfo, Plan};
pub use run::{Correlator, Fired, Stats};
pub(crate) mod wire;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Alerts keep at most this many contributing events (and distinct values); the true
/// totals are always given.
pub const EVIDENCE_CAP: usize = 100;

/// Live groups at once, over all correlations, unless a hunt says otherwise.
pub const DEFAULT_MAX_GROUPS: usize = 1_000_000;

/// A place in a correlation's `rules` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    pub node: u32,
    pub slot: u32,
}

/// A detection rule's match, as the correlation stage receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// Event time, nanoseconds since the Unix epoch.
    pub time: i64,
    /// The rule's id.
    pub rule: String,
    pub host: Option<String>,
    pub channel: Option<String>,
    pub record_id: u64,
    /// The input file and its format.
    pub file: String,
    pub format: String,
    /// The values correlations group and count by, by the name they use.
    pub fields: Vec<(String, Option<String>)>,
}

impl Match {
    pub fn as_ref(&self) -> MatchRef<'_> {
        MatchRef {
            time: self.time,
            rule: &self.rule,
            host: self.host.as_deref(),
            channel: self.channel.as_deref(),
            record_id: self.record_id,
            file: &self.file,
            format: &self.format,
            fields: self
                .fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_deref()))
                .collect(),
        }
    }
}

/// A match borrowed from wherever it is stored (see `Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRef<'a> {
    pub time: i64,
    pub rule: &'a str,
    pub host: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub record_id: u64,
    pub file: &'a str,
    pub format: &'a str,
    pub fields: Vec<(&'a str, Option<&'a str>)>,
}

/// One event (or one firing of an inner correlation) that contributed to a correlation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// The rule (detection or correlation) that matched.
    pub rule: Arc<str>,
    pub host: Option<Arc<str>>,
    pub channel: Option<Arc<str>>,
    pub record_id: u64,
    pub file: Arc<str>,
    pub format: Arc<str>,
    /// For an inner correlation's firing: that alert's id.
    pub alert: Option<Arc<str>>,
    /// For an inner correlation's firing: the events that made it fire (its evidence when
    /// it fired), so that an alert built on it shows them too.
    pub parts: Arc<[Arc<Evidence>]>,
    /// The output order of the event (see `order`).
    pub key: crate::order::SortKey,
}
