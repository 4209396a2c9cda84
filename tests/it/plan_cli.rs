//! `zentoo plan` and `zentoo site init` as a user runs them.

use crate::support::site::Site;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use zentoo::site::write::Change;

fn zentoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(args)
        .output()
        .expect("run zentoo")
}

fn plan_json(site: &Path, against: Option<&Path>) -> (i32, Value) {
    let site = site.to_str().unwrap();
    let mut args = vec!["plan", "--site", site, "--output", "json"];
    if let Some(p) = against {
        args.extend(["--against", p.to_str().unwrap()]);
    }
    let out = zentoo(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn site_init_then_plan_works_for_a_new_user() {
    let dir = tempfile::TempDir::new().unwrap();
    let site = dir.path().join("s");
    let out = zentoo(&["site", "init", site.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(site.join("tuples").is_file(), "main is checked out");

    let out = zentoo(&["plan", "--site", site.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    for want in [
        "NAME",
        "base-none-base",
        "server-nodocs-web",
        "znver3-server-nodocs-web",
        "3 images, 3 to build",
    ] {
        assert!(table.contains(want), "{want} missing in\n{table}");
    }

    let again = zentoo(&["site", "init", site.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "never overwrites an existing site"
    );
}

#[test]
fn json_has_the_documented_shape() {
    let site = Site::standard("desktop-none-kde\nznver3-server-nodocs-web\n");
    let (code, plan) = plan_json(site.path(), None);
    assert_eq!(code, 0);
    assert_eq!(plan["revision"].as_str().unwrap().len(), 40);
    let image = &plan["images"][0];
    for key in [
        "name",
        "cpu",
        "arch",
        "portage",
        "buildhooks",
        "set",
        "atoms",
        "inputs",
        "inputsDigest",
        "changed",
        "reasons",
    ] {
        assert!(image.get(key).is_some(), "images[].{key} missing: {image}");
    }
    assert_eq!(image["buildhooks"], Value::Null);
    assert_eq!(image["changed"], true);
    assert_eq!(image["reasons"][0], "no earlier plan");
    assert_eq!(plan["images"][1]["buildhooks"], "nodocs");
    assert_eq!(plan["removed"], Value::Array(vec![]));
}

#[test]
fn exit_codes_tell_errors_from_fatal_problems() {
    let site = Site::standard("desktop-none-kde\nnosuch-none-kde\n");
    let (code, plan) = plan_json(site.path(), None);
    assert_eq!(code, 1, "some tuples had errors, the plan is still printed");
    assert_eq!(plan["images"].as_array().unwrap().len(), 1);
    assert_eq!(plan["errors"][0]["file"], "tuples");
    assert_eq!(plan["errors"][0]["line"], 2);
    assert_eq!(plan["errors"][0]["field"], "portage");

    let out = zentoo(&["plan", "--site", site.path().to_str().unwrap()]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("tuples:2: portage: no branch portage/nosuch"),
        "{table}"
    );

    let tmp = tempfile::TempDir::new().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--site".into(), "/nonexistent/site".into()],
            "no such directory",
        ),
        (
            vec!["--site".into(), tmp.path().display().to_string()],
            "not a git repository",
        ),
        (
            vec![
                "--site".into(),
                site.path().display().to_string(),
                "--against".into(),
                "/nonexistent.json".into(),
            ],
            "--against /nonexistent.json",
        ),
        (
            vec![
                "--site".into(),
                site.path().display().to_string(),
                "--ref".into(),
                "nope".into(),
            ],
            "no branch or ref",
        ),
    ];
    for (args, why) in cases {
        let mut full = vec!["plan".to_string()];
        full.extend(args);
        let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
            .args(&full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(why), "{full:?}: {stderr}");
    }

    let garbage = tmp.path().join("plan.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let out = zentoo(&[
        "plan",
        "--site",
        site.path().to_str().unwrap(),
        "--against",
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// A series of pushes; after each, `--against` the previous plan marks exactly what changed.
#[test]
fn push_by_push_against_the_previous_plan() {
    let site = Site::standard("desktop-none-kde\nserver-nodocs-web\na72-server-none-web\n");
    let dir = tempfile::TempDir::new().unwrap();
    let saved = dir.path().join("plan.json");
    let (_, first) = plan_json(site.path(), None);
    std::fs::write(&saved, first.to_string()).unwrap();

    type Push = Box<dyn Fn(&Site)>;
    type Changed = Vec<(&'static str, &'static str)>;
    let pushes: Vec<(&str, Push, Changed, Vec<&str>)> = vec![
        (
            "nothing consumed",
            Box::new(|s| {
                s.write("portage/unused", "make.conf", "");
            }),
            vec![],
            vec![],
        ),
        (
            "server config",
            Box::new(|s| {
                s.write(
                    "portage/server",
                    "package.use/nginx",
                    "www-servers/nginx ssl\n",
                );
            }),
            vec![
                ("a72-server-none-web", "portage/server tree changed"),
                ("server-nodocs-web", "portage/server tree changed"),
            ],
            vec![],
        ),
        (
            "hooks",
            Box::new(|s| {
                s.commit(
                    "buildhooks/nodocs",
                    &[Change::exec("post-build", "#!/bin/sh\n")],
                );
            }),
            vec![("server-nodocs-web", "buildhooks/nodocs tree changed")],
            vec![],
        ),
        (
            "a72 cflags",
            Box::new(|s| {
                s.write("main", "cpus.yaml", "znver3:\n  arch: amd64\n  cflags: -O2 -march=znver3\na72:\n  arch: arm64\n  cflags: -O2 -mcpu=cortex-a72\n");
            }),
            vec![("a72-server-none-web", "cpu a72 changed (cflags, cxxflags)")],
            vec![],
        ),
        (
            "new and removed tuples",
            Box::new(|s| {
                s.write(
                    "main",
                    "tuples",
                    "desktop-none-kde\nserver-nodocs-web\nserver-none-base\n",
                );
            }),
            vec![("server-none-base", "new tuple")],
            vec!["a72-server-none-web"],
        ),
        (
            "an included set",
            Box::new(|s| {
                s.write("main", "sets/base", "app-misc/hello\n");
            }),
            vec![
                ("desktop-none-kde", "set kde changed via @base"),
                ("server-nodocs-web", "set web changed via @base"),
                ("server-none-base", "set base changed"),
            ],
            vec![],
        ),
        (
            "a tuple broken by a bad set is not removed",
            Box::new(|s| {
                s.write("main", "sets/web", "@base\nnginx\n");
            }),
            vec![],
            vec![],
        ),
    ];
    for (what, push, expected, removed) in pushes {
        push(&site);
        let (_, plan) = plan_json(site.path(), Some(&saved));
        let changed: Vec<(String, String)> = plan["images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["changed"] == true)
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(changed, expected, "after push: {what}");
        assert_eq!(
            plan["removed"],
            serde_json::json!(removed),
            "after push: {what}"
        );
        std::fs::write(&saved, plan.to_string()).unwrap();
    }
}
