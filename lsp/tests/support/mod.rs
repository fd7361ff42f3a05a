//! What the rename tests of parameters share: a fixture opened in a language server state,
//! renames applied to its texts and the result checked again.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use xop_lsp::navigation::{FileEdits, rename};
use xop_lsp::state::{Snapshot, State};
use xop_lsp::stdlib::StdlibLocation;

/// A state with `files` open, and a snapshot of it.
pub fn open(files: &[(&str, String)]) -> (State, Snapshot) {
    let mut st = State::new(StdlibLocation::Scheme);
    for (path, text) in files {
        st.open(path, text, 1);
    }
    let snap = st.snapshot();
    (st, snap)
}

/// The fixture `files`, which compiles (so that a rename that breaks it shows).
pub fn project(files: &[(&str, &str)]) -> (State, Snapshot) {
    let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (*p, t.to_string())).collect();
    let (st, snap) = open(&files);
    assert_eq!(errors(&st), Vec::<String>::new());
    (st, snap)
}

/// The byte offset of the `nth` `needle` in `text`, plus `plus`.
pub fn at(text: &str, needle: &str, nth: usize, plus: usize) -> usize {
    text.match_indices(needle)
        .nth(nth)
        .map(|(i, _)| i + plus)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} is not in the text"))
}

/// The compiler's errors (not warnings, not compliance findings) of the project.
pub fn errors(st: &State) -> Vec<String> {
    st.workspace()
        .diagnostics()
        .iter()
        .filter(|d| d.code.starts_with('E'))
        .map(|d| format!("{} {}: {}", d.code, d.file, d.message))
        .collect()
}

/// The text of each of `files` once `edits` are applied.
pub fn apply(
    files: &[(&str, &str)],
    snap: &Snapshot,
    edits: &[FileEdits],
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    for (file, es) in edits {
        let path = snap.path(*file).to_string();
        assert!(out.contains_key(&path), "edits {path}");
        let mut es = es.clone();
        es.sort_by_key(|(s, _)| std::cmp::Reverse(s.start()));
        // Two edits of one place would be applied twice.
        let mut starts: Vec<usize> = es.iter().map(|(s, _)| s.start()).collect();
        starts.dedup();
        assert_eq!(starts.len(), es.len(), "one edit per place: {es:?}");
        let text = out.get_mut(&path).expect("a file");
        for (span, new) in es {
            text.replace_range(span.range(), &new);
        }
    }
    out
}

/// Renames at `offset` of `path` and checks the result: the texts, which must still compile.
pub fn renamed(
    files: &[(&str, &str)],
    path: &str,
    offset: usize,
    new: &str,
) -> BTreeMap<String, String> {
    let (_st, snap) = project(files);
    let file = snap.file(path).expect("file");
    let edits = rename(&snap, file, offset, new).unwrap_or_else(|e| panic!("refused: {e}"));
    let texts = apply(files, &snap, &edits);
    assert_compiles(&texts);
    texts
}

/// Checks that `texts` (path → text) compile without errors.
pub fn assert_compiles(texts: &BTreeMap<String, String>) {
    let (st, _) = open(
        &texts
            .iter()
            .map(|(p, t)| (p.as_str(), t.clone()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(errors(&st), Vec::<String>::new(), "{texts:#?}");
}

/// The fixture's texts with each `(file, from, to)` applied: `from`, written once in the file,
/// replaced by `to`.
pub fn expected(
    files: &[(&str, &str)],
    changes: &[(&str, &str, &str)],
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    for (path, from, to) in changes {
        let text = out.get_mut(*path).expect("a file");
        assert_eq!(text.matches(from).count(), 1, "`{from}` once in {path}");
        *text = text.replace(from, to);
    }
    out
}

/// Why renaming at `offset` of `path` to `new` is refused.
pub fn refused(files: &[(&str, &str)], path: &str, offset: usize, new: &str) -> String {
    let (_st, snap) = project(files);
    let file = snap.file(path).expect("file");
    match rename(&snap, file, offset, new) {
        Err(e) => e,
        Ok(edits) => panic!("renamed to `{new}`: {edits:?}"),
    }
}

/// `(path, line text from the name on)` of each location.
pub fn places(
    snap: &Snapshot,
    locs: &[(xop_compiler::db::SourceFile, xop_compiler::span::Span)],
) -> Vec<String> {
    locs.iter()
        .map(|(f, s)| {
            let text = snap.text(*f);
            let rest = &text[s.start()..];
            let line = rest.split('\n').next().unwrap_or_default();
            format!("{}: {line}", snap.path(*f))
        })
        .collect()
}
