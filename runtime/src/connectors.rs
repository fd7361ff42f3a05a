//! What reaches outside the runtime: signal values read from the network when a rule needs
//! them, and actions carried out there once a decision allows them. The runtime defines the
//! contract; the `xop-network` crate fulfils it with the CAMARA connectors, so the embeddable
//! core carries no HTTP client.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::interp::Signals;
use crate::ir::{Program, SignalDecl};
use crate::proof::record::{NetworkCall, SignalFetch};
use crate::value::Value;

/// Connectors to the outside, plugged into a [`crate::engine::Runtime`] once: every decision
/// then reads its signals through them (the input's `signals` is refused, so a caller cannot
/// supply a value the network should), and an allowed action that is theirs is carried out.
pub trait Connectors: Send + Sync {
    /// The signal source for one decision of `program` at `now_ms` (the decision time).
    fn signals<'a>(&'a self, program: &'a Program, now_ms: i64) -> Box<dyn Signals + 'a>;

    /// Carries out `action` (its qualified name) with its bound arguments, in the action's
    /// parameter order, after a decision allowed it; `None` when the action is not one these
    /// connectors carry out.
    fn perform(&self, program: &Program, action: &str, args: &[Value]) -> Option<Performed>;
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
