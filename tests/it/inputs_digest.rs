//! The inputs digest changes exactly when something an image consumes changes.

use crate::support::site::{Site, digest};
use zentoo::site::write::Change;

const TUPLES: &str = "desktop-none-kde\nznver3-server-nodocs-web\n";

/// Digests of both images before and after `change`.
fn around(change: impl FnOnce(&Site)) -> [(String, String); 2] {
    let site = Site::standard(TUPLES);
    let before = site.plan();
    assert!(before.errors.is_empty(), "{:?}", before.errors);
    change(&site);
    let after = site.plan();
    assert!(after.errors.is_empty(), "{:?}", after.errors);
    ["desktop-none-kde", "znver3-server-nodocs-web"]
        .map(|n| (digest(&before, n), digest(&after, n)))
}

fn assert_unchanged(what: &str, change: impl FnOnce(&Site)) {
    for (before, after) in around(change) {
        assert_eq!(before, after, "{what} must change no digest");
    }
}

/// Asserts which of (desktop-none-kde, znver3-server-nodocs-web) changed.
fn assert_changes(what: &str, expected: [bool; 2], change: impl FnOnce(&Site)) {
    let got = around(change).map(|(a, b)| a != b);
    assert_eq!(got, expected, "{what}: which images changed");
}

#[test]
fn the_digest_is_the_same_on_another_machine() {
    // Two separately made repositories with the same content give the same digests.
    let a = Site::standard(TUPLES).plan();
    let other = Site::standard(TUPLES);
    other.commit("main", &[]);
    other.commit("portage/desktop", &[]);
    let b = other.plan();
    assert_ne!(a.revision, b.revision, "histories differ...");
    for name in ["desktop-none-kde", "znver3-server-nodocs-web"] {
        assert_eq!(digest(&a, name), digest(&b, name), "...digests do not");
    }
}

#[test]
fn changes_nothing_consumed() {
    assert_unchanged("an edit on an unused portage branch", |s| {
        s.write("portage/unused", "make.conf", "x\n");
    });
    assert_unchanged("an unused set", |s| {
        s.write("main", "sets/unused", "a/b\n");
    });
    assert_unchanged("an unused cpu entry", |s| {
        s.write(
            "main",
            "cpus.yaml",
            "znver3:\n  arch: amd64\n  cflags: -O2 -march=znver3\na72:\n  arch: arm64\n  cflags: -O3\n",
        );
    });
    assert_unchanged("the order of lines in tuples", |s| {
        s.write(
            "main",
            "tuples",
            "# reordered\n\nznver3-server-nodocs-web\n   desktop-none-kde # hi\n",
        );
    });
    assert_unchanged("a commit with only a message", |s| {
        s.commit("main", &[]);
        s.commit("portage/desktop", &[]);
    });
    assert_unchanged("a README on the tracked branch", |s| {
        s.write("main", "README.md", "hello\n");
    });
    assert_unchanged("a portage branch rewritten to the same tree", |s| {
        s.write("portage/desktop", "make.conf", "USE=\"X\"\n");
    });
    assert_unchanged("reformatting cpus.yaml with the same values", |s| {
        s.write(
            "main",
            "cpus.yaml",
            "# cpus\na72: {arch: arm64}\nznver3:\n  arch: amd64\n  cflags: \"-O2 -march=znver3\"\n  cxxflags: -O2 -march=znver3\n",
        );
    });
}

#[test]
fn changes_exactly_the_consumers() {
    assert_changes("portage/desktop", [true, false], |s| {
        s.write("portage/desktop", "package.use/x", "a/b c\n");
    });
    assert_changes("portage/server", [false, true], |s| {
        s.write("portage/server", "make.conf", "USE=\"ssl\"\n");
    });
    assert_changes("buildhooks/nodocs", [false, true], |s| {
        s.commit(
            "buildhooks/nodocs",
            &[Change::exec("post-build", "#!/bin/sh\n")],
        );
    });
    assert_changes("a hook's mode only", [false, true], |s| {
        s.commit(
            "buildhooks/nodocs",
            &[Change::file("pre-pack", "#!/bin/sh\n")],
        );
    });
    assert_changes("set kde", [true, false], |s| {
        s.write(
            "main",
            "sets/kde",
            "@base\nkde-plasma/plasma-meta\nkde-apps/dolphin\n",
        );
    });
    assert_changes("set base, included by both", [true, true], |s| {
        s.write("main", "sets/base", "app-misc/hello\napp-editors/vim\n");
    });
    assert_changes("the znver3 cpu", [false, true], |s| {
        s.write(
            "main",
            "cpus.yaml",
            "znver3:\n  arch: amd64\n  cflags: -O3 -march=znver3\na72:\n  arch: arm64\n",
        );
    });
    assert_changes("the default cpu", [true, false], |s| {
        s.write(
            "main",
            "cpus.yaml",
            "default: znver3\nznver3:\n  arch: amd64\n  cflags: -O2 -march=znver3\na72:\n  arch: arm64\n",
        );
    });
}

#[test]
fn against_an_earlier_plan_says_why() {
    let site = Site::standard(TUPLES);
    let first = site.plan();
    site.write("main", "sets/base", "app-misc/hello\n");
    site.write("main", "tuples", "desktop-none-kde\nserver-nodocs-web\n");
    let mut second = site.plan();
    let earlier = zentoo::plan::parse_earlier(&serde_json::to_string(&first).unwrap()).unwrap();
    second.compare_with(&earlier);

    let by_name = |n: &str| second.images.iter().find(|i| i.name == n).unwrap();
    assert!(by_name("desktop-none-kde").changed);
    assert_eq!(
        by_name("desktop-none-kde").reasons,
        ["set kde changed via @base"]
    );
    assert_eq!(by_name("server-nodocs-web").reasons, ["new tuple"]);
    assert_eq!(second.removed, ["znver3-server-nodocs-web"]);
}
