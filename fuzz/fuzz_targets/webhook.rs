//! Webhook deliveries: `verify` over any body (correctly signed, so the payload is read) and
//! any provider headers; `concerns` over whatever ref it yields.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use zentoo::controller::webhook::verify::{Kind, concerns, sign, verify};

const SECRET: &[u8] = b"fuzz";

fuzz_target!(|data: &[u8]| {
    // First byte: provider; the rest is the body.
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let signature = sign(SECRET, body);
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("x"));
    match which % 4 {
        0 => {
            headers.insert("x-github-event", HeaderValue::from_static("push"));
            headers.insert("x-hub-signature-256", value(&format!("sha256={signature}")));
        }
        1 => {
            headers.insert("x-gitlab-event", HeaderValue::from_static("Push Hook"));
            headers.insert("x-gitlab-token", value("fuzz"));
        }
        2 => {
            headers.insert("x-gitea-event", HeaderValue::from_static("push"));
            headers.insert("x-gitea-signature", value(&signature));
        }
        _ => {
            headers.insert("x-zentoo-signature", value(&format!("sha256={signature}")));
        }
    }
    if let Ok(event) = verify(&headers, body, SECRET)
        && let Kind::Push { git_ref, default_branch } = event.kind
    {
        let _ = concerns(&git_ref, None, default_branch.as_deref(), "portage/", "buildhooks/");
        let _ = concerns(&git_ref, Some("main"), None, "p/", "b/");
    }
    // The same body with a wrong signature is always refused.
    assert!(verify(&headers, body, b"other").is_err() || which % 4 == 1);
});
