//! SIM Swap 2.1.0: request shapes, answers, every error body the contract lists, timeouts and
//! bounded retries.

use std::time::{Duration, Instant};

use serde_json::json;
use xop_network::CallError;

use crate::support::{Reply, Spec, Stub, path_only};

const PHONE: &str = "+346661113334";

fn route(path: &str) -> &str {
    path_only(path).trim_start_matches("/sim-swap/v2")
}

#[test]
fn check_and_retrieve_date_follow_the_contract() {
    let spec = Spec::load("sim-swap.yaml");
    let date = spec.example("RETRIEVE_DATE");
    let answer = date.clone();
    let stub = Stub::start(move |r, _| match route(&r.path) {
        "/check" => Reply::json(200, &json!({ "swapped": true })),
        "/retrieve-date" => Reply::json(200, &answer),
        _ => Reply::raw(404, ""),
    });
    let camara = stub.camara();

    let check = camara.check_sim_swap(PHONE, 120);
    assert_eq!(check.result, Ok(true));
    let retrieved = camara.retrieve_sim_swap_date(PHONE);
    let got = retrieved.result.clone().unwrap();
    assert_eq!(
        got.latest_sim_change,
        Some(crate::ms("2024-09-18T07:37:53.471Z"))
    );
    assert_eq!(got.monitored_period_days, None);

    let reqs = stub.api_requests();
    assert_eq!(reqs.len(), 2);
    // Shapes, against the operations' schemas.
    let problems = spec.check_request("/check", "POST", &reqs[0], "token-1");
    assert!(problems.is_empty(), "{problems:?}");
    let problems = spec.check_request("/retrieve-date", "POST", &reqs[1], "token-1");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(route(&reqs[0].path), "/check");
    assert_eq!(
        reqs[0].json(),
        json!({ "phoneNumber": PHONE, "maxAge": 120 })
    );
    assert_eq!(reqs[1].json(), json!({ "phoneNumber": PHONE }));
    // The stub's answer is the spec's example, valid against the answer's schema.
    assert!(
        spec.check_response("/retrieve-date", "POST", "200", &date)
            .is_empty()
    );

    // One correlator per call, sent and echoed, recorded.
    let c1 = check.correlator().unwrap().to_string();
    let c2 = retrieved.correlator().unwrap().to_string();
    assert_ne!(c1, c2);
    assert_eq!(reqs[0].header("x-correlator"), Some(c1.as_str()));
    assert_eq!(reqs[1].header("x-correlator"), Some(c2.as_str()));
    let api_call = check.calls.iter().find(|c| c.api == "sim-swap").unwrap();
    assert_eq!(api_call.echoed_correlator.as_deref(), Some(c1.as_str()));
    assert_eq!(api_call.operation, "checkSimSwap");
    assert_eq!(api_call.status, Some(200));
    assert_eq!(api_call.error, None);
    // One token for both calls.
    assert_eq!(stub.token_requests(), 1);
}

#[test]
fn the_retrieve_date_examples() {
    let spec = Spec::load("sim-swap.yaml");
    for (name, expected_date, expected_days) in [
        ("RETRIEVE_MONITORED_PERIOD", None, Some(120)),
        ("RETRIEVE_MONITORED_NULL", None, None),
    ] {
        let answer = spec.example(name);
        assert!(
            spec.check_response("/retrieve-date", "POST", "200", &answer)
                .is_empty()
        );
        let stub = Stub::start(move |_, _| Reply::json(200, &answer));
        let got = stub.camara().retrieve_sim_swap_date(PHONE).result.unwrap();
        assert_eq!(got.latest_sim_change, expected_date, "{name}");
        assert_eq!(got.monitored_period_days, expected_days, "{name}");
    }
    // An offset other than Z is a time zone like any other.
    let stub = Stub::start(|_, _| {
        Reply::json(
            200,
            &json!({ "latestSimChange": "2023-07-03T14:27:08.312+02:00" }),
        )
    });
    let got = stub.camara().retrieve_sim_swap_date(PHONE).result.unwrap();
    assert_eq!(
        got.latest_sim_change,
        Some(crate::ms("2023-07-03T12:27:08.312Z"))
    );
}

