//! Keys kept beside the log, never in it.
//!
//! - **Subject keys** (`subjects.keys`): one 32-byte HMAC key per data subject, with which the
//!   subject's `@personal` evidence is hashed. The file is the magic `XOPKEYS2` and fixed
//!   80-byte slots: the key's 16-byte id, SHA-256 of the subject id (the id itself is not
//!   stored), the key. The id is derived from the other two ([`key_id`]: 12 bytes of a hash
//!   and the 4-byte [`BOUND_MARKER`]), so a slot whose subject hash or key was changed with
//!   its id kept shows. The marker makes such an id *bound* by itself, whatever the file's
//!   magic says: a bound slot is checked in a file of either format, so relabelling a file
//!   `XOPKEYS1` does not turn the check off. Erasing a subject overwrites its slot with zeros
//!   in place and syncs the file: the records keep their hashes (the tree is unchanged) but
//!   nobody can link them to a value any more, since the key is gone. Files of the first
//!   format (`XOPKEYS1`, random ids) are still read and written as they are: their ids name
//!   keys in records, so they cannot be re-derived, and such a file cannot show a changed
//!   subject hash or key in a slot with a legacy (unbound) id ([`KeyFormat::V1`]).
//! - **The log's signing key** (`log.key`, mode 0600, and `log.pub`), in the `xop keygen`
//!   format, created with the log unless the caller brings its own.
//!
//! The key file must hold every key a committed record names, unless an erasure record names
//! it, and its slots must be sound ([`KeyRefs`], [`check`]): keys are synced before the
//! records that use them, so after a crash the file may hold keys no record names (their batch
//! was never acknowledged), never the reverse. An erasure record is made durable before the
//! key's slot is zeroed, so a crash between the two leaves a key that opening the log erases; a
//! key missing with no erasure record is damage (a file cut short, a slot zeroed by hand, an
//! older copy put back), and so is a slot that does not match its id, is partly zero, or
//! repeats another's subject or id. Such a file is refused rather than given new keys that
//! would hide the loss, or erased in part.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::LogError;
use super::record::{Body, Record};
use crate::module::{hex, parse_signing_key, write_keypair};

/// The magic of key files written with ids bound to their slots.
const MAGIC: &[u8; 8] = b"XOPKEYS2";
/// The magic of the first format, with random ids.
const MAGIC_V1: &[u8; 8] = b"XOPKEYS1";
const SLOT: usize = 80;
/// Where a slot's parts begin: key id, subject hash, key.
const SUBJECT_AT: usize = 16;
const KEY_AT: usize = 48;
/// The last 4 bytes of every id [`key_id`] makes, and of no id a key file of the current
/// format may hold without: an id that ends with it is *bound* ([`is_bound`]) and must be the
/// one its slot's contents give, in a file of either format. A legacy random id (`XOPKEYS1`)
/// ends with it with probability 2^-32; such a slot would be reported as damaged. Not zero
/// bytes, so that a bound id does not lengthen a run of zeros next to it.
pub const BOUND_MARKER: [u8; 4] = *b"XKB2";
/// How many bytes of the hash a bound id keeps (96 bits: ids stay unique and binding).
const ID_HASH: usize = 12;
/// Zero bytes in a row that no sound slot holds: random ids and keys and SHA-256 hashes have
/// 16 in a row with probability about 2^-122, while a torn or partial overwrite leaves a run.
const ZERO_RUN: usize = 16;

/// The format of a subject key file, from its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `XOPKEYS1`: ids of logs made before ids were bound are random (*unbound*), so they are
    /// only checked against the ids records name, and a slot whose subject hash or key was
    /// changed with its id kept is not detected; keys added since have bound ids, checked as
    /// in `V2` (as is any id ending with [`BOUND_MARKER`]).
    V1,
    /// `XOPKEYS2`: each id is [`key_id`] of its slot's subject hash and key (bound).
    V2,
}

/// A slot of a key file that is not all zeros (all zeros: erased, or never written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Its place in the file: slot 0 follows the magic.
    pub index: u64,
    /// The key's id, which records name (in hex).
    pub id: [u8; 16],
    /// SHA-256 of the subject id, with a domain tag.
    pub subject: [u8; 32],
    /// The HMAC key.
    pub key: [u8; 32],
    /// The longest run of zero bytes in the slot: where it begins and its length.
    zeros: (usize, usize),
}

impl Slot {
    /// The byte of the key file where the slot begins.
    pub fn offset(&self) -> u64 {
        MAGIC.len() as u64 + self.index * SLOT as u64
    }
}

/// A subject key file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Its format.
    pub format: KeyFormat,
    /// Its slots that are not all zeros, in file order.
    pub slots: Vec<Slot>,
    /// How many whole slots it has, zeroed ones included.
    pub len: u64,
}

fn subject_hash(subject: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"xop-subject\0");
    h.update(subject.as_bytes());
    h.finalize().into()
}

/// The id of the key `key` of the subject with hash `subject`: the first 12 bytes of SHA-256
/// over a domain tag, the subject hash and the key, then [`BOUND_MARKER`]. Derived rather than
/// random, so that a slot whose subject hash or key was changed with its id kept no longer
/// matches it; it reveals neither, since the key is secret. The marker says, in the id itself,
/// that it is derived: the check does not depend on the file's magic, which is not signed.
pub fn key_id(subject: &[u8; 32], key: &[u8; 32]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"xop-subject-key-id\0");
    h.update(subject);
    h.update(key);
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id[..ID_HASH].copy_from_slice(&digest[..ID_HASH]);
    id[ID_HASH..].copy_from_slice(&BOUND_MARKER);
    id
}

