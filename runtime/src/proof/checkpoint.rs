//! Signed checkpoints in the C2SP formats, so that any tlog tool (witnesses, Go's
//! `golang.org/x/mod/sumdb/note`, Sigsum) can check them:
//!
//! - the checkpoint body (C2SP `tlog-checkpoint`): the origin line, the tree size in decimal,
//!   the root hash in standard base64, each ending in `\n`;
//! - the signed note (C2SP `signed-note`): the body, an empty line, then one line per signature,
//!   `— <key name> <base64(key id || signature)>` (an em dash, U+2014). The key id is the first
//!   4 bytes of `SHA-256(key name || 0x0A || 0x01 || public key)` for Ed25519 (signature type
//!   0x01); the Ed25519 signature is over the body, its final newline included.
//!
//! The key name is the origin.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The Ed25519 signature type of signed notes.
const ED25519_TYPE: u8 = 0x01;
/// The signature line's prefix: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// A tree head: the log's identity, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (its unique name, e.g. `xop.example/acme-log`).
    pub origin: String,
    /// How many records the tree has.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
}

/// Why a checkpoint or signed note was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The text is not a signed note (no blank line before the signatures, a malformed line).
    Malformed(String),
    /// No signature by the expected key (name and key id).
    NoSignature {
        /// The key name looked for.
        name: String,
    },
    /// The expected key's signature does not verify: the checkpoint was altered.
    BadSignature {
        /// The key name.
        name: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Malformed(why) => write!(f, "malformed checkpoint: {why}"),
            CheckpointError::NoSignature { name } => write!(
                f,
                "the checkpoint has no signature by key `{name}` with the trusted public key \
                 (was the log signed with another key? pass its public key with --key)"
            ),
            CheckpointError::BadSignature { name } => write!(
                f,
                "the signature by `{name}` does not verify: the checkpoint was altered"
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// The signed-note key id of an Ed25519 key named `name`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_TYPE]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl Checkpoint {
    /// The checkpoint body: origin, size and base64 root, each line ending in `\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// The signed note: the body, a blank line and the signature line of `key` (named by
    /// the origin).
    pub fn sign(&self, key: &SigningKey) -> String {
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_id(&self.origin, &key.verifying_key()));
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.origin,
            B64.encode(blob)
        )
    }

    /// Parses a checkpoint body (without signatures).
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_string());
        if !body.ends_with('\n') {
            return Err(bad("the body does not end with a newline"));
        }
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("the origin line is empty"));
        }
        let size = lines
            .next()
            .ok_or_else(|| bad("no tree size line"))?
            .parse::<u64>()
            .map_err(|_| bad("the tree size is not a decimal number"))?;
        let root_text = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root: Hash = B64
            .decode(root_text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the root hash is not 32 bytes of base64"))?;
        // Other lines are extensions (allowed by the spec, unused here).
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Opens a signed note: checks the signature of `key` (its name is the note's origin) and
    /// returns the checkpoint. Signatures by other keys are ignored, as the spec says.
    pub fn open(note: &str, key: &VerifyingKey) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError::Malformed(why.to_string());
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line between the body and the signatures"))?;
        let body = &note[..=split];
        let checkpoint = Checkpoint::parse_body(body)?;
        let signatures = &note[split + 2..];
        if !signatures.ends_with('\n') {
            return Err(bad("the last signature line does not end with a newline"));
        }
        let want = key_id(&checkpoint.origin, key);
        for line in signatures.lines() {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or_else(|| bad("a signature line does not start with \"— \""))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| bad("a signature line has no signature"))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| bad("a signature is not base64"))?;
            if blob.len() < 4 {
                return Err(bad("a signature is shorter than its key id"));
            }
            if name != checkpoint.origin || blob[..4] != want {
                continue;
            }
            let signature: [u8; 64] =
                blob[4..]
                    .try_into()
                    .map_err(|_| CheckpointError::BadSignature {
                        name: name.to_string(),
                    })?;
            return key
                .verify_strict(body.as_bytes(), &Signature::from_bytes(&signature))
                .map(|()| checkpoint)
                .map_err(|_| CheckpointError::BadSignature {
                    name: name.to_string(),
                });
        }
        Err(CheckpointError::NoSignature {
            name: checkpoint.origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "xop.example/log".into(),
            size: 8,
            root: super::super::merkle::empty_root(),
        }
    }

    #[test]
    fn the_note_has_the_c2sp_layout() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let note = checkpoint().sign(&key);
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines[0], "xop.example/log");
        assert_eq!(lines[1], "8");
        assert_eq!(lines[2], "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} xop.example/log "), "{note}");
        assert_eq!(lines[5], "");
        // key id || 64-byte signature.
        let blob = B64.decode(lines[4].rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(blob.len(), 68);
        assert_eq!(blob[..4], key_id("xop.example/log", &key.verifying_key()));
        assert_eq!(
            Checkpoint::open(&note, &key.verifying_key()).unwrap(),
            checkpoint()
        );
    }

    #[test]
    fn altered_or_foreign_notes_are_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let note = checkpoint().sign(&key);
        let altered = note.replacen("\n8\n", "\n9\n", 1);
        assert!(matches!(
            Checkpoint::open(&altered, &key.verifying_key()),
            Err(CheckpointError::BadSignature { .. })
        ));
        assert!(matches!(
            Checkpoint::open(&note, &other.verifying_key()),
            Err(CheckpointError::NoSignature { .. })
        ));
        for junk in [
            "",
            "\n\n",
            "a\n1\nxx\n\n\u{2014} a AAAA\n",
            "no blank line\n",
        ] {
            assert!(
                Checkpoint::open(junk, &key.verifying_key()).is_err(),
                "{junk:?}"
            );
        }
        // A second signer's line is ignored; ours still decides.
        let cosigned = format!("{note}\u{2014} witness AAAAAAAA\n");
        assert!(Checkpoint::open(&cosigned, &key.verifying_key()).is_ok());
    }
}
