//! The runtime API and the proof log together: decisions proven under concurrency, evidence,
//! review cases, replay, inclusion proofs, erasure, crash safety (a crash image taken under
//! load, and a real `kill -9` of a writer process), atomic module swaps.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use xop_runtime::engine::{Engine, Input, Options, ReviewCase, ReviewSink, Runtime};
use xop_runtime::ir::{
    CmpOp, Expr, Field, Param, Policy, Program, Quantifier, RecordType, Review, Rule, SignalDecl,
    SourceRef, Symbol, SymbolKind, Type, Verdict,
};
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::evidence::keyed_hash;
use xop_runtime::proof::record::{Body, DecisionRecord, time_text};
use xop_runtime::proof::replay::{CrossCheck, Replayed, load_module, replay};
use xop_runtime::proof::verify::{LogReader, verify_log};
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::value::Value;

fn rule(n: usize, verdict: Verdict, reason: &str, condition: Option<Expr>) -> Rule {
    Rule {
        id: format!("contact#{n}"),
        verdict,
        reason: Some(reason.into()),
        condition,
        review: (verdict == Verdict::Review).then(|| Review {
            role: "acme.fraud_desk".into(),
            within_ms: 900_000,
            fallback: Verdict::Deny,
            also: Vec::new(),
        }),
        source: SourceRef {
            file: "acme.xop".into(),
            line: n as u32 + 2,
            column: 3,
            text: format!("{} \"{reason}\" …", verdict.keyword()),
        },
    }
}

fn field(name: &str, ty: Type, personal: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        personal,
    }
}

/// A customer policy: a frequency cap (threshold `cap`), consent by channel (a quantifier),
/// a review when a SIM-swap signal (whose connector reads the personal `msisdn`) says so.
fn program(cap: i64) -> Program {
    let to = || Box::new(Expr::Slot(0));
    Program {
        records: vec![
            RecordType {
                name: "acme.Customer".into(),
                fields: vec![
                    field("id", Type::Id, false),
                    field("tz", Type::Tz, false),
                    field("messages_7d", Type::Int, false),
                    field("msisdn", Type::Text, true),
                    field("nickname", Type::Optional(Box::new(Type::Text)), false),
                    field("consents", Type::List(Box::new(Type::Record(1))), false),
                ],
            },
            RecordType {
                name: "acme.Consent".into(),
                fields: vec![
                    field("purpose", Type::Symbol(SymbolKind::Purpose), false),
                    field("channel", Type::Symbol(SymbolKind::Channel), false),
                ],
            },
        ],
        enums: vec![],
        symbols: vec![
            Symbol {
                kind: SymbolKind::Channel,
                name: "sms".into(),
                qualified: "std.channel.sms".into(),
            },
            Symbol {
                kind: SymbolKind::Channel,
                name: "email".into(),
                qualified: "std.channel.email".into(),
            },
            Symbol {
                kind: SymbolKind::Purpose,
                name: "marketing".into(),
                qualified: "acme.marketing".into(),
            },
        ],
        signals: vec![SignalDecl {
            name: "acme.sim_swap".into(),
            params: vec![Param {
                name: "c".into(),
                ty: Type::Record(0),
            }],
            ty: Type::Bool,
            source: "camara.sim_swap".into(),
            source_args: vec![Expr::Field(Box::new(Expr::Slot(0)), 3)],
            max_age_ms: None,
        }],
        policies: vec![Policy {
            name: "contact".into(),
            qualified: "acme.contact".into(),
            action: "acme.send_offer".into(),
            params: vec![
                Param {
                    name: "to".into(),
                    ty: Type::Record(0),
                },
                Param {
                    name: "channel".into(),
                    ty: Type::Symbol(SymbolKind::Channel),
                },
            ],
            now_slot: None,
            slots: 3,
            rules: vec![
                rule(
                    1,
                    Verdict::Deny,
                    "frequency-cap",
                    Some(Expr::Cmp(
                        CmpOp::Ge,
                        Box::new(Expr::Field(to(), 2)),
                        Box::new(Expr::Const(Value::Int(cap))),
                    )),
                ),
                rule(
                    2,
                    Verdict::Deny,
                    "no-consent",
                    Some(Expr::Not(Box::new(Expr::Quantify {
                        quantifier: Quantifier::Any,
                        list: Box::new(Expr::Field(to(), 5)),
                        slot: 2,
                        body: Some(Box::new(Expr::Cmp(
                            CmpOp::Eq,
                            Box::new(Expr::Field(Box::new(Expr::Slot(2)), 1)),
                            Box::new(Expr::Slot(1)),
                        ))),
                    }))),
                ),
                rule(
                    3,
                    Verdict::Review,
                    "sim-swap",
                    Some(Expr::Default(
                        Box::new(Expr::Signal(0, vec![Expr::Slot(0)])),
                        Box::new(Expr::Const(Value::Bool(false))),
                    )),
                ),
                rule(4, Verdict::Allow, "eligible", None),
            ],
        }],
        ..Program::default()
    }
}

fn module_bytes(cap: i64) -> Vec<u8> {
    Module {
        program: program(cap),
        source_hash: hash_sources([("acme.xop", &b"module acme"[..])]),
        sources: vec!["acme.xop".into()],
    }
    .to_bytes(None)
}

