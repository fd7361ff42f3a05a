//! Device Roaming Status and Device Reachability Status 1.0.0: requests, the spec's answers as
//! `std.camara` values, and every error body they list.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;
use xop_network::{CallError, Connectivity};
use xop_runtime::interp::Signals;
use xop_runtime::proof::record::time_text;
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
        // Decided, and answered, 30 s after the network observed it (within max_age 1m).
        let observed = crate::ms(answer["lastStatusTime"].as_str().unwrap());
        let camara = stub.camara_at(observed + 30_000);
        let typed = camara.roaming_status(PHONE).result.unwrap();
        assert!(typed.roaming, "{name}");
        assert_eq!(typed.country_code, answer["countryCode"].as_i64(), "{name}");

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
    // `roaming` is declared with max_age 1m.
    let s = signal("roaming");
    for (after_ms, present) in [
        (0, true),
        (60_000, true),
        (60_001, false),
        (3 * 86_400_000, false),
    ] {
        // Decided when the answer came.
        let now = crate::ms(observed) + after_ms;
        let camara = stub.camara_at(now);
        let signals = camara.signals(program(), now);
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
            let camara = stub.camara_at(now);
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
        // Not cached (a failure: "freshness unknown"): the next read asks again.
        let v = signals.read(signal(name), decl, &[customer(PHONE)]);
        assert_eq!(v, Value::Absent, "{name}, again");
        assert!(!signals.outcomes()[1].fetch.cached);
        assert_eq!(stub.api_requests().len(), 2, "{name}: asked again");
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

        // Decided 30 s after the network observed it (within max_age 1m), answered then.
        let observed = crate::ms(answer["lastStatusTime"].as_str().unwrap());
        let s = signal("reachability");
        let camara = stub.camara_at(observed + 30_000);
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

const DAY: i64 = 86_400_000;

/// The decision time is the caller's to give; the connectors also judge `lastStatusTime` at
/// their own clock, when the answer came. A decision time set back cannot make a status the
/// network observed 3 days ago fresh (and `age_ms` says 3 days, not a minute), one set ahead
/// cannot hide a status from the connectors' future, and one ahead is stale as before. The
/// later of the two times is what a status may be no older than, the earlier what it may be no
/// later than (beyond 5 minutes for clocks apart).
#[test]
fn the_decision_time_cannot_make_an_old_status_fresh() {
    let wall = crate::ms("2026-11-27T20:00:00Z");
    let decl = &program().signals[signal("roaming") as usize];
    assert_eq!(decl.max_age_ms, Some(60_000));
    for (observed, now, expected) in [
        // Observed 3 days ago; the caller says it is 3 days ago plus 30 s.
        (
            wall - 3 * DAY,
            wall - 3 * DAY + 30_000,
            Err((
                "stale: the network observed it 3d ago (lastStatusTime 2026-11-24T20:00:00.000Z) \
                 by the connectors' clock 2026-11-27T20:00:00.000Z when the answer came (the \
                 decision time 2026-11-24T20:00:30.000Z is earlier), more than max_age 1m",
                Some(3 * DAY),
            )),
        ),
        // Observed now, decided 3 days back: after the decision time.
        (
            wall,
            wall - 3 * DAY,
            Err((
                "out of contract: lastStatusTime 2026-11-27T20:00:00.000Z is after the decision \
                 time 2026-11-24T20:00:00.000Z (more than the 5m allowed for clocks apart), so \
                 it cannot be shown to be within max_age 1m",
                None,
            )),
        ),
        // Decided a day ahead: stale then.
        (
            wall - 10_000,
            wall + DAY,
            Err((
                "stale: the network observed it 1d10s ago (lastStatusTime \
                 2026-11-27T19:59:50.000Z), more than max_age 1m",
                Some(DAY + 10_000),
            )),
        ),
        // Observed a day after the connectors' clock, decided then too.
        (
            wall + DAY,
            wall + DAY,
            Err((
                "out of contract: lastStatusTime 2026-11-28T20:00:00.000Z is after the \
                 connectors' clock 2026-11-27T20:00:00.000Z when the answer came (more than the \
                 5m allowed for clocks apart; the decision time is 2026-11-28T20:00:00.000Z), \
                 so it cannot be shown to be within max_age 1m",
                None,
            )),
        ),
        // 50 s old when the answer came, decided 20 s before: fresh, 50 s old.
        (wall - 50_000, wall - 20_000, Ok(50_000)),
        // 70 s old when the answer came, though 50 s at the decision time: stale.
        (
            wall - 70_000,
            wall - 20_000,
            Err((
                "stale: the network observed it 1m10s ago (lastStatusTime \
                 2026-11-27T19:58:50.000Z) by the connectors' clock 2026-11-27T20:00:00.000Z \
                 when the answer came (the decision time 2026-11-27T19:59:40.000Z is earlier), \
                 more than max_age 1m",
                Some(70_000),
            )),
        ),
        // Decided just before the answer came, observed just after the decision time: now.
        (wall - 100, wall - 1_000, Ok(100)),
        (wall + 1_000, wall, Ok(0)),
    ] {
        let answer = json!({"roaming": false, "lastStatusTime": time_text(observed)});
        let stub = Stub::start(move |_, _| Reply::json(200, &answer));
        let camara = stub.camara_at(wall);
        let signals = camara.signals(program(), now);
        let v = signals.read(signal("roaming"), decl, &[customer(PHONE)]);
        let outcome = &signals.outcomes()[0];
        match expected {
            Ok(age) => {
                assert!(outcome.present, "{observed} {now}: {outcome:?}");
                assert_eq!(field(&v, "roaming"), Value::Bool(false));
                assert_eq!(outcome.fetch.age_ms, Some(age), "{observed} {now}");
            }
            Err((reason, age)) => {
                assert_eq!(v, Value::Absent, "{observed} {now}");
                assert_eq!(
                    outcome.fetch.reason.as_deref(),
                    Some(format!("std.camara.device_roaming: {reason}").as_str())
                );
                assert_eq!(
                    outcome.fetch.age_ms,
                    Some(age.map_or(0, |a: i64| u64::try_from(a).unwrap())),
                    "{observed} {now}"
                );
            }
        }
    }
}

/// What is judged absent is a failure, and failures are not cached: a stale status, or one out
/// of contract, is asked for again by the next read, which reads what the network says then. A
/// value that was fresh when cached but is stale by now (at the connectors' clock) is not used
/// either: it is asked for again.
#[test]
fn a_status_judged_absent_is_not_cached() {
    let wall = crate::ms("2026-11-27T20:00:00Z");
    let decl = &program().signals[signal("roaming") as usize];
    for first in [
        json!(time_text(wall - 3 * DAY)),
        json!(time_text(wall + DAY)),
        json!(null),
    ] {
        let stub = Stub::start(move |_, n| {
            let observed = if n == 0 {
                first.clone()
            } else {
                json!(time_text(wall - 10_000))
            };
            Reply::json(200, &json!({"roaming": true, "lastStatusTime": observed}))
        });
        let camara = stub.camara_at(wall);
        let read = || {
            let signals = camara.signals(program(), wall);
            let v = signals.read(signal("roaming"), decl, &[customer(PHONE)]);
            (v, signals.into_outcomes().remove(0))
        };
        let (v, o) = read();
        assert_eq!(v, Value::Absent);
        assert!(o.fetch.reason.is_some());
        // Asked again: the network's new answer is read, fetched, not reused.
        let (v, o) = read();
        assert_eq!(field(&v, "roaming"), Value::Bool(true), "{o:?}");
        assert!(!o.fetch.cached);
        assert_eq!(stub.api_requests().len(), 2);
        // That one is cached.
        let (_, o) = read();
        assert!(o.present && o.fetch.cached, "{o:?}");
        assert_eq!(stub.api_requests().len(), 2);
    }

    // Stale for a signal with max_age 1m (90 s old): not cached, so a signal of the same source
    // with max_age 5m asks the network itself rather than reusing it.
    let stub = Stub::start(move |_, _| {
        Reply::json(
            200,
            &json!({"roaming": false, "lastStatusTime": time_text(wall - 90_000)}),
        )
    });
    let camara = stub.camara_at(wall);
    let mut patient = decl.clone();
    patient.max_age_ms = Some(300_000);
    for (d, present) in [(decl, false), (&patient, true)] {
        let signals = camara.signals(program(), wall);
        signals.read(signal("roaming"), d, &[customer(PHONE)]);
        let o = signals.into_outcomes().remove(0);
        assert_eq!(o.present, present, "{o:?}");
        assert!(!o.fetch.cached, "{o:?}");
    }
    assert_eq!(stub.api_requests().len(), 2);

    // Fresh when cached (30 s old), stale 40 s later by the connectors' clock, although the
    // cache's own age is within max_age: asked again.
    let clock = Arc::new(AtomicI64::new(wall));
    let stub = Stub::start(move |_, n| {
        let observed = if n == 0 { wall - 30_000 } else { wall + 35_000 };
        Reply::json(
            200,
            &json!({"roaming": false, "lastStatusTime": time_text(observed)}),
        )
    });
    let c = clock.clone();
    let camara = stub.camara_on(Arc::new(move || c.load(Ordering::SeqCst)));
    let read = |now| {
        let signals = camara.signals(program(), now);
        let v = signals.read(signal("roaming"), decl, &[customer(PHONE)]);
        (v, signals.into_outcomes().remove(0))
    };
    let (_, o) = read(wall);
    assert!(o.present && !o.fetch.cached && o.fetch.age_ms == Some(30_000));
    clock.store(wall + 40_000, Ordering::SeqCst);
    let (_, o) = read(wall + 40_000);
    assert!(o.present, "{o:?}");
    assert!(!o.fetch.cached, "{o:?}");
    assert_eq!(o.fetch.age_ms, Some(5_000));
    assert_eq!(stub.api_requests().len(), 2);
}

/// `std.camara`: "A device that is not connected has `reachable == false` and an empty
/// `connectivity`". An answer saying unreachable but connected contradicts itself: out of
/// contract, so the signal is absent with the reason, never a data connection on an
/// unreachable device.
#[test]
fn unreachable_but_connected_is_out_of_contract() {
    for connectivity in [json!(["DATA"]), json!(["SMS"]), json!(["DATA", "SMS"])] {
        let answer = json!({
            "reachable": false,
            "connectivity": connectivity,
            "lastStatusTime": "2026-11-27T19:59:50Z",
        });
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let camara = stub.camara_at(crate::ms("2026-11-27T20:00:00Z"));
        match camara.reachability_status(PHONE).result {
            Err(CallError::BadResponse(m)) => {
                assert!(
                    m.contains("reachable is false but connectivity lists"),
                    "{m}"
                );
            }
            other => panic!("{answer}: {other:?}"),
        }
        let s = signal("reachability");
        let signals = camara.signals(program(), crate::ms("2026-11-27T20:00:00Z"));
        let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
        assert_eq!(v, Value::Absent);
        let reason = signals.outcomes()[0].fetch.reason.clone().unwrap();
        assert!(
            reason.starts_with(
                "std.camara.device_reachability: device-reachability-status \
                 getReachabilityStatus: answer out of contract: reachable is false but \
                 connectivity lists "
            ),
            "{reason}"
        );
    }
    // Unreachable without connectivity, or with an empty one, is the contract's own example.
    for answer in [
        json!({"reachable": false, "lastStatusTime": "2026-11-27T19:59:50Z"}),
        json!({"reachable": false, "connectivity": [], "lastStatusTime": "2026-11-27T19:59:50Z"}),
    ] {
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let r = stub.camara().reachability_status(PHONE).result.unwrap();
        assert!(!r.reachable && r.connectivity.is_empty(), "{answer}");
    }
}

/// An answer over 1 MiB is out of contract whatever its status: refused once, never retried
/// (a repeat would only fetch it again), and the status is named, an error status as such.
#[test]
fn an_answer_over_1_mib_is_refused_once_naming_its_status() {
    let big = format!(
        "{{\"roaming\": false, \"pad\": \"{}\"}}",
        "x".repeat(2_000_000)
    );
    for (status, why) in [
        (200, "status 200: the body is larger than 1048576 bytes"),
        (
            400,
            "status 400 (an error answer) with a body larger than 1048576 bytes, not read",
        ),
        (
            503,
            "status 503 (an error answer) with a body larger than 1048576 bytes, not read",
        ),
    ] {
        let body = big.clone();
        let stub = Stub::start(move |_, _| Reply::raw(status, &body));
        let x = stub.camara().roaming_status(PHONE);
        assert_eq!(
            x.result,
            Err(CallError::BadResponse(why.into())),
            "{status}"
        );
        assert_eq!(stub.api_requests().len(), 1, "{status}: not retried");
        let call = x.calls.last().unwrap();
        assert_eq!((call.status, call.attempt), (Some(status), 1));
        assert_eq!(
            call.error.as_deref(),
            Some(format!("answer out of contract: {why}").as_str())
        );
    }
}
