//! Reading progress out of step output: emerge's `>>> Emerging (3 of 10) cat/pkg-1.0` lines
//! and the steps' closing `zentoo[build]: done: ...` line.

/// One package being merged, as emerge announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emerging {
    /// Position in the merge list.
    pub index: u32,
    /// Length of the merge list.
    pub total: u32,
    /// The package (`cat/pkg-ver`, without `::repo`).
    pub package: String,
    /// True for `>>> Emerging binary`.
    pub binary: bool,
}

/// Parses `>>> Emerging (1 of 3) cat/pkg-1::gentoo` and `>>> Emerging binary (1 of 3) ...`.
pub fn emerging(line: &str) -> Option<Emerging> {
    let rest = line.trim_start().strip_prefix(">>> Emerging ")?;
    let (binary, rest) = match rest.strip_prefix("binary ") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.strip_prefix('(')?;
    let (counts, rest) = rest.split_once(')')?;
    let (index, total) = counts.split_once(" of ")?;
    let package = rest.split_whitespace().next()?;
    let package = package.split("::").next().unwrap_or(package);
    Some(Emerging {
        index: index.trim().parse().ok()?,
        total: total.trim().parse().ok()?,
        package: package.to_string(),
        binary,
    })
}

/// Counts in a step's closing line: (compiled, from binary packages).
///
/// build: `zentoo[build]: done: 3 compiled, 2 from binary packages (...)`;
/// assemble: `zentoo[assemble]: done: 5 packages installed into /target ...`.
pub fn done_counts(line: &str) -> Option<(u32, u32)> {
    let rest = line.split_once("]: done: ")?.1;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [n, "compiled,", m, "from", ..] => Some((n.parse().ok()?, m.parse().ok()?)),
        [n, "packages", "installed", ..] => Some((0, n.parse().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emerge_progress_lines_parse() {
        assert_eq!(
            emerging(">>> Emerging (3 of 10) www-servers/nginx-1.24.0::gentoo"),
            Some(Emerging {
                index: 3,
                total: 10,
                package: "www-servers/nginx-1.24.0".into(),
                binary: false
            })
        );
        let binary = emerging(">>> Emerging binary (1 of 2) app-misc/hello-2.12.1::gentoo")
            .expect("binary line");
        assert!(binary.binary);
        assert_eq!((binary.index, binary.total), (1, 2));
        assert_eq!(emerging(">>> Emerging (x of 2) a/b-1"), None);
        assert_eq!(emerging(">>> Installing (1 of 2) a/b-1"), None);
        assert_eq!(emerging(""), None);
    }

    #[test]
    fn closing_lines_give_counts() {
        assert_eq!(
            done_counts("zentoo[build]: done: 3 compiled, 2 from binary packages (PKGDIR /x)"),
            Some((3, 2))
        );
        assert_eq!(
            done_counts(
                "zentoo[assemble]: done: 5 packages installed into /target from binary packages"
            ),
            Some((0, 5))
        );
        assert_eq!(done_counts("zentoo[build]: error: emerge failed"), None);
    }
}
