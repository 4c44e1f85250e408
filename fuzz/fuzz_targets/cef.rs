//! Any text as a CEF message, as given and behind a `CEF:0|` header: `parse_cef` must not
//! panic nor report a field without a name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tansa_engine::input::syslog::{SyslogContext, parse_cef};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let context = SyslogContext {
        year: 2024,
        zone: jiff::tz::TimeZone::UTC,
        latest: None,
    };
    let mut check = |name: &str, _: &str| assert!(!name.is_empty());
    parse_cef(&text, &context, &mut check);
    parse_cef(&format!("CEF:0|{text}"), &context, &mut check);
});
