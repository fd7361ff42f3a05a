//! The network actions of `std.camara`, carried out once a decision allows them: an allowed
//! `create_qos_session` creates the session through the Quality on Demand connector, an allowed
//! `delete_qos_session` deletes it. What happened (the session, or the failure) and the calls
//! made (with their correlators) come back as an [`ActionRecord`] for the proof log.

use serde::{Deserialize, Serialize};
use xop_runtime::interp::Decision;
use xop_runtime::ir::Verdict;
use xop_runtime::value::Value;

use crate::Camara;
use crate::api::{CreateSession, QosStatus, SessionInfo, lapsed};
use crate::http::{CallError, NetworkCall};

/// `std.camara.create_qos_session(phone_number, application_server, qos_profile, duration)`.
pub const CREATE_QOS_SESSION: &str = "std.camara.create_qos_session";

/// `std.camara.delete_qos_session(session_id)`.
pub const DELETE_QOS_SESSION: &str = "std.camara.delete_qos_session";

/// What carrying out an action gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionOutcome {
    /// The QoS session was created (its `sessionId` is in it).
    SessionCreated(SessionInfo),
    /// The network created a session, but not the one asked for: its QoS cannot be provided
    /// (`qosStatus` `UNAVAILABLE`); or it has another QoS profile, a longer duration, another
    /// device or another application server than the decision allowed (the contract lets
    /// the network grant a different duration: a shorter one is as asked, a longer one was
    /// not allowed). Not done. The session was then deleted, best effort: the contract keeps
    /// the resources of an `UNAVAILABLE` session until it is deleted, and a new session for
    /// the same device and flow cannot be created before; and a session nobody allowed is
    /// not kept.
    SessionDiscarded {
        /// The session as the network answered.
        session: SessionInfo,
        /// The QoS profile asked for.
        requested_qos_profile: String,
        /// Why it is not the session asked for.
        reason: String,
        /// Why deleting it failed; `None` when it was deleted.
        delete_error: Option<CallError>,
    },
    /// The network answered the create out of contract (a `qosStatus` it does not list, a
    /// field missing, …) but named a session (`sessionId`): not done, as [`Self::Failed`];
    /// the session it may have created was deleted, best effort, as for
    /// [`Self::SessionDiscarded`].
    SessionOutOfContract {
        /// The `sessionId` the answer named.
        session_id: String,
        /// Why the answer is out of contract.
        error: CallError,
        /// Why deleting it failed; `None` when it was deleted.
        delete_error: Option<CallError>,
    },
    /// The QoS session was deleted.
    SessionDeleted {
        /// Its id.
        session_id: String,
    },
    /// The network refused or did not answer; nothing may have been done.
    Failed(CallError),
    /// The action was not carried out: the decision did not allow it.
    NotAllowed {
        /// The decision's verdict.
        verdict: Verdict,
    },
}

/// One action carried out (or not), for the proof record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The action's qualified name.
    pub action: String,
    /// What happened.
    pub outcome: ActionOutcome,
    /// The HTTP requests made, with their correlators.
    pub calls: Vec<NetworkCall>,
}

