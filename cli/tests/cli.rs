//! Runs the built `xop` binary on temporary folders and checks its output and exit status.

mod support;

use support::TempDir;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// A clean file: every declaration is used, so not even a warning.
const VALID: &str = "module demo\n\nrole reviewer\n\npurpose service\n\nrecord Customer {\n  id: Id\n}\n\naction block(to: Customer) purpose service risk high\n\npolicy p for block(to: c) {\n  review \"check\" by role reviewer within 1h else deny\n}\n";
const INVALID: &str = "module demo\n\nrecord A { x: }\n";
/// Valid, but spaced as no formatter would leave it.
/// A scalar policy both engines decide: a frequency cap, then allow.
const CAPS: &str = "module p\n\npurpose service\n\nrecord Customer {\n  id: Id\n  messages_7d: Int\n}\n\n\
     action greet(to: Customer) purpose service risk minimal\n\n\
     policy caps for greet(to: c) {\n  deny \"too-many\" when c.messages_7d >= 3\n  allow \"ok\"\n}\n";
const MESSY: &str = "module   demo\nrole      reviewer   \n";

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xop"));
    cmd.args(args).current_dir(dir).env_remove("NO_COLOR");
    cmd
}

/// Runs `xop ARGS` in `dir`.
fn xop(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

/// Runs `xop ARGS` in `dir` with `input` on standard input.
fn xop_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("xop was killed by a signal")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(out)))
}

