//! The layers ARCHITECTURE.md states are the layers the code has: every `crate::` (and
//! `super::`) path in `src/` outside `#[cfg(test)]` points to the same top-level module or to one
//! of a lower layer. Modules of one layer never import each other, so no import can run in a
//! circle. The layer table is read from ARCHITECTURE.md itself, so the document and this test
//! cannot drift apart; `tests/suite/iam_policy.rs` keeps the IAM policy true the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import: the file it is in, its line, and the top-level modules of both ends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
    path: String,
}

/// Blank out comments, string and char literals (keeping newlines), so that braces and paths
/// are only the code's.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let end = src[j + 1..]
                .find(&close)
                .map_or(b.len(), |n| j + 1 + n + close.len());
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{1f}'), or a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                src[i + 2..].find('\'').map(|n| i + 2 + n + 1)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 2 + ch)
            };
            match end {
                Some(e) => {
                    blank(&mut out, &b[i..e]);
                    i = e;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().expect("inside the text");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Blank out every `#[cfg(test)]` item (a test module or function), braces balanced.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|n| from + n) {
        let Some(open) = out[at..].find(['{', ';']).map(|n| at + n) else {
            break;
        };
        let mut end = open + 1;
        if out.as_bytes()[open] == b'{' {
            let mut depth = 0usize;
            for (k, ch) in out[open..].char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
        from = end;
    }
    out
}

/// Expand a use tree (`crate::a::{b, c::{d, e}}`) into whole paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::").trim();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = if head.is_empty() {
            prefix.to_string()
        } else if prefix.is_empty() {
            head.to_string()
        } else {
            format!("{prefix}::{head}")
        };
        let mut depth = 0;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..k], out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let name = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}::{name}")
        });
    }
}

/// The module path of a file under `src/` (`src/report/sink/mod.rs` → `["report", "sink"]`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The top-level module a path names, from a file in `module`: `crate::x::…` is `x`;
/// `super::…` climbs from the file's module. `None`: a path outside the crate.
fn target(module: &[String], path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split("::").map(str::trim).collect();
    match segs.first() {
        Some(&"crate") => segs.get(1).map(|s| s.to_string()),
        Some(&"super") => {
            let ups = segs.iter().take_while(|s| **s == "super").count();
            let mut m = module.to_vec();
            for _ in 0..ups {
                m.pop();
            }
            match m.first() {
                Some(top) => Some(top.clone()),
                None => segs.get(ups).map(|s| s.to_string()),
            }
        }
        Some(&"self") => module.first().cloned(),
        _ => None,
    }
}

