//! `tansa scenario build`: a readable YAML scenario to a real EVTX file, so a rule author
//! can make a test log for a rule (format: see the fixtures crate's `scenario` module).

use crate::exit;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Write the events of a scenario file as an EVTX file.
    Build(BuildArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The scenario (YAML).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The EVTX file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run(command: ScenarioCommand) -> u8 {
    let ScenarioCommand::Build(args) = command;
    match build(&args) {
        Ok(events) => {
            eprintln!("wrote {events} event(s) to {}", args.output.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("tansa: {e:#}");
            exit::USAGE
        }
    }
}

fn build(args: &BuildArgs) -> Result<usize> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario.display()))?;
    let events = tansa_fixtures::scenario::parse(&text)
        .with_context(|| format!("{}", args.scenario.display()))?;
    let bytes = tansa_fixtures::write_evtx(&events)?;
    std::fs::write(&args.output, bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(events.len())
}
