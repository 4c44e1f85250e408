//! Helpers for tests: compile rules from YAML text and evaluate them on hand-made events.

#![allow(dead_code)]

use std::path::Path;
use tansa_engine::compile::{Options, Program, compile};
use tansa_engine::eval::Scratch;
use tansa_engine::event::{Event, Origin};
use tansa_engine::rule::load_str;

/// Compiles the rules in `yaml` (one or more documents); panics on any rule error.
pub fn program(yaml: &str) -> Program {
    program_with(yaml, &Options::default())
}

pub fn program_with(yaml: &str, options: &Options) -> Program {
    let (program, errors) = try_program_with(yaml, options);
    assert!(errors.is_empty(), "rule errors: {errors:#?}");
    program
}

/// Compiles and returns the error messages instead of panicking.
pub fn try_program_with(yaml: &str, options: &Options) -> (Program, Vec<String>) {
    let loaded = load_str(Path::new("test.yml"), yaml);
    let (program, compile_errors) = compile(loaded.rules, loaded.correlations, options);
    let errors = loaded
        .errors
        .iter()
        .chain(&compile_errors)
        .map(|e| e.to_string())
        .collect();
    (program, errors)
}

/// An event with `System` fields `header` and payload fields `payload`.
pub fn event(program: &Program, header: &[(&str, &str)], payload: &[(&str, &str)]) -> Event {
    let mut event = Event::new();
    event.clear();
    for (name, value) in header {
        event.push(name, value, program.fields().get(name), Origin::Header);
    }
    for (name, value) in payload {
        event.push(name, value, program.fields().get(name), Origin::Payload);
    }
    event
}

/// The ids of the rules that match `event`, sorted.
pub fn matching(program: &Program, event: &Event) -> Vec<String> {
    let mut scratch = Scratch::new();
    let mut matches = Vec::new();
    program.evaluate(event, program.candidates(event), &mut scratch, &mut matches);
    let mut ids: Vec<String> = matches
        .iter()
        .map(|&i| program.rule(i).info.meta.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A Security-channel rule with id `t` around the given detection (indented 2 spaces).
pub fn security_rule(detection: &str) -> String {
    format!(
        "title: t\nid: t\nlogsource:\n  product: windows\n  service: security\ndetection:\n{detection}"
    )
}

/// Whether the single rule `t` of `program` matches a Security event with `payload`.
pub fn hits(program: &Program, payload: &[(&str, &str)]) -> bool {
    let event = event(
        program,
        &[("Channel", "Security"), ("EventID", "4624")],
        payload,
    );
    !matching(program, &event).is_empty()
}
