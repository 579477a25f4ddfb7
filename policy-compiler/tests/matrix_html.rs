//! Renders the audit matrix HTML of the worked example with headless Chromium (Debian's
//! `chromium` package) and checks that the page really shows the matrix: a screenshot PNG of
//! the expected size that is not blank, the rendered DOM holding the zone-by-zone table with
//! its Japanese labels, and a PDF printed on A4 landscape pages.
//!
//! Set-up: when Chromium (or a Japanese font) is missing and the test runs as root, it installs
//! `chromium fonts-ipafont-gothic` with apt-get; otherwise, or with ZONEGATE_SKIP_CHROMIUM set,
//! it prints a loud SKIPPED banner and passes. With Chromium present it takes a few seconds.
//! Kept in its own test binary so `cargo test --test matrix_html` runs it alone and other
//! suites never wait for it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zonegate_policy::matrix::{build, Lang};
use zonegate_policy::{validate, Date};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1000;

/// Written straight to the stderr handle: libtest captures `eprintln!` of passing tests, and a
/// skipped check must not pass silently.
fn loud_skip(why: &str) {
    let bar = "!".repeat(78);
    let _ = writeln!(
        std::io::stderr(),
        "\n{bar}\n!!! SKIPPED: matrix HTML render check (headless Chromium): {why}\n{bar}\n"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn chromium() -> Option<PathBuf> {
    which("chromium").or_else(|| which("chromium-browser"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn has_japanese_font() -> bool {
    Command::new("fc-list")
        .arg(":lang=ja")
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false)
}

fn apt_install(pkgs: &[&str]) -> Result<(), String> {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if install() {
        return Ok(());
    }
    // A fresh machine may not have package lists yet.
    let _ = Command::new("apt-get")
        .args(["update", "-qq"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if install() {
        Ok(())
    } else {
        Err(format!("apt-get install {} failed", pkgs.join(" ")))
    }
}

/// Chromium, installed if it is missing and we may; None means skip (after saying why).
fn ensure_chromium() -> Option<PathBuf> {
    if std::env::var_os("ZONEGATE_SKIP_CHROMIUM").is_some() {
        loud_skip("ZONEGATE_SKIP_CHROMIUM is set");
        return None;
    }
    let missing_font = !has_japanese_font();
    if chromium().is_none() || missing_font {
        if !is_root() {
            if chromium().is_none() {
                loud_skip("chromium is not installed and this test is not root (apt-get install chromium fonts-ipafont-gothic)");
                return None;
            }
        } else if let Err(e) = apt_install(&["chromium", "fonts-ipafont-gothic"]) {
            if chromium().is_none() {
                loud_skip(&e);
                return None;
            }
        }
    }
    chromium()
}

/// Runs Chromium headless with its own profile directory, killed if it hangs.
fn run_chromium(bin: &Path, profile: &Path, args: &[String], url: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > Duration::from_secs(120) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("chromium did not finish within 120 s".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
    reader.join().map_err(|_| "reader thread".to_string())
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((be(16), be(20)))
}

#[test]
fn matrix_html_renders_in_headless_chromium() {
    let Some(bin) = ensure_chromium() else {
        return;
    };
    let text = include_str!("../../zones.toml");
    let checked = validate("zones.toml", text, Date::parse("2026-11-25"));
    let p = checked.policy.expect("worked example is valid");
    let m = build(&p, &checked.diagnostics, Some("gw1")).expect("matrix");
    let html = m.render_html(Lang::Ja);

    let dir = std::env::temp_dir().join(format!("zonegate-matrix-html-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("tmp dir");
    let page = dir.join("matrix.html");
    fs::write(&page, &html).expect("write html");
    let url = format!("file://{}", page.display());
    let profile = dir.join("profile");

    // 1. A screenshot: the right size, and far from blank (a blank page compresses to a few KB).
    let png = dir.join("matrix.png");
    run_chromium(
        &bin,
        &profile,
        &[
            format!("--window-size={WIDTH},{HEIGHT}"),
            format!("--screenshot={}", png.display()),
        ],
        &url,
    )
    .expect("screenshot");
    let bytes = fs::read(&png).expect("chromium wrote the PNG");
    assert_eq!(
        png_size(&bytes),
        Some((WIDTH, HEIGHT)),
        "not a {WIDTH}x{HEIGHT} PNG"
    );
    assert!(
        bytes.len() > 40_000,
        "the screenshot looks blank ({} bytes)",
        bytes.len()
    );

    // 2. The DOM as rendered: the matrix table with every cell and its labels.
    let dom = String::from_utf8(
        run_chromium(&bin, &profile, &["--dump-dom".into()], &url).expect("dump-dom"),
    )
    .expect("utf-8 DOM");
    let table = dom
        .split("<table class=\"matrix\" id=\"matrix\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the matrix table is in the rendered page");
    let axis = m.zones.len() + 1;
    assert_eq!(
        table.matches("<td").count(),
        axis * axis,
        "cells in the rendered matrix"
    );
    for label in [
        "マイナンバー利用事務系 (mynumber)",
        "ゲートウェイ自身",
        "すべて拒否",
        "F-001",
        "F-002",
    ] {
        assert!(table.contains(label), "{label} not in the rendered matrix");
    }
    assert!(dom.contains(&p.canonical_sha256));

    // 3. Printing: A4 landscape pages (841.92 x 594.96 points as Chromium writes them).
    let pdf = dir.join("matrix.pdf");
    run_chromium(
        &bin,
        &profile,
        &[
            "--no-pdf-header-footer".into(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
        &url,
    )
    .expect("print to pdf");
    let pdf_bytes = fs::read(&pdf).expect("chromium wrote the PDF");
    let pdf_text = String::from_utf8_lossy(&pdf_bytes);
    let boxes: Vec<&str> = pdf_text
        .match_indices("/MediaBox [")
        .filter_map(|(i, _)| pdf_text[i + 11..].split(']').next())
        .collect();
    assert!(!boxes.is_empty(), "no pages in the PDF");
    for b in &boxes {
        let v: Vec<f64> = b
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        assert_eq!(v.len(), 4, "MediaBox {b}");
        let (w, h) = (v[2] - v[0], v[3] - v[1]);
        assert!(
            (w - 842.0).abs() < 2.0 && (h - 595.0).abs() < 2.0,
            "page {w}x{h} is not A4 landscape"
        );
    }
    assert!(
        boxes.len() <= 8,
        "{} pages for a four-zone policy",
        boxes.len()
    );
    let _ = fs::remove_dir_all(&dir);
}
