use super::*;
use http::HeaderValue;

const SECRET: &[u8] = b"s3cret";
const PUSH: &[u8] =
    br#"{"ref":"refs/heads/portage/desktop","repository":{"default_branch":"main"}}"#;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).expect("header value"));
    }
    h
}

fn github(body: &[u8], event: &str) -> HeaderMap {
    headers(&[
        ("x-github-event", event),
        ("x-github-delivery", "d-1"),
        (
            "x-hub-signature-256",
            &format!("sha256={}", sign(SECRET, body)),
        ),
    ])
}

#[test]
fn a_signed_github_push_is_accepted() {
    let event = verify(&github(PUSH, "push"), PUSH, SECRET).expect("verified");
    assert_eq!(
        event,
        Event {
            provider: Provider::GitHub,
            delivery: Some("d-1".into()),
            kind: Kind::Push {
                git_ref: "refs/heads/portage/desktop".into(),
                default_branch: Some("main".into()),
            },
        }
    );
}

#[test]
fn a_github_ping_is_a_ping() {
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let event = verify(&github(body, "ping"), body, SECRET).expect("verified");
    assert_eq!(event.kind, Kind::Ping);
}

#[test]
fn a_wrong_signature_is_unauthorized() {
    let mut h = github(PUSH, "push");
    h.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&format!("sha256={}", sign(b"other", PUSH))).expect("value"),
    );
    assert_eq!(verify(&h, PUSH, SECRET), Err(Reject::Unauthorized));
    // Same signature, body changed by one byte.
    let mut tampered = PUSH.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        verify(&github(PUSH, "push"), &tampered, SECRET),
        Err(Reject::Unauthorized)
    );
}

#[test]
fn a_missing_or_mangled_signature_is_unauthorized() {
    let bare = headers(&[("x-github-event", "push")]);
    assert_eq!(verify(&bare, PUSH, SECRET), Err(Reject::Unauthorized));
    assert_eq!(
        verify(&HeaderMap::new(), PUSH, SECRET),
        Err(Reject::Unauthorized)
    );
    let sig = sign(SECRET, PUSH);
    for bad in [sig.clone(), format!("sha1={sig}"), "sha256=zz".into()] {
        let h = headers(&[("x-github-event", "push"), ("x-hub-signature-256", &bad)]);
        assert_eq!(verify(&h, PUSH, SECRET), Err(Reject::Unauthorized), "{bad}");
    }
}

#[test]
fn an_empty_secret_lets_nobody_in() {
    let h = headers(&[
        ("x-github-event", "push"),
        (
            "x-hub-signature-256",
            &format!("sha256={}", sign(b"", PUSH)),
        ),
    ]);
    assert_eq!(verify(&h, PUSH, b""), Err(Reject::Unauthorized));
}

#[test]
fn truncated_json_with_a_good_signature_is_malformed() {
    let body = &PUSH[..PUSH.len() - 5];
    assert_eq!(
        verify(&github(body, "push"), body, SECRET),
        Err(Reject::Malformed)
    );
    let no_ref = br#"{"before":"0"}"#;
    assert_eq!(
        verify(&github(no_ref, "push"), no_ref, SECRET),
        Err(Reject::Malformed)
    );
}

#[test]
fn truncated_json_with_a_bad_signature_is_unauthorized_first() {
    let body = &PUSH[..5];
    assert_eq!(
        verify(&github(PUSH, "push"), body, SECRET),
        Err(Reject::Unauthorized)
    );
}

#[test]
fn gitlab_compares_the_token() {
    let ok = headers(&[
        ("x-gitlab-event", "Push Hook"),
        ("x-gitlab-token", "s3cret"),
        ("x-gitlab-event-uuid", "u-1"),
    ]);
    let body = br#"{"ref":"refs/heads/main","project":{"default_branch":"main"}}"#;
    let event = verify(&ok, body, SECRET).expect("verified");
    assert_eq!(event.provider, Provider::GitLab);
    assert_eq!(event.delivery.as_deref(), Some("u-1"));
    assert!(
        matches!(event.kind, Kind::Push { ref default_branch, .. } if default_branch.as_deref() == Some("main"))
    );
    for token in ["s3cre", "s3cret2", ""] {
        let bad = headers(&[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", token)]);
        assert_eq!(
            verify(&bad, body, SECRET),
            Err(Reject::Unauthorized),
            "{token}"
        );
    }
    let missing = headers(&[("x-gitlab-event", "Push Hook")]);
    assert_eq!(verify(&missing, body, SECRET), Err(Reject::Unauthorized));
}

#[test]
fn gitea_signs_with_bare_hex_and_wins_over_its_github_headers() {
    let h = headers(&[
        ("x-gitea-event", "push"),
        ("x-github-event", "push"),
        ("x-gitea-delivery", "g-1"),
        ("x-gitea-signature", &sign(SECRET, PUSH)),
    ]);
    let event = verify(&h, PUSH, SECRET).expect("verified");
    assert_eq!(
        (event.provider, event.delivery.as_deref()),
        (Provider::Gitea, Some("g-1"))
    );
    let bad = headers(&[("x-gitea-event", "push"), ("x-gitea-signature", "00")]);
    assert_eq!(verify(&bad, PUSH, SECRET), Err(Reject::Unauthorized));
}

#[test]
fn the_generic_provider_signs_like_github_and_defaults_to_push() {
    let h = headers(&[(
        "x-zentoo-signature",
        &format!("sha256={}", sign(SECRET, PUSH)),
    )]);
    let event = verify(&h, PUSH, SECRET).expect("verified");
    assert_eq!(event.provider, Provider::Generic);
    assert!(matches!(event.kind, Kind::Push { .. }));
}

#[test]
fn other_events_are_acknowledged_but_carry_nothing() {
    let body = br#"{"action":"opened"}"#;
    let event = verify(&github(body, "issues"), body, SECRET).expect("verified");
    assert_eq!(event.kind, Kind::Other);
}

#[test]
fn pushes_count_for_the_tracked_branch_and_config_branches() {
    let c = |r: &str, tracked: Option<&str>, default: Option<&str>| {
        concerns(r, tracked, default, "portage/", "buildhooks/")
    };
    assert!(c("refs/heads/main", Some("main"), None));
    assert!(c("refs/heads/main", Some("refs/heads/main"), None));
    assert!(!c("refs/heads/dev", Some("main"), Some("dev")));
    assert!(c("refs/heads/portage/desktop", Some("main"), None));
    assert!(c("refs/heads/buildhooks/nodocs", Some("main"), None));
    assert!(c("refs/heads/trunk", None, Some("trunk")));
    assert!(!c("refs/heads/feature", None, Some("trunk")));
    assert!(
        c("refs/heads/feature", None, None),
        "unknown default: fetch"
    );
    assert!(!c("refs/tags/v1", Some("main"), None));
    assert!(!c("main", Some("main"), None));
}

#[test]
fn rejections_map_to_statuses_with_generic_bodies() {
    let all = [
        (Reject::NotFound, 404),
        (Reject::Unauthorized, 401),
        (Reject::Malformed, 400),
        (Reject::TooLarge, 413),
        (Reject::RateLimited, 429),
        (Reject::Replayed, 409),
        (Reject::Internal, 500),
    ];
    for (r, code) in all {
        assert_eq!(r.status().as_u16(), code);
        assert!(r.body().len() < 32);
    }
}
