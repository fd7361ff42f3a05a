//! Keys kept beside the log, never in it.
//!
//! - **Subject keys** (`subjects.keys`): one 32-byte HMAC key per data subject, with which the
//!   subject's `@personal` evidence is hashed. The file is the magic `XOPKEYS1` and fixed
//!   80-byte slots: the key's 16-byte id, SHA-256 of the subject id (the id itself is not
//!   stored), the key. Erasing a subject overwrites its slot with zeros in place and syncs the
//!   file: the records keep their hashes (the tree is unchanged) but nobody can link them to a
//!   value any more, since the key is gone.
//! - **The log's signing key** (`log.key`, mode 0600, and `log.pub`), in the `xop keygen`
//!   format, created with the log unless the caller brings its own.
//!
//! The key file must hold every key a committed record names, unless an erasure record names
//! it ([`KeyRefs`], [`check`]): keys are synced before the records that use them, so after a
//! crash the file may hold keys no record names (their batch was never acknowledged), never
//! the reverse. An erasure record is made durable before the key's slot is zeroed, so a crash
//! between the two leaves a key that opening the log erases; a key missing with no erasure
//! record is damage (a file cut short, a slot zeroed by hand, an older copy put back), and the
//! log is refused rather than given new keys that would hide the loss.

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

const MAGIC: &[u8; 8] = b"XOPKEYS1";
const SLOT: usize = 80;

/// The subject key store.
#[derive(Debug)]
pub struct SubjectKeys {
    file: File,
    /// Subject hash → (slot, key id, key).
    keys: HashMap<[u8; 32], (u64, [u8; 16], [u8; 32])>,
    /// Slots created since the last flush: written (and synced) before any record that uses
    /// them is acknowledged.
    pending: Vec<(u64, [u8; 80])>,
    slots: u64,
}

fn subject_hash(subject: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"xop-subject\0");
    h.update(subject.as_bytes());
    h.finalize().into()
}

fn random<const N: usize>() -> Result<[u8; N], LogError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| LogError::Io {
        path: "(random source)".into(),
        message: format!("the operating system's random source failed: {e}"),
    })?;
    Ok(b)
}

/// The keys in a key file's bytes (after its magic): (slot, key id, subject hash, key) for
/// each slot that is not all zeros (an erased or never written one). A torn last slot (a
/// crash while it was written) is ignored: no acknowledged record used it, since records are
/// synced only after their keys.
fn slots(body: &[u8]) -> impl Iterator<Item = (u64, [u8; 16], [u8; 32], [u8; 32])> + '_ {
    body.chunks_exact(SLOT)
        .enumerate()
        .filter(|(_, s)| s.iter().any(|&b| b != 0))
        .map(|(i, s)| {
            let mut id = [0u8; 16];
            let mut sh = [0u8; 32];
            let mut key = [0u8; 32];
            id.copy_from_slice(&s[..16]);
            sh.copy_from_slice(&s[16..48]);
            key.copy_from_slice(&s[48..80]);
            (i as u64, id, sh, key)
        })
}

fn not_a_key_file(path: &Path) -> LogError {
    LogError::Corrupt {
        path: path.display().to_string(),
        offset: 0,
        message: "not a subject key file (it does not start with XOPKEYS1)".into(),
    }
}

/// The ids (hex) of the keys in the key file at `path`, read without opening it for writing
/// (for `xop log verify`); `None` when there is no such file.
pub fn read_key_ids(path: &Path) -> Result<Option<HashSet<String>>, LogError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(path, &e)),
    };
    let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(not_a_key_file(path));
    };
    Ok(Some(slots(body).map(|(_, id, _, _)| hex(&id)).collect()))
}

