//! SPDX 2.3 JSON: one package for the image that `CONTAINS` one package per installed
//! Gentoo package, each with its files (SHA-1 and SHA-256) and its package URL.

use super::license::to_spdx;
use super::{Record, Subject, TOOL, sha256_hex, use_set};
use crate::time::rfc3339;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::collections::BTreeSet;

/// Where document name spaces live: `<this>/<name>-<content digest>`.
pub const NAMESPACE: &str = "https://zentoo.dev/spdx";

/// The SPDX document.
pub fn render(subject: &Subject, records: &[Record]) -> Vec<u8> {
    let created = rfc3339(subject.created);
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut files = Vec::new();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut refs = BTreeSet::new();
    for record in records {
        let id = format!("SPDXRef-Package-{}", spdx_id_part(&record.cpf()));
        let license = to_spdx(&record.license, &use_set(record));
        refs.extend(license.refs);
        let mut file_ids = Vec::new();
        for file in &record.files {
            let file_id = format!("SPDXRef-File-{}", files.len() + 1);
            files.push(json!({
                "SPDXID": file_id,
                "fileName": format!(".{}", file.path.display()),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": file.sha1},
                    {"algorithm": "SHA256", "checksumValue": file.sha256},
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            }));
            file_ids.push(file_id);
        }
        let mut package = json!({
            "SPDXID": id,
            "name": record.atom(),
            "versionInfo": record.version,
            "downloadLocation": record.sources.first().map_or("NOASSERTION", String::as_str),
            "filesAnalyzed": !file_ids.is_empty(),
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license.spdx.as_deref().unwrap_or("NONE"),
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": record.purl(),
            }],
            "annotations": gentoo_annotations(record, &created),
        });
        let fields = package.as_object_mut().expect("a JSON object");
        if !file_ids.is_empty() {
            let mut sha1s: Vec<&str> = record.files.iter().map(|f| f.sha1.as_str()).collect();
            sha1s.sort_unstable();
            fields.insert(
                "packageVerificationCode".into(),
                json!({"packageVerificationCodeValue": hex::encode(Sha1::digest(sha1s.concat()))}),
            );
            fields.insert("hasFiles".into(), json!(file_ids));
        }
        if let Some(homepage) = record.homepage.first() {
            fields.insert("homepage".into(), json!(homepage));
        }
        if let Some(description) = &record.description {
            fields.insert("summary".into(), json!(description));
        }
        if let Some(md5) = &record.binpkg_md5 {
            fields.insert(
                "checksums".into(),
                json!([{"algorithm": "MD5", "checksumValue": md5}]),
            );
        }
        if let Some(repository) = &record.repository {
            fields.insert(
                "sourceInfo".into(),
                json!(format!("built from the ebuild repository '{repository}'")),
            );
        }
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
        packages.push(package);
    }
    let extracted: Vec<Value> = refs
        .iter()
        .map(|(id, name)| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!("The '{name}' license of the Gentoo ebuild repository (licenses/{name})."),
            })
        })
        .collect();
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": "",
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {TOOL}")],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = json!(extracted);
    }
    // The name space names this content: the same root gives the same document.
    let content = serde_json::to_vec(&document).unwrap_or_default();
    document["documentNamespace"] = json!(format!(
        "{NAMESPACE}/{}-{}",
        subject.name,
        &sha256_hex(&content)[..32]
    ));
    let mut bytes = serde_json::to_vec_pretty(&document).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Gentoo's fields SPDX has no place for (slot, USE, repository, binary package build id,
/// distfiles), as `gentoo:<field>=<value>` annotations.
fn gentoo_annotations(record: &Record, date: &str) -> Vec<Value> {
    let mut notes = vec![format!(
        "gentoo:slot={}{}",
        record.slot,
        record
            .subslot
            .as_ref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default()
    )];
    notes.push(format!("gentoo:use={}", record.use_flags.join(" ")));
    if let Some(repository) = &record.repository {
        notes.push(format!("gentoo:repository={repository}"));
    }
    if let Some(id) = &record.build_id {
        notes.push(format!("gentoo:build-id={id}"));
    }
    if !record.distfiles.is_empty() {
        notes.push(format!("gentoo:distfiles={}", record.distfiles.join(" ")));
    }
    notes
        .into_iter()
        .map(|comment| {
            json!({
                "annotationType": "OTHER",
                "annotator": format!("Tool: {TOOL}"),
                "annotationDate": date,
                "comment": comment,
            })
        })
        .collect()
}

/// `[A-Za-z0-9.-]` of `s`, anything else as `-`.
fn spdx_id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
