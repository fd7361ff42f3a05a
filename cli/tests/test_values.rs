//! `xop test` decides only on values an input could carry (language.md §2.5, §5.13): a test
//! whose argument or given signal value holds a time outside the range XOP holds fails, naming
//! where the value is and the range, instead of passing on a decision no input can reach; the
//! ends of the range themselves are values like any other.

mod support;

use std::process::Output;

use support::{TempDir, xop_in as xop};

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A policy on a record's time, and a signal whose value holds one.
const POLICY: &str = "module qa.tv\n\
    use std.consent.service\n\
    use std.camara.SimSwap\n\
    record R { id: Id  ts: Time  msisdn: Text  visits: List<Time> }\n\
    action act(to: R) purpose service risk minimal\n\
    signal sim_swap(r: R): SimSwap from camara.sim_swap(r.msisdn, 24h) max_age 5m\n\
    policy p for act(to: r) at now {\n  \
      deny \"late\" when r.ts > 2026-01-01T00:00:00Z\n  \
      deny \"swapped\" when sim_swap(r) is present\n  \
      allow \"ok\"\n}\n";

const RANGE: &str = "(times run from 0000-01-01T00:00:00Z to 9999-12-30T22:00:00.999Z)";

/// Runs the tests `tests` after [`POLICY`]; gives the exit code and standard output.
fn run(name: &str, tests: &str) -> (Option<i32>, String) {
    let dir = TempDir::new(name);
    dir.write("t.xop", format!("{POLICY}{tests}"));
    let check = xop(dir.path(), &["check", "t.xop"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let o = xop(dir.path(), &["test", "t.xop"]);
    (o.status.code(), stdout(&o))
}

#[test]
fn a_time_out_of_range_in_an_argument_fails_the_test() {
    let (code, out) = run(
        "test-values-args",
        "test \"beyond max\" {\n  \
           let t = 9999-12-30T22:00:00.999Z + 1w\n  \
           expect p(act(to: { ts: t, .. })) == deny(\"late\") at 2026-11-25T10:00:00Z\n}\n\
         test \"before min\" {\n  \
           let t = 0000-01-01T00:00:00Z - 1ms\n  \
           expect p(act(to: { ts: t, .. })) == allow(\"ok\") at 2026-11-25T10:00:00Z\n}\n\
         test \"in a list\" {\n  \
           expect p(act(to: { visits: [2026-01-01T00:00:00Z, 9999-12-30T22:00:00.999Z + 1s], .. })) \
           == allow(\"ok\") at 2026-11-25T10:00:00Z\n}\n\
         test \"the action's verdict\" {\n  \
           expect act(to: { ts: 0000-01-01T00:00:00Z - 1w, .. }) == allow at 2026-11-25T10:00:00Z\n}\n",
    );
    assert_eq!(code, Some(1), "{out}");
    let after = format!(
        "  the test's input is one no input can carry: `to.ts`: the time \
         is after 9999-12-30T22:00:00.999Z, the last time XOP can hold {RANGE}; write a value \
         an input could give (language.md §2.5)\n"
    );
    let before = format!(
        "  the test's input is one no input can carry: `to.ts`: the time \
         is before 0000-01-01T00:00:00Z, the first time XOP can hold {RANGE}; write a value an \
         input could give (language.md §2.5)\n"
    );
    assert!(
        out.contains(&format!("FAILED beyond max\n  at t.xop:14:3\n{after}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("FAILED before min\n  at t.xop:18:3\n{before}")),
        "{out}"
    );
    // The action's form too: what the engines would decide on such a value is no decision.
    assert!(
        out.contains(&format!(
            "FAILED the action's verdict\n  at t.xop:24:3\n{before}"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "FAILED in a list\n  at t.xop:21:3\n  the test's input is one no input can carry: \
             `to.visits[1]`: the time is after 9999-12-30T22:00:00.999Z"
        ),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("0 passed, 4 failed"), "{out}");
}

#[test]
fn a_time_out_of_range_in_a_given_value_fails_the_test() {
    let (code, out) = run(
        "test-values-given",
        "test \"swap beyond max\" {\n  \
           expect p(act(to: { .. })) == deny(\"swapped\") at 2026-11-25T10:00:00Z\n    \
           given sim_swap = { swapped: true, latest_swap: 9999-12-30T22:00:00.999Z + 1ms }\n}\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "  the test's input is one no input can carry: the value given for the signal, \
             `sim_swap.latest_swap`: the time is after 9999-12-30T22:00:00.999Z"
        ),
        "{out}"
    );
}

#[test]
fn the_ends_of_the_range_are_values_like_any_other() {
    let (code, out) = run(
        "test-values-ends",
        "test \"the ends\" {\n  \
           expect p(act(to: { ts: 9999-12-30T22:00:00.999Z, .. })) == deny(\"late\") \
           at 2026-11-25T10:00:00Z\n  \
           expect p(act(to: { ts: 0000-01-01T00:00:00Z, .. })) == allow(\"ok\") \
           at 2026-11-25T10:00:00Z\n  \
           expect p(act(to: { .. })) == deny(\"swapped\") at 2026-11-25T10:00:00Z\n    \
           given sim_swap = { swapped: true, latest_swap: 9999-12-30T22:00:00.999Z }\n}\n",
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().last(), Some("3 passed, 0 failed"), "{out}");
}
