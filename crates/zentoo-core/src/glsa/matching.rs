//! Which installed packages an advisory affects, decided as `glsa-check -t` decides it
//! (`Glsa.isVulnerable`, `getMinUpgrade`, `match`, `revisionMatch` and the dbapi matching
//! they call).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::advisory::{Advisory, AffectedPackage, RangeOp, Severity, SlotDep, VersionRange};
use super::version::{Version, cmp_numbers, is_slot_name};

/// One installed package, as the vdb records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// `www-servers`.
    pub category: String,
    /// `nginx`.
    pub name: String,
    /// `1.24.0-r3`.
    pub version: String,
    /// `SLOT`, as in the vdb (a `/sub-slot` is honoured when present; without one the
    /// sub-slot is the slot, as Portage reads it). One that is not a slot name reads as `0`,
    /// as Portage reads it.
    pub slot: String,
}

impl Installed {
    /// `www-servers/nginx-1.24.0-r3`.
    pub fn cpv(&self) -> String {
        format!("{}/{}-{}", self.category, self.name, self.version)
    }
}

/// An installed package that an advisory affects.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The advisory's id (`202401-01`).
    pub glsa: String,
    /// The advisory's title.
    pub title: String,
    /// The advisory's severity.
    pub severity: Severity,
    /// The installed package: `category/package-version`.
    pub package: String,
    /// Its slot, as given.
    pub slot: String,
    /// The advisory's vulnerable ranges that it is in.
    pub vulnerable: Vec<VersionRange>,
    /// The advisory's unaffected ranges for it: what to upgrade to.
    pub unaffected: Vec<VersionRange>,
}

impl Finding {
    /// `>=1.2.3, >=1.1.5:1.1`: the fix, in Portage's spelling; empty when none is known.
    pub fn fix(&self) -> String {
        let mut fix = String::new();
        for (i, range) in self.unaffected.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(fix, "{sep}{range}");
        }
        fix
    }
}

/// The installed packages `advisory` affects on a system of architecture keyword `arch`
/// (`amd64`): non-empty exactly when `glsa-check -t` lists the advisory. One finding per
/// installed package, in the order of the advisory's packages.
pub fn affected(advisory: &Advisory, arch: &str, installed: &[Installed]) -> Vec<Finding> {
    findings(advisory, arch, &Inventory::new(installed))
}

/// [`affected`] over many advisories, reading the installed packages once.
pub fn affected_by_any<'a>(
    advisories: impl IntoIterator<Item = &'a Advisory>,
    arch: &str,
    installed: &[Installed],
) -> Vec<Finding> {
    let inventory = Inventory::new(installed);
    advisories
        .into_iter()
        .flat_map(|advisory| findings(advisory, arch, &inventory))
        .collect()
}

impl Advisory {
    /// `glsa-check -t`'s answer: whether any installed package is affected on `arch`.
    pub fn affects(&self, arch: &str, installed: &[Installed]) -> bool {
        !affected(self, arch, installed).is_empty()
    }
}

impl VersionRange {
    /// Whether an installed `version` in `slot` (`SLOT` as in the vdb) is in this range, as
    /// Portage matches the atom glsa.py makes of it.
    pub fn matches(&self, version: &Version, slot: &str) -> bool {
        let (slot, sub_slot) = read_slot(slot);
        self.matches_read(version, slot, sub_slot)
    }

    fn matches_read(&self, version: &Version, slot: &str, sub_slot: &str) -> bool {
        slot_matches(&self.slot_dep, slot, sub_slot) && self.version_matches(version)
    }

    fn version_matches(&self, installed: &Version) -> bool {
        let wanted = &self.pattern;
        match self.range() {
            RangeOp::Lt => installed < wanted,
            RangeOp::Le => installed <= wanted,
            RangeOp::Eq if self.glob => glob_matches(wanted, installed),
            RangeOp::Eq => installed == wanted,
            RangeOp::Gt => installed > wanted,
            RangeOp::Ge => installed >= wanted,
            op => {
                // revisionMatch: a `~` match (the same version, compared as text, without
                // revision), then the revisions compared as integers.
                let order = cmp_numbers(installed.revision_digits(), wanted.revision_digits());
                installed.without_revision() == wanted.without_revision()
                    && match op {
                        RangeOp::Rlt => order.is_lt(),
                        RangeOp::Rle => order.is_le(),
                        RangeOp::Rgt => order.is_gt(),
                        _ => order.is_ge(),
                    }
            }
        }
    }
}

/// `_match_slot`: the slot must be equal, and the sub-slot too when the range names one.
fn slot_matches(dep: &SlotDep, slot: &str, sub_slot: &str) -> bool {
    let Some(wanted) = &dep.slot else {
        return true;
    };
    wanted == slot && dep.sub_slot.as_ref().is_none_or(|sub| sub == sub_slot)
}

