//! Quality on Demand 1.1.0: create, get, delete and extend a session; what may be retried;
//! and the QoD action carried out once a decision allows it.

use std::time::Duration;

use serde_json::json;
use xop_network::{
    ActionExecutor, ActionOutcome, CREATE_QOS_SESSION, CallError, CreateSession,
    DELETE_QOS_SESSION, QosStatus, StatusInfo,
};
use xop_runtime::ir::Verdict;
use xop_runtime::value::Value;

use crate::support::{Reply, Spec, Stub, free_port, path_only};

const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const PHONE: &str = "+123456789";

fn route(path: &str) -> String {
    path_only(path)
        .trim_start_matches("/quality-on-demand/v1")
        .replace(ID, "{sessionId}")
}

fn request() -> CreateSession {
    CreateSession {
        phone_number: PHONE.into(),
        application_server: "198.51.100.0/24".into(),
        qos_profile: "QOS_L".into(),
        duration_s: 3600,
    }
}

/// A stand-in QoD endpoint answering with the spec's examples.
fn qod_stub(spec: &Spec) -> Stub {
    let created = spec.example("SESSION_CREATION_EXAMPLE");
    let available = spec.example("SESSION_AVAILABLE_EXAMPLE");
    Stub::start(
        move |r, _| match (r.method.as_str(), route(&r.path).as_str()) {
            ("POST", "/sessions") => Reply::json(201, &created),
            ("GET", "/sessions/{sessionId}") => Reply::json(200, &available),
            ("DELETE", "/sessions/{sessionId}") => Reply::raw(204, ""),
            ("POST", "/sessions/{sessionId}/extend") => {
                let mut s = available.clone();
                s["duration"] = json!(
                    3600 + r.json()["requestedAdditionalDuration"]
                        .as_i64()
                        .unwrap_or(0)
                );
                s["expiresAt"] = json!("2024-06-01T13:30:00Z");
                Reply::json(200, &s)
            }
            _ => Reply::raw(405, ""),
        },
    )
}

#[test]
fn create_get_extend_delete_follow_the_contract() {
    let spec = Spec::load("quality-on-demand.yaml");
    let stub = qod_stub(&spec);
    let camara = stub.camara();

    let created = camara.create_session(&request());
    let s = created.result.clone().unwrap();
    assert_eq!(s.session_id, ID);
    assert_eq!(s.qos_status, QosStatus::Requested);
    assert_eq!((s.duration_s, s.started_at), (3600, None));

    let got = camara.get_session(ID).result.unwrap();
    assert_eq!(got.qos_status, QosStatus::Available);
    assert_eq!(got.started_at, Some(crate::ms("2024-06-01T12:00:00Z")));
    assert_eq!(got.expires_at, Some(crate::ms("2024-06-01T13:00:00Z")));

    let extended = camara.extend_session(ID, 1800).result.unwrap();
    assert_eq!(extended.duration_s, 5400);
    assert_eq!(extended.expires_at, Some(crate::ms("2024-06-01T13:30:00Z")));

    assert_eq!(camara.delete_session(ID).result, Ok(()));

    let reqs = stub.api_requests();
    let shapes: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.clone(), route(&r.path)))
        .collect();
    assert_eq!(
        shapes,
        [
            ("POST", "/sessions"),
            ("GET", "/sessions/{sessionId}"),
            ("POST", "/sessions/{sessionId}/extend"),
            ("DELETE", "/sessions/{sessionId}"),
        ]
        .map(|(m, p)| (m.to_string(), p.to_string()))
    );
    for r in &reqs {
        let path = route(&r.path);
        let problems = spec.check_request(&path, &r.method, r, "token-1");
        assert!(problems.is_empty(), "{} {path}: {problems:?}", r.method);
    }
    assert_eq!(
        reqs[0].json(),
        json!({
            "device": { "phoneNumber": PHONE },
            "applicationServer": { "ipv4Address": "198.51.100.0/24" },
            "qosProfile": "QOS_L",
            "duration": 3600,
        })
    );
    assert_eq!(
        reqs[2].json(),
        json!({ "requestedAdditionalDuration": 1800 })
    );
    // The examples the stub answered with are valid answers.
    for (path, method, status, example) in [
        ("/sessions", "post", "201", "SESSION_CREATION_EXAMPLE"),
        (
            "/sessions/{sessionId}",
            "get",
            "200",
            "SESSION_AVAILABLE_EXAMPLE",
        ),
        (
            "/sessions/{sessionId}",
            "get",
            "200",
            "SESSION_UNAVAILABLE_EXAMPLE",
        ),
    ] {
        let problems = spec.check_response(path, method, status, &spec.example(example));
        assert!(problems.is_empty(), "{example}: {problems:?}");
    }
    // A request with a wrong shape is caught by the same check (the check can fail).
    let mut broken = reqs[0].clone();
    broken.body = json!({ "qosProfile": "QOS_L", "duration": 0 }).to_string();
    let problems = spec.check_request("/sessions", "POST", &broken, "token-1");
    assert!(
        problems.iter().any(|p| p.contains("applicationServer")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("minimum")),
        "{problems:?}"
    );
}

