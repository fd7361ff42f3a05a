//! Reading a log without writing it: [`LogReader`] (records, proofs) and [`verify_log`], which
//! recomputes everything from the bytes and names what does not hold.
//!
//! `verify_log` checks, frame by frame: each record's bytes against the hash written with it
//! (a changed record is named, once: that it no longer decodes is said with it, and the seq a
//! changed or undecodable record holds is not trusted, so it is numbered by its place); that
//! it decodes and is canonical; that sequence numbers run 0, 1, 2, … (a deleted, reordered or
//! inserted record is named, as what it is: two records swapped, or one moved, are one problem,
//! and the records after it are not reported); that a decision record's `module` is a SHA-256,
//! since replay and `xop explain` build a file's path from it; each commit's root against the
//! tree recomputed from the records' bytes (a header, commit or checkpoint frame whose bytes do
//! not match its hash is one problem, and nothing it says is trusted); each signed checkpoint's
//! signature (with the trusted key) and root, and its
//! place (a checkpoint is of exactly the records before it, so an older one copied over a
//! newer one is named); that the file has its header (a file cut to the magic is reported);
//! that the frames follow the file's grammar (a commit right after the
//! records it closes, a checkpoint only right after a commit, at most one: a frame duplicated,
//! moved or appended is named by its byte); and that every record is covered by a signed
//! checkpoint, unless a writer holds the log's lock ([`writer_holds_lock`]: a live log signs
//! the records after its latest checkpoint within its interval, so they are a note). The tail
//! after the last commit is judged by the writer's own rule ([`judge_tail`]): a torn batch is
//! left out with a note, as a writer drops it. With [`VerifyOptions::saved`], the log must
//! extend a checkpoint kept apart from it (a consistency proof): the only way to see a log cut
//! right after one of its checkpoints, which is otherwise a valid shorter log. A record
//! changed *and* re-hashed, with the commits rewritten, is caught by the first signed
//! checkpoint after it, which names the range of records it covers. Then the subject key file:
//! it must be there if a committed record names a key (a writer refuses the log without it),
//! every key a committed record names is in `subjects.keys` unless an erasure record names it,
//! no key an erasure record names is still there, and every slot can be trusted (its id matches
//! its contents, it is not partly zero, no other slot has its subject or id:
//! [`super::keys::check`]; a bound id, one ending with [`super::keys::BOUND_MARKER`], is
//! checked against its slot in a file of either format). A key file of the first format
//! cannot show a slot with a legacy (unbound) id changed with its id kept, which
//! [`Report::notes`] says, with how many of its slots are unbound and how many bound.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::checkpoint::Checkpoint;
use super::keys::{KeyFormat, KeyRefs, check, is_bound, read_key_file};
use super::merkle::{Tree, empty_root, leaf_hash, verify_consistency};
use super::record::{Body, DecisionRecord, Record, check_module_hash, decode};
use super::store::{Frames, Header, MAGIC, Recovery, Tag, Unsound, judge_tail, parse_commit, scan};
use super::{InclusionProof, LogError};
use crate::module::hex;

/// A read-only view of a log: its committed records, refused when damaged
/// ([`LogReader::open`]).
pub struct LogReader {
    dir: PathBuf,
    origin: String,
    records: Vec<(u64, u32)>,
    tree: Tree,
    checkpoint: Option<String>,
    file: File,
}

impl LogReader {
    /// Opens the log in `dir` for reading (no lock: a live log can be read; it sees the
    /// records committed when it was opened).
    ///
    /// A damaged log is an error naming the byte (and the record) where it is damaged: a frame
    /// that cannot be read or whose bytes do not match its hash, anywhere but in the torn end
    /// of a batch that was never synced (what [`super::store::judge_tail`] lets a writer drop;
    /// on a live log it may be a batch being written). Readers never work on the part before
    /// the damage as if it were the whole log. Frames that match their hashes are not trusted
    /// for that alone (anyone can recompute a SHA-256): every committed record must be numbered
    /// by its place, every commit's root must be the root of the records before it, and every
    /// signed checkpoint's root that of the tree of its size, so a record rewritten with its
    /// hash recomputed, or records swapped, are refused, not shown, proven or explained. The
    /// checkpoints' signatures are not checked here (the reader has no trusted key): `xop log
    /// verify` and `xop log verify-proof` check them.
    pub fn open(dir: &Path) -> Result<LogReader, LogError> {
        let path = log_file(dir)?;
        let scanned = scan(&path)?;
        let Some(header) = scanned.header.clone() else {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                offset: 8,
                message: scanned.error.map_or_else(
                    || {
                        "the log has no header frame (it was cut short); run `xop log verify`"
                            .into()
                    },
                    |e| format!("the header frame cannot be read: {}", e.message),
                ),
            });
        };
        judge_tail(&path, &scanned)?;
        if let Some(unsound) = &scanned.unsound {
            return Err(refuse_unsound(&path, unsound));
        }
        let file = File::open(&path).map_err(|e| LogError::io(&path, &e))?;
        Ok(LogReader {
            dir: dir.to_path_buf(),
            origin: header.origin,
            tree: scanned.tree,
            records: scanned.records,
            checkpoint: scanned.checkpoint.map(|(n, _)| n),
            file,
        })
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many committed records.
    pub fn size(&self) -> u64 {
        self.records.len() as u64
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }

    /// The error for a record number past the end.
    fn no_record(&self, seq: u64) -> LogError {
        LogError::Config(match self.size() {
            0 => format!("no record {seq}: the log has no records"),
            n => format!(
                "no record {seq}: the log has {n} record{} (0 to {})",
                if n == 1 { "" } else { "s" },
                n - 1
            ),
        })
    }

    /// The bytes of record `seq`.
    pub fn record_bytes(&mut self, seq: u64) -> Result<Vec<u8>, LogError> {
        let Some(&(offset, len)) = usize::try_from(seq).ok().and_then(|i| self.records.get(i))
        else {
            return Err(self.no_record(seq));
        };
        let mut buf = vec![0u8; len as usize];
        let path = self.dir.join("log.xpl");
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| LogError::io(&path, &e))?;
        Ok(buf)
    }

    /// Record `seq`, decoded.
    pub fn record(&mut self, seq: u64) -> Result<Record, LogError> {
        let bytes = self.record_bytes(seq)?;
        decode(&bytes).map_err(|message| LogError::Corrupt {
            path: self.dir.join("log.xpl").display().to_string(),
            offset: self.records[seq as usize].0,
            message: format!("record {seq}: {message}; run `xop log verify`"),
        })
    }

    /// The inclusion proof of record `seq` against the latest signed checkpoint.
    pub fn prove(&mut self, seq: u64) -> Result<InclusionProof, LogError> {
        let Some(note) = self.checkpoint.clone() else {
            return Err(LogError::Config(
                "the log has no signed checkpoint yet, so nothing can be proven".into(),
            ));
        };
        if seq >= self.size() {
            // As `show` says it: there is no such record, so waiting for a checkpoint is no use.
            return Err(self.no_record(seq));
        }
        let cp = note_body(&note).map_err(|e| LogError::Corrupt {
            path: self.dir.join("log.xpl").display().to_string(),
            offset: 0,
            message: format!("the latest checkpoint: {e}"),
        })?;
        if seq >= cp.size {
            return Err(LogError::Config(format!(
                "record {seq} is not covered by the latest signed checkpoint (tree size {}); \
                 a live log signs the next one within its checkpoint interval",
                cp.size
            )));
        }
        let bytes = self.record_bytes(seq)?;
        let path = self
            .tree
            .inclusion_proof(seq, cp.size)
            .ok_or_else(|| LogError::Config(format!("record {seq} is not in the tree")))?;
        Ok(InclusionProof {
            seq,
            record: String::from_utf8_lossy(&bytes).into_owned(),
            tree_size: cp.size,
            path: path.iter().map(|h| hex(h)).collect(),
            checkpoint: note,
        })
    }

    /// Checks the `module` of decision record `seq` before anything reads the module file it
    /// names ([`check_module_hash`]): a forged `../../other` is an error naming the record and
    /// its byte (the log is damaged), not a path.
    pub fn check_module(&self, seq: u64, decision: &DecisionRecord) -> Result<(), LogError> {
        check_module_hash(&decision.module).map_err(|why| {
            let offset = usize::try_from(seq)
                .ok()
                .and_then(|i| self.records.get(i))
                .map_or(0, |&(body, _)| body.saturating_sub(FRAME_HEADER));
            LogError::Corrupt {
                path: self.dir.join("log.xpl").display().to_string(),
                offset,
                message: format!(
                    "record {seq}: {why}; run `xop log verify {}` to see what else is wrong, \
                     and restore the log from a backup",
                    self.dir.display()
                ),
            }
        })
    }

    /// The public key in the folder (`log.pub`). Trusting it only proves the log was not
    /// altered by someone who could not also replace this file: pass a key kept elsewhere to
    /// rule that out.
    pub fn folder_key(&self) -> Result<VerifyingKey, LogError> {
        read_public_key(&self.dir.join("log.pub"))
    }
}

/// The bytes before a frame's body: its tag, its length and its hash (the store's layout).
const FRAME_HEADER: u64 = 1 + 4 + 32;

