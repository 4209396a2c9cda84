//! Names of cpus, portage configs, buildhooks and sets as they appear in tuples.

/// Why `name` cannot be a tuple field, or `None` when it can.
///
/// Names are `[A-Za-z0-9_.+]+` (no `-`, which separates tuple fields), and not `.` or `..`.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` is not a usable name"));
    }
    let bad: String = name.chars().filter(|c| !is_name_char(*c)).collect();
    if bad.is_empty() {
        return None;
    }
    let mut shown: Vec<char> = bad.chars().collect();
    shown.dedup();
    let shown: Vec<String> = shown.iter().map(|c| format!("{c:?}")).collect();
    Some(format!(
        "`{name}` holds {}: names are letters, digits, '_', '.' and '+'",
        shown.join(", ")
    ))
}

/// True when `c` may appear in a name.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+')
}

/// True when `name` may be a tuple field.
pub fn is_valid_name(name: &str) -> bool {
    name_problem(name).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_the_three_marks() {
        for n in ["desktop", "znver3", "hep_2.0", "c++", "A.b_C+1"] {
            assert!(is_valid_name(n), "{n}");
        }
    }

    #[test]
    fn rejects_dashes_slashes_spaces_and_dots_alone() {
        assert!(name_problem("").unwrap().contains("empty"));
        assert!(name_problem("a-b").unwrap().contains("'-'"));
        assert!(name_problem("a/b c").unwrap().contains("'/', ' '"));
        assert!(name_problem("..").is_some());
        assert!(name_problem("ü").is_some());
    }
}
