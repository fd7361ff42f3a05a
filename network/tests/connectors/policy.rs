//! The connectors as the interpreter's signal source, end to end: a compiled policy reads
//! `sim_swap(c)`, declared `from camara.sim_swap(c.msisdn, 24h) max_age 5m`; the interpreter
//! asks the connectors when a rule needs it; the answer (or its absence, and why) decides.

use std::time::Duration;

use serde_json::json;
use xop_network::Camara;
use xop_runtime::interp::Signals;
use xop_runtime::ir::Verdict;
use xop_runtime::value::Value;

use crate::support::{ManualClock, Reply, Spec, Stub, path_only};
use crate::{customer, field, program, signal, variant};

const PHONE: &str = "+33612345678";
const NOW: &str = "2026-11-25T10:00:00Z";

/// A SIM Swap stand-in whose latest swap is at `latest` (RFC 3339; `None`: not disclosed),
/// answering `/check` as a network would at [`NOW`].
fn sim_swap_stub(latest: Option<&'static str>) -> Stub {
    Stub::start(move |r, _| match path_only(&r.path) {
        "/sim-swap/v2/check" => {
            let hours = r.json()["maxAge"].as_i64().unwrap_or(0);
            let start = crate::ms(NOW) - hours * 3_600_000;
            let swapped = latest.is_some_and(|t| crate::ms(t) >= start);
            Reply::json(200, &json!({ "swapped": swapped }))
        }
        "/sim-swap/v2/retrieve-date" => Reply::json(200, &json!({ "latestSimChange": latest })),
        _ => Reply::raw(404, ""),
    })
}

/// A SIM Swap stand-in whose two answers are given as they are.
fn answers_stub(check: serde_json::Value, date: serde_json::Value) -> Stub {
    Stub::start(move |r, _| match path_only(&r.path) {
        "/sim-swap/v2/check" => Reply::json(200, &check),
        "/sim-swap/v2/retrieve-date" => Reply::json(200, &date),
        _ => Reply::raw(404, ""),
    })
}

/// `/check` says swapped, `/retrieve-date` dates the change outside the window or vouches
/// that there was none: the two answers disagree, the value is absent, and the policy fails
/// closed (review) instead of reading "no recent swap" from the date. The answers that agree
/// are read as before.
#[test]
fn answers_that_disagree_are_absent_and_fail_closed() {
    for (check, date) in [
        (
            json!({"swapped": true}),
            json!({"latestSimChange": "2025-10-21T09:00:00Z"}),
        ),
        // Before the window's start by less than the clock skew allowed the other way: still
        // a disagreement, or the policy would read "no recent swap" from the date.
        (
            json!({"swapped": true}),
            json!({"latestSimChange": "2026-11-24T09:57:00Z"}),
        ),
        (
            json!({"swapped": true}),
            json!({"latestSimChange": "2026-11-24T09:59:59Z"}),
        ),
        (
            json!({"swapped": true}),
            json!({"latestSimChange": null, "monitoredPeriod": 120}),
        ),
        (
            json!({"swapped": false}),
            json!({"latestSimChange": "2026-11-25T09:00:00Z"}),
        ),
    ] {
        let stub = answers_stub(check.clone(), date.clone());
        let (decision, outcomes) = block_payment(&stub.camara());
        assert_eq!(
            decision.verdict,
            Verdict::Review,
            "{check} {date}: {decision:?}"
        );
        assert!(!outcomes[0].present, "{check} {date}");
        let reason = outcomes[0].fetch.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("the network's answers disagree"),
            "{reason}"
        );
    }
    // Agreeing answers: a swap inside the window (also right at its start), none with a date
    // just after its start (within the clock skew, which is allowed only where it errs
    // towards a swap) or before it, an undisclosed date with a short monitored period.
    for (check, date, verdict) in [
        (
            json!({"swapped": true}),
            json!({"latestSimChange": "2026-11-25T08:00:00Z"}),
            Verdict::Review,
        ),
        (
            json!({"swapped": true}),
            json!({"latestSimChange": "2026-11-24T10:00:00Z"}),
            Verdict::Review,
        ),
        (
            json!({"swapped": false}),
            json!({"latestSimChange": "2026-11-24T10:03:00Z"}),
            // The policy reads the date, which is inside its 24 h.
            Verdict::Review,
        ),
        (
            json!({"swapped": false}),
            json!({"latestSimChange": "2026-11-24T09:57:00Z"}),
            Verdict::Deny,
        ),
        (
            json!({"swapped": true}),
            json!({"latestSimChange": null, "monitoredPeriod": 0}),
            Verdict::Review,
        ),
    ] {
        let stub = answers_stub(check.clone(), date.clone());
        let (decision, outcomes) = block_payment(&stub.camara());
        assert!(outcomes[0].present, "{check} {date}: {:?}", outcomes[0]);
        assert_eq!(decision.verdict, verdict, "{check} {date}");
    }
}

