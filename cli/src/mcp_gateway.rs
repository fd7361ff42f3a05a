//! `xop mcp-gateway`: the command-line face of the MCP gateway (`xop-gateway`).

use std::path::PathBuf;

use clap::Args;

/// The long help of `xop mcp-gateway`.
pub const LONG_ABOUT: &str = "\
Run an MCP gateway on standard input and output: between an MCP client (an AI agent) and the
upstream MCP server it starts, every tool call is decided by the module's policies.

tools/list shows only the tools the agent binds to an action some policy can allow; each
tools/call is mapped to its action (arguments from the call, other parameters from --subject),
decided, recorded in the proof log (--log), then forwarded (allow), refused with a JSON-RPC
error carrying the reasons (deny), or held for human review (a tool result with isError and the
case id). A tool no binding names is never listed and always refused. Protocol: MCP 2025-11-25
(clients asking for 2026-07-28 are answered with 2025-11-25). See docs/mcp-gateway.md.";

/// The arguments of `xop mcp-gateway`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Exit status:
  0  the client closed the session
  1  the upstream server exited, closed its input or stopped reading it (pending requests
     got errors)
  2  the gateway could not start (module, key, subject, log or command)
  3  the session ran, but the proof log could not be closed (e.g. a full disk): check it
     with `xop log verify DIR`

Example:
  xop mcp-gateway --module acme.xopm --subject '{\"to\": {\"id\": \"cust-42\"}}' --log data -- python3 tools.py")]
pub struct McpGatewayArgs {
    /// The compiled module (.xopm) whose agent and policies govern the tool calls
    #[arg(long, value_name = "FILE")]
    pub module: PathBuf,
    /// Require the module to be signed by this public key (a file from `xop keygen`)
    #[arg(long, value_name = "PUBKEY")]
    pub trust: Option<PathBuf>,
    /// The agent whose tool bindings apply (default: the module's only agent)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The session's subject: a JSON object (or a file holding one) with the action parameters
    /// tool calls do not give, by name, e.g. '{"to": {"id": "cust-42"}}'
    #[arg(long, value_name = "FILE|JSON")]
    pub subject: Option<String>,
    /// Record every decision in the proof log in this folder (created if needed)
    #[arg(long, value_name = "DIR")]
    pub log: Option<PathBuf>,
    /// Open the review cases of held calls in the review queue of this running `xop serve`
    /// (its URL), where reviewers approve or reject them; the operator token to open them
    /// with is read from the environment variable XOP_TOKEN
    #[arg(long, value_name = "URL")]
    pub review_server: Option<String>,
    /// Read `[camara]` from this `xop.toml`: the policies' signals are then read from the
    /// network through the CAMARA connectors, and proven with their correlators; its `trust`
    /// applies as --trust does (--trust given overrides it), and an unknown key is refused
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Answer a request the upstream server has not answered (nor reported progress on) for
    /// this many seconds with error -32001, and cancel it upstream
    #[arg(long, value_name = "SECS", default_value_t = xop_gateway::inflight::DEFAULT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_timeout: u64,
    /// Never wait longer than this many seconds for one request, progress notwithstanding
    #[arg(long, value_name = "SECS", default_value_t = xop_gateway::inflight::DEFAULT_MAX_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub upstream_max_timeout: u64,
    /// Give a tool call's decision this many seconds to read its network signals (--config);
    /// a read not done by then is absent, and the policies decide without it (reason
    /// xop:decide-timeout)
    #[arg(long, value_name = "SECS", default_value_t = xop_gateway::session::DEFAULT_DECIDE_TIMEOUT.as_secs(), value_parser = decide_timeout)]
    pub decide_timeout: u64,
    /// The upstream MCP server's command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "UPSTREAM_COMMAND")]
    pub upstream: Vec<String>,
}

/// Reads `--decide-timeout`: whole seconds, at least 1 and at most a year.
fn decide_timeout(text: &str) -> Result<u64, String> {
    let max = xop_gateway::session::MAX_DECIDE_TIMEOUT.as_secs();
    match text.trim().parse::<u64>() {
        Ok(0) => Err(
            "a decision needs at least 1 second to read its signals: give whole seconds from 1 \
             (the default is 10); there is no value that turns the limit off"
                .to_string(),
        ),
        Ok(secs) if secs <= max => Ok(secs),
        Ok(_) => Err(format!(
            "at most {max} seconds (a year): give whole seconds from 1 (the default is 10)"
        )),
        Err(_) => Err(
            "not a whole number of seconds: give whole seconds from 1, e.g. `--decide-timeout 10` \
             (no unit, no fraction)"
                .to_string(),
        ),
    }
}

/// Runs the gateway; the exit status.
pub fn run(args: McpGatewayArgs) -> u8 {
    let timeouts = match xop_gateway::inflight::Timeouts::new(
        std::time::Duration::from_secs(args.upstream_timeout),
        std::time::Duration::from_secs(args.upstream_max_timeout),
    ) {
        Ok(t) => t,
        Err(e) => {
            crate::error(&e);
            return xop_gateway::run::EXIT_FAILURE;
        }
    };
    let review_server = match args.review_server {
        None => None,
        Some(url) => match std::env::var("XOP_TOKEN") {
            Ok(token) if !token.trim().is_empty() => Some((url, token)),
            _ => {
                crate::error(
                    "--review-server needs an operator token in the environment variable XOP_TOKEN (`xop token new`; its hash under [[operators]] in the server's xop.toml)",
                );
                return xop_gateway::run::EXIT_FAILURE;
            }
        },
    };
    // `--config` read as `xop serve` reads it (an unknown key refused), and its `trust` kept
    // unless `--trust` is given: the gateway then refuses a module that key did not sign.
    let trust = match crate::eval::config_and_trust(args.config.as_deref(), args.trust.as_deref()) {
        Ok((_, trust)) => trust,
        Err(e) => {
            crate::error(&e);
            return xop_gateway::run::EXIT_FAILURE;
        }
    };
    xop_gateway::run(&xop_gateway::Options {
        review_server,
        config: args.config,
        module: args.module,
        trust,
        agent: args.agent,
        subject: args.subject,
        log: args.log,
        timeouts,
        decide_timeout: std::time::Duration::from_secs(args.decide_timeout),
        upstream: args.upstream,
    })
}
