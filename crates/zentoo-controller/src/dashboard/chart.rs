//! The chart of an image's builds: one bar per finished build (oldest left), its height the
//! build's duration, its colour its result; a dot per successful build at its binpkg hit
//! ratio (packages taken from binpkgs over all packages). Inline SVG, no script.

use super::page::{duration, took};
use maud::{Markup, html};
use zentoo_api::image::{BuildRecord, Ending};

const WIDTH: i64 = 640;
const HEIGHT: i64 = 160;
const BAR: i64 = 24;

/// The chart of `history` (newest first, as in status); nothing when no build finished.
pub fn builds(history: &[BuildRecord]) -> Markup {
    let finished: Vec<(&BuildRecord, i64)> = history
        .iter()
        .rev()
        .filter_map(|h| took(h).map(|t| (h, t)))
        .collect();
    let Some(longest) = finished.iter().map(|(_, t)| *t).max() else {
        return html! { p { "No finished build yet." } };
    };
    let longest = longest.max(1);
    let step = (WIDTH / finished.len() as i64).clamp(BAR + 4, 4 * BAR);
    html! {
        svg id="chart" xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT + 20)
            role="img" aria-label="build durations and binpkg hit ratio" {
            @for (i, (h, secs)) in finished.iter().enumerate() {
                @let x = i as i64 * step + 2;
                @let height = (secs * HEIGHT / longest).max(1);
                rect x=(x) y=(HEIGHT - height) width=(BAR) height=(height) fill=(colour(h.result)) {
                    title { (h.name) ": " (h.result.as_str()) " in " (duration(*secs)) }
                }
                @if let Some(ratio) = hit_ratio(h) {
                    circle cx=(x + BAR / 2) cy=(HEIGHT - (ratio * HEIGHT as f64) as i64) r="4"
                        fill="#1a56c4" {
                        title { (h.name) ": " (format!("{:.0}", ratio * 100.0)) "% from binpkgs" }
                    }
                }
            }
            text x="2" y=(HEIGHT + 15) font-size="11" {
                "bars: duration (longest " (duration(longest)) "); dots: binpkg hit ratio (top = 100%)"
            }
        }
    }
}

fn colour(result: Ending) -> &'static str {
    match result {
        Ending::Succeeded => "#5ba96b",
        Ending::Failed => "#d2564a",
        Ending::Superseded | Ending::Deleted => "#b9b9b9",
    }
}

/// Binpkg hits over all packages of a successful build.
fn hit_ratio(h: &BuildRecord) -> Option<f64> {
    let (hits, compiled) = (h.binpkg_hits?, h.compiled?);
    let all = hits + compiled;
    (all > 0).then(|| f64::from(hits) / f64::from(all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(text: &str) -> Option<Time> {
        Some(Time(text.parse::<Timestamp>().expect("a time")))
    }

    #[test]
    fn bars_scale_to_the_longest_build_and_dots_show_hit_ratios() {
        let history = [
            BuildRecord {
                name: "b2".into(),
                result: Ending::Succeeded,
                started_at: at("2026-12-06T11:00:00Z"),
                finished_at: at("2026-12-06T11:01:00Z"),
                binpkg_hits: Some(3),
                compiled: Some(1),
                ..BuildRecord::default()
            },
            BuildRecord {
                name: "b1".into(),
                result: Ending::Failed,
                started_at: at("2026-12-06T10:00:00Z"),
                finished_at: at("2026-12-06T10:02:00Z"),
                ..BuildRecord::default()
            },
        ];
        let svg = builds(&history).into_string();
        // b1 (oldest) first, full height; b2 half as long.
        let b1 = svg.find("b1: Failed in 2m 00s").expect("b1");
        let b2 = svg.find("b2: Succeeded in 1m 00s").expect("b2");
        assert!(b1 < b2, "{svg}");
        assert!(
            svg.contains(r##"y="0" width="24" height="160" fill="#d2564a""##),
            "{svg}"
        );
        assert!(
            svg.contains(r##"y="80" width="24" height="80" fill="#5ba96b""##),
            "{svg}"
        );
        assert!(svg.contains("b2: 75% from binpkgs"), "{svg}");
        assert!(
            svg.contains(r#"cy="40""#),
            "75% is a quarter from the top: {svg}"
        );
        assert_eq!(builds(&[]).into_string(), "<p>No finished build yet.</p>");
    }
}
