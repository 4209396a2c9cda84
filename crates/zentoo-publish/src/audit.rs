//! GLSA audits of an image: the installed packages (from a root's `/var/db/pkg`, or from the
//! SBOM zentoo attached to an image) against a repository's `metadata/glsa/*.xml`, decided by
//! [`zentoo_core::glsa`] as Portage's `glsa-check -t` decides.

use crate::error::{Error, Result};
use crate::vdb;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use zentoo_core::diff::Package;
use zentoo_core::glsa::{Advisory, Finding, Installed, affected_by_any};
use zentoo_core::plan::result::{GlsaHit, GlsaResult};

/// What an audit found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The architecture keyword the advisories were matched for.
    pub arch: String,
    /// Packages looked at.
    pub packages: usize,
    /// Advisories read.
    pub advisories: usize,
    /// Advisory files that could not be read (file: why), skipped as glsa-check skips them.
    pub unreadable: Vec<String>,
    /// The affected packages, by advisory.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The audit as a build reports it ([`GlsaResult`]).
    pub fn result(&self) -> GlsaResult {
        GlsaResult {
            advisories: u32::try_from(self.advisories).unwrap_or(u32::MAX),
            affected: self
                .findings
                .iter()
                .map(|f| GlsaHit {
                    id: f.glsa.clone(),
                    severity: f.severity.as_str().to_string(),
                    package: f.package.clone(),
                })
                .collect(),
            omitted: 0,
        }
    }

    /// The affecting advisories' ids, each once, in order.
    pub fn glsa_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for f in &self.findings {
            if !ids.contains(&f.glsa) {
                ids.push(f.glsa.clone());
            }
        }
        ids
    }
}

/// Every `glsa-*.xml` in `dir`, sorted by name; the ones that do not parse come back as
/// `file: why` (glsa-check skips them too).
pub fn read_advisories(dir: &Path) -> Result<(Vec<Advisory>, Vec<String>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, "GLSA directory", e))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("glsa-") && n.ends_with(".xml"))
        })
        .collect();
    files.sort();
    let mut advisories = Vec::new();
    let mut unreadable = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => return Err(Error::read(&path, "GLSA", e)),
        };
        match Advisory::parse(&name, &text) {
            Ok(advisory) => advisories.push(advisory),
            Err(why) => unreadable.push(format!("{name}: {why}")),
        }
    }
    Ok((advisories, unreadable))
}

/// The packages installed in `root`, from its Portage records.
pub fn installed_in_root(root: &Path) -> Result<Vec<Installed>> {
    let mut installed = Vec::new();
    for package in vdb::read_packages(root)? {
        let Some((category, pf)) = package.cpf.split_once('/') else {
            continue;
        };
        let Some((name, version)) = vdb::split_pf(pf) else {
            continue;
        };
        let slot = vdb::read_small(&root.join(vdb::VDB).join(&package.cpf).join("SLOT"))?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "0".into());
        installed.push(Installed {
            category: category.into(),
            name: name.into(),
            version: version.into(),
            slot,
        });
    }
    Ok(installed)
}

/// The packages an SBOM zentoo wrote lists, for the GLSA audit.
pub fn installed_in_sbom(document: &[u8]) -> std::result::Result<Vec<Installed>, String> {
    Ok(packages_in_sbom(document)?
        .into_iter()
        .map(|p| Installed {
            category: p.category,
            name: p.name,
            version: p.version,
            slot: p.slot,
        })
        .collect())
}

