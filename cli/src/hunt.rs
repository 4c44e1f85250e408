//! `tansa hunt`: rules over logs, alerts out, a summary on stderr.

use crate::exit;
use crate::output::AtomicOutput;
use crate::settings::{CompileArgs, ReadArgs, parse_bound};
use anyhow::{Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tansa_engine::compile::load_and_compile;
use tansa_engine::enrich::{Enrichment, Lang};
use tansa_engine::hunt::{
    CorrelationReport, FileStatus, HuntOptions, HuntReport, Progress, hunt, hunt_stream,
};
use tansa_engine::input::discover::{self, Discovered, Filter};
use tansa_engine::input::source::open_stream;

use tansa_engine::rule::Level;

#[derive(Args, Debug)]
pub struct HuntArgs {
    /// Event log files and folders (searched recursively): EVTX, syslog and JSON lines,
    /// plain, gzip or in zip collections, recognised by their content whatever their
    /// name. `-` reads JSON lines or syslog from stdin and writes alerts as they happen.
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Rule files and folders.
    #[arg(short, long = "rules", required = true, value_name = "RULES")]
    pub rules: Vec<PathBuf>,
    /// Write alerts to FILE (atomically: complete or not at all; a device or pipe is written into) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long = "threads", value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Only read files whose path (relative to the input folder) or name matches GLOB.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files whose path (relative to the input folder) or name matches GLOB.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only events at or after this time (RFC 3339, or a date/time in --timezone).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Make any rule error fatal (exit 3) instead of skipping the rule.
    #[arg(long)]
    pub strict: bool,
    /// Exit 1 when there are alerts.
    #[arg(long)]
    pub fail_on_alert: bool,
    /// No progress bar and no summary, only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// The language of rule titles, descriptions and code explanations in alerts
    /// (`en` or `ja`; rules without a translation stay in English).
    #[arg(long, value_name = "LANG", default_value = "en")]
    pub lang: String,
    /// Extra code explanations (same format as enrichment/windows.yml), over the built-in
    /// ones.
    #[arg(long, value_name = "FILE")]
    pub enrichment: Option<PathBuf>,
    /// The most correlation groups kept at once (memory bound); matches beyond it are
    /// counted in the summary and the exit code is 4.
    #[arg(long, value_name = "N", default_value_t = tansa_engine::correlate::DEFAULT_MAX_GROUPS)]
    pub max_groups: usize,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub compile: CompileArgs,
}

pub fn run(args: HuntArgs) -> u8 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tansa: {e:#}");
            exit::USAGE
        }
    }
}

