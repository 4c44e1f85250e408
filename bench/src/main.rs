//! Builds the benchmark inputs from `../shared/corpus/evtx` (see `bench/README.md`).
//!
//! `make-bench-inputs CORPUS_EVTX_DIR OUT_DIR` writes:
//! - `security-dense-30mb.evtx`, `security-dense-300mb.evtx`: the chunks of the corpus's
//!   densest real Security log of several chunks (the most records per chunk, as in a busy
//!   server's log), repeated to 30 and 300 MiB;

//! - `security-dense-1gb.evtx`: the same, to 1 GiB (for time against input size);
//! - `security-mixed-30mb.evtx`: the chunks of every Security log in the corpus, repeated
//!   to 30 MiB (many event ids, but sparse chunks from short captures);
//! - `corpus-1gb/copy-NN/`: copies of the whole corpus folder, about 1 GiB;
//! - `logons-1gb/`: a week of a domain controller's archived Security logs (see
//!   `logon_storm`);
//! - `syslog-mixed-300mb.log`, `syslog-mixed-1gb.log`: firewall syslog in nine formats
//!   (see `syslog_mix`).
//!
//! Chunks are self-contained (their own string and template tables), so each result is a
//! valid log. Record ids repeat from copy to copy, which no rule looks at.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tansa_engine::field::FieldTable;
use tansa_engine::input::discover::{Filter, discover};
use tansa_engine::input::evtx::{CHUNK_SIZE, EvtxReader, FILE_HEADER_SIZE};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        bail!("usage: make-bench-inputs CORPUS_EVTX_DIR OUT_DIR");
    }
    let corpus = PathBuf::from(&args[1]);
    let out_dir = PathBuf::from(&args[2]);
    std::fs::create_dir_all(&out_dir)?;

    let logs = security_logs(&corpus)?;
    if logs.is_empty() {
        bail!("no Security log in {}", corpus.display());
    }
    // A log of several chunks, so that repeating it repeats a real log rather than one
    // capture's single chunk.
    let densest = logs
        .iter()
        .filter(|log| log.chunks.len() >= 4)
        .max_by_key(|log| {
            (
                log.records * 1000 / log.chunks.len() as u64,
                log.chunks.len(),
            )
        })
        .or_else(|| logs.first())
        .expect("not empty");
    println!(
        "densest Security log: {} ({} records in {} chunks)",
        densest.path.display(),
        densest.records,
        densest.chunks.len()
    );
    write(
        &out_dir.join("security-dense-30mb.evtx"),
        &densest.chunks,
        30,
    )?;
    write(
        &out_dir.join("security-dense-300mb.evtx"),
        &densest.chunks,
        300,
    )?;
    write(
        &out_dir.join("security-dense-1gb.evtx"),
        &densest.chunks,
        1024,
    )?;
    let all: Vec<Vec<u8>> = logs.iter().flat_map(|log| log.chunks.clone()).collect();
    write(&out_dir.join("security-mixed-30mb.evtx"), &all, 30)?;
    logon_storm(&out_dir.join("logons-1gb"), 1024)?;
    syslog_mix(&out_dir.join("syslog-mixed-300mb.log"), 300)?;
    syslog_mix(&out_dir.join("syslog-mixed-1gb.log"), 1024)?;
    corpus_copies(&corpus, &out_dir.join("corpus-1gb"), 1024)?;
    Ok(())
}

/// Copies of the whole corpus folder, `copy-01`, `copy-02`, ..., until they hold
/// `megabytes` MiB: a collection of many real logs of every size, as a responder gets.
fn corpus_copies(corpus: &Path, dir: &Path, megabytes: u64) -> Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![corpus.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                files.push(path);
            }
        }
    }
    files.sort();
    let size: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let copies = (megabytes * 1024 * 1024).div_ceil(size.max(1));
    for copy in 1..=copies {
        for file in &files {
            let relative = file.strip_prefix(corpus).unwrap_or(file);
            let target = dir.join(format!("copy-{copy:02}")).join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(file, &target).with_context(|| {
                format!("cannot copy {} to {}", file.display(), target.display())
            })?;
        }
    }
    println!(
        "{}: {copies} copies of {} files ({} MiB each)",
        dir.display(),
        files.len(),
        size >> 20
    );
    Ok(())
}

