//! A damaged proof log is refused, never cut: opening for writing drops only the torn end of
//! one batch a crash interrupted (and says so), readers report damage instead of reading the
//! part before it, keys are never made anew for a log that has records, a subject key file that
//! lacks a key a record names (with no erasure record), or has a slot that cannot be trusted (a
//! subject hash or key changed with its id kept, a copy, a second key for a subject, a slot
//! partly zero), is refused and reported, and `verify` catches a log cut to its magic and an old
//! checkpoint copied over a newer one.

use std::path::Path;

use xop_runtime::ir::Verdict;
use xop_runtime::module::hex;
use xop_runtime::proof::evidence::KeyProvider;
use xop_runtime::proof::merkle::leaf_hash;
use xop_runtime::proof::record::{Body, DecisionRecord, Entry, Evidence, decode, time_text};
use xop_runtime::proof::store::{Frame, Frames, MAGIC, MAX_TORN_TAIL, Tag, write_frame};
use xop_runtime::proof::verify::{LogReader, read_public_key, verify_log};
use xop_runtime::proof::{LogConfig, LogError, ProofLog};

/// Writes a new key file as the log makes one: mode 0600 (a key file others may read is
/// refused).
fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn config() -> LogConfig {
    LogConfig {
        origin: Some("test.xop/damage".into()),
        // A signed checkpoint after every batch, as `xop eval --log` leaves them.
        checkpoint_every: 1,
        ..LogConfig::default()
    }
}

fn event(i: u64) -> Entry {
    Entry {
        time: time_text(0),
        body: Body::Event {
            name: format!("test.e{i}"),
            data: serde_json::json!({ "i": i }),
        },
    }
}

/// A log of `n` records, one batch each (record, commit, checkpoint), closed.
fn log_of(dir: &Path, n: u64) {
    let log = ProofLog::open(dir, config()).unwrap();
    for i in 0..n {
        log.append(&event(i)).unwrap();
    }
    log.close().unwrap();
}

fn frames(dir: &Path) -> Vec<Frame> {
    Frames::open(&dir.join("log.xpl"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The `n`th frame of kind `tag`.
fn nth(dir: &Path, tag: Tag, n: usize) -> Frame {
    frames(dir)
        .into_iter()
        .filter(|f| f.tag == tag)
        .nth(n)
        .unwrap()
}

fn change(dir: &Path, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let path = dir.join("log.xpl");
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    bytes
}

/// Opening for writing refuses with the damage's offset and changes nothing; readers refuse too.
fn refused(dir: &Path, offset: u64) -> String {
    let before = std::fs::read(dir.join("log.xpl")).unwrap();
    let err = ProofLog::open(dir, config()).unwrap_err();
    let LogError::Corrupt {
        offset: at,
        message,
        ..
    } = &err
    else {
        panic!("not refused as damage: {err}");
    };
    assert_eq!(*at, offset, "{err}");
    assert!(message.contains("xop log verify"), "{err}");
    assert!(message.contains("backup"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("log.xpl")).unwrap(),
        before,
        "a refused log was changed"
    );
    let Err(read) = LogReader::open(dir) else {
        panic!("a reader read the log before the damage as if it were all of it");
    };
    assert!(matches!(read, LogError::Corrupt { offset: o, .. } if o == offset));
    err.to_string()
}

#[test]
fn a_flipped_tag_before_later_commits_is_damage_and_nothing_is_cut() {
    // The QA case: record 3's tag `R` becomes `P`; the next writer used to cut records 3 to 5
    // and reuse their numbers.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 6);
    let r3 = nth(dir.path(), Tag::Record, 3).offset;
    change(dir.path(), |b| b[r3 as usize] = b'P');
    let m = refused(dir.path(), r3);
    assert!(m.contains("unknown frame tag 0x50"), "{m}");
}

#[test]
fn a_changed_record_or_hash_anywhere_but_the_torn_end_is_damage() {
    for (what, pick) in [("body", 40usize), ("hash", 10)] {
        let dir = tempfile::tempdir().unwrap();
        log_of(dir.path(), 6);
        let r2 = nth(dir.path(), Tag::Record, 2).offset;
        change(dir.path(), |b| b[r2 as usize + pick] ^= 0x01);
        let m = refused(dir.path(), r2);
        assert!(m.contains("record 2 does not match"), "{what}: {m}");
    }
}

#[test]
fn damage_in_the_last_batch_with_its_commit_intact_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 4);
    // The last record's body: its commit and checkpoint follow, intact.
    let r3 = nth(dir.path(), Tag::Record, 3).offset;
    change(dir.path(), |b| b[r3 as usize + 45] ^= 0x20);
    refused(dir.path(), r3);
}

#[test]
fn a_complete_frame_with_a_changed_tag_is_damage_even_at_the_end() {
    // The last frame of all (the final checkpoint) with its tag changed: complete and matching
    // its hash, so no crash left it.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 3);
    let last = frames(dir.path()).pop().unwrap();
    assert_eq!(last.tag, Tag::Checkpoint);
    change(dir.path(), |b| b[last.offset as usize] = b'X');
    let m = refused(dir.path(), last.offset);
    assert!(m.contains("complete and matches its hash"), "{m}");
}

#[test]
fn an_old_checkpoint_copied_over_a_newer_one_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 4);
    let old = nth(dir.path(), Tag::Checkpoint, 0);
    let new = nth(dir.path(), Tag::Checkpoint, 2);
    // Same origin, one-digit sizes, same-length base64: the old note fits the new one's place.
    assert_eq!(old.body.len(), new.body.len());
    let at = new.offset as usize;
    let old_frame = std::fs::read(dir.path().join("log.xpl")).unwrap()
        [old.offset as usize..old.end() as usize]
        .to_vec();
    change(dir.path(), |b| {
        b[at..at + old_frame.len()].copy_from_slice(&old_frame)
    });
    let m = refused(dir.path(), new.offset);
    assert!(m.contains("tree size 1 after 3 records"), "{m}");
    let key = xop_runtime::proof::verify::read_public_key(&dir.path().join("log.pub")).unwrap();
    let report = verify_log(dir.path(), &key).unwrap();
    let p = report
        .problems
        .iter()
        .find(|p| p.offset == new.offset)
        .unwrap_or_else(|| panic!("verify missed the old checkpoint: {report:?}"));
    assert!(
        p.message.contains("tree size 1 where 3 records precede it"),
        "{}",
        p.message
    );
}

