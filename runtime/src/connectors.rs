//! What reaches outside the runtime: signal values read from the network when a rule needs
//! them, and actions carried out there once a decision allows them. The runtime defines the
//! contract; the `xop-network` crate fulfils it with the CAMARA connectors, so the embeddable
//! core carries no HTTP client.
//!
//! The freshness rule ([`freshness`]) and the agreement rules ([`sim_swap_agrees`],
//! [`reachability_agrees`], [`qos_session_agrees`]) are here too, each in one place: the
//! connectors judge their answers by them, and the binder the values an input gives in its
//! `signals` ([`judge_given`]), so a caller cannot make a value count that a connector would
//! not.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::engine::Deadline;
use crate::interp::Signals;
use crate::ir::{Program, SignalDecl, Type};
use crate::proof::record::{NetworkCall, SignalFetch, time_text};
use crate::value::{Value, duration_text};

/// Connectors to the outside, plugged into a [`crate::engine::Runtime`] once: every decision
/// then reads its signals through them (the input's `signals` is refused, so a caller cannot
/// supply a value the network should), and an allowed action that is theirs is carried out.
pub trait Connectors: Send + Sync {
    /// The signal source for one decision of `program` at `now_ms` (the decision time).
    fn signals<'a>(&'a self, program: &'a Program, now_ms: i64) -> Box<dyn Signals + 'a>;

    /// [`Connectors::signals`] for a decision whose reads must be done by its `deadline` (`None`:
    /// no deadline), which the runtime calls for every decision: past the deadline's instant
    /// ([`Deadline::at`]), the caller has stopped waiting and the decision will be abandoned, so
    /// a read still in flight is wasted work; once the caller gave up ([`Deadline::give_up`]),
    /// even before it, the same holds. Connectors that honour it start no request after it, cut
    /// the ones in flight at it, and give the signal absent, saying why. The deadline is a value
    /// the returned source keeps (cloning it is cheap: it is shared), so the reads honour it on
    /// whatever thread they run. By default it ignores the deadline and calls
    /// [`Connectors::signals`], which is right for connectors that read nothing remote.
    fn signals_by_deadline<'a>(
        &'a self,
        program: &'a Program,
        now_ms: i64,
        deadline: Option<&Deadline>,
    ) -> Box<dyn Signals + 'a> {
        let _ = deadline;
        self.signals(program, now_ms)
    }

    /// Carries out `action` (its qualified name) with its bound arguments, in the action's
    /// parameter order, after a decision allowed it; `None` when the action is not one these
    /// connectors carry out.
    fn perform(&self, program: &Program, action: &str, args: &[Value]) -> Option<Performed>;

    /// Whether `action` (its qualified name) is one these connectors carry out: only for such
    /// an action does the runtime hand an allow to [`Connectors::perform`], keep a review
    /// case's arguments for its approval, or prove that it was *not* carried out (a policy
    /// decided alone, a deadline passed). Every action unless the connectors say otherwise.
    fn carries_out(&self, action: &str) -> bool {
        let _ = action;
        true
    }
}

/// An action carried out after an `allow`: proven in the log as the event `action.performed`,
/// right after the decision that allowed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performed {
    /// The action's qualified name.
    pub action: String,
    /// Whether it was done.
    pub ok: bool,
    /// What came of it, e.g. `{"session_id": "…"}` or `{"error": "…"}`.
    pub result: Json,
    /// The network calls it made, with their correlators.
    pub calls: Vec<NetworkCall>,
}

/// One signal read, as a [`Taped`] source keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TapedRead {
    /// The signal's index in the program.
    pub signal: u32,
    /// Its arguments.
    pub args: Vec<Value>,
    /// The value read (`Absent` when it was not available).
    pub value: Value,
    /// How it was fetched, if the source says.
    pub fetch: Option<SignalFetch>,
}

/// A signal source that keeps every read of the source it wraps (values and how they were
/// fetched), so that a decision made once can be proven with exactly what it read
/// ([`Replay`]), not with a second read that might differ.
pub struct Taped<'a> {
    inner: &'a dyn Signals,
    reads: RefCell<Vec<TapedRead>>,
}

impl<'a> Taped<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Signals) -> Taped<'a> {
        Taped {
            inner,
            reads: RefCell::new(Vec::new()),
        }
    }

    /// The reads made, in order.
    pub fn into_reads(self) -> Vec<TapedRead> {
        self.reads.into_inner()
    }
}

impl Signals for Taped<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let value = self.inner.read(signal, decl, args);
        let mut reads = self.reads.borrow_mut();
        let fetch = self.inner.fetch(reads.len());
        reads.push(TapedRead {
            signal,
            args: args.to_vec(),
            value: value.clone(),
            fetch,
        });
        value
    }

    fn fetch(&self, nth: usize) -> Option<SignalFetch> {
        self.reads.borrow().get(nth).and_then(|r| r.fetch.clone())
    }
}

/// Replays [`TapedRead`]s: a read of the same signal with the same arguments gives the taped
/// value (and its provenance); any other read is absent.
pub struct Replay<'a> {
    tape: &'a [TapedRead],
    /// For each read made, the tape entry it matched.
    matched: RefCell<Vec<Option<usize>>>,
}

impl<'a> Replay<'a> {
    /// Replays `tape`.
    pub fn new(tape: &'a [TapedRead]) -> Replay<'a> {
        Replay {
            tape,
            matched: RefCell::new(Vec::new()),
        }
    }
}

impl Signals for Replay<'_> {
    fn read(&self, signal: u32, _decl: &SignalDecl, args: &[Value]) -> Value {
        let at = self
            .tape
            .iter()
            .position(|r| r.signal == signal && r.args == args);
        self.matched.borrow_mut().push(at);
        at.and_then(|i| self.tape.get(i))
            .map_or(Value::Absent, |r| r.value.clone())
    }

    fn fetch(&self, nth: usize) -> Option<SignalFetch> {
        let at = (*self.matched.borrow().get(nth)?)?;
        self.tape.get(at)?.fetch.clone()
    }
}

/// How far the network's clock and the decision time may be apart: a status observed up to
/// this long after the decision time counts as observed just now, later is out of contract.
/// The connectors also allow it between SIM Swap's two answers.
pub const CLOCK_SKEW_MS: i64 = 5 * 60_000;

/// Where a value [`freshness`] judges came from, which words its reasons and, for a
/// connector's answer, brings the connectors' own clock into the judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A connector's answer: its observation time is CAMARA's `lastStatusTime`. `clock_ms` is
    /// the connectors' own wall clock (milliseconds since the epoch) when the answer came (or,
    /// for an answer reused from their cache, when it is reused): the decision time is the
    /// caller's to give, the connectors' clock is not.
    Answer {
        /// The connectors' clock when the answer came or is reused.
        clock_ms: i64,
    },
    /// A value given in the input's `signals`: its observation time is the record's field
    /// `last_status_time`. Judged at the decision time alone.
    Input,
}

