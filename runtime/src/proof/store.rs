//! The log file (`log.xpl`) and its writer.
//!
//! The file is the magic `XOPLOG01` and a sequence of frames: a tag byte, the body's length
//! (u32 little-endian), `SHA-256(0x00 || body)` (for a record, its Merkle leaf hash), the body.
//!
//! | tag | body |
//! |-----|------|
//! | `H` | the header, first frame: JSON `{"format":2,"origin":"…"}` (1 for older logs) |
//! | `R` | a record (canonical JSON, see [`super::record`]) |
//! | `C` | a commit: tree size (u64 LE), root (32 bytes) and MAC (32 bytes), ending every batch |
//! | `S` | a signed checkpoint (a C2SP signed note), every N records and/or T seconds |
//!
//! **Authenticated commits.** A commit's MAC is HMAC-SHA-256, under a key derived from the
//! log's signing key ([`CommitKey`]), of a label, the origin, the size and the root. Only a
//! signature proves records were not forged, and a crash can leave committed records that no
//! checkpoint covers yet: the next writer must sign them, and the MAC is how it tells its own
//! unsigned tail from one someone without the key appended or rewrote (SHA-256 frame hashes
//! and Merkle roots anyone can recompute). Commits of format 1 (xop before the MAC) are 40
//! bytes, size and root; readers accept both, the writer writes only the 72-byte form, in
//! logs of either format.
//!
//! **What opening for writing checks** ([`super::ProofLog::open`]), before anything is
//! changed (no torn tail dropped, no erasure finished, nothing signed): every commit's root is
//! the root of the tree of the records before it as scanned; the latest signed checkpoint
//! verifies with the log's key and origin and signs the root of the records it covers; every
//! commit after it carries a MAC that verifies. Otherwise the log is refused, naming the
//! frame: the writer would sign, under the log's key, records it did not write.
//!
//! **One writer.** Besides `DIR/LOCK`, the writer holds an exclusive `flock` on `log.xpl`
//! itself (a writer that finds `LOCK` removed and makes a new one is still kept out), and
//! before each batch it checks that the file is as long as its own writes left it: if
//! another program changed it, the log fails rather than write over what is there.
//!
//! **Group commit.** Callers queue their records; one writer thread takes everything queued,
//! numbers it, appends the records and a commit frame (and a signed checkpoint when one is
//! due) with one write, syncs the file once (`fdatasync`), and only then wakes the callers of
//! that batch. So an acknowledged record is on disk, and everything after the last commit frame
//! may be a batch that nobody was told about (a crash mid-batch): opening the log drops it, but
//! only when it can be one, see [`judge_tail`]; anything else is damage and the log is refused.
//!
//! Each waiter is woken alone, once the last record it waits for is durable: a blocking
//! caller parks its thread and the writer unparks it (one condition variable shared by every
//! caller would wake all of them, about a thousand under load, on every batch, each to find the
//! queue lock taken); an asynchronous caller holds a [`Durable`] future that the writer
//! completes, so no thread waits per record. A caller queueing many records at once waits
//! once, for the last of them: the log is durable in order.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::task::{Context, Poll};
use std::thread::Thread;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures_channel::oneshot;

use super::checkpoint::Checkpoint;
use super::keys::{KeyRefs, SubjectKeys};
use super::merkle::{Hash, Tree, leaf_hash};
use super::record::{leading_seq, with_seq};
use super::{LogConfig, LogError};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"XOPLOG01";
/// The largest frame body accepted (a record larger than this is refused when appended).
pub const MAX_FRAME: u32 = 16 << 20;
/// The most record bytes the writer puts in one batch (a single record larger than this is
/// a batch of its own); recovery never drops more than [`MAX_TORN_TAIL`].
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// The longest a batch can be on disk: [`MAX_BATCH_BYTES`] of records, then one more record
/// of up to [`MAX_FRAME`], its commit and a signed checkpoint (the slack covers the frame
/// headers and the note). A longer tail after the last commit cannot be one interrupted batch.
pub const MAX_TORN_TAIL: u64 = MAX_BATCH_BYTES as u64 + MAX_FRAME as u64 + (64 << 10);
/// What the writer counts per record besides its bytes (frame header, `seq`), for the bound.
const RECORD_OVERHEAD: usize = 64;
const FRAME_HEADER: usize = 1 + 4 + 32;

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The header.
    Header,
    /// A record.
    Record,
    /// A commit (end of a batch).
    Commit,
    /// A signed checkpoint.
    Checkpoint,
}

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Tag::Header => b'H',
            Tag::Record => b'R',
            Tag::Commit => b'C',
            Tag::Checkpoint => b'S',
        }
    }

    fn from_byte(b: u8) -> Option<Tag> {
        Some(match b {
            b'H' => Tag::Header,
            b'R' => Tag::Record,
            b'C' => Tag::Commit,
            b'S' => Tag::Checkpoint,
            _ => return None,
        })
    }
}

/// One frame as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its byte offset in the file.
    pub offset: u64,
    /// Its kind.
    pub tag: Tag,
    /// The hash written with it.
    pub hash: Hash,
    /// Its body.
    pub body: Vec<u8>,
}

impl Frame {
    /// The offset just after it.
    pub fn end(&self) -> u64 {
        self.offset + (FRAME_HEADER + self.body.len()) as u64
    }
}

/// Appends a frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, tag: Tag, body: &[u8], hash: &Hash) {
    out.push(tag.byte());
    // Bodies are checked against MAX_FRAME before they get here.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(body);
}

/// The file format the writer creates: 2, whose commits carry a MAC.
pub const FORMAT: u32 = 2;
/// A commit body of format 1: size and root.
pub const COMMIT_LEN_V1: usize = 40;
/// A commit body as the writer writes it: size, root and MAC.
pub const COMMIT_LEN: usize = 72;

/// The key commit MACs are made with, derived from the log's signing key: whoever can sign
/// the log's checkpoints can make its commits, nobody else can.
#[derive(Clone)]
pub struct CommitKey(hmac::Hmac<sha2::Sha256>);

impl std::fmt::Debug for CommitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: never printed.
        f.write_str("CommitKey(…)")
    }
}

impl CommitKey {
    /// The HMAC key is SHA-256 of a domain-separation label and the signing key's secret
    /// bytes: another key than the signing key itself, of no use for anything else.
    pub fn derive(key: &SigningKey) -> CommitKey {
        use hmac::digest::KeyInit;
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"xop-log-commit-mac-key\0");
        h.update(key.to_bytes());
        // HMAC pads a key shorter than SHA-256's 64-byte block with zeros: padding it here
        // gives the same MAC as the 32-byte key, through the constructor that cannot fail.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&h.finalize());
        CommitKey(<hmac::Hmac<Sha256> as KeyInit>::new(&block.into()))
    }

    fn hmac(&self, origin: &str, size: u64, root: &Hash) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(b"xop-log-commit\0");
        // The origin's length first, so that no origin and size can read as another's.
        mac.update(&(origin.len() as u64).to_le_bytes());
        mac.update(origin.as_bytes());
        mac.update(&size.to_le_bytes());
        mac.update(root);
        mac
    }

    /// The MAC of the commit of a tree of `size` records with root `root`, in log `origin`.
    pub fn mac(&self, origin: &str, size: u64, root: &Hash) -> [u8; 32] {
        use hmac::Mac;
        self.hmac(origin, size, root).finalize().into_bytes().into()
    }

    /// Whether `mac` is that MAC (compared in constant time).
    pub fn verifies(&self, origin: &str, size: u64, root: &Hash, mac: &[u8]) -> bool {
        use hmac::Mac;
        self.hmac(origin, size, root).verify_slice(mac).is_ok()
    }
}

/// A commit frame's body of format 1 (no MAC), as xop before format 2 wrote it; kept for
/// tests and tools that build such logs.
pub fn commit_body(size: u64, root: &Hash) -> [u8; COMMIT_LEN_V1] {
    let mut b = [0u8; COMMIT_LEN_V1];
    b[..8].copy_from_slice(&size.to_le_bytes());
    b[8..].copy_from_slice(root);
    b
}

/// A commit frame's body as the writer writes it: size, root and their MAC under `key`.
pub fn authenticated_commit_body(
    key: &CommitKey,
    origin: &str,
    size: u64,
    root: &Hash,
) -> [u8; COMMIT_LEN] {
    let mut b = [0u8; COMMIT_LEN];
    b[..COMMIT_LEN_V1].copy_from_slice(&commit_body(size, root));
    b[COMMIT_LEN_V1..].copy_from_slice(&key.mac(origin, size, root));
    b
}

