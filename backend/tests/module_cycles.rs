//! The backend's modules depend on each other without cycles: between any two sibling modules
//! (`connections` and `sync`, `webhooks/receive.rs` and `webhooks/process.rs`, …) the
//! dependencies run one way, so each can be read (and changed) knowing only what it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`connections::store`) → its source, without `#[cfg(test)]` code at the end.
fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).expect("under the root");
            let mut parts: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("read a source file");
            let code = match source.find("#[cfg(test)]") {
                Some(at) => source[..at].to_owned(),
                None => source,
            };
            found.insert(parts.join("::"), code);
        }
    }
    found
}

/// The module paths one module's code names (`crate::a::b`, `super::c`, `use super::{d, e}`).
fn names(module: &str, code: &str) -> BTreeSet<Vec<String>> {
    let parent: Vec<String> = module
        .split("::")
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, rest)| rest.to_vec())
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use super::{a, b::C}`: each first segment.
                let inside = &group[..group.find('}').unwrap_or(group.len())];
                for item in inside.split(',') {
                    let first: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !first.is_empty() {
                        out.insert([base.clone(), vec![first]].concat());
                    }
                }
                continue;
            }
            let path: Vec<String> = rest
                .split("::")
                .map(|seg| {
                    seg.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|seg| !seg.is_empty() && seg.chars().all(|c| !c.is_uppercase()))
                .collect();
            out.insert([base.clone(), path].concat());
        }
    }
    out
}

/// Dependencies between sibling modules: `a::x → b::y` counts as `a → b` under their common
/// parent (a module naming its own parent or child is not a sibling dependency).
fn sibling_edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in modules {
        let from: Vec<&str> = module.split("::").collect();
        for path in names(module, code) {
            // The longest prefix of the named path that is a module.
            let Some(to) = (1..=path.len())
                .rev()
                .map(|k| path[..k].join("::"))
                .find(|candidate| modules.contains_key(candidate))
            else {
                continue;
            };
            let to: Vec<&str> = to.split("::").collect();
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue;
            }
            edges
                .entry(from[..=common].join("::"))
                .or_default()
                .insert(to[..=common].join("::"));
        }
    }
    edges
}

/// Every cycle's modules (strongly connected components of more than one module).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(at) = todo.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for module in edges.keys() {
        let forward = reaches(module);
        let component: BTreeSet<String> = forward
            .iter()
            .filter(|other| *other != module && reaches(other).contains(module))
            .cloned()
            .chain([module.clone()])
            .collect();
        if component.len() > 1 && !found.contains(&component) {
            found.push(component);
        }
    }
    found
}

#[test]
fn backend_modules_depend_on_each_other_without_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&root);
    assert!(
        modules.contains_key("connections::store"),
        "the walk found the modules"
    );
    let found = cycles(&sibling_edges(&modules));
    assert!(found.is_empty(), "import cycles between modules: {found:?}");
}

#[test]
fn a_cycle_between_two_sibling_modules_is_found() {
    let modules: BTreeMap<String, String> = [
        ("a", "use crate::b::Thing;"),
        ("b", "fn f() { crate::a::g(); }"),
        ("c", "use super::a;"),
        ("d::x", "use super::y::Y;"),
        ("d::y", "use super::{x, z};"),
        ("d::z", ""),
    ]
    .into_iter()
    .map(|(m, code)| (m.to_owned(), code.to_owned()))
    .collect();
    let mut modules = modules;
    modules.insert("d".into(), String::new());
    let found = cycles(&sibling_edges(&modules));
    let names: Vec<Vec<&str>> = found
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(names, vec![vec!["a", "b"], vec!["d::x", "d::y"]]);
}