impl Origin {
    /// What is judged, and the name of its observation time, as a reason says them.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Origin::Answer { .. } => ("the answer", "lastStatusTime"),
            Origin::Input => ("the value given", "last_status_time"),
        }
    }

    /// The connectors' clock, for an answer.
    fn clock(self) -> Option<i64> {
        match self {
            Origin::Answer { clock_ms } => Some(clock_ms),
            Origin::Input => None,
        }
    }
}

/// What [`freshness`] found: how old a value is by its source's observation time, and whether
/// it can be believed at the decision time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// The time judged at (the decision time; for an answer, the later of it and the
    /// connectors' clock) minus the observation time, in milliseconds (0 for an observation
    /// time after it within [`CLOCK_SKEW_MS`]); `None` when it was not measured (no `max_age`,
    /// no observation time, or one out of contract).
    pub age_ms: Option<u64>,
    /// Why the value cannot be believed, which makes the read absent; `None` when it can.
    pub absent: Option<String>,
}

/// The freshness rule, for every value whose source says when it observed it (Device Status's
/// `lastStatusTime`), fetched by a connector or given in the input: judged at the decision
/// time `now_ms` against the signal's `max_age_ms` and, for a connector's answer, also at the
/// connectors' own clock ([`Origin::Answer`]), so that a decision time the caller gives can
/// neither make an old observation fresh nor hide one from the future.
///
/// - Without a `max_age` nothing is judged: the value is believed.
/// - Without an observation time it cannot be shown to be within `max_age` (the contracts:
///   such information "may be outdated or its freshness is uncertain"): absent.
/// - Observed more than [`CLOCK_SKEW_MS`] after the decision time, or, for an answer, after
///   the connectors' clock (the earlier of the two counts): out of contract (the network
///   cannot have observed it later than now), which shows nothing about freshness: absent.
///   Within the allowance it counts as observed just now.
/// - Observed more than `max_age` before the decision time, or, for an answer, before the
///   connectors' clock (the later of the two counts): stale, absent.
///
/// A value that passes for an answer therefore also passes judged at the decision time alone,
/// as a value given in the input is: the decision replays (`xop log replay` judges the values
/// a record logged at its decision time).
pub fn freshness(
    origin: Origin,
    observed: Option<i64>,
    max_age_ms: Option<i64>,
    now_ms: i64,
) -> Freshness {
    let (what, field) = origin.words();
    let absent = |age_ms, why: String| Freshness {
        age_ms,
        absent: Some(why),
    };
    let Some(max_age) = max_age_ms else {
        return Freshness {
            age_ms: None,
            absent: None,
        };
    };
    let Some(at) = observed else {
        return absent(
            None,
            format!(
                "freshness unknown: {what} has no {field}, so it cannot be shown to be within \
                 max_age {}; the policy's handling of an absent signal applies",
                duration_text(max_age)
            ),
        );
    };
    let clock = origin.clock();
    let earlier = clock.map_or(now_ms, |c| c.min(now_ms));
    let later = clock.map_or(now_ms, |c| c.max(now_ms));
    if at > earlier.saturating_add(CLOCK_SKEW_MS) {
        let (after, also) = if earlier == now_ms {
            (
                format!("the decision time {}", time_text(now_ms)),
                String::new(),
            )
        } else {
            (
                format!(
                    "the connectors' clock {} when the answer came",
                    time_text(earlier)
                ),
                format!("; the decision time is {}", time_text(now_ms)),
            )
        };
        return absent(
            None,
            format!(
                "out of contract: {field} {} is after {after} (more than the {} allowed for \
                 clocks apart{also}), so it cannot be shown to be within max_age {}",
                time_text(at),
                duration_text(CLOCK_SKEW_MS),
                duration_text(max_age)
            ),
        );
    }
    let age = later.saturating_sub(at).max(0);
    let age_ms = u64::try_from(age).ok();
    if age > max_age {
        let by = if later == now_ms {
            String::new()
        } else {
            format!(
                " by the connectors' clock {} when the answer came (the decision time {} is \
                 earlier)",
                time_text(later),
                time_text(now_ms)
            )
        };
        return absent(
            age_ms,
            format!(
                "stale: the network observed it {} ago ({field} {}){by}, more than max_age {}",
                duration_text(age),
                time_text(at),
                duration_text(max_age)
            ),
        );
    }
    Freshness {
        age_ms,
        absent: None,
    }
}

/// The `std.camara` records whose values say when the network observed them, and the field
/// that says it (Device Status's `lastStatusTime`). Other values carry no such time.
const OBSERVED: [(&str, &str); 2] = [
    ("std.camara.RoamingStatus", "last_status_time"),
    ("std.camara.ReachabilityStatus", "last_status_time"),
];

/// The record type `ty` is, optional or not.
fn record_type<'a>(program: &'a Program, ty: &Type) -> Option<&'a crate::ir::RecordType> {
    let ty = match ty {
        Type::Optional(inner) => inner.as_ref(),
        other => other,
    };
    let Type::Record(index) = *ty else {
        return None;
    };
    program.records.get(usize::try_from(index).ok()?)
}

/// When a value of type `ty` says its source observed it: `None` when the type carries no such
/// time (or the value is absent), `Some(None)` when it does but the value gives none. A field
/// that is not a time (a record value not of its type) gives none, which fails closed.
pub fn observed_at(program: &Program, ty: &Type, value: &Value) -> Option<Option<i64>> {
    let record = record_type(program, ty)?;
    let field = OBSERVED
        .iter()
        .find(|(name, _)| *name == record.name)
        .and_then(|(_, field)| record.field(field))?;
    match value {
        Value::Absent => None,
        Value::Record(_, fields) => match fields.get(field) {
            Some(Value::Time(t)) => Some(Some(*t)),
            _ => Some(None),
        },
        _ => Some(None),
    }
}

/// Milliseconds in an hour and in a day, for SIM Swap's windows and monitored periods.
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The window SIM Swap's `/check` is asked about for a signal whose source window is
/// `window_ms`: CAMARA's `maxAge`, in whole hours, rounded up so that the window is covered (0
/// for a window not longer than zero, which the contract refuses). A value given in the input
/// for such a signal says `swapped` within this window, as the connector's answer would.
pub fn sim_swap_hours(window_ms: i64) -> i64 {
    if window_ms <= 0 {
        0
    } else {
        window_ms / HOUR_MS + i64::from(window_ms % HOUR_MS != 0)
    }
}

/// What SIM Swap says about a phone number, as the fields of `std.camara.SimSwap`: whether
/// `/check` says it was swapped within `hours`, and what `/retrieve-date` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimSwapSays {
    /// `/check`'s `swapped` (the field `swapped`).
    pub swapped: bool,
    /// The window `/check` was asked about, in whole hours ([`sim_swap_hours`]).
    pub hours: i64,
    /// `/retrieve-date`'s `latestSimChange` (the field `latest_swap`), in milliseconds since
    /// the epoch; `None` when not disclosed.
    pub latest_swap: Option<i64>,
    /// `/retrieve-date`'s `monitoredPeriod` (the field `monitored_period`), in milliseconds;
    /// `None` when not given.
    pub monitored_period_ms: Option<i64>,
}

