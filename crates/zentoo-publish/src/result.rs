//! Writing the publish step's [`BuildResult`]: in the cluster it is the publish container's
//! termination message, read back by the controller (at most 4 KiB).

use super::error::{Error, Result};
use std::path::Path;
use zentoo_core::plan::result::BuildResult;

pub use zentoo_core::plan::result::TERMINATION_MESSAGE_MAX;

/// Writes `result`'s [`BuildResult::termination_message`] to `path` (e.g.
/// `/dev/termination-log`).
pub fn write_termination_log(result: &BuildResult, path: &Path) -> Result<()> {
    std::fs::write(path, result.termination_message()).map_err(|e| Error::write(path, e))
}
