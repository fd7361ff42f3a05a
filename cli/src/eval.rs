//! `xop eval`: one decision of one policy on one input, with the reasons and the rules that fired.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, ValueEnum};
use xop_runtime::bind::{self, BindError};
use xop_runtime::engine::{Given, Recording, RuntimeError};
use xop_runtime::interp::{self, Decision, FixedSignals};
use xop_runtime::ir::{Program, Verdict};
use xop_runtime::proof::record::SignalRead;
use xop_runtime::value::Value;

use crate::{Color, FAILURE, PROBLEMS, SUCCESS, compile, err, error, files, out};

/// Long help of `xop eval`.
pub const LONG_ABOUT: &str = "\
Decide one input with one policy (--policy), or with every policy guarding an action
(--action: their fired rules combined, a deny in any wins, a review in one holds it), and print
the verdict, every reason that applied and the rules that fired (with where they are written).

The first argument is a compiled module (.xopm) or .xop sources. The input is a JSON object
with one key per parameter of the policy's action, and optionally \"now\" (an RFC 3339 time; the
current time if absent) and \"signals\" (signal name → value or null); a leading UTF-8
byte-order mark is skipped. Bad input never allows: invalid JSON or UTF-8, a missing field, a
wrong type or an unknown enum value gives deny with reason xop:bad-input and a message naming
the field, what was expected and what was found.";

/// Exit status documentation of `xop eval`.
pub const AFTER_LONG_HELP: &str = "\
Exit status: 0 a decision was made from valid input; 1 the input was refused (decision deny,
xop:bad-input) or the sources have errors; 2 usage or I/O error.

Example:
  xop eval examples/acme --policy contact --input offer.json
  xop eval examples/acme --action send_offer --input offer.json";

/// The engine that evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The Cranelift JIT (what it does not compile yet is refused with the reason)
    Jit,
    /// The reference interpreter
    Interp,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    Human,
    /// One JSON object
    Json,
}

/// Arguments of `xop eval`: exactly one of `--policy`, `--action` and `--decision` says what to
/// ask.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("asked").required(true).args(["policy", "action", "decision"])))]
pub struct EvalArgs {
    /// A module (.xopm), or .xop files and folders
    #[arg(required = true, value_name = "MODULE|PATHS")]
    pub paths: Vec<PathBuf>,
    /// The policy to ask (its name, or `policy@action` for a purpose policy)
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// Or the action to decide over every policy guarding it (its qualified name, or its
    /// short name when unique): the action's verdict, as `xop serve` gives it
    #[arg(long, value_name = "NAME")]
    pub action: Option<String>,
    /// Or the decision to rank (its candidates, each decided by its action's policies)
    #[arg(long, value_name = "NAME")]
    pub decision: Option<String>,
    /// The input JSON file, or `-` for standard input
    #[arg(long, value_name = "FILE|-")]
    pub input: PathBuf,
    /// Which engine evaluates
    #[arg(long, value_enum, default_value_t = Engine::Interp)]
    pub engine: Engine,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Refuse a module not signed by this public key (from `xop keygen`)
    #[arg(long, value_name = "PUBKEY")]
    pub trust: Option<PathBuf>,
    /// Prove the decision in the proof log in this folder (created if needed): the record's
    /// sequence number is printed; see `xop log` and `xop explain`
    #[arg(long, value_name = "DIR", conflicts_with = "decision")]
    pub log: Option<PathBuf>,
    /// Read `[camara]` from this `xop.toml`: signals are then read from the network (not from
    /// the input), and an allowed QoD instruction creates its session (docs/network.md); its
    /// `trust` applies as --trust does (--trust given overrides it), and an unknown key is
    /// refused, as `xop serve` reads the file
    #[arg(long, value_name = "FILE", conflicts_with = "decision")]
    pub config: Option<PathBuf>,
}

/// `--config FILE` read as `xop serve` reads it (an unknown key refused, `trust` relative to
/// the file's folder), and the public key a module must then be signed by: `--trust` when given
/// (the command line overrides the file, as `--listen` does for `xop serve`), else the file's
/// `trust`. Shared by `xop eval` and `xop mcp-gateway`, so that no command that reads
/// `xop.toml` runs a module the file's `trust` would refuse.
pub(crate) fn config_and_trust(
    config: Option<&Path>,
    trust: Option<&Path>,
) -> Result<(Option<xop_server::config::Config>, Option<PathBuf>), String> {
    let config = match config {
        Some(path) => Some(xop_server::config::Config::load(path)?),
        None => None,
    };
    let trust = (trust.map(Path::to_path_buf))
        .or_else(|| config.as_ref().and_then(|c| c.trust_file.clone()));
    Ok((config, trust))
}

