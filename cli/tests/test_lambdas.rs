//! A test's arguments are constant expressions, evaluated before the decision: their lambdas
//! (`any([1, 2], y => y > 1)`) bind their elements in frame slots like any other lambda, also
//! nested, in a `let`, in an `if`, or passed to a function. `xop test` runs each case on the
//! interpreter and on the JIT, from the sources and from a built module.

mod support;

use std::process::Output;

use support::{TempDir, xop_in as xop};

/// A policy on two fields, tested with arguments computed by lambdas. Each `expect` holds
/// only if its lambdas are evaluated, and evaluated right: the verdicts differ.
const SOURCE: &str = "module qa.lam\n\
    use std.consent.service\n\
    record C { id: Id  ok: Bool  n: Int }\n\
    action act(to: C) purpose service risk minimal\n\
    fn has_big(xs: List<Int>): Bool = any(xs, x => x > 10)\n\
    policy p for act(to: c) {\n  \
      deny \"no\" unless c.ok\n  \
      deny \"few\" when c.n < 1\n  \
      allow \"ok\"\n}\n\
    test \"lambdas in arguments\" {\n  \
      let rows = [[1, 2], [3, 40]]\n  \
      let big = any(rows, r => any(r, x => x > 30))\n  \
      expect p(act(to: { ok: any([1, 2], y => y > 1), n: 1, .. })) == allow(\"ok\")\n  \
      expect p(act(to: { ok: big, n: count(rows, r => all(r, x => x > 0)), .. })) == allow(\"ok\")\n  \
      expect p(act(to: { ok: if all([1, 2], y => y > 0) then has_big([3, 11]) else false, n: 1, .. })) == allow(\"ok\")\n  \
      expect p(act(to: { ok: has_big([1, 2]), n: 1, .. })) == deny(\"no\")\n  \
      expect act(to: { ok: true, n: count([1, 2], y => y > 5), .. }) == deny(\"few\")\n}\n";

fn assert_all_pass(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("out of the frame"), "{stdout}");
}

#[test]
fn lambdas_in_test_arguments_evaluate() {
    let dir = TempDir::new("test-lambdas-src");
    dir.write("t.xop", SOURCE);
    let check = xop(dir.path(), &["check", "t.xop"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_all_pass(&xop(dir.path(), &["test", "t.xop"]));
}

#[test]
fn lambdas_in_test_arguments_evaluate_from_a_built_module() {
    let dir = TempDir::new("test-lambdas-module");
    dir.write("t.xop", SOURCE);
    let build = xop(dir.path(), &["build", "-o", "t.xopm", "t.xop"]);
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    assert_all_pass(&xop(dir.path(), &["test", "t.xopm"]));
}

#[test]
fn a_lambda_in_a_failing_expectation_is_evaluated_too() {
    // The lambda's value decides the verdict: `any([1, 2], y => y > 5)` is false, so the
    // policy denies, and a test expecting `allow` fails on the verdict, not on the input.
    let dir = TempDir::new("test-lambdas-fail");
    let source = SOURCE.replace("any([1, 2], y => y > 1)", "any([1, 2], y => y > 5)");
    dir.write("t.xop", source);
    let out = xop(dir.path(), &["test", "t.xop"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("4 passed, 1 failed"), "{stdout}");
    assert!(!stdout.contains("cannot evaluate"), "{stdout}");
}
