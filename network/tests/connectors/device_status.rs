//! Device Roaming Status and Device Reachability Status 1.0.0: requests, the spec's answers as
//! `std.camara` values, and every error body they list.

use serde_json::json;
use xop_network::{CallError, Connectivity};
use xop_runtime::interp::Signals;
use xop_runtime::value::Value;

use crate::support::{Reply, Spec, Stub, path_only};
use crate::{customer, field, program, signal, variant};

const PHONE: &str = "+123456789";

#[test]
fn roaming_examples_become_roaming_status_values() {
    let spec = Spec::load("device-roaming-status.yaml");
    let examples = spec.success_examples("/retrieve", "post", "200");
    assert_eq!(examples.len(), 3);
    for (name, answer) in examples {
        assert!(
            spec.check_response("/retrieve", "post", "200", &answer)
                .is_empty()
        );
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let camara = stub.camara();
        let typed = camara.roaming_status(PHONE).result.unwrap();
        assert!(typed.roaming, "{name}");
        assert_eq!(typed.country_code, answer["countryCode"].as_i64(), "{name}");

        // Decided 30 s after the network observed it (within max_age 1m).
        let observed = crate::ms(answer["lastStatusTime"].as_str().unwrap());
        let s = signal("roaming");
        let signals = camara.signals(program(), observed + 30_000);
        let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
        assert_eq!(field(&v, "roaming"), Value::Bool(true), "{name}");
        assert_eq!(
            field(&v, "country_code"),
            Value::Int(answer["countryCode"].as_i64().unwrap())
        );
        let names: Vec<Value> = answer["countryName"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| Value::text(n.as_str().unwrap()))
            .collect();
        assert_eq!(
            field(&v, "country_name"),
            Value::List(names.into()),
            "{name}"
        );
        assert_eq!(
            field(&v, "last_status_time"),
            Value::Time(crate::ms("2024-02-20T10:41:38.657Z"))
        );

        let reqs = stub.api_requests();
        assert_eq!(reqs.len(), 2, "the typed call, then the signal's");
        for req in &reqs {
            assert_eq!(path_only(&req.path), "/device-roaming-status/v1/retrieve");
            // Also: the correlator fits this API's narrower pattern (letters, digits, `-`,
            // at most 55).
            let problems = spec.check_request("/retrieve", "POST", req, "token-1");
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(req.json(), json!({ "device": { "phoneNumber": PHONE } }));
        }
        let req = &reqs[1];
        let outcome = &signals.outcomes()[0];
        assert!(outcome.present);
        assert_eq!(
            outcome.fetch.calls.last().unwrap().correlator.as_deref(),
            req.header("x-correlator")
        );
    }
}

/// `max_age` bounds the age of what the network observed (`lastStatusTime`), not only the
/// cache's: a status older than it is absent, with the reason.
#[test]
fn a_status_older_than_max_age_is_absent() {
    let observed = "2026-11-22T10:00:00Z";
    let stub = Stub::start(move |_, _| {
        Reply::json(200, &json!({"roaming": false, "lastStatusTime": observed}))
    });
    let camara = stub.camara();
    // `roaming` is declared with max_age 1m.
    let s = signal("roaming");
    for (after_ms, present) in [
        (0, true),
        (60_000, true),
        (60_001, false),
        (3 * 86_400_000, false),
    ] {
        let signals = camara.signals(program(), crate::ms(observed) + after_ms);
        let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
        let outcome = &signals.outcomes()[0];
        assert_eq!(outcome.present, present, "{after_ms}: {outcome:?}");
        if present {
            assert_eq!(field(&v, "roaming"), Value::Bool(false));
        } else {
            assert_eq!(v, Value::Absent);
            let reason = outcome.fetch.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains("stale") && reason.contains("max_age 1m"),
                "{reason}"
            );
            assert_eq!(outcome.fetch.age_ms, u64::try_from(after_ms).ok());
        }
    }
}