/// The agreement rule of SIM Swap, for a connector's two answers and for a value given in the
/// input alike: whether `swapped` (within the window of `hours`) and the date agree at the
/// decision time `now_ms`. A swap inside the window has a date inside it, or an undisclosed
/// one that a monitored period covering the window does not vouch against; no swap has no
/// date inside it. When they disagree, `Err` says how, worded for `origin`, and the value is
/// absent: a policy would otherwise read "no recent swap" from the date
/// (`std.camara.swapped_within`) while the network said "swapped", where absent it fails
/// closed.
///
/// Clock skew is allowed only in the fail-closed direction. "Not swapped" with a date up to
/// [`CLOCK_SKEW_MS`] after the window's start agrees: a policy reading the date sees a swap.
/// "Swapped" with a date before the window's start, by any amount, disagrees: a policy reading
/// the date would see no recent swap although the network said swapped.
pub fn sim_swap_agrees(origin: Origin, says: &SimSwapSays, now_ms: i64) -> Result<(), String> {
    let SimSwapSays {
        swapped,
        hours,
        latest_swap,
        monitored_period_ms,
    } = *says;
    let window = hours.saturating_mul(HOUR_MS);
    let start = now_ms.saturating_sub(window);
    // What disagrees, as each origin names it: the two answers, or the value's fields.
    let disagree = |answer: String, given: String| {
        Err(match origin {
            Origin::Answer { .. } => format!(
                "the network's answers disagree: /check says {} within {hours} h, \
                 /retrieve-date {answer}",
                if swapped { "swapped" } else { "not swapped" }
            ),
            Origin::Input => format!(
                "the value given disagrees with itself: swapped is {swapped} within {hours} h \
                 (the window the connector asks /check about), but {given}"
            ),
        })
    };
    match (swapped, latest_swap) {
        (true, Some(t)) if t < start => disagree(
            format!(
                "says the latest change was {}, before the window's start {}",
                time_text(t),
                time_text(start)
            ),
            format!(
                "latest_swap {} is before the window's start {}",
                time_text(t),
                time_text(start)
            ),
        ),
        (false, Some(t)) if t > start.saturating_add(CLOCK_SKEW_MS) => disagree(
            format!("says the latest change was {}", time_text(t)),
            format!(
                "latest_swap {} is after the window's start {} (by more than the {} allowed \
                 for clocks apart)",
                time_text(t),
                time_text(start),
                duration_text(CLOCK_SKEW_MS)
            ),
        ),
        (true, None) if monitored_period_ms.is_some_and(|m| m >= window) => {
            let m = monitored_period_ms.unwrap_or_default();
            disagree(
                format!(
                    "says no change in its monitored period of {} days",
                    m / DAY_MS
                ),
                format!(
                    "latest_swap is absent and monitored_period {} covers the window: no \
                     change in it",
                    duration_text(m)
                ),
            )
        }
        _ => Ok(()),
    }
}

/// The agreement rule of Device Reachability Status, for a connector's answer and for a value
/// given in the input alike: a device that is not `reachable` has no `connectivity` (the
/// contract's connectivity says how a device is connected; `std.camara`: "empty when it is
/// not"). `connectivity` is named as `origin` spells it (`DATA`, or `connected_data`). A value
/// that says both is absent: a policy reading `connectivity` would otherwise see a device
/// connected that the network says cannot be reached.
pub fn reachability_agrees(
    origin: Origin,
    reachable: bool,
    connectivity: &[&str],
) -> Result<(), String> {
    if reachable || connectivity.is_empty() {
        return Ok(());
    }
    Err(format!(
        "reachable is false but connectivity lists {}: a device that cannot be reached has no \
         connectivity, so {} contradicts itself",
        connectivity.join(", "),
        origin.words().0
    ))
}

/// The state of a Quality on Demand session, as the agreement rules of a session read it:
/// its status as `origin` spells it (`AVAILABLE`, or `available`), whether that is
/// unavailable, why it became unavailable if said, and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QosSays<'a> {
    /// `qosStatus` (the field `status`), as its origin spells it.
    pub status: &'a str,
    /// Whether `status` is `UNAVAILABLE`.
    pub unavailable: bool,
    /// `statusInfo` (the field `status_info`), as its origin spells it, if given.
    pub status_info: Option<&'a str>,
    /// `expiresAt` (the field `expires_at`), in milliseconds since the epoch, if given.
    pub expires_at: Option<i64>,
}

/// The agreement rules of a Quality on Demand session, for a connector's answer and for a value
/// given in the input alike: the contract gives `statusInfo` (why the session became
/// unavailable) only with `UNAVAILABLE`, and a session still requested or available has not
/// ended: its `expiresAt` is not before `at_ms` by more than [`CLOCK_SKEW_MS`] (the operator's
/// own record would contradict itself: a session past its end is deleted or unavailable).
/// `at_ms` is the time judged at: for an answer, the later of the decision time and the
/// connectors' clock; for a value given, the decision time. `None` when `at_ms` is, for a
/// check made where no time is known (an answer's contract check): the `statusInfo` rule
/// alone. `Err` says why the session contradicts itself, worded for `origin`.
pub fn qos_session_agrees(
    origin: Origin,
    says: &QosSays<'_>,
    at_ms: Option<i64>,
) -> Result<(), String> {
    let (status, status_info, expires_at) = match origin {
        Origin::Answer { .. } => ("qosStatus", "statusInfo", "expiresAt"),
        Origin::Input => ("status", "status_info", "expires_at"),
    };
    if says.unavailable {
        return Ok(());
    }
    if let Some(info) = says.status_info {
        return Err(format!(
            "{status} is {} but {status_info} is {info}, which the contract gives only with \
             {}",
            says.status,
            match origin {
                Origin::Answer { .. } => "UNAVAILABLE",
                Origin::Input => "unavailable",
            }
        ));
    }
    let (Some(at), Some(expires)) = (at_ms, says.expires_at) else {
        return Ok(());
    };
    if expires >= at.saturating_sub(CLOCK_SKEW_MS) {
        return Ok(());
    }
    let show =
        |ms: i64| crate::time::timestamp(ms).map_or_else(|| format!("{ms} ms"), |t| t.to_string());
    Err(format!(
        "the session is {} but its {expires_at} {} is before {} (more than the {} s allowed \
         for clocks apart)",
        says.status,
        show(expires),
        show(at),
        CLOCK_SKEW_MS / 1000
    ))
}

/// The `std.camara` records a value given in the input is checked for agreement, besides
/// freshness: those whose answers the connectors check so ([`given_contradiction`]), with the
/// fields the rules read. A record of that name without them is not the standard library's
/// (which no program but a hand-built one can hold: `std` is reserved), and is not judged.
const CHECKED: [(&str, &[&str]); 3] = [
    (
        "std.camara.SimSwap",
        &["swapped", "latest_swap", "monitored_period"],
    ),
    (
        "std.camara.ReachabilityStatus",
        &["reachable", "connectivity"],
    ),
    (
        "std.camara.QosSession",
        &["status", "status_info", "expires_at"],
    ),
];

