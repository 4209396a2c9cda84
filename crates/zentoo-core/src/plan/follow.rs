//! Following a newer repo snapshot for security fixes: which snapshots can be followed, which
//! are newer, and whether an earlier security update still holds. Pure.

use super::result::SecurityUpdate;
use crate::site::options::{snapshot_kind, snapshot_problem};

/// Why `snapshot` cannot be followed, if it cannot: it must name one state of the repository
/// that a later one replaces; `latest` is synced once per repo volume and never moves.
pub fn follow_problem(snapshot: &str) -> Option<String> {
    if let Some(problem) = snapshot_problem(snapshot) {
        return Some(problem);
    }
    (snapshot_kind(snapshot) == "latest").then(|| {
        "`latest` is synced once per repo volume and never moves; follow a dated snapshot \
         (e.g. yesterday's, `date -ud yesterday +%Y%m%d`) or a commit"
            .to_string()
    })
}

/// True when `follow` may hold fixes that `current` lacks: a later date, or any other
/// snapshot when either is not a date (commits are not ordered by their names).
pub fn is_newer(follow: &str, current: &str) -> bool {
    match (snapshot_kind(follow), snapshot_kind(current)) {
        ("date", "date") => follow > current,
        _ => follow != current,
    }
}

/// `update` if it still holds for an image pinned to `pin`: it was made against the same pin
/// (a new pin is the site's own choice, and wins).
pub fn holding<'a>(update: Option<&'a SecurityUpdate>, pin: &str) -> Option<&'a SecurityUpdate> {
    update.filter(|u| u.pinned == pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_snapshot_that_moves_can_be_followed() {
        assert_eq!(follow_problem("20261101"), None);
        assert_eq!(follow_problem("c0ffee1"), None);
        let latest = follow_problem("latest").expect("latest never moves");
        assert!(latest.contains("never moves"), "{latest}");
        assert!(follow_problem("2026-11-01").is_some(), "not a snapshot");
    }

    #[test]
    fn a_later_date_is_newer_and_commits_are_newer_when_they_differ() {
        assert!(is_newer("20261101", "20261001"));
        assert!(
            !is_newer("20261001", "20261101"),
            "never back to an older date"
        );
        assert!(!is_newer("20261101", "20261101"));
        assert!(is_newer("c0ffee1", "20261001"));
        assert!(is_newer("20261101", "latest"));
        assert!(!is_newer("c0ffee1", "c0ffee1"));
    }

    #[test]
    fn an_update_holds_while_its_pin_does() {
        let update = SecurityUpdate {
            pinned: "20261001".into(),
            snapshot: "20261101".into(),
            ..SecurityUpdate::default()
        };
        assert_eq!(holding(Some(&update), "20261001"), Some(&update));
        assert_eq!(holding(Some(&update), "20261201"), None, "a new pin wins");
        assert_eq!(holding(None, "20261001"), None);
    }
}
