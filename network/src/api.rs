//! The CAMARA operations, typed: the request bodies the OpenAPI files give, and their answers
//! checked against the contract (a field missing or of the wrong type, an unknown enum value or
//! an ill-formed date is an error, never a guess).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use xop_runtime::connectors::{self, Origin, QosSays};
use xop_runtime::engine::Deadline;

use crate::Camara;
use crate::config::Api;
use crate::http::{Answer, CallError, NetworkCall, Request, Retry};

/// The result of one operation and every HTTP request it made (attempts, token requests), in
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange<T> {
    /// The answer, or why there is none.
    pub result: Result<T, CallError>,
    /// The requests made, with their correlators.
    pub calls: Vec<NetworkCall>,
}

impl<T> Exchange<T> {
    fn local_error(error: CallError) -> Exchange<T> {
        Exchange {
            result: Err(error),
            calls: Vec::new(),
        }
    }

    /// The `x-correlator` of the operation (the one of its first attempt; every attempt of a
    /// call sends the same), if a request was sent.
    pub fn correlator(&self) -> Option<&str> {
        self.calls.iter().find_map(|c| c.correlator.as_deref())
    }
}

/// `POST /retrieve-date` of SIM Swap: when the SIM last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSwapDate {
    /// `latestSimChange`, in milliseconds since the epoch; `None` when the operator does not
    /// disclose it.
    pub latest_sim_change: Option<i64>,
    /// `monitoredPeriod`, in days, if given.
    pub monitored_period_days: Option<i64>,
}

/// `POST /retrieve` of Device Roaming Status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoamingStatus {
    /// `roaming`
    pub roaming: bool,
    /// `countryCode`, the visited network's Mobile Country Code.
    pub country_code: Option<i64>,
    /// `countryName` (empty when not given).
    pub country_name: Vec<String>,
    /// `lastStatusTime`, in milliseconds since the epoch.
    pub last_status_time: Option<i64>,
}

/// `ConnectivityType` of Device Reachability Status. Serialized in the contract's spelling;
/// the Rust variant names written before are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Connectivity {
    /// `DATA`
    #[serde(alias = "Data")]
    Data,
    /// `SMS`
    #[serde(alias = "Sms")]
    Sms,
}

/// `POST /retrieve` of Device Reachability Status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachabilityStatus {
    /// `reachable`
    pub reachable: bool,
    /// `connectivity` (empty when not given).
    pub connectivity: Vec<Connectivity>,
    /// `lastStatusTime`, in milliseconds since the epoch.
    pub last_status_time: Option<i64>,
}

/// `QosStatus` of Quality on Demand. Serialized in the contract's spelling (`UNAVAILABLE`),
/// as the proof log records it; the Rust variant names written before are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QosStatus {
    /// `REQUESTED`
    #[serde(alias = "Requested")]
    Requested,
    /// `AVAILABLE`
    #[serde(alias = "Available")]
    Available,
    /// `UNAVAILABLE`
    #[serde(alias = "Unavailable")]
    Unavailable,
}

impl QosStatus {
    /// The contract's spelling, e.g. `UNAVAILABLE`.
    pub fn name(self) -> &'static str {
        match self {
            QosStatus::Requested => "REQUESTED",
            QosStatus::Available => "AVAILABLE",
            QosStatus::Unavailable => "UNAVAILABLE",
        }
    }
}

/// `StatusInfo` of Quality on Demand. Serialized in the contract's spelling; the Rust variant
/// names written before are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusInfo {
    /// `DURATION_EXPIRED`
    #[serde(alias = "DurationExpired")]
    DurationExpired,
    /// `NETWORK_TERMINATED`
    #[serde(alias = "NetworkTerminated")]
    NetworkTerminated,
    /// `DELETE_REQUESTED`
    #[serde(alias = "DeleteRequested")]
    DeleteRequested,
}

impl StatusInfo {
    /// The contract's spelling, e.g. `NETWORK_TERMINATED`.
    pub fn name(self) -> &'static str {
        match self {
            StatusInfo::DurationExpired => "DURATION_EXPIRED",
            StatusInfo::NetworkTerminated => "NETWORK_TERMINATED",
            StatusInfo::DeleteRequested => "DELETE_REQUESTED",
        }
    }
}