/// The body of a signed note (up to its blank line) as a checkpoint; its signature is not
/// checked.
fn note_body(note: &str) -> Result<Checkpoint, super::checkpoint::CheckpointError> {
    let body_end = note.rfind("\n\n").map_or(note.len(), |i| i + 1);
    Checkpoint::parse_body(&note[..body_end])
}

/// The error of a reader for what [`scan`] found first in the committed part of the log (up to
/// [`super::store::Scanned::end`]) that matches its hash but does not hold: a record that does
/// not start with its place as its `seq`, a commit whose root is not the root of the records
/// before it, a signed checkpoint whose root is not that of the tree of its size (its signature
/// is not checked: the reader has no trusted key). A frame's hash only shows it was not changed
/// by accident, since anyone can recompute one: a record rewritten with its hash recomputed
/// breaks the root of its commit (or, with the commits rewritten too, of the next checkpoint),
/// and records swapped break their numbering. The error names the record or the checkpoint
/// and its byte, and says to run `xop log verify`, which reports all of it.
fn refuse_unsound(path: &Path, unsound: &Unsound) -> LogError {
    let dir = path
        .parent()
        .map_or_else(|| ".".into(), |d| d.display().to_string());
    let (offset, what) = match *unsound {
        Unsound::Seq { offset, index, seq } => {
            let holds = match seq {
                Some(seq) => format!("has seq {seq}"),
                None => "does not start with its seq".into(),
            };
            (
                offset,
                format!(
                    "the record at record {index}'s place {holds}: records were reordered, \
                     deleted, inserted or renumbered"
                ),
            )
        }
        Unsound::Commit {
            offset: commit,
            first,
            first_offset,
            size,
        } => {
            let which = if size.saturating_sub(first) == 1 {
                format!(
                    "record {first} does not match the commit of its batch (at byte {commit}): \
                     its bytes were changed and the hash written with them recomputed"
                )
            } else {
                format!(
                    "records {first} to {} do not match the commit of their batch (at byte \
                     {commit}): one of them was changed and the hash written with it \
                     recomputed",
                    size.saturating_sub(1)
                )
            };
            // Named at the batch's first record: the damage is in the records.
            (first_offset, format!("{which}, or records were moved"))
        }
        Unsound::Checkpoint { offset, size, from } => (
            offset,
            format!(
                "the signed checkpoint of tree size {size} does not match records {from} to {}: \
                 one of them was changed or forged, with its hash and commit rewritten",
                size.saturating_sub(1)
            ),
        ),
    };
    LogError::Corrupt {
        path: path.display().to_string(),
        offset,
        message: format!(
            "{what}; run `xop log verify {dir}` to see all that is wrong, and restore the log \
             from a backup"
        ),
    }
}

/// The log file of the log in `dir`, or an error saying there is no log there.
pub fn log_file(dir: &Path) -> Result<PathBuf, LogError> {
    let path = dir.join("log.xpl");
    if path.exists() {
        return Ok(path);
    }
    Err(LogError::Config(format!(
        "no proof log in `{}` (no log.xpl): is this the data folder given to `xop eval --log` or \
         `xop serve --data`?",
        dir.display()
    )))
}

/// Reads a public key file (`xop keygen` format).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, LogError> {
    crate::module::read_verifying_key(path).map_err(LogError::Config)
}

/// One thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record it concerns, if one.
    pub seq: Option<u64>,
    /// The byte offset in `log.xpl`.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// Records read.
    pub records: u64,
    /// Signed checkpoints whose signature and root verified.
    pub checkpoints: u64,
    /// The largest tree size a verified checkpoint covers.
    pub verified_size: u64,
    /// The problems, in file order (the first names the first bad record).
    pub problems: Vec<Problem>,
    /// What could not be checked, for people (not problems: the log may be fine).
    pub notes: Vec<String>,
    /// The torn end of a batch the log ends with (never acknowledged: a crash or a failed
    /// write interrupted it, or, on a live log, it is being written), judged by the writer's
    /// rule ([`judge_tail`]): not verified, not a problem, said in a note.
    pub torn: Option<Recovery>,
    /// Whether a writer had the log open (its `LOCK` held) when it was looked at: records
    /// after the latest signed checkpoint are then expected (a note, not a problem). Only
    /// looked at when it matters (records not covered, or a torn tail).
    pub live: bool,
    /// The tree size of the checkpoint saved earlier ([`VerifyOptions::saved`]) that the log
    /// was shown to extend.
    pub extends: Option<u64>,
}

/// What [`verify_log_with`] checks besides the folder.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A signed checkpoint of this log seen earlier (kept by a witness, an auditor, a
    /// monitoring job): the log must still extend it.
    pub saved: Option<SavedCheckpoint>,
}

/// A signed checkpoint kept apart from the log, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheckpoint {
    /// Where it was read from, for messages (a file name).
    pub source: String,
    /// The signed note (C2SP `signed-note` of a `tlog-checkpoint`).
    pub note: String,
}

impl SavedCheckpoint {
    /// Reads a checkpoint saved earlier: a signed note as `GET /v1/log/checkpoint` and `xop log
    /// checkpoint` give it, or an inclusion proof (`xop log prove --format json`, `GET
    /// /v1/log/proof/{n}`), whose `checkpoint` is taken. Blank lines and spaces at its end and
    /// CRLF line ends (a copy made by hand) are taken back to the note's own form.
    pub fn read(path: &Path) -> Result<SavedCheckpoint, LogError> {
        let text = std::fs::read_to_string(path).map_err(|e| LogError::io(path, &e))?;
        SavedCheckpoint::parse(&path.display().to_string(), &text)
    }

    /// [`SavedCheckpoint::read`] of `text`, read from `source`.
    pub fn parse(source: &str, text: &str) -> Result<SavedCheckpoint, LogError> {
        let note = if text.trim_start().starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                LogError::Config(format!(
                    "`{source}` is neither a signed checkpoint nor JSON: {e}"
                ))
            })?;
            value
                .get("checkpoint")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    LogError::Config(format!(
                        "`{source}` is JSON without a `checkpoint` (save a signed checkpoint with \
                         `xop log checkpoint DIR`, `GET /v1/log/checkpoint`, or an inclusion \
                         proof with `xop log prove DIR N --format json`)"
                    ))
                })?
        } else {
            text.to_string()
        };
        let note = format!("{}\n", note.replace("\r\n", "\n").trim_end());
        if note.trim().is_empty() {
            return Err(LogError::Config(format!(
                "`{source}` is empty: no checkpoint in it"
            )));
        }
        Ok(SavedCheckpoint {
            source: source.to_string(),
            note,
        })
    }
}

/// The most problems reported (after a deletion, every later record would be one).
const MAX_PROBLEMS: usize = 50;

fn problem(report: &mut Report, seq: Option<u64>, offset: u64, message: String) {
    if report.problems.len() < MAX_PROBLEMS {
        report.problems.push(Problem {
            seq,
            offset,
            message,
        });
    }
}

/// Verifies the log in `dir` against the checkpoint key `key`.
pub fn verify_log(dir: &Path, key: &VerifyingKey) -> Result<Report, LogError> {
    verify_log_with(dir, key, &VerifyOptions::default())
}

/// Whether a writer has the log in `dir` open: its `LOCK`, or `log.xpl` itself, is locked
/// (`flock`) by a [`super::ProofLog`], in this process or another (the writer holds both;
/// `log.xpl` still shows it when `LOCK` was removed). Looked at by taking a shared lock at
/// once released: a writer opening the log in that instant would find it locked, so it is
/// looked at only when the answer changes what is said.
pub fn writer_holds_lock(dir: &Path) -> bool {
    ["LOCK", "log.xpl"].iter().any(|name| {
        File::open(dir.join(name)).is_ok_and(|file| {
            matches!(
                file.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            )
        })
    })
}

/// [`verify_log`], also checking that the log extends a checkpoint saved earlier
/// ([`VerifyOptions::saved`]).
///
/// What follows the last commit is judged by the writer's rule ([`judge_tail`]): the torn end
/// of one batch (a crash or a failed write, e.g. a full disk, interrupted it before it was
/// synced, so it was never acknowledged; on a live log it may be the batch being written) is
/// left out and said in a note ([`Report::torn`]), as a writer drops it; anything else there
/// is damage, reported frame by frame. Records after the latest signed checkpoint are a
/// problem unless a writer holds the log's lock ([`Report::live`]): it signs them within its
/// checkpoint interval, so they are a note. Besides every record, commit and checkpoint, the
/// frames must follow the file's grammar: the header, then batches, each of records closed by
/// one commit and perhaps followed by one signed checkpoint of exactly the records before it.
pub fn verify_log_with(
    dir: &Path,
    key: &VerifyingKey,
    options: &VerifyOptions,
) -> Result<Report, LogError> {
    verify_log_noting(dir, key, options, &mut |_| {})
}

