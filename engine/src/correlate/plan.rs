//! Correlation rules resolved against the detection rules they name: which matches feed
//! which correlation, which fields a match must carry, which rules stay silent.
//!
//! Resolution happens once, when rules compile. References (ids or names) become indexes;
//! chains of correlations are put in an order where every correlation comes after the ones
//! it takes firings from (a cycle is an error); aliases and renames become, for each
//! (correlation, named rule) pair, the list of field names to read. A correlation that
//! cannot be resolved is reported and left out, and so is any correlation built on it.

use super::Slot;
use crate::field::{FieldId, FieldTable, FxBuild};
use crate::rule::correlation::{CorrelationRule, CorrelationType, Reference, Threshold, Timespan};
use crate::rule::{Meta, RuleError, Source};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A correlation rule's description, shared by its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationInfo {
    pub meta: Meta,
    pub source: Source,
    pub kind: CorrelationType,
    pub timespan: Timespan,
    pub condition: Threshold,
    /// `group-by`, as written.
    pub group_by: Vec<String>,
    /// `condition.field`, as written.
    pub value_fields: Vec<String>,
    /// The ids of the rules it names, in its order.
    pub rules: Vec<String>,
}

/// A resolved correlation.
#[derive(Debug)]
pub struct Node {
    pub info: Arc<CorrelationInfo>,
    pub timespan_ns: i128,
    /// Per named rule (slot): the names, in that rule's matches, of the group-by fields.
    pub group_fields: Vec<Vec<String>>,
    /// Per slot: the names of the value fields (`value_*` types).
    pub value_fields: Vec<Vec<String>>,
    /// Whether its own alerts are written (no correlation built on it says `generate: false`).
    pub emits: bool,
    /// The correlations its firings feed.
    pub outputs: Vec<Slot>,
    /// Its place in the output order among all rules (after every detection rule).
    pub rank: u32,
}

/// What a compiled detection rule must do for correlations.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// The fields a match carries: (name as correlations write it, event field id).
    pub fields: Box<[(Box<str>, FieldId)]>,
}

/// Every correlation of a rule set, resolved.
#[derive(Debug, Default)]
pub struct Plan {
    /// Inputs before the correlations built on them.
    pub nodes: Vec<Node>,
    /// Detection rule id → the correlations it feeds (looked up for every match).
    pub inputs: HashMap<String, Vec<Slot>, FxBuild>,
    /// Per compiled rule: what its matches carry, if a correlation reads them.
    pub(crate) feeds: Vec<Option<Feed>>,
    /// Per compiled rule: true when a correlation says `generate: false` for it.
    pub(crate) silent: Vec<bool>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The correlations, inputs first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The correlations in independent chains: two are in one chain when one takes the
    /// other's firings, directly or through others. Nothing one chain does changes what
    /// another sees, so chains can run apart. Each chain lists its nodes in plan order;
    /// chains come in the order of their first node.
    pub fn chains(&self) -> Vec<Vec<u32>> {
        // Union-find over the edges from a correlation to those built on it.
        let mut parent: Vec<u32> = (0..self.nodes.len() as u32).collect();
        fn root(parent: &mut [u32], mut node: u32) -> u32 {
            while parent[node as usize] != node {
                let up = parent[parent[node as usize] as usize];
                parent[node as usize] = up;
                node = up;
            }
            node
        }
        for (index, node) in self.nodes.iter().enumerate() {
            for output in &node.outputs {
                let (a, b) = (
                    root(&mut parent, index as u32),
                    root(&mut parent, output.node),
                );
                parent[a.max(b) as usize] = a.min(b);
            }
        }
        let mut chains: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for node in 0..self.nodes.len() as u32 {
            chains
                .entry(root(&mut parent, node))
                .or_default()
                .push(node);
        }
        chains.into_values().collect()
    }
}

/// A detection rule as resolution sees it.
pub(crate) struct DetectionRef<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

/// A compiled form of a detection rule: its id and how its logsource renames fields.
pub(crate) struct CompiledRef<'a> {
    pub id: &'a str,
    pub renames: &'a BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Detection(usize),
    Correlation(usize),
}