#[test]
fn a_torn_last_batch_is_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    log.append_many(&[event(0), event(1)]).unwrap();
    log.append_many(&[event(2), event(3), event(4)]).unwrap();
    log.close().unwrap();
    // The second batch as a crash leaves it: its first record whole, the second cut short.
    let end = nth(dir.path(), Tag::Checkpoint, 0).end();
    let r3 = nth(dir.path(), Tag::Record, 3);
    let cut = r3.offset + 50;
    change(dir.path(), |b| b.truncate(cut as usize));
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.size(), 2);
    let r = log.recovery().clone();
    assert_eq!(
        (r.offset, r.truncated_bytes, r.truncated_records),
        (end, cut - end, 1)
    );
    let w = log.recovery_warning().unwrap();
    assert!(
        w.contains(&format!(
            "dropped {} bytes (1 complete record) at byte {end}",
            cut - end
        )) && w.contains("never acknowledged"),
        "{w}"
    );
    assert_eq!(log.append(&event(9)).unwrap(), 2);
    log.close().unwrap();
    let key = xop_runtime::proof::verify::read_public_key(&dir.path().join("log.pub")).unwrap();
    assert_eq!(verify_log(dir.path(), &key).unwrap().problems, []);
}

#[test]
fn a_torn_batch_with_pages_never_written_is_dropped() {
    // The file grew to the batch's length but its last part is zeros (pages not yet on disk).
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 2);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    log.append_many(&[event(2), event(3)]).unwrap();
    log.close().unwrap();
    let r3 = nth(dir.path(), Tag::Record, 3).offset as usize;
    change(dir.path(), |b| b[r3 + 3..].fill(0));
    // A reader takes it for a batch being written: it sees the records before it.
    assert_eq!(LogReader::open(dir.path()).unwrap().size(), 2);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.size(), 2);
    assert_eq!(log.recovery().truncated_records, 1);
    log.close().unwrap();
}

#[test]
fn complete_records_without_their_commit_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 3);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    log.append_many(&[event(3), event(4)]).unwrap();
    log.close().unwrap();
    let commit = nth(dir.path(), Tag::Commit, 3).offset;
    change(dir.path(), |b| b.truncate(commit as usize));
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!((log.size(), log.recovery().truncated_records), (3, 2));
    log.close().unwrap();
}

#[test]
fn a_tail_longer_than_one_batch_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 2);
    let len = std::fs::metadata(dir.path().join("log.xpl")).unwrap().len();
    change(dir.path(), |b| {
        b.resize(b.len() + MAX_TORN_TAIL as usize + 1, 0)
    });
    let m = refused(dir.path(), len);
    assert!(m.contains("more than one batch can be"), "{m}");
}

