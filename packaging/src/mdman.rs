//! Man pages from Markdown, so a reference and its man page come from one text and cannot
//! disagree: zones.toml(5) and agent.toml(5) are sections of docs/zones-reference.md (and of
//! docs/zones-reference.ja.md for the Japanese pages), the Japanese zonegate(1) and
//! zonegate-agent(8) are docs/man/*.ja.md.
//!
//! The Markdown is the subset those files use: `#`/`##`/`###` headings, paragraphs, `- ` lists,
//! pipe tables (a row becomes a tagged paragraph: the first cell the tag, the other cells
//! "heading: value" lines), ``` fenced blocks, `code` and **bold**.

/// One man page made from Markdown.
pub struct Page<'a> {
    /// `zones.toml`
    pub name: &'a str,
    /// `5`
    pub section: &'a str,
    /// The NAME line's description (after `\-`).
    pub summary: &'a str,
    /// The Markdown body; its `#` title is dropped (the page has .TH and NAME).
    pub markdown: &'a str,
    pub version: &'a str,
}

/// The part of `md` from the line `start` (exactly) up to, not including, the first line that
/// is one of `end` (or the end of the file). None when `start` is not there.
pub fn section<'a>(md: &'a str, start: &str, end: &[&str]) -> Option<&'a str> {
    let begin = md
        .match_indices(start)
        .find(|(i, _)| *i == 0 || md.as_bytes()[i - 1] == b'\n')
        .map(|(i, _)| i)?;
    let rest = &md[begin..];
    let stop = rest
        .lines()
        .skip(1)
        .scan(
            rest.lines().next().map_or(0, |l| l.len() + 1),
            |pos, line| {
                let at = *pos;
                *pos += line.len() + 1;
                Some((at, line))
            },
        )
        .find(|(_, line)| end.contains(line))
        .map(|(at, _)| at)
        .unwrap_or(rest.len());
    Some(&rest[..stop])
}

/// Escapes text for roff: backslashes, minus signs, and a leading dot or quote.
fn escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `[text](target)` becomes `text` (a man page has no links; the text names the file).
fn unlink(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else {
            break;
        };
        let Some(end) = after[close + 2..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after[..close]);
        rest = &after[close + 2 + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Inline Markdown (`code`, **bold**, links) to roff fonts, escaped.
fn inline(s: &str) -> String {
    let s = unlink(s);
    let mut out = String::new();
    let mut rest = s.as_str();
    loop {
        // The earliest marker; `**` before `*` at the same place.
        let found = ["`", "**", "*"]
            .iter()
            .filter_map(|m| rest.find(m).map(|at| (at, *m)))
            .min_by_key(|(at, m)| (*at, usize::MAX - m.len()));
        let Some((at, marker)) = found else {
            break;
        };
        let after = &rest[at + marker.len()..];
        let Some(close) = after.find(marker).filter(|c| *c > 0) else {
            out.push_str(&escape_inline(&rest[..at + marker.len()]));
            rest = after;
            continue;
        };
        let font = if marker == "*" { "\\fI" } else { "\\fB" };
        out.push_str(&escape_inline(&rest[..at]));
        out.push_str(font);
        out.push_str(&escape_inline(&after[..close]));
        out.push_str("\\fR");
        rest = &after[close + marker.len()..];
    }
    out.push_str(&escape_inline(rest));
    // A line starting with a font escape is fine; one starting with '.' or '\'' is not.
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn escape_inline(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    // `\|` inside a cell is a literal bar.
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn is_separator(line: &str) -> bool {
    let c = cells(line);
    !c.is_empty()
        && c.iter()
            .all(|x| !x.is_empty() && x.chars().all(|ch| matches!(ch, '-' | ':')))
}

/// The roff text of `page`. Japanese pages (`lang_ja`) load groff's Japanese line breaking.
pub fn render(page: &Page<'_>, lang_ja: bool) -> String {
    let mut out = String::new();
    if lang_ja {
        out.push_str(".\\\" groff's Japanese line breaking (ja.tmac), as man -L ja loads it\n.mso ja.tmac\n.ds AD l\n");
    }
    out.push_str(&format!(
        ".TH {} {} \"\" \"zonegate {}\" \"zonegate\"\n",
        escape(&page.name.to_uppercase()),
        page.section,
        page.version
    ));
    if lang_ja {
        // Ragged right: Japanese has no spaces to stretch, so adjusting both margins fails.
        out.push_str(".na\n");
    }
    out.push_str(".SH NAME\n");
    out.push_str(&format!(
        "{} \\- {}\n",
        escape(page.name),
        escape_inline(page.summary)
    ));
    let lines: Vec<&str> = page.markdown.lines().collect();
    let mut i = 0;
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut String| {
        if !para.is_empty() {
            out.push_str(".PP\n");
            for l in para.drain(..) {
                out.push_str(&l);
                out.push('\n');
            }
        }
    };
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut para, &mut out);
            i += 1;
        } else if let Some(h) = trimmed.strip_prefix("### ") {
            flush(&mut para, &mut out);
            out.push_str(&format!(".SS \"{}\"\n", inline(h).replace('"', "\\(dq")));
            i += 1;
        } else if let Some(h) = trimmed.strip_prefix("## ") {
            flush(&mut para, &mut out);
            out.push_str(&format!(
                ".SH \"{}\"\n",
                inline(&h.to_uppercase()).replace('"', "\\(dq")
            ));
            i += 1;
        } else if trimmed.starts_with("# ") {
            flush(&mut para, &mut out);
            i += 1;
        } else if trimmed.starts_with("```") {
            flush(&mut para, &mut out);
            out.push_str(".PP\n.RS 4\n.nf\n");
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                let l = escape_inline(lines[i]);
                if l.starts_with('.') || l.starts_with('\'') {
                    out.push_str("\\&");
                }
                out.push_str(&l);
                out.push('\n');
                i += 1;
            }
            out.push_str(".fi\n.RE\n");
            i += 1;
        } else if trimmed.starts_with('|') && i + 1 < lines.len() && is_separator(lines[i + 1]) {
            flush(&mut para, &mut out);
            let head = cells(trimmed);
            i += 2;
            while i < lines.len() && lines[i].trim().starts_with('|') {
                let row = cells(lines[i]);
                out.push_str(".TP\n");
                out.push_str(&inline(row.first().map(String::as_str).unwrap_or("")));
                out.push('\n');
                let mut first = true;
                for (h, v) in head.iter().zip(row.iter()).skip(1) {
                    if v.is_empty() || v == "—" {
                        continue;
                    }
                    if !first {
                        out.push_str(".br\n");
                    }
                    first = false;
                    if h.is_empty() || head.len() == 2 {
                        out.push_str(&inline(v));
                    } else {
                        out.push_str(&format!("{}: {}", inline(h), inline(v)));
                    }
                    out.push('\n');
                }
                i += 1;
            }
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            flush(&mut para, &mut out);
            out.push_str(".IP \\(bu 2\n");
            out.push_str(&inline(item));
            out.push('\n');
            i += 1;
            // Continuation lines of the item (indented).
            while i < lines.len() && lines[i].starts_with("  ") && !lines[i].trim().is_empty() {
                out.push_str(&inline(lines[i].trim()));
                out.push('\n');
                i += 1;
            }
        } else {
            match para.last_mut() {
                // Japanese lines join without a space (a newline would print as one).
                Some(prev) if lang_ja && (ends_wide(prev) || starts_wide(trimmed)) => {
                    prev.push_str(&inline(trimmed));
                }
                _ => para.push(inline(trimmed)),
            }
            i += 1;
        }
    }
    flush(&mut para, &mut out);
    out
}

