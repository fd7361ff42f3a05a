//! What reaches outside the runtime: signal values read from the network when a rule needs
//! them, and actions carried out there once a decision allows them. The runtime defines the
//! contract; the `xop-network` crate fulfils it with the CAMARA connectors, so the embeddable
//! core carries no HTTP client.
//!
//! The freshness rule ([`freshness`]) is here too, in one place: the connectors judge their
//! answers by it, and the binder the values an input gives in its `signals`
//! ([`judge_given`]), so a caller cannot make a value count that a connector would not.

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

/// When a value of type `ty` says its source observed it: `None` when the type carries no such
/// time (or the value is absent), `Some(None)` when it does but the value gives none. A field
/// that is not a time (a record value not of its type) gives none, which fails closed.
pub fn observed_at(program: &Program, ty: &Type, value: &Value) -> Option<Option<i64>> {
    let ty = match ty {
        Type::Optional(inner) => inner.as_ref(),
        other => other,
    };
    let Type::Record(index) = *ty else {
        return None;
    };
    let record = program.records.get(usize::try_from(index).ok()?)?;
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

/// Judges a value of signal `decl` given by the caller (the input's `signals`) as a connector's
/// answer is judged ([`freshness`]) at the decision time `now_ms`: a value whose type says
/// when it was observed and that cannot be shown to be within `max_age` is absent; the
/// account of why, for the proof record, is returned then. Other values are the caller's
/// answer now (age zero) and pass.
pub fn judge_given(
    program: &Program,
    decl: &SignalDecl,
    value: &Value,
    now_ms: i64,
) -> Option<SignalFetch> {
    let observed = observed_at(program, &decl.ty, value)?;
    let judged = freshness(Origin::Input, observed, decl.max_age_ms, now_ms);
    let why = judged.absent?;
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
    use crate::ir::{EnumType, Field, RecordType};

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
                    fields: vec![field("swapped", Type::Bool), field("latest_swap", time())],
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
}
