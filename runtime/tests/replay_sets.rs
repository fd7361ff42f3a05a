//! Replaying a decision over a set whose rules read only part of it: its length
//! (`count(tags)`), or some fields of its elements (`any(rs, r => 10 / r.b > 1)`). The evidence
//! keeps those parts alone, each element by its index in the set decided on; the replay must
//! rebuild the set with that length and that order (not sorted again by the defaults put in
//! the parts no rule reads), and so find the same decision.

use std::sync::Arc;

use serde_json::{Value as Json, json};
use xop_runtime::bind;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::build::{arith, b, cmp, program, rule, slot};
use xop_runtime::ir::{
    ArithOp, CmpOp, Expr, Field, Program, Quantifier, RecordType, Type, Verdict,
};
use xop_runtime::proof::evidence::{self, KeyProvider, ReadSet};
use xop_runtime::proof::record::DecisionRecord;
use xop_runtime::proof::replay::{Replayed, replay};
use xop_runtime::value::Value;

/// The decision time of every input.
const AT: &str = "2026-11-25T10:00:00.000Z";

/// No subject key: these programs have no `@personal` field.
struct NoKeys;

impl KeyProvider for NoKeys {
    fn key_for(&self, subject: &str) -> Result<([u8; 16], [u8; 32]), String> {
        Err(format!("no key for {subject}: nothing here is personal"))
    }
}

fn int(n: i64) -> Expr {
    Expr::Const(Value::Int(n))
}

fn set_of(t: Type) -> Type {
    Type::Set(Box::new(t))
}

/// `quantifier(list, x => body)`, the element in slot `at`.
fn quantify(quantifier: Quantifier, list: Expr, at: u32, body: Option<Expr>) -> Expr {
    Expr::Quantify {
        quantifier,
        list: b(list),
        slot: at,
        body: body.map(b),
    }
}

/// `count(list, x => body) > 1` (`count(list) > 1` without a body), the element in slot `at`.
fn more_than_one(list: Expr, at: u32, body: Option<Expr>) -> Expr {
    cmp(
        CmpOp::Gt,
        quantify(Quantifier::Count, list, at, body),
        int(1),
    )
}

/// The element's field `f` (the element in slot 9).
fn elem_field(f: u32) -> Expr {
    Expr::Field(b(slot(9)), f)
}

