//! When a site looks at its repository: at its poll interval, stretched or shrunk by a jitter
//! fixed per site so that many sites do not poll in the same second; at once after a push or
//! a fetch request, but at most once per debounce window. Pure.

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The jitter: a site's poll period is its interval times a factor in `[1 - JITTER, 1 + JITTER)`.
pub const JITTER: f64 = 0.1;

/// The poll period of site `namespace/name`: `interval` scaled by a factor in
/// `[0.9, 1.1)` that depends only on the site's namespace and name (so it is the same on
/// every controller replica and after restarts, and differs from site to site).
pub fn jittered(interval: Duration, namespace: &str, name: &str) -> Duration {
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits give a uniform f64 in [0, 1).
    let unit = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

/// Why a site checks its repository now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Never checked (or its status was lost).
    First,
    /// The spec changed since the last check, or the last reconcile failed.
    Stale,
    /// A push: a webhook, a fetch request, or a change of a local repository's refs.
    Pushed,
    /// The poll period has passed.
    Poll,
}

/// What a site reconcile does about its repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Check now (`ls-remote`; fetch what moved).
    Check(Why),
    /// A push within the debounce window of the last check: check after this long.
    Debounced(Duration),
    /// Nothing asks for a check: the next poll is due after this long.
    NotDue(Duration),
}

/// What the decision looks at.
#[derive(Clone, Copy, Debug)]
pub struct PollInput {
    /// The site's poll period ([`jittered`]).
    pub period: Duration,
    /// Least time between two checks caused by pushes.
    pub debounce: Duration,
    /// When the site last checked.
    pub last_checked: Option<Timestamp>,
    /// The last check does not hold: the spec changed since, or the last reconcile failed.
    pub stale: bool,
    /// A push or fetch request is pending.
    pub pushed: bool,
    /// Now.
    pub now: Timestamp,
}

/// Decides whether a site checks its repository now.
pub fn decide(input: &PollInput) -> Decision {
    let Some(last) = input.last_checked else {
        return Decision::Check(Why::First);
    };
    if input.stale {
        return Decision::Check(Why::Stale);
    }
    // A last check in the future (clock skew between replicas) counts as just now.
    let since = Duration::try_from(input.now.duration_since(last)).unwrap_or(Duration::ZERO);
    if input.pushed {
        return match input.debounce.checked_sub(since) {
            Some(left) if !left.is_zero() => Decision::Debounced(left),
            _ => Decision::Check(Why::Pushed),
        };
    }
    match input.period.checked_sub(since) {
        Some(left) if !left.is_zero() => Decision::NotDue(left),
        _ => Decision::Check(Why::Poll),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_jitter_is_fixed_per_site_and_within_ten_percent() {
        let interval = Duration::from_secs(300);
        let a = jittered(interval, "prod", "site-a");
        assert_eq!(a, jittered(interval, "prod", "site-a"), "deterministic");
        assert_ne!(a, jittered(interval, "prod", "site-b"));
        assert_ne!(
            a,
            jittered(interval, "dev", "site-a"),
            "the namespace counts"
        );
        for i in 0..1000 {
            let p = jittered(interval, "ns", &format!("site-{i}"));
            assert!(
                p >= Duration::from_secs(270) && p < Duration::from_secs(330),
                "{p:?}"
            );
        }
        assert_eq!(jittered(Duration::ZERO, "ns", "x"), Duration::ZERO);
    }

    #[test]
    fn a_hundred_sites_do_not_poll_in_the_same_second() {
        // 100 sites created together, interval 5m: their polls spread over the 60 s from
        // 270 s to 330 s, as uniformly as 100 draws into 60 one-second slots go.
        let mut per_second: BTreeMap<u64, u32> = BTreeMap::new();
        let mut periods: Vec<f64> = Vec::new();
        for i in 0..100 {
            let p = jittered(Duration::from_secs(300), "default", &format!("site-{i}"));
            *per_second.entry(p.as_secs()).or_default() += 1;
            periods.push(p.as_secs_f64());
        }
        let busiest = per_second.values().copied().max().unwrap_or(0);
        assert!(
            busiest <= 6,
            "{busiest} sites poll in one second: {per_second:?}"
        );
        assert!(
            per_second.len() >= 40,
            "only {} distinct seconds",
            per_second.len()
        );
        let (lo, hi) = periods
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
        assert!(lo < 276.0 && hi > 324.0, "spread {lo}..{hi}");
        let mean = periods.iter().sum::<f64>() / periods.len() as f64;
        assert!((mean - 300.0).abs() < 6.0, "mean {mean}");
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn input(last: Option<i64>, now: i64) -> PollInput {
        PollInput {
            period: Duration::from_secs(60),
            debounce: Duration::from_secs(5),
            last_checked: last.map(at),
            stale: false,
            pushed: false,
            now: at(now),
        }
    }

    #[test]
    fn a_site_checks_when_due_first_changed_or_pushed() {
        assert_eq!(decide(&input(None, 0)), Decision::Check(Why::First));
        assert_eq!(
            decide(&input(Some(0), 10)),
            Decision::NotDue(Duration::from_secs(50))
        );
        assert_eq!(decide(&input(Some(0), 60)), Decision::Check(Why::Poll));
        assert_eq!(decide(&input(Some(0), 600)), Decision::Check(Why::Poll));
        let spec = PollInput {
            stale: true,
            ..input(Some(0), 1)
        };
        assert_eq!(decide(&spec), Decision::Check(Why::Stale));
        let skewed = input(Some(30), 0);
        assert_eq!(decide(&skewed), Decision::NotDue(Duration::from_secs(60)));
    }

    #[test]
    fn pushes_within_the_debounce_window_wait_for_its_end() {
        let pushed = |last, now| PollInput {
            pushed: true,
            ..input(Some(last), now)
        };
        assert_eq!(
            decide(&pushed(0, 2)),
            Decision::Debounced(Duration::from_secs(3))
        );
        assert_eq!(decide(&pushed(0, 5)), Decision::Check(Why::Pushed));
        assert_eq!(decide(&pushed(0, 30)), Decision::Check(Why::Pushed));
        let no_window = PollInput {
            debounce: Duration::ZERO,
            ..pushed(0, 0)
        };
        assert_eq!(decide(&no_window), Decision::Check(Why::Pushed));
    }
}
