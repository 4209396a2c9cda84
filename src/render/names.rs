//! DNS-safe names for the objects zentoo creates.

use sha2::{Digest, Sha256};

/// Longest name of an object whose name also appears as a label value (Jobs, Services).
pub const MAX_LABEL: usize = 63;

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

/// `parts` joined by `-` as an RFC 1123 label of at most `max` characters: lower case
/// letters, digits and `-`. When anything had to change (case, characters, length), a short
/// hash of the original is appended, so different inputs never share a name.
pub fn dns_label(parts: &[&str], max: usize) -> String {
    let original = parts.join("-");
    let mut name = label_chars(&original);
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let trimmed = name.trim_matches('-').to_string();
    if trimmed == original && !trimmed.is_empty() && trimmed.len() <= max {
        return trimmed;
    }
    let hash = hex::encode(Sha256::digest(original.as_bytes()));
    let suffix = &hash[..8];
    let room = max.saturating_sub(suffix.len() + 1);
    let head: String = trimmed.chars().take(room).collect();
    let head = head.trim_matches('-');
    if head.is_empty() {
        format!("z{suffix}")
    } else {
        format!("{head}-{suffix}")
    }
}

/// The GentooImage name of a site's tuple.
pub fn image_name(site: &str, tuple: &str) -> String {
    dns_label(&[site, tuple], MAX_LABEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_LABEL
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn plain_names_stay_readable() {
        assert_eq!(
            image_name("demo", "znver3-server-nodocs-web"),
            "demo-znver3-server-nodocs-web"
        );
    }

    #[test]
    fn changed_names_get_a_hash_and_never_collide() {
        let a = image_name("demo", "hep_2.0-none-base");
        let b = image_name("demo", "hep.2_0-none-base");
        assert!(is_label(&a) && is_label(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with("demo-hep-2-0-none-base-"), "{a}");
        assert_ne!(
            image_name("Demo", "a-none-b"),
            image_name("demo", "a-none-b")
        );
    }

    #[test]
    fn long_and_odd_names_are_cut_to_a_label() {
        let long = "x".repeat(200);
        for s in [long.as_str(), "+++", "--a--", "ÄÖÜ", ""] {
            let n = dns_label(&[s], MAX_LABEL);
            assert!(is_label(&n), "{s:?} -> {n:?}");
        }
        assert_ne!(
            dns_label(&[&long], 63),
            dns_label(&[&format!("{long}y")], 63)
        );
    }
}