/// A firewall log of `megabytes` MiB mixing the device formats tansa reads (FortiGate,
/// Cisco ASA, PAN-OS, Juniper SRX, pfSense, iptables, CEF, SonicWall, RFC 5424), four lines
/// a second from a Monday on (1.4 million lines, four days and nights), in turn. Traffic is
/// mostly web and DNS; one line in fifty is RDP or SMB, one in seven is denied.
fn syslog_mix(path: &Path, megabytes: u64) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let start: jiff::Timestamp = "2026-01-05T00:00:00Z".parse()?;
    let (mut written, mut n) = (0u64, 0u64);
    while written < megabytes * 1024 * 1024 {
        n += 1;
        let time = (start + jiff::SignedDuration::from_millis(n as i64 * 250))
            .to_zoned(jiff::tz::TimeZone::UTC);
        let bsd = format!(
            "{} {:>2} {}",
            time.strftime("%b"),
            time.day(),
            time.strftime("%H:%M:%S")
        );
        let (date, clock) = (time.strftime("%Y-%m-%d"), time.strftime("%H:%M:%S"));
        let src = format!("10.{}.{}.{}", n % 4, n / 7 % 250, n % 250);
        let port = match n % 100 {
            0 => 3389,
            1 => 445,
            2..50 => 443,
            50..70 => 80,
            70..95 => 53,
            _ => 22,
        };
        let sport = 49152 + n % 16000;
        let deny = n % 7 == 3;
        let line = match n % 9 {
            0 => format!(
                "<189>date={date} time={clock} devname=\"FGT60E\" devid=\"FGT60E0000000001\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" srcip={src} srcport={sport} srcintf=\"port1\" dstip=203.0.113.10 dstport={port} dstintf=\"wan1\" proto=6 action=\"{}\" policyid=3 service=\"RDP\" sentbyte=1200 rcvdbyte=5400",
                if deny { "deny" } else { "accept" }
            ),
            1 => format!(
                "<166>{bsd} asa01 : %ASA-6-302013: Built inbound TCP connection {n} for outside:{src}/{sport} ({src}/{sport}) to inside:10.9.0.5/{port} (10.9.0.5/{port})"
            ),
            2 => format!(
                "<14>{bsd} pa-fw01 1,{} {clock},0123456789,TRAFFIC,end,2561,{} {clock},{src},10.9.0.5,0.0.0.0,0.0.0.0,allow-rdp,,,ms-rdp,vsys1,trust,untrust,ethernet1/1,ethernet1/2,default,{} {clock},{n},1,{sport},{port},0,0,0x19,tcp,{},1200,600,600,10,{} {clock},5,any,0,{n},0x0,10.0.0.0-10.255.255.255,United States,0,5,5,aged-out,0,0,0,0,,pa-fw01,from-policy,,,0,,0,,N/A,0,0,0,0",
                date.to_string().replace('-', "/"),
                date.to_string().replace('-', "/"),
                date.to_string().replace('-', "/"),
                if deny { "deny" } else { "allow" },
                date.to_string().replace('-', "/")
            ),
            3 => format!(
                "<14>1 {}.000Z srx01 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.129 source-address=\"{src}\" source-port=\"{sport}\" destination-address=\"10.9.0.5\" destination-port=\"{port}\" service-name=\"junos-rdp\" protocol-id=\"6\" policy-name=\"allow-all\"] session created",
                time.strftime("%Y-%m-%dT%H:%M:%S")
            ),
            4 => format!(
                "<134>{bsd} pfsense filterlog[1234]: 5,,,1000000103,igb1,match,{},in,4,0x0,,64,0,0,DF,6,tcp,60,{src},10.9.0.5,{sport},{port},0,S,12345,,64240,,mss",
                if deny { "block" } else { "pass" }
            ),
            5 => format!(
                "<4>{bsd} gw kernel: [{}] IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={src} DST=10.9.0.5 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=54321 DF PROTO=TCP SPT={sport} DPT={port} WINDOW=64240 RES=0x00 SYN URGP=0",
                if deny { "UFW BLOCK" } else { "UFW ALLOW" }
            ),
            6 => format!(
                "<134>{bsd} utm01 CEF:0|Sophos|UTM|9.7|2002|Packet filter|{}|src={src} spt={sport} dst=10.9.0.5 dpt={port} proto=TCP act={} suser=CLINIC\\\\alice",
                if deny { 5 } else { 1 },
                if deny { "drop" } else { "accept" }
            ),
            7 => format!(
                "<134>id=firewall sn=0017C5000000 time=\"{date} {clock}\" fw=203.0.113.1 pri=6 c=262144 m=98 msg=\"Connection Opened\" n={n} src={src}:{sport}:X0 dst=10.9.0.5:{port}:X1 proto=tcp/{port}"
            ),
            _ => format!(
                "<38>{bsd} dc01 sshd[{}]: Failed password for invalid user admin{} from {src} port {sport} ssh2",
                1000 + n % 5000,
                n % 50
            ),
        };
        writeln!(out, "{line}")?;
        written += line.len() as u64 + 1;
    }
    out.flush()?;
    println!("{}: {n} lines", path.display());
    Ok(())
}

