//! Fetching a site repository into the controller's cache: one bare repository per site,
//! branches mirrored as `refs/heads/*`. Blocking (git2): call it from `spawn_blocking`.

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions,
    FetchPrune, RemoteCallbacks, Repository,
};
use std::path::{Path, PathBuf};
use zentoo_core::site::url::redact_url;

/// Credentials for a site repository, read from its Secret. Never logged.
#[derive(Clone, Default)]
pub struct GitCredentials {
    /// User name for https (default `git`).
    pub username: Option<String>,
    /// Token or password for https.
    pub token: Option<String>,
    /// Private key for ssh (PEM/OpenSSH).
    pub identity: Option<String>,
    /// known_hosts lines; ssh host keys must match one of them.
    pub known_hosts: Option<String>,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .field("known_hosts", &self.known_hosts.is_some())
            .finish()
    }
}

/// Digest (`sha256:`) of a repository's branch heads, names and commits.
pub fn heads_digest(repo: &Repository) -> Result<String, git2::Error> {
    use sha2::{Digest, Sha256};
    let mut heads: Vec<(String, String)> = Vec::new();
    for r in repo.references_glob("refs/heads/*")? {
        let r = r?;
        if let (Ok(name), Some(id)) = (r.name(), r.target()) {
            heads.push((name.to_string(), id.to_string()));
        }
    }
    heads.sort();
    let mut hash = Sha256::new();
    for (name, id) in heads {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(id.as_bytes());
        hash.update([b'\n']);
    }
    Ok(format!("sha256:{}", hex::encode(hash.finalize())))
}

/// The outcome of a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The cache repository.
    pub path: PathBuf,
    /// Full name of the tracked ref, e.g. `refs/heads/main`.
    pub tracked_ref: String,
    /// Its commit.
    pub revision: String,
    /// Whether anything was downloaded (false: every ref was already current).
    pub downloaded: bool,
    /// sha256 over the used refs and their commits, one `<oid> <name>` line each in name
    /// order: it changes exactly when a ref the site uses moves, appears or goes.
    pub refs_digest: String,
}

/// Fetches `url` into the bare repository at `cache` (created when missing) and resolves the
/// tracked ref: `want_ref` (a branch name) or the remote's default branch. Refs are compared
/// first, and nothing is downloaded when all are current.
pub fn fetch(
    cache: &Path,
    url: &str,
    want_ref: Option<&str>,
    creds: &GitCredentials,
) -> Result<Fetched, String> {
    fetch_used(cache, url, want_ref, &[String::new()], creds)
}