/// Runs `xop eval`.
pub fn run(args: &EvalArgs, color: Color) -> u8 {
    // The configuration first: its `trust` decides whether the module may be read at all.
    let (config, trust) = match config_and_trust(args.config.as_deref(), args.trust.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            error(&e);
            return FAILURE;
        }
    };
    let camara = match (&config, &args.config) {
        (Some(c), Some(path)) => match &c.camara {
            Some(camara) => Some(camara.clone()),
            None => {
                error(&format!(
                    "`{}`: no [camara] section: add one to call the CAMARA APIs (see \
                     docs/network.md)",
                    path.display()
                ));
                return FAILURE;
            }
        },
        _ => None,
    };
    let trust = trust.as_deref();
    // Sources are compiled on the spot, signed by nobody: the file's `trust` refuses them as
    // it refuses an unsigned module (`--trust` with sources is refused by `compile::load`).
    if let (None, Some(key), Some(path)) = (&args.trust, trust, &args.config)
        && module_file(&args.paths).is_none()
    {
        error(&format!(
            "`{}` requires modules signed by `{}` (trust), and sources compiled on the spot are \
             signed by nobody: build and sign a module (`xop build SOURCES -o FILE.xopm --sign \
             KEYFILE`) and give it instead",
            path.display(),
            key.display()
        ));
        return FAILURE;
    }
    let compiled = match compile::load(&args.paths, trust, color) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let program = compiled.program();
    let bytes = match read_input(&args.input) {
        Ok(b) => b,
        Err(m) => {
            error(&m);
            return FAILURE;
        }
    };
    // Input that is not UTF-8 is bad input like any other malformed JSON: a deny, not an I/O
    // error. A leading byte-order mark is skipped.
    let input = bind::json_text(&bytes);
    let policy_name = match (&args.policy, &args.decision, &args.action) {
        (Some(p), _, _) => p.clone(),
        (None, Some(d), _) => return rank(program, d, input, args),
        // The runtime decides an action (combining its policies), with or without a log.
        (None, None, Some(a)) => {
            if let Some(m) = policy_given_as_action(program, a) {
                error(&m);
                return FAILURE;
            }
            return logged(args, &compiled, Target::Action(a), &bytes, trust, camara);
        }
        (None, None, None) => return FAILURE, // clap requires one of them
    };
    let index = match program.resolve_policy(&policy_name) {
        Ok((index, _)) => index,
        // Two policies of that name (in two modules): refused as the runtime refuses it.
        Err(matches) if matches.len() > 1 => {
            error(
                &RuntimeError::AmbiguousPolicy {
                    policy: policy_name,
                    matches: matches.iter().map(|m| m.to_string()).collect(),
                }
                .to_string(),
            );
            return FAILURE;
        }
        Err(_) => {
            if let Some(m) = action_given_as_policy(program, &policy_name) {
                error(&m);
                return FAILURE;
            }
            // A module's names (and the name asked for) are printed with the characters that
            // show nothing escaped: a control sequence in a forged module must not reach the
            // terminal.
            let names: Vec<String> = (program.policies.iter())
                .map(|p| crate::explain::shown(&p.name))
                .collect();
            let policy_name = crate::explain::shown(&policy_name);
            error(&if names.is_empty() {
                format!(
                    "no policy `{policy_name}`: {} no policy",
                    declares(&args.paths)
                )
            } else {
                format!(
                    "no policy `{policy_name}`; the policies are: {}",
                    names.join(", ")
                )
            });
            return FAILURE;
        }
    };
    let action = &program.policies[index].action;
    let mut guards: Vec<&str> = program.guards(action).map(|p| p.name.as_str()).collect();
    if (1..guards.len()).any(|i| guards[..i].contains(&guards[i])) {
        // Two of them have one short name (in two modules): named so that they can be told
        // apart and asked for.
        guards = program
            .guards(action)
            .map(|p| p.qualified.as_str())
            .collect();
    }
    if guards.len() > 1 {
        // `xop serve` refuses such a policy (409 partial_policy); here it is evaluated alone,
        // which is what debugging a policy needs, but it is not the action's verdict.
        err(&format!(
            "note: `{policy_name}` is one of {} policies guarding `{action}` ({}): this is its \
             verdict alone; the action's combines them all (a deny in any wins, a review in one \
             holds it): `--action {action}` gives it\n",
            guards.len(),
            guards.join(", ")
        ));
    }
    if args.log.is_some() || args.config.is_some() {
        return logged(
            args,
            &compiled,
            Target::Policy(&policy_name),
            &bytes,
            trust,
            camara,
        );
    }
    let input = match input {
        Ok(text) => text,
        Err(e) => {
            let decision = refused(e.to_string());
            let text = match args.format {
                Format::Human => human(program, &[index], &decision),
                Format::Json => json(program, &[index], &decision),
            };
            return out(&text).map_or_else(|s| s, |()| PROBLEMS);
        }
    };
    // A policy the JIT compiles reads the JSON text straight into its layout.
    let jit = (args.engine == Engine::Jit).then(|| xop_runtime::jit::compile(program));
    if let Some((status, reads, decision)) = jit
        .as_ref()
        .and_then(|j| jit_from_json(j, program, index, input))
    {
        // No signal given: those the rules read are absent, and listed as the interpreter's.
        let text = policy_text(program, index, &decision, &reads, args.format);
        return out(&text).map_or_else(|s| s, |()| status);
    }
    // Read once: the decision time of an input without `now`, and when its given signals are
    // judged.
    let clock = jiff::Timestamp::now().as_millisecond();
    let (status, reads, decision) = match bind::bind_json_at(program, index, input, clock) {
        Ok(bound) => match decide_bound(program, index, bound, clock, args.engine, jit) {
            Ok(decided) => decided,
            Err(why) => {
                error(&format!(
                    "the JIT does not compile policy `{policy_name}` yet: {why}; use --engine interp"
                ));
                return FAILURE;
            }
        },
        // Refused input is a decision too: deny, never allow.
        Err(e) => (PROBLEMS, Vec::new(), refused(e.to_string())),
    };
    let text = policy_text(program, index, &decision, &reads, args.format);
    match out(&text) {
        Ok(()) => status,
        Err(s) => s,
    }
}

