//! Publishing errors: each names the path, blob or registry it concerns and what failed.

use std::io;
use std::path::PathBuf;

/// Result of publishing operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while packing or publishing a root.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root to pack is missing or not a directory.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// A file of the root could not be read (or its metadata, link target, xattrs).
    #[error("{path}: cannot read {what}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What was being read: `metadata`, `directory`, `file`, `link target`, `xattrs`.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// A file changed size while it was packed.
    #[error("{path}: changed while being packed (expected {expected} bytes, read {read})")]
    Changed {
        /// The file.
        path: PathBuf,
        /// Size at stat time.
        expected: u64,
        /// Bytes read.
        read: u64,
    },
    /// An output could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The output file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A name or value cannot be represented in the archive.
    #[error("{path}: {message}")]
    Unrepresentable {
        /// The entry.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An OCI layout, manifest or config is not what was expected.
    #[error("{what}: {message}")]
    Invalid {
        /// The thing read (a file, a reference, a manifest).
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A registry operation failed (after retries, where they apply).
    #[error("{registry}: {operation}: {message}")]
    Registry {
        /// `host[:port]/repository`.
        registry: String,
        /// What was being done: `push blob sha256:...`, `push manifest`, `auth`, ...
        operation: String,
        /// The cause.
        message: String,
    },
    /// The container engine refused or failed.
    #[error("engine: {operation}: {message}")]
    Engine {
        /// What was being done.
        operation: String,
        /// The cause.
        message: String,
    },
}

impl Error {
    pub(crate) fn read(path: impl Into<PathBuf>, what: &'static str, source: io::Error) -> Self {
        Error::Read {
            path: path.into(),
            what,
            source,
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}
