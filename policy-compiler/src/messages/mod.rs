//! The message catalogue: every sentence the compiler, the CLI and the agent show an
//! administrator, in English and Japanese, in one place (`catalogue.rs`).
//!
//! A message is a [`Msg`] (an id and two templates with `{name}` placeholders; `{{` and `}}` are
//! literal braces). Code builds a [`Text`] with [`t!`](crate::t): the message and its arguments,
//! which may themselves be texts (a phrase such as "the whole zone lgwan" is translated with the
//! sentence around it). A `Text` renders in either language; its `Display` and `Serialize` are
//! English, so logs, JSON reports and golden files stay in one language unless a caller asks
//! for Japanese with [`Text::render`]. Codes (E014, G003, …) never change with the language.

mod catalogue;

pub use catalogue::*;

use serde::{Serialize, Serializer};
use std::fmt;

/// The language a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// The language that POSIX locale variables ask for, in their order of precedence
    /// (`LC_ALL`, then `LC_MESSAGES`, then `LANG`; an empty variable counts as unset).
    /// Japanese for any `ja…` locale (`ja_JP.UTF-8`, `ja`), English otherwise.
    pub fn from_locale(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        let chosen = [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty());
        match chosen {
            Some(v) if v.starts_with("ja") => Lang::Ja,
            _ => Lang::En,
        }
    }

    /// `--lang ja|en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ja" | "ja_JP" | "japanese" => Some(Lang::Ja),
            "en" | "C" | "english" => Some(Lang::En),
            _ => None,
        }
    }
}

/// One catalogue entry.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msg {
    pub id: &'static str,
    pub en: &'static str,
    pub ja: &'static str,
}

impl Msg {
    pub fn template(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Ja => self.ja,
        }
    }
}

/// An argument of a message: plain text (a name, an address, a number) or a translated phrase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arg {
    Plain(String),
    Text(Box<Text>),
    /// Several arguments joined by a separator (the same in both languages, e.g. "; ").
    Join(Vec<Arg>, &'static str),
}

impl Arg {
    fn render(&self, lang: Lang) -> String {
        match self {
            Arg::Plain(s) => s.clone(),
            Arg::Text(t) => t.render(lang),
            Arg::Join(items, sep) => items
                .iter()
                .map(|a| a.render(lang))
                .collect::<Vec<_>>()
                .join(sep),
        }
    }
}

impl From<Text> for Arg {
    fn from(t: Text) -> Arg {
        Arg::Text(Box::new(t))
    }
}

/// What may stand as a message argument.
pub trait IntoArg {
    fn into_arg(self) -> Arg;
}

impl IntoArg for Text {
    fn into_arg(self) -> Arg {
        Arg::Text(Box::new(self))
    }
}
impl IntoArg for &Text {
    fn into_arg(self) -> Arg {
        Arg::Text(Box::new(self.clone()))
    }
}
impl IntoArg for Arg {
    fn into_arg(self) -> Arg {
        self
    }
}
macro_rules! plain_args {
    ($($t:ty),*) => {$(
        impl IntoArg for $t {
            fn into_arg(self) -> Arg {
                Arg::Plain(self.to_string())
            }
        }
    )*};
}
plain_args!(String, &String, &str, &&str, char, usize, u8, u16, u32, u64, i64, i32, bool);

/// A message with its arguments, ready to render in either language.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text {
    pub msg: &'static Msg,
    pub args: Vec<(&'static str, Arg)>,
}

impl Text {
    pub fn new(msg: &'static Msg) -> Text {
        Text {
            msg,
            args: Vec::new(),
        }
    }

    pub fn arg(mut self, name: &'static str, value: impl IntoArg) -> Text {
        self.args.push((name, value.into_arg()));
        self
    }

    /// The text in `lang`. An unknown placeholder renders as itself (the catalogue test makes
    /// sure none exists).
    pub fn render(&self, lang: Lang) -> String {
        let template = self.msg.template(lang);
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('{') {
                if let Some(end) = tail.find('}') {
                    let name = &tail[1..end];
                    match self.args.iter().find(|(n, _)| *n == name) {
                        Some((_, a)) => out.push_str(&a.render(lang)),
                        None => out.push_str(&tail[..=end]),
                    }
                    rest = &tail[end + 1..];
                    continue;
                }
            }
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
        out.push_str(rest);
        out
    }

    pub fn en(&self) -> String {
        self.render(Lang::En)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.en())
    }
}

/// The placeholders of a template, in order (`{{`/`}}` skipped).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{') {
            if let Some(end) = tail.find('}') {
                out.push(&tail[1..end]);
                rest = &tail[end + 1..];
                continue;
            }
        }
        rest = &tail[1..];
    }
    out
}

/// `t!(MSG)` or `t!(MSG, name = value, …)`: a [`Text`] of catalogue entry `MSG` (a path into
/// [`crate::messages`]). Values are anything [`IntoArg`]: strings, numbers or other texts.
#[macro_export]
macro_rules! t {
    ($msg:ident $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::messages::Text::new(&$crate::messages::$msg)
            $(.arg(stringify!($name), $crate::messages::IntoArg::into_arg($value)))*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        let mut ids = std::collections::BTreeSet::new();
        for m in ALL {
            assert!(ids.insert(m.id), "{} appears twice in the catalogue", m.id);
            assert!(!m.en.trim().is_empty(), "{}: no English text", m.id);
            assert!(!m.ja.trim().is_empty(), "{}: no Japanese text", m.id);
            let mut en = placeholders(m.en);
            let mut ja = placeholders(m.ja);
            en.sort_unstable();
            ja.sort_unstable();
            en.dedup();
            ja.dedup();
            assert_eq!(
                en, ja,
                "{}: the two languages use different placeholders",
                m.id
            );
            // A Japanese entry must hold Japanese script: an English text copied over is not a
            // translation. Only a few labels are the same word in both (a column headed "ID").
            const SAME_IN_BOTH: &[&str] = &["DIFF_ID", "MATRIX_ID"];
            assert!(
                !m.ja.is_ascii() || SAME_IN_BOTH.contains(&m.id) && m.ja == m.en,
                "{}: the Japanese text holds no Japanese: {:?}",
                m.id,
                m.ja
            );
        }
    }

    #[test]
    fn texts_render_nested_phrases_in_the_same_language() {
        let inner = t!(PHRASE_WHOLE_ZONE, zone = "lgwan");
        let text = t!(PHRASE_ZONE, zone = "x");
        assert_eq!(text.render(Lang::En), "zone x");
        assert_eq!(inner.render(Lang::Ja), "ゾーン lgwan 全体");
        assert_eq!(inner.to_string(), "the whole zone lgwan");
    }

    #[test]
    fn locale_variables_choose_the_language_in_posix_order() {
        assert_eq!(Lang::from_locale(None, None, Some("ja_JP.UTF-8")), Lang::Ja);
        assert_eq!(
            Lang::from_locale(Some("C"), None, Some("ja_JP.UTF-8")),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale(Some(""), Some("ja_JP.UTF-8"), None),
            Lang::Ja
        );
        assert_eq!(Lang::from_locale(None, None, None), Lang::En);
        assert_eq!(Lang::parse("ja"), Some(Lang::Ja));
        assert_eq!(Lang::parse("de"), None);
    }

    #[test]
    fn braces_escape_and_unknown_placeholders_show() {
        static M: Msg = Msg {
            id: "T",
            en: "ports = [{{ {x} }}] {y}",
            ja: "ポート {x} {y}",
        };
        let t = Text::new(&M).arg("x", 22u16);
        assert_eq!(t.en(), "ports = [{ 22 }] {y}");
    }
}
