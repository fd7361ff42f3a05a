//! A damaged proof log as the commands meet it: the next writer (`xop eval --log`, `xop log
//! erase`) refuses it and changes nothing, the readers (`show`, `prove`, `replay`, `explain`)
//! report the damage instead of reading the part before it, a crash's torn batch is dropped
//! with a warning, a missing `log.key` is never replaced, and `verify` fails on a log cut to
//! its magic.

mod support;

use support::{TempDir, s, text, xop};

use std::fs;
use std::path::{Path, PathBuf};

use xop_runtime::proof::store::{Frame, Frames, Tag};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme")
}

/// `xop eval --log DIR` of the on-hold offer with the module built in `tmp`.
fn eval(tmp: &TempDir, dir: &Path) -> std::process::Output {
    let input = examples().join("inputs/offer-on-hold.json");
    xop(&[
        "eval",
        s(&tmp.0.join("acme.xopm")),
        "--policy",
        "contact",
        "--input",
        s(&input),
        "--log",
        s(dir),
    ])
}

/// A log of `n` decisions, each its own `xop eval` (its own batch and checkpoint).
fn make_log(tmp: &TempDir, n: usize) -> PathBuf {
    let module = tmp.0.join("acme.xopm");
    let o = xop(&["build", s(&examples()), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = tmp.0.join("data");
    for _ in 0..n {
        let o = eval(tmp, &dir);
        assert!(o.status.success(), "{}", text(&o));
    }
    dir
}

fn record_frame(dir: &Path, seq: usize) -> Frame {
    Frames::open(&dir.join("log.xpl"))
        .unwrap()
        .map(Result::unwrap)
        .filter(|f| f.tag == Tag::Record)
        .nth(seq)
        .unwrap()
}

fn change(dir: &Path, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let path = dir.join("log.xpl");
    let mut bytes = fs::read(&path).unwrap();
    f(&mut bytes);
    fs::write(&path, &bytes).unwrap();
    bytes
}

#[test]
fn the_next_writer_refuses_a_damaged_log_and_cuts_nothing() {
    // QA: record 3's tag `R` flipped to `P`; one `xop eval --log` used to cut records 3 to 5
    // (committed, checkpointed), reuse number 3, and leave a log that verified.
    let tmp = TempDir::new("damaged-writer");
    let dir = make_log(&tmp, 6);
    let at = record_frame(&dir, 3).offset;
    let damaged = change(&dir, |b| b[at as usize] = b'P');
    let o = eval(&tmp, &dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("is damaged at byte {at}: unknown frame tag 0x50")),
        "{out}"
    );
    assert!(
        out.contains(&format!("xop log verify {}", dir.display())) && out.contains("backup"),
        "{out}"
    );
    assert!(
        !out.contains("proof: record"),
        "decided without a proof: {out}"
    );
    assert_eq!(fs::read(dir.join("log.xpl")).unwrap(), damaged);
    // `xop log erase` writes too: refused (a problem found), nothing changed.
    let o = xop(&["log", "erase", s(&dir), "cust-42"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(fs::read(dir.join("log.xpl")).unwrap(), damaged);
    let o = xop(&["log", "verify", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).starts_with(&format!("bad: byte {at}:")),
        "{}",
        text(&o)
    );
}

#[test]
fn readers_report_damage_instead_of_reading_the_part_before_it() {
    let tmp = TempDir::new("damaged-readers");
    let dir = make_log(&tmp, 6);
    let at = record_frame(&dir, 3).offset;
    let original = change(&dir, |b| b[at as usize] = b'P');
    for args in [
        vec!["log", "show", s(&dir)],
        vec!["log", "show", s(&dir), "1"],
        vec!["log", "prove", s(&dir), "1"],
        vec!["log", "replay", s(&dir)],
    ] {
        let o = xop(&args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}");
        assert!(
            out.contains(&format!("is damaged at byte {at}")),
            "{args:?}: {out}"
        );
        assert!(!out.contains("decisions replayed"), "{args:?}: {out}");
    }
    let o = xop(&["explain", s(&dir), "1"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("is damaged at byte {at}")),
        "{}",
        text(&o)
    );

    // A record whose stored hash no longer matches its bytes is damage too: it no longer
    // replays as "same".
    let mut bytes = original;
    bytes[at as usize] = b'R';
    let r2 = record_frame(&dir, 2).offset as usize;
    bytes[r2 + 5] ^= 0x01;
    fs::write(dir.join("log.xpl"), &bytes).unwrap();
    let o = xop(&["log", "replay", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("is damaged at byte {r2}: record 2 does not match")),
        "{out}"
    );
}

#[test]
fn a_torn_last_batch_is_dropped_with_a_warning() {
    let tmp = TempDir::new("torn");
    let dir = make_log(&tmp, 3);
    // The last batch as a crash leaves it: record 2 cut short.
    let r2 = record_frame(&dir, 2).offset;
    change(&dir, |b| b.truncate(r2 as usize + 60));
    // QA: `verify` judged it damage ("a frame … is cut short"), where the writer and the other
    // readers take it for the torn batch it is.
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("ok: 2 records, 2 signed checkpoints verified")
            && out.contains(&format!(
                "note: the log ends with 60 bytes at byte {r2} that no commit closes (no \
                 complete record): the torn end of a batch that a crash or a failed write (a \
                 full disk) interrupted before it was synced, so never acknowledged"
            )),
        "{out}"
    );
    let o = eval(&tmp, &dir);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "warning: dropped 60 bytes (0 complete records) at byte {r2} of `{}`",
            dir.join("log.xpl").display()
        )) && out.contains("never acknowledged"),
        "{out}"
    );
    // Record 2 was never acknowledged: the new decision takes its number.
    assert!(out.contains("proof: record 2 in"), "{out}");
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: 3 records"), "{}", text(&o));
    // Nothing dropped: no warning.
    let o = eval(&tmp, &dir);
    assert!(!text(&o).contains("warning"), "{}", text(&o));
}

#[test]
fn a_missing_log_key_is_never_made_anew() {
    let tmp = TempDir::new("no-key");
    let dir = make_log(&tmp, 2);
    let public = fs::read(dir.join("log.pub")).unwrap();
    fs::rename(dir.join("log.key"), tmp.0.join("moved.key")).unwrap();
    let o = eval(&tmp, &dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("log.key") && out.contains("is missing") && out.contains("restore it"),
        "{out}"
    );
    assert!(!dir.join("log.key").exists());
    assert_eq!(fs::read(dir.join("log.pub")).unwrap(), public);
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_log_cut_to_its_magic_does_not_verify() {
    let tmp = TempDir::new("magic");
    let dir = make_log(&tmp, 2);
    change(&dir, |b| b.truncate(8));
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("bad: byte 8: the log has no header frame"),
        "{out}"
    );
    let o = xop(&["log", "show", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
