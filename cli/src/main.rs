//! `tansa`: hunt Sigma detections in Windows event logs, syslog and JSON events.
//!
//! This binary owns arguments, files, progress, the summary and exit codes. Every detection
//! decision is the engine's.

mod allocator;
mod events;
mod exit;
mod hunt;
mod output;
mod rules;
mod rules_test;
mod scenario;
mod settings;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tansa",
    version,
    about = "Hunt Sigma detections in Windows event logs (EVTX), in parallel, to JSONL alerts",
    after_help = "Exit codes: 0 done; 1 alerts found (with --fail-on-alert); 2 bad arguments; \
                  3 rule errors (with --strict) or no usable rule; 4 some input could not be read."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run rules over event logs and write alerts as JSON lines.
    Hunt(hunt::HuntArgs),
    /// Check and list rules.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Print the events of some inputs as rules see them (JSON lines).
    Events(events::EventsArgs),
    /// Write test event logs from readable scenarios.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
}

fn main() -> ExitCode {
    allocator::fix_mmap_threshold();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Rules(command) => rules::run(command),
        Command::Events(args) => events::run(args),
        Command::Scenario(command) => scenario::run(command),
    };
    ExitCode::from(code)
}