/// [`verify_log_with`], also giving `note` each record it reads whole (its bytes match their
/// hash and it decodes), in log order, in the same pass: what a caller learns of the records
/// (`xop log verify`'s decisions decided twice) without reading the log again.
pub fn verify_log_noting(
    dir: &Path,
    key: &VerifyingKey,
    options: &VerifyOptions,
    note: &mut dyn FnMut(&Record),
) -> Result<Report, LogError> {
    let path = log_file(dir)?;
    let mut report = Report::default();
    // The tail, judged first as the writer judges it; the frames are then read up to the
    // length scanned (a live log grows meanwhile) or to where a torn batch begins.
    let scanned = scan(&path)?;
    let torn = if scanned.header.is_some() {
        judge_tail(&path, &scanned)
            .ok()
            .filter(|r| r.truncated_bytes > 0)
    } else {
        None
    };
    let limit = torn.as_ref().map_or(scanned.len, |r| r.offset);
    let mut tree = Tree::new();
    let mut numbering = Numbering::default();
    let mut committed: u64 = 0;
    // The tree size the last commit frame stated: a commit's batch is the records from there
    // to its own size, by the writer's count (records inserted or deleted before it shift
    // `committed`, not this).
    let mut stated: u64 = 0;
    let mut keys = KeyRefs::default();
    // Records with a problem already reported since the last verified checkpoint: a root
    // mismatch they explain is not reported again.
    let mut explained = false;
    let mut first = true;
    // Whether the header's origin can be trusted: not when its frame was changed, and then
    // the first checkpoint signed by the key says the origin (its signature covers it).
    let mut origin_trusted = true;
    // The frame before (its tag and offset), for the grammar: a commit right after a record,
    // a checkpoint right after a commit.
    let mut prev: Option<(Tag, u64)> = None;
    for frame in Frames::open(&path)?.up_to(limit) {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                problem(
                    &mut report,
                    None,
                    e.offset,
                    format!(
                        "{} (after record {})",
                        e.message,
                        tree.size().saturating_sub(1)
                    ),
                );
                break;
            }
        };
        // Problems found so far: a grammar problem is said only of a frame nothing else was
        // found wrong with (a record deleted leaves a commit after a checkpoint, which the
        // commit's count already names; a changed frame is said to be changed, once).
        let before = report.problems.len();
        // A header, commit or checkpoint whose bytes do not match its hash is said to be
        // changed, and nothing it says is trusted: a changed byte of a commit's tree size is
        // not taken for records deleted or inserted. (A changed record is judged in its own
        // arm.)
        let changed = frame.tag != Tag::Record && frame.hash != leaf_hash(&frame.body);
        if changed {
            problem(
                &mut report,
                None,
                frame.offset,
                "a frame was changed: its bytes do not match the hash written with it".into(),
            );
        }
        if first {
            first = false;
            match (frame.tag, serde_json::from_slice::<Header>(&frame.body)) {
                (Tag::Header, Ok(h)) => {
                    report.origin = h.origin;
                    origin_trusted = !changed;
                }
                _ => {
                    problem(
                        &mut report,
                        None,
                        frame.offset,
                        "the first frame is not the log's header".into(),
                    );
                    return Ok(report);
                }
            }
            prev = Some((Tag::Header, frame.offset));
            continue;
        }
        match frame.tag {
            Tag::Header => {
                problem(
                    &mut report,
                    None,
                    frame.offset,
                    "a second header frame".into(),
                );
            }
            Tag::Record => {
                let index = tree.size();
                let h = leaf_hash(&frame.body);
                tree.push(h);
                report.records += 1;
                let changed = h != frame.hash;
                let decoded = decode(&frame.body);
                if let Ok(r) = &decoded {
                    keys.note(r);
                }
                // A changed record (whose seq may be the change) or one that does not decode
                // is numbered by its place, so that the records after it are not taken for a
                // gap; bytes changed since they were hashed that no longer decode are one
                // change, said in one problem.
                let unreadable = decoded.as_ref().err().map(ToString::to_string);
                if changed || unreadable.is_some() {
                    explained = true;
                    let what = match unreadable {
                        Some(e) if !changed => format!("record {index}: {e}"),
                        e => format!(
                            "record {index} was changed: its bytes do not match the hash \
                             written with it{}",
                            e.map(|e| format!(" ({e})")).unwrap_or_default()
                        ),
                    };
                    problem(&mut report, Some(index), frame.offset, what);
                    numbering.by_place();
                } else if let Ok(r) = decoded {
                    if numbering.record(&mut report, index, frame.offset, r.seq) {
                        explained = true;
                    }
                    // Replay and `xop explain` build a file's path from it.
                    if let Body::Decision(d) = &r.body
                        && let Err(why) = check_module_hash(&d.module)
                    {
                        explained = true;
                        problem(
                            &mut report,
                            Some(index),
                            frame.offset,
                            format!("record {index}: {why}"),
                        );
                    }
                    note(&r);
                }
            }
            Tag::Commit if changed => {
                // Its size and root are not trusted: it is taken to close the records since
                // the last commit, as the writer writes one, and the next checkpoint (signed)
                // still checks them.
                stated += tree.size() - committed;
                committed = tree.size();
            }
            Tag::Commit => {
                let Some((size, root)) = parse_commit(&frame.body) else {
                    problem(
                        &mut report,
                        None,
                        frame.offset,
                        "a commit frame of the wrong length".into(),
                    );
                    continue;
                };
                let here = tree.size() - committed;
                let batch = size.saturating_sub(stated);
                if size < stated {
                    explained = true;
                    problem(
                        &mut report,
                        Some(committed),
                        frame.offset,
                        format!(
                            "a commit of tree size {size} after one of size {stated}: commits \
                             never shrink, so commit frames were moved or forged"
                        ),
                    );
                } else if size != tree.size() && batch != here {
                    // Named by the commit's own numbering: it closed records `stated` to
                    // `size - 1`.
                    explained = true;
                    let committed_as = match batch {
                        0 => format!("a commit closed no record (tree size {size} again)"),
                        1 => format!("record {stated} was committed in a batch of its own"),
                        _ => format!(
                            "records {stated} to {} were committed together",
                            size.saturating_sub(1)
                        ),
                    };
                    let what = if here < batch {
                        "deleted"
                    } else {
                        "inserted (forged or duplicated)"
                    };
                    problem(
                        &mut report,
                        Some(committed),
                        frame.offset,
                        format!(
                            "{committed_as}, but {} here: a record was {what}",
                            count_here(here)
                        ),
                    );
                } else if size != tree.size() {
                    // The batch is whole but shifted by records inserted or deleted before
                    // it: reported there, unless nothing was.
                    if !explained {
                        problem(
                            &mut report,
                            Some(committed),
                            frame.offset,
                            format!(
                                "a commit of tree size {size} where {} records precede it: \
                                 records were inserted or deleted before it",
                                tree.size()
                            ),
                        );
                    }
                    explained = true;
                } else if root != tree.root() && !explained {
                    explained = true;
                    problem(
                        &mut report,
                        Some(committed),
                        frame.offset,
                        if size - committed == 1 {
                            format!(
                                "the commit of record {committed} does not match its content: \
                                 it was changed"
                            )
                        } else {
                            format!(
                                "the commit of records {committed} to {} does not match their \
                                 content: one of them was changed",
                                size.saturating_sub(1)
                            )
                        },
                    );
                }
                stated = size;
                committed = tree.size();
                if report.problems.len() == before
                    && let Some(why) = misplaced_commit(prev)
                {
                    problem(&mut report, None, frame.offset, why);
                }
            }
            // Not trusted either: neither its signature nor its size or root is read.
            Tag::Checkpoint if changed => {}
            Tag::Checkpoint => {
                let note = String::from_utf8_lossy(&frame.body);
                let opened = Checkpoint::open(&note, key);
                if !origin_trusted && let Ok(cp) = &opened {
                    report.origin.clone_from(&cp.origin);
                    origin_trusted = true;
                }
                match opened {
                    Err(e) => problem(
                        &mut report,
                        None,
                        frame.offset,
                        format!("signed checkpoint: {e}"),
                    ),
                    Ok(cp) if cp.origin != report.origin => {
                        let message = format!(
                            "a checkpoint of another log (origin `{}`, this log is `{}`)",
                            cp.origin, report.origin
                        );
                        problem(&mut report, None, frame.offset, message);
                    }
                    // The writer signs a checkpoint of exactly the records before it, and
                    // sizes only grow: a smaller one is an older checkpoint copied here (its
                    // signature and root are genuine, its place is not).
                    Ok(cp) if cp.size < tree.size() => {
                        if !explained {
                            let older = if cp.size < report.verified_size {
                                format!(
                                    ", smaller than the checkpoint before it ({})",
                                    report.verified_size
                                )
                            } else {
                                String::new()
                            };
                            problem(
                                &mut report,
                                None,
                                frame.offset,
                                format!(
                                    "a signed checkpoint of tree size {} where {} records precede \
                                     it{older}: an older checkpoint was copied over a newer one \
                                     (or records were inserted before it)",
                                    cp.size,
                                    tree.size()
                                ),
                            );
                        }
                    }
                    Ok(cp) => match tree.root_at(cp.size) {
                        // After a deletion already reported, every later checkpoint is short
                        // by as much: said once.
                        None if explained => {}
                        None => {
                            explained = true;
                            problem(
                                &mut report,
                                None,
                                frame.offset,
                                format!(
                                    "a signed checkpoint of {} records after only {} records: \
                                     records were deleted",
                                    cp.size,
                                    tree.size()
                                ),
                            );
                        }
                        Some(root) if root != cp.root => {
                            if !explained {
                                let from = report.verified_size;
                                problem(
                                    &mut report,
                                    Some(from),
                                    frame.offset,
                                    format!(
                                        "the signed checkpoint of tree size {} does not match \
                                         records {} to {}: one of them was changed or forged \
                                         (and its hash and commit rewritten)",
                                        cp.size,
                                        from,
                                        cp.size.saturating_sub(1)
                                    ),
                                );
                            }
                            explained = true;
                        }
                        Some(_) => {
                            report.checkpoints += 1;
                            report.verified_size = report.verified_size.max(cp.size);
                            explained = false;
                        }
                    },
                }
                if report.problems.len() == before
                    && let Some(why) = misplaced_checkpoint(prev)
                {
                    problem(&mut report, None, frame.offset, why);
                }
            }
        }
        prev = Some((frame.tag, frame.offset));
    }
    numbering.finish();
    // Whether a writer has the log open, looked at only when it changes what is said.
    let uncovered = report.verified_size < tree.size() && report.problems.is_empty();
    report.live =
        (torn.is_some() || (uncovered && committed == tree.size())) && writer_holds_lock(dir);
    if first && report.problems.is_empty() {
        // Only the magic: the header frame (and everything after it) is gone.
        problem(
            &mut report,
            None,
            MAGIC.len() as u64,
            "the log has no header frame: it was cut short after its first 8 bytes".into(),
        );
    } else if committed < tree.size() {
        problem(
            &mut report,
            Some(committed),
            0,
            format!(
                "records {committed} to {} are not committed (a batch a crash interrupted; the \
                 runtime discards it when it opens the log)",
                tree.size() - 1
            ),
        );
    } else if uncovered {
        let from = report.verified_size;
        let last = tree.size() - 1;
        if report.live {
            report.notes.push(format!(
                "records {from} to {last} are not covered by a signed checkpoint yet: the log \
                 is open for writing (its LOCK is held), and its writer signs one within its \
                 checkpoint interval and when it closes; they match their commits, which \
                 nothing signs, so they are verified up to the latest checkpoint (tree size \
                 {from}) only"
            ));
        } else {
            problem(
                &mut report,
                Some(from),
                0,
                format!(
                    "records {from} to {last} are not covered by a signed checkpoint, so \
                     nothing proves they were not forged; no writer has the log open (its \
                     LOCK is free), and a writer signs its records within its checkpoint \
                     interval and when it closes: a writer that crashed or failed leaves \
                     records so (the next one to open the log signs them if their commits \
                     carry its key's MAC, and refuses the log if not), and so does someone \
                     who appended them without the key"
                ),
            );
        }
    }
    if let Some(t) = &torn {
        let records = match t.truncated_records {
            0 => "no complete record".to_string(),
            1 => "1 complete record".to_string(),
            n => format!("{n} complete records"),
        };
        report.notes.push(format!(
            "the log ends with {} bytes at byte {} that no commit closes ({records}): the torn \
             end of a batch {}, so never acknowledged; not verified, and dropped by the next \
             writer to open the log",
            t.truncated_bytes,
            t.offset,
            if report.live {
                "being written (the log is open for writing), or one a failed write interrupted"
            } else {
                "that a crash or a failed write (a full disk) interrupted before it was synced"
            }
        ));
    }
    report.torn = torn;
    if let Some(saved) = &options.saved {
        check_saved(saved, key, &tree, committed, &mut report);
    }
    keys.truncate(committed);
    check_key_file(dir, &keys, &mut report);
    Ok(report)
}

