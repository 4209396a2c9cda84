//! `crds/` holds exactly what the Rust types generate.

use zentoo::api::crd::{crds, to_yaml};

#[test]
fn committed_crds_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (file, crd) in crds() {
        let generated = to_yaml(&crd).expect("render CRD");
        let committed = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("crds/{file}: {e}; run `cargo run -- crds --dir crds`"));
        assert!(
            committed == generated,
            "crds/{file} is stale: run `cargo run -- crds --dir crds` and commit the result"
        );
    }
}

#[test]
fn crds_name_their_group_kinds_and_status_subresource() {
    for (file, crd) in crds() {
        assert_eq!(
            file,
            format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or(""))
        );
        assert_eq!(crd.spec.group, "zentoo.dev");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{file}"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            columns.contains(&"Ready") && columns.contains(&"Age"),
            "{file}: {columns:?}"
        );
    }
}

#[test]
fn the_committed_crd_reference_is_the_generated_one() {
    let crds: Vec<_> = crds().into_iter().map(|(_, crd)| crd).collect();
    let generated = zentoo::api::reference::markdown(&crds);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/crd-reference.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/crd-reference.md is stale: run `cargo run -- crds --reference > docs/crd-reference.md`"
    );
}
