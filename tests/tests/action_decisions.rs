//! `Runtime::decide_action`: an action decided over every policy guarding it, by the runtime
//! (JIT or interpreter), proven in one record, is what the reference `interp::decide_action`
//! gives; signals are read once per decision; the record replays.

use std::cell::Cell;
use std::path::Path;

use xop_runtime::engine::{Engine, Input, Options, Runtime, RuntimeError};
use xop_runtime::interp::{self, FixedSignals, Signals};
use xop_runtime::ir::{Program, SignalDecl, Verdict};
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::record::Body;
use xop_runtime::proof::replay::{Replayed, replay};
use xop_runtime::proof::verify::LogReader;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::value::Value;

const SOURCE: &str = r#"module acme.pay

use std.consent.fraud
use std.camara.RoamingStatus

role desk

record Customer {
  id: Id
  score: Int
  msisdn: Text
}

record Payment {
  id: Id
  amount: Int
}

action pay(to: Customer, tx: Payment) purpose fraud risk minimal
action refund(to: Customer, tx: Payment) purpose fraud risk minimal

signal roaming(c: Customer): RoamingStatus from camara.device_roaming(c.msisdn) max_age 1h

policy limits for pay(to: c, tx: t) {
  deny "too-large" when t.amount > 10000
  review "large" by role desk within 1h else deny when t.amount > 1000
  deny "roaming-large" when roaming(c) is present and roaming(c).roaming and t.amount > 500
  allow "small"
}

policy scoring for pay(to: c, tx: t) {
  deny "roaming" when if roaming(c) is present then roaming(c).roaming else false
  deny "low-score" when c.score < 10
  allow "scored"
}

policy caps for purpose fraud(to: c) {
  deny "blocked" when c.score == 0
}

policy refunds for refund(to: c, tx: t) {
  allow "refund"
}
"#;

fn module_bytes(source: &str) -> Vec<u8> {
    let program = xop_tests::lower_source("pay.xop", source);
    Module {
        program,
        source_hash: hash_sources([("pay.xop", source.as_bytes())]),
        sources: vec!["pay.xop".into()],
    }
    .to_bytes(None)
}

fn program() -> Program {
    xop_tests::lower_source("pay.xop", SOURCE)
}

fn runtime(dir: &Path, jit: bool) -> Runtime {
    let rt = xop_tests::runtime_with_log(dir, jit);
    rt.load_bytes("pay", &module_bytes(SOURCE), None).unwrap();
    rt
}

fn input(score: i64, amount: i64, roaming: Option<bool>) -> String {
    let signals = match roaming {
        None => String::new(),
        Some(r) => format!(
            r#", "signals": {{"roaming": {{"roaming": {r}, "country_code": 208, "country_name": ["FR"], "last_status_time": "2026-11-27T09:59:00Z"}}}}"#
        ),
    };
    format!(
        r#"{{"to": {{"id": "c1", "score": {score}, "msisdn": "+33600000000"}},
            "tx": {{"id": "t1", "amount": {amount}}},
            "now": "2026-11-27T10:00:00Z"{signals}}}"#
    )
}

fn inputs() -> Vec<String> {
    let mut out = Vec::new();
    for score in [0, 5, 50] {
        for amount in [0, 600, 1500, 20_000] {
            for roaming in [None, Some(true), Some(false)] {
                out.push(input(score, amount, roaming));
            }
        }
    }
    out
}

