//! The chart's network options: build pods on the node's network and plain-HTTP registries
//! (controller flags), the controller's own pod on the node's network listening on one
//! address; off by default, and accepted by the real API server (dry run).

use crate::support;

use std::process::Command;
use support::manifests::{apply, helm_template, kind};

const SETS: [&str; 6] = [
    "hostNetwork=true",
    "bindAddress=127.0.0.1",
    "webhook.enabled=true",
    "builds.hostNetwork=true",
    "builds.insecureRegistries[0]=localhost:5000",
    "builds.insecureRegistries[1]=registry.zentoo.svc",
];

fn deployment(docs: &[serde_json::Value]) -> &serde_json::Value {
    docs.iter()
        .find(|d| kind(d) == "Deployment" && d["metadata"]["name"] == "zentoo")
        .expect("the controller's Deployment")
}

fn args_of(deployment: &serde_json::Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_network_options_reach_the_controller_and_its_pod_only_when_set() {
    let Some(helm) = support::helm() else {
        return;
    };
    let docs = helm_template(&helm, &SETS);
    let set = deployment(&docs);
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    let args = args_of(set);
    for expected in [
        "--build-host-network",
        "--insecure-registry=localhost:5000",
        "--insecure-registry=registry.zentoo.svc",
        "--metrics-addr=127.0.0.1:8080",
        "--webhook-addr=127.0.0.1:8081",
    ] {
        assert!(args.iter().any(|a| a == expected), "{expected}: {args:?}");
    }
    let container = &pod["containers"][0];
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["host"], "127.0.0.1", "{probe}");
    }
    // Every flag is one the controller has.
    let help = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["controller", "--help"])
        .output()
        .expect("run zentoo controller --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in args.iter().skip(1) {
        let flag = arg.split('=').next().unwrap_or(arg);
        assert!(help.contains(flag), "{flag} is not a flag:\n{help}");
    }

    let docs = helm_template(&helm, &["webhook.enabled=true"]);
    let default = deployment(&docs);
    let pod = &default["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none(), "{pod}");
    assert!(pod.get("dnsPolicy").is_none(), "{pod}");
    assert!(
        pod["containers"][0]["livenessProbe"]["httpGet"]
            .get("host")
            .is_none()
    );
    let args = args_of(default);
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--build-host-network") || a.starts_with("--insecure-registry")),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a == "--metrics-addr=0.0.0.0:8080"),
        "{args:?}"
    );
    assert!(
        args.iter().any(|a| a == "--webhook-addr=0.0.0.0:8081"),
        "{args:?}"
    );
}

#[test]
fn an_ipv6_bind_address_is_bracketed_before_its_port() {
    let Some(helm) = support::helm() else {
        return;
    };
    let docs = helm_template(&helm, &["bindAddress=::1"]);
    let set = deployment(&docs);
    assert!(
        args_of(set)
            .iter()
            .any(|a| a == "--metrics-addr=[::1]:8080"),
        "{:?}",
        args_of(set)
    );
    let probe = &set["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(probe["httpGet"]["host"], "::1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_network_deployment_is_valid_for_the_api_server() {
    let (Some(helm), Some(kube)) = (support::helm(), support::kube_env().await) else {
        return;
    };
    let ns = kube.namespace("chartnet").await;
    let docs = helm_template(&helm, &SETS);
    let mut doc = deployment(&docs).clone();
    doc["metadata"]["namespace"] = ns.name.clone().into();
    apply(&kube.client, &doc, true).await;
}
