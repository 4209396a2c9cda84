//! The delay of the controller's watches before they retry after an error.

use backon::BackoffBuilder;
use std::time::Duration;

/// First delay after an error.
pub const MIN: Duration = Duration::from_millis(500);
/// Longest delay.
pub const MAX: Duration = Duration::from_secs(5);

/// 0.5 s doubling to 5 s, each delay plus up to as much again of jitter; reset by the next
/// event that is not an error. Used by every watch, and by both controllers for their merged
/// trigger streams (which a watch error pauses as a whole).
///
/// kube's default grows to 30 s (plus jitter). Every retry fails while the API server is
/// down, and the first one after it is back meets `410 Gone` (its watch cache starts anew):
/// with the default, a new tuple pushed after a 5 s API server restart got its Job 15–60 s
/// later; with this, 13–20 s (tests/it/faults.rs, docs/benchmarks.md). Five watches retrying
/// every 5–10 s during an outage are no load.
pub struct WatchBackoff {
    builder: backon::ExponentialBuilder,
    delays: backon::ExponentialBackoff,
}

impl WatchBackoff {
    /// A backoff at its first delay.
    pub fn new() -> Self {
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(MIN)
            .with_max_delay(MAX)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        WatchBackoff {
            delays: builder.build(),
            builder,
        }
    }
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.delays.next()
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn delays_grow_to_five_seconds_and_reset() {
        let mut backoff = WatchBackoff::new();
        let delays: Vec<Duration> = backoff.by_ref().take(12).collect();
        assert_eq!(delays.len(), 12, "never gives up");
        // Jitter adds up to one more delay.
        assert!(delays[0] >= MIN && delays[0] <= MIN * 2, "{delays:?}");
        assert!(delays.iter().all(|d| *d <= MAX * 2), "{delays:?}");
        assert!(delays[11] >= MAX, "{delays:?}");
        backoff.reset();
        let first = backoff.next().expect("a delay");
        assert!(first <= MIN * 2, "{first:?}");
    }
}
