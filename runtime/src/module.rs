//! Compiled policy modules (`.xopm` files): versioned, content-addressed, optionally signed.
//!
//! Layout (integers little-endian):
//!
//! | bytes | content |
//! |-------|---------|
//! | 4  | magic `XOPM` |
//! | 4  | format version ([`FORMAT_VERSION`]) |
//! | 32 | integrity hash: SHA-256 of every other byte before the signature section (the magic, the version, the source hash, the payload length and the payload) |
//! | 32 | source hash: SHA-256 over the sources (see [`hash_sources`]) |
//! | 4  | payload length |
//! | n  | payload: postcard of the [`Program`] and the list of source paths |
//! | 100 | optional signature section: `SIG1`, the 32-byte Ed25519 public key, and the 64-byte signature over every byte before `SIG1` |
//!
//! The integrity hash covers the header too, so that no byte of an unsigned module (the source
//! hash included) can change unnoticed. A module's identity in logs is [`content_hash`], the
//! SHA-256 of the whole file.
//!
//! Keys are stored as one line of text: `xop-ed25519-secret:<64 hex digits>` (the 32-byte seed)
//! and `xop-ed25519-public:<64 hex digits>`.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ir::{
    AgentDef, DecisionDef, EnumType, Expr, FORMAT_VERSION, Policy, Program, RecordType, SignalDecl,
    SourceRef, Symbol, TestCase, Verdict,
};

/// The file's first four bytes.
pub const MAGIC: &[u8; 4] = b"XOPM";
/// The signature section's first four bytes.
pub const SIGNATURE_MAGIC: &[u8; 4] = b"SIG1";

const HASH_AT: usize = 8;
const SOURCE_HASH_AT: usize = 40;
const LEN_AT: usize = 72;
const HEADER_LEN: usize = 76;
const SIGNATURE_SECTION_LEN: usize = 4 + 32 + 64;

const SECRET_PREFIX: &str = "xop-ed25519-secret:";
const PUBLIC_PREFIX: &str = "xop-ed25519-public:";

/// A compiled module: the program and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// The program.
    pub program: Program,
    /// SHA-256 over the sources (see [`hash_sources`]).
    pub source_hash: [u8; 32],
    /// The sources' paths.
    pub sources: Vec<String>,
}

/// A module read from bytes, with what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModule {
    /// The module.
    pub module: Module,
    /// SHA-256 of the whole file (its identity in logs).
    pub content_hash: [u8; 32],
    /// The key that signed it, if it is signed (the signature is verified).
    pub signer: Option<VerifyingKey>,
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    program: &'a Program,
    sources: &'a [String],
}

#[derive(Deserialize)]
struct Payload {
    program: Program,
    sources: Vec<String>,
}

/// The oldest format version this runtime still reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// A version 1 payload: a program without agents. Postcard is not self-describing (a missing
/// trailing field is not "absent", the next field's bytes would be read as it), so the old
/// layout is decoded with its own struct rather than with `#[serde(default)]`.
#[derive(Deserialize)]
struct PayloadV1 {
    program: ProgramV1,
    sources: Vec<String>,
}

#[derive(Deserialize)]
struct ProgramV1 {
    records: Vec<RecordType>,
    enums: Vec<EnumType>,
    symbols: Vec<Symbol>,
    signals: Vec<SignalDecl>,
    policies: Vec<Policy>,
    tests: Vec<TestCaseV2>,
    decisions: Vec<DecisionDef>,
}

impl From<PayloadV1> for Payload {
    fn from(v1: PayloadV1) -> Payload {
        let p = v1.program;
        Payload {
            program: Program {
                records: p.records,
                enums: p.enums,
                symbols: p.symbols,
                signals: p.signals,
                policies: p.policies,
                tests: p.tests.into_iter().map(TestCase::from).collect(),
                decisions: p.decisions,
                agents: Vec::new(),
            },
            sources: v1.sources,
        }
    }
}

/// A version 2 payload: agents, and tests of one policy each (no [`TestCase::action`]).
#[derive(Deserialize)]
struct PayloadV2 {
    program: ProgramV2,
    sources: Vec<String>,
}

#[derive(Deserialize)]
struct ProgramV2 {
    records: Vec<RecordType>,
    enums: Vec<EnumType>,
    symbols: Vec<Symbol>,
    signals: Vec<SignalDecl>,
    policies: Vec<Policy>,
    tests: Vec<TestCaseV2>,
    decisions: Vec<DecisionDef>,
    agents: Vec<AgentDef>,
}

/// A test case of versions 1 and 2: always of one policy.
#[derive(Deserialize)]
struct TestCaseV2 {
    name: String,
    policy: u32,
    args: Vec<Expr>,
    now: i64,
    given: Vec<(u32, Expr)>,
    expect: Verdict,
    reasons: Option<Vec<String>>,
    source: SourceRef,
}

impl From<TestCaseV2> for TestCase {
    fn from(t: TestCaseV2) -> TestCase {
        TestCase {
            name: t.name,
            policy: t.policy,
            args: t.args,
            now: t.now,
            given: t.given,
            expect: t.expect,
            reasons: t.reasons,
            source: t.source,
            action: None,
        }
    }
}