#[test]
fn random_damage_is_refused_or_keeps_every_committed_record() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 12);
    let original = std::fs::read(dir.path().join("log.xpl")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % original.len() as u64) as usize;
        let copy = tempfile::tempdir().unwrap();
        for f in ["log.key", "log.pub", "subjects.keys"] {
            std::fs::copy(dir.path().join(f), copy.path().join(f)).unwrap();
        }
        let mut bytes = original.clone();
        if state.is_multiple_of(2) {
            bytes[at] ^= 1 << (state % 8);
        } else {
            bytes.drain(at..(at + 5).min(original.len()));
        }
        std::fs::write(copy.path().join("log.xpl"), &bytes).unwrap();
        // Every batch ends with a checkpoint: changed or deleted bytes anywhere but in the
        // very last frame are followed by an intact frame, so they are damage; in the last
        // frame (a checkpoint) they cost no record.
        match LogReader::open(copy.path()) {
            Ok(r) => assert_eq!(r.size(), 12, "a reader lost records (damage at {at})"),
            Err(e) => assert!(matches!(e, LogError::Corrupt { .. }), "{e}"),
        }
        match ProofLog::open(copy.path(), config()) {
            Ok(log) => {
                assert_eq!(log.size(), 12, "the writer cut records (damage at {at})");
                log.close().unwrap();
            }
            Err(e) => {
                assert!(matches!(e, LogError::Corrupt { .. }), "{e}");
                assert_eq!(std::fs::read(copy.path().join("log.xpl")).unwrap(), bytes);
            }
        }
    }
}

#[test]
fn keys_are_never_made_anew_for_a_log_with_records() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 2);
    let public = std::fs::read(dir.path().join("log.pub")).unwrap();
    std::fs::rename(dir.path().join("log.key"), dir.path().join("moved.key")).unwrap();
    let e = ProofLog::open(dir.path(), config())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("log.key") && e.contains("missing") && e.contains("2 records"),
        "{e}"
    );
    assert!(!dir.path().join("log.key").exists());
    assert_eq!(std::fs::read(dir.path().join("log.pub")).unwrap(), public);
    std::fs::rename(dir.path().join("moved.key"), dir.path().join("log.key")).unwrap();

    std::fs::remove_file(dir.path().join("subjects.keys")).unwrap();
    let e = ProofLog::open(dir.path(), config())
        .unwrap_err()
        .to_string();
    assert!(e.contains("subjects.keys") && e.contains("missing"), "{e}");
    assert!(!dir.path().join("subjects.keys").exists());
    std::fs::write(dir.path().join("subjects.keys"), b"").unwrap();
    assert!(ProofLog::open(dir.path(), config()).is_err());

    // A new log (no record yet) gets both.
    let fresh = tempfile::tempdir().unwrap();
    ProofLog::open(fresh.path(), config())
        .unwrap()
        .close()
        .unwrap();
    std::fs::remove_file(fresh.path().join("log.key")).unwrap();
    std::fs::remove_file(fresh.path().join("subjects.keys")).unwrap();
    ProofLog::open(fresh.path(), config())
        .unwrap()
        .close()
        .unwrap();
    assert!(fresh.path().join("log.key").exists());
}

#[test]
fn verify_reports_a_log_cut_to_its_magic() {
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 2);
    change(dir.path(), |b| b.truncate(8));
    let key = xop_runtime::proof::verify::read_public_key(&dir.path().join("log.pub")).unwrap();
    let report = verify_log(dir.path(), &key).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].offset, 8);
    assert!(report.problems[0].message.contains("no header frame"));
    assert!(LogReader::open(dir.path()).is_err());
    assert!(ProofLog::open(dir.path(), config()).is_err());
}

/// A decision whose evidence holds `subject`'s personal value hashed with the subject's key,
/// as the runtime writes it; returns the key's id.
fn decide_about(log: &ProofLog, subject: &str) -> String {
    let (id, _) = log.key_for(subject).unwrap();
    let id = hex(&id);
    log.append(&Entry {
        time: time_text(0),
        body: Body::Decision(DecisionRecord {
            module: "00".repeat(32),
            policy: "test.p".into(),
            action: None,
            at: time_text(0),
            evidence: vec![Evidence {
                path: "to.msisdn".into(),
                value: None,
                len: None,
                hmac: Some("ab".repeat(32)),
                key: Some(id.clone()),
                via: None,
            }],
            signals: Vec::new(),
            verdict: Verdict::Allow,
            reasons: vec!["ok".into()],
            fired: vec!["p#1".into()],
            review: None,
            args_sha256: None,
            error: None,
            detail: None,
        }),
    })
    .unwrap();
    id
}

/// A log of decisions about cust-0, cust-1, cust-2 (records 0 to 2) and an event; the key ids.
fn log_with_subjects(dir: &Path) -> Vec<String> {
    let log = ProofLog::open(dir, config()).unwrap();
    let ids = (0..3)
        .map(|i| decide_about(&log, &format!("cust-{i}")))
        .collect();
    log.append(&event(3)).unwrap();
    log.close().unwrap();
    ids
}