/// Answers that disagree make the read absent: a failure, and failures are not cached. The
/// next decision asks again and reads what the network answers then (here, consistently: a
/// swap long ago), instead of holding the payment again on the old answers.
#[test]
fn answers_that_disagree_are_not_cached() {
    let stub = Stub::start(|r, n| match path_only(&r.path) {
        "/sim-swap/v2/check" => Reply::json(200, &json!({"swapped": false})),
        "/sim-swap/v2/retrieve-date" => {
            let latest = if n == 0 {
                "2026-11-25T08:00:00Z"
            } else {
                "2025-10-21T09:00:00Z"
            };
            Reply::json(200, &json!({ "latestSimChange": latest }))
        }
        _ => Reply::raw(404, ""),
    });
    let camara = stub.camara();
    let (decision, first) = block_payment(&camara);
    assert_eq!(decision.verdict, Verdict::Review);
    assert!(!first[0].present);
    assert!(
        first[0]
            .fetch
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("the network's answers disagree")
    );
    let (decision, second) = block_payment(&camara);
    assert_eq!(stub.api_requests().len(), 4, "asked again");
    assert!(second[0].present && !second[0].fetch.cached, "{second:?}");
    assert_eq!(decision.verdict, Verdict::Deny);
    assert_eq!(decision.reasons, ["no-recent-sim-swap"]);
    // Answers that agree are reused within max_age.
    let (_, third) = block_payment(&camara);
    assert!(third[0].present && third[0].fetch.cached);
    assert_eq!(stub.api_requests().len(), 4);
}

fn block_payment(
    camara: &Camara,
) -> (
    xop_runtime::interp::Decision,
    Vec<xop_network::SignalOutcome>,
) {
    camara.decide_action(
        program(),
        "acme.net.block_payment",
        &[customer(PHONE)],
        crate::ms(NOW),
    )
}

#[test]
fn a_recent_swap_sends_the_payment_to_review() {
    let stub = sim_swap_stub(Some("2026-11-25T09:00:00Z"));
    let camara = stub.camara();
    let (decision, outcomes) = block_payment(&camara);
    assert_eq!(decision.verdict, Verdict::Review, "{decision:?}");
    assert_eq!(decision.reasons, ["recent-sim-swap"]);
    // One read (the interpreter memoises the two uses), two calls, both recorded with the
    // correlators the server saw.
    assert_eq!(outcomes.len(), 1);
    let o = &outcomes[0];
    assert_eq!(
        (o.present, o.fetch.cached, o.fetch.reason.as_deref()),
        (true, false, None)
    );
    assert_eq!(o.fetch.source, "std.camara.sim_swap");
    let api = sim_swap_calls(o);
    let sent = stub.api_requests();
    assert_eq!(api.len(), 2);
    for (call, req) in api.iter().zip(&sent) {
        assert_eq!(call.correlator.as_deref(), req.header("x-correlator"));
        assert_eq!(call.echoed_correlator, call.correlator);
    }
    // The window of the source, 24h, is maxAge 24 (hours).
    assert_eq!(
        sent[0].json(),
        json!({ "phoneNumber": PHONE, "maxAge": 24 })
    );
    let spec = Spec::load("sim-swap.yaml");
    assert!(
        spec.check_request("/check", "POST", &sent[0], "token-1")
            .is_empty()
    );
}

