//! Formatter round trips: for every `.xop` file of the repository that parses (and for a sample
//! that uses every construct of the grammar), formatting keeps the tree (spans erased), keeps
//! every comment in order, and is idempotent. The fixtures of `tests/format/` pin the layout of
//! long lists (records, lists, sets, arguments, reasons) and of comments inside them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use xop_compiler::ast::erase_spans;
use xop_compiler::format::format_file;
use xop_compiler::lexer::lex;
use xop_compiler::parse::parse;

/// A file that uses every construct of the grammar, laid out untidily, with comments in every
/// place a comment can be.
const EVERYTHING: &str = r#"// file header comment

// second header paragraph
/// The module's docs.
///
///     indented example line
module   acme.everything   // trailing on module

// before the uses
/// Docs on a use.
use std.consent.consent
use std.channel.*   // a glob
use std.time.{local_hour,
   day_of_week}
use std.empty.{}

/// A record.
// between docs and annotation
@sensitive
@retention(days: 30)
record Customer { // after the brace
  /// The id.
  id: Id,
  segment: Segment  // trailing on a field

  // before a field, after a blank line
  @personal(purpose: [service, fraud]) @masked msisdn: Text
  tags: Set<Text>
  nickname: Text?
  maybe: Int? ?
  nested: Map<Text, List<Int>>
  /// an open type
  open: { consents: List<Consent>, tz: Tz, .. }
  nothing: { .. }
  // last in the record
}

record Empty {}

record EmptyWithComment {
  // only a comment
}

enum Segment { vip, standard,
}

enum Tier {
  /// The best.
  gold,
  silver, // trailing on a variant
  // before bronze
  bronze
}

enum Nothing {}

