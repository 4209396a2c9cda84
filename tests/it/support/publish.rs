//! Shared helpers of the publish tests: test roots with every kind of entry, tree snapshots
//! to compare file by file, and the harness environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use zentoo::publish::walk::{Kind, walk};

/// A fixed build time: 2023-11-14T22:13:20Z.
pub const EPOCH: i64 = 1_700_000_000;

/// `security.capability` for `cap_net_raw+ep` (VFS_CAP_REVISION_2).
pub const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds a root with every kind of entry. `reverse` creates things in another order (the
/// walk must not care). Needs root for devices, chown and `security.capability`.
pub fn make_root(root: &Path, reverse: bool) {
    type Step = Box<dyn Fn(&Path)>;
    let mut steps: Vec<Step> = vec![
        Box::new(|r| {
            fs::create_dir_all(r.join("etc")).unwrap();
            fs::write(r.join("etc/hostname"), "zentoo\n").unwrap();
            fs::set_permissions(r.join("etc/hostname"), fs::Permissions::from_mode(0o640)).unwrap();
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("bin")).unwrap();
            fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
            fs::hard_link(r.join("bin/busybox"), r.join("bin/sh")).unwrap();
            fs::hard_link(r.join("bin/busybox"), r.join("bin/ls")).unwrap();
            symlink("busybox", r.join("bin/cat")).unwrap();
            fs::write(r.join("bin/ping"), "not really ping").unwrap();
            fs::set_permissions(r.join("bin/ping"), fs::Permissions::from_mode(0o4755)).unwrap();
            xattr::set(r.join("bin/ping"), "security.capability", &CAP_NET_RAW).unwrap();
            xattr::set(r.join("bin/ping"), "user.pax.flags", b"em").unwrap();
            std::os::unix::fs::lchown(r.join("bin/cat"), Some(5), Some(6)).unwrap();
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("dev")).unwrap();
            run(Command::new("mknod")
                .arg(r.join("dev/null"))
                .args(["c", "1", "3"]));
            run(Command::new("mknod")
                .arg(r.join("dev/loop0"))
                .args(["b", "7", "0"]));
            run(Command::new("mkfifo").arg(r.join("dev/initctl")));
            fs::set_permissions(r.join("dev/null"), fs::Permissions::from_mode(0o666)).unwrap();
        }),
        Box::new(|r| {
            fs::create_dir_all(r.join("var/empty")).unwrap();
            fs::create_dir_all(r.join("tmp")).unwrap();
            fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
            fs::create_dir_all(r.join("home/user")).unwrap();
            fs::write(r.join("home/user/.profile"), "export A=1\n").unwrap();
            std::os::unix::fs::chown(r.join("home/user"), Some(1000), Some(1000)).unwrap();
            std::os::unix::fs::chown(r.join("home/user/.profile"), Some(1000), Some(100)).unwrap();
        }),
        Box::new(|r| {
            let deep = r
                .join("usr/share")
                .join("d".repeat(120))
                .join("e".repeat(90));
            fs::create_dir_all(&deep).unwrap();
            fs::write(deep.join("f".repeat(150)), "long").unwrap();
            symlink("x".repeat(150), deep.join("longlink")).unwrap();
            fs::write(r.join("usr/share/sp ace\\and\ttab"), "odd name").unwrap();
            fs::write(r.join("usr/share/big"), vec![7u8; 3 << 20]).unwrap();
            symlink("../share", r.join("usr/share/loop")).unwrap();
            std::os::unix::fs::symlink("share", r.join("usr/lib64")).unwrap();
        }),
    ];
    if reverse {
        steps.reverse();
    }
    for step in steps {
        step(root);
    }
}

/// Sets every mtime under `root` (not following links) to `secs`.
pub fn touch_all(root: &Path, secs: i64) {
    let stamp = format!("@{secs}");
    run(Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d", &stamp, "{}", "+"]));
}

/// What is compared of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    pub content: Option<Vec<u8>>,
}

/// Every entry under `root` (the root itself left out), by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    walk(root, |e| {
        if e.path.as_os_str().is_empty() {
            return Ok(());
        }
        let content = match e.kind {
            Kind::File { .. } => Some(fs::read(&e.disk).unwrap()),
            _ => None,
        };
        let kind = match &e.kind {
            Kind::File { .. } => "file".to_string(),
            other => format!("{other:?}"),
        };
        out.insert(
            e.path.clone(),
            Node {
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                xattrs: e.xattrs.clone(),
                content,
            },
        );
        Ok(())
    })
    .unwrap();
    out
}

/// Asserts two trees hold the same entries, naming the first difference.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (a, b) = (snapshot(expected), snapshot(actual));
    for (path, node) in &a {
        let other = b
            .get(path)
            .unwrap_or_else(|| panic!("{}: missing from {}", path.display(), actual.display()));
        assert_eq!(node, other, "{}: differs", path.display());
    }
    for path in b.keys() {
        assert!(
            a.contains_key(path),
            "{}: unexpected in {}",
            path.display(),
            actual.display()
        );
    }
}

/// Writes Portage's record of `cpf` (`category/PF`) in `root`: its `CONTENTS` lines and
/// `BUILD_TIME`.
pub fn record_package(root: &Path, cpf: &str, build_time: i64, contents: &[String]) {
    let dir = root.join("var/db/pkg").join(cpf);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("CONTENTS"), contents.join("\n") + "\n").unwrap();
    fs::write(dir.join("BUILD_TIME"), format!("{build_time}\n")).unwrap();
}