/// Whether `id` is bound: it ends with [`BOUND_MARKER`], so it must be [`key_id`] of its
/// slot's subject hash and key, in a file of either format. A record names the id, and the
/// records are signed, so the marker cannot be taken off a slot that records name without the
/// slot no longer holding the key they name (a missing key).
pub fn is_bound(id: &[u8; 16]) -> bool {
    id[ID_HASH..] == BOUND_MARKER
}

fn random<const N: usize>() -> Result<[u8; N], LogError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| LogError::Io {
        path: "(random source)".into(),
        message: format!("the operating system's random source failed: {e}"),
    })?;
    Ok(b)
}

/// The longest run of zero bytes in `bytes`: where it begins and its length.
fn longest_zero_run(bytes: &[u8]) -> (usize, usize) {
    let (mut best, mut start, mut len) = ((0, 0), 0, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if b == 0 {
            if len == 0 {
                start = i;
            }
            len += 1;
            if len > best.1 {
                best = (start, len);
            }
        } else {
            len = 0;
        }
    }
    best
}

fn not_a_key_file(path: &Path) -> LogError {
    LogError::Corrupt {
        path: path.display().to_string(),
        offset: 0,
        message: "not a subject key file (it does not start with XOPKEYS2, or XOPKEYS1 for a \
                  log made before ids were bound to their keys)"
            .into(),
    }
}

/// A key file's contents from its bytes. A torn last slot (a crash while it was appended, cut
/// short) is ignored: no acknowledged record used it, since records are synced only after
/// their keys.
fn parse(path: &Path, bytes: &[u8]) -> Result<KeyFile, LogError> {
    let (format, body) = if let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) {
        (KeyFormat::V2, body)
    } else if let Some(body) = bytes.strip_prefix(MAGIC_V1.as_slice()) {
        (KeyFormat::V1, body)
    } else {
        return Err(not_a_key_file(path));
    };
    let slots = body
        .chunks_exact(SLOT)
        .enumerate()
        .filter(|(_, s)| s.iter().any(|&b| b != 0))
        .map(|(i, s)| {
            let mut id = [0u8; 16];
            let mut subject = [0u8; 32];
            let mut key = [0u8; 32];
            id.copy_from_slice(&s[..SUBJECT_AT]);
            subject.copy_from_slice(&s[SUBJECT_AT..KEY_AT]);
            key.copy_from_slice(&s[KEY_AT..]);
            Slot {
                index: i as u64,
                id,
                subject,
                key,
                zeros: longest_zero_run(s),
            }
        })
        .collect();
    Ok(KeyFile {
        format,
        slots,
        len: (body.len() / SLOT) as u64,
    })
}

/// The key file at `path`, read without opening it for writing (for `xop log verify`);
/// `None` when there is no such file.
pub fn read_key_file(path: &Path) -> Result<Option<KeyFile>, LogError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, &e)),
    };
    parse(path, &bytes).map(Some)
}

/// The subject key store.
#[derive(Debug)]
pub struct SubjectKeys {
    file: File,
    /// The file as read when it was opened, less the slots [`Self::erase_id`] zeroed since.
    contents: KeyFile,
    /// Subject hash → (slot, key id, key).
    keys: HashMap<[u8; 32], (u64, [u8; 16], [u8; 32])>,
    /// Subjects being erased: their key stays in use until its erasure record is durable.
    erasing: HashSet<[u8; 32]>,
    /// Slots created since the last flush: written (and synced) before any record that uses
    /// them is acknowledged.
    pending: Vec<(u64, [u8; SLOT])>,
    slots: u64,
}