fn problems(dir: &Path) -> Vec<(Option<u64>, String)> {
    let key = read_public_key(&dir.join("log.pub")).unwrap();
    verify_log(dir, &key)
        .unwrap()
        .problems
        .into_iter()
        .map(|p| (p.seq, p.message))
        .collect()
}

/// Opening for writing refuses, naming the key file, the key and the record, and changes
/// neither file; `verify` reports the same record.
fn keys_refused(dir: &Path, id: &str, seq: u64) {
    let keys = std::fs::read(dir.join("subjects.keys")).unwrap();
    let log = std::fs::read(dir.join("log.xpl")).unwrap();
    let e = ProofLog::open(dir, config()).unwrap_err();
    assert!(matches!(e, LogError::MissingKeys { .. }), "{e}");
    let m = e.to_string();
    for want in [
        "subjects.keys`".to_string(),
        format!("record {seq} names subject key {id}"),
        "no erasure record".into(),
        "restore".into(),
        "Nothing was changed".into(),
    ] {
        assert!(m.contains(&want), "{want} not in: {m}");
    }
    assert_eq!(std::fs::read(dir.join("subjects.keys")).unwrap(), keys);
    assert_eq!(std::fs::read(dir.join("log.xpl")).unwrap(), log);
    let p = problems(dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, Some(seq), "{p:?}");
    assert!(p[0].1.contains(&format!("names subject key {id}")), "{p:?}");
}

#[test]
fn a_key_file_cut_to_its_magic_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..8]).unwrap();
    keys_refused(dir.path(), &ids[0], 0);
    let e = ProofLog::open(dir.path(), config())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(2 more keys, named by later records, are missing too)"),
        "{e}"
    );
    // Put back, the log opens and verifies.
    std::fs::write(&path, &full).unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(problems(dir.path()), []);
}

#[test]
fn a_key_file_without_its_last_slot_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 80]).unwrap();
    keys_refused(dir.path(), &ids[2], 2);
}

#[test]
fn a_slot_zeroed_without_an_erasure_record_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 80..8 + 160].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    keys_refused(dir.path(), &ids[1], 1);

    // Erased properly instead: the erasure record accounts for the zeroed slot.
    let ok = tempfile::tempdir().unwrap();
    log_with_subjects(ok.path());
    let log = ProofLog::open(ok.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-1").unwrap(), Some(4));
    log.close().unwrap();
    assert_eq!(problems(ok.path()), []);
    ProofLog::open(ok.path(), config())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn an_erasure_interrupted_after_its_record_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let before = std::fs::read(&path).unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-1").unwrap(), Some(4));
    log.close().unwrap();
    // As a crash after the erasure record was durable, before the slot was zeroed, leaves it.
    std::fs::write(&path, &before).unwrap();
    let p = problems(dir.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, Some(4));
    assert!(
        p[0].1.contains(&format!("erased subject key {}", ids[1]))
            && p[0].1.contains("still has it"),
        "{p:?}"
    );
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.recovery().finished_erasures, [(ids[1].clone(), 4)]);
    let w = log.recovery_warning().unwrap();
    assert!(w.contains(&ids[1]) && w.contains("record 4"), "{w}");
    log.close().unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(
        after[8 + 80..8 + 160],
        [0u8; 80],
        "the key's slot is zeroed"
    );
    assert_eq!(after[8..8 + 80], before[8..8 + 80], "the others are kept");
    assert_eq!(problems(dir.path()), []);
}

#[test]
fn keys_of_records_a_crash_dropped_may_be_missing() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    decide_about(&log, "cust-0");
    // A key made for a decision whose record never came (a crash): kept, named by nothing.
    log.key_for("cust-9").unwrap();
    log.append(&event(1)).unwrap();
    let last = decide_about(&log, "cust-2");
    log.close().unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    // Cut the last batch's commit and checkpoint: its record was never acknowledged, so the
    // key it names may be missing too (it was synced first, but need not be).
    let record = nth(dir.path(), Tag::Record, 2);
    change(dir.path(), |b| b.truncate(record.end() as usize));
    let path = dir.path().join("subjects.keys");
    let keys = std::fs::read(&path).unwrap();
    std::fs::write(&path, &keys[..keys.len() - 80]).unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.size(), 2);
    assert_eq!(log.recovery().truncated_records, 1);
    log.close().unwrap();
    assert_eq!(
        problems(dir.path()),
        [],
        "key {last} is named by no acknowledged record"
    );
}

/// The bytes of the key file's slot `n` (after the 8-byte magic, 80 bytes each).
fn slot_range(n: usize) -> std::ops::Range<usize> {
    8 + 80 * n..8 + 80 * (n + 1)
}

fn change_keys(dir: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join("subjects.keys");
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
}

