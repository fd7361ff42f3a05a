//! Go to definition, find references and rename for the named parameters of actions and
//! events (`xop_lsp::params`), from their declarations and from every kind of place that names
//! them: policy bindings (one action, or every action of a purpose), a journey's event
//! bindings, named arguments of `propose` (decisions and journeys) and of a test's `expect`,
//! and an agent's tool bindings. Each rename is applied and the project checked again.

use std::collections::BTreeMap;

use xop_lsp::navigation::{definition, prepare_rename, references, rename};
use xop_lsp::state::{Snapshot, State};

const MODEL: &str = "module shop.model
purpose marketing
purpose care
record Customer {
  id: Id
  tz: Tz
}
/// Offer something.
action send_offer(to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal
action send_survey(to: Customer, channel: Channel, topic: Text) purpose marketing risk minimal
action refund(to: Customer, amount: Int) purpose care risk minimal
event signed_up(who: Customer, source: Text)
";

const RULES: &str = "module shop.rules
use shop.model.*
use std.channel.{sms, email}

policy contact for send_offer(to: c, channel: ch) {
  deny \"no-email\" when ch == email
  allow \"ok\" when c.id != \"\"
}

policy by_channel for send_offer(channel) {
  deny \"no-sms\" when channel == sms
  allow \"ok\"
}

policy quiet for purpose marketing(to: who) {
  deny \"anonymous\" when who.id == \"\"
  allow \"ok\"
}

policy refunds for refund(amount) {
  deny \"large\" when amount > 100
  allow \"ok\"
}

decision next(c: Customer) {
  propose send_offer(to: c, channel: sms, offer: \"x\")
  propose send_survey(c, email, topic: \"y\")
}

journey welcome(c: Customer) {
  state start {
    on signed_up(who: w, source) when source == \"web\" and w == c {
      propose send_offer(to: c, channel: email, offer: \"hi\")
      goto done
    }
  }
  state done {}
}

agent bot {
  tool \"refund\" -> refund(amount)
}

test \"contact\" {
  let c = { id: \"1\", .. }
  expect contact(send_offer(to: c, channel: sms, offer: \"x\")) == allow(\"ok\")
  expect refunds(refund(to: c, amount: 500)) == deny(\"large\")
}
";

const QOS: &str = "module shop.qos
use std.camara.create_qos_session

policy qos for create_qos_session(qos_profile: q) {
  deny \"big\" when q == \"QOS_L\"
  allow \"ok\"
}
";

const FILES: &[(&str, &str)] = &[("model.xop", MODEL), ("rules.xop", RULES), ("qos.xop", QOS)];

mod support;

use support::{apply, at, errors, open, places};

fn project() -> (State, Snapshot) {
    support::project(FILES)
}

/// Renames at `offset` of `path` and checks the result: the texts, which must still compile.
fn renamed(path: &str, offset: usize, new: &str) -> BTreeMap<String, String> {
    support::renamed(FILES, path, offset, new)
}

/// The fixture's texts with each `(file, from, to)` applied.
fn expected(changes: &[(&str, &str, &str)]) -> BTreeMap<String, String> {
    support::expected(FILES, changes)
}

/// Why renaming at `offset` of `path` to `new` is refused.
fn refused(path: &str, offset: usize, new: &str) -> String {
    support::refused(FILES, path, offset, new)
}

#[test]
fn rename_an_action_parameter_from_its_declaration_and_from_each_use() {
    let want = expected(&[
        (
            "model.xop",
            "send_offer(to: Customer, channel: Channel,",
            "send_offer(to: Customer, medium: Channel,",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: ch)",
            "send_offer(to: c, medium: ch)",
        ),
        (
            "rules.xop",
            "send_offer(channel)",
            "send_offer(medium: channel)",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: sms, offer: \"x\")\n  propose",
            "send_offer(to: c, medium: sms, offer: \"x\")\n  propose",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: email, offer: \"hi\")",
            "send_offer(to: c, medium: email, offer: \"hi\")",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: sms, offer: \"x\"))",
            "send_offer(to: c, medium: sms, offer: \"x\"))",
        ),
    ]);
    let starts = [
        ("model.xop", at(MODEL, "channel: Channel", 0, 0)),
        // The end of the name counts, as for every name.
        ("model.xop", at(MODEL, "channel: Channel", 0, 7)),
        ("rules.xop", at(RULES, "channel: ch", 0, 2)),
        ("rules.xop", at(RULES, "channel: sms", 0, 0)),
        ("rules.xop", at(RULES, "channel: email", 0, 0)),
        ("rules.xop", at(RULES, "channel: sms", 1, 0)),
    ];
    for (path, offset) in starts {
        assert_eq!(
            renamed(path, offset, "medium"),
            want,
            "from {path}:{offset}"
        );
    }
}

/// `to` is bound by `for purpose marketing(to: who)`: the policy reads it from every action of
/// `marketing`, so `send_offer`'s and `send_survey`'s are renamed together, from either
/// declaration and from any use, the purpose's binding included; `refund`'s `to` stays.
#[test]
fn parameters_tied_by_a_purpose_policy_are_renamed_together() {
    let want = expected(&[
        (
            "model.xop",
            "send_offer(to: Customer",
            "send_offer(recipient: Customer",
        ),
        (
            "model.xop",
            "send_survey(to: Customer",
            "send_survey(recipient: Customer",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: ch)",
            "send_offer(recipient: c, channel: ch)",
        ),
        (
            "rules.xop",
            "marketing(to: who)",
            "marketing(recipient: who)",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: sms, offer: \"x\")\n  propose",
            "send_offer(recipient: c, channel: sms, offer: \"x\")\n  propose",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: email",
            "send_offer(recipient: c, channel: email",
        ),
        (
            "rules.xop",
            "send_offer(to: c, channel: sms, offer: \"x\"))",
            "send_offer(recipient: c, channel: sms, offer: \"x\"))",
        ),
    ]);
    let starts = [
        ("model.xop", at(MODEL, "to: Customer", 0, 0)),
        ("model.xop", at(MODEL, "to: Customer", 1, 1)),
        ("rules.xop", at(RULES, "to: who", 0, 0)),
        ("rules.xop", at(RULES, "to: c", 0, 0)),
        ("rules.xop", at(RULES, "to: c", 3, 0)),
    ];
    for (path, offset) in starts {
        assert_eq!(
            renamed(path, offset, "recipient"),
            want,
            "from {path}:{offset}"
        );
    }
    // `refund`'s `to` is of another purpose: alone.
    let want = expected(&[
        ("model.xop", "refund(to: Customer", "refund(whom: Customer"),
        ("rules.xop", "refund(to: c,", "refund(whom: c,"),
    ]);
    assert_eq!(
        renamed("model.xop", at(MODEL, "to: Customer", 2, 0), "whom"),
        want
    );
    assert_eq!(
        renamed("rules.xop", at(RULES, "refund(to", 0, 7), "whom"),
        want
    );
}

/// An agent's tool binding names the parameter (and the tool's argument); an event's
/// parameters are named by the journey's bindings, `source` alone keeping its local.
#[test]
fn rename_from_tool_bindings_and_event_bindings() {
    let want = expected(&[
        ("model.xop", "amount: Int", "sum: Int"),
        ("rules.xop", "refund(amount)\n", "refund(sum)\n"),
        ("rules.xop", "refund(amount) {", "refund(sum: amount) {"),
        ("rules.xop", "amount: 500", "sum: 500"),
    ]);
    assert_eq!(
        renamed("rules.xop", at(RULES, "refund(amount)\n", 0, 8), "sum"),
        want
    );
    assert_eq!(renamed("model.xop", at(MODEL, "amount", 0, 0), "sum"), want);
    assert_eq!(
        renamed("rules.xop", at(RULES, "amount: 500", 0, 0), "sum"),
        want
    );

    let want = expected(&[
        ("model.xop", "source: Text)", "origin: Text)"),
        (
            "rules.xop",
            "signed_up(who: w, source)",
            "signed_up(who: w, origin: source)",
        ),
    ]);
    assert_eq!(
        renamed("model.xop", at(MODEL, "source", 0, 3), "origin"),
        want
    );
    let want = expected(&[
        (
            "model.xop",
            "signed_up(who: Customer",
            "signed_up(person: Customer",
        ),
        ("rules.xop", "signed_up(who: w", "signed_up(person: w"),
    ]);
    assert_eq!(
        renamed("rules.xop", at(RULES, "who: w", 0, 0), "person"),
        want
    );
    assert_eq!(renamed("model.xop", at(MODEL, "who", 0, 0), "person"), want);
    // A soft keyword is a name like any other.
    let want = expected(&[
        ("model.xop", "source: Text)", "channel: Text)"),
        (
            "rules.xop",
            "signed_up(who: w, source)",
            "signed_up(who: w, channel: source)",
        ),
    ]);
    assert_eq!(
        renamed("model.xop", at(MODEL, "source", 0, 0), "channel"),
        want
    );
}

/// At a binding written as the name alone, rename and references are about its local (as at
/// any local's declaration), which then binds the parameter by name: `channel: kanal`.
#[test]
fn a_shorthand_binding_renames_its_local_and_keeps_its_parameter() {
    let want = expected(&[
        (
            "rules.xop",
            "send_offer(channel)",
            "send_offer(channel: kanal)",
        ),
        ("rules.xop", "when channel == sms", "when kanal == sms"),
    ]);
    assert_eq!(
        renamed(
            "rules.xop",
            at(RULES, "send_offer(channel)", 0, 11),
            "kanal"
        ),
        want
    );
    assert_eq!(
        renamed("rules.xop", at(RULES, "channel == sms", 0, 0), "kanal"),
        want
    );
    let want = expected(&[
        ("rules.xop", "w, source)", "w, source: src)"),
        ("rules.xop", "when source ==", "when src =="),
    ]);
    assert_eq!(
        renamed("rules.xop", at(RULES, "source ==", 0, 0), "src"),
        want
    );
    // Renamed to its own name: nothing changes.
    assert_eq!(
        renamed("rules.xop", at(RULES, "source ==", 0, 0), "source"),
        expected(&[])
    );

    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let local = at(RULES, "send_offer(channel)", 0, 11);
    assert_eq!(
        places(&snap, &references(&snap, rules, local, true)),
        vec![
            "rules.xop: channel) {".to_string(),
            "rules.xop: channel == sms".to_string()
        ]
    );
    // Its definition is the parameter's declaration: the local's is under the cursor.
    assert_eq!(
        places(&snap, &definition(&snap, rules, local)),
        vec!["model.xop: channel: Channel, offer: Text) purpose marketing risk minimal"]
    );
}

#[test]
fn definition_of_a_parameter_from_each_kind_of_use() {
    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let model = snap.file("model.xop").expect("file");
    let decl = |needle: &str, nth| (model, at(MODEL, needle, nth, 0));
    let cases = [
        (at(RULES, "channel: ch", 0, 1), decl("channel: Channel", 0)),
        (at(RULES, "channel: sms", 0, 1), decl("channel: Channel", 0)),
        (
            at(RULES, "channel: email", 0, 1),
            decl("channel: Channel", 0),
        ),
        (at(RULES, "channel: sms", 1, 1), decl("channel: Channel", 0)),
        (at(RULES, "topic", 0, 1), decl("topic", 0)),
        (at(RULES, "refund(amount)\n", 0, 8), decl("amount", 0)),
        (at(RULES, "who: w", 0, 1), decl("who", 0)),
        (at(RULES, "amount: 500", 0, 1), decl("amount", 0)),
    ];
    for (offset, (file, start)) in cases {
        let found = definition(&snap, rules, offset);
        assert_eq!(found.len(), 1, "at {offset}: {found:?}");
        assert_eq!(found[0].0, file, "at {offset}");
        assert_eq!(found[0].1.start(), start, "at {offset}");
    }
    // A purpose's binding: the parameter of each action of the purpose.
    let found = definition(&snap, rules, at(RULES, "to: who", 0, 0));
    let starts: Vec<usize> = found.iter().map(|(_, s)| s.start()).collect();
    assert_eq!(
        starts,
        vec![at(MODEL, "to: C", 0, 0), at(MODEL, "to: C", 1, 0)]
    );
    // Into the stdlib.
    let qos = snap.file("qos.xop").expect("file");
    let found = definition(&snap, qos, at(QOS, "qos_profile", 0, 0));
    assert_eq!(found.len(), 1);
    assert!(snap.is_stdlib(found[0].0));
    assert!(snap.text(found[0].0)[found[0].1.start()..].starts_with("qos_profile: Text"));
}

#[test]
fn references_of_a_parameter_with_and_without_its_declaration() {
    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let offset = at(RULES, "channel: email", 0, 3);
    let all = places(&snap, &references(&snap, rules, offset, true));
    assert_eq!(
        all,
        vec![
            "model.xop: channel: Channel, offer: Text) purpose marketing risk minimal",
            "rules.xop: channel: ch) {",
            "rules.xop: channel) {",
            "rules.xop: channel: sms, offer: \"x\")",
            "rules.xop: channel: email, offer: \"hi\")",
            "rules.xop: channel: sms, offer: \"x\")) == allow(\"ok\")",
        ]
    );
    let uses = places(&snap, &references(&snap, rules, offset, false));
    assert_eq!(uses, all[1..].to_vec());
    // Tied by a purpose: both actions' `to` and all their uses, not `refund`'s.
    let tied = places(
        &snap,
        &references(&snap, rules, at(RULES, "to: who", 0, 0), true),
    );
    assert_eq!(
        tied,
        vec![
            "model.xop: to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal",
            "model.xop: to: Customer, channel: Channel, topic: Text) purpose marketing risk minimal",
            "rules.xop: to: c, channel: ch) {",
            "rules.xop: to: who) {",
            "rules.xop: to: c, channel: sms, offer: \"x\")",
            "rules.xop: to: c, channel: email, offer: \"hi\")",
            "rules.xop: to: c, channel: sms, offer: \"x\")) == allow(\"ok\")",
        ]
    );
    // The stdlib's parameters are found too (they are only not renamed).
    let qos = snap.file("qos.xop").expect("file");
    let std = references(&snap, qos, at(QOS, "qos_profile", 0, 0), true);
    assert_eq!(std.len(), 2, "{:?}", places(&snap, &std));
}

#[test]
fn a_clash_or_a_bad_name_is_refused() {
    let channel = at(MODEL, "channel: Channel", 0, 0);
    let e = refused("model.xop", channel, "offer");
    assert_eq!(e, "action `send_offer` already has a parameter `offer`");
    // From a use too.
    let e = refused("rules.xop", at(RULES, "channel: sms", 0, 0), "to");
    assert_eq!(e, "action `send_offer` already has a parameter `to`");
    // A parameter tied by a purpose policy clashes with those of every action it is tied to.
    let e = refused("model.xop", at(MODEL, "to: Customer", 0, 0), "topic");
    assert_eq!(e, "action `send_survey` already has a parameter `topic`");
    // At a shorthand binding, its local's clashes.
    let e = refused("rules.xop", at(RULES, "source)", 0, 0), "w");
    assert!(e.contains("already a local name"), "{e}");
    let e = refused("model.xop", at(MODEL, "source", 0, 0), "who");
    assert_eq!(e, "event `signed_up` already has a parameter `who`");
    for bad in ["deny", "9lives", "a-b", "to c", ""] {
        let e = refused("model.xop", channel, bad);
        assert!(e.contains("is not a name"), "{bad}: {e}");
    }
    assert!(refused("model.xop", channel, "Int").contains("built-in type"));
    // Its own name is no clash.
    assert_eq!(renamed("model.xop", channel, "channel"), expected(&[]));
}

#[test]
fn a_parameter_of_the_stdlib_is_not_renamed() {
    let (_st, snap) = project();
    let qos = snap.file("qos.xop").expect("file");
    let offset = at(QOS, "qos_profile", 0, 3);
    let e = prepare_rename(&snap, qos, offset).expect_err("refused");
    assert_eq!(
        e,
        "parameter `qos_profile` of `std.camara.create_qos_session` is declared by the standard library, which cannot be edited"
    );
    assert!(rename(&snap, qos, offset, "profile").is_err());
    // Renamable parameters answer their name's span.
    let rules = snap.file("rules.xop").expect("file");
    let span = prepare_rename(&snap, rules, at(RULES, "amount: 500", 0, 2)).expect("renamable");
    assert_eq!(span.start(), at(RULES, "amount: 500", 0, 0));
    assert_eq!(span.end(), span.start() + "amount".len());
}

/// A purpose policy binding `session_id` ties the user's `close` to the stdlib's
/// `delete_qos_session` (purpose `std.consent.service`): renaming it would edit the stdlib.
#[test]
fn a_parameter_tied_to_one_of_the_stdlib_is_not_renamed() {
    let text = "module shop.sessions
use std.consent.service
action close(session_id: Text) purpose service risk minimal
policy sessions for purpose service(session_id) {
  allow \"ok\"
}
";
    let (_st, snap) = open(&[("sessions.xop", text.to_string())]);
    let file = snap.file("sessions.xop").expect("file");
    let e = prepare_rename(&snap, file, at(text, "session_id", 0, 0)).expect_err("refused");
    assert!(e.contains("`std.camara.delete_qos_session`"), "{e}");
    assert!(e.contains("standard library"), "{e}");
    assert!(rename(&snap, file, at(text, "session_id", 0, 0), "id").is_err());
}

/// A shorthand binding of a parameter the action lacks (an error, E0211) still binds a local:
/// renaming the local keeps the name it binds, for the author to correct.
#[test]
fn a_shorthand_of_an_unknown_parameter_keeps_it_when_its_local_is_renamed() {
    let text = "module m
purpose p
action a(to: Int) purpose p risk minimal
policy q for a(too) {
  deny \"big\" when too > 3
  allow \"ok\"
}
";
    let (_st, snap) = open(&[("m.xop", text.to_string())]);
    let file = snap.file("m.xop").expect("file");
    let edits = rename(&snap, file, at(text, "too > 3", 0, 0), "n").expect("renamed");
    let texts = apply(&[("m.xop", text)], &snap, &edits);
    let want = text
        .replace("a(too)", "a(too: n)")
        .replace("when too", "when n");
    assert_eq!(texts["m.xop"], want);
}

/// The action form of a test's `expect` (`expect send_offer(channel: …) == V`, the action's
/// verdict) names the action's parameters as the policy form does: renamed with them, from the
/// declaration and from the test.
#[test]
fn the_action_form_of_expect_names_the_actions_parameters() {
    let tests = "module shop.tests
use shop.model.*
use shop.rules.contact
use std.channel.email

test \"the action's verdict\" {
  let c = { id: \"1\", .. }
  expect send_offer(to: c, channel: email, offer: \"x\") == deny(\"no-email\")
  expect contact(send_offer(to: c, channel: email, offer: \"y\")) == deny(\"no-email\")
}
";
    let files: Vec<(&str, &str)> = FILES
        .iter()
        .copied()
        .chain([("tests.xop", tests)])
        .collect();
    let owned: Vec<(&str, String)> = files.iter().map(|(p, t)| (*p, t.to_string())).collect();
    let (st, snap) = open(&owned);
    assert_eq!(errors(&st), Vec::<String>::new());
    let file = snap.file("tests.xop").expect("file");
    for offset in [
        at(tests, "channel: email, offer: \"x\"", 0, 0),
        at(tests, "channel: email, offer: \"y\"", 0, 3),
    ] {
        let edits =
            rename(&snap, file, offset, "medium").unwrap_or_else(|e| panic!("refused: {e}"));
        let texts = apply(&files, &snap, &edits);
        let t = &texts["tests.xop"];
        assert!(
            t.contains("expect send_offer(to: c, medium: email, offer: \"x\") == deny")
                && t.contains("contact(send_offer(to: c, medium: email, offer: \"y\"))"),
            "{t}"
        );
        assert!(
            texts["model.xop"].contains("send_offer(to: Customer, medium: Channel,"),
            "{}",
            texts["model.xop"]
        );
        support::assert_compiles(&texts);
    }
}
