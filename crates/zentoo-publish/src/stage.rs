//! A Gentoo stage tarball from a root: `stage3-<tuple>-<YYYYMMDDTHHMMSSZ>.tar.xz` (or `.tar.zst`)
//! made like `tar --xattrs --numeric-owner -C root -cf - .`, with `.CONTENTS.gz` and
//! `.DIGESTS` beside it in the format of Gentoo's releases.

use super::compress::{Compression, HashWriter};
use super::contents::Lister;
use super::error::{Error, Result};
use super::pipe::compress_pipelined;
use super::tar::{Archived, TarOptions, TarStats, write_tree_where};
use super::time::release_stamp;
use blake2::Blake2b512;
use sha2::{Digest, Sha256, Sha512};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How to make a stage tarball.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageOptions {
    /// The stage name prefix: `stage3` (or `stage4`, ...).
    pub stage: String,
    /// The tuple (or arch-flavour) in the name: `amd64-openrc`, `znver3-server-none-web`.
    pub tuple: String,
    /// xz (Gentoo's format) or zstd; gzip also works.
    pub compression: Compression,
    /// The build time: names the file and clamps mtimes.
    pub source_date_epoch: i64,
}

impl StageOptions {
    /// A `stage3` xz tarball of `tuple` at `source_date_epoch`.
    pub fn new(tuple: &str, source_date_epoch: i64) -> Self {
        StageOptions {
            stage: "stage3".into(),
            tuple: tuple.into(),
            compression: Compression::Xz,
            source_date_epoch,
        }
    }

    /// The tarball's file name.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.tar.{}",
            self.stage,
            self.tuple,
            release_stamp(self.source_date_epoch),
            self.compression.extension()
        )
    }
}

/// A written stage tarball and its companions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageTarball {
    /// The tarball.
    pub tarball: PathBuf,
    /// `<tarball>.CONTENTS.gz`.
    pub contents: PathBuf,
    /// `<tarball>.DIGESTS`.
    pub digests: PathBuf,
    /// `sha256:<hex>` of the tarball.
    pub sha256: String,
    /// Size of the tarball.
    pub size: u64,
    /// Entries and content bytes packed.
    pub stats: TarStats,
}

/// Writes the stage tarball of `root` into `out_dir` (see [`write_stage_with`]).
pub fn write_stage(root: &Path, out_dir: &Path, opts: &StageOptions) -> Result<StageTarball> {
    write_stage_with(root, out_dir, opts, |_| {})
}

type Hashed = HashWriter<HashWriter<HashWriter<BufWriter<File>, Sha256>, Sha512>, Blake2b512>;

/// Writes the stage tarball of `root` into `out_dir`, calling `observe` after each entry.
/// Files appear under their final names only once complete.
pub fn write_stage_with(
    root: &Path,
    out_dir: &Path,
    opts: &StageOptions,
    observe: impl FnMut(&Archived<'_>),
) -> Result<StageTarball> {
    let archive = Archive {
        name: opts.file_name(),
        compression: opts.compression,
        source_date_epoch: opts.source_date_epoch,
    };
    write_archive(root, |_| true, out_dir, &archive, observe)
}

/// One tarball with its companions: its file name, compression and build time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Archive {
    /// The tarball's file name.
    pub name: String,
    /// Its compression.
    pub compression: Compression,
    /// The build time: clamps mtimes.
    pub source_date_epoch: i64,
}