#[test]
fn an_old_swap_lets_the_payment_through_the_fraud_check() {
    let stub = sim_swap_stub(Some("2026-10-01T09:00:00Z"));
    let (decision, outcomes) = block_payment(&stub.camara());
    assert_eq!(decision.verdict, Verdict::Deny, "{decision:?}");
    assert_eq!(decision.reasons, ["no-recent-sim-swap"]);
    assert!(outcomes[0].present);
}

#[test]
fn the_value_read_is_the_std_camara_record() {
    let stub = Stub::start(|r, _| match path_only(&r.path) {
        "/sim-swap/v2/check" => Reply::json(200, &json!({ "swapped": false })),
        _ => Reply::json(
            200,
            &json!({ "latestSimChange": null, "monitoredPeriod": 120 }),
        ),
    });
    let camara = stub.camara();
    let s = signal("sim_swap");
    let v =
        camara
            .signals(program(), 0)
            .read(s, &program().signals[s as usize], &[customer(PHONE)]);
    assert_eq!(field(&v, "swapped"), Value::Bool(false));
    assert_eq!(field(&v, "latest_swap"), Value::Absent);
    assert_eq!(
        field(&v, "monitored_period"),
        Value::Duration(120 * 86_400_000),
        "monitoredPeriod days as a Duration"
    );
    // monitoredPeriod 120 days rules out a swap in the last 24h: the fraud check passes.
    let (decision, _) = block_payment(&camara);
    assert_eq!(decision.verdict, Verdict::Deny);
    assert_eq!(decision.reasons, ["no-recent-sim-swap"]);
}

#[test]
fn network_down_applies_the_policys_absent_handling() {
    // Nothing listens on the port: every attempt fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = format!("http://127.0.0.1:{port}");
    let mut config =
        xop_network::CamaraConfig::with_root(&root, &format!("{root}/token"), "x", "y").unwrap();
    config.backoff = Duration::from_millis(5);
    let (decision, outcomes) = block_payment(&Camara::new(config));
    // `sim_swap(c) is absent` sends it to a person: fail closed, never an allow.
    assert_eq!(decision.verdict, Verdict::Review, "{decision:?}");
    assert_eq!(decision.reasons, ["recent-sim-swap"]);
    let o = &outcomes[0];
    assert!(!o.present);
    let reason = o.fetch.reason.as_deref().unwrap();
    assert!(reason.starts_with("std.camara.sim_swap: "), "{reason}");
    assert!(reason.contains("connection"), "{reason}");
    assert_eq!(
        o.fetch.calls.len(),
        3,
        "bounded: max_attempts token requests"
    );
}

#[test]
fn a_timeout_makes_the_signal_absent_and_says_so() {
    let stub = Stub::start(|_, _| {
        Reply::json(200, &json!({ "swapped": true })).delayed(Duration::from_millis(300))
    });
    let mut config = stub.config();
    config.timeout = Duration::from_millis(80);
    let (decision, outcomes) = block_payment(&Camara::new(config));
    assert_eq!(decision.verdict, Verdict::Review);
    let o = &outcomes[0];
    assert!(!o.present);
    assert_eq!(
        o.fetch.reason.as_deref(),
        Some("std.camara.sim_swap: sim-swap checkSimSwap: timed out (after 3 attempts)")
    );
    let api = sim_swap_calls(o);
    assert_eq!(api.len(), 3);
    assert!(
        api.iter()
            .all(|c| c.correlator == api[0].correlator && c.status.is_none())
    );
}

