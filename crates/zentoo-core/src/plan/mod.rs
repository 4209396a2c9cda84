//! Pure planning: a site snapshot in, the images it defines with their inputs digests out.
//! [`build`] turns one image of that plan into the steps of its build.

pub mod backend;
pub mod build;
mod compare;
mod defaults;
pub mod follow;
pub mod limits;
pub mod provenance;
pub mod quantity;
pub mod result;
mod site_plan;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use build::{BuildPlan, BuildSettings, build_plan};
pub use compare::{EarlierPlan, parse_earlier};
pub use defaults::SpecDefaults;
pub use limits::Limits;
pub use result::{BuildCounts, BuildResult, KernelResult};
pub use site_plan::{
    ImagePlan, ImageRequest, PlanOptions, SitePlan, SpecOverrides, plan_image, plan_site,
};