#[test]
fn an_unavailable_session_and_ipv6_servers() {
    let spec = Spec::load("quality-on-demand.yaml");
    let unavailable = spec.example("SESSION_UNAVAILABLE_EXAMPLE");
    let stub = Stub::start(move |_, _| Reply::json(200, &unavailable));
    let s = stub.camara().get_session(ID).result.unwrap();
    assert_eq!(s.qos_status, QosStatus::Unavailable);
    assert_eq!(s.status_info, Some(StatusInfo::NetworkTerminated));
    assert_eq!(s.duration_s, 2428);

    let created = spec.example("SESSION_CREATION_EXAMPLE");
    let stub = Stub::start(move |_, _| Reply::json(201, &created));
    let mut req = request();
    req.application_server = "2001:db8:85a3:8d3::/64".into();
    assert!(stub.camara().create_session(&req).result.is_ok());
    let body = stub.api_requests()[0].json();
    assert_eq!(
        body["applicationServer"],
        json!({ "ipv6Address": "2001:db8:85a3:8d3::/64" })
    );
    let problems = spec.check_request("/sessions", "POST", &stub.api_requests()[0], "token-1");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn every_listed_error_body_of_each_operation() {
    let spec = Spec::load("quality-on-demand.yaml");
    for (path, method) in [
        ("/sessions", "post"),
        ("/sessions/{sessionId}", "get"),
        ("/sessions/{sessionId}", "delete"),
        ("/sessions/{sessionId}/extend", "post"),
    ] {
        for (status, body) in spec.error_examples(path, method) {
            let answer = body.clone();
            let stub = Stub::start(move |_, _| Reply::json(status, &answer));
            let camara = stub.camara();
            let result = match (path, method) {
                ("/sessions", _) => camara.create_session(&request()).result.map(|_| ()),
                (_, "get") => camara.get_session(ID).result.map(|_| ()),
                (_, "delete") => camara.delete_session(ID).result,
                _ => camara.extend_session(ID, 60).result.map(|_| ()),
            };
            let expected = CallError::Api {
                status,
                code: body["code"].as_str().unwrap().into(),
                message: body["message"].as_str().unwrap().into(),
            };
            assert_eq!(result, Err(expected), "{method} {path} {status}");
        }
    }
    // The QoD-specific codes are among them.
    let codes: Vec<String> = spec
        .error_examples("/sessions", "post")
        .iter()
        .map(|(_, b)| b["code"].as_str().unwrap().to_string())
        .collect();
    for code in [
        "QUALITY_ON_DEMAND.DURATION_OUT_OF_RANGE",
        "QUALITY_ON_DEMAND.QOS_PROFILE_NOT_APPLICABLE",
        "CONFLICT",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code}");
    }
}

#[test]
fn creating_is_not_repeated_when_it_may_have_happened() {
    let spec = Spec::load("quality-on-demand.yaml");
    // A 500 or a timeout: the session may exist; no second POST.
    let stub = Stub::start(|_, _| Reply::raw(500, "boom"));
    let x = stub.camara().create_session(&request());
    assert!(matches!(
        x.result,
        Err(CallError::UnexpectedStatus { status: 500, .. })
    ));
    assert_eq!(stub.api_requests().len(), 1);

    let created = spec.example("SESSION_CREATION_EXAMPLE");
    let late = created.clone();
    let stub = Stub::start(move |_, _| Reply::json(201, &late).delayed(Duration::from_millis(300)));
    let mut config = stub.config();
    config.timeout = Duration::from_millis(100);
    let x = xop_network::Camara::new(config).create_session(&request());
    assert_eq!(x.result, Err(CallError::Timeout));
    assert_eq!(stub.api_requests().len(), 1);

    // A 429 refused it: safe to ask again.
    let stub = Stub::start(move |_, n| {
        if n == 0 {
            Reply::json(
                429,
                &json!({ "status": 429, "code": "TOO_MANY_REQUESTS", "message": "Rate limit reached." }),
            )
        } else {
            Reply::json(201, &created)
        }
    });
    let x = stub.camara().create_session(&request());
    assert_eq!(x.result.unwrap().session_id, ID);
    assert_eq!(stub.api_requests().len(), 2);

    // Extending is like creating: a 503 is final.
    let stub = Stub::start(|_, _| Reply::raw(503, ""));
    assert!(stub.camara().extend_session(ID, 60).result.is_err());
    assert_eq!(stub.api_requests().len(), 1);
}

