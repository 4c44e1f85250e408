//! Loaded rules to a `Program`: checks on field ids, an index by channel and event id, and
//! shared literal automata. Compiled once, then shared read-only by every worker.
//!
//! Each rule is compiled once per logsource target (see `logsource`): field names go
//! through the target's renames and into the `FieldTable`; the target's conditions
//! (`EventID: 4688`) are ANDed in; the event ids the whole condition requires decide which
//! (channel, event id) buckets the rule sits in. A record then meets only the rules of its
//! bucket: a Security 4624 record never evaluates a Sysmon rule.

mod gate;
pub mod glob;
pub mod item;
pub mod literals;
pub mod matcher;
mod on_demand;
mod perl_classes;
pub mod placeholder;
pub(crate) mod route;

use crate::field::{FieldId, FieldSet, FieldTable, FxBuild, well_known};
use crate::keyword_filter;

use crate::correlate::Plan;
use crate::correlate::plan::{CompiledRef, DetectionRef};
use crate::logsource::{Mapping, Resolution, Target};
use crate::rule::condition::{Condition, pattern_covers};
use crate::rule::{
    CorrelationRule, Detection, LogSource, Meta, Rule, RuleError, Selection, Source,
};
use jiff::tz::TimeZone;
use literals::{Literals, LiteralsBuilder, Subject};
use matcher::{Anchor, Cidr, Compare, StrPattern, TimePart};
pub use placeholder::Placeholders;
use route::{Routes, RoutesBuilder};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What compilation needs besides the rules.
#[derive(Debug, Clone)]
pub struct Options {
    pub mapping: Mapping,
    pub placeholders: Placeholders,
    /// The site's time zone, for the time-part and calendar modifiers.
    pub timezone: TimeZone,
    /// The site's calendars and correlation settings.
    pub site: crate::site::Site,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mapping: Mapping::builtin(),
            placeholders: Placeholders::default(),
            timezone: TimeZone::UTC,
            site: Default::default(),
        }
    }
}

/// A rule's description, shared by its compiled forms and its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub meta: Meta,
    pub source: Source,
    pub logsource: LogSource,
    /// The ids of the filter documents applied to it.
    pub filters: Vec<String>,
}

/// One test on a value of the check's subject.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// Any of the patterns matches a value.
    Str(Box<[StrPattern]>),
    /// `null`: the field is absent.
    Null,
    Exists(bool),
    Cidr(Box<[Cidr]>),
    Number {
        op: Compare,
        value: f64,
    },
    TimePart {
        part: TimePart,
        op: Compare,
        value: i64,
    },
    /// The value is a time within the calendar (in the site's time zone).
    Calendar(Arc<crate::site::Calendar>),
    /// The value compares with a value of another field of the event.
    FieldRef {
        other: FieldId,
        anchor: Anchor,
        cased: bool,
    },
}

/// A detection item: tests on one field (or on every value, for keywords), joined by OR, or
/// AND with `all`, negated with `neq`.
#[derive(Debug, Clone)]
pub struct Check {
    pub(crate) subject: Subject,
    /// The field's name as the rule wrote it, for alerts.
    pub(crate) field: Box<str>,
    pub(crate) tests: Box<[ValueTest]>,
    pub(crate) all: bool,
    pub(crate) negate: bool,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Check(u32),
    /// A named selection of the rule.
    Selection(u32),
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    Not(Box<Expr>),
}

/// A rule compiled for one target.
#[derive(Debug)]
pub struct CompiledRule {
    pub info: Arc<RuleInfo>,
    /// The target's service (`sysmon`, `security`), if it has one.
    pub service: Option<String>,
    /// The channels the rule reads (`None`: every channel).
    pub channels: Option<Vec<String>>,
    /// The event ids the rule can match (`None`: any).
    pub event_ids: Option<Vec<u32>>,
    pub(crate) checks: Vec<Check>,
    pub(crate) selections: Vec<(Box<str>, Expr)>,
    pub(crate) condition: Expr,
}

