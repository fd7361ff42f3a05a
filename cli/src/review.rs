//! `xop review`: list, show, approve and reject review cases of a data folder; `xop token`:
//! make reviewer and operator tokens and their hashes for `xop.toml`; `xop serve`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use xop_runtime::engine::{Approved, Outcome, Runtime};
use xop_runtime::proof::LogError;
use xop_runtime::review::{
    self, Case, OpeningReport, ReviewError, ReviewQueue, Reviewer, RuntimeLog, Shown, Status,
};
use xop_server::config::{Config, token_hash};

use crate::{FAILURE, PROBLEMS, SUCCESS, error, http, out};

/// Long help of `xop review`.
pub const LONG_ABOUT: &str = "\
Human review: the cases opened by `review` verdicts (action, reasons, evidence, role, deadline,
fallback). A reviewer of the case's role approves or rejects it, once; a case of several roles
is approved once each role is, by one reviewer or several, and rejected by any of them. When
nobody decides in time, the fallback applies. Each outcome, each approval, and who decided, is
a record in the proof log. An answer to a case changed in reviews.log since its decision is
refused; reasons and evidence are shown as the decision's proof record has them.

`list` and `show` only read the folder (they work while `xop serve` runs). `approve` and
`reject` authenticate the reviewer with a token listed (hashed) in xop.toml, and write to the
proof log. While `xop serve` runs on the folder it holds the log: give `--server URL` (its
address) and the server, with its own xop.toml, authenticates the token and decides.
See docs/review.md.";

/// Exit status documentation of `xop review`.
pub const AFTER_LONG_HELP: &str = "\
Exit status: 0 done; 1 refused (unknown token, wrong role, role already approved, already
decided, halted, case changed since its decision, no such case); 2 usage or I/O error.

Examples:
  xop review list --data data/ --status open
  xop review show rv-12 --data data/
  XOP_TOKEN=… xop review approve rv-12 --data data/ --config xop.toml --note \"called the customer\"
  XOP_TOKEN=… xop review reject rv-12 --server http://127.0.0.1:8080";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    Human,
    /// JSON
    Json,
}

/// `xop review` arguments.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    #[command(subcommand)]
    command: ReviewCommand,
}

