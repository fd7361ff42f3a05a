//! The proof log's writer never signs what it did not write, and never shares the file
//! (QA's repros against the writer, `docs/proof-log.md`, "What opening checks"): a record
//! rewritten or appended without the key, a forged erasure, frames swapped, a checkpoint
//! forged or copied, commits of an older xop left unsigned, a second writer after `LOCK` was
//! removed, and the file changed under a live writer. Each is refused before anything is
//! changed, or fails the log before anything more is written.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use xop_runtime::module::hex;
use xop_runtime::proof::checkpoint::Checkpoint;
use xop_runtime::proof::evidence::KeyProvider;
use xop_runtime::proof::merkle::{Tree, leaf_hash};
use xop_runtime::proof::record::{Body, Entry, encode, time_text, with_seq};
use xop_runtime::proof::store::{
    COMMIT_LEN, COMMIT_LEN_V1, CommitKey, Frame, Frames, MAGIC, Tag, authenticated_commit_body,
    commit_body, parse_commit, write_frame,
};
use xop_runtime::proof::verify::{verify_log, writer_holds_lock};
use xop_runtime::proof::{LogConfig, LogError, ProofLog};

const ORIGIN: &str = "test.xop/writer";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A checkpoint every 2 records, none by time: where checkpoints fall is known.
fn config() -> LogConfig {
    LogConfig {
        origin: Some(ORIGIN.into()),
        signing_key: Some(key()),
        checkpoint_every: 2,
        checkpoint_interval: Duration::from_secs(3600),
        ..LogConfig::default()
    }
}

/// No checkpoint until the log is closed.
fn unsigned_config() -> LogConfig {
    LogConfig {
        checkpoint_every: 1_000_000,
        ..config()
    }
}

fn event(i: u64) -> Entry {
    Entry {
        time: time_text(0),
        body: Body::Event {
            name: "test.e".into(),
            data: serde_json::json!({ "i": i }),
        },
    }
}

/// `n` records, one batch each, closed: checkpoints at 2, 4, … and one at the end.
fn log_of(dir: &Path, n: u64) {
    let log = ProofLog::open(dir, config()).unwrap();
    for i in 0..n {
        log.append(&event(i)).unwrap();
    }
    log.close().unwrap();
}

