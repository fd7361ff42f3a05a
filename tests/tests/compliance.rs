//! The compliance corpus: programs that try to get around the compliance checker, and
//! legitimate programs it must accept, under `tests/compliance/`.
//!
//! - `consent/reject/*.xop`: evasions of the consent property; each must produce C0005 (or the
//!   code its name starts with, `C0005_…`).
//! - `review/reject/*.xop`: evasions of human oversight and of the ban on prohibited practices;
//!   each is named after the code it must produce (`C0001_…`, `C0002_…`, `C0003_…`).
//! - `*/accept/*.xop`: legitimate variants; each must produce no error (warnings are fine, e.g.
//!   C0102 for an allow that never takes effect).
//!
//! Every file is a whole module checked alone, in a fresh workspace with the standard library,
//! and opens with a `// why: …` comment saying what it tries or why it is legitimate. A rejected
//! file must be free of syntax, name and type errors (`E…`), so that it is rejected for the
//! reason its name gives. Each folder keeps at least [`MIN_CASES`] files, so that the corpus
//! cannot silently shrink. A checker change that breaks a case is a checker bug: fix the
//! checker, not the case.

use std::path::{Path, PathBuf};

use xop_compiler::codes;
use xop_compiler::db::Workspace;
use xop_compiler::diagnostic::{Diagnostic, Severity};
use xop_compiler::render;

/// The fewest files each of the four folders may hold.
const MIN_CASES: usize = 8;

/// The folders of the corpus, and the code a rejected file must produce when its name does not
/// start with one (`None`: the name must give it).
const FOLDERS: &[(&str, Expect, Option<&str>)] = &[
    ("consent/reject", Expect::Reject, Some("C0005")),
    ("consent/accept", Expect::Accept, None),
    ("review/reject", Expect::Reject, None),
    ("review/accept", Expect::Accept, None),
];

/// The codes a `review/reject` file may be named after.
const REVIEW_CODES: &[&str] = &["C0001", "C0002", "C0003"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Reject,
    Accept,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compliance")
}

/// The `.xop` files of a folder of the corpus, sorted, as (path relative to `tests/`, text).
fn files(folder: &str) -> Vec<(String, String)> {
    let dir = corpus_dir().join(folder);
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&dir)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "xop") {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        out.push((format!("compliance/{folder}/{name}"), text));
    }
    out
}

/// The diagnostics of one file checked alone, and their rendering without colour.
fn check(path: &str, text: &str) -> (Vec<Diagnostic>, String) {
    let mut ws = Workspace::new();
    ws.set_file(path, text);
    let diags = ws.diagnostics();
    let rendered = render::human(&diags, &|p| ws.source(p).map(|s| s.to_string()), false);
    (diags, rendered)
}

/// The code a file name starts with (`C0001_plain_allow.xop` → `C0001`), if any.
fn code_of(file_name: &str) -> Option<&str> {
    let (code, _) = file_name.split_once('_')?;
    let b = code.as_bytes();
    let ok = b.len() == 5 && b[0] == b'C' && b[1..].iter().all(u8::is_ascii_digit);
    ok.then_some(code)
}

fn codes_in(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

/// What is wrong with one file of the corpus, if anything.
fn problem(
    folder: &str,
    expect: Expect,
    default: Option<&str>,
    path: &str,
    text: &str,
) -> Option<String> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if !text.trim_start().starts_with("// why:") {
        return Some("the file must open with a `// why: …` comment".to_string());
    }
    let (diags, rendered) = check(path, text);
    match expect {
        Expect::Reject => {
            let code = match (code_of(file_name), default) {
                (Some(c), _) | (None, Some(c)) => c,
                (None, None) => {
                    return Some(format!(
                        "a file of {folder} is named after the code it must produce, one of {REVIEW_CODES:?}"
                    ));
                }
            };
            if codes::info(code).is_none() {
                return Some(format!("`{code}` is not a code of codes::CODES"));
            }
            if folder.starts_with("review/") && !REVIEW_CODES.contains(&code) {
                return Some(format!(
                    "a file of {folder} must be named after one of {REVIEW_CODES:?}, not {code}"
                ));
            }
            let malformed: Vec<&str> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error && d.code.starts_with('E'))
                .map(|d| d.code)
                .collect();
            if !malformed.is_empty() {
                return Some(format!(
                    "expected {code}, but the program itself is wrong ({malformed:?}): fix it so that it is rejected for the reason its name gives\n{rendered}"
                ));
            }
            if !diags.iter().any(|d| d.code == code) {
                return Some(format!(
                    "EVASION ACCEPTED: expected {code}, got {:?}\n{rendered}",
                    codes_in(&diags)
                ));
            }
        }
        Expect::Accept => {
            let errors: Vec<&str> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.code)
                .collect();
            if !errors.is_empty() {
                return Some(format!(
                    "LEGITIMATE PROGRAM REJECTED: expected no error, got {errors:?}\n{rendered}"
                ));
            }
        }
    }
    None
}

#[test]
fn compliance_corpus() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for &(folder, expect, default) in FOLDERS {
        let files = files(folder);
        if files.len() < MIN_CASES {
            failures.push(format!(
                "tests/compliance/{folder}: {} files, at least {MIN_CASES} expected (the corpus must not shrink)",
                files.len()
            ));
        }
        for (path, text) in &files {
            checked += 1;
            if let Some(p) = problem(folder, expect, default, path, text) {
                failures.push(format!("tests/{path}: {p}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} compliance cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn code_names_are_recognised() {
    assert_eq!(code_of("C0001_plain_allow.xop"), Some("C0001"));
    assert_eq!(code_of("C0005_other_purpose.xop"), Some("C0005"));
    assert_eq!(code_of("guard_in_action_policy.xop"), None);
    assert_eq!(code_of("E0205_unresolved.xop"), None);
}
