#!/usr/bin/env bash
# Builds the Debian package: both programs (release), the man pages and shell completions
# (generated from their clap definitions by zonegate-gen), the static lockdown ruleset (rendered
# by `zonegate lockdown`), then cargo-deb with the metadata in agent/Cargo.toml. Prints the path
# of the .deb on its last line. Installs cargo-deb when missing.
#
#   --deb-version VERSION   the package's version (default: the crate version with revision 1);
#                           the boot test builds a second package this way to test an upgrade
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

deb_version=()
while [ $# -gt 0 ]; do
    case "$1" in
    --deb-version) deb_version=(--deb-version "$2"); shift 2 ;;
    *) die "unknown option $1 (--deb-version VERSION)" ;;
    esac
done

ensure_cargo_deb
step "building zonegate and zonegate-agent (release) for the package"
cargo build --release --locked -q -p zonegate-policy -p zonegate-agent -p zonegate-packaging
release="$(target_dir)/release"
dist="$release/dist"
rm -rf "$dist"
mkdir -p "$dist"
step "generating man pages, completions and the static lockdown ruleset"
"$release/zonegate-gen" "$dist" "$release/zonegate" >/dev/null
# Debian policy 12.3: man pages compressed with gzip -9n (no name or time stamp: reproducible).
find "$dist/man" -type f -name '*.[158]' -exec gzip -9nf {} +
# No policy and no --management: the static lockdown keeps nothing open but loopback and
# neighbour discovery. zonegate warns that nothing stays reachable, which is the point here.
"$release/zonegate" lockdown -o "$dist/lockdown.nft" 2>/dev/null
step "cargo deb"
deb=$(cargo deb -p zonegate-agent --no-build --locked -q --strip "${deb_version[@]}" 2>&1 | tail -1)
[ -f "$deb" ] || die "cargo deb did not produce a package: $deb"
printf '%s\n' "$deb"