/// `policy t.p(a0: ty) { deny "deny" when condition; allow "ok" }`, with record type `t.R`
/// `{a: Int, b: field_b}` at index 0.
fn policy(ty: Type, condition: Expr, field_b: Type) -> Program {
    let mut p = program(
        vec![ty],
        vec![
            rule(1, Verdict::Deny, "deny", Some(condition)),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    p.policies[0].slots = 10;
    p.records.push(RecordType {
        name: "t.R".into(),
        fields: vec![
            Field {
                name: "a".into(),
                ty: Type::Int,
                personal: false,
            },
            Field {
                name: "b".into(),
                ty: field_b,
                personal: false,
            },
        ],
    });
    p
}

/// [`policy`] over a `Set<Text>` that denies when `count(a0) > 1`.
fn count_of_texts_over_one() -> Program {
    policy(
        set_of(Type::Text),
        more_than_one(slot(0), 9, None),
        Type::Text,
    )
}

/// Decides `args` (the value of `a0`, as JSON) with `p` as the runtime does (bound from JSON,
/// the evidence extracted along the read set), checks that it denied, and gives its record, as
/// a decision of the policy or (`by_action`) of the action.
fn record(p: &Program, args: Json, by_action: bool) -> DecisionRecord {
    let input = json!({ "a0": args, "now": AT });
    let bound = bind::bind_value(p, 0, &input).expect("the input binds");
    let now = bound.now_ms.expect("a decision time");
    let d = if by_action {
        interp::decide_action(p, "t.act", &bound.args, now, &NoSignals)
    } else {
        interp::decide(p, 0, &bound.args, now, &NoSignals)
    };
    assert_eq!(
        (d.verdict, &d.reasons[..]),
        (Verdict::Deny, &["deny".to_string()][..]),
        "{d:?}"
    );
    let set = ReadSet::of_policy(p, &p.policies[0]);
    let evidence = evidence::extract(p, &p.policies[0], &set, &bound.args, "", &NoKeys)
        .expect("the evidence extracts");
    DecisionRecord {
        module: "0".repeat(64),
        policy: "t.p".into(),
        action: by_action.then(|| "t.act".to_string()),
        at: AT.into(),
        evidence,
        signals: Vec::new(),
        verdict: d.verdict,
        reasons: d.reasons,
        fired: d.fired,
        review: None,
        args_sha256: None,
        error: d.error,
        detail: None,
    }
}

/// Decides and replays `args` by the policy and by the action: both replay the same.
fn replays_the_same(p: &Program, args: Json) {
    for by_action in [false, true] {
        let r = record(p, args.clone(), by_action);
        assert_eq!(replay(p, &r), Replayed::Same, "{:?}", r.evidence);
    }
}

/// Checks that the evidence of deciding `args` by the policy holds no value at all (lengths
/// only), then that `args` replays the same ([`replays_the_same`]).
fn replays_from_lengths_only(p: &Program, args: Json) {
    let r = record(p, args.clone(), false);
    assert!(
        r.evidence
            .iter()
            .all(|e| e.value.is_none() && e.len.is_some()),
        "{:?}",
        r.evidence
    );
    replays_the_same(p, args);
}

#[test]
fn a_set_whose_length_only_is_read_replays_with_that_length() {
    // `deny when count(a0) > 1` over a Set<Text>: the evidence is `a0` of len 3, nothing else.
    let p = count_of_texts_over_one();
    replays_from_lengths_only(&p, json!(["a", "b", "c"]));
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_repeats() {
    // `deny when count(a0, r => r.a > 0) > 1`: only each `a` is logged, the two elements
    // equal in it.
    let p = policy(
        set_of(Type::Record(0)),
        more_than_one(slot(0), 9, Some(cmp(CmpOp::Gt, elem_field(0), int(0)))),
        Type::Text,
    );
    replays_the_same(&p, json!([{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]));
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_order() {
    // `deny when any(a0, r => 10 / r.b > 1)`: only each `b` is logged, 5 then 0; sorted
    // again by `b` alone, the division by zero would come first.
    let p = policy(
        set_of(Type::Record(0)),
        quantify(
            Quantifier::Any,
            slot(0),
            9,
            Some(cmp(
                CmpOp::Gt,
                arith(ArithOp::Div, int(10), elem_field(1)),
                int(1),
            )),
        ),
        Type::Int,
    );
    replays_the_same(&p, json!([{"a": 1, "b": 5}, {"a": 2, "b": 0}]));
}

#[test]
fn sets_in_the_elements_of_a_set_keep_their_length() {
    // `deny when count(a0, r => count(r.b) > 1) > 1`, `b` a `Set<Text>`: only the lengths are
    // logged, so every element rebuilds the same.
    let p = policy(
        set_of(Type::Record(0)),
        more_than_one(slot(0), 9, Some(more_than_one(elem_field(1), 8, None))),
        set_of(Type::Text),
    );
    replays_from_lengths_only(
        &p,
        json!([{"a": 1, "b": ["x", "y"]}, {"a": 2, "b": ["z", "w"]}]),
    );
}

#[test]
fn a_record_as_logged_before_replays_the_same() {
    // The record format is unchanged: a record as a log holds it (its JSON) replays.
    let p = count_of_texts_over_one();
    let logged: DecisionRecord = serde_json::from_value(json!({
        "module": "0".repeat(64),
        "policy": "t.p",
        "at": AT,
        "evidence": [{"path": "a0", "len": 3}],
        "signals": [],
        "verdict": "deny",
        "reasons": ["deny"],
        "fired": ["t.p#1", "t.p#2"],
    }))
    .expect("a record");
    assert_eq!(replay(&p, &logged), Replayed::Same);
}

#[test]
fn a_set_read_whole_still_replays_as_decided() {
    // `deny when a0 == {1, 2}`: the whole set is logged, in its canonical order; the
    // comparison with a constant set needs it in that order.
    let p = policy(
        set_of(Type::Int),
        cmp(
            CmpOp::Eq,
            slot(0),
            Expr::Const(Value::List(Arc::from([Value::Int(1), Value::Int(2)]))),
        ),
        Type::Text,
    );
    replays_the_same(&p, json!([2, 1, 2]));
}

#[test]
fn sets_in_sets_keep_their_length() {
    // `deny when count(a0, s => count(s) > 1) > 1` over a `Set<Set<Text>>`: lengths only.
    let p = policy(
        set_of(set_of(Type::Text)),
        more_than_one(slot(0), 9, Some(more_than_one(slot(9), 8, None))),
        Type::Text,
    );
    replays_from_lengths_only(&p, json!([["x", "y"], ["z", "w"]]));
}

/// An input held to the binding limit when decided (`bind::max_words`) replays whatever the
/// evidence keeps of it: here a list read only by its length, whose elements each wrote a
/// large optional record (so that their room, past the slack, was within the limit) but come
/// back from the evidence with it `null`, which as a new input would pass the limit.
#[test]
fn a_list_past_the_slack_replays_though_its_evidence_writes_less() {
    let fields = 500;
    let mut p = policy(
        Type::List(Box::new(Type::Record(0))),
        more_than_one(slot(0), 9, None),
        Type::Optional(Box::new(Type::Record(1))),
    );
    p.records.push(RecordType {
        name: "t.Big".into(),
        fields: (0..fields)
            .map(|i| Field {
                name: format!("c{i}"),
                ty: Type::Int,
                personal: false,
            })
            .collect(),
    });
    // Each element takes 1 + 1 + fields words (`a`, then `b`'s presence and fields): written
    // with `b` null, two values, it passes the limit by a hundred elements.
    let words = fields + 2;
    let n = bind::WORDS_SLACK / (words - 3 * bind::WORDS_PER_VALUE) + 100;
    let big: serde_json::Map<String, Json> =
        (0..fields).map(|i| (format!("c{i}"), json!(i))).collect();
    let args = Json::Array(vec![json!({ "a": 1, "b": big }); n]);
    let r = record(&p, args, false);
    let rebuilt = Json::Array(vec![json!({ "a": 0, "b": null }); n]);
    let e = bind::bind_value(&p, 0, &json!({ "a0": rebuilt, "now": AT })).err();
    assert_eq!(e.map(|e| e.kind), Some(bind::BindErrorKind::TooLarge));
    assert_eq!(replay(&p, &r), Replayed::Same, "{:?}", r.evidence.len());
}
