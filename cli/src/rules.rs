//! `tansa rules lint` and `tansa rules list`.

use crate::exit;
use crate::settings::CompileArgs;
use anyhow::Result;
use clap::{Args, Subcommand};
use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};
use std::io::IsTerminal;
use std::path::PathBuf;
use tansa_engine::compile::{Program, load_and_compile};
use tansa_engine::rule::RuleError;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Load and compile rules; report every problem with file, line and column.
    Lint(RulesArgs),
    /// List rules with their level, status and the channels and event ids they read.
    List(ListArgs),
    /// Run the rules' example scenarios (`name.tests.yml` beside `name.yml`) and compare
    /// the alerts with what each test expects.
    Test(crate::rules_test::TestArgs),
}

#[derive(Args)]
pub struct RulesArgs {
    /// Rule files and folders.
    #[arg(required = true, value_name = "RULES")]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub compile: CompileArgs,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// One JSON object per rule instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: RulesCommand) -> u8 {
    let result = match command {
        RulesCommand::Lint(args) => lint(&args),
        RulesCommand::List(args) => list(&args),
        RulesCommand::Test(args) => crate::rules_test::run(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tansa: {e:#}");
        exit::USAGE
    })
}

fn lint(args: &RulesArgs) -> Result<u8> {
    let mut ruleset = load_and_compile(&args.rules, &args.compile.options()?);
    // What a hunt builds on first use is built now, so that every broken rule is reported.
    ruleset.build_all();
    let handler = GraphicalReportHandler::new_themed(if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    });
    for error in &ruleset.errors {
        eprint!("{}", render(error, &handler));
    }
    let program = &ruleset.program;
    for idle in program.idle() {
        eprintln!(
            "note: {}: rule {} is idle on Windows event logs: {}",
            idle.info.source.path.display(),
            idle.info.meta.id,
            idle.reason
        );
    }
    for info in program.rules() {
        if info.meta.id_derived {
            eprintln!(
                "warning: {}: rule `{}` has no id; alerts use the derived id {}",
                info.source.path.display(),
                info.meta.title,
                info.meta.id
            );
        }
    }
    eprintln!(
        "{} file(s), {} rule(s) ok ({} idle), {} correlation(s) ok, {} error(s)",
        ruleset.files,
        program.rules().len(),
        program.idle().len(),
        program.correlations().nodes().len(),
        ruleset.errors.len()
    );
    Ok(if ruleset.errors.is_empty() {
        exit::OK
    } else {
        exit::RULES
    })
}

/// An error with the rule's source around it, or on one line when there is no position.
fn render(error: &RuleError, handler: &GraphicalReportHandler) -> String {
    let text = std::fs::read_to_string(&error.path).ok();
    let Some(text) = text.filter(|_| error.pos.line > 0) else {
        return format!("error: {error}\n");
    };
    let offset = byte_offset(&text, error.pos.line as usize, error.pos.column as usize);
    let diagnostic = Diagnostic {
        message: error.to_string(),
        code: NamedSource::new(error.path.display().to_string(), text),
        span: SourceSpan::new(offset.into(), 1),
    };
    let mut out = String::new();
    if handler.render_report(&mut out, &diagnostic).is_err() {
        return format!("error: {error}\n");
    }
    out
}

fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let column_bytes: usize = line_text
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    (line_start + column_bytes).min(text.len().saturating_sub(1))
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
struct Diagnostic {
    message: String,
    #[source_code]
    code: NamedSource<String>,
    #[label("here")]
    span: SourceSpan,
}

fn list(args: &ListArgs) -> Result<u8> {
    let ruleset = load_and_compile(&args.rules.rules, &args.rules.compile.options()?);
    for error in &ruleset.errors {
        eprintln!("tansa: rule error: {error}");
    }
    let program = &ruleset.program;
    for info in program.rules() {
        let reads = reads(program, &info.meta.id);
        print_rule(
            args.json,
            &info.meta,
            &info.source.path,
            &reads,
            serde_json::json!({
                "logsource": info.logsource.to_string(),
                "filters": info.filters,
                "alerts": raises_alerts(program, &info.meta.id),
            }),
        );
    }
    for node in program.correlations().nodes() {
        let info = &node.info;
        print_rule(
            args.json,
            &info.meta,
            &info.source.path,
            &[correlation_summary(info)],
            serde_json::json!({
                "correlation": info.kind.as_str(),
                "rules": info.rules,
                "group_by": info.group_by,
                "timespan": info.timespan.text,
                "condition": info.condition.to_string(),
                "alerts": node.emits,
            }),
        );
    }
    Ok(if ruleset.errors.is_empty() {
        exit::OK
    } else {
        exit::RULES
    })
}

/// One line of `rules list`: a table row, or with `--json` an object of the rule's
/// metadata, where it reads, and `extra`.
fn print_rule(
    json: bool,
    meta: &tansa_engine::rule::Meta,
    file: &std::path::Path,
    reads: &[String],
    extra: serde_json::Value,
) {
    if json {
        let mut value = serde_json::json!({
            "id": meta.id,
            "title": meta.title,
            "level": meta.level.as_str(),
            "status": meta.status,
            "file": file.display().to_string(),
            "reads": reads,
        });
        if let (Some(object), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
            object.extend(extra);
        }
        println!("{value}");
    } else {
        println!(
            "{:<13} {:<12} {:<36}  {}  [{}]",
            meta.level.as_str(),
            meta.status.as_deref().unwrap_or("-"),
            meta.id,
            meta.title,
            reads.join("; ")
        );
    }
}

/// `event_count gte 10 of [a] by IpAddress within 5m`.
fn correlation_summary(info: &tansa_engine::correlate::CorrelationInfo) -> String {
    let by = if info.group_by.is_empty() {
        String::new()
    } else {
        format!(" by {}", info.group_by.join(", "))
    };
    let field = if info.value_fields.is_empty() {
        String::new()
    } else {
        format!(" of {}", info.value_fields.join(", "))
    };
    format!(
        "correlation: {}{field} {} over [{}]{by} within {}",
        info.kind,
        info.condition,
        info.rules.join(", "),
        info.timespan.text
    )
}

/// Whether a rule's own alerts are written (a correlation naming it can say
/// `generate: false`).
fn raises_alerts(program: &Program, id: &str) -> bool {
    program
        .compiled_rules()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.info.meta.id == id)
        .all(|(index, _)| program.raises_alerts(index as u32))
}

/// Where a rule's events come from: `Channel: ids` per compiled target, or why it is idle.
fn reads(program: &Program, id: &str) -> Vec<String> {
    if let Some(idle) = program.idle().iter().find(|i| i.info.meta.id == id) {
        return vec![format!("idle: {}", idle.reason)];
    }
    program
        .compiled_rules()
        .iter()
        .filter(|r| r.info.meta.id == id)
        .map(|r| {
            let channels = r
                .channels
                .as_ref()
                .map_or("any channel".to_string(), |c| c.join(", "));
            match &r.event_ids {
                Some(ids) => format!(
                    "{channels}: {}",
                    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                ),
                None => format!("{channels}: any event id"),
            }
        })
        .collect()
}