#[derive(Debug, Subcommand)]
enum ReviewCommand {
    /// List the cases
    List {
        /// The data folder (`xop serve --data`)
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Only cases of this status: open, approved, rejected, fallback, all
        #[arg(long, default_value = "all")]
        status: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Show one case, with its evidence
    Show {
        /// The case id (`rv-N`)
        id: String,
        /// The data folder
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Approve a case (the action may go ahead)
    Approve(DecideArgs),
    /// Reject a case (the action is denied)
    Reject(DecideArgs),
}

#[derive(Debug, Args)]
struct DecideArgs {
    /// The case id (`rv-N`)
    id: String,
    /// The data folder (with `xop serve` stopped)
    #[arg(long, value_name = "DIR", required_unless_present = "server")]
    data: Option<PathBuf>,
    /// Decide through the running `xop serve` at this address (http://HOST:PORT) instead of
    /// the folder; the server's xop.toml authenticates the token
    #[arg(long, value_name = "URL", conflicts_with_all = ["data", "config"])]
    server: Option<String>,
    /// The configuration listing reviewers (hashed tokens)
    #[arg(long, value_name = "FILE", default_value = "xop.toml")]
    config: PathBuf,
    /// The reviewer's token (default: the XOP_TOKEN environment variable)
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// A note kept with the outcome
    #[arg(long)]
    note: Option<String>,
}

/// Runs `xop review`.
pub fn run(args: &ReviewArgs) -> u8 {
    match &args.command {
        ReviewCommand::List {
            data,
            status,
            format,
        } => list(data, status, *format),
        ReviewCommand::Show { id, data, format } => show(data, id, *format),
        ReviewCommand::Approve(a) => decide(a, true),
        ReviewCommand::Reject(a) => decide(a, false),
    }
}

fn read(data: &Path) -> Result<Vec<Case>, u8> {
    if !data.is_dir() {
        error(&format!(
            "`{}` is not a data folder (`xop serve --data DIR`)",
            data.display()
        ));
        return Err(FAILURE);
    }
    review::read(data).map(|(c, _)| c).map_err(|e| {
        error(&e.to_string());
        FAILURE
    })
}

/// The approvals of an open case and what it waits for: `; approved for role fraud_desk by
/// ana; waiting for role compliance` (nothing for a case of one role nobody approved).
fn approvals_text(c: &Case) -> String {
    let mut t = String::new();
    for a in &c.approvals {
        t.push_str(&format!(
            "; approved for {} by {}",
            role_words(&a.roles),
            a.by
        ));
    }
    if !c.approvals.is_empty() {
        t.push_str(&format!("; waiting for {}", role_words(&c.waiting())));
    }
    t
}

/// Who decided `c`: its decider, or, for a case approved role by role, every approver (`ana
/// and lee`).
fn deciders(c: &Case) -> String {
    if c.status == Status::Approved && c.approvals.len() > 1 {
        let names: Vec<&str> = c.approvals.iter().map(|a| a.by.as_str()).collect();
        return names.join(" and ");
    }
    c.decided_by.clone().unwrap_or_else(|| "?".to_string())
}

/// `role a`, `roles a and b`.
fn role_words(roles: &[String]) -> String {
    format!(
        "role{} {}",
        if roles.len() == 1 { "" } else { "s" },
        roles.join(" and ")
    )
}

fn line(c: &Case, now: i64) -> String {
    let state = match (c.status, &c.decided_by) {
        (Status::Open, _) if c.deadline_ms <= now => format!(
            "open (overdue: the fallback applies when the queue is next opened){}",
            approvals_text(c)
        ),
        (Status::Open, _) => format!("open until {}{}", c.deadline, approvals_text(c)),
        (s, Some(_)) => format!(
            "{} by {} -> {}",
            s.keyword(),
            deciders(c),
            c.verdict.as_deref().unwrap_or("?")
        ),
        (s, None) => s.keyword().to_string(),
    };
    format!(
        "{}  {}  role {}  else {}  ({})  {}\n",
        c.id,
        c.action,
        crate::eval::roles(&c.role, &c.also),
        c.fallback,
        c.reasons.join(", "),
        state
    )
}

fn list(data: &Path, status: &str, format: Format) -> u8 {
    let wanted = match status {
        "all" => None,
        s => match Status::parse(s) {
            Some(s) => Some(s),
            None => {
                error(&format!(
                    "`--status {s}`: use open, approved, rejected, fallback or all"
                ));
                return FAILURE;
            }
        },
    };
    let cases: Vec<Case> = match read(data) {
        Ok(c) => c
            .into_iter()
            .filter(|c| wanted.is_none_or(|s| c.status == s))
            .collect(),
        Err(s) => return s,
    };
    // Their reasons (and evidence) as their proof records give them, not `reviews.log`.
    let cases = Shown::read_all(data, cases);
    let text = match format {
        Format::Json => format!("{}\n", serde_json::json!({ "cases": cases })),
        Format::Human if cases.is_empty() => "no cases\n".to_string(),
        Format::Human => {
            let now = jiff::Timestamp::now().as_millisecond();
            cases
                .iter()
                .map(|c| {
                    let mut t = line(&c.case, now);
                    if let Some(m) = record_note(c) {
                        t.push_str(&format!("  {m}\n"));
                    }
                    t
                })
                .collect()
        }
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

/// What a reviewer must know of the case's record: how the file's case differs from it, or
/// that it cannot be read (docs/review.md).
fn record_note(c: &Shown) -> Option<String> {
    if let Some(e) = &c.record_error {
        return Some(format!("warning: its proof record cannot be read: {e}"));
    }
    c.record_differs.as_ref().map(|d| {
        format!(
            "warning: the case in `{}` differs from its proof record (shown: the record's reasons \
             and evidence): {d}",
            review::FILE
        )
    })
}

fn show(data: &Path, id: &str, format: Format) -> u8 {
    let cases = match read(data) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let Some(c) = cases.into_iter().find(|c| c.id == id) else {
        error(&ReviewError::NotFound(id.to_string()).to_string());
        return PROBLEMS;
    };
    let Some(shown) = Shown::read_all(data, vec![c]).pop() else {
        error(&ReviewError::NotFound(id.to_string()).to_string());
        return PROBLEMS;
    };
    let text = match format {
        Format::Json => format!("{}\n", crate::json::pretty(&shown)),
        Format::Human => {
            let c = &shown.case;
            let mut t = line(c, jiff::Timestamp::now().as_millisecond());
            if let Some(m) = record_note(&shown) {
                t.push_str(&format!("  {m}\n"));
            }
            for a in &c.approvals {
                t.push_str(&format!(
                    "  approved for {} by {} at {}{}\n",
                    role_words(&a.roles),
                    a.by,
                    a.at,
                    a.note
                        .as_deref()
                        .map_or(String::new(), |n| format!(" (note: {n})"))
                ));
            }
            t.push_str(&format!(
                "  policy {} (record {}), module {}\n",
                c.policy,
                c.seq.map_or("-".to_string(), |s| s.to_string()),
                c.module
            ));
            if let Some(n) = &c.note {
                t.push_str(&format!("  note: {n}\n"));
            }
            if let Some(args) = &c.args {
                // What an approval carries the action out with (docs/review.md).
                t.push_str(&format!(
                    "  arguments {}\n",
                    serde_json::Value::Object(args.clone())
                ));
            }
            for e in &c.evidence {
                t.push_str(&format!("  evidence {}\n", crate::json::compact(e)));
            }
            t
        }
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

fn decided_line(c: &Case) -> String {
    if c.status == Status::Open
        && let Some(a) = c.approvals.last()
    {
        // An approval of some of the case's roles: it waits for the others.
        return format!(
            "{}: approved for {} by {}; waiting for {} (proof record {})\n",
            c.id,
            role_words(&a.roles),
            a.by,
            role_words(&c.waiting()),
            a.proof.map_or("-".to_string(), |s| s.to_string())
        );
    }
    format!(
        "{} {} by {} -> {} (proof record {})\n",
        c.id,
        c.status.keyword(),
        deciders(c),
        c.verdict.as_deref().unwrap_or("?"),
        c.proof.map_or("-".to_string(), |s| s.to_string())
    )
}

/// What came of the action of an approved case (or an `allow` fallback) that xop carries out (a
/// QoD boost), as a line under the decided one: `performed ACTION: done {…} (x-correlator …)
/// (proof record N)`, or `not performed ACTION: why (proof record N)`.
fn approved_line(action: &str, approved: &Approved) -> String {
    format!("  {}\n", approved.summary(action))
}

/// The [`Approved`] in a server's answer to an approval (`performed`, `performed_seq`, or
/// `not_performed`, `not_performed_seq`), if any.
fn approved_of(answer: &serde_json::Value) -> Option<Approved> {
    let seq = |key: &str| answer.get(key).and_then(serde_json::Value::as_u64);
    if let Some(p) = answer.get("performed").filter(|p| !p.is_null()) {
        let performed = serde_json::from_value(p.clone()).ok()?;
        return Some(Approved::Performed {
            performed,
            seq: seq("performed_seq"),
        });
    }
    let reason = answer.get("not_performed")?.as_str()?.to_string();
    Some(Approved::NotPerformed {
        reason,
        seq: seq("not_performed_seq"),
        // The server carried out what it could; no hint to do the rest by hand is given here.
        by_hand: false,
    })
}

fn reviewer_token(a: &DecideArgs) -> Result<String, u8> {
    a.token
        .clone()
        .or_else(|| std::env::var("XOP_TOKEN").ok())
        .ok_or_else(|| {
            error("give the reviewer's token: --token TOKEN or the XOP_TOKEN environment variable");
            FAILURE
        })
}

/// `approve`/`reject` through a running `xop serve` (`POST /v1/reviews/{id}/approve|reject`).
fn decide_remote(a: &DecideArgs, server: &str, approve: bool) -> u8 {
    let url = match http::Url::parse(server) {
        Ok(u) => u,
        Err(m) => {
            error(&format!("--server {m}"));
            return FAILURE;
        }
    };
    let token = match reviewer_token(a) {
        Ok(t) => t,
        Err(s) => return s,
    };
    if !url.is_loopback() {
        error(&format!(
            "warning: the token goes in clear to {}:{}; prefer the server's host or a tunnel",
            url.host, url.port
        ));
    }
    let body = serde_json::json!({ "note": a.note }).to_string();
    let path = format!(
        "/v1/reviews/{}/{}",
        http::segment(&a.id),
        if approve { "approve" } else { "reject" }
    );
    let (status, text) = match http::post_json(&url, &path, &token, &body) {
        Ok(r) => r,
        Err(m) => {
            error(&format!("{m}: nothing was decided"));
            return FAILURE;
        }
    };
    if status == 200 {
        return match serde_json::from_str::<Case>(&text) {
            Ok(c) => {
                let mut line = decided_line(&c);
                let answer = serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default();
                if let Some(a) = approved_of(&answer) {
                    line.push_str(&approved_line(&c.action, &a));
                }
                match out(&line) {
                    Ok(()) => SUCCESS,
                    Err(s) => s,
                }
            }
            Err(e) => {
                // Decided, but the answer is not a case: say so rather than guess.
                error(&format!(
                    "the server answered 200 but not with a case ({e}): {text}"
                ));
                FAILURE
            }
        };
    }
    // The server's errors are `{"error": code, "message": …}` (docs/serve.md).
    let (code, message) = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .map(|v| {
            (
                v["error"].as_str().unwrap_or("").to_string(),
                v["message"].as_str().unwrap_or(&text).to_string(),
            )
        })
        .unwrap_or_else(|| (String::new(), text.clone()));
    let refused = matches!(status, 401 | 403 | 404 | 409);
    error(&format!(
        "the server refused ({status}{}): {message}{}",
        if code.is_empty() {
            String::new()
        } else {
            format!(" {code}")
        },
        if refused { ": nothing was decided" } else { "" }
    ));
    if refused { PROBLEMS } else { FAILURE }
}

fn decide(a: &DecideArgs, approve: bool) -> u8 {
    if let Some(server) = &a.server {
        return decide_remote(a, server, approve);
    }
    let Some(data) = a.data.as_deref() else {
        error("give the data folder (--data DIR) or the running server (--server URL)");
        return FAILURE;
    };
    let config = match Config::load(&a.config) {
        Ok(c) => c,
        Err(m) => {
            error(&format!(
                "{m} (the reviewers' hashed tokens; --config FILE)"
            ));
            return FAILURE;
        }
    };
    let token = match reviewer_token(a) {
        Ok(t) => t,
        Err(s) => return s,
    };
    let Some(who) = config.authenticate(&token) else {
        error(&format!(
            "the token is not in `{}` (its SHA-256 must be a reviewer's token_sha256; `xop token \
             hash`): nothing was decided",
            a.config.display()
        ));
        return PROBLEMS;
    };
    if !data.is_dir() {
        error(&format!(
            "`{}` is not a data folder (`xop serve --data DIR`)",
            data.display()
        ));
        return FAILURE;
    }
    let log = match crate::log::open_log(data) {
        Ok(l) => l,
        Err(LogError::Locked { .. }) => {
            error(&locked_message(data));
            return FAILURE;
        }
        Err(e) => {
            error(&e.to_string());
            return FAILURE;
        }
    };
    let rt = Arc::new(Runtime::with_log(log));
    // With `[camara]` in xop.toml, an approved QoD boost is carried out here, as `xop serve`
    // carries it out.
    if let Some(camara) = &config.camara {
        rt.set_connectors(Some(Box::new(xop_network::Camara::new(camara.clone()))));
    }
    let opened = Plugged::open(data, &rt, "xop review", "before recording this answer");
    let status = match opened {
        Err(e) => {
            error(&e.to_string());
            FAILURE
        }
        Ok(plugged) => {
            let queue = &plugged.queue;
            let reviewer = Reviewer {
                name: who.name,
                roles: who.roles,
            };
            let result = if approve {
                queue.approve(&a.id, &reviewer, a.note.as_deref())
            } else {
                queue.reject(&a.id, &reviewer, a.note.as_deref())
            };
            queue.shutdown();
            let status = match result {
                Ok(c) => {
                    let mut text = decided_line(&c);
                    // An approved action xop carries out (a QoD boost): carried out now through
                    // the connectors, or said plainly that it is not.
                    let approved = if xop_network::is_network_action(&c.action) {
                        rt.perform_approved(&c)
                    } else {
                        Ok(None)
                    };
                    let mut status = SUCCESS;
                    match approved {
                        Ok(Some(done)) => {
                            text.push_str(&approved_line(&c.action, &done));
                            if let Approved::NotPerformed { by_hand: true, .. } = done
                                && config.camara.is_none()
                            {
                                text.push_str(&format!(
                                    "  the case is approved, but `xop review approve --data` \
                                     carries the action out only with `[camara]` in the \
                                     configuration given (`--config {}`): carry it out at the \
                                     operator yourself, with the arguments `xop review show {} \
                                     --data DIR` lists\n",
                                    a.config.display(),
                                    c.id
                                ));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            error(&format!(
                                "case {} is approved, but what came of its action could not be \
                                 proven: {e}; look the action up at the operator before doing it \
                                 again",
                                c.id
                            ));
                            status = FAILURE;
                        }
                    }
                    match out(&text) {
                        Ok(()) => status,
                        Err(s) => s,
                    }
                }
                Err(
                    e @ (ReviewError::Io(_)
                    | ReviewError::Corrupt(_)
                    | ReviewError::Log(_)
                    | ReviewError::HaltLog { .. }),
                ) => {
                    error(&e.to_string());
                    FAILURE
                }
                Err(e) => {
                    error(&format!("{e}: nothing was decided"));
                    PROBLEMS
                }
            };
            let (carried, text) = plugged.unplug(
                &rt,
                config.camara.is_some(),
                "`xop review approve|reject --data`",
                &a.config.display().to_string(),
            );
            let carried = match out(&text) {
                Ok(()) => carried,
                Err(s) => s,
            };
            if carried == SUCCESS { status } else { carried }
        }
    };
    match Arc::try_unwrap(rt) {
        Ok(rt) => {
            if let Err(e) = rt.close() {
                error(&e.to_string());
                return FAILURE;
            }
        }
        // Unreachable in practice (the queue is shut down); the records are durable anyway.
        Err(_) => error("the proof log could not be closed cleanly; its records are durable"),
    }
    status
}

/// A data folder's review queue, opened on a runtime holding the folder's proof log and plugged
/// into it as its review sink, as `xop serve` opens it (docs/review.md): opening closes the
/// cases that fell due while nothing ran and proves what a crash left unproven, said on stderr;
/// then a `review` verdict the runtime decides opens its durable case, once its record is
/// durable, and the halt switch holds high-risk actions back. What `xop review approve|reject
/// --data` and `xop eval --log` share, so that both open and close it alike.
pub struct Plugged {
    /// The queue.
    pub queue: ReviewQueue,
    /// The cases the queue closed with their fallback (on opening, or a late answer), for
    /// [`Plugged::unplug`] to carry out.
    fell: Arc<std::sync::Mutex<Vec<Case>>>,
}

impl Plugged {
    /// Opens the queue of `data` on `rt` (which holds `data`'s proof log) and plugs it in;
    /// `command` (`xop review`) names who says the warnings and the progress of the work
    /// opening does, `before` what that work comes before (`before recording this answer`).
    pub fn open(
        data: &Path,
        rt: &Arc<Runtime>,
        command: &'static str,
        before: &'static str,
    ) -> Result<Plugged, ReviewError> {
        // Opening closes the cases that fell due while nothing ran, and proves outcomes a crash
        // left unproven: with many, say so, as `xop serve` does.
        let mut report = OpeningReport::new(std::time::Instant::now, before);
        let queue = ReviewQueue::open_reporting(
            data,
            Box::new(RuntimeLog(Arc::downgrade(rt))),
            xop_runtime::review::wall_clock(),
            &mut |p| {
                if let Some(line) = report.line(p) {
                    eprintln!("{command}: {line}");
                }
            },
        )?;
        for n in queue.notices() {
            eprintln!("{command}: warning: {n}");
        }
        // Opening closed the cases that fell due (and a late answer may close one): their
        // `allow` fallbacks of actions xop carries out are carried out by `unplug`, as `xop
        // serve` carries them out. The runtime asks the queue whether the halt is on.
        let fell = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = Arc::clone(&fell);
        queue.set_on_fallback(Box::new(move |c: &Case| {
            into.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(c.clone());
        }));
        rt.set_review_sink(Some(queue.sink()));
        Ok(Plugged { queue, fell })
    }

    /// What `xop serve` does with a decision's outcome once its record is durable, before it
    /// answers: [`ReviewQueue::settle`] (the halt switch, and the fallback of a review whose
    /// case could not be opened, both proven). An error: an outcome that could not be proven.
    pub fn settle(&self, rt: &Runtime, outcome: &mut Outcome) -> Result<Settled, String> {
        let applied = self.queue.settle(rt, outcome).map_err(|e| e.to_string())?;
        Ok(Settled {
            halted: applied.halted,
            fallback_seq: applied.fallback_seq,
            unproven: false,
        })
    }

    /// Stops the queue, carries out the `allow` fallbacks among the cases it closed
    /// ([`carry_out_fallbacks`]: `camara`, whether connectors are plugged into `rt`; `who`,
    /// the command that carries them out only with them, `config` the configuration to give
    /// it), then unplugs it from `rt`. `FAILURE` when what came of one could not be proven,
    /// else `SUCCESS`; and what came of each, for the caller to print (empty when none was).
    pub fn unplug(self, rt: &Runtime, camara: bool, who: &str, config: &str) -> (u8, String) {
        self.queue.shutdown();
        let fell = std::mem::take(
            &mut *self
                .fell
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let halted = self.queue.halted().is_some();
        let carried = carry_out_fallbacks(rt, &fell, camara, who, config, halted);
        rt.set_review_sink(None);
        carried
    }
}

/// What [`Plugged::settle`] applied to a decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settled {
    /// The halt switch is on, and gave the decision its policy's fallback.
    pub halted: bool,
    /// No case could be opened: the proof record of the review's fallback (`review.fallback`,
    /// `by: "case-error"`).
    pub fallback_seq: Option<u64>,
    /// What came of an `allow` fallback that opening the queue applied could not be proven
    /// (said on stderr).
    pub unproven: bool,
}

/// Carries out the `allow` fallbacks among `fell` (cases the queue closed with their fallback
/// when it was opened, or a late answer) of actions xop carries out (a QoD boost), as an
/// approval's, and says what came of each on standard output: with connectors (`camara`:
/// `[camara]` in the configuration given) through them; without, each is recorded as not
/// carried out (why: `action.not_performed`), and the command says how many were not and how
/// to carry them out: `who` (the command) does only with `[camara]` in `config` (unless the
/// halt switch is on, `halted`: then none is carried out, by xop or by hand). Returns `FAILURE`
/// when what came of one could not be proven (said on stderr), else `SUCCESS`, and the text.
fn carry_out_fallbacks(
    rt: &Runtime,
    fell: &[Case],
    camara: bool,
    who: &str,
    config: &str,
    halted: bool,
) -> (u8, String) {
    let mut text = String::new();
    let mut status = SUCCESS;
    let mut not_carried = Vec::new();
    for c in fell {
        if c.verdict.as_deref() != Some("allow") || !xop_network::is_network_action(&c.action) {
            continue;
        }
        match rt.perform_approved(c) {
            Ok(Some(done)) => {
                text.push_str(&decided_line(c));
                text.push_str(&approved_line(&c.action, &done));
                if let Approved::NotPerformed { by_hand: true, .. } = done {
                    not_carried.push(c.id.as_str());
                }
            }
            Ok(None) => {}
            Err(e) => {
                error(&format!(
                    "case {} fell back to allow (proof record {}), but what came of its action \
                     could not be proven: {e}; look the action up at the operator before doing \
                     it again",
                    c.id,
                    c.proof.map_or("-".to_string(), |p| p.to_string())
                ));
                status = FAILURE;
            }
        }
    }
    // Under the halt switch each line says why; nobody is told to carry them out by hand.
    if !not_carried.is_empty() && !camara && !halted {
        let n = not_carried.len();
        text.push_str(&format!(
            "  {n} allow fallback{} of actions xop carries out {} not carried out ({}): {who} \
             carries them out only with `[camara]` in the configuration given (`--config \
             {config}`): carry {} out at the operator yourself, with the arguments `xop review \
             show ID --data DIR` lists\n",
            if n == 1 { "" } else { "s" },
            if n == 1 { "was" } else { "were" },
            not_carried.join(", "),
            if n == 1 { "it" } else { "them" },
        ));
    }
    (status, text)
}

/// Why `--data` cannot be used now: another process has the proof log open for writing. That
/// may be `xop serve` (its address, if it left one in the folder, is named, without sending the
/// token there) or just another command writing the folder, so both ways out are given.
fn locked_message(data: &Path) -> String {
    let via_server = match xop_server::running_url(data) {
        Some(url) => format!(
            "`xop serve` on this folder left its address, {url}: if it runs, decide through it \
             with `--server {url}`"
        ),
        None => "if `xop serve` runs on this folder, decide through it with `--server \
                 http://HOST:PORT`"
            .to_string(),
    };
    format!(
        "another process holds `{}`: the proof log is open for writing (a running `xop serve`, \
         or another `xop review`, `xop eval --log` or `xop log erase` on the folder); nothing \
         was decided. Retry once it is done, or {via_server} (instead of --data and --config; \
         the server checks the token)",
        data.join("LOCK").display()
    )
}

/// `xop token` arguments.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print the SHA-256 of a token (for `token_sha256` in xop.toml)
    Hash {
        /// The token (default: the first line of standard input, so it stays out of the shell
        /// history)
        token: Option<String>,
    },
    /// Make a new random token; prints it and its hash
    New,
}

/// Runs `xop token`.
pub fn token(args: &TokenArgs) -> u8 {
    let text = match &args.command {
        TokenCommand::Hash { token: Some(t) } => format!("{}\n", token_hash(t)),
        TokenCommand::Hash { token: None } => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                error(&format!(
                    "cannot read the token from standard input: {}",
                    crate::files::reason(&e)
                ));
                return FAILURE;
            }
            let t = s.lines().next().unwrap_or("").trim();
            if t.is_empty() {
                error("give a token: `xop token hash TOKEN`, or on standard input");
                return FAILURE;
            }
            format!("{}\n", token_hash(t))
        }
        TokenCommand::New => {
            let mut bytes = [0u8; 24];
            if let Err(e) = getrandom::fill(&mut bytes) {
                error(&format!("no randomness from the system: {e}"));
                return FAILURE;
            }
            let t = format!("xop_{}", xop_runtime::module::hex(&bytes));
            format!(
                "token:        {t}\ntoken_sha256: {}\n(give the token to its holder; put only the hash in xop.toml)\n",
                token_hash(&t)
            )
        }
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

/// Long help of `xop serve`.
pub const SERVE_LONG_ABOUT: &str = "\
Serve decisions over HTTP: POST /v1/decide/{policy} (JSON in and out), the review queue
(GET /v1/reviews, POST /v1/reviews/{id}/approve|reject), the proof log (GET /v1/log/checkpoint,
GET /v1/log/proof/N), hot swap (POST /v1/modules), the halt switch (POST|DELETE /v1/halt),
/healthz and /metrics. Every decision is answered only once its proof record is durable.
ctrl-c or SIGTERM stops it gracefully: requests in flight are answered, the log is closed with a
signed checkpoint. See docs/serve.md.";

/// `xop serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Compiled modules (`xop build`), each loaded under its file name without extension (two
    /// files of one name are refused)
    #[arg(long = "module", value_name = "FILE", required = true, num_args = 1..)]
    modules: Vec<PathBuf>,
    /// The data folder: the proof log and the review queue
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Reviewers, operators, the trusted module key, limits (docs/serve.md)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on (default: the configuration's, else 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Worker threads (default: one per core)
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

/// Runs `xop serve`.
pub fn serve(args: &ServeArgs) -> u8 {
    let opts = xop_server::ServeOptions {
        modules: args.modules.clone(),
        data: args.data.clone(),
        config: args.config.clone(),
        listen: args.listen.clone(),
        workers: args.workers,
    };
    match xop_server::run(&opts) {
        Ok(()) => SUCCESS,
        Err(m) => {
            error(&m);
            FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xop_runtime::engine::Input;
    use xop_runtime::ir::Verdict;
    use xop_runtime::proof::{LogConfig, ProofLog};

    /// A review sink that opens no case.
    struct Failing;

    impl xop_runtime::engine::ReviewSink for Failing {
        fn open_case(&self, _: &xop_runtime::engine::ReviewCase) -> Result<String, String> {
            Err("the disk is full".into())
        }
    }

    /// A `review` decision whose case could not be opened gets its review's fallback at once,
    /// proven (`review.fallback`, `by: "case-error"`), as `xop serve` gives it: so the next
    /// opening of the queue finds its outcome, and does not take it for a crash.
    #[test]
    fn a_review_without_its_case_gets_its_fallback_proven_at_once() {
        let dir = std::env::temp_dir().join(format!("xop-unit-settle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let acme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme");
        let compiled = crate::compile::load(&[acme], None, crate::Color::Never).unwrap();
        let input = br#"{"now":"2026-11-25T10:00:00Z","to":{"id":"cust-42","segment":"vip",
            "in_service_interaction":false,"messages_7d":0,"risk_score":1,"tz":"Europe/Paris",
            "consents":[],"contacts":[],"msisdn":"+33612345678"},
            "tx":{"id":"tx1","amount":"250.00 EUR","merchant":"ACME"},
            "signals":{"sim_swap":{"swapped":true,"latest_swap":"2026-11-25T09:00:00Z"}}}"#;
        let rt = Arc::new(Runtime::with_log(
            ProofLog::open(&dir, LogConfig::default()).unwrap(),
        ));
        rt.load_bytes("eval", &compiled.module.to_bytes(None), None)
            .unwrap();
        let plugged = Plugged::open(&dir, &rt, "test", "before deciding").unwrap();
        // A sink that cannot open the case (a full disk), in place of the queue's.
        rt.set_review_sink(Some(Box::new(Failing)));
        let mut outcome = rt.decide("fraud", Input::JsonBytes(input)).unwrap();
        assert_eq!((outcome.verdict, outcome.seq), (Verdict::Review, Some(0)));
        assert_eq!(outcome.case, None);
        assert_eq!(outcome.case_error.as_deref(), Some("the disk is full"));
        let settled = plugged.settle(&rt, &mut outcome).unwrap();
        assert_eq!(outcome.verdict, Verdict::Deny, "the fallback applies");
        assert!(!settled.halted);
        assert_eq!(settled.fallback_seq, Some(1));
        let (status, text) = plugged.unplug(&rt, false, "test", "FILE");
        assert_eq!((status, text.as_str()), (SUCCESS, ""));
        let bytes = rt.log().unwrap().record_bytes(1).unwrap().unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(entry["name"], "review.fallback", "{entry}");
        assert_eq!(entry["data"]["by"], "case-error", "{entry}");
        assert_eq!(entry["data"]["record"], 0, "{entry}");
        // Reopened: no case to recover (its outcome is proven), so no warning.
        let again = ReviewQueue::open(&dir, Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
        assert!(again.notices().is_empty(), "{:?}", again.notices());
        assert!(again.get("rv-0").is_none());
        again.shutdown();
        drop(again);
        Arc::try_unwrap(rt).ok().unwrap().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
