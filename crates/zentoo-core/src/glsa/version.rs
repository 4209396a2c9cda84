//! Gentoo package versions (PMS §3.2) and their order (PMS §3.3), compared the way Portage's
//! `portage.versions.vercmp` does (which implements the PMS algorithm).
//!
//! Numbers are compared as digit strings, so components of any length compare exactly, as
//! Python's unbounded integers do.

use std::cmp::Ordering;
use std::fmt;

/// A package version such as `1.2.3b_rc2_p1-r4`, kept with the text it was parsed from.
///
/// Equality is the order's (`1.0 == 1.00 == 1.0-r0`, as for Portage's `=` operator);
/// [`Version::as_str`] keeps the spelling apart.
#[derive(Clone, Debug)]
pub struct Version {
    text: String,
    /// Digits of the numeric components (`1`, `2`, `3` of `1.2.3`); never empty.
    numbers: Vec<String>,
    letter: Option<u8>,
    suffixes: Vec<Suffix>,
    /// Digits after `-r`, if the text has a revision.
    revision: Option<String>,
    /// Length of the text without `-rN`.
    base_len: usize,
}

/// One `_alpha`/`_beta`/`_pre`/`_rc`/`_p` suffix and its (possibly empty) digits.
#[derive(Clone, Debug)]
struct Suffix {
    kind: SuffixKind,
    digits: String,
}

/// Suffix kinds, ordered as PMS §3.3 orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SuffixKind {
    Alpha,
    Beta,
    Pre,
    Rc,
    P,
}

/// Suffix names in the order Portage's regex tries them (`pre` before `p`).
const SUFFIXES: [(&str, SuffixKind); 5] = [
    ("pre", SuffixKind::Pre),
    ("p", SuffixKind::P),
    ("beta", SuffixKind::Beta),
    ("alpha", SuffixKind::Alpha),
    ("rc", SuffixKind::Rc),
];