/// Writes the tarball `archive` of the entries of `root` that `keep` accepts into `out_dir`,
/// with `.CONTENTS.gz` and `.DIGESTS` beside it.
pub(crate) fn write_archive(
    root: &Path,
    keep: impl Fn(&Path) -> bool,
    out_dir: &Path,
    archive: &Archive,
    mut observe: impl FnMut(&Archived<'_>),
) -> Result<StageTarball> {
    let opts = archive;
    fs::create_dir_all(out_dir).map_err(|e| Error::write(out_dir, e))?;
    let name = archive.name.clone();
    let tarball = out_dir.join(&name);
    let contents = out_dir.join(format!("{name}.CONTENTS.gz"));
    let digests = out_dir.join(format!("{name}.DIGESTS"));
    let tmp = Temp(vec![
        out_dir.join(format!(".{name}.tmp")),
        out_dir.join(format!(".{name}.CONTENTS.gz.tmp")),
    ]);
    let file = File::create(&tmp.0[0]).map_err(|e| Error::write(&tmp.0[0], e))?;
    let hashed: Hashed = HashWriter::new(HashWriter::new(HashWriter::new(
        BufWriter::with_capacity(256 << 10, file),
    )));
    let list_file = File::create(&tmp.0[1]).map_err(|e| Error::write(&tmp.0[1], e))?;
    let mut listing =
        flate2::GzBuilder::new().write(BufWriter::new(list_file), flate2::Compression::best());
    let mut lister = Lister::default();
    let mut list_error = None;
    let tar_opts = TarOptions {
        dot_prefix: true,
        clamp_mtime: opts.source_date_epoch,
    };
    let (stats, hashed) = compress_pipelined(opts.compression, hashed, &tarball, |out| {
        write_tree_where(root, keep, out, &tarball, &tar_opts, |a| {
            if list_error.is_none() {
                list_error = listing.write_all(&lister.line(a)).err();
            }
            observe(a);
        })
    })?;
    if let Some(e) = list_error {
        return Err(Error::write(&contents, e));
    }
    let listed = listing.finish().map_err(|e| Error::write(&contents, e))?;
    finish_file(listed, &tmp.0[1], true)?;
    let (inner, blake2b, _) = hashed.finish();
    let (inner, sha512, _) = inner.finish();
    let (buf, sha256, size) = inner.finish();
    finish_file(buf, &tmp.0[0], false)?;

    let (contents_sha512, contents_blake2b) = hash_file(&tmp.0[1])?;
    let contents_name = format!("{name}.CONTENTS.gz");
    let text = format!(
        "# BLAKE2B HASH\n{blake2b}  {name}\n# SHA512 HASH\n{sha512}  {name}\n\
         # BLAKE2B HASH\n{contents_blake2b}  {contents_name}\n\
         # SHA512 HASH\n{contents_sha512}  {contents_name}\n"
    );
    super::layout::write_atomic(&digests, text.as_bytes())?;
    fs::rename(&tmp.0[1], &contents).map_err(|e| Error::write(&contents, e))?;
    fs::rename(&tmp.0[0], &tarball).map_err(|e| Error::write(&tarball, e))?;
    Ok(StageTarball {
        tarball,
        contents,
        digests,
        sha256: format!("sha256:{sha256}"),
        size,
        stats,
    })
}

/// Temporary files removed unless renamed.
struct Temp(Vec<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// Flushes a buffered file; `sync` also waits for the disk (small files only: the tarball is
/// renamed into place complete, and its DIGESTS catch a torn write).
fn finish_file(buf: BufWriter<File>, path: &Path, sync: bool) -> Result<()> {
    let file = buf
        .into_inner()
        .map_err(|e| Error::write(path, e.into_error()))?;
    if sync {
        file.sync_all().map_err(|e| Error::write(path, e))?;
    }
    Ok(())
}

/// (sha512, blake2b) of a file, lower-case hex.
fn hash_file(path: &Path) -> Result<(String, String)> {
    let mut file = File::open(path).map_err(|e| Error::read(path, "file", e))?;
    let (mut sha512, mut blake2b) = (Sha512::new(), Blake2b512::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::read(path, "file", e))?;
        if n == 0 {
            break;
        }
        sha512.update(&buf[..n]);
        blake2b.update(&buf[..n]);
    }
    Ok((
        hex::encode(sha512.finalize()),
        hex::encode(blake2b.finalize()),
    ))
}
