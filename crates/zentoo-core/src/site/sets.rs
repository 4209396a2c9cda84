//! Package sets: Portage user-set files (`sets/<name>`), one atom or `@set` per line.
//!
//! `@name` that names another file in `sets/` is followed, recursively; Portage's own sets
//! (`@system`, `@world`, ...) pass through untouched for emerge to expand.

use super::SiteError;
use super::atom::atom_problem;
use super::names::name_problem;
use super::snapshot::TextFile;
use super::tuples::strip_comment;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// Directory of set files in the tracked branch.
pub const SETS_DIR: &str = "sets";

/// Sets Portage defines itself (its `sets.conf`); they are left for emerge to expand.
pub const PORTAGE_SETS: &[&str] = &[
    "changed-deps",
    "changed-subslot",
    "downgrade",
    "everything",
    "installed",
    "live-rebuild",
    "module-rebuild",
    "preserved-rebuild",
    "profile",
    "rebuilt-binaries",
    "security",
    "selected",
    "selected-packages",
    "selected-sets",
    "system",
    "unavailable",
    "unavailable-binaries",
    "world",
    "x11-module-rebuild",
];

/// True when `@name` is one of Portage's own sets.
pub fn is_portage_set(name: &str) -> bool {
    PORTAGE_SETS.contains(&name)
}

/// One entry of a set file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetEntry {
    /// A package atom, as written.
    Atom(String),
    /// `@name`: another set, without the `@`.
    Set(String),
}

/// Parses a set file into its entries with their line numbers, and errors for bad lines.
pub fn parse_set(file: &str, text: &str) -> (Vec<(u32, SetEntry)>, Vec<SiteError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let body = strip_comment(raw);
        if body.is_empty() {
            continue;
        }
        if body.split_whitespace().nth(1).is_some() {
            errors.push(SiteError::new(
                file,
                Some(line),
                "atom",
                format!("`{body}`: write one atom or @set per line"),
            ));
        } else if let Some(name) = body.strip_prefix('@') {
            match set_name_problem(name) {
                None => entries.push((line, SetEntry::Set(name.to_string()))),
                Some(p) => errors.push(SiteError::new(file, Some(line), "set", p)),
            }
        } else {
            match atom_problem(body) {
                None => entries.push((line, SetEntry::Atom(body.to_string()))),
                Some(p) => errors.push(SiteError::new(
                    file,
                    Some(line),
                    "atom",
                    format!("`{body}`: {p}"),
                )),
            }
        }
    }
    (entries, errors)
}

/// Set names in `@name` follow Portage: letters, digits and `_.+-`, not starting with `-`.
fn set_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    (!ok).then(|| format!("`@{name}` is not a set name"))
}

/// A set with its includes followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedSet {
    /// Atoms and Portage sets in order of first appearance, includes expanded in place. Shared:
    /// every image of the set, and every set including it, holds the same strings.
    pub atoms: Arc<[Arc<str>]>,
    /// Blob id of this set's file and of every set file it includes, by set name.
    pub blobs: BTreeMap<String, String>,
}

/// Deepest chain of set includes followed (`@a` includes `@b` includes ...).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Why a set cannot be used; the message names where to look.
pub type SetFailure = String;

/// How many atoms sets may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomLimits {
    /// Most atoms in one set, includes expanded.
    pub per_set: usize,
    /// Most atoms in all the sets resolved together (each counted once).
    pub in_all: usize,
}

/// Resolves sets of one snapshot, each once, collecting each set file's errors once.
pub struct SetResolver<'a> {
    files: &'a BTreeMap<String, TextFile>,
    done: HashMap<String, Result<Rc<ResolvedSet>, SetFailure>>,
    errors: Vec<SiteError>,
    limits: AtomLimits,
    /// Atoms of the sets resolved so far.
    resolved: usize,
}

impl<'a> SetResolver<'a> {
    /// A resolver over the set files of a snapshot, by set name.
    pub fn new(files: &'a BTreeMap<String, TextFile>, limits: AtomLimits) -> Self {
        SetResolver {
            files,
            done: HashMap::new(),
            errors: Vec::new(),
            limits,
            resolved: 0,
        }
    }

    /// True when `sets/<name>` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The resolved set `name`, or why it cannot be used.
    pub fn resolve(&mut self, name: &str) -> Result<Rc<ResolvedSet>, SetFailure> {
        self.resolve_in(name, &mut Vec::new())
    }

