//! Two-stage pipeline: the calling thread walks and tars (and hashes the uncompressed
//! stream), a second thread compresses and writes. Bounded: a few 256 KiB buffers in flight.

use super::compress::{Compression, Encoder, ZSTD_JOB, workers};
use super::error::{Error, Result};
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

const CHUNK: usize = 256 * 1024;
const IN_FLIGHT: usize = 4;

/// The producer's end: buffers writes and hands full chunks to the compressor thread.
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
    back: Receiver<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let fresh = match self.back.try_recv() {
            Ok(mut used) => {
                used.clear();
                used
            }
            Err(_) => Vec::with_capacity(CHUNK),
        };
        let full = std::mem::replace(&mut self.buf, fresh);
        let tx = self.tx.as_ref().ok_or_else(closed)?;
        tx.send(full).map_err(|_| closed())
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "compressor stopped")
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `produce` on this thread writing into a [`ChunkWriter`] while another thread
/// compresses into `sink`; returns what `produce` returned and the sink.
pub fn compress_pipelined<W, T>(
    compression: Compression,
    sink: W,
    sink_path: &Path,
    produce: impl FnOnce(&mut ChunkWriter) -> Result<T>,
) -> Result<(T, W)>
where
    W: Write + Send,
{
    compress_pipelined_with(compression, workers(), ZSTD_JOB, sink, sink_path, produce)
}

/// [`compress_pipelined`] with `workers` compression threads and zstd jobs of `job` bytes.
pub fn compress_pipelined_with<W, T>(
    compression: Compression,
    workers: u32,
    job: u32,
    sink: W,
    sink_path: &Path,
    produce: impl FnOnce(&mut ChunkWriter) -> Result<T>,
) -> Result<(T, W)>
where
    W: Write + Send,
{
    let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (back_tx, back_rx) = channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || -> io::Result<W> {
            let mut enc = Encoder::with_workers(compression, sink, workers, job)?;
            for buf in rx {
                enc.write_all(&buf)?;
                let _ = back_tx.send(buf);
            }
            enc.finish()
        });
        let mut writer = ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            back: back_rx,
        };
        let produced = produce(&mut writer).and_then(|t| {
            writer
                .send()
                .map(|()| t)
                .map_err(|e| Error::write(sink_path, e))
        });
        writer.tx = None; // end of stream
        let consumed = consumer
            .join()
            .map_err(|_| Error::write(sink_path, io::Error::other("compressor thread panicked")))?
            .map_err(|e| Error::write(sink_path, e));
        match (produced, consumed) {
            (Ok(t), Ok(sink)) => Ok((t, sink)),
            // The compressor's own failure explains a stopped pipe best.
            (Err(Error::Write { source, .. }), Err(e))
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                Err(e)
            }
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        }
    })
}
