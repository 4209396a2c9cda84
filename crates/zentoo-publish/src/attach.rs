//! What is attached to a published image: its SBOM and its build provenance, written at pack
//! time into the OCI layout as artifact manifests whose `subject` is the image (OCI 1.1
//! referrers), and at push time sent beside it — the referrers, the referrers tag schema's
//! index where the registry has no referrers API, cosign's `sha256-<hex>.sbom` tag, and, with
//! a key, cosign's `.sig` (the image signed) and `.att` (the SBOM and provenance as signed
//! in-toto attestations).

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::sbom::Format;
use crate::spec::{self, Descriptor, Manifest};
use crate::time::rfc3339;
use serde_json::Value;
use std::collections::BTreeMap;

/// The layout name of the SBOM artifact.
pub const SBOM_REF: &str = "sbom";
/// The layout name of the provenance artifact.
pub const PROVENANCE_REF: &str = "provenance";
/// Names in a layout that are not the image.
pub const ARTIFACT_REFS: [&str; 3] = [crate::kernel::KERNEL_REF, SBOM_REF, PROVENANCE_REF];
/// Media type (and artifact type) of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Manifest annotation naming a statement's predicate type.
pub const PREDICATE_ANNOTATION: &str = "in-toto.io/predicate-type";
/// Manifest annotation naming the SBOM format (`spdx`, `cyclonedx`).
pub const SBOM_FORMAT_ANNOTATION: &str = "dev.zentoo.sbom.format";

/// Adds `content` (of media type `artifact_type`, file name `title`) as an artifact manifest
/// referring to `subject` into `layout`, named `ref_name`; `created` (RFC 3339) is its only
/// time, so the same content gives the same manifest.
pub fn add_referrer(
    layout: &Layout,
    subject: &Descriptor,
    artifact_type: &str,
    content: &[u8],
    title: &str,
    annotations: BTreeMap<String, String>,
    ref_name: &str,
) -> Result<Descriptor> {
    let (empty, empty_size) = layout.write_blob(b"{}")?;
    let (digest, size) = layout.write_blob(content)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(spec::MANIFEST.into()),
        artifact_type: Some(artifact_type.into()),
        config: descriptor(spec::EMPTY, empty, empty_size, None),
        layers: vec![descriptor(
            artifact_type,
            digest,
            size,
            Some(BTreeMap::from([(
                spec::TITLE.to_string(),
                title.to_string(),
            )])),
        )],
        subject: Some(descriptor(
            &subject.media_type,
            subject.digest.clone(),
            subject.size,
            None,
        )),
        annotations: Some(annotations),
    };
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| Error::invalid(ref_name, format!("cannot encode: {e}")))?;
    let (digest, size) = layout.write_blob(&bytes)?;
    let mut desc = descriptor(spec::MANIFEST, digest, size, manifest.annotations.clone());
    desc.artifact_type = Some(artifact_type.into());
    layout.add_manifest(&desc, Some(ref_name))?;
    Ok(desc)
}

/// A descriptor without platform or artifact type.
pub fn descriptor(
    media_type: &str,
    digest: String,
    size: u64,
    annotations: Option<BTreeMap<String, String>>,
) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        platform: None,
        annotations,
        artifact_type: None,
    }
}

/// Adds the SBOM `document` of the image `subject` to `layout`.
pub fn add_sbom(
    layout: &Layout,
    subject: &Descriptor,
    format: Format,
    document: &[u8],
    tuple: &str,
    created: i64,
) -> Result<Descriptor> {
    let annotations = BTreeMap::from([
        (crate::oci::CREATED.to_string(), rfc3339(created)),
        (
            SBOM_FORMAT_ANNOTATION.to_string(),
            format.name().to_string(),
        ),
    ]);
    add_referrer(
        layout,
        subject,
        format.media_type(),
        document,
        &format!("{tuple}.{}", format.suffix()),
        annotations,
        SBOM_REF,
    )
}

/// The provenance statement of the image `subject` (named `name`) built as `predicate` says,
/// its build time `created` filled in where the predicate has none.
pub fn provenance_statement(
    name: &str,
    subject: &Descriptor,
    mut predicate: Value,
    created: i64,
) -> Vec<u8> {
    let time = Value::String(rfc3339(created));
    if let Some(metadata) = predicate
        .pointer_mut("/runDetails/metadata")
        .and_then(Value::as_object_mut)
    {
        metadata.entry("startedOn").or_insert_with(|| time.clone());
        metadata.entry("finishedOn").or_insert(time);
    }
    crate::sign::statement(
        name,
        &subject.digest,
        zentoo_core::plan::provenance::PREDICATE_TYPE,
        &predicate,
    )
}