/// Opening for writing refuses the key file as damaged at `offset` (a slot), saying `what` and
/// what to do, and changes neither file; `verify` reports the slot, with record `seq` when one
/// names its key.
fn slot_refused(dir: &Path, offset: u64, seq: Option<u64>, what: &str) {
    let keys = std::fs::read(dir.join("subjects.keys")).unwrap();
    let log = std::fs::read(dir.join("log.xpl")).unwrap();
    let e = ProofLog::open(dir, config()).unwrap_err();
    let LogError::Corrupt {
        path, offset: at, ..
    } = &e
    else {
        panic!("not refused as damage: {e}");
    };
    assert!(path.ends_with("subjects.keys"), "{e}");
    assert_eq!(*at, offset, "{e}");
    let m = e.to_string();
    for want in [
        &format!("subjects.keys` is damaged at byte {offset}: "),
        what,
        "Nothing was changed: restore",
        "from a backup",
        "xop log verify",
    ] {
        assert!(m.contains(want), "{want} not in: {m}");
    }
    assert_eq!(std::fs::read(dir.join("subjects.keys")).unwrap(), keys);
    assert_eq!(std::fs::read(dir.join("log.xpl")).unwrap(), log);
    let p = problems(dir);
    assert!(
        p.iter().any(|(s, m)| *s == seq
            && m.contains(&format!("subjects.keys is damaged at byte {offset}: "))
            && m.contains(what)),
        "{p:?}"
    );
}

/// SHA-256 of a subject id, as the key file holds it.
fn subject_hash(subject: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"xop-subject\0");
    h.update(subject.as_bytes());
    h.finalize().into()
}

#[test]
fn a_subject_hash_changed_with_its_id_kept_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let genuine = std::fs::read(&path).unwrap();
    assert!(
        genuine.starts_with(b"XOPKEYS2"),
        "a new log's key file binds its ids"
    );
    // cust-1's slot given cust-9's subject hash: cust-9 would take cust-1's key, and cust-1
    // silently get a new one.
    change_keys(dir.path(), |b| {
        b[slot_range(1)][16..48].copy_from_slice(&subject_hash("cust-9"));
    });
    slot_refused(dir.path(), 88, Some(1), "with its id kept");
    // Put back, the log opens and verifies.
    std::fs::write(&path, &genuine).unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(problems(dir.path()), []);
}

#[test]
fn a_key_changed_with_its_id_kept_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    // cust-2's key changed: their evidence would no longer be linked to it.
    change_keys(dir.path(), |b| b[slot_range(2)][48] ^= 0x40);
    slot_refused(dir.path(), 168, Some(2), "with its id kept");
}

#[test]
fn two_live_slots_of_one_subject_are_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let genuine = std::fs::read(&path).unwrap();
    // A second sound key for cust-1 (its id bound): an erasure of cust-1 would zero one slot
    // and leave the other key alive.
    change_keys(dir.path(), |b| {
        let sh: [u8; 32] = b[slot_range(1)][16..48].try_into().unwrap();
        let key = [7u8; 32];
        b.extend_from_slice(&xop_runtime::proof::keys::key_id(&sh, &key));
        b.extend_from_slice(&sh);
        b.extend_from_slice(&key);
    });
    slot_refused(
        dir.path(),
        248,
        None,
        "is for the same subject as the slot at byte 88",
    );
    // A slot copied whole.
    std::fs::write(&path, &genuine).unwrap();
    change_keys(dir.path(), |b| {
        let copy = b[slot_range(0)].to_vec();
        b.extend_from_slice(&copy);
    });
    slot_refused(dir.path(), 248, Some(0), "as does the slot at byte 8");
}

#[test]
fn a_partly_zero_slot_is_refused_unless_its_erasure_was_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let genuine = std::fs::read(&path).unwrap();
    // cust-1's key zeroed, its id and subject hash kept.
    change_keys(dir.path(), |b| b[slot_range(1)][48..].fill(0));
    slot_refused(
        dir.path(),
        88,
        Some(1),
        "is partly zero (its bytes 48 to 79)",
    );

    // The same slot left by an erasure that a crash cut short while zeroing: the erasure
    // record names the key, so opening finishes it.
    std::fs::write(&path, &genuine).unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-1").unwrap(), Some(4));
    log.close().unwrap();
    let mut torn = genuine.clone();
    torn[slot_range(1)][48..].fill(0);
    std::fs::write(&path, &torn).unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.recovery().finished_erasures.len(), 1);
    log.close().unwrap();
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after[slot_range(1)], [0u8; 80]);
    assert_eq!(problems(dir.path()), []);
}