/// Like [`fetch`], but downloads only when a ref the site *uses* moved, appeared or went:
/// the tracked branch, or a branch whose name starts with one of `prefixes` (e.g.
/// `portage/`, `buildhooks/`). The remote's refs are listed first (`ls-remote`), which costs
/// one round trip and no object transfer; a push to any other branch downloads nothing.
pub fn fetch_used(
    cache: &Path,
    url: &str,
    want_ref: Option<&str>,
    prefixes: &[String],
    creds: &GitCredentials,
) -> Result<Fetched, String> {
    let repo = match Repository::open_bare(cache) {
        Ok(r) => r,
        Err(_) => {
            std::fs::create_dir_all(cache)
                .map_err(|e| format!("cache {}: {e}", cache.display()))?;
            Repository::init_bare(cache)
                .map_err(|e| format!("cache {}: {}", cache.display(), e.message()))?
        }
    };
    let mut remote = repo.remote_anonymous(url).map_err(|e| clean(url, e))?;

    // ls-remote: what the remote has, and its default branch.
    let connection = remote
        .connect_auth(Direction::Fetch, Some(callbacks(url, creds)), None)
        .map_err(|e| clean(url, e))?;
    let heads: Vec<(String, git2::Oid)> = connection
        .list()
        .map_err(|e| clean(url, e))?
        .iter()
        .filter(|h| h.name().starts_with("refs/heads/"))
        .map(|h| (h.name().to_string(), h.oid()))
        .collect();
    let default_branch = connection
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().ok().map(str::to_string));
    drop(connection);

    let tracked_ref = match want_ref {
        Some(r) if r.starts_with("refs/") => r.to_string(),
        Some(r) => format!("refs/heads/{r}"),
        None => default_branch
            .or_else(|| {
                heads
                    .iter()
                    .find(|(n, _)| n == "refs/heads/main")
                    .map(|(n, _)| n.clone())
            })
            .ok_or_else(|| no_default_branch(&redact_url(url), &heads))?,
    };
    let remote_tip = heads
        .iter()
        .find(|(n, _)| *n == tracked_ref)
        .map(|(_, id)| *id)
        .ok_or_else(|| {
            format!(
                "{} has no branch {}",
                redact_url(url),
                tracked_ref.trim_start_matches("refs/heads/")
            )
        })?;

    let local: Vec<(String, git2::Oid)> = local_heads(&repo);
    let used = |name: &str| name == tracked_ref || uses(prefixes, name);
    let current = refs_current(&heads, &local, used);
    let refs_digest = digest_refs(&heads, used);
    if !current {
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks(url, creds));
        options.prune(FetchPrune::On);
        options.download_tags(AutotagOption::None);
        remote
            .fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None)
            .map_err(|e| clean(url, e))?;
    }
    repo.set_head(&tracked_ref)
        .map_err(|e| e.message().to_string())?;
    Ok(Fetched {
        path: cache.to_path_buf(),
        tracked_ref,
        revision: remote_tip.to_string(),
        downloaded: !current,
        refs_digest,
    })
}

/// Why a remote without `spec.source.ref` cannot be followed: its HEAD names no branch (e.g.
/// the default branch was deleted) and it has no `main`; names a few branches it has. `url`
/// as shown (redacted).
fn no_default_branch(url: &str, heads: &[(String, git2::Oid)]) -> String {
    const SHOWN: usize = 5;
    let names: Vec<&str> = heads
        .iter()
        .take(SHOWN)
        .map(|(n, _)| n.trim_start_matches("refs/heads/"))
        .collect();
    let more = heads.len().saturating_sub(SHOWN);
    let has = match (names.is_empty(), more) {
        (true, _) => "it has no branches".to_string(),
        (false, 0) => format!("its branches: {}", names.join(", ")),
        (false, more) => format!("its branches: {} and {more} more", names.join(", ")),
    };
    format!(
        "{url} has no default branch (its HEAD names no branch and there is no main; {has}): \
         set spec.source.ref to the branch to track"
    )
}

