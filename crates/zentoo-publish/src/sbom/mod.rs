//! Software bills of materials from Portage's records of a root: every installed package with
//! its version, slot, USE, licence (as SPDX ids), homepage, sources, repository, binary
//! package build id and digest, and its files' digests; written as SPDX 2.3 or CycloneDX 1.6
//! JSON. The same root and `SOURCE_DATE_EPOCH` give the same bytes (the document's name space
//! and serial number are derived from its content), so a reproducible image keeps a
//! reproducible SBOM.

pub mod cyclonedx;
pub mod license;
pub mod records;
pub mod spdx;

pub use records::{FileRecord, Record, read_records};

use std::str::FromStr;

/// An SBOM format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    CycloneDx,
}

impl Format {
    /// The media type (an OCI referrer's `artifactType`).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    /// The in-toto predicate type of an attestation holding it.
    pub fn predicate_type(self) -> &'static str {
        match self {
            Format::Spdx => "https://spdx.dev/Document",
            Format::CycloneDx => "https://cyclonedx.org/bom",
        }
    }

    /// File name suffix: `spdx.json`, `cdx.json`.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Spdx => "spdx.json",
            Format::CycloneDx => "cdx.json",
        }
    }

    /// The name `--sbom` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Spdx => "spdx",
            Format::CycloneDx => "cyclonedx",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spdx" => Ok(Format::Spdx),
            "cyclonedx" => Ok(Format::CycloneDx),
            other => Err(format!("unknown SBOM format '{other}' (spdx or cyclonedx)")),
        }
    }
}

/// What the SBOM describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The image (tuple) name.
    pub name: String,
    /// When it was built (`SOURCE_DATE_EPOCH`).
    pub created: i64,
}

/// The tool named as the SBOM's creator.
pub const TOOL: &str = concat!("zentoo-", env!("CARGO_PKG_VERSION"));

/// The SBOM of `records` in `format`, as JSON bytes.
pub fn render(format: Format, subject: &Subject, records: &[Record]) -> Vec<u8> {
    match format {
        Format::Spdx => spdx::render(subject, records),
        Format::CycloneDx => cyclonedx::render(subject, records),
    }
}

/// The enabled USE flags of a record, as the licence evaluation wants them.
fn use_set(record: &Record) -> std::collections::BTreeSet<&str> {
    record.use_enabled.iter().map(String::as_str).collect()
}

/// `sha256` hex of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;

    fn records() -> Vec<Record> {
        vec![Record {
            category: "www-servers".into(),
            name: "nginx".into(),
            version: "1.24.0-r3".into(),
            slot: "mainline".into(),
            use_flags: vec!["ssl".into()],
            use_enabled: ["ssl".to_string(), "amd64".into()].into(),
            license: "BSD-2 ssl? ( openssl ) public-domain".into(),
            homepage: vec!["https://nginx.org".into()],
            sources: vec!["https://nginx.org/download/nginx-1.24.0.tar.gz".into()],
            distfiles: vec!["nginx-1.24.0.tar.gz".into()],
            repository: Some("gentoo".into()),
            build_id: Some("7".into()),
            binpkg_md5: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            files: vec![FileRecord {
                path: PathBuf::from("/usr/sbin/nginx"),
                sha1: "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
            }],
            ..Record::default()
        }]
    }

    fn subject() -> Subject {
        Subject {
            name: "server-nodocs-web".into(),
            created: 1_700_000_000,
        }
    }

    #[test]
    fn spdx_lists_packages_files_licences_and_purls() {
        let doc: Value =
            serde_json::from_slice(&render(Format::Spdx, &subject(), &records())).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        let nginx = &doc["packages"][1];
        assert_eq!(nginx["name"], "www-servers/nginx");
        assert_eq!(nginx["versionInfo"], "1.24.0-r3");
        assert_eq!(
            nginx["licenseDeclared"],
            "BSD-2-Clause AND OpenSSL AND LicenseRef-Gentoo-public-domain"
        );
        assert_eq!(
            nginx["externalRefs"][0]["referenceLocator"],
            "pkg:ebuild/www-servers/nginx@1.24.0-r3"
        );
        assert_eq!(
            nginx["checksums"][0]["checksumValue"],
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(nginx["hasFiles"][0], doc["files"][0]["SPDXID"]);
        assert_eq!(doc["files"][0]["fileName"], "./usr/sbin/nginx");
        // SPDX's verification code: SHA-1 of the sorted file SHA-1s.
        assert_eq!(
            nginx["packageVerificationCode"]["packageVerificationCodeValue"],
            hex::encode(<sha1::Sha1 as sha2::Digest>::digest(
                b"a9993e364706816aba3e25717850c26c9cd0d89d"
            ))
        );
        let comments: Vec<&str> = nginx["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["comment"].as_str().unwrap())
            .collect();
        assert!(comments.contains(&"gentoo:use=ssl"));
        assert!(comments.contains(&"gentoo:build-id=7"));
        assert_eq!(
            doc["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-Gentoo-public-domain"
        );
        assert_eq!(
            doc["relationships"][1]["relatedSpdxElement"],
            nginx["SPDXID"]
        );
    }

    #[test]
    fn cyclonedx_lists_components_with_properties() {
        let bom: Value =
            serde_json::from_slice(&render(Format::CycloneDx, &subject(), &records())).unwrap();
        assert_eq!(bom["specVersion"], "1.6");
        assert!(
            bom["serialNumber"]
                .as_str()
                .unwrap()
                .starts_with("urn:uuid:")
        );
        let nginx = &bom["components"][0];
        assert_eq!(
            (nginx["group"].as_str(), nginx["name"].as_str()),
            (Some("www-servers"), Some("nginx"))
        );
        assert_eq!(nginx["purl"], "pkg:ebuild/www-servers/nginx@1.24.0-r3");
        assert_eq!(nginx["components"][0]["hashes"][1]["alg"], "SHA-256");
        assert_eq!(bom["dependencies"][0]["dependsOn"][0], nginx["bom-ref"]);
    }

    #[test]
    fn the_same_records_give_the_same_bytes_and_others_differ() {
        for format in [Format::Spdx, Format::CycloneDx] {
            let a = render(format, &subject(), &records());
            assert_eq!(a, render(format, &subject(), &records()));
            let mut changed = records();
            changed[0].version = "1.24.0-r4".into();
            let b = render(format, &subject(), &changed);
            let id = |bytes: &[u8]| {
                let v: Value = serde_json::from_slice(bytes).unwrap();
                v.get("documentNamespace")
                    .or(v.get("serialNumber"))
                    .cloned()
            };
            assert_ne!(
                id(&a),
                id(&b),
                "{format:?}: a new version names a new document"
            );
        }
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("cyclonedx".parse::<Format>(), Ok(Format::CycloneDx));
        assert!(
            "swid"
                .parse::<Format>()
                .unwrap_err()
                .contains("spdx or cyclonedx")
        );
    }
}
