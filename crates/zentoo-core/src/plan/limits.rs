//! What one site may make, in one place. Each limit stops only what crosses it, with an error
//! naming the file, line and field: a tuple past a limit stops that tuple, a set past one
//! stops the tuples that use it. The controller takes the first four as flags with these
//! defaults (`--max-tuples`, ...); README.md ("The site repository") lists them all.

/// Most tuples one site plans: later tuple lines are errors at their line.
pub const MAX_TUPLES: usize = 10_000;
/// Most images (GentooImages) one site makes: images of later tuples are errors.
pub const MAX_IMAGES: usize = 5_000;
/// Most atoms one set holds with its includes expanded (the whole Gentoo tree is ~20,000
/// packages).
pub const MAX_SET_ATOMS: usize = 100_000;
/// Most atoms of all of a site's images together, a set's atoms counted once per image that
/// uses it; the sets expanded while planning hold at most as many in all.
pub const MAX_PLANNED_ATOMS: usize = 4_000_000;
/// Largest set file (and `tuples`, `cpus.yaml`) read, in bytes: a bigger one is an error
/// naming the file.
pub const MAX_SET_BYTES: usize = crate::site::repo::MAX_FILE_BYTES;
/// Most set files read from `sets/`.
pub const MAX_SET_FILES: usize = crate::site::repo::MAX_SETS;
/// Most bytes of `tuples`, `cpus.yaml` and set files together.
pub const MAX_SITE_BYTES: usize = crate::site::repo::MAX_TOTAL_BYTES;
/// Deepest chain of set includes.
pub const MAX_INCLUDE_DEPTH: usize = crate::site::sets::MAX_INCLUDE_DEPTH;

/// The limits a plan applies (the four a controller may set; the others are constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most tuples planned ([`MAX_TUPLES`]).
    pub tuples: usize,
    /// Most images planned ([`MAX_IMAGES`]).
    pub images: usize,
    /// Most atoms in one set ([`MAX_SET_ATOMS`]).
    pub set_atoms: usize,
    /// Most atoms of all images together ([`MAX_PLANNED_ATOMS`]).
    pub planned_atoms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tuples: MAX_TUPLES,
            images: MAX_IMAGES,
            set_atoms: MAX_SET_ATOMS,
            planned_atoms: MAX_PLANNED_ATOMS,
        }
    }
}
