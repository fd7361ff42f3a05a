//! A log whose frames all match their hashes but whose records were rewritten (the hash
//! recomputed), swapped or made to name a module by a path: the readers (`xop log show`,
//! `prove`, `replay`, `xop explain`) refuse it with exit 1, naming the record, and `xop log
//! verify` says what was done, once.

mod support;

use support::{TempDir, s, text, xop};

use std::fs;
use std::path::{Path, PathBuf};

use xop_runtime::proof::merkle::{Tree, leaf_hash};
use xop_runtime::proof::store::{Frame, Frames, MAGIC, Tag, write_frame};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme")
}

/// A log of `n` decisions, each its own `xop eval` (its own batch and checkpoint).
fn make_log(tmp: &TempDir, n: usize) -> PathBuf {
    let module = tmp.0.join("acme.xopm");
    let o = xop(&["build", s(&examples()), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let input = examples().join("inputs/offer-on-hold.json");
    let dir = tmp.0.join("data");
    for _ in 0..n {
        let o = xop(&[
            "eval",
            s(&module),
            "--policy",
            "contact",
            "--input",
            s(&input),
            "--log",
            s(&dir),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    dir
}

fn frames(dir: &Path) -> Vec<Frame> {
    Frames::open(&dir.join("log.xpl"))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Writes `frames` as the log file; returns them as read back (with their offsets).
fn write_frames(dir: &Path, frames: &[Frame]) -> Vec<Frame> {
    let mut bytes = MAGIC.to_vec();
    for f in frames {
        write_frame(&mut bytes, f.tag, &f.body, &f.hash);
    }
    fs::write(dir.join("log.xpl"), bytes).unwrap();
    self::frames(dir)
}

/// The index in `f` of record `seq`'s frame.
fn record_index(f: &[Frame], seq: usize) -> usize {
    f.iter()
        .enumerate()
        .filter(|(_, x)| x.tag == Tag::Record)
        .nth(seq)
        .unwrap()
        .0
}

/// Record `seq` rewritten by `edit`, its hash recomputed (as anyone can).
fn rewrite(f: &mut [Frame], seq: usize, edit: impl FnOnce(&str) -> String) {
    let i = record_index(f, seq);
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let changed = edit(&body);
    assert_ne!(body, changed);
    f[i].body = changed.into_bytes();
    f[i].hash = leaf_hash(&f[i].body);
}

/// Each command (`DIR` standing for the log's folder) exits with status 1 and says `says`, and
/// to run `xop log verify`.
fn refused(dir: &Path, commands: &[&[&str]], says: &str) {
    for args in commands {
        let all: Vec<&str> = args
            .iter()
            .map(|&a| if a == "DIR" { s(dir) } else { a })
            .collect();
        let o = xop(&all);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{all:?}: {out}");
        assert!(out.contains(says), "{all:?}: {out}");
        assert!(out.contains("xop log verify"), "{all:?}: {out}");
    }
}

#[test]
fn readers_refuse_a_record_rewritten_with_its_hash() {
    // QA: `xop log prove L 2` exited 0 with a proof that `verify-proof` rejects; `show` and
    // `explain` showed the forged record.
    let tmp = TempDir::new("forged-readers");
    let dir = make_log(&tmp, 4);
    let mut f = frames(&dir);
    rewrite(&mut f, 2, |b| b.replacen("\"time\":\"2", "\"time\":\"1", 1));
    let f = write_frames(&dir, &f);
    let says = format!(
        "is damaged at byte {}: record 2 does not match the commit of its batch",
        f[record_index(&f, 2)].offset
    );
    refused(
        &dir,
        &[
            &["log", "show", "DIR"],
            &["log", "show", "DIR", "0"],
            &["log", "show", "DIR", "2"],
            &["log", "prove", "DIR", "2"],
            &["log", "replay", "DIR"],
            &["explain", "DIR", "2"],
        ],
        &says,
    );
}

#[test]
fn readers_refuse_swapped_records_and_verify_names_the_swap_once() {
    // QA: `show L 1` printed a record whose seq is 2, `explain L 1` explained record 2 as
    // record 1, and `verify` also reported record 2 missing although it was in place.
    let tmp = TempDir::new("swapped-readers");
    let dir = make_log(&tmp, 4);
    let mut f = frames(&dir);
    let (a, b) = (record_index(&f, 1), record_index(&f, 2));
    f.swap(a, b);
    let f = write_frames(&dir, &f);
    refused(
        &dir,
        &[
            &["log", "show", "DIR", "1"],
            &["log", "prove", "DIR", "1"],
            &["explain", "DIR", "1"],
        ],
        &format!(
            "is damaged at byte {}: the record at record 1's place has seq 2",
            f[a].offset
        ),
    );
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.matches("bad: ").count(), 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "bad: record 1 (byte {}): records 1 and 2 were swapped: record 2 is at record 1's \
             place, and record 1 after it (at byte {})",
            f[a].offset, f[b].offset
        )),
        "{out}"
    );
}

#[test]
fn a_module_named_by_a_path_is_never_read() {
    // QA: a record's `module` rewritten to `../../other`: `replay` and `explain` read
    // `modules/../../other.xopm`, outside the log folder. Here the last record is rewritten with
    // its commit made anew and the checkpoint after it taken off (what no reader can tell from
    // a log a crash left unsigned), so that the readers open the log and meet the record.
    let tmp = TempDir::new("module-path");
    let dir = make_log(&tmp, 2);
    let mut f = frames(&dir);
    assert_eq!(f.last().unwrap().tag, Tag::Checkpoint);
    f.pop();
    rewrite(&mut f, 1, |b| {
        let at = b.find("\"module\":\"").unwrap() + 10;
        format!("{}../../other{}", &b[..at], &b[at + 64..])
    });
    let tree = Tree::from_leaves(f.iter().filter(|x| x.tag == Tag::Record).map(|x| x.hash));
    let commit = f.last_mut().unwrap();
    assert_eq!(commit.tag, Tag::Commit);
    commit.body[8..40].copy_from_slice(&tree.root());
    commit.hash = leaf_hash(&commit.body);
    let f = write_frames(&dir, &f);
    // Where the path leads: a module file that is there.
    fs::copy(tmp.0.join("acme.xopm"), tmp.0.join("other.xopm")).unwrap();
    let byte = f[record_index(&f, 1)].offset;

    let o = xop(&["explain", s(&dir), "1"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "is damaged at byte {byte}: record 1: its `module` is \"../../other\", not the \
             SHA-256 of a module file"
        )),
        "{out}"
    );
    let o = xop(&["log", "replay", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "record 1: cannot replay: the module the record names cannot be read: its `module` \
             is \"../../other\""
        ),
        "{out}"
    );
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with(&format!(
            "bad: record 1 (byte {byte}): record 1: its `module` is \"../../other\""
        )),
        "{out}"
    );
}
