//! The dashboard with 2,000 images (and 20 sites), each with a full history of 5 builds:
//! rendering the overview and one image's page. Target: the overview under 50 ms, so a page
//! reload stays instant. Also writes the overview to `target/dashboard-2000.html`, which
//! `scripts/bench-dashboard.sh` loads in headless Chromium to time the browser's side.

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use std::hint::black_box;
use zentoo::api::{GentooImage, GentooSite};
use zentoo::controller::dashboard::page;

const IMAGES: usize = 2_000;
const SITES: usize = 20;

fn site(i: usize) -> GentooSite {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooSite",
        "metadata": {"name": format!("site{i}"), "namespace": format!("ns{}", i % 4)},
        "spec": {"source": {"url": "https://git.example/site.git"}},
        "status": {"shortRevision": "6b47e781f143", "tuples": 100, "errorCount": 0,
                   "lastChecked": "2026-12-06T11:59:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Planned",
                       "message": "100 images planned at 6b47e781f143",
                       "lastTransitionTime": "2026-12-06T11:00:00Z"}]}
    }))
    .expect("a site")
}

fn image(i: usize) -> GentooImage {
    let history: Vec<serde_json::Value> = (0..5)
        .map(|b| serde_json::json!({
            "name": format!("img{i}-b{b}"), "inputsDigest": format!("sha256:{b:064}"),
            "result": if b == 4 { "Failed" } else { "Succeeded" },
            "startedAt": format!("2026-12-0{}T10:00:00Z", 5 - b / 4),
            "finishedAt": format!("2026-12-0{}T10:{:02}:00Z", 5 - b / 4, 10 + b),
            "imageDigest": format!("sha256:{:064x}", i * 10 + b), "binpkgHits": 40 + b, "compiled": 5 - b,
            "cause": {"reason": "InputsChanged", "message": "portage/server tree changed; set web changed via @base"}
        }))
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooImage",
        "metadata": {"name": format!("img{i}"), "namespace": format!("ns{}", i % 4),
                     "annotations": {"zentoo.dev/tuple": format!("znver3-server-nodocs-web{i}")}},
        "spec": {"siteRef": {"name": format!("site{}", i % SITES)}, "portage": "server", "set": "web"},
        "status": {
            "phase": "Succeeded", "shortDigest": "sha256:0123456789ab",
            "lastSuccessfulBuild": {"name": format!("img{i}-b0"), "inputsDigest": "sha256:0",
                "revision": "6b47e781f143", "image": format!("registry.example/zentoo/img{i}:latest")},
            "history": history,
            "conditions": [{"type": "Ready", "status": "True", "reason": "BuildSucceeded",
                "message": "built inputs sha256:525295a34b0a: registry.example/zentoo/img:latest@sha256:0123",
                "lastTransitionTime": "2026-12-06T11:53:05Z"}]
        }
    }))
    .expect("an image")
}

fn bench(c: &mut Criterion) {
    let sites: Vec<GentooSite> = (0..SITES).map(site).collect();
    let images: Vec<GentooImage> = (0..IMAGES).map(image).collect();
    let (site_refs, image_refs): (Vec<&GentooSite>, Vec<&GentooImage>) =
        (sites.iter().collect(), images.iter().collect());
    let now: Timestamp = "2026-12-06T12:00:00Z".parse().expect("a time");
    let html = page::overview(&site_refs, &image_refs, now);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-2000.html");
    if let Err(e) = std::fs::write(&out, &html) {
        eprintln!("{}: {e}", out.display());
    }
    eprintln!("overview of {IMAGES} images: {} KiB", html.len() / 1024);
    let mut group = c.benchmark_group("dashboard");
    group.sample_size(20);
    group.bench_function("overview, 2,000 images and 20 sites", |b| {
        b.iter(|| page::overview(black_box(&site_refs), black_box(&image_refs), now))
    });
    group.bench_function("one image's page, 5 builds", |b| {
        b.iter(|| page::image(black_box(&images[7]), now))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
