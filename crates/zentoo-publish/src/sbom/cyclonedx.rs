//! CycloneDX 1.6 JSON: the image as the BOM's component, one `library` component per
//! installed Gentoo package (its files as nested `file` components) with Gentoo's fields as
//! `gentoo:` properties.

use super::license::to_spdx;
use super::{Record, Subject, sha256_hex, use_set};
use crate::time::rfc3339;
use serde_json::{Value, json};

/// The BOM.
pub fn render(subject: &Subject, records: &[Record]) -> Vec<u8> {
    let components: Vec<Value> = records.iter().map(component).collect();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(subject.created),
            "tools": {"components": [{"type": "application", "name": "zentoo", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": "image", "name": subject.name},
        },
        "components": components,
        "dependencies": [{
            "ref": "image",
            "dependsOn": records.iter().map(Record::purl).collect::<Vec<_>>(),
        }],
    });
    // The serial number names this content: the same root gives the same BOM.
    let content = serde_json::to_vec(&bom).unwrap_or_default();
    bom["serialNumber"] = json!(format!("urn:uuid:{}", uuid_from(&sha256_hex(&content))));
    let mut bytes = serde_json::to_vec_pretty(&bom).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn component(record: &Record) -> Value {
    let purl = record.purl();
    let mut properties = vec![
        property("gentoo:slot", &record.slot),
        property("gentoo:use", &record.use_flags.join(" ")),
    ];
    for (name, value) in [
        ("gentoo:subslot", &record.subslot),
        ("gentoo:repository", &record.repository),
        ("gentoo:build-id", &record.build_id),
    ] {
        if let Some(value) = value {
            properties.push(property(name, value));
        }
    }
    for distfile in &record.distfiles {
        properties.push(property("gentoo:distfile", distfile));
    }
    let mut component = json!({
        "type": "library",
        "bom-ref": purl,
        "group": record.category,
        "name": record.name,
        "version": record.version,
        "purl": purl,
        "properties": properties,
    });
    let fields = component.as_object_mut().expect("a JSON object");
    if let Some(expression) = to_spdx(&record.license, &use_set(record)).spdx {
        fields.insert("licenses".into(), json!([{"expression": expression}]));
    }
    if let Some(description) = &record.description {
        fields.insert("description".into(), json!(description));
    }
    if let Some(md5) = &record.binpkg_md5 {
        fields.insert("hashes".into(), json!([{"alg": "MD5", "content": md5}]));
    }
    let mut references: Vec<Value> = record
        .homepage
        .iter()
        .map(|url| json!({"type": "website", "url": url}))
        .collect();
    references.extend(
        record
            .sources
            .iter()
            .map(|url| json!({"type": "source-distribution", "url": url})),
    );
    if !references.is_empty() {
        fields.insert("externalReferences".into(), json!(references));
    }
    if !record.files.is_empty() {
        let files: Vec<Value> = record
            .files
            .iter()
            .map(|f| {
                json!({
                    "type": "file",
                    "bom-ref": format!("{purl}#{}", f.path.display()),
                    "name": f.path.display().to_string(),
                    "hashes": [
                        {"alg": "SHA-1", "content": f.sha1},
                        {"alg": "SHA-256", "content": f.sha256},
                    ],
                })
            })
            .collect();
        fields.insert("components".into(), json!(files));
    }
    component
}

fn property(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// A version 4 (random-form) UUID made from the first 32 hex digits of a digest.
fn uuid_from(hex: &str) -> String {
    let mut digits: Vec<char> = hex.chars().take(32).collect();
    digits.resize(32, '0');
    digits[12] = '4';
    // The variant: 10xx.
    let variant = digits[16].to_digit(16).unwrap_or(0) & 0x3 | 0x8;
    digits[16] = char::from_digit(variant, 16).unwrap_or('8');
    let s: String = digits.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &s[..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_uuids() {
        let id = uuid_from(&"f".repeat(64));
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
