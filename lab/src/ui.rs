//! What the lab prints: one progress line per step (`==> …`, as `scripts/lib.sh` prints them),
//! indented detail lines under it, and check results. Colour only on a terminal (and never with
//! `NO_COLOR` set or in CI mode), so piped or logged output is plain text.

use std::io::{IsTerminal, Write};

/// Terminal styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    color: bool,
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

impl Ui {
    /// Colour when standard output is a terminal, unless `plain` or `NO_COLOR` says otherwise.
    pub fn new(plain: bool) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ui {
            color: !plain && !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(BOLD, text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint(DIM, text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint(GREEN, text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint(RED, text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint(YELLOW, text)
    }

    /// A progress line: `==> text`.
    pub fn step(&self, text: &str) {
        let arrow = self.paint(&format!("{BOLD}{GREEN}"), "==>");
        say(&format!("{arrow} {}", self.bold(text)));
    }

    /// A detail line under the current step.
    pub fn detail(&self, text: &str) {
        for line in text.lines() {
            say(&format!("    {line}"));
        }
    }

    /// A check that held.
    pub fn pass(&self, text: &str) {
        say(&format!("    {} {text}", self.green("ok")));
    }

    /// A check that failed.
    pub fn fail(&self, text: &str) {
        say(&format!(
            "    {} {text}",
            self.paint(&format!("{BOLD}{RED}"), "FAILED")
        ));
    }

    /// Something the reader should know that is not a failed check.
    pub fn warn(&self, text: &str) {
        say(&format!(
            "{} {text}",
            self.paint(&format!("{BOLD}{YELLOW}"), "!!")
        ));
    }
}

/// Prints a line and flushes, so progress shows at once even when piped.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Pads `text` to `width` display columns (CJK characters count two, as a terminal shows them).
pub fn pad(text: &str, width: usize) -> String {
    let w = display_width(text);
    if w >= width {
        text.to_string()
    } else {
        format!("{text}{}", " ".repeat(width - w))
    }
}

/// Display width of `text`, ignoring ANSI escapes; wide (East Asian) characters count two.
pub fn display_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        if in_escape {
            if c == 'm' {
                in_escape = false;
            }
            continue;
        }
        if c == '\x1b' {
            in_escape = true;
            continue;
        }
        width += if is_wide(c) { 2 } else { 1 };
    }
    width
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_count_cjk_double_and_skip_escapes() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("LGWAN接続系"), 11);
        assert_eq!(display_width("\x1b[32mok\x1b[0m"), 2);
        assert_eq!(pad("接続", 6), "接続  ");
    }
}
