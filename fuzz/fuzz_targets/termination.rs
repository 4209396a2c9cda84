//! The publish step's termination message as the controller reads it back, and the writer's
//! bound: whatever image reference and tarball path a result holds, its message stays within
//! 4 KiB, keeps both digests and parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zentoo::plan::result::{BuildResult, TERMINATION_MESSAGE_MAX};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = BuildResult::parse(&text);
    let (image, tarball) = text.split_once('\0').unwrap_or((&text, ""));
    let result = BuildResult {
        image: Some(image.to_string()),
        image_digest: Some(format!("sha256:{}", "a".repeat(64))),
        tarball: (!tarball.is_empty()).then(|| tarball.to_string()),
        tarball_digest: Some(format!("sha256:{}", "b".repeat(64))),
        ..BuildResult::default()
    };
    let message = result.termination_message();
    assert!(message.len() <= TERMINATION_MESSAGE_MAX, "{}", message.len());
    let back = BuildResult::parse(&message).expect("its own message parses");
    assert_eq!(back.image_digest, result.image_digest);
    assert_eq!(back.tarball_digest, result.tarball_digest);
});
