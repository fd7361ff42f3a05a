//! The demo's stand-in operator (`examples/standins/camara.py`, which `examples/demo.sh` runs):
//! its times are those of each request, not of its start; and it refuses what the contracts
//! refuse with their 400 error bodies. Skipped when `python3` cannot be run.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use xop_network::{Camara, CamaraConfig, CreateSession};

use crate::support::Spec;

const PHONE: &str = "+33612345678";
const TOKEN: &str = "demo-token-0123456789";

/// The stand-in, running; stopped when dropped.
struct StandIn {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl StandIn {
    /// Started in a directory of its own named after `test` (tests run in parallel).
    fn start(test: &str) -> Option<StandIn> {
        let script: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "examples",
            "standins",
            "camara.py",
        ]
        .iter()
        .collect();
        let dir =
            std::env::temp_dir().join(format!("xop-net-standin-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port_file = dir.join("port");
        let child = match Command::new("python3")
            .arg("-B")
            .arg(&script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--requests")
            .arg(dir.join("requests.jsonl"))
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: cannot run python3: {e}");
                return None;
            }
        };
        let mut standin = StandIn {
            child,
            url: String::new(),
            dir,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                standin.url = format!("http://127.0.0.1:{}", port.trim());
                return Some(standin);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the stand-in wrote no port file within 20 s");
    }

    fn camara(&self) -> Camara {
        let config = CamaraConfig::with_root(
            &self.url,
            &format!("{}/oauth2/token", self.url),
            "xop-demo",
            "demo-secret",
        )
        .unwrap();
        Camara::new(config)
    }

    /// A raw POST (what the connectors would refuse to send), with the stand-in's token.
    fn post(&self, path: &str, body: &Json) -> (u16, Json) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut resp = agent
            .post(&format!("{}{path}", self.url))
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("x-correlator", "b4333c46-49c0-4f62-80d7-f0ef930f1c46")
            .content_type("application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Json::Null))
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[test]
fn the_stand_ins_times_are_those_of_each_request() {
    let Some(standin) = StandIn::start("times") else {
        return;
    };
    let camara = standin.camara();
    // Some time after the stand-in started, as in a demo that has been running a while.
    std::thread::sleep(Duration::from_millis(1500));
    let first = camara.roaming_status(PHONE).result.unwrap();
    let first_time = first.last_status_time.unwrap();
    assert!(
        (now_ms() - first_time).abs() < 1_500,
        "lastStatusTime is the request's time, not the start's: {} ms off",
        now_ms() - first_time
    );
    std::thread::sleep(Duration::from_millis(1100));
    let second = camara.reachability_status(PHONE).result.unwrap();
    assert!(second.last_status_time.unwrap() > first_time);

    // A session starts when it is created, and expires its duration later.
    let before = now_ms();
    let session = camara
        .create_session(&CreateSession {
            phone_number: PHONE.into(),
            application_server: "198.51.100.0/24".into(),
            qos_profile: "QOS_L".into(),
            duration_s: 600,
        })
        .result
        .unwrap();
    let started = session.started_at.unwrap();
    assert!(started >= before / 1000 * 1000 - 1000, "{started} {before}");
    assert!(started <= now_ms());
    assert_eq!(session.expires_at, Some(started + 600_000));

    // The SIM swap date moves with the requests too: two hours before each.
    let date = camara.retrieve_sim_swap_date(PHONE).result.unwrap();
    let age = now_ms() - date.latest_sim_change.unwrap();
    assert!((age - 2 * 3_600_000).abs() < 1_500, "{age}");
}

#[test]
fn the_stand_in_refuses_what_the_contracts_refuse_with_their_error_bodies() {
    let Some(standin) = StandIn::start("refusals") else {
        return;
    };
    let sim_swap = Spec::load("sim-swap.yaml");
    for max_age in [json!(0), json!(2401), json!(-1)] {
        let (status, body) = standin.post(
            "/sim-swap/v2/check",
            &json!({"phoneNumber": PHONE, "maxAge": max_age}),
        );
        assert_eq!(status, 400, "maxAge {max_age}: {body}");
        assert_eq!(body["code"], "OUT_OF_RANGE", "{body}");
        let problems = sim_swap.check_response("/check", "post", "400", &body);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let (status, body) = standin.post(
        "/sim-swap/v2/check",
        &json!({"phoneNumber": PHONE, "maxAge": "24"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    // Within range (and absent: 240 by default), it answers.
    for body in [
        json!({"phoneNumber": PHONE, "maxAge": 1}),
        json!({"phoneNumber": PHONE, "maxAge": 2400}),
        json!({"phoneNumber": PHONE}),
    ] {
        let (status, answer) = standin.post("/sim-swap/v2/check", &body);
        assert_eq!(status, 200, "{body}: {answer}");
    }

    // A QoD create without `duration` (required) is a 400, not a dropped connection.
    let qod = Spec::load("quality-on-demand.yaml");
    let create = json!({
        "device": {"phoneNumber": PHONE},
        "applicationServer": {"ipv4Address": "198.51.100.0/24"},
        "qosProfile": "QOS_L",
    });
    let (status, body) = standin.post("/quality-on-demand/v1/sessions", &create);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_ARGUMENT", "{body}");
    let problems = qod.check_response("/sessions", "post", "400", &body);
    assert!(problems.is_empty(), "{problems:?}");
    let mut zero = create.clone();
    zero["duration"] = json!(0);
    let (status, body) = standin.post("/quality-on-demand/v1/sessions", &zero);
    assert_eq!((status, body["code"].as_str()), (400, Some("OUT_OF_RANGE")));
    // Still serving after them.
    let mut good = create;
    good["duration"] = json!(60);
    let (status, body) = standin.post("/quality-on-demand/v1/sessions", &good);
    assert_eq!(status, 201, "{body}");
    let problems = qod.check_response("/sessions", "post", "201", &body);
    assert!(problems.is_empty(), "{problems:?}");
}
