//! The chart's optional binhost (a Deployment and a Service serving a site's binpkgs claim
//! read-only) and the periodic gc setting: rendered with helm, accepted by the real API server
//! (dry run), and the Deployment's command line served for real.

use crate::support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use support::manifests::{apply, helm_template as render, kind};

fn find<'a>(docs: &'a [serde_json::Value], kind_: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| kind(d) == kind_ && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind_} {name}"))
}

/// True when every `key: value` of `selector` is among `labels`.
fn selects(selector: &serde_json::Value, labels: &serde_json::Value) -> bool {
    selector
        .as_object()
        .expect("selector")
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

const SETS: [&str; 4] = [
    "binhost.enabled=true",
    "binhost.claimName=demo-binpkgs",
    "watchNamespace=zentoo-builds",
    "gc.interval=24h",
];

#[test]
fn the_binhost_component_serves_the_claim_read_only_and_only_its_pods() {
    let Some(helm) = support::helm() else {
        return;
    };
    assert!(
        !render(&helm, &[])
            .iter()
            .any(|d| d["metadata"]["name"] == "zentoo-binhost"),
        "off by default"
    );
    let docs = render(&helm, &SETS);
    let deployment = find(&docs, "Deployment", "zentoo-binhost");
    let service = find(&docs, "Service", "zentoo-binhost");
    let controller = find(&docs, "Deployment", "zentoo");
    let controller_service = find(&docs, "Service", "zentoo");
    assert_eq!(deployment["metadata"]["namespace"], "zentoo-builds");
    let pod = &deployment["spec"]["template"];
    let binhost_labels = &pod["metadata"]["labels"];
    let controller_labels = &controller["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], binhost_labels));
    assert!(!selects(&service["spec"]["selector"], controller_labels));
    assert!(!selects(
        &controller_service["spec"]["selector"],
        binhost_labels
    ));
    assert!(!selects(
        &controller["spec"]["selector"]["matchLabels"],
        binhost_labels
    ));

    let volume = &pod["spec"]["volumes"][0];
    assert_eq!(volume["persistentVolumeClaim"]["claimName"], "demo-binpkgs");
    assert_eq!(volume["persistentVolumeClaim"]["readOnly"], true);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["volumeMounts"][0]["readOnly"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let controller_args: Vec<&str> =
        controller["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
    assert!(
        controller_args.contains(&"--gc-interval=24h"),
        "{controller_args:?}"
    );

    // The container's command line, run here with its mount mapped to a directory.
    let dir = tempfile::TempDir::new().expect("tmp");
    std::fs::create_dir_all(dir.path().join("x86_64-pc-linux-gnu/abc")).expect("mkdir");
    std::fs::write(
        dir.path().join("x86_64-pc-linux-gnu/abc/Packages"),
        "VERSION: 0\n\n",
    )
    .expect("index");
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .map(|a| {
            a.replace("/var/cache/binpkgs", &dir.path().display().to_string())
                .replace("0.0.0.0:8080", "127.0.0.1:0")
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("binhost serve");
    let mut first = String::new();
    let mut stdout = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        first.push(byte[0] as char);
    }
    let addr = first
        .rsplit("http://")
        .next()
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_default()
        .to_string();
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read");
        reply
    };
    let health = get("/healthz");
    let index = get("/x86_64-pc-linux-gnu/abc/Packages");
    let _ = child.kill();
    let _ = child.wait();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        index.starts_with("HTTP/1.1 200") && index.ends_with("VERSION: 0\n\n"),
        "{index}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binhost_objects_are_valid_for_the_api_server() {
    let (Some(helm), Some(kube)) = (support::helm(), support::kube_env().await) else {
        return;
    };
    let ns = kube.namespace("binhost").await;
    let docs = render(&helm, &SETS);
    for doc in docs.iter().filter(|d| {
        d["metadata"]["name"] == "zentoo-binhost" && matches!(kind(d), "Deployment" | "Service")
    }) {
        let mut doc = doc.clone();
        doc["metadata"]["namespace"] = ns.name.clone().into();
        apply(&kube.client, &doc, true).await;
    }
}
