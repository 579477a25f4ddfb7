//! The Japanese one-line summary (`summary_ja`), sent beside the English `summary` when
//! agent.toml says `[alerts] summary_lang = "ja"`. One arm per event type, like
//! [`AlertKind::summary`], so a new type cannot be added without its Japanese line (the match is
//! exhaustive). Identifiers (zones, addresses, revisions, flow ids) stay as they are.

use crate::model::{AlertKind, FlowEvent, FlowPhase};
use std::net::IpAddr;

impl AlertKind {
    /// One readable line in Japanese, for teams that read alerts in Japanese.
    pub fn summary_ja(&self) -> String {
        match self {
            AlertKind::PolicyApplied(p) => format!(
                "ポリシー改訂 {} を適用しました（{}）: フロー追加 {} 件、削除 {} 件、変更 {} 件{}",
                p.revision,
                reason_ja(&p.reason),
                p.flows.added.len(),
                p.flows.removed.len(),
                p.flows.changed.len(),
                if p.flows.opens_sensitive() {
                    "。機微なゾーンへの経路を開きます"
                } else {
                    ""
                }
            ),
            AlertKind::LockdownApplied(l) => {
                format!("ロックダウン（全遮断）を適用しました: {}", l.reason)
            }
            AlertKind::DriftDetected(d) => format!(
                "zonegate テーブルの改変を検知しました{}: {}（{}）",
                d.writer
                    .as_ref()
                    .map(|w| format!("（{}[{}] による）", w.comm, w.pid))
                    .unwrap_or_default(),
                d.summary,
                if d.repaired {
                    "修復済み"
                } else {
                    "未修復"
                }
            ),
            AlertKind::DriftRestored(d) => format!(
                "テーブルを復元しました: {} 回の復元、{} ミリ秒",
                d.restores, d.burst_ms
            ),
            AlertKind::RestoresCapped(r) => format!(
                "復元を停止しました（直近 1 分で {} 回、上限 {} 回）: {}",
                r.restores_last_minute, r.cap, r.last_summary
            ),
            AlertKind::BypassFound(b) => {
                format!("迂回経路を検出しました（{}）: {}", b.kind, b.subject)
            }
            AlertKind::BypassCleared(b) => {
                format!("迂回経路が解消されました（{}）: {}", b.kind, b.subject)
            }
            AlertKind::DeniedFlow(f) => format!("通信を遮断しました: {}", flow_line_ja(f)),
            AlertKind::SensitiveFlowAccepted(f) => {
                format!("機微なゾーンへの通信を許可しました: {}", flow_line_ja(f))
            }
            AlertKind::ScanSummary(s) => format!(
                "{}（{}）からのスキャン: 宛先 {} 件、ポート {} 件、{} 秒間にサンプル {} 件",
                s.src,
                s.from_zone.as_deref().unwrap_or("?"),
                s.distinct_destinations,
                s.distinct_ports,
                s.window_secs,
                s.samples
            ),
            AlertKind::FlowExpired(e) => format!(
                "{} に期限切れとなったフローを削除しました: {}",
                e.on,
                e.flows.join(", ")
            ),
            AlertKind::ApplyFailed(a) => format!(
                "ルールセットの適用に失敗しました（段階 {}）: {}（維持: {}）",
                a.stage, a.error, a.kept
            ),
            AlertKind::PolicyRejected(p) => format!(
                "ポリシー {} を拒否しました: 診断 {} 件（維持: {}）",
                p.path,
                p.diagnostics.len(),
                p.kept
            ),
            AlertKind::MonitoringDegraded(m) if m.restored => {
                format!("監視が回復しました: {}", m.what)
            }
            AlertKind::MonitoringDegraded(m) => {
                format!("監視が低下しています: {}: {}", m.what, m.detail)
            }
            AlertKind::QueueOverflow(q) => format!(
                "アラートキューが満杯です（{} / {} バイト）: {} 件を破棄しました",
                q.queue_bytes, q.cap_bytes, q.dropped
            ),
            AlertKind::Heartbeat(h) => format!(
                "ハートビート: モード {}、稼働 {} 秒、未送信 {} 件",
                h.mode, h.uptime_s, h.queue_depth
            ),
        }
    }
}

/// The apply reasons of `policy-applied` in Japanese; others stay as written.
fn reason_ja(reason: &str) -> &str {
    match reason {
        "start" => "起動",
        "reload" => "再読込",
        "expiry" => "期限切れ",
        "command" => "コマンド",
        "rollback" => "ロールバック",
        other => other,
    }
}

fn flow_line_ja(f: &FlowEvent) -> String {
    let endpoint = |addr: Option<IpAddr>, port: Option<u16>| match (addr, port) {
        (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a.to_string(),
        (None, _) => "*".to_string(),
    };
    let what = match f.phase {
        FlowPhase::First => "初回の試行".to_string(),
        FlowPhase::Summary => format!(
            "{} 秒間に {} パケット{}",
            f.window_secs,
            f.count,
            if f.count_exact {
                ""
            } else {
                "（サンプル数）"
            }
        ),
        FlowPhase::Rollup => format!(
            "{} 秒間に {} キーで {} パケット（集約）",
            f.window_secs,
            f.keys.unwrap_or(0),
            f.count
        ),
    };
    format!(
        "{} -> {} {} {} -> {}（{}）: {}",
        f.from_zone.as_deref().unwrap_or("?"),
        f.to_zone.as_deref().unwrap_or("?"),
        f.protocol.as_deref().unwrap_or("ip"),
        endpoint(f.src, f.src_port),
        endpoint(f.dst, f.dst_port),
        f.reason,
        what
    )
}
