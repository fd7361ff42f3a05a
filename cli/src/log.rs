//! `xop log`: the proof log's tools (verify, show, prove, verify-proof, replay, erase), and
//! `xop eval --log`, which proves a decision in a log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::VerifyingKey;
use xop_runtime::engine::{Input, Outcome, Runtime};
use xop_runtime::interp::Decision;
use xop_runtime::proof::checkpoint::Checkpoint;
use xop_runtime::proof::record::{Body, Record};
use xop_runtime::proof::replay::{CrossCheck, Replayed, load_module, replay};
use xop_runtime::proof::verify::{
    LogReader, SavedCheckpoint, VerifyOptions, log_file, read_public_key, verify_log_noting,
    verify_log_with,
};
use xop_runtime::proof::{InclusionProof, LogConfig, LogError, ProofLog};

use crate::{FAILURE, PROBLEMS, SUCCESS, error, files, out};

/// Long help of `xop log`.
pub const LONG_ABOUT: &str = "\
Inspect and check a proof log: the append-only, tamper-evident log in which every decision is a
record (a leaf of an RFC 9162 Merkle tree, with signed C2SP checkpoints).

DIR is the log's data folder (what `xop eval --log DIR` writes). See docs/proof-log.md.";

/// Exit status documentation of `xop log`.
pub const AFTER_LONG_HELP: &str = "\
Exit status: 0 the log (or proof) checks out; 1 a problem was found (a changed, missing,
reordered or forged record, a frame out of place, a bad signature, a log that does not extend
the --checkpoint given, a replay that differs or could not be done); 2 usage or I/O error.
Not problems, said in `note:` lines: the torn end of a last batch (never acknowledged; the
next writer drops it), and records after the latest checkpoint while a writer has the log open
(its LOCK held; it signs them within its checkpoint interval).

Examples:
  xop log verify data/               recompute the tree and every checkpoint signature
  xop log checkpoint data/ > cp.txt  keep the latest signed checkpoint elsewhere, then later:
  xop log verify data/ --checkpoint cp.txt --key elsewhere/log.pub
                                     the log must still extend it (cut or rewritten otherwise)
  xop log show data/ 12              record 12, as JSON
  xop log prove data/ 12 --format json > proof.json
  xop log verify-proof proof.json --key data/log.pub
  xop log replay data/               re-decide every logged decision
  xop log erase data/ cust-42        erase a subject's hash key (GDPR Art. 17)";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    Human,
    /// JSON
    Json,
}

/// Arguments of `xop log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// What to do
    #[command(subcommand)]
    pub command: LogCommand,
}