fn wide(c: char) -> bool {
    !c.is_ascii()
}

fn ends_wide(s: &str) -> bool {
    s.chars().last().is_some_and(wide)
}

fn starts_wide(s: &str) -> bool {
    s.chars().next().is_some_and(wide)
}

/// The first cells of every table row, per table, and the heading levels: what two language
/// versions of one reference must share.
#[cfg(test)]
pub fn skeleton(md: &str) -> Vec<String> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.starts_with('#') {
            out.push(t.chars().take_while(|c| *c == '#').collect());
        } else if t.starts_with('|') && i + 1 < lines.len() && is_separator(lines[i + 1]) {
            out.push("table".into());
            i += 2;
            while i < lines.len() && lines[i].trim().starts_with('|') {
                out.push(cells(lines[i]).first().cloned().unwrap_or_default());
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_roff() {
        let md = "# Title\n\nSome `code-x` and **bold**.\n.dot start\n\n## Keys\n\n| key | type | meaning |\n|---|---|---|\n| `a` | int | the a\\|b |\n| `b` | | — |\n\n- item one\n  more\n\n```toml\nx = 1\n.y\n```\n";
        let page = Page {
            name: "t.toml",
            section: "5",
            summary: "a test",
            markdown: md,
            version: "1",
        };
        let roff = render(&page, false);
        assert!(roff.starts_with(
            ".TH T.TOML 5 \"\" \"zonegate 1\" \"zonegate\"\n.SH NAME\nt.toml \\- a test\n"
        ));
        assert!(roff.contains("Some \\fBcode\\-x\\fR and \\fBbold\\fR.\n\\&.dot start\n"));
        assert!(roff.contains(".SH \"KEYS\"\n"));
        assert!(roff.contains(".TP\n\\fBa\\fR\ntype: int\n.br\nmeaning: the a|b\n"));
        assert!(roff.contains(".TP\n\\fBb\\fR\n.TP") || roff.contains(".TP\n\\fBb\\fR\n.IP"));
        assert!(roff.contains(".IP \\(bu 2\nitem one\nmore\n"));
        assert!(roff.contains(".nf\nx = 1\n\\&.y\n.fi\n"));
        assert!(!roff.contains("Title"));
    }

    #[test]
    fn sections_and_skeletons() {
        let md = "# T\n## a\nx\n### b\n| k | v |\n|---|---|\n| 1 | 2 |\n## c\ny\n";
        assert_eq!(
            section(md, "## a", &["## c"]),
            Some("## a\nx\n### b\n| k | v |\n|---|---|\n| 1 | 2 |\n")
        );
        assert_eq!(section(md, "## c", &["## a"]), Some("## c\ny\n"));
        assert_eq!(section(md, "## z", &[]), None);
        assert_eq!(skeleton(md), ["#", "##", "###", "table", "1", "##"]);
    }
}