#[test]
fn every_listed_error_body_is_reported_as_such() {
    let spec = Spec::load("sim-swap.yaml");
    for (path, errors) in [
        ("/check", spec.error_examples("/check", "post")),
        (
            "/retrieve-date",
            spec.error_examples("/retrieve-date", "post"),
        ),
    ] {
        // 400, 401, 403, 404, 422 and 429, with each of their examples.
        let statuses: Vec<u16> = errors.iter().map(|(s, _)| *s).collect();
        for s in [400, 401, 403, 404, 422, 429] {
            assert!(statuses.contains(&s), "{path}: {s} is listed");
        }
        for (status, body) in errors {
            let answer = body.clone();
            let stub = Stub::start(move |_, _| Reply::json(status, &answer));
            let mut config = stub.config();
            config.max_attempts = 2;
            let camara = xop_network::Camara::new(config);
            let x = if path == "/check" {
                camara.check_sim_swap(PHONE, 24).map_unit()
            } else {
                camara.retrieve_sim_swap_date(PHONE).map_unit()
            };
            let expected = CallError::Api {
                status,
                code: body["code"].as_str().unwrap().to_string(),
                message: body["message"].as_str().unwrap().to_string(),
            };
            assert_eq!(x.0, Err(expected.clone()), "{path} {status}");
            let api_calls: Vec<_> = x.1.iter().filter(|c| c.api == "sim-swap").collect();
            let last = api_calls.last().unwrap();
            assert_eq!(last.status, Some(status));
            assert_eq!(last.error_code.as_deref(), expected.code());
            assert_eq!(last.error.as_deref(), Some(expected.to_string().as_str()));
            // 429 TOO_MANY_REQUESTS is retried (the request was refused, not processed); the
            // others are final (a 401 with a token fetched for this very call too; a 429
            // QUOTA_EXCEEDED, a business quota a retry would only use up).
            let expected_attempts = if body["code"] == "TOO_MANY_REQUESTS" {
                2
            } else {
                1
            };
            assert_eq!(api_calls.len(), expected_attempts, "{path} {status}");
        }
    }
}

/// A short way to compare exchanges of different types.
trait Unit {
    fn map_unit(self) -> (Result<(), CallError>, Vec<xop_network::NetworkCall>);
}

impl<T> Unit for xop_network::Exchange<T> {
    fn map_unit(self) -> (Result<(), CallError>, Vec<xop_network::NetworkCall>) {
        (self.result.map(|_| ()), self.calls)
    }
}

#[test]
fn server_errors_and_rate_limits_are_retried_a_bounded_number_of_times() {
    // Two 503s, then an answer: the third attempt succeeds, with the same correlator.
    let stub = Stub::start(|_, n| {
        if n < 2 {
            Reply::json(
                503,
                &json!({ "status": 503, "code": "UNAVAILABLE", "message": "Network issue" }),
            )
        } else {
            Reply::json(200, &json!({ "swapped": false }))
        }
    });
    let x = stub.camara().check_sim_swap(PHONE, 24);
    assert_eq!(x.result, Ok(false));
    let attempts: Vec<_> = x.calls.iter().filter(|c| c.api == "sim-swap").collect();
    assert_eq!(
        attempts.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        attempts.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![Some(503), Some(503), Some(200)]
    );
    assert!(
        attempts
            .iter()
            .all(|c| c.correlator == attempts[0].correlator)
    );
    let sent: Vec<_> = stub
        .api_requests()
        .iter()
        .map(|r| r.header("x-correlator").unwrap().to_string())
        .collect();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|c| Some(c.as_str()) == attempts[0].correlator.as_deref())
    );

    // Always 502, 503 or 504: exactly max_attempts requests, then the error.
    for status in [502, 503, 504] {
        let stub = Stub::start(move |_, _| Reply::raw(status, "oops"));
        let x = stub.camara().check_sim_swap(PHONE, 24);
        assert_eq!(x.result.unwrap_err().status(), Some(status));
        assert_eq!(stub.api_requests().len(), 3, "{status}");
    }

    // Retry-After is honoured, within max_backoff: in seconds (on a 429), and as an HTTP date
    // 3 s from now (on a 503).
    let waits = |status: u16, code: &'static str, retry_after: fn() -> String| {
        let stub = Stub::start(move |_, n| {
            if n == 0 {
                Reply::json(
                    status,
                    &json!({ "status": status, "code": code, "message": "Later." }),
                )
                .with_header("Retry-After", &retry_after())
            } else {
                Reply::json(200, &json!({ "swapped": false }))
            }
        });
        let mut config = stub.config();
        config.max_backoff = Duration::from_millis(300);
        let started = Instant::now();
        let x = xop_network::Camara::new(config).check_sim_swap(PHONE, 24);
        assert_eq!(x.result, Ok(false));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{code}: {waited:?}");
        assert!(
            waited < Duration::from_millis(1000),
            "{code}: capped: {waited:?}"
        );
    };
    waits(429, "TOO_MANY_REQUESTS", || "1".into());
    waits(503, "UNAVAILABLE", || {
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3))
    });
}