/// Reads a commit frame's body, of either length: its size and root.
pub fn parse_commit(body: &[u8]) -> Option<(u64, Hash)> {
    if body.len() != COMMIT_LEN_V1 && body.len() != COMMIT_LEN {
        return None;
    }
    let size = u64::from_le_bytes(body[..8].try_into().ok()?);
    let root: Hash = body[8..COMMIT_LEN_V1].try_into().ok()?;
    Some((size, root))
}

/// A commit body's MAC: `None` for a format-1 commit, which has none (or a body that is no
/// commit).
pub fn commit_mac(body: &[u8]) -> Option<[u8; 32]> {
    if body.len() != COMMIT_LEN {
        return None;
    }
    body[COMMIT_LEN_V1..].try_into().ok()
}

/// The header frame's body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The file format version: 2 ([`FORMAT`]: commits carry a MAC), or 1 for a log made
    /// by an earlier xop (commits without one; still read, and written with MACs from then
    /// on).
    pub format: u32,
    /// The log's origin: the name its checkpoints are signed under.
    pub origin: String,
}

/// Reads frames one after the other; stops at the end of the file or at the first frame that
/// cannot be read (with its offset).
pub struct Frames<R: Read> {
    reader: R,
    offset: u64,
    len: u64,
    done: bool,
}

/// Why reading frames stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Where.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl Frames<BufReader<File>> {
    /// Opens the log file at `path` and checks its magic.
    pub fn open(path: &Path) -> Result<Frames<BufReader<File>>, LogError> {
        let file = File::open(path).map_err(|e| LogError::io(path, &e))?;
        let len = file.metadata().map_err(|e| LogError::io(path, &e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        if len < 8 || reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                offset: 0,
                message: "not an XOP proof log (it does not start with XOPLOG01)".into(),
            });
        }
        Ok(Frames {
            reader,
            offset: 8,
            len,
            done: false,
        })
    }
}

impl<R: Read> Frames<R> {
    /// The file's length when it was opened: frames are read up to there.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Reads frames up to byte `limit` at most: what follows is not looked at (a frame that
    /// runs past it is cut short there). `xop log verify` stops where a torn batch begins, and
    /// at the length it scanned on a log that is being written.
    pub fn up_to(mut self, limit: u64) -> Frames<R> {
        self.len = self.len.min(limit);
        self
    }
}

impl<R: Read> Iterator for Frames<R> {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.len {
            return None;
        }
        let offset = self.offset;
        let fail = |this: &mut Self, message: String| {
            this.done = true;
            Some(Err(FrameError { offset, message }))
        };
        if self.len - offset < FRAME_HEADER as u64 {
            return fail(
                self,
                format!(
                    "a frame header is cut short ({} bytes where {FRAME_HEADER} are needed)",
                    self.len - offset
                ),
            );
        }
        let mut head = [0u8; FRAME_HEADER];
        if let Err(e) = self.reader.read_exact(&mut head) {
            return fail(self, format!("cannot read: {e}"));
        }
        let Some(tag) = Tag::from_byte(head[0]) else {
            return fail(self, format!("unknown frame tag 0x{:02x}", head[0]));
        };
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return fail(
                self,
                format!("a frame claims {len} bytes (at most {MAX_FRAME})"),
            );
        }
        let end = offset + FRAME_HEADER as u64 + u64::from(len);
        if end > self.len {
            return fail(
                self,
                format!(
                    "a frame of {len} bytes is cut short by the end of the file ({} bytes missing)",
                    end - self.len
                ),
            );
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&head[5..]);
        let mut body = vec![0u8; len as usize];
        if let Err(e) = self.reader.read_exact(&mut body) {
            return fail(self, format!("cannot read: {e}"));
        }
        self.offset = end;
        Some(Ok(Frame {
            offset,
            tag,
            hash,
            body,
        }))
    }
}

/// What opening a log found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Where the dropped bytes began (the end of the last commit), if any were dropped.
    pub offset: u64,
    /// Bytes cut from the end: an unacknowledged batch interrupted by a crash.
    pub truncated_bytes: u64,
    /// Complete records in that batch.
    pub truncated_records: u64,
    /// Erasures a crash interrupted after their record was durable, which opening the log
    /// finished (zeroed the key's slot): the key's id and the erasure record.
    pub finished_erasures: Vec<(String, u64)>,
}

impl Recovery {
    /// What to tell the operator when opening dropped a torn tail or finished an
    /// interrupted erasure (`None`: it did neither). `path` is the log file.
    pub fn warning(&self, path: &Path) -> Option<String> {
        let mut said = Vec::new();
        if self.truncated_bytes > 0 {
            said.push(format!(
                "dropped {} bytes ({} complete record{}) at byte {} of `{}`: the end of a batch \
                 that a crash or a failed write interrupted before it was synced, so it was \
                 never acknowledged",
                self.truncated_bytes,
                self.truncated_records,
                if self.truncated_records == 1 { "" } else { "s" },
                self.offset,
                path.display()
            ));
        }
        for (id, seq) in &self.finished_erasures {
            said.push(format!(
                "erased subject key {id} from `{}`: its erasure (record {seq}) was interrupted \
                 after the record was written",
                path.with_file_name("subjects.keys").display()
            ));
        }
        (!said.is_empty()).then(|| said.join("; "))
    }
}

/// The log as scanned: what the writer and the readers need.
#[derive(Debug, Default)]
pub struct Scanned {
    /// The header.
    pub header: Option<Header>,
    /// Each committed record's body offset and length.
    pub records: Vec<(u64, u32)>,
    /// The last signed checkpoint's note, and its frame offset.
    pub checkpoint: Option<(String, u64)>,
    /// Where the committed part ends.
    pub end: u64,
    /// The first frame that could not be read, if any.
    pub error: Option<FrameError>,
    /// Records after the last commit (an interrupted batch).
    pub uncommitted: u64,
    /// Those records' body offsets and lengths, which [`judge_tail`] checks are numbered as
    /// the writer numbers them.
    pub uncommitted_records: Vec<(u64, u32)>,
    /// The file's length when it was scanned.
    pub len: u64,
    /// The subject key ids the committed records name ([`scan_with_keys`] only).
    pub keys: KeyRefs,
    /// The tree of the committed records (the leaves as written), built as they are read, so
    /// that each commit's and each signed checkpoint's root is checked at its size: the
    /// writer's tree, and the one readers prove against.
    pub tree: Tree,
    /// The first committed frame, in file order, that matches the hash written with it but
    /// does not hold ([`Unsound`]): readers refuse the log at it. The scan goes on past it.
    pub unsound: Option<Unsound>,
    /// The first commit whose root is not the root of the tree of the records before it
    /// (the same check as [`Unsound::Commit`], said as the writer says it): records changed,
    /// moved or swapped after they were committed, their hashes recomputed. The writer refuses
    /// it.
    pub root_mismatch: Option<FrameError>,
    /// The commits after the latest signed checkpoint (all of them if there is none): what
    /// a writer opening the log would sign, so each must carry a MAC that verifies.
    pub uncovered_commits: Vec<CommitSeen>,
}

/// A committed frame whose bytes match the hash written with it, but which does not hold:
/// anyone can recompute a frame's hash (a SHA-256), so a record rewritten with its hash
/// recomputed breaks the root of its commit (or, with the commits rewritten too, of the next
/// signed checkpoint), and records swapped break their numbering. What [`scan`] found first,
/// with what a reader needs to name it ([`super::verify::LogReader::open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsound {
    /// A committed record whose bytes do not start with its place as their `seq`
    /// ([`leading_seq`]).
    Seq {
        /// Its frame's offset.
        offset: u64,
        /// Its place (how many records precede it).
        index: u64,
        /// The `seq` it starts with, if it starts with one.
        seq: Option<u64>,
    },
    /// A commit whose root is not the root of the tree of the records before it.
    Commit {
        /// Its frame's offset.
        offset: u64,
        /// The first record of its batch (how many records the commit before it closed).
        first: u64,
        /// That record's frame offset (0 if the batch has no record).
        first_offset: u64,
        /// The tree size it states.
        size: u64,
    },
    /// A signed checkpoint whose root is not the root of the tree of its size (its signature
    /// is not checked here).
    Checkpoint {
        /// Its frame's offset.
        offset: u64,
        /// The tree size it states.
        size: u64,
        /// The tree size of the signed checkpoint before it (0 if none): the records from there
        /// are the ones it newly covers.
        from: u64,
    },
}

/// A commit frame as scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSeen {
    /// Its frame's offset.
    pub offset: u64,
    /// How many records were committed before its batch.
    pub from: u64,
    /// The tree size it states.
    pub size: u64,
    /// The root it states.
    pub root: Hash,
    /// Its MAC (`None`: a format-1 commit, which has none).
    pub mac: Option<[u8; 32]>,
}

/// The checkpoint a signed note's body states (its signature is not checked).
fn note_checkpoint(note: &str) -> Option<Checkpoint> {
    let body_end = note.rfind("\n\n")?;
    Checkpoint::parse_body(&note[..=body_end]).ok()
}

