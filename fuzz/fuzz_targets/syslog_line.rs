//! Any bytes as one syslog line: `parse_line` must not panic, must report `message`, and
//! must never report a field without a name; `looks_like_syslog` must not panic either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tansa_engine::input::syslog::{SyslogContext, looks_like_syslog, parse_line};

fuzz_target!(|data: &[u8]| {
    let context = SyslogContext {
        year: 2024,
        zone: jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(9)),
        latest: None,
    };
    let mut messages = 0;
    parse_line(data, &context, &mut |name, value| {
        assert!(!name.is_empty(), "a field without a name, value {value:?}");
        if name == "message" {
            messages += 1;
        }
    });
    assert!(messages >= 1, "no message");
    looks_like_syslog(data);
});