/// The records' sequence numbers judged in file order: what a problem is said to be (a record
/// missing, two swapped, one moved, a duplicate) so that nothing false follows it.
///
/// A record numbered ahead of the one expected is reported at once, as records missing (deleted,
/// or moved further on), and judged again at the next record: if that one is the record
/// expected, the first was moved before its place instead (two records swapped, when it was one
/// ahead), and the problem is said so; its number is then skipped when it is reached. A record
/// reported missing that turns up further on was moved there: the problem says where, and its
/// record is not reported again. A record numbered behind, otherwise, is a duplicate or a
/// forgery. A record whose seq is not trusted (changed, or not decoding) takes its place's
/// number ([`Numbering::by_place`]).
#[derive(Debug, Default)]
struct Numbering {
    /// The seq the next record should have.
    expected: u64,
    /// The last record, if it was numbered ahead: judged at the next record.
    ahead: Option<Ahead>,
    /// Numbers seen ahead of their place (a record moved earlier): skipped when reached.
    early: std::collections::BTreeSet<u64>,
    /// Records reported missing alone (a gap of one): their number, and the record found at
    /// their place with its problem, to say it was a move if they turn up further on.
    missing: std::collections::BTreeMap<u64, Ahead>,
}

/// A record numbered ahead of the one expected, and its problem.
#[derive(Debug, Clone, Copy)]
struct Ahead {
    /// Its problem's index in [`Report::problems`] (`None` past [`MAX_PROBLEMS`]).
    problem: Option<usize>,
    /// Its seq.
    seq: u64,
    /// The seq expected at its place.
    expected: u64,
}

impl Numbering {
    /// Judges a record at place `index` (byte `offset`) holding `seq`; true if that is a
    /// problem (reported, or said of an earlier record's problem).
    fn record(&mut self, report: &mut Report, index: u64, offset: u64, seq: u64) -> bool {
        let mut wrong = false;
        if let Some(a) = self.ahead.take() {
            if seq == a.expected {
                // `a` was ahead of its place, and the records it skipped follow it.
                wrong = true;
                let moved = if a.seq == a.expected + 1 {
                    format!(
                        "records {} and {} were swapped: record {} is at record {}'s place, and \
                         record {} after it (at byte {offset})",
                        a.expected, a.seq, a.seq, a.expected, a.expected
                    )
                } else {
                    format!(
                        "record {} is out of its place: it is at record {}'s place, before \
                         records {} to {} (record {} follows it, at byte {offset}): it was moved \
                         there, or forged",
                        a.seq,
                        a.expected,
                        a.expected,
                        a.seq - 1,
                        a.expected
                    )
                };
                rewrite(report, a.problem, moved);
                // `expected` did not move when `a` was met: its number is skipped when reached.
                self.early.insert(a.seq);
            } else {
                self.settle(a);
            }
        }
        if seq == self.expected {
            self.next();
            return wrong;
        }
        if seq > self.expected && !self.early.contains(&seq) {
            let what = if seq == self.expected + 1 {
                format!(
                    "record {} is missing (deleted or moved): the record at its place has seq \
                     {seq}",
                    self.expected
                )
            } else {
                format!(
                    "records {} to {} are missing (deleted or moved): the record at record {}'s \
                     place has seq {seq}",
                    self.expected,
                    seq - 1,
                    self.expected
                )
            };
            let problem = report_problem(report, Some(index), offset, what);
            self.ahead = Some(Ahead {
                problem,
                seq,
                expected: self.expected,
            });
        } else if let Some(m) = self.missing.remove(&seq) {
            // Reported missing at its place, and here it is: moved further on.
            rewrite(
                report,
                m.problem,
                format!(
                    "record {seq} was moved: the record at its place has seq {}, and record \
                     {seq} is further on, at record {index}'s place (byte {offset})",
                    m.seq
                ),
            );
        } else {
            report_problem(
                report,
                Some(index),
                offset,
                format!(
                    "record {index} has seq {seq} where {} is expected: a record was reordered, \
                     duplicated or forged",
                    self.expected
                ),
            );
        }
        true
    }

    /// A record whose seq is not trusted: it takes the number of its place.
    fn by_place(&mut self) {
        if let Some(a) = self.ahead.take() {
            self.settle(a);
        }
        self.next();
    }

    /// The end of the records: a record numbered ahead is taken for records missing.
    fn finish(&mut self) {
        if let Some(a) = self.ahead.take() {
            self.settle(a);
        }
    }

    /// `a` is taken for records missing before it (as its problem says): the count goes on
    /// from its seq, and a single missing record is remembered, in case it turns up later.
    fn settle(&mut self, a: Ahead) {
        if a.seq == a.expected + 1 {
            self.missing.insert(a.expected, a);
        }
        self.expected = a.seq;
        self.next();
    }

    /// The expected record was seen: on to the next, past numbers already seen early.
    fn next(&mut self) {
        self.expected += 1;
        while self.early.remove(&self.expected) {
            self.expected += 1;
        }
    }
}

/// [`problem`], returning its index in [`Report::problems`] (`None` past [`MAX_PROBLEMS`]).
fn report_problem(
    report: &mut Report,
    seq: Option<u64>,
    offset: u64,
    message: String,
) -> Option<usize> {
    let before = report.problems.len();
    problem(report, seq, offset, message);
    (report.problems.len() > before).then_some(before)
}

/// Says problem `index` anew, once what it is became clear.
fn rewrite(report: &mut Report, index: Option<usize>, message: String) {
    if let Some(p) = index.and_then(|i| report.problems.get_mut(i)) {
        p.message = message;
    }
}

/// Why a commit frame right after `prev` is out of place (`None`: it is not). The writer
/// writes a commit only to close the records of a batch, right after the last of them.
fn misplaced_commit(prev: Option<(Tag, u64)>) -> Option<String> {
    let (tag, at) = prev?;
    let after = match tag {
        Tag::Record => return None,
        Tag::Header => "the header".to_string(),
        Tag::Commit => format!("another commit (at byte {at})"),
        Tag::Checkpoint => format!("a signed checkpoint (at byte {at})"),
    };
    Some(format!(
        "a commit frame right after {after}, with no record between: the writer writes a commit \
         only right after the records of the batch it closes, so commit or checkpoint frames \
         were duplicated, moved or appended"
    ))
}

