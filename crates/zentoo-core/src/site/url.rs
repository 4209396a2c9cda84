//! What of a site repository's URL may be shown or recorded. Pure.
//!
//! User info in a URL is a credential (`https://user:token@host/x`, `https://token@host/x`),
//! except a bare login name for ssh (`ssh://git@host/x`, `git@host:x`): ssh authenticates with
//! the key in the site's Secret, and the name alone grants nothing. [`redact_url`] masks the
//! credential and nothing else, so a URL the controller accepts (it refuses credentials, see
//! `controller::validate::url`) reads the same redacted, and git can still use that form.

use std::ops::Range;

/// What replaces a credential.
pub const MASK: &str = "***";

/// `url` with any credential in its user info replaced by [`MASK`]:
/// `https://user:token@host/x` → `https://***@host/x`, `ssh://git:pw@host/x` →
/// `ssh://***@host/x`; `ssh://git@host/x` and `git@host:x` unchanged.
pub fn redact_url(url: &str) -> String {
    match credential(url) {
        Some(span) => format!("{}{MASK}{}", &url[..span.start], &url[span.end..]),
        None => url.to_string(),
    }
}

/// Where `url`'s user info is a credential (see the module comment): the byte range of the
/// whole user info, before its `@`.
pub fn credential(url: &str) -> Option<Range<usize>> {
    let info = user_info(url)?;
    let ssh = is_ssh(url);
    let text = &url[info.clone()];
    (!text.is_empty() && (!ssh || text.contains(':'))).then_some(info)
}

/// Whether git reaches `url` over ssh: an `ssh://` (`git+ssh://`, `ssh+git://`) URL, or a
/// scheme-less scp-like `user@host:path` (or a path).
pub fn is_ssh(url: &str) -> bool {
    scheme(url).is_none_or(|s| matches!(s.as_str(), "ssh" | "git+ssh" | "ssh+git"))
}

/// The lower-cased scheme of `url` (`None` for scp-like `host:path` and paths).
pub fn scheme(url: &str) -> Option<String> {
    let url = url.trim_start();
    let (scheme, _) = url.split_once("://")?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// The byte range of the user info (before `@`), when there is user info.
/// With a scheme, the authority ends at the first `/`, `?` or `#` and the user info at its
/// last `@` (a password typed with a raw `@` is covered whole); without one (scp-like
/// `user@host:path`), the user info ends at the first `@` before the first `/`.
fn user_info(url: &str) -> Option<Range<usize>> {
    let start = url.len() - url.trim_start().len();
    match scheme(url) {
        Some(scheme) => {
            let from = start + scheme.len() + "://".len();
            let rest = &url[from..];
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let at = authority.rfind('@')?;
            Some(from..from + at)
        }
        None => {
            let rest = &url[start..];
            let head = &rest[..rest.find('/').unwrap_or(rest.len())];
            let at = head.find('@')?;
            Some(start..start + at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_user_info_are_masked() {
        for (url, shown) in [
            (
                "https://user:s3cret@git.example/site.git",
                "https://***@git.example/site.git",
            ),
            (
                "https://ghp_token@git.example/site.git",
                "https://***@git.example/site.git",
            ),
            ("HTTP://u:p@h:8080/x?y#z", "HTTP://***@h:8080/x?y#z"),
            ("https://u:p@ss@host/x", "https://***@host/x"),
            ("https://u%40x:p%2Fq@host/x", "https://***@host/x"),
            ("git://u:p@host/x", "git://***@host/x"),
            ("file://u@/tmp/x", "file://***@/tmp/x"),
            ("ssh://git:pw@host/x", "ssh://***@host/x"),
            ("git+ssh://git:pw@host:22/x", "git+ssh://***@host:22/x"),
            ("user:pw@host:org/x.git", "***@host:org/x.git"),
            ("  https://t@host/x", "  https://***@host/x"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(credential(url).is_some(), "{url}");
        }
    }

    #[test]
    fn urls_without_credentials_are_unchanged() {
        for url in [
            "https://git.example/site.git",
            "https://git.example/a@b/site.git",
            "https://git.example/x?ref=a@b",
            "https://@git.example/x",
            "ssh://git@git.example/site.git",
            "SSH://git@host:2222/x",
            "git@github.com:org/site.git",
            "git@host:path@x/y",
            "git://127.0.0.1:9418/site",
            "/var/cache/a@b",
            "./a@b/c",
            "",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
            assert_eq!(credential(url), None, "{url}");
        }
    }

    #[test]
    fn schemes_are_read_case_free() {
        assert_eq!(scheme("HTTPS://h/x").as_deref(), Some("https"));
        assert_eq!(scheme(" git+ssh://h/x").as_deref(), Some("git+ssh"));
        assert_eq!(scheme("git@h:x"), None);
        assert_eq!(scheme("/a/b://c"), None);
    }
}
