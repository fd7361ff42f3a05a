//! The CAMARA connectors plugged into the runtime ([`xop_runtime::connectors::Connectors`]):
//! every decision of a [`xop_runtime::engine::Runtime`] reads its signals through them, and an
//! allowed QoD instruction creates (or deletes) the session, each proven with its correlators.

use serde_json::json;
use xop_runtime::connectors::{Connectors, Performed};
use xop_runtime::engine::Deadline;
use xop_runtime::interp::Signals;
use xop_runtime::ir::Program;
use xop_runtime::value::Value;

use crate::Camara;
use crate::actions::ActionOutcome;

impl Connectors for Camara {
    fn signals<'a>(&'a self, program: &'a Program, now_ms: i64) -> Box<dyn Signals + 'a> {
        Box::new(self.signals(program, now_ms))
    }

    fn signals_by_deadline<'a>(
        &'a self,
        program: &'a Program,
        now_ms: i64,
        deadline: Option<&Deadline>,
    ) -> Box<dyn Signals + 'a> {
        Box::new(Camara::signals_by_deadline(self, program, now_ms, deadline))
    }

    fn carries_out(&self, action: &str) -> bool {
        crate::actions::is_network_action(action)
    }

    fn perform(&self, _program: &Program, action: &str, args: &[Value]) -> Option<Performed> {
        let record = Camara::perform(self, action, args)?;
        let (ok, result) = match &record.outcome {
            ActionOutcome::SessionCreated(s) => (
                true,
                json!({"session_id": s.session_id, "qos_profile": s.qos_profile, "qos_status": s.qos_status, "duration_s": s.duration_s}),
            ),
            ActionOutcome::SessionDiscarded {
                session: s,
                requested_qos_profile,
                reason,
                delete_error,
            } => (
                false,
                json!({"error": reason, "session_id": s.session_id, "qos_profile": s.qos_profile,
                       "requested_qos_profile": requested_qos_profile, "qos_status": s.qos_status,
                       "status_info": s.status_info, "duration_s": s.duration_s,
                       "deleted": delete_error.is_none(),
                       "delete_error": delete_error.as_ref().map(ToString::to_string)}),
            ),
            ActionOutcome::SessionOutOfContract {
                session_id,
                error,
                delete_error,
            } => (
                false,
                json!({"error": error.to_string(), "session_id": session_id,
                       "deleted": delete_error.is_none(),
                       "delete_error": delete_error.as_ref().map(ToString::to_string)}),
            ),
            ActionOutcome::SessionDeleted { session_id } => {
                (true, json!({"session_id": session_id, "deleted": true}))
            }
            ActionOutcome::Failed(e) => (false, json!({"error": e.to_string()})),
            ActionOutcome::NotAllowed { verdict } => {
                (false, json!({"not_allowed": verdict.keyword()}))
            }
        };
        Some(Performed {
            action: record.action,
            ok,
            result,
            calls: record.calls,
        })
    }
}
