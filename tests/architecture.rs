//! The dependency rule of docs/architecture.md, checked on the source: folders depend only on
//! folders below them (one way), no two source files import each other through a cycle, and
//! only the controller uses the Kubernetes client. Imports are read from the text (`crate::`,
//! `super::` and `self::` paths outside comments and `#[cfg(test)] mod tests`), so a new cycle fails here
//! before it settles in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a folder may import only from folders of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["error_chain"],
    &["api", "yaml"],
    &["store", "signature", "transform"],
    &["delivery", "receiver"],
    &["integration"],
    &["sync"],
    &["engine"],
    &["server", "manifests", "controller"],
];

type Module = Vec<String>;

fn layer(folder: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&folder))
        .unwrap_or_else(|| panic!("src/{folder} is in no layer of tests/architecture.rs"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file defines (`src/engine/mod.rs` → engine, `src/engine/piece.rs` →
/// engine::piece).
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without its unit tests and comments (doc links are not imports).
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module-level import graph of src/ (the crate roots and the binary's cli/ left out: they
/// declare modules and may use anything).
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(&root, f), f.clone()))
        .filter(|(m, _)| m.first().is_some_and(|f| f != "cli"))
        .collect();
    let path = regex::Regex::new(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(file);
        let targets = edges.entry(module.clone()).or_default();
        for m in path.captures_iter(&code) {
            let mut segments: Module = match &m[1] {
                "crate" => Vec::new(),
                "self" => module.clone(),
                // `super` of a folder's root is the folder's parent; of a file, its folder.
                _ => module[..module.len() - 1].to_vec(),
            };
            segments.extend(m[2].split("::").skip(1).map(str::to_owned));
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix));
            if let Some(target) = target.filter(|t| t != module && !t.is_empty()) {
                targets.insert(target);
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn name(m: &Module) -> String {
    m.join("::")
}

#[test]
fn folders_depend_only_on_lower_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        let Some(a) = from.first() else { continue };
        for to in targets {
            let Some(b) = to.first() else { continue };
            if a != b && layer(a) <= layer(b) {
                wrong.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_files_import_each_other_in_a_cycle() {
    let found: Vec<String> = cycles(&graph())
        .iter()
        .map(|c| c.iter().map(name).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let m = |s: &str| vec![s.to_owned()];
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(cycles(&edges), vec![vec![m("a"), m("b"), m("c")]]);
}

#[test]
fn only_the_controller_uses_the_kubernetes_client() {
    // api/ derives the resource types with kube's macros; talking to a cluster is the
    // controller's alone.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let users: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(root.join("controller")) && !f.starts_with(root.join("cli")))
        .filter(|f| {
            let code = code_of(f);
            [
                "kube::Client",
                "kube::Api",
                "kube::api",
                "kube::runtime",
                "use kube::{",
            ]
            .iter()
            .any(|p| code.contains(p))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        users.is_empty(),
        "the Kubernetes client outside controller/: {users:?}"
    );
}
