//! The XOP MCP gateway (`xop mcp-gateway`): it sits between an MCP client (an AI agent) and an
//! upstream MCP server, on standard input and output, and puts every tool call under the
//! policies of a compiled module.
//!
//! - `tools/list` shows only the tools that the agent binds to an action some policy can allow
//!   ([`policy::listable`]);
//! - each `tools/call` is mapped to its action ([`policy::action_input`]), decided by every policy
//!   that guards the action ([`xop_runtime::interp::decide_action`]), recorded in the proof log
//!   ([`record::Recorder`]), then forwarded (allow), refused with a JSON-RPC error carrying the
//!   reasons (deny), or held for human review (review);
//! - a tool that no binding names is never listed and always refused.
//!
//! The gateway is network-facing, so it lives outside the embeddable runtime (DESIGN §7). It
//! uses plain threads: one reads the client, one reads the upstream, one writes to the
//! upstream, a few do the work that waits on the network (the review server's round trips,
//! decisions reading signals: [`session::Work`]), and one loop owns the state
//! ([`session::Session`]), so the protocol logic is a pure function of the messages and is
//! tested without processes. The loop also keeps the deadlines of the requests forwarded
//! upstream ([`inflight`]): it sleeps until the next message or the earliest deadline, and
//! never waits on the network. The client is read only while the upstream's queue has room
//! (backpressure). See `docs/mcp-gateway.md`.

pub mod desk;
pub mod inflight;
pub mod jsonrpc;
pub mod policy;
pub mod record;
pub mod run;
pub mod session;

pub use run::{Options, run};