#[test]
fn swapped_slots_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    change_keys(dir.path(), |b| {
        let (first, last) = (b[slot_range(0)].to_vec(), b[slot_range(2)].to_vec());
        b[slot_range(0)].copy_from_slice(&last);
        b[slot_range(2)].copy_from_slice(&first);
    });
    assert_eq!(problems(dir.path()), []);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    // Each subject keeps their key, wherever its slot is.
    assert_eq!(hex(&log.key_for("cust-0").unwrap().0), ids[0]);
    assert_eq!(hex(&log.key_for("cust-2").unwrap().0), ids[2]);
    // Erasing cust-0 zeroes the slot that holds their key, now the third.
    assert_eq!(log.erase_subject("cust-0").unwrap(), Some(4));
    log.close().unwrap();
    let bytes = std::fs::read(dir.path().join("subjects.keys")).unwrap();
    assert_eq!(bytes[slot_range(2)], [0u8; 80]);
    assert_eq!(hex(&bytes[slot_range(0)][..16]), ids[2]);
    assert_eq!(problems(dir.path()), []);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_ne!(hex(&log.key_for("cust-0").unwrap().0), ids[0]);
    assert_eq!(hex(&log.key_for("cust-2").unwrap().0), ids[2]);
    log.close().unwrap();
}

#[test]
fn erasure_and_reopening_work_with_bound_ids() {
    let dir = tempfile::tempdir().unwrap();
    let ids = log_with_subjects(dir.path());
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-1").unwrap(), Some(4));
    assert_eq!(log.erase_subject("cust-1").unwrap(), None);
    log.close().unwrap();
    let bytes = std::fs::read(dir.path().join("subjects.keys")).unwrap();
    assert!(bytes.starts_with(b"XOPKEYS2"));
    assert_eq!(
        bytes[slot_range(1)],
        [0u8; 80],
        "a zeroed slot is the erased state"
    );
    assert_eq!(problems(dir.path()), []);
    // Reopened: the others keep their keys; cust-1 gets a new one, named by a new record.
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert!(log.recovery_warning().is_none());
    let new = decide_about(&log, "cust-1");
    assert_ne!(new, ids[1]);
    assert_eq!(hex(&log.key_for("cust-2").unwrap().0), ids[2]);
    log.close().unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(problems(dir.path()), []);
}

/// The notes `verify` gives the log in `dir`, which has no problems.
fn notes(dir: &Path) -> Vec<String> {
    let key = read_public_key(&dir.join("log.pub")).unwrap();
    let report = verify_log(dir, &key).unwrap();
    assert_eq!(report.problems, []);
    report.notes
}

/// A slot of the first format: a random (legacy, unbound) id.
fn legacy_slot(subject: &str, id_byte: u8, key_byte: u8) -> Vec<u8> {
    let mut s = vec![id_byte; 16];
    s.extend_from_slice(&subject_hash(subject));
    s.extend_from_slice(&[key_byte; 32]);
    s
}

#[test]
fn a_first_format_key_file_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    // A key file as logs wrote them before ids were bound: cust-0's and cust-3's keys with
    // random ids.
    let (old0, old3) = ([0x5au8; 16], [0x6bu8; 16]);
    let mut bytes = b"XOPKEYS1".to_vec();
    bytes.extend_from_slice(&legacy_slot("cust-0", 0x5a, 0xa5));
    bytes.extend_from_slice(&legacy_slot("cust-3", 0x6b, 0xb6));
    let path = dir.path().join("subjects.keys");
    write_private(&path, &bytes);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(decide_about(&log, "cust-0"), hex(&old0));
    assert_eq!(decide_about(&log, "cust-3"), hex(&old3));
    // New keys get bound ids, in slots 2 and 3.
    let cust1 = decide_about(&log, "cust-1");
    let cust2 = decide_about(&log, "cust-2");
    assert!(cust1.ends_with("584b4232") && cust2.ends_with("584b4232"));
    log.close().unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    // Said, not a problem: the old format cannot show a legacy slot changed with its id kept;
    // how many slots are legacy (unbound) and how many bound (checked).
    let n = notes(dir.path());
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].contains("XOPKEYS1")
            && n[0].contains("2 live slots have a legacy random key id")
            && n[0].contains("and 2 a bound one"),
        "{n:?}"
    );
    let genuine = std::fs::read(&path).unwrap();
    assert!(
        genuine.starts_with(b"XOPKEYS1"),
        "the file keeps its format"
    );

    // Ids are still checked against the records, and copies and partly zero slots are found.
    change_keys(dir.path(), |b| b[slot_range(2)].fill(0));
    keys_refused(dir.path(), &cust1, 2);
    std::fs::write(&path, &genuine).unwrap();
    change_keys(dir.path(), |b| b[slot_range(3)][48..].fill(0));
    slot_refused(dir.path(), 248, Some(3), "is partly zero");
    std::fs::write(&path, &genuine).unwrap();
    change_keys(dir.path(), |b| {
        let copy = b[slot_range(0)].to_vec();
        b.extend_from_slice(&copy);
    });
    slot_refused(dir.path(), 328, Some(0), "as does the slot at byte 8");

    // Erasure works as before, the random id named by the erasure record.
    std::fs::write(&path, &genuine).unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-0").unwrap(), Some(4));
    log.close().unwrap();
    assert_eq!(std::fs::read(&path).unwrap()[slot_range(0)], [0u8; 80]);
    let n = notes(dir.path());
    assert!(
        n[0].contains("1 live slot has a legacy random key id") && n[0].contains("and 2 a bound"),
        "{n:?}"
    );
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();

    // The known limit: a legacy slot's key changed with its id kept is not seen.
    let erased = std::fs::read(&path).unwrap();
    change_keys(dir.path(), |b| b[slot_range(1)][48] ^= 0x40);
    assert_eq!(problems(dir.path()), []);
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    std::fs::write(&path, &erased).unwrap();
    assert_eq!(problems(dir.path()), []);
}

