//! The correlation stage's side of a hunt: match records in, correlation alerts out. The
//! batch hunt feeds it every match once all inputs are read, in time order; the stream
//! feeds it each event's matches as they come.

use super::evaluate::Context;
use crate::alert::CorrelationAlert;
use crate::correlate::{self, Correlator, MatchRef};
use crate::order::{Batch, SortKey, Sorter};
use std::io;
use std::sync::atomic::Ordering;

/// Hands one match record (`correlate::wire`, as `Evaluator` writes it) to `correlator`.
pub(crate) fn push_match(
    context: &Context<'_>,
    correlator: &mut Correlator<'_>,
    key: SortKey,
    bytes: &[u8],
) -> io::Result<()> {
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, "a damaged match record");
    let program = context.program;
    let m = correlate::wire::decode(bytes).ok_or_else(damaged)?;
    let compiled = program
        .compiled_rules()
        .get(m.rule as usize)
        .ok_or_else(damaged)?;
    let feed = program.feed(m.rule).ok_or_else(damaged)?;
    let input = context.files.get(m.file as usize).ok_or_else(damaged)?;
    let fields = feed
        .fields
        .iter()
        .zip(m.values)
        .map(|((name, _), value)| (&**name, value))
        .collect();
    correlator.push(
        key,
        MatchRef {
            time: m.time,
            rule: &compiled.info.meta.id,
            host: m.host,
            channel: m.channel,
            record_id: m.record,
            file: &context.names[m.file as usize],
            format: input.format.as_str(),
            fields,
        },
    );
    Ok(())
}

/// What has fired so far, as serialized alerts with their place in the output (a
/// correlation kept silent by one built on it writes nothing).
pub(crate) fn fired_alerts(
    context: &Context<'_>,
    correlator: &mut Correlator<'_>,
    alerts: &mut Batch,
) {
    let plan = context.program.correlations();
    for fired in correlator.drain() {
        let node = &plan.nodes()[fired.node as usize];
        if !node.emits {
            continue;
        }
        context.levels[node.info.meta.level as usize].fetch_add(1, Ordering::Relaxed);
        let alert = CorrelationAlert::new(&node.info, &fired, context.options.lang);
        let number = context.correlation_number(fired.node);
        context.make_rule_text(number, &node.info.meta, &node.info.source.path);
        alerts.push_with(fired.key, |bytes| alert.write_entry(number, bytes));
    }
}

/// The batch stage: every match, in time order, through the correlator; what fires goes
/// to `alerts`.
pub(crate) fn correlate_all(
    context: &Context<'_>,
    matches: Sorter,
    alerts: &mut Sorter,
) -> io::Result<correlate::Stats> {
    let mut correlator =
        Correlator::new(context.program.correlations(), context.options.max_groups);
    let mut fired = Batch::new();
    matches.for_each(|key, bytes| {
        push_match(context, &mut correlator, key, bytes)?;
        fired_alerts(context, &mut correlator, &mut fired);
        alerts.extend(&mut fired)
    })?;
    correlator.finish();
    fired_alerts(context, &mut correlator, &mut fired);
    alerts.extend(&mut fired)?;
    Ok(correlator.stats())
}
