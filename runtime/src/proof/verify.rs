//! Reading a log without writing it: [`LogReader`] (records, proofs) and [`verify_log`], which
//! recomputes everything from the bytes and names what does not hold.
//!
//! `verify_log` checks, frame by frame: each record's bytes against the hash written with it
//! (a changed record is named); that it decodes and is canonical; that sequence numbers run
//! 0, 1, 2, … (a deleted, reordered or inserted record is named); each commit's root against
//! the tree recomputed from the records' bytes; each signed checkpoint's signature (with the
//! trusted key) and root, and its place (a checkpoint is of exactly the records before it, so
//! an older one copied over a newer one is named); that the file has its header (a file cut to
//! the magic is reported); and that every record is covered by a signed checkpoint. A record
//! changed *and* re-hashed, with the commits rewritten, is caught by the first signed
//! checkpoint after it, which names the range of records it covers. Then the subject key file:
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
use super::merkle::{Tree, leaf_hash};
use super::record::{Record, decode};
use super::store::{Frames, Header, MAGIC, Tag, judge_tail, parse_commit, scan};
use super::{InclusionProof, LogError};
use crate::module::{hex, parse_verifying_key};

/// A read-only view of a log: its committed records.
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
    /// the damage as if it were the whole log.
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
        let file = File::open(&path).map_err(|e| LogError::io(&path, &e))?;
        Ok(LogReader {
            dir: dir.to_path_buf(),
            origin: header.origin,
            tree: Tree::from_leaves(scanned.leaves.iter().copied()),
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
        let body_end = note.rfind("\n\n").map_or(note.len(), |i| i + 1);
        let cp = Checkpoint::parse_body(&note[..body_end]).map_err(|e| LogError::Corrupt {
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

    /// The public key in the folder (`log.pub`). Trusting it only proves the log was not
    /// altered by someone who could not also replace this file: pass a key kept elsewhere to
    /// rule that out.
    pub fn folder_key(&self) -> Result<VerifyingKey, LogError> {
        read_public_key(&self.dir.join("log.pub"))
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
    let text = std::fs::read_to_string(path).map_err(|e| LogError::io(path, &e))?;
    parse_verifying_key(&text)
        .map_err(|e| LogError::Config(format!("`{}` is not a public key: {e}", path.display())))
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
    let path = log_file(dir)?;
    let mut report = Report::default();
    let mut tree = Tree::new();
    let mut expected_seq: u64 = 0;
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
    for frame in Frames::open(&path)? {
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
        if frame.tag != Tag::Record && frame.hash != leaf_hash(&frame.body) {
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
                (Tag::Header, Ok(h)) => report.origin = h.origin,
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
                if h != frame.hash {
                    explained = true;
                    problem(
                        &mut report,
                        Some(index),
                        frame.offset,
                        format!(
                            "record {index} was changed: its bytes do not match the hash written \
                             with it"
                        ),
                    );
                }
                let decoded = decode(&frame.body);
                if let Ok(r) = &decoded {
                    keys.note(r);
                }
                match decoded {
                    Err(e) => {
                        explained = true;
                        problem(
                            &mut report,
                            Some(index),
                            frame.offset,
                            format!("record {index}: {e}"),
                        );
                    }
                    Ok(r) if r.seq != expected_seq => {
                        explained = true;
                        let what = if r.seq > expected_seq {
                            format!(
                                "record {expected_seq} is missing (deleted or moved): the record \
                                 at its place has seq {}",
                                r.seq
                            )
                        } else {
                            format!(
                                "record {index} has seq {} where {expected_seq} is expected: a \
                                 record was reordered, duplicated or forged",
                                r.seq
                            )
                        };
                        problem(&mut report, Some(index), frame.offset, what);
                        expected_seq = r.seq + 1;
                    }
                    Ok(_) => expected_seq += 1,
                }
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
            }
            Tag::Checkpoint => {
                let note = String::from_utf8_lossy(&frame.body);
                match Checkpoint::open(&note, key) {
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
            }
        }
    }
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
    } else if report.verified_size < tree.size() && report.problems.is_empty() {
        let from = report.verified_size;
        problem(
            &mut report,
            Some(from),
            0,
            format!(
                "records {from} to {} are not covered by a signed checkpoint, so nothing proves \
                 they were not forged (a running log signs one within its checkpoint interval \
                 and when it closes: verify again then)",
                tree.size() - 1
            ),
        );
    }
    keys.truncate(committed);
    check_key_file(dir, &keys, &mut report);
    Ok(report)
}

/// "N records are", "1 record is", "none is".
fn count_here(n: u64) -> String {
    match n {
        0 => "none is".into(),
        1 => "1 record is".into(),
        n => format!("{n} records are"),
    }
}

/// Checks `DIR/subjects.keys` against the key ids the committed records name: a damaged slot
/// is a problem named by the first record naming its key, if any; a key missing with no
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
        Ok(None) if refs.named.is_empty() => return,
        Ok(None) => {
            let (id, seq) = refs
                .named
                .iter()
                .min_by_key(|(id, seq)| (**seq, (*id).clone()))
                .map(|(id, seq)| (id.clone(), *seq))
                .unwrap_or_default();
            problem(
                report,
                Some(seq),
                0,
                format!(
                    "record {seq} names subject key {id}, but the log has no {file}: restore it \
                     from a backup"
                ),
            );
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
