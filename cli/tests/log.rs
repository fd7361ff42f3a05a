//! The proof log's command-line tools on a real log written by `xop eval --log`: a log that
//! verifies, and every kind of tampering (a changed, re-hashed, deleted, reordered or forged
//! record, a forged checkpoint) named by `xop log verify`; proofs, replay, explain, erasure.

mod support;

use support::{TempDir, s, text, xop};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use xop_runtime::proof::merkle::{Tree, leaf_hash};
use xop_runtime::proof::store::{Frame, Frames, MAGIC, Tag, commit_body, write_frame};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme")
}

/// A log of six decisions (each its own `xop eval`, so each its own batch and checkpoint):
/// offers to customers with 0..=5 messages this week, one of them on hold.
fn make_log(tmp: &TempDir) -> PathBuf {
    let module = tmp.0.join("acme.xopm");
    let o = xop(&["build", s(&examples()), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let base: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(examples().join("inputs/offer-on-hold.json")).unwrap(),
    )
    .unwrap();
    let dir = tmp.0.join("data");
    for i in 0..6 {
        let mut input = base.clone();
        input["to"]["messages_7d"] = serde_json::json!(i);
        input["to"]["in_service_interaction"] = serde_json::json!(i == 1);
        let path = tmp.0.join(format!("input-{i}.json"));
        fs::write(&path, input.to_string()).unwrap();
        let o = xop(&[
            "eval",
            s(&module),
            "--policy",
            "contact",
            "--input",
            s(&path),
            "--log",
            s(&dir),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("proof: record {i} in")),
            "{}",
            text(&o)
        );
    }
    dir
}

fn frames(dir: &Path) -> Vec<Frame> {
    Frames::open(&dir.join("log.xpl"))
        .unwrap()
        .map(|f| f.unwrap())
        .collect()
}

fn write_frames(dir: &Path, frames: &[Frame]) {
    let mut bytes = MAGIC.to_vec();
    for f in frames {
        let tag = f.tag;
        write_frame(&mut bytes, tag, &f.body, &f.hash);
    }
    fs::write(dir.join("log.xpl"), bytes).unwrap();
}

fn record_index(frames: &[Frame], seq: usize) -> usize {
    frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.tag == Tag::Record)
        .nth(seq)
        .unwrap()
        .0
}

