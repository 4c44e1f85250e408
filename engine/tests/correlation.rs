//! Correlation semantics: windows, conditions, groups, chains, aliases, `generate`,
//! duplicates and the group cap, driven through the correlation stage with hand-made
//! match streams (the end-to-end tests run the same rules over generated EVTX files).

mod common;

use common::try_program_with;
use tansa_engine::compile::{Options, Program};
use tansa_engine::correlate::{Correlator, Fired, Match, Stats};
use tansa_engine::order::SortKey;

const BASE: &str = "title: Failed logon
id: failed
name: failed_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Successful logon
id: success
name: successful_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  condition: selection
---
title: Share access
id: share
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 5140}
  condition: selection
";

fn program(correlations: &str) -> Program {
    let (program, errors) =
        try_program_with(&format!("{BASE}---\n{correlations}"), &Options::default());
    assert!(errors.is_empty(), "{errors:#?}");
    program
}

fn errors(correlations: &str) -> Vec<String> {
    try_program_with(&format!("{BASE}---\n{correlations}"), &Options::default()).1
}

/// One match: seconds after the start, rule id, and field values.
struct M<'a>(i64, &'a str, &'a [(&'a str, &'a str)]);

const START: i64 = 1_700_000_000_000_000_000;

/// Feeds the matches, in order, to a correlator over `program`'s correlations (with a
/// live-group cap) and returns what fired, in output order, and the stage's counts.
fn run_with(program: &Program, matches: &[M<'_>], max_groups: usize) -> (Vec<Fired>, Stats) {
    let mut correlator = Correlator::new(program.correlations(), max_groups);
    let mut fired = Vec::new();
    for (record, M(seconds, rule, fields)) in matches.iter().enumerate() {
        let m = Match {
            time: START + seconds * 1_000_000_000,
            rule: rule.to_string(),
            host: Some("DC01".into()),
            channel: Some("Security".into()),
            record_id: record as u64 + 1,
            file: "Security.evtx".into(),
            format: "evtx".into(),
            fields: fields
                .iter()
                .map(|(n, v)| (n.to_string(), Some(v.to_string())))
                .collect(),
        };
        correlator.push(key(&m), &m.as_ref());
        fired.extend(correlator.drain());
    }
    correlator.finish();
    fired.extend(correlator.drain());
    fired.sort_by_key(|f| f.key);
    (fired, correlator.stats())
}

fn key(m: &Match) -> SortKey {
    SortKey {
        time: m.time.into(),
        file: 0,
        record: m.record_id,
        rule: 0,
    }
}

fn run(program: &Program, matches: &[M<'_>]) -> Vec<Fired> {
    run_with(program, matches, usize::MAX).0
}

fn ip(address: &str) -> [(&str, &str); 1] {
    [("IpAddress", address)]
}

const BRUTE_FORCE: &str = "title: Brute force
id: bf
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 60s
  condition: {gte: 3}
";

#[test]
fn event_count_fires_at_the_threshold_and_not_one_below() {
    let p = program(BRUTE_FORCE);
    let a = ip("10.0.0.1");
    let below = run(&p, &[M(0, "failed", &a), M(10, "failed", &a)]);
    assert!(below.is_empty());
    let at = run(
        &p,
        &[M(0, "failed", &a), M(10, "failed", &a), M(20, "failed", &a)],
    );
    assert_eq!(at.len(), 1);
    assert_eq!(at[0].value, 3.0);
    assert_eq!(at[0].events_total, 3);
    assert_eq!(
        at[0].group,
        [("IpAddress".to_string(), Some("10.0.0.1".to_string()))]
    );
}

#[test]
fn a_burst_is_one_alert_with_every_event_and_its_matches_are_then_spent() {
    let p = program(BRUTE_FORCE);
    let a = ip("10.0.0.1");
    let mut stream: Vec<M> = (0..10).map(|i| M(i * 5, "failed", &a)).collect();
    let fired = run(&p, &stream);
    assert_eq!(fired.len(), 1, "one burst, one alert");
    assert_eq!(fired[0].events_total, 10);
    assert_eq!(fired[0].peak, 10.0);
    assert_eq!(fired[0].evidence.len(), 10);
    // The burst stops for longer than the window, then two more: not enough for another.
    stream.push(M(200, "failed", &a));
    stream.push(M(201, "failed", &a));
    assert_eq!(run(&p, &stream).len(), 1);
    stream.push(M(202, "failed", &a));
    let fired = run(&p, &stream);
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[1].events_total, 3);
}

#[test]
fn window_edges_are_inclusive() {
    let p = program(BRUTE_FORCE);
    let a = ip("10.0.0.1");
    // First and last exactly one timespan (60 s) apart: in one window.
    assert_eq!(
        run(
            &p,
            &[M(0, "failed", &a), M(30, "failed", &a), M(60, "failed", &a)]
        )
        .len(),
        1
    );
    // One second more: the first has left the window.
    assert!(
        run(
            &p,
            &[M(0, "failed", &a), M(30, "failed", &a), M(61, "failed", &a)]
        )
        .is_empty()
    );
}

#[test]
fn windows_slide_over_clock_boundaries() {
    let p = program(BRUTE_FORCE);
    let a = ip("10.0.0.1");
    // 00:00:50, 00:01:05, 00:01:10: a fixed one-minute bin would split them 1 + 2.
    assert_eq!(
        run(
            &p,
            &[
                M(50, "failed", &a),
                M(65, "failed", &a),
                M(70, "failed", &a)
            ]
        )
        .len(),
        1
    );
}

#[test]
fn interleaved_groups_are_counted_apart() {
    let p = program(BRUTE_FORCE);
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let stream = [
        M(0, "failed", &a),
        M(1, "failed", &b),
        M(2, "failed", &a),
        M(3, "failed", &b),
        M(4, "failed", &a),
        M(5, "failed", &b),
        M(6, "failed", &b),
    ];
    let fired = run(&p, &stream);
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[0].group[0].1.as_deref(), Some("10.0.0.1"));
    assert_eq!(fired[0].events_total, 3);
    assert_eq!(fired[1].group[0].1.as_deref(), Some("10.0.0.2"));
    assert_eq!(fired[1].events_total, 4);
}

