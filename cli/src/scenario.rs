//! `tansa scenario build`: a readable YAML scenario to a real EVTX file (and its syslog
//! lines to a text log), so a rule author can make a test log for a rule (format: see the
//! fixtures crate's `scenario` module).

use crate::exit;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Write the events of a scenario file as an EVTX file, and its syslog lines as a text
    /// log (beside it, with `.log`, when the scenario has both).
    Build(BuildArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The scenario (YAML).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run(command: ScenarioCommand) -> u8 {
    let ScenarioCommand::Build(args) = command;
    match build(&args) {
        Ok(written) => {
            for line in written {
                eprintln!("{line}");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("tansa: {e:#}");
            exit::USAGE
        }
    }
}

/// Writes the scenario; says what was written where.
fn build(args: &BuildArgs) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario.display()))?;
    let scenario = tansa_fixtures::scenario::read(&text)
        .with_context(|| format!("{}", args.scenario.display()))?;
    let mut written = Vec::new();
    let mut syslog_path = args.output.clone();
    if scenario.has_events() || !scenario.has_syslog() {
        let events = scenario
            .events()
            .with_context(|| format!("{}", args.scenario.display()))?;
        let bytes = tansa_fixtures::write_evtx(&events)?;
        std::fs::write(&args.output, bytes)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        written.push(format!(
            "wrote {} event(s) to {}",
            events.len(),
            args.output.display()
        ));
        syslog_path = args.output.with_extension("log");
    }
    if scenario.has_syslog() {
        let lines = scenario
            .syslog_lines()
            .with_context(|| format!("{}", args.scenario.display()))?;
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&syslog_path, text)
            .with_context(|| format!("cannot write {}", syslog_path.display()))?;
        written.push(format!(
            "wrote {} syslog line(s) to {}",
            lines.len(),
            syslog_path.display()
        ));
    }
    Ok(written)
}
