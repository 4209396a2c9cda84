//! zentoo's binary package store: the binpkgs volume served as a binhost (Packages index,
//! binrepos.conf, an HTTP server) and its garbage collector (build records and leases, the pure
//! decision, its I/O).

#![forbid(unsafe_code)]

pub mod binhost;
pub mod gc;