/// Whether a value of type `ty` given in the input is judged ([`judge_given`]): it says when
/// it was observed ([`observed_at`]), or it is of a record the connectors check their answers
/// of for agreement (SIM Swap, Device Reachability Status, a QoS session). Absent values and
/// other types are not.
pub fn judged_when_given(program: &Program, ty: &Type, value: &Value) -> bool {
    observed_at(program, ty, value).is_some() || checked_record(program, ty, value).is_some()
}

/// The name of the record type of `ty` (optional or not), the fields of `value` and the
/// record type, when the record is one of [`CHECKED`] with the fields its rule reads and
/// `value` is present.
fn checked_record<'a>(
    program: &'a Program,
    ty: &Type,
    value: &'a Value,
) -> Option<(&'static str, &'a [Value], &'a crate::ir::RecordType)> {
    let record = record_type(program, ty)?;
    let (name, read) = *CHECKED.iter().find(|(n, _)| *n == record.name)?;
    if read.iter().any(|f| record.field(f).is_none()) {
        return None;
    }
    match value {
        Value::Record(_, fields) => Some((name, fields, record)),
        _ => None,
    }
}

/// Why a value of signal `decl` given in the input contradicts itself where a connector's
/// answer could not, judged by the rule the connectors judge their answers by; `None` when it
/// does not. For SIM Swap: [`sim_swap_agrees`], over the window the connector would ask
/// `/check` about (the signal's source window, [`sim_swap_hours`]); a window that cannot be
/// known when the input is bound (it depends on the signal's arguments) cannot be judged
/// against, which fails closed. For Device Reachability Status: [`reachability_agrees`]. For
/// a QoS session: [`qos_session_agrees`], at the decision time.
fn given_contradiction(
    program: &Program,
    decl: &SignalDecl,
    value: &Value,
    now_ms: i64,
) -> Option<String> {
    let (name, fields, record) = checked_record(program, &decl.ty, value)?;
    let get = |field: &str| record.field(field).and_then(|i| fields.get(i));
    // The binder gives values of their type; anything else is not believed (fails closed).
    let not_of_type = |field: &str| Some(format!("the value given has no `{field}` of its type"));
    match name {
        "std.camara.SimSwap" => {
            let Some(Value::Bool(swapped)) = get("swapped") else {
                return not_of_type("swapped");
            };
            let latest_swap = match get("latest_swap") {
                Some(Value::Time(t)) => Some(*t),
                Some(Value::Absent) | None => None,
                Some(_) => return not_of_type("latest_swap"),
            };
            let monitored_period_ms = match get("monitored_period") {
                Some(Value::Duration(d)) => Some(*d),
                Some(Value::Absent) | None => None,
                Some(_) => return not_of_type("monitored_period"),
            };
            let window = match sim_swap_window(program, decl, now_ms) {
                Ok(w) => w,
                Err(why) => return Some(why),
            };
            let says = SimSwapSays {
                swapped: *swapped,
                hours: sim_swap_hours(window),
                latest_swap,
                monitored_period_ms,
            };
            sim_swap_agrees(Origin::Input, &says, now_ms).err()
        }
        "std.camara.ReachabilityStatus" => {
            let Some(Value::Bool(reachable)) = get("reachable") else {
                return not_of_type("reachable");
            };
            let Some(Value::List(connectivity)) = get("connectivity") else {
                return not_of_type("connectivity");
            };
            let mut names = Vec::with_capacity(connectivity.len());
            for c in connectivity.iter() {
                match variant_name(program, c) {
                    Some(name) => names.push(name),
                    None => return not_of_type("connectivity"),
                }
            }
            reachability_agrees(Origin::Input, *reachable, &names).err()
        }
        "std.camara.QosSession" => {
            let Some(status) = get("status").and_then(|v| variant_name(program, v)) else {
                return not_of_type("status");
            };
            let status_info = match get("status_info") {
                Some(Value::Absent) | None => None,
                Some(v) => match variant_name(program, v) {
                    Some(name) => Some(name),
                    None => return not_of_type("status_info"),
                },
            };
            let expires_at = match get("expires_at") {
                Some(Value::Time(t)) => Some(*t),
                Some(Value::Absent) | None => None,
                Some(_) => return not_of_type("expires_at"),
            };
            let says = QosSays {
                status,
                unavailable: status == "unavailable",
                status_info,
                expires_at,
            };
            qos_session_agrees(Origin::Input, &says, Some(now_ms)).err()
        }
        _ => None,
    }
}

/// The name of the variant an enum value is, if it is one.
fn variant_name<'a>(program: &'a Program, v: &Value) -> Option<&'a str> {
    let Value::Enum(ty, variant) = *v else {
        return None;
    };
    let e = program.enums.get(usize::try_from(ty).ok()?)?;
    e.variants
        .get(usize::try_from(variant).ok()?)
        .map(String::as_str)
}

/// The window of a SIM Swap signal: its source's second argument (`camara.sim_swap(phone,
/// 24h)`), which must be known when the input is bound.
fn sim_swap_window(program: &Program, decl: &SignalDecl, now_ms: i64) -> Result<i64, String> {
    let unknown = |why: &str| {
        Err(format!(
            "the window `/check` would be asked about cannot be known: {why}, so the value given \
             cannot be shown to agree with itself; write the window as a constant \
             (`camara.sim_swap(c.msisdn, 24h)`)"
        ))
    };
    if decl.source.strip_prefix("std.").unwrap_or(&decl.source) != "camara.sim_swap" {
        return unknown(&format!(
            "the signal's source is `{}`, not camara.sim_swap",
            decl.source
        ));
    }
    let Some(arg) = decl.source_args.get(1) else {
        return unknown("the source has no window argument");
    };
    match crate::interp::eval_const(program, arg, now_ms) {
        Ok(Value::Duration(w)) => Ok(w),
        Ok(other) => unknown(&format!(
            "the source's window is {}, not a Duration",
            other.kind()
        )),
        Err(_) => unknown("the source's window depends on the signal's arguments"),
    }
}

