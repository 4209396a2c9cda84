//! The site repository: git access, tuples, sets, cpu profiles and the inputs digest.
//!
//! Reading is split in two: [`repo`] does the git I/O and yields a [`SiteSnapshot`] of plain
//! data; everything else here is pure and works on that snapshot.

pub mod atom;
pub mod cpus;
pub mod error;
pub mod example;
pub mod inputs;
pub mod materialize;
pub mod names;
pub mod options;
pub mod repo;
pub mod sets;
pub mod snapshot;
pub mod tuples;
pub mod url;
pub mod write;

pub use error::SiteError;
pub use repo::{ReadError, ReadOptions, SiteRepo};
pub use snapshot::{Prefixes, SiteSnapshot, TextFile};