    /// Errors found in the set files resolved so far, each once.
    pub fn into_errors(self) -> Vec<SiteError> {
        self.errors
    }

    /// Why a set `name` holding `atoms` (so far) is over a limit, if it is.
    fn over_limit(&self, name: &str, atoms: usize) -> Option<String> {
        let AtomLimits { per_set, in_all } = self.limits;
        if atoms > per_set {
            Some(format!(
                "@{name} holds more than {per_set} atoms with its includes (the limit): split it"
            ))
        } else if self.resolved.saturating_add(atoms) > in_all {
            Some(format!(
                "@{name} takes the sets planned past {in_all} atoms in all (the site's limit)"
            ))
        } else {
            None
        }
    }

    fn resolve_in(
        &mut self,
        name: &str,
        stack: &mut Vec<String>,
    ) -> Result<Rc<ResolvedSet>, SetFailure> {
        if let Some(done) = self.done.get(name) {
            return done.clone();
        }
        let result = self.resolve_file(name, stack);
        self.done.insert(name.to_string(), result.clone());
        result
    }

    fn resolve_file(
        &mut self,
        name: &str,
        stack: &mut Vec<String>,
    ) -> Result<Rc<ResolvedSet>, SetFailure> {
        let file = self
            .files
            .get(name)
            .ok_or_else(|| format!("no file {SETS_DIR}/{name}"))?;
        let path = file.path.clone();
        let text = match &file.text {
            Ok(text) => text,
            Err(why) => {
                self.errors
                    .push(SiteError::new(&path, None, "set", why.clone()));
                return Err(format!("{path} cannot be read"));
            }
        };
        let (entries, errors) = parse_set(&path, text);
        let mut failure = errors
            .first()
            .map(|e| format!("{path} has errors (see {e})"));
        self.errors.extend(errors);

        stack.push(name.to_string());
        let mut blobs = BTreeMap::from([(name.to_string(), file.id.clone())]);
        // Atoms in order of first appearance: a set may hold a hundred thousand. An included
        // set's atoms are shared, not copied.
        let mut atoms: Vec<Arc<str>> = Vec::new();
        let mut seen: HashSet<Arc<str>> = HashSet::new();
        let mut push = |atoms: &mut Vec<Arc<str>>, atom: Arc<str>| {
            if seen.insert(atom.clone()) {
                atoms.push(atom);
            }
        };
        for (line, entry) in entries {
            match entry {
                SetEntry::Atom(atom) => push(&mut atoms, Arc::from(atom)),
                SetEntry::Set(child) if stack.contains(&child) => {
                    let start = stack.iter().position(|s| *s == child).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| format!("@{s}")).collect();
                    cycle.push(format!("@{child}"));
                    let message = format!("include cycle: {}", cycle.join(" -> "));
                    let e = SiteError::new(&path, Some(line), "set", message);
                    failure.get_or_insert_with(|| format!("{path} has errors (see {e})"));
                    self.errors.push(e);
                }
                SetEntry::Set(child)
                    if self.files.contains_key(&child) && stack.len() >= MAX_INCLUDE_DEPTH =>
                {
                    let message = format!(
                        "@{child} would nest set includes deeper than {MAX_INCLUDE_DEPTH} \
                         (@{} -> ... -> @{name}): include fewer levels",
                        stack[0]
                    );
                    let e = SiteError::new(&path, Some(line), "set", message);
                    failure.get_or_insert_with(|| format!("{path} has errors (see {e})"));
                    self.errors.push(e);
                }
                SetEntry::Set(child)
                    if self.files.contains_key(&child) && name_problem(&child).is_some() =>
                {
                    let problem = name_problem(&child).unwrap_or_default();
                    let message = format!(
                        "@{child} names {SETS_DIR}/{child}, whose name cannot be built: set name \
                         {problem}"
                    );
                    let e = SiteError::new(&path, Some(line), "set", message);
                    failure.get_or_insert_with(|| format!("{path} has errors (see {e})"));
                    self.errors.push(e);
                }
                SetEntry::Set(child) if self.files.contains_key(&child) => {
                    match self.resolve_in(&child, stack) {
                        Ok(inner) => {
                            for atom in inner.atoms.iter() {
                                push(&mut atoms, atom.clone());
                            }
                            blobs.extend(inner.blobs.clone());
                        }
                        Err(why) => {
                            // Through a long chain of includes, name the first and the cause.
                            let cause = why
                                .rsplit(" cannot be used: ")
                                .next()
                                .unwrap_or(&why)
                                .trim_start_matches("… ");
                            let why = if cause.len() < why.len() {
                                format!("… {cause}")
                            } else {
                                why
                            };
                            failure.get_or_insert(format!(
                                "@{child} included at {path}:{line} cannot be used: {why}"
                            ));
                        }
                    }
                }
                SetEntry::Set(child) if is_portage_set(&child) => {
                    push(&mut atoms, Arc::from(format!("@{child}")))
                }
                SetEntry::Set(child) => {
                    let e = SiteError::new(
                        &path,
                        Some(line),
                        "set",
                        format!(
                            "unknown set @{child}: there is no {SETS_DIR}/{child} and it is not \
                             one of Portage's own sets"
                        ),
                    );
                    failure.get_or_insert_with(|| format!("{path} has errors (see {e})"));
                    self.errors.push(e);
                }
            }
            if let Some(message) = self.over_limit(name, atoms.len()) {
                let e = SiteError::new(&path, Some(line), "atom", message);
                failure.get_or_insert_with(|| format!("{path} has errors (see {e})"));
                self.errors.push(e);
                break;
            }
        }
        stack.pop();
        match failure {
            Some(why) => Err(why),
            None => {
                self.resolved += atoms.len();
                Ok(Rc::new(ResolvedSet {
                    atoms: atoms.into(),
                    blobs,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(sets: &[(&str, &str)]) -> BTreeMap<String, TextFile> {
        sets.iter()
            .map(|(name, text)| {
                (
                    name.to_string(),
                    TextFile {
                        path: format!("sets/{name}"),
                        id: format!("blob-{name}"),
                        text: Ok(text.to_string()),
                    },
                )
            })
            .collect()
    }

    fn resolver(files: &BTreeMap<String, TextFile>) -> SetResolver<'_> {
        let limits = AtomLimits {
            per_set: 1000,
            in_all: 10_000,
        };
        SetResolver::new(files, limits)
    }

    fn atoms(set: &ResolvedSet) -> Vec<&str> {
        set.atoms.iter().map(|a| &**a).collect()
    }

    #[test]
    fn parses_atoms_sets_and_comments() {
        let (entries, errors) =
            parse_set("sets/x", "# c\napp-misc/hello # hi\n\n@base\n  @system  \n");
        assert!(errors.is_empty());
        assert_eq!(
            entries,
            [
                (2, SetEntry::Atom("app-misc/hello".into())),
                (4, SetEntry::Set("base".into())),
                (5, SetEntry::Set("system".into())),
            ]
        );
    }

    #[test]
    fn bad_lines_name_file_line_and_field() {
        let (_, errors) = parse_set("sets/x", "ok/pkg\nnano\n@bad$name\na/b c/d\n");
        let at: Vec<(Option<u32>, &str)> =
            errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(at, [(Some(2), "atom"), (Some(3), "set"), (Some(4), "atom")]);
        assert!(errors[0].message.contains("category/package"));
    }

    #[test]
    fn includes_are_followed_in_order_without_duplicates() {
        let f = files(&[
            ("web", "www-servers/nginx\n@base\napp-misc/hello\n@world\n"),
            ("base", "app-misc/hello\napp-editors/nano\n@system\n"),
        ]);
        let mut r = resolver(&f);
        let web = r.resolve("web").unwrap();
        assert_eq!(
            atoms(&web),
            [
                "www-servers/nginx",
                "app-misc/hello",
                "app-editors/nano",
                "@system",
                "@world"
            ]
        );
        assert_eq!(
            web.blobs.keys().collect::<Vec<_>>(),
            ["base", "web"],
            "the set and what it includes"
        );
        assert!(r.into_errors().is_empty());
    }

    #[test]
    fn include_cycles_are_errors_naming_the_path() {
        let f = files(&[
            ("a", "@b\n"),
            ("b", "x/y\n@c\n"),
            ("c", "@a\n"),
            ("d", "@d\n"),
        ]);
        let mut r = resolver(&f);
        let why = r.resolve("a").unwrap_err();
        assert!(why.contains("cannot be used"), "{why}");
        assert!(r.resolve("b").is_err());
        assert!(r.resolve("d").is_err());
        let errors = r.into_errors();
        assert_eq!(errors.len(), 2, "each cycle reported once: {errors:?}");
        assert_eq!(errors[0].file, "sets/c");
        assert_eq!(errors[0].message, "include cycle: @a -> @b -> @c -> @a");
        assert_eq!(errors[1].message, "include cycle: @d -> @d");
    }

    #[test]
    fn unknown_sets_and_broken_includes_fail_their_users() {
        let f = files(&[("top", "@mid\n"), ("mid", "@nosuch\n"), ("bad", "nano\n")]);
        let mut r = resolver(&f);
        assert!(
            r.resolve("top")
                .unwrap_err()
                .contains("@mid included at sets/top:1")
        );
        assert!(r.resolve("bad").unwrap_err().contains("sets/bad:1"));
        assert!(
            r.resolve("missing")
                .unwrap_err()
                .contains("no file sets/missing")
        );
        let errors = r.into_errors();
        assert!(errors[0].message.contains("unknown set @nosuch"));
    }

    #[test]
    fn portage_sets_pass_through() {
        let f = files(&[("s", "@world\n@preserved-rebuild\n")]);
        let s = resolver(&f).resolve("s").unwrap();
        assert_eq!(atoms(&s), ["@world", "@preserved-rebuild"]);
    }

    #[test]
    fn a_site_set_shadows_a_portage_set_of_the_same_name() {
        let f = files(&[("s", "@system\n"), ("system", "a/b\n")]);
        let s = resolver(&f).resolve("s").unwrap();
        assert_eq!(atoms(&s), ["a/b"]);
    }

    #[test]
    fn included_sets_share_their_atoms() {
        let f = files(&[
            ("top", "@big\n@big2\n"),
            ("big2", "@big\n"),
            ("big", "a/b\nc/d\n"),
        ]);
        let mut r = resolver(&f);
        let (top, big) = (r.resolve("top").unwrap(), r.resolve("big").unwrap());
        assert_eq!(atoms(&top), ["a/b", "c/d"]);
        assert!(
            Arc::ptr_eq(&top.atoms[0], &big.atoms[0]),
            "one string, not a copy"
        );
    }

    fn numbered(n: usize, category: &str) -> String {
        (0..n).map(|i| format!("{category}/p{i}\n")).collect()
    }

    #[test]
    fn a_set_over_the_atom_limit_is_an_error_at_the_line_that_crosses_it() {
        let (big, big2) = (numbered(1001, "a"), numbered(1000, "b"));
        let f = files(&[("big", &big), ("big2", &big2), ("inc", "x/y\n@big2\n")]);
        let mut r = resolver(&f);
        assert!(r.resolve("big").unwrap_err().contains("sets/big"));
        assert_eq!(r.resolve("big2").unwrap().atoms.len(), 1000);
        assert!(r.resolve("inc").is_err());
        let errors = r.into_errors();
        let at: Vec<(&str, Option<u32>, &str)> = errors
            .iter()
            .map(|e| (e.file.as_str(), e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                ("sets/big", Some(1001), "atom"),
                ("sets/inc", Some(2), "atom")
            ]
        );
        assert!(
            errors[0].message.contains("more than 1000 atoms"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_sets_resolved_together_are_bounded() {
        let s3 = format!("{}@s1\n", numbered(100, "c"));
        let f = files(&[
            ("s1", &numbered(900, "a")),
            ("s2", &numbered(900, "b")),
            ("s3", &s3),
        ]);
        let limits = AtomLimits {
            per_set: 1000,
            in_all: 2000,
        };
        let mut r = SetResolver::new(&f, limits);
        assert!(r.resolve("s1").is_ok() && r.resolve("s2").is_ok());
        assert!(
            r.resolve("s3").is_err(),
            "1,800 resolved + 1,000 is past 2,000"
        );
        let errors = r.into_errors();
        assert_eq!(
            (errors[0].file.as_str(), errors[0].line),
            ("sets/s3", Some(101))
        );
        assert!(
            errors[0].message.contains("2000 atoms in all"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_include_of_a_set_whose_name_cannot_be_built_is_an_error() {
        let f = files(&[("top", "a/b\n@my-set\n"), ("my-set", "c/d\n")]);
        let mut r = resolver(&f);
        assert!(r.resolve("top").is_err());
        let errors = r.into_errors();
        assert_eq!(
            (errors[0].file.as_str(), errors[0].line),
            ("sets/top", Some(2))
        );
        assert!(errors[0].message.contains("holds '-'"), "{errors:?}");
    }
}
