//! The step scripts judge names by the same rule as the planner (`site::names`): the shipped
//! common.sh, run by real shells, against the Rust functions, name by name.

use super::SCRIPTS;
use crate::site::names::{is_valid_image_name, is_valid_name};

/// Names the build steps and the planner must judge alike.
fn table() -> Vec<String> {
    let mut names: Vec<String> = [
        "desktop",
        "znver3",
        "hep_2.0",
        "c++",
        "A.b_C+1",
        "_x",
        "+x",
        "x.",
        "9",
        "",
        ".",
        "..",
        ".zen",
        "..x",
        "a-b",
        "-a",
        "a-",
        "a/b",
        "a b",
        "a\tb",
        "a\nb",
        "ü",
        "a$b",
        "a*",
        "*",
        "[a]",
        "a?",
        "a\\b",
        "a'b",
        "a\"b",
        "a`b",
        "a;b",
        "~a",
        "a@b",
        "@a",
        "a:b",
        "a=b",
        "a,b",
        "a%b",
        "a\u{1b}[31mb",
        "zen-server-none-web",
        ".zen-server-none-web",
        "zen-.x-none-web",
        "zen--web",
    ]
    .map(String::from)
    .to_vec();
    names.push("x".repeat(300));
    names
}

/// What `valid_name` / `valid_image_name` of the shipped common.sh say of each name of
/// `names`, run by `shell`; `None` when there is no such shell.
fn shell_verdicts(shell: &str, function: &str, names: &[String]) -> Option<Vec<bool>> {
    let common = SCRIPTS
        .iter()
        .find(|(name, _)| *name == "common.sh")
        .map(|(_, text)| *text)
        .expect("common.sh is shipped");
    let script = format!(
        "{common}\nshift\nfor n in \"$@\"; do if {function} \"$n\"; then echo y; else echo n; fi; done\n"
    );
    let out = std::process::Command::new(shell)
        .arg("-c")
        .arg(script)
        .arg(shell)
        .arg("--")
        .args(names)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .ok()?;
    assert!(out.status.success(), "{shell}: {out:?}");
    let verdicts: Vec<bool> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l == "y")
        .collect();
    assert_eq!(verdicts.len(), names.len(), "{shell}: {out:?}");
    Some(verdicts)
}

#[test]
fn the_build_steps_and_the_planner_judge_names_alike() {
    let names = table();
    let mut shells = 0;
    for shell in ["sh", "bash"] {
        for (function, rust) in [
            ("valid_name", is_valid_name as fn(&str) -> bool),
            ("valid_image_name", is_valid_image_name),
        ] {
            let Some(verdicts) = shell_verdicts(shell, function, &names) else {
                continue;
            };
            shells += 1;
            for (name, shell_says) in names.iter().zip(verdicts) {
                assert_eq!(shell_says, rust(name), "{shell} {function} {name:?}");
            }
        }
    }
    assert!(shells >= 2, "no POSIX shell to run common.sh with");
    assert!(names.iter().any(|n| is_valid_name(n)) && names.iter().any(|n| !is_valid_name(n)));
}
