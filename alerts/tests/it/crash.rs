//! At-least-once across crashes: a child process (this test binary, re-run as
//! `child_emitter_helper`) emits alerts while the webhook receiver is down and prints each id
//! once `flush` says it is on disk; the parent kills it with SIGKILL mid-stream, restarts it
//! (receiver still down), kills it again, then kills a third run while it is delivering to the
//! now running receiver. A final pipeline on the same state directory must deliver every id any
//! child reported durable. Duplicates are allowed (and counted); losses are not.

use crate::delivery::webhook_sink;
use crate::receivers::{free_port, Webhook};
use crate::{context, TempDir};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use zonegate_alerts::model::{AlertKind, Heartbeat};
use zonegate_alerts::{AlertPipeline, AlertsConfig};

const CHILD_ENV: &str = "ZGA_CHILD_EMITTER";

fn config(port: u16) -> AlertsConfig {
    AlertsConfig {
        sinks: vec![webhook_sink(
            "hook",
            &format!("http://127.0.0.1:{port}/hooks"),
            None,
        )],
        ..Default::default()
    }
}

/// Not a test of its own: the body of the child process (does nothing unless the parent set
/// the environment variable). Emits forever; prints `durable <id>` after each flush.
#[test]
fn child_emitter_helper() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let dir = parts.next().unwrap().to_string();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let round: u64 = parts.next().unwrap().parse().unwrap();
    let p = AlertPipeline::start(&config(port), std::path::Path::new(&dir), context()).unwrap();
    let stdout = std::io::stdout();
    for n in 0.. {
        let id = p.emit(AlertKind::Heartbeat(Heartbeat {
            mode: format!("round-{round}"),
            uptime_s: n,
            interval_s: 60,
            drift_count: None,
            queue_depth: 0,
            staged_change: None,
        }));
        if p.flush(Duration::from_secs(10)) {
            let mut out = stdout.lock();
            writeln!(out, "durable {id}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// Runs a child until it has reported `count` durable ids, then SIGKILLs it.
fn run_and_kill(dir: &TempDir, port: u16, round: u64, count: usize) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::child_emitter_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{port}|{round}", dir.0.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut ids = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("durable ") {
            ids.push(id.to_string());
            if ids.len() >= count {
                break;
            }
        }
    }
    // Child::kill is SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status:?}");
    assert_eq!(ids.len(), count, "child ended before reporting {count} ids");
    ids
}

#[test]
fn a_sigkilled_emitter_restarted_while_the_receiver_is_down_loses_nothing() {
    let dir = TempDir::new("kill");
    let port = free_port();
    let mut durable = Vec::new();
    // Two runs with the receiver down: everything must wait on disk.
    durable.extend(run_and_kill(&dir, port, 1, 150));
    durable.extend(run_and_kill(&dir, port, 2, 150));
    // A third run killed while it delivers to the receiver, now up: its cursor lags behind
    // what was delivered, so some alerts arrive twice.
    let hook = Webhook::start(port, 0);
    durable.extend(run_and_kill(&dir, port, 3, 150));
    let p = AlertPipeline::start(&config(port), &dir.0, context()).unwrap();
    assert!(
        p.wait_delivered(Duration::from_secs(60)),
        "{}",
        p.render_metrics()
    );
    p.shutdown(Duration::from_secs(5));
    let received = hook.ids();
    let got: BTreeSet<&String> = received.iter().collect();
    let missing: Vec<&String> = durable.iter().filter(|id| !got.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} durable alerts lost: {:?}",
        missing.len(),
        durable.len(),
        &missing[..missing.len().min(5)]
    );
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for id in &received {
        *counts.entry(id).or_default() += 1;
    }
    let duplicates = counts.values().filter(|n| **n > 1).count();
    eprintln!(
        "SIGKILL test: {} durable ids from 3 killed runs, {} received ({} distinct, {} delivered twice or more)",
        durable.len(),
        received.len(),
        got.len(),
        duplicates
    );
}
