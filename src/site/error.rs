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
            file: file.into(),
            line,
            field: field.into(),
            message: message.into(),
            tuple: None,
        }
    }

    /// The same problem, marked as stopping `tuple`.
    pub fn for_tuple(mut self, tuple: impl Into<String>) -> Self {
        self.tuple = Some(tuple.into());
        self
    }
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