#[test]
fn ipv4_mapped_addresses_group_with_their_ipv4_form() {
    let p = program(BRUTE_FORCE);
    let stream = [
        M(0, "failed", &ip("10.0.0.66")),
        M(1, "failed", &ip("::ffff:10.0.0.66")),
        M(2, "failed", &ip("::FFFF:10.0.0.66")),
    ];
    let fired = run(&p, &stream);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].group[0].1.as_deref(), Some("10.0.0.66"));
    // Other IPv6 addresses stay as they are.
    let other = run(
        &p,
        &[
            M(0, "failed", &ip("::ffff:10.0.0.66")),
            M(1, "failed", &ip("fe80::1")),
            M(2, "failed", &ip("10.0.0.66")),
        ],
    );
    assert!(other.is_empty());
}

#[test]
fn value_count_counts_distinct_values() {
    let p = program(
        "title: Spray
id: spray
correlation:
  type: value_count
  rules: [failed]
  group-by: [IpAddress]
  timespan: 10m
  condition: {gte: 3, field: TargetUserName}
",
    );
    let user = |u: &'static str| -> &'static [(&'static str, &'static str)] {
        Box::leak(Box::new([("IpAddress", "10.0.0.9"), ("TargetUserName", u)]))
    };
    let same_user = run(
        &p,
        &[
            M(0, "failed", user("alice")),
            M(1, "failed", user("alice")),
            M(2, "failed", user("bob")),
            M(3, "failed", user("bob")),
        ],
    );
    assert!(same_user.is_empty(), "two users, however many tries");
    let fired = run(
        &p,
        &[
            M(0, "failed", user("alice")),
            M(1, "failed", user("bob")),
            M(2, "failed", user("alice")),
            M(3, "failed", user("carol")),
        ],
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].values, ["alice", "bob", "carol"]);
    assert_eq!(fired[0].values_total, 3);
    assert_eq!(fired[0].events_total, 4);
}

