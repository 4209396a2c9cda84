//! Portage's binary package index, `<PKGDIR>/Packages`: a header block of `KEY: value` lines,
//! then one block per package instance, blocks separated by blank lines. Parsed and written back
//! keeping every key, its order and its value exactly (so an untouched index round-trips).

use std::fmt::Write as _;

/// One `KEY: value` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block(pub Vec<(String, String)>);

impl Block {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value` (replacing it in place, or appending it).
    pub fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }
}

/// A parsed `Packages` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    /// The header (ARCH, CHOST, PACKAGES, TIMESTAMP, VERSION, ...).
    pub header: Block,
    /// One block per instance (CPV, BUILD_ID, PATH, SIZE, USE, ...).
    pub packages: Vec<Block>,
}

/// A line of a `Packages` file that is not `KEY: value`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: expected `KEY: value`, found `{text}`")]
pub struct IndexError {
    /// 1-based line number.
    pub line: usize,
    /// The line (shortened).
    pub text: String,
}

impl Index {
    /// Parses the text of a `Packages` file. The first block is the header.
    pub fn parse(text: &str) -> Result<Index, IndexError> {
        let mut blocks: Vec<Block> = Vec::new();
        let mut current = Block::default();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                if !current.0.is_empty() {
                    blocks.push(std::mem::take(&mut current));
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(IndexError {
                    line: n + 1,
                    text: line.chars().take(80).collect(),
                });
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(IndexError {
                    line: n + 1,
                    text: line.chars().take(80).collect(),
                });
            }
            let value = value.strip_prefix(' ').unwrap_or(value);
            current.0.push((key.to_string(), value.to_string()));
        }
        if !current.0.is_empty() {
            blocks.push(current);
        }
        let mut blocks = blocks.into_iter();
        let header = blocks.next().unwrap_or_default();
        Ok(Index {
            header,
            packages: blocks.collect(),
        })
    }

    /// The index as Portage writes it: header, blank line, each block followed by a blank line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for block in std::iter::once(&self.header).chain(&self.packages) {
            for (k, v) in &block.0 {
                let _ = writeln!(out, "{k}: {v}");
            }
            out.push('\n');
        }
        out
    }

    /// Keeps only the instances `keep` accepts; updates `PACKAGES` and sets `TIMESTAMP` (seconds
    /// since the epoch) so binhost clients notice the change. Returns how many were dropped.
    pub fn retain(&mut self, timestamp: i64, mut keep: impl FnMut(&Block) -> bool) -> usize {
        let before = self.packages.len();
        self.packages.retain(|b| keep(b));
        self.header.set("PACKAGES", self.packages.len().to_string());
        self.header.set("TIMESTAMP", timestamp.to_string());
        before - self.packages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ACCEPT_KEYWORDS: amd64\nCHOST: x86_64-pc-linux-gnu\nPACKAGES: 2\nTIMESTAMP: 1700000000\nVERSION: 0\n\nBDEPEND: \nBUILD_ID: 1\nCPV: app-misc/hello-2.12.1\nPATH: app-misc/hello/hello-2.12.1-1.gpkg.tar\nUSE: \n\nBUILD_ID: 2\nCPV: app-misc/hello-2.12.1\nPATH: app-misc/hello/hello-2.12.1-2.gpkg.tar\nUSE: nls\n\n";

    #[test]
    fn an_index_round_trips_byte_for_byte() {
        let index = Index::parse(SAMPLE).expect("parse");
        assert_eq!(index.packages.len(), 2);
        assert_eq!(index.header.get("CHOST"), Some("x86_64-pc-linux-gnu"));
        assert_eq!(index.packages[0].get("BDEPEND"), Some(""));
        assert_eq!(index.packages[1].get("USE"), Some("nls"));
        assert_eq!(index.render(), SAMPLE);
    }

    #[test]
    fn retain_drops_entries_and_updates_the_header() {
        let mut index = Index::parse(SAMPLE).expect("parse");
        let dropped = index.retain(1_800_000_000, |b| b.get("BUILD_ID") == Some("2"));
        assert_eq!(dropped, 1);
        assert_eq!(index.header.get("PACKAGES"), Some("1"));
        assert_eq!(index.header.get("TIMESTAMP"), Some("1800000000"));
        assert!(!index.render().contains("hello-2.12.1-1.gpkg.tar"));
    }

    #[test]
    fn a_broken_line_is_an_error_naming_it() {
        let err = Index::parse("CHOST: x\n\nthis is not a key\n").expect_err("broken");
        assert_eq!(err.line, 3);
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn an_empty_file_is_an_empty_index() {
        assert_eq!(Index::parse("").expect("empty"), Index::default());
    }
}
