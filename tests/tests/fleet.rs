//! Fleet audit end to end (issue 18): three gateway namespaces, each running the real
//! `zonegate-agent` with its metrics endpoint on a management link, a real Prometheus (Debian's
//! `prometheus` package, started here with a temporary configuration and storage directory,
//! listening on the loopback of a monitoring namespace this test creates and scraping the three
//! agents every second), and the real `zonegate fleet` CLI against it:
//! all in order (exit 0); one gateway with a staged change; the same gateway applying an older
//! policy (reported with both hashes); one agent stopped (silent after the window). The same
//! report from a directory of `zonegate-agent status --format json` files, and the HTML report
//! rendered in headless Chromium. Also: policy bundles applied and refused by the agent, with
//! the kernel's ruleset compared before and after each refusal.
//!
//! Every wait polls a condition with a generous deadline. Needs root (skips loudly otherwise,
//! fails with ZONEGATE_E2E_REQUIRE=1) and `prometheus` (scripts/lib.sh installs it).

mod agent_support;

use agent_support::{agent_bin, Gw, Running};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use zonegate_e2e::lab::{require_root, LabSpec, SegmentSpec, IP, REQUIRE_ENV};
use zonegate_e2e::probe::tcp_reachable;
use zonegate_policy::{compile, validate};

/// The reviewed policy: three gateways of the same shape (LGWAN on ens3, My Number on ens4);
/// zone `mon` holds the Prometheus server, which may scrape each gateway's metrics port
/// (M-metrics).
const FLEET_POLICY: &str = r#"version = 1
[policy]
name = "fleet-e2e"
revision = "r2"
profile = "none"
timezone = "Asia/Tokyo"
log = { group = 100, rate = "20/second", burst = 50 }

[zones.lgwan]
role = "lgwan"
networks = ["10.10.0.0/24"]
[zones.mynumber]
role = "mynumber"
networks = ["10.20.0.0/24"]
[zones.mon]
networks = ["10.99.0.0/16"]

[hosts.ha]
zone = "lgwan"
addresses = ["10.10.0.5"]
[hosts.hb]
zone = "mynumber"
addresses = ["10.20.0.5"]
[hosts.prom]
zone = "mon"
addresses = ["10.99.1.1", "10.99.2.1", "10.99.3.1"]

[[flow]]
id = "F-1"
from = "ha"
to = "hb"
ports = ["tcp/7000-7001"]
purpose = "e2e"
approved_by = "test"

[[flow]]
id = "M-metrics"
from = "prom"
to = "gateway"
ports = ["tcp/9100"]
purpose = "Prometheus scrapes the agent"
approved_by = "test"

[gateways.gw1]
interfaces = { lgwan = ["ens3"], mynumber = ["ens4"], mon = ["ensm"] }
[gateways.gw2]
interfaces = { lgwan = ["ens3"], mynumber = ["ens4"], mon = ["ensm"] }
[gateways.gw3]
interfaces = { lgwan = ["ens3"], mynumber = ["ens4"], mon = ["ensm"] }
"#;

const METRICS_PORT: u16 = 9100;
const PROM_PORT: u16 = 9090;
const SILENT_AFTER: &str = "15s";
const DEADLINE: Duration = Duration::from_secs(120);

/// The policy as it was before review: revision r1, F-1 on one port only.
fn older_policy() -> String {
    FLEET_POLICY
        .replace("revision = \"r2\"", "revision = \"r1\"")
        .replace("tcp/7000-7001", "tcp/7000")
}

fn approved_hash(text: &str, gateway: &str) -> String {
    let p = validate("zones.toml", text, None)
        .policy
        .expect("test policy valid");
    compile(&p, gateway)
        .expect("compiles")
        .metadata
        .ruleset_sha256
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Written straight to the stderr handle: libtest captures `eprintln!` of passing tests.
fn loud_skip(what: &str, why: &str) {
    let bar = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED: {what}: {why}\n{bar}\n"
    );
}

