//! tansa's detection engine: Sigma rules over Windows event logs.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! input (discover, evtx, evtx_xml) -> event -> compile (rules -> Program) -> eval (matches)
//!     -> correlate (matches in time order -> firings) -> alert (JSONL records)
//! hunt runs the stages over many files in parallel
//! ```
//!
//! `field` and `keyword_filter` carry what compiled rules need of a record back to the
//! inputs, so that a record is read only as far as its rules look.
//!
//! The engine decides what matches and what an alert says; it does no printing and has no
//! opinion on where output goes. The `tansa` binary owns arguments, files and exit codes.

pub mod alert;
pub mod compile;
pub mod correlate;
mod decimal;
pub mod enrich;
pub mod eval;
pub mod event;
pub mod field;
pub mod hash;
pub mod hunt;
pub mod input;
pub mod keyword_filter;
pub mod logsource;
pub mod order;
pub mod rule;
pub mod site;
pub mod yaml;
