//! Repository rules that keep the code navigable (STYLE 1.1 and 6): every source file
//! starts with a `//!` doc, stays under 600 lines, and each layer imports only the layers
//! before it.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// Layers in order; a layer may use those before it, never those after.
const LAYERS: &[&str] = &[
    "proto",
    "store",
    "config",
    "server",
    "api",
    "rooms",
    "federation",
    "client",
    "http",
    "cmd",
];

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

fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
}

/// The layer a file belongs to: `src/<layer>/...` or `src/<layer>.rs`.
fn layer_of(path: &Path) -> Option<&'static str> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let relative = path.strip_prefix(&src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().copied().find(|layer| *layer == name)
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let missing: Vec<_> = source_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! doc: {missing:?}"
    );
}

#[test]
fn source_files_stay_small() {
    let big: Vec<_> = source_files()
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(
        big.is_empty(),
        "files over {MAX_LINES} lines, split them: {big:?}"
    );
}

#[test]
fn layers_import_only_earlier_layers() {
    // `Server` is the context every handler gets and holds the federation client and
    // key ring (STYLE 1.2), while federation's handlers take `&Server`: the one edge
    // allowed against the order.
    let allowed = [("server", "federation")];
    let mut violations = Vec::new();
    for path in source_files() {
        let Some(layer) = layer_of(&path) else {
            continue;
        };
        let position = LAYERS.iter().position(|l| *l == layer).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for later in &LAYERS[position + 1..] {
            if allowed.contains(&(layer, *later)) {
                continue;
            }
            let patterns = [
                format!("crate::{later}::"),
                format!("crate::{later};"),
                format!("crate::{{{later}"),
            ];
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or("");
                if patterns.iter().any(|p| code.contains(p.as_str())) {
                    violations.push(format!(
                        "{}: {layer} uses {later}: {}",
                        path.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_protocol_core_does_no_io() {
    let forbidden = [
        "rusqlite",
        "smol",
        "std::net",
        "std::fs",
        "async_h1",
        "http_types",
        "SystemTime::now",
        "Instant::now",
        "getrandom",
        "std::env",
    ];
    let mut violations = Vec::new();
    for path in source_files() {
        if layer_of(&path) != Some("proto") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for word in forbidden {
            if text.contains(word) {
                violations.push(format!("{} names {word}", path.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn only_the_store_names_sqlite() {
    let violations: Vec<_> = source_files()
        .into_iter()
        .filter(|path| layer_of(path) != Some("store"))
        .filter(|path| std::fs::read_to_string(path).unwrap().contains("rusqlite"))
        .collect();
    assert!(violations.is_empty(), "{violations:?}");
}
