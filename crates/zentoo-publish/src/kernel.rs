//! The kernel of a target root as its own artifact: `/boot` and `/lib/modules` packed into
//! `kernel-<tuple>-<version>.tar.xz`, with `.CONTENTS.gz` and `.DIGESTS` beside it like a
//! stage tarball. The version is the root's one `/lib/modules/<version>` directory.

use super::compress::Compression;
use super::error::{Error, Result};
use super::layout::Layout;
use super::spec::{self, Descriptor, Manifest};
use super::stage::{Archive, StageTarball, write_archive};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;

/// The name of the kernel artifact's manifest in its OCI layout.
pub const KERNEL_REF: &str = "kernel";
/// Manifest annotation of a kernel artifact holding its version.
pub const VERSION_ANNOTATION: &str = "dev.zentoo.kernel.version";

/// What goes into the kernel tarball (and the directories leading to it).
const KERNEL_PATHS: [&str; 3] = ["boot", "lib/modules", "usr/lib/modules"];

/// A written kernel tarball.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelTarball {
    /// The kernel release, e.g. `6.6.58-gentoo-dist`.
    pub version: String,
    /// The tarball and its companions.
    pub tarball: StageTarball,
}

/// The file name of the kernel tarball of `tuple` at `version`.
pub fn file_name(tuple: &str, version: &str, compression: Compression) -> String {
    format!("kernel-{tuple}-{version}.tar.{}", compression.extension())
}

/// Whether the relative path `rel` belongs in the kernel tarball: one of `present` (the
/// [`KERNEL_PATHS`] the root has), below one, or a directory leading to one.
fn keep(present: &[&str], rel: &Path) -> bool {
    present.iter().any(|k| {
        let k = Path::new(k);
        rel.starts_with(k) || k.starts_with(rel)
    })
}

/// The kernel release installed in `root`: the name of its one `lib/modules/<version>`
/// directory (or `usr/lib/modules`); with several, the one that has `boot/vmlinuz-<version>`.
/// Symbolic links are never followed out of the root.
pub fn kernel_version(root: &Path) -> Result<String> {
    let mut versions = Vec::new();
    for dir in ["lib/modules", "usr/lib/modules"] {
        let mut path = root.to_path_buf();
        let mut linked = false;
        for part in dir.split('/') {
            path.push(part);
            linked |= fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        }
        if linked {
            continue; // merged /usr: lib -> usr/lib, seen as usr/lib/modules
        }
        let Ok(entries) = fs::read_dir(&path) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::read(&path, "directory", e))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name().to_string_lossy().to_string();
            if is_dir && !versions.contains(&name) {
                versions.push(name);
            }
        }
    }
    versions.sort();
    let booted: Vec<&String> = versions
        .iter()
        .filter(|v| {
            ["vmlinuz", "kernel", "bzImage", "Image"]
                .iter()
                .any(|k| root.join("boot").join(format!("{k}-{v}")).is_file())
        })
        .collect();
    match (versions.as_slice(), booted.as_slice()) {
        ([], _) => Err(Error::invalid(
            root.join("lib/modules").display().to_string(),
            "no kernel is installed (no /lib/modules/<version> directory): did the kernel package install one?",
        )),
        ([one], _) => Ok(one.clone()),
        (_, [one]) => Ok((*one).clone()),
        (all, _) => Err(Error::invalid(
            root.join("lib/modules").display().to_string(),
            format!(
                "several kernels are installed ({}) and not exactly one has /boot/vmlinuz-<version>",
                all.join(", ")
            ),
        )),
    }
}

/// Packs the kernel of `root` (`/boot`, `/lib/modules`) into
/// `out_dir/kernel-<tuple>-<version>.tar.xz` with its `.CONTENTS.gz` and `.DIGESTS`.
pub fn write_kernel(
    root: &Path,
    out_dir: &Path,
    tuple: &str,
    source_date_epoch: i64,
) -> Result<KernelTarball> {
    let version = kernel_version(root)?;
    if version.contains('/') || version.starts_with('.') {
        return Err(Error::invalid(
            version,
            "not a kernel release name usable in a file name",
        ));
    }
    let archive = Archive {
        name: file_name(tuple, &version, Compression::Xz),
        compression: Compression::Xz,
        source_date_epoch,
    };
    let present: Vec<&str> = KERNEL_PATHS
        .into_iter()
        .filter(|p| root.join(p).exists())
        .collect();
    let tarball = write_archive(root, |rel| keep(&present, rel), out_dir, &archive, |_| {})?;
    Ok(KernelTarball { version, tarball })
}