fn input(id: &str, messages: i64, channel: &str, swap: Option<bool>) -> String {
    serde_json::json!({
        "to": {
            "id": id,
            "tz": "Europe/Paris",
            "messages_7d": messages,
            "msisdn": "+33612345678",
            "nickname": "Bob",
            "consents": [
                {"purpose": "marketing", "channel": "email"},
                {"purpose": "marketing", "channel": "sms"}
            ]
        },
        "channel": channel,
        "now": "2026-11-25T10:00:00Z",
        "signals": {"sim_swap": swap},
    })
    .to_string()
}

fn config() -> LogConfig {
    LogConfig {
        origin: Some("test.xop/log".into()),
        ..LogConfig::default()
    }
}

fn runtime(dir: &Path) -> Runtime {
    let rt = Runtime::with_log(ProofLog::open(dir, config()).unwrap());
    rt.load_bytes("acme", &module_bytes(3), None).unwrap();
    rt
}

fn decision(dir: &Path, seq: u64) -> DecisionRecord {
    let mut r = LogReader::open(dir).unwrap();
    match r.record(seq).unwrap().body {
        Body::Decision(d) => d,
        other => panic!("record {seq} is not a decision: {other:?}"),
    }
}

fn assert_verifies(dir: &Path) {
    let key = LogReader::open(dir).unwrap().folder_key().unwrap();
    let report = verify_log(dir, &key).unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[test]
fn concurrent_decisions_are_proven_and_the_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let rt = Arc::clone(&rt);
            std::thread::spawn(move || {
                (0..150)
                    .map(|i| {
                        let o = rt
                            .decide(
                                "contact",
                                Input::Json(&input(&format!("c-{t}"), i % 5, "sms", None)),
                            )
                            .unwrap();
                        let want = if i % 5 >= 3 {
                            Verdict::Deny
                        } else {
                            Verdict::Allow
                        };
                        assert_eq!(o.verdict, want);
                        o.seq.unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1200).collect::<Vec<u64>>());
    assert_eq!(rt.log().unwrap().size(), 1200);
    Arc::try_unwrap(rt).unwrap().close().unwrap();
    assert_verifies(dir.path());
    let reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.size(), 1200);
    assert_eq!(reader.origin(), "test.xop/log");
}

#[test]
fn evidence_holds_what_the_rules_read_and_hashes_personal_values() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let o = rt
        .decide(
            "contact",
            Input::Json(&input("cust-1", 1, "sms", Some(false))),
        )
        .unwrap();
    assert_eq!(o.verdict, Verdict::Allow);
    let seq = o.seq.unwrap();
    rt.close().unwrap();
    let d = decision(dir.path(), seq);
    let paths: Vec<&str> = d.evidence.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channel",
            "to.consents",
            "to.consents[0].channel",
            "to.consents[1].channel",
            "to.messages_7d",
            "to.msisdn",
        ],
        "{:#?}",
        d.evidence
    );
    // Read by the signal's connector only; personal, so hashed with the subject's key.
    let msisdn = d.evidence.iter().find(|e| e.path == "to.msisdn").unwrap();
    assert_eq!(msisdn.via.as_deref(), Some("acme.sim_swap"));
    assert!(msisdn.value.is_none());
    let key_id = msisdn.key.clone().unwrap();
    let raw = std::fs::read(dir.path().join("log.xpl")).unwrap();
    assert!(
        !raw.windows(12).any(|w| w == b"+33612345678"),
        "the personal value is in the log in clear"
    );
    // The hash is the HMAC of the value's JSON text under the subject's key.
    let log = ProofLog::open(dir.path(), config()).unwrap();
    let key = subject_key(dir.path(), &key_id).expect("the subject key exists");
    assert_eq!(
        msisdn.hmac.as_deref(),
        Some(keyed_hash(&key, b"\"+33612345678\"").as_str())
    );
    drop(log);
    // Fields no rule reads (tz, nickname, id, purposes) are not in the record.
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("tz") || p.contains("nickname"))
    );
    assert_eq!(d.signals.len(), 1);
    assert_eq!(d.signals[0].signal, "acme.sim_swap");
    assert_eq!(d.signals[0].value, serde_json::json!(false));
    assert_eq!(d.at, "2026-11-25T10:00:00.000Z");
}

/// The key with this id, read from the key file (80-byte slots: id, subject hash, key).
fn subject_key(dir: &Path, id: &str) -> Option<[u8; 32]> {
    let bytes = std::fs::read(dir.join("subjects.keys")).unwrap();
    bytes[8..].chunks_exact(80).find_map(|s| {
        (xop_runtime::module::hex(&s[..16]) == id).then(|| s[48..].try_into().unwrap())
    })
}

struct Cases(std::sync::Mutex<Vec<ReviewCase>>);

impl ReviewSink for Cases {
    fn open_case(&self, case: &ReviewCase) -> Result<String, String> {
        let mut cases = self.0.lock().unwrap();
        cases.push(case.clone());
        Ok(format!("case-{}", case.seq.unwrap()))
    }
}