#[test]
fn a_bound_slot_changed_in_a_first_format_file_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"XOPKEYS1".to_vec();
    bytes.extend_from_slice(&legacy_slot("cust-0", 0x5a, 0xa5));
    let path = dir.path().join("subjects.keys");
    write_private(&path, &bytes);
    let log = ProofLog::open(dir.path(), config()).unwrap();
    decide_about(&log, "cust-0");
    decide_about(&log, "cust-1");
    log.close().unwrap();
    let genuine = std::fs::read(&path).unwrap();
    // cust-1's key, added with a bound id, changed with its id kept.
    change_keys(dir.path(), |b| b[slot_range(1)][48 + 7] ^= 1);
    slot_refused(dir.path(), 88, Some(1), "with its id kept");
    // Its subject hash changed: cust-9 would take cust-1's key.
    std::fs::write(&path, &genuine).unwrap();
    change_keys(dir.path(), |b| {
        b[slot_range(1)][16..48].copy_from_slice(&subject_hash("cust-9"));
    });
    slot_refused(dir.path(), 88, Some(1), "with its id kept");
    std::fs::write(&path, &genuine).unwrap();
    assert_eq!(notes(dir.path()).len(), 1);
}

#[test]
fn a_current_key_file_relabelled_as_the_first_format_is_still_checked() {
    // QA's downgrade: the magic rewritten XOPKEYS2 -> XOPKEYS1 and a key changed, its id
    // kept. The ids say they are bound; the magic is not trusted to say otherwise.
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    let path = dir.path().join("subjects.keys");
    let genuine = std::fs::read(&path).unwrap();
    assert!(genuine.starts_with(b"XOPKEYS2"));
    change_keys(dir.path(), |b| {
        b[..8].copy_from_slice(b"XOPKEYS1");
        b[slot_range(1)][48 + 5] ^= 1;
    });
    slot_refused(dir.path(), 88, Some(1), "with its id kept");
    let m = ProofLog::open(dir.path(), config())
        .unwrap_err()
        .to_string();
    assert!(m.contains("checked whatever the file's magic says"), "{m}");
    // Relabelled only: every slot is bound and sound, so it opens (a note says so).
    std::fs::write(&path, &genuine).unwrap();
    change_keys(dir.path(), |b| b[..8].copy_from_slice(b"XOPKEYS1"));
    let n = notes(dir.path());
    assert!(
        n[0].contains("0 live slots have a legacy random key id") && n[0].contains("and 3 a bound"),
        "{n:?}"
    );
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
    // The marker taken off too: the slot no longer holds the key records name.
    std::fs::write(&path, &genuine).unwrap();
    let id = hex(&genuine[slot_range(1)][..16]);
    change_keys(dir.path(), |b| {
        b[..8].copy_from_slice(b"XOPKEYS1");
        b[slot_range(1)][48 + 5] ^= 1;
        b[slot_range(1)][15] ^= 1;
    });
    keys_refused(dir.path(), &id, 1);
}

#[test]
fn an_unbound_id_in_a_current_key_file_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    // A legacy slot for a new subject put in a current file: every id there is bound.
    change_keys(dir.path(), |b| {
        b.extend_from_slice(&legacy_slot("cust-7", 0x5a, 0xa5))
    });
    slot_refused(dir.path(), 248, None, "does not end with 584b4232");
}

/// Writes `frames` as the log file, after the magic.
fn write_frames(dir: &Path, frames: &[Frame]) {
    let mut bytes = MAGIC.to_vec();
    for f in frames {
        write_frame(&mut bytes, f.tag, &f.body, &f.hash);
    }
    std::fs::write(dir.join("log.xpl"), bytes).unwrap();
}

/// The body of record 0 of `log_of` with `from` replaced by `to`, and the frame's index.
fn record_0_with(dir: &Path, from: &str, to: &str) -> (usize, Vec<u8>) {
    let f = frames(dir);
    let i = f.iter().position(|f| f.tag == Tag::Record).unwrap();
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let changed = body.replacen(from, to, 1);
    assert_ne!(body, changed, "{body}");
    (i, changed.into_bytes())
}