/// A rule that loaded but that no event of these inputs can reach.
#[derive(Debug, Clone)]
pub struct Idle {
    pub info: Arc<RuleInfo>,
    pub reason: String,
}

/// Compiled rules, ready to evaluate.
#[derive(Debug)]
pub struct Program {
    pub(crate) fields: FieldTable,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) routes: Routes,
    pub(crate) literals: Literals,
    pub(crate) timezone: TimeZone,
    infos: Vec<Arc<RuleInfo>>,
    idle: Vec<Idle>,
    pub(crate) correlations: Plan,
}

impl Program {
    /// The correlation rules, resolved.
    pub fn correlations(&self) -> &Plan {
        &self.correlations
    }

    /// Whether a compiled rule's own alerts are written (a correlation naming it can say
    /// `generate: false`).
    pub fn raises_alerts(&self, rule: u32) -> bool {
        !self.correlations.silent[rule as usize]
    }

    /// What a compiled rule's matches carry to correlations, if any correlation names it.
    pub fn feed(&self, rule: u32) -> Option<&crate::correlate::plan::Feed> {
        self.correlations.feeds[rule as usize].as_ref()
    }

    /// The field table inputs resolve names with.
    pub fn fields(&self) -> &FieldTable {
        &self.fields
    }

    pub fn rule(&self, index: u32) -> &CompiledRule {
        &self.rules[index as usize]
    }

    /// Compiled rules (a rule compiled for two targets counts twice).
    pub fn compiled_rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Every rule that loaded and compiled, in load order, idle ones included.
    pub fn rules(&self) -> &[Arc<RuleInfo>] {
        &self.infos
    }

    pub fn idle(&self) -> &[Idle] {
        &self.idle
    }

    /// Builds every part that is otherwise built on first use (literal automata, regex
    /// programs; see `on_demand`) and returns what could not be built. A hunt does not
    /// need this; `rules lint` and `--strict` use it to find every broken rule up front.
    pub fn build_all(&self) -> Vec<RuleError> {
        self.literals.build_all();
        for (_, regex) in self.regexes() {
            // A failure is remembered, and reported below.
            let _ = regex.build();
        }
        self.deferred_errors()
    }

