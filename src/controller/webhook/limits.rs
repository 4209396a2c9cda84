//! The webhook server's bounded state: per-site token buckets, recently seen delivery ids,
//! and a body reader that stops at the cap. Pure apart from reading the body stream.

use super::verify::Reject;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second, at most `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per key, at most `max_keys` of them (full, idle buckets are dropped first).
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    max_keys: usize,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// `rate` requests a second with bursts of `burst`, for at most `max_keys` keys.
    pub fn new(rate: f64, burst: u32, max_keys: usize) -> Self {
        RateLimiter {
            rate: rate.max(0.0),
            burst: f64::from(burst.max(1)),
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token of `key` at `now`; false when there is none.
    pub fn allow(&mut self, key: &str, now: Instant) -> bool {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            let (rate, burst) = (self.rate, self.burst);
            self.buckets
                .retain(|_, b| refill(b, now, rate, burst) < burst);
            if self.buckets.len() >= self.max_keys {
                return false;
            }
        }
        let bucket = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        if refill(bucket, now, self.rate, self.burst) >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refill(bucket: &mut Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.last = now;
    bucket.tokens
}

/// Delivery ids seen recently, at most `capacity`; the oldest is forgotten first.
#[derive(Debug)]
pub struct Deliveries {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl Deliveries {
    /// Remembers up to `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Deliveries {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Records `id` (scoped by `key`, the site); [`Reject::Replayed`] when it was seen.
    pub fn record(&mut self, key: &str, id: &str) -> Result<(), Reject> {
        let entry = format!("{key}\n{id}");
        if self.seen.contains(&entry) {
            return Err(Reject::Replayed);
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(entry.clone());
        self.order.push_back(entry);
        Ok(())
    }

    /// Forgets `id` again (its delivery was not acted on, so a retry must be accepted).
    pub fn forget(&mut self, key: &str, id: &str) {
        let entry = format!("{key}\n{id}");
        if self.seen.remove(&entry) {
            self.order.retain(|e| e != &entry);
        }
    }
}

/// Reads `body` up to `limit` bytes: [`Reject::TooLarge`] as soon as more arrives (never
/// buffering more than `limit` plus one chunk), [`Reject::Malformed`] when the stream fails.
pub async fn read_capped<S, E>(body: S, limit: usize) -> Result<Bytes, Reject>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Reject::Malformed)?;
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(Reject::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Pushes to one site that arrive within a window are coalesced: the first is acted on at
/// once; later ones in the window schedule one trailing request at the window's end.
#[derive(Debug, Default)]
pub struct Debouncer {
    window: Duration,
    last: HashMap<String, (Instant, bool)>,
}

/// Longest window a site may ask for (bounds the state kept per site).
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// What to do with a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Debounced {
    /// Request a fetch now.
    Now,
    /// Request a fetch after this delay (this push starts the trailing request).
    After(Duration),
    /// A trailing request is already scheduled; nothing to do.
    Coalesced,
}

impl Debouncer {
    /// Coalesces pushes within `window` (zero: every push acts at once).
    pub fn new(window: Duration) -> Self {
        Debouncer {
            window,
            last: HashMap::new(),
        }
    }

    /// Decides for a push to `key` at `now`, with the default window.
    pub fn push(&mut self, key: &str, now: Instant) -> Debounced {
        self.push_within(key, now, self.window)
    }

    /// Decides for a push to `key` at `now`, coalescing within `window` (the site's own).
    pub fn push_within(&mut self, key: &str, now: Instant, window: Duration) -> Debounced {
        if window.is_zero() {
            self.last.remove(key);
            return Debounced::Now;
        }
        let window = window.min(MAX_WINDOW);
        self.last
            .retain(|_, (at, pending)| *pending || now.saturating_duration_since(*at) < MAX_WINDOW);
        match self.last.get_mut(key) {
            None => {
                self.last.insert(key.to_string(), (now, false));
                Debounced::Now
            }
            Some((_, true)) => Debounced::Coalesced,
            Some((at, _)) if now.saturating_duration_since(*at) >= window => {
                *at = now;
                Debounced::Now
            }
            Some((at, pending)) => {
                *pending = true;
                Debounced::After(window.saturating_sub(now.saturating_duration_since(*at)))
            }
        }
    }

