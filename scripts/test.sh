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
step "the performance suite in quick mode (checks that it works, not how fast)"
bash scripts/bench.sh --quick

# --- issue 7: scripts, the lab, the package, the real-systemd boot -----------------------------
step "shellcheck scripts/*.sh and the boot script"
shellcheck -x scripts/*.sh packaging/zonegate-boot packaging/debian/postinst packaging/debian/postrm
# One release build serves the lab and the package.
step "cargo build --release (zonegate, zonegate-agent, zonegate-lab, zonegate-gen)"
cargo build --release --locked -q -p zonegate-policy -p zonegate-agent -p zonegate-lab -p zonegate-packaging
step "the lab, non-interactive (scripts/lab.sh --ci)"
bash scripts/lab.sh --ci
step "the Debian package (scripts/deb.sh)"
deb=$(bash scripts/deb.sh | tail -1)
# --- issue 17: package quality, and a second package for the upgrade in the boot test ------------
step "lintian on the package (errors fail; each remaining warning is overridden with a reason)"
ZONEGATE_DEB="$deb" cargo test --locked -q -p zonegate-packaging --test lintian -- --ignored
step "the same package with a higher version, for the upgrade in the boot test"
# cargo-deb removes the packages it built before: keep the first one aside.
keep="$(target_dir)/deb-upgrade"
mkdir -p "$keep"
cp "$deb" "$keep/"
deb="$keep/$(basename "$deb")"
deb_next=$(bash scripts/deb.sh --deb-version 0.1.0-2 | tail -1)
[ "$(basename "$deb_next")" != "$(basename "$deb")" ] || die "the rebuilt package has the first one's name: $deb"
step "real systemd: the package booted with systemd-nspawn"
ensure_nspawn_root
boot_log=$(mktemp)
if ! ZONEGATE_DEB="$deb" ZONEGATE_DEB_NEXT="$deb_next" ZONEGATE_NSPAWN_ROOT="$NSPAWN_ROOT" \
    cargo test --locked -p zonegate-packaging --test systemd_boot -- --ignored --nocapture >"$boot_log" 2>&1; then
    tail -60 "$boot_log"
    rm -f "$boot_log"
    die "the real-systemd boot test failed"
fi
# The measured figures (boot time, watchdog, repair after `systemctl restart nftables`).
grep -E 'installed offline|booted in|first boot|watchdog after|repaired|upgraded|purged|test result' "$boot_log" || true
rm -f "$boot_log"
step "all tests passed"