/// `SessionInfo` of Quality on Demand (the fields XOP uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `sessionId` (a UUID).
    pub session_id: String,
    /// `qosProfile`
    pub qos_profile: String,
    /// `duration`, in seconds.
    pub duration_s: i64,
    /// `qosStatus`
    pub qos_status: QosStatus,
    /// `statusInfo`
    pub status_info: Option<StatusInfo>,
    /// `startedAt`, in milliseconds since the epoch.
    pub started_at: Option<i64>,
    /// `expiresAt`, in milliseconds since the epoch.
    pub expires_at: Option<i64>,
    /// `device`, when the answer names it: its `phoneNumber`, or the JSON of another device
    /// identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `applicationServer`, when the answer names it: its `ipv4Address` or `ipv6Address`, or
    /// the JSON of anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_server: Option<String>,
}

/// What `POST /sessions` asks for (two-legged: the device is named by its phone number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    /// `device.phoneNumber`, E.164 with a leading `+`.
    pub phone_number: String,
    /// `applicationServer`: an IPv4 or IPv6 address, optionally with a `/mask`.
    pub application_server: String,
    /// `qosProfile`
    pub qos_profile: String,
    /// `duration`, in seconds (at least 1).
    pub duration_s: i64,
}

impl Camara {
    /// `POST /check` of SIM Swap: whether the SIM was swapped in the last `max_age_hours`
    /// (1 to 2400).
    pub fn check_sim_swap(&self, phone_number: &str, max_age_hours: i64) -> Exchange<bool> {
        self.check_sim_swap_until(phone_number, max_age_hours, None)
    }

    /// [`Camara::check_sim_swap`] for a decision whose reads must be done by `until`
    /// ([`Transport::call`](crate::http::Transport::call)).
    pub(crate) fn check_sim_swap_until(
        &self,
        phone_number: &str,
        max_age_hours: i64,
        until: Option<&Deadline>,
    ) -> Exchange<bool> {
        if let Err(e) = check_phone(phone_number) {
            return Exchange::local_error(e);
        }
        if !(1..=2400).contains(&max_age_hours) {
            return Exchange::local_error(CallError::InvalidArgument(format!(
                "maxAge must be 1 to 2400 hours, not {max_age_hours}"
            )));
        }
        let body = json!({ "phoneNumber": phone_number, "maxAge": max_age_hours });
        self.json_call(
            Api::SimSwap,
            "checkSimSwap",
            "POST",
            "/check".into(),
            Some(body),
            Retry::Idempotent,
            until,
            &[200],
            |o| o.bool("swapped"),
        )
    }

    /// `POST /retrieve-date` of SIM Swap: when the SIM last changed.
    pub fn retrieve_sim_swap_date(&self, phone_number: &str) -> Exchange<SimSwapDate> {
        self.retrieve_sim_swap_date_until(phone_number, None)
    }

    /// [`Camara::retrieve_sim_swap_date`] for a decision whose reads must be done by `until`.
    pub(crate) fn retrieve_sim_swap_date_until(
        &self,
        phone_number: &str,
        until: Option<&Deadline>,
    ) -> Exchange<SimSwapDate> {
        let body = json!({ "phoneNumber": phone_number });
        self.phone_read(
            Api::SimSwap,
            "retrieveSimSwapDate",
            "/retrieve-date",
            phone_number,
            until,
            body,
            |o| {
                // Required, and nullable: `null` is "not disclosed", a missing key is a bug.
                if !o.0.contains_key("latestSimChange") {
                    return Err("latestSimChange is missing".into());
                }
                let monitored = o.opt_int("monitoredPeriod")?;
                if monitored.is_some_and(|d| d < 0) {
                    return Err("monitoredPeriod is negative".into());
                }
                Ok(SimSwapDate {
                    latest_sim_change: o.opt_time("latestSimChange")?,
                    monitored_period_days: monitored,
                })
            },
        )
    }

    /// `POST /retrieve` of Device Roaming Status.
    pub fn roaming_status(&self, phone_number: &str) -> Exchange<RoamingStatus> {
        self.roaming_status_until(phone_number, None)
    }