/// A crash image: `n` committed records no checkpoint covers (copied while the writer that
/// wrote them is live, as a crash would leave them), in `dir`.
fn crash_image(dir: &Path, n: u64) {
    let live = dir.with_extension("live");
    std::fs::create_dir_all(&live).unwrap();
    let log = ProofLog::open(&live, unsigned_config()).unwrap();
    for i in 0..n {
        log.append(&event(i)).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    for name in ["log.xpl", "subjects.keys"] {
        std::fs::copy(live.join(name), dir.join(name)).unwrap();
    }
    drop(log);
}

fn frames(dir: &Path) -> Vec<Frame> {
    Frames::open(&dir.join("log.xpl"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Writes `frames` as the log, every frame hash recomputed (anyone can: no key needed).
fn write_frames(dir: &Path, frames: &[Frame]) {
    let mut bytes = MAGIC.to_vec();
    for f in frames {
        write_frame(&mut bytes, f.tag, &f.body, &leaf_hash(&f.body));
    }
    std::fs::write(dir.join("log.xpl"), bytes).unwrap();
}

/// What a keyless attacker does after changing records: every commit's root recomputed
/// from the records as they now are (its MAC bytes kept: nobody without the key can make
/// new ones).
fn recompute_roots(frames: &mut [Frame]) {
    let mut tree = Tree::new();
    for f in frames.iter_mut() {
        match f.tag {
            Tag::Record => tree.push(leaf_hash(&f.body)),
            Tag::Commit => {
                let mut body = commit_body(tree.size(), &tree.root()).to_vec();
                body.extend_from_slice(&f.body[COMMIT_LEN_V1..]);
                f.body = body;
            }
            _ => {}
        }
    }
}

fn checkpoint_size(f: &Frame) -> u64 {
    let note = String::from_utf8(f.body.clone()).unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

/// The record's body as the writer numbers it.
fn record(seq: u64, entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    with_seq(seq, &encode(entry), &mut out);
    out
}

/// The files of the log folder, to show nothing was changed.
fn files(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(dir.join("log.xpl")).unwrap(),
        std::fs::read(dir.join("subjects.keys")).unwrap_or_default(),
    )
}

/// Opening `dir` for writing is refused at `offset` (nothing changed); the message.
fn refused(dir: &Path, config: LogConfig, offset: u64) -> String {
    let before = files(dir);
    let err = ProofLog::open(dir, config).unwrap_err();
    let LogError::Corrupt {
        offset: at,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*at, offset, "{err}");
    assert!(message.contains("Nothing was changed"), "{message}");
    assert_eq!(files(dir), before, "opening changed the log: {err}");
    message.clone()
}

fn offset_of(frames: &[Frame], tag: Tag, n: usize) -> u64 {
    frames
        .iter()
        .filter(|f| f.tag == tag)
        .nth(n)
        .unwrap()
        .offset
}

#[test]
fn a_record_rewritten_without_the_key_is_never_signed() {
    // QA repro 1: record 2 changed, every later commit root recomputed, the checkpoints
    // that no longer match dropped: `verify` reports it, but the writer signed it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 6);
    let mut f = frames(dir);
    let i = f
        .iter()
        .position(|f| f.tag == Tag::Record && f.body.starts_with(b"{\"seq\":2,"))
        .unwrap();
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    f[i].body = body.replace("{\"i\":2}", "{\"i\":99}").into_bytes();
    recompute_roots(&mut f);
    let laundered: Vec<Frame> = f
        .iter()
        .filter(|f| f.tag != Tag::Checkpoint || checkpoint_size(f) <= 2)
        .cloned()
        .collect();
    write_frames(dir, &laundered);
    let message = refused(dir, config(), offset_of(&frames(dir), Tag::Commit, 2));
    assert!(
        message.contains(
            "the records after record 1 were not committed by this log's writer: the commit at \
             this byte, of record 2, which no signed checkpoint covers, carries a MAC that does \
             not verify"
        ),
        "{message}"
    );
    assert!(message.contains("`xop log verify"), "{message}");

    // The checkpoints kept: the latest signs another root than the records now give.
    write_frames(dir, &f);
    let written = frames(dir);
    let last = written
        .iter()
        .rev()
        .find(|f| f.tag == Tag::Checkpoint)
        .unwrap();
    let message = refused(dir, config(), last.offset);
    assert!(
        message.contains(
            "the latest signed checkpoint (the frame at this byte) signs a root for the tree of \
             its 6 records that is not the root of those records as they are"
        ),
        "{message}"
    );
}

#[test]
fn records_swapped_after_their_commit_are_refused_at_the_first_commit_they_break() {
    // QA repro 7: two frames swapped, no byte changed. Uncovered records, their commits and
    // MACs genuine: only the roots show it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("image");
    crash_image(&dir, 4);
    let mut f = frames(&dir);
    let records: Vec<usize> = (0..f.len()).filter(|&i| f[i].tag == Tag::Record).collect();
    let (a, b) = (records[1], records[2]);
    let (x, y) = (f[a].body.clone(), f[b].body.clone());
    f[a].body = y;
    f[b].body = x;
    write_frames(&dir, &f);
    let message = refused(&dir, config(), offset_of(&f, Tag::Commit, 1));
    assert!(
        message.contains(
            "the commit there states a root for the tree of its 2 records that is not the root \
             of those records as they are"
        ),
        "{message}"
    );
}

#[test]
fn records_swapped_under_a_checkpoint_with_commits_recomputed_are_refused_at_the_checkpoint() {
    // The keyless attacker recomputes the commits too (the covered ones' MACs are not
    // checked): the latest checkpoint shows it, and the writer does not sign a split view.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 4);
    let mut f = frames(dir);
    let records: Vec<usize> = (0..f.len()).filter(|&i| f[i].tag == Tag::Record).collect();
    let (a, b) = (records[0], records[3]);
    let (x, y) = (f[a].body.clone(), f[b].body.clone());
    f[a].body = y;
    f[b].body = x;
    recompute_roots(&mut f);
    write_frames(dir, &f);
    let last = f.iter().rev().find(|f| f.tag == Tag::Checkpoint).unwrap();
    let message = refused(dir, config(), last.offset);
    assert!(message.contains("signs a root"), "{message}");
}

#[test]
fn the_latest_checkpoint_must_verify_with_the_logs_key_and_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 2);
    let original = frames(dir);
    let at = original.len() - 1;
    assert_eq!(original[at].tag, Tag::Checkpoint);
    let root = {
        let mut tree = Tree::new();
        for f in original.iter().filter(|f| f.tag == Tag::Record) {
            tree.push(leaf_hash(&f.body));
        }
        tree.root()
    };
    let forge = |origin: &str, key: &SigningKey| {
        let mut f = original.clone();
        f[at].body = Checkpoint {
            origin: origin.into(),
            size: 2,
            root,
        }
        .sign(key)
        .into_bytes();
        write_frames(dir, &f);
    };
    // The right tree, signed by another key.
    forge(ORIGIN, &SigningKey::from_bytes(&[9; 32]));
    let message = refused(dir, config(), original[at].offset);
    assert!(
        message.contains(
            "the latest signed checkpoint (the frame at this byte) does not verify with the \
             log's key"
        ),
        "{message}"
    );
    // Signed by the log's key, under another origin (copied from another log of the key).
    forge("test.xop/other", &key());
    let message = refused(dir, config(), original[at].offset);
    assert!(
        message.contains("is of origin `test.xop/other`, but the log's header names"),
        "{message}"
    );
    // The genuine one: opens.
    forge(ORIGIN, &key());
    ProofLog::open(dir, config()).unwrap().close().unwrap();
}

#[test]
fn records_appended_without_the_key_are_never_signed() {
    // QA repro 1 (run-append): a forged record and commit at the end, whatever the commit.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 2);
    let original = frames(dir);
    let body = record(2, &event(2));
    let mut tree = Tree::new();
    for f in original.iter().filter(|f| f.tag == Tag::Record) {
        tree.push(leaf_hash(&f.body));
    }
    tree.push(leaf_hash(&body));
    let at = original.last().unwrap().end() + (37 + body.len()) as u64;
    let other = CommitKey::derive(&SigningKey::from_bytes(&[9; 32]));
    let commits: [(Vec<u8>, &str); 3] = [
        (
            {
                let mut c = commit_body(3, &tree.root()).to_vec();
                c.extend_from_slice(&[0x5a; 32]);
                c
            },
            "the records after record 1 were not committed by this log's writer",
        ),
        (
            authenticated_commit_body(&other, ORIGIN, 3, &tree.root()).to_vec(),
            "the records after record 1 were not committed by this log's writer",
        ),
        (
            commit_body(3, &tree.root()).to_vec(),
            "the commit at this byte, of record 2, carries no MAC, though the log is of format 2",
        ),
    ];
    for (commit, says) in commits {
        let mut f = original.clone();
        for (tag, body) in [(Tag::Record, body.clone()), (Tag::Commit, commit)] {
            f.push(Frame {
                offset: 0,
                tag,
                hash: [0; 32],
                body,
            });
        }
        write_frames(dir, &f);
        let message = refused(dir, config(), at);
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn a_forged_erasure_zeroes_no_key() {
    // QA repro 3: an erasure record appended without the key made the next writer zero a
    // real subject's key ("finishing" it) and sign the erasure.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = ProofLog::open(dir, config()).unwrap();
    let (id, _) = log.key_for("cust-1").unwrap();
    // Keys are synced with the next batch.
    log.append(&event(0)).unwrap();
    log.append(&event(1)).unwrap();
    log.close().unwrap();
    let keys = std::fs::read(dir.join("subjects.keys")).unwrap();
    assert!(keys.windows(16).any(|w| w == id), "the key is in the file");
    let mut f = frames(dir);
    let erasure = record(
        2,
        &Entry {
            time: time_text(0),
            body: Body::Erasure { key: hex(&id) },
        },
    );
    let mut tree = Tree::new();
    for r in f.iter().filter(|f| f.tag == Tag::Record) {
        tree.push(leaf_hash(&r.body));
    }
    tree.push(leaf_hash(&erasure));
    let mut commit = commit_body(3, &tree.root()).to_vec();
    commit.extend_from_slice(&[0; 32]);
    let at = f.last().unwrap().end() + (37 + erasure.len()) as u64;
    for (tag, body) in [(Tag::Record, erasure), (Tag::Commit, commit)] {
        f.push(Frame {
            offset: 0,
            tag,
            hash: [0; 32],
            body,
        });
    }
    write_frames(dir, &f);
    let message = refused(dir, config(), at);
    assert!(
        message.contains("not committed by this log's writer"),
        "{message}"
    );
    assert_eq!(std::fs::read(dir.join("subjects.keys")).unwrap(), keys);
}

#[test]
fn a_crash_left_tail_with_its_macs_is_signed_on_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("image");
    crash_image(&dir, 3);
    let f = frames(&dir);
    assert!(f.iter().all(|f| f.tag != Tag::Checkpoint));
    assert!(
        f.iter()
            .filter(|f| f.tag == Tag::Commit)
            .all(|c| c.body.len() == COMMIT_LEN)
    );
    assert!(f[0].body.starts_with(b"{\"format\":2,"));
    let log = ProofLog::open(&dir, config()).unwrap();
    // Signed on opening, the records as they were.
    let note = log.checkpoint().unwrap();
    let cp = Checkpoint::open(&note, &key().verifying_key()).unwrap();
    assert_eq!(cp.size, 3);
    log.close().unwrap();
    let report = verify_log(&dir, &key().verifying_key()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.verified_size, 3);

    // Opened with another signing key, the tail is not its own.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir = tmp2.path().join("image");
    crash_image(&dir, 2);
    let other = LogConfig {
        signing_key: Some(SigningKey::from_bytes(&[9; 32])),
        ..config()
    };
    let message = refused(&dir, other, offset_of(&frames(&dir), Tag::Commit, 0));
    assert!(
        message.contains("the log's records were not committed"),
        "{message}"
    );
}

/// A format-1 log, as xop before the commit MAC wrote it: header `"format":1`, 40-byte
/// commits.
fn downgrade(dir: &Path) {
    let mut f = frames(dir);
    f[0].body = String::from_utf8(f[0].body.clone())
        .unwrap()
        .replace("\"format\":2", "\"format\":1")
        .into_bytes();
    for c in f.iter_mut().filter(|f| f.tag == Tag::Commit) {
        c.body.truncate(COMMIT_LEN_V1);
    }
    write_frames(dir, &f);
}

#[test]
fn a_format_1_log_opens_when_signed_and_gets_authenticated_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 3);
    downgrade(dir);
    let log = ProofLog::open(dir, config()).unwrap();
    log.append(&event(3)).unwrap();
    log.close().unwrap();
    let f = frames(dir);
    assert!(
        f[0].body.starts_with(b"{\"format\":1,"),
        "the header is kept"
    );
    let lengths: Vec<usize> = f
        .iter()
        .filter(|f| f.tag == Tag::Commit)
        .map(|c| c.body.len())
        .collect();
    assert_eq!(lengths, [40, 40, 40, 72]);
    for c in f.iter().filter(|f| f.tag == Tag::Commit) {
        assert!(parse_commit(&c.body).is_some());
    }
    let report = verify_log(dir, &key().verifying_key()).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.verified_size, 4);
    // A crash after its new commit: the tail is authenticated, so it is signed.
    ProofLog::open(dir, config()).unwrap().close().unwrap();
}