#[test]
fn a_review_verdict_opens_a_case_after_its_record_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sink = Arc::new(Cases(std::sync::Mutex::new(Vec::new())));
    struct Shared(Arc<Cases>);
    impl ReviewSink for Shared {
        fn open_case(&self, case: &ReviewCase) -> Result<String, String> {
            self.0.open_case(case)
        }
    }
    rt.set_review_sink(Some(Box::new(Shared(Arc::clone(&sink)))));
    let o = rt
        .decide(
            "contact",
            Input::Json(&input("cust-1", 0, "sms", Some(true))),
        )
        .unwrap();
    assert_eq!(o.verdict, Verdict::Review);
    let seq = o.seq.unwrap();
    assert_eq!(o.case.as_deref(), Some(format!("case-{seq}").as_str()));
    let terms = o.review.clone().unwrap();
    assert_eq!(terms.role, "acme.fraud_desk");
    assert_eq!(terms.deadline, "2026-11-25T10:15:00.000Z");
    assert_eq!(
        rt.log().unwrap().size(),
        seq + 1,
        "the record is durable first"
    );
    let cases = sink.0.lock().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].action, "acme.send_offer");
    assert_eq!(cases[0].reasons, ["sim-swap"]);
    assert!(cases[0].evidence.iter().any(|e| e.path == "to.msisdn"));
    // An allowed decision opens no case.
    let o = rt
        .decide("contact", Input::Json(&input("cust-1", 0, "sms", None)))
        .unwrap();
    assert_eq!((o.verdict, o.case), (Verdict::Allow, None));
}

#[test]
fn replay_gives_the_logged_decisions_and_catches_another_module() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let inputs = [
        input("a", 0, "sms", None),
        input("b", 5, "sms", None),
        input("c", 0, "push", None),
        input("d", 0, "email", Some(true)),
        r#"{"to": 1}"#.to_string(),
    ];
    let mut outcomes = Vec::new();
    for i in &inputs {
        outcomes.push(rt.decide("contact", Input::Json(i)).unwrap());
    }
    rt.close().unwrap();
    let verdicts: Vec<Verdict> = outcomes.iter().map(|o| o.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Allow,
            Verdict::Deny,
            Verdict::Deny,
            Verdict::Review,
            Verdict::Deny
        ]
    );
    let mut reader = LogReader::open(dir.path()).unwrap();
    let module = load_module(dir.path(), &outcomes[0].module).unwrap();
    let other = program(0);
    for o in &outcomes {
        let Body::Decision(d) = reader.record(o.seq.unwrap()).unwrap().body else {
            panic!("not a decision");
        };
        let again = replay(&module.module.program, &d);
        if d.reasons == ["xop:bad-input"] {
            assert!(matches!(again, Replayed::Skipped(_)), "{again:?}");
            refused_input_forgeries_differ(&module.module.program, &d);
            // The refusal names the path and kind only, never the value.
            let error = d.error.unwrap();
            assert!(
                ["channel: unknown-enum-value", "to: wrong-type"].contains(&error.as_str()),
                "{error}"
            );
            continue;
        }
        assert_eq!(again, Replayed::Same, "record {}", o.seq.unwrap());
        // Against a module whose cap is 0, the allowed one is denied: replay says so.
        if d.verdict == Verdict::Allow {
            assert!(matches!(replay(&other, &d), Replayed::Different(_)));
        }
    }
}

/// A refused input is not re-decided (its values were never bound), so replay checks that its
/// record is what the runtime writes for one: a key holder's forgery of any of its parts is
/// a difference, named.
fn refused_input_forgeries_differ(program: &Program, refused: &DecisionRecord) {
    let forged = |f: &dyn Fn(&mut DecisionRecord)| {
        let mut d = refused.clone();
        f(&mut d);
        match replay(program, &d) {
            Replayed::Different(diffs) => diffs.join("; "),
            other => panic!("a forged refusal replayed as {other:?}: {d:?}"),
        }
    };
    let why = forged(&|d| d.verdict = Verdict::Allow);
    assert!(
        why.contains("verdict allow logged, where refused input is always deny"),
        "{why}"
    );
    assert!(forged(&|d| d.verdict = Verdict::Review).contains("verdict review"));
    let why = forged(&|d| d.reasons.push("ok".into()));
    assert!(why.contains("reasons [xop:bad-input, ok]"), "{why}");
    let why = forged(&|d| d.fired.push("contact#1".into()));
    assert!(why.contains("fired [contact#1]"), "{why}");
    let why = forged(&|d| {
        d.review = Some(xop_runtime::proof::record::ReviewTerms {
            role: "r".into(),
            within_ms: 1,
            fallback: Verdict::Allow,
            deadline: time_text(1),
            also: Vec::new(),
        })
    });
    assert!(why.contains("a review logged"), "{why}");
    assert!(forged(&|d| d.error = None).contains("no error logged"));
    // Its policy must be one the module has, though nothing else of it can be re-derived.
    let why = forged(&|d| d.policy = "acme.elsewhere".into());
    assert!(
        why.contains("the module has no policy `acme.elsewhere`"),
        "{why}"
    );
    // Given evidence, the record is re-decided: the rules do not refuse what they read.
    let why = forged(&|d| {
        d.evidence = decision_evidence_of_an_allow();
    });
    assert!(why.contains("reasons"), "{why}");
}

