//! Reading progress out of step output: emerge's `>>> Emerging (3 of 10) cat/pkg-1.0` lines,
//! for display only (results come from the steps' records, [`zentoo_core::plan::result`]).

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
}
