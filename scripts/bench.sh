#!/usr/bin/env bash
# The performance suite (issue 8): compile, apply and read-back time against policy size, per-packet
# cost through a gateway namespace (no ruleset / conntrack only / zonegate / one rule per flow),
# and the running agent (tamper-to-restore latency, memory, CPU). One run, every figure side by
# side, each repeated and reported as median (min–max). Needs root: network namespaces, nft, raw
# sockets. What each figure means: docs/benchmarks.md.
#
#   scripts/bench.sh            full run (~10 min plus the release build): rewrites the results part
#                               of docs/benchmarks.md and docs/benchmarks.svg
#   scripts/bench.sh --quick    smoke test for CI (well under 2 min once built, debug build): runs
#                               every section at tiny sizes, checks that it works, touches no docs
#   scripts/bench.sh [--quick] --only compile,apply,datapath,sweep,agent
#
# Results also go to $CARGO_TARGET_DIR/bench{,-quick}/results.{md,json} and benchmarks.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

quick=0
pass=()
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) pass+=("$a") ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "the suite needs root (network namespaces, nft, raw sockets)"
ensure_packages
cleanup_stale_namespaces
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

if [ "$quick" -eq 1 ]; then
    # Debug build: CI has just built the workspace for the tests, so this is mostly linking.
    step "building zonegate-bench and zonegate-agent (debug)"
    cargo build -q -p zonegate-bench -p zonegate-agent
    bin="$CARGO_TARGET_DIR/debug"
    out="$CARGO_TARGET_DIR/bench-quick"
    step "zonegate-bench --quick"
    "$bin/zonegate-bench" --quick --out "$out" --agent "$bin/zonegate-agent" "${pass[@]}" >/dev/null
    grep -q '^### Targets' "$out/results.md" || die "no report in $out/results.md"
    step "quick run passed: $out/results.md"
else
    step "building zonegate-bench and zonegate-agent (release: the figures are for the release build)"
    cargo build --release -q -p zonegate-bench -p zonegate-agent
    bin="$CARGO_TARGET_DIR/release"
    out="$CARGO_TARGET_DIR/bench"
    docs=(--doc docs/benchmarks.md --svg docs/benchmarks.svg)
    case " ${pass[*]} " in
        *" --only "*) docs=() ;; # a partial run never replaces the published figures
    esac
    step "zonegate-bench (full run; progress on stderr)"
    "$bin/zonegate-bench" --out "$out" --agent "$bin/zonegate-agent" "${docs[@]}" "${pass[@]}" >/dev/null
    step "results: $out/results.md and results.json${docs:+, docs/benchmarks.md, docs/benchmarks.svg}"
fi
cleanup_stale_namespaces
