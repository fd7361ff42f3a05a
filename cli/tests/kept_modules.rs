//! The module copies kept in a proof log folder (`DIR/modules/<sha256>.xopm`), from a QA
//! report:
//!
//! - a kept copy emptied by hand was never replaced: `xop eval … --log L` went on proving
//!   decisions (exit 0) that `xop log replay L` could not replay;
//! - `xop log replay` and `xop explain` waited forever on a named pipe there;
//! - `xop eval --trust FIFO` waited forever for a writer.

// Named pipes as Unix has them.
#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::Output;

use support::{TempDir, mkfifo, text, xop_in, xop_within};

const SOURCE: &str = "module p

use std.consent.service

record R { n: Int, vip: Bool }

action act(r: R) purpose service risk minimal

policy pol for act(r: r) {
  deny \"big\" when r.n > 5
  allow \"fine\"
}
";

/// A folder with `p.xop` built into `p.xopm`, `in.json`, and one decision proven in `L`;
/// the path of the module's kept copy (relative to the folder).
fn logged() -> (TempDir, String) {
    let dir = TempDir::new("kept-modules");
    dir.write("p.xop", SOURCE);
    dir.write("in.json", r#"{"r":{"n":9,"vip":true}}"#);
    let o = xop_in(dir.path(), &["build", "p.xop", "-o", "p.xopm"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = eval(dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let bytes = std::fs::read(dir.path().join("p.xopm")).unwrap();
    let hash = xop_runtime::module::hex(&xop_runtime::module::content_hash(&bytes));
    (dir, format!("L/modules/{hash}.xopm"))
}

fn eval(dir: &Path) -> Output {
    xop_in(
        dir,
        &[
            "eval", "p.xopm", "--policy", "pol", "--input", "in.json", "--log", "L",
        ],
    )
}

/// Runs `xop ARGS` in `dir`, killed after 20 s: a command that waits on a named pipe must
/// fail the test, not hang the test run.
fn xop_within_deadline(dir: &Path, args: &[&str]) -> Output {
    xop_within(dir, args, 20)
}

#[test]
fn eval_replaces_a_damaged_kept_copy_says_so_and_its_decisions_replay() {
    let (dir, kept) = logged();
    std::fs::write(dir.path().join(&kept), b"").unwrap();
    let o = eval(dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "warning: the copy of module {} kept in `{kept}` was not the module's file (it is \
             empty); it was replaced by the module's file",
            &kept[10..74]
        )) && err.contains("(`xop log replay L` re-decides every record with its module)"),
        "{err}"
    );
    assert!(text(&o).contains("proof: record 1"), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.path().join(&kept)).unwrap(),
        std::fs::read(dir.path().join("p.xopm")).unwrap()
    );
    let o = xop_in(dir.path(), &["log", "replay", "L"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 decisions replayed: 2 same, 0 different, 0 could not replay"),
        "{}",
        text(&o)
    );
    // A right copy is said nothing of.
    let o = eval(dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("warning"), "{}", text(&o));
}

#[test]
fn eval_refuses_to_decide_when_a_folder_is_where_the_copy_is_kept() {
    let (dir, kept) = logged();
    std::fs::remove_file(dir.path().join(&kept)).unwrap();
    std::fs::create_dir(dir.path().join(&kept)).unwrap();
    let o = eval(dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "`{kept}`: is a folder, where the module's file is kept"
        )) && err.contains("move the folder away"),
        "{err}"
    );
    assert!(!text(&o).contains("proof: record"), "{}", text(&o));
}

#[test]
fn replay_and_explain_refuse_a_named_pipe_at_once_and_eval_replaces_it() {
    let (dir, kept) = logged();
    std::fs::remove_file(dir.path().join(&kept)).unwrap();
    if !mkfifo(&dir.path().join(&kept)) {
        return;
    }
    let said = format!("`{kept}` is a named pipe (FIFO), not a file; copy the module file there");
    let o = xop_within_deadline(dir.path(), &["log", "replay", "L"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(&said), "{}", text(&o));
    assert!(text(&o).contains("1 could not replay"), "{}", text(&o));
    let o = xop_within_deadline(dir.path(), &["explain", "L", "0"]);
    assert!(text(&o).contains(&said), "{}", text(&o));

    let o = xop_within_deadline(
        dir.path(),
        &[
            "eval", "p.xopm", "--policy", "pol", "--input", "in.json", "--log", "L",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("(it is a named pipe (FIFO), not a file); it was replaced"),
        "{}",
        text(&o)
    );
    let o = xop_in(dir.path(), &["log", "replay", "L"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn eval_refuses_a_trusted_key_that_is_a_named_pipe_at_once() {
    let (dir, _) = logged();
    if !mkfifo(&dir.path().join("k.pub")) {
        return;
    }
    let o = xop_within_deadline(
        dir.path(),
        &[
            "eval", "p.xopm", "--policy", "pol", "--input", "in.json", "--trust", "k.pub",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "`k.pub` is a named pipe (FIFO), not a public key file: it is not read; give the \
             file `xop keygen` wrote"
        ),
        "{}",
        text(&o)
    );
}
