//! Every kind of site problem is reported with file, line and field, and stops only its tuple.

use crate::support::site::{Site, names};
use zentoo::site::write::Change;
use zentoo::site::{ReadOptions, SiteRepo};

fn error_at<'a>(
    plan: &'a zentoo::plan::SitePlan,
    file: &str,
    line: u32,
) -> Vec<&'a zentoo::site::SiteError> {
    plan.errors
        .iter()
        .filter(|e| e.file == file && e.line == Some(line))
        .collect()
}

#[test]
fn each_bad_tuple_is_reported_and_the_good_ones_are_still_planned() {
    let site = Site::standard(
        "desktop-none-kde\n\
         znver9-desktop-none-kde\n\
         nosuch-none-kde\n\
         desktop-nohooks-kde\n\
         desktop-none-nosuchset\n\
         desktop-none\n\
         desk/top-none-kde\n\
         desktop-none-kde\n\
         amd64-desktop-none-kde\n\
         server-nodocs-web\n",
    );
    let plan = site.plan();
    assert_eq!(names(&plan), ["desktop-none-kde", "server-nodocs-web"]);

    let expect = [
        (2, "cpu", "unknown cpu `znver9`"),
        (
            3,
            "portage",
            "no branch portage/nosuch (branches under portage/: desktop, server)",
        ),
        (4, "buildhooks", "no branch buildhooks/nohooks"),
        (5, "set", "no set `nosuchset`"),
        (6, "tuple", "2 fields"),
        (7, "portage", "'/'"),
        (8, "tuple", "duplicate of line 1"),
        (9, "tuple", "duplicate of line 1 (`desktop-none-kde`"),
    ];
    for (line, field, text) in expect {
        let at = error_at(&plan, "tuples", line);
        assert_eq!(at.len(), 1, "line {line}: {at:?}");
        assert_eq!(at[0].field, field, "line {line}");
        assert!(
            at[0].message.contains(text),
            "line {line}: {}",
            at[0].message
        );
    }
    assert_eq!(plan.errors.len(), expect.len(), "{:#?}", plan.errors);
    let shown = plan.errors[0].to_string();
    assert!(
        shown.starts_with("tuples:2: cpu: unknown cpu `znver9`"),
        "{shown}"
    );
}

#[test]
fn a_bad_set_stops_only_the_tuples_that_use_it() {
    let site = Site::standard("desktop-none-kde\nserver-none-web\n");
    site.write("main", "sets/kde", "@base\nplasma-meta\n");
    let plan = site.plan();
    assert_eq!(names(&plan), ["server-none-web"]);
    let set_error = error_at(&plan, "sets/kde", 2);
    assert_eq!(set_error.len(), 1);
    assert_eq!(set_error[0].field, "atom");
    let tuple_error = error_at(&plan, "tuples", 1);
    assert_eq!(tuple_error[0].field, "set");
    assert!(
        tuple_error[0].message.contains("sets/kde:2"),
        "{}",
        tuple_error[0].message
    );
    assert_eq!(tuple_error[0].tuple.as_deref(), Some("desktop-none-kde"));
}

#[test]
fn include_cycles_are_reported_once_with_their_path() {
    let site = Site::standard("desktop-none-kde\nserver-none-web\n");
    site.write("main", "sets/base", "@kde\napp-misc/hello\n");
    let plan = site.plan();
    assert!(plan.images.is_empty(), "both sets include the cycle");
    let cycles: Vec<_> = plan
        .errors
        .iter()
        .filter(|e| e.file.starts_with("sets/"))
        .collect();
    assert_eq!(cycles.len(), 1, "{:#?}", plan.errors);
    assert_eq!(cycles[0].message, "include cycle: @kde -> @base -> @kde");
    assert_eq!(
        (cycles[0].file.as_str(), cycles[0].line),
        ("sets/base", Some(1))
    );
}

#[test]
fn portage_sets_pass_through_and_includes_expand_in_order() {
    let site = Site::standard("server-none-web\n");
    let plan = site.plan();
    let atoms: Vec<&str> = plan.images[0].atoms.iter().map(|a| &**a).collect();
    assert_eq!(atoms, ["app-misc/hello", "@system", "www-servers/nginx"]);
}

