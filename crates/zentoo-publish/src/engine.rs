//! Loading an image into a container engine (Docker, or Podman's Docker-compatible socket at
//! `$DOCKER_HOST`) with `POST /images/load` of a docker-archive, streamed: the layer is
//! decompressed on the fly, never held in memory.

use super::compress::Compression;
use super::error::{Error, Result};
use super::layout::Layout;
use super::oci::{BuiltImage, BuiltLayer};
use super::spec::digest_hex;
use bollard::Docker;
use bollard::query_parameters::ImportImageOptions;
use bytes::Bytes;
use futures::StreamExt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use tar::{EntryType, Header};
use tokio::sync::mpsc;

fn engine_error(operation: &str, message: impl ToString) -> Error {
    Error::Engine {
        operation: operation.into(),
        message: message.to_string(),
    }
}

/// Connects to the engine at `$DOCKER_HOST` (else the platform default).
pub async fn connect_default() -> Result<Docker> {
    Docker::connect_with_defaults()
        .map_err(|e| engine_error("connect", e))?
        .negotiate_version()
        .await
        .map_err(|e| engine_error("connect", super::registry::chain(&e)))
}

/// Loads `image` (written to `layout`) into the engine `docker`, tagged `reference`.
pub async fn load(
    docker: &Docker,
    layout: &Layout,
    image: &BuiltImage,
    reference: &str,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let layout = layout.clone();
    let image = image.clone();
    let reference = reference.to_string();
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx.clone());
        if let Err(e) = write_archive(&layout, &image, &reference, &mut out) {
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    let body = async_stream(&mut rx);
    let mut responses = docker.import_image_stream(
        ImportImageOptions {
            quiet: true,
            platform: None,
        },
        body,
        None,
    );
    let mut failure = None;
    while let Some(item) = responses.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    failure = Some(detail.message.unwrap_or_else(|| "load failed".into()));
                }
            }
            Err(e) => failure = Some(super::registry::chain(&e)),
        }
    }
    writer.await.map_err(|e| engine_error("load", e))?;
    match failure {
        Some(message) => Err(engine_error("load", message)),
        None => Ok(()),
    }
}

fn async_stream(
    rx: &mut mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (_, empty) = mpsc::channel(1);
    let rx = std::mem::replace(rx, empty);
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// Sends written bytes as 1 MiB chunks into the request body.
struct ChannelWriter(mpsc::Sender<io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "engine closed the request"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a docker-archive (`manifest.json`, config, uncompressed layers) of `image`.
pub fn write_archive(
    layout: &Layout,
    image: &BuiltImage,
    reference: &str,
    out: impl Write,
) -> Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let fail = |e: io::Error| engine_error("write docker-archive", e);
    let config_hex = digest_hex(&image.config.digest)
        .ok_or_else(|| Error::invalid(&image.config.digest, "not a sha256 digest"))?;
    let config_name = format!("{config_hex}.json");
    let config = layout.read_blob(&image.config.digest)?;
    entry(&mut out, &config_name, &config).map_err(fail)?;
    let mut layer_names = Vec::with_capacity(image.layers.len());
    for layer in &image.layers {
        let diff_hex = digest_hex(&layer.diff_id)
            .ok_or_else(|| Error::invalid(&layer.diff_id, "not a sha256 digest"))?;
        let layer_name = format!("{diff_hex}/layer.tar");
        write_layer(layout, layer, &layer_name, &mut out)?;
        layer_names.push(layer_name);
    }
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [reference],
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest)
        .map_err(|e| Error::invalid("manifest.json", e.to_string()))?;
    entry(&mut out, "manifest.json", &manifest).map_err(fail)?;
    out.write_all(&[0u8; 1024]).map_err(fail)?;
    out.flush().map_err(fail)
}

/// Appends one layer, decompressed, as `name`.
fn write_layer(
    layout: &Layout,
    layer: &BuiltLayer,
    name: &str,
    out: &mut impl Write,
) -> Result<()> {
    let fail = |e: io::Error| engine_error("write docker-archive", e);
    let blob = &layer.descriptor;
    let path = layout.blob_path(&blob.digest)?;
    let file = BufReader::new(File::open(&path).map_err(|e| Error::read(&path, "blob", e))?);
    let mut reader: Box<dyn Read> = match Compression::from_layer_media_type(&blob.media_type) {
        Some(Compression::Gzip) => Box::new(flate2::read::GzDecoder::new(file)),
        Some(Compression::Zstd) => {
            Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(fail)?)
        }
        _ => {
            return Err(Error::invalid(
                &blob.media_type,
                "unknown layer compression",
            ));
        }
    };
    let mut header = header(name, layer.diff_size);
    header.set_cksum();
    out.write_all(header.as_bytes()).map_err(fail)?;
    let copied = io::copy(&mut reader, out).map_err(fail)?;
    if copied != layer.diff_size {
        return Err(Error::invalid(
            &blob.digest,
            "layer size differs from its record",
        ));
    }
    pad(out, copied).map_err(fail)
}

fn header(name: &str, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    let _ = h.set_path(name);
    h
}

fn entry(out: &mut impl Write, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = header(name, data.len() as u64);
    h.set_cksum();
    out.write_all(h.as_bytes())?;
    out.write_all(data)?;
    pad(out, data.len() as u64)
}

fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..rem as usize])
}
