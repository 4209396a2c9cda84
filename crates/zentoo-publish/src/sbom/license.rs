//! Gentoo `LICENSE` values as SPDX license expressions. `LICENSE` is a dependency-style list:
//! names (all apply), `|| ( a b )` (one of them), and `flag? ( ... )` / `!flag? ( ... )`
//! (apply when the USE flag is on / off). Names map to SPDX ids where Gentoo's name has one;
//! the others become `LicenseRef-Gentoo-<name>`, which SPDX documents declare.

use std::collections::BTreeSet;

/// Gentoo license names with an SPDX id (the `licenses/` names of the Gentoo repository).
const SPDX_IDS: &[(&str, &str)] = &[
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("Apache-1.1", "Apache-1.1"),
    ("Apache-2.0", "Apache-2.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("Artistic-2", "Artistic-2.0"),
    ("BSD", "BSD-3-Clause"),
    ("BSD-2", "BSD-2-Clause"),
    ("BSD-4", "BSD-4-Clause"),
    ("Boost-1.0", "BSL-1.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
    ("CDDL", "CDDL-1.0"),
    ("EPL-1.0", "EPL-1.0"),
    ("EPL-2.0", "EPL-2.0"),
    ("FDL-1.1", "GFDL-1.1-only"),
    ("FDL-1.1+", "GFDL-1.1-or-later"),
    ("FDL-1.2", "GFDL-1.2-only"),
    ("FDL-1.2+", "GFDL-1.2-or-later"),
    ("FDL-1.3", "GFDL-1.3-only"),
    ("FDL-1.3+", "GFDL-1.3-or-later"),
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("HPND", "HPND"),
    ("ISC", "ISC"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("MIT", "MIT"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("OFL-1.1", "OFL-1.1"),
    ("OpenSSL", "OpenSSL"),
    ("PHP-3.01", "PHP-3.01"),
    ("PSF-2", "PSF-2.0"),
    ("Ruby", "Ruby"),
    ("Sleepycat", "Sleepycat"),
    ("UoI-NCSA", "NCSA"),
    ("Unlicense", "Unlicense"),
    ("Vim", "Vim"),
    ("WTFPL-2", "WTFPL"),
    ("X11", "X11"),
    ("ZLIB", "Zlib"),
    ("ZPL", "ZPL-2.1"),
    ("bzip2-1.0.6", "bzip2-1.0.6"),
    ("curl", "curl"),
    ("libpng", "Libpng"),
    ("libpng2", "libpng-2.0"),
    ("openssl", "OpenSSL"),
];

/// A license expression as SPDX writes it, and the `LicenseRef-` ids it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expression {
    /// `GPL-2.0-or-later AND (MIT OR Apache-2.0)`; `None` when nothing applies.
    pub spdx: Option<String>,
    /// Gentoo names without an SPDX id, as `(LicenseRef-Gentoo-<name>, <name>)`.
    pub refs: BTreeSet<(String, String)>,
}

/// The SPDX id of a Gentoo license name, or its `LicenseRef-Gentoo-` id.
pub fn spdx_id(name: &str) -> (String, bool) {
    match SPDX_IDS.iter().find(|(gentoo, _)| *gentoo == name) {
        Some((_, id)) => (id.to_string(), true),
        None => {
            let id: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            (format!("LicenseRef-Gentoo-{id}"), false)
        }
    }
}

/// One node of a `LICENSE` value.
#[derive(Debug)]
enum Node {
    Name(String),
    AnyOf(Vec<Node>),
    AllOf(Vec<Node>),
    If {
        flag: String,
        negated: bool,
        then: Vec<Node>,
    },
}

/// Parses `LICENSE`; `Err` says what is wrong (an unbalanced parenthesis, `||` without a group).
fn parse(value: &str) -> Result<Vec<Node>, &'static str> {
    let tokens: Vec<&str> = value.split_whitespace().collect();
    let mut at = 0;
    let nodes = parse_list(&tokens, &mut at)?;
    if at < tokens.len() {
        return Err("a ')' closes nothing");
    }
    Ok(nodes)
}

fn parse_list(tokens: &[&str], at: &mut usize) -> Result<Vec<Node>, &'static str> {
    let mut nodes = Vec::new();
    while let Some(&token) = tokens.get(*at) {
        if token == ")" {
            return Ok(nodes);
        }
        *at += 1;
        let node = if token == "||" {
            Node::AnyOf(group(tokens, at)?)
        } else if token == "(" {
            *at -= 1;
            Node::AllOf(group(tokens, at)?)
        } else if let Some(flag) = token.strip_suffix('?') {
            let (flag, negated) = match flag.strip_prefix('!') {
                Some(flag) => (flag, true),
                None => (flag, false),
            };
            Node::If {
                flag: flag.to_string(),
                negated,
                then: group(tokens, at)?,
            }
        } else {
            Node::Name(token.to_string())
        };
        nodes.push(node);
    }
    Ok(nodes)
}

/// `( ... )` at `at`.
fn group(tokens: &[&str], at: &mut usize) -> Result<Vec<Node>, &'static str> {
    if tokens.get(*at) != Some(&"(") {
        return Err("'||' or 'flag?' is not followed by '('");
    }
    *at += 1;
    let nodes = parse_list(tokens, at)?;
    if tokens.get(*at) != Some(&")") {
        return Err("a '(' is not closed");
    }
    *at += 1;
    Ok(nodes)
}