/// Errors that a retry within the call cannot mend are final, even for a read: a 429
/// `QUOTA_EXCEEDED` (a business quota: each retry would use more of it), a 501 (permanent),
/// a 500 (a server fault, which repeating at once does not mend).
#[test]
fn errors_that_are_not_transient_are_not_retried() {
    let spec = Spec::load("sim-swap.yaml");
    let (_, quota) = spec
        .error_examples("/check", "post")
        .into_iter()
        .find(|(_, b)| b["code"] == "QUOTA_EXCEEDED")
        .expect("the contract lists QUOTA_EXCEEDED");
    let not_implemented = json!({"status": 501, "code": "NOT_IMPLEMENTED",
                                 "message": "This functionality is not implemented yet."});
    let internal = json!({"status": 500, "code": "INTERNAL", "message": "Server error"});
    for (status, body) in [(429, quota), (501, not_implemented), (500, internal)] {
        let answer = body.clone();
        let stub = Stub::start(move |_, _| Reply::json(status, &answer));
        let x = stub.camara().check_sim_swap(PHONE, 24);
        assert_eq!(x.result.unwrap_err().code(), body["code"].as_str());
        assert_eq!(stub.api_requests().len(), 1, "{status} {body}");
    }
    // Creating after a QUOTA_EXCEEDED: final too (a TOO_MANY_REQUESTS is retried, see qod.rs).
    let (_, quota) = Spec::load("quality-on-demand.yaml")
        .error_examples("/sessions", "post")
        .into_iter()
        .find(|(_, b)| b["code"] == "QUOTA_EXCEEDED")
        .expect("the contract lists QUOTA_EXCEEDED");
    let stub = Stub::start(move |_, _| Reply::json(429, &quota));
    let request = xop_network::CreateSession {
        phone_number: PHONE.into(),
        application_server: "198.51.100.0/24".into(),
        qos_profile: "QOS_L".into(),
        duration_s: 60,
    };
    let x = stub.camara().create_session(&request);
    assert_eq!(x.result.unwrap_err().code(), Some("QUOTA_EXCEEDED"));
    assert_eq!(stub.api_requests().len(), 1);
}

