//! Go to definition, find references and rename for the parameters of functions, intrinsics
//! and signals (`xop_lsp::params`): a parameter is written in its declaration, used in the body
//! (a function's, a signal's source arguments) as a local, and written at call sites as a named
//! argument (`quiet(hour: h)`, an intrinsic's in a signal's source `from weight(base: 2)`, a
//! signal's `from camara.sim_swap(window: w)`).
//! Each rename is applied and the project checked again.

use std::collections::BTreeMap;

use xop_lsp::navigation::{definition, prepare_rename, references, rename};
use xop_lsp::state::{Snapshot, State};

const MODEL: &str = "module shop.model
use std.camara.SimSwap
use std.channel.sms
purpose marketing
record Customer {
  id: Id
  phone: Text
  tz: Tz
}
/// Whether `hour` is at night.
fn quiet(hour: Int): Bool = hour < 8 or hour >= 22
fn late(hours: List<Int>, cutoff: Int): Bool = any(hours, h => h > cutoff and quiet(hour: h))
fn is_sms(ch: Channel): Bool = ch == sms
intrinsic weight(of: Customer, base: Int): Int
signal swap(c: Customer, window: Duration): SimSwap from camara.sim_swap(phone_number: c.phone, window: window) max_age 5m
action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal
";

const RULES: &str = "module shop.rules
use shop.model.*
use std.time.local_hour
use std.contact.in_quiet_hours

fn dark(hour: Int): Bool = quiet(hour: hour)
signal heavy(c: Customer): Int from weight(of: c, base: 3)
signal heavier(c: Customer): Int from weight(of: c, base: 2)

policy contact for send_offer(to: c, channel: ch) at now {
  deny \"quiet\" when quiet(hour: local_hour(now, c.tz)) or quiet(7)
  deny \"dark\" when dark(hour: 23) and is_sms(ch: ch)
  deny \"quiet-std\" when in_quiet_hours(t: now, tz: c.tz, from_hour: 22, to_hour: 8)
  deny \"unknown-swap\" when swap(c: c, window: 24h) is absent
  deny \"heavy\" when (heavy(c) ?? 0) > 10 or (heavier(c) ?? 0) > 20
  deny \"late\" when late([1, 2], cutoff: 5)
  allow \"ok\"
}
";

const FILES: &[(&str, &str)] = &[("model.xop", MODEL), ("rules.xop", RULES)];

mod support;

use support::{at, places};

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

/// `quiet`'s `hour`: its declaration, its two uses in the body, and the named arguments of
/// the calls in another function of its file (inside a lambda) and in another file (in a
/// function and in a policy). `dark`'s own `hour` (a parameter of another function, given as
/// `quiet(hour: hour)`) and the positional `quiet(7)` are left as they are.
#[test]
fn rename_a_function_parameter_from_its_declaration_its_body_and_its_call_sites() {
    let want = expected(&[
        (
            "model.xop",
            "quiet(hour: Int): Bool = hour < 8 or hour >= 22",
            "quiet(at_hour: Int): Bool = at_hour < 8 or at_hour >= 22",
        ),
        ("model.xop", "quiet(hour: h)", "quiet(at_hour: h)"),
        ("rules.xop", "quiet(hour: hour)", "quiet(at_hour: hour)"),
        (
            "rules.xop",
            "quiet(hour: local_hour",
            "quiet(at_hour: local_hour",
        ),
    ]);
    let starts = [
        ("model.xop", at(MODEL, "hour: Int", 0, 0)),
        // The end of the name counts, as for every name.
        ("model.xop", at(MODEL, "hour: Int", 0, 4)),
        ("model.xop", at(MODEL, "hour < 8", 0, 1)),
        ("model.xop", at(MODEL, "hour >= 22", 0, 0)),
        ("model.xop", at(MODEL, "hour: h", 0, 2)),
        ("rules.xop", at(RULES, "quiet(hour", 0, 6)),
        ("rules.xop", at(RULES, "quiet(hour", 1, 7)),
    ];
    for (path, offset) in starts {
        assert_eq!(
            renamed(path, offset, "at_hour"),
            want,
            "from {path}:{offset}"
        );
    }
    // `dark`'s `hour`, used as the value of `quiet`'s: renamed with its own call site only.
    let want = expected(&[
        (
            "rules.xop",
            "dark(hour: Int): Bool = quiet(hour: hour)",
            "dark(h: Int): Bool = quiet(hour: h)",
        ),
        ("rules.xop", "dark(hour: 23)", "dark(h: 23)"),
    ]);
    let starts = [
        at(RULES, "dark(hour", 0, 5),
        at(RULES, "hour: hour", 0, 6),
        at(RULES, "dark(hour: 23", 0, 5),
    ];
    for offset in starts {
        assert_eq!(renamed("rules.xop", offset, "h"), want, "from {offset}");
    }
    // Renamed to its own name: nothing changes.
    assert_eq!(
        renamed("model.xop", at(MODEL, "hour < 8", 0, 0), "hour"),
        expected(&[])
    );
}