    /// The trailing request of `key` was made at `now`.
    pub fn fired(&mut self, key: &str, now: Instant) {
        self.last.insert(key.to_string(), (now, false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let mut limits = RateLimiter::new(10.0, 20, 100);
        let t0 = Instant::now();
        assert_eq!((0..25).filter(|_| limits.allow("a", t0)).count(), 20);
        assert!(limits.allow("b", t0), "buckets are per site");
        assert!(!limits.allow("a", t0 + Duration::from_millis(50)));
        assert!(limits.allow("a", t0 + Duration::from_millis(110)));
    }

    #[test]
    fn the_limiter_keeps_a_bounded_number_of_keys() {
        let mut limits = RateLimiter::new(1.0, 1, 2);
        let t0 = Instant::now();
        assert!(limits.allow("a", t0));
        assert!(limits.allow("b", t0));
        assert!(!limits.allow("c", t0), "full and every bucket busy");
        assert!(
            limits.allow("c", t0 + Duration::from_secs(2)),
            "idle ones dropped"
        );
    }

    #[test]
    fn a_replayed_delivery_is_refused_and_old_ids_are_forgotten() {
        let mut seen = Deliveries::new(2);
        assert_eq!(seen.record("s", "1"), Ok(()));
        assert_eq!(seen.record("s", "1"), Err(Reject::Replayed));
        assert_eq!(seen.record("t", "1"), Ok(()), "ids are per site");
        assert_eq!(seen.record("s", "2"), Ok(()));
        assert_eq!(seen.record("s", "1"), Ok(()), "evicted, bounded");
        seen.forget("s", "1");
        assert_eq!(seen.record("s", "1"), Ok(()));
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_while_reading() {
        let chunks = |n: usize| {
            futures::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))),
            )
        };
        assert_eq!(
            read_capped(chunks(4), 4096).await.map(|b| b.len()),
            Ok(4096)
        );
        assert_eq!(read_capped(chunks(5), 4096).await, Err(Reject::TooLarge));
        // An endless body is cut off, not buffered.
        let endless =
            futures::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from_static(b"xx")));
        assert_eq!(read_capped(endless, 1 << 20).await, Err(Reject::TooLarge));
        let broken = futures::stream::iter([Err::<Bytes, _>(std::io::Error::other("reset"))]);
        assert_eq!(read_capped(broken, 10).await, Err(Reject::Malformed));
    }

    #[test]
    fn pushes_within_the_window_coalesce_into_one_trailing_request() {
        let mut d = Debouncer::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(d.push("s", t0), Debounced::Now);
        assert_eq!(
            d.push("s", t0 + Duration::from_secs(1)),
            Debounced::After(Duration::from_secs(4))
        );
        assert_eq!(
            d.push("s", t0 + Duration::from_secs(2)),
            Debounced::Coalesced
        );
        assert_eq!(d.push("t", t0 + Duration::from_secs(2)), Debounced::Now);
        d.fired("s", t0 + Duration::from_secs(5));
        assert_eq!(
            d.push("s", t0 + Duration::from_secs(11)),
            Debounced::Now,
            "a quiet window later acts at once"
        );
        let mut off = Debouncer::new(Duration::ZERO);
        assert_eq!(off.push("s", t0), Debounced::Now);
        assert_eq!(off.push("s", t0), Debounced::Now);
    }

    #[test]
    fn a_site_may_bring_its_own_window() {
        let mut d = Debouncer::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let two = Duration::from_secs(2);
        assert_eq!(d.push_within("s", t0, two), Debounced::Now);
        assert_eq!(
            d.push_within("s", t0 + Duration::from_secs(1), two),
            Debounced::After(Duration::from_secs(1))
        );
        d.fired("s", t0 + two);
        assert_eq!(
            d.push_within("s", t0 + Duration::from_secs(5), two),
            Debounced::Now,
            "a quiet window of the site's length later"
        );
        assert_eq!(d.push_within("s", t0, Duration::ZERO), Debounced::Now);
    }
}
