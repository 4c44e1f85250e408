//! Inputs: turning bytes into `Event`s. Each format knows only itself; `discover` finds
//! the files and tells formats apart for all of them.

pub mod discover;
pub mod evtx;
pub mod evtx_xml;
