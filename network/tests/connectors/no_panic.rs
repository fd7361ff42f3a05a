//! Whatever an operator answers, the connectors neither panic nor take a malformed answer for a
//! value: arbitrary bodies (random text, and the contracts' own examples with values replaced,
//! keys dropped or types changed) under every status, for every operation (proptest).

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{Value as Json, json};
use xop_network::{Camara, CreateSession};

use crate::support::{Reply, Stub};

/// A well-formed answer of each operation: what the mutations start from.
fn good_answers() -> Vec<Json> {
    vec![
        json!({"swapped": true}),
        json!({"latestSimChange": "2024-09-18T07:37:53.471829447Z", "monitoredPeriod": 120}),
        json!({"lastStatusTime": "2024-02-20T10:41:38.657Z", "roaming": true,
               "countryCode": 262, "countryName": ["Germany"]}),
        json!({"lastStatusTime": "2024-02-20T10:41:38.657Z", "reachable": true,
               "connectivity": ["DATA", "SMS"]}),
        json!({"sessionId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "duration": 3600,
               "qosProfile": "QOS_L", "qosStatus": "AVAILABLE",
               "device": {"phoneNumber": "+33612345678"},
               "applicationServer": {"ipv4Address": "198.51.100.0/24"},
               "startedAt": "2024-06-01T12:00:00Z", "expiresAt": "2024-06-01T13:00:00Z"}),
    ]
}

/// Odd values a field may be given.
fn odd_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Json::from),
        Just(json!("2024-02-30T25:61:00Z")),
        Just(json!("UNKNOWN_STATUS")),
        Just(json!([])),
        Just(json!([1, "x", null])),
        Just(json!({"nested": {"deep": [true]}})),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ]
}

/// A body: random text, or a good answer with one key replaced by an odd value or dropped.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        (
            0usize..5,
            any::<prop::sample::Index>(),
            odd_value(),
            any::<bool>()
        )
            .prop_map(|(which, key, value, drop)| {
                let mut answer = good_answers().swap_remove(which);
                if let Json::Object(o) = &mut answer {
                    let keys: Vec<String> = o.keys().cloned().collect();
                    let k = key.get(&keys).clone();
                    if drop {
                        o.remove(&k);
                    } else {
                        o.insert(k, value);
                    }
                }
                answer.to_string()
            }),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        200u16, 201, 204, 302, 400, 401, 404, 409, 422, 429, 500, 503,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_panics_or_passes_for_a_value_when_out_of_contract(
        status in status(),
        body in body(),
    ) {
        let answer: Arc<Mutex<(u16, String)>> = Arc::new(Mutex::new((status, body.clone())));
        let shared = answer.clone();
        let stub = Stub::start(move |_, _| {
            let (s, b) = shared.lock().unwrap().clone();
            Reply::raw(s, &b)
        });
        let mut config = stub.config();
        config.max_attempts = 1;
        let camara = Camara::new(config);
        let phone = "+33612345678";
        let session = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        let request = CreateSession {
            phone_number: phone.into(),
            application_server: "198.51.100.0/24".into(),
            qos_profile: "QOS_L".into(),
            duration_s: 3600,
        };
        let oks = [
            (camara.check_sim_swap(phone, 24).result.is_ok(), 200),
            (camara.retrieve_sim_swap_date(phone).result.is_ok(), 200),
            (camara.roaming_status(phone).result.is_ok(), 200),
            (camara.reachability_status(phone).result.is_ok(), 200),
            (camara.create_session(&request).result.is_ok(), 201),
            (camara.get_session(session).result.is_ok(), 200),
            (camara.extend_session(session, 60).result.is_ok(), 200),
        ];
        for (i, (ok, success)) in oks.into_iter().enumerate() {
            // An answer is a value only under the operation's success status, and only when
            // its body is JSON (text that happens to be, e.g. `{}` or `true`, is refused by
            // the field checks).
            if ok {
                prop_assert_eq!(status, success, "operation {} took a {} for a value", i, status);
                prop_assert!(serde_json::from_str::<Json>(&body).is_ok(), "operation {i}: {body}");
            }
        }
    }
}