#[test]
fn the_runtime_decides_an_action_as_the_reference_does_on_both_engines() {
    let p = program();
    let guards: Vec<&str> = p.guards("acme.pay.pay").map(|g| g.name.as_str()).collect();
    assert_eq!(guards.len(), 3, "{guards:?}");
    let (jit_dir, interp_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (jit, interp_rt) = (
        runtime(jit_dir.path(), true),
        runtime(interp_dir.path(), false),
    );
    {
        let set = jit.modules();
        let m = &set.modules[0];
        for (i, pol) in m.program().policies.iter().enumerate() {
            assert_eq!(
                m.engine(i),
                Engine::Jit,
                "{}: {:?}",
                pol.name,
                m.jit_unsupported(i)
            );
        }
    }
    let mut verdicts = Vec::new();
    for (n, text) in inputs().iter().enumerate() {
        let bound = xop_runtime::bind::bind_json(&p, 0, text).unwrap();
        let want = interp::decide_action(
            &p,
            "acme.pay.pay",
            &bound.args,
            bound.now_ms.unwrap(),
            &FixedSignals(bound.signals.clone()),
        );
        let a = jit
            .decide_action("pay", Input::Json(text), Options::default())
            .unwrap();
        let b = interp_rt
            .decide_action("acme.pay.pay", Input::Json(text), Options::default())
            .unwrap();
        assert_eq!(a, b, "input {n}: {text}");
        assert_eq!(
            (&a.verdict, &a.reasons, &a.fired, &a.error),
            (&want.verdict, &want.reasons, &want.fired, &want.error),
            "input {n}: {text}"
        );
        assert_eq!(a.action.as_deref(), Some("acme.pay.pay"));
        assert_eq!(a.seq, Some(n as u64));
        verdicts.push(a.verdict);
    }
    assert!(jit.jit_decisions() > 0, "the JIT decided none of it");
    assert_eq!(interp_rt.jit_decisions(), 0);
    // The inputs reach every verdict.
    for v in [Verdict::Allow, Verdict::Review, Verdict::Deny] {
        assert!(verdicts.contains(&v), "no {v:?} among {verdicts:?}");
    }
    drop((jit, interp_rt));
    // Both engines wrote the same records (but for the wall-clock time), and each replays.
    let (mut ja, mut ib) = (
        LogReader::open(jit_dir.path()).unwrap(),
        LogReader::open(interp_dir.path()).unwrap(),
    );
    let program = program();
    for seq in 0..inputs().len() as u64 {
        let (ra, rb) = (ja.record(seq).unwrap(), ib.record(seq).unwrap());
        let (Body::Decision(da), Body::Decision(db)) = (ra.body, rb.body) else {
            panic!("record {seq} is not a decision");
        };
        assert_eq!(da, db, "record {seq}");
        assert_eq!(da.action.as_deref(), Some("acme.pay.pay"));
        assert_eq!(da.policy, guard_names(&program));
        assert_eq!(replay(&program, &da), Replayed::Same, "record {seq}");
    }
}

fn guard_names(p: &Program) -> String {
    p.guards("acme.pay.pay")
        .map(|g| g.qualified.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

#[test]
fn a_deny_in_any_policy_wins_and_a_review_in_one_holds_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), true);
    let decide = |score, amount, roaming| {
        rt.decide_action(
            "pay",
            Input::Json(&input(score, amount, roaming)),
            Options::default(),
        )
        .unwrap()
    };
    let ok = decide(50, 100, None);
    assert_eq!(ok.verdict, Verdict::Allow);
    let mut reasons = ok.reasons.clone();
    reasons.sort();
    assert_eq!(reasons, ["scored", "small"]);
    // `limits` alone allows; `scoring` denies: the action is denied.
    let alone = rt
        .decide("limits", Input::Json(&input(5, 100, None)))
        .unwrap();
    assert_eq!(alone.verdict, Verdict::Allow);
    let low = decide(5, 100, None);
    assert_eq!(low.verdict, Verdict::Deny);
    assert_eq!(low.reasons, ["low-score"]);
    // The purpose policy guards it too.
    assert!(
        decide(0, 100, None)
            .reasons
            .contains(&"blocked".to_string())
    );
    // A review in `limits` holds what `scoring` allows.
    let large = decide(50, 1500, None);
    assert_eq!(large.verdict, Verdict::Review);
    assert_eq!(large.review.as_ref().map(|r| r.role.as_str()), Some("desk"));
    // The halt switch's fallback is the action's: it has a review rule, `else deny`.
    assert_eq!(large.halt_fallback, Some(Verdict::Deny));
    assert_eq!(ok.halt_fallback, Some(Verdict::Deny));
    let refund = rt
        .decide_action(
            "refund",
            Input::Json(&input(50, 100, None)),
            Options::default(),
        )
        .unwrap();
    assert_eq!(refund.verdict, Verdict::Allow);
    assert_eq!(
        refund.halt_fallback, None,
        "no policy of `refund` has a review rule"
    );
}

