#!/usr/bin/env bash
# tansa's benchmark: throughput, scaling, memory and rule compilation on inputs built from
# the public corpus. Usage: bench/run.sh [CORPUS_DIR] (default ../shared/corpus).
# Wall-clock figures on a shared 2-core machine vary by ~10%; each run is the best of 3.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus}
rules="$corpus/sigma/rules/windows"
work=${TANSA_BENCH_DIR:-target/bench}
[ -d "$corpus/evtx" ] || { echo "no corpus at $corpus (see bench/README.md)" >&2; exit 2; }

cargo build --release --quiet -p tansa -p tansa-bench
tansa=target/release/tansa
mkdir -p "$work"
[ -f "$work/syslog-mixed-300mb.log" ] || target/release/make-bench-inputs "$corpus/evtx" "$work"

# best_of COMMAND...: prints "seconds peak_rss_kb" of the fastest of three runs; the
# fastest run's stderr (the summary) is left in $work/stderr.txt.
best_of() {
    local best="" rss=""
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null 2> "$work/stderr.txt"
        read -r t m < "$work/time.txt"
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
            best=$t; rss=$m; cp "$work/stderr.txt" "$work/best.txt"
        fi
    done
    cp "$work/best.txt" "$work/stderr.txt"
    echo "$best $rss"
}

# hunt_rate: records/s of the hunt phase (reading and evaluating, not compiling rules),
# from the summary of the last run.
hunt_rate() { grep -o 'elapsed: [0-9.]* s, [0-9]* records/s' "$work/stderr.txt" | awk '{print $4}'; }

printf "%-24s %7s %12s %14s %10s %9s\n" input threads "hunt rec/s" "process secs" "peak MiB" alerts
for input in security-dense-30mb security-dense-300mb security-mixed-30mb; do
    for threads in 1 2; do
        read -r secs rss < <(best_of "$tansa" hunt "$work/$input.evtx" -r "$rules" -j "$threads")
        alerts=$(grep -o 'alerts: *[0-9]*' "$work/stderr.txt" | awk '{print $2}')
        printf "%-24s %7s %12s %14s %10.1f %9s\n" "$input" "$threads" "$(hunt_rate)" "$secs" \
            "$(awk "BEGIN{print $rss / 1024}")" "$alerts"
    done
done

# Whole-process times include reading and compiling the rules; the summary gives that alone.
"$tansa" hunt "$work/security-dense-30mb.evtx" -r "$rules" > /dev/null 2> "$work/stderr.txt"
grep -o 'read and compiled in [0-9.]* s' "$work/stderr.txt" | sed "s/^/rules ($(ls -R "$rules" | grep -c '\.yml$') files): /"
echo "corpus ($(find "$corpus/evtx" -name '*.evtx' | wc -l) files):"
"$tansa" hunt "$corpus/evtx" -r "$rules" > /dev/null 2> "$work/stderr.txt"
grep -E 'records:|elapsed:' "$work/stderr.txt"

# Correlation: tansa's own rule pack (with its correlation rules) over a week of a domain
# controller's archived Security logs, 183 MiB per file: one file, then all six (1.1 GB).
# Memory should not grow with the input.
printf "\n%-34s %12s %14s %10s %9s\n" "pack over archived logons" "hunt rec/s" "process secs" "peak MiB" fired
for input in logons-1gb/Archive-Security-01.evtx logons-1gb; do
    read -r secs rss < <(best_of "$tansa" hunt "$work/$input" -r rules -j 2)
    fired=$(grep -o '[0-9]* fired' "$work/stderr.txt" | awk '{print $1}')
    printf "%-34s %12s %14s %10.1f %9s\n" "$input" "$(hunt_rate)" "$secs" \
        "$(awk "BEGIN{print $rss / 1024}")" "$fired"
done
grep -E 'correlation:' "$work/stderr.txt"

# Syslog: a 300 MiB firewall log mixing nine device formats. First parsing alone (one
# rule that reads every syslog line and never matches, so each line is parsed and looked
# at once), then with the pack's network rules; one thread, then two.
cat > "$work/parse-only.yml" <<'RULE'
title: Parse only
id: bench-parse-only
logsource: {category: firewall}
detection:
  selection: {dst_port: never-a-port}
  condition: selection
RULE
printf "\n%-34s %7s %12s %14s %10s\n" "syslog-mixed-300mb" threads "lines/s" "process secs" "peak MiB"
for rules in "$work/parse-only.yml" rules/network; do
    for threads in 1 2; do
        read -r secs rss < <(best_of "$tansa" hunt "$work/syslog-mixed-300mb.log" -r "$rules" -j "$threads")
        printf "%-34s %7s %12s %14s %10.1f\n" "$(basename "$rules")" "$threads" "$(hunt_rate)" "$secs" \
            "$(awk "BEGIN{print $rss / 1024}")"
    done
done
