//! The build step's log retention (`prune_logs` of common.sh), run by the host's `sh`.

use super::SCRIPTS;
use std::path::Path;
use std::process::Command;

/// Runs `prune_logs DIR KEEP` of the shipped common.sh; its output.
fn prune(dir: &Path, keep: &str) -> std::process::Output {
    let common = SCRIPTS
        .iter()
        .find(|(name, _)| *name == "common.sh")
        .map(|(_, text)| *text)
        .expect("common.sh is shipped");
    Command::new("sh")
        .arg("-c")
        .arg(format!("STEP=build\n{common}\nprune_logs \"$1\" \"$2\"\n"))
        .arg("sh")
        .arg(dir)
        .arg(keep)
        .output()
        .expect("sh")
}

#[test]
fn the_newest_builds_logs_are_kept_and_older_ones_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = tmp.path().join("web");
    // Oldest first; `web-9` sorts after the others by name but is the oldest.
    for (name, age) in [
        ("web-9", "3 hours ago"),
        ("web-1", "2 hours ago"),
        ("web-2", "1 hour ago"),
    ] {
        std::fs::create_dir_all(image.join(name).join("packages")).expect("mkdir");
        let touched = Command::new("touch")
            .args(["-d", age])
            .arg(image.join(name))
            .status()
            .expect("touch");
        assert!(touched.success());
    }
    std::os::unix::fs::symlink("/tmp", image.join("link")).expect("symlink");
    let current = image.join("web-3");
    std::fs::create_dir(&current).expect("mkdir");

    let out = prune(&current, "3");
    assert!(out.status.success(), "{out:?}");
    let mut left: Vec<String> = std::fs::read_dir(&image)
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["link", "web-1", "web-2", "web-3"], "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("zentoo[build]: removed the logs of build web-9 (ZENTOO_LOG_KEEP=3)"),
        "{out:?}"
    );
    // A bad number is bad input (exit 2), and removes nothing.
    let out = prune(&current, "0");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(image.join("web-1").is_dir());
}