/// The network cannot have observed a status after the decision time. Beyond the connectors'
/// allowance for clocks apart (5 minutes), a `lastStatusTime` after it is out of contract and
/// shows nothing about freshness: absent, with the reason, not fresh. Within it, fresh.
#[test]
fn a_status_time_after_the_decision_time_is_absent() {
    let now = crate::ms("2026-11-25T10:00:00Z");
    const SKEW: i64 = 5 * 60_000;
    const YEAR: i64 = 365 * 86_400_000;
    for (name, body) in [
        ("roaming", json!({"roaming": false})),
        (
            "reachability",
            json!({"reachable": true, "connectivity": ["DATA"]}),
        ),
    ] {
        for (ahead_ms, present) in [
            (0, true),
            (SKEW, true),
            (SKEW + 1, false),
            (30 * 86_400_000, false),
            (5 * YEAR, false),
        ] {
            let mut answer = body.clone();
            answer["lastStatusTime"] = json!(xop_runtime::proof::record::time_text(now + ahead_ms));
            let stub = Stub::start(move |_, _| Reply::json(200, &answer));
            let camara = stub.camara();
            let decl = &program().signals[signal(name) as usize];
            assert_eq!(decl.max_age_ms, Some(60_000));
            let signals = camara.signals(program(), now);
            let v = signals.read(signal(name), decl, &[customer(PHONE)]);
            let outcome = &signals.outcomes()[0];
            assert_eq!(outcome.present, present, "{name} +{ahead_ms}: {outcome:?}");
            if present {
                assert_ne!(v, Value::Absent, "{name} +{ahead_ms}");
            } else {
                assert_eq!(v, Value::Absent, "{name} +{ahead_ms}");
                let reason = outcome.fetch.reason.as_deref().unwrap_or_default();
                assert!(
                    reason.contains("out of contract")
                        && reason.contains("after the decision time"),
                    "{reason}"
                );
            }
        }
    }
}

/// The contracts: without `lastStatusTime` "the information may be outdated or its freshness
/// is uncertain". A signal declared with a `max_age` cannot be shown fresh: absent, with the
/// reason (a policy then fails closed); declared without one, the value is read.
#[test]
fn a_status_without_its_time_is_absent_under_max_age() {
    for (file, name, answer) in [
        (
            "device-roaming-status.yaml",
            "roaming",
            json!({"roaming": false}),
        ),
        (
            "device-reachability-status.yaml",
            "reachability",
            json!({"reachable": true, "connectivity": ["DATA"]}),
        ),
    ] {
        let spec = Spec::load(file);
        assert!(
            spec.check_response("/retrieve", "post", "200", &answer)
                .is_empty(),
            "{file}: the answer is within the contract"
        );
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let camara = stub.camara();
        // Both are declared with max_age 1m.
        let decl = &program().signals[signal(name) as usize];
        assert_eq!(decl.max_age_ms, Some(60_000));
        let signals = camara.signals(program(), crate::ms("2026-11-25T10:00:00Z"));
        let v = signals.read(signal(name), decl, &[customer(PHONE)]);
        assert_eq!(v, Value::Absent, "{name}");
        let outcome = &signals.outcomes()[0];
        assert!(!outcome.present);
        let reason = outcome.fetch.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("no lastStatusTime") && reason.contains("max_age 1m"),
            "{reason}"
        );
        // It says why, and what applies; no advice the compiler forbids (a signal without
        // max_age is C0008).
        assert!(
            reason.contains("the policy's handling of an absent signal applies"),
            "{reason}"
        );
        assert!(!reason.contains("without max_age"), "{reason}");
        // A value reused from the cache is held to the same rule.
        let v = signals.read(signal(name), decl, &[customer(PHONE)]);
        assert_eq!(v, Value::Absent, "{name}, reused");
        assert!(signals.outcomes()[1].fetch.cached);
        // Without max_age, nothing is claimed about freshness: the value is read.
        let mut unbounded = decl.clone();
        unbounded.max_age_ms = None;
        let v = signals.read(signal(name), &unbounded, &[customer(PHONE)]);
        assert_ne!(v, Value::Absent, "{name}");
        assert_eq!(field(&v, "last_status_time"), Value::Absent);
    }
}

#[test]
fn not_roaming_has_no_country() {
    let stub = Stub::start(|_, _| Reply::json(200, &json!({ "roaming": false })));
    let camara = stub.camara();
    let s = signal("roaming");
    // Without max_age: an answer without lastStatusTime is then read (see above).
    let mut decl = program().signals[s as usize].clone();
    decl.max_age_ms = None;
    let v = camara
        .signals(program(), 0)
        .read(s, &decl, &[customer(PHONE)]);
    assert_eq!(field(&v, "roaming"), Value::Bool(false));
    assert_eq!(field(&v, "country_code"), Value::Absent);
    assert_eq!(field(&v, "country_name"), Value::List(Vec::new().into()));
    assert_eq!(field(&v, "last_status_time"), Value::Absent);
}

