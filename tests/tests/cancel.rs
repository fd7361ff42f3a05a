//! A decision whose deadline passes, or whose caller gives up, while it computes stops
//! computing on both engines: it is abandoned (`DeadlinePassed`, nothing recorded) long before
//! it would have ended. And the code of the policies without a loop nested in another loop
//! (the benchmarks' workloads) loads no cancel flag: it is what it was.

use std::path::Path;
use std::time::{Duration, Instant};

use xop_runtime::engine::{Deadline, Engine, Input, Options, Runtime, RuntimeError};
use xop_runtime::jit;
use xop_runtime::module::{Module, hash_sources};

const CUBIC: &str = r#"module t.cubic

use std.consent.fraud

record Case {
  xs: List<Int>
}

action check(c: Case) purpose fraud risk minimal

policy cubic for check(c: c) {
  deny "x" when any(c.xs, a => any(c.xs, b => any(c.xs, d => a + b + d == 0 - 1)))
  allow "ok"
}
"#;

fn runtime(dir: &Path, engine: Engine) -> Runtime {
    let rt = xop_tests::runtime_with_log(dir, engine == Engine::Jit);
    let bytes = Module {
        program: xop_tests::lower_source("cubic.xop", CUBIC),
        source_hash: hash_sources([("cubic.xop", CUBIC.as_bytes())]),
        sources: vec!["cubic.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("cubic", &bytes, None).unwrap();
    let set = rt.modules();
    assert_eq!(set.modules[0].engine(0), engine);
    rt
}

/// `{"c": {"xs": [0, 1, …, n - 1]}}`: no three add up to -1, so the decision walks all n³.
fn input(n: usize) -> String {
    let xs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!(r#"{{"c": {{"xs": [{}]}}}}"#, xs.join(","))
}

/// How long the decision on `text` takes to its end (allowed, recorded).
fn full_run(rt: &Runtime, text: &str) -> Duration {
    let t = Instant::now();
    let o = rt.decide("cubic", Input::Json(text)).unwrap();
    assert_eq!(o.verdict.keyword(), "allow");
    t.elapsed()
}

/// Decides `text` under `deadline` (given up on by another thread after `give_up_after`, if
/// set): it must be abandoned. Returns how long it took.
fn cancelled_run(
    rt: &Runtime,
    text: &str,
    deadline: &Deadline,
    give_up_after: Option<Duration>,
) -> Duration {
    let t = Instant::now();
    let r = std::thread::scope(|s| {
        if let Some(after) = give_up_after {
            let d = deadline.clone();
            s.spawn(move || {
                std::thread::sleep(after);
                assert!(!d.give_up(), "not recorded");
            });
        }
        rt.decide_with(
            "cubic",
            Input::Json(text),
            Options {
                deadline: Some(deadline),
                ..Options::default()
            },
        )
    });
    let took = t.elapsed();
    assert!(
        matches!(r, Err(RuntimeError::DeadlinePassed { .. })),
        "{r:?}"
    );
    took
}

/// The number of elements whose cubic decision takes at least about `at_least` on `rt`,
/// doubling from `n` (the full runs are timed, so that the test does not depend on how fast
/// the machine or the build is).
fn calibrate(rt: &Runtime, mut n: usize, at_least: Duration) -> (usize, Duration) {
    loop {
        let took = full_run(rt, &input(n));
        if took >= at_least || n >= 1 << 14 {
            return (n, took);
        }
        n *= 2;
    }
}

fn stops_early(engine: Engine, n0: usize) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), engine);
    let (n, full) = calibrate(&rt, n0, Duration::from_millis(1500));
    let text = input(n);
    let seq_before = rt.decide("cubic", Input::Json(&input(1))).unwrap().seq;
    let early = full / 20;
    // The deadline passes while it computes, and nobody gives up.
    let passing = Deadline::new(Instant::now() + early);
    let took = cancelled_run(&rt, &text, &passing, None);
    assert!(
        took < full / 5,
        "{engine:?}: stopped after {took:?}, the whole decision takes {full:?}"
    );
    // The caller gives up while it computes, long before the deadline.
    let far = Deadline::new(Instant::now() + Duration::from_secs(3600));
    let took = cancelled_run(&rt, &text, &far, Some(early));
    assert!(
        took < full / 5,
        "{engine:?}: stopped after {took:?} once given up, the whole decision takes {full:?}"
    );
    assert!(!far.give_up(), "abandoned, not recorded");
    // Nothing of either was recorded: the next record follows the one before them.
    let seq_after = rt.decide("cubic", Input::Json(&input(1))).unwrap().seq;
    assert_eq!(seq_after, seq_before.map(|s| s + 1));
}

#[test]
fn the_interpreter_stops_a_decision_past_its_deadline() {
    stops_early(Engine::Interpreter, 32);
}

#[test]
fn the_jit_stops_a_decision_past_its_deadline() {
    stops_early(Engine::Jit, 256);
}

/// Workloads (a) and (b) of the benchmarks have no loop nested in another: their code loads no
/// cancel flag (`JitModule::stop_checks`), so it is what it was before decisions could be
/// cancelled. The cubic policy's innermost and middle loops each load it.
#[test]
fn the_benchmarks_code_loads_no_cancel_flag() {
    let contact =
        xop_tests::lower_source("contact.xop", include_str!("../../bench/src/contact.xop"));
    let j = jit::compile(&contact);
    assert_eq!(j.unsupported(0), None);
    assert_eq!(j.stop_checks(0), 0, "(a)");
    // `xop_bench::engines::xop_source(200)`, written out (the tests do not depend on the
    // benchmarks' crate).
    let mut rules = String::from(
        "module bench.engines\n\nuse std.consent.service\n\n\
         record Customer {\n  id: Id\n  segment: Text\n  messages_7d: Int\n}\n\n\
         action act(to: Customer) purpose service risk minimal\n\n\
         policy segments for act(to: c) {\n",
    );
    for i in 0..200 {
        rules.push_str(&format!(
            "  deny \"seg-{i}\" when c.segment == \"seg-{i}\" and c.messages_7d >= {i}\n"
        ));
    }
    rules.push_str("  allow \"ok\"\n}\n");
    let p = xop_tests::lower_source("rules.xop", &rules);
    let j = jit::compile(&p);
    assert_eq!(j.unsupported(0), None);
    assert_eq!(j.rule_tables(0), 1, "(b) is a rule table");
    assert_eq!(j.stop_checks(0), 0, "(b)");
    let cubic = xop_tests::lower_source("cubic.xop", CUBIC);
    let j = jit::compile(&cubic);
    assert_eq!(j.stop_checks(0), 2, "the cubic policy's two inner loops");
}
