//! An operator answering against its contract in ways a QA pass found: absurd token
//! lifetimes, bodies that are not UTF-8 text, a create's 201 naming its session in a body
//! out of contract, sessions other than asked for, a `Retry-After` beyond any clock, and a
//! `device` given as `null`.

use std::time::{Duration, Instant};

use serde_json::json;
use xop_network::{ActionOutcome, CREATE_QOS_SESSION, CallError, Camara};
use xop_runtime::value::Value;

use crate::support::{ManualClock, Reply, Spec, Stub, path_only};

const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const PHONE: &str = "+123456789";

fn swapped() -> Reply {
    Reply::json(200, &json!({ "swapped": false }))
}

fn create_args() -> Vec<Value> {
    vec![
        Value::text(PHONE),
        Value::text("198.51.100.0/24"),
        Value::text("QOS_L"),
        Value::Duration(3_600_000),
    ]
}

/// The methods of the QoD requests `stub` received.
fn methods(stub: &Stub) -> Vec<String> {
    stub.api_requests()
        .iter()
        .map(|r| r.method.clone())
        .collect()
}

/// A stand-in whose create answers `created` (status 201) and whose delete answers 204.
fn create_stub(created: Reply) -> Stub {
    Stub::start(move |r, _| match r.method.as_str() {
        "POST" => created.clone(),
        _ => Reply::raw(204, ""),
    })
}

