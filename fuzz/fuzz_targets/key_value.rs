//! Any text as key=value pairs: `parse_key_values` must not panic, must report only named
//! fields, and every value must be a piece of the input or shorter than it (decoding only
//! removes backslashes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tansa_engine::input::syslog::parse_key_values;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    parse_key_values(&text, &mut |name, value| {
        assert!(!name.is_empty());
        assert!(text.contains(name), "name {name:?} is not in the input");
        assert!(value == "true" || value.len() <= text.len());
    });
});