/// Splits a vdb `SLOT` into slot and sub-slot as `_pkg_str` does: without `/` the sub-slot is
/// the slot, and a value that is no slot reads as `0/0`.
fn read_slot(slot: &str) -> (&str, &str) {
    let (main, sub) = slot.split_once('/').unwrap_or((slot, slot));
    if is_slot_name(main) && is_slot_name(sub) {
        (main, sub)
    } else {
        ("0", "0")
    }
}

/// Portage's `=cat/pkg-1.2*`: the installed version, as text, starts with the pattern's (both
/// with leading zeros of the first component dropped), and the match ends at a boundary
/// between version parts (`1*` matches `1.5` and `1b` but not `10`).
fn glob_matches(pattern: &Version, installed: &Version) -> bool {
    let prefix = glob_text(pattern);
    let text = glob_text(installed);
    let Some(rest) = text.strip_prefix(prefix.as_str()) else {
        return false;
    };
    let last_is_digit = prefix.ends_with(|c: char| c.is_ascii_digit());
    match rest.chars().next() {
        None => true,
        Some(next) => matches!(next, '.' | '_' | '-') || last_is_digit != next.is_ascii_digit(),
    }
}

/// A version's text with the first component's leading zeros dropped (one `0` kept when
/// nothing else would start with a digit), revision kept as written.
fn glob_text(version: &Version) -> String {
    let base = version.without_revision();
    let stripped = base.trim_start_matches('0');
    let revision = &version.as_str()[base.len()..];
    if stripped.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{stripped}{revision}")
    } else {
        format!("0{stripped}{revision}")
    }
}

/// The installed packages by `category/package`, versions parsed and slots read once.
struct Inventory<'a> {
    /// Keyed by `category/package`.
    by_name: HashMap<String, Vec<Entry<'a>>>,
}

struct Entry<'a> {
    installed: &'a Installed,
    version: Version,
    slot: &'a str,
    sub_slot: &'a str,
}

impl<'a> Inventory<'a> {
    /// Packages whose version does not parse are left out, as Portage's vdb listing leaves
    /// out entries it cannot split.
    fn new(installed: &'a [Installed]) -> Inventory<'a> {
        let mut by_name: HashMap<_, Vec<Entry>> = HashMap::new();
        for package in installed {
            let Ok(version) = Version::parse(&package.version) else {
                continue;
            };
            let (slot, sub_slot) = read_slot(&package.slot);
            let entries = by_name
                .entry(format!("{}/{}", package.category, package.name))
                .or_default();
            if entries.iter().any(|e| e.installed.version == package.version) {
                continue;
            }
            entries.push(Entry {
                installed: package,
                version,
                slot,
                sub_slot,
            });
        }
        Inventory { by_name }
    }

    fn of(&self, package: &AffectedPackage) -> &[Entry<'a>] {
        self.by_name
            .get(&package.name)
            .map_or(&[], Vec::as_slice)
    }
}

fn findings(advisory: &Advisory, arch: &str, inventory: &Inventory) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for package in &advisory.packages {
        if !package.applies_to_arch(arch) {
            continue;
        }
        for entry in inventory.of(package) {
            let Some(vulnerable) = vulnerable_ranges(package, entry) else {
                continue;
            };
            let cpv = entry.installed.cpv();
            match found.iter_mut().find(|f| f.package == cpv) {
                Some(finding) => {
                    merge(&mut finding.vulnerable, &vulnerable);
                    merge(&mut finding.unaffected, &package.unaffected);
                }
                None => found.push(Finding {
                    glsa: advisory.id.clone(),
                    title: advisory.title.clone(),
                    severity: advisory.severity.clone(),
                    package: cpv,
                    slot: entry.installed.slot.clone(),
                    vulnerable,
                    unaffected: package.unaffected.clone(),
                }),
            }
        }
    }
    found
}

/// The vulnerable ranges of `package` that `entry` is in, when it is in at least one and in
/// no unaffected range of the same `<package>` (getMinUpgrade's set difference).
fn vulnerable_ranges(package: &AffectedPackage, entry: &Entry) -> Option<Vec<VersionRange>> {
    let is_in = |range: &&VersionRange| range.matches_read(&entry.version, entry.slot, entry.sub_slot);
    let vulnerable: Vec<VersionRange> = package.vulnerable.iter().filter(is_in).cloned().collect();
    let unaffected = package.unaffected.iter().any(|r| is_in(&r));
    (!vulnerable.is_empty() && !unaffected).then_some(vulnerable)
}

/// Adds the ranges of `more` not already in `ranges` (by their spelling).
fn merge(ranges: &mut Vec<VersionRange>, more: &[VersionRange]) {
    for range in more {
        if !ranges.iter().any(|r| r.to_string() == range.to_string()) {
            ranges.push(range.clone());
        }
    }
}