/// Asserts the exit status, showing the output when it is wrong.
fn assert_code(out: &Output, expected: i32) {
    assert_eq!(
        code(out),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

// ----- general ---------------------------------------------------------------------------------

#[test]
fn version_prints_the_package_version() {
    let dir = TempDir::new("version");
    let out = xop(dir.path(), &["--version"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("xop {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_every_verb() {
    let dir = TempDir::new("help");
    let out = xop(dir.path(), &["--help"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("check") && text.contains("fmt"), "{text}");
    assert!(text.contains("Exit status"), "{text}");

    let out = xop(dir.path(), &["check", "--help"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for needle in [
        "--format",
        "--explain",
        "--deny-warnings",
        "--color",
        "Exit status",
        "Examples",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }

    let out = xop(dir.path(), &["fmt", "--help"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    for needle in ["--check", "would reformat", "Exit status", "Examples"] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    assert_code(&xop(dir.path(), &["frobnicate"]), 2);
    assert_code(&xop(dir.path(), &["check", "--format", "xml"]), 2);
    assert_code(&xop(dir.path(), &[]), 2);
}

// ----- check -----------------------------------------------------------------------------------

#[test]
fn check_clean_file_exits_0_with_summary() {
    let dir = TempDir::new("clean");
    dir.write("ok.xop", VALID);
    let out = xop(dir.path(), &["check"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "checked 1 file: 0 errors, 0 warnings\n");
}

#[test]
fn check_errors_exit_1_and_name_the_file() {
    let dir = TempDir::new("errors");
    dir.write("ok.xop", VALID.replace("demo", "demo.ok"));
    dir.write("bad.xop", INVALID);
    let out = xop(dir.path(), &["check", "--color", "never"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("E0103"), "{text}");
    assert!(text.contains("bad.xop:3:15"), "{text}");
    assert!(!text.contains("./bad.xop"), "{text}");
    assert!(
        text.ends_with("checked 2 files: 1 error, 0 warnings\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour with --color never:\n{text}");
}

#[test]
fn check_color_always_colours() {
    let dir = TempDir::new("color");
    dir.write("bad.xop", INVALID);
    let out = xop(dir.path(), &["--color", "always", "check"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains('\x1b'), "{}", stdout(&out));
    // Not a terminal: `auto` does not colour.
    let out = xop(dir.path(), &["check"]);
    assert!(!stdout(&out).contains('\x1b'), "{}", stdout(&out));
}

#[test]
fn check_missing_path_exits_2_with_one_line() {
    let dir = TempDir::new("missing");
    let out = xop(dir.path(), &["check", "nope.xop"]);
    assert_code(&out, 2);
    assert_eq!(
        stderr(&out),
        "error: cannot read `nope.xop`: no such file or directory\n"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn check_non_utf8_file_exits_2() {
    let dir = TempDir::new("utf8");
    dir.write("bin.xop", b"module demo\n\xff\xfe\n");
    let out = xop(dir.path(), &["check"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot read `bin.xop`: "), "{err}");
    assert!(err.contains("UTF-8") && err.contains("line 2"), "{err}");
    assert_eq!(
        err.matches("bin.xop").count(),
        1,
        "the file is named once: {err}"
    );
}

#[test]
fn check_without_xop_files_exits_2() {
    let dir = TempDir::new("empty");
    dir.write("notes.txt", "not a policy");
    let out = xop(dir.path(), &["check"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("no `.xop` files found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_walks_folders_and_skips_hidden_and_target() {
    let dir = TempDir::new("walk");
    dir.write("src/deep/er/ok.xop", VALID);
    dir.write(".git/broken.xop", INVALID);
    dir.write("target/broken.xop", INVALID);
    // As the language server skips it, so that CI checks what the editor shows.
    dir.write("web/node_modules/pkg/broken.xop", INVALID);
    dir.write("src/.hidden.xop", INVALID);
    dir.write("src/readme.md", INVALID);
    let out = xop(dir.path(), &["check", "--format", "json"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["files"], 1);

    // A file named explicitly is checked whatever its name.
    let out = xop(dir.path(), &["check", "--format", "json", "src/readme.md"]);
    assert_code(&out, 1);
    assert_eq!(json(&out)["diagnostics"][0]["file"], "src/readme.md");
}

#[test]
fn check_reads_a_file_named_twice_once() {
    let dir = TempDir::new("twice");
    dir.write("a/ok.xop", VALID);
    let out = xop(dir.path(), &["check", "--format", "json", "a", "a/ok.xop"]);
    // Read twice, the file would declare its module twice.
    assert_code(&out, 0);
    assert_eq!(json(&out)["files"], 1);
}

#[test]
fn check_does_not_confuse_a_file_with_the_standard_library() {
    let dir = TempDir::new("stdlib-name");
    // Same path as the embedded `std/time.xop`: it must be checked, not taken for the stdlib.
    dir.write("std/time.xop", INVALID);
    let out = xop(dir.path(), &["check", "--format", "json", "std"]);
    assert_code(&out, 1);
    assert_eq!(json(&out)["diagnostics"][0]["file"], "./std/time.xop");
}

#[test]
fn check_json_has_counts_and_paths_as_given() {
    let dir = TempDir::new("json");
    dir.write("sub/ok.xop", VALID.replace("demo", "demo.ok"));
    dir.write("sub/bad.xop", INVALID);
    let out = xop(dir.path(), &["check", "--format", "json", "sub"]);
    assert_code(&out, 1);
    let v = json(&out);
    assert_eq!(v["files"], 2);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["warnings"], 0);
    let diags = v["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0]["code"], "E0103");
    assert_eq!(diags[0]["file"], "sub/bad.xop");
    assert_eq!(diags[0]["start"]["line"], 3);

    let clean = TempDir::new("json-clean");
    clean.write("ok.xop", VALID);
    let out = xop(clean.path(), &["check", "--format", "json"]);
    assert_code(&out, 0);
    let v = json(&out);
    assert_eq!(
        (v["files"].clone(), v["errors"].clone()),
        (1.into(), 0.into())
    );
    assert_eq!(v["diagnostics"], Value::Array(Vec::new()));
}

#[test]
fn check_compiles_all_files_together() {
    let dir = TempDir::new("together");
    dir.write("a.xop", VALID);
    dir.write("b.xop", VALID);
    // Alone, each file is fine; together they declare module `demo` twice.
    assert_code(&xop(dir.path(), &["check", "a.xop"]), 0);
    let out = xop(dir.path(), &["check", "--format", "json"]);
    assert_code(&out, 1);
    let v = json(&out);
    assert_eq!(v["files"], 2);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"E0202"), "{codes:?}");
}

#[test]
fn check_deny_warnings_fails_on_warnings() {
    let dir = TempDir::new("warnings");
    dir.write(
        "w.xop",
        "module demo\n\nuse std.consent.consent\n\nrole reviewer\n",
    );
    let out = xop(dir.path(), &["check", "--format", "json"]);
    assert_code(&out, 0);
    let v = json(&out);
    assert_eq!(v["errors"], 0);
    assert!(v["warnings"].as_u64().unwrap() >= 1, "{v}");

    let out = xop(dir.path(), &["check", "--deny-warnings"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("warnings denied"), "{}", stdout(&out));
}

#[test]
fn check_sarif_has_rules_and_results() {
    let dir = TempDir::new("sarif");
    dir.write("sub/bad.xop", INVALID);
    let out = xop(dir.path(), &["check", "--format", "sarif"]);
    assert_code(&out, 1);
    let v = json(&out);
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "xop");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"E0103") && ids.contains(&"W0201"), "{ids:?}");
    let w = rules.iter().find(|r| r["id"] == "W0201").unwrap();
    assert_eq!(w["defaultConfiguration"]["level"], "warning");
    let e = rules.iter().find(|r| r["id"] == "E0103").unwrap();
    assert_eq!(e["defaultConfiguration"]["level"], "error");
    assert!(e["shortDescription"]["text"].as_str().unwrap().len() > 3);
    let uri = e["helpUri"].as_str().unwrap();
    assert!(uri.contains("docs/errors.md#e0103-"), "{uri}");

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "E0103");
    assert_eq!(r["level"], "error");
    let index = r["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "E0103");
    assert!(r["message"]["text"].as_str().unwrap().contains('}'));
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "sub/bad.xop");
    assert_eq!(loc["region"]["startLine"], 3);
    assert_eq!(loc["region"]["startColumn"], 15);
    assert_eq!(loc["region"]["endLine"], 3);
    assert_eq!(loc["region"]["endColumn"], 16);
}

#[test]
fn check_sarif_is_valid_when_clean() {
    let dir = TempDir::new("sarif-clean");
    dir.write("ok.xop", VALID);
    let out = xop(dir.path(), &["check", "--format", "sarif"]);
    assert_code(&out, 0);
    let v = json(&out);
    assert_eq!(v["runs"][0]["results"], Value::Array(Vec::new()));
}

#[test]
fn explain_prints_the_code() {
    let dir = TempDir::new("explain");
    let out = xop(dir.path(), &["check", "--explain", "E0103"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("E0103"), "{}", stdout(&out));
    // Codes are case-insensitive.
    let out = xop(dir.path(), &["check", "--explain", "e0103"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("E0103"), "{}", stdout(&out));
}

#[test]
fn explain_unknown_code_exits_2() {
    let dir = TempDir::new("explain-unknown");
    let out = xop(dir.path(), &["check", "--explain", "E9999"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: unknown diagnostic code `E9999`: the codes are listed in docs/errors.md (E…, W…) \
         and docs/compliance.md (C…)\n"
    );
    // A code close to a known one (a typo) is named.
    let out = xop(dir.path(), &["check", "--explain", "E0130"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).starts_with(
            "error: unknown diagnostic code `E0130` (did you mean `E0103`?): the codes are \
             listed in docs/errors.md"
        ),
        "{}",
        stderr(&out)
    );
}

// ----- fmt -------------------------------------------------------------------------------------

/// The formatter's output for `text`, via `xop fmt -`.
fn formatted(dir: &Path, text: &str) -> String {
    let out = xop_stdin(dir, &["fmt", "-"], text.as_bytes());
    assert_code(&out, 0);
    stdout(&out)
}

#[test]
fn fmt_check_lists_files_and_exits_1() {
    let dir = TempDir::new("fmt-check");
    dir.write("messy.xop", MESSY);
    dir.write("tidy/ok.xop", formatted(dir.path(), VALID));
    let out = xop(dir.path(), &["fmt", "--check"]);
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "would reformat: messy.xop\n");
    assert_eq!(dir.read("messy.xop"), MESSY, "--check wrote the file");

    let out = xop(dir.path(), &["fmt", "--check", "tidy"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
}

#[test]
fn fmt_rewrites_changed_files_only() {
    let dir = TempDir::new("fmt-write");
    let messy = dir.write("messy.xop", MESSY);
    let tidy = dir.write("tidy.xop", formatted(dir.path(), VALID));
    let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for path in [&messy, &tidy] {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    let out = xop(dir.path(), &["fmt"]);
    assert_code(&out, 0);
    assert_ne!(dir.read("messy.xop"), MESSY);
    assert_eq!(dir.read("messy.xop"), formatted(dir.path(), MESSY));
    assert_ne!(fs::metadata(&messy).unwrap().modified().unwrap(), past);
    assert_eq!(
        fs::metadata(&tidy).unwrap().modified().unwrap(),
        past,
        "an already formatted file was rewritten"
    );
    // Formatting is stable and keeps the file valid.
    assert_code(&xop(dir.path(), &["fmt", "--check"]), 0);
    assert_code(&xop(dir.path(), &["check", "messy.xop"]), 0);
}

#[test]
fn fmt_never_rewrites_a_broken_file() {
    let dir = TempDir::new("fmt-broken");
    dir.write("bad.xop", INVALID);
    let out = xop(dir.path(), &["fmt", "--color", "never"]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("E0103") && err.contains("bad.xop"), "{err}");
    assert_eq!(dir.read("bad.xop"), INVALID);
}

#[test]
fn fmt_stdin_writes_stdout() {
    let dir = TempDir::new("fmt-stdin");
    let out = xop_stdin(dir.path(), &["fmt", "-"], MESSY.as_bytes());
    assert_code(&out, 0);
    let text = stdout(&out);
    assert_ne!(text, MESSY);
    assert!(text.contains("role reviewer"), "{text}");

    let out = xop_stdin(dir.path(), &["fmt", "--check", "-"], MESSY.as_bytes());
    assert_code(&out, 1);

    let out = xop_stdin(dir.path(), &["fmt", "-"], INVALID.as_bytes());
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("<stdin>"), "{}", stderr(&out));
}

#[test]
fn fmt_io_errors_exit_2() {
    let dir = TempDir::new("fmt-io");
    let out = xop(dir.path(), &["fmt", "missing"]);
    assert_code(&out, 2);
    assert_eq!(
        stderr(&out),
        "error: cannot read `missing`: no such file or directory\n"
    );
    let out = xop_stdin(dir.path(), &["fmt", "-"], b"\xff");
    assert_code(&out, 2);
    dir.write("ok.xop", VALID);
    assert_code(&xop(dir.path(), &["fmt", "-", "ok.xop"]), 2);
}

// ---------------------------------------------------------------- build, eval, test, keygen

/// The repository's example project.
fn acme() -> String {
    format!("{}/../examples/acme", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn test_runs_the_examples_and_ends_with_the_summary_line() {
    let dir = TempDir::new("test-examples");
    let o = xop(dir.path(), &["test", &acme()]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", stderr(&o));
    assert_eq!(
        stdout.lines().last(),
        Some("4 passed, 0 failed"),
        "{stdout}"
    );
}

/// In `dir`: key pairs `k` and `other` (`xop keygen`), and the examples built into `m.xopm`
/// signed with `k.key`.
fn signed_acme(dir: &TempDir) {
    for key in ["k", "other"] {
        assert_eq!(
            xop(dir.path(), &["keygen", "-o", key]).status.code(),
            Some(0)
        );
    }
    let o = xop(
        dir.path(),
        &["build", &acme(), "-o", "m.xopm", "--sign", "k.key"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn test_runs_the_tests_a_compiled_module_kept() {
    let dir = TempDir::new("test-module");
    signed_acme(&dir);
    // The module's tests, as from the sources; and its signature checked when asked.
    for args in [
        &["test", "m.xopm"][..],
        &["test", "m.xopm", "--trust", "k.pub"],
    ] {
        let o = xop(dir.path(), args);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
        assert_eq!(out.lines().last(), Some("4 passed, 0 failed"), "{out}");
        assert!(out.contains("examples/acme/contact.xop:"), "{out}");
    }
    let wrong = xop(dir.path(), &["test", "m.xopm", "--trust", "other.pub"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("refusing module"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(
        stdout(&wrong).lines().last(),
        Some("0 passed, 0 failed, 1 error: no test ran (the error above)")
    );
    // `--trust` is for a module: sources are refused with it.
    let sources = xop(dir.path(), &["test", &acme(), "--trust", "k.pub"]);
    assert_eq!(sources.status.code(), Some(2));
}

#[test]
fn a_failing_test_shows_expected_and_actual_and_exits_1() {
    let dir = TempDir::new("test-failing");
    dir.write(
        "t.xop",
        "module t\n\nuse std.consent.Consent\n\npurpose service\n\nrecord Customer {\n  id: Id\n  vip: Bool\n}\n\n\
         action greet(to: Customer) purpose service risk minimal\n\n\
         policy p for greet(to: c) {\n  deny \"not-vip\" unless c.vip\n  allow \"vip\"\n}\n\n\
         test \"vips are greeted\" {\n  expect p(greet(to: { vip: false, .. })) == allow(\"vip\")\n}\n",
    );
    let o = xop(dir.path(), &["test", "t.xop"]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", stderr(&o));
    assert!(
        stdout.contains("expected allow(\"vip\")") && stdout.contains("actual   deny(\"not-vip\")"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
}

/// An expectation prints as it is written: `deny()` (no reason) is not `deny` (any reasons).
#[test]
fn a_failing_expectation_of_no_reason_prints_as_written() {
    let dir = TempDir::new("test-no-reason");
    dir.write(
        "t.xop",
        "module t\n\npurpose service\n\nrecord Customer {\n  id: Id\n  vip: Bool\n}\n\n\
         action greet(to: Customer) purpose service risk minimal\n\n\
         policy p for greet(to: c) {\n  deny \"not-vip\" unless c.vip\n  allow \"vip\"\n}\n\n\
         test \"no reason\" {\n  expect p(greet(to: { vip: false, .. })) == deny()\n}\n",
    );
    let o = xop(dir.path(), &["test", "t.xop"]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", stderr(&o));
    assert!(
        stdout.contains("expected deny()\n") && stdout.contains("actual   deny(\"not-vip\")"),
        "{stdout}"
    );
}

/// A test may expect a decision to fail closed: `deny("xop:runtime-error")` is a reason it
/// can name (an overflow here), and it passes only when the decision did fail.
#[test]
fn a_test_may_expect_a_runtime_error() {
    let dir = TempDir::new("test-runtime-error");
    dir.write(
        "t.xop",
        "module t\n\npurpose service\n\nrecord Customer {\n  id: Id\n  n: Int\n}\n\n\
         action greet(to: Customer) purpose service risk minimal\n\n\
         policy p for greet(to: c) {\n  deny \"big\" when c.n * 4611686018427387904 > 0\n  allow \"ok\"\n}\n\n\
         test \"overflow fails closed\" {\n  \
         expect p(greet(to: { n: 4, .. })) == deny(\"xop:runtime-error\")\n  \
         expect p(greet(to: { n: 0, .. })) == deny(\"xop:runtime-error\")\n}\n",
    );
    let o = xop(dir.path(), &["test", "t.xop"]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", stderr(&o));
    assert!(stdout.contains("actual   allow(\"ok\")"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("1 passed, 1 failed"),
        "{stdout}"
    );
}

/// Tests never read the clock: a test without `at` of a policy that reads the decision time
/// fails and asks for one; of a policy that does not, it runs.
#[test]
fn a_test_without_a_time_of_a_policy_that_reads_it_fails() {
    let dir = TempDir::new("test-clock");
    dir.write(
        "t.xop",
        "module t\n\nuse std.time.local_hour\n\npurpose service\n\n\
         record Customer {\n  id: Id\n  tz: Tz\n}\n\n\
         action greet(to: Customer) purpose service risk minimal\n\n\
         policy p for greet(to: c) at now {\n  deny \"night\" unless local_hour(now, c.tz) in 8..20\n  allow \"ok\"\n}\n\n\
         policy q for greet(to: c) {\n  allow \"fine\"\n}\n\n\
         test \"clock\" {\n  expect p(greet(to: { .. })) == deny(\"night\")\n  \
         expect p(greet(to: { .. })) == allow at 2026-11-25T10:00:00Z\n  \
         expect q(greet(to: { .. })) == allow\n}\n",
    );
    let o = xop(dir.path(), &["test", "t.xop"]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", stderr(&o));
    assert!(
        stdout.contains("policy `p` reads the decision time")
            && stdout.contains("at 2026-11-25T10:00:00Z`"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("2 passed, 1 failed"),
        "{stdout}"
    );
}

/// Two policies guard `greet`: `p` for it and `q` for its purpose, which reads the time.
const TWO_POLICIES: &str = "module t\n\nuse std.time.local_hour\n\npurpose service\n\
    role desk\nrole legal\n\n\
    record Customer {\n  id: Id\n  vip: Bool\n  blocked: Bool\n  score: Int\n  tz: Tz\n}\n\n\
    action greet(to: Customer) purpose service risk minimal\n\n\
    policy p for greet(to: c) {\n  deny \"not-vip\" unless c.vip\n  \
    review \"big\" by role desk within 2h else deny when c.score > 5\n  allow \"vip\"\n}\n\n\
    policy q for purpose service(to: c) at now {\n  deny \"blocked\" when c.blocked\n  \
    deny \"night\" unless local_hour(now, c.tz) in 8..21\n  \
    review \"risky\" by role legal within 1h else allow when c.score > 7\n  allow \"daytime\"\n}\n\n";

/// `expect a(args) == V` tests the action's verdict, over every policy guarding it: a deny of
/// either wins, reasons are compared as a set across them, reviews merge; a failing one shows
/// expected and actual as the policy form does, and the clock rule covers every policy.
#[test]
fn a_test_may_expect_an_actions_verdict_over_its_policies() {
    let dir = TempDir::new("test-action-form");
    let at = "at 2026-11-25T10:00:00Z";
    dir.write(
        "t.xop",
        format!(
            "{TWO_POLICIES}test \"the action's verdict\" {{\n  \
             let blocked = {{ vip: true, blocked: true, .. }}\n  \
             expect p(greet(to: blocked)) == allow(\"vip\")\n  \
             expect greet(to: blocked) == deny(\"blocked\") {at}\n  \
             expect greet(to: {{ blocked: true, tz: \"Europe/Paris\", .. }}) \
             == deny(\"night\", \"not-vip\", \"blocked\") at 2026-11-25T22:30:00Z\n  \
             expect greet(to: {{ vip: true, .. }}) == allow(\"daytime\", \"vip\") {at}\n  \
             expect greet(to: {{ vip: true, score: 9, .. }}) == review(\"risky\", \"big\") {at}\n  \
             expect greet(to: {{ vip: true, score: 6, .. }}) == review(\"big\") {at}\n}}\n\n\
             test \"fails\" {{\n  \
             expect greet(to: {{ vip: true, blocked: true, .. }}) == allow(\"vip\") {at}\n  \
             expect greet(to: {{ vip: true, score: 9, .. }}) == review(\"big\") {at}\n  \
             expect greet(to: {{ vip: true, .. }}) == allow\n}}\n"
        ),
    );
    let check = xop(dir.path(), &["check", "t.xop"]);
    assert!(!stderr(&check).contains("error"), "{}", stderr(&check));
    let o = xop(dir.path(), &["test", "t.xop"]);
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", stderr(&o));
    let passed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(passed.len(), 6, "{stdout}");
    // The deny of the second policy wins over the first one's allow.
    assert!(
        stdout.contains(
            "  expected allow(\"vip\")\n  actual   deny(\"blocked\")\n  \
             fired p#3 at t.xop:22: allow \"vip\"\n  \
             fired q#1 at t.xop:26: deny \"blocked\" when c.blocked\n  \
             fired q#4 at t.xop:29: allow \"daytime\"\n"
        ),
        "{stdout}"
    );
    // The reasons of a review are those of both policies.
    assert!(
        stdout.contains("  expected review(\"big\")\n  actual   review(\"big\", \"risky\")\n"),
        "{stdout}"
    );
    // Tests never read the clock, whichever guarding policy reads it.
    assert!(
        stdout.contains("policy `q@greet` reads the decision time"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("6 passed, 3 failed"),
        "{stdout}"
    );
}

/// What `xop check` accepts, `xop test` runs: a function over an open record type reads the
/// argument's fields, and a test's `let` reads the names visible where it is written, not a
/// later `let` of the same name (which made the value unlowerable, or a loop).
#[test]
fn open_record_functions_and_shadowing_lets_run() {
    let dir = TempDir::new("test-lowering");
    dir.write(
        "t.xop",
        "module t\n\nuse std.consent.service\n\n\
         record Cust {\n  id: Id\n  score: Int\n  friends: List<Int>\n}\n\n\
         action act(to: Cust) purpose service risk minimal\n\n\
         fn high(c: { score: Int, .. }): Bool = c.score > 5\n\n\
         policy p for act(to: c) {\n  deny \"high\" when high(c)\n  allow \"ok\"\n}\n\n\
         test \"open records and shadowing\" {\n\
           let n = 9\n  let n = n - 1\n\
           let friends = [1, 2]\n\
           let friends = { score: n, friends: friends, .. }\n\
           expect p(act(to: friends)) == deny(\"high\")\n\
           expect p(act(to: { score: 5, friends: [], .. })) == allow(\"ok\")\n}\n",
    );
    let check = xop(dir.path(), &["check", "t.xop"]);
    assert_code(&check, 0);
    let o = xop(dir.path(), &["test", "t.xop"]);
    assert_eq!(
        (o.status.code(), stdout(&o).lines().last()),
        (Some(0), Some("2 passed, 0 failed")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// A policy that shares its action is evaluated alone, with a note that it is not the
/// action's verdict (`xop serve` refuses to decide it alone).
#[test]
fn eval_notes_a_policy_that_shares_its_action() {
    let dir = TempDir::new("eval-partial");
    dir.write(
        "t.xop",
        "module t\n\npurpose service\n\nrecord Customer {\n  id: Id\n  vip: Bool\n}\n\n\
         action greet(to: Customer) purpose service risk minimal\n\n\
         policy a for greet(to: c) {\n  allow \"ok\"\n}\n\n\
         policy b for greet(to: c) {\n  deny \"not-vip\" unless c.vip\n  allow \"vip\"\n}\n",
    );
    dir.write("in.json", r#"{"to": {"id": "c-1", "vip": false}}"#);
    let o = xop(
        dir.path(),
        &["eval", "t.xop", "--policy", "a", "--input", "in.json"],
    );
    assert_code(&o, 0);
    assert!(stdout(&o).starts_with("allow"), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("note: `a` is one of 2 policies guarding `t.greet` (a, b)"),
        "{err}"
    );
    assert!(err.contains("`--action t.greet` gives it"), "{err}");
    // The action's verdict: `b` denies what `a` allows. Both engines, proven and explained.
    for engine in ["interp", "jit"] {
        let o = xop(
            dir.path(),
            &[
                "eval", "t.xop", "--action", "greet", "--input", "in.json", "--engine", engine,
            ],
        );
        assert_code(&o, 0);
        let out = stdout(&o);
        assert!(out.starts_with("deny (not-vip)\n"), "{engine}: {out}");
        assert!(out.contains("fired a#1 at t.xop:13"), "{engine}: {out}");
        assert!(out.contains("fired b#1 at t.xop:17"), "{engine}: {out}");
    }
    let o = xop(
        dir.path(),
        &[
            "eval", "t.xop", "--action", "t.greet", "--input", "in.json", "--format", "json",
            "--log", "log",
        ],
    );
    assert_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["verdict"], "deny", "{v}");
    assert_eq!(v["action"], "t.greet", "{v}");
    assert_eq!(v["policies"], serde_json::json!(["t.a", "t.b"]), "{v}");
    assert_eq!(v["seq"], 0, "{v}");
    let o = xop(dir.path(), &["explain", "log", "0"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("action t.greet over its policies t.a, t.b"),
        "{}",
        stdout(&o)
    );
    let o = xop(dir.path(), &["log", "replay", "log"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("1 same"), "{}", stdout(&o));
    // An action no policy guards is an error naming those that are.
    let o = xop(
        dir.path(),
        &["eval", "t.xop", "--action", "greeet", "--input", "in.json"],
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("the guarded actions are: t.greet"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn eval_prints_the_verdict_reasons_and_fired_rules() {
    let dir = TempDir::new("eval");
    let input = format!("{}/inputs/offer-on-hold.json", acme());
    let o = xop(
        dir.path(),
        &["eval", &acme(), "--policy", "contact", "--input", &input],
    );
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", stderr(&o));
    assert!(
        stdout.starts_with("deny (in-service-interaction)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fired contact#1 at") && stdout.contains("contact.xop:14"),
        "{stdout}"
    );
    let o = xop(
        dir.path(),
        &[
            "eval",
            &acme(),
            "--policy",
            "contact",
            "--input",
            &input,
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["reasons"][0], "in-service-interaction");
}

/// An input or key file that cannot be read is named in the one-line error.
#[test]
fn unreadable_files_are_named() {
    let dir = TempDir::new("eval-unreadable");
    dir.write("bin.json", b"{\"to\": \"\xff\"}");
    let eval = |input: &str| {
        xop(
            dir.path(),
            &["eval", &acme(), "--policy", "contact", "--input", input],
        )
    };
    let o = eval("missing.json");
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: cannot read `missing.json`: no such file or directory\n"
    );
    // An input that is not UTF-8 is read, and refused as bad input (cli/tests/eval_input.rs).
    let o = eval("bin.json");
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "deny (xop:bad-input)\n  error: input: invalid JSON: not valid UTF-8 (byte 0xff at \
             line 1, column 9)"
        ),
        "{out}"
    );
    let o = xop(
        dir.path(),
        &["build", &acme(), "-o", "m.xopm", "--sign", "no.key"],
    );
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: cannot read the secret key `no.key`: no such file or directory\n"
    );
}

#[test]
fn bad_input_is_denied_with_the_field_path_never_allowed() {
    let dir = TempDir::new("eval-bad");
    let good = fs::read_to_string(format!("{}/inputs/offer-on-hold.json", acme())).unwrap();
    let bad = good.replace(
        "\"in_service_interaction\": true",
        "\"in_service_interaction\": \"no\"",
    );
    assert_ne!(good, bad);
    let o = xop_stdin(
        dir.path(),
        &["eval", &acme(), "--policy", "contact", "--input", "-"],
        bad.as_bytes(),
    );
    let stdout = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("deny (xop:bad-input)"), "{stdout}");
    assert!(stdout.contains("to.in_service_interaction"), "{stdout}");
}

#[test]
fn the_jit_says_plainly_which_policies_it_does_not_compile() {
    let dir = TempDir::new("eval-jit");
    // A set literal of more than 16 computed elements as a value is not compiled by the JIT yet.
    let set = vec!["n"; 17].join(", ");
    dir.write(
        "p.xop",
        format!(
            "module p\n\npurpose service\n\nrecord Customer {{\n  id: Id\n}}\n\n\
             action refund(to: Customer, note: Text) purpose service risk minimal\n\n\
             policy refunds for refund(to: c, note: n) {{\n  \
             deny \"shouting\" when count({{{set}}}) > 1\n  allow \"ok\"\n}}\n"
        ),
    );
    dir.write("in.json", r#"{"to": {"id": "c1"}, "note": "fine"}"#);
    let args = ["eval", "p.xop", "--policy", "refunds", "--input", "in.json"];
    let o = xop(dir.path(), &[&args[..], &["--engine", "jit"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the JIT does not compile policy `refunds` yet"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("a set of more than 16 computed elements"),
        "{}",
        stderr(&o)
    );
    // the interpreter decides it
    let o = xop(dir.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("allow (ok)"), "{}", stdout(&o));
}

#[test]
fn the_jit_decides_a_signal_policy_with_the_given_signals() {
    let dir = TempDir::new("eval-jit-signals");
    dir.write(
        "fraud.xop",
        include_str!("../../examples/scenarios/sim-swap-payment/fraud.xop"),
    );
    let input = |signals: &str| {
        format!(
            r#"{{"now": "2026-11-25T10:00:00Z", "to": {{"id": "c", "msisdn": "+33612345678"}},
               "tx": {{"id": "t", "amount": "250.00 EUR"}}{signals}}}"#
        )
    };
    let cases = [
        (
            "recent.json",
            input(
                r#", "signals": {"sim_swap": {"swapped": true, "latest_swap": "2026-11-25T09:00:00Z"}}"#,
            ),
            "review (recent-sim-swap)",
        ),
        (
            "old.json",
            input(
                r#", "signals": {"sim_swap": {"swapped": false, "latest_swap": "2026-01-01T00:00:00Z"}}"#,
            ),
            "deny (no-recent-sim-swap)",
        ),
        ("none.json", input(""), "review (recent-sim-swap)"),
        (
            "null.json",
            input(r#", "signals": {"sim_swap": null}"#),
            "review (recent-sim-swap)",
        ),
    ];
    for (name, text, want) in &cases {
        dir.write(name, text);
        let run = |engine: &str| {
            xop(
                dir.path(),
                &[
                    "eval",
                    "fraud.xop",
                    "--policy",
                    "fraud",
                    "--input",
                    name,
                    "--engine",
                    engine,
                ],
            )
        };
        let (interp, jit) = (run("interp"), run("jit"));
        assert_eq!(jit.status.code(), Some(0), "{name}: {}", stderr(&jit));
        assert_eq!(stdout(&jit), stdout(&interp), "{name}");
        assert!(stdout(&jit).starts_with(want), "{name}: {}", stdout(&jit));
    }
}

#[test]
fn the_jit_decides_the_contact_policy_like_the_interpreter() {
    let dir = TempDir::new("eval-jit-contact");
    // consent() over the customer's consents, local_hour() in Europe/Paris: both engines.
    let input = format!("{}/inputs/offer-on-hold.json", acme());
    let run = |engine: &str| {
        xop(
            dir.path(),
            &[
                "eval",
                &acme(),
                "--policy",
                "contact",
                "--input",
                &input,
                "--engine",
                engine,
                "--format",
                "json",
            ],
        )
    };
    let (interp, jit) = (run("interp"), run("jit"));
    assert_eq!(jit.status.code(), Some(0), "{}", stderr(&jit));
    assert_eq!(stdout(&jit), stdout(&interp));
    assert!(
        stdout(&jit).contains("in-service-interaction"),
        "{}",
        stdout(&jit)
    );
}

#[test]
fn the_jit_decides_a_scalar_policy_like_the_interpreter() {
    let dir = TempDir::new("eval-jit-scalar");
    dir.write("p.xop", CAPS);
    dir.write("in.json", r#"{"to": {"id": "c1", "messages_7d": 5}}"#);
    for engine in ["interp", "jit"] {
        let o = xop(
            dir.path(),
            &[
                "eval", "p.xop", "--policy", "caps", "--input", "in.json", "--engine", engine,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{engine}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with("deny (too-many)"),
            "{engine}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn the_jit_refuses_bad_json_input_like_the_interpreter() {
    // The JIT reads JSON with its own reader: refused input must read exactly as `bind_json`
    // words it (deny, xop:bad-input, the field path), with the same exit status.
    let dir = TempDir::new("eval-jit-bad-input");
    dir.write("p.xop", CAPS);
    for (name, input) in [
        ("missing.json", r#"{"to": {"id": "c1"}}"#),
        ("type.json", r#"{"to": {"id": "c1", "messages_7d": "5"}}"#),
        (
            "range.json",
            r#"{"to": {"id": "c1", "messages_7d": 9223372036854775808}}"#,
        ),
        (
            "time.json",
            r#"{"now": "yesterday", "to": {"id": "c1", "messages_7d": 1}}"#,
        ),
        ("json.json", r#"{"to": {"id": "c1", "messages_7d": 1}"#),
    ] {
        dir.write(name, input);
        let run = |engine: &str| {
            xop(
                dir.path(),
                &[
                    "eval", "p.xop", "--policy", "caps", "--input", name, "--engine", engine,
                    "--format", "json",
                ],
            )
        };
        let (interp, jit) = (run("interp"), run("jit"));
        assert_eq!(jit.status.code(), Some(1), "{name}: {}", stderr(&jit));
        assert_eq!(stdout(&jit), stdout(&interp), "{name}");
        assert!(
            stdout(&jit).contains("xop:bad-input"),
            "{name}: {}",
            stdout(&jit)
        );
    }
}

#[test]
fn signed_modules_load_only_unaltered_and_with_the_trusted_key() {
    let dir = TempDir::new("build");
    let input = format!("{}/inputs/offer-on-hold.json", acme());
    signed_acme(&dir);
    // keygen never overwrites
    assert_eq!(
        xop(dir.path(), &["keygen", "-o", "k"]).status.code(),
        Some(2)
    );
    let eval = |module: &str, key: &str| {
        xop(
            dir.path(),
            &[
                "eval", module, "--trust", key, "--policy", "contact", "--input", &input,
            ],
        )
    };
    let ok = eval("m.xopm", "k.pub");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("deny (in-service-interaction)"));
    let wrong = eval("m.xopm", "other.pub");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("refusing module"));
    // an unsigned module is refused when a key is trusted
    assert_eq!(
        xop(dir.path(), &["build", &acme(), "-o", "u.xopm"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(eval("u.xopm", "k.pub").status.code(), Some(2));
    // one changed byte is refused
    let mut bytes = fs::read(dir.path().join("m.xopm")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(dir.path().join("m.xopm"), &bytes).unwrap();
    let altered = eval("m.xopm", "k.pub");
    assert_eq!(altered.status.code(), Some(2));
    assert!(
        stderr(&altered).contains("refusing module"),
        "{}",
        stderr(&altered)
    );
}

#[test]
fn a_decision_ranks_candidates_each_decided_by_its_policies() {
    let dir = TempDir::new("eval-decision");
    let input = format!("{}/inputs/retention.json", acme());
    let o = xop(
        dir.path(),
        &[
            "eval",
            &acme(),
            "--decision",
            "retention",
            "--input",
            &input,
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    // Highest rank first; consent is only given for SMS, so email and push are denied.
    assert!(
        lines[0].contains("channel: email") && lines[0].ends_with("deny (no-consent)"),
        "{out}"
    );
    assert!(
        lines[1].contains("channel: push") && lines[1].ends_with("deny (no-consent)"),
        "{out}"
    );
    assert!(
        lines[2].contains("channel: sms") && lines[2].ends_with("allow (eligible)"),
        "{out}"
    );
    assert!(
        out.contains("next best action: acme.contact.send_offer (line 23)"),
        "{out}"
    );
}

/// The choice is the first candidate not denied (docs/language.md §5.10), in the text as in
/// the JSON: a `review` candidate ranked above an allowed one is chosen, held for its review.
#[test]
fn the_choice_of_a_decision_is_the_first_candidate_not_denied() {
    let dir = TempDir::new("eval-decision-choice");
    let src = r#"module q.choice

use std.consent.service

role desk
record C { id: Id }
action a1(to: C, tag: Text) purpose service risk minimal

policy g for a1(to: c, tag: t) {
  review "check" by role desk within 1h else deny when t == "rev"
  deny "no" when t == "no"
  allow "ok"
}

decision pick(c: C) {
  propose a1(to: c, tag: "no") rank by 10
  propose a1(to: c, tag: "rev") rank by 5
  propose a1(to: c, tag: "yes") rank by 5
}
"#;
    fs::write(dir.path().join("d.xop"), src).unwrap();
    fs::write(dir.path().join("in.json"), r#"{"c": {"id": "c-1"}}"#).unwrap();
    for engine in ["interp", "jit"] {
        let run = |format: &str| {
            let args = ["eval", "d.xop", "--decision", "pick", "--input", "in.json"];
            let mut args = args.to_vec();
            args.extend(["--engine", engine, "--format", format]);
            xop(dir.path(), &args)
        };
        let (human, as_json) = (run("human"), run("json"));
        assert_code(&human, 0);
        let out = stdout(&human);
        assert!(
            out.contains(
                "next best action: q.choice.a1 (line 17), held for review: carried out only if \
                 the review approves it"
            ),
            "{out}"
        );
        let v = json(&as_json);
        assert_eq!(v["choice"], 1, "{v}");
        assert_eq!(v["candidates"][1]["line"], 17, "{v}");
        assert_eq!(v["candidates"][1]["verdict"], "review", "{v}");
    }
}

#[test]
fn the_jit_ranks_a_decision_as_the_interpreter_does() {
    let dir = TempDir::new("eval-decision-jit");
    let input = format!("{}/inputs/retention.json", acme());
    let run = |engine: &str, format: &str| {
        xop(
            dir.path(),
            &[
                "eval",
                &acme(),
                "--decision",
                "retention",
                "--input",
                &input,
                "--engine",
                engine,
                "--format",
                format,
            ],
        )
    };
    for format in ["human", "json"] {
        let (interp, jit) = (run("interp", format), run("jit", format));
        assert_eq!(jit.status.code(), Some(0), "{}", stderr(&jit));
        // Compiled, not a fallback: no note on stderr.
        assert_eq!(stderr(&jit), "", "{}", stderr(&jit));
        assert_eq!(stdout(&jit), stdout(&interp));
    }
    // A candidate's fired rules are listed as a policy's are: id, file, line and text.
    let v = json(&run("jit", "json"));
    let fired: Vec<&Value> = (v["candidates"].as_array().unwrap().iter())
        .flat_map(|c| c["fired"].as_array().unwrap())
        .collect();
    assert!(!fired.is_empty(), "{v}");
    for f in fired {
        assert!(f["id"].as_str().is_some_and(|id| id.contains('#')), "{f}");
        assert!(
            f["file"].as_str().is_some_and(|p| p.ends_with(".xop")),
            "{f}"
        );
        assert!(f["line"].as_u64().is_some_and(|l| l > 0), "{f}");
    }
}

/// A compiled module is known by its first bytes, whatever its name; given with sources or
/// another module, it is named as a module, not read as a source that is not UTF-8.
#[test]
fn a_module_is_known_by_its_content_and_must_be_given_alone() {
    let dir = TempDir::new("module-alone");
    signed_acme(&dir);
    fs::copy(dir.path().join("m.xopm"), dir.path().join("m.bin")).unwrap();
    let input = format!("{}/inputs/offer-on-hold.json", acme());
    let o = xop(
        dir.path(),
        &["eval", "m.bin", "--policy", "contact", "--input", &input],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("deny (in-service-interaction)"));
    for args in [
        &[
            "eval",
            "m.xopm",
            &acme(),
            "--policy",
            "contact",
            "--input",
            &input,
        ][..],
        &["test", "m.xopm", "m.bin"],
        &["check", "m.bin"],
    ] {
        let o = xop(dir.path(), args);
        assert_eq!(code(&o), 2, "{args:?}");
        let err = stderr(&o);
        assert!(
            err.contains("is a compiled module, not a source file: give it alone"),
            "{err}"
        );
        assert!(!err.contains("UTF-8"), "{err}");
    }
}

/// A closed standard error is no panic: `xop` exits with its usual status.
#[test]
fn a_closed_standard_error_is_not_a_panic() {
    let dir = TempDir::new("closed-stderr");
    dir.write("bad.xop", INVALID);
    let input = dir.path().join("in.json");
    fs::write(&input, "{").unwrap();
    dir.write("p.xop", CAPS);
    for args in [
        &["check", "bad.xop"][..],
        &["fmt", "--check", "bad.xop"],
        &["eval", "p.xop", "--policy", "nope", "--input", "in.json"],
        &["build", "bad.xop", "-o", "x.xopm"],
    ] {
        let mut child = command(dir.path(), args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before `xop` has compiled anything, so every write to it fails.
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert!(matches!(status.code(), Some(1 | 2)), "{args:?}: {status:?}");
    }
}

/// Sources with an error: `xop test` runs nothing, says so on stderr, and its last line counts
/// the error, so that a log read for `0 failed` is not taken for a clean run; exit 1.
#[test]
fn test_counts_sources_with_errors_in_its_last_line() {
    let dir = TempDir::new("test-error");
    dir.write(
        "p.xop",
        "module t\nrecord R { id: Id }\naction a(to: R) purpose service risk minimal\n\
         policy p for a(to: r) { allow \"ok\" when r.nope == 1 }\n\
         test \"t\" { expect p(a(to: { id: \"x\" })) == allow(\"ok\") }\n",
    );
    let o = xop(dir.path(), &["test", "p.xop"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("nothing was compiled"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&o),
        "0 passed, 0 failed, 1 error: no test ran (the error above)\n"
    );
}

/// Sources without a `test` block: `xop test` says nothing was run, and still ends with the
/// summary line and exits 0.
#[test]
fn test_says_when_the_sources_have_no_test() {
    let dir = TempDir::new("test-none");
    dir.write("p.xop", CAPS);
    let o = xop(dir.path(), &["test", "p.xop"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert_eq!(
        out,
        "no `test` block in the sources: nothing was run\n0 passed, 0 failed\n"
    );
}

// ----- build, keygen: what they must not overwrite ---------------------------------------------

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `xop build` refuses to write the module over a source (named, or found in a folder given,
/// or reached by another path), over the `--sign` key, into a folder, or over a file that is
/// not a module; it replaces an earlier module.
#[test]
fn build_never_writes_over_a_source_a_key_or_another_file() {
    let dir = TempDir::new("build-output");
    dir.write("p.xop", CAPS);
    dir.write("notes.txt", "not a module\n");
    fs::create_dir(dir.path().join("sub")).unwrap();
    assert_code(&xop(dir.path(), &["keygen", "-o", "k"]), 0);
    let key = dir.read("k.key");
    let refused = |args: &[&str], message: &str| {
        let o = xop(dir.path(), args);
        assert_code(&o, 2);
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert_eq!(dir.read("p.xop"), CAPS, "{args:?}");
        assert_eq!(dir.read("k.key"), key, "{args:?}");
        assert_eq!(dir.read("notes.txt"), "not a module\n", "{args:?}");
    };
    refused(
        &["build", "p.xop", "-o", "p.xop"],
        "error: `p.xop` is one of the sources: writing the module there would replace it; give \
         the module another path with -o, e.g. `p.xopm`",
    );
    refused(
        &["build", ".", "-o", "p.xop"],
        "`p.xop` is one of the sources",
    );
    refused(
        &["build", "p.xop", "-o", "sub/../p.xop"],
        "`sub/../p.xop` is the source `p.xop`",
    );
    refused(
        &["build", "p.xop", "-o", "k.key", "--sign", "k.key"],
        "error: `k.key` is the secret key given to --sign: writing the module there would \
         destroy the key; give the module another path with -o, e.g. `k.xopm`",
    );
    refused(
        &["build", "p.xop", "-o", "notes.txt"],
        "error: `notes.txt` exists and is not a compiled module: give another path, or remove it \
         first",
    );
    // The public key is a file like any other.
    refused(
        &["build", "p.xop", "-o", "k.pub", "--sign", "k.key"],
        "`k.pub` exists and is not a compiled module",
    );
    refused(
        &["build", "p.xop", "-o", "sub"],
        "`sub` names a folder: -o takes the module's file, e.g. `sub/NAME.xopm`",
    );
    // A module, then the same module rebuilt over it.
    for _ in 0..2 {
        let o = xop(
            dir.path(),
            &["build", "p.xop", "-o", "m.xopm", "--sign", "k.key"],
        );
        assert_code(&o, 0);
    }
    assert!(
        fs::read(dir.path().join("m.xopm"))
            .unwrap()
            .starts_with(b"XOPM")
    );
    // Nothing else was written: no module in a wrong place, no temporary file left.
    assert_eq!(
        names_in(dir.path()),
        ["k.key", "k.pub", "m.xopm", "notes.txt", "p.xop", "sub"]
    );
    assert!(names_in(&dir.path().join("sub")).is_empty());
}

/// A module is written to a new file renamed over the old one: whole or not at all. A build
/// that fails leaves the earlier module as it was; through a link, the file linked to is
/// replaced and the link kept.
#[cfg(unix)]
#[test]
fn build_replaces_a_module_whole() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("build-atomic");
    dir.write("p.xop", CAPS);
    dir.write("bad.xop", INVALID);
    assert_code(&xop(dir.path(), &["build", "p.xop", "-o", "m.xopm"]), 0);
    let first = fs::read(dir.path().join("m.xopm")).unwrap();
    let inode = fs::metadata(dir.path().join("m.xopm")).unwrap().ino();
    assert_code(&xop(dir.path(), &["build", "bad.xop", "-o", "m.xopm"]), 1);
    assert_eq!(fs::read(dir.path().join("m.xopm")).unwrap(), first);
    // A rebuild is a new file (renamed into place), not the old one written over.
    assert_code(&xop(dir.path(), &["build", "p.xop", "-o", "m.xopm"]), 0);
    assert_ne!(
        fs::metadata(dir.path().join("m.xopm")).unwrap().ino(),
        inode
    );
    assert_eq!(fs::read(dir.path().join("m.xopm")).unwrap(), first);
    std::os::unix::fs::symlink("m.xopm", dir.path().join("link.xopm")).unwrap();
    assert_code(&xop(dir.path(), &["build", "p.xop", "-o", "link.xopm"]), 0);
    assert!(
        fs::symlink_metadata(dir.path().join("link.xopm"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        names_in(dir.path()),
        ["bad.xop", "link.xopm", "m.xopm", "p.xop"]
    );
}

/// `xop keygen -o PREFIX` writes PREFIX.key and PREFIX.pub, dots in the prefix kept; a folder
/// is refused with the form to use instead.
#[test]
fn keygen_keeps_the_whole_prefix_and_refuses_a_folder() {
    let dir = TempDir::new("keygen-prefix");
    fs::create_dir(dir.path().join("keys")).unwrap();
    for prefix in ["acme.prod", "acme.staging", "keys/acme"] {
        let o = xop(dir.path(), &["keygen", "-o", prefix]);
        assert_code(&o, 0);
        assert_eq!(
            stdout(&o),
            format!("wrote {prefix}.key (secret) and {prefix}.pub (public)\n")
        );
    }
    for folder in ["keys/", "keys"] {
        let o = xop(dir.path(), &["keygen", "-o", folder]);
        assert_code(&o, 2);
        assert_eq!(
            stderr(&o),
            format!(
                "error: `{folder}` names a folder, but --output is the prefix of the key files: \
                 give e.g. `-o keys/NAME` (writes keys/NAME.key and keys/NAME.pub)\n"
            )
        );
    }
    // A key file's name is no prefix: it would write `x.key.key`.
    for file in ["sign.key", "keys/sign.pub"] {
        let o = xop(dir.path(), &["keygen", "-o", file]);
        assert_code(&o, 2);
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        assert_eq!(
            stderr(&o),
            format!(
                "error: `{file}` looks like one of the key files, but --output is their prefix: \
                 give `-o {stem}` (writes {stem}.key and {stem}.pub)\n"
            )
        );
    }
    assert_eq!(
        names_in(dir.path()),
        [
            "acme.prod.key",
            "acme.prod.pub",
            "acme.staging.key",
            "acme.staging.pub",
            "keys"
        ]
    );
    assert_eq!(names_in(&dir.path().join("keys")), ["acme.key", "acme.pub"]);
    // Never overwritten.
    let o = xop(dir.path(), &["keygen", "-o", "acme.prod"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("`acme.prod.key` exists"),
        "{}",
        stderr(&o)
    );
}

/// A key file with other text after its prefix names the character (not a byte of it), and
/// counts characters.
#[test]
fn a_malformed_key_names_the_character() {
    let dir = TempDir::new("key-text");
    dir.write("p.xop", CAPS);
    assert_code(&xop(dir.path(), &["build", "p.xop", "-o", "m.xopm"]), 0);
    dir.write("in.json", r#"{"to": {"id": "c-1", "messages_7d": 0}}"#);
    dir.write(
        "accented.pub",
        format!("xop-ed25519-public:{}\n", "é".repeat(32)),
    );
    dir.write("short.pub", "xop-ed25519-public:abcd\n");
    dir.write(
        "late.key",
        format!("xop-ed25519-secret:{}é\n", "0".repeat(62)),
    );
    let eval = |key: &str| {
        xop(
            dir.path(),
            &[
                "eval", "m.xopm", "--trust", key, "--policy", "caps", "--input", "in.json",
            ],
        )
    };
    let o = eval("accented.pub");
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: `accented.pub` is not a public key: malformed key: 'é' is not a hex digit \
         (character 1 after \"xop-ed25519-public:\"); a key is 64 digits 0-9 and a-f, as `xop \
         keygen` writes it\n"
    );
    let o = eval("short.pub");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("expected 64 hex digits after \"xop-ed25519-public:\", found 4;"),
        "{}",
        stderr(&o)
    );
    let o = xop(
        dir.path(),
        &["build", "p.xop", "-o", "s.xopm", "--sign", "late.key"],
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("'é' is not a hex digit (character 63 after"),
        "{}",
        stderr(&o)
    );
}

/// `xop test` on a module without tests says so of the module, not of sources.
#[test]
fn test_says_when_a_module_has_no_test() {
    let dir = TempDir::new("test-none-module");
    dir.write("p.xop", CAPS);
    assert_code(&xop(dir.path(), &["build", "p.xop", "-o", "m.xopm"]), 0);
    let o = xop(dir.path(), &["test", "m.xopm"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "the module `m.xopm` has no tests (its sources had no `test` block when it was built): \
         nothing was run\n0 passed, 0 failed\n"
    );
}

/// An action's name given to `--policy`, or a policy's to `--action`: the message says which
/// it is and the option to use.
#[test]
fn eval_says_an_action_is_not_a_policy_and_the_reverse() {
    let dir = TempDir::new("eval-kind");
    let input = format!("{}/inputs/offer-on-hold.json", acme());
    let o = xop(
        dir.path(),
        &["eval", &acme(), "--policy", "send_offer", "--input", &input],
    );
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: `send_offer` is an action, not a policy: `--action send_offer` decides it with \
         every policy guarding it (contact); to decide one of them alone, give its name to \
         --policy\n"
    );
    let o = xop(
        dir.path(),
        &["eval", &acme(), "--action", "contact", "--input", &input],
    );
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: `contact` is a policy, not an action: `--policy contact` decides it alone, and \
         `--action send_offer` decides the action it guards (`acme.contact.send_offer`) with all \
         its policies\n"
    );
    // Neither: the lists of names, as before.
    let o = xop(
        dir.path(),
        &["eval", &acme(), "--policy", "nope", "--input", &input],
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("no policy `nope`; the policies are: contact"));
}