impl SubjectKeys {
    /// Opens the key file at `path`, creating it (in the current format) when it is missing
    /// (or empty) unless `history` gives the number of records the log already has: then a
    /// missing file is an error, since a new one would silently unlink every subject's evidence
    /// from its key without an erasure record. Whether the file holds every key the records
    /// name, in sound slots, is [`check`]ed by the caller, which has read the records, on
    /// [`Self::contents`]. The file is made with mode 0600, and one that group or others may
    /// read or write is refused (on Unix), the message giving the `chmod` that fixes it.
    pub fn open(path: &Path, history: Option<u64>) -> Result<SubjectKeys, LogError> {
        let io = |e: std::io::Error| LogError::io(path, &e);
        let missing = |how: &str| {
            LogError::Config(format!(
                "`{}` (the subjects' hash keys) is {how}, but the log already has {} records: \
             restore it from a backup; a new key file would silently unlink every subject's \
             personal evidence, so none is made",
                path.display(),
                history.unwrap_or(0)
            ))
        };
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .create(history.is_none())
            .truncate(false);
        // Secret, like `log.key`: whoever reads a subject's key can confirm a guessed personal
        // value (a phone number) against the records' HMACs.
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = match options.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && history.is_some() => {
                return Err(missing("missing"));
            }
            Err(e) => return Err(io(e)),
        };
        refuse_shared(path, &file, SUBJECT_KEYS)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.is_empty() && history.is_some() {
            return Err(missing("empty"));
        }
        if bytes.is_empty() {
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            bytes.extend_from_slice(MAGIC);
        }
        let contents = parse(path, &bytes)?;
        let mut keys = SubjectKeys {
            file,
            keys: HashMap::new(),
            erasing: HashSet::new(),
            pending: Vec::new(),
            slots: contents.len,
            contents,
        };
        keys.index();
        Ok(keys)
    }

    /// Fills the subject → key map from [`Self::contents`]. A subject with two slots makes
    /// [`check`] refuse the file, unless an erasure record names one of them and
    /// [`Self::erase_id`] zeroes it; the map then holds the other.
    fn index(&mut self) {
        for s in &self.contents.slots {
            self.keys.insert(s.subject, (s.index, s.id, s.key));
        }
    }

    /// The file's contents as read when it was opened: what [`check`] judges.
    pub fn contents(&self) -> &KeyFile {
        &self.contents
    }

    /// The key of `subject`, created if it has none (durable at the next [`Self::flush`]).
    pub fn key_for(&mut self, subject: &str) -> Result<([u8; 16], [u8; 32]), LogError> {
        let sh = subject_hash(subject);
        if let Some((_, id, key)) = self.keys.get(&sh) {
            return Ok((*id, *key));
        }
        let key: [u8; 32] = random()?;
        // Derived in a first-format file too: harmless there (ids are opaque to records), and
        // bound, so checked there as in the current format (the marker tells them from the
        // file's older, random ids).
        let id = key_id(&sh, &key);
        let slot = self.slots;
        self.slots += 1;
        let mut bytes = [0u8; SLOT];
        bytes[..SUBJECT_AT].copy_from_slice(&id);
        bytes[SUBJECT_AT..KEY_AT].copy_from_slice(&sh);
        bytes[KEY_AT..].copy_from_slice(&key);
        self.pending.push((slot, bytes));
        self.keys.insert(sh, (slot, id, key));
        Ok((id, key))
    }

    /// The key with this id (hex), if it exists (for checking a value against evidence).
    pub fn key_by_id(&self, id: &str) -> Option<[u8; 32]> {
        self.keys
            .values()
            .find(|(_, kid, _)| hex(kid) == id)
            .map(|(_, _, k)| *k)
    }

    /// The ids (hex) of the keys in use.
    pub fn ids(&self) -> HashSet<String> {
        self.keys.values().map(|(_, id, _)| hex(id)).collect()
    }

    /// Writes and syncs the keys created since the last flush.
    pub fn flush(&mut self, path: &Path) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let io = |e: std::io::Error| LogError::io(path, &e);
        for (slot, bytes) in &self.pending {
            self.file
                .seek(SeekFrom::Start(MAGIC.len() as u64 + slot * SLOT as u64))
                .map_err(io)?;
            self.file.write_all(bytes).map_err(io)?;
        }
        self.file.sync_data().map_err(io)?;
        self.pending.clear();
        Ok(())
    }

    /// The first step of erasing `subject`: the id of their key, to name in the erasure
    /// record, or `None` if they have no key (or are being erased already). The key stays in
    /// use until [`Self::finish_erasure`], once the record is durable, so that the subject
    /// never has two live keys: a second one, made for a decision in between and synced before
    /// a crash cut the erasure short, would outlive the erasure.
    pub fn begin_erasure(&mut self, subject: &str) -> Option<[u8; 16]> {
        let sh = subject_hash(subject);
        let (_, id, _) = self.keys.get(&sh)?;
        self.erasing.insert(sh).then_some(*id)
    }

    /// Gives up erasing `subject` (their erasure record could not be written): the key stays.
    pub fn abandon_erasure(&mut self, subject: &str) {
        self.erasing.remove(&subject_hash(subject));
    }

    /// Takes `subject`'s key out of use and zeroes its slot, once the erasure record that
    /// [`Self::begin_erasure`] named it for is durable: later decisions about the subject get
    /// a new key.
    pub fn finish_erasure(&mut self, subject: &str, path: &Path) -> Result<(), LogError> {
        let sh = subject_hash(subject);
        self.erasing.remove(&sh);
        match self.keys.remove(&sh) {
            Some((slot, _, _)) => self.zero_slot(slot, path),
            None => Ok(()),
        }
    }

    /// Overwrites `slot` with zeros and syncs: the key is gone from the file.
    pub fn zero_slot(&mut self, slot: u64, path: &Path) -> Result<(), LogError> {
        // Still to be written: written first, so that the zeros land on the real slot and a
        // later flush cannot bring the key back.
        self.flush(path)?;
        let io = |e: std::io::Error| LogError::io(path, &e);
        self.file
            .seek(SeekFrom::Start(MAGIC.len() as u64 + slot * SLOT as u64))
            .map_err(io)?;
        self.file.write_all(&[0u8; SLOT]).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Erases every slot holding the key with id `id` (hex): for an erasure whose record is
    /// durable but whose slot a crash left unzeroed (or zeroed in part), found when the log is
    /// opened. Returns whether there was one.
    pub fn erase_id(&mut self, id: &str, path: &Path) -> Result<bool, LogError> {
        let (gone, kept): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.contents.slots)
            .into_iter()
            .partition(|s| hex(&s.id) == id);
        self.contents.slots = kept;
        for s in &gone {
            self.zero_slot(s.index, path)?;
        }
        // The map may have held an erased slot for a subject that has another: it holds that
        // one now, or none.
        self.keys.retain(|_, (_, kid, _)| hex(kid) != id);
        for s in &self.contents.slots {
            if gone.iter().any(|g| g.subject == s.subject) {
                self.keys.entry(s.subject).or_insert((s.index, s.id, s.key));
            }
        }
        Ok(!gone.is_empty())
    }
}

/// The subject key ids a log's committed records name: what its key file must account for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRefs {
    /// Each key id (hex) named by a decision record's evidence, with the first such record.
    pub named: HashMap<String, u64>,
    /// Each key id named by an erasure record, with the first such record.
    pub erased: HashMap<String, u64>,
}