/// A decision rewritten as a well-formed refusal (by a holder of log.key) cannot be re-decided,
/// but the events that follow from its real verdict still name it: a review's outcome (a case
/// is opened only for `review`), the halt's fallback, an action performed (only after `allow`).
/// The cross-check names both records; a genuine log has no mismatch.
#[test]
fn events_naming_a_refusal_are_caught_by_the_cross_check() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let review = rt
        .decide("contact", Input::Json(&input("d", 0, "email", Some(true))))
        .unwrap();
    let refused = rt.decide("contact", Input::Json(r#"{"to": 1}"#)).unwrap();
    let allowed = rt
        .decide("contact", Input::Json(&input("a", 0, "sms", None)))
        .unwrap();
    assert_eq!(
        (review.verdict, refused.verdict, allowed.verdict),
        (Verdict::Review, Verdict::Deny, Verdict::Allow)
    );
    let log = rt.log().unwrap();
    let (r, a) = (review.seq.unwrap(), allowed.seq.unwrap());
    // One role of a case of several approved, before the case fell back.
    let approval = log
        .append_event(
            "review.approval",
            serde_json::json!({"case": format!("rv-{r}"), "record": r, "roles": ["desk"],
                               "waiting": ["lead"], "by": "ana"}),
        )
        .unwrap();
    let fallback = log
        .append_event(
            "review.fallback",
            serde_json::json!({"case": format!("rv-{r}"), "record": r, "verdict": "deny",
                               "by": "deadline"}),
        )
        .unwrap();
    let performed = log
        .append_event(
            "action.performed",
            serde_json::json!({"decision": a, "action": "acme.send_offer", "ok": true}),
        )
        .unwrap();
    rt.close().unwrap();
    let mut reader = LogReader::open(dir.path()).unwrap();
    let records: Vec<Body> = (0..reader.size())
        .map(|seq| reader.record(seq).unwrap().body)
        .collect();
    let check = |rewrite: &dyn Fn(u64, DecisionRecord) -> DecisionRecord| {
        let mut cross = CrossCheck::default();
        for (seq, body) in records.iter().enumerate() {
            match body {
                Body::Decision(d) => cross.decision(seq as u64, &rewrite(seq as u64, d.clone())),
                Body::Event { name, data } => cross.event(seq as u64, name, data),
                _ => {}
            }
        }
        cross.mismatches()
    };
    assert_eq!(check(&|_, d| d), [], "a genuine log");
    let Body::Decision(refusal) = &records[refused.seq.unwrap() as usize] else {
        panic!("not a decision");
    };
    // Both the review and the allowed decision rewritten into the refusal's form.
    let found = check(&|seq, d| {
        if seq == r || seq == a {
            let mut f = refusal.clone();
            f.at = d.at;
            f
        } else {
            d
        }
    });
    assert_eq!(
        found
            .iter()
            .map(|m| (m.event, m.decision))
            .collect::<Vec<_>>(),
        [(approval, r), (fallback, r), (performed, a)]
    );
    assert!(
        found[0].message.contains(&format!(
            "`review.approval` names record {r}, which is a refusal"
        )),
        "{}",
        found[0].message
    );
    assert!(
        found[1].message.contains(&format!(
            "`review.fallback` names record {r}, which is a refusal"
        )) && found[1]
            .message
            .contains("opened only for a `review` verdict"),
        "{}",
        found[1].message
    );
    assert!(
        found[2]
            .message
            .contains("nothing is performed on a refusal")
    );
}

/// The evidence of an input the policy allows (`a` of the replay test).
fn decision_evidence_of_an_allow() -> Vec<xop_runtime::proof::record::Evidence> {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let o = rt
        .decide("contact", Input::Json(&input("a", 0, "sms", None)))
        .unwrap();
    assert_eq!(o.verdict, Verdict::Allow);
    rt.close().unwrap();
    decision(dir.path(), o.seq.unwrap()).evidence
}

#[test]
fn inclusion_proofs_verify_and_fail_when_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    for i in 0..37 {
        rt.decide("contact", Input::Json(&input("p", i % 4, "sms", None)))
            .unwrap();
    }
    let key = rt.log().unwrap().verifying_key();
    rt.close().unwrap();
    let mut reader = LogReader::open(dir.path()).unwrap();
    for seq in [0, 1, 17, 36] {
        let proof = reader.prove(seq).unwrap();
        let cp = proof.verify(&key).unwrap();
        assert_eq!(cp.size, 37);
        let mut bad = proof.clone();
        bad.record = bad.record.replacen("\"seq\":", "\"seq\": ", 1);
        assert!(bad.verify(&key).is_err());
        let mut bad = proof.clone();
        bad.seq = (seq + 1) % 37;
        assert!(bad.verify(&key).is_err());
        let mut bad = proof.clone();
        bad.path[0] = "00".repeat(32);
        assert!(bad.verify(&key).is_err());
        let mut bad = proof.clone();
        bad.checkpoint = bad.checkpoint.replacen("\n37\n", "\n38\n", 1);
        assert!(bad.verify(&key).is_err());
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert!(proof.verify(&other).is_err());
    }
    // Past the end there is no record to wait for, as `show` says it.
    let e = reader.prove(37).unwrap_err().to_string();
    assert_eq!(e, "no record 37: the log has 37 records (0 to 36)");
}

