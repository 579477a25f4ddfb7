//! Diagnostics: every problem the compiler finds in a policy, with its position, a stable code
//! and a hint. Rendering to text (`file:line:col: error[E014]: ...`) and JSON lives here too, so
//! the CLI, the agent and the golden tests all print exactly the same thing.

use crate::messages::{Lang, Text};
use crate::t;
use serde::Serialize;
use std::fmt;

/// How bad a finding is. Errors block compilation; warnings are printed and do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn word(self) -> Text {
        match self {
            Severity::Error => t!(SEVERITY_ERROR),
            Severity::Warning => t!(SEVERITY_WARNING),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A position in the policy file: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One finding. Its message and hint come from the catalogue (crate::messages) and render in
/// English or Japanese; the code, file and position are the same in both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
}

impl Diagnostic {
    /// `zones.toml:12:7: error[E014]: unknown zone "dmz"` followed by an indented hint line.
    pub fn render(&self) -> String {
        self.render_in(Lang::En)
    }

    pub fn render_in(&self, lang: Lang) -> String {
        let mut out = format!(
            "{}:{}:{}: {}[{}]: {}",
            self.file,
            self.line,
            self.column,
            self.severity.word().render(lang),
            self.code,
            self.message.render(lang)
        );
        if let Some(hint) = &self.hint {
            out.push_str("\n  ");
            out.push_str(&t!(DIAG_HINT).render(lang));
            out.push_str(": ");
            out.push_str(&hint.render(lang));
        }
        out
    }
}

/// All findings of one run, errors and warnings apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Sorted by position then code, so output is stable whatever order checks ran in.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (a.line, a.column, a.severity, a.code, &a.message)
                .cmp(&(b.line, b.column, b.severity, b.code, &b.message))
        });
        self.items.dedup();
    }

    /// Text form: errors first, then warnings, then a summary line.
    pub fn render_text(&self) -> String {
        self.render_text_in(Lang::En)
    }

    pub fn render_text_in(&self, lang: Lang) -> String {
        let mut out = String::new();
        for d in self.errors().chain(self.warnings()) {
            out.push_str(&d.render_in(lang));
            out.push('\n');
        }
        out.push_str(&self.summary().render(lang));
        out.push('\n');
        out
    }

    /// "1 error, 2 warnings".
    pub fn summary(&self) -> Text {
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        let error_word = if errors == 1 {
            t!(WORD_ERROR)
        } else {
            t!(WORD_ERRORS)
        };
        let warning_word = if warnings == 1 {
            t!(WORD_WARNING)
        } else {
            t!(WORD_WARNINGS)
        };
        t!(
            DIAG_SUMMARY,
            errors = errors,
            error_word = error_word,
            warnings = warnings,
            warning_word = warning_word
        )
    }

    pub fn render_json(&self) -> String {
        self.render_json_in(Lang::En)
    }

    /// JSON with the messages and hints in `lang` (codes and positions as always).
    pub fn render_json_in(&self, lang: Lang) -> String {
        #[derive(Serialize)]
        struct Item<'a> {
            code: &'static str,
            severity: Severity,
            file: &'a str,
            line: usize,
            column: usize,
            message: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            hint: Option<String>,
        }
        #[derive(Serialize)]
        struct Out<'a> {
            errors: usize,
            warnings: usize,
            diagnostics: Vec<Item<'a>>,
        }
        let out = Out {
            errors: self.errors().count(),
            warnings: self.warnings().count(),
            diagnostics: self
                .items
                .iter()
                .map(|d| Item {
                    code: d.code,
                    severity: d.severity,
                    file: &d.file,
                    line: d.line,
                    column: d.column,
                    message: d.message.render(lang),
                    hint: d.hint.as_ref().map(|h| h.render(lang)),
                })
                .collect(),
        };
        // Serialising plain owned data cannot fail.
        serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
    }
}

/// Turns byte offsets into line/column positions for one source text.
#[derive(Debug, Clone)]
pub struct SourceMap {
    pub file: String,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceMap {
    pub fn new(file: &str, text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        SourceMap {
            file: file.to_string(),
            text: text.to_string(),
            line_starts,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Always a valid position: offsets past the end clamp to the last character.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts[line_idx];
        let mut col_bytes = offset - start;
        // Never split a UTF-8 character: step back to a char boundary.
        while col_bytes > 0 && !self.text.is_char_boundary(start + col_bytes) {
            col_bytes -= 1;
        }
        let column = self.text[start..start + col_bytes].chars().count() + 1;
        Position {
            line: line_idx + 1,
            column,
        }
    }
}