/// The parts of a record that name keys, read without decoding the rest.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    evidence: Vec<EvidenceKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Decision,
    Erasure,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct EvidenceKey {
    #[serde(default)]
    key: Option<String>,
}

impl KeyRefs {
    fn name(&mut self, id: &str, seq: u64) {
        if !self.named.contains_key(id) {
            self.named.insert(id.to_string(), seq);
        }
    }

    fn erase(&mut self, id: &str, seq: u64) {
        if !self.erased.contains_key(id) {
            self.erased.insert(id.to_string(), seq);
        }
    }

    /// Notes the key ids record `seq` names, from its bytes. Only a record whose bytes hold
    /// `"key":"` can name one, so only such a record is parsed (opening a log reads every
    /// record); a record that does not parse names none here (`verify` reports it).
    pub fn note_bytes(&mut self, seq: u64, body: &[u8]) {
        // A cheap test before any parsing: `"key":"` occurs only where a key may be named.
        let names_a_key = body
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'"' && body[i + 1..].starts_with(b"key\":\""));
        if !names_a_key {
            return;
        }
        let Ok(fields) = serde_json::from_slice::<KeyFields>(body) else {
            return;
        };
        match fields.kind {
            Some(Kind::Decision) => {
                for id in fields.evidence.iter().filter_map(|e| e.key.as_deref()) {
                    self.name(id, seq);
                }
            }
            Some(Kind::Erasure) => {
                if let Some(id) = &fields.key {
                    self.erase(id, seq);
                }
            }
            Some(Kind::Other) | None => {}
        }
    }

    /// Notes the key ids a decoded record names.
    pub fn note(&mut self, record: &Record) {
        match &record.body {
            Body::Decision(d) => {
                for id in d.evidence.iter().filter_map(|e| e.key.as_deref()) {
                    self.name(id, record.seq);
                }
            }
            Body::Erasure { key } => self.erase(key, record.seq),
            Body::Event { .. } => {}
        }
    }

    /// Forgets what records from `seq` on name: those of an uncommitted batch. A key whose
    /// first naming record is among them is named by no committed record.
    pub fn truncate(&mut self, seq: u64) {
        self.named.retain(|_, s| *s < seq);
        self.erased.retain(|_, s| *s < seq);
    }
}

/// What a key file lacks, still holds, or holds damaged, given what a log's records name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Key ids that records name, that the file does not have and no erasure record names,
    /// each with the first record naming it, in record order: damage.
    pub missing: Vec<(String, u64)>,
    /// Key ids that an erasure record names and the file still has, each with that record:
    /// an erasure a crash interrupted after its record was durable (opening the log finishes
    /// it, whatever is left of the slot).
    pub unerased: Vec<(String, u64)>,
    /// Slots that cannot be trusted, in file order: damage.
    pub damaged: Vec<Damage>,
}

/// A slot of a key file that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The byte of the key file where the slot begins.
    pub offset: u64,
    /// The key id the slot holds (hex).
    pub id: String,
    /// What is wrong with it.
    pub kind: DamageKind,
}

/// What is wrong with a damaged slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamageKind {
    /// Its id is bound ([`is_bound`]) but not [`key_id`] of its subject hash and key (in a file
    /// of either format): one of them was changed with the id kept.
    Unbound,
    /// Its id is not bound, in an `XOPKEYS2` file, where every id is: the id was changed, or
    /// the slot came from a first-format file.
    Unmarked,
    /// It holds a run of zero bytes (from, to: bytes of the slot, 0 to 79) but is not all
    /// zeros: slots are written and erased whole.
    PartlyZero {
        /// The first zero byte of the run.
        from: usize,
        /// The last.
        to: usize,
    },
    /// An earlier slot has the same subject hash: the subject would have two live keys.
    SameSubject {
        /// Where that slot begins.
        other: u64,
        /// Its key id (hex).
        other_id: String,
    },
    /// An earlier slot has the same key id: a copy, which an erasure would leave behind.
    SameId {
        /// Where that slot begins.
        other: u64,
    },
}

impl Damage {
    /// What is wrong, for people, after "the key file is damaged at byte N: ".
    pub fn message(&self) -> String {
        let id = &self.id;
        match &self.kind {
            DamageKind::Unbound => format!(
                "the slot there holds key {id}, but its subject hash or key is not the one that \
                 id was made from: it was changed, by hand or by damage, with its id kept, so the \
                 subject would silently get another key than the one their evidence was hashed \
                 with (or another subject's key); the id ends with {}, so it is a derived one, \
                 checked whatever the file's magic says",
                hex(&BOUND_MARKER)
            ),
            DamageKind::Unmarked => format!(
                "the slot there holds key {id}, which does not end with {}, as every key id of \
                 this format (XOPKEYS2) does: the id was changed, by hand or by damage, or the \
                 slot was copied from a key file of the first format, so it cannot be trusted as \
                 a subject's key",
                hex(&BOUND_MARKER)
            ),
            DamageKind::PartlyZero { from, to } => format!(
                "the slot there (key {id}) is partly zero (its bytes {from} to {to}): slots are \
                 written and erased whole, so it was damaged, or a crash cut a write to it short, \
                 and what it holds cannot be trusted as a subject's key"
            ),
            DamageKind::SameSubject { other, other_id } => format!(
                "the slot there (key {id}) is for the same subject as the slot at byte {other} \
                 (key {other_id}): a subject has one live key at a time, so a slot was copied or \
                 overwritten; their evidence would be checked against one key only, and erasing \
                 them would zero one slot and leave the other key alive"
            ),
            DamageKind::SameId { other } => format!(
                "the slot there holds key {id}, as does the slot at byte {other}: a slot was \
                 copied, so erasing its subject would zero one and leave the key alive"
            ),
        }
    }
}