impl Version {
    /// Parses a PMS version (`1.2.3b_rc2_p1-r4`); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Version, String> {
        let bad = |why: &str| format!("`{text}` is not a version: {why}");
        let (base, revision) = split_revision(text);
        if let Some(digits) = revision
            && !is_digits(digits)
        {
            return Err(bad("the revision after `-r` must be digits"));
        }
        let (head, suffix_text) = match base.find('_') {
            Some(i) => (&base[..i], Some(&base[i + 1..])),
            None => (base, None),
        };
        let (numeric, letter) = match head.as_bytes().last() {
            Some(b) if b.is_ascii_lowercase() => (&head[..head.len() - 1], Some(*b)),
            _ => (head, None),
        };
        let numbers: Vec<String> = numeric.split('.').map(str::to_owned).collect();
        if !numbers.iter().all(|n| is_digits(n)) {
            return Err(bad(
                "it must start with dot-separated numbers (`1.2.3`), then an optional letter",
            ));
        }
        let suffixes = match suffix_text {
            Some(s) => s
                .split('_')
                .map(|s| parse_suffix(s).ok_or_else(|| bad(&format!("`_{s}` is not a suffix"))))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Version {
            text: text.to_owned(),
            numbers,
            letter,
            suffixes,
            revision: revision.map(str::to_owned),
            base_len: base.len(),
        })
    }

    /// The version as written (`1.24.0-r3`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The version without its `-rN` revision (`1.24.0` of `1.24.0-r3`), as written.
    pub fn without_revision(&self) -> &str {
        &self.text[..self.base_len]
    }

    /// The revision number: 3 for `1.24.0-r3`, 0 without a revision (saturating at `u64::MAX`).
    pub fn revision(&self) -> u64 {
        self.revision
            .as_deref()
            .map_or(0, |d| d.parse().unwrap_or(u64::MAX))
    }

    /// The revision's digits as written (`"03"` of `1.0-r03`), `"0"` without a revision.
    pub(crate) fn revision_digits(&self) -> &str {
        self.revision.as_deref().unwrap_or("0")
    }

    /// Compares the parts before the suffixes: numeric components, then the letter.
    fn cmp_release(&self, other: &Version) -> Ordering {
        cmp_numbers(&self.numbers[0], &other.numbers[0])
            .then_with(|| cmp_components(&self.numbers[1..], &other.numbers[1..]))
            .then_with(|| self.letter.cmp(&other.letter))
    }

    /// Compares the suffix lists; a missing suffix counts as `_p` with number -1, so
    /// `1 < 1_p0` and `1_rc1 < 1`.
    fn cmp_suffixes(&self, other: &Version) -> Ordering {
        let count = self.suffixes.len().max(other.suffixes.len());
        (0..count)
            .map(|i| cmp_suffix(self.suffixes.get(i), other.suffixes.get(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// Splits `1.0-r3` into `1.0` and `Some("3")`: the last `-r` starts the revision.
fn split_revision(text: &str) -> (&str, Option<&str>) {
    match text.rfind("-r") {
        Some(i) => (&text[..i], Some(&text[i + 2..])),
        None => (text, None),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_suffix(s: &str) -> Option<Suffix> {
    SUFFIXES.iter().find_map(|&(name, kind)| {
        let digits = s.strip_prefix(name)?;
        (digits.is_empty() || is_digits(digits)).then(|| Suffix {
            kind,
            digits: digits.to_owned(),
        })
    })
}

/// Compares two digit strings as unbounded integers.
pub(crate) fn cmp_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares the numeric components after the first (PMS algorithm 3.3): a missing component
/// is smaller than any present one; one with a leading zero compares as a decimal fraction.
fn cmp_components(a: &[String], b: &[String]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let order = match (a.get(i), b.get(i)) {
            (None, _) => Ordering::Less,
            (_, None) => Ordering::Greater,
            (Some(x), Some(y)) if x.starts_with('0') || y.starts_with('0') => {
                // Portage pads both with trailing zeros to one length and compares the
                // integers: the same as comparing the strings without trailing zeros.
                x.trim_end_matches('0').cmp(y.trim_end_matches('0'))
            }
            (Some(x), Some(y)) => cmp_numbers(x, y),
        };
        if order.is_ne() {
            return order;
        }
    }
    Ordering::Equal
}

fn cmp_suffix(a: Option<&Suffix>, b: Option<&Suffix>) -> Ordering {
    // Portage's implicit suffix is `("p", "-1")`.
    let kind = |s: Option<&Suffix>| s.map_or(SuffixKind::P, |s| s.kind);
    kind(a).cmp(&kind(b)).then_with(|| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp_numbers(&x.digits, &y.digits),
    })
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        if self.text == other.text {
            return Ordering::Equal;
        }
        self.cmp_release(other)
            .then_with(|| self.cmp_suffixes(other))
            .then_with(|| cmp_numbers(self.revision_digits(), other.revision_digits()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        Version::parse(text)
    }
}

/// Splits a `PF` (`nginx-1.24.0-r3`) into its package name and version as Portage's
/// `pkgsplit` does: the first `-` followed by a version ends the name, and a name that itself
/// ends in `-` and a version (`foo-1-2`) makes the whole `PF` invalid (`None`).
pub fn split_pf(pf: &str) -> Option<(&str, Version)> {
    for (i, _) in pf.match_indices('-') {
        let (name, rest) = (&pf[..i], &pf[i + 1..]);
        if !is_package_chars(name) {
            return None;
        }
        if let Ok(version) = Version::parse(rest) {
            return Some((name, version));
        }
        if ends_with_version_then_version(rest) {
            return None;
        }
    }
    None
}

/// Whether `rest` is `VERSION-VERSION` (with revisions allowed on both).
fn ends_with_version_then_version(rest: &str) -> bool {
    rest.match_indices('-')
        .any(|(j, _)| Version::parse(&rest[..j]).is_ok() && Version::parse(&rest[j + 1..]).is_ok())
}

/// Whether `c` is in Portage's ASCII `\w`.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `[\w][\w+-]*`: the characters Portage allows in a package name.
fn is_package_chars(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_word) && chars.all(|c| is_word(c) || c == '+' || c == '-')
}

/// Whether `name` is a package name Portage accepts (PMS §3.1.2): word characters, `+` and
/// `-`, a word character first, and no `-VERSION` at the end.
pub fn is_package_name(name: &str) -> bool {
    is_package_chars(name)
        && !name
            .match_indices('-')
            .any(|(i, _)| Version::parse(&name[i + 1..]).is_ok())
}

/// Whether `category` is a category name Portage accepts (PMS §3.1.1).
pub fn is_category_name(category: &str) -> bool {
    let mut chars = category.chars();
    chars.next().is_some_and(is_word) && chars.all(|c| is_word(c) || matches!(c, '+' | '.' | '-'))
}

/// Whether `slot` is a slot name (PMS §3.1.3): `[\w][\w+.-]*`.
pub(crate) fn is_slot_name(slot: &str) -> bool {
    is_category_name(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    /// Each row is strictly increasing.
    const ASCENDING: &[&[&str]] = &[
        // PMS §3.3 examples and the algorithm's branches.
        &["1.0", "1.0.1", "1.1", "2"],
        &[
            "1.0_alpha",
            "1.0_beta",
            "1.0_pre",
            "1.0_rc1",
            "1.0",
            "1.0_p1",
        ],
        &["1.0_alpha1", "1.0_alpha2", "1.0_alpha10"],
        &["1.0_rc", "1.0_rc1", "1.0"],
        &["1", "1_p", "1_p1"],
        &["1.0", "1.0-r1", "1.0-r2", "1.0-r10", "1.0a"],
        &["1.0", "1.0a", "1.0b", "1.0.0"],
        &["12.2b", "12.2.5"],
        &["1a", "1.0"],
        // Leading zeros: a component after the first with a leading 0 compares as a fraction.
        &["1.01", "1.1"],
        &["1.001", "1.01", "1.1"],
        &["1.0", "1.01", "1.1"],
        &["1.09", "1.1", "1.10", "1.11"],
        &["1.010", "1.2"],
        &["1_pre1_p2", "1_pre2"],
        &["1_alpha_beta", "1_alpha", "1_alpha_p"],
        &["1_rc1_alpha", "1_rc1", "1_rc1_p"],
        &["1.0_p1", "1.0.1_alpha"],
        &["9", "10", "100000000000000000000000000000000000000"],
        &["1.18446744073709551616", "1.18446744073709551617"],
    ];

    #[test]
    fn ascending_rows_are_strictly_increasing() {
        for row in ASCENDING {
            for pair in row.windows(2) {
                let (a, b) = (v(pair[0]), v(pair[1]));
                assert_eq!(a.cmp(&b), Ordering::Less, "{a} < {b}");
                assert_eq!(b.cmp(&a), Ordering::Greater, "{b} > {a}");
            }
        }
    }

    #[test]
    fn equal_spellings() {
        for (a, b) in [
            ("1.0", "1.00"),
            ("1.0", "1.0-r0"),
            ("1.010", "1.01"),
            ("01.2", "1.2"),
            ("1_p", "1_p0"),
            ("1_alpha01", "1_alpha1"),
            ("1.0-r01", "1.0-r1"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
            assert_ne!(v(a).as_str(), v(b).as_str());
        }
        assert_ne!(v("1.0"), v("1.0.0"));
        assert_ne!(v("1.0"), v("1.0_p0"));
    }

    /// Cases where PMS's string rule for leading zeros and a naive integer compare disagree.
    #[test]
    fn leading_zero_rule() {
        assert!(v("1.02") < v("1.1"), "0.02 < 0.1 as fractions");
        assert!(v("1.1") > v("1.01"));
        assert!(v("1.10") > v("1.010"));
        assert!(v("1.0100") == v("1.01"));
        assert!(v("1.01") < v("1.2"));
        assert!(v("2.0") > v("01.9"), "the first component is an integer");
    }

    #[test]
    fn parses_and_exposes_parts() {
        let x = v("1.24.0_rc2_p1-r3");
        assert_eq!(x.as_str(), "1.24.0_rc2_p1-r3");
        assert_eq!(x.without_revision(), "1.24.0_rc2_p1");
        assert_eq!(x.revision(), 3);
        assert_eq!(v("2b").revision(), 0);
        assert_eq!(v("2b").without_revision(), "2b");
        assert_eq!(v("1-r99999999999999999999999").revision(), u64::MAX);
        assert_eq!(x.to_string(), "1.24.0_rc2_p1-r3");
    }

    #[test]
    fn rejects_non_versions() {
        for bad in [
            "",
            "a",
            "1.",
            ".1",
            "1..2",
            "1.0ab",
            "1.0A",
            "1_",
            "1_foo",
            "1_pre_",
            "1-r",
            "1-rc",
            "1.0-r1-r2",
            "1 .0",
            "1.0 ",
            "v1",
            "1.0*",
            "1.0-1",
            "1_p1a",
            "1.0_rc-r1a",
            "١",
        ] {
            assert!(Version::parse(bad).is_err(), "`{bad}` should be rejected");
        }
        assert!(
            Version::parse("1.0_x")
                .unwrap_err()
                .contains("`_x` is not a suffix")
        );
    }

    #[test]
    fn splits_pf_like_pkgsplit() {
        let split = |pf| split_pf(pf).map(|(n, v)| (n, v.as_str().to_owned()));
        assert_eq!(
            split("nginx-1.24.0-r3"),
            Some(("nginx", "1.24.0-r3".into()))
        );
        assert_eq!(split("foo-bar-2"), Some(("foo-bar", "2".into())));
        assert_eq!(split("gtk+-3.24.41"), Some(("gtk+", "3.24.41".into())));
        assert_eq!(split("foo-1-2"), None, "the name would end in a version");
        assert_eq!(split("foo"), None);
        assert_eq!(split("-1.0"), None);
        assert_eq!(split("f.o-1.0"), None);
    }

    #[test]
    fn names() {
        assert!(is_package_name("gtk+"));
        assert!(is_package_name("foo-bar"));
        assert!(is_package_name("foo-x1"));
        assert!(!is_package_name("foo-1x"));
        assert!(is_package_name("_x"));
        assert!(!is_package_name("foo-1"));
        assert!(!is_package_name("foo-1a-r2"));
        assert!(!is_package_name("+foo"));
        assert!(!is_package_name("-foo"));
        assert!(!is_package_name("foo.bar"));
        assert!(!is_package_name(""));
        assert!(is_category_name("dev-libs"));
        assert!(is_category_name("x11-libs.1"));
        assert!(!is_category_name(".dev"));
        assert!(!is_category_name("dev/libs"));
    }
}
