//! `xop test` judges a test's `given` values as the runtime judges a value given in an input's
//! `signals` (language.md §5.8, §5.13): at the test's decision time, by the runtime's own
//! `judge_given`, a value that contradicts itself (a SIM Swap `swapped: true` dated before its
//! window) or that cannot be shown to be within `max_age` (observed too long ago) is read as
//! absent. A test therefore decides what `xop eval` decides on the same input at the same time
//! (checked here against `xop eval`, on both engines, not against a written verdict), and a
//! failing test says which given value was read as absent and why, in `xop eval`'s words.

mod support;

use std::process::Output;

use serde_json::{Value, json};
use support::{TempDir, text, xop_in as xop};

/// Two signals the runtime judges when given: a SIM Swap (agreement of `swapped` with its
/// date, over the 24 h window) and a Device Reachability Status (freshness by its
/// `last_status_time`), each under `max_age 5m`, and a policy on each that says whether the
/// signal was read.
const POLICY: &str = "module qa.tg\n\
    use std.consent.service\n\
    use std.camara.{SimSwap, ReachabilityStatus, Reachability}\n\
    record C { id: Id  msisdn: Text }\n\
    action act_swap(c: C) purpose service risk minimal\n\
    action act_reach(c: C) purpose service risk minimal\n\
    signal sim_swap(c: C): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m\n\
    signal reach(c: C): ReachabilityStatus from camara.device_reachability(c.msisdn) max_age 5m\n\
    policy swap for act_swap(c: c) {\n  \
      deny \"swap-unknown\" when sim_swap(c) is absent\n  \
      deny \"swapped\" when sim_swap(c) is present and sim_swap(c).swapped\n  \
      allow \"not-swapped\"\n}\n\
    policy reachable for act_reach(c: c) {\n  \
      deny \"status-unknown\" when reach(c) is absent\n  \
      deny \"unreachable\" when reach(c) is present and not reach(c).reachable\n  \
      allow \"reachable\"\n}\n";

const NOW: &str = "2026-11-25T10:00:00Z";

/// One given value, as a test writes it and as an input's `signals` gives it.
struct Case {
    /// The name of the test blocks made of it (`… as judged`, `… as written`).
    name: &'static str,
    policy: &'static str,
    /// The action `policy` alone guards.
    action: &'static str,
    signal: &'static str,
    /// The value, in XOP.
    xop: String,
    /// The same value, in an input's JSON.
    json: Value,
    /// The verdict and reason if the value were read as written.
    as_written: (&'static str, &'static str),
}

fn cases() -> [Case; 3] {
    [
        Case {
            // Swapped within the last 24 h, yet the latest swap is 5 days old: it contradicts
            // itself, as no pair of connector answers could.
            name: "contradicting swap",
            policy: "swap",
            action: "act_swap",
            signal: "sim_swap",
            xop: "{ swapped: true, latest_swap: 2026-11-20T10:00:00Z }".into(),
            json: json!({"swapped": true, "latest_swap": "2026-11-20T10:00:00Z"}),
            as_written: ("deny", "swapped"),
        },
        // Observed 3 days before the decision, beyond max_age 5m.
        reachable("stale reachability", "2026-11-22T10:00:00Z"),
        // Observed 4 minutes before the decision: fresh, read as written.
        reachable("fresh reachability", "2026-11-25T09:56:00Z"),
    ]
}

