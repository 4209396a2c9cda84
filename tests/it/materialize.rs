//! Materializing git trees: modes and links kept, and hostile trees never write outside.

use git2::{ObjectType, Oid, Repository};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tempfile::TempDir;
use zentoo::site::materialize::{Limits, MaterializeError, materialize_tree};

struct Fixture {
    _dir: TempDir,
    repo: Repository,
    /// Where materialize writes.
    dest: std::path::PathBuf,
    /// A directory beside it that hostile trees aim at.
    outside: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let repo = Repository::init_bare(dir.path().join("repo.git")).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let dest = dir.path().join("work").join("portage");
        Fixture {
            _dir: dir,
            repo,
            dest,
            outside,
        }
    }

    fn blob(&self, content: &[u8]) -> Oid {
        self.repo.blob(content).unwrap()
    }

    /// A tree written byte by byte, so it can hold what `git` itself would never make.
    fn raw_tree(&self, entries: &[(&str, &[u8], Oid)]) -> Oid {
        let mut buf = Vec::new();
        for (mode, name, id) in entries {
            buf.extend_from_slice(mode.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(name);
            buf.push(0);
            buf.extend_from_slice(id.as_bytes());
        }
        self.repo
            .odb()
            .unwrap()
            .write(ObjectType::Tree, &buf)
            .unwrap()
    }

    fn run(&self, tree: Oid) -> Result<zentoo::site::materialize::Materialized, MaterializeError> {
        materialize_tree(&self.repo, tree, &self.dest, &Limits::default())
    }

    /// Fails when anything appeared outside `dest`.
    fn assert_nothing_outside(&self) {
        assert_eq!(
            fs::read_dir(&self.outside).unwrap().count(),
            0,
            "something was written outside"
        );
        let work = self.dest.parent().unwrap();
        let names: Vec<_> = fs::read_dir(work)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["portage"], "only the target dir exists beside it");
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn writes_files_dirs_modes_and_links_as_the_tree_says() {
    let f = Fixture::new();
    let make_conf = f.blob(b"USE=\"X\"\n");
    let hook = f.blob(b"#!/bin/sh\necho hi\n");
    let profile = f.blob(b"/var/db/repos/gentoo/profiles/default/linux/amd64/23.0");
    let relative = f.blob(b"../make.conf");
    let nano = f.blob(b"app-editors/nano -spell\n");
    let package_use = f.raw_tree(&[("100644", b"nano", nano), ("120000", b"conf", relative)]);
    let root = f.raw_tree(&[
        ("100644", b"make.conf", make_conf),
        ("120000", b"make.profile", profile),
        ("40000", b"package.use", package_use),
        ("100755", b"pre-build", hook),
    ]);
    let done = f.run(root).unwrap();
    assert_eq!(done.entries, 6);
    assert_eq!(
        fs::read_to_string(f.dest.join("make.conf")).unwrap(),
        "USE=\"X\"\n"
    );
    assert_eq!(mode(&f.dest.join("make.conf")), 0o644);
    assert_eq!(mode(&f.dest.join("pre-build")), 0o755);
    assert_eq!(
        fs::read_link(f.dest.join("make.profile")).unwrap(),
        Path::new("/var/db/repos/gentoo/profiles/default/linux/amd64/23.0")
    );
    assert_eq!(
        fs::read_link(f.dest.join("package.use/conf")).unwrap(),
        Path::new("../make.conf")
    );
    assert_eq!(
        fs::read_to_string(f.dest.join("package.use/nano")).unwrap(),
        "app-editors/nano -spell\n"
    );
    f.assert_nothing_outside();
}

#[test]
fn hostile_names_are_refused() {
    for name in [&b".."[..], b".", b"../outside/x", b"/tmp/x", b".git", b""] {
        let f = Fixture::new();
        let blob = f.blob(b"pwned");
        let tree = f.raw_tree(&[("100644", name, blob)]);
        let err = f.run(tree).expect_err("must refuse");
        // libgit2 will not even parse a tree with an empty name; either way nothing is written.
        let parsed = !name.is_empty();
        assert_eq!(
            matches!(err, MaterializeError::Refused { .. }),
            parsed,
            "{name:?}: {err}"
        );
        f.assert_nothing_outside();
    }
}

#[test]
fn a_symlink_never_becomes_a_way_out() {
    let f = Fixture::new();
    let out = f.blob(f.outside.to_str().unwrap().as_bytes());
    let passwd = f.blob(b"pwned");
    let inner = f.raw_tree(&[("100644", b"passwd", passwd)]);

    // A link named like a directory that comes after it.
    let tree = f.raw_tree(&[("120000", b"etc", out), ("40000", b"etc", inner)]);
    assert!(f.run(tree).is_err());
    f.assert_nothing_outside();

    // A link named like a file that comes after it.
    let f = Fixture::new();
    let out_file = f.blob(f.outside.join("x").to_str().unwrap().as_bytes());
    let passwd = f.blob(b"pwned");
    let tree = f.raw_tree(&[("120000", b"x", out_file), ("100644", b"x", passwd)]);
    let err = f.run(tree).expect_err("must refuse");
    assert_eq!(
        err.to_string(),
        "x: a second entry of the same name in one tree",
        "{err}"
    );
    f.assert_nothing_outside();
}

#[test]
fn limits_and_odd_entries_are_refused() {
    let f = Fixture::new();
    let mut tree = f.raw_tree(&[("100644", b"f", f.blob(b"x"))]);
    for _ in 0..40 {
        tree = f.raw_tree(&[("40000", b"d", tree)]);
    }
    let err = f.run(tree).unwrap_err().to_string();
    assert!(err.contains("nested deeper than 32"), "{err}");

    let f = Fixture::new();
    let big = f.blob(&vec![b'x'; 2048]);
    let tree = f.raw_tree(&[("100644", b"big", big)]);
    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let err = materialize_tree(&f.repo, tree, &f.dest, &limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("big: 2048 bytes; the limit is 1024"), "{err}");

    let f = Fixture::new();
    let commit_like = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    let tree = f.raw_tree(&[("160000", b"sub", commit_like)]);
    assert!(f.run(tree).unwrap_err().to_string().contains("submodule"));

    let f = Fixture::new();
    fs::create_dir_all(&f.dest).unwrap();
    fs::write(f.dest.join("old"), "x").unwrap();
    let tree = f.raw_tree(&[("100644", b"f", f.blob(b"x"))]);
    assert!(f.run(tree).unwrap_err().to_string().contains("not empty"));
}