/// `--policy` on a bound input: the exit status ([`status`]), the signals read and the decision
/// of `engine` (`jit`, when compiled already, is reused), at the input's `now` or else `clock`;
/// or why the JIT does not compile the policy.
fn decide_bound(
    program: &Program,
    index: usize,
    bound: bind::Bound,
    clock: i64,
    engine: Engine,
    jit: Option<xop_runtime::jit::JitModule>,
) -> Result<(u8, Vec<SignalRead>, Decision), String> {
    let now = bound.now_ms.unwrap_or(clock);
    // The given signals, as the interpreter reads them, each read kept with why a judged one
    // is absent.
    let given = Given::new(bound.signals, &bound.judged);
    let signals = Recording::new(&given);
    let decision = match engine {
        Engine::Interp => interp::decide(program, index, &bound.args, now, &signals),
        Engine::Jit => {
            let jit = jit.unwrap_or_else(|| xop_runtime::jit::compile(program));
            match jit.decide_with_signals(index, &bound.args, now, &signals) {
                Some(d) => d,
                None => {
                    return Err(jit
                        .unsupported(index)
                        .unwrap_or("it is not supported")
                        .into());
                }
            }
        }
    };
    // A bound input the policy's own check refuses is refused input too (exit 1, as on
    // `--action`), not a decision made.
    Ok((status(&decision), signals.signal_reads(program), decision))
}

/// `--policy`'s output: the decision, and the signals it read from the input, as `--action`
/// gives them: a line for each read as absent because its freshness was judged
/// (`signal NAME from SOURCE: absent: WHY`), and in JSON every read in `signals` (omitted when
/// none was made), each `{"signal", "value", "fetch"}`.
fn policy_text(
    program: &Program,
    index: usize,
    decision: &Decision,
    reads: &[SignalRead],
    format: Format,
) -> String {
    match format {
        Format::Human => {
            let mut s = human(program, &[index], decision);
            s.push_str(&judged_lines(reads));
            s.push_str(&no_case_line(decision));
            s
        }
        Format::Json if reads.is_empty() => json(program, &[index], decision),
        Format::Json => {
            let mut v: serde_json::Value =
                serde_json::from_str(&json(program, &[index], decision)).unwrap_or_default();
            v["signals"] = serde_json::json!(reads);
            format!("{}\n", crate::json::pretty(&v))
        }
    }
}

/// A line for each read a judged value made absent, as [`network_lines`] says it.
fn judged_lines(reads: &[SignalRead]) -> String {
    let mut s = String::new();
    for r in reads {
        if let Some(f) = &r.fetch {
            s.push_str(&format!(
                "  signal {} {}\n",
                r.signal,
                crate::explain::shown(&f.describe())
            ));
        }
    }
    s
}

/// Reads the input's bytes from `path`, or from standard input when `path` is `-`; the error
/// names the file and says what went wrong. Whether they are UTF-8 is the binder's to say
/// (bad input, not an I/O error).
fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| format!("cannot read standard input: {}", files::reason(&e)))?;
        return Ok(bytes);
    }
    std::fs::read(path)
        .map_err(|e| files::cannot_read(&path.display().to_string(), &files::reason(&e)))
}

/// The compiled module file, when the paths are one (as [`compile::load`] tells: a `.xopm`
/// file, or any file that starts as a module does).
fn module_file(paths: &[PathBuf]) -> Option<&Path> {
    compile::module_path(paths)
}

/// The guarded actions `name` means, as the runtime finds them for `--action`: the one whose
/// qualified name it is, or those whose short name it is.
fn actions_named<'p>(program: &'p Program, name: &str) -> Vec<&'p str> {
    let mut actions: Vec<&str> = (program.policies.iter())
        .map(|p| p.action.as_str())
        .filter(|a| *a == name || a.rsplit('.').next() == Some(name))
        .collect();
    actions.sort_unstable();
    actions.dedup();
    if let Some(exact) = actions.iter().find(|a| **a == name) {
        return vec![*exact];
    }
    actions
}

