//! A site's source step: plan the revision it fetched last from the cache alone, or check
//! its repository (`ls-remote`; fetch only when a branch it uses moved) and plan what it found.
//! Blocking git work runs off the runtime.

use super::context::Context;
use super::error::{Error, Result};
use super::fetch::{GitCredentials, fetch_used};
use super::secrets::read_secret;
use super::spec::{plan_options, prefixes};
use crate::render::names::name_collisions;
use jiff::Timestamp;
use kube::ResourceExt;
use zentoo_api::{GentooSite, GentooSiteStatus};
use zentoo_core::plan::{PlanOptions, SitePlan, plan_site};
use zentoo_core::site::url::redact_url;
use zentoo_core::site::{Prefixes, ReadOptions, SiteRepo};

/// What a check of the repository found.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Objects were downloaded: a used branch had moved.
    pub downloaded: bool,
    /// The digest of the used branches and their commits.
    pub refs_digest: String,
}

/// A planned revision.
pub struct Planned {
    /// The tracked branch's commit.
    pub revision: String,
    /// The site's plan at it.
    pub plan: SitePlan,
    /// What the check found; `None` when planned from the cache without a check.
    pub checked: Option<Checked>,
}

/// Plans the site: from the cache at `before.revision` unless `check` (or the cache cannot
/// serve it), else after checking the repository. `key` names the site in `ctx`.
pub async fn plan_source(
    site: &GentooSite,
    ctx: &Context,
    namespace: &str,
    key: &str,
    check: bool,
    before: &GentooSiteStatus,
) -> Result<Planned> {
    super::validate::site(site, ctx.settings.allow_local_sources).map_err(Error::InvalidSpec)?;
    let prefixes = prefixes(site)?;
    let source = &site.spec.source;
    if source.url.trim().is_empty() {
        return Err(Error::InvalidSpec("spec.source.url is empty".into()));
    }
    let cache = ctx.site_cache(namespace, &site.name_any());
    let cached = before.revision.clone().filter(|_| !check);
    let cached = match cached {
        Some(revision) => {
            let (cache, prefixes, options) = (
                cache.clone(),
                prefixes.clone(),
                plan_options(site, ctx.settings.limits),
            );
            tokio::task::spawn_blocking(move || plan_cached(&cache, &revision, prefixes, &options))
                .await?
        }
        None => None,
    };
    let (revision, mut plan, checked) = match cached {
        Some((revision, plan)) => (revision, plan, None),
        None => {
            let creds = credentials(site, ctx, namespace).await?;
            // The normalized prefixes (`refs/heads/portage` → `portage/`), as planning reads them.
            let used = vec![prefixes.portage.clone(), prefixes.buildhooks.clone()];
            let (url, want) = (source.url.clone(), source.git_ref.clone());
            let fetched_into = cache.clone();
            let options = plan_options(site, ctx.settings.limits);
            ctx.checking(key, Timestamp::now());
            ctx.pushes.handled(namespace, &site.name_any());
            ctx.fetch_started(&fetched_into);
            let result =
                tokio::task::spawn_blocking(move || -> Result<(String, SitePlan, Checked)> {
                    let fetched = fetch_used(&cache, &url, want.as_deref(), &used, &creds)
                        .map_err(|message| Error::Fetch {
                            url: redact_url(&url),
                            message,
                        })?;
                    let repo = SiteRepo::open(&fetched.path)?;
                    let snapshot = repo.snapshot(&ReadOptions {
                        tracked_ref: Some(fetched.revision.clone()),
                        prefixes,
                    })?;
                    Ok((
                        fetched.revision,
                        plan_site(&snapshot, &options),
                        Checked {
                            downloaded: fetched.downloaded,
                            refs_digest: fetched.refs_digest,
                        },
                    ))
                })
                .await
                .map_err(Error::Task);
            ctx.repository_changed(&fetched_into);
            let result = result?;
            ctx.metrics.source_checked(match &result {
                Ok((_, _, c)) if c.downloaded => "moved",
                Ok(_) => "unchanged",
                Err(_) => "error",
            });
            let (revision, plan, checked) = result?;
            (revision, plan, Some(checked))
        }
    };
    name_collisions(&site.name_any(), &mut plan);
    Ok(Planned {
        revision,
        plan,
        checked,
    })
}

/// The site's git credentials, from its `secretRef`.
async fn credentials(site: &GentooSite, ctx: &Context, namespace: &str) -> Result<GitCredentials> {
    Ok(match &site.spec.source.secret_ref {
        Some(secret) => {
            let data = read_secret(&ctx.client, namespace, &secret.name).await?;
            GitCredentials {
                username: data.get("username").cloned(),
                token: data.get("token").or_else(|| data.get("password")).cloned(),
                identity: data.get("identity").cloned(),
                known_hosts: data.get("known_hosts").cloned(),
            }
        }
        None => GitCredentials::default(),
    })
}

/// Plans `revision` from the cache alone; `None` when the cache cannot (missing, or without
/// that commit or the branches it needs), so the caller fetches.
fn plan_cached(
    cache: &std::path::Path,
    revision: &str,
    prefixes: Prefixes,
    options: &PlanOptions,
) -> Option<(String, SitePlan)> {
    let repo = SiteRepo::open(cache).ok()?;
    let snapshot = repo
        .snapshot(&ReadOptions {
            tracked_ref: Some(revision.to_string()),
            prefixes,
        })
        .ok()?;
    Some((revision.to_string(), plan_site(&snapshot, options)))
}