/// `LICENSE` as an SPDX expression, conditionals decided by `use_flags` (the package's USE).
/// A value that does not parse is kept whole as one `LicenseRef` so nothing is lost.
pub fn to_spdx(value: &str, use_flags: &BTreeSet<&str>) -> Expression {
    let mut refs = BTreeSet::new();
    let spdx = match parse(value) {
        Ok(nodes) => all_of(&nodes, use_flags, &mut refs),
        Err(_) => {
            let (id, _) = spdx_id(value.trim());
            refs.insert((id.clone(), value.trim().to_string()));
            Some(id)
        }
    };
    Expression { spdx, refs }
}

/// A term and whether it is a compound (`A OR B`) that needs parentheses inside another.
fn render(
    node: &Node,
    use_flags: &BTreeSet<&str>,
    refs: &mut BTreeSet<(String, String)>,
) -> Option<(String, bool)> {
    match node {
        Node::Name(name) => {
            let (id, known) = spdx_id(name);
            if !known {
                refs.insert((id.clone(), name.clone()));
            }
            Some((id, false))
        }
        Node::AllOf(nodes) => all_of(nodes, use_flags, refs).map(|s| {
            let compound = s.contains(' ');
            (s, compound)
        }),
        Node::If {
            flag,
            negated,
            then,
        } => {
            if use_flags.contains(flag.as_str()) != *negated {
                all_of(then, use_flags, refs).map(|s| {
                    let compound = s.contains(' ');
                    (s, compound)
                })
            } else {
                None
            }
        }
        Node::AnyOf(nodes) => {
            let terms = distinct(
                nodes
                    .iter()
                    .filter_map(|n| render(n, use_flags, refs))
                    .map(|(s, compound)| if compound { format!("({s})") } else { s }),
            );
            match terms.len() {
                0 => None,
                1 => terms.into_iter().next().map(|s| (s, false)),
                _ => Some((terms.join(" OR "), true)),
            }
        }
    }
}

fn all_of(
    nodes: &[Node],
    use_flags: &BTreeSet<&str>,
    refs: &mut BTreeSet<(String, String)>,
) -> Option<String> {
    let rendered: Vec<(String, bool)> = nodes
        .iter()
        .filter_map(|n| render(n, use_flags, refs))
        .collect();
    if rendered.len() == 1 {
        return rendered.into_iter().next().map(|(s, _)| s);
    }
    let terms = distinct(
        rendered
            .into_iter()
            .map(|(s, compound)| if compound { format!("({s})") } else { s }),
    );
    match terms.len() {
        0 => None,
        _ => Some(terms.join(" AND ")),
    }
}

/// The terms in their order, each once.
fn distinct(terms: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    terms.filter(|t| seen.insert(t.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdx(value: &str, flags: &[&str]) -> Option<String> {
        to_spdx(value, &flags.iter().copied().collect()).spdx
    }

    #[test]
    fn gentoo_names_map_to_spdx_ids() {
        assert_eq!(spdx("GPL-2", &[]).as_deref(), Some("GPL-2.0-only"));
        assert_eq!(
            spdx("GPL-2+ LGPL-2.1+", &[]).as_deref(),
            Some("GPL-2.0-or-later AND LGPL-2.1-or-later")
        );
        assert_eq!(
            spdx("|| ( MIT Apache-2.0 ) BSD", &[]).as_deref(),
            Some("(MIT OR Apache-2.0) AND BSD-3-Clause")
        );
        assert_eq!(spdx("|| ( MIT )", &[]).as_deref(), Some("MIT"));
    }

    #[test]
    fn use_conditionals_follow_the_flags() {
        let value = "GPL-2 ssl? ( openssl ) !ssl? ( ZLIB )";
        assert_eq!(
            spdx(value, &["ssl"]).as_deref(),
            Some("GPL-2.0-only AND OpenSSL")
        );
        assert_eq!(spdx(value, &[]).as_deref(), Some("GPL-2.0-only AND Zlib"));
        assert_eq!(spdx("doc? ( FDL-1.3 )", &[]), None);
    }

    #[test]
    fn names_without_an_spdx_id_become_declared_refs() {
        let e = to_spdx("public-domain GPL-2 || ( foo+bar MIT )", &BTreeSet::new());
        assert_eq!(
            e.spdx.as_deref(),
            Some(
                "LicenseRef-Gentoo-public-domain AND GPL-2.0-only AND (LicenseRef-Gentoo-foo-bar OR MIT)"
            )
        );
        let names: Vec<_> = e.refs.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["foo+bar", "public-domain"]);
    }

    #[test]
    fn a_broken_value_is_kept_whole() {
        let e = to_spdx("GPL-2 || ( MIT", &BTreeSet::new());
        assert_eq!(e.spdx.as_deref(), Some("LicenseRef-Gentoo-GPL-2------MIT"));
        assert_eq!(e.refs.len(), 1);
        assert_eq!(spdx("", &[]), None);
    }
}