/// The case `name`: a device reachable by data, its status observed at `last_status_time`
/// (read as written, it allows `reachable`).
fn reachable(name: &'static str, last_status_time: &str) -> Case {
    Case {
        name,
        policy: "reachable",
        action: "act_reach",
        signal: "reach",
        xop: format!(
            "{{ reachable: true, connectivity: [connected_data], \
             last_status_time: {last_status_time} }}"
        ),
        json: json!({"reachable": true, "connectivity": ["connected_data"],
                     "last_status_time": last_status_time}),
        as_written: ("allow", "reachable"),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// What `xop eval --policy POLICY` decides on `file` with `engine`: the verdict, the reasons,
/// and its human output's line for a given value read as absent (`signal … absent: WHY`), if
/// any.
fn eval(dir: &TempDir, policy: &str, file: &str, engine: &str) -> (String, Vec<String>, String) {
    let run = |format: &str| {
        let o = xop(
            dir.path(),
            &[
                "eval", "src", "--policy", policy, "--input", file, "--engine", engine, "--format",
                format,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    };
    let v: Value =
        serde_json::from_slice(&run("json").stdout).unwrap_or_else(|e| panic!("not JSON ({e})"));
    let verdict = v["verdict"].as_str().unwrap_or_else(|| panic!("{v}"));
    let reasons: Vec<String> = (v["reasons"].as_array().unwrap_or_else(|| panic!("{v}")))
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let human = stdout(&run("human"));
    let absent: String = human
        .lines()
        .filter(|l| l.trim_start().starts_with("signal "))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    (verdict.to_string(), reasons, absent)
}

/// The block of `xop test`'s output about test `name`: its `ok` line, or its `FAILED` line
/// and the indented lines below it.
fn block<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out
        .find(&format!("ok     {name} ("))
        .or_else(|| out.find(&format!("FAILED {name}\n")))
        .unwrap_or_else(|| panic!("no test `{name}` in:\n{out}"));
    let rest = &out[start..];
    // The block ends where the next line does not start with two spaces.
    let mut end = rest.find('\n').map_or(rest.len(), |i| i + 1);
    while rest[end..].starts_with("  ") {
        end += rest[end..].find('\n').map_or(rest.len() - end, |i| i + 1);
    }
    &rest[..end]
}

/// For each given value: the test expecting what `xop eval` decides on the equivalent input
/// (on both engines) passes; when that is not the decision on the value as written, the test
/// expecting the latter fails, and says the value was read as absent and why, in the words
/// of `xop eval`'s line for it. Both forms of `expect` (one policy; the action's verdict).
#[test]
fn a_given_value_is_judged_as_xop_eval_judges_it() {
    let dir = TempDir::new("given-judged");
    // The policies alone first, for `xop eval`; the tests are added below.
    dir.write("src/t.xop", POLICY);
    let mut tests = String::new();
    let mut decided = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let file = format!("in{i}.json");
        let input = json!({"now": NOW, "c": {"id": "c1", "msisdn": "+33612345678"},
                           "signals": {case.signal: case.json}});
        dir.write(&file, input.to_string());
        let (verdict, reasons, absent) = eval(&dir, case.policy, &file, "interp");
        assert_eq!(
            eval(&dir, case.policy, &file, "jit"),
            (verdict.clone(), reasons.clone(), absent.clone()),
            "{}: the engines of xop eval disagree",
            case.name
        );
        let quoted: Vec<String> = reasons.iter().map(|r| format!("\"{r}\"")).collect();
        let judged = format!("{verdict}({})", quoted.join(", "));
        let written = format!("{}(\"{}\")", case.as_written.0, case.as_written.1);
        let given = format!("at {NOW} given {} = {}", case.signal, case.xop);
        let c = "{ id: \"c1\", msisdn: \"+33612345678\" }";
        tests.push_str(&format!(
            "test \"{name} as judged\" {{\n  expect {policy}({action}(c: {c})) == {judged} {given}\n}}\n\
             test \"{name} as written\" {{\n  expect {policy}({action}(c: {c})) == {written} {given}\n}}\n\
             test \"{name} as written, the action\" {{\n  \
               expect {action}(c: {c}) == {written} {given}\n}}\n",
            name = case.name,
            policy = case.policy,
            action = case.action,
        ));
        decided.push((verdict, reasons, absent));
    }
    dir.write("src/t.xop", format!("{POLICY}{tests}"));
    let o = xop(dir.path(), &["test", "src"]);
    let out = stdout(&o);
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let mut failed = 0;
    for (case, (verdict, reasons, absent)) in cases().iter().zip(&decided) {
        let name = case.name;
        // What xop eval decides is what the test decides.
        assert!(
            block(&out, &format!("{name} as judged")).starts_with("ok "),
            "{name}: {out}"
        );
        let read_as_written = (verdict.as_str(), reasons.as_slice())
            == (case.as_written.0, &[case.as_written.1.to_string()][..]);
        for test in [
            format!("{name} as written"),
            format!("{name} as written, the action"),
        ] {
            let b = block(&out, &test);
            if read_as_written {
                assert!(absent.is_empty(), "{name}: {absent}");
                assert!(b.starts_with("ok "), "{test}: {out}");
                continue;
            }
            failed += 1;
            // The failure says the given value was read as absent, and why, as xop eval does.
            assert!(
                !absent.is_empty(),
                "{name}: xop eval read the value as given"
            );
            let said = format!(
                "  given `{}` is read as absent (as in an input's `signals`): {absent}",
                case.signal
            );
            assert!(b.starts_with(&format!("FAILED {test}\n")), "{test}: {out}");
            assert!(b.ends_with(&said), "{test}: wanted {said:?} in:\n{b}");
        }
    }
    // The stale and the contradicting value are read as absent; the fresh one is not.
    assert_eq!(failed, 4, "{out}");
    assert!(
        out.ends_with(&format!("5 passed, {failed} failed\n")),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// A test giving a value the runtime judges at the decision time, with no `at`, fails with a
/// message asking for one (tests never read the clock), whatever it expects; a value of a
/// type not judged needs none, and `absent` is not judged.
#[test]
fn a_judged_given_value_needs_the_tests_decision_time() {
    let dir = TempDir::new("given-judged-no-time");
    dir.write(
        "src/t.xop",
        format!(
            "{POLICY}\
             test \"no time\" {{\n  \
               expect swap(act_swap(c: {{ .. }})) == deny(\"swapped\") \
               given sim_swap = {{ swapped: true, latest_swap: 2026-11-25T09:00:00Z }}\n}}\n\
             test \"absent needs no time\" {{\n  \
               expect act_swap(c: {{ .. }}) == deny(\"swap-unknown\") given sim_swap = absent\n}}\n"
        ),
    );
    let o = xop(dir.path(), &["test", "src"]);
    let out = stdout(&o);
    assert_eq!(
        block(&out, "no time"),
        "FAILED no time\n  at src/t.xop:20:3\n  the value given for the signal `sim_swap` is \
         judged at the decision time, as a value given in an input's `signals` is (its \
         freshness against `max_age`, or whether it agrees with itself), and the test gives \
         none: tests never read the clock; write one after the expected verdict, before \
         `given`: `… == deny(\"…\") at 2026-11-25T10:00:00Z given …`\n",
        "{out}"
    );
    assert!(
        block(&out, "absent needs no time").starts_with("ok "),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}