/// The tree size a signed note's body states (its signature is not checked).
pub(crate) fn note_size(note: &str) -> Option<u64> {
    note_checkpoint(note).map(|c| c.size)
}

/// Scans the log file, in one pass: frames up to the first unreadable one, keeping what the
/// last commit covers. A frame is unreadable when it cannot be parsed, when its bytes do not
/// match the hash written with it, or when it does not fit where it is (a second header, a
/// commit or a checkpoint whose size is not the number of records before it). It builds the
/// tree of the committed records ([`Scanned::tree`]) and notes the first committed frame that
/// does not hold ([`Scanned::unsound`]: a record not numbered by its place, a commit's or a
/// signed checkpoint's root that is not the root of the records before it) and the first
/// commit whose root is wrong ([`Scanned::root_mismatch`]).
pub fn scan(path: &Path) -> Result<Scanned, LogError> {
    scan_inner(path, false)
}

/// [`scan`] for the writer: also notes the subject key ids the committed records name
/// ([`Scanned::keys`]), which the key file must account for when the log is opened for
/// writing.
pub fn scan_with_keys(path: &Path) -> Result<Scanned, LogError> {
    scan_inner(path, true)
}

fn scan_inner(path: &Path, writing: bool) -> Result<Scanned, LogError> {
    let mut s = Scanned {
        end: MAGIC.len() as u64,
        ..Scanned::default()
    };
    let mut records: Vec<(u64, u32)> = Vec::new();
    // The leaf hashes of the records since the last commit: the tree takes them at the commit
    // that closes them (records after the last commit are no part of it).
    let mut leaves: Vec<Hash> = Vec::new();
    // How many of `records` the last commit covers; they are kept, the rest cut, at the end
    // (not copied at every commit, which cost the whole list per batch).
    let mut committed = 0usize;
    // The first record since the last commit not numbered by its place: unsound only once a
    // commit closes it (the records after the last commit are judged by `judge_tail`).
    let mut misnumbered: Option<Unsound> = None;
    // The frame offset of the first record since the last commit (0: none yet).
    let mut batch_at = 0u64;
    // The tree size of the last signed checkpoint.
    let mut signed = 0u64;
    let mut frames = Frames::open(path)?;
    s.len = frames.file_len();
    for frame in &mut frames {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                s.error = Some(e);
                break;
            }
        };
        let fail = |message: String| {
            Some(FrameError {
                offset: frame.offset,
                message,
            })
        };
        if s.header.is_none() && frame.tag != Tag::Header {
            s.error = fail("the first frame is not the log's header".into());
            break;
        }
        // Every frame carries SHA-256(0x00 || body): a changed byte is found here, not taken
        // for data (a record's hash is its leaf, which the tree is rebuilt from).
        if leaf_hash(&frame.body) != frame.hash {
            s.error = fail(match frame.tag {
                Tag::Record => format!(
                    "record {} does not match the hash written with it (its bytes or its hash \
                     were changed)",
                    records.len()
                ),
                _ => "a frame does not match the hash written with it".into(),
            });
            break;
        }
        match frame.tag {
            Tag::Header => {
                if frame.offset != MAGIC.len() as u64 {
                    s.error = fail("a second header frame".into());
                    break;
                }
                match serde_json::from_slice::<Header>(&frame.body) {
                    Ok(h) => s.header = Some(h),
                    Err(e) => {
                        s.error = fail(format!("the header does not decode: {e}"));
                        break;
                    }
                }
                s.end = frame.end();
            }
            Tag::Record => {
                let index = records.len() as u64;
                if writing {
                    s.keys.note_bytes(index, &frame.body);
                }
                if records.len() == committed {
                    batch_at = frame.offset;
                }
                let seq = leading_seq(&frame.body);
                if s.unsound.is_none() && misnumbered.is_none() && seq != Some(index) {
                    misnumbered = Some(Unsound::Seq {
                        offset: frame.offset,
                        index,
                        seq,
                    });
                }
                records.push((frame.offset + FRAME_HEADER as u64, frame.body.len() as u32));
                leaves.push(frame.hash);
            }
            Tag::Commit => {
                let Some((size, root)) = parse_commit(&frame.body) else {
                    s.error = fail("a commit frame of the wrong length".into());
                    break;
                };
                if size != records.len() as u64 {
                    s.error = fail(format!(
                        "a commit for {size} records after {} records",
                        records.len()
                    ));
                    break;
                }
                // The tree the writer and the readers need anyway, built as the leaves are
                // read, and one root per commit (O(log n) hashes): every commit checked,
                // cheaply. A misnumbered record of its batch comes before it in the file.
                for leaf in leaves.drain(..) {
                    s.tree.push(leaf);
                }
                let misnumbered = misnumbered.take();
                if s.unsound.is_none() {
                    s.unsound = misnumbered;
                }
                if s.tree.root() != root {
                    if s.root_mismatch.is_none() {
                        s.root_mismatch = fail(format!(
                            "the commit there states a root for the tree of its {size} records \
                             that is not the root of those records as they are: records were \
                             changed (their hashes recomputed), moved or swapped after they were \
                             committed"
                        ));
                    }
                    s.unsound.get_or_insert(Unsound::Commit {
                        offset: frame.offset,
                        first: committed as u64,
                        first_offset: batch_at,
                        size,
                    });
                }
                batch_at = 0;
                s.uncovered_commits.push(CommitSeen {
                    offset: frame.offset,
                    from: committed as u64,
                    size,
                    root,
                    mac: commit_mac(&frame.body),
                });
                s.end = frame.end();
                committed = records.len();
            }
            Tag::Checkpoint => {
                let note = String::from_utf8_lossy(&frame.body).into_owned();
                // The writer signs a checkpoint right after a commit, of exactly the records
                // before it: anything else is an old checkpoint copied here, or records moved.
                let cp = match note_checkpoint(&note) {
                    None => Err("a checkpoint that is not a signed note".to_string()),
                    Some(_) if records.len() > committed => {
                        Err("a signed checkpoint after uncommitted records".to_string())
                    }
                    Some(cp) if cp.size != records.len() as u64 => Err(format!(
                        "a signed checkpoint of tree size {} after {} records (an older \
                         checkpoint copied here, or records moved)",
                        cp.size,
                        records.len()
                    )),
                    Some(cp) => Ok(cp),
                };
                let cp = match cp {
                    Ok(cp) => cp,
                    Err(why) => {
                        s.error = fail(why);
                        break;
                    }
                };
                // Its signature is the writer's to check (`Prepared::authenticate`, the latest
                // one) and `xop log verify`'s: a reader has no trusted key.
                if s.tree.root_at(cp.size) != Some(cp.root) {
                    s.unsound.get_or_insert(Unsound::Checkpoint {
                        offset: frame.offset,
                        size: cp.size,
                        from: signed,
                    });
                }
                signed = cp.size;
                s.checkpoint = Some((note, frame.offset));
                s.uncovered_commits.clear();
                s.end = frame.end();
            }
        }
    }
    s.uncommitted = (records.len() - committed) as u64;
    s.uncommitted_records = records.split_off(committed);
    s.records = records;
    s.keys.truncate(committed as u64);
    Ok(s)
}