#[test]
fn the_record_holds_what_every_policy_read() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), true);
    let o = rt
        .decide_action(
            "pay",
            Input::Json(&input(50, 100, None)),
            Options::default(),
        )
        .unwrap();
    drop(rt);
    let mut reader = LogReader::open(dir.path()).unwrap();
    let Body::Decision(d) = reader.record(o.seq.unwrap()).unwrap().body else {
        panic!("not a decision");
    };
    let paths: Vec<&str> = d.evidence.iter().map(|e| e.path.as_str()).collect();
    // `limits` reads the amount, `scoring` and `caps` the score.
    assert!(paths.contains(&"tx.amount"), "{paths:?}");
    assert!(paths.contains(&"to.score"), "{paths:?}");
}

/// Counts the reads that reach the source.
struct Counting {
    inner: FixedSignals,
    reads: Cell<usize>,
}

impl Signals for Counting {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        self.reads.set(self.reads.get() + 1);
        self.inner.read(signal, decl, args)
    }
}

#[test]
fn a_signal_is_read_once_per_decision_whichever_engine_decides_each_policy() {
    let p = program();
    for jit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path(), jit);
        // Both `limits` and `scoring` read `roaming(c)` on this input.
        let given = input(50, 600, Some(false));
        let source = Counting {
            inner: FixedSignals(xop_runtime::bind::bind_json(&p, 0, &given).unwrap().signals),
            reads: Cell::new(0),
        };
        let text = input(50, 600, None);
        let o = rt
            .decide_action(
                "pay",
                Input::Json(&text),
                Options {
                    signals: Some(&source),
                    ..Options::default()
                },
            )
            .unwrap();
        assert_eq!(o.verdict, Verdict::Allow, "jit {jit}: {o:?}");
        assert_eq!(
            source.reads.get(),
            1,
            "jit {jit}: read {} times",
            source.reads.get()
        );
        assert_eq!(o.signals.len(), 1, "jit {jit}: {:?}", o.signals);
    }
}

/// [`SOURCE`] as module `module`, its policies renamed so that it loads beside the original.
fn renamed(module: &str) -> String {
    ["limits", "scoring", "caps", "refunds"].iter().fold(
        SOURCE.replace("module acme.pay", &format!("module {module}")),
        |s, p| s.replace(&format!("policy {p} "), &format!("policy {p}2 ")),
    )
}

#[test]
fn unknown_ambiguous_and_split_actions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), true);
    let text = input(50, 100, None);
    let err = rt
        .decide_action("pya", Input::Json(&text), Options::default())
        .unwrap_err();
    assert!(matches!(err, RuntimeError::UnknownAction { .. }), "{err:?}");
    assert!(err.to_string().contains("acme.pay.pay"), "{err}");
    // A module of other policies guarding the same action: never combined unproven.
    rt.load_bytes("other", &module_bytes(&renamed("acme.pay")), None)
        .unwrap();
    let err = rt
        .decide_action("pay", Input::Json(&text), Options::default())
        .unwrap_err();
    assert!(matches!(err, RuntimeError::SplitAction { .. }), "{err:?}");
    assert!(err.to_string().contains("pay, other"), "{err}");
    // A short name two actions share.
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::with_log(ProofLog::open(dir.path(), LogConfig::default()).unwrap());
    rt.load_bytes("pay", &module_bytes(SOURCE), None).unwrap();
    rt.load_bytes("shop", &module_bytes(&renamed("acme.shop")), None)
        .unwrap();
    let err = rt
        .decide_action("pay", Input::Json(&text), Options::default())
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::AmbiguousAction { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("acme.pay.pay or acme.shop.pay"),
        "{err}"
    );
    // Its qualified name is not.
    let o = rt
        .decide_action("acme.shop.pay", Input::Json(&text), Options::default())
        .unwrap();
    assert_eq!(o.verdict, Verdict::Allow);
}