#[test]
fn value_sum_and_value_avg() {
    let p = program(
        "title: Big transfer
id: sum
correlation:
  type: value_sum
  rules: [share]
  group-by: [IpAddress]
  timespan: 1h
  condition: {gt: 1000, field: Bytes}
---
title: Big average
id: avg
correlation:
  type: value_avg
  rules: [share]
  group-by: [IpAddress]
  timespan: 1h
  condition: {gte: 600, field: Bytes}
",
    );
    let bytes = |n: &'static str| -> &'static [(&'static str, &'static str)] {
        Box::leak(Box::new([("IpAddress", "10.0.0.3"), ("Bytes", n)]))
    };
    let fired = run(
        &p,
        &[
            M(0, "share", bytes("400")),
            M(1, "share", bytes("500")),
            M(2, "share", bytes("not a number")),
            M(3, "share", bytes("200")),
        ],
    );
    let ids: Vec<&str> = fired
        .iter()
        .map(|f| {
            p.correlations().nodes()[f.node as usize]
                .info
                .meta
                .id
                .as_str()
        })
        .collect();
    // The sum passes 1000 at the fourth match; the average was never 600 or more.
    assert_eq!(ids, ["sum"]);
    assert_eq!(fired[0].value, 1100.0);
}

#[test]
fn temporal_needs_every_rule_in_the_window_in_any_order() {
    let p = program(
        "title: Both
id: both
correlation:
  type: temporal
  rules: [failed, success]
  group-by: [IpAddress]
  timespan: 60s
",
    );
    let a = ip("10.0.0.1");
    assert_eq!(
        run(&p, &[M(0, "success", &a), M(30, "failed", &a)]).len(),
        1
    );
    assert!(run(&p, &[M(0, "success", &a), M(90, "failed", &a)]).is_empty());
    assert!(run(&p, &[M(0, "failed", &a), M(10, "failed", &a)]).is_empty());
}

#[test]
fn temporal_ordered_needs_the_order_of_rules() {
    let p = program(
        "title: Fail then succeed
id: then
correlation:
  type: temporal_ordered
  rules: [failed, success]
  group-by: [IpAddress]
  timespan: 60s
",
    );
    let a = ip("10.0.0.1");
    assert!(run(&p, &[M(0, "success", &a), M(30, "failed", &a)]).is_empty());
    let fired = run(
        &p,
        &[
            M(0, "success", &a),
            M(30, "failed", &a),
            M(40, "success", &a),
        ],
    );
    assert_eq!(fired.len(), 1);
    // The success before the failure is not part of the sequence, nor of its evidence.
    assert_eq!(fired[0].rule_counts, [1, 1]);
    assert_eq!(fired[0].first_time, START + 30 * 1_000_000_000);
}

#[test]
fn upper_bounds_are_judged_on_whole_windows() {
    let p = program(
        "title: Quiet source
id: quiet
correlation:
  type: event_count
  rules: [failed]
  group-by: [IpAddress]
  timespan: 60s
  condition: {lt: 3}
",
    );
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let fired = run(
        &p,
        &[
            M(0, "failed", &a),
            M(1, "failed", &b),
            M(2, "failed", &b),
            M(3, "failed", &b),
            M(10, "failed", &a),
        ],
    );
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0].group[0].1.as_deref(), Some("10.0.0.1"));
    assert_eq!(fired[0].value, 2.0);
    // It fires when the window closes: one timespan after its first match.
    assert_eq!(fired[0].time, START + 60 * 1_000_000_000);
}

