//! Micro-benchmarks of the per-record hot paths, with criterion:
//! `cargo bench -p tansa-engine --bench hot_paths`.
//!
//! - `flatten`: one rendered EVTX record (a 4624 logon, as evtx renders it) into an `Event`;
//! - `chunk/direct` and `chunk/xml`: a chunk of such logons (written by tansa's EVTX writer)
//!   read into events from their BinXML templates, and through evtx's XML as before;
//! - `match/pack` and `match/sigmahq`: routing and evaluating that event against tansa's
//!   pack, and against SigmaHQ's Windows rules when `../shared/corpus` is there;
//! - `correlate`: one match into the correlation stage (the pack's brute-force and spray
//!   correlations, 1,000 source addresses in turn).
//!
//! The whole-process figures are `bench/run.sh`'s; these say where a record's time goes.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use tansa_engine::compile::{Options, Program, load_and_compile};
use tansa_engine::correlate::Correlator;
use tansa_engine::correlate::MatchRef;
use tansa_engine::eval::Scratch;
use tansa_engine::event::{Event, Handled};
use tansa_engine::field::Wanted;
use tansa_engine::input::evtx_xml::flatten;
use tansa_engine::order::SortKey;

/// A network logon as evtx renders it for tansa (`indent(false)`: no whitespace between
/// elements).
const LOGON_4624: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-A5BA-3E3B0328C30D}"></Provider><EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime="2024-05-01T01:14:00.123456Z"></TimeCreated><EventRecordID>182734</EventRecordID><Correlation ActivityID="{D3A1C7E2-9F3B-0001-5BC8-A1D39F3BDA01}"></Correlation><Execution ProcessID="652" ThreadID="4388"></Execution><Channel>Security</Channel><Computer>DC01.clinic.local</Computer><Security></Security></System><EventData><Data Name="SubjectUserSid">S-1-5-18</Data><Data Name="SubjectUserName">DC01$</Data><Data Name="SubjectDomainName">CLINIC</Data><Data Name="SubjectLogonId">0x3e7</Data><Data Name="TargetUserSid">S-1-5-21-3623811015-3361044348-30300820-1013</Data><Data Name="TargetUserName">nurse01</Data><Data Name="TargetDomainName">CLINIC</Data><Data Name="TargetLogonId">0x8dcdc</Data><Data Name="LogonType">3</Data><Data Name="LogonProcessName">NtLmSsp </Data><Data Name="AuthenticationPackageName">NTLM</Data><Data Name="WorkstationName">WS07</Data><Data Name="LogonGuid">{00000000-0000-0000-0000-000000000000}</Data><Data Name="TransmittedServices">-</Data><Data Name="LmPackageName">NTLM V2</Data><Data Name="KeyLength">128</Data><Data Name="ProcessId">0x0</Data><Data Name="ProcessName">-</Data><Data Name="IpAddress">10.0.0.66</Data><Data Name="IpPort">49822</Data><Data Name="ImpersonationLevel">%%1833</Data><Data Name="RestrictedAdminMode">-</Data><Data Name="TargetOutboundUserName">-</Data><Data Name="TargetOutboundDomainName">-</Data><Data Name="VirtualAccount">%%1843</Data><Data Name="TargetLinkedLogonId">0x0</Data><Data Name="ElevatedToken">%%1842</Data></EventData></Event>"#;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn program(paths: &[PathBuf]) -> Program {
    let ruleset = load_and_compile(paths, &Options::default());
    assert!(ruleset.errors.is_empty(), "{:?}", ruleset.errors);
    ruleset.program
}

fn event(program: &Program) -> Event {
    let mut event = Event::new();
    flatten(LOGON_4624, program.fields(), &mut event, |_| true).expect("the record flattens");
    event
}

fn bench_flatten(c: &mut Criterion) {
    let program = program(&[repo("rules")]);
    let mut event = Event::new();
    c.bench_function("flatten/4624", |b| {
        b.iter(|| {
            event.clear();
            flatten(black_box(LOGON_4624), program.fields(), &mut event, |_| {
                true
            })
            .unwrap();
            black_box(event.record_id)
        })
    });
}

