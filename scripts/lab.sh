#!/usr/bin/env bash
# The main job: builds zonegate and runs the bundled lab demo. Until the agent lands this checks
# and compiles the bundled zones.toml and loads the ruleset into a throwaway network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages
step "building zonegate (release)"
cargo build --release --locked -q
step "checking zones.toml"
./target/release/zonegate check zones.toml
step "compiling the ruleset of gateway gw1"
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${ns:-}" ] && ip netns del "$ns" 2>/dev/null || true' EXIT
./target/release/zonegate compile zones.toml --gateway gw1 -o "$out/gw1.nft"
if [ "$(id -u)" -eq 0 ]; then
    ns="zglab$$"
    ip netns add "$ns"
    step "loading it with nft -f in namespace $ns"
    ip netns exec "$ns" nft -f "$out/gw1.nft"
    ip netns exec "$ns" nft list table inet zonegate | head -20
else
    warn "not root: skipping the namespace part of the lab"
fi
step "done"