#[test]
fn chained_correlations_with_aliases_follow_the_spec_example() {
    // The spec's "many failed logins, then a success" with differently named fields.
    let p = program(
        "title: Many failed logins
id: many
name: many_failed_logins
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 10m
  condition: {gte: 3}
---
title: Then a success
id: then_success
level: high
correlation:
  type: temporal_ordered
  rules: [many_failed_logins, successful_logon]
  group-by: [user]
  aliases:
    user:
      many_failed_logins: TargetUserName
      successful_logon: SubjectUserName
  timespan: 1h
",
    );
    let fail: &[(&str, &str)] = &[("TargetUserName", "alice")];
    let other: &[(&str, &str)] = &[("TargetUserName", "bob")];
    let ok: &[(&str, &str)] = &[("SubjectUserName", "alice")];
    let ok_bob: &[(&str, &str)] = &[("SubjectUserName", "bob")];
    let stream = [
        M(0, "success", ok), // before the failures: not a sequence
        M(10, "failed", fail),
        M(20, "failed", fail),
        M(25, "failed", other),
        M(30, "failed", fail), // the inner correlation fires here
        M(40, "success", ok_bob),
        M(50, "success", ok),
    ];
    let fired = run(&p, &stream);
    let nodes = p.correlations().nodes();
    let outer: Vec<&Fired> = fired
        .iter()
        .filter(|f| nodes[f.node as usize].info.meta.id == "then_success")
        .collect();
    assert_eq!(outer.len(), 1, "{fired:#?}");
    assert_eq!(
        outer[0].group,
        [("user".to_string(), Some("alice".to_string()))]
    );
    assert_eq!(outer[0].time, START + 50 * 1_000_000_000);
    // Its evidence is the failures that made the inner correlation fire, that firing (with
    // the inner alert's id), then the success.
    let inner = fired
        .iter()
        .find(|f| nodes[f.node as usize].info.meta.id == "many")
        .unwrap();
    let evidence: Vec<(&str, Option<&str>)> = outer[0]
        .evidence
        .iter()
        .map(|e| (&*e.rule, e.alert.as_deref()))
        .collect();
    assert_eq!(
        evidence,
        [
            ("failed", None),
            ("failed", None),
            ("failed", None),
            ("many", Some(inner.id.as_str())),
            ("success", None)
        ]
    );
    assert_eq!(outer[0].events_total, 5);
    assert_eq!(outer[0].first_time, START + 10 * 1_000_000_000);
    assert_eq!(outer[0].rule_counts, [1, 1]);
    // generate is false: the inner correlation and both base rules stay silent.
    let inner_node = nodes.iter().find(|n| n.info.meta.id == "many").unwrap();
    assert!(!inner_node.emits);
    let raises: Vec<bool> = (0..p.compiled_rules().len() as u32)
        .map(|r| p.raises_alerts(r))
        .collect();
    assert_eq!(
        raises,
        [false, false, true],
        "failed and success are silent, share is not"
    );
}

#[test]
fn the_same_event_read_twice_counts_once() {
    let p = program(BRUTE_FORCE);
    let mut correlator = Correlator::new(p.correlations(), usize::MAX);
    // Records 1 and 2, each read from two copies of the log: still two events, below 3.
    for (record, file) in [(1, "a"), (1, "b"), (2, "a"), (2, "b")] {
        let m = Match {
            time: START + record as i64,
            rule: "failed".into(),
            host: Some("DC01".into()),
            channel: Some("Security".into()),
            record_id: record,
            file: format!("{file}/Security.evtx"),
            format: "evtx".into(),
            fields: vec![("IpAddress".into(), Some("10.0.0.1".into()))],
        };
        correlator.push(key(&m), &m.as_ref());
    }
    correlator.finish();
    assert!(correlator.drain().is_empty());
    assert_eq!(correlator.stats().duplicates, 2);
    assert_eq!(correlator.stats().matches, 4);
}

