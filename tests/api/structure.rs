//! The shape of `src/` that issue 8 set up, held by a test so a later change cannot quietly undo
//! it: no import circle between top-level modules, and no source file over 600 lines before its
//! unit tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

const MAX_LINES: usize = 600;

/// Top-level module -> the top-level modules it names.
type Edges = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code before its `#[cfg(test)] mod tests`, without comments.
fn code(text: &str) -> (usize, String) {
    let body = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let lines = body.lines().count();
    let code = body
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    (lines, code)
}

/// The top-level modules a piece of code names through `crate::` paths, including every item of
/// a `use crate::{a, b::{..}}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    push_ident(&mut refs, &item);
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            push_ident(&mut refs, rest);
        }
    }
    refs
}

fn push_ident(refs: &mut BTreeSet<String>, text: &str) {
    let ident: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() && ident != "self" {
        refs.insert(ident);
    }
}

fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

fn graph() -> (Edges, Vec<(usize, PathBuf)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = Edges::new();
    let mut sizes = Vec::new();
    for file in files {
        let (lines, code) = code(&std::fs::read_to_string(&file).unwrap());
        let from = top_module(&src, &file);
        sizes.push((lines, file.clone()));
        if from == "main" || from == "lib" {
            continue;
        }
        let targets = edges.entry(from.clone()).or_default();
        targets.extend(crate_refs(&code).into_iter().filter(|m| *m != from));
    }
    sizes.sort();
    (edges, sizes)
}

/// A path from `to` back to `from`, if `from -> to` closes a circle.
fn path_back(edges: &Edges, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![to.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap().clone();
        if last == from {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in edges.get(&last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            stack.push(longer);
        }
    }
    None
}

#[test]
fn no_top_level_module_is_used_back_by_a_module_it_uses() {
    let (edges, _) = graph();
    assert!(
        edges.len() > 15,
        "the scan found too few modules: {edges:?}"
    );
    assert!(edges["pages"].contains("auth") && edges["auth"].contains("web"));
    let mut circles = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if let Some(back) = path_back(&edges, from, to) {
                circles.push(format!("{from} -> {}", back.join(" -> ")));
            }
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn no_source_file_is_over_600_lines_before_its_tests() {
    let (_, sizes) = graph();
    let over: Vec<_> = sizes.iter().filter(|(n, _)| *n > MAX_LINES).collect();
    assert!(over.is_empty(), "files over {MAX_LINES} lines: {over:#?}");
    let (largest, file) = sizes.last().unwrap();
    let median = sizes[sizes.len() / 2].0;
    eprintln!(
        "source files: {}, largest {largest} lines ({}), median {median}",
        sizes.len(),
        file.display()
    );
}

#[test]
fn the_scan_sees_a_circle_when_there_is_one() {
    let code = "use crate::{a, b::{c, d}, e::f};\nfn x() { crate::g::h(); }";
    let refs: Vec<_> = crate_refs(code).into_iter().collect();
    assert_eq!(refs, ["a", "b", "e", "g"]);
    let mut edges = Edges::new();
    edges.entry("x".into()).or_default().insert("y".into());
    edges.entry("y".into()).or_default().insert("z".into());
    edges.entry("z".into()).or_default().insert("x".into());
    assert!(path_back(&edges, "x", "y").is_some());
    edges.get_mut("z").unwrap().clear();
    assert!(path_back(&edges, "x", "y").is_none());
}

/// The longest a function may be, and a route handler (a page's, a download's, a form's):
/// a handler reads the request, asks one or two domain functions and renders.
const MAX_FUNCTION_LINES: usize = 120;
const MAX_HANDLER_LINES: usize = 80;

/// Every function in `code` (before its tests) with its length in lines, from its `fn` line
/// to its closing brace.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        let words: Vec<&str> = line.split_whitespace().collect();
        let fn_at = words.iter().position(|w| *w == "fn");
        let is_fn = fn_at.is_some_and(|at| {
            words[..at]
                .iter()
                .all(|w| w.starts_with("pub") || matches!(*w, "async" | "const" | "unsafe"))
        });
        let Some(at) = fn_at.filter(|_| is_fn) else {
            i += 1;
            continue;
        };
        let name: String = words
            .get(at + 1)
            .map(|w| {
                w.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        let (mut depth, mut started, mut j) = (0i32, false, i);
        while j < lines.len() {
            // Braces in strings and char literals are rare in signatures and bodies here;
            // those in `'{'` and `"{…}"` format strings are skipped.
            let mut in_str = false;
            let mut prev = ' ';
            for c in lines[j].chars() {
                match c {
                    '"' if prev != '\\' => in_str = !in_str,
                    '{' if !in_str && prev != '\'' => {
                        depth += 1;
                        started = true;
                    }
                    '}' if !in_str && prev != '\'' => depth -= 1,
                    _ => {}
                }
                prev = c;
            }
            if started && depth <= 0 {
                break;
            }
            if !started && lines[j].trim_end().ends_with(';') {
                break;
            }
            j += 1;
        }
        if started {
            out.push((name, j - i + 1));
        }
        i = j + 1;
    }
    out
}

#[test]
fn no_function_is_over_120_lines_and_no_handler_over_80() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut over = Vec::new();
    let mut all = Vec::new();
    for file in &files {
        let (_, code) = code(&std::fs::read_to_string(file).unwrap());
        for (name, lines) in functions(&code) {
            let handler = ["_get", "_post", "_csv"].iter().any(|s| name.ends_with(s));
            let limit = if handler {
                MAX_HANDLER_LINES
            } else {
                MAX_FUNCTION_LINES
            };
            if lines > limit {
                over.push(format!(
                    "{}: {name} ({lines} lines, limit {limit})",
                    file.display()
                ));
            }
            all.push((lines, name));
        }
    }
    assert!(
        all.len() > 500,
        "the scan found too few functions: {}",
        all.len()
    );
    assert!(over.is_empty(), "{over:#?}");
    all.sort_unstable();
    eprintln!(
        "functions: {}, longest {:?}, over 60 lines: {}",
        all.len(),
        all.last(),
        all.iter().filter(|(n, _)| *n > 60).count()
    );
}

#[test]
fn the_function_scan_measures_from_fn_to_its_closing_brace() {
    let code =
        "pub async fn a_get(x: u8) -> u8 {\n    let s = \"{\";\n    x\n}\nfn b() {}\nfn c();\n";
    assert_eq!(
        functions(code),
        vec![("a_get".to_owned(), 4), ("b".to_owned(), 1)]
    );
}
