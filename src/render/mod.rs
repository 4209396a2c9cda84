//! Pure: a [`BuildPlan`](crate::plan::BuildPlan) and its context in, Kubernetes objects out.

pub mod distcc;
pub mod job;
pub mod names;
pub mod resources;
pub mod storage;

pub use job::{BuildContext, render_job};
