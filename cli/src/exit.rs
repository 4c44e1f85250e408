//! Exit codes, for schedulers and pipelines. When several apply, the first listed here
//! that applies wins: a usage error, then rule errors, then unreadable input, then alerts.

/// Done; no condition below applies.
pub const OK: u8 = 0;
/// Alerts were written and `--fail-on-alert` was given.
pub const ALERTS: u8 = 1;
/// Bad arguments or settings: nothing was hunted.
pub const USAGE: u8 = 2;
/// A rule failed to load or compile under `--strict`, or no rule could be used at all.
pub const RULES: u8 = 3;
/// Some input could not be read (a file, a chunk or a record): the run is partial.
pub const PARTIAL: u8 = 4;
