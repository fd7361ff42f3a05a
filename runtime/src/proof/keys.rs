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

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::LogError;
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

impl SubjectKeys {
    /// Opens the key file at `path`, creating it when it is missing (or empty) unless
    /// `history` gives the number of records the log already has: then a missing file is an
    /// error, since a new one would silently unlink every subject's evidence from its key
    /// without an erasure record.
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
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                offset: 0,
                message: "not a subject key file (it does not start with XOPKEYS1)".into(),
            });
        }
        // A torn last slot (a crash while it was written) is ignored: no acknowledged record
        // used it, since records are synced only after their keys.
        let body = &bytes[MAGIC.len()..];
        let slots = (body.len() / SLOT) as u64;
        let mut keys = HashMap::new();
        for (i, s) in body.chunks_exact(SLOT).enumerate() {
            if s.iter().all(|&b| b == 0) {
                continue;
            }
            let mut id = [0u8; 16];
            let mut sh = [0u8; 32];
            let mut key = [0u8; 32];
            id.copy_from_slice(&s[..16]);
            sh.copy_from_slice(&s[16..48]);
            key.copy_from_slice(&s[48..80]);
            keys.insert(sh, (i as u64, id, key));
        }
        Ok(SubjectKeys {
            file,
            keys,
            pending: Vec::new(),
            slots,
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

    /// Erases `subject`'s key: overwrites its slot with zeros and syncs. Returns the erased
    /// key's id (hex), or `None` if the subject has no key.
    pub fn erase(&mut self, subject: &str, path: &Path) -> Result<Option<String>, LogError> {
        let sh = subject_hash(subject);
        let Some((slot, id, _)) = self.keys.remove(&sh) else {
            return Ok(None);
        };
        // Written first if still pending, so the zeros below land on the real slot.
        self.flush(path)?;
        let io = |e: std::io::Error| LogError::io(path, &e);
        self.file
            .seek(SeekFrom::Start(MAGIC.len() as u64 + slot * SLOT as u64))
            .map_err(io)?;
        self.file.write_all(&[0u8; SLOT]).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        Ok(Some(hex(&id)))
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
        assert_eq!(k.erase("cust-1", &path).unwrap(), Some(hex(&id1)));
        assert_eq!(k.erase("cust-1", &path).unwrap(), None);
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
}