fn require_tool(name: &str, what: &str) -> Option<PathBuf> {
    match which(name) {
        Some(p) => Some(p),
        None => {
            let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(
                !required,
                "{name} is missing and {REQUIRE_ENV} is set (scripts/lib.sh installs it)"
            );
            loud_skip(
                what,
                &format!("{name} is not installed (apt-get install prometheus)"),
            );
            None
        }
    }
}

/// The `zonegate` CLI next to the agent binary (`cargo build -p zonegate-policy`), or
/// ZONEGATE_BIN.
fn zonegate_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ZONEGATE_BIN") {
        return PathBuf::from(p);
    }
    let bin = agent_bin().with_file_name("zonegate");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p zonegate-policy` (or set ZONEGATE_BIN)",
        bin.display()
    );
    bin
}

fn ip(args: &[&str]) {
    let out = Command::new(IP).args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The monitoring namespace, deleted on drop (its veths go with it). Named like the labs'
/// namespaces (`zgt<pid>x...`) so a killed run's leftovers are swept by the next run.
struct MonitorNs {
    name: String,
}

impl MonitorNs {
    fn new() -> MonitorNs {
        let name = format!("zgt{}xfleetm", std::process::id());
        let _ = Command::new(IP).args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = MonitorNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// A link to gateway `i` (1-based): 10.99.i.1 here, 10.99.i.2 on the gateway's `ensm`.
    fn link(&self, i: usize, gw_ns: &str) {
        let here = format!("m{i}");
        ip(&[
            "link", "add", &here, "netns", &self.name, "type", "veth", "peer", "name", "ensm",
            "netns", gw_ns,
        ]);
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("10.99.{i}.1/24"),
            "dev",
            &here,
        ]);
        ip(&["-n", &self.name, "link", "set", &here, "up"]);
        ip(&[
            "-n",
            gw_ns,
            "addr",
            "add",
            &format!("10.99.{i}.2/24"),
            "dev",
            "ensm",
        ]);
        ip(&["-n", gw_ns, "link", "set", "ensm", "up"]);
    }
}

impl Drop for MonitorNs {
    fn drop(&mut self) {
        let _ = Command::new(IP).args(["netns", "del", &self.name]).output();
    }
}

/// A Prometheus server with its own configuration and storage, killed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
}

impl Prometheus {
    fn start(bin: &Path, ns: &str, dir: &Path, targets: &[String]) -> Prometheus {
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let list = targets
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: zonegate\n    static_configs:\n      - targets: [{list}]\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new(IP)
            .args(["netns", "exec", ns])
            .arg(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{PROM_PORT}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `zonegate fleet ARGS` inside the monitoring namespace.
fn zonegate_in(ns: &str, args: &[&str]) -> Output {
    Command::new(IP)
        .args(["netns", "exec", ns])
        .arg(zonegate_bin())
        .args(args)
        .output()
        .expect("run zonegate")
}

/// The JSON fleet report and the exit code.
fn fleet_json(ns: &str, policy: &Path, source: &[&str]) -> (Option<i32>, Value, String) {
    let p = policy.display().to_string();
    let mut args = vec![
        "fleet",
        p.as_str(),
        "--silent-after",
        SILENT_AFTER,
        "--format",
        "json",
    ];
    args.extend_from_slice(source);
    let out = zonegate_in(ns, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, stderr)
}

/// The finding types of one gateway.
fn findings(report: &Value, gateway: &str) -> Vec<String> {
    report["gateways"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["gateway"] == gateway)
        .flat_map(|g| g["findings"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["type"].as_str().map(str::to_string))
        .collect()
}

fn gateway<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["gateways"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["gateway"] == name))
        .unwrap_or(&Value::Null)
}

/// One gateway namespace with its agent.
struct Member {
    gw: Gw,
    name: String,
}

impl Member {
    fn up(i: usize) -> Option<Member> {
        let spec = LabSpec {
            segments: vec![
                SegmentSpec::new("ens3", &["10.10.0.1/24"], &["10.10.0.5/24"]),
                SegmentSpec::new("ens4", &["10.20.0.1/24"], &["10.20.0.5/24"]),
            ],
        };
        let gw = Gw::up_with(&spec, FLEET_POLICY, "")?;
        let name = format!("gw{i}");
        // agent.toml of this gateway (Gw::write_config names every gateway gw1).
        let config = format!(
            "gateway = \"{name}\"\nstate_dir = \"{}\"\nstatus_socket = \"{}\"\ncheck_interval = \"2s\"\npolicy = \"{}\"\nmetrics_address = \"10.99.{i}.2:{METRICS_PORT}\"\n[alerts]\ntime_zone = \"Asia/Tokyo\"\n[alerts.denied_flows]\nwindow_secs = 3\n[[alerts.sinks]]\nkind = \"file\"\nname = \"file\"\npath = \"{}\"\n",
            gw.state_dir().display(),
            gw.dir.join("agent.sock").display(),
            gw.policy_path().display(),
            gw.dir.join("alerts.jsonl").display()
        );
        std::fs::write(gw.config_path(), config).expect("agent.toml");
        Some(Member { gw, name })
    }

    fn status_json(&self) -> String {
        self.gw.agent_ok(&["status", "--format", "json"], 0)
    }
}

/// Polls `zonegate fleet` until `done` holds for the report; panics with the last report.
fn wait_report(
    ns: &str,
    policy: &Path,
    what: &str,
    prom: &Prometheus,
    done: impl Fn(Option<i32>, &Value) -> bool,
) -> Value {
    let end = Instant::now() + DEADLINE;
    let port = format!("http://127.0.0.1:{PROM_PORT}");
    loop {
        let (code, v, stderr) = fleet_json(ns, policy, &["--prometheus", &port]);
        if done(code, &v) {
            return v;
        }
        if Instant::now() > end {
            panic!(
                "{what}: not reached within {DEADLINE:?}\nexit {code:?}\nreport:\n{}\nstderr:\n{stderr}\nprometheus log:\n{}",
                serde_json::to_string_pretty(&v).unwrap_or_default(),
                prom.log()
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn fleet_report_from_prometheus_and_status_files() {
    if !require_root() {
        return;
    }
    let Some(prom_bin) = require_tool("prometheus", "fleet report against a real Prometheus")
    else {
        return;
    };
    let members: Vec<Member> = match (1..=3).map(Member::up).collect::<Option<Vec<_>>>() {
        Some(m) => m,
        None => return,
    };
    let mon = MonitorNs::new();
    for (i, m) in members.iter().enumerate() {
        mon.link(i + 1, m.gw.lab.gw());
    }
    let work = members[0].gw.dir.join("fleet");
    std::fs::create_dir_all(&work).expect("work dir");
    let reviewed = work.join("zones.toml");
    std::fs::write(&reviewed, FLEET_POLICY).expect("reviewed policy");

    let mut agents: Vec<Option<Running>> = members.iter().map(|m| Some(m.gw.run())).collect();
    let targets: Vec<String> = (1..=3)
        .map(|i| format!("10.99.{i}.2:{METRICS_PORT}"))
        .collect();
    let prom = Prometheus::start(&prom_bin, &mon.name, &work.join("prometheus"), &targets);

    // 1. All in order: exit 0 once Prometheus has scraped all three.
    let ok = wait_report(&mon.name, &reviewed, "all in order", &prom, |code, _| {
        code == Some(0)
    });
    for m in &members {
        let g = gateway(&ok, &m.name);
        assert_eq!(
            g["running"]["ruleset_sha256"], g["approved_ruleset_sha256"],
            "{}",
            m.name
        );
        assert_eq!(g["running"]["revision"], "r2");
    }

    // The same report from status files.
    let status_dir = work.join("status");
    std::fs::create_dir_all(&status_dir).expect("status dir");
    let collect = |dir: &Path, members: &[&Member]| {
        for m in members {
            std::fs::write(dir.join(format!("{}.json", m.name)), m.status_json())
                .expect("status file");
        }
    };
    collect(&status_dir, &members.iter().collect::<Vec<_>>());
    let sd = status_dir.display().to_string();
    let (code, v, stderr) = fleet_json(&mon.name, &reviewed, &["--status-dir", &sd]);
    assert_eq!(code, Some(0), "{stderr}\n{v:#}");

    // 2. gw2 gets the older policy file: a staged change, reported as such.
    members[1].gw.write_policy(&older_policy());
    let staged = wait_report(
        &mon.name,
        &reviewed,
        "staged change on gw2",
        &prom,
        |code, v| code == Some(2) && findings(v, "gw2").contains(&"staged-change".to_string()),
    );
    assert!(findings(&staged, "gw1").is_empty(), "{staged:#}");
    assert!(!findings(&staged, "gw2").contains(&"hash-not-approved".to_string()));

    // 3. gw2 applies it: the older ruleset runs there, reported with both hashes.
    members[1].gw.agent_ok(&["apply"], 0);
    let old = wait_report(
        &mon.name,
        &reviewed,
        "older policy on gw2",
        &prom,
        |_, v| findings(v, "gw2") == ["hash-not-approved"],
    );
    let f = &gateway(&old, "gw2")["findings"][0];
    assert_eq!(f["approved"], approved_hash(FLEET_POLICY, "gw2"));
    assert_eq!(f["running"], approved_hash(&older_policy(), "gw2"));
    assert_ne!(f["approved"], f["running"]);
    assert!(findings(&old, "gw1").is_empty() && findings(&old, "gw3").is_empty());
    let text = zonegate_in(
        &mon.name,
        &[
            "fleet",
            &reviewed.display().to_string(),
            "--prometheus",
            &format!("http://127.0.0.1:{PROM_PORT}"),
            "--lang",
            "en",
        ],
    );
    assert_eq!(text.status.code(), Some(2));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "ruleset not approved: approved {}, running {}",
            approved_hash(FLEET_POLICY, "gw2"),
            approved_hash(&older_policy(), "gw2")
        )),
        "{text}"
    );

    // The status files say the same.
    collect(&status_dir, &members.iter().collect::<Vec<_>>());
    let (code, v, stderr) = fleet_json(&mon.name, &reviewed, &["--status-dir", &sd]);
    assert_eq!(code, Some(2), "{stderr}\n{v:#}");
    assert_eq!(findings(&v, "gw2"), ["hash-not-approved"], "{v:#}");
    assert!(findings(&v, "gw1").is_empty() && findings(&v, "gw3").is_empty());

    // 4. gw3's agent stops: silent once no sample is younger than the window.
    if let Some(a) = agents[2].take() {
        a.stop();
    }
    let silent = wait_report(&mon.name, &reviewed, "gw3 silent", &prom, |_, v| {
        findings(v, "gw3").contains(&"silent".to_string())
    });
    assert!(findings(&silent, "gw1").is_empty(), "{silent:#}");
    let last_seen = gateway(&silent, "gw3")["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["type"] == "silent"))
        .and_then(|f| f["last_seen"].as_i64())
        .unwrap_or_else(|| panic!("no last report time for the silent gw3: {silent:#}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    assert!(
        last_seen <= now - 15 && last_seen > now - DEADLINE.as_secs() as i64 - 60,
        "last seen {last_seen}, now {now}"
    );
    assert!(
        gateway(&silent, "gw3")["running"]["last_apply"]
            .as_i64()
            .is_some_and(|t| t <= last_seen),
        "the last apply of a silent gateway is still known: {silent:#}"
    );

    // 5. The HTML report, both languages, as headless Chromium renders it.
    let html = work.join("fleet.html");
    let out = zonegate_in(
        &mon.name,
        &[
            "fleet",
            &reviewed.display().to_string(),
            "--prometheus",
            &format!("http://127.0.0.1:{PROM_PORT}"),
            "--silent-after",
            SILENT_AFTER,
            "--format",
            "html",
            "--lang",
            "both",
            "-o",
            &html.display().to_string(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_html_in_chromium(&html, &work);

    // 6. An LGWAN host tries a port of the My Number host that no flow opens, on gw1: the
    // denied packets are counted per zone pair and reported as denied into My Number.
    assert!(!tcp_reachable(
        members[0].gw.lab.host(0),
        None,
        agent_support::sa("10.20.0.5", 7100),
        Duration::from_millis(300)
    ));
    let denied = wait_report(
        &mon.name,
        &reviewed,
        "denied into My Number on gw1",
        &prom,
        |_, v| findings(v, "gw1") == ["denied-into-mynumber"],
    );
    let f = &gateway(&denied, "gw1")["findings"][0];
    assert_eq!(f["zone"], "mynumber", "{denied:#}");
    assert!(
        f["packets"].as_f64().is_some_and(|p| p >= 1.0),
        "{denied:#}"
    );

    // 7. Someone tampers with gw1's ruleset; the agent repairs it and the report says so.
    members[0].gw.nft(&[
        "insert",
        "rule",
        "inet",
        "zonegate",
        "forward",
        "ip",
        "saddr",
        "10.30.0.5",
        "accept",
    ]);
    let drift = wait_report(&mon.name, &reviewed, "drift on gw1", &prom, |_, v| {
        findings(v, "gw1").contains(&"drift".to_string())
    });
    let f = gateway(&drift, "gw1")["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["type"] == "drift"))
        .cloned()
        .unwrap_or_default();
    assert!(f["bursts"].as_f64().is_some_and(|b| b >= 1.0), "{drift:#}");

    for a in agents.iter_mut() {
        if let Some(a) = a.take() {
            a.stop();
        }
    }
    drop(prom);
    drop(mon);
}

/// Renders the report with headless Chromium (as policy-compiler/tests/matrix_html.rs does for
/// the matrix) and checks the rendered DOM: one row per gateway in each language, and the
/// findings of gw2 and gw3 in their rows. Skips loudly without Chromium.
fn check_html_in_chromium(page: &Path, work: &Path) {
    if std::env::var_os("ZONEGATE_SKIP_CHROMIUM").is_some() {
        loud_skip(
            "fleet HTML in headless Chromium",
            "ZONEGATE_SKIP_CHROMIUM is set",
        );
        return;
    }
    let Some(bin) = which("chromium").or_else(|| which("chromium-browser")) else {
        loud_skip(
            "fleet HTML in headless Chromium",
            "chromium is not installed (apt-get install chromium fonts-ipafont-gothic)",
        );
        return;
    };
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("chromium").display()
        ))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let end = Instant::now() + DEADLINE;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > end => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within {DEADLINE:?}");
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("chromium: {e}"),
        }
    }
    let dom = String::from_utf8(reader.join().expect("reader")).expect("utf-8 DOM");
    for (lang, bad_hash, silent) in [
        ("ja", "承認外のルールセット", "沈黙"),
        ("en", "ruleset not approved", "silent"),
    ] {
        let table = dom
            .split(&format!("<table class=\"fleet\" id=\"fleet-{lang}\">"))
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap_or_else(|| panic!("no {lang} fleet table in the rendered page:\n{dom}"));
        let row = |gw: &str| {
            table
                .split(&format!("data-gateway=\"{gw}\""))
                .nth(1)
                .and_then(|r| r.split("</tr>").next())
                .unwrap_or_else(|| panic!("no row for {gw} in the {lang} table"))
                .to_string()
        };
        assert_eq!(table.matches("<tr class=").count(), 3, "{lang}: {table}");
        assert!(row("gw2").contains(bad_hash), "{lang} gw2: {}", row("gw2"));
        assert!(row("gw3").contains(silent), "{lang} gw3: {}", row("gw3"));
        assert!(
            row("gw1").contains("class=\"ok\""),
            "{lang} gw1: {}",
            row("gw1")
        );
    }
}

#[test]
fn bundles_apply_and_bad_bundles_leave_the_kernel_unchanged() {
    let Some(gw) = Gw::up(agent_support::POLICY, "") else {
        return;
    };
    let dir = gw.dir.clone();
    let bundle_path = dir.join("gw1.zgb");
    gw.write_config(&format!("policy = \"{}\"\n", bundle_path.display()));
    // The reviewed policy, and a variant that also declares gw2 (for a bundle of another gateway).
    let reviewed = dir.join("reviewed.toml");
    std::fs::write(&reviewed, agent_support::POLICY).expect("policy");
    let two = dir.join("two.toml");
    std::fs::write(
        &two,
        format!(
            "{}\n[gateways.gw2]\ninterfaces = {{ a = [\"ens3\"], b = [\"ens4\"], c = [\"ens5\"] }}\n",
            agent_support::POLICY
        ),
    )
    .expect("policy");
    let make = |policy: &Path, gateway: &str, out: &Path| {
        let o = Command::new(zonegate_bin())
            .args(["bundle"])
            .arg(policy)
            .args(["--gateway", gateway, "-o"])
            .arg(out)
            .output()
            .expect("zonegate bundle");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out).expect("bundle")
    };
    let good = make(&reviewed, "gw1", &bundle_path);

    // A valid bundle applies: the ruleset of the policy it carries is loaded.
    gw.agent_ok(&["apply"], 0);
    let loaded = gw.ruleset();
    assert!(loaded.contains("table inet zonegate"), "{loaded}");
    let status = gw.agent_ok(&["validate"], 0);
    assert!(!status.is_empty());

    let other = make(&two, "gw2", &dir.join("gw2.zgb"));
    let truncated = good[..good.len() * 2 / 3].to_vec();
    let mismatched = {
        // The header of a bundle of the older revision on the policy of this one: the ruleset
        // hash announced is a real one, but not that of the policy carried.
        let older = agent_support::POLICY.replace("7000-7001", "7000");
        let older_path = dir.join("older.toml");
        std::fs::write(&older_path, older).expect("older policy");
        let old_bundle =
            String::from_utf8(make(&older_path, "gw1", &dir.join("old.zgb"))).expect("utf-8");
        let old_hash = old_bundle
            .lines()
            .find_map(|l| l.strip_prefix("ruleset-sha256: "))
            .expect("hash line")
            .to_string();
        let text = String::from_utf8(good.clone()).expect("utf-8");
        let new_hash = text
            .lines()
            .find_map(|l| l.strip_prefix("ruleset-sha256: "))
            .expect("hash line")
            .to_string();
        text.replacen(&new_hash, &old_hash, 1).into_bytes()
    };
    for (what, bytes, says) in [
        (
            "another gateway's bundle",
            other,
            "the bundle is for gateway `gw2`, this is gateway `gw1`",
        ),
        ("a truncated bundle", truncated, "the bundle is truncated"),
        (
            "a hash mismatch",
            mismatched,
            "ruleset SHA-256 does not match its policy",
        ),
    ] {
        std::fs::write(&bundle_path, &bytes).expect("bundle");
        let out = gw.agent(&["apply"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains("bundle refused"), "{what}: {stderr}");
        assert!(stderr.contains(says), "{what}: {stderr}");
        assert_eq!(gw.ruleset(), loaded, "{what}: the kernel's ruleset changed");
    }
}