/// Judges what follows the last commit (or checkpoint) of a scanned log: either the torn end of
/// one batch that was never synced, hence never acknowledged (returned: where it starts, how
/// long it is, how many complete records it holds), or damage (an error: the log must not be
/// written, and its readers must not pretend it ends there).
///
/// A crash mid-batch leaves a prefix of the batch's one write, possibly with runs of zeros
/// where pages never reached the disk; it never leaves anything after the batch. So the tail
/// is taken for a torn batch only if (1) it is no longer than a batch can be
/// ([`MAX_TORN_TAIL`]); (2) the first frame that cannot be read is not a complete frame whose
/// bytes match its hash (a changed tag or a frame that does not fit is damage, not a crash);
/// (3) no byte offset after that frame starts a frame whose bytes match its hash: such a
/// frame was written after the damaged one, so the damage is taken to be in data that was
/// synced (a later commit or checkpoint shows it most plainly); and (4) every complete record
/// in it is numbered as the writer numbers a batch (the one after the last committed record,
/// then in order): a crash cuts records short, it does not renumber them, so a complete record
/// with another `seq` (a copy of an earlier one appended, say) was put there. Two cases stay
/// ambiguous, and each is settled the safe way for acknowledged records: damage confined to
/// the last batch with nothing intact after it looks exactly like a torn write and is dropped
/// (reported); a crash that wrote the pages of its batch out of order, leaving a hole before
/// intact frames, looks like damage and is refused.
pub fn judge_tail(path: &Path, s: &Scanned) -> Result<Recovery, LogError> {
    let tail = s.len.saturating_sub(s.end);
    if tail == 0 {
        return Ok(Recovery::default());
    }
    let (at, what) = match &s.error {
        Some(e) => (e.offset, e.message.clone()),
        None => (
            s.end,
            format!("{} records are not followed by a commit", s.uncommitted),
        ),
    };
    let damaged = |why: String| LogError::Corrupt {
        path: path.display().to_string(),
        offset: at,
        message: format!(
            "{what}; {why}, so the log is damaged, not cut short by a crash. Nothing was \
             changed: run `xop log verify {}` and restore the log from a backup",
            path.parent()
                .map_or_else(|| ".".into(), |d| d.display().to_string())
        ),
    };
    if tail > MAX_TORN_TAIL {
        return Err(damaged(format!(
            "{tail} bytes follow the last commit (at byte {}), more than one batch can be \
             ({MAX_TORN_TAIL})",
            s.end
        )));
    }
    if !s.uncommitted_records.is_empty() {
        let first = s.records.len() as u64;
        let mut f = File::open(path).map_err(|e| LogError::io(path, &e))?;
        for (k, &(body, len)) in s.uncommitted_records.iter().enumerate() {
            let seq = first + k as u64;
            let mut prefix = vec![0u8; (len as usize).min(32)];
            f.seek(SeekFrom::Start(body))
                .and_then(|_| f.read_exact(&mut prefix))
                .map_err(|e| LogError::io(path, &e))?;
            if !numbered(&prefix, seq) {
                let offset = body - FRAME_HEADER as u64;
                return Err(LogError::Corrupt {
                    path: path.display().to_string(),
                    offset,
                    message: format!(
                        "the complete record there, after the last commit (at byte {}), is not \
                         numbered {seq} (it starts `{}`); a crash cuts the records of a batch \
                         short, it does not renumber them, so it was put there: the log is \
                         damaged, not cut short by a crash. Nothing was changed: run `xop log \
                         verify {}` and restore the log from a backup",
                        s.end,
                        String::from_utf8_lossy(&prefix),
                        path.parent()
                            .map_or_else(|| ".".into(), |d| d.display().to_string())
                    ),
                });
            }
        }
    }
    if let Some(e) = &s.error {
        let bytes = read_range(path, e.offset, s.len)?;
        let origin = s.header.as_ref().map_or("", |h| h.origin.as_str());
        if intact_frame(&bytes, 0, origin, true) {
            return Err(damaged(
                "yet the frame there is complete and matches its hash".into(),
            ));
        }
        if let Some(p) = (1..bytes.len()).find(|&p| intact_frame(&bytes, p, origin, false)) {
            return Err(damaged(format!(
                "an intact frame follows at byte {} (written after the damaged one)",
                e.offset + p as u64
            )));
        }
    }
    Ok(Recovery {
        offset: s.end,
        truncated_bytes: tail,
        truncated_records: s.uncommitted,
        finished_erasures: Vec::new(),
    })
}

/// Whether a record's body (its first bytes at least) starts with `{"seq":N` and then `,` or
/// `}`, as the writer numbers record `seq` ([`with_seq`]).
fn numbered(body: &[u8], seq: u64) -> bool {
    let head = format!("{{\"seq\":{seq}");
    body.starts_with(head.as_bytes()) && matches!(body.get(head.len()), Some(b',' | b'}'))
}

/// Bytes `from..to` of the file at `path`.
fn read_range(path: &Path, from: u64, to: u64) -> Result<Vec<u8>, LogError> {
    let io = |e: std::io::Error| LogError::io(path, &e);
    let mut f = File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut bytes = vec![0u8; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
    f.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// Whether a complete frame whose bytes match its hash starts at `bytes[p..]`. With
/// `any_tag`, whatever its tag byte; otherwise only a frame the writer could have written
/// (its tag, and the start of its body: a record's `{"seq":`, a commit's 72 bytes or a
/// format-1 commit's 40, a note naming `origin`), so that only the few plausible offsets cost
/// a hash.
fn intact_frame(bytes: &[u8], p: usize, origin: &str, any_tag: bool) -> bool {
    let Some(head) = bytes.get(p..p + FRAME_HEADER) else {
        return false;
    };
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return false;
    }
    let start = p + FRAME_HEADER;
    let Some(body) = bytes.get(start..start + len as usize) else {
        return false;
    };
    let plausible = any_tag
        || match Tag::from_byte(head[0]) {
            Some(Tag::Record) => body.starts_with(b"{\"seq\":"),
            Some(Tag::Commit) => len as usize == COMMIT_LEN || len as usize == COMMIT_LEN_V1,
            Some(Tag::Checkpoint) => {
                !origin.is_empty()
                    && body.starts_with(origin.as_bytes())
                    && body.get(origin.len()) == Some(&b'\n')
            }
            Some(Tag::Header) => body.starts_with(b"{\"format\":"),
            None => false,
        };
    plausible && leaf_hash(body)[..] == head[5..]
}

/// Who waits for records to be durable.
enum Waiter {
    /// A thread parked in [`Writer::append`] or [`Writer::append_many`]: unparked.
    Thread(Thread),
    /// A [`Durable`] future: completed with the outcome.
    Future(oneshot::Sender<Result<(), LogError>>),
}

impl Waiter {
    fn wake(self, result: &Result<(), LogError>) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            // The receiver may be gone (a caller that gave up, e.g. a request timed out): the
            // record is durable all the same, nobody is told.
            Waiter::Future(tx) => {
                let _ = tx.send(result.clone());
            }
        }
    }
}

/// Refuses a record (its bytes without `seq`) too large for one frame.
pub(crate) fn check_size(len: usize) -> Result<(), LogError> {
    // `seq` and its digits add at most 32 bytes.
    if len + 32 > MAX_FRAME as usize {
        return Err(LogError::TooLarge { len });
    }
    Ok(())
}

/// What callers and the writer share.
struct Queue {
    /// Records waiting for the writer (their bytes without `seq`).
    entries: Vec<Vec<u8>>,
    /// Who waits, with the last sequence number each waits for, in ascending order (they are
    /// queued with their records, under the same lock).
    waiters: Vec<(u64, Waiter)>,
    /// The sequence number of `entries[0]`.
    first_seq: u64,
    /// Records durable so far (all sequence numbers below are on disk).
    durable: u64,
    /// Why the writer stopped, if it failed: every later append fails too.
    failed: Option<String>,
    closing: bool,
}

/// A queued record on its way to disk: a future that completes with its sequence number once
/// it is durable (its batch synced), or with the error that stopped the log. Dropping it does
/// not withdraw the record; it is written all the same, only nobody is told.
#[derive(Debug)]
#[must_use = "a record is acknowledged only once its `Durable` completes"]
pub struct Durable {
    seq: u64,
    rx: oneshot::Receiver<Result<(), LogError>>,
}

impl Durable {
    /// The sequence number the record will have (it is not durable before the future
    /// completes).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Future for Durable {
    type Output = Result<u64, LogError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seq = self.seq;
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(Ok(())) => Ok(seq),
            Ok(Err(e)) => Err(e),
            // The writer dropped the sender without answering: it is gone, and the record is
            // not known to be durable, so it fails closed.
            Err(oneshot::Canceled) => Err(LogError::Failed(
                "the log writer stopped before the record was durable".into(),
            )),
        })
    }
}

/// What readers see of the log while it is written.
pub(crate) struct View {
    pub(crate) tree: Tree,
    pub(crate) records: Vec<(u64, u32)>,
    pub(crate) checkpoint: Option<String>,
}

pub(crate) struct Shared {
    queue: Mutex<Queue>,
    /// The writer waits on it for records.
    queued: Condvar,
    /// `Queue::durable`, readable without the lock: a parked caller checks it when woken.
    durable: AtomicU64,
    /// Set (after `Queue::failed`) when the writer failed.
    failed: AtomicBool,
    pub(crate) view: RwLock<View>,
    pub(crate) keys: Mutex<SubjectKeys>,
    /// Tests: the next batch's write fails as a full disk would.
    #[cfg(test)]
    pub(crate) fail_next: AtomicBool,
    /// Tests: the next batch's write stops after this many bytes, as on a disk that fills up
    /// during it (`u64::MAX`: it does not).
    #[cfg(test)]
    pub(crate) fail_after: AtomicU64,
}

/// The writer's side of an open log.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A read handle for records.
    reader: Mutex<File>,
}