impl SubjectKeys {
    /// Opens the key file at `path`, creating it when it is missing (or empty) unless
    /// `history` gives the number of records the log already has: then a missing file is an
    /// error, since a new one would silently unlink every subject's evidence from its key
    /// without an erasure record. Whether the file holds every key the records name is
    /// [`check`]ed by the caller, which has read the records.
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
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(history.is_none())
            .truncate(false)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && history.is_some() => {
                return Err(missing("missing"));
            }
            Err(e) => return Err(io(e)),
        };
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
        let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return Err(not_a_key_file(path));
        };
        let keys = slots(body)
            .map(|(slot, id, sh, key)| (sh, (slot, id, key)))
            .collect();
        Ok(SubjectKeys {
            file,
            keys,
            pending: Vec::new(),
            slots: (body.len() / SLOT) as u64,
        })
    }

    /// The key of `subject`, created if it has none (durable at the next [`Self::flush`]).
    pub fn key_for(&mut self, subject: &str) -> Result<([u8; 16], [u8; 32]), LogError> {
        let sh = subject_hash(subject);
        if let Some((_, id, key)) = self.keys.get(&sh) {
            return Ok((*id, *key));
        }
        let id: [u8; 16] = random()?;
        let key: [u8; 32] = random()?;
        let slot = self.slots;
        self.slots += 1;
        let mut bytes = [0u8; SLOT];
        bytes[..16].copy_from_slice(&id);
        bytes[16..48].copy_from_slice(&sh);
        bytes[48..].copy_from_slice(&key);
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

    /// The ids (hex) of the keys it holds.
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

    /// Takes `subject`'s key out of use, the first step of erasing it: later decisions about
    /// the subject get a new key. Returns its slot and id, or `None` if the subject has no key.
    /// The slot stays in the file until [`Self::zero_slot`], once the erasure record is
    /// durable.
    pub fn take(&mut self, subject: &str) -> Option<(u64, [u8; 16])> {
        self.keys
            .remove(&subject_hash(subject))
            .map(|(slot, id, _)| (slot, id))
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

    /// Erases the key with id `id` (hex), if the file has it: for an erasure whose record is
    /// durable but whose slot a crash left unzeroed. Returns whether there was one.
    pub fn erase_id(&mut self, id: &str, path: &Path) -> Result<bool, LogError> {
        let Some(sh) = self
            .keys
            .iter()
            .find(|(_, (_, kid, _))| hex(kid) == id)
            .map(|(sh, _)| *sh)
        else {
            return Ok(false);
        };
        let Some((slot, _, _)) = self.keys.remove(&sh) else {
            return Ok(false);
        };
        self.zero_slot(slot, path)?;
        Ok(true)
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

/// What a key file lacks, or still holds, given what a log's records name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Key ids that records name, that the file does not have and no erasure record names,
    /// each with the first record naming it, in record order: damage.
    pub missing: Vec<(String, u64)>,
    /// Key ids that an erasure record names and the file still has, each with that record:
    /// an erasure a crash interrupted after its record was durable (opening the log finishes
    /// it).
    pub unerased: Vec<(String, u64)>,
}

/// Checks the key ids `ids` of a key file against what the records name.
pub fn check(refs: &KeyRefs, ids: &HashSet<String>) -> KeyCheck {
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
    KeyCheck { missing, unerased }
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
    match std::fs::read_to_string(&secret) {
        Ok(text) => parse_signing_key(&text).map_err(|e| LogError::Config(format!(
            "`{}` is not a secret key: {e}; restore it, or remove it to start a log with a new key",
            secret.display()
        ))),
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
            write_private(&secret, secret_text.as_bytes())?;
            let public = dir.join("log.pub");
            std::fs::write(&public, public_text).map_err(|e| LogError::io(&public, &e))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(LogError::io(&secret, &e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| LogError::io(path, &e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| LogError::io(path, &e))
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
        k.flush(&path).unwrap();
        drop(k);

        let mut k = SubjectKeys::open(&path, None).unwrap();
        assert_eq!(k.key_for("cust-1").unwrap(), (id1, key1));
        let (slot, id) = k.take("cust-1").unwrap();
        assert_eq!(id, id1);
        assert_eq!(k.take("cust-1"), None);
        k.zero_slot(slot, &path).unwrap();
        drop(k);

        let bytes = std::fs::read(&path).unwrap();
        // The key's bytes are gone from the file, not just marked deleted.
        assert!(!bytes.windows(32).any(|w| w == key1));
        let mut k = SubjectKeys::open(&path, None).unwrap();
        assert_eq!(k.key_by_id(&hex(&id1)), None);
        assert!(k.key_by_id(&hex(&id2)).is_some());
        // A new key for an erased subject is a new key.
        assert_ne!(k.key_for("cust-1").unwrap().1, key1);
    }

    #[test]
    fn an_interrupted_erasure_is_finished_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subjects.keys");
        let mut k = SubjectKeys::open(&path, None).unwrap();
        let (id, key) = k.key_for("cust-1").unwrap();
        k.flush(&path).unwrap();
        assert!(k.erase_id(&hex(&id), &path).unwrap());
        assert!(!k.erase_id(&hex(&id), &path).unwrap());
        drop(k);
        assert!(!std::fs::read(&path).unwrap().windows(32).any(|w| w == key));
        assert_eq!(read_key_ids(&path).unwrap(), Some(HashSet::new()));
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
        assert_eq!(check(&refs, &ids(&["a1", "c3", "x9"])), KeyCheck::default());
        // b2's erasure record is durable, its slot not yet zeroed.
        let c = check(&refs, &ids(&["a1", "b2", "c3"]));
        assert_eq!(c.unerased, [("b2".to_string(), 2)]);
        assert!(c.missing.is_empty());
        // a1 and c3 are gone with no erasure record: named in record order.
        let c = check(&refs, &ids(&[]));
        assert_eq!(c.missing, [("a1".to_string(), 0), ("c3".to_string(), 1)]);
        let m = c.missing_message("`subjects.keys`").unwrap();
        assert!(
            m.starts_with("record 0 names subject key a1, which `subjects.keys` does not have")
                && m.contains("(1 more key, named by a later record, is missing too)"),
            "{m}"
        );
    }
}
