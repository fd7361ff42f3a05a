//! Two policies with the same short name, in two modules, guarding one action: every output
//! that lists a fired rule (`xop eval --action`, human and JSON, both engines; `xop explain` of
//! its proof record) names the rule that fired, in its own policy, file and line.
//!
//! QA found the audit trail naming rules that never fired: both policies `contact` gave their
//! rules the ids `contact#1`, `contact#2`…, so the rules the second policy fired were shown as
//! the first policy's rules of the same number.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{TempDir, text};

/// The first policy `contact`: it denies on hold or at three messages, and never allows.
const CONTACT: &str = r#"module acme.contact

purpose service

record Customer {
  id: Id
  on_hold: Bool
  vip: Bool
  messages_7d: Int
}

action send_offer(to: Customer) purpose service risk minimal

policy contact for send_offer(to: c) {
  deny "on-hold" when c.on_hold
  deny "frequency-cap" when c.messages_7d >= 3
}
"#;

/// The second policy `contact`, in another module, for the same action.
const OTHER: &str = r#"module acme.other

use acme.contact.{Customer, send_offer}

policy contact for send_offer(to: c) {
  deny "vip-only" unless c.vip
  deny "cap" when c.messages_7d >= 1
  allow "fine"
}
"#;

/// `xop ARGS` run in `dir`, without colour.
fn xop(dir: &Path, args: &[&str]) -> Output {
    support::xop_in(dir, args)
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One input, and what must be listed: the verdict line, then the fired rules (id, file,
/// line, text), in the order they fired.
struct Case {
    input: &'static str,
    verdict: &'static str,
    fired: &'static [(&'static str, &'static str, u32, &'static str)],
    /// Rule texts that did not fire, which must not be listed.
    not_fired: &'static [&'static str],
}

const CASES: &[Case] = &[
    // Only the second policy fires: it denies (`cap`) and its `allow "fine"` is outweighed.
    Case {
        input: r#"{"to": {"id": "c-1", "on_hold": false, "vip": true, "messages_7d": 1}}"#,
        verdict: "deny (cap)",
        fired: &[
            (
                "acme.other.contact#2",
                "amb/other.xop",
                7,
                r#"deny "cap" when c.messages_7d >= 1"#,
            ),
            (
                "acme.other.contact#3",
                "amb/other.xop",
                8,
                r#"allow "fine""#,
            ),
        ],
        not_fired: &["on-hold", "frequency-cap", "vip-only", "amb/contact.xop"],
    },
    // Both fire their rule #2: each is named in its own policy.
    Case {
        input: r#"{"to": {"id": "c-1", "on_hold": false, "vip": true, "messages_7d": 3}}"#,
        verdict: "deny (frequency-cap, cap)",
        fired: &[
            (
                "acme.contact.contact#2",
                "amb/contact.xop",
                16,
                r#"deny "frequency-cap" when c.messages_7d >= 3"#,
            ),
            (
                "acme.other.contact#2",
                "amb/other.xop",
                7,
                r#"deny "cap" when c.messages_7d >= 1"#,
            ),
            (
                "acme.other.contact#3",
                "amb/other.xop",
                8,
                r#"allow "fine""#,
            ),
        ],
        not_fired: &["on-hold", "vip-only"],
    },
];

fn project(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("amb/contact.xop", CONTACT);
    dir.write("amb/other.xop", OTHER);
    let o = xop(dir.path(), &["check", "amb"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    dir
}

#[test]
fn eval_action_lists_the_rules_that_fired_in_their_own_policy() {
    let dir = project("same-names-eval");
    for (n, case) in CASES.iter().enumerate() {
        let input = format!("in{n}.json");
        dir.write(&input, case.input);
        for engine in ["interp", "jit"] {
            let what = format!("case {n}, {engine}");
            let args = [
                "eval",
                "amb",
                "--action",
                "send_offer",
                "--input",
                &input,
                "--engine",
                engine,
            ];
            // Human: the verdict, then one line per fired rule, and nothing else fired.
            let out = ok(&xop(dir.path(), &args));
            let mut lines = out.lines();
            assert_eq!(lines.next(), Some(case.verdict), "{what}: {out}");
            let listed: Vec<&str> = lines.filter(|l| l.contains("fired")).collect();
            let expected: Vec<String> = (case.fired.iter())
                .map(|(id, file, line, text)| format!("  fired {id} at {file}:{line}: {text}"))
                .collect();
            assert_eq!(listed, expected, "{what}: {out}");
            for t in case.not_fired {
                assert!(!out.contains(t), "{what}: `{t}` did not fire: {out}");
            }

            // JSON: the same rules, with their file, line and text.
            let out = ok(&xop(
                dir.path(),
                &[&args[..], &["--format", "json"]].concat(),
            ));
            let v: Value = serde_json::from_str(&out).expect("JSON");
            let fired: Vec<(String, String, u64, String)> = (v["fired"].as_array())
                .expect("fired")
                .iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap_or("?").to_string(),
                        f["file"].as_str().unwrap_or("?").to_string(),
                        f["line"].as_u64().unwrap_or(0),
                        f["text"].as_str().unwrap_or("?").to_string(),
                    )
                })
                .collect();
            let expected: Vec<(String, String, u64, String)> = (case.fired.iter())
                .map(|(id, file, line, text)| {
                    (
                        id.to_string(),
                        file.to_string(),
                        u64::from(*line),
                        text.to_string(),
                    )
                })
                .collect();
            assert_eq!(fired, expected, "{what}: {out}");
            for t in case.not_fired {
                assert!(!out.contains(t), "{what}: `{t}` did not fire: {out}");
            }
        }
    }
}