/// A stand-in whose token endpoint answers a Bearer token with this `expires_in`, and the
/// connectors that ask it (the stand-in must live as long as they are used).
fn with_token_answer(expires_in: serde_json::Value) -> (Stub, Camara) {
    let body = json!({ "access_token": "t", "token_type": "Bearer", "expires_in": expires_in });
    let stub = Stub::start(move |r, _| {
        if r.path == "/other-token" {
            Reply::json(200, &body)
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/other-token", stub.url);
    let camara = Camara::new(config);
    (stub, camara)
}

/// A token lifetime beyond any clock (`u64::MAX`, `i64::MAX` seconds) panicked computing
/// its expiry; it is capped at a day, and the token used until then.
#[test]
fn a_huge_token_lifetime_is_capped_at_a_day() {
    for lifetime in [u64::MAX, 9_223_372_036_854_775_807] {
        let clock = ManualClock::new();
        let stub = Stub::start_with_tokens(lifetime, |_, _| swapped());
        let camara = Camara::with_clock(stub.config(), clock.clock());
        assert_eq!(camara.check_sim_swap(PHONE, 1).result, Ok(false));
        clock.advance(Duration::from_secs(23 * 3600));
        assert_eq!(camara.check_sim_swap(PHONE, 1).result, Ok(false));
        assert_eq!(stub.token_requests(), 1, "reused within the day");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(camara.check_sim_swap(PHONE, 1).result, Ok(false));
        assert_eq!(stub.token_requests(), 2, "renewed after a day");
    }
}

/// `expires_in` that is not whole seconds is refused saying what it is.
#[test]
fn a_token_lifetime_out_of_contract_says_what_it_is() {
    for (expires_in, what) in [
        (json!("3600"), "expires_in is a string (`3600`)"),
        (json!(-5), "expires_in -5 is negative"),
        (json!(1.5), "a fraction"),
        (json!(true), "a boolean"),
    ] {
        let (_stub, camara) = with_token_answer(expires_in.clone());
        match camara.check_sim_swap(PHONE, 1).result {
            Err(CallError::Auth(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{expires_in}: {other:?}"),
        }
    }
    // 10^30 seconds (a float to JSON readers): a long lifetime, capped like any.
    let (_stub, camara) = with_token_answer(json!(1e30));
    assert_eq!(camara.check_sim_swap(PHONE, 1).result, Ok(false));
}

/// A body that is not UTF-8 text is the status that came with it, its body unreadable: not
/// a broken connection. A DELETE refused with 503 (in Latin-1) surely did nothing, so the
/// 404 after it is "not found", not a deletion.
#[test]
fn a_503_with_a_latin_1_body_then_404_is_not_a_deletion() {
    let stub = Stub::start(|_, n| {
        if n == 0 {
            Reply::bytes(
                503,
                b"{\"status\":503,\"code\":\"UNAVAILABLE\",\"message\":\"indisponible \xe9\"}",
            )
        } else {
            Reply::json(
                404,
                &json!({ "status": 404, "code": "NOT_FOUND", "message": "not found" }),
            )
        }
    });
    let x = stub.camara().delete_session(ID);
    assert!(
        matches!(x.result, Err(CallError::Api { status: 404, .. })),
        "{:?}",
        x.result
    );
    let first = x
        .calls
        .iter()
        .find(|c| c.api == "quality-on-demand")
        .unwrap();
    assert_eq!(first.status, Some(503));
    assert!(
        first.error.as_deref().unwrap().contains("not UTF-8"),
        "{first:?}"
    );
}

/// A 400 whose body is not UTF-8 is final (the request's fault), and a 200 compressed though
/// nobody asked is out of contract, refused once: neither is retried as a broken connection.
#[test]
fn a_body_not_text_is_judged_by_its_status() {
    let stub = Stub::start(|_, _| {
        Reply::bytes(
            400,
            b"{\"status\":400,\"code\":\"INVALID_ARGUMENT\",\"message\":\"requ\xeate\"}",
        )
    });
    let x = stub.camara().roaming_status(PHONE);
    match &x.result {
        Err(CallError::UnexpectedStatus { status: 400, body }) => {
            assert!(body.contains("not UTF-8"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.api_requests().len(), 1, "not retried");

    let stub = Stub::start(|_, _| {
        Reply::bytes(
            200,
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00",
        )
        .with_header("Content-Encoding", "gzip")
    });
    let x = stub.camara().roaming_status(PHONE);
    match &x.result {
        Err(CallError::BadResponse(m)) => {
            assert!(m.contains("status 200: the body is gzip-encoded"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.api_requests().len(), 1, "not retried");

    // Text, but labelled compressed: not read as what it may not be.
    let stub = Stub::start(|_, _| {
        Reply::json(200, &json!({ "roaming": false })).with_header("Content-Encoding", "br")
    });
    match stub.camara().roaming_status(PHONE).result {
        Err(CallError::BadResponse(m)) => assert!(m.contains("br-encoded"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A create's 201 that names its session (a UUID `sessionId`) in a body the strict read
/// refuses (a key given twice; not UTF-8 text) may have made that session: it is out of
/// contract, recorded with the id, and deleted. One naming two sessions names none.
#[test]
fn a_201_naming_its_session_in_a_body_out_of_contract_deletes_it() {
    let spec = Spec::load("quality-on-demand.yaml");
    let text = spec.example("SESSION_CREATION_EXAMPLE").to_string();
    let dup_key = format!(
        "{}, \"qosStatus\": \"UNAVAILABLE\"}}",
        &text[..text.len() - 1]
    );
    let mut latin_1 = text.as_bytes()[..text.len() - 1].to_vec();
    latin_1.extend_from_slice(b", \"note\": \"cr\xe9\xe9e\"}");
    for (body, why) in [(dup_key.into_bytes(), "qosStatus"), (latin_1, "not UTF-8")] {
        let stub = create_stub(Reply::bytes(201, &body));
        let record = stub
            .camara()
            .perform(CREATE_QOS_SESSION, &create_args())
            .unwrap();
        let ActionOutcome::SessionOutOfContract {
            session_id,
            error,
            delete_error,
        } = &record.outcome
        else {
            panic!("recorded as {:?}", record.outcome);
        };
        assert_eq!(session_id, ID);
        assert!(error.to_string().contains(why), "{error}");
        assert_eq!(delete_error, &None);
        assert_eq!(methods(&stub), ["POST", "DELETE"]);
        assert!(path_only(&stub.api_requests()[1].path).ends_with(ID));
    }

    let two = format!(
        "{}, \"sessionId\": \"11111111-1111-4111-8111-111111111111\"}}",
        &text[..text.len() - 1]
    );
    let stub = create_stub(Reply::bytes(201, two.as_bytes()));
    let record = stub
        .camara()
        .perform(CREATE_QOS_SESSION, &create_args())
        .unwrap();
    assert!(
        matches!(
            record.outcome,
            ActionOutcome::Failed(CallError::BadResponse(_))
        ),
        "{:?}",
        record.outcome
    );
    assert_eq!(methods(&stub), ["POST"], "nothing to delete");
}

/// A created session other than asked for is not done, and is deleted: one that runs
/// (`startedAt` to `expiresAt`) longer than asked whatever its `duration`, one already past
/// its `expiresAt` (the connectors' clock), and one `AVAILABLE` with a `statusInfo` (which
/// the contract gives only with `UNAVAILABLE`: out of contract).
#[test]
fn a_session_longer_or_expired_or_terminated_is_not_done_and_is_deleted() {
    let spec = Spec::load("quality-on-demand.yaml");
    let base = spec.example("SESSION_AVAILABLE_EXAMPLE");
    // 2024-06-01T12:30:00Z: within the example's hour.
    let during = 1_717_245_000_000;
    let with = |k: &str, v: serde_json::Value| {
        let mut a = base.clone();
        a[k] = v;
        a
    };
    for (answer, wall_ms, why) in [
        (
            with("expiresAt", json!("2024-06-02T12:00:00Z")),
            during,
            "runs 86400 s from startedAt to expiresAt",
        ),
        (base.clone(), during + 3 * 3_600_000, "its expiresAt"),
    ] {
        let stub = create_stub(Reply::json(201, &answer));
        let record = stub
            .camara_at(wall_ms)
            .perform(CREATE_QOS_SESSION, &create_args())
            .unwrap();
        let ActionOutcome::SessionDiscarded { reason, .. } = &record.outcome else {
            panic!("{answer}: recorded as {:?}", record.outcome);
        };
        assert!(reason.contains(why), "{reason}");
        assert_eq!(methods(&stub), ["POST", "DELETE"]);
    }
    // As asked, within the hour: done.
    let stub = create_stub(Reply::json(201, &base));
    let record = stub
        .camara_at(during)
        .perform(CREATE_QOS_SESSION, &create_args())
        .unwrap();
    assert!(
        matches!(record.outcome, ActionOutcome::SessionCreated(_)),
        "{:?}",
        record.outcome
    );

    let stub = create_stub(Reply::json(
        201,
        &with("statusInfo", json!("NETWORK_TERMINATED")),
    ));
    let record = stub
        .camara_at(during)
        .perform(CREATE_QOS_SESSION, &create_args())
        .unwrap();
    let ActionOutcome::SessionOutOfContract {
        session_id, error, ..
    } = &record.outcome
    else {
        panic!("recorded as {:?}", record.outcome);
    };
    assert_eq!(session_id, ID);
    assert!(
        error
            .to_string()
            .contains("statusInfo is NETWORK_TERMINATED"),
        "{error}"
    );
    assert_eq!(methods(&stub), ["POST", "DELETE"]);
}

/// A `Retry-After` beyond u64 is as long as can be: capped by `max_backoff`, not ignored.
#[test]
fn a_retry_after_beyond_u64_is_capped() {
    let stub = Stub::start(|_, n| {
        if n == 0 {
            Reply::json(
                503,
                &json!({ "status": 503, "code": "UNAVAILABLE", "message": "later" }),
            )
            .with_header("Retry-After", "99999999999999999999999")
        } else {
            Reply::json(
                200,
                &json!({ "roaming": false, "lastStatusTime": "2024-06-01T12:00:00Z" }),
            )
        }
    });
    let mut config = stub.config();
    config.max_backoff = Duration::from_millis(400);
    let started = Instant::now();
    let x = Camara::new(config).roaming_status(PHONE);
    assert!(x.result.is_ok(), "{:?}", x.result);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited {:?}",
        started.elapsed()
    );
}

/// `"device": null` in a create's answer: the contract types `device` as an object (it may be
/// left out, not nulled), so the answer is out of contract, and the session it names deleted.
#[test]
fn a_null_device_is_out_of_contract() {
    let spec = Spec::load("quality-on-demand.yaml");
    let mut answer = spec.example("SESSION_CREATION_EXAMPLE");
    answer["device"] = json!(null);
    let stub = create_stub(Reply::json(201, &answer));
    let record = stub
        .camara()
        .perform(CREATE_QOS_SESSION, &create_args())
        .unwrap();
    let ActionOutcome::SessionOutOfContract { error, .. } = &record.outcome else {
        panic!("recorded as {:?}", record.outcome);
    };
    assert!(error.to_string().contains("device is null"), "{error}");
    assert_eq!(methods(&stub), ["POST", "DELETE"]);
}