#[test]
fn an_error_answer_makes_the_signal_absent_with_its_code() {
    let spec = Spec::load("sim-swap.yaml");
    let (status, body) = spec
        .error_examples("/check", "post")
        .into_iter()
        .find(|(_, b)| b["code"] == "OUT_OF_RANGE")
        .unwrap();
    let answer = body.clone();
    let stub = Stub::start(move |_, _| Reply::json(status, &answer));
    let (decision, outcomes) = block_payment(&stub.camara());
    assert_eq!(decision.verdict, Verdict::Review);
    let o = &outcomes[0];
    assert_eq!(
        o.fetch.reason.as_deref(),
        Some(
            "std.camara.sim_swap: sim-swap checkSimSwap: 400 OUT_OF_RANGE: Client specified an invalid range."
        )
    );
    let call = o.fetch.calls.iter().find(|c| c.api == "sim-swap").unwrap();
    assert_eq!(call.error_code.as_deref(), Some("OUT_OF_RANGE"));
    // /retrieve-date was not asked: the value is absent already.
    assert_eq!(stub.api_requests().len(), 1);
}

#[test]
fn malformed_json_makes_the_signal_absent() {
    let stub = Stub::start(|_, _| Reply::raw(200, "{\"swapped\": tru"));
    let (decision, outcomes) = block_payment(&stub.camara());
    assert_eq!(decision.verdict, Verdict::Review);
    let reason = outcomes[0].fetch.reason.as_deref().unwrap();
    assert!(reason.contains("answer out of contract"), "{reason}");
}

#[test]
fn values_are_reused_within_max_age_then_fetched_again() {
    let clock = ManualClock::new();
    let stub = sim_swap_stub(Some("2026-11-25T09:00:00Z"));
    let camara = Camara::with_clock(stub.config(), clock.clock());

    let (_, first) = block_payment(&camara);
    assert_eq!(stub.api_requests().len(), 2);
    // A second decision four minutes later: the same value, no call.
    clock.advance(Duration::from_secs(4 * 60));
    let (decision, second) = block_payment(&camara);
    assert_eq!(decision.verdict, Verdict::Review);
    assert_eq!(stub.api_requests().len(), 2);
    let o = &second[0];
    assert!(o.present && o.fetch.cached);
    assert_eq!(o.fetch.age_ms, Some(240_000));
    // The proof still names the calls the value came from.
    assert_eq!(o.fetch.calls, first[0].fetch.calls);

    // Another phone number is another value.
    let other = camara.decide_action(
        program(),
        "acme.net.block_payment",
        &[customer("+33699999999")],
        crate::ms(NOW),
    );
    assert!(!other.1[0].fetch.cached);
    assert_eq!(stub.api_requests().len(), 4);

    // Past max_age (5m), it is fetched again.
    clock.advance(Duration::from_secs(61 + 1));
    let (_, third) = block_payment(&camara);
    assert!(!third[0].fetch.cached);
    assert_eq!(stub.api_requests().len(), 6);
}

#[test]
fn failures_are_not_cached() {
    // The first /check is refused, the next ones answered.
    let stub = Stub::start(|r, n| {
        if !path_only(&r.path).ends_with("/check") {
            Reply::json(200, &json!({ "latestSimChange": "2020-01-01T00:00:00Z" }))
        } else if n == 0 {
            Reply::json(
                403,
                &json!({ "status": 403, "code": "PERMISSION_DENIED", "message": "no" }),
            )
        } else {
            Reply::json(200, &json!({ "swapped": false }))
        }
    });
    let camara = stub.camara();
    let (_, first) = block_payment(&camara);
    assert!(!first[0].present);
    let (decision, second) = block_payment(&camara);
    assert!(second[0].present && !second[0].fetch.cached);
    assert_eq!(decision.reasons, ["no-recent-sim-swap"]);
}

