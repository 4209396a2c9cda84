//! Custom resources of `zentoo.dev/v1alpha1` and the names zentoo uses in a cluster.

#![forbid(unsafe_code)]

pub mod build_options;
pub mod conditions;
pub mod crd;
pub mod duration;
pub mod image;
pub mod reference;
pub mod site;

pub use image::{GentooImage, GentooImageSpec, GentooImageStatus};
pub use site::{GentooSite, GentooSiteSpec, GentooSiteStatus};

/// API group of zentoo's resources.
pub const GROUP: &str = "zentoo.dev";
/// API version of zentoo's resources.
pub const VERSION: &str = "v1alpha1";
/// Field manager of every server-side apply zentoo makes.
pub const FIELD_MANAGER: &str = "zentoo";

/// Labels zentoo puts on what it creates.
pub mod labels {
    /// The GentooSite an object belongs to.
    pub const SITE: &str = "zentoo.dev/site";
    /// The GentooImage an object belongs to.
    pub const IMAGE: &str = "zentoo.dev/image";
    /// The build (Job name) an object belongs to.
    pub const BUILD: &str = "zentoo.dev/build";
    /// What an object is: `build`, `distcc`, `storage`.
    pub const COMPONENT: &str = "zentoo.dev/component";
    /// The inputs digest a build was made for (hex, truncated to fit a label).
    pub const INPUTS: &str = "zentoo.dev/inputs";
    /// Standard label naming the managing tool.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
}

/// Annotations zentoo reads and writes.
pub mod annotations {
    /// Set (to any new value, usually a timestamp) to rebuild an image now.
    pub const REBUILD_REQUESTED_AT: &str = "zentoo.dev/rebuild-requested-at";
    /// Set (to any new value) to reconcile a site or image now: a site plans its fetched
    /// revision again and re-applies its images; an image plans and decides again.
    pub const RECONCILE_REQUESTED_AT: &str = "zentoo.dev/reconcile-requested-at";
    /// Set (to any new value) on a site to check its git repository now and fetch what
    /// moved (within the site's debounce window); the webhook receiver sets it.
    pub const FETCH_REQUESTED_AT: &str = "zentoo.dev/fetch-requested-at";
    /// The full inputs digest of a build.
    pub const INPUTS_DIGEST: &str = "zentoo.dev/inputs-digest";
    /// The site revision a build was planned at.
    pub const REVISION: &str = "zentoo.dev/revision";
    /// On images a site made: the tuple they build.
    pub const TUPLE: &str = "zentoo.dev/tuple";
    /// On a build Job: why it was started (JSON of `image::BuildCause`).
    pub const CAUSE: &str = "zentoo.dev/cause";
}
