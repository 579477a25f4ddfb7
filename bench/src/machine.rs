//! A description of the machine a run happened on, for the report: CPU model and count, memory,
//! kernel, nft version, and the load average (a shared machine's background load is part of
//! every figure, so the report shows it at the start and end of each section).

use std::process::Command;

/// What the report says about the machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// MemTotal in MiB.
    pub mem_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// `nft --version`.
    pub nft: String,
    /// Virtualisation: systemd-detect-virt's answer and the CPU's hypervisor flag.
    pub virt: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Collects the description; fields it cannot read stay empty.
pub fn describe() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let hypervisor = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    let mem_mib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    let nft = Command::new(zonegate_e2e::lab::NFT)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let detected = Command::new("systemd-detect-virt")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty() && v != "none");
    let virt = match (detected, hypervisor) {
        (Some(v), true) => format!("{v} container on a virtual machine"),
        (Some(v), false) => v,
        (None, true) => "virtual machine".into(),
        (None, false) => String::new(),
    };
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        mem_mib,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        nft,
        virt,
    }
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