/// Every cross-module import of the crate rooted at `src`.
fn imports(src: &Path) -> Vec<Import> {
    let mut files = vec![];
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    walk(src, &mut files);
    files.sort();
    let mut out = vec![];
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_path_buf();
        let module = module_of(&rel);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs, main.rs: they declare, they do not import
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let code = without_tests(&code_only(&text));
        let line_of = |at: usize| code[..at].matches('\n').count() + 1;
        let mut paths: Vec<(usize, String)> = vec![];
        // `use` declarations, trees expanded.
        let mut from = 0;
        while let Some(at) = code[from..].find("use ").map(|n| from + n) {
            from = at + 4;
            let before = code[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' {
                continue;
            }
            let Some(semi) = code[at..].find(';').map(|n| at + n) else {
                break;
            };
            let tree = code[at + 4..semi]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let mut expanded = vec![];
            expand("", &tree, &mut expanded);
            for p in expanded {
                paths.push((line_of(at), p));
            }
            from = semi;
        }
        // Paths written inline: `crate::a::b`, `super::super::x`.
        for key in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(at) = code[from..].find(key).map(|n| from + n) {
                from = at + key.len();
                let before = code[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == ':' {
                    continue;
                }
                let end = code[at..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .map_or(code.len(), |n| at + n);
                paths.push((line_of(at), code[at..end].trim_end_matches(':').to_string()));
            }
        }
        for (line, path) in paths {
            if let Some(to) = target(&module, &path) {
                if to != top {
                    out.push(Import {
                        file: format!("src/{}", rel.display()),
                        line,
                        from: top.clone(),
                        to,
                        path,
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The layer of every top-level module, from ARCHITECTURE.md's table: rows `| N | `a`, `b` | …`.
fn layers(architecture: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let section = architecture
        .split("## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    for row in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(n) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        for name in cells[2].split('`').skip(1).step_by(2) {
            out.insert(name.trim_end_matches('/').to_string(), n);
        }
    }
    out
}

/// Every import that breaks the layers: upward, sideways within a layer, or into a module the
/// table does not place.
fn violations(imports: &[Import], layers: &BTreeMap<String, u32>) -> Vec<String> {
    let mut out = vec![];
    for i in imports {
        let (Some(a), Some(b)) = (layers.get(&i.from), layers.get(&i.to)) else {
            out.push(format!(
                "{}:{}: `{}` joins `{}` and `{}`, and ARCHITECTURE.md places only {:?}",
                i.file,
                i.line,
                i.path,
                i.from,
                i.to,
                layers.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        if b >= a {
            out.push(format!(
                "{}:{}: `{}` imports {} (layer {b}) from {} (layer {a}): a module imports only layers below its own",
                i.file, i.line, i.path, i.to, i.from
            ));
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_import_points_down_a_layer() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let layers = layers(&arch);
    assert!(
        layers.len() >= 9,
        "the layer table names too few modules: {layers:?}"
    );
    let found = imports(&root().join("src"));
    assert!(
        found.len() > 50,
        "too few imports found ({}): the reader is broken",
        found.len()
    );
    let bad = violations(&found, &layers);
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    // Every top-level module of src/ is placed in the table, and nothing else is.
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(root().join("src")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let name = name.trim_end_matches(".rs").to_string();
        if !matches!(name.as_str(), "lib" | "main") {
            modules.insert(name);
        }
    }
    let placed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        modules, placed,
        "src/ and ARCHITECTURE.md's layer table name different modules"
    );
}

/// The checker itself: a tree with an upward import, a sideways one and a circle is caught, and
/// a clean one passes. (The same test on the real tree would fail the same way.)
#[test]
fn an_upward_or_circular_import_is_caught() {
    let arch = "## Layers\n| layer | modules |\n|---|---|\n| 1 | `model` |\n| 2 | `sources`, `state` |\n| 3 | `jobs` |\n## Next\n";
    let layers = layers(arch);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, body: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    write(
        "lib.rs",
        "pub mod jobs;\npub mod model;\npub mod sources;\npub mod state;\n",
    );
    write("model/mod.rs", "//! `use crate::jobs` in a comment is no import.\npub struct Family;\nconst S: &str = \"crate::jobs::x\";\n#[cfg(test)]\nmod tests {\n    use crate::jobs::run;\n}\n");
    write("sources/mod.rs", "use crate::model::Family;\n");
    write(
        "state/mod.rs",
        "use crate::{model::Family, sources::Thing};\n",
    );
    write(
        "jobs/mod.rs",
        "use crate::state::Store;\npub fn run() { crate::sources::go(); }\n",
    );
    let clean = violations(&imports(src), &layers);
    assert_eq!(clean.len(), 1, "{clean:?}");
    assert!(
        clean[0].contains("src/state/mod.rs:1:")
            && clean[0].contains("sources (layer 2) from state (layer 2)"),
        "a sideways import: {clean:?}"
    );
    // An upward import, written inline, deep in a file.
    write(
        "model/series.rs",
        "use super::Family;\n\nfn f() -> u8 {\n    let _ = '{';\n    crate::jobs::run();\n    0\n}\n",
    );
    let bad = violations(&imports(src), &layers);
    assert!(
        bad.iter().any(|v| v.contains("src/model/series.rs:5:")
            && v.contains("`crate::jobs::run` imports jobs (layer 3) from model (layer 1)")),
        "{bad:?}"
    );
    // A circle needs an upward edge: jobs → state → jobs is caught at its upward half.
    write("state/mod.rs", "use crate::jobs::run;\n");
    let bad = violations(&imports(src), &layers);
    assert!(
        bad.iter()
            .any(|v| v.contains("src/state/mod.rs:1:") && v.contains("from state (layer 2)")),
        "{bad:?}"
    );
    // A module the table does not place.
    write("extra.rs", "use crate::model::Family;\n");
    let bad = violations(&imports(src), &layers);
    assert!(bad.iter().any(|v| v.contains("`extra`")), "{bad:?}");
}

#[test]
fn use_trees_expand_to_whole_paths() {
    let mut out = vec![];
    expand(
        "",
        "crate::report::{ sink::{slack, teams}, text::clean_line as clean, Report }",
        &mut out,
    );
    assert_eq!(
        out,
        [
            "crate::report::sink::slack",
            "crate::report::sink::teams",
            "crate::report::text::clean_line",
            "crate::report::Report"
        ]
    );
    assert_eq!(
        target(&["report".into(), "sink".into()], "super::super::jobs::x"),
        Some("jobs".to_string())
    );
    assert_eq!(
        target(&["report".into(), "csv".into()], "super::Report"),
        Some("report".to_string())
    );
    assert_eq!(
        target(&["report".into()], "super::jobs"),
        Some("jobs".to_string())
    );
}