#[test]
fn cpus_yaml_problems_stop_only_tuples_using_that_cpu() {
    let site = Site::standard("znver3-desktop-none-kde\na72-server-none-web\nserver-none-web\n");
    site.write(
        "main",
        "cpus.yaml",
        "znver3:\n  arch: amd64\n  cflgs: -O3\na72:\n  arch: arm64\n",
    );
    let plan = site.plan();
    assert_eq!(names(&plan), ["a72-server-none-web", "server-none-web"]);
    let yaml = error_at(&plan, "cpus.yaml", 3);
    assert_eq!(yaml[0].field, "znver3.cflgs");
    let tuple = error_at(&plan, "tuples", 1);
    assert!(
        tuple[0].message.contains("cpus.yaml:3"),
        "{}",
        tuple[0].message
    );
}

#[test]
fn a_broken_cpus_yaml_stops_tuples_relying_on_the_default_cpu() {
    let site = Site::standard("desktop-none-kde\narm64-server-none-web\n");
    site.write(
        "main",
        "cpus.yaml",
        "default: znver3\nznver3: {arch: amd64\n",
    );
    let plan = site.plan();
    assert_eq!(
        names(&plan),
        ["arm64-server-none-web"],
        "built-in cpus still work"
    );
    assert!(
        error_at(&plan, "tuples", 1)[0]
            .message
            .contains("default cpu is unknown")
    );
}

#[test]
fn oversized_non_utf8_and_symlinked_sets_are_errors_not_panics() {
    let site = Site::standard("desktop-none-kde\nserver-none-web\ndesktop-none-base\n");
    let big = "a/b\n".repeat(300_000);
    site.commit(
        "main",
        &[
            Change::file("sets/kde", &big),
            Change::File {
                path: "sets/web",
                content: b"\xff\xfe",
                executable: false,
            },
            Change::Symlink {
                path: "sets/base",
                target: "/etc/passwd",
            },
        ],
    );
    let plan = site.plan();
    assert!(plan.images.is_empty());
    let messages: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
    for want in [
        "sets/kde: set: is 1200000 bytes",
        "sets/web: set: is not UTF-8",
        "sets/base: set: is a symbolic link",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(want)),
            "{want} not in {messages:#?}"
        );
    }
}

#[test]
fn bare_repositories_and_other_refs_and_prefixes_work() {
    let site = Site::bare();
    site.write("config/portage/desktop", "make.conf", "");
    site.write("hooks/x", "pre-build", "");
    site.write("main", "tuples", "desktop-x-kde\n");
    site.write("main", "sets/kde", "kde-plasma/plasma-meta\n");
    site.write("staging", "tuples", "desktop-none-kde\n");
    site.write("staging", "sets/kde", "kde-plasma/plasma-meta\n");

    let repo = SiteRepo::open(site.path()).expect("open bare");
    let options = ReadOptions {
        tracked_ref: None,
        prefixes: zentoo::site::Prefixes::new("config/portage", "hooks").expect("prefixes"),
    };
    let snapshot = repo.snapshot(&options).expect("snapshot");
    assert_eq!(snapshot.tracked_ref, "refs/heads/main");
    let plan = zentoo::plan::plan_site(&snapshot, &Default::default());
    assert_eq!(names(&plan), ["desktop-x-kde"], "{:?}", plan.errors);
    assert_eq!(
        plan.images[0].inputs.portage.branch,
        "config/portage/desktop"
    );

    let staging = site.plan_with(&ReadOptions {
        tracked_ref: Some("staging".into()),
        ..options
    });
    assert_eq!(names(&staging), ["desktop-none-kde"]);
}

#[test]
fn unreadable_sites_are_fatal_with_a_reason() {
    let empty = Site::new();
    let err = SiteRepo::open(empty.path())
        .unwrap()
        .snapshot(&ReadOptions::default())
        .err();
    assert!(err.unwrap().to_string().contains("no commits yet"));

    let site = Site::standard("desktop-none-kde\n");
    site.commit("main", &[Change::Remove("tuples")]);
    let err = SiteRepo::open(site.path())
        .unwrap()
        .snapshot(&ReadOptions::default())
        .err();
    assert!(err.unwrap().to_string().contains("no `tuples` file"));

    let err = SiteRepo::open(site.path())
        .unwrap()
        .snapshot(&ReadOptions {
            tracked_ref: Some("nosuch".into()),
            ..Default::default()
        })
        .err();
    assert!(
        err.unwrap()
            .to_string()
            .contains("no branch or ref `nosuch`")
    );

    let not_git = tempfile::TempDir::new().unwrap();
    let err = SiteRepo::open(not_git.path()).err().unwrap().to_string();
    assert!(err.contains("not a git repository"), "{err}");
}