#[test]
fn explain_shows_the_rules_that_fired_in_their_own_policy() {
    let dir = project("same-names-explain");
    for (n, case) in CASES.iter().enumerate() {
        let input = format!("in{n}.json");
        dir.write(&input, case.input);
        for engine in ["interp", "jit"] {
            let what = format!("case {n}, {engine}");
            let log = format!("log-{n}-{engine}");
            ok(&xop(
                dir.path(),
                &[
                    "eval",
                    "amb",
                    "--action",
                    "send_offer",
                    "--input",
                    &input,
                    "--engine",
                    engine,
                    "--log",
                    &log,
                ],
            ));
            let out = ok(&xop(dir.path(), &["explain", &log, "0"]));
            assert!(
                out.starts_with(&format!("record 0: {}\n", case.verdict)),
                "{what}: {out}"
            );
            // Each fired rule as a report: its id, verdict and reason, then its file and line.
            let reports: Vec<&str> = out.split("fired: rule ").skip(1).collect();
            assert_eq!(reports.len(), case.fired.len(), "{what}: {out}");
            for (report, (id, file, line, text)) in reports.iter().zip(case.fired) {
                let head = text.split(" when ").next().unwrap_or(text);
                assert!(
                    report.starts_with(&format!("{id} fired: {head}\n")),
                    "{what}: {id}: {report}"
                );
                assert!(
                    report.contains(&format!("[ {file}:{line}:3 ]")),
                    "{what}: {id}: {report}"
                );
                assert!(report.contains(text), "{what}: {id}: {report}");
                let decisive = if text.starts_with("deny") {
                    "decided the verdict"
                } else {
                    "fired, outweighed"
                };
                assert!(report.contains(decisive), "{what}: {id}: {report}");
            }
            for t in case.not_fired {
                assert!(!out.contains(t), "{what}: `{t}` did not fire: {out}");
            }
            assert!(!out.contains("note:"), "{what}: {out}");
            // The replay gives the same rules.
            let out = ok(&xop(dir.path(), &["log", "replay", &log]));
            assert!(out.contains("1 same"), "{what}: {out}");
        }
    }
}

/// Two decisions named `offers` in two modules: `--decision offers` is refused with both
/// qualified names, as `--policy contact` is; each qualified name ranks its own proposals.
#[test]
fn a_decision_name_two_modules_share_is_refused() {
    let dir = project("same-names-decision");
    for (file, module) in [("amb/d1.xop", "acme.d1"), ("amb/d2.xop", "acme.d2")] {
        dir.write(
            file,
            format!(
                "module {module}\n\nuse acme.contact.{{Customer, send_offer}}\n\n\
                 decision offers(c: Customer) {{\n  propose send_offer(to: c) rank by 1\n}}\n"
            ),
        );
    }
    dir.write(
        "in.json",
        r#"{"c": {"id": "c-1", "on_hold": false, "vip": true, "messages_7d": 0}}"#,
    );
    let o = xop(
        dir.path(),
        &["eval", "amb", "--decision", "offers", "--input", "in.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "the decision name `offers` could mean acme.d1.offers, acme.d2.offers: give its \
             qualified name"
        ),
        "{}",
        text(&o)
    );
    for name in ["acme.d1.offers", "acme.d2.offers"] {
        let o = xop(
            dir.path(),
            &["eval", "amb", "--decision", name, "--input", "in.json"],
        );
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
        assert!(!text(&o).contains("could mean"), "{}", text(&o));
    }
}
