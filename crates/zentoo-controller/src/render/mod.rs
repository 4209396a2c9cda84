//! Pure: a [`BuildPlan`](zentoo_core::plan::BuildPlan) and its context in, Kubernetes objects out.

pub mod audit;
pub mod distcc;
pub mod gc;
pub mod job;
pub mod names;
pub mod resources;
pub mod storage;

pub use job::{BuildContext, render_job};