    /// [`Camara::roaming_status`] for a decision whose reads must be done by `until`.
    pub(crate) fn roaming_status_until(
        &self,
        phone_number: &str,
        until: Option<&Deadline>,
    ) -> Exchange<RoamingStatus> {
        let body = json!({ "device": { "phoneNumber": phone_number } });
        self.phone_read(
            Api::DeviceRoamingStatus,
            "getRoamingStatus",
            "/retrieve",
            phone_number,
            until,
            body,
            |o| {
                Ok(RoamingStatus {
                    roaming: o.bool("roaming")?,
                    country_code: o.opt_int("countryCode")?,
                    country_name: o.str_list("countryName")?,
                    last_status_time: o.opt_time("lastStatusTime")?,
                })
            },
        )
    }

    /// `POST /retrieve` of Device Reachability Status.
    pub fn reachability_status(&self, phone_number: &str) -> Exchange<ReachabilityStatus> {
        self.reachability_status_until(phone_number, None)
    }

    /// [`Camara::reachability_status`] for a decision whose reads must be done by `until`.
    pub(crate) fn reachability_status_until(
        &self,
        phone_number: &str,
        until: Option<&Deadline>,
    ) -> Exchange<ReachabilityStatus> {
        let body = json!({ "device": { "phoneNumber": phone_number } });
        self.phone_read(
            Api::DeviceReachabilityStatus,
            "getReachabilityStatus",
            "/retrieve",
            phone_number,
            until,
            body,
            |o| {
                let connectivity = o
                    .str_list("connectivity")?
                    .iter()
                    .map(|c| match c.as_str() {
                        "DATA" => Ok(Connectivity::Data),
                        "SMS" => Ok(Connectivity::Sms),
                        other => Err(format!("connectivity `{other}` is not DATA or SMS")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let reachable = o.bool("reachable")?;
                // The runtime's rule, the one that also judges values given in the input.
                let names = o.str_list("connectivity")?;
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                connectors::reachability_agrees(ANSWER, reachable, &names)?;
                Ok(ReachabilityStatus {
                    reachable,
                    connectivity,
                    last_status_time: o.opt_time("lastStatusTime")?,
                })
            },
        )
    }

    /// `POST /sessions` of Quality on Demand: asks for a QoS session. Not repeated after a
    /// timeout or a 5xx (the contract has no idempotency key: a second session could be made);
    /// repeated only when the request surely was not processed (no connection, 429).
    pub fn create_session(&self, req: &CreateSession) -> Exchange<SessionInfo> {
        self.create_session_naming(req).0
    }

    /// [`Camara::create_session`], with the `sessionId` of an answer out of contract that
    /// names one (a valid UUID): the network may have created that session, which the caller
    /// then deletes.
    pub(crate) fn create_session_naming(
        &self,
        req: &CreateSession,
    ) -> (Exchange<SessionInfo>, Option<String>) {
        let server = match application_server(&req.application_server) {
            Ok(s) => s,
            Err(e) => return (Exchange::local_error(e), None),
        };
        if let Err(e) = check_phone(&req.phone_number)
            .and_then(|()| check_profile(&req.qos_profile))
            .and_then(|()| check_seconds("duration", req.duration_s))
        {
            return (Exchange::local_error(e), None);
        }
        let body = json!({
            "device": { "phoneNumber": req.phone_number },
            "applicationServer": server,
            "qosProfile": req.qos_profile,
            "duration": req.duration_s,
        });
        let req = Request {
            api: Api::QualityOnDemand,
            operation: "createSession",
            method: "POST",
            path: "/sessions".into(),
            body: Some(body),
            retry: Retry::Once,
            expect: &[201],
        };
        let mut calls = Vec::new();
        // An action: never cut off by a decision's deadline.
        let (result, named) = match self.transport.call(&req, None, &mut calls) {
            Err(e) => (Err(e), None),
            Ok(answer) => match parse_answer(&answer, session_info) {
                Ok(s) => (Ok(s), None),
                // A 201 out of contract: the network may still have made the session it
                // names, however the rest of the body reads.
                Err(e) => (Err(e), named_session(&answer.body)),
            },
        };
        if let (Err(e @ CallError::BadResponse(_)), Some(last)) = (&result, calls.last_mut()) {
            // The request went through but its answer is unusable: say so on the record.
            last.error = Some(e.to_string());
        }
        (Exchange { result, calls }, named)
    }

    /// `GET /sessions/{sessionId}` of Quality on Demand.
    pub fn get_session(&self, session_id: &str) -> Exchange<SessionInfo> {
        self.get_session_until(session_id, None)
    }

    /// [`Camara::get_session`] for a decision whose reads must be done by `until`.
    pub(crate) fn get_session_until(
        &self,
        session_id: &str,
        until: Option<&Deadline>,
    ) -> Exchange<SessionInfo> {
        if let Err(e) = check_uuid(session_id) {
            return Exchange::local_error(e);
        }
        self.json_call(
            Api::QualityOnDemand,
            "getSession",
            "GET",
            format!("/sessions/{session_id}"),
            None,
            Retry::Idempotent,
            until,
            &[200],
            |o| session_of(o, session_id),
        )
    }

    /// `DELETE /sessions/{sessionId}` of Quality on Demand. Repeated like a read (deleting
    /// twice deletes once). A 404 on a retry counts as deleted only when an earlier attempt
    /// may have deleted it (sent, then no answer, or a 500/502/504); after attempts that surely
    /// did nothing (no connection, a 429 or 503) it is a 404: the session is not there, and
    /// this call did not delete it.
    pub fn delete_session(&self, session_id: &str) -> Exchange<()> {
        if let Err(e) = check_uuid(session_id) {
            return Exchange::local_error(e);
        }
        let req = Request {
            api: Api::QualityOnDemand,
            operation: "deleteSession",
            method: "DELETE",
            path: format!("/sessions/{session_id}"),
            body: None,
            retry: Retry::Idempotent,
            expect: &[204],
        };
        let mut calls = Vec::new();
        // An action: never cut off by a decision's deadline.
        let called = self.transport.call_traced(&req, None, &mut calls);
        let result = match called.result {
            Err(CallError::Api { status: 404, .. }) if called.earlier_may_have_run => Ok(()),
            other => other.map(|_| ()),
        };
        Exchange { result, calls }
    }

    /// `POST /sessions/{sessionId}/extend` of Quality on Demand: adds
    /// `additional_s` seconds to an available session. Not repeated after a timeout or a 5xx
    /// (it would extend twice).
    pub fn extend_session(&self, session_id: &str, additional_s: i64) -> Exchange<SessionInfo> {
        if let Err(e) = check_uuid(session_id)
            .and_then(|()| check_seconds("requestedAdditionalDuration", additional_s))
        {
            return Exchange::local_error(e);
        }
        let body = json!({ "requestedAdditionalDuration": additional_s });
        self.json_call(
            Api::QualityOnDemand,
            "extendQosSessionDuration",
            "POST",
            format!("/sessions/{session_id}/extend"),
            Some(body),
            Retry::Once,
            None,
            &[200],
            |o| session_of(o, session_id),
        )
    }

    /// A read-only `POST` about `phone_number` (CAMARA's check and retrieve operations) for a
    /// decision whose reads must be done by `until`: the number checked before anything is
    /// sent, retried as idempotent, 200 expected.
    #[allow(clippy::too_many_arguments)]
    fn phone_read<T>(
        &self,
        api: Api,
        operation: &'static str,
        path: &'static str,
        phone_number: &str,
        until: Option<&Deadline>,
        body: Json,
        parse: impl FnOnce(&Obj<'_>) -> Result<T, String>,
    ) -> Exchange<T> {
        if let Err(e) = check_phone(phone_number) {
            return Exchange::local_error(e);
        }
        self.json_call(
            api,
            operation,
            "POST",
            path.into(),
            Some(body),
            Retry::Idempotent,
            until,
            &[200],
            parse,
        )
    }

    /// Makes a call whose answer is a JSON object, parsed by `parse`; its retries and the
    /// deadline it must be done by (`None` for actions, which are never cut off).
    #[allow(clippy::too_many_arguments)]
    fn json_call<T>(
        &self,
        api: Api,
        operation: &'static str,
        method: &'static str,
        path: String,
        body: Option<Json>,
        retry: Retry,
        until: Option<&Deadline>,
        expect: &[u16],
        parse: impl FnOnce(&Obj<'_>) -> Result<T, String>,
    ) -> Exchange<T> {
        let req = Request {
            api,
            operation,
            method,
            path,
            body,
            retry,
            expect,
        };
        let mut calls = Vec::new();
        let result = self
            .transport
            .call(&req, until, &mut calls)
            .and_then(|answer| parse_answer(&answer, parse));
        if let (Err(e @ CallError::BadResponse(_)), Some(last)) = (&result, calls.last_mut()) {
            // The request went through but its answer is unusable: say so on the record.
            last.error = Some(e.to_string());
        }
        Exchange { result, calls }
    }
}

/// A success answer's body, read strictly as a JSON object and parsed by `parse`: a body
/// that is not text, not JSON, gives a key twice (`"swapped": true, "swapped": false`, out
/// of contract, not a value to pick one reading of) or is not an object is out of contract.
fn parse_answer<T>(
    answer: &Answer,
    parse: impl FnOnce(&Obj<'_>) -> Result<T, String>,
) -> Result<T, CallError> {
    if let Some(why) = &answer.not_text {
        return Err(CallError::BadResponse(format!(
            "status {}: {why}",
            answer.status
        )));
    }
    let parsed = xop_runtime::bind::parse_json(&answer.body).map_err(|e| {
        CallError::BadResponse(match e.kind {
            xop_runtime::bind::BindErrorKind::DuplicateKey => {
                format!("status {}: {e}", answer.status)
            }
            _ => format!("status {}: not JSON: {}", answer.status, e.message),
        })
    })?;
    let Json::Object(map) = parsed else {
        return Err(CallError::BadResponse(
            "the body is not a JSON object".into(),
        ));
    };
    parse(&Obj(&map)).map_err(CallError::BadResponse)
}

/// The session a create's answer out of contract names, read leniently from its text: the
/// UUID each `"sessionId": "…"` in it gives, when they all give the same one (an answer
/// naming two sessions names none it can be trusted for). The strict read failed, so the
/// body may give a key twice, be cut off after the id, or not be UTF-8 text (decoded
/// leniently: an ASCII id survives); a compressed body hides it.
fn named_session(body: &str) -> Option<String> {
    const KEY: &str = "\"sessionId\"";
    let mut found: Option<String> = None;
    let mut rest = body;
    while let Some(at) = rest.find(KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest.trim_start();
        let Some(value) = value.strip_prefix(':') else {
            continue;
        };
        let Some(value) = value.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(id) = value.get(..36).filter(|_| value[36..].starts_with('"')) else {
            continue;
        };
        if check_uuid(id).is_err() {
            continue;
        }
        match &found {
            Some(f) if !f.eq_ignore_ascii_case(id) => return None,
            _ => found = Some(id.to_string()),
        }
    }
    found
}

/// The answer about session `asked` (`GET /sessions/{asked}`, its `extend`): a `SessionInfo`
/// with every field the contract requires, `applicationServer` included, about that session.
/// An answer about another session may be another request's (a proxy mixing them up): out of
/// contract, however well-formed.
fn session_of(o: &Obj<'_>, asked: &str) -> Result<SessionInfo, String> {
    let s = session_info(o)?;
    if !s.session_id.eq_ignore_ascii_case(asked) {
        return Err(format!(
            "the answer is about session {}, not the {asked} asked about",
            s.session_id
        ));
    }
    if s.application_server.is_none() {
        return Err("applicationServer is missing".into());
    }
    Ok(s)
}

/// A `SessionInfo` (`sessionId`, `duration`, `qosStatus` and `qosProfile` required, each as
/// the contract types it; `applicationServer`, required too, is checked where it must be
/// there: a create's answer without it is a session other than the one asked for).
fn session_info(o: &Obj<'_>) -> Result<SessionInfo, String> {
    let session_id = o.str("sessionId")?;
    check_uuid(&session_id).map_err(|e| format!("sessionId: {e}"))?;
    let duration_s = o.int("duration")?;
    if duration_s < 1 {
        return Err(format!("duration {duration_s} is less than 1 second"));
    }
    if duration_s > i64::from(i32::MAX) {
        return Err(format!(
            "duration {duration_s} is beyond the contract's int32"
        ));
    }
    let qos_profile = o.str("qosProfile")?;
    check_profile(&qos_profile).map_err(|e| format!("qosProfile: {e}"))?;
    let application_server = match o.get("applicationServer") {
        None => None,
        Some(a) => Some(server_of(a)?),
    };
    let qos_status = match o.str("qosStatus")?.as_str() {
        "REQUESTED" => QosStatus::Requested,
        "AVAILABLE" => QosStatus::Available,
        "UNAVAILABLE" => QosStatus::Unavailable,
        other => return Err(format!("qosStatus `{other}` is not in the contract")),
    };
    let status_info = match o.opt_str("statusInfo")?.as_deref() {
        None => None,
        Some("DURATION_EXPIRED") => Some(StatusInfo::DurationExpired),
        Some("NETWORK_TERMINATED") => Some(StatusInfo::NetworkTerminated),
        Some("DELETE_REQUESTED") => Some(StatusInfo::DeleteRequested),
        Some(other) => return Err(format!("statusInfo `{other}` is not in the contract")),
    };
    // The contract gives `statusInfo` (why the session became unavailable) only with
    // `UNAVAILABLE`: an available session that says it was terminated contradicts itself. The
    // runtime's rule, the one that also judges values given in the input.
    connectors::qos_session_agrees(ANSWER, &says(qos_status, status_info, None), None)?;
    let device = match o.get("device") {
        None if o.0.contains_key("device") => {
            // `Obj::get` reads null as missing; the contract types `device` as an object,
            // not nullable (it may be left out, not nulled).
            return Err("device is null, not an object".into());
        }
        None => None,
        Some(d) => Some(named(d, &["phoneNumber"])),
    };
    Ok(SessionInfo {
        session_id,
        qos_profile,
        duration_s,
        qos_status,
        status_info,
        started_at: o.opt_time("startedAt")?,
        expires_at: o.opt_time("expiresAt")?,
        device,
        application_server,
    })
}

/// Why session `s`, as the network describes it, has run out at `at_ms` (milliseconds since
/// the epoch) while still called `REQUESTED` or `AVAILABLE`: its `expiresAt` is before
/// `at_ms` by more than [`CLOCK_SKEW_MS`](xop_runtime::connectors::CLOCK_SKEW_MS) (clocks
/// apart). The operator's own record then contradicts itself (a session past its end is
/// deleted or `UNAVAILABLE` with `DURATION_EXPIRED`): `None` when it does not. The runtime's
/// rule ([`connectors::qos_session_agrees`]).
pub(crate) fn lapsed(s: &SessionInfo, at_ms: i64) -> Option<String> {
    // The runtime's rule, the one that also judges values given in the input. `statusInfo`
    // was checked when the answer was read.
    let says = says(s.qos_status, None, s.expires_at);
    connectors::qos_session_agrees(ANSWER, &says, Some(at_ms)).err()
}

/// A connector's answer, to the runtime's agreement rules (which read no clock).
const ANSWER: Origin = Origin::Answer { clock_ms: 0 };

/// A session's state as the runtime's agreement rules read it, in the contract's spelling.
fn says(status: QosStatus, info: Option<StatusInfo>, expires_at: Option<i64>) -> QosSays<'static> {
    QosSays {
        status: status.name(),
        unavailable: status == QosStatus::Unavailable,
        status_info: info.map(StatusInfo::name),
        expires_at,
    }
}

/// An answer's `ApplicationServer`: an object with at least one of `ipv4Address` and
/// `ipv6Address`, each a string; what it names, as [`named`] says it.
fn server_of(v: &Json) -> Result<String, String> {
    let Json::Object(m) = v else {
        return Err("applicationServer is not an object".into());
    };
    if m.is_empty() {
        return Err("applicationServer is empty".into());
    }
    for key in ["ipv4Address", "ipv6Address"] {
        if m.get(key).is_some_and(|a| !a.is_string()) {
            return Err(format!("applicationServer.{key} is not a string"));
        }
    }
    Ok(named(v, &["ipv4Address", "ipv6Address"]))
}

/// What an answer's identifier object names: its one field among `keys` when it has only
/// that one, as a string; otherwise the whole of it as compact JSON (which then matches
/// nothing asked for).
fn named(v: &Json, keys: &[&str]) -> String {
    if let Json::Object(m) = v
        && m.len() == 1
        && let Some((k, Json::String(s))) = m.iter().next()
        && keys.contains(&k.as_str())
    {
        return s.clone();
    }
    v.to_string()
}

/// A JSON object with typed, contract-checking getters.
struct Obj<'a>(&'a Map<String, Json>);

impl Obj<'_> {
    fn get(&self, key: &str) -> Option<&Json> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn bool(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{key} is not a boolean")),
            None => Err(format!("{key} is missing")),
        }
    }

    fn int(&self, key: &str) -> Result<i64, String> {
        self.opt_int(key)?
            .ok_or_else(|| format!("{key} is missing"))
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("{key} is not an integer")),
        }
    }