/// The reference the kernel of the image `image` is pushed to: its tag with `-kernel`
/// appended (`reg/zentoo/web:latest` → `reg/zentoo/web:latest-kernel`).
pub fn kernel_reference(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    if image[slash..].contains(':') {
        format!("{image}-kernel")
    } else {
        format!("{image}:latest-kernel")
    }
}

/// Writes `kernel` as an OCI artifact (artifact type [`spec::KERNEL_ARTIFACT`], an empty
/// config, the tarball and its `.DIGESTS` as layers) into a new layout at `dir`, named
/// [`KERNEL_REF`].
pub fn artifact_layout(kernel: &KernelTarball, dir: &Path) -> Result<Layout> {
    let layout = Layout::create(dir)?;
    add_artifact(&layout, kernel)?;
    Ok(layout)
}

/// Adds `kernel` as an OCI artifact named [`KERNEL_REF`] to `layout` (beside an image packed
/// there, for a later push of both).
pub fn add_artifact(layout: &Layout, kernel: &KernelTarball) -> Result<()> {
    let (empty, empty_size) = layout.write_blob(b"{}")?;
    let file_blob = |path: &Path, media_type: &str| -> Result<Descriptor> {
        let mut w = layout.blob_writer()?;
        let mut f = File::open(path).map_err(|e| Error::read(path, "file", e))?;
        std::io::copy(&mut f, &mut w).map_err(|e| Error::write(w.path().to_path_buf(), e))?;
        let (digest, size) = w.commit()?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            platform: None,
            annotations: Some(BTreeMap::from([(spec::TITLE.to_string(), name)])),
        })
    };
    let layers = vec![
        file_blob(&kernel.tarball.tarball, spec::KERNEL_LAYER)?,
        file_blob(&kernel.tarball.digests, "text/plain")?,
    ];
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(spec::MANIFEST.into()),
        artifact_type: Some(spec::KERNEL_ARTIFACT.into()),
        config: Descriptor {
            media_type: spec::EMPTY.into(),
            digest: empty,
            size: empty_size,
            artifact_type: None,
            platform: None,
            annotations: None,
        },
        layers,
        subject: None,
        annotations: Some(BTreeMap::from([(
            VERSION_ANNOTATION.to_string(),
            kernel.version.clone(),
        )])),
    };
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| Error::invalid("kernel manifest", e.to_string()))?;
    let (digest, size) = layout.write_blob(&bytes)?;
    let desc = Descriptor {
        media_type: spec::MANIFEST.into(),
        digest,
        size,
        artifact_type: None,
        platform: None,
        annotations: None,
    };
    layout.add_manifest(&desc, Some(KERNEL_REF))
}