impl ActionRecord {
    /// The id of the session created (also one discarded, or named by an answer out of
    /// contract) or deleted, if any.
    pub fn session_id(&self) -> Option<&str> {
        match &self.outcome {
            ActionOutcome::SessionCreated(s)
            | ActionOutcome::SessionDiscarded { session: s, .. } => Some(&s.session_id),
            ActionOutcome::SessionDeleted { session_id }
            | ActionOutcome::SessionOutOfContract { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    /// The `x-correlator` of the action's call, if a request was sent.
    pub fn correlator(&self) -> Option<&str> {
        self.calls.iter().find_map(|c| c.correlator.as_deref())
    }
}

/// Carries out the actions a decision allowed, for the actions it knows.
pub trait ActionExecutor {
    /// Carries out `action` (its qualified name) with its bound arguments `args`, in the
    /// action's parameter order, if `decision` allows it. `None` when this executor does not
    /// carry out that action (it is someone else's).
    fn execute(&self, action: &str, args: &[Value], decision: &Decision) -> Option<ActionRecord>;
}

impl ActionExecutor for Camara {
    fn execute(&self, action: &str, args: &[Value], decision: &Decision) -> Option<ActionRecord> {
        if !is_network_action(action) {
            return None;
        }
        if decision.verdict != Verdict::Allow {
            return Some(ActionRecord {
                action: action.to_string(),
                outcome: ActionOutcome::NotAllowed {
                    verdict: decision.verdict,
                },
                calls: Vec::new(),
            });
        }
        self.perform(action, args)
    }
}

/// Whether `action` is one the connectors carry out.
pub fn is_network_action(action: &str) -> bool {
    action == CREATE_QOS_SESSION || action == DELETE_QOS_SESSION
}

impl Camara {
    /// Carries out `action` with `args` without looking at a decision: for an action a person
    /// approved after a `review`. `None` when it is not a network action.
    pub fn perform(&self, action: &str, args: &[Value]) -> Option<ActionRecord> {
        let record = |outcome, calls| {
            Some(ActionRecord {
                action: action.to_string(),
                outcome,
                calls,
            })
        };
        let invalid = |what: &str| {
            record(
                ActionOutcome::Failed(CallError::InvalidArgument(format!(
                    "{action} expects {what}, got ({})",
                    args.iter().map(Value::kind).collect::<Vec<_>>().join(", ")
                ))),
                Vec::new(),
            )
        };
        match action {
            CREATE_QOS_SESSION => {
                let [phone, server, profile, Value::Duration(ms)] = args else {
                    return invalid("(Text, Text, Text, Duration)");
                };
                let (Some(phone), Some(server), Some(profile)) =
                    (text(phone), text(server), text(profile))
                else {
                    return invalid("(Text, Text, Text, Duration)");
                };
                if ms % 1000 != 0 {
                    let e = CallError::InvalidArgument(format!(
                        "the duration must be whole seconds, not {ms} ms"
                    ));
                    return record(ActionOutcome::Failed(e), Vec::new());
                }
                let req = CreateSession {
                    phone_number: phone.to_string(),
                    application_server: server.to_string(),
                    qos_profile: profile.to_string(),
                    duration_s: ms / 1000,
                };
                let (x, named) = self.create_session_naming(&req);
                let mut calls = x.calls;
                let outcome = match (x.result, named) {
                    (Err(error), Some(session_id)) => {
                        let deleted = self.delete_session(&session_id);
                        calls.extend(deleted.calls);
                        ActionOutcome::SessionOutOfContract {
                            session_id,
                            error,
                            delete_error: deleted.result.err(),
                        }
                    }
                    (Err(e), None) => ActionOutcome::Failed(e),
                    (Ok(s), _) => match not_as_asked(&s, &req, (self.wall)()) {
                        None => ActionOutcome::SessionCreated(s),
                        Some(reason) => {
                            let deleted = self.delete_session(&s.session_id);
                            calls.extend(deleted.calls);
                            ActionOutcome::SessionDiscarded {
                                session: s,
                                requested_qos_profile: req.qos_profile,
                                reason,
                                delete_error: deleted.result.err(),
                            }
                        }
                    },
                };
                record(outcome, calls)
            }
            DELETE_QOS_SESSION => {
                let [id] = args else {
                    return invalid("(Text)");
                };
                let Some(id) = text(id) else {
                    return invalid("(Text)");
                };
                let x = self.delete_session(id);
                let outcome = match x.result {
                    Ok(()) => ActionOutcome::SessionDeleted {
                        session_id: id.to_string(),
                    },
                    Err(e) => ActionOutcome::Failed(e),
                };
                record(outcome, x.calls)
            }
            _ => None,
        }
    }
}

/// Why the session the network created is not the one `req` asked for, if it is not.
/// `REQUESTED` is as asked (the network is setting it up). The contract lets the network
/// grant a different duration: a shorter one is within what was allowed, a longer one is not.
/// An answer that does not name the device is as asked (the contract returns it only
/// sometimes); one that does not name the application server is not (the contract requires
/// it, and the server allowed cannot be shown).
///
/// `now_ms` is the connectors' time of day when the answer came: a session created already
/// past its `expiresAt` ([`lapsed`]) is not the one asked for, and neither is one whose
/// `startedAt` to `expiresAt` is longer than asked, whatever its `duration` says.
fn not_as_asked(s: &SessionInfo, req: &CreateSession, now_ms: i64) -> Option<String> {
    let mut why = Vec::new();
    if let Some(lapsed) = lapsed(s, now_ms) {
        why.push(lapsed);
    }
    if let (Some(start), Some(end)) = (s.started_at, s.expires_at) {
        // A second for the times' rounding (the contract's date-times may drop fractions).
        let asked_ms = req.duration_s.saturating_mul(1000);
        let runs_ms = end.saturating_sub(start);
        if runs_ms > asked_ms.saturating_add(1000) {
            why.push(format!(
                "the session runs {} s from startedAt to expiresAt, more than the {} s asked \
                 and allowed",
                runs_ms / 1000,
                req.duration_s
            ));
        }
    }
    if s.qos_status == QosStatus::Unavailable {
        why.push(match s.status_info {
            Some(info) => format!(
                "the network answered qosStatus UNAVAILABLE ({}): the QoS asked for cannot be provided",
                info.name()
            ),
            None => {
                "the network answered qosStatus UNAVAILABLE: the QoS asked for cannot be provided"
                    .to_string()
            }
        });
    }
    if s.qos_profile != req.qos_profile {
        why.push(format!(
            "the network granted QoS profile {}, not {} as asked and allowed",
            s.qos_profile, req.qos_profile
        ));
    }
    if s.duration_s > req.duration_s {
        why.push(format!(
            "the network granted a duration of {} s, more than the {} s asked and allowed",
            s.duration_s, req.duration_s
        ));
    }
    if let Some(device) = &s.device
        && *device != req.phone_number
    {
        why.push(format!(
            "the session is for device {device}, not {} as asked and allowed",
            req.phone_number
        ));
    }
    match &s.application_server {
        None => why.push(
            "the answer names no applicationServer, so the session cannot be shown to be for \
             the application server allowed"
                .to_string(),
        ),
        Some(server) if !same_server(server, &req.application_server) => why.push(format!(
            "the session is for application server {server}, not {} as asked and allowed",
            req.application_server
        )),
        Some(_) => {}
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Whether two application servers (addresses, optionally with a `/mask`) name the same
/// addresses: the same address and mask, an address without a mask being the whole length
/// (`198.51.100.7` is `198.51.100.7/32`), however each is written (`2001:DB8::` is
/// `2001:db8::`). Anything that does not read as an address matches only itself.
fn same_server(a: &str, b: &str) -> bool {
    fn read(s: &str) -> Option<(std::net::IpAddr, u8)> {
        let (addr, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr.parse().ok()?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let mask = match mask {
            None => full,
            Some(m) => m.parse::<u8>().ok().filter(|m| *m <= full)?,
        };
        Some((addr, mask))
    }
    match (read(a), read(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) | Value::Id(s) => Some(s),
        _ => None,
    }
}