/// Why a signed checkpoint frame right after `prev` is out of place (`None`: it is not). The
/// writer signs a checkpoint only right after a commit, at most one per commit.
fn misplaced_checkpoint(prev: Option<(Tag, u64)>) -> Option<String> {
    let (tag, at) = prev?;
    let why = match tag {
        Tag::Commit => return None,
        Tag::Header => "right after the header, before any commit".to_string(),
        Tag::Record => format!(
            "right after a record (at byte {at}) that no commit closes: the commit of its batch \
             was deleted, or the checkpoint moved before it"
        ),
        Tag::Checkpoint => format!(
            "right after another signed checkpoint (at byte {at}): the writer signs at most one \
             after each commit, so a checkpoint frame was duplicated, moved or appended"
        ),
    };
    Some(format!(
        "a signed checkpoint {why} (a checkpoint comes only right after a commit)"
    ))
}

/// Checks that the log extends `saved`, a checkpoint of it seen earlier: it is signed by
/// `key`, of this log, of no more records than the log has committed, and the consistency
/// proof from its tree to the log's latest verified checkpoint (RFC 9162 §2.1.4) holds.
fn check_saved(
    saved: &SavedCheckpoint,
    key: &VerifyingKey,
    tree: &Tree,
    committed: u64,
    report: &mut Report,
) {
    let source = &saved.source;
    let cp = match Checkpoint::open(&saved.note, key) {
        Ok(cp) => cp,
        Err(e) => {
            problem(
                report,
                None,
                0,
                format!(
                    "the checkpoint saved in `{source}` does not verify with the log's key: {e} \
                     (a checkpoint of another log, or the log's key was replaced)"
                ),
            );
            return;
        }
    };
    if cp.origin != report.origin {
        let message = format!(
            "the checkpoint saved in `{source}` is of another log (origin `{}`, this log is `{}`)",
            cp.origin, report.origin
        );
        problem(report, None, 0, message);
        return;
    }
    if cp.size > committed {
        problem(
            report,
            Some(committed),
            0,
            format!(
                "the checkpoint saved in `{source}` signs a tree of {} records, but the log has \
                 only {committed}: records {committed} to {} were cut from its end (or the log \
                 was put back from an older backup)",
                cp.size,
                cp.size - 1
            ),
        );
        return;
    }
    // To the latest checkpoint verified in the log when it covers the saved one, else to the
    // saved one's own size (the log's own checkpoints do not reach it yet).
    let new = report.verified_size.max(cp.size);
    let holds = match (tree.root_at(new), cp.size) {
        (Some(new_root), 0) => {
            cp.root == empty_root() && verify_consistency(0, &cp.root, new, &new_root, &[])
        }
        (Some(new_root), old) => tree
            .consistency_proof(old, new)
            .is_some_and(|proof| verify_consistency(old, &cp.root, new, &new_root, &proof)),
        (None, _) => false,
    };
    if holds {
        report.extends = Some(cp.size);
    } else {
        problem(
            report,
            None,
            0,
            format!(
                "the log does not extend the checkpoint saved in `{source}` (tree size {}): the \
                 consistency proof from it to the log's tree of size {new} fails, so records \
                 among the first {} were changed, replaced or reordered, and the log's \
                 checkpoints signed again",
                cp.size, cp.size
            ),
        );
    }
}

/// "N records are", "1 record is", "none is".
fn count_here(n: u64) -> String {
    match n {
        0 => "none is".into(),
        1 => "1 record is".into(),
        n => format!("{n} records are"),
    }
}

/// Checks `DIR/subjects.keys` against the key ids the committed records name: the file
/// missing while records name keys is one problem about the file ([`missing_key_file`]); a
/// damaged slot is a problem named by the first record naming its key, if any; a key missing
/// with no
/// erasure record is one named by the first record naming it (and how many more are
/// missing); a key an erasure record names but the file still has is one too (an erasure a
/// crash interrupted, which the next opening for writing finishes). A file of the first format
/// gets a note: it cannot show a slot with a legacy (unbound) id changed with its id kept; the
/// note says how many live slots are unbound and how many bound (checked).
fn check_key_file(dir: &Path, refs: &KeyRefs, report: &mut Report) {
    let path = dir.join("subjects.keys");
    let file = "subjects.keys";
    let contents = match read_key_file(&path) {
        Ok(Some(contents)) => contents,
        Ok(None) if refs.named.is_empty() && refs.erased.is_empty() => return,
        Ok(None) => {
            problem(report, None, 0, missing_key_file(refs));
            return;
        }
        Err(e) => {
            problem(report, None, 0, format!("{e}"));
            return;
        }
    };
    if contents.format == KeyFormat::V1 {
        // Slots an erasure record names are zeroed at the next opening: not counted.
        let (bound, unbound) = contents
            .slots
            .iter()
            .filter(|s| !refs.erased.contains_key(&hex(&s.id)))
            .fold((0usize, 0usize), |(b, u), s| {
                if is_bound(&s.id) {
                    (b + 1, u)
                } else {
                    (b, u + 1)
                }
            });
        report.notes.push(format!(
            "{file} is of the first format (XOPKEYS1): {unbound} live {} a legacy random key id \
             (unbound: a change of such a slot's subject hash or key with its id kept cannot be \
             detected) and {bound} a bound one (made since ids were bound; checked as in the \
             current format). Every id is checked against the records, and copied or partly \
             zero slots are found; a new log's key file binds every id",
            if unbound == 1 {
                "slot has"
            } else {
                "slots have"
            },
        ));
    }
    let checked = check(refs, &contents);
    for damage in &checked.damaged {
        problem(
            report,
            refs.named.get(&damage.id).copied(),
            0,
            format!(
                "{file} is damaged at byte {}: {}; restore {file} from a backup",
                damage.offset,
                damage.message()
            ),
        );
    }
    if let Some(why) = checked.missing_message(file) {
        let seq = checked.missing.first().map(|(_, s)| *s);
        problem(
            report,
            seq,
            0,
            format!("{why}; restore {file} from a backup"),
        );
    }
    for (id, seq) in checked.unerased {
        problem(
            report,
            Some(seq),
            0,
            format!(
                "record {seq} erased subject key {id}, but {file} still has it: the erasure was \
                 interrupted after its record was written; the next time the log is opened for \
                 writing (`xop serve`, `xop eval --log`, `xop log erase`) the key is zeroed"
            ),
        );
    }
}

