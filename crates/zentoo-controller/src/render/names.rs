//! DNS-safe names for the objects zentoo creates.

use zentoo_core::site::names::label_chars;

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use zentoo_core::plan::SitePlan;
use zentoo_core::site::SiteError;
use zentoo_core::site::repo::TUPLES_FILE;

/// Longest name of an object whose name also appears as a label value (Jobs, Services).
pub const MAX_LABEL: usize = 63;

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

/// Moves every image of `plan` whose object name ([`image_name`] in `site`) an earlier tuple
/// (by line) already has into `plan.errors`: two tuples never fight over one GentooImage.
/// Different tuples get different names except when one is crafted from another's hash.
pub fn name_collisions(site: &str, plan: &mut SitePlan) {
    let mut order: Vec<usize> = (0..plan.images.len()).collect();
    order.sort_by_key(|&i| plan.images[i].line);
    let mut taken: HashMap<String, (u32, String)> = HashMap::new();
    let mut colliding = Vec::new();
    for i in order {
        let image = &plan.images[i];
        let name = image_name(site, &image.name);
        match taken.get(&name) {
            Some((line, tuple)) => {
                colliding.push(i);
                plan.errors.push(
                    SiteError::new(
                        TUPLES_FILE,
                        Some(image.line),
                        "tuple",
                        format!(
                            "its object name `{name}` is already the name of line {line} \
                             (`{tuple}`): rename one of the two"
                        ),
                    )
                    .for_tuple(&image.name),
                );
            }
            None => {
                taken.insert(name, (image.line, image.name.clone()));
            }
        }
    }
    colliding.sort_unstable();
    for i in colliding.into_iter().rev() {
        plan.images.remove(i);
    }
    plan.errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
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
