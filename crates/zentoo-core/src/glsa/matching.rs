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
            if entries
                .iter()
                .any(|e| e.installed.version == package.version)
            {
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
        self.by_name.get(&package.name).map_or(&[], Vec::as_slice)
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
    let is_in =
        |range: &&VersionRange| range.matches_read(&entry.version, entry.slot, entry.sub_slot);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glsa::advisory::tests::FULL;

    /// An advisory `202402-01` (severity normal) with these `<package>` elements.
    fn advisory(packages: &str) -> Advisory {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE glsa SYSTEM "http://www.gentoo.org/dtd/glsa.dtd">
<glsa id="202402-01">
  <title>foo: bug</title><synopsis>s</synopsis><product type="ebuild">foo</product>
  <announced>2024-02-01</announced><revised count="1">2024-02-01</revised>
  <affected>{packages}</affected>
  <description><p>d</p></description><impact type="normal"><p>i</p></impact>
  <workaround><p>w</p></workaround><resolution><p>r</p></resolution>
  <references/>
</glsa>"#
        );
        Advisory::parse("glsa-202402-01.xml", &xml).unwrap()
    }

    /// One `dev-libs/foo` entry for all arches with these ranges.
    fn foo(ranges: &str) -> Advisory {
        advisory(&format!(
            r#"<package name="dev-libs/foo" auto="yes" arch="*">{ranges}</package>"#
        ))
    }

    fn installed(cpv_slot: &str) -> Installed {
        let (cpv, slot) = cpv_slot.split_once(':').unwrap_or((cpv_slot, "0"));
        let (category, pf) = cpv.split_once('/').unwrap();
        let (name, version) = super::super::version::split_pf(pf).unwrap();
        Installed {
            category: category.into(),
            name: name.into(),
            version: version.as_str().into(),
            slot: slot.into(),
        }
    }

    /// The affected packages (`cpv` or `cpv:slot` as given) among `system` on amd64.
    fn hits(advisory: &Advisory, system: &[&str]) -> Vec<String> {
        hits_on(advisory, "amd64", system)
    }

    fn hits_on(advisory: &Advisory, arch: &str, system: &[&str]) -> Vec<String> {
        let packages: Vec<_> = system.iter().map(|p| installed(p)).collect();
        affected(advisory, arch, &packages)
            .into_iter()
            .map(|f| f.package)
            .collect()
    }

    /// Whether `dev-libs/foo-{version}` is in the range `<vulnerable range={range}>{pattern}`.
    fn in_range(range: &str, pattern: &str, version: &str) -> bool {
        let a = foo(&format!(
            r#"<vulnerable range="{range}">{pattern}</vulnerable>"#
        ));
        !hits(&a, &[&format!("dev-libs/foo-{version}")]).is_empty()
    }

    #[test]
    fn each_range_operator() {
        let table = [
            ("lt", "1.2", "1.1", true),
            ("lt", "1.2", "1.2_rc1", true),
            ("lt", "1.2", "1.2", false),
            ("lt", "1.2", "1.2-r1", false),
            ("lt", "1.2", "1.10", false),
            ("le", "1.2", "1.2", true),
            ("le", "1.2", "1.2-r0", true),
            ("le", "1.2", "1.2-r1", false),
            ("le", "1.2", "1.2_p1", false),
            ("eq", "1.2", "1.2", true),
            ("eq", "1.2", "1.2-r0", true),
            ("eq", "1.0", "1.00", true),
            ("eq", "1.2", "1.20", false),
            ("eq", "1.2", "1.2-r1", false),
            ("eq", "1.2-r1", "1.2-r1", true),
            ("gt", "1.2", "1.2", false),
            ("gt", "1.2", "1.2-r1", true),
            ("gt", "1.2", "1.2a", true),
            ("gt", "1.2", "1.1.9", false),
            ("ge", "1.2", "1.2", true),
            ("ge", "1.2", "1.2_pre1", false),
            ("ge", "1.2", "1.2.0", true),
            ("ge", "1.02", "1.1", true),
        ];
        for (range, pattern, version, want) in table {
            assert_eq!(
                in_range(range, pattern, version),
                want,
                "{version} {range} {pattern}"
            );
        }
    }

    /// `eq` with `*`: Portage's `=*`, a prefix match at version-part boundaries.
    #[test]
    fn eq_glob() {
        for (pattern, version, want) in [
            ("1.2*", "1.2", true),
            ("1.2*", "1.2.3", true),
            ("1.2*", "1.2_p1", true),
            ("1.2*", "1.2-r3", true),
            ("1.2*", "1.2b", true),
            ("1.2*", "01.2.5", true),
            ("1.2*", "1.20", false),
            ("1.2*", "1.3", false),
            ("1*", "10", false),
            ("1*", "1.0", true),
            ("01*", "1.5", true),
            ("1.2-r1*", "1.2-r1", true),
            ("1.2-r1*", "1.2-r10", false),
            ("1.2a*", "1.2a-r1", true),
            ("1.2a*", "1.2a_p1", true),
            ("1.0_p*", "1.0_p1", true),
            ("1.0_p*", "1.0_pre1", false),
            ("0*", "0.5", true),
            ("0*", "1.0", false),
            ("00.5*", "0.5.1", true),
        ] {
            assert_eq!(
                in_range("eq", pattern, version),
                want,
                "{version} = {pattern}"
            );
        }
    }

    /// `r*` ranges compare revisions of the same version only; the version is compared as text.
    #[test]
    fn revision_ranges() {
        for (range, version, want) in [
            ("rge", "1.0-r2", true),
            ("rge", "1.0-r3", true),
            ("rge", "1.0-r1", false),
            ("rge", "1.0", false),
            ("rge", "1.1-r5", false),
            ("rge", "0.9-r9", false),
            ("rge", "1.00-r5", false),
            ("rge", "01.0-r5", false),
            ("rgt", "1.0-r2", false),
            ("rgt", "1.0-r3", true),
            ("rle", "1.0-r2", true),
            ("rle", "1.0", true),
            ("rle", "1.0-r3", false),
            ("rlt", "1.0-r2", false),
            ("rlt", "1.0-r1", true),
            ("rlt", "1.0-r01", true),
        ] {
            assert_eq!(
                in_range(range, "1.0-r2", version),
                want,
                "{version} {range} 1.0-r2"
            );
        }
        assert!(in_range("rge", "1.0", "1.0-r7"), "no revision is r0");
        assert!(!in_range("rlt", "1.0", "1.0"));
    }

    /// Affected means: in a vulnerable range and in no unaffected range of the same package.
    #[test]
    fn unaffected_ranges_exclude() {
        let a = foo(r#"<unaffected range="rge">1.1-r2</unaffected>
                       <unaffected range="ge">1.2</unaffected>
                       <vulnerable range="lt">1.2</vulnerable>"#);
        let system = [
            "dev-libs/foo-1.1-r1",
            "dev-libs/foo-1.1-r2:1",
            "dev-libs/foo-1.1.5:2",
        ];
        assert_eq!(
            hits(&a, &system),
            ["dev-libs/foo-1.1-r1", "dev-libs/foo-1.1.5"]
        );
        assert!(
            hits(&a, &["dev-libs/foo-1.2"]).is_empty(),
            "in no vulnerable range"
        );
        assert!(hits(&a, &["dev-libs/foo-1.1-r3"]).is_empty());
        let no_unaffected = foo(r#"<vulnerable range="ge">0</vulnerable>"#);
        assert_eq!(
            hits(&no_unaffected, &["dev-libs/foo-3"]),
            ["dev-libs/foo-3"]
        );
    }

    /// Several installed slots of one package: each decided on its own ranges' slots.
    #[test]
    fn slotted_ranges_and_several_installed_slots() {
        let a = Advisory::parse("glsa-202401-07.xml", FULL).unwrap();
        let system = [
            "dev-lang/python-3.10.11:3.10",
            "dev-lang/python-3.11.4:3.11",
            "dev-lang/python-3.12.1:3.12",
            "dev-lang/python-3.9.1:3.9",
            "dev-python/pypy3-7.3.11:0/pypy39",
            "dev-python/pypy3-7.3.12:0/pypy310",
        ];
        assert_eq!(
            hits(&a, &system),
            ["dev-lang/python-3.10.11", "dev-python/pypy3-7.3.11"],
            "3.9 and 3.12 are in no vulnerable slot; 3.11.4 is fixed"
        );
        assert!(a.affects("amd64", &system.map(installed)));
        assert!(
            !a.affects(
                "amd64",
                &system[1..4]
                    .iter()
                    .map(|p| installed(p))
                    .collect::<Vec<_>>()
            )
        );
    }

    #[test]
    fn an_unaffected_range_in_another_slot_does_not_fix() {
        let a = foo(r#"<unaffected range="ge" slot="1">1.5</unaffected>
                       <vulnerable range="lt">2.0</vulnerable>"#);
        assert_eq!(
            hits(&a, &["dev-libs/foo-1.6:0", "dev-libs/foo-1.7:1"]),
            ["dev-libs/foo-1.6"]
        );
    }

    #[test]
    fn sub_slots_and_slot_operators() {
        let system = [
            "dev-libs/foo-1.0:1/2",
            "dev-libs/foo-1.1:1/3",
            "dev-libs/foo-1.2:1",
            "dev-libs/foo-1.3:2",
            "dev-libs/foo-1.4:2/1",
        ];
        let with_slot = |slot: &str| {
            let a = foo(&format!(
                r#"<vulnerable range="lt" slot="{slot}">9</vulnerable>"#
            ));
            hits(&a, &system)
        };
        let versions = |v: &[&str]| {
            v.iter()
                .map(|v| format!("dev-libs/foo-{v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(with_slot("1/2"), versions(&["1.0"]));
        assert_eq!(with_slot("1"), versions(&["1.0", "1.1", "1.2"]));
        assert_eq!(
            with_slot("1/1"),
            versions(&["1.2"]),
            "no sub-slot is the slot"
        );
        assert_eq!(with_slot("1="), versions(&["1.0", "1.1", "1.2"]));
        assert_eq!(
            with_slot("="),
            versions(&["1.0", "1.1", "1.2", "1.3", "1.4"])
        );
        assert_eq!(
            with_slot("*"),
            versions(&["1.0", "1.1", "1.2", "1.3", "1.4"])
        );
        assert_eq!(with_slot("2/1"), versions(&["1.4"]));
    }

    #[test]
    fn an_invalid_installed_slot_reads_as_0() {
        let a = foo(r#"<vulnerable range="lt" slot="0">9</vulnerable>"#);
        assert_eq!(
            hits(
                &a,
                &[
                    "dev-libs/foo-1:bad slot",
                    "dev-libs/foo-2:",
                    "dev-libs/foo-3:1"
                ]
            ),
            ["dev-libs/foo-1", "dev-libs/foo-2"]
        );
    }

    #[test]
    fn arch_lists_restrict() {
        let a = advisory(
            r#"<package name="dev-libs/foo" auto="no" arch="x86 arm64">
                 <vulnerable range="lt">2</vulnerable></package>
               <package name="dev-libs/foo" auto="yes" arch="amd64">
                 <vulnerable range="lt">3</vulnerable></package>"#,
        );
        let system = ["dev-libs/foo-2.5"];
        assert_eq!(hits_on(&a, "amd64", &system), system);
        assert!(
            hits_on(&a, "x86", &system).is_empty(),
            "x86's entry stops at 2"
        );
        assert_eq!(hits_on(&a, "x86", &["dev-libs/foo-1"]), ["dev-libs/foo-1"]);
        assert!(hits_on(&a, "riscv", &["dev-libs/foo-1"]).is_empty());
        let star_newline = advisory(
            r#"<package name="dev-libs/foo" auto="yes" arch="*&#10;">
                 <vulnerable range="lt">3</vulnerable></package>"#,
        );
        assert!(
            hits(&star_newline, &["dev-libs/foo-1"]).is_empty(),
            "only exactly * is all"
        );
        assert_eq!(
            hits_on(&star_newline, "*", &["dev-libs/foo-1"]),
            ["dev-libs/foo-1"]
        );
    }

    /// Entries of one package name are separate: one's unaffected range does not clear another.
    #[test]
    fn each_package_element_is_decided_alone() {
        let a = advisory(
            r#"<package name="dev-libs/foo" auto="yes" arch="*">
                 <unaffected range="ge">2</unaffected><vulnerable range="lt">3</vulnerable></package>
               <package name="dev-libs/foo" auto="yes" arch="*">
                 <vulnerable range="lt">2.5</vulnerable></package>"#,
        );
        let found = affected(&a, "amd64", &[installed("dev-libs/foo-2.2")]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].vulnerable.len(), 1);
        assert_eq!(found[0].vulnerable[0].to_string(), "<2.5");
    }

    #[test]
    fn names_and_versions_must_fit() {
        let a = foo(r#"<vulnerable range="lt">9</vulnerable>"#);
        let mut system = vec![installed("app-misc/foo-1"), installed("dev-libs/foobar-1")];
        system.push(Installed {
            category: "dev-libs".into(),
            name: "foo".into(),
            version: "1.x".into(),
            slot: "0".into(),
        });
        assert!(affected(&a, "amd64", &system).is_empty());
        let twice = [installed("dev-libs/foo-1"), installed("dev-libs/foo-1")];
        assert_eq!(affected(&a, "amd64", &twice).len(), 1);
    }

    #[test]
    fn findings_over_many_advisories() {
        let python = Advisory::parse("glsa-202401-07.xml", FULL).unwrap();
        let foo = foo(r#"<unaffected range="ge" slot="1">1.5</unaffected>
                         <unaffected range="ge" slot="2">2.1</unaffected>
                         <vulnerable range="lt">2.1</vulnerable>"#);
        let system = [
            installed("dev-lang/python-3.11.1:3.11"),
            installed("dev-libs/foo-2.0:2"),
            installed("sys-apps/bar-1"),
        ];
        let found = affected_by_any([&python, &foo], "amd64", &system);
        let summary: Vec<_> = found
            .iter()
            .map(|f| {
                (
                    f.glsa.as_str(),
                    f.package.as_str(),
                    f.slot.as_str(),
                    f.severity.as_str(),
                    f.fix(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "202401-07",
                    "dev-lang/python-3.11.1",
                    "3.11",
                    "high",
                    ">=3.11.4:3.11, >=3.10.12:3.10".to_owned()
                ),
                (
                    "202402-01",
                    "dev-libs/foo-2.0",
                    "2",
                    "normal",
                    ">=1.5:1, >=2.1:2".to_owned()
                ),
            ]
        );
        assert_eq!(found[0].title, "Python, PyPy3: Multiple Vulnerabilities");
        assert_eq!(found[0].vulnerable[0].to_string(), "<3.11.4:3.11");
        let json = serde_json::to_value(&found[1]).unwrap();
        assert_eq!(
            json["unaffected"][1],
            serde_json::json!({"range": "ge", "version": "2.1", "slot": "2"})
        );
        assert!(affected_by_any([&python, &foo], "amd64", &system[2..]).is_empty());
    }

    #[test]
    fn version_range_matches_directly() {
        let a = foo(r#"<vulnerable range="lt" slot="1/2">2</vulnerable>"#);
        let range = &a.packages[0].vulnerable[0];
        let v = |s| Version::parse(s).unwrap();
        assert!(range.matches(&v("1.9"), "1/2"));
        assert!(!range.matches(&v("1.9"), "1/3"));
        assert!(!range.matches(&v("1.9"), "1"));
        assert!(!range.matches(&v("2"), "1/2"));
    }
}
