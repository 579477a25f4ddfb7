#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, golden, property and network-namespace tests.
# Installs what it needs (nftables, iproute2) when missing. Namespace tests need root; without
# root they print a loud SKIPPED line instead of passing silently.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages
cleanup_stale_namespaces

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (workspace)"
cargo test --workspace --locked -- --test-threads="${ZONEGATE_TEST_THREADS:-4}"
cleanup_stale_namespaces
step "all tests passed"