#[test]
fn a_format_1_log_left_unsigned_names_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("image");
    crash_image(&dir, 3);
    downgrade(&dir);
    let message = refused(&dir, config(), offset_of(&frames(&dir), Tag::Commit, 0));
    assert!(
        message.contains(
            "the log's records were committed by an earlier version of xop that could not \
             authenticate them (the commit at this byte, of record 0, carries no MAC)"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "open the log once with the version of xop that wrote it (its writer signs them \
             when it opens the log), then upgrade"
        ),
        "{message}"
    );
}

#[test]
fn a_second_writer_is_kept_out_when_lock_is_removed() {
    // QA repro 5: `rm DIR/LOCK` let a second writer in; both wrote at their own offsets.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = ProofLog::open(dir, config()).unwrap();
    log.append(&event(0)).unwrap();
    std::fs::remove_file(dir.join("LOCK")).unwrap();
    assert!(writer_holds_lock(dir), "log.xpl shows the writer");
    let before = files(dir);
    let err = ProofLog::open(dir, config()).unwrap_err();
    assert!(matches!(err, LogError::Locked { .. }), "{err:?}");
    assert_eq!(files(dir), before);
    log.append(&event(1)).unwrap();
    log.close().unwrap();
    assert!(!writer_holds_lock(dir));
    ProofLog::open(dir, config()).unwrap().close().unwrap();
}