/// `sha256:<hex>` over the `refs` that are `used`, one `<oid> <name>\n` line each, by name.
fn digest_refs(refs: &[(String, git2::Oid)], used: impl Fn(&str) -> bool) -> String {
    use sha2::{Digest, Sha256};
    let mut lines: Vec<String> = refs
        .iter()
        .filter(|(n, _)| used(n))
        .map(|(n, id)| format!("{id} {n}\n"))
        .collect();
    lines.sort_by(|a, b| a.split(' ').nth(1).cmp(&b.split(' ').nth(1)));
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Whether the full ref name `name` is a branch starting with one of `prefixes`.
fn uses(prefixes: &[String], name: &str) -> bool {
    name.strip_prefix("refs/heads/")
        .is_some_and(|branch| prefixes.iter().any(|p| branch.starts_with(p.as_str())))
}

/// True when every used ref of `remote` has the same id in `local`, and `local` has no used
/// ref the remote lacks.
fn refs_current(
    remote: &[(String, git2::Oid)],
    local: &[(String, git2::Oid)],
    used: impl Fn(&str) -> bool,
) -> bool {
    let remote: std::collections::BTreeMap<&str, git2::Oid> = remote
        .iter()
        .filter(|(n, _)| used(n))
        .map(|(n, id)| (n.as_str(), *id))
        .collect();
    let local: std::collections::BTreeMap<&str, git2::Oid> = local
        .iter()
        .filter(|(n, _)| used(n))
        .map(|(n, id)| (n.as_str(), *id))
        .collect();
    remote == local
}

/// The cache's branches and their commits.
fn local_heads(repo: &Repository) -> Vec<(String, git2::Oid)> {
    let Ok(refs) = repo.references_glob("refs/heads/*") else {
        return Vec::new();
    };
    refs.flatten()
        .filter_map(|r| Some((r.name().ok()?.to_string(), r.target()?)))
        .collect()
}

/// A git error as one line, without credentials that may be in the URL.
fn clean(url: &str, e: git2::Error) -> String {
    redact_in(&e.message().replace('\n', " "), url)
}

/// `text` with `url` redacted ([`redact_url`]) wherever it, or the credential in it, appears.
fn redact_in(text: &str, url: &str) -> String {
    match zentoo_core::site::url::credential(url) {
        Some(span) => text
            .replace(url, &redact_url(url))
            .replace(&url[span], zentoo_core::site::url::MASK),
        None => text.to_string(),
    }
}

fn callbacks<'a>(url: &'a str, creds: &'a GitCredentials) -> RemoteCallbacks<'a> {
    let shown = redact_url(url);
    let mut callbacks = RemoteCallbacks::new();
    let mut attempts = 0;
    callbacks.credentials(move |_url, username, allowed| {
        attempts += 1;
        if attempts > 3 {
            return Err(git2::Error::from_str(
                "authentication failed (check the site's secretRef)",
            ));
        }
        let user = creds.username.as_deref().or(username).unwrap_or("git");
        if let Some(key) = creds
            .identity
            .as_deref()
            .filter(|_| allowed.contains(CredentialType::SSH_KEY))
        {
            return Cred::ssh_key_from_memory(user, None, key, None);
        }
        if let Some(token) = creds
            .token
            .as_deref()
            .filter(|_| allowed.contains(CredentialType::USER_PASS_PLAINTEXT))
        {
            return Cred::userpass_plaintext(user, token);
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        Err(git2::Error::from_str(
            "the repository wants credentials and the site has none (spec.source.secretRef)",
        ))
    });
    callbacks.certificate_check(move |cert, host| {
        let Some(hostkey) = cert.as_hostkey() else {
            // TLS: libgit2 already verified it against the system roots.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let Some(known) = &creds.known_hosts else {
            return Err(git2::Error::from_str(&format!(
                "ssh host key of {host} cannot be checked: the site's secret has no known_hosts"
            )));
        };
        match hostkey.hostkey() {
            Some(key) if known_hosts_match(known, host, key) => {
                Ok(CertificateCheckStatus::CertificateOk)
            }
            _ => Err(git2::Error::from_str(&format!(
                "ssh host key of {host} ({shown}) is not in known_hosts"
            ))),
        }
    });
    callbacks
}

/// True when `known_hosts` has a line for `host` with exactly `key` (raw key blob).
pub fn known_hosts_match(known_hosts: &str, host: &str, key: &[u8]) -> bool {
    use base64::Engine as _;
    known_hosts.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(blob)) = (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let host_ok = hosts.split(',').any(|h| {
            let h = h.trim_start_matches('[');
            h == host || h.split(']').next() == Some(host)
        });
        host_ok
            && base64::engine::general_purpose::STANDARD
                .decode(blob)
                .map(|b| b == key)
                .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_must_match_host_and_key() {
        let known =
            "# comment\ngit.example,10.0.0.1 ssh-ed25519 AAAA\n[git.other]:2222 ssh-rsa AQID\n";
        assert!(known_hosts_match(known, "git.example", &[0, 0, 0]));
        assert!(known_hosts_match(known, "git.other", &[1, 2, 3]));
        assert!(!known_hosts_match(known, "git.example", &[1, 2, 3]));
        assert!(!known_hosts_match(known, "evil.example", &[0, 0, 0]));
    }

    #[test]
    fn a_remote_without_a_default_branch_is_named_with_some_of_its_branches() {
        let id = git2::Oid::ZERO_SHA1;
        let heads: Vec<(String, git2::Oid)> = (1..=7)
            .map(|n| (format!("refs/heads/portage/p{n}"), id))
            .collect();
        let message = no_default_branch("git://h/r.git", &heads);
        assert!(
            message.starts_with("git://h/r.git has no default branch"),
            "{message}"
        );
        assert!(message.contains("portage/p1, portage/p2"), "{message}");
        assert!(message.contains("and 2 more"), "{message}");
        assert!(message.contains("set spec.source.ref"), "{message}");
        let message = no_default_branch("git://h/r.git", &[]);
        assert!(message.contains("it has no branches"), "{message}");
    }

    #[test]
    fn only_moved_used_refs_make_a_fetch() {
        let id = |n: u8| git2::Oid::from_bytes(&[n; 20]).unwrap();
        let prefixes = ["portage/".to_string(), "buildhooks/".to_string()];
        let used = |name: &str| name == "refs/heads/main" || uses(&prefixes, name);
        let local = vec![
            ("refs/heads/main".to_string(), id(1)),
            ("refs/heads/portage/a".to_string(), id(2)),
            ("refs/heads/feature".to_string(), id(3)),
        ];
        let mut remote = local.clone();
        assert!(refs_current(&remote, &local, used));
        remote[2].1 = id(9);
        assert!(
            refs_current(&remote, &local, used),
            "an unused branch moved"
        );
        remote.push(("refs/heads/other".to_string(), id(4)));
        assert!(
            refs_current(&remote, &local, used),
            "an unused branch appeared"
        );
        remote[1].1 = id(8);
        assert!(
            !refs_current(&remote, &local, used),
            "a portage branch moved"
        );
        remote[1].1 = id(2);
        remote.push(("refs/heads/buildhooks/x".to_string(), id(5)));
        assert!(
            !refs_current(&remote, &local, used),
            "a buildhooks branch appeared"
        );
        remote.pop();
        remote.remove(1);
        assert!(
            !refs_current(&remote, &local, used),
            "a portage branch went"
        );
        assert!(uses(&[String::new()], "refs/heads/anything"));
        let d = |refs: &[(String, git2::Oid)]| digest_refs(refs, used);
        assert_eq!(
            d(&local),
            d(&[local[1].clone(), local[0].clone()]),
            "order-free"
        );
        let mut feature_moved = local.clone();
        feature_moved[2].1 = id(7);
        assert_eq!(d(&local), d(&feature_moved), "an unused ref does not count");
        let mut portage_moved = local.clone();
        portage_moved[1].1 = id(7);
        assert_ne!(d(&local), d(&portage_moved));
        assert!(!uses(&prefixes, "refs/tags/portage/x"));
    }

    #[test]
    fn git_messages_never_show_the_credential_of_a_url() {
        let url = "https://zt-user:zt-pass@git.example/site.git";
        let message = format!("unexpected http status code 401 for {url}; user zt-user:zt-pass");
        assert_eq!(
            redact_in(&message, url),
            "unexpected http status code 401 for https://***@git.example/site.git; user ***"
        );
        let ssh = "ssh://git@git.example/site.git";
        assert_eq!(
            redact_in(&format!("no route to {ssh}"), ssh),
            format!("no route to {ssh}")
        );
        let cache = tempfile::TempDir::new().unwrap();
        let e = fetch(
            &cache.path().join("c"),
            "https://zt-user:zt-pass@127.0.0.1:1/site.git",
            None,
            &GitCredentials::default(),
        )
        .unwrap_err();
        assert!(!e.contains("zt-pass"), "{e}");
    }

    #[test]
    fn credentials_are_never_printed() {
        let creds = GitCredentials {
            token: Some("s3cret".into()),
            identity: Some("KEY".into()),
            ..Default::default()
        };
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("KEY"),
            "{shown}"
        );
    }
}
