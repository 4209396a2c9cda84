//! The set parser and atom checker, and set include resolution over several files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use zentoo::site::TextFile;
use zentoo::plan::limits::{MAX_PLANNED_ATOMS, MAX_SET_ATOMS};
use zentoo::site::sets::{AtomLimits, SetResolver, parse_set};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().count() as u32;
    let (_, errors) = parse_set("sets/x", text);
    for e in &errors {
        assert!(e.line.is_some_and(|l| l >= 1 && l <= lines), "{e}");
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }
    // The input split at NUL into sets a, b, c, ... that may include each other.
    let files: BTreeMap<String, TextFile> = text
        .split('\0')
        .take(26)
        .enumerate()
        .map(|(i, body)| {
            let name = ((b'a' + i as u8) as char).to_string();
            let file = TextFile {
                path: format!("sets/{name}"),
                id: format!("blob-{name}"),
                text: Ok(body.to_string()),
            };
            (name, file)
        })
        .collect();
    let limits = AtomLimits {
        per_set: MAX_SET_ATOMS,
        in_all: MAX_PLANNED_ATOMS,
    };
    let mut resolver = SetResolver::new(&files, limits);
    for name in files.keys() {
        if let Ok(set) = resolver.resolve(name) {
            assert!(set.blobs.contains_key(name));
        }
    }
    let _ = resolver.into_errors();
});
