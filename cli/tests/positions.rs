//! Where `xop check` says a diagnostic is, in its three formats, where QA found:
//! - with a byte-order mark, columns of the first line one too far (the mark is skipped);
//! - with CRLF line breaks, a span to the end of a line ending one column too far (its `\r`);
//! - SARIF naming an absolute Unix path by the bare path (a Windows one was a `file://` URI);
//! - JSON giving secondary labels byte spans only.

mod support;

use serde_json::{Value, json};
use support::{TempDir, s, text, xop, xop_in};

fn check(dir: &TempDir, args: &[&str]) -> (String, Value, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    let human = xop_in(dir.path(), &all);
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    let mut json_args = all.clone();
    json_args.extend(["--format", "json"]);
    let o = xop_in(dir.path(), &json_args);
    let json: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let mut sarif_args = all;
    sarif_args.extend(["--format", "sarif"]);
    let o = xop_in(dir.path(), &sarif_args);
    let sarif: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    (human, json, sarif)
}

/// The diagnostic of `code` in JSON, and its SARIF result.
fn find<'a>(json: &'a Value, sarif: &'a Value, code: &str) -> (&'a Value, &'a Value) {
    let d = (json["diagnostics"].as_array().unwrap().iter())
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {json}"));
    let r = (sarif["runs"][0]["results"].as_array().unwrap().iter())
        .find(|r| r["ruleId"] == code)
        .unwrap_or_else(|| panic!("no {code} in {sarif}"));
    (d, r)
}

/// A byte-order mark is no column: `$` at the 15th column an editor shows is column 15 in
/// all three formats.
#[test]
fn a_byte_order_mark_is_skipped_in_every_format() {
    let dir = TempDir::new("bom-column");
    dir.write("b.xop", "\u{feff}module acme.x $\n");
    let (human, json, sarif) = check(&dir, &["b.xop"]);
    assert!(human.contains("[ b.xop:1:15 ]"), "{human}");
    let (d, r) = find(&json, &sarif, "E0101");
    assert_eq!(d["start"], json!({"line": 1, "column": 15}), "{d}");
    assert_eq!(d["end"], json!({"line": 1, "column": 16}), "{d}");
    let region = &r["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (&region["startColumn"], &region["endColumn"]),
        (&json!(15), &json!(16))
    );
}

/// With CRLF line breaks, an unterminated text covers the rest of its line: it ends at the
/// line's end, before the `\r`.
#[test]
fn a_crlf_is_no_column() {
    let dir = TempDir::new("crlf-span");
    let source = "module acme.x\r\n\r\nfn f(): Text = \"closed\r\n";
    dir.write("c.xop", source);
    let (_, json, sarif) = check(&dir, &["c.xop"]);
    let (d, r) = find(&json, &sarif, "E0102");
    // `fn f(): Text = "closed` is 22 characters: the span ends at column 23.
    assert_eq!(d["start"], json!({"line": 3, "column": 16}), "{d}");
    assert_eq!(d["end"], json!({"line": 3, "column": 23}), "{d}");
    let region = &r["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (&region["endLine"], &region["endColumn"]),
        (&json!(3), &json!(23))
    );
}

/// JSON secondary labels have start and end positions as the main location has; SARIF names
/// an absolute path by a `file://` URI, in results and related locations alike.
#[test]
fn secondary_labels_have_positions_and_absolute_paths_are_file_uris() {
    let dir = TempDir::new("secondary");
    let file = dir.write(
        "dup.xop",
        "module qa.s\n\nrecord R {\n  n: Int\n  n: Int\n}\n\nfn f(r: R): Int = r.n\n",
    );
    let (_, json, sarif) = check(&dir, &["dup.xop"]);
    let (d, _) = find(&json, &sarif, "E0206");
    let second = &d["secondary"][0];
    assert_eq!(second["start"], json!({"line": 4, "column": 3}), "{d}");
    assert_eq!(second["end"], json!({"line": 4, "column": 4}), "{d}");

    let o = xop(&["check", s(&file), "--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = (sarif["runs"][0]["results"].as_array().unwrap().iter())
        .find(|r| r["ruleId"] == "E0206")
        .unwrap();
    let expected = format!("file://{}", s(&file));
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        expected.as_str(),
        "{r}"
    );
    assert_eq!(
        r["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        expected.as_str(),
        "{r}"
    );
}