    fn str(&self, key: &str) -> Result<String, String> {
        self.opt_str(key)?
            .ok_or_else(|| format!("{key} is missing"))
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key} is not a string")),
        }
    }

    fn str_list(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(xs)) => xs
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{key} has an element that is not a string"))
                })
                .collect(),
            Some(_) => Err(format!("{key} is not an array")),
        }
    }

    /// An RFC 3339 date-time with a time zone, in milliseconds since the epoch.
    fn opt_time(&self, key: &str) -> Result<Option<i64>, String> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => xop_runtime::time::parse_rfc3339(&s)
                .map(Some)
                .map_err(|why| format!("{key} `{s}` is not an RFC 3339 date-time: {why}")),
        }
    }
}

/// CAMARA's `PhoneNumber`: `^\+[1-9][0-9]{4,14}$`.
fn check_phone(s: &str) -> Result<(), CallError> {
    let digits = s.strip_prefix('+').unwrap_or("");
    let ok = (5..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(CallError::InvalidArgument(
            "the phone number is not E.164 with a leading + (like +33612345678)".into(),
        ))
    }
}

/// A UUID in its 8-4-4-4-12 hex form (`SessionId`). Also keeps the path free of `/`, `?`, …
fn check_uuid(s: &str) -> Result<(), CallError> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(CallError::InvalidArgument(format!(
            "session id `{}` is not a UUID",
            s.chars().take(64).collect::<String>()
        )))
    }
}