#[test]
fn a_record_changed_out_of_json_is_one_problem_and_keeps_its_place() {
    // QA: one byte of record 0 changed so that it is no longer JSON gave three problems: the
    // change, the record not decoding, and record 0 "missing (deleted or moved)" at record 1,
    // whose seq was compared with the unread seq of record 0.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 3);
    let (i, body) = record_0_with(dir.path(), "\"name\":", "\"namew");
    let why = decode(&body).unwrap_err();
    assert!(why.starts_with("not a proof record: "), "{why}");
    let mut f = frames(dir.path());
    f[i].body = body.clone();
    write_frames(dir.path(), &f);
    assert_eq!(
        problems(dir.path()),
        [(
            Some(0),
            format!(
                "record 0 was changed: its bytes do not match the hash written with it ({why})"
            )
        )]
    );

    // Its hash rewritten too (a forger's edit): not a proof record, still in its place.
    f[i].hash = leaf_hash(&body);
    write_frames(dir.path(), &f);
    assert_eq!(
        problems(dir.path()),
        [(Some(0), format!("record 0: {why}"))]
    );
}

#[test]
fn a_record_whose_seq_was_changed_is_one_problem() {
    // The seq a changed record holds is not trusted: read as written, record 0 changed to
    // `{"seq":7,` named record 0 missing and every later record out of order.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 3);
    let (i, body) = record_0_with(dir.path(), "{\"seq\":0,", "{\"seq\":7,");
    let mut f = frames(dir.path());
    f[i].body = body;
    write_frames(dir.path(), &f);
    assert_eq!(
        problems(dir.path()),
        [(
            Some(0),
            "record 0 was changed: its bytes do not match the hash written with it".to_string()
        )]
    );
}

/// `verify`'s problem for a missing `subjects.keys`: `what` the records name, and the backup.
fn key_file_missing(what: &str, backup: &str) -> (Option<u64>, String) {
    (
        None,
        format!(
            "subjects.keys is missing: it holds the subjects' HMAC keys, which the personal \
             evidence in the records is hashed with; {what}. A writer (`xop eval --log`, `xop \
             serve`, `xop log erase`) refuses to open the log without it, since a new file would \
             silently unlink every subject's evidence: restore subjects.keys from {backup}"
        ),
    )
}

/// Removes `subjects.keys`: opening for writing refuses; `verify` reports `want` alone.
fn key_file_removed(dir: &Path, want: (Option<u64>, String)) {
    std::fs::remove_file(dir.join("subjects.keys")).unwrap();
    let e = ProofLog::open(dir, config()).unwrap_err().to_string();
    assert!(
        e.contains("subjects.keys` (the subjects' hash keys) is missing"),
        "{e}"
    );
    assert_eq!(problems(dir), [want]);
}

#[test]
fn a_missing_key_file_is_one_problem_about_the_file() {
    // QA: the file removed was reported as `record 0 names subject key …, but the log has no
    // subjects.keys`, blaming record 0, whose key an erasure record (record 1) accounted for.
    let dir = tempfile::tempdir().unwrap();
    let log = ProofLog::open(dir.path(), config()).unwrap();
    decide_about(&log, "cust-42");
    assert_eq!(log.erase_subject("cust-42").unwrap(), Some(1));
    log.close().unwrap();
    assert_eq!(problems(dir.path()), []);
    key_file_removed(
        dir.path(),
        key_file_missing(
            "the records name 1 subject key, erased since by an erasure record, so no evidence \
             needs it any more",
            "a backup",
        ),
    );

    // Keys no erasure record names: their evidence is what the file is needed for.
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    key_file_removed(
        dir.path(),
        key_file_missing(
            "the records name 3 subject keys, so the personal evidence hashed with them can no \
             longer be checked",
            "a backup made after record 2 was written",
        ),
    );

    // Both.
    let dir = tempfile::tempdir().unwrap();
    log_with_subjects(dir.path());
    let log = ProofLog::open(dir.path(), config()).unwrap();
    assert_eq!(log.erase_subject("cust-2").unwrap(), Some(4));
    log.close().unwrap();
    key_file_removed(
        dir.path(),
        key_file_missing(
            "the records name 3 subject keys (1 erased since by an erasure record, which \
             accounts for it), so the personal evidence hashed with the other 2 can no longer \
             be checked",
            "a backup made after record 1 was written",
        ),
    );

    // A log whose records name no key does not need the file to be checked.
    let dir = tempfile::tempdir().unwrap();
    log_of(dir.path(), 2);
    std::fs::remove_file(dir.path().join("subjects.keys")).unwrap();
    assert_eq!(problems(dir.path()), []);
}
