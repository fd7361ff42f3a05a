//! OAuth2 client credentials: the token request, reuse until expiry, renewal after a 401, and
//! a token endpoint that refuses.

use std::time::Duration;

use serde_json::json;
use xop_network::{CallError, Camara};

use crate::support::{CLIENT_ID, ManualClock, Reply, Stub, TOKEN_PATH};

const PHONE: &str = "+33612345678";

fn swapped() -> Reply {
    Reply::json(200, &json!({ "swapped": false }))
}

#[test]
fn the_token_request_is_a_client_credentials_grant() {
    let stub = Stub::start(|_, _| swapped());
    let mut config = stub.config();
    config.scope = Some("sim-swap:check sim-swap:retrieve-date".into());
    let x = Camara::new(config).check_sim_swap(PHONE, 1);
    assert_eq!(x.result, Ok(false));
    let token_req = stub
        .requests()
        .into_iter()
        .find(|r| r.path == TOKEN_PATH)
        .unwrap();
    assert_eq!(token_req.method, "POST");
    assert_eq!(
        token_req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let mut form: Vec<&str> = token_req.body.split('&').collect();
    form.sort_unstable();
    assert_eq!(
        form,
        vec![
            "grant_type=client_credentials",
            "scope=sim-swap%3Acheck+sim-swap%3Aretrieve-date"
        ]
    );
    // The stub's token endpoint checked the HTTP Basic credentials (id and form-encoded
    // secret); the API request carries the token it gave.
    assert!(
        token_req
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        stub.api_requests()[0].header("authorization"),
        Some("Bearer token-1")
    );
    let recorded = &x.calls[0];
    assert_eq!(
        (recorded.api.as_str(), recorded.status),
        ("oauth2", Some(200))
    );
    assert_eq!(recorded.correlator, None);
}

#[test]
fn a_token_is_reused_until_it_expires() {
    let clock = ManualClock::new();
    let stub = Stub::start_with_tokens(600, |_, _| swapped());
    let camara = Camara::with_clock(stub.config(), clock.clock());
    for _ in 0..3 {
        assert_eq!(camara.check_sim_swap(PHONE, 1).result, Ok(false));
    }
    assert_eq!(stub.token_requests(), 1);
    // Still good 9 minutes later (renewed 30 s before the end, at most 10% of its life).
    clock.advance(Duration::from_secs(9 * 60));
    camara.check_sim_swap(PHONE, 1);
    assert_eq!(stub.token_requests(), 1);
    // Within the last 30 s: a new one.
    clock.advance(Duration::from_secs(45));
    camara.check_sim_swap(PHONE, 1);
    assert_eq!(stub.token_requests(), 2);
    let auth: Vec<_> = stub
        .api_requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    assert_eq!(auth[..4], ["Bearer token-1"; 4]);
    assert_eq!(auth[4], "Bearer token-2");
}

#[test]
fn a_revoked_token_is_replaced_once() {
    // The API refuses token-1 (revoked early), accepts token-2.
    let stub = Stub::start(|r, _| {
        if r.header("authorization") == Some("Bearer token-1") {
            Reply::json(
                401,
                &json!({ "status": 401, "code": "UNAUTHENTICATED", "message": "Request not authenticated due to missing, invalid, or expired credentials. A new authentication is required." }),
            )
        } else {
            swapped()
        }
    });
    let camara = stub.camara();
    let x = camara.check_sim_swap(PHONE, 1);
    // token-1 was fresh for this call: its 401 is final.
    assert!(matches!(x.result, Err(CallError::Api { status: 401, .. })));
    assert_eq!(stub.token_requests(), 1);
    // token-1 is still cached; on the next call its 401 fetches token-2 and tries again.
    let x = camara.check_sim_swap(PHONE, 1);
    assert_eq!(x.result, Ok(false));
    assert_eq!(stub.token_requests(), 2);
    let ops: Vec<_> = x.calls.iter().map(|c| (c.api.as_str(), c.status)).collect();
    assert_eq!(
        ops,
        vec![
            ("sim-swap", Some(401)),
            ("oauth2", Some(200)),
            ("sim-swap", Some(200))
        ]
    );
    // Always 401: one renewal, no loop.
    let stub = Stub::start(|_, _| {
        Reply::json(
            401,
            &json!({ "status": 401, "code": "UNAUTHENTICATED", "message": "no" }),
        )
    });
    let camara = stub.camara();
    camara.check_sim_swap(PHONE, 1);
    let x = camara.check_sim_swap(PHONE, 1);
    assert!(matches!(x.result, Err(CallError::Api { status: 401, .. })));
    assert_eq!(stub.api_requests().len(), 3);
}

/// The fresh-token try after a 401 to a cached token does not depend on `max_attempts`: it
/// is not a repeat of a failed request (a 401 means nothing was done) but its first try with a
/// usable token. It is not counted against the attempts left for real failures either.
#[test]
fn a_revoked_token_is_replaced_whatever_max_attempts() {
    let revoking = |r: &crate::support::Recorded, _| {
        if r.header("authorization") == Some("Bearer token-1") {
            Reply::json(
                401,
                &json!({ "status": 401, "code": "UNAUTHENTICATED", "message": "Request not authenticated due to missing, invalid, or expired credentials." }),
            )
        } else {
            swapped()
        }
    };
    let stub = Stub::start(revoking);
    let mut config = stub.config();
    config.max_attempts = 1;
    let camara = Camara::new(config);
    // token-1 is fetched for the first call (its 401 is final), then cached.
    assert!(camara.check_sim_swap(PHONE, 1).result.is_err());
    let x = camara.check_sim_swap(PHONE, 1);
    assert_eq!(x.result, Ok(false));
    let ops: Vec<_> = x
        .calls
        .iter()
        .map(|c| (c.api.as_str(), c.status, c.attempt))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("sim-swap", Some(401), 1),
            ("oauth2", Some(200), 1),
            ("sim-swap", Some(200), 2)
        ]
    );

    // With max_attempts = 2, a 503 after the renewal still gets its retry.
    let stub = Stub::start(|r, n| {
        if r.header("authorization") == Some("Bearer token-1") {
            Reply::json(
                401,
                &json!({ "status": 401, "code": "UNAUTHENTICATED", "message": "no" }),
            )
        } else if n < 3 {
            Reply::json(
                503,
                &json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" }),
            )
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.max_attempts = 2;
    let camara = Camara::new(config);
    assert!(camara.check_sim_swap(PHONE, 1).result.is_err());
    let x = camara.check_sim_swap(PHONE, 1);
    assert_eq!(x.result, Ok(false), "{:?}", x.calls);
    let statuses: Vec<_> = x
        .calls
        .iter()
        .filter(|c| c.api == "sim-swap")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![Some(401), Some(503), Some(200)]);
}

#[test]
fn a_refusing_token_endpoint_stops_the_call() {
    let stub = Stub::start(|_, _| swapped());
    let mut config = stub.config();
    config.client_secret = xop_network::Secret::new("wrong");
    let x = Camara::new(config).check_sim_swap(PHONE, 1);
    match &x.result {
        Err(CallError::Auth(m)) => {
            assert!(
                m.contains("401 invalid_client: bad client credentials"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A refusal is final: one token request, no API request.
    assert_eq!(stub.token_requests(), 1);
    assert!(stub.api_requests().is_empty());
    assert_eq!(x.calls[0].error_code.as_deref(), Some("invalid_client"));
    assert!(CLIENT_ID.len() > 1);
}

#[test]
fn token_answers_out_of_contract_are_refused() {
    for (body, what) in [
        (json!({ "token_type": "Bearer" }), "no access_token"),
        (
            json!({ "access_token": "t", "token_type": "mac" }),
            "not Bearer",
        ),
        (
            json!({ "access_token": "a b", "token_type": "Bearer" }),
            "cannot have",
        ),
        (
            json!({ "access_token": "t", "token_type": "Bearer", "expires_in": "soon" }),
            "expires_in",
        ),
    ] {
        // A stand-in token endpoint served by the API handler at another path.
        let answer = body.clone();
        let stub = Stub::start(move |r, _| {
            if r.path == "/other-token" {
                Reply::json(200, &answer)
            } else {
                swapped()
            }
        });
        let mut config = stub.config();
        config.token_url = format!("{}/other-token", stub.url);
        let x = Camara::new(config).check_sim_swap(PHONE, 1);
        match &x.result {
            Err(CallError::Auth(m)) => assert!(m.contains(what), "{body}: {m}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

/// The token endpoint's `Retry-After` is honoured as the APIs' is (up to `max_backoff`).
#[test]
fn the_token_endpoints_retry_after_is_honoured() {
    let stub = Stub::start(|r, _| {
        if r.path == "/slow-token" {
            Reply::json(
                429,
                &json!({ "error": "slow_down", "error_description": "later" }),
            )
            .with_header("Retry-After", "1")
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/slow-token", stub.url);
    config.max_attempts = 2;
    config.backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let x = Camara::new(config.clone()).check_sim_swap(PHONE, 1);
    let waited = started.elapsed();
    assert!(
        matches!(x.result, Err(CallError::Auth(_))),
        "{:?}",
        x.result
    );
    assert!(waited >= Duration::from_millis(1000), "waited {waited:?}");
    // Capped by max_backoff.
    config.max_backoff = Duration::from_millis(50);
    let started = std::time::Instant::now();
    Camara::new(config).check_sim_swap(PHONE, 1);
    assert!(started.elapsed() < Duration::from_millis(900));
}

/// Each operation numbers its own requests to the API (1, 2, …) and, apart, its token requests:
/// a failed token request does not make the API's first request its second.
#[test]
fn attempts_are_numbered_per_operation_and_token_requests_apart() {
    // The token endpoint fails twice (503), then gives a token.
    let stub = Stub::start(|r, n| {
        if r.path == "/flaky-token" {
            if n < 2 {
                Reply::json(503, &json!({ "error": "temporarily_unavailable" }))
            } else {
                Reply::json(
                    200,
                    &json!({ "access_token": "t-1", "token_type": "Bearer", "expires_in": 3600 }),
                )
            }
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/flaky-token", stub.url);
    let x = Camara::new(config.clone()).check_sim_swap(PHONE, 1);
    assert_eq!(x.result, Ok(false), "{:?}", x.calls);
    let numbered: Vec<_> = x
        .calls
        .iter()
        .map(|c| (c.api.as_str(), c.status, c.attempt))
        .collect();
    assert_eq!(
        numbered,
        vec![
            ("oauth2", Some(503), 1),
            ("oauth2", Some(503), 2),
            ("oauth2", Some(200), 3),
            ("sim-swap", Some(200), 1),
        ]
    );

    // A token endpoint that never answers well: its requests numbered 1, 2, 3.
    let stub = Stub::start(|r, _| {
        if r.path == "/down-token" {
            Reply::json(503, &json!({ "error": "temporarily_unavailable" }))
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/down-token", stub.url);
    let x = Camara::new(config).check_sim_swap(PHONE, 1);
    assert!(matches!(x.result, Err(CallError::Auth(_))));
    let attempts: Vec<_> = x
        .calls
        .iter()
        .map(|c| (c.api.as_str(), c.attempt))
        .collect();
    assert_eq!(attempts, vec![("oauth2", 1), ("oauth2", 2), ("oauth2", 3)]);

    // A signal read says how many token requests it took.
    let stub = Stub::start(|r, _| {
        if r.path == "/down-token" {
            Reply::json(503, &json!({ "error": "temporarily_unavailable" }))
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/down-token", stub.url);
    let camara = Camara::new(config);
    let (_, reads) = camara.decide_action(
        crate::program(),
        "acme.net.block_payment",
        &[crate::customer(PHONE)],
        crate::ms("2026-11-25T10:00:00Z"),
    );
    let reason = reads[0].fetch.reason.as_deref().unwrap();
    assert!(reason.ends_with("(after 3 token requests)"), "{reason}");
}

/// A token answer over 1 MiB is out of contract: refused once, naming its status.
#[test]
fn a_token_answer_over_1_mib_is_refused_once() {
    let big = format!(
        "{{\"error\": \"x\", \"pad\": \"{}\"}}",
        "x".repeat(2_000_000)
    );
    let stub = Stub::start(move |r, _| {
        if r.path == "/big-token" {
            Reply::raw(503, &big)
        } else {
            swapped()
        }
    });
    let mut config = stub.config();
    config.token_url = format!("{}/big-token", stub.url);
    let x = Camara::new(config).check_sim_swap(PHONE, 1);
    match &x.result {
        Err(CallError::Auth(m)) => assert!(
            m.contains("status 503 (an error answer) with a body larger than 1048576 bytes"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.requests().len(), 1, "not retried");
}