/// Judges a value of signal `decl` given by the caller (the input's `signals`) as a connector's
/// answer is judged, at the decision time `now_ms`: by [`freshness`] when its type says when it
/// was observed, and by the agreement rules the connectors check their answers by (SIM Swap's
/// `swapped` against its date, [`sim_swap_agrees`]; a device not reachable but connected,
/// [`reachability_agrees`]; a QoS session's status against its `status_info` and
/// `expires_at`, [`qos_session_agrees`]). A value that cannot be shown to be within
/// `max_age`, or that contradicts itself, is absent; the account of why, for the proof record,
/// is returned then. Other values are the caller's answer now (age zero) and pass.
pub fn judge_given(
    program: &Program,
    decl: &SignalDecl,
    value: &Value,
    now_ms: i64,
) -> Option<SignalFetch> {
    let judged = match observed_at(program, &decl.ty, value) {
        Some(observed) => freshness(Origin::Input, observed, decl.max_age_ms, now_ms),
        None => Freshness {
            age_ms: None,
            absent: None,
        },
    };
    let why = judged
        .absent
        .or_else(|| given_contradiction(program, decl, value, now_ms))?;
    Some(SignalFetch {
        source: decl.source.clone(),
        cached: false,
        age_ms: judged.age_ms,
        reason: Some(format!("{}: given in the input: {why}", decl.source)),
        calls: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::NoSignals;
    use crate::ir::{EnumType, Expr, Field, RecordType};

    /// Connectors implementing only `signals` get it, for every decision, from the trait's
    /// default `signals_by_deadline`, which the runtime calls: with a deadline or without.
    #[test]
    fn the_default_signals_by_deadline_calls_signals() {
        use std::sync::Mutex;
        use std::time::Instant;
        struct Only(Mutex<Vec<i64>>);
        impl Connectors for Only {
            fn signals<'a>(&'a self, _: &'a Program, now_ms: i64) -> Box<dyn Signals + 'a> {
                self.0.lock().unwrap().push(now_ms);
                Box::new(NoSignals)
            }
            fn perform(&self, _: &Program, _: &str, _: &[Value]) -> Option<Performed> {
                None
            }
        }
        let c = Only(Mutex::new(Vec::new()));
        let p = Program::default();
        let _ = c.signals_by_deadline(&p, 7, Some(&Deadline::new(Instant::now())));
        let _ = c.signals_by_deadline(&p, 8, None);
        assert_eq!(*c.0.lock().unwrap(), [7, 8]);
    }

    const NOW: i64 = 1_795_600_800_000; // 2026-11-25T10:00:00Z
    const MAX: Option<i64> = Some(300_000);
    /// An answer that came at the decision time.
    const ANSWER: Origin = Origin::Answer { clock_ms: NOW };

    fn judge(origin: Origin, observed: Option<i64>) -> Freshness {
        freshness(origin, observed, MAX, NOW)
    }

    #[test]
    fn the_rule_at_its_edges() {
        for origin in [Origin::Answer { clock_ms: NOW }, Origin::Input] {
            // Within max_age, to the millisecond; a time ahead within the allowance is now.
            for (at, age) in [
                (NOW, 0),
                (NOW - 300_000, 300_000),
                (NOW + 1, 0),
                (NOW + CLOCK_SKEW_MS, 0),
            ] {
                let f = judge(origin, Some(at));
                assert_eq!((f.age_ms, f.absent), (Some(age), None), "{at}");
            }
            let stale = judge(origin, Some(NOW - 300_001));
            assert_eq!(stale.age_ms, Some(300_001));
            assert!(stale.absent.unwrap().starts_with("stale: "));
            let ahead = judge(origin, Some(NOW + CLOCK_SKEW_MS + 1));
            assert_eq!(ahead.age_ms, None);
            assert!(ahead.absent.unwrap().starts_with("out of contract: "));
            let unknown = judge(origin, None);
            assert_eq!(unknown.age_ms, None);
            assert!(unknown.absent.unwrap().starts_with("freshness unknown: "));
            // Without max_age nothing is judged, whatever the time.
            for at in [None, Some(i64::MIN), Some(i64::MAX)] {
                let f = freshness(origin, at, None, NOW);
                assert_eq!((f.age_ms, f.absent), (None, None));
            }
            // Extreme times neither overflow nor pass.
            assert!(judge(origin, Some(i64::MIN)).absent.is_some());
            assert!(judge(origin, Some(i64::MAX)).absent.is_some());
            assert!(freshness(origin, Some(0), MAX, i64::MAX).absent.is_some());
        }
    }

    /// The connectors' reasons are worded as they always were; a given value's name its field as
    /// XOP writes it.
    #[test]
    fn the_reasons() {
        let why = |origin, at| judge(origin, at).absent.unwrap();
        assert_eq!(
            why(ANSWER, Some(NOW - 3 * 86_400_000)),
            "stale: the network observed it 3d ago (lastStatusTime 2026-11-22T10:00:00.000Z), \
             more than max_age 5m"
        );
        assert_eq!(
            why(ANSWER, None),
            "freshness unknown: the answer has no lastStatusTime, so it cannot be shown to be \
             within max_age 5m; the policy's handling of an absent signal applies"
        );
        assert_eq!(
            why(ANSWER, Some(NOW + 86_400_000)),
            "out of contract: lastStatusTime 2026-11-26T10:00:00.000Z is after the decision time \
             2026-11-25T10:00:00.000Z (more than the 5m allowed for clocks apart), so it cannot \
             be shown to be within max_age 5m"
        );
        assert_eq!(
            why(Origin::Input, None),
            "freshness unknown: the value given has no last_status_time, so it cannot be shown \
             to be within max_age 5m; the policy's handling of an absent signal applies"
        );
        assert!(why(Origin::Input, Some(NOW - 300_001)).contains("(last_status_time 2026-"));
        assert!(
            why(Origin::Input, Some(NOW + 400_000))
                .starts_with("out of contract: last_status_time ")
        );
    }

    /// An answer is judged at the connectors' clock too: a decision time set back cannot make
    /// an old observation fresh, nor one set ahead hide an observation from the future; and
    /// whatever passes also passes at the decision time alone (as the replay judges it).
    #[test]
    fn an_answer_is_judged_at_the_connectors_clock_too() {
        const DAY: i64 = 86_400_000;
        let answer =
            |observed, now| freshness(Origin::Answer { clock_ms: NOW }, Some(observed), MAX, now);
        // Observed 3 days ago; the caller says it is 3 days ago plus a minute.
        let f = answer(NOW - 3 * DAY, NOW - 3 * DAY + 60_000);
        assert_eq!(f.age_ms, Some(3 * DAY as u64));
        assert_eq!(
            f.absent.as_deref(),
            Some(
                "stale: the network observed it 3d ago (lastStatusTime 2026-11-22T10:00:00.000Z) \
                 by the connectors' clock 2026-11-25T10:00:00.000Z when the answer came (the \
                 decision time 2026-11-22T10:01:00.000Z is earlier), more than max_age 5m"
            )
        );
        // Observed just now, decided 3 days back: after the decision time, out of contract.
        let f = answer(NOW, NOW - 3 * DAY);
        assert_eq!(f.age_ms, None);
        assert!(
            f.absent
                .unwrap()
                .starts_with("out of contract: lastStatusTime 2026-11-25T10:00:00.000Z is after the decision time 2026-11-22T10:00:00.000Z")
        );
        // A decision time ahead: judged there, stale.
        let f = answer(NOW, NOW + DAY);
        assert_eq!(f.age_ms, Some(DAY as u64));
        assert!(
            f.absent
                .unwrap()
                .starts_with("stale: the network observed it 1d ago")
        );
        // An observation from the connectors' future, hidden by a decision time as far ahead.
        let f = answer(NOW + DAY, NOW + DAY);
        assert!(f.absent.unwrap().starts_with(
            "out of contract: lastStatusTime 2026-11-26T10:00:00.000Z is after the \
                 connectors' clock 2026-11-25T10:00:00.000Z when the answer came (more than the \
                 5m allowed for clocks apart; the decision time is 2026-11-26T10:00:00.000Z)"
        ));
        // The clocks a little apart: within max_age at the later, within the allowance at the
        // earlier.
        let f = answer(NOW - 200_000, NOW - 50_000);
        assert_eq!((f.age_ms, f.absent), (Some(200_000), None));
        // Whatever passes for an answer passes at the decision time alone.
        for observed in (-2 * DAY..2 * DAY).step_by(3_600_000 / 7) {
            for now in (-2 * DAY..2 * DAY).step_by(3_600_000 / 5) {
                let (observed, now) = (NOW + observed, NOW + now);
                if answer(observed, now).absent.is_none() {
                    let given = freshness(Origin::Input, Some(observed), MAX, now);
                    assert_eq!(given.absent, None, "{observed} {now}");
                }
            }
        }
    }

    fn program() -> Program {
        let field = |name: &str, ty| Field {
            name: name.into(),
            ty,
            personal: false,
        };
        let time = || Type::Optional(Box::new(Type::Time));
        Program {
            records: vec![
                RecordType {
                    name: "std.camara.RoamingStatus".into(),
                    fields: vec![
                        field("roaming", Type::Bool),
                        field("last_status_time", time()),
                    ],
                },
                RecordType {
                    // Another module's record of the same shape says nothing of the network.
                    name: "acme.RoamingStatus".into(),
                    fields: vec![
                        field("roaming", Type::Bool),
                        field("last_status_time", time()),
                    ],
                },
                RecordType {
                    name: "std.camara.SimSwap".into(),
                    fields: vec![
                        field("swapped", Type::Bool),
                        field("latest_swap", time()),
                        field("monitored_period", Type::Optional(Box::new(Type::Duration))),
                    ],
                },
            ],
            enums: vec![EnumType {
                name: "e".into(),
                variants: vec!["a".into()],
            }],
            symbols: vec![],
            signals: vec![],
            policies: vec![],
            tests: vec![],
            decisions: vec![],
            agents: vec![],
        }
    }

    #[test]
    fn which_values_say_when_they_were_observed() {
        let p = program();
        let rec = |i, t: Value| Value::Record(i, vec![Value::Bool(true), t].into());
        let roaming = Type::Record(0);
        assert_eq!(
            observed_at(&p, &roaming, &rec(0, Value::Time(NOW))),
            Some(Some(NOW))
        );
        assert_eq!(
            observed_at(
                &p,
                &Type::Optional(Box::new(roaming.clone())),
                &rec(0, Value::Time(NOW))
            ),
            Some(Some(NOW))
        );
        assert_eq!(
            observed_at(&p, &roaming, &rec(0, Value::Absent)),
            Some(None)
        );
        // A value not of its type gives no time, which fails closed.
        assert_eq!(observed_at(&p, &roaming, &Value::Bool(true)), Some(None));
        assert_eq!(
            observed_at(&p, &roaming, &Value::Record(0, vec![].into())),
            Some(None)
        );
        assert_eq!(observed_at(&p, &roaming, &Value::Absent), None);
        for (ty, v) in [
            (Type::Record(1), rec(1, Value::Time(NOW))),
            (Type::Record(2), rec(2, Value::Time(NOW))),
            (Type::Record(7), rec(7, Value::Time(NOW))),
            (Type::Bool, Value::Bool(true)),
            (Type::Time, Value::Time(NOW)),
        ] {
            assert_eq!(observed_at(&p, &ty, &v), None, "{ty:?}");
        }
    }

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;

    fn says(swapped: bool, latest_swap: Option<i64>, monitored: Option<i64>) -> SimSwapSays {
        SimSwapSays {
            swapped,
            hours: 24,
            latest_swap,
            monitored_period_ms: monitored,
        }
    }

    #[test]
    fn sim_swap_windows_are_whole_hours_rounded_up() {
        for (window, hours) in [
            (24 * HOUR, 24),
            (HOUR, 1),
            (HOUR + 1, 2),
            (90 * 60_000, 2),
            (1, 1),
            (0, 0),
            (-HOUR, 0),
            (i64::MIN, 0),
            (i64::MAX, i64::MAX / HOUR + 1),
        ] {
            assert_eq!(sim_swap_hours(window), hours, "{window}");
        }
    }

    /// The agreement rule at its edges, the same for an answer and for a value given: a swap
    /// dated before the window's start by any amount, or undated with a monitored period
    /// covering the window, disagrees; no swap dated inside the window disagrees, but for the
    /// clocks' allowance.
    #[test]
    fn sim_swap_agreement_at_its_edges() {
        let start = NOW - DAY;
        for origin in [ANSWER, Origin::Input] {
            let agrees = |s: SimSwapSays| sim_swap_agrees(origin, &s, NOW).is_ok();
            // Swapped: dated at or after the window's start, or undated without a period that
            // rules a swap out.
            assert!(agrees(says(true, Some(start), None)));
            assert!(agrees(says(true, Some(NOW), None)));
            assert!(!agrees(says(true, Some(start - 1), None)));
            assert!(!agrees(says(true, Some(start - 3 * DAY), Some(7 * DAY))));
            assert!(!agrees(says(true, Some(i64::MIN), None)));
            assert!(agrees(says(true, None, None)));
            assert!(agrees(says(true, None, Some(DAY - 1))));
            assert!(!agrees(says(true, None, Some(DAY))));
            assert!(!agrees(says(true, None, Some(7 * DAY))));
            // Not swapped: dated before the window, or inside it within the allowance.
            assert!(agrees(says(false, Some(start - 1), None)));
            assert!(agrees(says(false, Some(start + CLOCK_SKEW_MS), None)));
            assert!(!agrees(says(false, Some(start + CLOCK_SKEW_MS + 1), None)));
            assert!(!agrees(says(false, Some(NOW), Some(7 * DAY))));
            assert!(agrees(says(false, None, None)));
            assert!(agrees(says(false, None, Some(7 * DAY))));
            // Extreme windows and times neither overflow nor panic.
            for hours in [0, -1, i64::MAX, i64::MIN] {
                for latest in [None, Some(i64::MIN), Some(0), Some(i64::MAX)] {
                    for swapped in [false, true] {
                        let s = SimSwapSays {
                            swapped,
                            hours,
                            latest_swap: latest,
                            monitored_period_ms: Some(i64::MAX),
                        };
                        let _ = sim_swap_agrees(origin, &s, NOW);
                        let _ = sim_swap_agrees(origin, &s, i64::MIN);
                    }
                }
            }
        }
    }

    /// The connectors' reasons are worded as they always were; a given value's name its fields
    /// as XOP writes them.
    #[test]
    fn sim_swap_disagreement_reasons() {
        let why = |origin, s| sim_swap_agrees(origin, &s, NOW).unwrap_err();
        let before = says(true, Some(NOW - 3 * DAY), None);
        assert_eq!(
            why(ANSWER, before),
            "the network's answers disagree: /check says swapped within 24 h, /retrieve-date \
             says the latest change was 2026-11-22T10:00:00.000Z, before the window's start \
             2026-11-24T10:00:00.000Z"
        );
        assert_eq!(
            why(Origin::Input, before),
            "the value given disagrees with itself: swapped is true within 24 h (the window the \
             connector asks /check about), but latest_swap 2026-11-22T10:00:00.000Z is before \
             the window's start 2026-11-24T10:00:00.000Z"
        );
        let monitored = says(true, None, Some(7 * DAY));
        assert_eq!(
            why(ANSWER, monitored),
            "the network's answers disagree: /check says swapped within 24 h, /retrieve-date \
             says no change in its monitored period of 7 days"
        );
        assert!(why(Origin::Input, monitored).ends_with(
            "but latest_swap is absent and monitored_period 1w covers the window: no change in it"
        ));
        let inside = says(false, Some(NOW - HOUR), None);
        assert_eq!(
            why(ANSWER, inside),
            "the network's answers disagree: /check says not swapped within 24 h, \
             /retrieve-date says the latest change was 2026-11-25T09:00:00.000Z"
        );
        assert!(
            why(Origin::Input, inside)
                .starts_with("the value given disagrees with itself: swapped is false within 24 h")
        );
    }

    /// The program of [`program`] with a SIM Swap signal whose window is `window`.
    fn sim_swap_program(window: Expr) -> (Program, SignalDecl) {
        let decl = SignalDecl {
            name: "m.sim_swap".into(),
            params: vec![],
            ty: Type::Record(2),
            source: "std.camara.sim_swap".into(),
            source_args: vec![Expr::Const(Value::text("+33612345678")), window],
            max_age_ms: MAX,
        };
        let mut p = program();
        p.signals.push(decl.clone());
        (p, decl)
    }

    fn swap(swapped: bool, latest: Option<i64>, monitored: Option<i64>) -> Value {
        let opt = |v: Option<i64>, f: fn(i64) -> Value| v.map_or(Value::Absent, f);
        Value::Record(
            2,
            vec![
                Value::Bool(swapped),
                opt(latest, Value::Time),
                opt(monitored, Value::Duration),
            ]
            .into(),
        )
    }

    /// A SIM Swap value given in the input is judged by the connectors' agreement rule, over
    /// the window they would ask `/check` about: contradictory values are absent, saying why;
    /// consistent ones pass, as before.
    #[test]
    fn a_given_sim_swap_is_judged_by_the_agreement_rule() {
        let (p, decl) = sim_swap_program(Expr::Const(Value::Duration(DAY)));
        assert!(judged_when_given(&p, &decl.ty, &swap(true, None, None)));
        let judge = |v: &Value| judge_given(&p, &decl, v, NOW);
        // The two contradictions of the report: swapped, undated with 7 days monitored; and
        // swapped, dated three days ago.
        for v in [
            swap(true, None, Some(7 * DAY)),
            swap(true, Some(NOW - 3 * DAY), None),
            swap(false, Some(NOW - HOUR), None),
        ] {
            let fetch = judge(&v).expect("contradictory, absent");
            let reason = fetch.reason.unwrap();
            assert!(
                reason.starts_with(
                    "std.camara.sim_swap: given in the input: the value given disagrees with \
                     itself: swapped is "
                ),
                "{reason}"
            );
            assert_eq!((fetch.cached, fetch.age_ms), (false, None));
            assert!(fetch.calls.is_empty());
        }
        // Consistent values read as before.
        for v in [
            swap(true, Some(NOW - HOUR), None),
            swap(true, Some(NOW - DAY), Some(7 * DAY)),
            swap(true, None, None),
            swap(true, None, Some(12 * HOUR)),
            swap(false, Some(NOW - 30 * DAY), None),
            swap(false, None, Some(7 * DAY)),
            swap(false, None, None),
        ] {
            assert_eq!(judge(&v), None, "{v:?}");
        }
        // Absent is absent, not judged; the signal's type may be optional.
        assert!(!judged_when_given(&p, &decl.ty, &Value::Absent));
        let optional = SignalDecl {
            ty: Type::Optional(Box::new(Type::Record(2))),
            ..decl.clone()
        };
        assert!(judge_given(&p, &optional, &swap(true, Some(NOW - 3 * DAY), None), NOW).is_some());
        // A window of 90 minutes is asked as 2 hours: a swap 100 minutes ago agrees.
        let (p, decl) = sim_swap_program(Expr::Const(Value::Duration(90 * 60_000)));
        assert_eq!(
            judge_given(&p, &decl, &swap(true, Some(NOW - 100 * 60_000), None), NOW),
            None
        );
        assert!(judge_given(&p, &decl, &swap(true, Some(NOW - 121 * 60_000), None), NOW).is_some());
    }

    /// A window that cannot be known when the input is bound cannot be judged against: the
    /// value is absent (fails closed), saying how to write the window.
    #[test]
    fn a_given_sim_swap_with_an_unknown_window_is_absent() {
        for window in [Expr::Slot(0), Expr::Const(Value::Int(24))] {
            let (p, decl) = sim_swap_program(window);
            let fetch = judge_given(&p, &decl, &swap(false, None, None), NOW).unwrap();
            assert!(
                fetch
                    .reason
                    .unwrap()
                    .contains("the window `/check` would be asked about cannot be known"),
            );
        }
        let (p, mut decl) = sim_swap_program(Expr::Const(Value::Duration(DAY)));
        decl.source = "acme.swaps".into();
        assert!(judge_given(&p, &decl, &swap(false, None, None), NOW).is_some());
        decl.source = "camara.sim_swap".into();
        decl.source_args.truncate(1);
        assert!(judge_given(&p, &decl, &swap(false, None, None), NOW).is_some());
    }

    /// A record value not of its type fails closed; other types are not judged.
    #[test]
    fn a_given_sim_swap_not_of_its_type_is_absent() {
        let (p, decl) = sim_swap_program(Expr::Const(Value::Duration(DAY)));
        for v in [
            Value::Record(2, vec![Value::Int(1)].into()),
            Value::Record(
                2,
                vec![Value::Bool(true), Value::Int(1), Value::Absent].into(),
            ),
            Value::Record(
                2,
                vec![Value::Bool(true), Value::Absent, Value::Int(1)].into(),
            ),
        ] {
            assert!(judge_given(&p, &decl, &v, NOW).is_some(), "{v:?}");
        }
        assert!(!judged_when_given(&p, &Type::Bool, &Value::Bool(true)));
        assert!(!judged_when_given(
            &p,
            &Type::Record(1),
            &swap(true, None, None)
        ));
        // A record named so without the fields the rule reads is not the standard library's
        // (a hand-built program): not judged.
        let (mut p, decl) = sim_swap_program(Expr::Const(Value::Duration(DAY)));
        p.records[2].fields.pop();
        let v = swap(true, Some(NOW - 3 * DAY), None);
        assert!(!judged_when_given(&p, &decl.ty, &v));
        assert_eq!(judge_given(&p, &decl, &v, NOW), None);
    }

    /// A program with Device Reachability Status and QoS session records (and their enums),
    /// and a signal of `ty`.
    fn device_program(ty: Type) -> (Program, SignalDecl) {
        let field = |name: &str, ty| Field {
            name: name.into(),
            ty,
            personal: false,
        };
        let opt = |t: Type| Type::Optional(Box::new(t));
        let decl = SignalDecl {
            name: "m.s".into(),
            params: vec![],
            ty,
            source: "std.camara.device_reachability".into(),
            source_args: vec![Expr::Const(Value::text("+33612345678"))],
            max_age_ms: None,
        };
        let p = Program {
            records: vec![
                RecordType {
                    name: "std.camara.ReachabilityStatus".into(),
                    fields: vec![
                        field("reachable", Type::Bool),
                        field("connectivity", Type::List(Box::new(Type::Enum(0)))),
                        field("last_status_time", opt(Type::Time)),
                    ],
                },
                RecordType {
                    name: "std.camara.QosSession".into(),
                    fields: vec![
                        field("status", Type::Enum(1)),
                        field("status_info", opt(Type::Enum(2))),
                        field("expires_at", opt(Type::Time)),
                    ],
                },
            ],
            enums: vec![
                EnumType {
                    name: "std.camara.Reachability".into(),
                    variants: vec!["connected_data".into(), "connected_sms".into()],
                },
                EnumType {
                    name: "std.camara.QosStatus".into(),
                    variants: vec!["requested".into(), "available".into(), "unavailable".into()],
                },
                EnumType {
                    name: "std.camara.QosStatusInfo".into(),
                    variants: vec!["duration_expired".into(), "network_terminated".into()],
                },
            ],
            signals: vec![decl.clone()],
            ..program()
        };
        (p, decl)
    }

    /// A device that is not reachable but lists a connectivity contradicts itself: given in
    /// the input, it is absent as the connectors' answer would be (without a `max_age`, so
    /// freshness plays no part); consistent values pass.
    #[test]
    fn a_given_reachability_is_judged_by_the_agreement_rule() {
        let (p, decl) = device_program(Type::Record(0));
        let reach = |reachable: bool, connectivity: &[u32]| {
            let list: Vec<Value> = connectivity.iter().map(|v| Value::Enum(0, *v)).collect();
            Value::Record(
                0,
                vec![
                    Value::Bool(reachable),
                    Value::List(list.into()),
                    Value::Absent,
                ]
                .into(),
            )
        };
        assert!(judged_when_given(&p, &decl.ty, &reach(false, &[0])));
        let fetch = judge_given(&p, &decl, &reach(false, &[0, 1]), NOW).unwrap();
        assert_eq!(
            fetch.reason.as_deref(),
            Some(
                "std.camara.device_reachability: given in the input: reachable is false but \
                 connectivity lists connected_data, connected_sms: a device that cannot be \
                 reached has no connectivity, so the value given contradicts itself"
            )
        );
        for v in [reach(false, &[]), reach(true, &[0]), reach(true, &[])] {
            assert_eq!(judge_given(&p, &decl, &v, NOW), None, "{v:?}");
        }
        // A connectivity not of its type fails closed.
        let bad = Value::Record(
            0,
            vec![
                Value::Bool(true),
                Value::List(vec![Value::Int(0)].into()),
                Value::Absent,
            ]
            .into(),
        );
        assert!(judge_given(&p, &decl, &bad, NOW).is_some());
        // The answer's wording is the connectors'.
        assert_eq!(
            reachability_agrees(ANSWER, false, &["DATA"]).unwrap_err(),
            "reachable is false but connectivity lists DATA: a device that cannot be reached \
             has no connectivity, so the answer contradicts itself"
        );
    }

    /// A QoS session still requested or available has not ended, and says why it became
    /// unavailable only when it is: given in the input, one that contradicts itself at the
    /// decision time is absent as the connectors' answer would be.
    #[test]
    fn a_given_qos_session_is_judged_by_the_agreement_rules() {
        let (p, decl) = device_program(Type::Record(1));
        let session = |status: u32, info: Option<u32>, expires: Option<i64>| {
            Value::Record(
                1,
                vec![
                    Value::Enum(1, status),
                    info.map_or(Value::Absent, |i| Value::Enum(2, i)),
                    expires.map_or(Value::Absent, Value::Time),
                ]
                .into(),
            )
        };
        let (requested, available, unavailable) = (0, 1, 2);
        let why = |v: &Value| judge_given(&p, &decl, v, NOW).and_then(|f| f.reason);
        assert_eq!(
            why(&session(available, None, Some(NOW - CLOCK_SKEW_MS - 1))).as_deref(),
            Some(
                "std.camara.device_reachability: given in the input: the session is available \
                 but its expires_at 2026-11-25T09:54:59.999Z is before 2026-11-25T10:00:00Z \
                 (more than the 300 s allowed for clocks apart)"
            )
        );
        assert!(why(&session(requested, None, Some(NOW - DAY))).is_some());
        assert_eq!(
            why(&session(available, Some(1), Some(NOW + DAY))).as_deref(),
            Some(
                "std.camara.device_reachability: given in the input: status is available but \
                 status_info is network_terminated, which the contract gives only with \
                 unavailable"
            )
        );
        for v in [
            session(available, None, Some(NOW - CLOCK_SKEW_MS)),
            session(available, None, Some(NOW + DAY)),
            session(available, None, None),
            session(requested, None, None),
            session(unavailable, Some(0), Some(NOW - DAY)),
            session(unavailable, None, Some(NOW - DAY)),
        ] {
            assert_eq!(why(&v), None, "{v:?}");
        }
        // The answer's wording is the connectors'.
        let says = QosSays {
            status: "AVAILABLE",
            unavailable: false,
            status_info: Some("NETWORK_TERMINATED"),
            expires_at: None,
        };
        assert_eq!(
            qos_session_agrees(ANSWER, &says, None).unwrap_err(),
            "qosStatus is AVAILABLE but statusInfo is NETWORK_TERMINATED, which the contract \
             gives only with UNAVAILABLE"
        );
        let lapsed = QosSays {
            status_info: None,
            expires_at: Some(i64::MIN),
            ..says
        };
        assert!(qos_session_agrees(ANSWER, &lapsed, None).is_ok());
        assert!(
            qos_session_agrees(ANSWER, &lapsed, Some(NOW))
                .unwrap_err()
                .starts_with("the session is AVAILABLE but its expiresAt ")
        );
    }
}
