//! The dashboard's pages, rendered from GentooSites and GentooImages: pure functions of the
//! objects and the time, with every value escaped by maud.

use super::chart;
use crate::outcome::{age, short_digest};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use maud::{DOCTYPE, Markup, html};
use zentoo_api::conditions::{ready_summary, types};
use zentoo_api::image::{BuildRecord, GentooImageStatus};
use zentoo_api::{GentooImage, GentooSite, annotations};

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.True{color:#176f2c}.False{color:#b3261e}.Unknown{color:#8a6d00}\
.msg{max-width:48em;color:#555}code{font-size:12px}svg{border:1px solid #ddd}";

/// The overview: every site, then every image, by namespace and name.
pub fn overview(sites: &[&GentooSite], images: &[&GentooImage], now: Timestamp) -> String {
    let ready = images
        .iter()
        .filter(|i| condition_status(i.status.as_ref().map(|s| &s.conditions[..])) == "True")
        .count();
    let body = html! {
        h1 { "zentoo" }
        p { (sites.len()) " sites, " (images.len()) " images, " (ready) " ready" }
        h2 { "Sites" }
        table id="sites" {
            tr { th { "Namespace" } th { "Site" } th { "Ready" } th { "Revision" } th { "Tuples" }
                 th { "Errors" } th { "Checked" } th { "Message" } }
            @for site in sites {
                @let status = site.status.clone().unwrap_or_default();
                @let ready = ready_summary(&status.conditions);
                tr {
                    td { (site.namespace().unwrap_or_default()) }
                    td { (site.name_any()) }
                    td class=(ready.0) { (ready.0) }
                    td { code { (status.short_revision.unwrap_or_default()) } }
                    td { (status.tuples.map(|n| n.to_string()).unwrap_or_default()) }
                    td { (status.error_count.map(|n| n.to_string()).unwrap_or_default()) }
                    td { (ago(status.last_checked.as_ref(), now)) }
                    td class="msg" { (ready.1) }
                }
            }
        }
        h2 { "Images" }
        table id="images" {
            tr { th { "Namespace" } th { "Image" } th { "Site" } th { "Ready" } th { "Phase" }
                 th { "Digest" } th { "Last build" } th { "Why" } th { "Message" } }
            @for image in images {
                @let status = image.status.clone().unwrap_or_default();
                @let ready = ready_summary(&status.conditions);
                @let ns = image.namespace().unwrap_or_default();
                tr {
                    td { (ns) }
                    td { a href=(format!("image/{}/{}", ns, image.name_any())) { (image.name_any()) } }
                    td { (image.spec.site_ref.name) }
                    td class=(ready.0) { (ready.0) }
                    td { (format!("{:?}", status.phase)) }
                    td { code { (status.short_digest.clone().unwrap_or_default()) } }
                    td { (last_build(&status, now)) }
                    td { (why(&status)) }
                    td class="msg" { (ready.1) }
                }
            }
        }
    };
    page("zentoo", "", body)
}

/// One image: its conditions, the running build, the chart of its build times and binpkg
/// hit ratio, and its history with causes and the commands that show more.
pub fn image(image: &GentooImage, now: Timestamp) -> String {
    let status = image.status.clone().unwrap_or_default();
    let ns = image.namespace().unwrap_or_default();
    let name = image.name_any();
    let published = status.published();
    let body = html! {
        p { a href="../.." { "← all sites and images" } }
        h1 { (name) }
        p {
            "Namespace " code { (ns) } ", site " code { (image.spec.site_ref.name) }
            @if let Some(tuple) = image.annotations().get(annotations::TUPLE) {
                ", tuple " code { (tuple) }
            }
            ", phase " strong { (format!("{:?}", status.phase)) }
        }
        h2 { "Conditions" }
        table id="conditions" {
            tr { th { "Type" } th { "Status" } th { "Reason" } th { "Message" } th { "Since" } }
            @for c in &status.conditions {
                tr {
                    td { (c.type_) }
                    td class=(c.status) { (c.status) }
                    td { (c.reason) }
                    td class="msg" { (c.message) }
                    td { (ago(Some(&c.last_transition_time), now)) }
                }
            }
        }
        @if let Some(current) = &status.current_build {
            h2 { "Building" }
            p id="current" {
                "Job " code { (current.name) } ", step "
                (current.step.map_or("pending", |s| s.as_str()))
                @if let Some(cause) = &current.cause {
                    " — " strong { (cause.reason) } ": " (cause.message)
                }
            }
            p { "Follow it: " code id="follow" { "zentoo logs -n " (ns) " " (name) " -f" } }
        }
        h2 { "Build times and binpkg hits" }
        (chart::builds(&status.history))
        h2 { "History" }
        table id="history" {
            tr { th { "Build" } th { "Result" } th { "Why" } th { "Started" } th { "Took" }
                 th { "Binpkgs / compiled" } th { "Digest" } th { "Message" } }
            @for h in &status.history {
                tr {
                    td { code { (h.name) } }
                    td { (h.result.as_str()) @if let Some(step) = h.step { " (" (step.as_str()) ")" } }
                    td { @if let Some(c) = &h.cause { strong { (c.reason) } ": " (c.message) } }
                    td { (ago(h.started_at.as_ref(), now)) }
                    td { (took(h).map(duration).unwrap_or_default()) }
                    td { @if let (Some(hits), Some(compiled)) = (h.binpkg_hits, h.compiled) { (hits) " / " (compiled) } }
                    td { code { (h.image_digest.as_deref().map(short_digest).unwrap_or_default()) } }
                    td class="msg" { (h.message.clone().unwrap_or_default()) }
                }
            }
        }
        @if let Some(h) = status.history.first() {
            p { "A build's logs (also once its pod is gone): " code id="logs" {
                "zentoo logs -n " (ns) " " (name) " --build " (h.name) " [--package cat/pkg]" } }
        }
        @if let [(_, newer), (_, older), ..] = &published[..] {
            h2 { "Packages changed by the last build" }
            p { code id="diff" { "zentoo diff " (older) " " (newer) } }
            p { "or " code { "zentoo diff -n " (ns) " " (name) } }
        }
    };
    page(&name, "../../", body)
}

/// A whole page: `root` is the way back to the dashboard's root from it (for its script).
fn page(title: &str, root: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · zentoo" }
                style { (STYLE) }
                script src=(format!("{root}live.js")) defer {}
            }
            body { (body) }
        }
    }
    .into_string()
}