    /// The parts that a record needed and that could not be built: such a regex matches
    /// nothing, and such an automaton finds no needle. One error per rule and part.
    pub fn deferred_errors(&self) -> Vec<RuleError> {
        let mut errors: Vec<RuleError> = self
            .literals
            .failures()
            .map(|message| RuleError {
                path: Default::default(),
                pos: Default::default(),
                rule_id: None,
                title: None,
                message: message.to_string(),
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (info, regex) in self.regexes() {
            let Some(message) = regex.failure() else {
                continue;
            };
            if !seen.insert((Arc::as_ptr(info), regex.pattern())) {
                continue;
            }
            errors.push(RuleError {
                path: info.source.path.clone(),
                pos: info.source.pos,
                rule_id: Some(info.meta.id.clone()),
                title: Some(info.meta.title.clone()),
                message: format!("{message}; the rule's regex matches nothing"),
            });
        }
        errors
    }

    /// Every `re` value of every compiled rule, with its rule.
    fn regexes(&self) -> impl Iterator<Item = (&Arc<RuleInfo>, &matcher::LazyRegex)> {
        self.rules.iter().flat_map(|rule| {
            rule.checks
                .iter()
                .flat_map(|check| check.tests.iter())
                .flat_map(|test| match test {
                    ValueTest::Str(patterns) => &patterns[..],
                    _ => &[],
                })
                .filter_map(move |pattern| match pattern {
                    StrPattern::Regex(regex) => Some((&rule.info, &**regex)),
                    _ => None,
                })
        })
    }

    /// Whether any rule reads events of `channel` (exact name, or ignoring ASCII case).
    pub fn wants_channel(&self, channel: &str) -> bool {
        let routes = &self.routes;
        if !routes.any_channel.any_event_id.is_empty() || !routes.any_channel.by_event_id.is_empty()
        {
            return true;
        }
        routes.channels.contains_key(channel)
            || routes
                .channels
                .contains_key(channel.to_ascii_lowercase().as_str())
    }
}

/// Field names and needles of one rule's compilation, by rule-local id. Rules compile in
/// parallel against these; a sequential pass then gives them program-wide ids in rule
/// order (`CompiledRule::remap`), so ids do not depend on thread timing.
#[derive(Debug, Default)]
pub(crate) struct LocalIds {
    names: Vec<String>,
    needles: Vec<(Subject, Box<str>)>,
    /// Needle to local id (a rule can have a thousand needles).
    needle_ids: HashMap<(Subject, Box<str>), u32, FxBuild>,
}

impl LocalIds {
    pub(crate) fn field(&mut self, name: &str) -> FieldId {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as FieldId,
            None => {
                self.names.push(name.to_string());
                self.names.len() as FieldId - 1
            }
        }
    }

    pub(crate) fn needle(&mut self, subject: Subject, text: &str) -> u32 {
        let next = self.needles.len() as u32;
        let id = *self
            .needle_ids
            .entry((subject, text.into()))
            .or_insert(next);
        if id == next {
            self.needles.push((subject, text.into()));
        }
        id
    }
}

/// A rule compiled for one target, with rule-local ids, and its gate.
type LocalRule = (CompiledRule, LocalIds, Option<gate::Gate>);

/// Compiles `rules` and resolves `correlations` against them. Rules that fail are reported
/// and left out; the others compile.
pub fn compile(
    rules: Vec<Rule>,
    correlations: Vec<CorrelationRule>,
    options: &Options,
) -> (Program, Vec<RuleError>) {
    use rayon::prelude::*;

    // Where each rule's events come from, and the keyword group of each channel set.
    let mut keyword_groups: HashMap<Option<Vec<String>>, u32> = HashMap::new();
    let everywhere = Target {
        service: None,
        channels: None,
        conditions: Vec::new(),
        fields: Default::default(),
    };
    // Per rule: its targets (or why it is idle), and the keyword group of each target.
    type Plan = (Result<Vec<Target>, String>, Vec<u32>);
    // A rule's description moves into the `RuleInfo` its compiled forms and alerts share.
    let (infos, rule_detections): (Vec<Arc<RuleInfo>>, Vec<Detection>) = rules
        .into_iter()
        .map(|rule| {
            let info = RuleInfo {
                meta: rule.meta,
                source: rule.source,
                logsource: rule.logsource,
                filters: rule.filters,
            };
            (Arc::new(info), rule.detection)
        })
        .unzip();
    let plans: Vec<Plan> = infos
        .iter()
        .map(|info| {
            let resolution = match options.mapping.resolve(&info.logsource) {
                Resolution::Targets(targets) => Ok(targets),
                Resolution::Idle(reason) => Err(reason),
            };
            let groups = match &resolution {
                Ok(targets) => targets.iter().map(|t| &t.channels).collect(),
                Err(_) => vec![&everywhere.channels],
            }
            .into_iter()
            .map(|channels| {
                let next = keyword_groups.len() as u32;
                *keyword_groups.entry(channels.clone()).or_insert(next)
            })
            .collect();
            (resolution, groups)
        })
        .collect();

    // Every (rule, target) compiles on its own, in parallel.
    let regexes = item::RegexCache::default();
    // Each parsed detection is freed where it compiled, in parallel too.
    let locals: Vec<Result<Vec<LocalRule>, RuleError>> = rule_detections
        .into_par_iter()
        .zip(&plans)
        .zip(&infos)
        .map(|((detection, (resolution, groups)), info)| {
            // An idle rule compiles too, so that a broken one is still reported.
            let targets = match resolution {
                Ok(targets) => targets.iter().collect::<Vec<_>>(),
                Err(_) => vec![&everywhere],
            };
            targets
                .into_iter()
                .zip(groups)
                .map(|(target, &group)| {
                    compile_local(&detection, info, target, group, options, &regexes)
                })
                .collect()
        })
        .collect();

    // Program-wide ids, routes and gates, in rule order.
    let mut fields = FieldTable::new();
    let mut literals = LiteralsBuilder::default();
    let mut compiled: Vec<CompiledRule> = Vec::new();
    // Per compiled rule, its target's field renames (for the fields correlations read).
    let mut renames: Vec<&std::collections::BTreeMap<String, String>> = Vec::new();
    let mut routes = RoutesBuilder::default();
    let mut gates = Vec::new();
    let mut kept_infos = Vec::new();
    let mut idle = Vec::new();
    let mut errors = Vec::new();
    for ((info, (resolution, _)), local) in infos.into_iter().zip(&plans).zip(locals) {
        let local = match local {
            Ok(local) => local,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        kept_infos.push(info.clone());
        let targets = match resolution {
            Ok(targets) => targets,
            Err(reason) => {
                idle.push(Idle {
                    info,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let mut placed = 0;
        for ((mut compiled_rule, ids, gate), target) in local.into_iter().zip(targets) {
            let field_ids: Vec<FieldId> = ids.names.iter().map(|n| fields.intern(n)).collect();
            let needle_ids: Vec<u32> = ids
                .needles
                .iter()
                .map(|(subject, text)| literals.needle(remap_subject(*subject, &field_ids), text))
                .collect();
            compiled_rule.remap(&field_ids, &needle_ids);
            let event_ids = compiled_rule.required_event_ids(&compiled_rule.condition);
            if event_ids.as_ref().is_some_and(BTreeSet::is_empty) {
                // The rule's own event ids never occur in this source.
                continue;
            }
            compiled_rule.event_ids = event_ids.as_ref().map(|ids| ids.iter().copied().collect());
            let index = compiled.len() as u32;
            gates.push(gate.map(|gate| {
                gate.iter()
                    .map(|(subject, literal)| {
                        let subject = remap_subject(*subject, &field_ids);
                        (subject, literals.needle(subject, literal))
                    })
                    .collect::<Vec<_>>()
            }));
            compiled.push(compiled_rule);
            renames.push(&target.fields);
            routes.add(&target.channels, &event_ids, index);
            placed += 1;
        }
        if placed == 0 {
            let reason = format!(
                "the event ids it requires never occur in logsource `{}`",
                info.logsource
            );
            idle.push(Idle { info, reason });
        }
    }

    // Correlations resolve against every rule that loaded, idle ones included; the fields
    // they read join the table before the automata are sized by it.
    let detections: Vec<DetectionRef<'_>> = kept_infos
        .iter()
        .map(|info| DetectionRef {
            id: &info.meta.id,
            name: info.meta.name.as_deref(),
        })
        .collect();
    let compiled_refs: Vec<CompiledRef<'_>> = compiled
        .iter()
        .zip(&renames)
        .map(|(rule, renames)| CompiledRef {
            id: &rule.info.meta.id,
            renames,
        })
        .collect();
    let mut correlations = correlations;
    errors.extend(options.site.tune(&mut correlations));
    let (correlations, correlation_errors) = crate::correlate::plan::build(
        correlations,
        &detections,
        &compiled_refs,
        &mut fields,
        compiled.len() as u32,
    );
    errors.extend(correlation_errors);
    drop(compiled_refs);
    drop(detections);

    // What a record must have read for each rule: the fields it tests and those its
    // matches carry to correlations.
    let reads: Vec<Reads> = compiled
        .iter()
        .zip(&correlations.feeds)
        .map(|(rule, feed)| {
            let mut reads = rule.reads();
            for (_, id) in feed.iter().flat_map(|feed| feed.fields.iter()) {
                reads.fields.insert(*id);
            }
            reads
        })
        .collect();
    let literals = literals.build(fields.len(), keyword_groups.len());
    let program = Program {
        fields,
        rules: compiled,
        routes: routes.build(&gates, &reads),
        literals,
        timezone: options.timezone.clone(),
        infos: kept_infos,
        idle,
        correlations,
    };
    (program, errors)
}

fn remap_subject(subject: Subject, field_ids: &[FieldId]) -> Subject {
    match subject {
        Subject::Field(local) => Subject::Field(field_ids[local as usize]),
        keywords => keywords,
    }
}

impl CompiledRule {
    /// Replaces rule-local field and needle ids with program-wide ones.
    fn remap(&mut self, field_ids: &[FieldId], needle_ids: &[u32]) {
        for check in &mut self.checks {
            check.subject = remap_subject(check.subject, field_ids);
            for test in check.tests.iter_mut() {
                match test {
                    ValueTest::Str(patterns) => {
                        for pattern in patterns.iter_mut() {
                            if let StrPattern::Literal {
                                needle: Some(needle),
                                ..
                            } = pattern
                            {
                                *needle = needle_ids[*needle as usize];
                            }
                        }
                    }
                    ValueTest::FieldRef { other, .. } => *other = field_ids[*other as usize],
                    _ => {}
                }
            }
        }
    }
}

/// Compiles `rule` for `target` with rule-local ids.
fn compile_local(
    detection: &Detection,
    info: &Arc<RuleInfo>,
    target: &Target,
    keyword_group: u32,
    options: &Options,
    regexes: &item::RegexCache,
) -> Result<LocalRule, RuleError> {
    let error = |pos, message: String| RuleError {
        path: info.source.path.clone(),
        pos,
        rule_id: Some(info.meta.id.clone()),
        title: Some(info.meta.title.clone()),
        message,
    };
    let mut build = RuleBuild {
        target,
        keyword_group,
        options,
        regexes,
        ids: LocalIds::default(),
        checks: Vec::new(),
    };
    let mut selections = Vec::new();
    for named in &detection.selections {
        let expr = build
            .selection(&named.selection)
            .map_err(|(pos, message)| {
                error(pos, format!("selection `{}`: {message}", named.name))
            })?;
        selections.push((Box::<str>::from(named.name.as_str()), expr));
    }
    let condition = condition_expr(&detection.condition, &detection.selections);
    let mut conjuncts = Vec::new();
    for (field, values) in &target.conditions {
        let id = build.ids.field(field);
        let patterns: Vec<StrPattern> = values
            .iter()
            .map(|v| StrPattern::Literal {
                anchor: Anchor::Equals,
                text: v.to_lowercase().into(),
                cased: false,
                needle: None,
            })
            .collect();
        build.checks.push(Check {
            subject: Subject::Field(id),
            field: field.as_str().into(),
            tests: Box::new([ValueTest::Str(patterns.into_boxed_slice())]),
            all: false,
            negate: false,
        });
        conjuncts.push(Expr::Check(build.checks.len() as u32 - 1));
    }
    let condition = if conjuncts.is_empty() {
        condition
    } else {
        conjuncts.push(condition);
        Expr::And(conjuncts.into_boxed_slice())
    };
    let compiled = CompiledRule {
        info: info.clone(),
        service: target.service.clone(),
        channels: target.channels.clone(),
        event_ids: None,
        checks: build.checks,
        selections,
        condition,
    };
    // The gate is found here, on the compiling threads, with rule-local ids.
    let event_id_name = well_known::NAMES[well_known::EVENT_ID as usize];
    let event_id = build
        .ids
        .names
        .iter()
        .position(|name| name == event_id_name);
    let gate = compiled.gate(event_id.map(|id| Subject::Field(id as FieldId)));
    Ok((compiled, build.ids, gate))
}

/// One rule's compilation for one target: where its events come from and what is built.
struct RuleBuild<'a> {
    target: &'a Target,
    keyword_group: u32,
    options: &'a Options,
    regexes: &'a item::RegexCache,
    ids: LocalIds,
    checks: Vec<Check>,
}

impl RuleBuild<'_> {
    fn selection(&mut self, selection: &Selection) -> Result<Expr, (crate::yaml::Pos, String)> {
        match selection {
            Selection::All(items) => {
                let mut terms = Vec::with_capacity(items.len());
                for item in items {
                    let target = self.target;
                    let (subject, name) = match &item.field {
                        Some(field) => (
                            Subject::Field(self.ids.field(target.field_name(field))),
                            field.as_str(),
                        ),
                        None => (Subject::Keywords(self.keyword_group), "keywords"),
                    };
                    let check = item::compile_item(
                        name,
                        subject,
                        &item.modifiers,
                        &item.values,
                        &mut item::ItemContext {
                            placeholders: &self.options.placeholders,
                            calendars: &self.options.site.calendars,
                            ids: &mut self.ids,
                            regexes: self.regexes,
                            rename: &|other| target.field_name(other).to_string(),
                        },
                    )
                    .map_err(|message| {
                        let what = match &item.field {
                            Some(f) if item.modifiers.is_empty() => format!("`{f}`"),
                            Some(f) => format!("`{f}|{}`", item.modifiers.join("|")),
                            None => "keywords".to_string(),
                        };
                        (item.pos, format!("{what}: {message}"))
                    })?;
                    self.checks.push(check);
                    terms.push(Expr::Check(self.checks.len() as u32 - 1));
                }
                Ok(if terms.len() == 1 {
                    terms.remove(0)
                } else {
                    Expr::And(terms.into_boxed_slice())
                })
            }
            Selection::Any(alternatives) => {
                let mut terms = Vec::with_capacity(alternatives.len());
                for alt in alternatives {
                    terms.push(self.selection(alt)?);
                }
                Ok(Expr::Or(terms.into_boxed_slice()))
            }
        }
    }
}

fn condition_expr(condition: &Condition, selections: &[crate::rule::NamedSelection]) -> Expr {
    let index = |name: &str| {
        selections
            .iter()
            .position(|s| s.name == name)
            .expect("references were checked when the rule loaded") as u32
    };
    match condition {
        Condition::Ref(name) => Expr::Selection(index(name)),
        Condition::Not(inner) => Expr::Not(Box::new(condition_expr(inner, selections))),
        Condition::And(terms) => Expr::And(
            terms
                .iter()
                .map(|t| condition_expr(t, selections))
                .collect(),
        ),
        Condition::Or(terms) => Expr::Or(
            terms
                .iter()
                .map(|t| condition_expr(t, selections))
                .collect(),
        ),
        Condition::Of { all, pattern } => {
            let covered: Box<[Expr]> = selections
                .iter()
                .enumerate()
                .filter(|(_, s)| pattern_covers(pattern, &s.name))
                .map(|(i, _)| Expr::Selection(i as u32))
                .collect();
            if *all {
                Expr::And(covered)
            } else {
                Expr::Or(covered)
            }
        }
    }
}

/// What a keyword check needs of a record: a literal of each of its patterns (as a gate is
/// found) must be in some value for it to hold, if all are `filterable`.
fn keyword_reads(check: &Check) -> KeywordReads {
    let mut keywords = Vec::new();
    for test in check.tests.iter() {
        match gate::required_literals(test) {
            Some(literals) if literals.iter().all(|l| keyword_filter::filterable(l)) => {
                keywords.extend(literals)
            }
            _ => return KeywordReads::Everything,
        }
    }
    KeywordReads::Filtered(keywords)
}

/// What evaluating a rule reads of a record: the fields it names, and its keywords.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    pub fields: FieldSet,
    pub keywords: KeywordReads,
}

/// What a rule's keyword searches (checks on every value) need of a record.
#[derive(Debug, Default)]
pub(crate) enum KeywordReads {
    /// It searches no keywords.
    #[default]
    None,
    /// Every value, if a record may hold one of these (lowercase) keywords: one must be in
    /// some value for a search to hold (see `keyword_filter`). A record that surely holds
    /// none can be read in part, and each search is then false, as on the whole record.
    Filtered(Vec<Box<str>>),
    /// Every value of every record.
    Everything,
}

impl KeywordReads {
    /// Needs what `more` needs too.
    pub(crate) fn add(&mut self, more: &KeywordReads) {
        match (&mut *self, more) {
            (KeywordReads::Everything, _) | (_, KeywordReads::None) => {}
            (KeywordReads::Filtered(keywords), KeywordReads::Filtered(more)) => {
                keywords.extend(more.iter().cloned())
            }
            (_, KeywordReads::Filtered(more)) => *self = KeywordReads::Filtered(more.clone()),
            (_, KeywordReads::Everything) => *self = KeywordReads::Everything,
        }
    }
}

impl CompiledRule {
    /// The fields evaluating the rule reads, and what its keyword searches need.
    pub(crate) fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        for check in &self.checks {
            match check.subject {
                Subject::Field(id) => reads.fields.insert(id),
                Subject::Keywords(_) => reads.keywords.add(&keyword_reads(check)),
            }
            for test in check.tests.iter() {
                if let ValueTest::FieldRef { other, .. } = test {
                    reads.fields.insert(*other);
                }
            }
        }
        reads
    }

    /// The event ids `expr` can only be true for, or `None` if it constrains none.
    fn required_event_ids(&self, expr: &Expr) -> Option<BTreeSet<u32>> {
        match expr {
            Expr::Check(i) => event_ids_of(&self.checks[*i as usize]),
            Expr::Selection(i) => self.required_event_ids(&self.selections[*i as usize].1),
            Expr::And(terms) => terms
                .iter()
                .filter_map(|t| self.required_event_ids(t))
                .reduce(|a, b| a.intersection(&b).copied().collect()),
            Expr::Or(terms) => {
                let mut union = BTreeSet::new();
                for term in terms.iter() {
                    union.extend(self.required_event_ids(term)?);
                }
                Some(union)
            }
            Expr::Not(_) => None,
        }
    }
}

/// The event ids a check requires: a plain `EventID: [..]` equality with numeric values.
fn event_ids_of(check: &Check) -> Option<BTreeSet<u32>> {
    if check.subject != Subject::Field(well_known::EVENT_ID) || check.negate {
        return None;
    }
    if check.all && check.tests.len() > 1 {
        return None;
    }
    let mut ids = BTreeSet::new();
    for test in check.tests.iter() {
        let ValueTest::Str(patterns) = test else {
            return None;
        };
        for pattern in patterns.iter() {
            match pattern {
                StrPattern::Literal {
                    anchor: Anchor::Equals,
                    text,
                    ..
                } => ids.insert(text.parse::<u32>().ok()?),
                _ => return None,
            };
        }
    }
    Some(ids)
}

/// Rules read from files and compiled, with every error from either step.
#[derive(Debug)]
pub struct Ruleset {
    pub program: Program,
    pub errors: Vec<RuleError>,
    /// Rule files read.
    pub files: usize,
}

impl Ruleset {
    /// Builds now what a hunt builds on first use, adding what fails to `errors`: for
    /// checking rules (`rules lint`, `rules test`, `hunt --strict`), where every broken rule
    /// must be found before anything runs.
    pub fn build_all(&mut self) {
        let failed = self.program.build_all();
        self.errors.extend(failed);
    }
}

/// Loads every rule under `paths` and compiles them.
pub fn load_and_compile(paths: &[std::path::PathBuf], options: &Options) -> Ruleset {
    let loaded = crate::rule::load(paths);
    let (program, compile_errors) = compile(loaded.rules, loaded.correlations, options);
    let mut errors = loaded.errors;
    errors.extend(compile_errors);
    Ruleset {
        program,
        errors,
        files: loaded.files,
    }
}