/// A signal's parameter is used in its source's arguments, and written at the signal's reads;
/// the source's own named argument `window:` (the stdlib's `sim_swap`'s) is another parameter.
/// An intrinsic's parameter is written at its calls, the method form's included.
#[test]
fn rename_a_signal_or_intrinsic_parameter() {
    let want = expected(&[
        (
            "model.xop",
            "window: Duration): SimSwap from camara.sim_swap(phone_number: c.phone, window: window)",
            "span: Duration): SimSwap from camara.sim_swap(phone_number: c.phone, window: span)",
        ),
        ("rules.xop", "window: 24h", "span: 24h"),
    ]);
    let starts = [
        ("model.xop", at(MODEL, "window: Duration", 0, 0)),
        ("model.xop", at(MODEL, "window: window", 0, 8)),
        ("rules.xop", at(RULES, "window: 24h", 0, 3)),
    ];
    for (path, offset) in starts {
        assert_eq!(renamed(path, offset, "span"), want, "from {path}:{offset}");
    }
    // `c`, used in the source's arguments and given by name where the signal is read.
    let want = expected(&[
        (
            "model.xop",
            "swap(c: Customer, window: Duration): SimSwap from camara.sim_swap(phone_number: c.phone",
            "swap(who: Customer, window: Duration): SimSwap from camara.sim_swap(phone_number: who.phone",
        ),
        ("rules.xop", "swap(c: c", "swap(who: c"),
    ]);
    assert_eq!(renamed("rules.xop", at(RULES, "swap(c", 0, 5), "who"), want);

    let want = expected(&[
        ("model.xop", "base: Int", "start: Int"),
        ("rules.xop", "base: 3", "start: 3"),
        ("rules.xop", "base: 2", "start: 2"),
    ]);
    for (path, offset) in [
        ("model.xop", at(MODEL, "base", 0, 0)),
        ("rules.xop", at(RULES, "base: 3", 0, 0)),
        ("rules.xop", at(RULES, "base: 2", 0, 4)),
    ] {
        assert_eq!(renamed(path, offset, "start"), want, "from {path}:{offset}");
    }
}

#[test]
fn references_of_a_function_parameter_include_the_named_arguments() {
    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let model = snap.file("model.xop").expect("file");
    let all = vec![
        "model.xop: hour: Int): Bool = hour < 8 or hour >= 22",
        "model.xop: hour < 8 or hour >= 22",
        "model.xop: hour >= 22",
        "model.xop: hour: h))",
        "rules.xop: hour: hour)",
        "rules.xop: hour: local_hour(now, c.tz)) or quiet(7)",
    ];
    for (file, offset) in [
        (rules, at(RULES, "quiet(hour: local", 0, 6)),
        (model, at(MODEL, "hour >= 22", 0, 2)),
        (model, at(MODEL, "hour: Int", 0, 0)),
    ] {
        assert_eq!(
            places(&snap, &references(&snap, file, offset, true)),
            all,
            "from {offset}"
        );
        assert_eq!(
            places(&snap, &references(&snap, file, offset, false)),
            all[1..].to_vec(),
            "from {offset}"
        );
    }
    // A signal's: its declaration, its use in the source, where it is read.
    assert_eq!(
        places(
            &snap,
            &references(&snap, rules, at(RULES, "window: 24h", 0, 0), true)
        ),
        vec![
            "model.xop: window: Duration): SimSwap from camara.sim_swap(phone_number: c.phone, window: window) max_age 5m",
            "model.xop: window) max_age 5m",
            "rules.xop: window: 24h) is absent",
        ]
    );
}