struct WriterState {
    file: File,
    path: PathBuf,
    keys_path: PathBuf,
    origin: String,
    key: SigningKey,
    /// Makes the MAC of each commit ([`authenticated_commit_body`]).
    commit_key: CommitKey,
    /// Where the next batch goes: the file's length as this writer's own writes left it.
    end: u64,
    every: u64,
    interval: Duration,
    max_batch: usize,
    last_checkpoint_size: u64,
    last_checkpoint_at: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the queue half-updated in a way that matters
    // more than stopping: recover the guard and go on.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A log file about to be opened for writing: created if it was missing, scanned, its tail
/// judged, nothing changed yet.
pub(crate) struct Prepared {
    path: PathBuf,
    /// `log.xpl`, open for reading and writing, under this writer's exclusive `flock`.
    file: File,
    header: Header,
    scanned: Scanned,
    recovery: Recovery,
}

impl Prepared {
    /// Whether nothing was ever committed or signed in it: only then may its keys be made.
    pub(crate) fn is_new(&self) -> bool {
        self.scanned.records.is_empty() && self.scanned.checkpoint.is_none()
    }

    /// How many records are committed.
    pub(crate) fn size(&self) -> u64 {
        self.scanned.records.len() as u64
    }

    /// The subject key ids its committed records name.
    pub(crate) fn key_refs(&self) -> &KeyRefs {
        &self.scanned.keys
    }

    /// Checks, before anything is changed, that the writer may take the log as it is: its
    /// latest signed checkpoint verifies with `key` and the log's origin and signs the root
    /// of the records it covers, and every commit after it (the records the writer would
    /// sign on opening) carries a MAC made with `key` ([`CommitKey`]). A SHA-256 frame hash
    /// or a Merkle root anyone can recompute; without these checks the writer would sign,
    /// under the log's key, records someone without the key rewrote or appended.
    pub(crate) fn authenticate(&self, key: &SigningKey) -> Result<(), LogError> {
        let dir = self
            .path
            .parent()
            .map_or_else(|| ".".into(), |d| d.display().to_string());
        let refuse = |offset: u64, why: String| LogError::Corrupt {
            path: self.path.display().to_string(),
            offset,
            message: format!(
                "{why}. Nothing was changed: run `xop log verify {dir}` and restore the log from \
                 a backup"
            ),
        };
        let origin = self.header.origin.as_str();
        if let Some((note, offset)) = &self.scanned.checkpoint {
            let cp = Checkpoint::open(note, &key.verifying_key()).map_err(|e| {
                refuse(
                    *offset,
                    format!(
                        "the latest signed checkpoint (the frame at this byte) does not verify \
                         with the log's key ({e}): it was forged or changed, or the log is \
                         opened with another signing key than the one it was written with"
                    ),
                )
            })?;
            if cp.origin != origin {
                return Err(refuse(
                    *offset,
                    format!(
                        "the latest signed checkpoint (the frame at this byte) is of origin \
                         `{}`, but the log's header names `{origin}`: it was copied from another \
                         log",
                        cp.origin
                    ),
                ));
            }
            if self.scanned.tree.root_at(cp.size) != Some(cp.root) {
                return Err(refuse(
                    *offset,
                    format!(
                        "the latest signed checkpoint (the frame at this byte) signs a root for \
                         the tree of its {} records that is not the root of those records as \
                         they are: records it covers were changed, moved or swapped since it \
                         was signed (their hashes and commits recomputed)",
                        cp.size
                    ),
                ));
            }
        }
        let commit_key = CommitKey::derive(key);
        for c in &self.scanned.uncovered_commits {
            let records = if c.size.saturating_sub(c.from) == 1 {
                format!("record {}", c.from)
            } else {
                format!("records {} to {}", c.from, c.size.saturating_sub(1))
            };
            let after = match c.from {
                0 => "the log's records".to_string(),
                n => format!("the records after record {}", n - 1),
            };
            let Some(mac) = c.mac else {
                // A format-1 commit: no MAC to check, so nothing tells the writer's own unsigned
                // tail from a forged one. Only the version that wrote it may sign it.
                let how = if self.header.format < FORMAT {
                    format!(
                        "{after} were committed by an earlier version of xop that could not \
                         authenticate them (the commit at this byte, of {records}, carries no \
                         MAC), and no signed checkpoint covers them, so this version cannot tell \
                         them from records appended by someone without the log's key and does \
                         not sign them. Nothing was changed: open the log once with the version \
                         of xop that wrote it (its writer signs them when it opens the log), \
                         then upgrade; if that version did not write them, run `xop log verify \
                         {dir}` and restore the log from a backup"
                    )
                } else {
                    format!(
                        "the commit at this byte, of {records}, carries no MAC, though the log \
                         is of format {}, whose writer always writes one, and no signed \
                         checkpoint covers them: {after} were committed by an earlier version of \
                         xop that opened this log, or appended by someone without the log's key. \
                         Nothing was changed: if an earlier version wrote them, open the log once \
                         with it (its writer signs them when it opens the log), then upgrade; \
                         otherwise run `xop log verify {dir}` and restore the log from a backup",
                        self.header.format
                    )
                };
                return Err(LogError::Corrupt {
                    path: self.path.display().to_string(),
                    offset: c.offset,
                    message: how,
                });
            };
            if !commit_key.verifies(origin, c.size, &c.root, &mac) {
                return Err(refuse(
                    c.offset,
                    format!(
                        "{after} were not committed by this log's writer: the commit at this \
                         byte, of {records}, which no signed checkpoint covers, carries a MAC \
                         that does not verify with the log's key, so they were appended or \
                         changed by someone without it, and this writer would sign them"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Writer {
    /// Creates the log file in `dir` if there is none, scans it and judges what follows its
    /// last commit ([`judge_tail`]): a damaged log is refused here, before anything is
    /// written. Nothing is truncated yet (see [`Writer::start`]).
    pub(crate) fn prepare(dir: &Path, config: &LogConfig) -> Result<Prepared, LogError> {
        let path = dir.join("log.xpl");
        let exists = path.exists();
        if !exists {
            let origin = config
                .origin
                .clone()
                .unwrap_or_else(|| format!("xop.local/log/{}", &random_hex()));
            let header = serde_json::to_vec(&Header {
                format: FORMAT,
                origin: origin.clone(),
            })
            .map_err(|e| LogError::Config(e.to_string()))?;
            let mut bytes = MAGIC.to_vec();
            write_frame(&mut bytes, Tag::Header, &header, &leaf_hash(&header));
            // Written under a temporary name and renamed, so a log file always has its header.
            let tmp = dir.join("log.xpl.tmp");
            let mut f = File::create(&tmp).map_err(|e| LogError::io(&tmp, &e))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| LogError::io(&tmp, &e))?;
            std::fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, &e))?;
            // Its folder is synced once the keys are made too, before any record can be
            // acknowledged ([`super::ProofLog::open`]).
        }
        // Locked before anything is read: one writer per file even if `DIR/LOCK` was removed
        // (a second writer would make itself a new LOCK and write at its own offsets).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| LogError::io(&path, &e))?;
        lock_for_writing(&file, &path, dir)?;
        let scanned = scan_with_keys(&path)?;
        let Some(header) = scanned.header.clone() else {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                offset: 8,
                message: scanned.error.map_or_else(
                    || "the log has no header frame (it was cut short)".into(),
                    |e| format!("the header frame cannot be read: {}", e.message),
                ),
            });
        };
        if let Some(origin) = &config.origin
            && origin != &header.origin
        {
            return Err(LogError::Config(format!(
                "the log in `{}` has origin `{}`, not `{origin}`; use another folder for another log",
                dir.display(),
                header.origin
            )));
        }
        if let Some(e) = &scanned.root_mismatch {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                offset: e.offset,
                message: format!(
                    "{}. Nothing was changed: run `xop log verify {}` and restore the log from a \
                     backup",
                    e.message,
                    dir.display()
                ),
            });
        }
        let recovery = judge_tail(&path, &scanned)?;
        Ok(Prepared {
            path,
            file,
            header,
            scanned,
            recovery,
        })
    }

