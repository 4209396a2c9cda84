//! The architecture as the compiler cannot check it: crates cannot import each other in a
//! circle, but the modules inside one crate can. This reads every crate's sources, resolves each
//! `crate::…` and `super::…` path to the top-level module it names, and requires the graph of
//! top-level modules of each crate to be acyclic — the pure modules below, the ones with I/O
//! above, imports never pointing upward.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its module path below the crate root (`["image", "jobs"]`
/// for `image/jobs.rs`; `mod.rs`, `lib.rs` and `main.rs` name their directory's module).
fn sources(dir: &Path, module: &[String], out: &mut Vec<(PathBuf, Vec<String>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            let mut sub = module.to_vec();
            sub.push(name);
            sources(&path, &sub, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut m = module.to_vec();
            if !matches!(stem, "mod" | "lib" | "main") {
                m.push(stem.to_string());
            }
            out.push((path, m));
        }
    }
}

/// The first path segment(s) after each `prefix` in `text`: `crate::a::b` gives `a`;
/// `crate::{a, b::c}` gives `a` and `b`.
fn heads(text: &str, prefix: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(
                group[..end]
                    .split(',')
                    .map(|p| ident(p.trim()))
                    .filter(|s| !s.is_empty()),
            );
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty() && s != "self" && s != "super");
    out
}

/// The graph of the top-level modules of the crate whose sources are in `src`.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    sources(src, &[], &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|(_, m)| m.first().cloned())
        .collect();
    let mut graph = Graph::new();
    for (path, module) in &files {
        let Some(from) = module.first() else { continue };
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut targets = heads(&text, "crate::");
        // `super::` from a module at depth 1 names a top-level module; deeper ones stay inside.
        let is_dir_module = path.file_name().is_some_and(|n| n == "mod.rs");
        let depth = module.len() - usize::from(is_dir_module);
        if depth <= 1 {
            targets.extend(heads(&text, "super::"));
        }
        let supers = "super::".repeat(depth.max(1));
        if depth >= 2 {
            targets.extend(heads(&text, &supers));
        }
        for to in targets {
            if &to != from && tops.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn crate_sources() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("src")];
    let crates = root().join("crates");
    let mut members: Vec<_> = std::fs::read_dir(&crates)
        .unwrap_or_else(|e| panic!("{}: {e}", crates.display()))
        .filter_map(Result::ok)
        .map(|e| e.path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    members.sort();
    dirs.extend(members);
    dirs
}

#[test]
fn no_crate_has_an_import_cycle_among_its_modules() {
    let dirs = crate_sources();
    assert!(dirs.len() >= 6, "the workspace's crates: {dirs:?}");
    for src in dirs {
        let graph = module_graph(&src);
        if let Some(found) = cycle(&graph) {
            panic!(
                "{}: modules import each other in a circle: {}",
                src.display(),
                found.join(" -> ")
            );
        }
    }
}

#[test]
fn the_checker_finds_a_cycle_and_resolves_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("b")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "mod a; mod b;").expect("write");
    std::fs::write(src.join("a.rs"), "use crate::{b::x, c};").expect("write");
    std::fs::write(src.join("b/mod.rs"), "mod x;").expect("write");
    std::fs::write(src.join("b/x.rs"), "use super::super::a::f; use super::y;").expect("write");
    let graph = module_graph(src);
    assert_eq!(
        graph
            .get("a")
            .map(|s| s.iter().cloned().collect::<Vec<_>>()),
        Some(vec!["b".into()])
    );
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    std::fs::write(src.join("b/x.rs"), "use super::y;").expect("write");
    assert_eq!(cycle(&module_graph(src)), None);
}