impl From<PayloadV2> for Payload {
    fn from(v2: PayloadV2) -> Payload {
        let p = v2.program;
        Payload {
            program: Program {
                records: p.records,
                enums: p.enums,
                symbols: p.symbols,
                signals: p.signals,
                policies: p.policies,
                tests: p.tests.into_iter().map(TestCase::from).collect(),
                decisions: p.decisions,
                agents: p.agents,
            },
            sources: v2.sources,
        }
    }
}

/// Decodes a payload of format `version` (one this runtime reads), refusing unused bytes.
fn decode_payload(version: u32, bytes: &[u8]) -> Result<Payload, ModuleError> {
    fn take<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ModuleError> {
        crate::ir::Level::exceeded();
        let (value, unused): (T, &[u8]) = postcard::take_from_bytes(bytes).map_err(|e| {
            ModuleError::Malformed(if crate::ir::Level::exceeded() {
                crate::ir::too_deep()
            } else {
                e.to_string()
            })
        })?;
        if !unused.is_empty() {
            return Err(ModuleError::Malformed(format!(
                "{} unused byte(s) after the program",
                unused.len()
            )));
        }
        Ok(value)
    }
    match version {
        1 => take::<PayloadV1>(bytes).map(Payload::from),
        2 => take::<PayloadV2>(bytes).map(Payload::from),
        _ => take::<Payload>(bytes),
    }
}

/// Why a module was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleError {
    /// The file does not start with `XOPM`.
    BadMagic,
    /// The module has another format version.
    UnsupportedVersion {
        /// The module's version.
        found: u32,
        /// The version this runtime reads.
        expected: u32,
    },
    /// The file ends before its header, payload or signature section does.
    Truncated {
        /// The length the file should have at least.
        needed: usize,
        /// Its length.
        len: usize,
    },
    /// The integrity hash does not match: the module was altered or damaged.
    HashMismatch,
    /// Bytes after the payload that are not a signature section, or after the signature.
    TrailingData {
        /// How many unexpected bytes.
        extra: usize,
    },
    /// The payload's hash matches but it does not decode (a module from an incompatible build).
    Malformed(String),
    /// A trusted key was required and the module is not signed.
    Unsigned,
    /// The module is signed by a key other than the trusted one.
    UntrustedSigner {
        /// The signer's public key, hex.
        signer: String,
        /// The trusted key, hex.
        trusted: String,
    },
    /// The signature does not verify: the module or its signature was altered.
    BadSignature,
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleError::BadMagic => {
                write!(
                    f,
                    "not an XOP module: the file does not start with \"XOPM\""
                )
            }
            ModuleError::UnsupportedVersion { found, expected } => write!(
                f,
                "unsupported module format version {found} (this runtime reads versions \
                 {OLDEST_READABLE_VERSION} to {expected}); rebuild the module with a matching \
                 `xop build`"
            ),
            ModuleError::Truncated { needed, len } => write!(
                f,
                "the module is truncated: it has {len} bytes, at least {needed} are needed"
            ),
            ModuleError::HashMismatch => write!(
                f,
                "the module is corrupted or was altered: its integrity hash does not match its \
                 content"
            ),
            ModuleError::TrailingData { extra } => write!(
                f,
                "the module has {extra} unexpected trailing byte(s) after its content"
            ),
            ModuleError::Malformed(why) => write!(
                f,
                "the module's program does not decode ({why}); rebuild it with a matching \
                 `xop build`"
            ),
            ModuleError::Unsigned => write!(
                f,
                "the module is not signed, but a trusted key is required; sign it with \
                 `xop build --sign KEYFILE`, using the secret key of the trusted public key"
            ),
            ModuleError::UntrustedSigner { signer, trusted } => write!(
                f,
                "the module is signed by key {signer}, not by the trusted key {trusted}; \
                 rebuild it with `xop build --sign KEYFILE` using the trusted key's secret \
                 key, or trust the key that signed it if you know it is yours"
            ),
            ModuleError::BadSignature => write!(
                f,
                "the module's signature is invalid: the module or its signature was altered; \
                 do not load it, rebuild and sign it again from its sources"
            ),
        }
    }
}

impl std::error::Error for ModuleError {}

impl Module {
    /// The module's file content, signed with `signing_key` if given.
    ///
    /// Deterministic: the same module and key give the same bytes.
    ///
    /// # Panics
    ///
    /// If the payload exceeds 4 GiB.
    pub fn to_bytes(&self, signing_key: Option<&SigningKey>) -> Vec<u8> {
        let payload = postcard::to_stdvec(&PayloadRef {
            program: &self.program,
            sources: &self.sources,
        })
        .expect("a program always serializes");
        let len = u32::try_from(payload.len()).expect("module payload exceeds 4 GiB");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + SIGNATURE_SECTION_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 32]);
        out.extend_from_slice(&self.source_hash);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&payload);
        let hash = integrity_hash(&out);
        out[HASH_AT..SOURCE_HASH_AT].copy_from_slice(&hash);
        if let Some(key) = signing_key {
            let signature = key.sign(&out);
            out.extend_from_slice(SIGNATURE_MAGIC);
            out.extend_from_slice(key.verifying_key().as_bytes());
            out.extend_from_slice(&signature.to_bytes());
        }
        out
    }

    /// Reads a module, refusing any that is damaged, altered, of another format version, or —
    /// when `trust` is given — not signed by that key. A signature is verified even when
    /// `trust` is not given.
    pub fn from_bytes(bytes: &[u8], trust: Option<&VerifyingKey>) -> Result<Module, ModuleError> {
        load(bytes, trust).map(|loaded| loaded.module)
    }
}

