//! An action is decided by every policy that guards it, combined as one: a deny in any policy
//! wins, an allow needs no deny or review anywhere, and an unguarded action is denied.

use xop_runtime::interp::{NoSignals, decide_action};
use xop_runtime::ir::{Program, Verdict};
use xop_runtime::value::Value;

const SOURCE: &str = r#"module acme.actions

purpose service
purpose marketing

record Customer {
  id: Id
  vip: Bool
  messages_7d: Int
}

action notify(to: Customer, text: Text) purpose service risk minimal

action promote(to: Customer) purpose marketing risk minimal

policy notices for notify(to: c) {
  allow "service-notice"
}

policy caps for purpose service(to: c) {
  deny "too-many" when c.messages_7d >= 3
  review "vip-check" by role desk within 1h else deny when c.vip
}

role desk
"#;

fn program() -> Program {
    xop_tests::lower_source("actions.xop", SOURCE)
}

fn customer(p: &Program, vip: bool, messages: i64) -> Value {
    let (i, _) = p
        .records
        .iter()
        .enumerate()
        .find(|(_, r)| r.name == "acme.actions.Customer")
        .expect("record");
    Value::Record(
        u32::try_from(i).unwrap(),
        vec![
            Value::Id("c1".into()),
            Value::Bool(vip),
            Value::Int(messages),
        ]
        .into(),
    )
}

#[test]
fn every_guarding_policy_takes_part() {
    let p = program();
    let decide = |vip, messages| {
        let args = [customer(&p, vip, messages), Value::text("hello")];
        decide_action(&p, "acme.actions.notify", &args, 0, &NoSignals)
    };
    let quiet = decide(false, 0);
    assert_eq!(quiet.verdict, Verdict::Allow);
    assert_eq!(quiet.reasons, vec!["service-notice"]);
    // The purpose policy's deny wins over the action policy's allow.
    let busy = decide(false, 5);
    assert_eq!(busy.verdict, Verdict::Deny);
    assert_eq!(busy.reasons, vec!["too-many"]);
    // Fired rules of every policy, in the order they are declared (language.md §8.2).
    assert_eq!(busy.fired, vec!["notices#1", "caps#1"]);
    // A review anywhere holds the allow for a person.
    let vip = decide(true, 0);
    assert_eq!(vip.verdict, Verdict::Review);
    assert_eq!(vip.review.as_ref().map(|r| r.role.as_str()), Some("desk"));
}

#[test]
fn an_unguarded_action_is_denied() {
    let p = program();
    let d = decide_action(
        &p,
        "acme.actions.promote",
        &[customer(&p, false, 0)],
        0,
        &NoSignals,
    );
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.fired.is_empty() && d.reasons.is_empty());
}

#[test]
fn bad_arguments_are_denied_as_bad_input() {
    let p = program();
    let d = decide_action(&p, "acme.actions.notify", &[Value::Int(1)], 0, &NoSignals);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.reasons, vec!["xop:bad-input"]);
}