fn condition_status(conditions: Option<&[Condition]>) -> &str {
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == types::READY)
        .map_or("Unknown", |c| c.status.as_str())
}

fn last_build(status: &GentooImageStatus, now: Timestamp) -> String {
    match status.history.first() {
        Some(h) => format!(
            "{} {} ago",
            h.result.as_str(),
            ago(h.finished_at.as_ref(), now)
        ),
        None => String::new(),
    }
}

/// The cause of the running build, else of the last one.
fn why(status: &GentooImageStatus) -> String {
    status
        .current_build
        .as_ref()
        .and_then(|b| b.cause.as_ref())
        .or_else(|| status.history.first().and_then(|h| h.cause.as_ref()))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

/// Seconds from start to finish of a finished build.
pub(super) fn took(h: &BuildRecord) -> Option<i64> {
    let (start, end) = (h.started_at.as_ref()?, h.finished_at.as_ref()?);
    Some((end.0.as_second() - start.0.as_second()).max(0))
}

/// `42s`, `3m 05s`, `1h 02m`.
pub(super) fn duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long ago, as kubectl says it; nothing when unknown.
fn ago(time: Option<&Time>, now: Timestamp) -> String {
    time.map(|t| age(t.0, now)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_json(name: &str, message: &str) -> GentooImage {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooImage",
            "metadata": {"name": name, "namespace": "ops",
                         "annotations": {"zentoo.dev/tuple": "server-none-web"}},
            "spec": {"siteRef": {"name": "demo"}, "portage": "server", "set": "web"},
            "status": {
                "phase": "Succeeded", "shortDigest": "sha256:0123456789ab",
                "lastSuccessfulBuild": {"name": "b2", "inputsDigest": "sha256:2", "revision": "r",
                                        "image": "127.0.0.1:5000/zentoo/web:latest"},
                "history": [
                  {"name": "b2", "inputsDigest": "sha256:2", "result": "Succeeded",
                   "startedAt": "2026-12-06T11:50:00Z", "finishedAt": "2026-12-06T11:53:05Z",
                   "imageDigest": "sha256:bbbb", "binpkgHits": 9, "compiled": 1,
                   "cause": {"reason": "InputsChanged", "message": "portage/server tree changed"}},
                  {"name": "b1", "inputsDigest": "sha256:1", "result": "Succeeded",
                   "startedAt": "2026-12-06T10:00:00Z", "finishedAt": "2026-12-06T10:20:00Z",
                   "imageDigest": "sha256:aaaa", "binpkgHits": 0, "compiled": 10,
                   "cause": {"reason": "Created", "message": "the image's first build"}}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "BuildSucceeded",
                                "message": message, "lastTransitionTime": "2026-12-06T11:53:05Z"}]
            }
        }))
        .expect("an image")
    }

    fn now() -> Timestamp {
        "2026-12-06T12:00:00Z".parse().expect("a time")
    }

    #[test]
    fn the_overview_lists_images_with_their_standing_and_why() {
        let web = image_json("web", "built");
        let html = overview(&[], &[&web], now());
        assert!(html.contains("0 sites, 1 images, 1 ready"), "{html}");
        assert!(
            html.contains(r#"<a href="image/ops/web">web</a>"#),
            "{html}"
        );
        assert!(html.contains("<td>InputsChanged</td>"), "{html}");
        assert!(html.contains("Succeeded 6m ago"), "{html}");
    }

    #[test]
    fn what_objects_say_is_escaped() {
        let hostile = image_json("web", "<script>alert(1)</script>");
        for html in [overview(&[], &[&hostile], now()), image(&hostile, now())] {
            assert!(!html.contains("<script>alert"), "{html}");
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{html}"
            );
        }
    }

    #[test]
    fn an_image_shows_its_history_causes_times_and_the_diff_command() {
        let html = image(&image_json("web", "built"), now());
        assert!(
            html.contains("<strong>Created</strong>: the image's first build"),
            "{html}"
        );
        assert!(html.contains("<td>3m 05s</td>"), "{html}");
        assert!(html.contains("<td>20m 00s</td>"), "{html}");
        assert!(html.contains("9 / 1"), "{html}");
        assert!(
            html.contains(
                "zentoo diff 127.0.0.1:5000/zentoo/web@sha256:aaaa 127.0.0.1:5000/zentoo/web@sha256:bbbb"
            ),
            "{html}"
        );
        assert!(
            html.contains("zentoo logs -n ops web --build b2 [--package cat/pkg]"),
            "{html}"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(3720), "1h 02m");
    }
}
