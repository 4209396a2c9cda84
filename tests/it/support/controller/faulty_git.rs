//! Git servers that fail the way networks do: a loopback TCP listener that accepts and then
//! never answers (a hung server or a black-holed connection), or one that resets every
//! connection at once. Both count the connections they accepted (each is one fetch attempt).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// How a [`FaultyGit`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Accepts, reads nothing, writes nothing, keeps the connection open.
    Hang,
    /// Accepts and closes at once with a TCP reset (`SO_LINGER` 0).
    Reset,
}

/// A git "server" on 127.0.0.1 that fails every connection the same way; stopped on drop.
pub struct FaultyGit {
    task: tokio::task::JoinHandle<()>,
    accepted: Arc<AtomicUsize>,
    /// `git://127.0.0.1:<port>/site`.
    pub url: String,
}

impl FaultyGit {
    /// Starts listening on a free loopback port (in the test's runtime).
    pub async fn start(fault: Fault) -> FaultyGit {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            // Hung connections are kept here until the server stops.
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                match fault {
                    Fault::Hang => held.push(stream),
                    Fault::Reset => {
                        let _ = stream.set_zero_linger();
                        drop(stream);
                    }
                }
            }
        });
        FaultyGit {
            task,
            accepted,
            url: format!("git://127.0.0.1:{port}/site"),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyGit {
    fn drop(&mut self) {
        self.task.abort();
    }
}
