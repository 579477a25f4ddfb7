#!/usr/bin/env bash
# The main job: builds zonegate and runs the lab demo. The bundled zones.toml's gateway is built
# in network namespaces (the gateway plus one namespace per zone, each host with the addresses
# the policy names), zonegate-agent enforces it there, and the lab shows the reachability matrix
# measured with real connections next to what the policy says, a tamper and its repair, and a
# denied attempt from the My Number domain with its alert. Then everything is torn down (also on
# Ctrl-C).
#
#   scripts/lab.sh            run the demo
#   scripts/lab.sh --keep     leave the lab running and print how to enter each namespace
#   scripts/lab.sh --down     remove a lab left by --keep
#   scripts/lab.sh --ci       non-interactive: plain output, a failed check fails the run
#   scripts/lab.sh --help     every option (they are passed to zonegate-lab)
#
# Needs root (network namespaces, nft). Installs nftables and iproute2 with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

for arg in "$@"; do
    case $arg in
        -h | --help)
            exec cargo run -q --release --locked -p zonegate-lab -- --help
            ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "the lab creates network namespaces and loads nftables rules: run it as root"
ensure_packages
cleanup_stale_namespaces

# One build of the three binaries; a target directory of the caller's choosing is honoured.
step "building zonegate, zonegate-agent and the lab (cargo build --release)"
cargo build --release --locked -q -p zonegate-policy -p zonegate-agent -p zonegate-lab
target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="${target_dir:-target}/release"

# zonegate-lab tears the lab down itself, also on Ctrl-C (it handles the signal); exec so the
# signal reaches it directly and its exit status is the script's.
exec "$bin/zonegate-lab" --agent "$bin/zonegate-agent" --policy zones.toml "$@"