/// A domain controller's Security log, archived as 100 MiB files, of `megabytes` MiB in
/// all: a week of network logons and failures from thousands of addresses, with a
/// password-guessing burst from an outside address every few thousand events. It is what
/// the correlation stage meets on a scheduled hunt over archives: many groups, most of
/// them short-lived.
fn logon_storm(dir: &Path, megabytes: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let start: jiff::Timestamp = "2026-01-05T00:00:00Z".parse()?;
    let (mut written, mut record, mut file_number) = (0u64, 0u64, 0);
    let per_file = 250_000;
    while written < megabytes * 1024 * 1024 {
        let mut events = Vec::with_capacity(per_file);
        for _ in 0..per_file {
            record += 1;
            let time = start + jiff::SignedDuration::from_millis(record as i64 * 200);
            let roll = next() % 100;
            let burst = record % 5000 < 40;
            let (id, ip, user, status) = if burst {
                let ip = format!("203.0.113.{}", record / 5000 % 250);
                (4625, ip, format!("admin{}", record % 3), "0xC000006A")
            } else {
                let ip = format!("10.1.{}.{}", next() % 20, next() % 250);
                let user = format!("user{}", next() % 2000);
                match roll {
                    0..60 => (4624, ip, user, ""),
                    60..95 => (4625, ip, user, "0xC000006A"),
                    _ => (4625, ip, user, "0xC0000064"),
                }
            };
            let mut event = tansa_fixtures::EventSpec::new("Security", id)
                .at(time)
                .computer("DC01.clinic.local")
                .data("TargetUserName", &user)
                .data("TargetDomainName", "CLINIC")
                .data("LogonType", "3")
                .data("WorkstationName", &format!("WS{}", next() % 500))
                .data("IpAddress", &ip)
                .data("IpPort", &(49152 + next() % 16000).to_string());
            if id == 4625 {
                event = event.data("Status", "0xC000006D").data("SubStatus", status);
            }
            event.record_id = Some(record);
            events.push(event);
        }
        file_number += 1;
        let path = dir.join(format!("Archive-Security-{file_number:02}.evtx"));
        let bytes = tansa_fixtures::write_evtx(&events)?;
        written += bytes.len() as u64;
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "{}: {} events, {} MiB",
            path.display(),
            events.len(),
            bytes.len() >> 20
        );
    }
    Ok(())
}

struct SecurityLog {
    path: PathBuf,
    records: u64,
    chunks: Vec<Vec<u8>>,
}

/// Every file in `corpus` whose first record is in Security, with its non-empty chunks.
fn security_logs(corpus: &Path) -> Result<Vec<SecurityLog>> {
    let table = FieldTable::new();
    let mut logs = Vec::new();
    for file in discover(&[corpus.to_path_buf()], &Filter::default()).files {
        let Ok(mut reader) = EvtxReader::open(&file.path) else {
            continue;
        };
        if reader.first_channel(&table).as_deref() != Some("Security") {
            continue;
        }
        let records = evtx::EvtxParser::from_path(&file.path)?
            .records()
            .filter(Result::is_ok)
            .count() as u64;
        let bytes = std::fs::read(&file.path)?;
        let chunks: Vec<Vec<u8>> = bytes[FILE_HEADER_SIZE as usize..]
            .chunks_exact(CHUNK_SIZE as usize)
            .filter(|chunk| chunk.starts_with(b"ElfChnk\0"))
            .map(<[u8]>::to_vec)
            .collect();
        if !chunks.is_empty() {
            logs.push(SecurityLog {
                path: file.path,
                records,
                chunks,
            });
        }
    }
    Ok(logs)
}

/// Writes `chunks`, repeated, as a log of `megabytes` MiB.
fn write(path: &Path, chunks: &[Vec<u8>], megabytes: usize) -> Result<()> {
    let count = (megabytes * 1024 * 1024 / CHUNK_SIZE as usize).max(chunks.len());
    let mut file = tansa_fixtures::evtx_file::file_header(count, 1);
    file.reserve(count * CHUNK_SIZE as usize);
    for chunk in chunks.iter().cycle().take(count) {
        file.extend_from_slice(chunk);
    }
    std::fs::write(path, &file).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}: {count} chunks", path.display());
    Ok(())
}