#[test]
fn deleting_is_repeated_and_a_late_404_means_deleted() {
    // The first DELETE times out (it may have worked); the retry finds nothing: deleted.
    let stub = Stub::start(|_, n| {
        if n == 0 {
            Reply::raw(204, "").delayed(Duration::from_millis(300))
        } else {
            Reply::json(
                404,
                &json!({ "status": 404, "code": "NOT_FOUND", "message": "The specified resource is not found." }),
            )
        }
    });
    let mut config = stub.config();
    config.timeout = Duration::from_millis(100);
    let x = xop_network::Camara::new(config).delete_session(ID);
    assert_eq!(x.result, Ok(()));
    assert_eq!(stub.api_requests().len(), 2);
    // A 404 on the first attempt is a 404.
    let stub = Stub::start(|_, _| {
        Reply::json(
            404,
            &json!({ "status": 404, "code": "NOT_FOUND", "message": "The specified resource is not found." }),
        )
    });
    assert!(matches!(
        stub.camara().delete_session(ID).result,
        Err(CallError::Api { status: 404, .. })
    ));
}

/// A 404 counts as "already deleted" only when an earlier attempt may have deleted it. An
/// attempt that never reached the operator (connection refused) did nothing: the 404 of the
/// retry is "not found", recorded as a failure, not as a deletion this call made.
#[test]
fn a_404_after_attempts_that_never_reached_the_operator_is_not_found() {
    let not_found = || {
        Reply::json(
            404,
            &json!({ "status": 404, "code": "NOT_FOUND", "message": "The specified resource is not found." }),
        )
    };
    // The token endpoint answers at once; the QoD endpoint's port has nothing listening on it
    // for the first attempt, and a stand-in answering 404 by the retry.
    let tokens = Stub::start(|_, _| Reply::raw(404, ""));
    let port = free_port();
    let mut config = tokens.config();
    config.quality_on_demand = Some(format!("http://127.0.0.1:{port}/quality-on-demand/v1"));
    config.backoff = Duration::from_millis(600);
    config.max_backoff = Duration::from_millis(600);
    let starting = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        Stub::start_at(&format!("127.0.0.1:{port}"), 3600, move |_, _| not_found())
    });
    let camara = xop_network::Camara::new(config);
    let record = camara
        .perform(DELETE_QOS_SESSION, &[Value::text(ID)])
        .unwrap();
    let qod = starting.join().unwrap();
    let attempts: Vec<_> = record
        .calls
        .iter()
        .filter(|c| c.api == "quality-on-demand")
        .collect();
    assert_eq!(attempts.len(), 2, "{:?}", record.calls);
    assert_eq!(attempts[0].status, None);
    assert!(
        attempts[0].error.as_deref().unwrap().contains("connection"),
        "{:?}",
        attempts[0]
    );
    assert_eq!(attempts[1].status, Some(404));
    assert_eq!(qod.api_requests().len(), 1, "only the retry reached it");
    match &record.outcome {
        ActionOutcome::Failed(e) => assert_eq!(e.code(), Some("NOT_FOUND")),
        other => panic!("recorded as {other:?}"),
    }
    assert_eq!(record.session_id(), None);

    // A 503 refused the first attempt: the 404 is "not found" too.
    let stub = Stub::start(move |_, n| {
        if n == 0 {
            Reply::json(
                503,
                &json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" }),
            )
        } else {
            not_found()
        }
    });
    let x = stub.camara().delete_session(ID);
    assert_eq!(x.result.unwrap_err().status(), Some(404));
    assert_eq!(stub.api_requests().len(), 2);

    // A 504 from a gateway: the first attempt may have reached the server and deleted it.
    let stub = Stub::start(move |_, n| {
        if n == 0 {
            Reply::raw(504, "gateway timeout")
        } else {
            not_found()
        }
    });
    assert_eq!(stub.camara().delete_session(ID).result, Ok(()));
}

