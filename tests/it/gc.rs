//! `zentoo gc` on the named volumes of a site built locally with the test stage3: the dry run
//! lists exactly the binary packages no kept build used, and a real run frees them while a
//! build runs, without breaking it.

use crate::support;

use crate::support::local_site::{Background, Site, counts, parse_build, stage3};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use zentoo::plan::build::Volume;
use zentoo::site::write::Change;

/// The PKGDIR of the amd64 tuples with CFLAGS "-O2 -pipe" (see crates/zentoo-binpkgs/src/binhost).
const PKGDIR: &str = "x86_64-pc-linux-gnu/204a6c5b96ec5bf3";

fn mountpoint(volume: &str) -> PathBuf {
    let out = Command::new("podman")
        .args(["volume", "inspect", volume, "--format", "{{.Mountpoint}}"])
        .output()
        .expect("podman volume inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn gc(site: &Site, args: &[&str]) -> Value {
    let mut all = vec!["gc", "--grace", "0s", "--output", "json"];
    all.extend_from_slice(args);
    let out = site.zentoo(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The binpkg paths (PKGDIR-relative) a gc report removes, or would.
fn binpkgs(report: &Value) -> BTreeSet<String> {
    report["plan"]["binpkgs"]
        .as_array()
        .expect("binpkgs")
        .iter()
        .map(|r| {
            assert_eq!(r["pkgdir"], PKGDIR, "{r}");
            r["path"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn set(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

fn base_use(site: &Site, files: &[(&str, &str)]) {
    let changes: Vec<Change<'_>> = files.iter().map(|(p, c)| Change::file(p, c)).collect();
    site.commit("portage/base", &changes);
}

fn wait_for(path: &Path, what: &str) {
    for _ in 0..1200 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: {} never appeared", path.display());
}

const NANO1: &str = "app-editors/nano/nano-7.2-1.gpkg.tar";
const NANO2: &str = "app-editors/nano/nano-7.2-2.gpkg.tar";
const NCURSES1: &str = "sys-libs/ncurses/ncurses-6.4_p20230401-1.gpkg.tar";
const NCURSES2: &str = "sys-libs/ncurses/ncurses-6.4_p20230401-2.gpkg.tar";
const HELLO1: &str = "app-misc/hello/hello-2.12.1-1.gpkg.tar";

#[test]
fn gc_lists_exactly_the_unreferenced_binpkgs_and_frees_them_while_a_build_runs() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("gc_lists_exactly_the_unreferenced_binpkgs") else {
        return;
    };
    let site = Site::new(stage3);
    // b1: base as the example has it (nano -spell).
    let (code, b1) = site.build(&["base-none-base"]);
    assert_eq!(code, 0, "{b1:?}");
    // base's 4 packages and @system's 2 (baselayout, glibc), compiled by real Portage.
    assert_eq!(counts(&b1["base-none-base"]), (6, 0));
    // b2: other USE for nano and ncurses: both rebuilt, as new instances (id 2).
    base_use(
        &site,
        &[
            ("package.use/nano", "app-editors/nano spell\n"),
            ("package.use/ncurses", "sys-libs/ncurses debug\n"),
        ],
    );
    let (code, b2) = site.build(&["base-none-base"]);
    assert_eq!(code, 0, "{b2:?}");
    assert_eq!(counts(&b2["base-none-base"]), (2, 2));
    let pkgdir = mountpoint(&site.volume(Volume::Binpkgs)).join(PKGDIR);
    for p in [NANO1, NANO2, NCURSES1, NCURSES2, HELLO1] {
        assert!(pkgdir.join(p).is_file(), "{p}");
    }

    // Dry run: with one build kept per image, exactly b1's own instances go; nothing is removed.
    let dry = gc(&site, &["--dry-run", "--keep", "1"]);
    assert_eq!(binpkgs(&dry), set(&[NANO1, NCURSES1]), "{dry:#}");
    let size = |p: &str| std::fs::metadata(pkgdir.join(p)).expect("size").len();
    assert_eq!(dry["bytes"], size(NANO1) + size(NCURSES1), "{dry:#}");
    assert_eq!(
        dry["plan"]["distfiles"],
        serde_json::json!([]),
        "all 4 still belong to b2's packages"
    );
    assert_eq!(dry["plan"]["records"].as_array().map(Vec::len), Some(1));
    assert!(dry["applied"].is_null());
    assert!(pkgdir.join(NANO1).is_file(), "a dry run removes nothing");
    let table = site.zentoo(&["gc", "--dry-run", "--keep", "1", "--grace", "0s"]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(table.contains(&format!("{PKGDIR}/{NANO1}")), "{table}");
    assert!(table.contains("would remove 2 binary packages"), "{table}");
    // Two kept builds keep everything.
    assert_eq!(binpkgs(&gc(&site, &["--dry-run", "--keep", "2"])), set(&[]));

    // b3 goes back to nano -spell (b1's nano-7.2-1, which only the dropped b1 names), keeps
    // ncurses debug, and recompiles hello (nls); a bashrc (Portage sources /etc/portage/bashrc
    // in every phase) holds hello's compile phase until gc has run.
    base_use(
        &site,
        &[
            ("package.use/nano", "app-editors/nano -spell\n"),
            ("package.use/hello", "app-misc/hello nls\n"),
            (
                "bashrc",
                "if [ \"$EBUILD_PHASE\" = compile ] && [ \"$PN\" = hello ]; then\n\
                 \td=${PORTAGE_ACTUAL_DISTDIR:-$DISTDIR}; touch \"$d/.test-waiting\"; i=0\n\
                 \twhile [ ! -e \"$d/.test-go\" ] && [ $i -lt 1200 ]; do i=$((i + 1)); sleep 0.1; done\n\
                 fi\n",
            ),
        ],
    );
    let distdir = mountpoint(&site.volume(Volume::Distfiles));
    let build = Background::spawn(
        site.command(&["build", "base-none-base", "--output", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    wait_for(&distdir.join(".test-waiting"), "the build's compile phase");
    // (Builds and gc share this machine's clock here: no skew margin.)
    let run = gc(&site, &["--keep", "1", "--clock-skew", "0s"]);
    std::fs::write(distdir.join(".test-go"), "").expect("release the build");
    let out = build.wait_with_output();
    let (code, b3) = parse_build(&out);

    // gc ran while b3 held its lease, which holds every instance its PKGDIR had when it began
    // (what emerge takes from them is known only once it ran): nothing was freed, not even
    // ncurses-1, which no kept build names.
    assert_eq!(
        run["plan"]["running"].as_array().map(Vec::len),
        Some(1),
        "{run:#}"
    );
    assert_eq!(binpkgs(&run), set(&[]), "{run:#}");
    assert_eq!(code, 0, "b3 was not broken: {b3:?}");
    assert_eq!(counts(&b3["base-none-base"]), (1, 3));
    assert!(pkgdir.join(NCURSES1).is_file() && pkgdir.join(NANO1).is_file());
    assert!(
        !mountpoint(&site.volume(Volume::Binpkgs))
            .join(".zentoo/leases")
            .read_dir()
            .expect("leases")
            .any(|_| true),
        "b3 released its lease"
    );

    // Now b3 is the one kept build: what b3 used (nano-1, ncurses-2, and @system) stays; b2's own
    // instances and ncurses-1 go.
    let run = gc(&site, &["--keep", "1"]);
    assert_eq!(binpkgs(&run), set(&[NCURSES1, NANO2, HELLO1]), "{run:#}");
    assert_eq!(run["applied"]["binpkgs"], 3, "{run:#}");
    assert_eq!(run["applied"]["bytes"], run["bytes"]);
    assert!(!pkgdir.join(NCURSES1).exists() && pkgdir.join(NANO1).is_file());
    assert!(!pkgdir.join(NANO2).exists() && !pkgdir.join(HELLO1).exists());
    let index = std::fs::read_to_string(pkgdir.join("Packages")).expect("index");
    assert!(!index.contains(NCURSES1), "the index dropped it: {index}");
    assert!(index.contains(NANO1), "{index}");
    let entries = index.matches("\nCPV: ").count();
    assert!(index.contains(&format!("PACKAGES: {entries}\n")), "{index}");

    // The kept build's image still assembles from what gc left: nothing it needs was deleted.
    let (code, again) = site.build(&["base-none-base", "--force"]);
    assert_eq!(code, 0, "{again:?}");
    assert_eq!(counts(&again["base-none-base"]), (0, 4));
}