/// An action.
action send_offer(to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal
action send_newsletter(to: Customer, channel: Channel, newsletter_identifier: Text, campaign: Text) purpose marketing
action documented(
  /// who
  to: Customer,
  @reaches_phone number: Text // the number
) purpose service risk high
action commented(to: Customer, // who gets it
  amount: Money) purpose service

signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m
signal roaming(c: Customer): Bool from camara.roaming(c.msisdn)

role fraud_desk
channel sms
purpose marketing
event call_ended(c: Customer, time: Time)
event tick()

intrinsic consent2(subject: { consents: List<Consent>, .. }, purpose: Purpose, channel: Channel, when_: Time): Bool
fn double(n: Int): Int = n * 2
fn precedence(a: Int, b: Int): Int = (a + b) * 2 - -a % 3 + (a - (b - 1))
fn logic(a: Bool, b: Bool, c: Bool): Bool = not a and (b or c) or not (a or b) and a == b
fn ranges(x: Int): Bool = x in 8..21 and x not in 0..=3 and (x..10) == (0..x)
fn defaults(x: Int?): Int = x ?? 0 ?? 1 + 2
fn absence(x: Int?): Bool = x is absent or x is present and (x ?? 1) is present
fn literals(): List<Text> = ["a\"b\\c\nd\te", "\u{1}x\u{7f}", "é ✓"]
fn numbers(): List<Int> = [1_000, 0, 42]
fn durations(): List<Duration> = [90m, 0s, 1h30m, 5400s, 14d, 1w2d3h4m5s6ms, 500ms, 24h]
fn money(): List<Money> = [12.50 EUR, 1_000.00 USD, 3 GBP]
fn decimals(): List<Decimal> = [12.50, 1_000.000_1]
fn times(): List<Time> = [2026-11-25T10:00:00Z, 2026-11-25T10:00:00.5+01:00]
fn sets(): Set<Int> = {1, 2, 3,}
fn empty_set(): Set<Int> = {}
fn lambdas(xs: List<Int>): Bool = any(xs, x => x > 1) and all(xs, x => if x > 0 then true else false)
fn methods(c: Customer): Bool = sim_swap(c).swapped_within(24h) and c.tags.contains("x") and Segment.vip == c.segment
fn nested_if(n: Int): Int = if n < 0 then 0 else if n > 100 then 100 else if n == 50 then 49 else n + 1000000000 * 3
fn long_body(c: Customer, now: Time): Bool =
  local_hour(now, c.tz) >= 8 and local_hour(now, c.tz) < 21 and consent(c, marketing, sms) and not c.vip
fn parenthesised_if(n: Int): Int = 1 + (if n > 0 then n else 0)

policy contact for send_offer(to: c, channel: ch, offer) at now {
  // first rule comment
  deny  "in-service-interaction" when c.in_service_interaction
  deny  "no-consent"             unless consent(c, marketing, ch) // trailing on a rule
  deny  "frequency-cap"          when c.messages_7d >= 3

  // after a blank line
  deny  "quiet-hours"            unless local_hour(now, c.tz) in 8..21
  deny "long" when local_hour(now, c.tz) >= 8 and local_hour(now, c.tz) < 21 or consent(c, marketing, ch) and not c.vip or c.segment == vip
  deny "inside" when c.a and // inside a condition
    c.b
  deny
  allow "eligible"
  // last in the policy
}

policy fraud for purpose fraud(to: c, tx: t) {
  review "recent-sim-swap" by role fraud_desk within 15m else deny
    when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
  review by role fraud_desk within 1h else allow
  deny  "no-recent-sim-swap"
    unless sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
}

policy empty for tick {}
policy unbound for tick() {
}

/// A decision.
decision retention(c: Customer, extra: Int) at now {
  propose send_offer(to: c, channel: email, offer: "loyalty-discount")
    rank by value(c) * 2
    when c.risk_score > 70
  propose send_newsletter(to: c, channel: email) rank by 1 // trailing on a proposal
  propose send_offer(to: c, channel: sms, offer: "x")
  propose send_offer(to: { tier: gold, risk_score: 80, .. }, channel: email, offer: "a long offer text") rank by 3 when c.risk_score > 70
}

decision nothing() {}

journey onboarding(c: Customer) {
  // before the first state
  state welcome {
    on signed_up(customer: who) when who.risk_score < 50 { // trailing on a handler
      propose send_offer(to: who, channel: email, offer: "welcome")
      // between steps
      goto waiting
    }
  }
  state waiting {
    on activated { goto done }
    on call_ended(c, time: t) {}
    wait 3d {
      propose send_offer(to: c, channel: sms, offer: "getting-started")
      goto done // trailing on a step
    }
  }
  state done {
  }
}

agent support_bot {
  tool "crm.refund" -> refund(amount, reason)
  // between tools
  tool "marketing.offer" -> acme.send_offer
}

agent idle {}

test "no buy-now SMS while the customer is on hold" {
  let gold = { tier: gold, risk_score: 80, .. }
  let anyone = { .. }
  let wide = { in_service_interaction: true, // on hold
    consents: [{ purpose: marketing, channel: sms, given_at: 2026-01-01T00:00:00Z, withdrawn_at: absent }],
    // the rest by default
    tz: "Europe/Paris", .. }
  expect contact(send_offer(to: { in_service_interaction: true, .. }, channel: sms, offer: "buy-now"))
    == deny("in-service-interaction")
  expect contact(send_offer(to: gold, channel: sms, offer: "x")) == allow at 2026-11-25T10:00:00Z
  expect fraud(send_offer(to: gold, channel: sms, offer: "x")) == review() given sim_swap = { swapped: true }, roaming = absent
  // before a long expect
  expect contact(send_offer(to: gold, channel: sms, offer: "a fairly long offer text")) == deny("quiet-hours", "frequency-cap") at 2026-11-25T23:00:00Z given sim_swap = absent
  expect send_offer(to: gold, channel: sms, offer: "x") == allow at 2026-11-25T10:00:00Z // the action's verdict
  expect send_offer( to: gold, channel: sms, offer: "a fairly long offer text" ) == deny("quiet-hours", "frequency-cap") at 2026-11-25T23:00:00Z given sim_swap = absent
}

test "empty" {}

// trailing comment at the end of the file

// and another
"#;

/// The comments of a source text, in order.
fn comments(path: &Arc<str>, source: &str) -> Vec<String> {
    parse(path, source)
        .comments
        .iter()
        .map(|c| c.text.clone())
        .collect()
}

/// Formats `source` and checks the round-trip properties; returns the formatted text.
fn check_round_trip(name: &str, source: &str) -> String {
    let path: Arc<str> = Arc::from(name);
    let before = parse(&path, source);
    assert!(
        before.diagnostics.is_empty(),
        "{name}: {:#?}",
        before.diagnostics
    );
    let once =
        format_file(&path, source).unwrap_or_else(|d| panic!("{name}: formatting failed: {d:#?}"));
    let after = parse(&path, &once);
    assert!(
        after.diagnostics.is_empty(),
        "{name}: the formatted text does not parse: {:#?}\n{once}",
        after.diagnostics
    );
    assert_eq!(
        erase_spans(&before.ast),
        erase_spans(&after.ast),
        "{name}: formatting changed the tree:\n{once}"
    );
    assert_eq!(
        comments(&path, source),
        comments(&path, &once),
        "{name}: formatting lost or reordered comments:\n{once}"
    );
    let twice = format_file(&path, &once).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
    assert!(
        once == twice,
        "{name}: formatting is not idempotent; {}",
        first_difference(&once, &twice)
    );
    assert!(
        once.ends_with('\n') && !once.ends_with("\n\n"),
        "{name}: the output must end with exactly one newline"
    );
    for (i, line) in once.lines().enumerate() {
        assert_eq!(
            line.trim_end(),
            line,
            "{name}: trailing spaces on line {}",
            i + 1
        );
    }
    once
}

/// Where two texts first differ, with the lines around it.
fn first_difference(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let from = i.saturating_sub(3);
    format!(
        "first difference at line {}:\n--- first\n{}\n--- second\n{}",
        i + 1,
        a[from..(i + 3).min(a.len())].join("\n"),
        b[from..(i + 3).min(b.len())].join("\n")
    )
}

#[test]
fn every_construct_round_trips() {
    let once = check_round_trip("everything.xop", EVERYTHING);
    // the sample is meaningful: it has every kind of item and many comments
    let parsed = parse(&Arc::from("everything.xop"), EVERYTHING);
    let keywords: std::collections::BTreeSet<&str> =
        parsed.ast.items.iter().map(|i| i.keyword()).collect();
    for k in [
        "record",
        "enum",
        "action",
        "signal",
        "role",
        "channel",
        "purpose",
        "event",
        "fn",
        "intrinsic",
        "policy",
        "decision",
        "journey",
        "agent",
        "test",
    ] {
        assert!(keywords.contains(k), "the sample has no `{k}`");
    }
    assert!(parsed.comments.len() >= 25, "{}", parsed.comments.len());
    // every line within the width, except those made longer by a trailing comment
    for line in once.lines() {
        if line.chars().count() > 100 {
            assert!(line.contains("//"), "line too long: {line}");
        }
    }
    // the wide record literal is broken one field per line, its comments next to their fields
    assert!(
        once.contains(
            "  let wide = {\n    in_service_interaction: true,  // on hold\n    consents: [\n      { "
        ),
        "{once}"
    );
    assert!(
        once.contains("    // the rest by default\n    tz: \"Europe/Paris\",\n    ..\n  }\n"),
        "{once}"
    );
}

/// The fixtures of `tests/format/`: each `NAME.in.xop` formats to `NAME.out.xop`, which is
/// formatted already. `XOP_BLESS=1 cargo test -p xop-tests --test format` rewrites the expected
/// files (read the diff).
#[test]
fn fixtures_format_as_expected() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("format");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/format")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".in.xop"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 6, "{inputs:?}");
    for input in inputs {
        let name = input
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(&input).expect("readable fixture");
        let once = check_round_trip(&name, &source);
        let expected_path = dir.join(name.replace(".in.xop", ".out.xop"));
        if std::env::var_os("XOP_BLESS").is_some() {
            std::fs::write(&expected_path, &once).expect("writable fixture");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert!(
            once == expected,
            "{name}: the layout changed; {}",
            first_difference(&expected, &once)
        );
        assert_eq!(check_round_trip(&name, &expected), expected);
        // Within the width, but in the fixture that shows what is not broken: a list followed
        // by more code on its line.
        if name != "flat_literals.in.xop" {
            for line in once.lines() {
                assert!(line.chars().count() <= 100, "{name}: line too long: {line}");
            }
        }
    }
}

#[test]
fn every_repository_file_round_trips() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&root).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        // skip build output and hidden directories (`.git`)
        e.depth() == 0 || !(e.file_type().is_dir() && (name == "target" || name.starts_with('.')))
    }) {
        let entry = entry.expect("readable directory");
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "xop") {
            continue;
        }
        let source = std::fs::read_to_string(path).expect("readable file");
        let name = display(&root, path);
        // Files with syntax errors (the UI tests of E01xx) are not formatted.
        if !parse(&Arc::from(name.as_str()), &source)
            .diagnostics
            .is_empty()
        {
            assert!(format_file(&Arc::from(name.as_str()), &source).is_err());
            continue;
        }
        check_round_trip(&name, &source);
        checked += 1;
    }
    assert!(checked > 0, "no .xop file found under {}", root.display());
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// A comment after every token of the sample, and one on its own line before every token:
/// wherever a comment is written, formatting keeps it and round-trips. The comments are inserted
/// in batches (every `STRIDE`-th token) to keep the test fast in debug builds.
#[test]
fn a_comment_anywhere_round_trips() {
    const STRIDE: usize = 6;
    let tokens = lex(EVERYTHING).tokens;
    for own_line in [false, true] {
        for phase in 0..STRIDE {
            let mut source = String::new();
            let mut last = 0;
            for (i, &(start, _, end)) in tokens.iter().enumerate() {
                if i % STRIDE != phase {
                    continue;
                }
                if own_line {
                    source.push_str(&EVERYTHING[last..start]);
                    source.push_str(&format!("\n// inserted {i}\n"));
                    last = start;
                } else {
                    source.push_str(&EVERYTHING[last..end]);
                    source.push_str(&format!(" // inserted {i}\n"));
                    last = end;
                }
            }
            source.push_str(&EVERYTHING[last..]);
            let name = format!("inserted-{own_line}-{phase}.xop");
            let once = check_round_trip(&name, &source);
            assert!(once.matches("// inserted").count() >= tokens.len() / STRIDE - 1);
        }
    }
}

/// The sample's tokens (comments left out) joined by `gaps[i]` (cycled), a newline after each doc
/// comment.
fn respaced(gaps: &[&str]) -> String {
    let mut out = String::new();
    for (i, &(start, token, end)) in lex(EVERYTHING).tokens.iter().enumerate() {
        out.push_str(&EVERYTHING[start..end]);
        if token == xop_compiler::lexer::Token::DocComment {
            out.push('\n');
        } else {
            out.push_str(gaps[i % gaps.len()]);
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Without comments, the output depends on the tree only: any spacing of the same tokens
    /// formats to the same text.
    #[test]
    fn layout_does_not_depend_on_spacing(
        gaps in proptest::collection::vec(
            proptest::sample::select(vec![" ", "\n", "  \n\n\t", "\t "]),
            1..40,
        )
    ) {
        let path: Arc<str> = Arc::from("respaced.xop");
        let reference = format_file(&path, &respaced(&["\n"])).expect("the sample formats");
        let variant = format_file(&path, &respaced(&gaps)).expect("the variant formats");
        proptest::prop_assert!(
            reference == variant,
            "{}",
            first_difference(&reference, &variant)
        );
    }
}