#[test]
fn definition_of_a_parameter_from_a_named_argument() {
    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let model = snap.file("model.xop").expect("file");
    let cases = [
        (
            rules,
            at(RULES, "quiet(hour: local", 0, 7),
            model,
            at(MODEL, "hour: Int", 0, 0),
        ),
        (
            rules,
            at(RULES, "quiet(hour: hour", 0, 6),
            model,
            at(MODEL, "hour: Int", 0, 0),
        ),
        (
            model,
            at(MODEL, "quiet(hour: h", 0, 10),
            model,
            at(MODEL, "hour: Int", 0, 0),
        ),
        (
            rules,
            at(RULES, "dark(hour: 23", 0, 5),
            rules,
            at(RULES, "hour: Int", 0, 0),
        ),
        (
            rules,
            at(RULES, "window: 24h", 0, 1),
            model,
            at(MODEL, "window: Duration", 0, 0),
        ),
        (
            rules,
            at(RULES, "base: 2", 0, 1),
            model,
            at(MODEL, "base: Int", 0, 0),
        ),
        (
            rules,
            at(RULES, "cutoff: 5", 0, 1),
            model,
            at(MODEL, "cutoff: Int", 0, 0),
        ),
    ];
    for (file, offset, decl_file, decl) in cases {
        let found = definition(&snap, file, offset);
        assert_eq!(found.len(), 1, "at {offset}: {found:?}");
        assert_eq!(found[0].0, decl_file, "at {offset}");
        assert_eq!(found[0].1.start(), decl, "at {offset}");
    }
    // Into the stdlib: a function's and an intrinsic's (a signal's source).
    for (file, offset, want) in [
        (rules, at(RULES, "from_hour", 0, 0), "from_hour: Int"),
        (model, at(MODEL, "phone_number", 0, 0), "phone_number: Text"),
        (
            model,
            at(MODEL, "window: window", 0, 0),
            "window: Duration): SimSwap",
        ),
    ] {
        let found = definition(&snap, file, offset);
        assert_eq!(found.len(), 1, "at {offset}: {found:?}");
        assert!(snap.is_stdlib(found[0].0), "at {offset}");
        let text = snap.text(found[0].0);
        assert!(text[found[0].1.start()..].starts_with(want), "at {offset}");
    }
}

#[test]
fn a_clash_with_a_parameter_or_a_local_of_the_body_is_refused() {
    // Another parameter of the function, from its declaration or a call site.
    let cutoff = at(MODEL, "cutoff: Int", 0, 0);
    assert_eq!(
        refused("model.xop", cutoff, "hours"),
        "fn `late` already has a parameter `hours`"
    );
    assert_eq!(
        refused("rules.xop", at(RULES, "cutoff: 5", 0, 0), "hours"),
        "fn `late` already has a parameter `hours`"
    );
    assert_eq!(
        refused("rules.xop", at(RULES, "base: 3", 0, 0), "of"),
        "intrinsic `weight` already has a parameter `of`"
    );
    assert_eq!(
        refused("rules.xop", at(RULES, "window: 24h", 0, 0), "c"),
        "signal `swap` already has a parameter `c`"
    );
    // A local of the body (the lambda's `h`), which would capture its uses.
    let e = refused("rules.xop", at(RULES, "cutoff: 5", 0, 0), "h");
    assert!(e.contains("already a local name"), "{e}");
    // A collection operation the body calls (`any(hours, …)`), which it would hide.
    let e = refused("model.xop", at(MODEL, "hours: List", 0, 0), "any");
    assert!(e.contains("as a collection operation"), "{e}");
    // A name the body uses for something else, which it would hide.
    let e = refused("rules.xop", at(RULES, "ch: ch", 0, 0), "sms");
    assert!(e.contains("used here"), "{e}");
    assert!(refused("model.xop", cutoff, "Int").contains("built-in type"));
    assert!(refused("model.xop", cutoff, "9lives").contains("is not a name"));
    // No clash: a name the call sites' values use (`ch`) names nothing there.
    let want = expected(&[
        (
            "model.xop",
            "is_sms(ch: Channel): Bool = ch == sms",
            "is_sms(medium: Channel): Bool = medium == sms",
        ),
        ("rules.xop", "is_sms(ch: ch)", "is_sms(medium: ch)"),
    ]);
    assert_eq!(
        renamed("model.xop", at(MODEL, "ch == sms", 0, 0), "medium"),
        want
    );
}

#[test]
fn a_parameter_of_the_stdlib_is_not_renamed() {
    let (_st, snap) = project();
    let rules = snap.file("rules.xop").expect("file");
    let model = snap.file("model.xop").expect("file");
    let offset = at(RULES, "from_hour", 0, 2);
    assert_eq!(
        prepare_rename(&snap, rules, offset).expect_err("refused"),
        "parameter `from_hour` of `std.contact.in_quiet_hours` is declared by the standard library, which cannot be edited"
    );
    assert!(rename(&snap, rules, offset, "start").is_err());
    // A signal's source's named argument is the stdlib intrinsic's parameter, not the signal's.
    let offset = at(MODEL, "window: window", 0, 0);
    let e = prepare_rename(&snap, model, offset).expect_err("refused");
    assert!(e.contains("`std.camara.sim_swap`"), "{e}");
    assert!(rename(&snap, model, offset, "span").is_err());
    // Renamable ones answer the name under the cursor, a use in the body included.
    for (file, text, needle) in [
        (rules, RULES, "hour: 23"),
        (model, MODEL, "hour >= 22"),
        (model, MODEL, "hour: Int"),
    ] {
        let span = prepare_rename(&snap, file, at(text, needle, 0, 1)).expect("renamable");
        assert_eq!(span.start(), at(text, needle, 0, 0), "{needle}");
        assert_eq!(span.end(), span.start() + "hour".len(), "{needle}");
    }
}
