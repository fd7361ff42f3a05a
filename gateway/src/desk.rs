//! Review cases of held tool calls in the review queue of a running `xop serve`
//! (`xop mcp-gateway --review-server URL`): the gateway opens each case with
//! `POST /v1/reviews` (an operator's token), authenticated reviewers of the case's roles approve
//! or reject it there (`POST /v1/reviews/{id}/approve`, `xop review approve --server`; a case of
//! several roles is approved once each of them is, and stays open until then), and the client's
//! retry asks `GET /v1/reviews/{id}` what became of it.

use std::time::Duration;

use serde_json::{Value as Json, json};
use xop_runtime::ir::Verdict;

use crate::session::{HeldCall, Resolution, ReviewDesk};

/// The review queue of an `xop serve` at `base` (e.g. `http://127.0.0.1:8080`).
pub struct ServerDesk {
    base: String,
    token: String,
    module: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ServerDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("ServerDesk")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ServerDesk {
    /// A desk at `base`, opening cases with the operator token `token`, for calls decided by
    /// the module whose content hash (hex) is `module`.
    pub fn new(base: &str, token: &str, module: &str) -> Result<ServerDesk, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--review-server `{base}` must be an http:// or https:// URL of `xop serve`"
            ));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(ServerDesk {
            base,
            token: token.trim().to_string(),
            module: module.to_string(),
            agent,
        })
    }

    fn answer(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Json, String> {
        let mut r = response.map_err(|e| format!("the review server did not answer: {e}"))?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("the review server's answer could not be read: {e}"))?;
        let body: Json = serde_json::from_str(&text)
            .map_err(|e| format!("the review server answered {status} without JSON: {e}"))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(format!(
                "the review server answered {status}: {}",
                body["message"].as_str().unwrap_or("(no message)")
            ))
        }
    }
}

impl ReviewDesk for ServerDesk {
    fn open(&self, call: &HeldCall<'_>) -> Result<String, String> {
        let request = json!({
            "source": format!("mcp-gateway {} tool {}", call.agent, call.tool),
            "module": self.module,
            "action": call.action,
            "reasons": call.reasons,
            "role": call.role,
            "also": call.also,
            "within_ms": call.within_ms,
            "evidence": call.evidence,
            "fallback": match call.fallback {
                Verdict::Allow => "allow",
                _ => "deny",
            },
        });
        let response = self
            .agent
            .post(&format!("{}/v1/reviews", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(request.to_string().as_bytes());
        let case = self.answer(response)?;
        case["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the review server's answer has no case id".to_string())
    }

    /// Approved or rejected by a reviewer; anything else (open, a fallback the server applied,
    /// no answer) is pending here: the gateway applies the fallback at its own deadline.
    fn resolution(&self, id: &str) -> Resolution {
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Resolution::Pending;
        }
        let response = self
            .agent
            .get(&format!("{}/v1/reviews/{id}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call();
        let Ok(case) = self.answer(response) else {
            return Resolution::Pending;
        };
        resolution_of(&case)
    }

    /// Asks the server (`GET /v1/halt`) on every high-risk call: a halt must hold at once.
    fn halted(&self) -> Result<bool, String> {
        let response = self.agent.get(&format!("{}/v1/halt", self.base)).call();
        let state = self.answer(response)?;
        match state.get("halt") {
            Some(Json::Null) => Ok(false),
            Some(Json::Object(_)) => Ok(true),
            _ => Err("the review server's halt state is not {\"halt\": null | {…}}".into()),
        }
    }
}

/// What the server's case (`GET /v1/reviews/{id}`) says of a held call: decided by its
/// `status` alone. A case of several roles approved for some of them only is still `open`
/// (its `approvals` list them): the call stays held.
fn resolution_of(case: &Json) -> Resolution {
    let by = case["decided_by"].as_str().unwrap_or("").to_string();
    match case["status"].as_str() {
        Some("approved") => Resolution::Approved { by },
        Some("rejected") => Resolution::Rejected { by },
        // Its deadline passed there, or the halt switch closed it.
        Some("fallback") => Resolution::Fallback { by },
        _ => Resolution::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case approved for one of its two roles is open on the server: the call stays held;
    /// approved for both, it goes ahead, naming the reviewer who completed it.
    #[test]
    fn a_partly_approved_case_stays_held() {
        let partly = json!({"id": "rv-9", "status": "open", "role": "credit_officer",
            "also": ["risk_lead"], "decided_by": null, "waiting": ["risk_lead"],
            "approvals": [{"by": "ana", "roles": ["credit_officer"], "at": "…", "proof": 10}]});
        assert_eq!(resolution_of(&partly), Resolution::Pending);
        let mut done = partly.clone();
        done["status"] = json!("approved");
        done["decided_by"] = json!("lee");
        assert_eq!(
            resolution_of(&done),
            Resolution::Approved { by: "lee".into() }
        );
    }

    #[test]
    fn refuses_what_is_not_an_http_url() {
        let e = ServerDesk::new("localhost:8080", "t", "ab").unwrap_err();
        assert!(e.contains("http://"), "{e}");
        assert!(ServerDesk::new("http://127.0.0.1:8080/", "t", "ab").is_ok());
    }

    #[test]
    fn an_unreachable_server_leaves_the_case_pending_and_opens_nothing() {
        // Port 9 (discard) on this machine: nothing answers HTTP there.
        let d = ServerDesk::new("http://127.0.0.1:9", "t", "ab").unwrap();
        assert_eq!(d.resolution("rv-1"), Resolution::Pending);
        assert_eq!(d.resolution("../etc"), Resolution::Pending);
        let call = HeldCall {
            agent: "a",
            tool: "t",
            action: "x",
            reasons: &["r".to_string()],
            role: "lead",
            also: &[],
            deadline_ms: 0,
            within_ms: 1000,
            fallback: Verdict::Deny,
            evidence: &[],
        };
        assert!(d.open(&call).unwrap_err().contains("did not answer"));
        // Nor can it say whether the halt switch is on: an error, which the session takes as on.
        assert!(d.halted().unwrap_err().contains("did not answer"));
    }
}
