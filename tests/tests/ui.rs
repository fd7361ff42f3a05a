//! UI tests: the diagnostics of every program in `tests/ui/`, rendered as people see them, are
//! snapshots in `tests/ui/snapshots/`; and every code of the compiler is exercised by a UI file
//! and documented, with a failing and a fixed example, in `docs/errors.md`.
//!
//! An entry of `tests/ui/` is a `.xop` file or a folder of `.xop` files checked together (one
//! project). Its name says what it must produce:
//! - `E0205_*` / `W0201_*`: at least one diagnostic with that code;
//! - `ok_*`: no diagnostic at all;
//! - `recovery_*`: at least three errors (the parser recovers and reports every error).
//!
//! Review changed snapshots with `cargo insta review`, or regenerate them with
//! `INSTA_UPDATE=always cargo test -p xop-tests --test ui` and read the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use xop_compiler::codes::{self, CODES};
use xop_compiler::db::Workspace;
use xop_compiler::diagnostic::{Diagnostic, Severity};
use xop_compiler::render;

/// Codes that no part of the compiler emits yet. Their UI file and documented example show the
/// program the code is meant for; the tests check that the code is still absent, so that the
/// code is taken off this list (and its snapshot reviewed) when the check is implemented.
const NOT_YET_EMITTED: &[&str] = &[];

/// The `tests/ui` folder.
fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// One UI case: a name (file stem or folder name) and its files, as `(path, text)` with paths
/// relative to `tests/ui` and `/` as separator, so that the output does not depend on the machine.
struct Case {
    name: String,
    files: Vec<(String, String)>,
}

fn relative(path: &Path) -> String {
    let rel = path.strip_prefix(ui_dir()).expect("a path under tests/ui");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn is_xop(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "xop")
}

/// Every case of `tests/ui`, sorted by name.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(ui_dir())
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.expect("readable tests/ui");
        let path = entry.path();
        if entry.file_type().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "snapshots" {
                continue;
            }
            let files: Vec<(String, String)> = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .map(|e| e.expect("readable tests/ui folder"))
                .filter(|e| e.file_type().is_file() && is_xop(e.path()))
                .map(|e| (relative(e.path()), read(e.path())))
                .collect();
            assert!(!files.is_empty(), "tests/ui/{name} has no .xop file");
            out.push(Case { name, files });
        } else if is_xop(path) {
            let name = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            out.push(Case {
                name,
                files: vec![(relative(path), read(path))],
            });
        }
    }
    assert!(!out.is_empty(), "no case found in {}", ui_dir().display());
    out
}

/// Checks `files` together in a fresh workspace (with the standard library): the diagnostics
/// of those files, and their rendering without colour.
fn check(files: &[(String, String)]) -> (Vec<Diagnostic>, String) {
    let mut ws = Workspace::new();
    for (path, text) in files {
        ws.set_file(path, text.as_str());
    }
    let diags = ws.diagnostics();
    let rendered = render::human(&diags, &|p| ws.source(p).map(|s| s.to_string()), false);
    (diags, rendered)
}

/// The code a case name starts with (`E0205_unresolved_name` → `E0205`), if any.
fn code_of(name: &str) -> Option<&str> {
    let (code, _) = name.split_once('_')?;
    let b = code.as_bytes();
    let ok =
        b.len() == 5 && matches!(b[0], b'E' | b'W' | b'C') && b[1..].iter().all(u8::is_ascii_digit);
    ok.then_some(code)
}