/// Resolves `correlations` against `detections` (every loaded rule) and their compiled
/// forms. Field names the feeds need are added to `fields`. `first_rank` is the number of
/// compiled rules: correlations come after them in the output order.
pub(crate) fn build(
    correlations: Vec<CorrelationRule>,
    detections: &[DetectionRef<'_>],
    compiled: &[CompiledRef<'_>],
    fields: &mut FieldTable,
    first_rank: u32,
) -> (Plan, Vec<RuleError>) {
    let mut errors = Vec::new();
    let error = |c: &CorrelationRule, pos: crate::yaml::Pos, message: String| RuleError {
        path: c.source.path.clone(),
        pos,
        rule_id: Some(c.meta.id.clone()),
        title: Some(c.meta.title.clone()),
        message,
    };

    let mut names: HashMap<&str, Target> = HashMap::new();
    for (i, d) in detections.iter().enumerate() {
        names.insert(d.id, Target::Detection(i));
        if let Some(name) = d.name {
            names.insert(name, Target::Detection(i));
        }
    }
    for (i, c) in correlations.iter().enumerate() {
        names.insert(&c.meta.id, Target::Correlation(i));
        if let Some(name) = &c.meta.name {
            names.insert(name, Target::Correlation(i));
        }
    }

    // References, or why a correlation cannot be used.
    let mut targets: Vec<Result<Vec<Target>, ()>> = correlations
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut resolved = Vec::new();
            for reference in &c.rules {
                match names.get(reference.name.as_str()) {
                    Some(&Target::Correlation(j)) if j == i => {
                        errors.push(error(
                            c,
                            reference.pos,
                            "a correlation cannot name itself".into(),
                        ));
                        return Err(());
                    }
                    Some(&target) => resolved.push(target),
                    None => {
                        errors.push(error(
                            c,
                            reference.pos,
                            format!(
                                "names rule `{}`, which is not loaded (or did not compile)",
                                reference.name
                            ),
                        ));
                        return Err(());
                    }
                }
            }
            Ok(resolved)
        })
        .collect();

    // Order: a depth-first walk puts inputs first and finds cycles.
    let order = topological_order(&correlations, &mut targets, &mut errors, &error);

    // Field names per slot.
    let mut nodes: Vec<Node> = Vec::new();
    let mut node_of: HashMap<usize, usize> = HashMap::new();
    let mut inputs: HashMap<String, Vec<Slot>, FxBuild> = HashMap::default();
    let mut generate_false_detection: Vec<bool> = vec![false; detections.len()];
    let mut generate_false_node: Vec<bool> = Vec::new();
    'correlations: for c_index in order {
        let c = &correlations[c_index];
        let Ok(slots) = &targets[c_index] else {
            continue;
        };
        let mut group_fields = Vec::new();
        let mut value_fields = Vec::new();
        for (reference, target) in c.rules.iter().zip(slots) {
            // The names this named rule is known by, for alias lookups.
            let known: Vec<&str> = match *target {
                Target::Detection(d) => std::iter::once(detections[d].id)
                    .chain(detections[d].name)
                    .collect(),
                Target::Correlation(j) => std::iter::once(correlations[j].meta.id.as_str())
                    .chain(correlations[j].meta.name.as_deref())
                    .collect(),
            };
            let resolve = |name: &str| -> Result<String, String> {
                let Some(alias) = c.aliases.iter().find(|a| a.name == name) else {
                    return Ok(name.to_string());
                };
                alias
                    .fields
                    .iter()
                    .find(|(rule, _)| known.contains(&rule.name.as_str()))
                    .map(|(_, field)| field.clone())
                    .ok_or_else(|| {
                        format!(
                            "alias `{name}` gives no field for rule `{}`",
                            reference.name
                        )
                    })
            };
            let resolve_all = |names: &[String]| -> Result<Vec<String>, String> {
                names.iter().map(|n| resolve(n)).collect()
            };
            let (group, values) = match (resolve_all(&c.group_by), resolve_all(&c.value_fields)) {
                (Ok(g), Ok(v)) => (g, v),
                (Err(e), _) | (_, Err(e)) => {
                    errors.push(error(c, c.pos, e));
                    continue 'correlations;
                }
            };
            // A correlation's firings carry its group-by values and nothing else.
            if let Target::Correlation(j) = *target {
                let Some(&inner) = node_of.get(&j) else {
                    errors.push(error(
                        c,
                        reference.pos,
                        format!("names correlation `{}`, which was refused", reference.name),
                    ));
                    continue 'correlations;
                };
                let offered = &nodes[inner].info.group_by;
                if let Some(missing) = group.iter().chain(&values).find(|f| !offered.contains(f)) {
                    errors.push(error(
                        c,
                        reference.pos,
                        format!(
                            "correlation `{}` groups by [{}], so its firings have no `{missing}`",
                            reference.name,
                            offered.join(", ")
                        ),
                    ));
                    continue 'correlations;
                }
            }
            group_fields.push(group);
            value_fields.push(values);
        }
        let index = nodes.len();
        node_of.insert(c_index, index);
        for (slot, target) in slots.iter().enumerate() {
            let at = Slot {
                node: index as u32,
                slot: slot as u32,
            };
            match *target {
                Target::Detection(d) => {
                    inputs
                        .entry(detections[d].id.to_string())
                        .or_default()
                        .push(at);
                    if !c.generate {
                        generate_false_detection[d] = true;
                    }
                }
                Target::Correlation(j) => {
                    let inner = node_of[&j];
                    nodes[inner].outputs.push(at);
                    if !c.generate {
                        generate_false_node[inner] = true;
                    }
                }
            }
        }
        generate_false_node.push(false);
        nodes.push(Node {
            info: Arc::new(CorrelationInfo {
                meta: c.meta.clone(),
                source: c.source.clone(),
                kind: c.kind,
                timespan: c.timespan.clone(),
                condition: c.condition,
                group_by: c.group_by.clone(),
                value_fields: c.value_fields.clone(),
                rules: slots
                    .iter()
                    .map(|t| match *t {
                        Target::Detection(d) => detections[d].id.to_string(),
                        Target::Correlation(j) => correlations[j].meta.id.clone(),
                    })
                    .collect(),
            }),
            timespan_ns: i128::from(c.timespan.seconds) * 1_000_000_000,
            group_fields,
            value_fields,
            emits: true,
            outputs: Vec::new(),
            rank: 0,
        });
    }
    for (node, silent) in nodes.iter_mut().zip(&generate_false_node) {
        node.emits = !silent;
    }
    let mut by_id: Vec<usize> = (0..nodes.len()).collect();
    by_id.sort_by(|&a, &b| nodes[a].info.meta.id.cmp(&nodes[b].info.meta.id));
    for (position, index) in by_id.into_iter().enumerate() {
        nodes[index].rank = first_rank + position as u32;
    }

    // What each compiled rule's matches carry, and whether it stays silent.
    let silent_ids: Vec<&str> = detections
        .iter()
        .zip(&generate_false_detection)
        .filter(|(_, silent)| **silent)
        .map(|(d, _)| d.id)
        .collect();
    let mut feeds = Vec::with_capacity(compiled.len());
    let mut silent = Vec::with_capacity(compiled.len());
    for rule in compiled {
        silent.push(silent_ids.contains(&rule.id));
        let Some(slots) = inputs.get(rule.id) else {
            feeds.push(None);
            continue;
        };
        let mut wanted: Vec<&str> = Vec::new();
        for at in slots {
            let node = &nodes[at.node as usize];
            let slot = at.slot as usize;
            for name in node.group_fields[slot]
                .iter()
                .chain(&node.value_fields[slot])
            {
                if !wanted.contains(&name.as_str()) {
                    wanted.push(name);
                }
            }
        }
        let fields_of_rule = wanted
            .into_iter()
            .map(|name| {
                let event_name = rule.renames.get(name).map_or(name, String::as_str);
                (Box::<str>::from(name), fields.intern(event_name))
            })
            .collect();
        feeds.push(Some(Feed {
            fields: fields_of_rule,
        }));
    }

    (
        Plan {
            nodes,
            inputs,
            feeds,
            silent,
        },
        errors,
    )
}