#[test]
fn the_halt_fallback_of_several_policies_is_the_strictest() {
    let p = xop_tests::lower_source(
        "halt.xop",
        r#"module acme.halt

use std.consent.fraud

role desk

record Customer {
  id: Id
  score: Int
}

action pay(to: Customer) purpose fraud risk minimal

policy lenient for pay(to: c) {
  review "odd" by role desk within 1h else allow when c.score < 5
  allow "ok"
}

policy strict for pay(to: c) {
  review "odd" by role desk within 1h else deny when c.score < 3
  allow "ok"
}

policy plain for pay(to: c) {
  allow "ok"
}
"#,
    );
    let index = |name: &str| p.policy(name).unwrap().0;
    let (lenient, strict, plain) = (index("lenient"), index("strict"), index("plain"));
    let fallback = |of: &[usize]| xop_runtime::review::halt_fallback(&p, of);
    assert_eq!(fallback(&[lenient]), Some(Verdict::Allow));
    assert_eq!(fallback(&[lenient, plain]), Some(Verdict::Allow));
    assert_eq!(fallback(&[lenient, strict]), Some(Verdict::Deny));
    assert_eq!(fallback(&[strict, lenient]), Some(Verdict::Deny));
    assert_eq!(fallback(&[plain]), None);
}

/// Two policies of one action ask for reviews with other terms: the outcome needs both roles,
/// has the earlier deadline and falls back to deny if either does (language.md §8.3), on both
/// engines; policies are evaluated in declaration order, not in the order of their names.
#[test]
fn reviews_of_several_policies_merge_and_policies_keep_their_declared_order() {
    let source = r#"module acme.rev

use std.consent.fraud

role desk
role lead

record Customer {
  id: Id
  score: Int
}

action pay(to: Customer, amount: Int) purpose fraud risk minimal

policy zz_strict for pay(to: c, amount: a) {
  review "big" by role lead within 2h else deny when a > 1000
  allow "ok"
}

policy aa_lax for purpose fraud(amount: a) {
  review "mid" by role desk within 15m else allow when a > 100
}
"#;
    let p = xop_tests::lower_source("rev.xop", source);
    let order: Vec<&str> = p.guards("acme.rev.pay").map(|g| g.name.as_str()).collect();
    assert_eq!(order, ["zz_strict", "aa_lax@pay"]);
    for jit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::with_log(ProofLog::open(dir.path(), LogConfig::default()).unwrap());
        rt.set_jit(jit);
        rt.load_bytes("rev", &module_bytes(source), None).unwrap();
        let decide = |amount: i64| {
            let input = format!(
                r#"{{"to": {{"id": "c1", "score": 1}}, "amount": {amount}, "now": "2026-11-27T10:00:00Z"}}"#
            );
            rt.decide_action("pay", Input::Json(&input), Options::default())
                .unwrap()
        };
        let both = decide(5000);
        assert_eq!(both.verdict, Verdict::Review, "jit {jit}");
        assert_eq!(both.reasons, ["big", "mid"], "jit {jit}");
        let terms = both.review.as_ref().unwrap();
        assert_eq!(
            (terms.role.as_str(), terms.also.as_slice()),
            ("lead", ["desk".to_string()].as_slice()),
            "jit {jit}"
        );
        assert_eq!(terms.within_ms, 15 * 60_000, "jit {jit}");
        assert_eq!(terms.fallback, Verdict::Deny, "jit {jit}");
        // One review alone keeps its own terms.
        let mid = decide(500);
        let terms = mid.review.as_ref().unwrap();
        assert_eq!(
            (terms.role.as_str(), terms.also.len(), terms.fallback),
            ("desk", 0, Verdict::Allow),
            "jit {jit}"
        );
    }
}
