# Shared helpers for scripts/*.sh: progress lines, package installation, namespace clean-up.
# shellcheck shell=bash

if [ -t 1 ]; then BOLD=$'\e[1m'; GREEN=$'\e[32m'; YELLOW=$'\e[33m'; RED=$'\e[31m'; RESET=$'\e[0m'
else BOLD=; GREEN=; YELLOW=; RED=; RESET=; fi

step() { printf '%s==>%s %s\n' "$BOLD$GREEN" "$RESET" "$*"; }
warn() { printf '%s!!%s %s\n' "$BOLD$YELLOW" "$RESET" "$*" >&2; }
die() { printf '%sxx%s %s\n' "$BOLD$RED" "$RESET" "$*" >&2; exit 1; }

# Debian packages the tests and the lab use, as "command:package".
REQUIRED_TOOLS="nft:nftables ip:iproute2"
REQUIRED_PYTHON_MODULES="jsonschema:python3-jsonschema"
# Packaging and the real-systemd boot test (issue 7): lint, unit checks, the .deb, the container.
REQUIRED_TOOLS="$REQUIRED_TOOLS shellcheck:shellcheck systemd-analyze:systemd dpkg-deb:dpkg"
REQUIRED_TOOLS="$REQUIRED_TOOLS ssh-keygen:openssh-client"
REQUIRED_TOOLS="$REQUIRED_TOOLS debootstrap:debootstrap systemd-nspawn:systemd-container nsenter:util-linux"
# Fleet: promtool checks packaging/prometheus; the fleet e2e test starts its own prometheus
# process (never the system service) inside a test namespace.
REQUIRED_TOOLS="$REQUIRED_TOOLS prometheus:prometheus promtool:prometheus"
# Package quality: lintian on the .deb, groff for the man pages' warnings check.
REQUIRED_TOOLS="$REQUIRED_TOOLS lintian:lintian groff:groff-base"

ensure_packages() {
    local missing=()
    for pair in $REQUIRED_TOOLS; do
        local cmd=${pair%%:*} pkg=${pair##*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then missing+=("$pkg"); fi
    done
    # Python modules of Debian's python3, as "module:package": the alert schema test validates
    # real alerts with the independent `jsonschema` validator (alerts/tests/it/schema.rs).
    for pair in $REQUIRED_PYTHON_MODULES; do
        local mod=${pair%%:*} pkg=${pair##*:}
        if ! /usr/bin/python3 -c "import $mod" >/dev/null 2>&1; then missing+=("$pkg"); fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            warn "missing packages ${missing[*]} and not root: install them with apt-get"
            return 0
        fi
        step "installing ${missing[*]} (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # Debian starts prometheus.service on install; the tests run their own prometheus
        # process in a namespace, never the system service (issue 18).
        if printf '%s\n' "${missing[@]}" | grep -qx prometheus && [ -d /run/systemd/system ]; then
            systemctl disable --now prometheus.service >/dev/null 2>&1 || true
        fi
    fi
}

# Test namespaces are named zgt<pid>-...; remove those whose process is gone (a killed run).
cleanup_stale_namespaces() {
    [ "$(id -u)" -eq 0 ] || return 0
    command -v ip >/dev/null 2>&1 || return 0
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^zg[a-z]*[0-9]+' || true); do
        pid=$(printf '%s' "$ns" | sed -E 's/^zg[a-z]*([0-9]+).*/\1/')
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

# --- packaging and the real-systemd test (issue 7) ------------------------------------------

# Where CI keeps what is expensive to make and safe to reuse between runs on one machine.
ZONEGATE_CI_CACHE=${ZONEGATE_CI_CACHE:-/var/cache/zonegate-ci}
# The minimal Debian 12 root that the nspawn boot test overlays (debootstrap, once per machine).
NSPAWN_ROOT="$ZONEGATE_CI_CACHE/bookworm-root"
# Packages the root carries besides the minbase variant.
NSPAWN_ROOT_PACKAGES="systemd,systemd-sysv,dbus,nftables,iproute2"

# The Debian mirror this machine's apt sources name (the first URIs: / deb line).
debian_mirror() {
    local m
    m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# Makes $NSPAWN_ROOT if it is not there: debootstrap into a temporary folder, then rename, so a
# killed run never leaves half a root behind as "the cache".
ensure_nspawn_root() {
    if [ -x "$NSPAWN_ROOT/lib/systemd/systemd" ] && [ -x "$NSPAWN_ROOT/usr/sbin/nft" ]; then
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || die "debootstrap is missing"
    local mirror tmp
    mirror=$(debian_mirror)
    tmp="$NSPAWN_ROOT.tmp$$"
    mkdir -p "$ZONEGATE_CI_CACHE"
    rm -rf "$NSPAWN_ROOT".tmp*
    step "making the Debian 12 root for the systemd boot test (debootstrap from $mirror, once per machine, ~1 min)"
    if ! debootstrap --variant=minbase --include="$NSPAWN_ROOT_PACKAGES" bookworm "$tmp" "$mirror" \
        >"$ZONEGATE_CI_CACHE/debootstrap.log" 2>&1; then
        tail -20 "$ZONEGATE_CI_CACHE/debootstrap.log" >&2
        rm -rf "$tmp"
        die "debootstrap failed (log: $ZONEGATE_CI_CACHE/debootstrap.log)"
    fi
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    echo zgsd >"$tmp/etc/hostname"
    printf '127.0.0.1 localhost zgsd\n::1 localhost\n' >"$tmp/etc/hosts"
    rm -rf "$NSPAWN_ROOT"
    mv "$tmp" "$NSPAWN_ROOT"
}

# cargo-deb, pinned; installed into ~/.cargo/bin once per machine (about 3 minutes on 2 cores).
CARGO_DEB_VERSION=3.8.0
ensure_cargo_deb() {
    if cargo deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
        return 0
    fi
    step "installing cargo-deb $CARGO_DEB_VERSION (cargo install, once per machine)"
    cargo install -q cargo-deb --version "$CARGO_DEB_VERSION" --locked \
        --no-default-features --features lzma \
        --target-dir "${ZONEGATE_CI_CACHE}/cargo-deb-build"
    rm -rf "${ZONEGATE_CI_CACHE}/cargo-deb-build"
}

# The workspace's target directory (honours CARGO_TARGET_DIR and cargo config).
target_dir() {
    cargo metadata --format-version 1 --no-deps 2>/dev/null |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
