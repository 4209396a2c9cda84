//! The tuple, set, atom and cpus.yaml parsers never panic, whatever they are given, and every
//! error they report names a line of the input.

use proptest::prelude::*;
use zentoo::site::atom::atom_problem;
use zentoo::site::cpus::parse_cpus;
use zentoo::site::sets::parse_set;
use zentoo::site::tuples::parse_tuples;

/// Text made mostly of the characters these files hold, so inputs get past the first check.
fn site_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-a-z0-9_.+@#:/=<>~*\\[\\](),!? \t\n]{0,200}",
        "([a-z0-9]{1,6}(-[a-z0-9]{1,6}){2,3}( #.*)?\n){0,8}",
    ]
}

fn yaml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9_:{}\\[\\],\"' \n&*!|>-]{0,200}",
        "(default: [a-z0-9]{1,5}\n)?([a-z0-9]{1,6}:\n(  (arch|chost|cflags|cxxflags|cpu_flags|x): [a-zA-Z0-9 {}:-]{0,20}\n){0,5}){0,4}",
    ]
}

fn lines_in(text: &str) -> u32 {
    u32::try_from(text.lines().count()).unwrap_or(u32::MAX)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn tuples_parser(text in site_text()) {
        let (tuples, errors) = parse_tuples("tuples", &text);
        for t in &tuples {
            prop_assert!(!t.name.contains('-') || t.name.split('-').count() >= 3);
        }
        for e in errors {
            prop_assert!(e.line.is_some_and(|l| l >= 1 && l <= lines_in(&text)));
        }
    }

    #[test]
    fn set_parser(text in site_text()) {
        let (_, errors) = parse_set("sets/x", &text);
        for e in errors {
            prop_assert!(e.line.is_some_and(|l| l >= 1 && l <= lines_in(&text)));
        }
    }

    #[test]
    fn atom_checker(atom in site_text()) {
        let _ = atom_problem(&atom);
    }

    #[test]
    fn cpus_parser(text in yaml_text()) {
        let (cpus, errors) = parse_cpus(Some(("cpus.yaml", &Ok(text.clone()))));
        // Whatever was accepted is safe to write into make.conf and names a known arch.
        for profile in cpus.profiles.values() {
            prop_assert!(zentoo::site::cpus::arch(&profile.arch).is_some());
            for flags in [&profile.cflags, &profile.cxxflags, &profile.chost] {
                prop_assert!(!flags.contains(['"', '$', '`', '\\', '\n', ';']), "{flags:?}");
            }
        }
        for e in errors {
            prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= lines_in(&text) + 1), "{e}");
        }
    }
}
