//! What `xop test` and `xop eval` print from the sources, where QA found:
//! - a test's name and a rule's text printed raw: control sequences in them erased `FAILED`,
//!   printed a fake summary and hid the real one;
//! - a fired rule's text joined by blanks: a comment inside the rule swallowed the rest of it,
//!   and the spaces inside text literals collapsed;
//! - `test` blocks without an `expect` dropped silently, with "no `test` block in the sources".

mod support;

use std::process::Output;

use support::{TempDir, text, xop_in};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A policy that denies `big` when its rule's condition holds; `RULE` is replaced by the rule.
const POLICY: &str = "module qa.t\n\npurpose service\n\nrecord R {\n  n: Int\n}\n\naction act(x: \
     R) purpose service risk minimal\n\npolicy p for act(x: r) {\nRULE\n  allow \"ok\"\n}\n";

fn source(rule: &str, tests: &str) -> String {
    format!("{}\n{tests}", POLICY.replace("RULE", rule))
}

/// No byte of the output is a control character but the line feed: nothing the sources hold
/// reaches the terminal as a control sequence.
fn no_control_characters(o: &Output) {
    for (what, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let bad: Vec<char> = (text.chars())
            .filter(|&c| c != '\n' && xop_compiler_invisible(c))
            .collect();
        assert!(bad.is_empty(), "{what} holds {bad:?}:\n{text}");
    }
}

/// The characters `xop fmt` escapes (controls, bidirectional and zero-width characters), as the
/// output must show them: a few that matter here.
fn xop_compiler_invisible(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202E}' | '\u{200B}' | '\u{2066}'..='\u{2069}')
}

/// A test's name with control sequences (erase the line, return, a fake `ok` line and summary,
/// hide what follows) is printed escaped, as `xop fmt` writes it in a text literal: `FAILED`
/// and the real summary stay, and no fake line appears.
#[test]
fn a_test_name_cannot_rewrite_the_report() {
    let dir = TempDir::new("test-name-escapes");
    let name = r#"\u{1b}[2K\u{d}ok     looks fine (t.xop:1)\n0 passed, 0 failed\u{1b}[8m\u{202e}"#;
    dir.write(
        "t.xop",
        source(
            "  deny \"big\" when r.n > 5",
            &format!("test \"{name}\" {{\n  expect p(act(x: {{ n: 9 }})) == allow(\"ok\")\n}}\n"),
        ),
    );
    let o = xop_in(dir.path(), &["test", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    no_control_characters(&o);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("FAILED {name}\n  at t.xop:")),
        "the name is not shown as written:\n{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"0 passed, 1 failed"), "{out}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with("passed, 0 failed"))
            .count(),
        0,
        "a fake summary line:\n{out}"
    );
}