/// The kernel artifact packed into `layout`, if any: (version, `sha256:` digest of the tarball).
pub fn packed_kernel(layout: &Layout) -> Result<Option<(String, String)>> {
    let Ok(desc) = layout.resolve(Some(KERNEL_REF)) else {
        return Ok(None);
    };
    let bytes = layout.read_blob(&desc.digest)?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::invalid(&desc.digest, e.to_string()))?;
    let version = manifest
        .annotations
        .as_ref()
        .and_then(|a| a.get(VERSION_ANNOTATION))
        .cloned()
        .ok_or_else(|| Error::invalid(&desc.digest, "kernel artifact without a version"))?;
    let digest = manifest
        .layers
        .first()
        .map(|l| l.digest.clone())
        .ok_or_else(|| Error::invalid(&desc.digest, "kernel artifact without its tarball"))?;
    Ok(Some((version, digest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn root_with(versions: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("boot")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("usr/bin/sh"), "sh").unwrap();
        for v in versions {
            fs::create_dir_all(root.join(format!("lib/modules/{v}/kernel"))).unwrap();
            fs::write(root.join(format!("lib/modules/{v}/modules.dep")), "").unwrap();
            fs::write(root.join(format!("boot/vmlinuz-{v}")), v).unwrap();
        }
        dir
    }

    #[test]
    fn the_kernel_tarball_holds_boot_and_modules_only() {
        let root = root_with(&["6.6.58-gentoo-dist"]);
        let out = tempfile::tempdir().unwrap();
        let k = write_kernel(
            root.path(),
            out.path(),
            "amd64-base-none-base",
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(k.version, "6.6.58-gentoo-dist");
        assert_eq!(
            k.tarball.tarball.file_name().unwrap(),
            "kernel-amd64-base-none-base-6.6.58-gentoo-dist.tar.xz"
        );
        let digests = fs::read_to_string(&k.tarball.digests).unwrap();
        assert!(digests.contains("# SHA512 HASH"), "{digests}");
        let mut xz = Vec::new();
        liblzma::read::XzDecoder::new(fs::File::open(&k.tarball.tarball).unwrap())
            .read_to_end(&mut xz)
            .unwrap();
        let mut archive = tar::Archive::new(xz.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"./boot/vmlinuz-6.6.58-gentoo-dist".to_string()));
        assert!(names.contains(&"./lib/modules/6.6.58-gentoo-dist/modules.dep".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("./usr")), "{names:?}");
    }

    #[test]
    fn kernels_are_pushed_under_the_image_tag_with_a_suffix() {
        assert_eq!(
            kernel_reference("reg:5000/zentoo/web:latest"),
            "reg:5000/zentoo/web:latest-kernel"
        );
        assert_eq!(
            kernel_reference("reg:5000/zentoo/web"),
            "reg:5000/zentoo/web:latest-kernel"
        );
        assert_eq!(
            kernel_reference("reg/web:v1@sha256:ab"),
            "reg/web:v1-kernel"
        );
    }

    #[test]
    fn the_artifact_layout_names_the_tarball_and_its_digests() {
        let root = root_with(&["6.6.1"]);
        let out = tempfile::tempdir().unwrap();
        let k = write_kernel(root.path(), out.path(), "t", 0).unwrap();
        let layout = artifact_layout(&k, &out.path().join("oci")).unwrap();
        let desc = layout.resolve(Some(KERNEL_REF)).unwrap();
        let manifest: Manifest =
            serde_json::from_slice(&layout.read_blob(&desc.digest).unwrap()).unwrap();
        assert_eq!(
            manifest.artifact_type.as_deref(),
            Some(spec::KERNEL_ARTIFACT)
        );
        assert_eq!(manifest.layers.len(), 2);
        assert_eq!(manifest.layers[0].digest, k.tarball.sha256);
        let title =
            |i: usize| manifest.layers[i].annotations.as_ref().unwrap()[spec::TITLE].clone();
        assert_eq!(title(0), "kernel-t-6.6.1.tar.xz");
        assert_eq!(title(1), "kernel-t-6.6.1.tar.xz.DIGESTS");
        assert_eq!(
            packed_kernel(&layout).unwrap(),
            Some(("6.6.1".to_string(), k.tarball.sha256.clone()))
        );
    }

    #[test]
    fn no_kernel_or_an_ambiguous_one_is_an_error() {
        let none = root_with(&[]);
        let e = kernel_version(none.path()).unwrap_err().to_string();
        assert!(e.contains("no kernel is installed"), "{e}");
        let two = root_with(&["6.1.1", "6.6.6"]);
        fs::remove_file(two.path().join("boot/vmlinuz-6.1.1")).unwrap();
        assert_eq!(kernel_version(two.path()).unwrap(), "6.6.6");
        fs::remove_file(two.path().join("boot/vmlinuz-6.6.6")).unwrap();
        let e = kernel_version(two.path()).unwrap_err().to_string();
        assert!(e.contains("6.1.1, 6.6.6"), "{e}");
    }

    #[test]
    fn merged_usr_modules_are_found_through_usr_lib() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib/modules/6.6.1/kernel")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        assert_eq!(kernel_version(root).unwrap(), "6.6.1");
    }
}