#[test]
fn erasure_unlinks_personal_evidence_and_keeps_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let a = rt
        .decide("contact", Input::Json(&input("cust-a", 0, "sms", None)))
        .unwrap();
    let b = rt
        .decide("contact", Input::Json(&input("cust-b", 0, "sms", None)))
        .unwrap();
    let root_before = LogReader::open(dir.path()).unwrap().size();
    let key_of = |seq| {
        decision(dir.path(), seq)
            .evidence
            .iter()
            .find(|e| e.path == "to.msisdn")
            .and_then(|e| e.key.clone())
            .unwrap()
    };
    let (ka, kb) = (key_of(a.seq.unwrap()), key_of(b.seq.unwrap()));
    assert_ne!(ka, kb, "each subject has its own key");
    let erased = rt.log().unwrap().erase_subject("cust-a").unwrap();
    assert!(erased.is_some());
    assert_eq!(rt.log().unwrap().erase_subject("nobody").unwrap(), None);
    rt.close().unwrap();
    assert_verifies(dir.path());
    assert_eq!(subject_key(dir.path(), &ka), None, "the key is gone");
    assert!(subject_key(dir.path(), &kb).is_some(), "others keep theirs");
    // The decision records are unchanged (same bytes); an erasure record was added.
    let mut reader = LogReader::open(dir.path()).unwrap();
    assert_eq!(reader.size(), root_before + 1);
    match reader.record(erased.unwrap()).unwrap().body {
        Body::Erasure { key } => assert_eq!(key, ka),
        other => panic!("{other:?}"),
    }
    // A new decision about the erased subject gets a new key.
    let rt = runtime(dir.path());
    let c = rt
        .decide("contact", Input::Json(&input("cust-a", 0, "sms", None)))
        .unwrap();
    rt.close().unwrap();
    assert_ne!(key_of(c.seq.unwrap()), ka);
}

#[test]
fn modules_swap_atomically_while_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime(dir.path()));
    let (v1, v2) = (module_bytes(3), module_bytes(0));
    let h1 = xop_runtime::module::hex(&xop_runtime::module::content_hash(&v1));
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (rt, stop, v1, v2) = (Arc::clone(&rt), Arc::clone(&stop), v1, v2.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let bytes = if n % 2 == 0 { &v2 } else { &v1 };
                rt.load_bytes("acme", bytes, None).unwrap();
                n += 1;
            }
            n
        })
    };
    let mut seen = HashSet::new();
    for _ in 0..400 {
        let o = rt
            .decide("contact", Input::Json(&input("s", 1, "sms", None)))
            .unwrap();
        // Each decision is wholly the old module's or wholly the new one's.
        let want = if o.module == h1 {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        assert_eq!(o.verdict, want);
        seen.insert(o.module);
    }
    stop.store(true, Ordering::Relaxed);
    assert!(swapper.join().unwrap() > 0);
    assert_eq!(rt.modules().modules.len(), 1);
    // Both modules are kept in the log folder, for replay.
    for h in &seen {
        load_module(dir.path(), h).unwrap();
    }
    // A module defining a loaded policy under another name is refused.
    let e = rt.load_bytes("other", &v2, None).unwrap_err();
    assert!(
        e.to_string().contains("already defined by module `acme`"),
        "{e}"
    );
}