/// A raw ESC (and a right-to-left override) in a rule's text literal is shown escaped in the
/// `fired` lines of `xop test` and `xop eval`, and so are the reasons and a failing test's
/// expectation; `--format json` writes both as JSON escapes.
#[test]
fn a_rule_text_and_reasons_are_shown_escaped() {
    let dir = TempDir::new("rule-escapes");
    dir.write(
        "t.xop",
        source(
            "  deny \"big\u{1b}[8m\" when r.n > 5 and \"\u{1b}[8m\u{202e}\" != \"\"",
            "test \"t\" {\n  expect p(act(x: { n: 9 })) == allow(\"ok\")\n}\n",
        ),
    );
    dir.write("in.json", r#"{"x": {"n": 9}}"#);
    let o = xop_in(dir.path(), &["test", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    no_control_characters(&o);
    let out = stdout(&o);
    assert!(
        out.contains(
            "  fired p#1 at t.xop:12: deny \"big\\u{1b}[8m\" when r.n > 5 and \
             \"\\u{1b}[8m\\u{202e}\" != \"\"\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("  expected allow(\"ok\")\n  actual   deny(\"big\\u{1b}[8m\")\n"),
        "{out}"
    );
    let o = xop_in(
        dir.path(),
        &["eval", "t.xop", "--policy", "p", "--input", "in.json"],
    );
    no_control_characters(&o);
    let out = stdout(&o);
    assert!(out.starts_with("deny (big\\u{1b}[8m)\n"), "{out}");
    assert!(
        out.contains("  fired p#1 at t.xop:12: deny \"big\\u{1b}[8m\" when r.n > 5 and "),
        "{out}"
    );
    // JSON escapes its own: the reason is the exact text.
    let o = xop_in(
        dir.path(),
        &[
            "eval", "t.xop", "--policy", "p", "--input", "in.json", "--format", "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reasons"][0], "big\u{1b}[8m", "{v}");
    // The right-to-left override is a JSON escape too: a reader gets the exact text, a
    // terminal shows the escape.
    no_control_characters(&o);
    let out = stdout(&o);
    assert!(out.contains(r"\u001b[8m\u202e"), "{out}");
    assert!(
        v.to_string().contains("\u{202e}"),
        "the decoded text lost the override: {v}"
    );
}

/// A fired rule's text leaves its comments out (one no longer swallows the rest of the rule)
/// and keeps its text literals exactly, spaces included.
#[test]
fn a_fired_rule_reads_as_written_without_its_comments() {
    let dir = TempDir::new("fired-comments");
    dir.write(
        "t.xop",
        source(
            "  deny \"big\" // was \"huge\" until 2026-10\n    when r.n > 5 and \"a  b\" != \
             \"a b\"\n  // the others\n  review \"odd\" by role desk within 1h else deny when \
             r.n % 2 == 1 //\n    and (r.n >= 0)",
            "role desk\n\ntest \"t\" {\n  expect p(act(x: { n: 9 })) == allow(\"ok\")\n}\n",
        ),
    );
    dir.write("in.json", r#"{"x": {"n": 9}}"#);
    let expected = [
        "  fired p#1 at t.xop:12: deny \"big\" when r.n > 5 and \"a  b\" != \"a b\"\n",
        "  fired p#2 at t.xop:15: review \"odd\" by role desk within 1h else deny when r.n % 2 \
         == 1 and (r.n >= 0)\n",
    ];
    let o = xop_in(dir.path(), &["test", "."]);
    let out = stdout(&o);
    for line in expected {
        assert!(out.contains(line), "no {line:?} in:\n{}", text(&o));
    }
    let o = xop_in(
        dir.path(),
        &["eval", "t.xop", "--policy", "p", "--input", "in.json"],
    );
    let out = stdout(&o);
    for line in expected {
        assert!(out.contains(line), "no {line:?} in:\n{}", text(&o));
    }
}

/// `test` blocks without an `expect` are listed as empty, with their file and line; they are
/// not taken for "no `test` block", and the summary stays the last line.
#[test]
fn test_blocks_without_expect_are_listed_as_empty() {
    let dir = TempDir::new("empty-tests");
    dir.write(
        "t.xop",
        source(
            "  deny \"big\" when r.n > 5",
            "test \"forgot the expectations\" {}\n\ntest \"only a \\u{1b}let\" {\n  let r = { n: \
             9 }\n}\n",
        ),
    );
    let o = xop_in(dir.path(), &["test", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        "empty  forgot the expectations (t.xop:16): checks nothing, it has no expect\nempty  \
         only a \\u{1b}let (t.xop:18): checks nothing, it has no expect\n0 passed, 0 failed\n"
    );
    assert!(
        stderr(&o).contains("warning: 2 `test` blocks check nothing: they have no `expect`"),
        "{}",
        stderr(&o)
    );
    // With a real test beside them: it runs, and only the empty block is listed as empty.
    dir.write(
        "u.xop",
        "module qa.u\n\nuse qa.t.{p, act}\n\ntest \"real\" {\n  expect p(act(x: { n: 1 })) == \
         allow(\"ok\")\n}\n\ntest \"hollow\" {}\n",
    );
    let o = xop_in(dir.path(), &["test", "."]);
    let out = stdout(&o);
    assert!(out.contains("ok     real (u.xop:6)\n"), "{}", text(&o));
    assert!(
        out.contains("empty  hollow (u.xop:9): checks nothing, it has no expect\n"),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");
    assert!(!out.contains("no `test` block"), "{out}");
    // Sources without any test block still say so.
    std::fs::remove_file(dir.path().join("u.xop")).unwrap();
    dir.write("t.xop", source("  deny \"big\" when r.n > 5", ""));
    let o = xop_in(dir.path(), &["test", "."]);
    assert!(
        stdout(&o).contains("no `test` block in the sources: nothing was run\n"),
        "{}",
        text(&o)
    );
    assert!(!stderr(&o).contains("warning"), "{}", text(&o));
}