/// `--policy NAME` where no policy has that name but an action does: the message saying so.
fn action_given_as_policy(program: &Program, name: &str) -> Option<String> {
    let actions = actions_named(program, name);
    let guards = |action: &str| -> String {
        let names: Vec<&str> = program.guards(action).map(|p| p.name.as_str()).collect();
        names.join(", ")
    };
    match actions.as_slice() {
        [] => None,
        [action] => Some(format!(
            "`{name}` is an action, not a policy: `--action {name}` decides it with every \
             policy guarding it ({}); to decide one of them alone, give its name to --policy",
            guards(action)
        )),
        many => Some(format!(
            "`{name}` is the name of {} actions, not of a policy: give one with --action ({})",
            many.len(),
            (many.iter())
                .map(|a| format!("`--action {a}`, guarded by {}", guards(a)))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// `--action NAME` where no action has that name but a policy does: the message saying so.
fn policy_given_as_action(program: &Program, name: &str) -> Option<String> {
    if !actions_named(program, name).is_empty() {
        return None;
    }
    let (_, policy) = program.resolve_policy(name).ok()?;
    let action = &policy.action;
    let short = action.rsplit('.').next().unwrap_or(action);
    let given = if actions_named(program, short).len() == 1 {
        short
    } else {
        action
    };
    Some(format!(
        "`{name}` is a policy, not an action: `--policy {name}` decides it alone, and \
         `--action {given}` decides the action it guards (`{action}`) with all its policies"
    ))
}

/// What declares the program's names, for saying it declares none: a module, or the sources.
fn declares(paths: &[PathBuf]) -> &'static str {
    match module_file(paths) {
        Some(_) => "the module declares",
        None => "the sources declare",
    }
}

/// The decision on refused input: deny with `xop:bad-input` and the binder's message.
fn refused(message: String) -> Decision {
    Decision::failed(interp::BAD_INPUT, Vec::new(), message)
}

/// The exit status of a decision made: 1 when it refused the input (`xop:bad-input`), whoever
/// refused it (the binder, or the policy's own check of the values bound), else 0; so that
/// every path (`--policy` on either engine, `--action`, `--log`) exits alike on one input.
fn status(decision: &Decision) -> u8 {
    if decision.reasons.iter().any(|r| r == interp::BAD_INPUT) {
        PROBLEMS
    } else {
        SUCCESS
    }
}

/// `--engine jit` on a policy the JIT compiles (`None` otherwise): the JSON reader lays the
/// input out without a `Value` tree; refused input is the same `xop:bad-input` deny as
/// `bind_json`'s. The exit status, the signals the rules read (none given: each absent), and
/// the decision.
fn jit_from_json(
    jit: &xop_runtime::jit::JitModule,
    program: &Program,
    index: usize,
    input: &str,
) -> Option<(u8, Vec<SignalRead>, Decision)> {
    let mut reader = jit.json_reader(index).ok()?;
    let mut bound = xop_runtime::jit::Bound::empty();
    Some(match reader.bind_json_into(jit, input, &mut bound) {
        // Signals given: the values path binds them and judges their freshness (with the
        // clock it decides at), which the output reports; the JIT decides there too.
        Ok(_) if !reader.signals().is_empty() => return None,
        Ok(now) => {
            let now = now.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
            let mut output = jit.output(index);
            let none = FixedSignals::default();
            let signals = Recording::new(&none);
            let decision = match jit.run_with_signals(&bound, now, &signals, &mut output) {
                Ok(()) => jit.decision(&bound, &output),
                Err(e) => Decision::failed(interp::RUNTIME_ERROR, Vec::new(), e.to_string()),
            };
            (status(&decision), signals.signal_reads(program), decision)
        }
        Err(e) => {
            let decision = e.decision();
            (status(&decision), Vec::new(), decision)
        }
    })
}

/// What `xop eval` asks the runtime to decide.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// One policy (`--policy`).
    Policy(&'a str),
    /// An action over all its policies (`--action`).
    Action(&'a str),
}

/// `--log DIR`, `--config FILE` or `--action NAME`: the decision made by the runtime, which
/// proves it in the log first when there is one.
/// `trust` is the key file the module was checked against ([`config_and_trust`]), `camara`
/// the connectors' settings of `--config`.
fn logged(
    args: &EvalArgs,
    compiled: &compile::Compiled,
    target: Target<'_>,
    input: &[u8],
    trust: Option<&Path>,
    camara: Option<xop_network::CamaraConfig>,
) -> u8 {
    // The module file's own bytes when given one (its hash is its identity in the log), else
    // the sources compiled to a module.
    let bytes = match module_file(&args.paths) {
        Some(single) => match std::fs::read(single) {
            Ok(b) => b,
            Err(e) => {
                error(&files::cannot_read(
                    &single.display().to_string(),
                    &files::reason(&e),
                ));
                return FAILURE;
            }
        },
        _ => compiled.module.to_bytes(None),
    };
    let trust = match trust {
        Some(path) => match compile::read_public_key(path) {
            Ok(k) => Some(k),
            Err(s) => return s,
        },
        None => None,
    };
    let dir = args.log.as_deref();
    // Input that is not UTF-8 is refused before any engine runs (deny, `xop:bad-input`, proven
    // with `--log`), so whether the JIT compiles the policy does not matter for it.
    let jit = args.engine == Engine::Jit && bind::json_text(input).is_ok();
    let decided = crate::log::eval_logged(dir, &bytes, trust.as_ref(), target, input, camara, jit);
    let (decision, outcome, settled) = match decided {
        Ok(d) => d,
        Err(s) => return s,
    };
    let program = compiled.program();
    // The policies whose rules may have fired: the one asked, or every one of the action.
    let policies: Vec<usize> = match (target, &outcome.action) {
        (Target::Policy(policy), _) => (program.resolve_policy(policy).ok())
            .map(|(i, _)| i)
            .into_iter()
            .collect(),
        (Target::Action(_), Some(action)) => (0..program.policies.len())
            .filter(|&i| &program.policies[i].action == action)
            .collect(),
        (Target::Action(_), None) => Vec::new(),
    };
    // What came of a fallback that opening the review queue applied could not be proven
    // (said on stderr): the decision stands, and is printed, but the command failed.
    let status = if settled.unproven {
        FAILURE
    } else {
        status(&decision)
    };
    // An allowed action the connectors carry out that was not carried out: a policy decided
    // alone while others guard its action (its verdict is not the action's).
    let not_performed = outcome.not_performed.as_deref().and_then(|why| {
        let action = (outcome.action.as_deref()).or_else(|| {
            policies
                .first()
                .map(|&i| program.policies[i].action.as_str())
        })?;
        xop_network::is_network_action(action).then_some((action, why))
    });
    let text = match args.format {
        Format::Human => {
            let mut s = human(program, &policies, &decision);
            s.push_str(&network_lines(&outcome));
            if let Some((action, why)) = not_performed {
                s.push_str(&format!(
                    "  not performed {action}: {why}; nothing was sent (`--action {action}` \
                     decides the action and carries it out)\n"
                ));
            }
            if let (Some(dir), Some(seq)) = (dir, outcome.seq) {
                s.push_str(&format!(
                    "  proof: record {seq} in {} (`xop explain {} {seq}`)\n",
                    dir.display(),
                    dir.display()
                ));
            }
            match dir {
                Some(dir) => s.push_str(&case_lines(&decision, &outcome, &settled, dir)),
                None => s.push_str(&no_case_line(&decision)),
            }
            s
        }
        Format::Json => {
            let mut v: serde_json::Value =
                serde_json::from_str(&json(program, &policies, &decision)).unwrap_or_default();
            if let Some(action) = &outcome.action {
                v["action"] = serde_json::json!(action);
                v["policies"] = serde_json::json!(outcome.policy.split('+').collect::<Vec<_>>());
            }
            if dir.is_some() {
                v["seq"] = serde_json::json!(outcome.seq);
                // As `xop serve` answers a decision: the case a review opened (or why none
                // could be), its deadline, and whether the halt switch gave the fallback.
                v["case"] = serde_json::json!(outcome.case);
                v["case_error"] = serde_json::json!(outcome.case_error);
                v["halted"] = serde_json::json!(settled.halted);
                if let (Some(r), Some(terms)) = (v["review"].as_object_mut(), &outcome.review) {
                    r.insert("deadline".into(), serde_json::json!(terms.deadline));
                }
            }
            v["module"] = serde_json::json!(outcome.module);
            if !outcome.signals.is_empty() {
                v["signals"] = serde_json::json!(outcome.signals);
            }
            if let Some(p) = &outcome.performed {
                v["performed"] = serde_json::json!(p);
                v["performed_seq"] = serde_json::json!(outcome.performed_seq);
            }
            if let Some((action, why)) = not_performed {
                v["not_performed"] = serde_json::json!({"action": action, "reason": why});
            }
            format!("{}\n", crate::json::pretty(&v))
        }
    };
    match out(&text) {
        Ok(()) => status,
        Err(s) => s,
    }
}

/// The signals a decision read through the connectors and the action it carried out, with the
/// correlators of their network calls.
fn network_lines(outcome: &xop_runtime::engine::Outcome) -> String {
    use xop_runtime::proof::record::correlators;
    let mut s = judged_lines(&outcome.signals);
    if let Some(p) = &outcome.performed {
        s.push_str(&format!(
            "  performed {}: {} {}{}\n",
            p.action,
            if p.ok { "done" } else { "failed" },
            crate::explain::shown(&p.result.to_string()),
            correlators(&p.calls)
        ));
    }
    s
}

/// What `--log DIR` did about review (human output): the case a `review` verdict opened
/// (`case: rv-12, open until …, for role fraud_desk, else deny (`xop review show rv-12 --data
/// DIR`)`),
/// the halt switch's fallback, or, when no case could be opened, why and the fallback that
/// applies instead, with its proof record.
fn case_lines(
    decision: &Decision,
    outcome: &xop_runtime::engine::Outcome,
    settled: &crate::review::Settled,
    dir: &Path,
) -> String {
    let mut s = String::new();
    if settled.halted {
        s.push_str(&format!(
            "  halted: the halt switch is on, so this high-risk policy's fallback applies: {}{}\n",
            decision.verdict.keyword(),
            outcome
                .case
                .as_deref()
                .map_or(String::new(), |c| format!(" (case {c}, closed with it)"))
        ));
        return s;
    }
    if let (Some(case), Some(terms)) = (&outcome.case, &outcome.review) {
        s.push_str(&format!(
            "  case: {case}, open until {}, for role {}, else {} (`xop review show {case} --data \
             {}`)\n",
            terms.deadline,
            roles(&terms.role, &terms.also),
            terms.fallback.keyword(),
            dir.display()
        ));
    }
    if let Some(e) = &outcome.case_error {
        s.push_str(&format!(
            "  no case opened: {}; the review's fallback applies: {}{}\n",
            crate::explain::shown(e),
            decision.verdict.keyword(),
            settled
                .fallback_seq
                .map_or(String::new(), |n| format!(" (proof record {n})"))
        ));
    }
    s
}

/// For a `review` verdict decided without `--log` (human output): that no case was opened,
/// since nothing is recorded.
fn no_case_line(decision: &Decision) -> String {
    if decision.verdict == Verdict::Review {
        "  no case opened (no --log: nothing is recorded; `--log DIR` proves the decision and \
         opens its review case)\n"
            .to_string()
    } else {
        String::new()
    }
}

/// Why `--log DIR` cannot be used now: another process has the folder's proof log open for
/// writing. Said before anything is decided or recorded; the address a running `xop serve`
/// left in the folder is named as a possibility, as `xop review` names it.
pub fn locked_message(dir: &Path) -> String {
    let via_server = match xop_server::running_url(dir) {
        Some(url) => format!(
            "`xop serve` on this folder left its address, {url}: if it runs, ask it (POST \
             {url}/v1/decide/POLICY, or /v1/actions/ACTION/decide), which records the \
             decision and opens its review case"
        ),
        None => "if `xop serve` runs on this folder, ask it (POST /v1/decide/POLICY, or \
                 /v1/actions/ACTION/decide), which records the decision and opens its review \
                 case"
            .to_string(),
    };
    format!(
        "another process holds `{}`: the proof log is open for writing (a running `xop serve`, \
         or another `xop eval --log`, `xop review` or `xop log erase` on the folder); nothing \
         was decided or recorded. Retry once it is done, or {via_server}",
        dir.join("LOCK").display()
    )
}

/// `--decision NAME`: the ranked candidates, each with its action's decision.
fn rank(program: &Program, name: &str, input: Result<&str, BindError>, args: &EvalArgs) -> u8 {
    let found = match program.resolve_decision(name) {
        Err(matches) if matches.len() > 1 => {
            error(&format!(
                "the decision name `{name}` could mean {}: give its qualified name",
                matches.join(", ")
            ));
            return FAILURE;
        }
        found => found.ok(),
    };
    let Some((index, _)) = found else {
        let names: Vec<&str> = program.decisions.iter().map(|d| d.name.as_str()).collect();
        error(&if names.is_empty() {
            format!(
                "no decision `{name}`: {} no decision",
                declares(&args.paths)
            )
        } else {
            format!(
                "no decision `{name}`; the decisions are: {}",
                names.join(", ")
            )
        });
        return FAILURE;
    };
    let bound = match input.and_then(|text| bind::bind_decision_json(program, index, text)) {
        Ok(b) => b,
        // Nothing is proposed from refused input.
        Err(e) => return no_candidate(program, name, &refused(e.to_string()), &[], args.format),
    };
    let now = bound
        .now_ms
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
    let jit = (args.engine == Engine::Jit).then(|| xop_runtime::jit::compile(program));
    // A failed candidate's arguments are evaluated again below, reading the given values
    // without recording the reads.
    let fixed = FixedSignals(bound.signals.clone());
    let given = Given::new(bound.signals, &bound.judged);
    let signals = Recording::new(&given);
    let compiled = jit.as_ref().and_then(|j| {
        let ranked = j.decide_decision_with_signals(index, &bound.args, now, &signals);
        if ranked.is_none() {
            // Not compiled (e.g. a rank that may be absent): the interpreter ranks it, and
            // says so.
            let why = j
                .decision_unsupported(index)
                .unwrap_or("it is not supported");
            err(&format!(
                "note: the JIT does not compile decision `{name}`: {why}; ranked by the interpreter\n"
            ));
        }
        ranked
    });
    let ranked =
        compiled.unwrap_or_else(|| interp::rank(program, index, &bound.args, now, &signals));
    // Each signal once (every candidate's policies read it again, the same given value).
    let mut reads = signals.signal_reads(program);
    let mut seen = std::collections::HashSet::new();
    reads.retain(|r| seen.insert(r.signal.clone()));
    let ranked = match ranked {
        Ok(r) => r,
        Err(d) => return no_candidate(program, name, &d, &reads, args.format),
    };
    // A candidate whose own evaluation failed has no arguments in the ranking: they are
    // evaluated again here, from the given values (the signals unrecorded: read already).
    let def = &program.decisions[index];
    let failed_args = |c: &interp::Candidate| -> Vec<Value> {
        let mut proposals =
            (def.proposals.iter()).filter(|p| p.action == c.action && p.source.line == c.line);
        let (Some(p), None) = (proposals.next(), proposals.next()) else {
            return Vec::new();
        };
        let Ok(slots) = usize::try_from(def.slots) else {
            return Vec::new();
        };
        let mut frame = vec![Value::Absent; slots.max(bound.args.len())];
        frame[..bound.args.len()].clone_from_slice(&bound.args);
        if let Some(cell) = def.now_slot.and_then(|s| frame.get_mut(s as usize)) {
            *cell = Value::Time(now);
        }
        (p.args.iter())
            .map(|a| interp::eval(program, a, &mut frame, now, &fixed))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default()
    };
    let ranked: Vec<interp::Candidate> = ranked
        .into_iter()
        .map(|mut c| {
            if c.failed {
                c.args = failed_args(&c);
            }
            c
        })
        .collect();
    let text = match args.format {
        Format::Human => {
            let mut s = String::new();
            if ranked.is_empty() {
                s.push_str("no candidate proposed\n");
            }
            for (i, c) in ranked.iter().enumerate() {
                let d = &c.decision;
                let reasons = if d.reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", crate::explain::shown_reasons(&d.reasons))
                };
                // A failed candidate has no rank (the runtime's `i64::MIN` only orders it
                // last); its error follows.
                let rank = if c.failed {
                    "rank failed".to_string()
                } else {
                    format!("rank {}", show_value(&c.rank))
                };
                s.push_str(&format!(
                    "{}. {}({}) (line {}) {rank}: {}{reasons}\n",
                    i + 1,
                    c.action,
                    show_args(program, &c.action, &c.args),
                    c.line,
                    d.verdict.keyword()
                ));
                if let Some(e) = &d.error {
                    s.push_str(&format!("   error: {}\n", crate::explain::shown(e)));
                }
            }
            if let Some(best) = choice(&ranked).map(|i| &ranked[i]) {
                let held = if best.decision.verdict == Verdict::Review {
                    ", held for review: carried out only if the review approves it"
                } else {
                    ""
                };
                s.push_str(&format!(
                    "next best action: {} (line {}){held}\n",
                    best.action, best.line
                ));
            }
            s.push_str(&judged_lines(&reads));
            s
        }
        Format::Json => {
            let mut v = ranked_json(program, name, &ranked);
            if !reads.is_empty() {
                v["signals"] = serde_json::json!(reads);
            }
            let mut t = crate::json::pretty(&v);
            t.push('\n');
            t
        }
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

/// `--decision NAME` when nothing could be ranked (refused input, a failed evaluation): `no
/// candidate (REASONS)` and the error, or the JSON of a ranking with no candidate, `choice`
/// null, and the reasons and error. Exit status 1.
fn no_candidate(
    program: &Program,
    name: &str,
    d: &Decision,
    reads: &[SignalRead],
    format: Format,
) -> u8 {
    let text = match format {
        Format::Human => format!(
            "no candidate ({})\n  error: {}\n{}",
            crate::explain::shown_reasons(&d.reasons),
            crate::explain::shown(d.error.as_deref().unwrap_or_default()),
            judged_lines(reads)
        ),
        Format::Json => {
            let mut v = ranked_json(program, name, &[]);
            v["reasons"] = serde_json::json!(d.reasons);
            v["error"] = serde_json::json!(d.error);
            if !reads.is_empty() {
                v["signals"] = serde_json::json!(reads);
            }
            let mut t = crate::json::pretty(&v);
            t.push('\n');
            t
        }
    };
    match out(&text) {
        Ok(()) => PROBLEMS,
        Err(s) => s,
    }
}

/// The choice among candidates ranked: the first not denied (docs/language.md §5.10), which
/// is carried out only once its review approves it when its verdict is `review`.
fn choice(ranked: &[interp::Candidate]) -> Option<usize> {
    ranked
        .iter()
        .position(|c| c.decision.verdict != Verdict::Deny)
}

/// `--decision NAME --format json`: the candidates by rank, each with its arguments in the
/// input format of `xop eval --policy` (one key per parameter), and the choice: the index of
/// the first candidate not denied (docs/language.md §5.10), or `null`; `reasons` and `error`
/// say why nothing was ranked (empty and `null` here; see [`no_candidate`]).
fn ranked_json(program: &Program, name: &str, ranked: &[interp::Candidate]) -> serde_json::Value {
    use xop_runtime::proof::record::value_json;
    let candidates: Vec<serde_json::Value> = ranked
        .iter()
        .map(|c| {
            let params = program
                .policies
                .iter()
                .find(|p| p.action == c.action)
                .map(|p| p.params.as_slice())
                .unwrap_or_default();
            let args: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .zip(&c.args)
                .map(|(p, v)| (p.name.clone(), value_json(program, v)))
                .collect();
            let d = &c.decision;
            let guards: Vec<usize> = (program.policies.iter().enumerate())
                .filter(|(_, p)| p.action == c.action)
                .map(|(i, _)| i)
                .collect();
            serde_json::json!({
                "action": c.action,
                "line": c.line,
                "rank": (!c.failed).then(|| value_json(program, &c.rank)),
                "args": args,
                "verdict": d.verdict.keyword(),
                "reasons": d.reasons,
                "fired": fired_json(program, &guards, &d.fired),
                "review": d.review.as_ref().map(|r| serde_json::json!({
                    "role": r.role, "also": r.also, "within_ms": r.within_ms,
                    "fallback": r.fallback.keyword()
                })),
                "error": d.error,
            })
        })
        .collect();
    serde_json::json!({
        "decision": program.resolve_decision(name).ok().map(|(_, d)| d.qualified.clone()),
        "choice": choice(ranked),
        "candidates": candidates,
        "reasons": [],
        "error": null,
    })
}

/// The candidate's scalar arguments, `channel: email, offer: "x"` (records are left out).
fn show_args(program: &Program, action: &str, args: &[xop_runtime::value::Value]) -> String {
    use xop_runtime::value::Value;
    let Some(p) = program.guards(action).next() else {
        return String::new();
    };
    p.params
        .iter()
        .zip(args)
        .filter_map(|(param, v)| {
            let shown = match v {
                Value::Record(..) | Value::List(_) => return None,
                Value::Symbol(i) => program
                    .symbols
                    .get(*i as usize)
                    .map_or("?".to_string(), |s| s.name.clone()),
                Value::Text(t) | Value::Id(t) => format!("{t:?}"),
                other => show_value(other),
            };
            Some(format!("{}: {shown}", param.name))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_value(v: &xop_runtime::value::Value) -> String {
    use xop_runtime::value::Value;
    match v {
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// A review's roles as people read them: `desk`, or `desk and lead` when reviews of several
/// roles fired (each to be approved by a member of it).
pub fn roles(role: &str, also: &[String]) -> String {
    std::iter::once(role)
        .chain(also.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn human(program: &Program, policies: &[usize], d: &Decision) -> String {
    let mut s = d.verdict.keyword().to_string();
    if !d.reasons.is_empty() {
        s.push_str(&format!(" ({})", crate::explain::shown_reasons(&d.reasons)));
    }
    s.push('\n');
    if let Some(r) = &d.review {
        s.push_str(&format!(
            "  review by role {} within {} ms, else {}\n",
            roles(&r.role, &r.also),
            r.within_ms,
            r.fallback.keyword()
        ));
    }
    if let Some(e) = &d.error {
        s.push_str(&format!("  error: {}\n", crate::explain::shown(e)));
    }
    let (rules, _) = crate::explain::fired_rules(program, policies, &d.fired);
    for (id, rule) in d.fired.iter().zip(rules) {
        s.push_str(&crate::explain::fired_line(id, rule));
    }
    s
}

/// The fired rules of a decision over `policies`, as JSON: each rule's id, file, line and text.
fn fired_json(program: &Program, policies: &[usize], fired: &[String]) -> Vec<serde_json::Value> {
    let (rules, _) = crate::explain::fired_rules(program, policies, fired);
    fired
        .iter()
        .zip(rules)
        .map(|(id, rule)| {
            serde_json::json!({
                "id": id,
                "file": rule.map(|r| r.source.file.clone()),
                "line": rule.map(|r| r.source.line),
                "text": rule.map(|r| r.source.text.clone()),
            })
        })
        .collect()
}

fn json(program: &Program, policies: &[usize], d: &Decision) -> String {
    let value = serde_json::json!({
        "verdict": d.verdict.keyword(),
        "reasons": d.reasons,
        "fired": fired_json(program, policies, &d.fired),
        "review": d.review.as_ref().map(|r| serde_json::json!({
            "role": r.role, "also": r.also, "within_ms": r.within_ms,
            "fallback": r.fallback.keyword()
        })),
        "error": d.error,
    });
    let mut text = crate::json::pretty(&value);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use xop_runtime::ir::Type;
    use xop_runtime::ir::build::{program, rule};

    /// A bound input the policy's own check refuses (a zone no engine knows, which the binder
    /// would refuse first) exits 1 on `--policy`, either engine, as `--action` and `--log` do.
    #[test]
    fn a_bound_input_the_policy_refuses_exits_1_on_every_engine() {
        let p = program(vec![Type::Tz], vec![rule(1, Verdict::Allow, "ok", None)]);
        let bound = |zone: &str| bind::Bound {
            args: vec![Value::Tz(zone.into())],
            now_ms: Some(0),
            signals: Vec::new(),
            judged: Vec::new(),
        };
        for engine in [Engine::Interp, Engine::Jit] {
            let (code, _, d) =
                decide_bound(&p, 0, bound("Etc/Unknown"), 0, engine, None).expect("compiled");
            assert_eq!(d.reasons, [interp::BAD_INPUT], "{engine:?}: {d:?}");
            assert_eq!(code, PROBLEMS, "{engine:?}");
            let (code, _, d) =
                decide_bound(&p, 0, bound("Europe/Paris"), 0, engine, None).expect("compiled");
            assert_eq!((d.verdict, code), (Verdict::Allow, SUCCESS), "{engine:?}");
        }
    }

    #[test]
    fn only_refused_input_exits_1() {
        let failed = |reason| Decision::failed(reason, Vec::new(), "why".into());
        assert_eq!(status(&failed(interp::BAD_INPUT)), PROBLEMS);
        assert_eq!(status(&refused("x: missing".into())), PROBLEMS);
        // A run-time error is a decision made from valid input (deny), as documented.
        assert_eq!(status(&failed(interp::RUNTIME_ERROR)), SUCCESS);
    }
}
