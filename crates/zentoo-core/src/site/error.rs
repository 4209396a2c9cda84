//! A problem in one place of a site: a file, a line and a field, with a message a person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem found in a site repository. It stops only what it names (one tuple, one set,
/// one cpu entry); everything else is still planned.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct SiteError {
    /// Path of the file in the tracked branch (`tuples`, `sets/kde`, `cpus.yaml`), or a branch.
    pub file: String,
    /// 1-based line, when the problem has one.
    #[serde(default)]
    pub line: Option<u32>,
    /// What on that line is wrong: `cpu`, `portage`, `buildhooks`, `set`, `tuple`, `atom`, ...
    pub field: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
    /// The tuple this error stops, when it stops one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuple: Option<String>,
}

impl SiteError {
    /// A problem at `file:line` in `field`.
    pub fn new(
        file: impl Into<String>,
        line: Option<u32>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        SiteError {
            file: tidy(&file.into(), MAX_NAME_TEXT),
            line,
            field: tidy(&field.into(), MAX_NAME_TEXT),
            message: tidy(&message.into(), MAX_MESSAGE_TEXT),
            tuple: None,
        }
    }

    /// The same problem, marked as stopping `tuple`.
    pub fn for_tuple(mut self, tuple: impl Into<String>) -> Self {
        self.tuple = Some(tuple.into());
        self
    }
}

/// Longest message an error keeps, in characters.
pub const MAX_MESSAGE_TEXT: usize = 600;
/// Longest file or field name an error keeps, in characters.
pub const MAX_NAME_TEXT: usize = 120;
/// Longest quoted value (between backticks) or other word a message keeps, in characters.
pub const MAX_QUOTED: usize = 64;

/// `text` made safe and short enough to show: control and invisible formatting characters
/// (which could hide text or move a terminal's cursor) escaped as in Rust source, every
/// `quoted` value and every other word longer than [`MAX_QUOTED`] cut with `…`, and at most
/// `max` characters in all. Errors quote what they point at; a hostile input can be a megabyte.
pub fn tidy(text: &str, max: usize) -> String {
    let mut escaped = String::with_capacity(text.len().min(4 * max));
    for c in text.chars() {
        if c.is_control() || is_invisible(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
        if escaped.len() > 16 * max {
            break;
        }
    }
    let mut out = String::with_capacity(escaped.len().min(max + 8));
    let mut word = String::new();
    let flush = |out: &mut String, word: &mut String| {
        if word.chars().count() > MAX_QUOTED {
            let head: String = word.chars().take(MAX_QUOTED - 1).collect();
            out.push_str(&head);
            out.push('…');
            if word.ends_with('`') {
                out.push('`');
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    let mut quoted = false;
    for c in escaped.chars() {
        // A quoted value is one word even when it holds spaces.
        if c == '`' {
            quoted = !quoted;
            word.push(c);
            if !quoted {
                flush(&mut out, &mut word);
            }
        } else if c == ' ' && !quoted {
            flush(&mut out, &mut word);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut out, &mut word);
    if out.chars().count() > max {
        out = out.chars().take(max - 1).collect();
        out.push('…');
    }
    out
}

/// Characters that show as nothing (or reorder what follows) but are not control characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{}: {}: {}",
                self.file, line, self.field, self.message
            ),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        let e = SiteError::new(
            "tuples",
            Some(1),
            "set",
            "`k\u{1b}[31m\0d\u{feff}\u{202e}e`",
        );
        assert_eq!(e.message, "`k\\u{1b}[31m\\0d\\u{feff}\\u{202e}e`");
        assert!(!e.to_string().chars().any(char::is_control));
    }

    #[test]
    fn long_quotes_words_and_messages_are_cut() {
        let long = "d".repeat(5000);
        let e = SiteError::new(
            "tuples",
            Some(1),
            "portage",
            format!("no branch portage/{long} (branches under portage/: desktop)"),
        );
        assert!(e.message.chars().count() < 120, "{}", e.message);
        assert!(e.message.ends_with("(branches under portage/: desktop)"));
        let e = SiteError::new("x", None, "tuple", format!("`{long} x` has 1 field"));
        assert!(e.message.starts_with("`ddd") && e.message.ends_with("…` has 1 field"));
        let e = SiteError::new("x", None, "f", "a ".repeat(2000));
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_TEXT);
        assert_eq!(tidy("plain `text` stays", 100), "plain `text` stays");
    }
}
