//! Name rules and the names of every nftables object zonegate creates. Everything that reaches
//! an nft ruleset passes through here, so nothing a policy author writes can inject syntax.

/// The one table zonegate owns.
pub const TABLE: &str = "zonegate";
pub const FAMILY: &str = "inet";

/// Zone names become parts of chain and map names, joined with '-', so they may not contain it.
pub fn valid_zone_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= 24
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Host, group, service and gateway names: never placed in nft syntax except inside comments.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Flow ids: `[A-Za-z0-9._-]`, at most 32 characters (docs/zones-reference.md).
pub fn valid_flow_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Linux interface names: at most 15 bytes (IFNAMSIZ - 1). We also keep to characters that
/// need no quoting anywhere and refuse the loopback interface.
pub fn valid_interface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "lo"
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Free text (purpose, approver, display names): any printable text, no control characters.
pub fn valid_text(s: &str) -> bool {
    s.len() <= 512 && !s.chars().any(|c| c.is_control())
}

/// Makes text safe inside an nft double-quoted string and within its byte limit: nft strings
/// have no escapes, so quotes and backslashes are replaced, and text is cut on a char boundary.
pub fn comment(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = match c {
            '"' => '\'',
            '\\' => '/',
            c if c.is_control() => ' ',
            c => c,
        };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

/// nft caps comments at 128 bytes.
pub const COMMENT_MAX: usize = 128;

pub const CHAIN_ANTISPOOF: &str = "antispoof";
pub const CHAIN_FORWARD: &str = "forward";
pub const CHAIN_FORWARD_NEW: &str = "forward-new";
pub const CHAIN_INPUT: &str = "input";
pub const CHAIN_INPUT_NEW: &str = "input-new";
pub const CHAIN_OUTPUT: &str = "output";
pub const CHAIN_OUTPUT_NEW: &str = "output-new";

pub const SET_IFACES: &str = "zone_ifaces";
pub const SET_SRC4: &str = "src4";
pub const SET_SRC6: &str = "src6";
pub const SET_MAC4: &str = "mac4";
pub const SET_MAC6: &str = "mac6";
pub const SET_PIN4: &str = "pin4";
pub const SET_PIN6: &str = "pin6";
pub const SET_LIVE_PATHS: &str = "live_paths";
/// `mark . ifname` of every live flow to or from the gateway itself (both directions).
pub const SET_LIVE_LOCAL: &str = "live_local";
pub const SET_ERR_OUT: &str = "fwd_errors_out";
pub const SET_DHCP: &str = "dhcp_ifaces";
/// Senders allowed besides a connection's peer for ICMP errors: declared routers per interface.
pub const SET_ROUTERS4: &str = "routers4";
pub const SET_ROUTERS6: &str = "routers6";
/// `mark . one end . other end` of every live flow: who may send ICMP errors about it.
pub const SET_PEERS4: &str = "peers4";
pub const SET_PEERS6: &str = "peers6";
/// ICMP errors about a live connection pass through this chain (sender, length and rate).
pub const CHAIN_FORWARD_ICMP_ERROR: &str = "forward-icmp-error";
/// Per-flow rate of the ICMP errors that passed the sender check (a run-time set keyed by mark).
pub const SET_ICMP_ERROR_RATE: &str = "icmp_error_rate";

/// The per-source log meter of one log code (one set per code and family, so a flood on one
/// zone pair or reason cannot fill the meter of another).
pub fn meter(code: u32, v6: bool) -> String {
    format!("meter{}-{code}", if v6 { 6 } else { 4 })
}

/// The per-key count table of a family and class (sensitive zones have their own, so a flood
/// elsewhere cannot fill it). Keys: `code . saddr . daddr . l4proto . port`.
pub fn key_set(v6: bool, sensitive: bool) -> String {
    format!(
        "denykeys{}{}",
        if v6 { 6 } else { 4 },
        if sensitive { "s" } else { "" }
    )
}

/// The chain holding the captures and the drop of a deny tail.
pub fn chain_deny_tail(code: u32) -> String {
    format!("deny-{code}")
}

/// Packets of a deny tail whose key could not be stored in its per-key table (table full, or
/// no transport header): counted here, so what the per-key counts miss is known exactly.
pub fn untracked_counter(code: u32) -> String {
    format!("u{code}")
}

pub fn chain_spoof(zone: &str) -> String {
    format!("spoof-{zone}")
}
pub fn chain_pair(from: &str, to: &str) -> String {
    format!("pair-{from}-{to}")
}
pub fn chain_in(zone: &str) -> String {
    format!("in-{zone}")
}
pub fn chain_out(zone: &str) -> String {
    format!("out-{zone}")
}
/// Flow maps of a forward pair: kind is f4, f6 (ports) or i4, i6 (ICMP types).
pub fn map_pair(kind: &str, from: &str, to: &str) -> String {
    format!("{kind}-{from}-{to}")
}
/// Flow maps of the gateway's own traffic: gi4/gi6/gii4/gii6 (input), go4/go6/goi4/goi6 (output).
pub fn map_gw(kind: &str, zone: &str) -> String {
    format!("{kind}-{zone}")
}
pub fn counter(code: u32) -> String {
    format!("c{code}")
}
/// The NFLOG prefix; short and numeric (nft caps prefixes at 127 bytes), mapped by metadata.
pub fn log_prefix(code: u32) -> String {
    format!("zg:{code} ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_cannot_escape_their_quotes() {
        let c = comment("a\"; } drop; #\n\\x", COMMENT_MAX);
        assert!(!c.contains('"') && !c.contains('\n') && !c.contains('\\'));
        let long = "住".repeat(100);
        let cut = comment(&long, COMMENT_MAX);
        assert!(cut.len() <= COMMENT_MAX);
        assert!(cut.chars().all(|c| c == '住'));
    }

    #[test]
    fn name_rules() {
        assert!(valid_zone_name("my_number2"));
        assert!(!valid_zone_name("lg-wan"));
        assert!(!valid_zone_name("2lgwan"));
        assert!(valid_interface("ens3"));
        assert!(!valid_interface("a-very-long-interface"));
        assert!(!valid_interface("lo"));
        assert!(!valid_interface("eth0\""));
        assert!(valid_flow_id("F-001"));
        assert!(!valid_flow_id("F 001"));
        assert!(!valid_flow_id(&"x".repeat(33)));
    }
}
