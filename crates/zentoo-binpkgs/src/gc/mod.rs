//! Cleanup of the shared volumes: binary packages no image's last N builds used, distfiles no
//! current build needs, never what a running build may use.
//!
//! Builds record what they used in the binary package volume (`crates/zentoo-core/src/steps/records.sh`): a
//! lease while they run, a record when they end. [`decide::plan_gc`] turns records, leases
//! and a listing of the volumes into what to remove (pure); [`store`] reads and removes, under
//! the gc lock and each PKGDIR's index locks, and rewrites the `Packages` indexes.

pub mod decide;
pub mod records;
pub mod store;

pub use decide::{GcPlan, Listing, Policy, plan_gc};
