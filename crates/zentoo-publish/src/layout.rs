//! An OCI image layout directory: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
//! Blobs are written to a temporary name and renamed into place once their digest is known.

use super::compress::HashWriter;
use super::error::{Error, Result};
use super::spec::{self, Descriptor, INDEX, Index, REF_NAME};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

/// A blob being written; [`BlobWriter::commit`] names it by its digest.
pub struct BlobWriter {
    tmp: PathBuf,
    out: Option<HashWriter<BufWriter<File>>>,
    blobs: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Layout {
    /// Opens `dir` as a layout, creating it (and its `oci-layout` and `index.json`) if needed.
    pub fn create(dir: &Path) -> Result<Layout> {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::write(&blobs, e))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let layout = Layout { dir: dir.into() };
        if !layout.index_path().exists() {
            layout.write_index(&Index {
                schema_version: 2,
                media_type: Some(INDEX.into()),
                manifests: Vec::new(),
                annotations: None,
            })?;
        }
        Ok(layout)
    }

    /// Opens an existing layout.
    pub fn open(dir: &Path) -> Result<Layout> {
        if !dir.join("oci-layout").is_file() {
            return Err(Error::invalid(
                dir.display().to_string(),
                "not an OCI layout (no oci-layout file)",
            ));
        }
        Ok(Layout { dir: dir.into() })
    }

    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `sha256:<hex>` is.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = spec::digest_hex(digest)
            .ok_or_else(|| Error::invalid(digest, "not a sha256 digest"))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    /// Starts writing a blob.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let blobs = self.dir.join("blobs/sha256");
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = blobs.join(format!(".tmp-{}-{n}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::write(&tmp, e))?;
        Ok(BlobWriter {
            tmp,
            out: Some(HashWriter::new(BufWriter::with_capacity(256 << 10, file))),
            blobs,
        })
    }

    /// Writes a whole blob; returns its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(String, u64)> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).map_err(|e| Error::write(&w.tmp, e))?;
        w.commit()
    }

    /// Reads a whole (small) blob.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| Error::read(path, "blob", e))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.index_path();
        let text = fs::read(&path).map_err(|e| Error::read(&path, "index", e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let bytes =
            serde_json::to_vec(index).map_err(|e| Error::invalid("index.json", e.to_string()))?;
        write_atomic(&self.index_path(), &bytes)
    }

    /// Records `manifest` in `index.json` under `ref_name` (replacing an entry of that name).
    pub fn add_manifest(&self, manifest: &Descriptor, ref_name: Option<&str>) -> Result<()> {
        let mut index = self.index()?;
        let mut desc = manifest.clone();
        if let Some(name) = ref_name {
            index.manifests.retain(|m| ref_of(m) != Some(name));
            desc.annotations
                .get_or_insert_with(Default::default)
                .insert(REF_NAME.into(), name.into());
        } else {
            index
                .manifests
                .retain(|m| m.digest != desc.digest || ref_of(m).is_some());
        }
        index.manifests.push(desc);
        self.write_index(&index)
    }

    /// The manifest named `ref_name`, or the only one when `None`.
    pub fn resolve(&self, ref_name: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let what = || self.dir.display().to_string();
        match ref_name {
            Some(name) => index
                .manifests
                .into_iter()
                .find(|m| ref_of(m) == Some(name))
                .ok_or_else(|| Error::invalid(what(), format!("no manifest named `{name}`"))),
            None if index.manifests.len() == 1 => Ok(index.manifests[0].clone()),
            None => Err(Error::invalid(
                what(),
                format!("{} manifests: name one", index.manifests.len()),
            )),
        }
    }
}

fn ref_of(desc: &Descriptor) -> Option<&str> {
    desc.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.out.as_ref().map_or(0, HashWriter::count)
    }

    /// The temporary path (for errors).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the blob to its digest; returns (`sha256:<hex>`, size). No fsync: a blob is
    /// named by its content and a torn one fails verification on push or pull.
    pub fn commit(mut self) -> Result<(String, u64)> {
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::invalid("blob", "committed twice"))?;
        let (buf, hex, size) = out.finish();
        buf.into_inner()
            .map_err(|e| Error::write(&self.tmp, e.into_error()))?;
        let dest = self.blobs.join(&hex);
        fs::rename(&self.tmp, &dest).map_err(|e| Error::write(&dest, e))?;
        Ok((format!("sha256:{hex}"), size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(buf),
            None => Err(std::io::Error::other("blob already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a commit the temporary name is gone; otherwise clean up a failed write.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = File::create(&tmp).map_err(|e| Error::write(&tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::write(&tmp, e))?;
    file.sync_all().map_err(|e| Error::write(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::write(path, e))
}