#[test]
fn a_file_changed_under_the_writer_fails_the_log_before_it_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = ProofLog::open(dir, config()).unwrap();
    log.append(&event(0)).unwrap();
    let path = dir.join("log.xpl");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"another writer")
        .unwrap();
    let changed = std::fs::read(&path).unwrap();
    let err = log.append(&event(1)).unwrap_err();
    let LogError::Failed(why) = &err else {
        panic!("{err:?}");
    };
    assert!(
        why.contains("another program changed this file while the log was open for writing"),
        "{why}"
    );
    assert!(
        why.contains(&format!(
            "it is {} bytes long, where this writer's own writes ended at byte {}",
            changed.len(),
            changed.len() - 14
        )),
        "{why}"
    );
    assert!(matches!(log.append(&event(2)), Err(LogError::Failed(_))));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        changed,
        "nothing was written"
    );
    assert_eq!(log.size(), 1);
}

#[test]
fn an_intact_authenticated_commit_after_damage_shows_the_damage_is_not_a_torn_batch() {
    // The torn-tail rule looks for intact frames after the first bad one: a 72-byte commit
    // must count as one, or damage before it would be dropped as a crash's torn batch.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    log_of(dir, 2);
    let path = dir.join("log.xpl");
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.len() as u64;
    let body = record(2, &event(2));
    let mut bad = leaf_hash(&body);
    bad[0] ^= 1;
    write_frame(&mut bytes, Tag::Record, &body, &bad);
    let commit = authenticated_commit_body(&CommitKey::derive(&key()), ORIGIN, 3, &[1; 32]);
    write_frame(&mut bytes, Tag::Commit, &commit, &leaf_hash(&commit));
    std::fs::write(&path, &bytes).unwrap();
    let err = ProofLog::open(dir, config()).unwrap_err();
    let LogError::Corrupt {
        offset, message, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*offset, end);
    assert!(
        message.contains("an intact frame follows at byte"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}
