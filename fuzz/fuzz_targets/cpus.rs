//! cpus.yaml: never panics; whatever it accepts is safe to write into make.conf.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zentoo::site::cpus::{arch, parse_cpus};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (cpus, errors) = parse_cpus(Some(("cpus.yaml", &Ok(text.to_string()))));
    for profile in cpus.profiles.values() {
        assert!(arch(&profile.arch).is_some());
        for value in [&profile.cflags, &profile.cxxflags, &profile.chost] {
            assert!(!value.contains(['"', '$', '`', '\\', '\n', ';']), "{value:?}");
        }
    }
    for e in &errors {
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }
});
