//! The proof log: every decision as a record in an append-only, tamper-evident log
//! (DESIGN.md §4; the format and the reasoning behind it: `docs/proof-log.md`).
//!
//! - [`record`]: what a record holds and its canonical encoding;
//! - [`evidence`]: the input values a policy's rules read (statically), `@personal` ones as
//!   keyed hashes; and the replayable input rebuilt from them;
//! - [`merkle`]: the RFC 9162 tree, inclusion and consistency proofs;
//! - [`checkpoint`]: C2SP signed checkpoints;
//! - [`store`]: the log file and its group-commit writer;
//! - [`keys`]: the subject keys (erasable) and the log's signing key;
//! - [`verify`]: what `xop log verify` checks, and a read-only view of a log.
//!
//! A log lives in a folder: `log.xpl` (the records, commits and checkpoints), `subjects.keys`,
//! `log.key`/`log.pub` (unless the caller brings its own key), `modules/<sha256>.xopm` (every
//! module a record refers to, for replay and explanations) and `LOCK` (one writer at a time;
//! the writer also locks `log.xpl` itself).

pub mod checkpoint;
pub mod evidence;
pub mod keys;
pub mod merkle;
pub mod record;
pub mod replay;
pub mod store;
pub mod verify;

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};

use self::checkpoint::Checkpoint;
use self::evidence::KeyProvider;
use self::keys::SubjectKeys;
use self::merkle::Hash;
use self::record::{Body, Entry, encode, time_text};
pub use self::store::Durable;
use self::store::{Recovery, Writer};
use crate::io::reason;
use crate::module::hex;

/// How a log is opened.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// The log's origin (the name its checkpoints are signed under), for a new log; checked
    /// against an existing one. `None`: `xop.local/log/<random>` for a new log.
    pub origin: Option<String>,
    /// The checkpoint signing key; `None`: `log.key` in the folder, created with the log (a
    /// log with records whose `log.key` is missing is refused: restore the key).
    pub signing_key: Option<SigningKey>,
    /// Sign a checkpoint after this many records …
    pub checkpoint_every: u64,
    /// … or when this much time has passed with records not yet covered, whichever is first.
    pub checkpoint_interval: Duration,
    /// The most records in one batch (one sync).
    pub max_batch: usize,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            origin: None,
            signing_key: None,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            max_batch: 16_384,
        }
    }
}

/// What went wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogError {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// A file is damaged, at this byte offset.
    Corrupt {
        /// The file.
        path: String,
        /// Where.
        offset: u64,
        /// What is wrong, and what to do.
        message: String,
    },
    /// Another process has the log open for writing.
    Locked {
        /// The log's folder.
        dir: String,
    },
    /// A configuration problem (a wrong origin, an unreadable key).
    Config(String),
    /// The subject key file lacks keys that committed records name, with no erasure record
    /// naming them (it was cut short, a slot was zeroed by hand, an older copy was put back).
    MissingKeys {
        /// The key file.
        path: String,
        /// Which key, named by which record, and what to do.
        message: String,
    },
    /// The writer failed earlier (a full disk, an I/O error): nothing more is acknowledged.
    /// Reopen the log after fixing the cause; the interrupted batch is discarded.
    Failed(String),
    /// A record too large for one frame.
    TooLarge {
        /// Its size in bytes.
        len: usize,
    },
}

impl LogError {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> LogError {
        LogError::Io {
            path: path.display().to_string(),
            message: reason(e),
        }
    }
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io { path, message } => write!(f, "`{path}`: {message}"),
            LogError::Corrupt {
                path,
                offset,
                message,
            } => write!(f, "`{path}` is damaged at byte {offset}: {message}"),
            LogError::Locked { dir } => write!(
                f,
                "the proof log in `{dir}` is open for writing by another process (a running \
                 `xop serve`?); stop it first, or use its API"
            ),
            LogError::Config(m) => f.write_str(m),
            LogError::MissingKeys { path, message } => {
                write!(
                    f,
                    "`{path}` does not hold the log's subject keys: {message}"
                )
            }
            LogError::Failed(m) => write!(
                f,
                "the proof log stopped accepting records: {m}; fix the cause and reopen the log"
            ),
            LogError::TooLarge { len } => write!(
                f,
                "a record of {len} bytes is larger than a log frame ({} bytes); the input is too \
                 large to prove",
                store::MAX_FRAME
            ),
        }
    }
}