/// Correlations in an order where each follows those it names. Members of a cycle, and
/// correlations naming a refused one, are marked unusable (and reported).
fn topological_order(
    correlations: &[CorrelationRule],
    targets: &mut [Result<Vec<Target>, ()>],
    errors: &mut Vec<RuleError>,
    error: &dyn Fn(&CorrelationRule, crate::yaml::Pos, String) -> RuleError,
) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        correlations: &[CorrelationRule],
        targets: &mut [Result<Vec<Target>, ()>],
        marks: &mut [Mark],
        order: &mut Vec<usize>,
        errors: &mut Vec<RuleError>,
        error: &dyn Fn(&CorrelationRule, crate::yaml::Pos, String) -> RuleError,
    ) -> bool {
        match marks[i] {
            Mark::Done => return targets[i].is_ok(),
            Mark::Active => return false,
            Mark::New => {}
        }
        marks[i] = Mark::Active;
        let inner: Vec<(usize, &Reference)> = match &targets[i] {
            Ok(list) => list
                .iter()
                .zip(&correlations[i].rules)
                .filter_map(|(t, r)| match t {
                    Target::Correlation(j) => Some((*j, r)),
                    Target::Detection(_) => None,
                })
                .collect(),
            Err(()) => Vec::new(),
        };
        let mut usable = targets[i].is_ok();
        for (j, reference) in inner {
            if marks[j] == Mark::Active {
                errors.push(error(
                    &correlations[i],
                    reference.pos,
                    format!(
                        "names `{}`, which leads back to this correlation (a cycle)",
                        reference.name
                    ),
                ));
                usable = false;
            } else if !visit(j, correlations, targets, marks, order, errors, error) && usable {
                errors.push(error(
                    &correlations[i],
                    reference.pos,
                    format!("names correlation `{}`, which was refused", reference.name),
                ));
                usable = false;
            }
        }
        if !usable {
            targets[i] = Err(());
        }
        marks[i] = Mark::Done;
        order.push(i);
        usable
    }
    let mut marks = vec![Mark::New; correlations.len()];
    let mut order = Vec::new();
    for i in 0..correlations.len() {
        visit(
            i,
            correlations,
            targets,
            &mut marks,
            &mut order,
            errors,
            error,
        );
    }
    order
}