/// Checks a key file against what the records name: the keys it lacks or still holds
/// ([`KeyCheck::missing`], [`KeyCheck::unerased`]), and its damaged slots. A slot an erasure
/// record names is not judged: opening the log zeroes it whatever it holds (a crash may have
/// cut its zeroing short).
pub fn check(refs: &KeyRefs, file: &KeyFile) -> KeyCheck {
    let ids: HashSet<String> = file.slots.iter().map(|s| hex(&s.id)).collect();
    let mut checked = check_ids(refs, &ids);
    let mut by_id: HashMap<[u8; 16], u64> = HashMap::new();
    let mut by_subject: HashMap<[u8; 32], (u64, [u8; 16])> = HashMap::new();
    for s in &file.slots {
        let id = hex(&s.id);
        if refs.erased.contains_key(&id) {
            continue;
        }
        let (at, len) = s.zeros;
        let kind = if len >= ZERO_RUN {
            Some(DamageKind::PartlyZero {
                from: at,
                to: at + len - 1,
            })
        } else if is_bound(&s.id) && key_id(&s.subject, &s.key) != s.id {
            // Whatever the magic says: it is not signed, and `XOPKEYS1` must not turn this off.
            Some(DamageKind::Unbound)
        } else if file.format == KeyFormat::V2 && !is_bound(&s.id) {
            Some(DamageKind::Unmarked)
        } else if let Some(&other) = by_id.get(&s.id) {
            Some(DamageKind::SameId { other })
        } else if let Some((other, other_id)) = by_subject.get(&s.subject) {
            Some(DamageKind::SameSubject {
                other: *other,
                other_id: hex(other_id),
            })
        } else {
            None
        };
        match kind {
            Some(kind) => checked.damaged.push(Damage {
                offset: s.offset(),
                id,
                kind,
            }),
            // Only sound slots are compared: a damaged one is reported once, for itself.
            None => {
                by_id.insert(s.id, s.offset());
                by_subject.insert(s.subject, (s.offset(), s.id));
            }
        }
    }
    checked
}

/// Checks the key ids `ids` of a key file against what the records name.
fn check_ids(refs: &KeyRefs, ids: &HashSet<String>) -> KeyCheck {
    let mut missing: Vec<(String, u64)> = refs
        .named
        .iter()
        .filter(|(id, _)| !ids.contains(*id) && !refs.erased.contains_key(*id))
        .map(|(id, seq)| (id.clone(), *seq))
        .collect();
    missing.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut unerased: Vec<(String, u64)> = refs
        .erased
        .iter()
        .filter(|(id, _)| ids.contains(*id))
        .map(|(id, seq)| (id.clone(), *seq))
        .collect();
    unerased.sort_by_key(|(_, seq)| *seq);
    KeyCheck {
        missing,
        unerased,
        damaged: Vec::new(),
    }
}

impl KeyCheck {
    /// What is wrong, for people, when keys are missing (`None` when none is): the first
    /// missing key, the record naming it, how many more, why it matters. `file` is how the key
    /// file is named in the message.
    pub fn missing_message(&self, file: &str) -> Option<String> {
        let (id, seq) = self.missing.first()?;
        let more = match self.missing.len() - 1 {
            0 => String::new(),
            1 => " (1 more key, named by a later record, is missing too)".to_string(),
            n => format!(" ({n} more keys, named by later records, are missing too)"),
        };
        Some(format!(
            "record {seq} names subject key {id}, which {file} does not have, and no erasure \
             record names it{more}: the file was cut short, a slot was zeroed or overwritten by \
             hand, or an older copy was put back, so the evidence hashed with the key can no \
             longer be checked and nothing in the log proves it was erased"
        ))
    }

    /// What is wrong, for people, when slots are damaged (`None` when none is): where the
    /// first damaged slot begins, and what is wrong with it (to follow "damaged at byte N: "),
    /// with how many more are.
    pub fn damage_message(&self) -> Option<(u64, String)> {
        let first = self.damaged.first()?;
        let more = match self.damaged.len() - 1 {
            0 => String::new(),
            1 => " (1 more slot is damaged too)".to_string(),
            n => format!(" ({n} more slots are damaged too)"),
        };
        Some((first.offset, format!("{}{more}", first.message())))
    }
}