impl std::error::Error for LogError {}

/// An inclusion proof of one record, against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The record's sequence number (its leaf index).
    pub seq: u64,
    /// The record's bytes (its leaf), as text.
    pub record: String,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path, hex, leaf to root.
    pub path: Vec<String>,
    /// The signed checkpoint (C2SP signed note) of that tree size.
    pub checkpoint: String,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError(pub String);

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProofError {}

impl InclusionProof {
    /// Checks the proof: the checkpoint is signed by `key`, its size is the proof's, and the
    /// record's leaf hash with the path gives the checkpoint's root.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Checkpoint, ProofError> {
        let cp = Checkpoint::open(&self.checkpoint, key)
            .map_err(|e| ProofError(format!("the checkpoint does not verify: {e}")))?;
        if cp.size != self.tree_size {
            return Err(ProofError(format!(
                "the proof is for tree size {}, the checkpoint is of size {}",
                self.tree_size, cp.size
            )));
        }
        let mut path = Vec::with_capacity(self.path.len());
        for h in &self.path {
            path.push(unhex32(h).ok_or_else(|| {
                ProofError(format!("`{h}` in the path is not a 64-digit hex hash"))
            })?);
        }
        let leaf = merkle::leaf_hash(self.record.as_bytes());
        if !merkle::verify_inclusion(&leaf, self.seq, self.tree_size, &path, &cp.root) {
            return Err(ProofError(format!(
                "record {} is not in the tree of size {} signed by the checkpoint: the record or \
                 the path was altered",
                self.seq, self.tree_size
            )));
        }
        Ok(cp)
    }
}

/// 64 hex digits to 32 bytes.
pub fn unhex32(s: &str) -> Option<Hash> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// An open proof log, writable by this process.
pub struct ProofLog {
    dir: PathBuf,
    writer: Writer,
    origin: String,
    verifying_key: VerifyingKey,
    recovery: Recovery,
    /// What [`Self::store_module`] found wrong and repaired in `modules/`, for the operator
    /// ([`Self::take_warnings`]); its lock also keeps one module being stored at a time.
    warnings: std::sync::Mutex<Vec<String>>,
    // Held for the log's lifetime: one writer per folder.
    _lock: File,
}