fn codes_in(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

fn errors(diags: &[Diagnostic]) -> usize {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// What the name of a case requires of its diagnostics; `Err` says what is wrong.
fn expectation(name: &str, diags: &[Diagnostic]) -> Result<(), String> {
    if let Some(code) = code_of(name) {
        if codes::info(code).is_none() {
            return Err(format!("`{code}` is not a code of codes::CODES"));
        }
        let produced = diags.iter().any(|d| d.code == code);
        if NOT_YET_EMITTED.contains(&code) {
            if produced {
                return Err(format!(
                    "{code} is emitted now: remove it from NOT_YET_EMITTED and review the snapshot"
                ));
            }
        } else if !produced {
            return Err(format!(
                "expected a diagnostic {code}, got {:?}",
                codes_in(diags)
            ));
        }
    } else if name.starts_with("ok_") {
        if !diags.is_empty() {
            return Err(format!("expected no diagnostic, got {:?}", codes_in(diags)));
        }
    } else if name.starts_with("recovery_") {
        if errors(diags) < 3 {
            return Err(format!(
                "expected at least 3 errors, got {:?}",
                codes_in(diags)
            ));
        }
    } else {
        return Err("a UI case is named `EXXXX_…`, `WXXXX_…`, `ok_…` or `recovery_…`".to_string());
    }
    Ok(())
}

#[test]
fn ui_snapshots() {
    let snapshots = ui_dir().join("snapshots");
    let mut failures = Vec::new();
    for case in cases() {
        let (diags, rendered) = check(&case.files);
        if let Err(e) = expectation(&case.name, &diags) {
            failures.push(format!("{}: {e}", case.name));
        }
        let name = case.name.clone();
        let snapshot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            insta::with_settings!({
                snapshot_path => snapshots.clone(),
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => case.files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", "),
            }, {
                insta::assert_snapshot!(name, rendered);
            });
        }));
        if snapshot.is_err() {
            failures.push(format!("{}: the snapshot differs", case.name));
        }
    }
    assert!(failures.is_empty(), "UI failures:\n{}", failures.join("\n"));
}

/// No snapshot is left behind by a renamed or removed case.
#[test]
fn no_orphan_snapshots() {
    let names: BTreeSet<String> = cases().into_iter().map(|c| c.name).collect();
    let dir = ui_dir().join("snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut orphans = Vec::new();
    for entry in entries {
        let file = entry.expect("readable snapshots").file_name();
        let file = file.to_string_lossy();
        let Some(stem) = file.strip_suffix(".snap") else {
            continue;
        };
        if !names.contains(stem) {
            orphans.push(file.into_owned());
        }
    }
    assert!(
        orphans.is_empty(),
        "snapshots without a UI case in tests/ui: {orphans:?}"
    );
}

#[test]
fn every_code_has_a_ui_case() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|code| !names.iter().any(|n| code_of(n) == Some(*code)))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a tests/ui case named after them: {missing:?}"
    );
}

#[test]
fn not_yet_emitted_codes_exist() {
    for code in NOT_YET_EMITTED {
        assert!(codes::info(code).is_some(), "{code} is not in codes::CODES");
    }
}

#[test]
fn the_standard_library_is_clean() {
    let ws = Workspace::new();
    let diags = ws.stdlib_diagnostics();
    assert!(diags.is_empty(), "{diags:#?}");
}

// ------------------------------------------------------------------ docs/errors.md

/// A fenced example of a section: its info string and its files. A block holds one file, or
/// several separated by lines `// file: NAME.xop` (for codes about more than one file).
struct Example {
    info: String,
    files: Vec<(String, String)>,
}

/// The fenced `xop` blocks of a section.
fn examples(code: &str, section: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_string();
        let mut body = Vec::new();
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push(l);
        }
        if !(info == "xop" || info.starts_with("xop ")) {
            continue;
        }
        let mut files: Vec<(String, String)> = Vec::new();
        for l in body {
            if let Some(name) = l.trim().strip_prefix("// file:") {
                files.push((format!("{code}/{}", name.trim()), String::new()));
                continue;
            }
            if files.is_empty() {
                files.push((format!("{code}/example.xop"), String::new()));
            }
            let text = &mut files.last_mut().expect("a file").1;
            text.push_str(l);
            text.push('\n');
        }
        out.push(Example { info, files });
    }
    out
}

