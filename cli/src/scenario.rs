//! `tansa scenario build`: a readable YAML scenario to a real EVTX file (and its syslog
//! lines to a text log), so a rule author can make a test log for a rule (format: see the
//! fixtures crate's `scenario` module).

use crate::exit;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tansa_fixtures::scenario::OutputKind;

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
    let outputs = scenario
        .outputs(&args.output)
        .with_context(|| format!("{}", args.scenario.display()))?;
    let mut written = Vec::new();
    for output in outputs {
        std::fs::write(&output.path, &output.bytes)
            .with_context(|| format!("cannot write {}", output.path.display()))?;
        let what = match output.kind {
            OutputKind::Evtx => "event(s)",
            OutputKind::Syslog => "syslog line(s)",
        };
        written.push(format!(
            "wrote {} {what} to {}",
            output.count,
            output.path.display()
        ));
    }
    Ok(written)
}