/// Reads a module like [`Module::from_bytes`], also returning its content hash and signer.
pub fn load(bytes: &[u8], trust: Option<&VerifyingKey>) -> Result<LoadedModule, ModuleError> {
    let len = bytes.len();
    // Magic first: a short file that is not a prefix of the magic is not a module at all.
    let magic_len = len.min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(ModuleError::BadMagic);
    }
    if len < HASH_AT {
        return Err(ModuleError::Truncated {
            needed: HEADER_LEN,
            len,
        });
    }
    let version = u32::from_le_bytes(bytes[4..HASH_AT].try_into().expect("4 bytes"));
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(ModuleError::UnsupportedVersion {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    if len < HEADER_LEN {
        return Err(ModuleError::Truncated {
            needed: HEADER_LEN,
            len,
        });
    }
    let payload_len = u32::from_le_bytes(bytes[LEN_AT..HEADER_LEN].try_into().expect("4 bytes"));
    let end = HEADER_LEN + payload_len as usize;
    if len < end {
        return Err(ModuleError::Truncated { needed: end, len });
    }
    let signed = &bytes[..end];
    if integrity_hash(signed)[..] != bytes[HASH_AT..SOURCE_HASH_AT] {
        return Err(ModuleError::HashMismatch);
    }

    let rest = &bytes[end..];
    let signer = if rest.is_empty() {
        None
    } else {
        let prefix = rest.len().min(SIGNATURE_MAGIC.len());
        if rest[..prefix] != SIGNATURE_MAGIC[..prefix] {
            return Err(ModuleError::TrailingData { extra: rest.len() });
        }
        if rest.len() < SIGNATURE_SECTION_LEN {
            return Err(ModuleError::Truncated {
                needed: end + SIGNATURE_SECTION_LEN,
                len,
            });
        }
        if rest.len() > SIGNATURE_SECTION_LEN {
            return Err(ModuleError::TrailingData {
                extra: rest.len() - SIGNATURE_SECTION_LEN,
            });
        }
        let key: [u8; 32] = rest[4..36].try_into().expect("32 bytes");
        let signature: [u8; 64] = rest[36..100].try_into().expect("64 bytes");
        let key = VerifyingKey::from_bytes(&key).map_err(|_| ModuleError::BadSignature)?;
        // Verified before the signer is compared with the trusted key: a key whose signature
        // does not verify signed nothing, and naming it as the signer would send the operator
        // to trust a key that cannot load the module either.
        key.verify_strict(signed, &Signature::from_bytes(&signature))
            .map_err(|_| ModuleError::BadSignature)?;
        if let Some(trusted) = trust
            && trusted != &key
        {
            return Err(ModuleError::UntrustedSigner {
                signer: hex(key.as_bytes()),
                trusted: hex(trusted.as_bytes()),
            });
        }
        Some(key)
    };
    if trust.is_some() && signer.is_none() {
        return Err(ModuleError::Unsigned);
    }

    let payload = decode_payload(version, &bytes[HEADER_LEN..end])?;
    let source_hash: [u8; 32] = bytes[SOURCE_HASH_AT..LEN_AT].try_into().expect("32 bytes");
    Ok(LoadedModule {
        module: Module {
            program: payload.program,
            source_hash,
            sources: payload.sources,
        },
        content_hash: content_hash(bytes),
        signer,
    })
}

/// The integrity hash of `unsigned` (a module's bytes up to its signature section): SHA-256
/// of everything but the hash field itself.
fn integrity_hash(unsigned: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&unsigned[..HASH_AT]);
    h.update(&unsigned[SOURCE_HASH_AT..]);
    h.finalize().into()
}

/// SHA-256 of a whole module file: its identity in decision logs.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The source hash of a set of files, in the order given (sort them by path for a stable
/// hash): SHA-256 over, for each file, its path's length (u64 LE), its path, its content's
/// length (u64 LE) and its content.
pub fn hash_sources<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(content);
    }
    h.finalize().into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The text is a key of the other kind (a public key where a secret one is expected, or
    /// the reverse).
    WrongKind {
        /// What was expected: `secret` or `public`.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// The text does not start with `xop-ed25519-secret:` or `xop-ed25519-public:`.
    NotAKey,
    /// The key is not 64 hexadecimal digits.
    BadHex(String),
    /// The public key is not a valid Ed25519 point.
    InvalidPublicKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::WrongKind { expected, found } => write!(
                f,
                "this is an XOP {found} key, but a {expected} key is needed"
            ),
            KeyError::NotAKey => write!(
                f,
                "not an XOP key: expected a line \"{SECRET_PREFIX}<64 hex digits>\" or \
                 \"{PUBLIC_PREFIX}<64 hex digits>\""
            ),
            KeyError::BadHex(why) => write!(f, "malformed key: {why}"),
            KeyError::InvalidPublicKey => {
                write!(f, "invalid public key: not a valid Ed25519 public key")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The key files of the Ed25519 key pair derived from `seed` (take it from the OS's random
/// source): the secret key file's text and the public key file's text, each one line.
pub fn write_keypair(seed: [u8; 32]) -> (String, String) {
    let key = SigningKey::from_bytes(&seed);
    (
        format!("{SECRET_PREFIX}{}\n", hex(&seed)),
        public_key_text(&key.verifying_key()),
    )
}

/// A public key file's text.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}\n", hex(key.as_bytes()))
}

/// Reads a secret key file.
pub fn parse_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    let bytes = parse_key(text, "secret")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads a public key file.
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = parse_key(text, "public")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPublicKey)
}

/// Which of XOP's key files `bytes` are, by how they start, as [`parse_signing_key`] and
/// [`parse_verifying_key`] read them: `Some("secret")`, `Some("public")`, or `None` for any
/// other file. Enough to recognise a key given where another file is expected (a source)
/// without reading, or showing, the key itself.
pub fn key_kind(bytes: &[u8]) -> Option<&'static str> {
    split_key(&String::from_utf8_lossy(bytes)).map(|(kind, _)| kind)
}

