//! `zentoo completions SHELL`: the script each shell gets, and the bash one completing
//! subcommands, flags and values for real in `bash`.

use std::process::{Command, Output};

fn zentoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(args)
        .output()
        .expect("run zentoo")
}

/// The script `zentoo completions SHELL` prints.
fn script(shell: &str) -> String {
    let out = zentoo(&["completions", shell]);
    assert!(
        out.status.success(),
        "zentoo completions {shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// What bash's `_zentoo` completion function offers for the last of `words` (the word being
/// typed; `""` after a space), the bash script sourced in a real `bash`.
fn bash_complete(script_path: &std::path::Path, words: &[&str]) -> Vec<String> {
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(
            r#"source "$1" || exit 90
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_zentoo "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(script_path)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash completing {words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zentoo.bash");
    std::fs::write(&path, script("bash")).expect("write the script");

    for (words, want) in [
        (&["zentoo", "re"][..], &["reconcile"][..]),
        (
            &["zentoo", "reconcile", ""],
            &["-h", "--help", "site", "image", "help"],
        ),
        (&["zentoo", "gc", "--dry"], &["--dry-run"]),
        (&["zentoo", "completions", "f"], &["fish"]),
        (&["zentoo", "completions", "z"], &["zsh"]),
    ] {
        let mut got = bash_complete(&path, words);
        let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "completing {words:?}");
    }
    // Nothing for a prefix no subcommand has.
    assert_eq!(
        bash_complete(&path, &["zentoo", "qq"]),
        Vec::<String>::new()
    );
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = script(shell);
        for word in ["reconcile", "completions", "dry-run"] {
            assert!(text.contains(word), "{shell} script lacks {word}");
        }
    }
    let unknown = zentoo(&["completions", "tcsh"]);
    assert!(!unknown.status.success(), "tcsh was accepted");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("possible values"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}