/// Loads the log's signing key from `dir/log.key`. When there is none, creates `log.key`
/// (mode 0600) and `log.pub` for a new log (`history` is `None`); for a log with records or
/// checkpoints (`history`: how many records) a missing key is an error: a new key would
/// replace `log.pub` and make every earlier checkpoint fail to verify.
pub fn load_or_create_signing_key(
    dir: &Path,
    history: Option<u64>,
) -> Result<SigningKey, LogError> {
    let secret = dir.join("log.key");
    let read = File::open(&secret).and_then(|mut f| {
        let mut text = String::new();
        f.read_to_string(&mut text).map(|_| (f, text))
    });
    match read {
        Ok((file, text)) => {
            refuse_shared(&secret, &file, SIGNING_KEY)?;
            parse_signing_key(&text).map_err(|e| LogError::Config(format!(
            "`{}` is not a secret key: {e}; restore it, or remove it to start a log with a new key",
            secret.display()
        )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(records) = history {
                return Err(LogError::Config(format!(
                    "`{}` (the log's signing key) is missing, but the log already has {records} \
                     records: restore it from a backup (it must match \
                     `{}`); a new key would make every earlier checkpoint fail to verify, so \
                     none is made",
                    secret.display(),
                    dir.join("log.pub").display()
                )));
            }
            let seed: [u8; 32] = random()?;
            let (secret_text, public_text) = write_keypair(seed);
            // Each file synced here; their folder once every file of the new log is made
            // (`ProofLog::open`), before any record can be acknowledged.
            write_private(&secret, secret_text.as_bytes())?;
            let public = dir.join("log.pub");
            super::store::write_synced(&public, public_text.as_bytes(), 0o644, true)?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(LogError::io(&secret, &e)),
    }
}

/// What `subjects.keys` is and what another reader could do with it, for [`refuse_shared`].
const SUBJECT_KEYS: (&str, &str) = (
    "the subjects' secret hash keys",
    "whoever reads it can confirm a guessed personal value against the records' HMACs",
);
/// The same for `log.key`.
const SIGNING_KEY: (&str, &str) = (
    "the log's signing key",
    "whoever reads it can sign checkpoints and commits over records of their own",
);

/// Refuses a secret key file that others than its owner may read or write (mode bits for
/// group or others), as ssh refuses a private key that is "too open": `what` the file is and
/// `why` that matters. Nothing is changed: the message gives the `chmod` that fixes it.
fn refuse_shared(path: &Path, file: &File, (what, why): (&str, &str)) -> Result<(), LogError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(|e| LogError::io(path, &e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(LogError::Config(format!(
                "`{}` ({what}) may be read or written by others than its owner (mode \
                 {mode:04o}): {why}. Make it private, `chmod 600 {}`, and open the log again \
                 (if others could read it, its keys may be known to them); nothing was opened \
                 or changed",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file, what, why);
    Ok(())
}

/// Writes a secret to a new file (mode 0600), synced.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    super::store::write_synced(path, bytes, 0o600, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_erasure_zeroes_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects.keys");
        let mut k = SubjectKeys::open(&path, None).unwrap();
        let (id1, key1) = k.key_for("cust-1").unwrap();
        let (id2, _) = k.key_for("cust-2").unwrap();
        assert_eq!(k.key_for("cust-1").unwrap(), (id1, key1));
        assert_ne!(id1, id2);
        // A new file is of the current format, its ids bound to their slots.
        assert_eq!(id1, key_id(&subject_hash("cust-1"), &key1));
        k.flush(&path).unwrap();
        drop(k);
        assert!(std::fs::read(&path).unwrap().starts_with(b"XOPKEYS2"));

        let mut k = SubjectKeys::open(&path, None).unwrap();
        assert_eq!(k.contents().format, KeyFormat::V2);
        assert_eq!(k.key_for("cust-1").unwrap(), (id1, key1));
        let id = k.begin_erasure("cust-1").unwrap();
        assert_eq!(id, id1);
        // Being erased: not erased twice, and the key stays in use until the record is
        // durable, so the subject never has two live keys.
        assert_eq!(k.begin_erasure("cust-1"), None);
        assert_eq!(k.key_for("cust-1").unwrap(), (id1, key1));
        k.finish_erasure("cust-1", &path).unwrap();
        assert_eq!(k.begin_erasure("cust-1"), None);
        drop(k);

        let bytes = std::fs::read(&path).unwrap();
        // The key's bytes are gone from the file, not just marked deleted.
        assert!(!bytes.windows(32).any(|w| w == key1));
        let mut k = SubjectKeys::open(&path, None).unwrap();
        assert_eq!(k.key_by_id(&hex(&id1)), None);
        assert!(k.key_by_id(&hex(&id2)).is_some());
        // A fully zeroed slot is the erased state, not damage.
        assert_eq!(
            check(&KeyRefs::default(), k.contents()),
            KeyCheck::default()
        );
        // A new key for an erased subject is a new key.
        assert_ne!(k.key_for("cust-1").unwrap().1, key1);
    }

    #[test]
    fn an_abandoned_erasure_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects.keys");
        let mut k = SubjectKeys::open(&path, None).unwrap();
        let (id, key) = k.key_for("cust-1").unwrap();
        assert_eq!(k.begin_erasure("cust-1"), Some(id));
        k.abandon_erasure("cust-1");
        assert_eq!(k.begin_erasure("cust-1"), Some(id));
        assert_eq!(k.key_for("cust-1").unwrap(), (id, key));
    }

    #[test]
    fn an_interrupted_erasure_is_finished_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects.keys");
        let mut k = SubjectKeys::open(&path, None).unwrap();
        let (id, key) = k.key_for("cust-1").unwrap();
        k.flush(&path).unwrap();
        drop(k);
        let mut k = SubjectKeys::open(&path, None).unwrap();
        assert!(k.erase_id(&hex(&id), &path).unwrap());
        assert!(!k.erase_id(&hex(&id), &path).unwrap());
        drop(k);
        assert!(!std::fs::read(&path).unwrap().windows(32).any(|w| w == key));
        assert_eq!(read_key_file(&path).unwrap().unwrap().slots, []);
    }

    #[test]
    fn finishing_an_erasure_keeps_another_key_of_the_subject() {
        // A crash in an older version's erasure can leave a subject's erased key (its erasure
        // record durable) beside a newer one: the newer one must stay theirs, in either order.
        let (old, new) = (slot("cust-1", 1), slot("cust-1", 2));
        for order in [[old, new], [new, old]] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("subjects.keys");
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&order.concat());
            std::fs::write(&path, &bytes).unwrap();
            // Private, as the log makes it: a key file others may read is refused.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let mut k = SubjectKeys::open(&path, Some(1)).unwrap();
            assert!(k.erase_id(&hex(&old[..16]), &path).unwrap());
            let (id, key) = k.key_for("cust-1").unwrap();
            assert_eq!((&id[..], &key[..]), (&new[..16], &new[KEY_AT..]));
            let after = read_key_file(&path).unwrap().unwrap();
            assert_eq!(after.slots.len(), 1);
            assert_eq!(after.slots[0].id[..], new[..16]);
        }
    }

    /// A key file of `format` with these slots (id, subject hash, key), as bytes.
    fn file_of(magic: &[u8; 8], slots: &[[u8; SLOT]]) -> KeyFile {
        let mut bytes = magic.to_vec();
        for s in slots {
            bytes.extend_from_slice(s);
        }
        parse(Path::new("subjects.keys"), &bytes).unwrap()
    }

    /// A sound slot of the current format for `subject`.
    fn slot(subject: &str, key_byte: u8) -> [u8; SLOT] {
        let sh = subject_hash(subject);
        let key = [key_byte; 32];
        let mut s = [0u8; SLOT];
        s[..SUBJECT_AT].copy_from_slice(&key_id(&sh, &key));
        s[SUBJECT_AT..KEY_AT].copy_from_slice(&sh);
        s[KEY_AT..].copy_from_slice(&key);
        s
    }

    fn kinds(file: &KeyFile) -> Vec<(u64, DamageKind)> {
        check(&KeyRefs::default(), file)
            .damaged
            .into_iter()
            .map(|d| (d.offset, d.kind))
            .collect()
    }

    #[test]
    fn a_slot_changed_with_its_id_kept_is_damage() {
        let (a, b) = (slot("cust-1", 1), slot("cust-2", 2));
        assert_eq!(kinds(&file_of(MAGIC, &[a, b])), []);
        // The subject hash changed (here to cust-3's): cust-3 would take cust-1's key, and
        // cust-1 silently get a new one.
        let mut changed = a;
        changed[SUBJECT_AT..KEY_AT].copy_from_slice(&subject_hash("cust-3"));
        assert_eq!(
            kinds(&file_of(MAGIC, &[changed, b])),
            [(8, DamageKind::Unbound)]
        );
        // The key changed: evidence hashed with the old one would no longer be linked.
        let mut changed = b;
        changed[KEY_AT] ^= 1;
        let c = check(&KeyRefs::default(), &file_of(MAGIC, &[a, changed]));
        assert_eq!(c.damaged.len(), 1);
        assert_eq!(c.damaged[0].kind, DamageKind::Unbound);
        let (offset, m) = c.damage_message().unwrap();
        assert_eq!(offset, 88);
        assert!(
            m.starts_with(&format!("the slot there holds key {}", hex(&b[..16])))
                && m.contains("changed, by hand or by damage, with its id kept"),
            "{m}"
        );
        // Relabelled as the first format, the bound id is still checked: the marker, not the
        // magic, says the id is derived.
        assert_eq!(
            kinds(&file_of(MAGIC_V1, &[a, changed])),
            [(88, DamageKind::Unbound)]
        );
    }

    #[test]
    fn bound_ids_carry_the_marker() {
        let (sh, key) = (subject_hash("cust-1"), [9u8; 32]);
        let id = key_id(&sh, &key);
        assert_eq!(id[12..], BOUND_MARKER);
        assert!(is_bound(&id));
        let digest: [u8; 32] = Sha256::new()
            .chain_update(b"xop-subject-key-id\0")
            .chain_update(sh)
            .chain_update(key)
            .finalize()
            .into();
        assert_eq!(id[..12], digest[..12]);
        assert!(!is_bound(&[0x5a; 16]));
    }

    /// A slot of the first format: a random (legacy, unbound) id.
    fn legacy_slot(subject: &str, key_byte: u8, id_byte: u8) -> [u8; SLOT] {
        let mut s = slot(subject, key_byte);
        s[..SUBJECT_AT].fill(id_byte);
        s
    }

    #[test]
    fn a_first_format_file_checks_its_bound_slots_only() {
        let (old, new) = (legacy_slot("cust-0", 1, 0x5a), slot("cust-1", 2));
        assert_eq!(kinds(&file_of(MAGIC_V1, &[old, new])), []);
        // A legacy slot's key changed with its id kept: not seen (the known limit).
        let mut changed = old;
        changed[KEY_AT] ^= 1;
        assert_eq!(kinds(&file_of(MAGIC_V1, &[changed, new])), []);
        // A bound slot's key or subject hash changed: seen.
        let mut changed = new;
        changed[KEY_AT + 5] ^= 1;
        assert_eq!(
            kinds(&file_of(MAGIC_V1, &[old, changed])),
            [(88, DamageKind::Unbound)]
        );
        let mut changed = new;
        changed[SUBJECT_AT..KEY_AT].copy_from_slice(&subject_hash("cust-9"));
        assert_eq!(
            kinds(&file_of(MAGIC_V1, &[old, changed])),
            [(88, DamageKind::Unbound)]
        );
        // In the current format every live id must be bound: a legacy one is damage.
        let c = check(&KeyRefs::default(), &file_of(MAGIC, &[old, new]));
        assert_eq!(
            c.damaged
                .iter()
                .map(|d| (d.offset, &d.kind))
                .collect::<Vec<_>>(),
            [(8, &DamageKind::Unmarked)]
        );
        let (_, m) = c.damage_message().unwrap();
        assert!(m.contains("does not end with 584b4232"), "{m}");
    }

    #[test]
    fn two_live_slots_of_one_subject_or_id_are_damage() {
        let (a, b) = (slot("cust-1", 1), slot("cust-2", 2));
        // A second sound key for cust-1: an erasure would zero one and leave the other.
        let again = slot("cust-1", 7);
        let damaged = kinds(&file_of(MAGIC, &[a, b, again]));
        assert_eq!(
            damaged,
            [(
                168,
                DamageKind::SameSubject {
                    other: 8,
                    other_id: hex(&a[..16])
                }
            )]
        );
        // The same, in a first-format file: found too (it needs no bound ids).
        assert_eq!(kinds(&file_of(MAGIC_V1, &[a, b, again])), damaged);
        // A slot copied whole.
        assert_eq!(
            kinds(&file_of(MAGIC, &[a, b, b])),
            [(168, DamageKind::SameId { other: 88 })]
        );
        // An erasure record naming one of them: a crash left it, and opening zeroes it.
        let mut refs = KeyRefs::default();
        refs.erase(&hex(&a[..16]), 5);
        let c = check(&refs, &file_of(MAGIC, &[a, b, again]));
        assert_eq!(c.damaged, []);
        assert_eq!(c.unerased, [(hex(&a[..16]), 5)]);
    }

    #[test]
    fn a_partly_zero_slot_is_damage_unless_its_erasure_was_cut_short() {
        let (a, b) = (slot("cust-1", 1), slot("cust-2", 2));
        for (from, to) in [(0, 15), (16, 47), (48, 79), (30, 50), (60, 79), (0, 39)] {
            let mut torn = b;
            torn[from..=to].fill(0);
            for magic in [MAGIC, MAGIC_V1] {
                let c = check(&KeyRefs::default(), &file_of(magic, &[a, torn]));
                assert_eq!(
                    c.damaged.iter().map(|d| &d.kind).collect::<Vec<_>>(),
                    [&DamageKind::PartlyZero { from, to }],
                    "{from}..={to}"
                );
            }
            if from >= 16 {
                // Its id intact and named by an erasure record: the zeroing was cut short.
                let mut refs = KeyRefs::default();
                refs.erase(&hex(&b[..16]), 3);
                let c = check(&refs, &file_of(MAGIC, &[a, torn]));
                assert_eq!(c.damaged, []);
                assert_eq!(c.unerased, [(hex(&b[..16]), 3)]);
            }
        }
        // All zeros is the erased state.
        assert_eq!(kinds(&file_of(MAGIC, &[a, [0; SLOT], b])), []);
    }

    #[test]
    fn slot_order_carries_no_meaning() {
        let slots = [slot("cust-1", 1), slot("cust-2", 2), slot("cust-3", 3)];
        let mut swapped = slots;
        swapped.swap(0, 2);
        let mut refs = KeyRefs::default();
        for (i, s) in slots.iter().enumerate() {
            refs.name(&hex(&s[..16]), i as u64);
        }
        assert_eq!(check(&refs, &file_of(MAGIC, &swapped)), KeyCheck::default());
    }

    #[test]
    fn a_file_of_neither_format_is_refused() {
        let e = parse(Path::new("k"), b"XOPKEYS9").unwrap_err().to_string();
        assert!(e.contains("not a subject key file"), "{e}");
        assert!(parse(Path::new("k"), b"").is_err());
    }

    #[test]
    fn records_name_keys_the_file_must_have_unless_erased() {
        let mut refs = KeyRefs::default();
        let decision = |seq: u64, ids: &[&str]| {
            let items: Vec<String> = ids
                .iter()
                .map(|id| format!(r#"{{"path":"to.msisdn","hmac":"00","key":"{id}"}}"#))
                .collect();
            format!(
                r#"{{"seq":{seq},"time":"t","kind":"decision","module":"m","policy":"p","at":"t","evidence":[{}],"signals":[{{"signal":"s","value":{{"key":"zz"}}}}],"verdict":"allow","reasons":[],"fired":[]}}"#,
                items.join(",")
            )
        };
        refs.note_bytes(0, decision(0, &["a1", "b2"]).as_bytes());
        refs.note_bytes(1, decision(1, &["a1", "c3"]).as_bytes());
        refs.note_bytes(2, br#"{"seq":2,"time":"t","kind":"erasure","key":"b2"}"#);
        refs.note_bytes(
            3,
            br#"{"seq":3,"time":"t","kind":"event","name":"x","data":{"key":"d4"}}"#,
        );
        refs.note_bytes(4, decision(4, &["e5"]).as_bytes());
        // Record 4 is in a batch that was never committed.
        refs.truncate(4);
        // A signal's value and an event's data are not evidence: "zz" and "d4" are not named.
        assert_eq!(
            refs.named,
            HashMap::from([("a1".into(), 0), ("b2".into(), 0), ("c3".into(), 1)])
        );
        assert_eq!(refs.erased, HashMap::from([("b2".into(), 2)]));
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<String>>();
        assert_eq!(
            check_ids(&refs, &ids(&["a1", "c3", "x9"])),
            KeyCheck::default()
        );
        // b2's erasure record is durable, its slot not yet zeroed.
        let c = check_ids(&refs, &ids(&["a1", "b2", "c3"]));
        assert_eq!(c.unerased, [("b2".to_string(), 2)]);
        assert!(c.missing.is_empty());
        // a1 and c3 are gone with no erasure record: named in record order.
        let c = check_ids(&refs, &ids(&[]));
        assert_eq!(c.missing, [("a1".to_string(), 0), ("c3".to_string(), 1)]);
        let m = c.missing_message("`subjects.keys`").unwrap();
        assert!(
            m.starts_with("record 0 names subject key a1, which `subjects.keys` does not have")
                && m.contains("(1 more key, named by a later record, is missing too)"),
            "{m}"
        );
    }
}