/// Reads the secret key file `path` (from `xop keygen`). The error names the file and says
/// what is wrong (it cannot be read, is a compiled module, a public key, or no key), and never
/// shows the file's text.
pub fn read_signing_key(path: &std::path::Path) -> Result<SigningKey, String> {
    parse_signing_key(&read_key_file(path, "secret")?)
        .map_err(|e| format!("`{}` is not a secret key: {e}", path.display()))
}

/// Reads the public key file `path` (from `xop keygen`); the error, as
/// [`read_signing_key`]'s, names the file and says what is wrong.
pub fn read_verifying_key(path: &std::path::Path) -> Result<VerifyingKey, String> {
    parse_verifying_key(&read_key_file(path, "public")?)
        .map_err(|e| format!("`{}` is not a public key: {e}", path.display()))
}

/// The text of the key file `path`, read to parse as a `kind` key. A compiled module is named
/// as one (not read as text that is not UTF-8); a file longer than any key file is not read
/// whole (`--trust /dev/urandom` would never end).
fn read_key_file(path: &std::path::Path, kind: &str) -> Result<String, String> {
    use std::io::Read as _;
    const LIMIT: u64 = 64 * 1024;
    let shown = path.display();
    // The type is checked before the file is opened: opening a named pipe waits for a writer,
    // forever if none comes. A character device is read as a file (`/dev/null` is no key;
    // `/dev/zero` is cut at the limit below).
    let cannot_read = |e: std::io::Error| {
        format!(
            "cannot read the {kind} key `{shown}`: {}",
            crate::io::reason(&e)
        )
    };
    let meta = std::fs::metadata(path).map_err(cannot_read)?;
    #[cfg(unix)]
    let char_device = std::os::unix::fs::FileTypeExt::is_char_device(&meta.file_type());
    #[cfg(not(unix))]
    let char_device = false;
    if let Some(what) = crate::proof::not_a_file(meta.file_type())
        && !char_device
    {
        return Err(format!(
            "`{shown}` is {what}, not a {kind} key file: it is not read; give the file \
             `xop keygen` wrote"
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(LIMIT + 1).read_to_end(&mut bytes))
        .map_err(cannot_read)?;
    if bytes.starts_with(MAGIC) {
        return Err(format!(
            "`{shown}` is a compiled module, not a {kind} key (make one with `xop keygen`)"
        ));
    }
    if bytes.len() as u64 > LIMIT {
        return Err(format!(
            "`{shown}` is not a {kind} key: it is longer than 64 KiB, and a key file is one line \
             (make one with `xop keygen`)"
        ));
    }
    // Not UTF-8, it is no key: read all the same, so that the error says what a key is.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A key file's text split into its kind (`secret` or `public`) and what follows the prefix;
/// `None` when it starts with neither prefix.
fn split_key(text: &str) -> Option<(&'static str, &str)> {
    // One leading byte-order mark is skipped, as in sources and input JSON: editors on Windows
    // save one, and `trim` keeps it (U+FEFF is not white space).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    if let Some(d) = text.strip_prefix(SECRET_PREFIX) {
        Some(("secret", d))
    } else {
        text.strip_prefix(PUBLIC_PREFIX).map(|d| ("public", d))
    }
}

fn parse_key(text: &str, expected: &'static str) -> Result<[u8; 32], KeyError> {
    let Some((found, digits)) = split_key(text) else {
        return Err(KeyError::NotAKey);
    };
    if found != expected {
        return Err(KeyError::WrongKind { expected, found });
    }
    // Characters, not bytes: a key copied through an editor may hold any text.
    if let Some((at, c)) = (digits.chars().enumerate()).find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(KeyError::BadHex(format!(
            "{c:?} is not a hex digit (character {} after \"xop-ed25519-{found}:\"); a key \
             is 64 digits 0-9 and a-f, as `xop keygen` writes it",
            at + 1
        )));
    }
    // Only ASCII digits are left: as many characters as bytes.
    if digits.len() != 64 {
        return Err(KeyError::BadHex(format!(
            "expected 64 hex digits after \"xop-ed25519-{found}:\", found {}; a key is \
             written whole by `xop keygen`",
            digits.len()
        )));
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0);
        out[i] = (digit(pair[0]) << 4 | digit(pair[1])) as u8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{
        CmpOp, EnumType, Expr, Field, Param, Policy, RecordType, Rule, SourceRef, Type, Verdict,
    };
    use crate::value::Value;

    fn program() -> Program {
        Program {
            records: vec![RecordType {
                name: "acme.Customer".into(),
                fields: vec![Field {
                    name: "messages_7d".into(),
                    ty: Type::Int,
                    personal: false,
                }],
            }],
            enums: vec![EnumType {
                name: "acme.Segment".into(),
                variants: vec!["vip".into(), "standard".into()],
            }],
            symbols: vec![],
            signals: vec![],
            policies: vec![Policy {
                name: "contact".into(),
                qualified: "acme.contact".into(),
                action: "acme.send_offer".into(),
                params: vec![Param {
                    name: "to".into(),
                    ty: Type::Record(0),
                }],
                now_slot: None,
                slots: 1,
                rules: vec![Rule {
                    id: "contact#0".into(),
                    verdict: Verdict::Deny,
                    reason: Some("frequency-cap".into()),
                    condition: Some(Expr::Cmp(
                        CmpOp::Ge,
                        Box::new(Expr::Field(Box::new(Expr::Slot(0)), 0)),
                        Box::new(Expr::Const(Value::Int(3))),
                    )),
                    review: None,
                    source: SourceRef {
                        file: "acme.xop".into(),
                        line: 3,
                        column: 3,
                        text: "deny \"frequency-cap\" when c.messages_7d >= 3".into(),
                    },
                }],
            }],
            tests: vec![],
            decisions: vec![],
            agents: vec![],
        }
    }

    fn module() -> Module {
        let source = b"module acme\n";
        Module {
            program: program(),
            source_hash: hash_sources([("acme.xop", &source[..])]),
            sources: vec!["acme.xop".into()],
        }
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn round_trip_unsigned() {
        let m = module();
        let bytes = m.to_bytes(None);
        assert_eq!(&bytes[..4], b"XOPM");
        assert_eq!(Module::from_bytes(&bytes, None).unwrap(), m);
        let loaded = load(&bytes, None).unwrap();
        assert_eq!(loaded.signer, None);
        assert_eq!(loaded.content_hash, content_hash(&bytes));
        // Deterministic.
        assert_eq!(m.to_bytes(None), bytes);
    }

    #[test]
    fn round_trip_signed() {
        let m = module();
        let k = key(7);
        let bytes = m.to_bytes(Some(&k));
        assert_eq!(bytes.len(), m.to_bytes(None).len() + 100);
        assert_eq!(
            Module::from_bytes(&bytes, Some(&k.verifying_key())).unwrap(),
            m
        );
        // Without a trusted key the signature is still checked, and the signer reported.
        let loaded = load(&bytes, None).unwrap();
        assert_eq!(loaded.signer, Some(k.verifying_key()));
        assert_eq!(loaded.module, m);
        assert_eq!(m.to_bytes(Some(&k)), bytes);
        assert_ne!(content_hash(&bytes), content_hash(&m.to_bytes(None)));
    }

    #[test]
    fn round_trip_decimals() {
        let mut m = module();
        m.program.policies[0].rules[0].condition = Some(Expr::Const(Value::Money(
            rust_decimal::Decimal::new(1250, 2),
            "EUR".into(),
        )));
        let bytes = m.to_bytes(None);
        assert_eq!(Module::from_bytes(&bytes, None).unwrap(), m);
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let bytes = module().to_bytes(None);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let e = Module::from_bytes(&b, None).expect_err("a changed byte must be refused");
            match i {
                0..4 => assert_eq!(e, ModuleError::BadMagic, "byte {i}"),
                // Another version this runtime reads (3 becomes 2) is caught by the hash.
                4..8 if (OLDEST_READABLE_VERSION..=FORMAT_VERSION)
                    .contains(&u32::from_le_bytes([b[4], b[5], b[6], b[7]])) =>
                {
                    assert_eq!(e, ModuleError::HashMismatch, "byte {i}")
                }
                4..8 => assert!(
                    matches!(e, ModuleError::UnsupportedVersion { .. }),
                    "byte {i}: {e}"
                ),
                72..76 => assert!(
                    matches!(e, ModuleError::Truncated { .. } | ModuleError::HashMismatch),
                    "byte {i}: {e}"
                ),
                _ => assert_eq!(e, ModuleError::HashMismatch, "byte {i}"),
            }
        }
        // The source hash is covered too.
        let mut b = bytes.clone();
        b[SOURCE_HASH_AT] ^= 0x80;
        assert_eq!(
            Module::from_bytes(&b, None).unwrap_err(),
            ModuleError::HashMismatch
        );
    }

    #[test]
    fn another_version_is_refused() {
        let mut bytes = module().to_bytes(None);
        bytes[4..8].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let e = Module::from_bytes(&bytes, None).unwrap_err();
        assert_eq!(
            e,
            ModuleError::UnsupportedVersion {
                found: FORMAT_VERSION + 1,
                expected: FORMAT_VERSION
            }
        );
        assert!(e.to_string().contains("version 4"), "{e}");
        // Version 0 (below the oldest readable) too.
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            Module::from_bytes(&bytes, None),
            Err(ModuleError::UnsupportedVersion { found: 0, .. })
        ));
    }

    /// A test case as versions 1 and 2 wrote it: without [`TestCase::action`].
    #[derive(Serialize)]
    struct TestCaseV2Ref<'a> {
        name: &'a str,
        policy: u32,
        args: &'a [Expr],
        now: i64,
        given: &'a [(u32, Expr)],
        expect: Verdict,
        reasons: &'a Option<Vec<String>>,
        source: &'a SourceRef,
    }

    fn old_tests(p: &Program) -> Vec<TestCaseV2Ref<'_>> {
        p.tests
            .iter()
            .map(|t| {
                assert_eq!(t.action, None, "older modules have tests of one policy");
                TestCaseV2Ref {
                    name: &t.name,
                    policy: t.policy,
                    args: &t.args,
                    now: t.now,
                    given: &t.given,
                    expect: t.expect,
                    reasons: &t.reasons,
                    source: &t.source,
                }
            })
            .collect()
    }

    /// A module of `version` with `payload`, its integrity hash right.
    fn with_payload(version: u32, m: &Module, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(&m.source_hash);
        bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(payload);
        let hash = integrity_hash(&bytes);
        bytes[HASH_AT..SOURCE_HASH_AT].copy_from_slice(&hash);
        bytes
    }

    /// A test case of policy 0, as a module carries it.
    fn policy_test() -> TestCase {
        TestCase {
            name: "capped".into(),
            policy: 0,
            args: vec![Expr::Const(Value::Int(3))],
            now: TestCase::NO_TIME,
            given: vec![(0, Expr::Const(Value::Bool(true)))],
            expect: Verdict::Deny,
            reasons: Some(vec!["frequency-cap".into()]),
            source: SourceRef {
                file: "acme.xop".into(),
                line: 9,
                column: 3,
                text: "expect contact(send_offer(to: c)) == deny".into(),
            },
            action: None,
        }
    }

    /// A version 1 module (written before agents existed) still loads, with no agents.
    #[test]
    fn version_1_modules_still_load() {
        #[derive(Serialize)]
        struct ProgramV1Ref<'a> {
            records: &'a [RecordType],
            enums: &'a [EnumType],
            symbols: &'a [Symbol],
            signals: &'a [SignalDecl],
            policies: &'a [Policy],
            tests: Vec<TestCaseV2Ref<'a>>,
            decisions: &'a [DecisionDef],
        }
        #[derive(Serialize)]
        struct PayloadV1Ref<'a> {
            program: ProgramV1Ref<'a>,
            sources: &'a [String],
        }
        let mut m = module();
        m.program.tests.push(policy_test());
        let p = &m.program;
        assert!(p.agents.is_empty());
        let payload = postcard::to_stdvec(&PayloadV1Ref {
            program: ProgramV1Ref {
                records: &p.records,
                enums: &p.enums,
                symbols: &p.symbols,
                signals: &p.signals,
                policies: &p.policies,
                tests: old_tests(p),
                decisions: &p.decisions,
            },
            sources: &m.sources,
        })
        .unwrap();
        let bytes = with_payload(1, &m, &payload);
        assert_eq!(Module::from_bytes(&bytes, None).unwrap(), m);
        // The same bytes labelled version 2 do not decode as a version 2 program.
        let mut v2 = bytes.clone();
        v2[4..8].copy_from_slice(&2u32.to_le_bytes());
        let hash = integrity_hash(&v2[..]);
        v2[HASH_AT..SOURCE_HASH_AT].copy_from_slice(&hash);
        assert!(matches!(
            Module::from_bytes(&v2, None),
            Err(ModuleError::Malformed(_))
        ));
        // A version 2 module keeps its agents.
        let mut with_agent = module();
        with_agent.program.agents.push(crate::ir::AgentDef {
            name: "bot".into(),
            qualified: "acme.bot".into(),
            tools: vec![crate::ir::ToolBinding {
                tool: "crm.offer".into(),
                action: "acme.send_offer".into(),
                params: with_agent.program.policies[0].params.clone(),
                arguments: vec![crate::ir::ToolArgument {
                    argument: "to".into(),
                    param: 0,
                }],
                source: crate::ir::SourceRef::default(),
            }],
        });
        let bytes = with_agent.to_bytes(None);
        assert_eq!(bytes[4..8], FORMAT_VERSION.to_le_bytes());
        assert_eq!(Module::from_bytes(&bytes, None).unwrap(), with_agent);
    }

    /// A version 2 module (written before tests of an action's verdict existed) still loads:
    /// its agents kept, its tests all of one policy.
    #[test]
    fn version_2_modules_still_load() {
        #[derive(Serialize)]
        struct ProgramV2Ref<'a> {
            records: &'a [RecordType],
            enums: &'a [EnumType],
            symbols: &'a [Symbol],
            signals: &'a [SignalDecl],
            policies: &'a [Policy],
            tests: Vec<TestCaseV2Ref<'a>>,
            decisions: &'a [DecisionDef],
            agents: &'a [AgentDef],
        }
        #[derive(Serialize)]
        struct PayloadV2Ref<'a> {
            program: ProgramV2Ref<'a>,
            sources: &'a [String],
        }
        let mut m = module();
        m.program.tests.push(policy_test());
        m.program.tests.push(TestCase {
            name: "second".into(),
            reasons: None,
            ..policy_test()
        });
        m.program.agents.push(AgentDef {
            name: "bot".into(),
            qualified: "acme.bot".into(),
            tools: vec![],
        });
        let p = &m.program;
        let payload = postcard::to_stdvec(&PayloadV2Ref {
            program: ProgramV2Ref {
                records: &p.records,
                enums: &p.enums,
                symbols: &p.symbols,
                signals: &p.signals,
                policies: &p.policies,
                tests: old_tests(p),
                decisions: &p.decisions,
                agents: &p.agents,
            },
            sources: &m.sources,
        })
        .unwrap();
        let bytes = with_payload(2, &m, &payload);
        let loaded = Module::from_bytes(&bytes, None).unwrap();
        assert_eq!(loaded, m);
        assert!(loaded.program.tests.iter().all(|t| t.action.is_none()));
        // The same bytes read as version 3 are not that module: the layouts differ.
        let v3 = with_payload(3, &m, &payload);
        assert_ne!(Module::from_bytes(&v3, None).ok(), Some(m.clone()));
        // Version 3 carries a test of an action's verdict.
        let mut current = m.clone();
        current.program.tests[1].action = Some("acme.send_offer".into());
        let bytes = current.to_bytes(None);
        assert_eq!(bytes[4..8], 3u32.to_le_bytes());
        assert_eq!(Module::from_bytes(&bytes, None).unwrap(), current);
    }

    /// A module whose bytes describe an expression nested deeper than any program the
    /// compiler writes (and deeper than the stack would survive reading recursively): its
    /// integrity hash is right, as anyone can compute it; an unsigned module is read unless
    /// a trusted key is required.
    fn deeply_nested(levels: usize) -> Vec<u8> {
        let mut m = module();
        m.program.policies[0].rules[0].condition = Some(Expr::Not(Box::new(Expr::Slot(7))));
        let bytes = m.to_bytes(None);
        let payload = &bytes[HEADER_LEN..];
        // `Not` is variant 3 of `Expr`, `Slot` variant 1: `Not(Slot(7))` is 3, 1, 7.
        let at = payload
            .windows(3)
            .position(|w| w == [3, 1, 7])
            .expect("the condition's bytes");
        let mut deep = payload[..at].to_vec();
        deep.extend(std::iter::repeat_n(3u8, levels));
        deep.extend_from_slice(&payload[at + 1..]);
        let mut out = bytes[..HEADER_LEN].to_vec();
        out[LEN_AT..HEADER_LEN].copy_from_slice(&(deep.len() as u32).to_le_bytes());
        out.extend_from_slice(&deep);
        let hash = integrity_hash(&out);
        out[HASH_AT..SOURCE_HASH_AT].copy_from_slice(&hash);
        out
    }

    #[test]
    fn deeply_nested_programs_are_refused_not_a_crash() {
        // Within the limit: read as written.
        let loaded = load(&deeply_nested(100), None).expect("100 levels");
        let mut e = loaded.module.program.policies[0].rules[0]
            .condition
            .as_ref()
            .expect("a condition");
        let mut depth = 0;
        while let Expr::Not(inner) = e {
            depth += 1;
            e = inner;
        }
        assert_eq!((depth, e), (100, &Expr::Slot(7)));
        // A million levels, read on a thread with a 2 MiB stack (as `xop serve`'s workers).
        let bytes = deeply_nested(1_000_000);
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || load(&bytes, None).map(|_| ()))
            .expect("a thread")
            .join()
            .expect("no panic");
        match result {
            Err(ModuleError::Malformed(m)) => assert!(m.contains("nested deeper than"), "{m}"),
            other => panic!("expected a malformed module, got {other:?}"),
        }
    }

    #[test]
    fn truncation_and_trailing_data_are_refused() {
        let unsigned = module().to_bytes(None);
        let signed = module().to_bytes(Some(&key(1)));
        for cut in [0, 2, 4, 6, 8, 40, 75, 76, unsigned.len() - 1] {
            let e = Module::from_bytes(&unsigned[..cut], None).unwrap_err();
            assert!(matches!(e, ModuleError::Truncated { .. }), "cut {cut}: {e}");
        }
        for cut in [unsigned.len() + 2, unsigned.len() + 4, signed.len() - 1] {
            let e = Module::from_bytes(&signed[..cut], None).unwrap_err();
            assert!(matches!(e, ModuleError::Truncated { .. }), "cut {cut}: {e}");
        }
        let mut b = unsigned.clone();
        b.push(0);
        assert_eq!(
            Module::from_bytes(&b, None).unwrap_err(),
            ModuleError::TrailingData { extra: 1 }
        );
        let mut b = signed.clone();
        b.extend_from_slice(b"xx");
        assert_eq!(
            Module::from_bytes(&b, None).unwrap_err(),
            ModuleError::TrailingData { extra: 2 }
        );
        assert_eq!(
            Module::from_bytes(b"PK\x03\x04", None).unwrap_err(),
            ModuleError::BadMagic
        );
    }

    #[test]
    fn trust_requires_the_trusted_signature() {
        let m = module();
        let trusted = key(1);
        let other = key(2);
        let vk = trusted.verifying_key();

        let e = Module::from_bytes(&m.to_bytes(None), Some(&vk)).unwrap_err();
        assert_eq!(e, ModuleError::Unsigned);

        let e = Module::from_bytes(&m.to_bytes(Some(&other)), Some(&vk)).unwrap_err();
        assert!(matches!(e, ModuleError::UntrustedSigner { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&hex(other.verifying_key().as_bytes()))
        );

        // A tampered signature, with or without trust.
        let signed = m.to_bytes(Some(&trusted));
        let mut b = signed.clone();
        let last = b.len() - 1;
        b[last] ^= 0x01;
        assert_eq!(
            Module::from_bytes(&b, Some(&vk)).unwrap_err(),
            ModuleError::BadSignature
        );
        assert_eq!(
            Module::from_bytes(&b, None).unwrap_err(),
            ModuleError::BadSignature
        );
        // The key in the signature section replaced by another: the signature does not verify
        // under the key the module names, so that key signed nothing and is never named as
        // the signer, whichever key is trusted (the one that signed, the one named, or none).
        let mut b = signed.clone();
        let at = signed.len() - 96;
        b[at..at + 32].copy_from_slice(other.verifying_key().as_bytes());
        for trust in [Some(&vk), Some(&other.verifying_key()), None] {
            assert_eq!(
                Module::from_bytes(&b, trust).unwrap_err(),
                ModuleError::BadSignature
            );
        }
        // Re-signing an altered module with another key cannot pass the trust check.
        let mut evil = m.clone();
        evil.sources.push("evil.xop".into());
        let e = Module::from_bytes(&evil.to_bytes(Some(&other)), Some(&vk)).unwrap_err();
        assert!(matches!(e, ModuleError::UntrustedSigner { .. }));
        // A signed module's header or payload changed: its hash catches it first.
        let mut b = signed;
        b[HEADER_LEN] ^= 0x01;
        assert_eq!(
            Module::from_bytes(&b, Some(&vk)).unwrap_err(),
            ModuleError::HashMismatch
        );
    }

    #[test]
    fn key_files() {
        let seed = [42u8; 32];
        let (secret, public) = write_keypair(seed);
        assert!(secret.starts_with("xop-ed25519-secret:") && secret.ends_with('\n'));
        assert!(public.starts_with("xop-ed25519-public:"));
        let sk = parse_signing_key(&secret).unwrap();
        let vk = parse_verifying_key(&public).unwrap();
        assert_eq!(sk.verifying_key(), vk);
        assert_eq!(sk.to_bytes(), seed);
        assert_eq!(public_key_text(&vk), public);
        // A module signed with the parsed key verifies with the parsed public key.
        let bytes = module().to_bytes(Some(&sk));
        assert!(Module::from_bytes(&bytes, Some(&vk)).is_ok());

        assert_eq!(
            parse_signing_key(&public).unwrap_err(),
            KeyError::WrongKind {
                expected: "secret",
                found: "public"
            }
        );
        assert!(matches!(
            parse_verifying_key(&secret).unwrap_err(),
            KeyError::WrongKind { .. }
        ));
        assert_eq!(parse_verifying_key("hello").unwrap_err(), KeyError::NotAKey);
        assert!(matches!(
            parse_verifying_key("xop-ed25519-public:abcd").unwrap_err(),
            KeyError::BadHex(_)
        ));
        let bad = format!("xop-ed25519-secret:{}zz", "0".repeat(62));
        let e = parse_signing_key(&bad).unwrap_err();
        assert!(e.to_string().contains("'z' is not a hex digit"), "{e}");
        // Upper-case hex and surrounding whitespace are fine.
        let upper = format!(
            "  {}  ",
            public
                .trim()
                .to_uppercase()
                .replace("XOP-ED25519-PUBLIC:", "xop-ed25519-public:")
        );
        assert_eq!(parse_verifying_key(&upper).unwrap(), vk);
    }

    /// A key file saved with a UTF-8 byte-order mark (Windows editors write one) and CRLF line
    /// ends is read like one without; only one leading mark is skipped.
    #[test]
    fn key_files_with_a_byte_order_mark() {
        let (secret, public) = write_keypair([7u8; 32]);
        let sk = parse_signing_key(&format!("\u{feff}{}", secret.replace('\n', "\r\n"))).unwrap();
        assert_eq!(sk.to_bytes(), [7u8; 32]);
        let vk = parse_verifying_key(&format!("\u{feff}{public}")).unwrap();
        assert_eq!(vk, sk.verifying_key());
        assert_eq!(
            parse_verifying_key(&format!("\u{feff}\u{feff}{public}")).unwrap_err(),
            KeyError::NotAKey
        );
    }

    /// `key_kind` knows a key file as the parsers read it (a byte-order mark, white space, a
    /// damaged tail that is not UTF-8), and nothing else as one.
    #[test]
    fn key_kind_knows_key_files_only() {
        let (secret, public) = write_keypair([9u8; 32]);
        assert_eq!(key_kind(secret.as_bytes()), Some("secret"));
        assert_eq!(key_kind(public.as_bytes()), Some("public"));
        let mut damaged = format!("\u{feff}\r\n  {secret}").into_bytes();
        damaged.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(key_kind(&damaged), Some("secret"));
        for other in [
            &b"module m\n"[..],
            b"",
            b"xop-ed25519-secreT:00",
            b"\xffXOPM",
        ] {
            assert_eq!(key_kind(other), None, "{other:?}");
        }
    }
}