/// The `xop log` verbs.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Recompute the tree and every checkpoint signature; name the first bad record
    Verify {
        /// The log's folder
        dir: PathBuf,
        /// The checkpoint public key (default: DIR/log.pub; pass a copy kept elsewhere to
        /// rule out that someone replaced both)
        #[arg(long, value_name = "PUBKEY")]
        key: Option<PathBuf>,
        /// A signed checkpoint of this log saved earlier (`xop log checkpoint`, `GET
        /// /v1/log/checkpoint`, or a proof from `xop log prove --format json`): the log must
        /// still extend it. Without one, records cut from the end at a checkpoint cannot be seen
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print the latest signed checkpoint (a C2SP signed note), to keep elsewhere for
    /// `xop log verify --checkpoint`
    Checkpoint {
        /// The log's folder
        dir: PathBuf,
        /// The checkpoint public key it must verify with (default: DIR/log.pub)
        #[arg(long, value_name = "PUBKEY")]
        key: Option<PathBuf>,
    },
    /// List the records, or show record N
    Show {
        /// The log's folder
        dir: PathBuf,
        /// The record's sequence number
        n: Option<u64>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the inclusion proof of record N against the latest signed checkpoint
    Prove {
        /// The log's folder
        dir: PathBuf,
        /// The record's sequence number
        n: u64,
        /// Output format (json is what `verify-proof` reads)
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Check an inclusion proof (from `xop log prove --format json`) against its checkpoint
    VerifyProof {
        /// The proof file, or `-` for standard input
        proof: PathBuf,
        /// The log's checkpoint public key
        #[arg(long, value_name = "PUBKEY")]
        key: PathBuf,
    },
    /// Re-decide every logged decision with its module; confirm the same outcome
    Replay {
        /// The log's folder
        dir: PathBuf,
    },
    /// Erase a data subject's hash key (GDPR Art. 17): their personal evidence is unlinked
    Erase {
        /// The log's folder
        dir: PathBuf,
        /// The subject's id (the `id` of their record in the input)
        subject: String,
    },
}

/// Runs `xop log`.
pub fn run(args: &LogArgs) -> u8 {
    match &args.command {
        LogCommand::Verify {
            dir,
            key,
            checkpoint,
        } => verify(dir, key.as_deref(), checkpoint.as_deref()),
        LogCommand::Checkpoint { dir, key } => checkpoint(dir, key.as_deref()),
        LogCommand::Show { dir, n, format } => show(dir, *n, *format),
        LogCommand::Prove { dir, n, format } => prove(dir, *n, *format),
        LogCommand::VerifyProof { proof, key } => verify_proof(proof, key),
        LogCommand::Replay { dir } => replay_all(dir),
        LogCommand::Erase { dir, subject } => erase(dir, subject),
    }
}

fn fail(e: &LogError) -> u8 {
    error(&e.to_string());
    FAILURE
}

/// As [`fail`], for the `xop log` verbs: a damaged log (or a key file lacking keys its
/// records name) is a problem found (exit 1), like a changed record `verify` names; anything
/// else is a usage or I/O error (exit 2).
pub fn fail_log(e: &LogError) -> u8 {
    error(&e.to_string());
    match e {
        LogError::Corrupt { .. } | LogError::MissingKeys { .. } => PROBLEMS,
        _ => FAILURE,
    }
}

/// Opens the log in `dir` for writing, and tells the operator on standard error when opening
/// dropped the torn end of a batch a crash interrupted (never acknowledged, but they should
/// know bytes were removed).
pub fn open_log(dir: &Path) -> Result<ProofLog, LogError> {
    let log = ProofLog::open(dir, LogConfig::default())?;
    if let Some(w) = log.recovery_warning() {
        crate::err(&format!("warning: {w}\n"));
    }
    Ok(log)
}

fn print(text: &str) -> u8 {
    match out(text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

fn key_for(dir: &Path, key: Option<&Path>) -> Result<(VerifyingKey, bool), LogError> {
    match key {
        Some(k) => read_public_key(k).map(|k| (k, false)),
        None => read_public_key(&dir.join("log.pub")).map(|k| (k, true)),
    }
}

fn verify(dir: &Path, key: Option<&Path>, saved: Option<&Path>) -> u8 {
    // Said first, as the other verbs say it, rather than "no log.pub" for a wrong folder.
    if let Err(e) = log_file(dir) {
        return fail(&e);
    }
    let (key, from_folder) = match key_for(dir, key) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let options = VerifyOptions {
        saved: match saved.map(SavedCheckpoint::read).transpose() {
            Ok(s) => s,
            Err(e) => return fail(&e),
        },
    };
    // The queue beside the log (what `xop serve` checks on open), read before the log: a live
    // server opens a case only for a record already durable, so every case it has is in the
    // log read after.
    let live = xop_runtime::proof::verify::writer_holds_lock(dir);
    // No queue (`None`): what the log alone shows, a decision decided twice, is found in the
    // verify pass below rather than by reading the log a second time.
    let (queue, unchecked) = match xop_runtime::review::check_queue(dir) {
        Ok(c) => (c, None),
        // A damaged queue is a problem found.
        Err(xop_runtime::review::ReviewError::Corrupt(m)) => (
            Some(vec![xop_runtime::review::CaseProblem {
                record: None,
                message: m,
                settled_on_open: false,
            }]),
            None,
        ),
        // A log that cannot be read: verify says where and why.
        Err(e) => (Some(Vec::new()), Some(e.to_string())),
    };
    let mut facts = xop_runtime::review::LogFacts::default();
    let verified = match queue {
        Some(_) => verify_log_with(dir, &key, &options),
        None => verify_log_noting(dir, &key, &options, &mut |r| facts.note(r)),
    };
    let mut report = match verified {
        Ok(r) => r,
        Err(e) => return fail_log(&e),
    };
    let cases = queue.unwrap_or_else(|| xop_runtime::review::twice_decided(&facts));
    if let Some(why) = unchecked {
        report.notes.push(format!(
            "the review queue `{}` was not checked against the log: {why}",
            xop_runtime::review::FILE
        ));
    }
    for c in cases {
        if c.settled_on_open && live {
            // A running server may be between a queue line and its record.
            report.notes.push(format!(
                "{}{} (the server is running: it may be between the two)",
                c.record.map_or(String::new(), |n| format!("record {n}: ")),
                c.message
            ));
        } else {
            report.problems.push(xop_runtime::proof::verify::Problem {
                seq: c.record,
                offset: 0,
                message: c.message,
            });
        }
    }
    let mut s = String::new();
    for p in &report.problems {
        match (p.seq, p.offset) {
            (Some(seq), 0) => s.push_str(&format!("bad: record {seq}: {}\n", p.message)),
            (Some(seq), at) => {
                s.push_str(&format!("bad: record {seq} (byte {at}): {}\n", p.message))
            }
            // Not of one place in the file (a saved checkpoint the log does not extend).
            (None, 0) => s.push_str(&format!("bad: {}\n", p.message)),
            (None, at) => s.push_str(&format!("bad: byte {at}: {}\n", p.message)),
        }
    }
    let status = if let Some(first) = report.problems.first() {
        let named = match (first.seq, first.offset) {
            (Some(n), _) => format!(", the first at record {n}"),
            (None, 0) => String::new(),
            (None, at) => format!(", the first at byte {at}"),
        };
        s.push_str(&format!(
            "the log does not verify: {} problem{}{named}\n",
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        ));
        PROBLEMS
    } else {
        s.push_str(&format!(
            "ok: {} records, {} signed checkpoint{} verified (tree size {}, origin {})\n",
            report.records,
            report.checkpoints,
            if report.checkpoints == 1 { "" } else { "s" },
            report.verified_size,
            report.origin
        ));
        if let (Some(size), Some(path)) = (report.extends, saved) {
            s.push_str(&format!(
                "ok: the log extends the checkpoint saved in `{}` (tree size {size})\n",
                path.display()
            ));
        }
        if from_folder {
            s.push_str(
                "note: checked with the key in the log folder (log.pub); pass --key with a copy \
                 kept elsewhere to rule out a replaced key\n",
            );
        }
        SUCCESS
    };
    // What could not be checked (an old key file's format): said whether or not it verified.
    for n in &report.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    match out(&s) {
        Ok(()) => status,
        Err(e) => e,
    }
}

/// `xop log checkpoint DIR`: the latest signed checkpoint, checked with the key, as the note
/// itself (what `GET /v1/log/checkpoint` answers), to keep apart from the log.
fn checkpoint(dir: &Path, key: Option<&Path>) -> u8 {
    if let Err(e) = log_file(dir) {
        return fail(&e);
    }
    let (key, _) = match key_for(dir, key) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let reader = match LogReader::open(dir) {
        Ok(r) => r,
        Err(e) => return fail_log(&e),
    };
    let Some(note) = reader.checkpoint() else {
        error(
            "the log has no signed checkpoint yet: its writer signs one within its checkpoint \
               interval and when it closes",
        );
        return FAILURE;
    };
    if let Err(e) = Checkpoint::open(note, &key) {
        let _ = out(&format!("bad: the latest signed checkpoint: {e}\n"));
        return PROBLEMS;
    }
    print(note)
}

fn summary(r: &Record) -> String {
    match &r.body {
        Body::Decision(d) => {
            let reasons = if d.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", d.reasons.join(", "))
            };
            let what = match &d.action {
                Some(action) => format!("action {action}"),
                None => d.policy.clone(),
            };
            format!(
                "{} {} decision {what} {}{reasons}",
                r.seq,
                r.time,
                d.verdict.keyword()
            )
        }
        Body::Erasure { key } => format!("{} {} erasure of subject key {key}", r.seq, r.time),
        Body::Event { name, .. } => format!("{} {} event {name}", r.seq, r.time),
    }
}

fn show(dir: &Path, n: Option<u64>, format: Format) -> u8 {
    let mut reader = match LogReader::open(dir) {
        Ok(r) => r,
        Err(e) => return fail_log(&e),
    };
    if let Some(n) = n {
        let bytes = match reader.record_bytes(n) {
            Ok(b) => b,
            Err(e) => return fail_log(&e),
        };
        let text = match format {
            Format::Json => format!("{}\n", String::from_utf8_lossy(&bytes)),
            Format::Human => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) => format!("{}\n", crate::json::pretty(&v)),
                Err(_) => format!("{}\n", String::from_utf8_lossy(&bytes)),
            },
        };
        return print(&text);
    }
    let mut s = String::new();
    if format == Format::Human {
        s.push_str(&format!(
            "log {} in {}: {} records\n",
            reader.origin(),
            dir.display(),
            reader.size()
        ));
    }
    for seq in 0..reader.size() {
        match reader.record(seq) {
            Ok(r) => match format {
                Format::Human => {
                    s.push_str(&summary(&r));
                    s.push('\n');
                }
                Format::Json => {
                    s.push_str(&crate::json::compact(&r));
                    s.push('\n');
                }
            },
            Err(e) => {
                let _ = out(&s);
                return fail_log(&e);
            }
        }
    }
    print(&s)
}

fn prove(dir: &Path, n: u64, format: Format) -> u8 {
    let mut reader = match LogReader::open(dir) {
        Ok(r) => r,
        Err(e) => return fail_log(&e),
    };
    let proof = match reader.prove(n) {
        Ok(p) => p,
        Err(e) => return fail_log(&e),
    };
    let text = match format {
        Format::Json => format!("{}\n", crate::json::pretty(&proof)),
        Format::Human => {
            let mut s = format!(
                "inclusion proof of record {n} in the tree of size {} (log {})\nrecord: {}\n\
                 leaf hash: {}\naudit path (leaf to root):\n",
                proof.tree_size,
                reader.origin(),
                proof.record,
                xop_runtime::module::hex(&xop_runtime::proof::merkle::leaf_hash(
                    proof.record.as_bytes()
                )),
            );
            for (i, h) in proof.path.iter().enumerate() {
                s.push_str(&format!("  {}. {h}\n", i + 1));
            }
            s.push_str("signed checkpoint:\n");
            for line in proof.checkpoint.lines() {
                s.push_str(&format!("  {line}\n"));
            }
            s.push_str("(use --format json to save it for `xop log verify-proof`)\n");
            s
        }
    };
    print(&text)
}

fn verify_proof(path: &Path, key: &Path) -> u8 {
    let key = match read_public_key(key) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let text = match files::read_text_or_stdin(path) {
        Ok(t) => t,
        Err(m) => {
            error(&m);
            return FAILURE;
        }
    };
    let proof: InclusionProof = match serde_json::from_str(&text) {
        Ok(p) => p,
        Err(e) => {
            error(&format!(
                "`{}` is not an inclusion proof ({e}); make one with `xop log prove DIR N --format json`",
                path.display()
            ));
            return FAILURE;
        }
    };
    match proof.verify(&key) {
        Ok(cp) => print(&format!(
            "ok: record {} is in log {} (tree size {}), as its signed checkpoint says\n",
            proof.seq, cp.origin, cp.size
        )),
        Err(e) => {
            let _ = out(&format!("bad: {e}\n"));
            PROBLEMS
        }
    }
}

fn replay_all(dir: &Path) -> u8 {
    let mut reader = match LogReader::open(dir) {
        Ok(r) => r,
        Err(e) => return fail_log(&e),
    };
    let mut modules: HashMap<String, Result<xop_runtime::module::LoadedModule, String>> =
        HashMap::new();
    let (mut same, mut different, mut skipped) = (0u64, 0u64, 0u64);
    // Decisions whose module cannot be had: not re-decided, so neither same nor different.
    let mut unreplayable = 0u64;
    let mut s = String::new();
    let mut cross = CrossCheck::default();
    for seq in 0..reader.size() {
        let record = match reader.record(seq) {
            Ok(r) => r,
            Err(e) => return fail_log(&e),
        };
        let d = match record.body {
            Body::Decision(d) => d,
            Body::Event { name, data } => {
                cross.event(seq, &name, &data);
                continue;
            }
            _ => continue,
        };
        cross.decision(seq, &d);
        let module = modules
            .entry(d.module.clone())
            .or_insert_with(|| load_module(dir, &d.module).map_err(|e| e.to_string()));
        let program = match module {
            Ok(m) => &m.module.program,
            Err(e) => {
                unreplayable += 1;
                s.push_str(&format!("record {seq}: cannot replay: {e}\n"));
                continue;
            }
        };
        match replay(program, &d) {
            Replayed::Same => same += 1,
            Replayed::Different(diffs) => {
                different += 1;
                s.push_str(&format!("record {seq}: differs: {}\n", diffs.join("; ")));
            }
            Replayed::Skipped(why) => {
                skipped += 1;
                s.push_str(&format!("record {seq}: skipped: {why}\n"));
            }
        }
    }
    let mismatches = cross.mismatches();
    for m in &mismatches {
        s.push_str(&format!("record {}: {}\n", m.event, m.message));
    }
    s.push_str(&format!(
        "{} decisions replayed: {same} same, {different} different, {unreplayable} could not \
         replay, {skipped} skipped\n",
        same + different + unreplayable + skipped
    ));
    if !mismatches.is_empty() {
        s.push_str(&format!(
            "{} events cannot follow from the records they name\n",
            mismatches.len()
        ));
    }
    match out(&s) {
        Ok(()) if different > 0 || unreplayable > 0 || !mismatches.is_empty() => PROBLEMS,
        Ok(()) => SUCCESS,
        Err(e) => e,
    }
}

fn erase(dir: &Path, subject: &str) -> u8 {
    if let Err(e) = log_file(dir) {
        return fail(&e);
    }
    let log = match open_log(dir) {
        Ok(l) => l,
        Err(e) => return fail_log(&e),
    };
    let result = log.erase_subject(subject);
    let closed = log.close();
    match (result, closed) {
        (Err(e), _) | (_, Err(e)) => fail(&e),
        (Ok(None), Ok(())) => print(&no_key(dir, subject)),
        (Ok(Some(seq)), Ok(())) => print(&format!(
            "erased the hash key of subject `{subject}`: their personal evidence can no longer be \
             linked to them; the erasure is record {seq}\n"
        )),
    }
}

/// What `xop log erase` says of a subject without a key. An erased subject has none either, and
/// nothing links them to their erasure record (a link kept would tie their old records to
/// them again), so the log's erasure records are listed as what it may have been.
fn no_key(dir: &Path, subject: &str) -> String {
    let mut erasures = Vec::new();
    if let Ok(mut reader) = LogReader::open(dir) {
        for seq in 0..reader.size() {
            if let Ok(Record {
                body: Body::Erasure { .. },
                ..
            }) = reader.record(seq)
            {
                erasures.push(seq);
            }
        }
    }
    let listed = match erasures.as_slice() {
        [] => {
            return format!(
                "subject `{subject}` has no key, and the log has no erasure record: nothing \
                 personal of theirs is in it; nothing was changed\n"
            );
        }
        [one] => format!("its one erasure record is record {one}"),
        [first @ .., last] if first.len() < 10 => format!(
            "its erasure records are records {} and {last}",
            first
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => format!(
            "it has {} erasure records, the latest record {}",
            many.len(),
            many[many.len() - 1]
        ),
    };
    format!(
        "subject `{subject}` has no key: they were erased already, or nothing personal of theirs \
         was ever logged ({listed}; an erasure keeps nothing that links a subject to it, so \
         which one was theirs cannot be told); nothing was changed\n"
    )
}

/// `xop eval … --log DIR` / `--config FILE`: decides through the runtime, which proves the
/// decision in the log in `dir` (if given) before answering, reading signals through the CAMARA
/// connectors (if configured). `module_bytes` is the module file (or the compiled sources);
/// `input` the input's bytes (not UTF-8: refused input, proven like any other). `jit`: the runtime decides with the JIT's code (a policy asked alone must be compiled; of
/// an action's policies, those the JIT does not compile are decided by the interpreter), else
/// with the reference interpreter.
///
/// With `dir`, the folder's review queue is opened and plugged in first, as `xop serve` has it
/// ([`crate::review::Plugged`]): a `review` verdict opens its durable case (`Outcome::case`)
/// once the record is durable, and the halt switch applies ([`crate::review::Settled`] says
/// what was applied). The folder's lock held by another process is refused before anything
/// is decided or recorded.
pub fn eval_logged(
    dir: Option<&Path>,
    module_bytes: &[u8],
    trust: Option<&VerifyingKey>,
    target: crate::eval::Target<'_>,
    input: &[u8],
    camara: Option<xop_network::CamaraConfig>,
    jit: bool,
) -> Result<(Decision, Outcome, crate::review::Settled), u8> {
    let rt = std::sync::Arc::new(match dir {
        Some(dir) => Runtime::with_log(open_log(dir).map_err(|e| match e {
            LogError::Locked { .. } => {
                error(&crate::eval::locked_message(dir));
                FAILURE
            }
            e => fail(&e),
        })?),
        None => Runtime::new(),
    });
    let connectors = camara.is_some();
    if let Some(c) = camara {
        rt.set_connectors(Some(Box::new(xop_network::Camara::new(c))));
    }
    rt.set_jit(jit);
    if let Err(e) = rt.load_bytes("eval", module_bytes, trust) {
        error(&e.to_string());
        return Err(FAILURE);
    }
    // A damaged copy of the module in DIR/modules/ was replaced: someone changed the folder.
    for w in rt.log().map(ProofLog::take_warnings).unwrap_or_default() {
        crate::err(&format!("warning: {w}\n"));
    }
    if let (true, crate::eval::Target::Policy(policy)) = (jit, target) {
        let set = rt.modules();
        if let Some(why) = set.policy(policy).and_then(|(m, i)| m.jit_unsupported(i)) {
            error(&format!(
                "the JIT does not compile policy `{policy}` yet: {why}; use --engine interp"
            ));
            return Err(FAILURE);
        }
    }
    // The queue is opened before deciding: the runtime asks it whether the halt is on, and
    // hands it the case of a `review` verdict.
    let plugged = match dir {
        Some(dir) => Some(
            crate::review::Plugged::open(dir, &rt, "xop eval", "before deciding").map_err(|e| {
                error(&format!("{e}: nothing was decided"));
                FAILURE
            })?,
        ),
        None => None,
    };
    let mut decided = match target {
        crate::eval::Target::Policy(policy) => rt.decide(policy, Input::JsonBytes(input)),
        crate::eval::Target::Action(action) => {
            rt.decide_action(action, Input::JsonBytes(input), Default::default())
        }
    };
    let mut settled = crate::review::Settled::default();
    if let Some(plugged) = plugged {
        // The halt switch, and a case that could not be opened, as `xop serve` applies them.
        let applied = match &mut decided {
            Ok(outcome) => plugged.settle(&rt, outcome).map(Some),
            Err(_) => Ok(None),
        };
        // What came of the `allow` fallbacks opening the queue applied: said on stderr, as
        // standard output is the decision's (JSON with `--format json`).
        let (carried, text) = plugged.unplug(&rt, connectors, "`xop eval --log`", "FILE");
        crate::err(&text);
        settled = match applied {
            Ok(s) => s.unwrap_or_default(),
            Err(m) => {
                error(&m);
                return Err(FAILURE);
            }
        };
        settled.unproven = carried != SUCCESS;
    }
    let outcome = decided.map_err(|e| {
        error(&e.to_string());
        FAILURE
    })?;
    let rt = std::sync::Arc::try_unwrap(rt).map_err(|_| {
        error("the proof log could not be closed cleanly; its records are durable");
        FAILURE
    })?;
    rt.close().map_err(|e| fail(&e))?;
    let decision = Decision {
        verdict: outcome.verdict,
        reasons: outcome.reasons.clone(),
        fired: outcome.fired.clone(),
        review: outcome.review.as_ref().map(|r| xop_runtime::ir::Review {
            role: r.role.clone(),
            within_ms: r.within_ms,
            fallback: r.fallback,
            also: r.also.clone(),
        }),
        error: outcome.error.clone(),
    };
    Ok((decision, outcome, settled))
}