#[test]
fn reachability_examples_become_reachability_status_values() {
    let spec = Spec::load("device-reachability-status.yaml");
    let examples = spec.success_examples("/retrieve", "post", "200");
    assert_eq!(examples.len(), 4);
    for (name, answer) in examples {
        assert!(
            spec.check_response("/retrieve", "post", "200", &answer)
                .is_empty()
        );
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let camara = stub.camara();
        let typed = camara.reachability_status(PHONE).result.unwrap();
        let expected: Vec<Connectivity> = answer["connectivity"]
            .as_array()
            .map(|xs| {
                xs.iter()
                    .map(|x| match x.as_str() {
                        Some("DATA") => Connectivity::Data,
                        _ => Connectivity::Sms,
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(typed.connectivity, expected, "{name}");

        // Decided 30 s after the network observed it (within max_age 1m).
        let observed = crate::ms(answer["lastStatusTime"].as_str().unwrap());
        let s = signal("reachability");
        let v = camara.signals(program(), observed + 30_000).read(
            s,
            &program().signals[s as usize],
            &[customer(PHONE)],
        );
        assert_eq!(
            field(&v, "reachable"),
            Value::Bool(answer["reachable"].as_bool().unwrap())
        );
        let Value::List(conn) = field(&v, "connectivity") else {
            panic!("{name}: not a list");
        };
        let names: Vec<String> = conn.iter().map(variant).collect();
        let wanted: Vec<&str> = expected
            .iter()
            .map(|c| match c {
                Connectivity::Data => "connected_data",
                Connectivity::Sms => "connected_sms",
            })
            .collect();
        assert_eq!(names, wanted, "{name}");
        let req = &stub.api_requests()[0];
        assert_eq!(
            path_only(&req.path),
            "/device-reachability-status/v1/retrieve"
        );
        let problems = spec.check_request("/retrieve", "POST", req, "token-1");
        assert!(problems.is_empty(), "{problems:?}");
    }
}

#[test]
fn every_listed_error_body() {
    for file in [
        "device-roaming-status.yaml",
        "device-reachability-status.yaml",
    ] {
        let spec = Spec::load(file);
        let errors = spec.error_examples("/retrieve", "post");
        assert!(errors.iter().any(|(s, _)| *s == 503), "{file} lists 503");
        for (status, body) in errors {
            let answer = body.clone();
            let stub = Stub::start(move |_, _| Reply::json(status, &answer));
            let camara = stub.camara();
            let result = if file.starts_with("device-roaming") {
                camara.roaming_status(PHONE).result.map(|_| ())
            } else {
                camara.reachability_status(PHONE).result.map(|_| ())
            };
            let expected = CallError::Api {
                status,
                code: body["code"].as_str().unwrap().into(),
                message: body["message"].as_str().unwrap().into(),
            };
            assert_eq!(result, Err(expected), "{file} {status}");
            // Reads are retried on 429 TOO_MANY_REQUESTS and 503 (three attempts), not on the
            // others: QUOTA_EXCEEDED is a business quota a retry would only use up.
            let attempts = stub.api_requests().len();
            let retried = (status == 429 && body["code"] == "TOO_MANY_REQUESTS") || status == 503;
            assert_eq!(attempts, if retried { 3 } else { 1 }, "{file} {status}");
        }
    }
}

#[test]
fn an_unknown_connectivity_is_out_of_contract() {
    let stub = Stub::start(|_, _| {
        Reply::json(
            200,
            &json!({ "reachable": true, "connectivity": ["VOICE"] }),
        )
    });
    let camara = stub.camara();
    assert!(matches!(
        camara.reachability_status(PHONE).result,
        Err(CallError::BadResponse(_))
    ));
    let s = signal("reachability");
    let signals = camara.signals(program(), 0);
    let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
    assert_eq!(v, Value::Absent);
    let reason = signals.outcomes()[0].fetch.reason.clone().unwrap();
    assert!(reason.contains("connectivity `VOICE`"), "{reason}");
}