impl fmt::Debug for ProofLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofLog")
            .field("dir", &self.dir)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl ProofLog {
    /// Opens the log in `dir` (created if needed) for writing: takes the folder's lock and an
    /// exclusive lock on `log.xpl` itself ([`LogError::Locked`] if another process holds
    /// either), discards a batch a crash interrupted (never an acknowledged one;
    /// [`Self::recovery`] says what was dropped, for the operator), signs a checkpoint over
    /// acknowledged records no checkpoint covers yet, and starts the writer. A damaged log
    /// (anything after the last commit that cannot be one torn batch, see
    /// [`store::judge_tail`]) is refused with [`LogError::Corrupt`] and left as it is; so is a
    /// log it cannot take as its own, before anything is changed: a commit whose root is not
    /// the root of the records before it, a latest signed checkpoint that does not verify with
    /// the log's key and origin or does not sign the root of the records it covers, or a
    /// commit after that checkpoint without a MAC that verifies with the log's key (records
    /// someone without the key appended or changed, or that an earlier xop, whose commits
    /// carry no MAC, left unsigned: see [`store`]); so is a log with records whose `log.key` (when
    /// the caller brings no key) or `subjects.keys` is missing, one whose `subjects.keys`
    /// lacks a key that a committed record names with no erasure record naming it
    /// ([`LogError::MissingKeys`]), and one whose `subjects.keys` has a slot that cannot be
    /// trusted ([`LogError::Corrupt`] at the slot: see [`keys::check`]). An erasure whose
    /// record is durable but whose key a crash left in the file is finished
    /// ([`Recovery::finished_erasures`]).
    pub fn open(dir: &Path, config: LogConfig) -> Result<ProofLog, LogError> {
        // A folder made here is synced into its parent: its files are synced below.
        store::create_dir_durably(dir)?;
        std::fs::create_dir_all(dir.join("modules")).map_err(|e| LogError::io(dir, &e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| LogError::io(&lock_path, &e))?;
        store::lock_for_writing(&lock, &lock_path, dir)?;
        // Damage is refused before anything is created or changed.
        let prepared = Writer::prepare(dir, &config)?;
        // Keys are made with a new log only: made later, they would silently replace the key
        // earlier checkpoints were signed with, or every subject's key.
        let history = (!prepared.is_new()).then(|| prepared.size());
        let key = match &config.signing_key {
            Some(k) => k.clone(),
            None => keys::load_or_create_signing_key(dir, history)?,
        };
        let verifying_key = key.verifying_key();
        // Before anything is changed (an erasure finished, a tail dropped, records signed):
        // the writer signs the records no checkpoint covers, so they must be its own.
        prepared.authenticate(&key)?;
        let keys_path = dir.join("subjects.keys");
        let mut subject_keys = SubjectKeys::open(&keys_path, history)?;
        if history.is_none() {
            // A new log: `log.xpl`, `log.key`, `log.pub`, `subjects.keys` (each synced as it
            // was made) and `modules/` are made durable in their folder together, before any
            // record can be acknowledged. Without it a power loss could keep an acknowledged
            // record and lose the key it was signed with, or a subject's key: the log would
            // then be refused for writing for good.
            store::sync_dir(dir)?;
        }
        // Keys are synced before the records that use them: a committed record whose key is
        // gone, with no erasure record, is damage, and so is a slot that cannot be trusted (a
        // changed one, a copy, one partly zero). Refused before anything changes, and never
        // answered with a new key, which would hide the loss, or with an erasure that leaves a
        // copy of the key.
        let checked = keys::check(prepared.key_refs(), subject_keys.contents());
        if let Some((offset, why)) = checked.damage_message() {
            return Err(LogError::Corrupt {
                path: keys_path.display().to_string(),
                offset,
                message: format!(
                    "{why}. Nothing was changed: restore `{}` from a backup (`xop log verify {}` \
                     lists what is wrong)",
                    keys_path.display(),
                    dir.display()
                ),
            });
        }
        if let Some(why) = checked.missing_message("it") {
            return Err(LogError::MissingKeys {
                path: keys_path.display().to_string(),
                message: format!(
                    "{why}. Nothing was changed: restore `{}` from a backup made after record \
                     {} was written (`xop log verify {}` lists what is missing)",
                    keys_path.display(),
                    checked
                        .missing
                        .iter()
                        .map(|(_, seq)| *seq)
                        .max()
                        .unwrap_or(0),
                    dir.display()
                ),
            });
        }
        // An erasure record is made durable before the key's slot is zeroed: a crash in
        // between left the key, which is erased now.
        for (id, _) in &checked.unerased {
            subject_keys.erase_id(id, &keys_path)?;
        }
        let (writer, mut recovery, origin) =
            Writer::start(dir, &config, prepared, key, subject_keys)?;
        recovery.finished_erasures = checked.unerased;
        Ok(ProofLog {
            dir: dir.to_path_buf(),
            writer,
            origin,
            verifying_key,
            recovery,
            warnings: std::sync::Mutex::new(Vec::new()),
            _lock: lock,
        })
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public key its checkpoints verify with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }

    /// What opening the log recovered from (an interrupted batch it discarded).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// What to tell the operator about [`Self::recovery`] (`None`: nothing was dropped).
    pub fn recovery_warning(&self) -> Option<String> {
        self.recovery.warning(&self.dir.join("log.xpl"))
    }

    /// Appends a record and returns its sequence number once it is durable (group commit:
    /// concurrent callers share one sync).
    pub fn append(&self, entry: &Entry) -> Result<u64, LogError> {
        self.writer.append(encode(entry))
    }

    /// Appends records together and returns their sequence numbers (consecutive, in order)
    /// once all are durable: the calling thread waits once for the lot, not once per record.
    /// If one is refused (too large), none is appended.
    pub fn append_many(&self, entries: &[Entry]) -> Result<std::ops::Range<u64>, LogError> {
        let n = entries.len() as u64;
        let first = self
            .writer
            .append_many(entries.iter().map(encode).collect())?;
        Ok(first..first + n)
    }

    /// Queues a record and returns at once, without waiting for the disk: the returned
    /// [`Durable`] future completes with the record's sequence number once it is durable, or
    /// with the error that stopped the log (then the record must be taken as never written).
    /// Many records can be in flight from one thread or task; the writer completes every
    /// future of a batch after its one sync.
    pub fn submit(&self, entry: &Entry) -> Result<Durable, LogError> {
        self.writer.submit(encode(entry))
    }

    /// Appends a record already encoded (`rest`: [`record::encode`]'s bytes, or
    /// [`record::encode_with_evidence`]'s); as [`Self::append`].
    pub(crate) fn append_encoded(&self, rest: Vec<u8>) -> Result<u64, LogError> {
        self.writer.append(rest)
    }

    /// [`Self::append_many`] of records already encoded; returns the first sequence number.
    pub(crate) fn append_many_encoded(&self, records: Vec<Vec<u8>>) -> Result<u64, LogError> {
        self.writer.append_many(records)
    }

    /// [`Self::submit`] of a record already encoded.
    pub(crate) fn submit_encoded(&self, rest: Vec<u8>) -> Result<Durable, LogError> {
        self.writer.submit(rest)
    }

    /// Appends an event record (`kind: "event"`) now: e.g. a review's outcome. `data` must hold
    /// no personal data in clear.
    pub fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, LogError> {
        self.append(&Entry {
            time: time_text(jiff::Timestamp::now().as_millisecond()),
            body: Body::Event {
                name: name.to_string(),
                data,
            },
        })
    }

    /// How many records are durable.
    pub fn size(&self) -> u64 {
        self.read_view(|v| v.records.len() as u64)
    }

    /// The bytes of record `seq`, if it is durable.
    pub fn record_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>, LogError> {
        self.writer.read(seq)
    }

    /// The latest signed checkpoint (a C2SP signed note), if one was written.
    pub fn checkpoint(&self) -> Option<String> {
        self.read_view(|v| v.checkpoint.clone())
    }

    /// The inclusion proof of record `seq` against the latest signed checkpoint. `Ok(None)`
    /// when no checkpoint covers it yet (one is signed within the configured interval).
    pub fn prove(&self, seq: u64) -> Result<Option<InclusionProof>, LogError> {
        let Some(note) = self.checkpoint() else {
            return Ok(None);
        };
        let body_end = note.rfind("\n\n").map_or(note.len(), |i| i + 1);
        let cp = Checkpoint::parse_body(&note[..body_end])
            .map_err(|e| LogError::Failed(format!("internal: own checkpoint: {e}")))?;
        if seq >= cp.size {
            return Ok(None);
        }
        let path = self.read_view(|v| v.tree.inclusion_proof(seq, cp.size));
        let (Some(path), Some(bytes)) = (path, self.record_bytes(seq)?) else {
            return Ok(None);
        };
        Ok(Some(InclusionProof {
            seq,
            record: String::from_utf8_lossy(&bytes).into_owned(),
            tree_size: cp.size,
            path: path.iter().map(|h| hex(h)).collect(),
            checkpoint: note,
        }))
    }

    /// Erases `subject`'s hash key (GDPR Art. 17) and records the erasure. The records keep
    /// their hashes, so the tree and every proof stay valid, but the subject's `@personal`
    /// evidence can no longer be linked to any value. Returns the erasure record's sequence
    /// number, or `None` if the subject has no key: nothing of theirs was logged, or they were
    /// erased before (nothing links an erased subject to its erasure record, by design).
    ///
    /// The erasure record is made durable first, then the key is taken out of use (a later
    /// decision about the subject gets a new key) and its slot zeroed: a crash after the
    /// record leaves the key in the file, and the next [`ProofLog::open`] erases it. In the
    /// other order a crash would leave records naming a key that is gone with no record of its
    /// erasure, which opening refuses as damage. Until the record is durable the key stays in
    /// use, so a decision about the subject meanwhile is hashed with it (and erased with it):
    /// a new key made then could be synced before a crash cut the erasure short, leaving the
    /// subject two live keys, which opening refuses as damage.
    pub fn erase_subject(&self, subject: &str) -> Result<Option<u64>, LogError> {
        let Some(id) = self.keys().begin_erasure(subject) else {
            return Ok(None);
        };
        let appended = self.append(&Entry {
            time: time_text(jiff::Timestamp::now().as_millisecond()),
            body: Body::Erasure { key: hex(&id) },
        });
        let seq = match appended {
            Ok(seq) => seq,
            Err(e) => {
                self.keys().abandon_erasure(subject);
                return Err(e);
            }
        };
        self.keys()
            .finish_erasure(subject, &self.dir.join("subjects.keys"))?;
        Ok(Some(seq))
    }

    /// Keeps a module's file (`bytes`, whose SHA-256 is `content_hash`) in
    /// `modules/<sha256 hex>.xopm`, so that replay and explanations find the module a record
    /// names. Idempotent when the copy there is right: a regular file (or a symbolic link to
    /// one) holding exactly `bytes`. Anything else in its place (a copy emptied or changed, a
    /// named pipe, a device, a dangling link) is replaced atomically by the module's file and
    /// reported by [`Self::take_warnings`]: the module's decisions must stay replayable. A
    /// folder in its place, a module larger than [`MAX_KEPT_MODULE`], or a copy that cannot be
    /// written is an error, and the caller must not decide with the module: its decisions
    /// could not be replayed.
    pub fn store_module(&self, content_hash: &[u8; 32], bytes: &[u8]) -> Result<(), LogError> {
        let mut warnings = self
            .warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = store_module(&self.dir, content_hash, bytes)? {
            warnings.push(w);
        }
        Ok(())
    }

    /// What was found wrong in `modules/` and repaired since the last call (a kept copy of a
    /// module that was damaged and replaced), to tell the operator: something other than xop
    /// changed the log folder.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Stops the writer after what is queued, with a final signed checkpoint.
    pub fn close(mut self) -> Result<(), LogError> {
        self.writer.close()
    }

    /// Tests: the writer's next batch fails as on a full disk (the log then stops).
    #[cfg(test)]
    pub(crate) fn fail_next_batch(&self) {
        self.writer
            .shared
            .fail_next
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Tests: the writer's next batch stops after `bytes` of it are written and synced, as
    /// on a disk that fills up during the write (the log then stops, leaving a torn batch).
    #[cfg(test)]
    pub(crate) fn fail_next_batch_after(&self, bytes: u64) {
        self.writer
            .shared
            .fail_after
            .store(bytes, std::sync::atomic::Ordering::Release);
    }

    /// Tests: holds the writer before its next batch is written, while the guard lives (the
    /// writer takes the subject keys' lock first).
    #[cfg(test)]
    pub(crate) fn hold_writer(&self) -> std::sync::MutexGuard<'_, SubjectKeys> {
        self.keys()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, SubjectKeys> {
        self.writer
            .shared
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_view<T>(&self, f: impl FnOnce(&store::View) -> T) -> T {
        let v = self
            .writer
            .shared
            .view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&v)
    }
}

impl KeyProvider for ProofLog {
    fn key_for(&self, subject: &str) -> Result<([u8; 16], [u8; 32]), String> {
        self.keys().key_for(subject).map_err(|e| e.to_string())
    }
}

/// The path of module `content_hash` in a log folder.
pub fn module_path(dir: &Path, content_hash: &str) -> PathBuf {
    dir.join("modules").join(format!("{content_hash}.xopm"))
}

/// The largest module file a log keeps in `modules/` and replay reads back: 256 MiB, far above
/// any policy set's module (a few KiB to a few MiB). A larger file in `modules/` is refused
/// unread, and a larger module is not kept (nor decided with, by a runtime with a log).
pub const MAX_KEPT_MODULE: u64 = 256 * 1024 * 1024;

/// What a path that is not a regular file is (`a named pipe (FIFO)`), for a message; `None`
/// for a regular file.
pub(crate) fn not_a_file(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    if t.is_symlink() {
        return Some("a symbolic link");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

/// Reads the regular file at `path` (through symbolic links), if it has at most `cap` bytes;
/// else why not, as a phrase to follow the path (`is a named pipe (FIFO), not a file`).
/// The type is checked before the file is opened: opening a named pipe waits for a writer,
/// forever if none comes, and a device such as `/dev/zero` never ends.
pub(crate) fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let unreadable = |e: std::io::Error| format!("cannot be read ({})", reason(&e));
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(format!("is {kind}, not a file"));
    }
    let too_large = |len: u64| format!("is {len} bytes, more than the {cap} bytes expected");
    if meta.len() > cap {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    // Capped again while reading: the file may have grown since.
    File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Why the kept copy at `path` is not the module's file `bytes` (`None`: it is).
fn kept_copy_damage(path: &Path, bytes: &[u8]) -> Option<String> {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let through = if link {
        " (through a symbolic link)"
    } else {
        ""
    };
    match read_regular(path, bytes.len() as u64) {
        Ok(kept) if kept == bytes => None,
        Ok(kept) if kept.is_empty() => Some(format!("it is empty{through}")),
        Ok(kept) if kept.len() != bytes.len() => Some(format!(
            "it has {} bytes{through}, the module {}",
            kept.len(),
            bytes.len()
        )),
        Ok(kept) => Some(format!(
            "its content{through} is not the module's: its SHA-256 is {}",
            hex(&crate::module::content_hash(&kept))
        )),
        Err(why) if link => Some(format!("it is a symbolic link whose target {why}")),
        Err(why) => Some(format!("it {why}")),
    }
}

/// [`ProofLog::store_module`] in `dir`; `Some(warning)` when a damaged copy was replaced.
fn store_module(
    dir: &Path,
    content_hash: &[u8; 32],
    bytes: &[u8],
) -> Result<Option<String>, LogError> {
    let name = hex(content_hash);
    let path = module_path(dir, &name);
    // Refused rather than kept: replay would refuse the file, so the module's decisions
    // could never be replayed.
    if bytes.len() as u64 > MAX_KEPT_MODULE {
        return Err(LogError::Config(format!(
            "module {name} is {} bytes, more than the {} MiB a proof log keeps of a module for \
             replay: its decisions could not be replayed, so it is not loaded; build a smaller \
             module (split the policies into several)",
            bytes.len(),
            MAX_KEPT_MODULE >> 20
        )));
    }
    // Failing closed: the caller must not decide with a module whose copy is not kept.
    let cannot = |what: String, fix: &str| LogError::Io {
        path: path.display().to_string(),
        message: format!(
            "{what}, so module {name} is not loaded (its decisions could not be replayed); {fix}"
        ),
    };
    let fix = "fix the cause (a full disk, permissions) and load the module again";
    let damage = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("it cannot be read ({})", reason(&e))),
        // Never removed: it may hold something of value.
        Ok(meta) if meta.is_dir() => {
            return Err(cannot(
                "is a folder, where the module's file is kept".into(),
                "move the folder away and load the module again",
            ));
        }
        Ok(_) => match kept_copy_damage(&path, bytes) {
            None => return Ok(None),
            Some(why) => Some(why),
        },
    };
    let modules = dir.join("modules");
    std::fs::create_dir_all(&modules).map_err(|e| {
        cannot(
            format!(
                "cannot be written (`{}`: {})",
                modules.display(),
                reason(&e)
            ),
            fix,
        )
    })?;
    // Written beside it and renamed over it, so that the copy is at all times either what was
    // there or the whole module; a link is replaced itself, never what it points to.
    let tmp = modules.join(format!("{name}.tmp"));
    // A leftover of a crash (or anything else under that name: `create_new` never opens it,
    // so never waits on a named pipe or writes through a link).
    let _ = std::fs::remove_file(&tmp);
    let written = File::options()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            use std::io::Write as _;
            f.write_all(bytes)?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(
            format!("cannot be written (`{}`: {})", tmp.display(), reason(&e)),
            fix,
        ));
    }
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(format!("cannot be written ({})", reason(&e)), fix));
    }
    store::sync_dir(&modules)?;
    Ok(damage.map(|why| {
        format!(
            "the copy of module {name} kept in `{}` was not the module's file ({why}); it was \
             replaced by the module's file, so that its decisions stay replayable. Something \
             other than xop changed the log folder: check it (`xop log replay {}` re-decides \
             every record with its module)",
            path.display(),
            dir.display()
        )
    }))
}