    /// Drops the torn tail [`Writer::prepare`] found (if any) and starts the writer thread.
    pub(crate) fn start(
        dir: &Path,
        config: &LogConfig,
        prepared: Prepared,
        key: SigningKey,
        keys: SubjectKeys,
    ) -> Result<(Writer, Recovery, String), LogError> {
        let Prepared {
            path,
            mut file,
            header,
            scanned,
            recovery,
        } = prepared;
        let tail = recovery.truncated_bytes;
        if tail > 0 {
            // Judged on the length scanned; the lock keeps other writers out, so a change
            // since means something else writes the file: touch nothing.
            let len = file.metadata().map_err(|e| LogError::io(&path, &e))?.len();
            if len != scanned.len {
                return Err(LogError::Config(format!(
                    "`{}` changed while it was opened ({} bytes, then {len}): another program \
                     writes it; nothing was truncated",
                    path.display(),
                    scanned.len
                )));
            }
            file.set_len(scanned.end)
                .and_then(|()| file.sync_all())
                .map_err(|e| LogError::io(&path, &e))?;
        }
        let end = file
            .seek(SeekFrom::End(0))
            .map_err(|e| LogError::io(&path, &e))?;
        // The writer's scan built the tree of the committed records, checking each commit.
        let tree = scanned.tree;
        let size = tree.size();
        let checkpoint = scanned.checkpoint.as_ref().map(|(n, _)| n.clone());
        let last_checkpoint_size = checkpoint.as_deref().and_then(note_size).unwrap_or(0);
        let reader = File::open(&path).map_err(|e| LogError::io(&path, &e))?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                entries: Vec::new(),
                waiters: Vec::new(),
                first_seq: size,
                durable: size,
                failed: None,
                closing: false,
            }),
            queued: Condvar::new(),
            durable: AtomicU64::new(size),
            failed: AtomicBool::new(false),
            view: RwLock::new(View {
                tree,
                records: scanned.records,
                checkpoint,
            }),
            keys: Mutex::new(keys),
            #[cfg(test)]
            fail_next: AtomicBool::new(false),
            #[cfg(test)]
            fail_after: AtomicU64::new(u64::MAX),
        });
        let mut state = WriterState {
            file,
            path: path.clone(),
            keys_path: dir.join("subjects.keys"),
            origin: header.origin.clone(),
            commit_key: CommitKey::derive(&key),
            key,
            end,
            every: config.checkpoint_every.max(1),
            interval: config.checkpoint_interval,
            max_batch: config.max_batch.max(1),
            last_checkpoint_size,
            last_checkpoint_at: Instant::now(),
        };
        // A log opened after a crash may end with committed records no signed checkpoint
        // covers yet: sign them now, so every acknowledged record is covered. Their commits'
        // MACs showed they are this log's own (`Prepared::authenticate`, before anything was
        // changed): records someone without the key appended or rewrote never get here.
        if size > last_checkpoint_size {
            state
                .write_batch(&shared, Vec::new(), size, true)
                .map_err(|e| LogError::Failed(e.to_string()))?;
        }
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("xop-proof-log".into())
            .spawn(move || state.run(&thread_shared))
            .map_err(|e| LogError::Config(format!("cannot start the log writer thread: {e}")))?;
        Ok((
            Writer {
                shared,
                thread: Some(thread),
                reader: Mutex::new(reader),
            },
            recovery,
            header.origin,
        ))
    }

    /// Queues `records` (their bytes without `seq`) with whoever waits for the last of them,
    /// and returns the first one's sequence number. Refuses them all if one is too large.
    fn enqueue(&self, records: Vec<Vec<u8>>, waiter: Waiter) -> Result<u64, LogError> {
        for r in &records {
            check_size(r.len())?;
        }
        let mut q = lock(&self.shared.queue);
        if let Some(why) = &q.failed {
            return Err(LogError::Failed(why.clone()));
        }
        if q.closing {
            return Err(LogError::Failed("the log is closing".into()));
        }
        let first = q.first_seq + q.entries.len() as u64;
        let n = records.len() as u64;
        if n == 0 {
            // Nothing to wait for: the waiter is answered now.
            drop(q);
            waiter.wake(&Ok(()));
            return Ok(first);
        }
        let was_empty = q.entries.is_empty();
        if was_empty {
            q.entries = records;
        } else {
            q.entries.extend(records);
        }
        q.waiters.push((first + n - 1, waiter));
        if was_empty {
            self.shared.queued.notify_one();
        }
        Ok(first)
    }

    /// Parks this thread until record `seq` is durable (or the log failed).
    fn wait_parked(&self, seq: u64) -> Result<(), LogError> {
        // The writer unparks this thread once the batch holding `seq` is synced (or the log
        // failed); an unpark that comes before `park` makes `park` return at once, and a
        // spurious return is looked at again.
        loop {
            if self.shared.durable.load(Ordering::Acquire) > seq {
                return Ok(());
            }
            if self.shared.failed.load(Ordering::Acquire) {
                return Err(LogError::Failed(
                    lock(&self.shared.queue)
                        .failed
                        .clone()
                        .unwrap_or_else(|| "the log failed".into()),
                ));
            }
            std::thread::park();
        }
    }

    /// Queues a record (its bytes without `seq`) and returns its sequence number once it is
    /// durable.
    pub(crate) fn append(&self, rest: Vec<u8>) -> Result<u64, LogError> {
        let seq = self.enqueue(vec![rest], Waiter::Thread(std::thread::current()))?;
        self.wait_parked(seq)?;
        Ok(seq)
    }

    /// Queues records (their bytes without `seq`) together and returns the first one's
    /// sequence number once all are durable: one wait for the lot.
    pub(crate) fn append_many(&self, records: Vec<Vec<u8>>) -> Result<u64, LogError> {
        let n = records.len() as u64;
        let first = self.enqueue(records, Waiter::Thread(std::thread::current()))?;
        if n > 0 {
            self.wait_parked(first + n - 1)?;
        }
        Ok(first)
    }

    /// Queues a record (its bytes without `seq`) and returns at once: the [`Durable`] future
    /// completes with its sequence number once it is durable.
    pub(crate) fn submit(&self, rest: Vec<u8>) -> Result<Durable, LogError> {
        let (tx, rx) = oneshot::channel();
        let seq = self.enqueue(vec![rest], Waiter::Future(tx))?;
        Ok(Durable { seq, rx })
    }

    /// The bytes of record `seq`, if it is durable.
    pub(crate) fn read(&self, seq: u64) -> Result<Option<Vec<u8>>, LogError> {
        let at = {
            let view = self
                .shared
                .view
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            usize::try_from(seq)
                .ok()
                .and_then(|i| view.records.get(i).copied())
        };
        let Some((offset, len)) = at else {
            return Ok(None);
        };
        let mut f = lock(&self.reader);
        let mut buf = vec![0u8; len as usize];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| LogError::Io {
                path: "log.xpl".into(),
                message: e.to_string(),
            })?;
        Ok(Some(buf))
    }

    /// Stops the writer after the queued records, with a final signed checkpoint.
    pub(crate) fn close(&mut self) -> Result<(), LogError> {
        {
            let mut q = lock(&self.shared.queue);
            q.closing = true;
            self.shared.queued.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match &lock(&self.shared.queue).failed {
            Some(why) => Err(LogError::Failed(why.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    // Only names the log; a failed random source leaves a fixed name, still valid.
    let _ = getrandom::fill(&mut b);
    crate::module::hex(&b)
}

/// Takes the exclusive `flock` on `file` (at `path`, of the log in `dir`) that keeps a second
/// writer out: [`LogError::Locked`] at once if another holds it.
pub(crate) fn lock_for_writing(file: &File, path: &Path, dir: &Path) -> Result<(), LogError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Locked {
            dir: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io(path, &e)),
    }
}

/// Syncs a directory, so that a file created or renamed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    // `Path::parent` of a bare name is the empty path: the current folder.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LogError::io(dir, &e))?;
    }
    #[cfg(test)]
    synced::note(dir);
    Ok(())
}