#[test]
fn arguments_out_of_contract_send_nothing() {
    let stub = Stub::start(|_, _| Reply::raw(500, ""));
    let camara = stub.camara();
    for req in [
        CreateSession {
            duration_s: 0,
            ..request()
        },
        CreateSession {
            qos_profile: "a b".into(),
            ..request()
        },
        CreateSession {
            application_server: "example.com".into(),
            ..request()
        },
        // Masks as `u8::from_str` would read them, but not as the contract writes them.
        CreateSession {
            application_server: "198.51.100.0/+24".into(),
            ..request()
        },
        CreateSession {
            application_server: "198.51.100.0/024".into(),
            ..request()
        },
        CreateSession {
            application_server: "2001:db8::/+64".into(),
            ..request()
        },
        CreateSession {
            phone_number: "123".into(),
            ..request()
        },
    ] {
        assert!(matches!(
            camara.create_session(&req).result,
            Err(CallError::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        camara.get_session("../admin").result,
        Err(CallError::InvalidArgument(_))
    ));
    assert!(matches!(
        camara.extend_session(ID, 0).result,
        Err(CallError::InvalidArgument(_))
    ));
    assert!(stub.requests().is_empty());
}

fn create_args(profile: &str, duration_ms: i64) -> Vec<Value> {
    vec![
        Value::text(PHONE),
        Value::text("198.51.100.0/24"),
        Value::text(profile),
        Value::Duration(duration_ms),
    ]
}

#[test]
fn an_allowed_qod_instruction_creates_the_session() {
    let spec = Spec::load("quality-on-demand.yaml");
    let stub = qod_stub(&spec);
    let camara = stub.camara();
    let program = crate::program();

    // The policy allows QOS_L: the session is created, its id and correlator recorded.
    let args = create_args("QOS_L", 3_600_000);
    let (decision, _) = camara.decide_action(program, CREATE_QOS_SESSION, &args, 0);
    assert_eq!(decision.verdict, Verdict::Allow, "{decision:?}");
    let record = camara
        .execute(CREATE_QOS_SESSION, &args, &decision)
        .unwrap();
    assert_eq!(record.session_id(), Some(ID));
    assert!(matches!(&record.outcome, ActionOutcome::SessionCreated(s) if s.duration_s == 3600));
    let sent = stub.api_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-correlator"), record.correlator());
    assert_eq!(sent[0].json()["duration"], json!(3600));

    // It denies QOS_E: nothing is sent.
    let args = create_args("QOS_E", 3_600_000);
    let (decision, _) = camara.decide_action(program, CREATE_QOS_SESSION, &args, 0);
    assert_eq!(decision.verdict, Verdict::Deny);
    assert_eq!(decision.reasons, ["unknown-profile"]);
    let record = camara
        .execute(CREATE_QOS_SESSION, &args, &decision)
        .unwrap();
    assert_eq!(
        record.outcome,
        ActionOutcome::NotAllowed {
            verdict: Verdict::Deny
        }
    );
    assert!(record.calls.is_empty());
    assert_eq!(stub.api_requests().len(), 1);

    // Deleting, and an action that is not the network's.
    let record = camara
        .perform(DELETE_QOS_SESSION, &[Value::text(ID)])
        .unwrap();
    assert_eq!(record.session_id(), Some(ID));
    assert!(matches!(
        record.outcome,
        ActionOutcome::SessionDeleted { .. }
    ));
    assert!(
        camara
            .execute("acme.net.block_payment", &[], &decision)
            .is_none()
    );
}

/// A create answered 201 with a session that is not the one asked for is not done: an
/// `UNAVAILABLE` session (the QoS cannot be provided; the contract keeps its resources until it
/// is deleted, and no new session can be created before), or one with another QoS profile
/// than the decision allowed. The session is deleted, best effort, and the record says why,
/// with every call's correlator.
#[test]
fn a_session_created_unavailable_or_with_another_profile_is_not_done_and_is_deleted() {
    use xop_runtime::connectors::Connectors;

    let spec = Spec::load("quality-on-demand.yaml");
    let unavailable = spec.example("SESSION_UNAVAILABLE_EXAMPLE");
    assert_eq!(unavailable["qosProfile"], "QOS_L");
    let mut other_profile = spec.example("SESSION_AVAILABLE_EXAMPLE");
    other_profile["qosProfile"] = json!("QOS_M");
    let mut both = unavailable.clone();
    both["qosProfile"] = json!("QOS_M");
    for (answer, delete_status, why) in [
        (
            unavailable,
            204,
            vec!["qosStatus UNAVAILABLE (NETWORK_TERMINATED)"],
        ),
        (
            other_profile,
            204,
            vec!["granted QoS profile QOS_M, not QOS_L"],
        ),
        (
            both,
            404,
            vec![
                "qosStatus UNAVAILABLE (NETWORK_TERMINATED)",
                "granted QoS profile QOS_M",
            ],
        ),
    ] {
        assert!(
            spec.check_response("/sessions", "post", "201", &answer)
                .is_empty(),
            "{answer}"
        );
        let created = answer.clone();
        let stub = Stub::start(move |r, _| match r.method.as_str() {
            "POST" => Reply::json(201, &created),
            _ if delete_status == 204 => Reply::raw(204, ""),
            _ => Reply::json(
                404,
                &json!({ "status": 404, "code": "NOT_FOUND", "message": "The specified resource is not found." }),
            ),
        });
        let camara = stub.camara();
        let args = create_args("QOS_L", 3_600_000);
        let record = camara.perform(CREATE_QOS_SESSION, &args).unwrap();
        let ActionOutcome::SessionDiscarded {
            session,
            requested_qos_profile,
            reason,
            delete_error,
        } = &record.outcome
        else {
            panic!("{answer}: recorded as {:?}", record.outcome);
        };
        assert_eq!(session.session_id, ID);
        assert_eq!(requested_qos_profile, "QOS_L");
        for w in &why {
            assert!(reason.contains(w), "{reason}");
        }
        assert_eq!(
            delete_error.as_ref().map(CallError::status),
            (delete_status == 404).then_some(Some(404))
        );
        // The session was deleted: the create and the delete, each with its correlator.
        let sent = stub.api_requests();
        let shapes: Vec<(String, String)> = sent
            .iter()
            .map(|r| (r.method.clone(), route(&r.path)))
            .collect();
        assert_eq!(
            shapes,
            [("POST", "/sessions"), ("DELETE", "/sessions/{sessionId}")]
                .map(|(m, p)| (m.to_string(), p.to_string()))
        );
        let correlators: Vec<_> = record
            .calls
            .iter()
            .filter_map(|c| c.correlator.as_deref())
            .collect();
        let headers: Vec<_> = sent
            .iter()
            .filter_map(|r| r.header("x-correlator"))
            .collect();
        assert_eq!(correlators, headers);

        // As the runtime proves it: not ok, with the reason and the session.
        let performed =
            Connectors::perform(&camara, crate::program(), CREATE_QOS_SESSION, &args).unwrap();
        assert!(!performed.ok, "{performed:?}");
        let r = &performed.result;
        assert!(r["error"].as_str().unwrap().contains(why[0]), "{r}");
        assert_eq!(r["session_id"], ID);
        assert_eq!(r["requested_qos_profile"], "QOS_L");
        assert_eq!(r["qos_profile"], answer["qosProfile"]);
        assert_eq!(r["qos_status"], answer["qosStatus"]);
        assert_eq!(r["deleted"], json!(delete_status == 204));
    }

    // REQUESTED with the profile asked for is done: the network is setting it up.
    let stub = qod_stub(&spec);
    let record = stub
        .camara()
        .perform(CREATE_QOS_SESSION, &create_args("QOS_L", 3_600_000))
        .unwrap();
    assert!(
        matches!(&record.outcome, ActionOutcome::SessionCreated(s) if s.qos_status == QosStatus::Requested)
    );
    assert_eq!(stub.api_requests().len(), 1, "nothing deleted");
}

#[test]
fn a_failed_qod_instruction_records_why() {
    let spec = Spec::load("quality-on-demand.yaml");
    let (status, body) = spec
        .error_examples("/sessions", "post")
        .into_iter()
        .find(|(_, b)| b["code"] == "QUALITY_ON_DEMAND.DURATION_OUT_OF_RANGE")
        .unwrap();
    let answer = body.clone();
    let stub = Stub::start(move |_, _| Reply::json(status, &answer));
    let camara = stub.camara();
    let args = create_args("QOS_L", 3_600_000);
    let (decision, _) = camara.decide_action(crate::program(), CREATE_QOS_SESSION, &args, 0);
    let record = camara
        .execute(CREATE_QOS_SESSION, &args, &decision)
        .unwrap();
    match &record.outcome {
        ActionOutcome::Failed(e) => {
            assert_eq!(e.code(), Some("QUALITY_ON_DEMAND.DURATION_OUT_OF_RANGE"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(record.session_id(), None);
    assert!(record.correlator().is_some());
    let api_call = record
        .calls
        .iter()
        .find(|c| c.api == "quality-on-demand")
        .unwrap();
    assert_eq!(api_call.status, Some(400));
    // Part of a second is not a duration QoD can ask for: refused before any call.
    let args = create_args("QOS_L", 1_500);
    let record = camara.perform(CREATE_QOS_SESSION, &args).unwrap();
    assert!(matches!(
        record.outcome,
        ActionOutcome::Failed(CallError::InvalidArgument(_))
    ));
    assert!(record.calls.is_empty());
    // Arguments of the wrong kinds are a failure, not a panic.
    let record = camara
        .perform(CREATE_QOS_SESSION, &[Value::Int(1)])
        .unwrap();
    assert!(matches!(
        record.outcome,
        ActionOutcome::Failed(CallError::InvalidArgument(_))
    ));
}

/// A stand-in that creates with `created` and answers a DELETE with `delete_status`.
fn create_stub(created: serde_json::Value, delete_status: u16) -> Stub {
    Stub::start(move |r, _| match r.method.as_str() {
        "POST" => Reply::json(201, &created),
        _ if delete_status == 204 => Reply::raw(204, ""),
        _ => Reply::json(
            404,
            &json!({ "status": 404, "code": "NOT_FOUND", "message": "The specified resource is not found." }),
        ),
    })
}

/// The requests `stub` received, as (method, route).
fn shapes(stub: &Stub) -> Vec<(String, String)> {
    stub.api_requests()
        .iter()
        .map(|r| (r.method.clone(), route(&r.path)))
        .collect()
}

/// The correlators of the calls `record` made.
fn correlators(record: &xop_network::ActionRecord) -> Vec<String> {
    record
        .calls
        .iter()
        .filter_map(|c| c.correlator.clone())
        .collect()
}

/// The correlators `stub` received from the API calls.
fn headers(stub: &Stub) -> Vec<String> {
    stub.api_requests()
        .iter()
        .filter_map(|r| r.header("x-correlator").map(str::to_string))
        .collect()
}

fn create_then_delete() -> Vec<(String, String)> {
    [("POST", "/sessions"), ("DELETE", "/sessions/{sessionId}")]
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .to_vec()
}

/// The policy allowed a session for one device, application server and duration: a 201 with
/// a longer duration (a 24 h boost where at most 2 h may be allowed), another device or another
/// application server is not the session allowed. Not done, and deleted, as for another
/// profile. The contract lets the network grant a different duration: a shorter one is as
/// asked; and it returns the device only sometimes.
#[test]
fn a_session_longer_or_for_another_device_or_server_is_not_done_and_is_deleted() {
    use xop_runtime::connectors::Connectors;

    let spec = Spec::load("quality-on-demand.yaml");
    let base = spec.example("SESSION_CREATION_EXAMPLE_WITH_DEVICE_RESPONSE");
    assert_eq!(base["device"]["phoneNumber"], PHONE);
    let with = |key: &str, v: serde_json::Value| {
        let mut a = base.clone();
        a[key] = v;
        a
    };
    let mut no_server = base.clone();
    no_server
        .as_object_mut()
        .unwrap()
        .remove("applicationServer");
    for (answer, in_contract, why) in [
        (
            with("duration", json!(86_400)),
            true,
            "a duration of 86400 s, more than the 3600 s asked",
        ),
        (
            with("device", json!({"phoneNumber": "+199999999"})),
            true,
            "for device +199999999, not +123456789",
        ),
        (
            with(
                "device",
                json!({"networkAccessIdentifier": "123456789@domain.com"}),
            ),
            true,
            "for device {\"networkAccessIdentifier\"",
        ),
        (
            with(
                "applicationServer",
                json!({"ipv4Address": "203.0.113.0/24"}),
            ),
            true,
            "for application server 203.0.113.0/24, not 198.51.100.0/24",
        ),
        (
            with(
                "applicationServer",
                json!({"ipv4Address": "198.51.100.0/25"}),
            ),
            true,
            "for application server 198.51.100.0/25",
        ),
        (no_server, false, "names no applicationServer"),
    ] {
        assert_eq!(
            spec.check_response("/sessions", "post", "201", &answer)
                .is_empty(),
            in_contract,
            "{answer}"
        );
        let stub = create_stub(answer.clone(), 204);
        let camara = stub.camara();
        let args = create_args("QOS_L", 3_600_000);
        let record = camara.perform(CREATE_QOS_SESSION, &args).unwrap();
        let ActionOutcome::SessionDiscarded {
            session,
            reason,
            delete_error,
            ..
        } = &record.outcome
        else {
            panic!("{answer}: recorded as {:?}", record.outcome);
        };
        assert_eq!(session.session_id, ID);
        assert!(reason.contains(why), "{reason}");
        assert_eq!(delete_error, &None);
        assert_eq!(shapes(&stub), create_then_delete(), "{answer}");
        assert_eq!(correlators(&record), headers(&stub), "both calls recorded");

        let performed =
            Connectors::perform(&camara, crate::program(), CREATE_QOS_SESSION, &args).unwrap();
        assert!(!performed.ok, "{performed:?}");
        assert!(
            performed.result["error"].as_str().unwrap().contains(why),
            "{}",
            performed.result
        );
        assert_eq!(performed.result["session_id"], ID);
        assert_eq!(performed.result["deleted"], true);
    }

    // As asked: a shorter duration, the same device and server (however the address is
    // written), or no device named.
    for (server, answer) in [
        ("198.51.100.0/24", with("duration", json!(1800))),
        ("198.51.100.0/24", base.clone()),
        ("198.51.100.0/24", spec.example("SESSION_CREATION_EXAMPLE")),
        (
            "2001:db8::/64",
            with(
                "applicationServer",
                json!({"ipv6Address": "2001:DB8:0::/64"}),
            ),
        ),
        (
            "198.51.100.7",
            with(
                "applicationServer",
                json!({"ipv4Address": "198.51.100.7/32"}),
            ),
        ),
    ] {
        let stub = create_stub(answer.clone(), 204);
        let mut args = create_args("QOS_L", 3_600_000);
        args[1] = Value::text(server);
        let record = stub.camara().perform(CREATE_QOS_SESSION, &args).unwrap();
        assert!(
            matches!(&record.outcome, ActionOutcome::SessionCreated(s) if s.session_id == ID),
            "{answer}: {:?}",
            record.outcome
        );
        assert_eq!(stub.api_requests().len(), 1, "{answer}: nothing deleted");
    }
}

/// A 201 out of contract (a `qosStatus` the contract does not list, or none) that names a
/// session is not done; the session it names may exist, so its id is recorded and it is
/// deleted, best effort. Without a usable `sessionId` there is nothing to delete.
#[test]
fn a_create_answer_out_of_contract_naming_a_session_deletes_it() {
    use xop_runtime::connectors::Connectors;

    let spec = Spec::load("quality-on-demand.yaml");
    let base = spec.example("SESSION_AVAILABLE_EXAMPLE");
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("qosStatus");
    let mut no_duration = base.clone();
    no_duration.as_object_mut().unwrap().remove("duration");
    let status = |s: &str| {
        let mut a = base.clone();
        a["qosStatus"] = json!(s);
        a
    };
    for (answer, delete_status, why) in [
        (status("FOO"), 204, "qosStatus `FOO`"),
        (status("available"), 204, "qosStatus `available`"),
        (missing, 204, "qosStatus is missing"),
        (no_duration, 404, "duration is missing"),
    ] {
        assert!(
            !spec
                .check_response("/sessions", "post", "201", &answer)
                .is_empty(),
            "{answer} is out of contract"
        );
        let stub = create_stub(answer.clone(), delete_status);
        let camara = stub.camara();
        let args = create_args("QOS_L", 3_600_000);
        let record = camara.perform(CREATE_QOS_SESSION, &args).unwrap();
        let ActionOutcome::SessionOutOfContract {
            session_id,
            error,
            delete_error,
        } = &record.outcome
        else {
            panic!("{answer}: recorded as {:?}", record.outcome);
        };
        assert_eq!(session_id, ID);
        assert_eq!(record.session_id(), Some(ID));
        assert!(
            matches!(error, CallError::BadResponse(m) if m.contains(why)),
            "{error:?}"
        );
        assert_eq!(
            delete_error.as_ref().map(CallError::status),
            (delete_status == 404).then_some(Some(404))
        );
        assert_eq!(shapes(&stub), create_then_delete(), "{answer}");
        assert_eq!(correlators(&record), headers(&stub), "both calls recorded");
        let create = record
            .calls
            .iter()
            .find(|c| c.api == "quality-on-demand")
            .unwrap();
        assert!(create.error.as_deref().unwrap().contains(why), "{create:?}");

        let performed =
            Connectors::perform(&camara, crate::program(), CREATE_QOS_SESSION, &args).unwrap();
        assert!(!performed.ok, "{performed:?}");
        let r = &performed.result;
        assert!(r["error"].as_str().unwrap().contains(why), "{r}");
        assert_eq!(r["session_id"], ID);
        assert_eq!(r["deleted"], json!(delete_status == 204));
    }

    // No sessionId, or one that is not a UUID: failed, nothing to delete.
    for id in [json!(null), json!("../admin")] {
        let mut answer = status("FOO");
        answer["sessionId"] = id;
        let stub = create_stub(answer.clone(), 204);
        let record = stub
            .camara()
            .perform(CREATE_QOS_SESSION, &create_args("QOS_L", 3_600_000))
            .unwrap();
        assert!(
            matches!(
                record.outcome,
                ActionOutcome::Failed(CallError::BadResponse(_))
            ),
            "{answer}: {:?}",
            record.outcome
        );
        assert_eq!(record.session_id(), None);
        assert_eq!(stub.api_requests().len(), 1, "{answer}: nothing deleted");
    }
}

/// `GET /sessions/{A}` returns A's `SessionInfo`: an answer about another session (however
/// well-formed) may be another request's, and is out of contract; so is one missing a field
/// the contract requires (`applicationServer`, `qosProfile`, …) or with a `duration` beyond
/// its `int32`. The same goes for the extend answer. The `camara.qos_session` signal is then
/// absent, with the reason.
#[test]
fn a_session_answer_about_another_session_or_out_of_contract_is_refused() {
    const OTHER: &str = "11111111-2222-4333-8444-555555555555";
    let spec = Spec::load("quality-on-demand.yaml");
    let available = spec.example("SESSION_AVAILABLE_EXAMPLE");
    assert_eq!(available["sessionId"], ID);
    let changed = |key: &str, value: serde_json::Value| {
        let mut a = available.clone();
        match value {
            serde_json::Value::Null => {
                a.as_object_mut().unwrap().remove(key);
            }
            v => a[key] = v,
        }
        a
    };
    for (answer, why) in [
        (changed("sessionId", json!(OTHER)), "about session 11111111"),
        (
            changed("applicationServer", json!(null)),
            "applicationServer is missing",
        ),
        (
            changed("applicationServer", json!({})),
            "applicationServer is empty",
        ),
        (
            changed("applicationServer", json!({"ipv4Address": 198})),
            "applicationServer.ipv4Address is not a string",
        ),
        (changed("qosProfile", json!(null)), "qosProfile is missing"),
        (changed("qosProfile", json!("Q L")), "qosProfile"),
        (
            changed("duration", json!(99_999_999_999_i64)),
            "beyond the contract's int32",
        ),
        (
            changed("duration", json!(2_147_483_648_i64)),
            "beyond the contract's int32",
        ),
        (changed("duration", json!(null)), "duration is missing"),
        (changed("qosStatus", json!(null)), "qosStatus is missing"),
    ] {
        // The answer is indeed out of the contract (or about another session).
        if why != "about session 11111111" {
            let problems = spec.check_response("/sessions/{sessionId}", "get", "200", &answer);
            assert!(!problems.is_empty() || why.contains("int32"), "{answer}");
        }
        let a = answer.clone();
        let stub = Stub::start(move |_, _| Reply::json(200, &a));
        let camara = stub.camara();
        for (op, result) in [
            ("get", camara.get_session(ID).result),
            ("extend", camara.extend_session(ID, 60).result),
        ] {
            match result {
                Err(CallError::BadResponse(m)) => assert!(m.contains(why), "{op} {answer}: {m}"),
                other => panic!("{op} {answer}: {other:?}"),
            }
        }
        // Not retried: two requests, one per operation.
        assert_eq!(stub.api_requests().len(), 2, "{answer}");
        let s = crate::signal("session");
        let signals = camara.signals(crate::program(), 0);
        let v = xop_runtime::interp::Signals::read(
            &signals,
            s,
            &crate::program().signals[s as usize],
            &[Value::text(ID)],
        );
        assert_eq!(v, Value::Absent, "{answer}");
        let reason = signals.outcomes()[0].fetch.reason.clone().unwrap();
        assert!(reason.contains(why), "{reason}");
    }
    // The id as asked, in capitals: the same UUID.
    let upper = changed("sessionId", json!(ID.to_uppercase()));
    let stub = Stub::start(move |_, _| Reply::json(200, &upper));
    assert!(stub.camara().get_session(ID).result.is_ok());
    // At the int32 edge: within the contract.
    let edge = changed("duration", json!(2_147_483_647_i64));
    let stub = Stub::start(move |_, _| Reply::json(200, &edge));
    assert_eq!(
        stub.camara().get_session(ID).result.unwrap().duration_s,
        2_147_483_647
    );
}
