# Shared helpers for scripts/*.sh: progress lines, package installation, namespace clean-up.

if [ -t 1 ]; then BOLD=$'\e[1m'; GREEN=$'\e[32m'; YELLOW=$'\e[33m'; RED=$'\e[31m'; RESET=$'\e[0m'
else BOLD=; GREEN=; YELLOW=; RED=; RESET=; fi

step() { printf '%s==>%s %s\n' "$BOLD$GREEN" "$RESET" "$*"; }
warn() { printf '%s!!%s %s\n' "$BOLD$YELLOW" "$RESET" "$*" >&2; }
die() { printf '%sxx%s %s\n' "$BOLD$RED" "$RESET" "$*" >&2; exit 1; }

# Debian packages the tests and the lab use, as "command:package".
REQUIRED_TOOLS="nft:nftables ip:iproute2"

ensure_packages() {
    local missing=()
    for pair in $REQUIRED_TOOLS; do
        local cmd=${pair%%:*} pkg=${pair##*:}
        if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then missing+=("$pkg"); fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            warn "missing packages ${missing[*]} and not root: install them with apt-get"
            return 0
        fi
        step "installing ${missing[*]} (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