#[test]
fn the_qos_session_signal() {
    let spec = Spec::load("quality-on-demand.yaml");
    let available = spec.example("SESSION_AVAILABLE_EXAMPLE");
    let stub = Stub::start(move |_, _| Reply::json(200, &available));
    // Within the example session's hour (it expires at 13:00).
    let camara = stub.camara_at(crate::ms("2024-06-01T12:30:00Z"));
    let s = signal("session");
    let id = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let signals = camara.signals(program(), 0);
    let v = signals.read(s, &program().signals[s as usize], &[Value::text(id)]);
    assert_eq!(field(&v, "session_id"), Value::text(id));
    assert_eq!(field(&v, "qos_profile"), Value::text("QOS_L"));
    assert_eq!(field(&v, "duration"), Value::Duration(3_600_000));
    assert_eq!(variant(&field(&v, "status")), "available");
    assert_eq!(field(&v, "status_info"), Value::Absent);
    assert_eq!(
        field(&v, "expires_at"),
        Value::Time(crate::ms("2024-06-01T13:00:00Z"))
    );
    assert_eq!(
        path_only(&stub.api_requests()[0].path),
        format!("/quality-on-demand/v1/sessions/{id}")
    );
    // An id that is not a UUID never reaches the network.
    let v = signals.read(s, &program().signals[s as usize], &[Value::text("../x")]);
    assert_eq!(v, Value::Absent);
    assert!(
        signals.outcomes()[1]
            .fetch
            .reason
            .as_deref()
            .unwrap()
            .contains("not a UUID")
    );
    assert_eq!(stub.api_requests().len(), 1);

    // Read after it expired (by more than the clocks' allowance), the session still called
    // AVAILABLE contradicts itself: absent, at the connectors' clock or the decision time.
    for (wall, now) in [
        ("2024-06-01T13:06:00Z", None),
        ("2024-06-01T12:30:00Z", Some("2024-06-01T13:06:00Z")),
    ] {
        let now = now.map_or(0, crate::ms);
        let camara = stub.camara_at(crate::ms(wall));
        let signals = camara.signals(program(), now);
        let v = signals.read(s, &program().signals[s as usize], &[Value::text(id)]);
        assert_eq!(v, Value::Absent);
        let reason = signals.outcomes()[0].fetch.reason.clone().unwrap();
        assert!(
            reason.contains("out of contract: the session is AVAILABLE but its expiresAt"),
            "{reason}"
        );
    }
}

#[test]
fn a_source_without_a_connector_is_absent() {
    let stub = Stub::start(|_, _| Reply::raw(500, ""));
    let camara = stub.camara();
    let mut decl = program().signals[signal("sim_swap") as usize].clone();
    decl.source = "acme.crm.lookup".into();
    let signals = camara.signals(program(), 0);
    assert_eq!(signals.read(0, &decl, &[customer(PHONE)]), Value::Absent);
    assert_eq!(
        signals.outcomes()[0].fetch.reason.as_deref(),
        Some("no connector for source `acme.crm.lookup`")
    );
    // A signal whose declared type is not the connector's record: absent, not a wrong value.
    let mut decl = program().signals[signal("roaming") as usize].clone();
    decl.source = "std.camara.sim_swap".into();
    decl.source_args = program().signals[signal("sim_swap") as usize]
        .source_args
        .clone();
    let stub = sim_swap_stub(None);
    let camara = stub.camara();
    let signals = camara.signals(program(), 0);
    assert_eq!(signals.read(0, &decl, &[customer(PHONE)]), Value::Absent);
    let reason = signals.outcomes()[0].fetch.reason.clone().unwrap();
    assert!(reason.contains("RoamingStatus"), "{reason}");
}

/// The read's requests to the SIM swap API (token requests left out).
fn sim_swap_calls(o: &xop_network::SignalOutcome) -> Vec<&xop_runtime::proof::record::NetworkCall> {
    o.fetch
        .calls
        .iter()
        .filter(|c| c.api == "sim-swap")
        .collect()
}