/// `QosProfileName`: 3 to 256 of `[a-zA-Z0-9_.-]`.
fn check_profile(s: &str) -> Result<(), CallError> {
    let ok = (3..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CallError::InvalidArgument(format!(
            "QoS profile `{}` is not 3 to 256 of letters, digits, `_`, `.`, `-`",
            s.chars().take(64).collect::<String>()
        )))
    }
}

/// An `int32` count of seconds, at least 1.
fn check_seconds(field: &str, s: i64) -> Result<(), CallError> {
    if (1..=i64::from(i32::MAX)).contains(&s) {
        Ok(())
    } else {
        Err(CallError::InvalidArgument(format!(
            "{field} must be 1 to {} seconds, not {s}",
            i32::MAX
        )))
    }
}

/// `ApplicationServer`: `{"ipv4Address": …}` or `{"ipv6Address": …}`, the address optionally
/// with a `/mask` valid for its version. Strict, since the string is sent as it is: the
/// address as `std::net` reads it (no leading zeros in IPv4, no zone), the mask 1 to 3 digits
/// without a leading zero (no sign, no spaces) and at most 32 or 128.
fn application_server(s: &str) -> Result<Json, CallError> {
    let bad = || {
        CallError::InvalidArgument(format!(
            "application server `{}` is not an IPv4 or IPv6 address, optionally with a /mask of \
             0-32 (IPv4) or 0-128 (IPv6), like 198.51.100.0/24 or 2001:db8::/64",
            s.chars().take(64).collect::<String>()
        ))
    };
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => {
            let digits = !m.is_empty() && m.len() <= 3 && m.bytes().all(|b| b.is_ascii_digit());
            if !digits || (m.len() > 1 && m.starts_with('0')) {
                return Err(bad());
            }
            (a, Some(m.parse::<u8>().map_err(|_| bad())?))
        }
        None => (s, None),
    };
    if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        if mask.is_some_and(|m| m > 32) {
            return Err(bad());
        }
        return Ok(json!({ "ipv4Address": s }));
    }
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        if mask.is_some_and(|m| m > 128) {
            return Err(bad());
        }
        return Ok(json!({ "ipv6Address": s }));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        for ok in ["+33612345678", "+12345", "+123456789012345"] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "33612345678",
            "+0612345678",
            "+1234",
            "+1234567890123456",
            "+3361234567a",
            "",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_ids_and_profiles() {
        assert!(check_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6").is_ok());
        assert!(check_uuid("../../admin").is_err());
        assert!(check_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6/extend").is_err());
        assert!(check_profile("QOS_L").is_ok());
        assert!(check_profile("QO").is_err());
        assert!(check_profile("QOS L").is_err());
    }

    #[test]
    fn application_servers() {
        assert_eq!(
            application_server("198.51.100.0/24").unwrap(),
            json!({ "ipv4Address": "198.51.100.0/24" })
        );
        assert_eq!(
            application_server("2001:db8::/64").unwrap(),
            json!({ "ipv6Address": "2001:db8::/64" })
        );
        for ok in [
            "198.51.100.7",
            "0.0.0.0/0",
            "198.51.100.0/32",
            "2001:db8::1",
            "2001:db8::/0",
            "2001:db8::/128",
        ] {
            assert!(application_server(ok).is_ok(), "{ok}");
        }
        for bad in [
            "198.51.100.0/33",
            "2001:db8::/129",
            "example.com",
            "1.2.3.4/x",
            "",
            // Sent as written: what `u8::from_str` would let through is refused.
            "198.51.100.0/+24",
            "198.51.100.0/024",
            "198.51.100.0/00",
            "198.51.100.0/ 24",
            "198.51.100.0/24 ",
            "198.51.100.0/",
            "198.51.100.0/24/8",
            "2001:db8::/0128",
            "2001:db8::/-1",
            " 198.51.100.0",
            "198.051.100.0",
            "198.51.100",
            "fe80::1%eth0",
            "[2001:db8::1]",
        ] {
            assert!(application_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_are_written_in_the_contracts_spelling() {
        let json = |v: Result<Json, serde_json::Error>| v.unwrap();
        assert_eq!(
            json(serde_json::to_value(QosStatus::Unavailable)),
            json!("UNAVAILABLE")
        );
        assert_eq!(
            json(serde_json::to_value(QosStatus::Requested)),
            json!("REQUESTED")
        );
        assert_eq!(
            json(serde_json::to_value(StatusInfo::NetworkTerminated)),
            json!("NETWORK_TERMINATED")
        );
        assert_eq!(json(serde_json::to_value(Connectivity::Sms)), json!("SMS"));
        // Both spellings are read: the contract's, and the variant names written before.
        for (text, status) in [
            ("\"AVAILABLE\"", QosStatus::Available),
            ("\"Available\"", QosStatus::Available),
            ("\"Unavailable\"", QosStatus::Unavailable),
        ] {
            assert_eq!(serde_json::from_str::<QosStatus>(text).unwrap(), status);
        }
        let info: StatusInfo = serde_json::from_str("\"DeleteRequested\"").unwrap();
        assert_eq!(info, StatusInfo::DeleteRequested);
        let c: Connectivity = serde_json::from_str("\"Data\"").unwrap();
        assert_eq!(c, Connectivity::Data);
        assert!(serde_json::from_str::<QosStatus>("\"unavailable\"").is_err());
    }

    #[test]
    fn contract_checks_on_answers() {
        let obj = |text: &str| match serde_json::from_str::<Json>(text).unwrap() {
            Json::Object(m) => m,
            _ => unreachable!("objects only"),
        };
        let m = obj(
            r#"{"sessionId":"3fa85f64-5717-4562-b3fc-2c963f66afa6","qosProfile":"QOS_L","duration":3600,"qosStatus":"PENDING"}"#,
        );
        assert!(session_info(&Obj(&m)).unwrap_err().contains("qosStatus"));
        let m = obj(
            r#"{"sessionId":"x","qosProfile":"QOS_L","duration":3600,"qosStatus":"REQUESTED"}"#,
        );
        assert!(session_info(&Obj(&m)).unwrap_err().contains("sessionId"));
        let m = obj(r#"{"t":"2024-02-20T10:41:38.657","n":1.5,"l":[1]}"#);
        let o = Obj(&m);
        assert!(o.opt_time("t").is_err(), "a date-time needs its time zone");
        assert!(o.opt_int("n").is_err());
        assert!(o.str_list("l").is_err());
        assert_eq!(o.str_list("missing").unwrap(), Vec::<String>::new());
    }
}