/// The packages an SBOM zentoo wrote lists, with their USE flags (SPDX: `name`
/// `category/package`, `versionInfo`, the `gentoo:slot=` and `gentoo:use=` annotations;
/// CycloneDX: `group`, `name`, `version`, the `gentoo:slot`, `gentoo:subslot` and `gentoo:use`
/// properties). `Err` says why the document is not one.
pub fn packages_in_sbom(document: &[u8]) -> std::result::Result<Vec<Package>, String> {
    let doc: Value = serde_json::from_slice(document).map_err(|e| format!("not JSON: {e}"))?;
    let flags = |text: Option<&str>| -> BTreeSet<String> {
        text.unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let mut packages = Vec::new();
    if let Some(list) = doc.get("packages").and_then(Value::as_array) {
        for p in list {
            let (Some(atom), Some(version)) = (
                p.get("name").and_then(Value::as_str),
                p.get("versionInfo").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some((category, name)) = atom.split_once('/') else {
                continue;
            };
            let note = |prefix: &str| {
                p.get("annotations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.get("comment").and_then(Value::as_str))
                    .find_map(|c| c.strip_prefix(prefix))
            };
            packages.push(Package {
                category: category.into(),
                name: name.into(),
                version: version.into(),
                slot: note("gentoo:slot=").unwrap_or("0").into(),
                use_flags: flags(note("gentoo:use=")),
            });
        }
        return Ok(packages);
    }
    if let Some(components) = doc.get("components").and_then(Value::as_array) {
        for c in components {
            let field = |k: &str| c.get(k).and_then(Value::as_str);
            let (Some(category), Some(name), Some(version)) =
                (field("group"), field("name"), field("version"))
            else {
                continue;
            };
            let property = |key: &str| {
                c.get("properties")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(key))
                    .and_then(|p| p.get("value").and_then(Value::as_str))
            };
            let slot = match (property("gentoo:slot"), property("gentoo:subslot")) {
                (Some(slot), Some(sub)) => format!("{slot}/{sub}"),
                (Some(slot), None) => slot.to_string(),
                _ => "0".into(),
            };
            packages.push(Package {
                category: category.into(),
                name: name.into(),
                version: version.into(),
                slot,
                use_flags: flags(property("gentoo:use")),
            });
        }
        return Ok(packages);
    }
    Err("neither an SPDX document (packages) nor a CycloneDX BOM (components)".into())
}

/// Audits `installed` against `advisories` on `arch`.
pub fn audit(
    advisories: &[Advisory],
    unreadable: Vec<String>,
    arch: &str,
    installed: &[Installed],
) -> Report {
    Report {
        arch: arch.to_string(),
        packages: installed.len(),
        advisories: advisories.len(),
        unreadable,
        findings: affected_by_any(advisories, arch, installed),
    }
}

/// The Gentoo architecture keyword of an OCI architecture (`amd64`, `arm64`, `arm`, `x86`,
/// `ppc64`, `riscv`, `s390`, `loong`).
pub fn gentoo_arch(oci: &str) -> &str {
    match oci {
        "386" => "x86",
        "ppc64le" => "ppc64",
        "riscv64" => "riscv",
        "s390x" => "s390",
        "loong64" => "loong",
        other => other,
    }
}

/// Where the packages of an image come from, for [`audit_image`].
pub enum Packages<'a> {
    /// A root's `/var/db/pkg`.
    Root(&'a Path),
    /// An SBOM document zentoo wrote.
    Sbom(&'a [u8]),
}

/// Audits an image of OCI architecture `oci_arch` against the advisories in `glsa_dir`, as a
/// build reports it. A snapshot without `metadata/glsa` has no advisories: nothing affects the image.
pub fn audit_image(glsa_dir: &Path, oci_arch: &str, packages: Packages<'_>) -> Result<GlsaResult> {
    match std::fs::metadata(glsa_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(GlsaResult::default()),
        _ => {}
    }
    let (advisories, unreadable) = read_advisories(glsa_dir)?;
    let installed = match packages {
        Packages::Root(root) => installed_in_root(root)?,
        Packages::Sbom(document) => {
            installed_in_sbom(document).map_err(|why| Error::invalid("the attached SBOM", why))?
        }
    };
    let report = audit(&advisories, unreadable, gentoo_arch(oci_arch), &installed);
    Ok(report.result())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::{self, Format, Record, Subject};

    fn records() -> Vec<Record> {
        vec![Record {
            category: "dev-libs".into(),
            name: "openssl".into(),
            version: "3.0.13".into(),
            slot: "0".into(),
            subslot: Some("3".into()),
            use_flags: vec!["asm".into(), "ktls".into()],
            ..Record::default()
        }]
    }

    #[test]
    fn both_sbom_formats_give_back_the_packages_and_slots() {
        let subject = Subject {
            name: "x".into(),
            created: 0,
        };
        for format in [Format::Spdx, Format::CycloneDx] {
            let doc = sbom::render(format, &subject, &records());
            let installed = installed_in_sbom(&doc).unwrap();
            assert_eq!(
                installed,
                [Installed {
                    category: "dev-libs".into(),
                    name: "openssl".into(),
                    version: "3.0.13".into(),
                    slot: "0/3".into(),
                }],
                "{format:?}"
            );
        }
        for format in [Format::Spdx, Format::CycloneDx] {
            let doc = sbom::render(format, &subject, &records());
            let packages = packages_in_sbom(&doc).unwrap();
            let flags: Vec<&str> = packages[0].use_flags.iter().map(String::as_str).collect();
            assert_eq!(flags, ["asm", "ktls"], "{format:?}: USE read back");
        }
        assert!(installed_in_sbom(b"{}").unwrap_err().contains("neither"));
        assert!(installed_in_sbom(b"nope").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn oci_arches_become_gentoo_keywords() {
        assert_eq!(gentoo_arch("amd64"), "amd64");
        assert_eq!(gentoo_arch("riscv64"), "riscv");
    }
}
