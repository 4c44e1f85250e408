//! Inputs: turning bytes into `Event`s. Each format knows only itself (`evtx`, `syslog`,
//! `json`); `discover` finds the files and tells formats apart, `source` opens plain,
//! gzip and zip inputs, `lines` cuts text into blocks, and `records` reads any of them.

pub mod discover;
pub mod evtx;
pub mod evtx_binxml;
pub mod evtx_xml;
pub mod json;
pub mod lines;
pub mod records;
pub mod source;
pub mod syslog;