fn bench_match(c: &mut Criterion) {
    let mut sets = vec![("match/pack", vec![repo("rules")])];
    let sigmahq = repo("../shared/corpus/sigma/rules/windows");
    if sigmahq.is_dir() {
        sets.push(("match/sigmahq", vec![sigmahq.clone()]));
        sets.push(("match/sigmahq+pack", vec![sigmahq, repo("rules")]));
    } else {
        eprintln!("../shared/corpus is absent: only match/pack runs");
    }
    for (name, paths) in sets {
        let program = program(&paths);
        let event = event(&program);
        let mut scratch = Scratch::new();
        let mut matches = Vec::new();
        c.bench_function(name, |b| {
            b.iter(|| {
                matches.clear();
                let candidates = program.candidates(black_box(&event));
                program.evaluate(&event, candidates, &mut scratch, &mut matches);
                black_box(matches.len())
            })
        });
    }
}

fn bench_correlate(c: &mut Criterion) {
    let program = program(&[repo("rules")]);
    // The pack's failed logon with a wrong password feeds the brute-force correlations.
    let wrong_password = "044fa5d5-3237-4bef-a68f-32007964685d";
    let addresses: Vec<String> = (0..1000)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
        .collect();
    let users: Vec<String> = (0..50).map(|i| format!("user{i}")).collect();
    let mut correlator = Correlator::new(program.correlations(), 1_000_000);
    let mut n: u64 = 0;
    c.bench_function("correlate/wrong-password", |b| {
        b.iter(|| {
            n += 1;
            let time = 1_714_525_200_000_000_000i64 + n as i64 * 100_000_000;
            let m = MatchRef {
                time,
                rule: wrong_password,
                host: Some("DC01.clinic.local"),
                channel: Some("Security"),
                record_id: n,
                file: "Security.evtx",
                format: "evtx",
                fields: vec![
                    ("IpAddress", Some(addresses[(n % 1000) as usize].as_str())),
                    ("TargetUserName", Some(users[(n % 50) as usize].as_str())),
                ],
            };
            let key = SortKey {
                time: i128::from(time),
                file: 0,
                record: n,
                rule: 0,
            };
            correlator.push(key, &m);
            black_box(correlator.drain().len())
        })
    });
}

/// A chunk of 4624 logons with `LOGON_4624`'s data, read both ways: per record, what evtx
/// and flattening cost together.
fn bench_chunk(c: &mut Criterion) {
    use tansa_engine::input::evtx::{ChunkContext, ChunkSource, Reading, Wants, read_chunk_with};
    let program = program(&[repo("rules")]);
    let data: Vec<(&str, &str)> = LOGON_4624
        .split("<Data Name=\"")
        .skip(1)
        .filter_map(|d| d.split_once("\">")?.1.split_once("</Data>").map(|(v, _)| v))
        .zip(
            LOGON_4624
                .split("<Data Name=\"")
                .skip(1)
                .filter_map(|d| d.split_once('"')),
        )
        .map(|(value, (name, _))| (name, value))
        .collect();
    assert_eq!(data.len(), 27);
    let events: Vec<_> = (0..100)
        .map(|_| {
            data.iter().fold(
                tansa_fixtures::EventSpec::new("Security", 4624),
                |event, (name, value)| event.data(name, value),
            )
        })
        .collect();
    let file = tansa_fixtures::write_evtx(&events).expect("the chunk is written");
    let chunk = &file[4096..4096 + 65536];
    let context = ChunkContext::default();
    let mut group = c.benchmark_group("chunk");
    for (name, reading) in [("direct", Reading::Direct), ("xml", Reading::Xml)] {
        let mut event = Event::new();
        let records = read_chunk_with(
            reading,
            0,
            source(chunk),
            &context,
            program.fields(),
            &mut event,
            Wants::whole(|_: &Event| Some(Wanted::EVERYTHING)),
            |_| Handled::Done,
        )
        .records;
        group.throughput(criterion::Throughput::Elements(records));
        group.bench_function(name, |b| {
            b.iter(|| {
                read_chunk_with(
                    reading,
                    0,
                    source(black_box(chunk)),
                    &context,
                    program.fields(),
                    &mut event,
                    Wants::whole(|_: &Event| Some(Wanted::EVERYTHING)),
                    |e| {
                        black_box(e.record_id);
                        Handled::Done
                    },
                )
                .records
            })
        });
    }
    group.finish();

    fn source(chunk: &[u8]) -> ChunkSource {
        let data = evtx::EvtxChunkData::new(chunk.to_vec(), false).expect("a chunk");
        ChunkSource::Data(Box::new(data))
    }
}

criterion_group!(
    benches,
    bench_flatten,
    bench_chunk,
    bench_match,
    bench_correlate
);
criterion_main!(benches);