/// The problem of a missing `subjects.keys` when records name keys: one about the file, not
/// any record. What it costs is said from the keys the records name: those an erasure record
/// names are accounted for (no evidence needs them), the others are needed to check their
/// evidence; either way a writer refuses to open the log without the file (a new one would
/// unlink every subject's evidence), so it is a problem.
fn missing_key_file(refs: &KeyRefs) -> String {
    let keys = |n: usize| {
        if n == 1 {
            "1 subject key".to_string()
        } else {
            format!("{n} subject keys")
        }
    };
    // The first record naming each live key: a backup must be newer than the last of them.
    let live: Vec<u64> = refs
        .named
        .iter()
        .filter(|(id, _)| !refs.erased.contains_key(*id))
        .map(|(_, seq)| *seq)
        .collect();
    let erased = refs.erased.len();
    let what = match (live.len(), erased) {
        (0, 1) => "the records name 1 subject key, erased since by an erasure record, so no \
                   evidence needs it any more"
            .to_string(),
        (0, n) => format!(
            "the records name {n} subject keys, each erased since by an erasure record, so no \
             evidence needs them any more"
        ),
        (n, 0) => format!(
            "the records name {}, so the personal evidence hashed with {} can no longer be \
             checked",
            keys(n),
            if n == 1 { "it" } else { "them" }
        ),
        (n, e) => format!(
            "the records name {} ({e} erased since by {}), so the personal evidence hashed \
             with the other {n} can no longer be checked",
            keys(n + e),
            if e == 1 {
                "an erasure record, which accounts for it"
            } else {
                "erasure records, which account for them"
            }
        ),
    };
    let backup = match live.iter().max() {
        Some(last) => format!("a backup made after record {last} was written"),
        None => "a backup".to_string(),
    };
    format!(
        "subjects.keys is missing: it holds the subjects' HMAC keys, which the personal evidence \
         in the records is hashed with; {what}. A writer (`xop eval --log`, `xop serve`, `xop \
         log erase`) refuses to open the log without it, since a new file would silently unlink \
         every subject's evidence: restore subjects.keys from {backup}"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ed25519_dalek::SigningKey;

    use super::super::record::{Body, Entry, leading_seq, time_text};
    use super::super::store::{Frame, write_frame};
    use super::super::{LogConfig, ProofLog};
    use super::*;

    fn event(i: u64) -> Entry {
        Entry {
            time: time_text(0),
            body: Body::Event {
                name: format!("test.e{i}"),
                data: serde_json::json!({ "i": i }),
            },
        }
    }

    fn config(every: u64) -> LogConfig {
        LogConfig {
            origin: Some("test.xop/verify".into()),
            signing_key: Some(SigningKey::from_bytes(&[7; 32])),
            checkpoint_every: every,
            checkpoint_interval: Duration::from_secs(3600),
            ..LogConfig::default()
        }
    }

    fn key() -> VerifyingKey {
        SigningKey::from_bytes(&[7; 32]).verifying_key()
    }

    /// `n` records, each its own batch (one `append` each), a checkpoint every `every`
    /// records and one when the log closes.
    fn log_of(dir: &Path, n: u64, every: u64) {
        let log = ProofLog::open(dir, config(every)).unwrap();
        for i in 0..n {
            assert_eq!(log.append(&event(i)).unwrap(), i);
        }
        log.close().unwrap();
    }

    fn frames(dir: &Path) -> Vec<Frame> {
        Frames::open(&dir.join("log.xpl"))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Writes `frames` as the log file; returns them with their new offsets.
    fn write(dir: &Path, frames: &[Frame]) -> Vec<Frame> {
        let mut bytes = MAGIC.to_vec();
        for f in frames {
            write_frame(&mut bytes, f.tag, &f.body, &f.hash);
        }
        std::fs::write(dir.join("log.xpl"), bytes).unwrap();
        self::frames(dir)
    }

    fn verify(dir: &Path) -> Report {
        verify_log(dir, &key()).unwrap()
    }

    fn tags(frames: &[Frame]) -> String {
        frames
            .iter()
            .map(|f| match f.tag {
                Tag::Header => 'H',
                Tag::Record => 'R',
                Tag::Commit => 'C',
                Tag::Checkpoint => 'S',
            })
            .collect()
    }

    /// The report has a problem at byte `offset` whose message holds `what`.
    fn assert_problem(report: &Report, offset: u64, what: &str) {
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.offset == offset && p.message.contains(what)),
            "no problem at byte {offset} saying `{what}`: {:#?}",
            report.problems
        );
    }

    #[test]
    fn an_untouched_log_verifies_without_notes() {
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 5, 2);
        assert_eq!(tags(&frames(dir.path())), "HRCRCSRCRCSRCS");
        let r = verify(dir.path());
        assert_eq!(r.problems, [], "{r:?}");
        assert_eq!(r.notes, Vec::<String>::new());
        assert_eq!((r.records, r.checkpoints, r.verified_size), (5, 3, 5));
        assert_eq!((r.torn.clone(), r.live, r.extends), (None, false, None));
    }

    #[test]
    fn frames_out_of_their_grammar_are_reported_with_their_byte() {
        // QA: commit and checkpoint frames deleted, duplicated, moved or appended again left
        // every record and root as it was, and verified.
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 5, 2);
        let f = frames(dir.path());
        // H0 R1 C2 R3 C4 S5 R6 C7 R8 C9 S10 R11 C12 S13
        let edit = |frames: Vec<Frame>| write(dir.path(), &frames);

        // A commit duplicated: the copy closes no record.
        let mut g = f.clone();
        g.insert(3, f[2].clone());
        let g = edit(g);
        let r = verify(dir.path());
        assert_problem(&r, g[3].offset, "a commit frame right after another commit");
        assert_eq!(r.problems.len(), 1, "{r:?}");

        // A commit appended again at the end, after the last checkpoint.
        let mut g = f.clone();
        g.push(f[12].clone());
        let g = edit(g);
        let r = verify(dir.path());
        assert_problem(&r, g[14].offset, "right after a signed checkpoint");
        assert_eq!(r.problems.len(), 1, "{r:?}");

        // A checkpoint duplicated in place, and the last one appended again.
        for (at, copy) in [(6, 5), (14, 13)] {
            let mut g = f.clone();
            g.insert(at, f[copy].clone());
            let g = edit(g);
            let r = verify(dir.path());
            assert_problem(&r, g[at].offset, "right after another signed checkpoint");
            assert_eq!(r.problems.len(), 1, "{r:?}");
        }

        // The commit a checkpoint follows deleted (two batches merged under one commit).
        let mut g = f.clone();
        g.remove(4);
        let g = edit(g);
        let r = verify(dir.path());
        assert_eq!(tags(&g), "HRCRSRCRCSRCS");
        assert_problem(&r, g[4].offset, "right after a record");
        assert_eq!(r.problems.len(), 1, "{r:?}");

        // A checkpoint moved before its commit, in the middle and at the end.
        for at in [4, 12] {
            let mut g = f.clone();
            g.swap(at, at + 1);
            let g = edit(g);
            let r = verify(dir.path());
            assert_problem(&r, g[at].offset, "right after a record");
            assert_problem(&r, g[at + 1].offset, "a commit frame right after a signed");
        }

        // A copy of a record appended at the end: not a torn batch (it is not numbered as
        // the writer numbers one), so not left out.
        let mut g = f.clone();
        g.push(f[3].clone());
        let g = edit(g);
        let r = verify(dir.path());
        assert!(r.torn.is_none(), "{r:?}");
        assert_problem(&r, g[14].offset, "record 5 has seq 1 where 5 is expected");

        // Untouched again: fine.
        edit(f);
        assert_eq!(verify(dir.path()).problems, []);
    }

    #[test]
    fn a_batch_torn_by_a_failed_write_is_judged_as_the_writer_judges_it() {
        // QA: after a full disk stopped a writer mid-batch, `verify` said "a frame of 670 bytes
        // is cut short … the log does not verify", while the writer drops it as a torn batch.
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), config(1)).unwrap();
        log.append(&event(0)).unwrap();
        log.append(&event(1)).unwrap();
        let end = std::fs::metadata(dir.path().join("log.xpl")).unwrap().len();
        log.fail_next_batch_after(60);
        assert!(log.append(&event(2)).is_err());
        assert_eq!(
            std::fs::metadata(dir.path().join("log.xpl")).unwrap().len(),
            end + 60
        );
        // The writer still holds the log (a gateway that has not exited yet).
        let r = verify(dir.path());
        assert_eq!(r.problems, [], "{r:?}");
        assert!(r.live);
        let torn = r.torn.clone().unwrap();
        assert_eq!((torn.offset, torn.truncated_bytes), (end, 60));
        assert!(
            r.notes.iter().any(|n| n.contains(&format!(
                "the log ends with 60 bytes at byte {end} that no commit closes (no complete \
                 record): the torn end of a batch being written"
            ))),
            "{r:?}"
        );
        assert!(log.close().is_err());
        // And once it has exited.
        let r = verify(dir.path());
        assert_eq!(r.problems, [], "{r:?}");
        assert!(!r.live);
        assert_eq!((r.records, r.verified_size), (2, 2));
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("a crash or a failed write (a full disk) interrupted")),
            "{r:?}"
        );
        // The readers agree: two records; the next writer drops the 60 bytes.
        assert_eq!(LogReader::open(dir.path()).unwrap().size(), 2);
        let log = ProofLog::open(dir.path(), config(1)).unwrap();
        assert_eq!(log.recovery().truncated_bytes, 60);
        log.close().unwrap();
        let r = verify(dir.path());
        assert_eq!((r.problems.len(), r.notes.len(), r.torn), (0, 0, None));

        // A complete record without its commit (the write stopped right after its frame).
        let log = ProofLog::open(dir.path(), config(1)).unwrap();
        let end = std::fs::metadata(dir.path().join("log.xpl")).unwrap().len();
        let record = super::super::record::encode(&event(2));
        // The frame header, `{"seq":2,` and the rest.
        let frame = (37 + 8 + record.len()) as u64;
        log.fail_next_batch_after(frame);
        assert!(log.append(&event(2)).is_err());
        drop(log);
        assert_eq!(frames(dir.path()).last().unwrap().tag, Tag::Record);
        let r = verify(dir.path());
        assert_eq!(r.problems, [], "{r:?}");
        let torn = r.torn.unwrap();
        assert_eq!((torn.offset, torn.truncated_records), (end, 1));
        assert!(r.notes[0].contains("(1 complete record)"), "{:?}", r.notes);
    }

    #[test]
    fn damage_after_the_last_commit_is_still_reported() {
        // The tail is judged, not trusted: a changed record in the last batch with its commit
        // intact after it is damage, reported as before.
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 3, 1);
        let f = frames(dir.path());
        let last = f.iter().rfind(|f| f.tag == Tag::Record).unwrap().clone();
        let path = dir.path().join("log.xpl");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[last.offset as usize + 40] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let r = verify(dir.path());
        assert!(r.torn.is_none());
        assert_problem(&r, last.offset, "record 2 was changed");
    }

    #[test]
    fn records_no_checkpoint_covers_are_a_note_while_a_writer_has_the_log_open() {
        // QA: `verify` on the folder of a live, loaded `xop serve` always failed.
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), config(2)).unwrap();
        for i in 0..3 {
            log.append(&event(i)).unwrap();
        }
        let r = verify(dir.path());
        assert_eq!(r.problems, [], "{r:?}");
        assert!(r.live);
        assert_eq!((r.records, r.verified_size), (3, 2));
        assert!(
            r.notes[0].contains("records 2 to 2 are not covered by a signed checkpoint yet")
                && r.notes[0].contains("LOCK is held"),
            "{:?}",
            r.notes
        );
        // The same bytes with no writer (a copy, or the writer gone without its checkpoint):
        // a problem.
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("log.xpl"), copy.path().join("log.xpl")).unwrap();
        std::fs::write(copy.path().join("LOCK"), "").unwrap();
        let r = verify(copy.path());
        assert!(!r.live);
        assert_eq!(r.problems.len(), 1, "{r:?}");
        assert_eq!(r.problems[0].seq, Some(2));
        assert!(
            r.problems[0].message.contains("no writer has the log open"),
            "{r:?}"
        );
        // Closed: its last checkpoint covers them.
        log.close().unwrap();
        let r = verify(dir.path());
        assert_eq!((r.problems.len(), r.notes.len(), r.live), (0, 0, false));
    }

    #[test]
    fn a_log_must_extend_a_checkpoint_saved_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), config(2)).unwrap();
        for i in 0..4 {
            log.append(&event(i)).unwrap();
        }
        let saved = SavedCheckpoint::parse("saved.txt", &log.checkpoint().unwrap()).unwrap();
        assert!(saved.note.contains("\n4\n"), "{}", saved.note);
        for i in 4..7 {
            log.append(&event(i)).unwrap();
        }
        log.close().unwrap();
        let with = |dir: &Path, saved: &SavedCheckpoint| {
            verify_log_with(
                dir,
                &key(),
                &VerifyOptions {
                    saved: Some(saved.clone()),
                },
            )
            .unwrap()
        };
        let r = with(dir.path(), &saved);
        assert_eq!(r.problems, [], "{r:?}");
        assert_eq!(r.extends, Some(4));

        // Cut at the checkpoint of 4 records: a valid shorter log, found only with the
        // checkpoint saved after it.
        let f = frames(dir.path());
        let cut: Vec<Frame> = f
            .iter()
            .take_while(|x| !(x.tag == Tag::Record && x.body.starts_with(b"{\"seq\":4,")))
            .cloned()
            .collect();
        let later = SavedCheckpoint::parse(
            "later.txt",
            &String::from_utf8_lossy(&f.last().unwrap().body),
        )
        .unwrap();
        write(dir.path(), &cut);
        assert_eq!(verify(dir.path()).problems, []);
        assert_eq!(with(dir.path(), &saved).problems, []);
        let r = with(dir.path(), &later);
        assert_eq!(r.problems.len(), 1, "{r:?}");
        assert_eq!(r.problems[0].seq, Some(4));
        assert!(
            r.problems[0].message.contains(
                "signs a tree of 7 records, but the log has only 4: records 4 to 6 were cut"
            ),
            "{r:?}"
        );
        assert_eq!(r.extends, None);

        // Rewritten by the key's holder: record 1 replaced, every commit and checkpoint made
        // anew. It verifies alone; not against the checkpoint saved before.
        let forged = tempfile::tempdir().unwrap();
        let log = ProofLog::open(forged.path(), config(2)).unwrap();
        for i in [0, 100, 2, 3, 4] {
            log.append(&event(i)).unwrap();
        }
        log.close().unwrap();
        assert_eq!(verify(forged.path()).problems, []);
        let r = with(forged.path(), &saved);
        assert_eq!(r.problems.len(), 1, "{r:?}");
        assert!(
            r.problems[0].message.contains(
                "the log does not extend the checkpoint saved in `saved.txt` (tree size 4)"
            ),
            "{r:?}"
        );

        // Signed by another key, or of another log.
        let other = tempfile::tempdir().unwrap();
        let log = ProofLog::open(
            other.path(),
            LogConfig {
                signing_key: Some(SigningKey::from_bytes(&[8; 32])),
                ..config(2)
            },
        )
        .unwrap();
        log.append(&event(0)).unwrap();
        log.append(&event(1)).unwrap();
        let foreign = SavedCheckpoint::parse("foreign.txt", &log.checkpoint().unwrap());
        log.close().unwrap();
        let r = with(dir.path(), &foreign.unwrap());
        assert!(
            r.problems[0]
                .message
                .contains("does not verify with the log's key"),
            "{r:?}"
        );
    }

    #[test]
    fn a_saved_checkpoint_is_read_from_a_note_or_a_proof() {
        let note = "o.example/log\n3\nAAAA\n\n\u{2014} o.example/log abcd\n";
        let a = SavedCheckpoint::parse("a", note).unwrap();
        assert_eq!(a.note, note);
        // Copied by hand: CRLF and a blank line at the end.
        let b = SavedCheckpoint::parse("b", &format!("{}\r\n", note.replace('\n', "\r\n")));
        assert_eq!(b.unwrap().note, note);
        let proof = serde_json::json!({"seq": 1, "checkpoint": note}).to_string();
        assert_eq!(SavedCheckpoint::parse("c", &proof).unwrap().note, note);
        assert!(SavedCheckpoint::parse("d", "{\"seq\":1}").is_err());
        assert!(SavedCheckpoint::parse("e", "\n").is_err());
    }

    /// The verify pass gives each record it reads whole to its caller, in log order, and
    /// reports as without a caller; a record whose bytes were changed is not given.
    #[test]
    fn verifying_notes_each_record_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 5, 2);
        let noted = |dir: &Path| {
            let mut seqs = Vec::new();
            let r = verify_log_noting(dir, &key(), &VerifyOptions::default(), &mut |r| {
                seqs.push(r.seq);
            })
            .unwrap();
            (seqs, r)
        };
        let (seqs, r) = noted(dir.path());
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        assert_eq!(format!("{r:?}"), format!("{:?}", verify(dir.path())));
        let mut f = frames(dir.path());
        let i = (f.iter())
            .position(|x| x.tag == Tag::Record && leading_seq(&x.body) == Some(2))
            .unwrap();
        let body = String::from_utf8(f[i].body.clone()).unwrap();
        f[i].body = body.replacen("\"test.e2\"", "\"test.f2\"", 1).into_bytes();
        write(dir.path(), &f);
        let (seqs, r) = noted(dir.path());
        assert_eq!(seqs, [0, 1, 3, 4]);
        assert!(
            r.problems
                .iter()
                .any(|p| p.message.contains("record 2 was changed")),
            "{r:?}"
        );
    }

    /// `log_of(dir, 5, 2)`'s frames with record `k` rewritten (`"test.eK"` renamed, so the
    /// record stays canonical) and its hash recomputed, as someone without the key can; with
    /// `commits`, the commits after it are made anew too (their MAC, if any, left as it was).
    fn forge(dir: &Path, k: u64, commits: bool) -> Vec<Frame> {
        let mut f = frames(dir);
        let i = f
            .iter()
            .position(|x| x.tag == Tag::Record && leading_seq(&x.body) == Some(k))
            .unwrap();
        let body = String::from_utf8(f[i].body.clone()).unwrap();
        let forged = body.replacen(&format!("\"test.e{k}\""), "\"test.forged\"", 1);
        assert_ne!(body, forged);
        assert!(decode(forged.as_bytes()).is_ok());
        f[i].body = forged.into_bytes();
        f[i].hash = leaf_hash(&f[i].body);
        if commits {
            let mut tree = Tree::new();
            for x in &mut f {
                match x.tag {
                    Tag::Record => tree.push(x.hash),
                    Tag::Commit => {
                        x.body[8..40].copy_from_slice(&tree.root());
                        x.hash = leaf_hash(&x.body);
                    }
                    _ => {}
                }
            }
        }
        write(dir, &f)
    }

    /// The error of [`LogReader::open`], as the commands print it.
    fn refused(dir: &Path) -> String {
        match LogReader::open(dir) {
            Ok(r) => panic!("opened, with {} records", r.size()),
            Err(e) => {
                assert!(matches!(e, LogError::Corrupt { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    #[test]
    fn readers_refuse_records_rewritten_with_their_hash_or_swapped() {
        // QA: with a record rewritten (its frame hash recomputed) or two records swapped, `xop
        // log prove` made a proof that does not verify, `show 1` printed record 2 and `explain
        // 1` explained it as record 1: the readers checked the frames' hashes only.
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 5, 2);
        let original = frames(dir.path());
        assert_eq!(LogReader::open(dir.path()).unwrap().size(), 5);
        let record = |f: &[Frame], k: u64| {
            f.iter()
                .filter(|x| x.tag == Tag::Record)
                .nth(k as usize)
                .unwrap()
                .offset
        };

        // Rewritten: the commit of its batch no longer matches.
        let f = forge(dir.path(), 2, false);
        let e = refused(dir.path());
        assert!(
            e.contains(&format!(
                "is damaged at byte {}: record 2 does not match the commit of its batch (at byte \
                 {}): its bytes were changed and the hash written with them recomputed",
                record(&f, 2),
                f.iter().find(|x| x.offset > record(&f, 2)).unwrap().offset
            )) && e.contains("run `xop log verify"),
            "{e}"
        );
        // Its commits rewritten too: the next signed checkpoint (tree size 4) no longer matches.
        write(dir.path(), &original);
        let f = forge(dir.path(), 2, true);
        let e = refused(dir.path());
        let cp = f
            .iter()
            .filter(|x| x.tag == Tag::Checkpoint)
            .nth(1)
            .unwrap()
            .offset;
        assert!(
            e.contains(&format!(
                "is damaged at byte {cp}: the signed checkpoint of tree size 4 does not match \
                 records 2 to 3: one of them was changed or forged"
            )),
            "{e}"
        );
        // After the last checkpoint, with its commit rewritten: nothing shows it but a
        // signature, which the reader has no key to check (`verify` reports it uncovered).
        let mut f = original.clone();
        f.truncate(f.len() - 1);
        write(dir.path(), &f);
        forge(dir.path(), 4, true);
        assert_eq!(LogReader::open(dir.path()).unwrap().size(), 5);

        // Records 1 and 2 swapped, bytes and hashes intact: record 1's place holds seq 2.
        let mut f = original.clone();
        let (a, b) = (
            f.iter()
                .position(|x| x.offset == record(&original, 1))
                .unwrap(),
            f.iter()
                .position(|x| x.offset == record(&original, 2))
                .unwrap(),
        );
        f.swap(a, b);
        let f = write(dir.path(), &f);
        let e = refused(dir.path());
        assert!(
            e.contains(&format!(
                "is damaged at byte {}: the record at record 1's place has seq 2: records were \
                 reordered",
                f[a].offset
            )),
            "{e}"
        );
        // Untouched again: it opens, and proves.
        write(dir.path(), &original);
        let mut r = LogReader::open(dir.path()).unwrap();
        assert!(r.prove(2).unwrap().verify(&key()).is_ok());
    }

    /// The frames of `log_of(dir, 6, 2)` with its record frames put in `order` (the seqs, in
    /// file order; each record is its own batch, so commits and checkpoints stay in place; with
    /// fewer records than 6, the last places are left out, their commits kept).
    fn reorder(dir: &Path, original: &[Frame], order: &[u64]) -> Vec<Frame> {
        let records: Vec<Frame> = original
            .iter()
            .filter(|x| x.tag == Tag::Record)
            .cloned()
            .collect();
        let mut next = order.iter().map(|&k| records[k as usize].clone());
        let f: Vec<Frame> = original
            .iter()
            .filter_map(|x| match x.tag {
                Tag::Record => next.next(),
                _ => Some(x.clone()),
            })
            .collect();
        write(dir, &f)
    }

    /// The offset of the record frame at place `index`.
    fn place(f: &[Frame], index: usize) -> u64 {
        f.iter()
            .filter(|x| x.tag == Tag::Record)
            .nth(index)
            .unwrap()
            .offset
    }

    #[test]
    fn records_swapped_or_moved_are_reported_as_such_and_nothing_false_after() {
        // QA: two adjacent records swapped gave "record 1 is missing … has seq 2", "record 2
        // has seq 1 where 3 is expected", then a false "record 3 … record 2 is missing" although
        // record 3 was in place: the count went on from the seq of a record out of place.
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 6, 2);
        let original = frames(dir.path());
        let messages = |r: &Report| {
            r.problems
                .iter()
                .map(|p| (p.seq, p.offset, p.message.clone()))
                .collect::<Vec<_>>()
        };

        let f = reorder(dir.path(), &original, &[0, 2, 1, 3, 4, 5]);
        let r = verify(dir.path());
        assert_eq!(
            messages(&r),
            [(
                Some(1),
                place(&f, 1),
                format!(
                    "records 1 and 2 were swapped: record 2 is at record 1's place, and record 1 \
                     after it (at byte {})",
                    place(&f, 2)
                )
            )]
        );

        // Record 1 moved further on, after record 3.
        let f = reorder(dir.path(), &original, &[0, 2, 3, 1, 4, 5]);
        let r = verify(dir.path());
        assert_eq!(
            messages(&r),
            [(
                Some(1),
                place(&f, 1),
                format!(
                    "record 1 was moved: the record at its place has seq 2, and record 1 is \
                     further on, at record 3's place (byte {})",
                    place(&f, 3)
                )
            )]
        );

        // Record 4 moved before record 1.
        let f = reorder(dir.path(), &original, &[0, 4, 1, 2, 3, 5]);
        let r = verify(dir.path());
        assert_eq!(
            messages(&r),
            [(
                Some(1),
                place(&f, 1),
                format!(
                    "record 4 is out of its place: it is at record 1's place, before records 1 \
                     to 3 (record 1 follows it, at byte {}): it was moved there, or forged",
                    place(&f, 2)
                )
            )]
        );

        // Records deleted: one problem for the gap, whatever its length, and none after it
        // (the commits left without their records say so, in the commits' numbering).
        for (order, said) in [
            (
                &[0, 1, 3, 4, 5][..],
                "record 2 is missing (deleted or moved): the record at its place has seq 3",
            ),
            (
                &[0, 1, 4, 5][..],
                "records 2 to 3 are missing (deleted or moved): the record at record 2's place has seq 4",
            ),
            (&[0, 1, 2, 3, 4][..], ""),
        ] {
            let f = reorder(dir.path(), &original, order);
            let r = verify(dir.path());
            let numbering: Vec<_> = r
                .problems
                .iter()
                .filter(|p| p.message.contains("missing") || p.message.contains("has seq"))
                .collect();
            if said.is_empty() {
                // The last record deleted: its commit and checkpoint say so.
                assert_eq!(numbering, Vec::<&Problem>::new());
                assert!(!r.problems.is_empty());
            } else {
                assert_eq!(numbering.len(), 1, "{r:#?}");
                assert_eq!(numbering[0].offset, place(&f, 2));
                assert_eq!(numbering[0].message, said);
            }
        }
        write(dir.path(), &original);
        assert_eq!(verify(dir.path()).problems, []);
    }

    #[test]
    fn a_changed_commit_or_checkpoint_is_one_problem_and_its_fields_are_not_trusted() {
        // QA: one changed byte of a commit's tree size also gave "records 0 to 16777216 were
        // committed together…" and "a commit of tree size 2 after one of size 16777217"; one
        // changed byte of a checkpoint, a problem with its signature too; of the header's
        // origin, every checkpoint "of another log".
        let dir = tempfile::tempdir().unwrap();
        // The frames changed are never the last one (a changed frame at the very end is taken
        // for the torn end of a batch: `damage_after_the_last_commit_is_still_reported`).
        log_of(dir.path(), 6, 2);
        let original = frames(dir.path());
        let path = dir.path().join("log.xpl");
        let bytes = std::fs::read(&path).unwrap();
        // The header's origin, one byte changed: its checkpoints are not taken for another
        // log's.
        let origin = bytes.windows(8).position(|w| w == b"test.xop").unwrap();
        let mut changed = bytes.clone();
        changed[origin + 1] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        let r = verify(dir.path());
        assert_eq!(r.problems.len(), 1, "{r:#?}");
        assert_problem(&r, 8, "a frame was changed");
        assert_eq!(r.origin, "test.xop/verify");
        for (tag, at) in [
            (Tag::Commit, 3),
            (Tag::Commit, 10),
            (Tag::Checkpoint, 20),
            (Tag::Checkpoint, 0),
        ] {
            for nth in [0, 1] {
                let frame = original.iter().filter(|x| x.tag == tag).nth(nth).unwrap();
                let mut changed = bytes.clone();
                changed[frame.offset as usize + 37 + at] ^= 1;
                std::fs::write(&path, &changed).unwrap();
                let r = verify(dir.path());
                assert_eq!(r.problems.len(), 1, "{tag:?} {nth} byte {at}: {r:#?}");
                assert_problem(&r, frame.offset, "a frame was changed");
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(verify(dir.path()).problems, []);
    }

    #[test]
    fn a_decision_naming_its_module_by_anything_but_a_sha256_is_refused() {
        // QA: a record's `module` rewritten to `../../other` (its hash recomputed): replay and
        // `xop explain` read `modules/../../other.xopm`, outside the log folder.
        use super::super::record::{DecisionRecord, Entry};
        use super::super::replay::load_module;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("L");
        let log = ProofLog::open(&dir, config(1)).unwrap();
        let decision = |module: &str| Entry {
            time: time_text(0),
            body: Body::Decision(DecisionRecord {
                module: module.into(),
                policy: "p.q".into(),
                action: None,
                at: time_text(0),
                evidence: Vec::new(),
                signals: Vec::new(),
                verdict: crate::ir::Verdict::Allow,
                reasons: Vec::new(),
                fired: Vec::new(),
                review: None,
                args_sha256: None,
                error: None,
                detail: None,
            }),
        };
        log.append(&decision(&"ab".repeat(32))).unwrap();
        log.append(&decision("../../other")).unwrap();
        log.close().unwrap();
        // Where the path would lead (`L/modules/../../other.xopm`): a file that is there.
        std::fs::write(root.path().join("other.xopm"), b"XOPM").unwrap();

        let r = verify(&dir);
        let second = frames(&dir)
            .into_iter()
            .filter(|x| x.tag == Tag::Record)
            .nth(1)
            .unwrap();
        assert_eq!(r.problems.len(), 1, "{r:#?}");
        assert_eq!(r.problems[0].seq, Some(1));
        assert_problem(
            &r,
            second.offset,
            "record 1: its `module` is \"../../other\", not the SHA-256 of a module file",
        );

        let mut reader = LogReader::open(&dir).unwrap();
        let Body::Decision(d) = reader.record(1).unwrap().body else {
            panic!("not a decision")
        };
        let e = reader.check_module(1, &d).unwrap_err();
        assert!(
            matches!(e, LogError::Corrupt { offset, .. } if offset == second.offset),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("record 1: its `module` is \"../../other\""),
            "{e}"
        );
        let Body::Decision(d) = reader.record(0).unwrap().body else {
            panic!("not a decision")
        };
        assert_eq!(reader.check_module(0, &d), Ok(()));

        let e = load_module(&dir, "../../other").err().unwrap().to_string();
        assert!(
            e.starts_with(
                "the module the record names cannot be read: its `module` is \"../../other\", \
                 not the SHA-256 of a module file"
            ),
            "{e}"
        );
        // A well-formed one that is not kept is still said so.
        let e = load_module(&dir, &"ab".repeat(32))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is not kept in the log folder"), "{e}");
    }
}
