//! Compressors (gzip, zstd, xz) and a hashing, counting writer, composed into one streaming
//! pass: tar → sha256 (diff id) → compressor → sha256 (blob digest) → file.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::{self, Write};

/// A compression format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (deflate), single-threaded.
    Gzip,
    /// zstd level 3, multi-threaded.
    #[default]
    Zstd,
    /// xz preset 6, multi-threaded with a fixed block size.
    Xz,
}

impl Compression {
    /// Media type of an OCI layer with this compression (`None` for xz: not an OCI layer type).
    pub fn layer_media_type(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::Zstd => Some("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::Xz => None,
        }
    }

    /// File name extension after `.tar`: `gz`, `zst`, `xz`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
            Compression::Xz => "xz",
        }
    }

    /// The format of a layer media type.
    pub fn from_layer_media_type(media_type: &str) -> Option<Self> {
        if media_type.ends_with("gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with("zstd") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

/// Worker threads for the multi-threaded compressors: one per core. Output does not depend on
/// it.
pub fn workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// A compressing writer.
pub enum Encoder<W: Write> {
    /// gzip: header with mtime 0 and no name.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// xz.
    Xz(liblzma::write::XzEncoder<W>),
}

/// xz block size: fixed, so multi-threaded output is the same whatever the thread count.
const XZ_BLOCK: u64 = 24 << 20;

/// zstd multi-threaded job size: a whole root in one layer.
pub const ZSTD_JOB: u32 = 4 << 20;

/// zstd job size of a package layer: smaller, so the workers stay busy to a layer's end
/// (each packing thread packs its layers one after another).
pub const ZSTD_LAYER_JOB: u32 = 1 << 20;

/// How much of the previous zstd job each job reloads: 1/64 of the window (zstd's default
/// for level 3 is 1/8). Each job hashed its overlap again, a quarter of a 1 MiB package-layer
/// job; at 1/64 layered packing went from 1.00x to 0.94x of `tar | zstd -T0` (same output size
/// within 0.1 %: see docs/benchmarks.md). Fixed, so output stays the same on every machine.
const ZSTD_OVERLAP_LOG: u32 = 3;

/// Memory xz may use across its threads.
const XZ_MEMLIMIT: u64 = 320 << 20;

impl<W: Write> Encoder<W> {
    /// A compressor writing to `inner`, with [`workers`] threads.
    pub fn new(format: Compression, inner: W) -> io::Result<Self> {
        Self::with_workers(format, inner, workers(), ZSTD_JOB)
    }

    /// A compressor writing to `inner` with `workers` threads (at least one; layers packed in
    /// parallel share the cores) and zstd jobs of `job` bytes. The output is the same for any
    /// count of workers; it depends on `job`.
    pub fn with_workers(format: Compression, inner: W, workers: u32, job: u32) -> io::Result<Self> {
        let workers = workers.max(1);
        Ok(match format {
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().write(inner, flate2::Compression::default()))
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, 3)?;
                // At least one worker: output with workers >= 1 does not depend on their count.
                enc.multithread(workers)?;
                // A fixed job size: bounded memory (a few jobs in flight per worker) and the
                // same output on every machine.
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(job))?;
                enc.set_parameter(zstd::stream::raw::CParameter::OverlapSizeLog(
                    ZSTD_OVERLAP_LOG,
                ))?;
                Encoder::Zstd(enc)
            }
            Compression::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .preset(6)
                    .threads(workers.min(4))
                    // liblzma drops threads to stay under this (a 512 MiB publish container);
                    // the output does not change with the thread count.
                    .memlimit_threading(XZ_MEMLIMIT)
                    .block_size(XZ_BLOCK)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
        })
    }

    /// Flushes the last frame and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::Xz(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}

/// A writer that hashes and counts what passes through.
pub struct HashWriter<W, D = sha2::Sha256> {
    inner: W,
    hasher: D,
    count: u64,
}

impl<W: Write, D: Digest> HashWriter<W, D> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: D::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner writer mutably.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer, the digest (lower-case hex) and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<W: Write, D: Digest> Write for HashWriter<W, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_format_round_trips_and_is_deterministic() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for format in [Compression::Gzip, Compression::Zstd, Compression::Xz] {
            let pack = || {
                let mut enc = Encoder::new(format, Vec::new()).unwrap();
                enc.write_all(&data).unwrap();
                enc.finish().unwrap()
            };
            let a = pack();
            assert_eq!(a, pack(), "{format:?}");
            let mut back = Vec::new();
            match format {
                Compression::Gzip => flate2::read::GzDecoder::new(&a[..])
                    .read_to_end(&mut back)
                    .unwrap(),
                Compression::Zstd => zstd::stream::read::Decoder::new(&a[..])
                    .unwrap()
                    .read_to_end(&mut back)
                    .unwrap(),
                Compression::Xz => liblzma::read::XzDecoder::new(&a[..])
                    .read_to_end(&mut back)
                    .unwrap(),
            };
            assert_eq!(back, data, "{format:?}");
        }
    }
}
