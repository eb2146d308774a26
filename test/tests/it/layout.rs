//! Workspace layout rules, checked on every test run:
//! - no two files of a crate import each other in a loop. Every `crate::`, `super::` and
//!   `self::` path in `src/**/*.rs` (in `use` trees and inline) is resolved to the file that
//!   defines the longest matching module prefix; an edge `a → b` means file `a` names something
//!   in file `b`; a module declaring its child (`mod x;`) is not an edge. Strongly connected
//!   components with more than one file are import loops.
//! - no source or test file is longer than [`MAX_LINES`], so one concern stays one file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a hand-written `.rs` file may be.
const MAX_LINES: usize = 600;

/// The workspace members (directories holding a `Cargo.toml`) beside this crate.
fn crates() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("workspace Cargo.toml");
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("workspace members");
    members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| root.join(m))
        .collect()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()) == Some("rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn no_import_loops_in_any_crate() {
    let mut report = String::new();
    for krate in crates() {
        report.push_str(&import_loops(&krate.join("src")));
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn no_file_over_the_line_limit() {
    let mut long = Vec::new();
    for krate in crates() {
        for sub in ["src", "tests", "examples", "benches"] {
            for file in rust_files(&krate.join(sub)) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let lines = text.lines().count();
                if lines > MAX_LINES && !text.starts_with("// @generated") {
                    long.push(format!("{} ({lines} lines)", file.display()));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

/// The import loops among the files under one crate's `src/`, one paragraph per loop.
fn import_loops(src: &Path) -> String {
    let mods = modules(src);
    let name = |p: &PathBuf| p.display().to_string();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &mods {
        let from = name(file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let child = |seg: &str| {
            let mut m = module.clone();
            m.push(seg.to_string());
            mods.contains_key(&m)
        };
        let code = without_test_modules(&strip(&text));
        for mut target in referenced(module, child, &code) {
            while !target.is_empty() && !mods.contains_key(&target) {
                target.pop();
            }
            if let Some(to) = mods.get(&target).map(name)
                && to != from
                && !target.is_empty()
            {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
        edges.entry(from).or_default();
    }
    let mut report = String::new();
    for comp in components(&edges) {
        report.push_str(&format!("import loop through {} files:\n", comp.len()));
        for f in &comp {
            let inside: Vec<&String> = edges[f].iter().filter(|t| comp.contains(t)).collect();
            report.push_str(&format!("  {f} -> {inside:?}\n"));
        }
    }
    report
}

/// Module path (`["handlers", "write"]`) → file, for every file under `src/`.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("rs") {
                continue;
            }
            let Ok(rel) = p.strip_prefix(src) else {
                continue;
            };
            let mut segs: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if segs.first().map(String::as_str) == Some("bin") {
                continue;
            }
            if matches!(
                segs.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                segs.pop();
            }
            out.insert(segs, p);
        }
    }
    out
}

/// Removes comments and string literals so that only code is scanned.
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == 'r'
            && matches!(b.get(i + 1), Some('"' | '#'))
            && !ident(b.get(i.wrapping_sub(1)))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < b.len() {
                if b[j] == '"' {
                    let mut k = 0;
                    while k < hashes && b.get(j + 1 + k) == Some(&'#') {
                        k += 1;
                    }
                    if k == hashes {
                        j += 1 + hashes;
                        break 'raw;
                    }
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == '\'' {
            // A char literal ('x', '\n') or a lifetime ('a).
            if b.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Drops inline `#[cfg(test)] mod name { ... }` blocks: their `super` is the file itself, and
/// test code is not part of the library's import graph.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_inline_mod = trimmed
            .strip_prefix("mod ")
            .and_then(|m| m.find(['{', ';']).map(|i| (m, i)))
            .is_some_and(|(m, i)| m.as_bytes()[i] == b'{');
        if !is_inline_mod {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let Some(open) = after.find('{') else {
            rest = after;
            continue;
        };
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The module paths a file names, as absolute segment lists.
fn referenced(module: &[String], child: impl Fn(&str) -> bool, code: &str) -> Vec<Vec<String>> {
    // `self` of a `mod.rs`/`lib.rs` is its own module; `super` of it is the parent.
    let here: Vec<String> = module.to_vec();
    let resolve = |path: &str| -> Option<Vec<String>> {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut abs: Vec<String>;
        let mut rest = &segs[..];
        match segs.first().copied() {
            Some("crate") => {
                abs = Vec::new();
                rest = &segs[1..];
            }
            Some("self") => {
                abs = here.clone();
                rest = &segs[1..];
            }
            Some("super") => {
                abs = here.clone();
                while rest.first() == Some(&"super") {
                    abs.pop()?;
                    rest = &rest[1..];
                }
            }
            Some(first) if child(first) => {
                abs = here.clone();
            }
            _ => return None,
        }
        abs.extend(rest.iter().map(|s| s.to_string()));
        Some(abs)
    };
    let mut out = Vec::new();
    // `use` statements (trees), then inline paths.
    let mut rest = code;
    while let Some(pos) = rest.find("use ") {
        let before = rest[..pos].chars().last();
        let tail = &rest[pos + 4..];
        if ident(before.as_ref()) {
            rest = tail;
            continue;
        }
        let end = tail.find(';').unwrap_or(tail.len());
        for p in expand(&tail[..end]) {
            if let Some(abs) = resolve(p.split(" as ").next().unwrap_or(&p)) {
                out.push(abs);
            }
        }
        rest = &tail[end..];
    }
    let text = code;
    // Inline paths through a child module (`write::create(..)` in `handlers/mod.rs`).
    let mut from = 0;
    while let Some(i) = text[from..].find("::") {
        let at = from + i;
        from = at + 2;
        let head: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let before = text[..at - head.len()].chars().last();
        if head.is_empty() || before == Some(':') || ident(before.as_ref()) || !child(&head) {
            continue;
        }
        let path: String = text[at - head.len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if let Some(abs) = resolve(path.trim_end_matches(':')) {
            out.push(abs);
        }
    }
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            // `super::super::x` is one path, read from its first segment.
            let before = text[..at].chars().last();
            if ident(before.as_ref()) || before == Some(':') {
                continue;
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // `super::{a, b}` is a use tree, read above.
            if text[at + path.len()..].starts_with('{') {
                continue;
            }
            if let Some(abs) = resolve(path.trim_end_matches(':')) {
                out.push(abs);
            }
        }
    }
    out
}

/// Strongly connected components with more than one member (Tarjan).
fn components(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}