/// `xop log verify` fails, and its first problem names `what`.
fn assert_named(dir: &Path, what: &str) -> String {
    let o = xop(&["log", "verify", s(dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.contains(what),
        "the first problem should name {what}:\n{out}"
    );
    out
}

#[test]
fn an_untouched_log_verifies_and_its_tools_work() {
    let tmp = TempDir::new("ok");
    let dir = make_log(&tmp);
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: 6 records"), "{}", text(&o));

    // show: a line per record; one record as JSON.
    let o = xop(&["log", "show", s(&dir)]);
    assert!(o.status.success());
    let out = text(&o);
    assert!(
        out.contains("1 ") && out.contains("deny (in-service-interaction)\n"),
        "{out}"
    );
    let o = xop(&["log", "show", s(&dir), "3", "--format", "json"]);
    let record: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(record["seq"], 3);
    assert_eq!(record["policy"], "acme.contact.contact");
    assert_eq!(record["verdict"], "deny");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("+336"),
        "msisdn in clear"
    );
    let o = xop(&["log", "show", s(&dir), "6"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no record 6"), "{}", text(&o));
    // `prove` says it as `show` does: there is no record to wait for a checkpoint of.
    let o = xop(&["log", "prove", s(&dir), "6"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no record 6: the log has 6 records (0 to 5)")
            && !text(&o).contains("checkpoint"),
        "{}",
        text(&o)
    );

    // prove + verify-proof, and a tampered proof.
    let o = xop(&["log", "prove", s(&dir), "2", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let proof = tmp.0.join("proof.json");
    fs::write(&proof, &o.stdout).unwrap();
    let key = dir.join("log.pub");
    let o = xop(&["log", "verify-proof", s(&proof), "--key", s(&key)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("record 2 is in log"), "{}", text(&o));
    let tampered = String::from_utf8_lossy(&fs::read(&proof).unwrap()).replacen(
        "\\\"seq\\\":2",
        "\\\"seq\\\":3",
        1,
    );
    assert!(
        tampered.contains("seq\\\":3"),
        "the proof quotes its record"
    );
    fs::write(&proof, tampered).unwrap();
    let o = xop(&["log", "verify-proof", s(&proof), "--key", s(&key)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = xop(&["log", "prove", s(&dir), "2"]);
    assert!(text(&o).contains("audit path"), "{}", text(&o));

    // replay: the same verdicts.
    let o = xop(&["log", "replay", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("6 decisions replayed: 6 same"),
        "{}",
        text(&o)
    );

    // explain: the verdict, evidence, and the fired rule's source.
    let o = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(["explain", s(&dir), "1"])
        .env("NO_COLOR", "1")
        .current_dir(examples().join("../.."))
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("record 1: deny (in-service-interaction)"),
        "{out}"
    );
    assert!(out.contains("to.in_service_interaction = true"), "{out}");
    assert!(
        out.contains("deny \"in-service-interaction\" when c.in_service_interaction"),
        "{out}"
    );
    assert!(out.contains("decided the verdict"), "{out}");
    // Values no rule reads are not evidence.
    assert!(
        !out.contains("to.nickname") && !out.contains("to.segment"),
        "{out}"
    );
}

#[test]
fn a_changed_record_is_named() {
    let tmp = TempDir::new("changed");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let i = record_index(&f, 2);
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let changed = body.replacen("\"verdict\":\"allow\"", "\"verdict\":\"deny\" ", 1);
    assert_ne!(body, changed);
    f[i].body = changed.into_bytes();
    write_frames(&dir, &f);
    let out = assert_named(&dir, "record 2");
    assert!(out.contains("was changed"), "{out}");
}

#[test]
fn a_record_changed_out_of_json_is_one_problem() {
    // QA: also said "record 0: not a proof record: …" and, of record 1, "record 0 is missing
    // (deleted or moved)": the unreadable record's place was not counted.
    let tmp = TempDir::new("changed-json");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let i = record_index(&f, 0);
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let changed = body.replacen("\"policy\":", "\"policy\"w", 1);
    assert_ne!(body, changed);
    f[i].body = changed.into_bytes();
    write_frames(&dir, &f);
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // The folder `xop eval --log` wrote has a review queue, as `xop serve`'s has: a note says
    // it could not be checked against the damaged log.
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[2]
            .starts_with("note: the review queue `reviews.log` was not checked against the log: "),
        "{out}"
    );
    assert!(
        lines[0].starts_with(&format!(
            "bad: record 0 (byte {}): record 0 was changed: its bytes do not match the hash \
             written with it (not a proof record: expected `:` at line 1 column ",
            f[i].offset
        )),
        "{out}"
    );
    assert_eq!(
        lines[1],
        "the log does not verify: 1 problem, the first at record 0"
    );
}

#[test]
fn a_changed_and_rehashed_record_is_caught_by_the_commit_and_checkpoint() {
    let tmp = TempDir::new("rehashed");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let i = record_index(&f, 1);
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let changed = body.replacen("\"value\":1", "\"value\":0", 1);
    assert_ne!(body, changed, "{body}");
    f[i].body = changed.into_bytes();
    f[i].hash = leaf_hash(&f[i].body);
    write_frames(&dir, &f);
    assert_named(&dir, "record 1");
}

#[test]
fn a_deleted_record_is_named() {
    let tmp = TempDir::new("deleted");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let i = record_index(&f, 3);
    f.remove(i);
    write_frames(&dir, &f);
    let out = assert_named(&dir, "record 3");
    assert!(out.contains("missing"), "{out}");
}

#[test]
fn reordered_records_are_named() {
    let tmp = TempDir::new("reordered");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let (a, b) = (record_index(&f, 2), record_index(&f, 3));
    let (fa, fb) = (f[a].clone(), f[b].clone());
    f[a] = fb;
    f[b] = fa;
    write_frames(&dir, &f);
    assert_named(&dir, "record 2");
}

#[test]
fn a_forged_record_in_the_middle_is_named() {
    let tmp = TempDir::new("forged-middle");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    let i = record_index(&f, 2);
    // A copy of record 2 with a valid hash, inserted after it.
    let copy = f[i].clone();
    f.insert(i + 1, copy);
    write_frames(&dir, &f);
    let out = assert_named(&dir, "record 3");
    assert!(out.contains("forged"), "{out}");
    // Its batch's commit says how many records it closed, by the writer's numbering; the
    // batches after it are whole, only shifted: not reported again.
    assert!(
        out.contains(
            "record 2 was committed in a batch of its own, but 2 records are here: a record was \
             inserted (forged or duplicated)"
        ),
        "{out}"
    );
    assert_eq!(out.matches("bad: ").count(), 2, "{out}");
}

#[test]
fn a_forged_record_at_the_end_is_named() {
    let tmp = TempDir::new("forged-end");
    let dir = make_log(&tmp);
    let mut f = frames(&dir);
    // Record 6: a copy of record 5 renumbered, with a valid hash and a valid commit.
    let last = record_index(&f, 5);
    let body = String::from_utf8(f[last].body.clone())
        .unwrap()
        .replacen("{\"seq\":5,", "{\"seq\":6,", 1)
        .into_bytes();
    let hash = leaf_hash(&body);
    let mut leaves: Vec<_> = f
        .iter()
        .filter(|x| x.tag == Tag::Record)
        .map(|x| x.hash)
        .collect();
    leaves.push(hash);
    let tree = Tree::from_leaves(leaves);
    let commit = commit_body(7, &tree.root());
    let offset = f.last().unwrap().end();
    f.push(Frame {
        offset,
        tag: Tag::Record,
        hash,
        body,
    });
    f.push(Frame {
        offset,
        tag: Tag::Commit,
        hash: leaf_hash(&commit),
        body: commit.to_vec(),
    });
    write_frames(&dir, &f);
    let out = assert_named(&dir, "record 6");
    assert!(out.contains("not covered by a signed checkpoint"), "{out}");

    // The forger signs a checkpoint with their own key: refused.
    let forged = xop_runtime::proof::checkpoint::Checkpoint {
        origin: String::from_utf8(f[0].body.clone())
            .unwrap()
            .split('"')
            .nth(5)
            .unwrap()
            .to_string(),
        size: 7,
        root: tree.root(),
    }
    .sign(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]));
    f.push(Frame {
        offset,
        tag: Tag::Checkpoint,
        hash: leaf_hash(forged.as_bytes()),
        body: forged.into_bytes(),
    });
    write_frames(&dir, &f);
    let out = assert_named(&dir, "byte");
    assert!(out.contains("no signature by key"), "{out}");
}

#[test]
fn erasure_keeps_the_log_verifying() {
    let tmp = TempDir::new("erase");
    let dir = make_log(&tmp);
    // A fraud check: the SIM-swap signal's connector reads the personal msisdn, so the record
    // holds its keyed hash, under the key of subject cust-42.
    fraud_decision(&tmp, &dir);
    let o = xop(&["log", "show", s(&dir), "6", "--format", "json"]);
    let record = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        record.contains("\"path\":\"to.msisdn\",\"hmac\":"),
        "{record}"
    );
    assert!(!record.contains("+336"), "{record}");

    let before = fs::read(dir.join("subjects.keys")).unwrap();
    assert!(before[8..].iter().any(|&b| b != 0));
    let o = xop(&["log", "erase", s(&dir), "cust-42"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("the erasure is record 7"), "{}", text(&o));
    let after = fs::read(dir.join("subjects.keys")).unwrap();
    assert_eq!(before.len(), after.len());
    assert!(
        after[8..].iter().all(|&b| b == 0),
        "the key's slot is zeroed"
    );
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: 8 records"), "{}", text(&o));
    let o = xop(&["log", "replay", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    // Again: nothing links an erased subject to its erasure, so the log's erasures are named.
    let o = xop(&["log", "erase", s(&dir), "cust-42"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("has no key: they were erased already, or nothing personal of theirs")
            && text(&o).contains("its one erasure record is record 7"),
        "{}",
        text(&o)
    );
    let o = xop(&[
        "log",
        "erase",
        s(&make_log(&TempDir::new("erase-none"))),
        "cust-42",
    ]);
    assert!(
        text(&o).contains("has no key, and the log has no erasure record"),
        "{}",
        text(&o)
    );
    let o = xop(&["explain", s(&dir), "7"]);
    assert!(text(&o).contains("was erased"), "{}", text(&o));
}

#[test]
fn verify_reports_a_missing_log_clearly() {
    let tmp = TempDir::new("missing");
    let o = xop(&["log", "verify", s(&tmp.0)]);
    assert_eq!(o.status.code(), Some(2));
    // As the other verbs say it, not "no log.pub".
    assert!(text(&o).contains("no proof log in"), "{}", text(&o));
    let o = xop(&["log", "show", s(&tmp.0)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no proof log"), "{}", text(&o));
}

/// A fraud check about cust-42 decided into `dir` (record `make_log`'s six plus one): the
/// SIM-swap signal's connector reads the personal msisdn, so the record holds its keyed hash.
fn fraud_decision(tmp: &TempDir, dir: &Path) {
    let mut input: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(examples().join("inputs/offer-on-hold.json")).unwrap(),
    )
    .unwrap();
    input.as_object_mut().unwrap().remove("channel");
    input.as_object_mut().unwrap().remove("offer");
    input["tx"] = serde_json::json!({"id": "tx-1", "amount": "250.00 EUR", "merchant": "ACME"});
    input["signals"] =
        serde_json::json!({"sim_swap": {"swapped": true, "latest_swap": "2026-11-25T09:00:00Z"}});
    let path = tmp.0.join("fraud.json");
    fs::write(&path, input.to_string()).unwrap();
    let o = xop(&[
        "eval",
        s(&tmp.0.join("acme.xopm")),
        "--policy",
        "fraud",
        "--input",
        s(&path),
        "--log",
        s(dir),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("review (recent-sim-swap)"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_key_file_is_one_problem_about_the_file() {
    // QA: said `record 6 names subject key …, but the log has no subjects.keys`, blaming the
    // record whose key the erasure (record 7) accounted for.
    let tmp = TempDir::new("keys-gone");
    let dir = make_log(&tmp);
    fraud_decision(&tmp, &dir);
    let o = xop(&["log", "erase", s(&dir), "cust-42"]);
    assert!(o.status.success(), "{}", text(&o));
    fs::remove_file(dir.join("subjects.keys")).unwrap();
    let o = xop(&["log", "verify", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        text(&o),
        "bad: subjects.keys is missing: it holds the subjects' HMAC keys, which the personal \
         evidence in the records is hashed with; the records name 1 subject key, erased since by \
         an erasure record, so no evidence needs it any more. A writer (`xop eval --log`, `xop \
         serve`, `xop log erase`) refuses to open the log without it, since a new file would \
         silently unlink every subject's evidence: restore subjects.keys from a backup\n\
         the log does not verify: 1 problem\n"
    );
}

#[test]
fn a_key_file_that_lost_a_key_is_refused_and_reported() {
    let tmp = TempDir::new("lost-key");
    let dir = make_log(&tmp);
    fraud_decision(&tmp, &dir);
    let o = xop(&["log", "show", s(&dir), "6", "--format", "json"]);
    let record: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["key"].as_str())
        .unwrap()
        .to_string();
    let keys = dir.join("subjects.keys");
    let full = fs::read(&keys).unwrap();
    // Cut to its magic: cust-42 would get a new key, and the old evidence would be unlinked
    // with no erasure record.
    fs::write(&keys, &full[..8]).unwrap();
    let log = fs::read(dir.join("log.xpl")).unwrap();
    let out = assert_named(&dir, "record 6");
    assert!(
        out.contains(&format!(
            "record 6 names subject key {key}, which subjects.keys does not have"
        )),
        "{out}"
    );
    let input = examples().join("inputs/offer-on-hold.json");
    let module = tmp.0.join("acme.xopm");
    let eval = [
        "eval",
        s(&module),
        "--policy",
        "contact",
        "--input",
        s(&input),
        "--log",
        s(&dir),
    ];
    let o = xop(&eval);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    for want in [
        "subjects.keys`",
        &format!("record 6 names subject key {key}"),
        "no erasure record",
        "Nothing was changed: restore",
        "xop log verify",
    ] {
        assert!(out.contains(want), "{want} not in: {out}");
    }
    let o = xop(&["log", "erase", s(&dir), "cust-42"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(fs::read(&keys).unwrap(), &full[..8]);
    assert_eq!(fs::read(dir.join("log.xpl")).unwrap(), log);
    // The slot zeroed by hand instead: the same.
    let mut zeroed = full.clone();
    zeroed[8..].fill(0);
    fs::write(&keys, &zeroed).unwrap();
    assert_named(&dir, "record 6");
    assert!(!xop(&eval).status.success());
    fs::write(&keys, &full).unwrap();
    assert!(xop(&eval).status.success());
}

#[test]
fn replay_fails_on_a_refused_input_record_that_is_not_a_refusal() {
    let tmp = TempDir::new("refusal");
    let dir = make_log(&tmp);
    let bad = tmp.0.join("bad.json");
    fs::write(&bad, r#"{"to": 1}"#).unwrap();
    let o = xop(&[
        "eval",
        s(&tmp.0.join("acme.xopm")),
        "--policy",
        "contact",
        "--input",
        s(&bad),
        "--log",
        s(&dir),
    ]);
    assert!(text(&o).contains("xop:bad-input"), "{}", text(&o));
    let o = xop(&["log", "replay", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("record 6: skipped: the input was refused"),
        "{}",
        text(&o)
    );
    // The key holder turns the refusal into an allow: the record's hash, its commit's root and
    // the checkpoint after it made anew, signed with `log.key` (so the readers take it).
    let mut f = frames(&dir);
    let i = record_index(&f, 6);
    let body = String::from_utf8(f[i].body.clone()).unwrap();
    let forged = body.replacen("\"verdict\":\"deny\"", "\"verdict\":\"allow\"", 1);
    assert_ne!(body, forged);
    f[i].body = forged.into_bytes();
    f[i].hash = leaf_hash(&f[i].body);
    let tree = Tree::from_leaves(f.iter().filter(|x| x.tag == Tag::Record).map(|x| x.hash));
    let key =
        xop_runtime::module::parse_signing_key(&fs::read_to_string(dir.join("log.key")).unwrap())
            .unwrap();
    for x in &mut f[i + 1..] {
        match x.tag {
            Tag::Commit => x.body[8..40].copy_from_slice(&tree.root()),
            Tag::Checkpoint => {
                let note = String::from_utf8(x.body.clone()).unwrap();
                x.body = xop_runtime::proof::checkpoint::Checkpoint {
                    origin: note.lines().next().unwrap().to_string(),
                    size: tree.size(),
                    root: tree.root(),
                }
                .sign(&key)
                .into_bytes();
            }
            _ => {}
        }
        x.hash = leaf_hash(&x.body);
    }
    write_frames(&dir, &f);
    let o = xop(&["log", "replay", s(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "record 6: differs: verdict allow logged, where refused input is always deny"
        ),
        "{}",
        text(&o)
    );
}

/// The bytes of `dir`'s log from its start to the end of `frame` (a checkpoint: the cut of
/// whole batches no check of the log alone can see).
fn cut_after(dir: &Path, frame: &Frame) {
    let path = dir.join("log.xpl");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..frame.end() as usize]).unwrap();
}

#[test]
fn verify_checks_that_the_log_extends_a_checkpoint_saved_earlier() {
    // QA: the last batches cut off at a checkpoint verified `ok`; a checkpoint kept elsewhere
    // (a witness) shows the cut.
    let tmp = TempDir::new("saved-checkpoint");
    let dir = make_log(&tmp);
    let o = xop(&["log", "checkpoint", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    let note = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        note.contains("\n6\n") && note.contains("\n\n\u{2014} "),
        "{note}"
    );
    let saved = tmp.write("saved.txt", &note);
    let o = xop(&["log", "verify", s(&dir), "--checkpoint", s(&saved)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "ok: the log extends the checkpoint saved in `{}` (tree size 6)",
            saved.display()
        )),
        "{}",
        text(&o)
    );
    // An inclusion proof carries its checkpoint: it does as well.
    let o = xop(&["log", "prove", s(&dir), "1", "--format", "json"]);
    let proof = tmp.write("proof.json", &o.stdout);
    let o = xop(&["log", "verify", s(&dir), "--checkpoint", s(&proof)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("(tree size 6)"), "{}", text(&o));

    // Records 4 and 5 cut off with their batches: alone, a valid shorter log.
    let f = frames(&dir);
    let checkpoint_of_4 = f
        .iter()
        .filter(|x| x.tag == Tag::Checkpoint)
        .nth(3)
        .unwrap()
        .clone();
    cut_after(&dir, &checkpoint_of_4);
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: 4 records"), "{}", text(&o));
    let o = xop(&["log", "verify", s(&dir), "--checkpoint", s(&saved)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with(&format!(
            "bad: record 4: the checkpoint saved in `{}` signs a tree of 6 records, but the log \
             has only 4: records 4 to 5 were cut from its end",
            saved.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("the log does not verify: 1 problem, the first at record 4"),
        "{out}"
    );

    // Not a checkpoint of this log's key: said, not taken.
    let o = xop(&["keygen", "-o", s(&tmp.0.join("other"))]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop(&[
        "log",
        "verify",
        s(&dir),
        "--checkpoint",
        s(&saved),
        "--key",
        s(&tmp.0.join("other.pub")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A file that holds no checkpoint: a usage error.
    let empty = tmp.write("empty.txt", "\n");
    let o = xop(&["log", "verify", s(&dir), "--checkpoint", s(&empty)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no checkpoint in it"), "{}", text(&o));
}

#[test]
fn verify_reports_commit_and_checkpoint_frames_out_of_place() {
    // QA: frames deleted, duplicated, moved or appended again verified `ok`.
    let tmp = TempDir::new("grammar");
    let dir = make_log(&tmp);
    let f = frames(&dir);
    // Each `xop eval` is a batch of its own: header, then R C S six times.
    let tags: String = f
        .iter()
        .map(|x| match x.tag {
            Tag::Header => 'H',
            Tag::Record => 'R',
            Tag::Commit => 'C',
            Tag::Checkpoint => 'S',
        })
        .collect();
    assert_eq!(tags, format!("H{}", "RCS".repeat(6)));
    // What is done to the frames (returning the index of the frame to name), what it says.
    type Edit = fn(&mut Vec<Frame>) -> usize;
    let cases: [(&str, Edit, &str); 5] = [
        (
            "a commit deleted",
            |g| {
                g.remove(5);
                5
            },
            "a signed checkpoint right after a record",
        ),
        (
            "a commit duplicated",
            |g| {
                g.insert(6, g[5].clone());
                6
            },
            "a commit frame right after another commit",
        ),
        (
            "a checkpoint duplicated",
            |g| {
                g.insert(7, g[6].clone());
                7
            },
            "a signed checkpoint right after another signed checkpoint",
        ),
        (
            "a checkpoint moved before its commit",
            |g| {
                g.swap(5, 6);
                5
            },
            "a signed checkpoint right after a record",
        ),
        (
            "the last commit appended again",
            |g| {
                g.push(g[17].clone());
                19
            },
            "a commit frame right after a signed checkpoint",
        ),
    ];
    for (what, edit, said) in cases {
        let mut g = f.clone();
        let at = edit(&mut g);
        write_frames(&dir, &g);
        let offset = frames(&dir)[at].offset;
        let o = xop(&["log", "verify", s(&dir)]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {out}");
        assert!(
            out.starts_with(&format!("bad: byte {offset}: {said}")),
            "{what}: {out}"
        );
    }
    write_frames(&dir, &f);
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn verify_of_a_log_open_for_writing_notes_the_records_not_yet_covered() {
    // QA: `xop log verify` on the folder of a live `xop serve` always failed, naming the
    // records after the latest checkpoint.
    let tmp = TempDir::new("live");
    let dir = make_log(&tmp);
    let log = xop_runtime::proof::ProofLog::open(
        &dir,
        xop_runtime::proof::LogConfig {
            checkpoint_interval: std::time::Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..3 {
        let seq = log
            .append_event("test.live", serde_json::json!({ "i": i }))
            .unwrap();
        assert_eq!(seq, 6 + i);
    }
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("ok: 9 records, 6 signed checkpoints verified (tree size 6")
            && out.contains(
                "note: records 6 to 8 are not covered by a signed checkpoint yet: the log is \
                 open for writing"
            ),
        "{out}"
    );
    // A copy of the same bytes that no writer holds: the records are unproven.
    let copy = tmp.0.join("copy");
    fs::create_dir_all(&copy).unwrap();
    for file in ["log.xpl", "log.pub", "subjects.keys"] {
        fs::copy(dir.join(file), copy.join(file)).unwrap();
    }
    let o = xop(&["log", "verify", s(&copy)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("bad: record 6: records 6 to 8 are not covered by a signed checkpoint")
            && out.contains("no writer has the log open"),
        "{out}"
    );
    log.close().unwrap();
    let o = xop(&["log", "verify", s(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("not covered"), "{}", text(&o));
}

#[test]
fn replay_counts_the_decisions_it_could_not_replay_apart() {
    // QA: records whose module is missing were counted as "different".
    let tmp = TempDir::new("replay-missing");
    let dir = make_log(&tmp);
    for entry in fs::read_dir(dir.join("modules")).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let o = xop(&["log", "replay", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("record 0: cannot replay: "), "{out}");
    assert!(
        out.contains("6 decisions replayed: 0 same, 0 different, 6 could not replay, 0 skipped"),
        "{out}"
    );
}

/// QA: `xop log verify DIR` passed a folder whose `reviews.log` named records the log had lost,
/// and one whose queue had lost a `review` decision's case. It now checks the queue against
/// the log as `xop serve` does on open (read-only), each disagreement a `bad:` line.
#[test]
fn verify_checks_the_review_queue_beside_the_log() {
    let tmp = TempDir::new("queue");
    let dir = make_log(&tmp);
    fraud_decision(&tmp, &dir);
    // The queue `xop eval --log` wrote, with record 6's case: it agrees with the log.
    assert!(
        fs::read_to_string(dir.join("reviews.log"))
            .unwrap()
            .contains(r#""id":"rv-6""#)
    );
    let o = xop(&["log", "verify", s(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A queue without record 6's case, and the log without an outcome for it.
    fs::write(dir.join("reviews.log"), "").unwrap();
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("bad: record 6: a `review` decision") && out.contains("no case in"),
        "{out}"
    );
    // A case naming record 9, which the log (7 records) does not have: a log cut short.
    let case = serde_json::json!({"op": "open", "case": {
        "id": "rv-9", "seq": 9, "module": "m", "policy": "acme.fraud", "action": "acme.block",
        "reasons": ["r"], "role": "fraud_desk", "within_ms": 1000, "fallback": "deny",
        "deadline_ms": 1000, "deadline": "1970-01-01T00:00:01.000Z", "evidence": [],
        "at_ms": 0, "opened_ms": 0, "status": "open"}});
    fs::write(dir.join("reviews.log"), format!("{case}\n")).unwrap();
    let before = fs::read(dir.join("reviews.log")).unwrap();
    let o = xop(&["log", "verify", s(&dir)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("bad: record 9: case `rv-9`") && out.contains("only 7 records"),
        "{out}"
    );
    assert_eq!(
        fs::read(dir.join("reviews.log")).unwrap(),
        before,
        "read-only"
    );
}
