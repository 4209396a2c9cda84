//! Names of cpus, portage configs, buildhooks and sets as they appear in tuples, and the names
//! of images (a tuple: those names joined by `-`).
//!
//! The build steps check the same two rules (`valid_name` and `valid_image_name` in
//! `crates/zentoo-core/src/steps/common.sh`); a test runs both on one table of names, so what plans also builds.

/// Why `name` cannot be a tuple field, or `None` when it can.
///
/// Names are `[A-Za-z0-9_.+]+` not starting with `.`: no `-`, which separates tuple fields;
/// no leading `.`, which git refuses in branch names, Portage skips in set files and the
/// build steps refuse in image names.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` is not a usable name"));
    }
    let bad: String = name.chars().filter(|c| !is_name_char(*c)).collect();
    if !bad.is_empty() {
        let mut shown: Vec<char> = bad.chars().collect();
        shown.dedup();
        let shown: Vec<String> = shown.iter().map(|c| format!("{c:?}")).collect();
        return Some(format!(
            "`{name}` holds {}: names are letters, digits, '_', '.' and '+'",
            shown.join(", ")
        ));
    }
    name.starts_with('.')
        .then(|| format!("`{name}` starts with '.': names start with a letter, digit, '_' or '+'"))
}

/// True when `c` may appear in a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+')
}

/// True when `name` may be a tuple field.
pub fn is_valid_name(name: &str) -> bool {
    name_problem(name).is_none()
}

/// True when `name` may name an image in the build steps (their `ZENTOO_IMAGE`, a directory of
/// build records): `[A-Za-z0-9_.+-]+` not starting with `.`. Every tuple of valid names is one.
pub fn is_valid_image_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| is_name_char(c) || c == '-')
}

/// `text` with ASCII letters lower-cased, digits kept and every other character turned into `-`.
pub fn label_chars(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_the_three_marks() {
        for n in [
            "desktop", "znver3", "hep_2.0", "c++", "A.b_C+1", "_x", "+x", "x.",
        ] {
            assert!(is_valid_name(n), "{n}");
        }
    }

    #[test]
    fn rejects_dashes_slashes_spaces_and_leading_dots() {
        assert!(name_problem("").unwrap().contains("empty"));
        assert!(name_problem("a-b").unwrap().contains("'-'"));
        assert!(name_problem("a/b c").unwrap().contains("'/', ' '"));
        assert!(name_problem("ü").is_some());
        assert!(name_problem("..").unwrap().contains("not a usable name"));
        for dotted in [".zen", "..x", ".a.b"] {
            let p = name_problem(dotted).unwrap_or_else(|| panic!("{dotted} accepted"));
            assert!(p.contains("starts with '.'"), "{p}");
        }
    }

    #[test]
    fn a_tuple_of_valid_names_is_a_valid_image_name() {
        let fields = ["zen", "_a", "+b", "c.d", "9"];
        for a in fields {
            for b in fields {
                assert!(is_valid_image_name(&format!("{a}-{b}-none-{a}")), "{a} {b}");
            }
        }
        for bad in ["", ".zen-server-none-web", "a b", "a/b", "a\nb"] {
            assert!(!is_valid_image_name(bad), "{bad:?}");
        }
    }
}
