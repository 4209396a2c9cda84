//! The tuples parser: never panics; every error names a line of the input and stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zentoo::site::tuples::parse_tuples;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (tuples, errors) = parse_tuples("tuples", text);
    let lines = text.lines().count() as u32;
    for t in &tuples {
        assert!(t.line >= 1 && t.line <= lines);
        assert!(matches!(t.name.split('-').count(), 3 | 4), "{:?}", t.name);
    }
    for e in &errors {
        assert!(e.line.is_some_and(|l| l >= 1 && l <= lines), "{e}");
        let shown = e.to_string();
        assert!(shown.chars().count() <= 2048, "{} chars", shown.len());
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
});