#[test]
fn a_timeout_is_bounded_and_reported() {
    let stub = Stub::start(|_, _| {
        Reply::json(200, &json!({ "swapped": false })).delayed(Duration::from_secs(2))
    });
    let mut config = stub.config();
    config.timeout = Duration::from_millis(100);
    config.max_attempts = 2;
    let started = Instant::now();
    let x = xop_network::Camara::new(config).check_sim_swap(PHONE, 24);
    let took = started.elapsed();
    assert_eq!(x.result, Err(CallError::Timeout));
    let attempts: Vec<_> = x.calls.iter().filter(|c| c.api == "sim-swap").collect();
    assert_eq!(attempts.len(), 2, "retried once: a read is safe to repeat");
    assert!(attempts.iter().all(|c| c.status.is_none()));
    assert_eq!(attempts[1].error.as_deref(), Some("timed out"));
    // Two attempts of 100 ms and a backoff, not the server's 2 s each.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn malformed_answers_are_out_of_contract() {
    for (body, what) in [
        ("not json", "not JSON"),
        ("[true]", "not a JSON object"),
        (r#"{"swapped":"yes"}"#, "swapped is not a boolean"),
        ("{}", "swapped is missing"),
        // JSON leaves open which value is meant: never pick one.
        (
            r#"{"swapped":true,"swapped":false}"#,
            "the key \"swapped\" is given twice",
        ),
    ] {
        let b = body.to_string();
        let stub = Stub::start(move |_, _| Reply::raw(200, &b));
        let x = stub.camara().check_sim_swap(PHONE, 24);
        match &x.result {
            Err(CallError::BadResponse(m)) => assert!(m.contains(what), "{body}: {m}"),
            other => panic!("{body}: {other:?}"),
        }
        // The call record says so too, and there is no retry of an answer out of contract.
        let api: Vec<_> = x.calls.iter().filter(|c| c.api == "sim-swap").collect();
        assert_eq!(api.len(), 1);
        assert!(api[0].error.as_deref().unwrap().contains("out of contract"));
    }
    for (body, what) in [
        (r#"{"monitoredPeriod":3}"#, "latestSimChange is missing"),
        (r#"{"latestSimChange":"yesterday"}"#, "RFC 3339"),
        (
            r#"{"latestSimChange":null,"monitoredPeriod":-1}"#,
            "negative",
        ),
    ] {
        let b = body.to_string();
        let stub = Stub::start(move |_, _| Reply::raw(200, &b));
        match stub.camara().retrieve_sim_swap_date(PHONE).result {
            Err(CallError::BadResponse(m)) => assert!(m.contains(what), "{body}: {m}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    // The answer echoes another `x-correlator`: it may be another request's answer, so it is
    // out of contract however well-formed (a swap not seen, here), and not retried. An echo
    // with the one sent, or none, is accepted.
    let stub = Stub::start(|_, _| {
        Reply::json(200, &json!({ "swapped": false }))
            .with_header("x-correlator", "b4333c46-49c0-4f62-80d7-f0ef930f1c46")
    });
    let x = stub.camara().check_sim_swap(PHONE, 24);
    match &x.result {
        Err(CallError::BadResponse(m)) => assert!(
            m.contains("echoes x-correlator `b4333c46-49c0-4f62-80d7-f0ef930f1c46`, not the")
                && m.contains("another request's answer"),
            "{m}"
        ),
        other => panic!("a mismatched correlator: {other:?}"),
    }
    let api: Vec<_> = x.calls.iter().filter(|c| c.api == "sim-swap").collect();
    assert_eq!(api.len(), 1);
    assert!(api[0].error.as_deref().unwrap().contains("out of contract"));
    assert_eq!(stub.api_requests().len(), 1);
    // An error status without a CAMARA error body.
    let stub = Stub::start(|_, _| Reply::raw(404, "<html>not found</html>"));
    let x = stub.camara().check_sim_swap(PHONE, 24);
    assert_eq!(
        x.result,
        Err(CallError::UnexpectedStatus {
            status: 404,
            body: "<html>not found</html>".into()
        })
    );
}

#[test]
fn arguments_out_of_contract_send_nothing() {
    let stub = Stub::start(|_, _| Reply::json(200, &json!({ "swapped": false })));
    let camara = stub.camara();
    for hours in [0, 2401, -5] {
        let x = camara.check_sim_swap(PHONE, hours);
        assert!(
            matches!(x.result, Err(CallError::InvalidArgument(_))),
            "{hours}"
        );
        assert!(x.calls.is_empty());
    }
    for phone in ["0612345678", "+33 6 12 34 56 78", ""] {
        assert!(matches!(
            camara.retrieve_sim_swap_date(phone).result,
            Err(CallError::InvalidArgument(_))
        ));
    }
    assert!(camara.check_sim_swap(PHONE, 1).result.is_ok());
    assert!(camara.check_sim_swap(PHONE, 2400).result.is_ok());
    assert_eq!(stub.requests().len(), 3, "a token and the two valid calls");
}

#[test]
fn nothing_listening_is_a_connection_failure() {
    // A port that was just free: nothing accepts on it, unless a test running beside this one
    // took it meanwhile (its stub then answers); then another port is tried.
    let mut tries = 0;
    let x = loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = format!("http://127.0.0.1:{port}");
        let config =
            xop_network::CamaraConfig::with_root(&root, &format!("{root}/token"), "x", "y")
                .unwrap();
        let x = xop_network::Camara::new(config).check_sim_swap(PHONE, 24);
        tries += 1;
        let refused = x.calls.iter().all(|c| c.status.is_none());
        if refused || tries == 5 {
            break x;
        }
    };
    match x.result {
        Err(CallError::Auth(m)) => assert!(m.contains("connection"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Each attempt asked the token endpoint; no API request could be made.
    assert_eq!(x.calls.len(), 3);
    assert!(
        x.calls
            .iter()
            .all(|c| c.api == "oauth2" && c.status.is_none())
    );
}
