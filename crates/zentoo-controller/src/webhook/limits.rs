//! The webhook server's bounded state: per-site token buckets, the deliveries each site saw
//! recently, and a body reader that stops at the cap. Pure apart from reading the body stream.

use super::verify::Reject;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

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

/// Deliveries each site saw recently, at most `per_site` of them a site (the oldest is
/// forgotten first) and at most `max_sites` sites; only verified deliveries are recorded, so a
/// flood of forged ones cannot push genuine ids out.
#[derive(Debug)]
pub struct Deliveries {
    per_site: usize,
    max_sites: usize,
    sites: HashMap<String, Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Deliveries {
    /// Remembers up to `per_site` deliveries for each of up to `max_sites` sites.
    pub fn new(per_site: usize, max_sites: usize) -> Self {
        Deliveries {
            per_site: per_site.max(1),
            max_sites: max_sites.max(1),
            sites: HashMap::new(),
        }
    }

    /// Records the delivery of site `key` known by `ids` (its delivery id, the digest of its
    /// body): [`Reject::Replayed`] when any of them was seen, and then nothing is recorded.
    pub fn record(&mut self, key: &str, ids: &[&str]) -> Result<(), Reject> {
        if let Some(seen) = self.sites.get(key)
            && ids.iter().any(|id| seen.ids.contains(*id))
        {
            return Err(Reject::Replayed);
        }
        if !self.sites.contains_key(key)
            && self.sites.len() >= self.max_sites
            && let Some(evicted) = self.sites.keys().next().cloned()
        {
            self.sites.remove(&evicted);
        }
        let seen = self.sites.entry(key.to_string()).or_default();
        for id in ids {
            while seen.order.len() >= self.per_site {
                if let Some(old) = seen.order.pop_front() {
                    seen.ids.remove(&old);
                }
            }
            seen.ids.insert(id.to_string());
            seen.order.push_back(id.to_string());
        }
        Ok(())
    }

    /// Forgets `ids` of site `key` again (the delivery was not acted on: a retry must be
    /// accepted).
    pub fn forget(&mut self, key: &str, ids: &[&str]) {
        if let Some(seen) = self.sites.get_mut(key) {
            for id in ids {
                if seen.ids.remove(*id) {
                    seen.order.retain(|e| e != id);
                }
            }
        }
    }

    /// Ids remembered in all, for tests and memory bounds.
    pub fn len(&self) -> usize {
        self.sites.values().map(|s| s.order.len()).sum()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads `body` up to `limit` bytes: [`Reject::TooLarge`] as soon as more arrives (never
/// buffering more than `limit` plus one chunk), [`Reject::Malformed`] when the stream fails.
/// Each chunk first takes its size (in KiB) from `budget`, shared by every request, and the
/// body holds it until the returned permit drops: a client trickling its body holds only what
/// it sent, and all bodies together never buffer more than the budget (a chunk waits for room).
pub async fn read_capped<'a, S, E>(
    body: S,
    limit: usize,
    budget: &'a Semaphore,
) -> Result<(Bytes, Option<SemaphorePermit<'a>>), Reject>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    let mut held: Option<SemaphorePermit<'a>> = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Reject::Malformed)?;
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(Reject::TooLarge);
        }
        let kib = u32::try_from(chunk.len().div_ceil(1024)).map_err(|_| Reject::TooLarge)?;
        if kib > 0 {
            let permit = budget
                .acquire_many(kib)
                .await
                .map_err(|_| Reject::Internal)?;
            match held.as_mut() {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out.freeze(), held))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn a_replayed_delivery_is_refused_and_each_site_keeps_a_bounded_memory() {
        let mut seen = Deliveries::new(4, 2);
        assert_eq!(seen.record("s", &["id1", "body1"]), Ok(()));
        assert_eq!(seen.record("s", &["id1", "body9"]), Err(Reject::Replayed));
        assert_eq!(
            seen.record("s", &["id2", "body1"]),
            Err(Reject::Replayed),
            "the same body under a new id"
        );
        assert_eq!(seen.record("s", &["body1"]), Err(Reject::Replayed), "no id");
        assert_eq!(seen.record("t", &["id1", "body1"]), Ok(()), "per site");
        assert_eq!(seen.record("s", &["id2", "body2"]), Ok(()));
        assert_eq!(seen.record("s", &["id3", "body3"]), Ok(()));
        assert_eq!(
            seen.len(),
            6,
            "at most 4 a site: s keeps its newest 4, t its 2"
        );
        assert_eq!(seen.record("s", &["id1", "body1"]), Ok(()), "evicted");
        seen.forget("s", &["id1", "body1"]);
        assert_eq!(seen.record("s", &["id1", "body1"]), Ok(()));
        // A third site evicts one of the two others: never more than 2 x 4 ids.
        assert_eq!(seen.record("u", &["x"]), Ok(()));
        assert!(seen.len() <= 8, "{}", seen.len());
        assert_eq!(seen.sites.len(), 2);
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_while_reading() {
        let budget = Semaphore::new(1 << 20);
        let chunks = |n: usize| {
            futures::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))),
            )
        };
        let read = read_capped(chunks(4), 4096, &budget)
            .await
            .map(|b| b.0.len());
        assert_eq!(read, Ok(4096));
        assert!(matches!(
            read_capped(chunks(5), 4096, &budget).await,
            Err(Reject::TooLarge)
        ));
        // An endless body is cut off, not buffered.
        let endless =
            futures::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from_static(b"xx")));
        assert!(matches!(
            read_capped(endless, 1 << 20, &budget).await,
            Err(Reject::TooLarge)
        ));
        let broken = futures::stream::iter([Err::<Bytes, _>(std::io::Error::other("reset"))]);
        assert!(matches!(
            read_capped(broken, 10, &budget).await,
            Err(Reject::Malformed)
        ));
        assert_eq!(budget.available_permits(), 1 << 20, "all given back");
    }

    #[tokio::test]
    async fn bodies_share_a_byte_budget_and_hold_it_until_dropped() {
        let budget = Semaphore::new(8); // 8 KiB
        let chunks = |n: usize| {
            futures::stream::iter(
                (0..n).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))),
            )
        };
        let (first, held) = read_capped(chunks(6), 1 << 20, &budget)
            .await
            .expect("6 KiB fit");
        assert_eq!(first.len(), 6 * 1024);
        assert_eq!(budget.available_permits(), 2);
        // A second body of 4 KiB waits for room while the first is held.
        let waiting = tokio::time::timeout(
            Duration::from_millis(200),
            read_capped(chunks(4), 1 << 20, &budget),
        )
        .await;
        assert!(waiting.is_err(), "read past the budget");
        drop(held);
        let (second, _held) = read_capped(chunks(4), 1 << 20, &budget)
            .await
            .expect("room again");
        assert_eq!(second.len(), 4 * 1024);
    }
}
