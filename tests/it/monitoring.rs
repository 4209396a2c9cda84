//! The chart's monitoring: its PrometheusRule passes `promtool check rules` and the unit tests of
//! tests/monitoring/alerts_test.yaml (every alert firing there), and its Grafana dashboard
//! ConfigMap holds a dashboard whose panels query the chart's Prometheus data source.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use support::go_tools::{PROMETHEUS_VERSION, promtool};
use support::manifests::{helm_template, kind};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const SETS: [&str; 5] = [
    "prometheusRule.enabled=true",
    "prometheusRule.labels.release=kube-prometheus-stack",
    "grafanaDashboard.enabled=true",
    "grafanaDashboard.namespace=monitoring",
    "grafanaDashboard.annotations.grafana_folder=zentoo",
];

fn only<'a>(docs: &'a [serde_json::Value], kind_: &str) -> &'a serde_json::Value {
    let mut found = docs.iter().filter(|d| kind(d) == kind_);
    let doc = found.next().unwrap_or_else(|| panic!("no {kind_}"));
    assert!(found.next().is_none(), "more than one {kind_}");
    doc
}

fn promtool_run(promtool: &Path, dir: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The alert names of a rule file's `groups`.
fn alert_names(spec: &serde_json::Value) -> Vec<String> {
    spec["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

/// A temporary directory with the rendered rules as `alerts.yaml` (JSON, which is YAML) and a
/// copy of tests/monitoring/alerts_test.yaml beside it.
fn rules_dir(spec: &serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("alerts.yaml"),
        serde_json::to_string_pretty(spec).expect("json"),
    )
    .expect("write alerts.yaml");
    std::fs::copy(
        root().join("tests/monitoring/alerts_test.yaml"),
        dir.path().join("alerts_test.yaml"),
    )
    .expect("copy alerts_test.yaml");
    dir
}

#[test]
fn the_monitoring_objects_are_off_by_default() {
    let Some(helm) = support::helm() else {
        return;
    };
    let docs = helm_template(&helm, &[]);
    assert!(!docs.iter().any(|d| kind(d) == "PrometheusRule"));
    assert!(
        !docs
            .iter()
            .any(|d| kind(d) == "ConfigMap" && d["metadata"]["name"] == "zentoo-dashboard")
    );
}

#[test]
fn the_prometheus_rule_passes_promtool_and_its_unit_tests_fire_every_alert() {
    let Some(helm) = support::helm() else {
        return;
    };
    let Some(promtool) = promtool() else {
        return;
    };
    let docs = helm_template(&helm, &SETS);
    let rule = only(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "zentoo-system");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let spec = &rule["spec"];
    let alerts = alert_names(spec);
    assert!(alerts.len() >= 5, "{alerts:?}");
    for rule in spec["groups"][0]["rules"].as_array().expect("rules") {
        assert!(rule["labels"]["severity"].is_string(), "{rule}");
        assert!(rule["annotations"]["summary"].is_string(), "{rule}");
        assert!(rule["annotations"]["description"].is_string(), "{rule}");
    }
    let dir = rules_dir(spec);

    let (out, text) = promtool_run(&promtool, dir.path(), &["check", "rules", "alerts.yaml"]);
    eprintln!("promtool check rules:\n{text}");
    assert!(out.status.success(), "promtool check rules:\n{text}");
    let found = format!("SUCCESS: {} rules found", alerts.len());
    assert!(text.contains(&found), "{found} not in\n{text}");

    let (out, text) = promtool_run(
        &promtool,
        dir.path(),
        &["test", "rules", "alerts_test.yaml"],
    );
    eprintln!("promtool test rules:\n{text}");
    assert!(out.status.success(), "promtool test rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");

    // Every alert is tested firing (a test expecting it with its labels and annotations).
    let tests: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(dir.path().join("alerts_test.yaml")).expect("read"),
    )
    .expect("alerts_test.yaml is YAML");
    let fired: Vec<&str> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .filter(|a| a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()))
        .filter_map(|a| a["alertname"].as_str())
        .collect();
    let untested: Vec<_> = alerts
        .iter()
        .filter(|a| !fired.contains(&a.as_str()))
        .collect();
    assert!(
        untested.is_empty(),
        "tests/monitoring/alerts_test.yaml never fires {untested:?}"
    );
}

#[test]
fn the_alert_unit_tests_fail_on_rules_that_differ() {
    let Some(helm) = support::helm() else {
        return;
    };
    let Some(promtool) = promtool() else {
        return;
    };
    let docs = helm_template(&helm, &SETS);
    let spec = &only(&docs, "PrometheusRule")["spec"];
    // The same rules with the builds alert's threshold raised past what its test feeds.
    let text = serde_json::to_string(spec).expect("json");
    let changed = text.replace("> 0.5", "> 0.9");
    assert_ne!(changed, text, "the builds alert's threshold is not `> 0.5`");
    let dir = rules_dir(&serde_json::from_str(&changed).expect("json"));
    let (out, text) = promtool_run(
        &promtool,
        dir.path(),
        &["test", "rules", "alerts_test.yaml"],
    );
    assert!(!out.status.success(), "promtool test rules passed:\n{text}");
    assert!(text.contains("ZentooBuildsFailing"), "{text}");
}

#[test]
fn the_dashboard_configmap_holds_panels_querying_the_datasource_variable() {
    let Some(helm) = support::helm() else {
        return;
    };
    let docs = helm_template(&helm, &SETS);
    let cm = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && d["metadata"]["name"] == "zentoo-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "zentoo");
    let data = cm["data"].as_object().expect("data");
    assert_eq!(data.len(), 1, "{data:?}");
    let (key, json) = data.iter().next().expect("one key");
    assert!(key.ends_with(".json"), "{key}");
    let dashboard: serde_json::Value =
        serde_json::from_str(json.as_str().expect("a string")).expect("the dashboard is JSON");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());

    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no Prometheus datasource variable: {variables:?}"
    );
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = std::collections::BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        assert!(
            ids.insert(panel["id"].as_u64()),
            "panel id repeated: {title}"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no targets");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(expr.contains("zentoo_"), "{title}: {expr}");
            assert!(target["refId"].is_string(), "{title}");
            exprs.push(expr.to_string());
        }
    }

    // The queries parse: promtool checks them as recording rules, Grafana's range variables
    // given values.
    let Some(promtool) = promtool() else {
        return;
    };
    let rules: Vec<serde_json::Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let expr = e
                .replace("$__rate_interval", "2m")
                .replace("$__range", "1d");
            serde_json::json!({"record": format!("zentoo_dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.path().join("queries.yaml"), file.to_string()).expect("write");
    let (out, text) = promtool_run(&promtool, dir.path(), &["check", "rules", "queries.yaml"]);
    assert!(out.status.success(), "the dashboard's queries:\n{text}");
    let found = format!("SUCCESS: {} rules found", exprs.len());
    assert!(text.contains(&found), "{found} not in\n{text}");
}

#[test]
fn setup_builds_the_promtool_version_the_tests_look_for() {
    let setup = std::fs::read_to_string(root().join("scripts/setup.sh")).expect("setup.sh");
    let want =
        format!("ZENTOO_PROMETHEUS_VERSION=${{ZENTOO_PROMETHEUS_VERSION:-{PROMETHEUS_VERSION}}}");
    assert!(setup.contains(&want), "scripts/setup.sh lacks {want}");
}
