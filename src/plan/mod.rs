//! Pure planning: a site snapshot in, the images it defines with their inputs digests out.
//! (The per-image build steps come in `BuildPlan`, built on this.)

mod compare;
mod defaults;
mod site_plan;

pub use compare::{EarlierPlan, parse_earlier};
pub use defaults::SpecDefaults;
pub use site_plan::{ImagePlan, PlanOptions, SitePlan, plan_site};
