//! The process's one tracing subscriber, for every in-process controller of every test: lines
//! on libtest's captured output, filtered by `ZENTOO_TEST_LOG` (default `zentoo=info,kube=warn`),
//! and, while a test holds a [`Capture`], every line at debug level (trace for zentoo) into a
//! buffer it reads. A process has one global subscriber: a test cannot install its own.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

static CAPTURING: AtomicBool = AtomicBool::new(false);
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// One capture at a time.
static CAPTURE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Installs the subscriber unless it is installed.
pub fn init() {
    let shown = EnvFilter::try_from_env("ZENTOO_TEST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("zentoo=info,kube=warn"));
    let captured =
        EnvFilter::new("debug,zentoo=trace").and(filter_fn(|_| CAPTURING.load(Ordering::Relaxed)));
    let _ = tracing_subscriber::registry()
        .with(fmt::layer().with_test_writer().with_filter(shown))
        .with(
            fmt::layer()
                .with_writer(|| Sink)
                .with_ansi(false)
                .with_filter(captured),
        )
        .try_init();
}

/// Every log line of the process, at debug level and above (trace for zentoo), from now until
/// dropped.
pub struct Capture {
    _one: tokio::sync::MutexGuard<'static, ()>,
}

/// Starts capturing (after any other test's capture ends).
pub async fn capture() -> Capture {
    init();
    let one = CAPTURE.lock().await;
    lock().clear();
    CAPTURING.store(true, Ordering::Relaxed);
    Capture { _one: one }
}

impl Capture {
    /// The lines captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock()).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURING.store(false, Ordering::Relaxed);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<u8>> {
    CAPTURED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends to the capture buffer.
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