/// Creates `dir` and the folders above it that are missing, and syncs the parent of each
/// folder it created (from the top), so that a folder made for a log survives a power loss
/// with the files then synced in it. Returns whether `dir` was created.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<bool, LogError> {
    let missing: Vec<&Path> = (dir.ancestors())
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, &e))?;
    for created in missing.iter().rev() {
        sync_dir(created.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(!missing.is_empty())
}

/// Writes `bytes` to the file at `path` and syncs it: a new file (`create_new`: never through
/// a link, never over a file) with mode `mode` on Unix, or, when `replace`, the file there cut
/// to nothing first (its mode kept).
pub(crate) fn write_synced(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    replace: bool,
) -> Result<(), LogError> {
    let mut options = OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(|e| LogError::io(path, &e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io(path, &e))?;
    #[cfg(test)]
    synced::note(path);
    Ok(())
}

/// Tests: what this thread synced (files written by [`write_synced`], and folders), with
/// the names each folder held when it was synced: the seam that shows a new log's folder is
/// synced after all its files were created.
#[cfg(test)]
pub(crate) mod synced {
    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static SYNCED: RefCell<Vec<(PathBuf, Vec<String>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Notes that `path` was synced, with the names in it if it is a folder.
    pub(crate) fn note(path: &Path) {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        SYNCED.with(|s| s.borrow_mut().push((path, names)));
    }

    /// What this thread synced since the last call, in order.
    pub(crate) fn take() -> Vec<(PathBuf, Vec<String>)> {
        SYNCED.with(|s| std::mem::take(&mut *s.borrow_mut()))
    }
}

impl WriterState {
    fn run(mut self, shared: &Shared) {
        loop {
            let (batch, first_seq, closing) = {
                let mut q = lock(&shared.queue);
                loop {
                    if !q.entries.is_empty() || q.closing {
                        break;
                    }
                    let due = self
                        .interval
                        .saturating_sub(self.last_checkpoint_at.elapsed());
                    let uncovered = q.durable > self.last_checkpoint_size;
                    if uncovered && due.is_zero() {
                        break;
                    }
                    let wait = if uncovered {
                        due
                    } else {
                        Duration::from_secs(3600)
                    };
                    q = shared
                        .queued
                        .wait_timeout(q, wait)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
                // At most `max_batch` records and about MAX_BATCH_BYTES (at least one record):
                // the bound that lets opening tell a torn batch from damage (`judge_tail`).
                let mut bytes = 0usize;
                let n = q
                    .entries
                    .iter()
                    .take(self.max_batch)
                    .take_while(|e| {
                        let first = bytes == 0;
                        bytes += e.len() + RECORD_OVERHEAD;
                        first || bytes <= MAX_BATCH_BYTES
                    })
                    .count();
                // Taking the whole queue is the common case: swap the vector, copy nothing.
                let batch = if n == q.entries.len() {
                    std::mem::take(&mut q.entries)
                } else {
                    q.entries.drain(..n).collect()
                };
                let first = q.first_seq;
                q.first_seq += n as u64;
                (batch, first, q.closing && q.entries.is_empty())
            };
            let n = batch.len() as u64;
            let result = self.write_batch(shared, batch, first_seq, closing);
            let (wake, answer, stop) = {
                let mut q = lock(&shared.queue);
                let answer = match result {
                    Ok(()) => {
                        q.durable = first_seq + n;
                        shared.durable.store(q.durable, Ordering::Release);
                        Ok(())
                    }
                    Err(e) => {
                        let why = e.to_string();
                        q.failed = Some(why.clone());
                        shared.failed.store(true, Ordering::Release);
                        Err(LogError::Failed(why))
                    }
                };
                let stop = q.failed.is_some() || closing;
                // The waiters whose last record is now durable; a failed log answers everyone
                // still queued (with the error): no later caller queues, `failed` is set under
                // the lock they take.
                let durable = q.durable;
                let k = if q.failed.is_some() {
                    q.waiters.len()
                } else {
                    q.waiters.partition_point(|(last, _)| *last < durable)
                };
                let wake: Vec<(u64, Waiter)> = if k == q.waiters.len() {
                    std::mem::take(&mut q.waiters)
                } else {
                    q.waiters.drain(..k).collect()
                };
                (wake, answer, stop)
            };
            // Outside the lock: the woken callers do not have to wait for it.
            for (_, w) in wake {
                w.wake(&answer);
            }
            if stop {
                return;
            }
        }
    }

    /// Writes one batch: its records, a commit, and a signed checkpoint when one is due
    /// (or `force`d); one write and one sync.
    fn write_batch(
        &mut self,
        shared: &Shared,
        batch: Vec<Vec<u8>>,
        first_seq: u64,
        force: bool,
    ) -> Result<(), LogError> {
        // Keys first: a record must never be durable before the key its evidence used.
        lock(&shared.keys).flush(&self.keys_path)?;
        let mut out = Vec::with_capacity(batch.iter().map(|r| r.len() + 64).sum::<usize>() + 512);
        // The file must be as this writer left it: the locks keep other xop writers out, but
        // not a program that ignores them (or an xop from before the lock on `log.xpl`, after
        // `LOCK` was removed). Writing on would put this batch over what it wrote, or after a
        // part it never read: acknowledged records lost, or another writer's numbering mixed
        // with ours. One `fstat` per batch.
        let len = self
            .file
            .metadata()
            .map_err(|e| LogError::io(&self.path, &e))?
            .len();
        if len != self.end {
            return Err(LogError::Io {
                path: self.path.display().to_string(),
                message: format!(
                    "another program changed this file while the log was open for writing: it \
                     is {len} bytes long, where this writer's own writes ended at byte {}; \
                     nothing more is written or acknowledged. Stop the other program (another \
                     xop writing the same folder after its `LOCK` was removed?), then run `xop \
                     log verify {}` before reopening the log",
                    self.end,
                    self.path
                        .parent()
                        .map_or_else(|| ".".into(), |d| d.display().to_string())
                ),
            });
        }
        let offset = self.end;
        let mut new_records = Vec::with_capacity(batch.len());
        let mut hashes = Vec::with_capacity(batch.len());
        for (i, rest) in batch.iter().enumerate() {
            // The frame built in place (`write_frame`'s layout): the record is numbered straight
            // into the batch's bytes and hashed there, not built apart and copied in.
            let before = out.len();
            out.push(Tag::Record.byte());
            out.extend_from_slice(&[0u8; FRAME_HEADER - 1]);
            let body = out.len();
            with_seq(first_seq + i as u64, rest, &mut out);
            let len = out.len() - body;
            let h = leaf_hash(&out[body..]);
            // Records are checked against MAX_FRAME when queued.
            out[before + 1..before + 5].copy_from_slice(&(len as u32).to_le_bytes());
            out[before + 5..body].copy_from_slice(&h);
            new_records.push((offset + body as u64, len as u32));
            hashes.push(h);
        }
        let (size, root) = {
            let mut view = shared
                .view
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Numbering is the queue's; the tree must agree with it before anything is written.
            if view.tree.size() != first_seq {
                return Err(LogError::Failed(format!(
                    "internal: the tree has {} records, the batch starts at {first_seq}",
                    view.tree.size()
                )));
            }
            // Readers only look at the first `records.len()` leaves (the durable ones), so the
            // tree may run ahead of the disk while the batch is written.
            for h in &hashes {
                view.tree.push(*h);
            }
            (view.tree.size(), view.tree.root())
        };
        if !batch.is_empty() {
            let body = authenticated_commit_body(&self.commit_key, &self.origin, size, &root);
            write_frame(&mut out, Tag::Commit, &body, &leaf_hash(&body));
        }
        let due = size - self.last_checkpoint_size >= self.every
            || (size > self.last_checkpoint_size
                && self.last_checkpoint_at.elapsed() >= self.interval);
        let mut note = None;
        if (due || force) && size > self.last_checkpoint_size {
            let text = Checkpoint {
                origin: self.origin.clone(),
                size,
                root,
            }
            .sign(&self.key);
            write_frame(
                &mut out,
                Tag::Checkpoint,
                text.as_bytes(),
                &leaf_hash(text.as_bytes()),
            );
            note = Some(text);
        }
        if out.is_empty() {
            return Ok(());
        }
        #[cfg(test)]
        if shared.fail_next.swap(false, Ordering::AcqRel) {
            return Err(LogError::Io {
                path: self.path.display().to_string(),
                message: "No space left on device (injected by a test)".into(),
            });
        }
        #[cfg(test)]
        {
            let keep = shared.fail_after.swap(u64::MAX, Ordering::AcqRel);
            if keep != u64::MAX {
                let keep = usize::try_from(keep).unwrap_or(usize::MAX).min(out.len());
                self.file
                    .write_all(&out[..keep])
                    .and_then(|()| self.file.sync_data())
                    .map_err(|e| LogError::io(&self.path, &e))?;
                return Err(LogError::Io {
                    path: self.path.display().to_string(),
                    message: format!(
                        "No space left on device (injected by a test after {keep} bytes)"
                    ),
                });
            }
        }
        self.file
            .write_all(&out)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LogError::io(&self.path, &e))?;
        self.end += out.len() as u64;
        let mut view = shared
            .view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        view.records.extend(new_records);
        if let Some(n) = note {
            view.checkpoint = Some(n);
            self.last_checkpoint_size = size;
            self.last_checkpoint_at = Instant::now();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Body, Entry, time_text};
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

    /// Batches of 3 records at most, so that a lot spans several syncs.
    fn small_batches(dir: &Path) -> ProofLog {
        let config = LogConfig {
            origin: Some("test.xop/log".into()),
            max_batch: 3,
            ..LogConfig::default()
        };
        ProofLog::open(dir, config).unwrap()
    }

    fn block_on<F: Future + Unpin>(mut f: F) -> F::Output {
        struct Unpark(Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = Pin::new(&mut f).poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn a_lot_spanning_batches_is_acknowledged_once_its_last_record_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_batches(dir.path());
        let entries: Vec<Entry> = (0..10).map(event).collect();
        assert_eq!(log.append_many(&entries).unwrap(), 0..10);
        // Four syncs of at most 3: the caller was woken by the last, not the first.
        assert_eq!(log.size(), 10);
        for i in 0..10 {
            let bytes = log.record_bytes(i).unwrap().unwrap();
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains(&format!("\"test.e{i}\"")), "{text}");
        }
        assert_eq!(log.append_many(&[]).unwrap(), 10..10);
    }

    #[test]
    fn futures_complete_with_their_own_sequence_numbers_once_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_batches(dir.path());
        let held = log.hold_writer();
        let mut pending: Vec<Durable> = (0..7).map(|i| log.submit(&event(i)).unwrap()).collect();
        let seqs: Vec<u64> = pending.iter().map(Durable::seq).collect();
        assert_eq!(seqs, (0..7).collect::<Vec<_>>());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for d in pending.iter_mut() {
            assert!(
                Pin::new(d).poll(&mut cx).is_pending(),
                "answered before written"
            );
        }
        assert_eq!(log.size(), 0);
        drop(held);
        // Completed out of order: each still answers for its own record.
        for d in pending.into_iter().rev() {
            let seq = d.seq();
            assert_eq!(block_on(d), Ok(seq));
            assert_eq!(log.size(), 7, "answered before the last batch was durable");
            let text = String::from_utf8(log.record_bytes(seq).unwrap().unwrap()).unwrap();
            assert!(text.contains(&format!("\"test.e{seq}\"")), "{text}");
        }
    }

    #[test]
    fn a_failed_write_answers_every_waiter_with_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = small_batches(dir.path());
        let held = log.hold_writer();
        let pending: Vec<Durable> = (0..5).map(|i| log.submit(&event(i)).unwrap()).collect();
        log.fail_next_batch();
        drop(held);
        for d in pending {
            assert!(matches!(block_on(d), Err(LogError::Failed(_))));
        }
        assert!(matches!(log.append(&event(9)), Err(LogError::Failed(_))));
        assert!(matches!(log.submit(&event(9)), Err(LogError::Failed(_))));
        assert_eq!(log.size(), 0);
    }

    #[test]
    fn a_complete_record_after_the_last_commit_must_be_numbered_as_the_writer_numbers_it() {
        // QA: a copy of an earlier record appended at the end was taken for a torn batch
        // (dropped by writers, a note for `verify`); a crash cuts records short, it does not
        // renumber them.
        let dir = tempfile::tempdir().unwrap();
        let log = small_batches(dir.path());
        log.append_many(&[event(0), event(1)]).unwrap();
        log.close().unwrap();
        let path = dir.path().join("log.xpl");
        let original = std::fs::read(&path).unwrap();
        let end = original.len() as u64;
        let frames: Vec<Frame> = Frames::open(&path).unwrap().map(Result::unwrap).collect();
        let copy_of = |seq: u64| {
            let f = frames
                .iter()
                .filter(|f| f.tag == Tag::Record)
                .nth(seq as usize);
            let f = f.unwrap();
            let mut bytes = Vec::new();
            write_frame(&mut bytes, Tag::Record, &f.body, &f.hash);
            bytes
        };
        let mut appended = original.clone();
        appended.extend_from_slice(&copy_of(1));
        std::fs::write(&path, &appended).unwrap();
        let scanned = scan(&path).unwrap();
        let err = judge_tail(&path, &scanned).unwrap_err();
        let LogError::Corrupt {
            offset, message, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*offset, end);
        assert!(
            message.contains("is not numbered 2 (it starts `{\"seq\":1,"),
            "{message}"
        );
        assert!(matches!(
            ProofLog::open(dir.path(), LogConfig::default()),
            Err(LogError::Corrupt { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), appended);

        // Numbered as the writer numbers it: a torn batch.
        let mut record = Vec::new();
        with_seq(2, b"{\"kind\":\"event\"}", &mut record);
        let mut torn = original.clone();
        write_frame(&mut torn, Tag::Record, &record, &leaf_hash(&record));
        std::fs::write(&path, &torn).unwrap();
        let r = judge_tail(&path, &scan(&path).unwrap()).unwrap();
        assert_eq!((r.offset, r.truncated_records), (end, 1));
        assert!(numbered(b"{\"seq\":2}", 2) && !numbered(b"{\"seq\":21,", 2));
    }

    #[test]
    fn a_commit_mac_is_hmac_sha256_under_the_derived_key_over_label_origin_size_and_root() {
        use hmac::Mac;
        use sha2::Digest;
        let signing = SigningKey::from_bytes(&[3; 32]);
        let key = CommitKey::derive(&signing);
        // The key padded to a block gives the MAC of the 32-byte key, as HMAC defines it.
        let mut derived = sha2::Sha256::new();
        derived.update(b"xop-log-commit-mac-key\0");
        derived.update([3u8; 32]);
        let mut reference =
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&derived.finalize()).unwrap();
        reference.update(b"xop-log-commit\0");
        reference.update(&5u64.to_le_bytes());
        reference.update(b"a/log");
        reference.update(&7u64.to_le_bytes());
        reference.update(&[4; 32]);
        let mac = key.mac("a/log", 7, &[4; 32]);
        assert_eq!(mac[..], reference.finalize().into_bytes()[..]);
        assert!(key.verifies("a/log", 7, &[4; 32], &mac));
        for (origin, size, root) in [
            ("a/lo", 7, [4; 32]),
            ("a/log", 8, [4; 32]),
            ("a/log", 7, [5; 32]),
        ] {
            assert!(!key.verifies(origin, size, &root, &mac));
        }
        assert!(
            !CommitKey::derive(&SigningKey::from_bytes(&[2; 32]))
                .verifies("a/log", 7, &[4; 32], &mac)
        );

        // Both lengths read as size and root; only the longer has a MAC; others are no commit.
        let long = authenticated_commit_body(&key, "a/log", 7, &[4; 32]);
        let short = commit_body(7, &[4; 32]);
        assert_eq!(parse_commit(&long), Some((7, [4; 32])));
        assert_eq!(parse_commit(&short), Some((7, [4; 32])));
        assert_eq!(commit_mac(&long), Some(mac));
        assert_eq!(commit_mac(&short), None);
        assert_eq!(parse_commit(&long[..71]), None);
        assert_eq!(parse_commit(&[0; 41]), None);
    }

    #[test]
    fn a_batch_holds_about_max_batch_bytes_of_records_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), LogConfig::default()).unwrap();
        let big = |i: u64| Entry {
            time: time_text(0),
            body: Body::Event {
                name: format!("test.big{i}"),
                data: serde_json::json!({ "pad": "x".repeat(MAX_BATCH_BYTES / 2 - 1000) }),
            },
        };
        let held = log.hold_writer();
        let pending: Vec<Durable> = (0..4).map(|i| log.submit(&big(i)).unwrap()).collect();
        drop(held);
        for d in pending {
            block_on(d).unwrap();
        }
        log.close().unwrap();
        // Queued together (the writer may have taken the first before the rest came), never
        // more than two in a batch: each under the bound that lets opening tell a torn batch
        // from damage.
        let mut commits = Vec::new();
        let mut start = MAGIC.len() as u64;
        for f in Frames::open(&dir.path().join("log.xpl")).unwrap() {
            let f = f.unwrap();
            if f.tag == Tag::Commit {
                commits.push(f.end() - start);
            }
            if f.tag != Tag::Record {
                start = f.end();
            }
        }
        assert!(commits.len() >= 2, "{commits:?}");
        let bound = MAX_BATCH_BYTES as u64 + 4096;
        assert!(commits.iter().all(|&len| len <= bound), "{commits:?}");
    }

    /// A new log's files are each synced (`log.pub` and `log.key` here; `log.xpl` and
    /// `subjects.keys` where they are made), and its folder once they are all in it, before
    /// `open` returns (so before any record can be acknowledged); the folders made for it are
    /// synced into their parents. Opening the log again creates and syncs nothing.
    #[test]
    fn a_new_logs_files_and_folders_are_synced_before_any_record() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a").join("data");
        synced::take();
        let log = ProofLog::open(&dir, LogConfig::default()).unwrap();
        let synced = synced::take();
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap();
        let at = |p: &Path| synced.iter().position(|(s, _)| *s == canon(p));
        let (top_at, a_at) = (at(top.path()), at(&top.path().join("a")));
        assert!(top_at.is_some() && a_at.is_some(), "{synced:?}");
        for file in ["log.key", "log.pub"] {
            assert!(at(&dir.join(file)).is_some(), "{file}: {synced:?}");
        }
        // The folder's last sync came after every file of the new log was in it.
        let (last, names) = (synced.iter().rev())
            .find(|(p, _)| *p == canon(&dir))
            .expect("the data folder is synced");
        assert_eq!(last, &canon(&dir));
        for name in ["log.xpl", "log.key", "log.pub", "subjects.keys", "modules"] {
            assert!(names.contains(&name.to_string()), "{name}: {names:?}");
        }
        assert_eq!(log.size(), 0);
        log.append_event("test.e", serde_json::json!(1)).unwrap();
        log.close().unwrap();
        ProofLog::open(&dir, LogConfig::default())
            .unwrap()
            .close()
            .unwrap();
        assert_eq!(
            synced::take(),
            Vec::new(),
            "a log with records creates nothing"
        );
    }
}
