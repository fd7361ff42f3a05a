//! `xop explain` shows a fired rule from its source file only when the file still holds that
//! rule, its whole text, at the place the module records (line and column in characters);
//! else from the rule text the module keeps, on a stand-in line.

mod support;

use support::{TempDir, text, xop_in};

/// Builds `p.xop`, decides `input` with `--log L`, and returns the folder.
fn logged(name: &str, source: &str, input: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("p.xop", source);
    dir.write("in.json", input);
    let o = xop_in(dir.path(), &["build", "p.xop", "-o", "p.xopm"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop_in(
        dir.path(),
        &[
            "eval", "p.xopm", "--policy", "pol", "--input", "in.json", "--log", "L",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).starts_with("deny"), "{}", text(&o));
    dir
}

const HEAD: &str = "module p\n\nuse std.consent.service\n\nrecord R { n: Int, vip: Bool }\n\n\
                    action act(r: R) purpose service risk minimal\n\n";

/// A rule edited after its first words is another rule: explain shows the one that fired,
/// from the module, and never the edited line as "decided the verdict".
#[test]
fn an_edited_rule_is_shown_from_the_module() {
    let source = format!(
        "{HEAD}policy pol for act(r: r) {{\n  deny \"big\" when r.n > 5\n  allow \"fine\"\n}}\n"
    );
    let dir = logged("explain-edited", &source, r#"{"r": {"n": 9, "vip": true}}"#);
    // Unchanged: the source file's line.
    let o = xop_in(dir.path(), &["explain", "L", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("10 │   deny \"big\" when r.n > 5\n"),
        "{}",
        text(&o)
    );
    dir.write("p.xop", source.replace("r.n > 5", "r.n > 5 and not r.vip"));
    let o = xop_in(dir.path(), &["explain", "L", "0"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        !out.contains("not r.vip"),
        "the edited line is not the rule: {out}"
    );
    assert!(out.contains("deny \"big\" when r.n > 5\n"), "{out}");
}

/// The column counts characters: a rule after a non-ASCII text on its line is found in the
/// unchanged file (with the line before it shown), not drawn alone on a stand-in.
#[test]
fn a_rule_after_non_ascii_text_on_its_line_is_shown_from_the_file() {
    let source = format!(
        "{HEAD}policy pol for act(r: r) {{\n  deny \"été\" when r.n > 5  deny \"big\" when r.n > 3\n  \
         allow \"fine\"\n}}\n"
    );
    let dir = logged(
        "explain-column",
        &source,
        r#"{"r": {"n": 4, "vip": false}}"#,
    );
    let o = xop_in(dir.path(), &["explain", "L", "0"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("rule pol#2 fired"), "{out}");
    assert!(
        out.contains("10 │   deny \"été\" when r.n > 5  deny \"big\" when r.n > 3\n"),
        "the file's line, not a stand-in: {out}"
    );
}
