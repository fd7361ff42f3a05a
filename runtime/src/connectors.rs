//! What reaches outside the runtime: signal values read from the network when a rule needs
//! them, and actions carried out there once a decision allows them. The runtime defines the
//! contract; the `xop-network` crate fulfils it with the CAMARA connectors, so the embeddable
//! core carries no HTTP client.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::interp::Signals;
use crate::ir::Program;
use crate::proof::record::NetworkCall;
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