/// Adds the provenance `statement` of the image `subject` to `layout`.
pub fn add_provenance(
    layout: &Layout,
    subject: &Descriptor,
    statement: &[u8],
    tuple: &str,
    created: i64,
) -> Result<Descriptor> {
    let annotations = BTreeMap::from([
        (crate::oci::CREATED.to_string(), rfc3339(created)),
        (
            PREDICATE_ANNOTATION.to_string(),
            zentoo_core::plan::provenance::PREDICATE_TYPE.to_string(),
        ),
    ]);
    add_referrer(
        layout,
        subject,
        IN_TOTO,
        statement,
        &format!("{tuple}.provenance.json"),
        annotations,
        PROVENANCE_REF,
    )
}

/// An artifact packed into a layout: its manifest descriptor and its one layer's content.
#[derive(Clone, Debug)]
pub struct Attached {
    /// The layout name ([`SBOM_REF`], [`PROVENANCE_REF`]).
    pub ref_name: &'static str,
    /// The artifact manifest.
    pub manifest: Descriptor,
    /// Its artifact type.
    pub artifact_type: String,
    /// Its manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The content (the SBOM document or the provenance statement).
    pub content: Vec<u8>,
}

/// The SBOM and provenance packed into `layout`, if any.
pub fn attached(layout: &Layout) -> Result<Vec<Attached>> {
    let mut found = Vec::new();
    for ref_name in [SBOM_REF, PROVENANCE_REF] {
        let Ok(desc) = layout.resolve(Some(ref_name)) else {
            continue;
        };
        let manifest: Manifest = serde_json::from_slice(&layout.read_blob(&desc.digest)?)
            .map_err(|e| Error::invalid(&desc.digest, e.to_string()))?;
        let layer = manifest
            .layers
            .first()
            .ok_or_else(|| Error::invalid(&desc.digest, "artifact without content"))?;
        found.push(Attached {
            ref_name,
            content: layout.read_blob(&layer.digest)?,
            artifact_type: manifest.artifact_type.clone().unwrap_or_default(),
            annotations: manifest.annotations.clone().unwrap_or_default(),
            manifest: desc,
        });
    }
    Ok(found)
}

impl Attached {
    /// The in-toto statement to sign for it about the image `digest` (named `name`): the
    /// provenance statement as packed, or a statement whose predicate is the SBOM.
    pub fn statement(&self, name: &str, digest: &str) -> Result<(String, Vec<u8>)> {
        if self.ref_name == PROVENANCE_REF {
            let predicate_type = self
                .annotations
                .get(PREDICATE_ANNOTATION)
                .cloned()
                .unwrap_or_else(|| zentoo_core::plan::provenance::PREDICATE_TYPE.into());
            return Ok((predicate_type, self.content.clone()));
        }
        let format = match self.artifact_type.as_str() {
            t if t == Format::CycloneDx.media_type() => Format::CycloneDx,
            _ => Format::Spdx,
        };
        let document: Value = serde_json::from_slice(&self.content)
            .map_err(|e| Error::invalid(&self.manifest.digest, format!("SBOM: {e}")))?;
        Ok((
            format.predicate_type().to_string(),
            crate::sign::statement(name, digest, format.predicate_type(), &document),
        ))
    }
}

/// The name of the image (the one manifest that is not the kernel, an SBOM or a provenance) in `layout`.
pub fn image_ref_name(layout: &Layout) -> Result<Option<String>> {
    let index = layout.index()?;
    let images: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|m| !ref_of(m).is_some_and(|r| ARTIFACT_REFS.contains(&r)))
        .collect();
    match images.as_slice() {
        [one] => Ok(ref_of(one).map(str::to_string)),
        other => Err(Error::invalid(
            layout.dir().display().to_string(),
            format!(
                "{} images besides the kernel and attached artifacts: expected one",
                other.len()
            ),
        )),
    }
}

fn ref_of(desc: &Descriptor) -> Option<&str> {
    desc.annotations
        .as_ref()?
        .get(spec::REF_NAME)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Descriptor {
        descriptor(
            spec::MANIFEST,
            format!("sha256:{}", "ab".repeat(32)),
            1234,
            None,
        )
    }

    #[test]
    fn referrers_name_their_image_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#;
        add_sbom(&layout, &image(), Format::Spdx, sbom, "web", 1_700_000_000).unwrap();
        let statement = provenance_statement(
            "web",
            &image(),
            serde_json::json!({"runDetails": {"metadata": {}}}),
            1_700_000_000,
        );
        add_provenance(&layout, &image(), &statement, "web", 1_700_000_000).unwrap();
        let found = attached(&layout).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].content, sbom);
        assert_eq!(found[0].artifact_type, "application/spdx+json");
        let manifest: Manifest =
            serde_json::from_slice(&layout.read_blob(&found[0].manifest.digest).unwrap()).unwrap();
        assert_eq!(manifest.subject.unwrap().digest, image().digest);
        let s: Value = serde_json::from_slice(&found[1].content).unwrap();
        assert_eq!(
            s["predicate"]["runDetails"]["metadata"]["startedOn"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(s["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        let (predicate_type, signed) = found[0].statement("r/web", &image().digest).unwrap();
        assert_eq!(predicate_type, "https://spdx.dev/Document");
        let signed: Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(signed["predicate"]["spdxVersion"], "SPDX-2.3");
    }
}