fn run_inner(args: &HuntArgs) -> Result<u8> {
    let options = args.compile.options()?;
    let zone = options.timezone.clone();
    let lang = Lang::parse(&args.lang)
        .ok_or_else(|| anyhow::anyhow!("unknown language `{}` (en or ja)", args.lang))?;
    let mut enrichment = Enrichment::builtin();
    if let Some(path) = &args.enrichment {
        enrichment.merge_file(path).map_err(anyhow::Error::msg)?;
    }
    let bound = |time: &Option<String>| time.as_deref().map(|t| parse_bound(t, &zone)).transpose();
    let hunt_options = HuntOptions {
        threads: args.threads,
        since: bound(&args.since)?,
        until: bound(&args.until)?,
        lang,
        enrichment: std::sync::Arc::new(enrichment),
        max_groups: args.max_groups,
        read: args.read.options(&options.timezone)?,
    };
    let filter = Filter::new(&args.include, &args.exclude).map_err(anyhow::Error::msg)?;
    if let Some(output) = &args.output {
        refuse_output_inside_inputs(output, &args.inputs)?;
    }
    for rules in &args.rules {
        if !rules.exists() {
            bail!("rules path {} does not exist", rules.display());
        }
    }

    // One pool of `-j` threads compiles the rules and then hunts with them (see
    // `HuntOptions::threads`). It is set once per process; if it was set before, the hunt
    // makes a pool of its own.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global();
    let compile_started = std::time::Instant::now();
    let mut ruleset = load_and_compile(&args.rules, &options);
    if args.strict {
        // Parts built on first use would otherwise report their failures after the hunt.
        ruleset.build_all();
    }
    let compile_time = compile_started.elapsed();
    for error in &ruleset.errors {
        eprintln!("tansa: rule error: {error}");
    }
    if !ruleset.errors.is_empty() && args.strict {
        eprintln!(
            "tansa: {} rule error(s) and --strict: nothing was hunted",
            ruleset.errors.len()
        );
        return Ok(exit::RULES);
    }
    if ruleset.program.compiled_rules().is_empty() {
        eprintln!(
            "tansa: no usable rule in {} ({} file(s) read, {} refused, {} idle)",
            join_paths(&args.rules),
            ruleset.files,
            ruleset.errors.len(),
            ruleset.program.idle().len()
        );
        return Ok(exit::RULES);
    }

    // Compiling left its scratch freed but held (see `allocator`).
    crate::allocator::release_free_memory();
    if args.inputs.len() == 1 && args.inputs[0].as_os_str() == "-" {
        return hunt_stdin(args, &ruleset.program, &hunt_options);
    }
    let discovered = discover::discover(&args.inputs, &filter);
    let progress = Progress::default();
    let bar = progress_bar(args.quiet);
    let done = std::sync::atomic::AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        if let Some(bar) = &bar {
            let (progress, done) = (&progress, &done);
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    update_bar(bar, progress);
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        let report = hunt(
            &ruleset.program,
            &discovered.files,
            &hunt_options,
            &progress,
        );
        done.store(true, Ordering::Relaxed);
        report
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(anyhow::Error::msg)?;

    let mut out = match &args.output {
        Some(path) => AtomicOutput::file(path)?,
        None => AtomicOutput::stdout(),
    };
    let mut report = report;
    let alert_count = report.alerts.len();
    match report.write_alerts(&mut out) {
        Ok(()) => {}
        // The reader went away (`| head`): stop writing, still report.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    out.commit()?;

    let deferred = ruleset.program.deferred_errors();
    for error in &deferred {
        eprintln!("tansa: rule error: {error}");
    }
    let over_cap = report.correlation.is_some_and(|c| c.stats.over_cap > 0);
    let partial =
        !discovered.failed.is_empty() || report.files.iter().any(|f| f.is_partial()) || over_cap;
    if !args.quiet {
        print_summary(
            &discovered,
            &report,
            &ruleset.program,
            ruleset.errors.len() + deferred.len(),
            compile_time,
        );
    } else {
        print_problems(&discovered, &report);
    }
    // The process ends here: freeing the compiled rules one allocation at a time would
    // only delay the exit (about 60 million instructions, 3% of a hunt over the corpus
    // folder with SigmaHQ's rules).
    std::mem::forget(ruleset);
    Ok(if partial {
        exit::PARTIAL
    } else if args.fail_on_alert && alert_count > 0 {
        exit::ALERTS
    } else {
        exit::OK
    })
}

/// `tansa hunt -`: events from stdin, alerts out as they happen.
fn hunt_stdin(
    args: &HuntArgs,
    program: &tansa_engine::compile::Program,
    options: &HuntOptions,
) -> Result<u8> {
    let stdin = Box::new(std::io::BufReader::with_capacity(
        1 << 16,
        std::io::stdin().lock(),
    ));
    let (format, mut input) = open_stream(stdin).map_err(|e| anyhow::anyhow!("stdin: {e}"))?;
    let mut out = match &args.output {
        Some(path) => AtomicOutput::file(path)?,
        None => AtomicOutput::stdout(),
    };
    let report = match hunt_stream(program, &mut input, format, options, &mut out) {
        Ok(report) => report,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(exit::OK),
        Err(e) => return Err(e.into()),
    };
    out.commit()?;
    let alerts: u64 = report.alerts_by_level.iter().sum();
    if !args.quiet {
        eprintln!("tansa: summary");
        eprintln!(
            "  records: {} read from stdin ({}), {} failed to parse, {} cut at 16 MiB",
            report.records,
            format.as_str(),
            report.failed,
            report.cut_lines
        );
        if let Some(c) = &report.correlation {
            print_correlation(c);
        }
        print_levels(&report.alerts_by_level);
        eprintln!("  elapsed: {:.2} s", report.elapsed.as_secs_f64());
    }
    for error in &report.errors {
        eprintln!("tansa: stdin: {error}");
    }
    for error in program.deferred_errors() {
        eprintln!("tansa: rule error: {error}");
    }
    let over_cap = report.correlation.is_some_and(|c| c.stats.over_cap > 0);
    Ok(if report.failed > 0 || report.cut_lines > 0 || over_cap {
        exit::PARTIAL
    } else if args.fail_on_alert && alerts > 0 {
        exit::ALERTS
    } else {
        exit::OK
    })
}

/// Writing into the evidence is never right; refuse before reading anything.
fn refuse_output_inside_inputs(output: &Path, inputs: &[PathBuf]) -> Result<()> {
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(parent) = parent.canonicalize() else {
        bail!("output folder {} does not exist", parent.display());
    };
    for input in inputs {
        let Ok(input) = input.canonicalize() else {
            continue;
        };
        if input.is_dir() && parent.starts_with(&input) {
            bail!(
                "refusing to write {} inside input folder {}: inputs are evidence and are never written to",
                output.display(),
                input.display()
            );
        }
        if output.canonicalize().is_ok_and(|o| o == input) {
            bail!("refusing to overwrite input file {}", input.display());
        }
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn update_bar(bar: &ProgressBar, progress: &Progress) {
    bar.set_length(progress.bytes_total.load(Ordering::Relaxed));
    bar.set_position(progress.bytes_done.load(Ordering::Relaxed));
    bar.set_message(format!(
        "{} records, {} alerts",
        progress.records.load(Ordering::Relaxed),
        progress.alerts.load(Ordering::Relaxed)
    ));
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Skipped files listed one by one up to this many; beyond it, counted.
const LISTED: usize = 20;

fn print_problems(discovered: &Discovered, report: &HuntReport) {
    if let Some(c) = &report.correlation
        && c.stats.over_cap > 0
    {
        eprintln!(
            "tansa: correlation: {} match(es) were not correlated: the cap of {} live groups was reached (raise it with --max-groups)",
            c.stats.over_cap, c.max_groups
        );
    }
    for failed in &discovered.failed {
        eprintln!(
            "tansa: cannot read {}: {}",
            failed.path.display(),
            failed.reason
        );
    }
    for file in &report.files {
        if let FileStatus::Failed(reason) = &file.status {
            eprintln!("tansa: cannot read {}: {reason}", file.name);
        }
        for note in &file.notes {
            eprintln!("tansa: {}: {note}", file.name);
        }
        if file.stats.failed > 0 || file.stats.failed_chunks > 0 {
            eprintln!(
                "tansa: {}: {} record(s) and {} chunk(s) could not be read",
                file.name, file.stats.failed, file.stats.failed_chunks
            );
            for error in &file.stats.errors {
                eprintln!("tansa:   {error}");
            }
        }
        if file.stats.cut_lines > 0 {
            eprintln!(
                "tansa: {}: {} line(s) longer than 16 MiB: their first 16 MiB were read, the rest skipped",
                file.name, file.stats.cut_lines
            );
        }
    }
}

fn print_summary(
    discovered: &Discovered,
    report: &HuntReport,
    program: &tansa_engine::compile::Program,
    rule_errors: usize,
    compile_time: Duration,
) {
    let scanned = report
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Scanned)
        .count();
    let skipped: Vec<(String, String)> = discovered
        .skipped
        .iter()
        .map(|s| (s.path.display().to_string(), s.reason.clone()))
        .chain(report.files.iter().filter_map(|f| match &f.status {
            FileStatus::Skipped(reason) => Some((f.name.to_string(), reason.clone())),
            _ => None,
        }))
        .collect();
    let failed = discovered.failed.len()
        + report
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Failed(_)))
            .count();
    eprintln!("tansa: summary");
    eprintln!(
        "  files:   {scanned} scanned, {} skipped, {failed} failed",
        skipped.len()
    );
    for (path, reason) in skipped.iter().take(LISTED) {
        eprintln!("    skipped {path}: {reason}");
    }
    if skipped.len() > LISTED {
        eprintln!("    ... and {} more skipped", skipped.len() - LISTED);
    }
    print_problems(discovered, report);
    let records = report.records();
    let not_evaluated: u64 = report.files.iter().map(|f| f.stats.skipped).sum();
    eprintln!(
        "  records: {records} read ({not_evaluated} not evaluated: no rule for their channel or outside --since/--until), {} failed to parse",
        report.failed_records()
    );
    eprintln!(
        "  rules:   {} loaded, {} correlation(s), {} idle on these inputs, {rule_errors} refused; read and compiled in {:.2} s",
        program.rules().len(),
        program.correlations().nodes().len(),
        program.idle().len(),
        compile_time.as_secs_f64()
    );
    if let Some(c) = &report.correlation {
        print_correlation(c);
    }
    print_levels(&report.alerts_by_level);

    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        records as f64 / seconds
    } else {
        0.0
    };
    eprintln!("  elapsed: {seconds:.2} s, {rate:.0} records/s");
}

fn print_correlation(c: &CorrelationReport) {
    let s = &c.stats;
    eprintln!(
        "  correlation: {} match(es) in time order, {} duplicate(s) of an event already seen, {} without a time, {} over the group cap; {} fired; at most {} live group(s); {:.2} s",
        s.matches,
        s.duplicates,
        c.untimed,
        s.over_cap,
        s.fired,
        s.peak_groups,
        c.elapsed.as_secs_f64()
    );
}

fn print_levels(per_level: &[u64; 5]) {
    let levels: Vec<String> = Level::ALL
        .iter()
        .rev()
        .map(|l| format!("{} {}", l.as_str(), per_level[*l as usize]))
        .collect();
    eprintln!(
        "  alerts:  {} ({})",
        per_level.iter().sum::<u64>(),
        levels.join(", ")
    );
}