#[test]
fn a_crash_image_taken_under_load_has_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (rt, stop, acked) = (Arc::clone(&rt), Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let o = rt
                        .decide("contact", Input::Json(&input("x", 1, "sms", None)))
                        .unwrap();
                    acked.lock().unwrap().push(o.seq.unwrap());
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // What is on disk now (as a crash would leave it): copied while the writer goes on.
    let before: Vec<u64> = acked.lock().unwrap().clone();
    let image = tempfile::tempdir().unwrap();
    for f in ["log.xpl", "subjects.keys", "log.key", "log.pub"] {
        std::fs::copy(dir.path().join(f), image.path().join(f)).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(before.len() > 10, "too few decisions: {}", before.len());
    let log = ProofLog::open(image.path(), config()).unwrap();
    let size = log.size();
    for seq in &before {
        assert!(
            *seq < size,
            "acknowledged record {seq} lost (the image has {size})"
        );
    }
    log.close().unwrap();
    assert_verifies(image.path());
}

/// The child of [`kill_9_under_load_loses_no_acknowledged_record`]: decides in a loop and
/// prints each acknowledged sequence number. Does nothing unless run as that child.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("XOP_CRASH_CHILD_DIR") else {
        return;
    };
    let rt = Arc::new(runtime(Path::new(&dir)));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (rt, out) = (Arc::clone(&rt), Arc::clone(&out));
            std::thread::spawn(move || {
                loop {
                    let o = rt
                        .decide_with(
                            "contact",
                            Input::Json(&input(&format!("k{t}"), 1, "sms", None)),
                            Options::default(),
                        )
                        .unwrap();
                    let mut out = out.lock().unwrap();
                    let _ = writeln!(out, "ack {}", o.seq.unwrap());
                    let _ = out.flush();
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_record() {
    if std::env::var("XOP_CRASH_CHILD_DIR").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("XOP_CRASH_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            acked.push(n.parse::<u64>().unwrap());
            if acked.len() >= 3000 {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no final checkpoint, a batch possibly half written.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked.len() >= 3000, "the child stopped early");
    let log = ProofLog::open(dir.path(), config()).unwrap();
    let size = log.size();
    let max = *acked.iter().max().unwrap();
    assert!(
        max < size,
        "acknowledged record {max} lost: the log has {size}"
    );
    log.close().unwrap();
    assert_verifies(dir.path());
    // Every acknowledged record is readable and is a decision.
    let mut reader = LogReader::open(dir.path()).unwrap();
    for seq in acked.iter().step_by(97) {
        assert!(matches!(
            reader.record(*seq).unwrap().body,
            Body::Decision(_)
        ));
    }
}

#[test]
fn a_damaged_log_is_an_error_with_a_location_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    for i in 0..20 {
        rt.decide("contact", Input::Json(&input("z", i % 4, "sms", None)))
            .unwrap();
    }
    rt.close().unwrap();
    let key = LogReader::open(dir.path()).unwrap().folder_key().unwrap();
    let original = std::fs::read(dir.path().join("log.xpl")).unwrap();
    // Every kind of damage, at many places: verify reports it (never panics); open either
    // recovers or refuses with an error.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % original.len() as u64) as usize;
        let mut bytes = original.clone();
        match state % 3 {
            0 => bytes[at] ^= 1 << (state % 8),
            1 => bytes.truncate(at),
            _ => {
                bytes.drain(at..(at + 7).min(original.len()));
            }
        }
        let copy = tempfile::tempdir().unwrap();
        std::fs::write(copy.path().join("log.xpl"), &bytes).unwrap();
        std::fs::copy(dir.path().join("log.key"), copy.path().join("log.key")).unwrap();
        let report = verify_log(copy.path(), &key);
        // A log cut right after a signed checkpoint is a valid shorter log: only a copy of a
        // later checkpoint kept elsewhere (a witness) shows the cut.
        if let (Ok(r), false) = (&report, state % 3 == 1) {
            assert!(!r.problems.is_empty(), "damage at byte {at} went unnoticed");
        }
        let _ = LogReader::open(copy.path()).map(|mut r| {
            for s in 0..r.size() {
                let _ = r.record(s);
            }
        });
        let _ = ProofLog::open(copy.path(), config()).map(|l| l.close());
    }
}

/// [`program`] plus `plain`: the same rules without the SIM-swap review. `plain` reads no
/// signal, so the JIT compiles it; `contact` reads one, so it stays on the interpreter.
fn two_engine_module(cap: i64) -> Vec<u8> {
    program_bytes(two_engine_program(cap))
}

/// [`program`] and a copy of its policy without the signal rule, `plain`.
fn two_engine_program(cap: i64) -> Program {
    let mut p = program(cap);
    let mut plain = p.policies[0].clone();
    plain.name = "plain".into();
    plain.qualified = "acme.plain".into();
    plain.action = "acme.send_plain".into();
    plain.rules.remove(2);
    p.policies.push(plain);
    p
}

fn program_bytes(p: Program) -> Vec<u8> {
    Module {
        program: p,
        source_hash: hash_sources([("acme.xop", &b"module acme"[..])]),
        sources: vec!["acme.xop".into()],
    }
    .to_bytes(None)
}

/// A record's bytes from `"kind"` on: everything but its sequence number and write time.
fn record_after_time(dir: &Path, seq: u64) -> String {
    let bytes =
        String::from_utf8(LogReader::open(dir).unwrap().record_bytes(seq).unwrap()).unwrap();
    let at = bytes.find(",\"kind\":").expect("a record has a kind");
    assert!(bytes[..at].starts_with(&format!("{{\"seq\":{seq},\"time\":\"")));
    bytes[at..].to_string()
}

/// The inputs both engine tests decide: allowed, capped, without consent, on each channel,
/// with absent optionals, and refused (ill-typed, unknown channel, missing field).
fn engine_inputs() -> Vec<String> {
    let mut inputs = Vec::new();
    for messages in [0, 2, 3, 7, i64::MAX] {
        for channel in ["sms", "email"] {
            inputs.push(input(
                &format!("c-{messages}"),
                messages,
                channel,
                Some(false),
            ));
        }
    }
    let mut no_consent: serde_json::Value =
        serde_json::from_str(&input("n", 0, "sms", None)).unwrap();
    no_consent["to"]["consents"] = serde_json::json!([]);
    no_consent["to"]["nickname"] = serde_json::Value::Null;
    inputs.push(no_consent.to_string());
    let mut one: serde_json::Value = serde_json::from_str(&input("o", 1, "email", None)).unwrap();
    one["to"]["consents"] = serde_json::json!([{"purpose": "marketing", "channel": "sms"}]);
    inputs.push(one.to_string());
    inputs.push(input("s", 0, "sms", Some(true)));
    inputs.push(r#"{"to": 1, "channel": "sms"}"#.into());
    inputs.push(input("p", 0, "push", None));
    inputs.push(r#"{"channel": "sms", "now": "2026-11-25T10:00:00Z"}"#.into());
    inputs
}

/// Two runtimes logging into `jit_dir` and `interp_dir`, the ACME module of both engines
/// loaded into each, one deciding on the JIT (required to compile `policy`) and the other on
/// the interpreter only.
fn two_runtimes(jit_dir: &Path, interp_dir: &Path, policy: &str) -> (Runtime, Runtime) {
    let jit = Runtime::with_log(ProofLog::open(jit_dir, config()).unwrap());
    let interp = Runtime::with_log(ProofLog::open(interp_dir, config()).unwrap());
    interp.set_jit(false);
    jit.load_bytes("acme", &two_engine_module(3), None).unwrap();
    interp
        .load_bytes("acme", &two_engine_module(3), None)
        .unwrap();
    for (rt, engine) in [(&jit, Engine::Jit), (&interp, Engine::Interpreter)] {
        let set = rt.modules();
        let (m, index) = set.policy(policy).unwrap();
        assert_eq!(m.engine(index), engine, "{:?}", m.jit_unsupported(index));
    }
    (jit, interp)
}

#[test]
fn the_jit_and_the_interpreter_give_the_same_decisions_and_records() {
    let (jit_dir, interp_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (jit, interp) = two_runtimes(jit_dir.path(), interp_dir.path(), "plain");
    let inputs = engine_inputs();
    let mut verdicts = Vec::new();
    for (i, text) in inputs.iter().enumerate() {
        let mut a = jit.decide("plain", Input::Json(text)).unwrap();
        let b = interp.decide("plain", Input::Json(text)).unwrap();
        assert_eq!(a.seq, Some(i as u64));
        let (mut ra, rb) = (
            record_after_time(jit_dir.path(), i as u64),
            record_after_time(interp_dir.path(), i as u64),
        );
        // A refused input has no decision time of its own: it is the clock's, read by each
        // runtime in turn (the only other field allowed to differ).
        if a.reasons == ["xop:bad-input"] {
            ra = ra.replacen(&time_text(a.at_ms), &time_text(b.at_ms), 1);
            a.at_ms = b.at_ms;
        }
        assert_eq!(a, b, "input {i}: {text}");
        verdicts.push(a.verdict);
        // The proof records are the same bytes apart from the sequence number and time.
        assert_eq!(ra, rb, "input {i}: {text}");
    }
    // The comparison covered every verdict and refusal, and the JIT made the well-typed
    // decisions (a refused input is denied before any engine runs).
    for v in [Verdict::Allow, Verdict::Deny] {
        assert!(verdicts.contains(&v), "{verdicts:?}");
    }
    let refused = 3;
    assert_eq!(jit.jit_decisions(), (inputs.len() - refused) as u64);
    assert_eq!(interp.jit_decisions(), 0);
    jit.close().unwrap();
    interp.close().unwrap();
    assert_verifies(jit_dir.path());

    // Replaying the JIT's records on the interpreter gives their verdicts.
    let mut reader = LogReader::open(jit_dir.path()).unwrap();
    let mut replayed = 0;
    for seq in 0..reader.size() {
        let Body::Decision(d) = reader.record(seq).unwrap().body else {
            panic!("not a decision");
        };
        let module = load_module(jit_dir.path(), &d.module).unwrap();
        match replay(&module.module.program, &d) {
            Replayed::Same => replayed += 1,
            Replayed::Skipped(_) => assert_eq!(d.reasons, ["xop:bad-input"]),
            Replayed::Different(why) => panic!("record {seq}: {why:?}"),
        }
    }
    assert_eq!(replayed, inputs.len() - refused);
}

#[test]
fn a_policy_reading_a_signal_is_decided_by_the_jit_with_the_interpreters_record() {
    let (jit_dir, interp_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (jit, interp) = two_runtimes(jit_dir.path(), interp_dir.path(), "contact");
    let mut inputs = engine_inputs();
    // The signal true, false, absent (null, and not given at all).
    inputs.push(input("t", 0, "sms", Some(true)));
    inputs.push(input("f", 0, "email", Some(false)));
    inputs.push(input("n", 0, "sms", None));
    let mut given: serde_json::Value = serde_json::from_str(&input("g", 0, "sms", None)).unwrap();
    given.as_object_mut().unwrap().remove("signals");
    inputs.push(given.to_string());
    let mut read = 0;
    for (i, text) in inputs.iter().enumerate() {
        let a = jit.decide("contact", Input::Json(text)).unwrap();
        let b = interp.decide("contact", Input::Json(text)).unwrap();
        if a.reasons == ["xop:bad-input"] {
            // Refused before any engine runs (and timed by each runtime's clock).
            assert_eq!(a.reasons, b.reasons);
            continue;
        }
        assert_eq!(a, b, "input {i}: {text}");
        let (ra, rb) = (
            record_after_time(jit_dir.path(), i as u64),
            record_after_time(interp_dir.path(), i as u64),
        );
        // The same bytes, the signal reads included (personal values are hashed with each
        // log's own keys).
        assert_eq!(unsalted(&ra), unsalted(&rb), "input {i}: {text}");
        read += usize::from(ra.contains("\"signals\":[{\"signal\":\"acme.sim_swap\""));
    }
    assert!(read >= 3, "only {read} records show a signal read");
    assert_eq!(jit.jit_decisions() as usize, inputs.len() - 3);
    jit.close().unwrap();
    interp.close().unwrap();
    assert_verifies(jit_dir.path());
}

/// `record` with the values of its `hmac` and `key` fields blanked.
fn unsalted(record: &str) -> String {
    let mut out = String::with_capacity(record.len());
    let mut rest = record;
    while let Some(at) = ["\"hmac\":\"", "\"key\":\""]
        .iter()
        .filter_map(|f| rest.find(f).map(|i| i + f.len()))
        .min()
    {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find('"').unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn a_policy_the_jit_cannot_compile_is_decided_by_the_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::with_log(ProofLog::open(dir.path(), config()).unwrap());
    // A rule that never fires (`not ({…} is present)`) over a record literal, which the JIT
    // does not compile (only tests can write one in source).
    let mut p = two_engine_program(3);
    let n = p.policies[0].rules.len();
    let arity = p.records[0].fields.len();
    let record = Expr::Record(0, vec![Expr::Const(Value::Absent); arity]);
    p.policies[0].rules.push(rule(
        n + 1,
        Verdict::Deny,
        "never",
        Some(Expr::Not(Box::new(Expr::IsPresent(Box::new(record))))),
    ));
    rt.load_bytes("acme", &program_bytes(p), None).unwrap();
    let set = rt.modules();
    let (m, index) = set.policy("contact").unwrap();
    assert_eq!(m.engine(index), Engine::Interpreter);
    let why = m.jit_unsupported(index).unwrap();
    assert!(why.contains("builds a record"), "{why}");
    drop(set);
    // The signal is read (and logged) through the interpreter: a review, then an allow.
    let o = rt
        .decide("contact", Input::Json(&input("s", 0, "sms", Some(true))))
        .unwrap();
    assert_eq!(
        (o.verdict, o.reasons.as_slice()),
        (Verdict::Review, &["sim-swap".to_string()][..])
    );
    assert!(
        record_after_time(dir.path(), 0)
            .contains("\"signals\":[{\"signal\":\"acme.sim_swap\",\"value\":true}]")
    );
    let o = rt
        .decide("contact", Input::Json(&input("s", 0, "sms", Some(false))))
        .unwrap();
    assert_eq!(o.verdict, Verdict::Allow);
    assert_eq!(rt.jit_decisions(), 0);
    // The compiled policy of the same module still runs compiled.
    rt.decide("plain", Input::Json(&input("s", 0, "sms", None)))
        .unwrap();
    assert_eq!(rt.jit_decisions(), 1);
    rt.close().unwrap();
    assert_verifies(dir.path());
}

#[test]
fn evidence_written_as_json_is_the_encoding_of_the_evidence_items() {
    use xop_runtime::proof::evidence::{ReadSet, extract, extract_json};
    let dir = tempfile::tempdir().unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    let mut p = program(3);
    // Rules that also read text values (the id, the optional nickname), so that escaping and
    // absent values are compared too.
    let to = || Box::new(Expr::Slot(0));
    p.policies[0].rules.push(rule(
        5,
        Verdict::Deny,
        "odd",
        Some(Expr::And(
            Box::new(Expr::Cmp(
                CmpOp::Eq,
                Box::new(Expr::Field(to(), 0)),
                Box::new(Expr::Const(Value::Id("x".into()))),
            )),
            Box::new(Expr::IsPresent(Box::new(Expr::Field(to(), 4)))),
        )),
    ));
    let policy = &p.policies[0];
    let set = ReadSet::of_policy(&p, policy);
    let mut inputs = engine_inputs();
    // Text that JSON must escape, in a value the rules read whole.
    let mut odd: serde_json::Value =
        serde_json::from_str(&input("q\"\\\u{1}é", 1, "sms", None)).unwrap();
    odd["to"]["nickname"] = serde_json::json!("line\nbreak \"quoted\" \u{7f}");
    inputs.push(odd.to_string());
    let mut compared = 0;
    for text in &inputs {
        let Ok(b) = xop_runtime::bind::bind_json(&p, 0, text) else {
            continue;
        };
        for subject in ["", "someone"] {
            let items = extract(&p, policy, &set, &b.args, subject, &log).unwrap();
            assert!(
                items.iter().any(|e| e.hmac.is_some()),
                "a personal value is hashed"
            );
            assert!(
                items.iter().any(|e| e.len.is_some()),
                "a list length is read"
            );
            assert!(
                items.iter().any(|e| e.via.is_some()),
                "a connector's read is marked"
            );
            assert!(items.iter().any(|e| e.path == "to.nickname"), "{items:?}");
            let mut json = Vec::new();
            extract_json(&p, policy, &set, &b.args, subject, &log, &mut json).unwrap();
            assert_eq!(
                String::from_utf8(json).unwrap(),
                serde_json::to_string(&items).unwrap(),
                "{text}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "{compared}");
}