#[test]
fn groups_past_the_cap_are_counted_not_lost_silently() {
    let p = program(BRUTE_FORCE);
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let (fired, stats) = run_with(
        &p,
        &[
            M(0, "failed", &a),
            M(1, "failed", &b),
            M(2, "failed", &a),
            M(3, "failed", &a),
            M(200, "failed", &b),
        ],
        1,
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(
        stats.over_cap, 1,
        "b's first match found no room; its second did, after a expired"
    );
    assert_eq!(stats.peak_groups, 1);
}

/// With `BRUTE_FORCE`, correlations in three independent chains: the brute force and the
/// success after it, a spray, and a whole-window upper bound.
const TWO_MORE_CHAINS: &str = "title: Then a success
id: then
correlation:
  type: temporal_ordered
  rules: [bf, successful_logon]
  group-by: [IpAddress]
  timespan: 120s
---
title: Spray
id: spray
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 300s
  condition: {field: TargetUserName, gte: 3}
---
title: Few shares
id: few
correlation:
  type: event_count
  rules: [share]
  group-by: [IpAddress]
  timespan: 60s
  condition: {lt: 2}
";

#[test]
fn chains_run_apart_fire_what_one_correlator_fires() {
    let p = program(&format!("{BRUTE_FORCE}---\n{TWO_MORE_CHAINS}"));
    let plan = p.correlations();
    let chains = plan.chains();
    let id = |node: u32| plan.nodes()[node as usize].info.meta.id.as_str();
    let named: Vec<Vec<&str>> = chains
        .iter()
        .map(|chain| chain.iter().map(|&n| id(n)).collect())
        .collect();
    let mut sorted: Vec<Vec<&str>> = named
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.sort();
            c
        })
        .collect();
    sorted.sort();
    assert_eq!(sorted, [vec!["bf", "then"], vec!["few"], vec!["spray"]]);

    // A pseudo-random stream: three rules, six addresses, five users, now and then the
    // same event twice.
    let mut state = 7u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut matches = Vec::new();
    let mut time = START;
    for record in 0..3000u64 {
        time += next(6) as i64 * 1_000_000_000;
        let rule = ["failed", "success", "share"][next(3) as usize];
        let m = Match {
            time,
            rule: rule.into(),
            host: Some("DC01".into()),
            channel: Some("Security".into()),
            record_id: record,
            file: "Security.evtx".into(),
            format: "evtx".into(),
            fields: vec![
                ("IpAddress".into(), Some(format!("10.0.0.{}", next(6)))),
                ("TargetUserName".into(), Some(format!("user{}", next(5)))),
            ],
        };
        if next(20) == 0 {
            matches.push(m.clone());
        }
        matches.push(m);
    }
    let run = |correlators: &mut [Correlator<'_>]| {
        let mut fired = Vec::new();
        for m in &matches {
            for correlator in correlators.iter_mut() {
                correlator.push(key(m), &m.as_ref());
                fired.extend(correlator.drain());
            }
        }
        let mut stats = Stats::default();
        for correlator in correlators.iter_mut() {
            correlator.finish();
            fired.extend(correlator.drain());
            stats.add(&correlator.stats());
        }
        fired.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.id.cmp(&b.id)));
        (fired, stats)
    };
    let text =
        |fired: &[Fired]| -> Vec<String> { fired.iter().map(|f| format!("{f:?}")).collect() };
    let (together, one) = run(&mut [Correlator::new(plan, usize::MAX)]);
    let mut apart: Vec<Correlator<'_>> = chains
        .iter()
        .map(|nodes| Correlator::for_nodes(plan, usize::MAX, nodes))
        .collect();
    let (separately, all) = run(&mut apart);
    for node in 0..plan.nodes().len() as u32 {
        assert!(
            together.iter().any(|f| f.node == node),
            "the stream makes {} fire",
            id(node)
        );
    }
    assert_eq!(text(&together), text(&separately));
    assert_eq!(
        (all.matches, all.duplicates, all.fired, all.over_cap),
        (one.matches, one.duplicates, one.fired, one.over_cap)
    );
    assert!(one.duplicates > 0);
    assert!(all.peak_groups >= one.peak_groups);
}

#[test]
fn resolution_mistakes_are_reported_with_their_position() {
    let e = errors(
        "title: x\nid: x\ncorrelation:\n  type: event_count\n  rules: [nope]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains(":28:11: rule x: names rule `nope`"), "{e:?}");
    let e = errors(
        "title: x\nid: x\ncorrelation:\n  type: event_count\n  rules: [y]\n  timespan: 1m\n  condition: {gte: 2}\n---\ntitle: y\nid: y\ncorrelation:\n  type: event_count\n  rules: [x]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().any(|m| m.contains("cycle")), "{e:?}");
    let e = errors(
        "title: x\nid: x\ncorrelation:\n  type: temporal\n  rules: [failed, success]\n  group-by: [user]\n  aliases:\n    user: {failed: TargetUserName}\n  timespan: 1m\n",
    );
    assert!(
        e[0].contains("alias `user` gives no field for rule `success`"),
        "{e:?}"
    );
    let e = errors(&format!(
        "{BRUTE_FORCE}---\ntitle: y\nid: y\ncorrelation:\n  type: temporal\n  rules: [bf, success]\n  group-by: [TargetUserName]\n  timespan: 1m\n"
    ));
    assert!(
        e[0].contains("groups by [IpAddress], so its firings have no `TargetUserName`"),
        "{e:?}"
    );
}