#[test]
fn every_code_is_documented() {
    let mut problems = Vec::new();
    for info in CODES {
        let Some(section) = codes::explain(info.code) else {
            problems.push(format!("{}: no `## {}: …` section", info.code, info.code));
            continue;
        };
        let heading = format!("## {}: {}", info.code, info.title);
        let mut lines = section.lines();
        if lines.next() != Some(heading.as_str()) {
            problems.push(format!("{}: the heading must be `{heading}`", info.code));
        }
        // The first paragraph is SARIF's full description: one line, then a blank line.
        let first: Vec<&str> = lines
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty())
            .collect();
        if first.len() != 1 || first[0].starts_with("```") {
            problems.push(format!(
                "{}: the section must open with a one-line paragraph",
                info.code
            ));
        } else if codes::full_description(info.code) != Some(first[0].trim()) {
            problems.push(format!(
                "{}: full_description does not give the first paragraph",
                info.code
            ));
        }
    }
    // No section for a code the compiler does not have.
    let doc = include_str!("../../docs/errors.md");
    for line in doc.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            let code = rest.split(':').next().unwrap_or_default();
            if codes::info(code).is_none() {
                problems.push(format!(
                    "docs/errors.md has a section for unknown code `{code}`"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn documented_examples_do_what_they_say() {
    let mut problems = Vec::new();
    for info in CODES {
        let Some(section) = codes::explain(info.code) else {
            continue; // reported by every_code_is_documented
        };
        let code = info.code;
        let examples = examples(code, section);
        let failing: Vec<&Example> = examples.iter().filter(|e| e.info == "xop").collect();
        let fixed: Vec<&Example> = examples.iter().filter(|e| e.info == "xop fixed").collect();
        if failing.len() != 1 || fixed.len() != 1 || examples.len() != 2 {
            problems.push(format!(
                "{code}: expected one ```xop block and one ```xop fixed block, found {:?}",
                examples.iter().map(|e| &e.info).collect::<Vec<_>>()
            ));
            continue;
        }
        let (diags, rendered) = check(&failing[0].files);
        let produced = diags.iter().any(|d| d.code == code);
        if NOT_YET_EMITTED.contains(&code) {
            if produced {
                problems.push(format!(
                    "{code}: emitted now, remove it from NOT_YET_EMITTED"
                ));
            }
        } else if !produced {
            problems.push(format!(
                "{code}: the failing example does not produce {code}:\n{rendered}"
            ));
        }
        let (diags, rendered) = check(&fixed[0].files);
        if !diags.is_empty() {
            problems.push(format!(
                "{code}: the fixed example is not clean:\n{rendered}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every complete example of the user docs (a ```xop block that starts with `module`, alone or
/// split into `// file:` parts) checks without an error: the docs show what works. The pages of
/// the diagnostics (errors.md, compliance.md) pair failing and fixed examples and are checked by
/// `documented_examples_do_what_they_say`; fragments (no `module`) assume the declarations
/// around them and are not checked alone.
#[test]
fn complete_doc_examples_check_without_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("the docs folder") {
        let path = entry.expect("a docs entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".md") && name != "errors.md" && name != "compliance.md" {
            pages.push(path);
        }
    }
    pages.sort();
    let mut checked = 0;
    let mut problems = Vec::new();
    for page in &pages {
        let name = page
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for example in examples(name, &read(page)) {
            let complete = example.files.iter().all(|(_, text)| {
                text.lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with("//"))
                    .is_some_and(|l| l.starts_with("module "))
            });
            if !complete {
                continue;
            }
            checked += 1;
            let (diags, rendered) = check(&example.files);
            if errors(&diags) > 0 {
                problems.push(format!("{name}: an example has errors:\n{rendered}"));
            }
        }
    }
    // The pages hold ten complete examples today (language.md, stdlib.md): fewer means the
    // test stopped finding them.
    assert!(checked >= 10, "only {checked} complete examples found");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
