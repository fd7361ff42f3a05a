//! The module copies a proof log keeps in `DIR/modules/<sha256>.xopm`, from a QA report:
//!
//! - a damaged copy (emptied, changed, a named pipe, a link to `/dev/zero`) was never
//!   replaced when the module was loaded again, so later decisions were proven with no
//!   replayable module; now it is replaced and reported, and a folder in its place (which
//!   cannot be replaced) fails the load, so nothing is decided unreplayable;
//! - replay (and `xop explain`) waited forever on a named pipe there, and read a link to
//!   `/dev/zero` until memory ran out; now anything but a regular file is refused unopened,
//!   and a file larger than [`MAX_KEPT_MODULE`] unread;
//! - a key file that is a named pipe made `--trust` wait forever; now it is refused unopened.

// Named pipes, devices and symbolic links as Unix has them.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use xop_runtime::engine::{Input, Runtime};
use xop_runtime::ir::{Policy, Program, Rule, SourceRef, Verdict};
use xop_runtime::module::{Module, hash_sources, hex, read_verifying_key};
use xop_runtime::proof::record::Body;
use xop_runtime::proof::replay::{Replayed, load_module, replay};
use xop_runtime::proof::verify::LogReader;
use xop_runtime::proof::{LogConfig, LogError, MAX_KEPT_MODULE, ProofLog, module_path};

/// A module of one policy, `m.pol`, that allows everything (no input), with `reason`: two
/// reasons give two modules.
fn module_bytes(reason: &str) -> Vec<u8> {
    let program = Program {
        policies: vec![Policy {
            name: "pol".into(),
            qualified: "m.pol".into(),
            action: "m.act".into(),
            params: Vec::new(),
            now_slot: None,
            slots: 0,
            rules: vec![Rule {
                id: "pol#1".into(),
                verdict: Verdict::Allow,
                reason: Some(reason.into()),
                condition: None,
                review: None,
                source: SourceRef {
                    file: "m.xop".into(),
                    line: 3,
                    column: 3,
                    text: format!("allow \"{reason}\""),
                },
            }],
        }],
        ..Program::default()
    };
    Module {
        program,
        source_hash: hash_sources([("m.xop", &b"module m"[..])]),
        sources: vec!["m.xop".into()],
    }
    .to_bytes(None)
}

/// Opens the log in `dir`, loads `bytes` and decides once; returns what the load reported.
/// Opens the log in `dir`, waiting while it is locked: another test of this binary that starts
/// a process (`mkfifo`) at the moment a log is closed gives the child a copy of the log's
/// `flock`ed descriptor, held until the child runs its program.
fn open_log(dir: &Path) -> ProofLog {
    let start = std::time::Instant::now();
    loop {
        match ProofLog::open(dir, LogConfig::default()) {
            Err(LogError::Locked { .. }) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

fn load_and_decide(dir: &Path, bytes: &[u8]) -> Vec<String> {
    let rt = Runtime::with_log(open_log(dir));
    rt.load_bytes("m", bytes, None).unwrap();
    let warnings = rt.log().unwrap().take_warnings();
    let o = rt.decide("pol", Input::JsonBytes(b"{}")).unwrap();
    assert_eq!(o.verdict, Verdict::Allow);
    rt.close().unwrap();
    warnings
}

/// Replays every decision of the log in `dir`; each must be the same.
fn replay_all(dir: &Path) -> usize {
    let mut reader = LogReader::open(dir).unwrap();
    let mut n = 0;
    for seq in 0..reader.size() {
        if let Body::Decision(d) = reader.record(seq).unwrap().body {
            let module = load_module(dir, &d.module).unwrap();
            assert_eq!(replay(&module.module.program, &d), Replayed::Same);
            n += 1;
        }
    }
    n
}

/// A log in `root/L` of one decision by `bytes`, whose load reported nothing; the log's
/// folder, the path of the module's kept copy and the module's hash.
fn logged_once(root: &Path, bytes: &[u8]) -> (PathBuf, PathBuf, String) {
    let dir = root.join("L");
    assert_eq!(load_and_decide(&dir, bytes), Vec::<String>::new());
    let hash = hex(&xop_runtime::module::content_hash(bytes));
    let path = module_path(&dir, &hash);
    (dir, path, hash)
}

/// Why [`load_module`] refuses the module `hash` kept in the log `dir`.
fn load_error(dir: &Path, hash: &str) -> String {
    load_module(dir, hash).map(|_| ()).unwrap_err().to_string()
}

/// Makes a named pipe at `path`; `false` (the test is skipped) where `mkfifo` is missing.
fn mkfifo(path: &Path) -> bool {
    let made = Command::new("mkfifo").arg(path).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mkfifo");
        return false;
    }
    true
}

/// Runs `f` on a thread and waits at most 20 s for it. A named pipe makes a blocking open
/// wait for a writer, so on a timeout the pipe at `fifo` is opened for writing (which frees a
/// reader stuck in its open) before the test fails, rather than hanging the test run.
fn within_deadline<T: Send + 'static>(
    fifo: &Path,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(v) => v,
        // The thread ended without an answer: `f` panicked (its message is above).
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} failed on its thread"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = std::fs::OpenOptions::new().write(true).open(fifo);
            panic!("{what} waited on the named pipe `{}`", fifo.display());
        }
    }
}

#[test]
fn a_damaged_kept_copy_is_replaced_when_the_module_is_loaded_again_and_reported() {
    let bytes = module_bytes("fine");
    let other = module_bytes("nice"); // as long as the module: only its content differs
    let root = tempfile::tempdir().unwrap();
    let (dir, path, hash) = logged_once(root.path(), &bytes);
    let wrong = root.path().join("wrong.xopm");
    std::fs::write(&wrong, &other).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped_copy = flipped.clone();

    // (how the copy is damaged, what the warning says of it)
    type Damage = (&'static str, Box<dyn Fn(&Path)>, String);
    let damages: Vec<Damage> = vec![
        (
            "emptied",
            Box::new(|p: &Path| std::fs::write(p, b"").unwrap()),
            "it is empty".into(),
        ),
        (
            "cut short",
            Box::new(|p: &Path| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..b.len() / 2]).unwrap();
            }),
            format!(
                "it has {} bytes, the module {}",
                bytes.len() / 2,
                bytes.len()
            ),
        ),
        (
            "one byte changed",
            Box::new(move |p: &Path| std::fs::write(p, &flipped).unwrap()),
            format!(
                "its content is not the module's: its SHA-256 is {}",
                hex(&xop_runtime::module::content_hash(&flipped_copy))
            ),
        ),
        (
            "a longer file",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                b.extend_from_slice(b"more");
                std::fs::write(p, &b).unwrap();
            }),
            format!(
                "it is {} bytes, more than the {} bytes expected",
                bytes.len() + 4,
                bytes.len()
            ),
        ),
        (
            "a named pipe",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                assert!(mkfifo(p));
            }),
            "it is a named pipe (FIFO), not a file".into(),
        ),
        (
            "a link to /dev/zero",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink("/dev/zero", p).unwrap();
            }),
            "it is a symbolic link whose target is a character device, not a file".into(),
        ),
        (
            "a dangling link",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink("/nonexistent/xop-kept", p).unwrap();
            }),
            "it is a symbolic link whose target cannot be read (no such file or directory)".into(),
        ),
        (
            "a link to another module",
            Box::new(move |p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink(&wrong, p).unwrap();
            }),
            "its content (through a symbolic link) is not the module's".into(),
        ),
    ];
    let mut decisions = 1;
    for (how, damage, said) in &damages {
        damage(&path);
        let fifo = path.clone();
        let (d, b) = (dir.clone(), bytes.clone());
        let warnings =
            within_deadline(&fifo, "storing the module", move || load_and_decide(&d, &b));
        decisions += 1;
        assert_eq!(warnings.len(), 1, "{how}: {warnings:?}");
        let w = &warnings[0];
        assert!(
            w.contains(&format!("`{}`", path.display()))
                && w.contains(said.as_str())
                && w.contains("it was replaced by the module's file")
                && w.contains("Something other than xop changed the log folder"),
            "{how}: {w}"
        );
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "{how}: not replaced by a file");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{how}");
        assert_eq!(replay_all(&dir), decisions, "{how}");
    }
    // What the links pointed to is left as it was.
    assert_eq!(
        std::fs::read(root.path().join("wrong.xopm")).unwrap(),
        other
    );
    // No temporary file is left beside the copies.
    let names: Vec<String> = std::fs::read_dir(dir.join("modules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{hash}.xopm")]);
}

#[test]
fn a_right_copy_is_kept_as_it_is_even_through_a_link() {
    let bytes = module_bytes("fine");
    let root = tempfile::tempdir().unwrap();
    let (dir, path, _) = logged_once(root.path(), &bytes);
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&path);
    assert_eq!(load_and_decide(&dir, &bytes), Vec::<String>::new());
    assert_eq!(inode(&path), before, "a right copy was rewritten");

    // A link to a file holding the module (a folder of modules shared by several logs) is
    // the module's file: kept, not replaced.
    let shared = root.path().join("shared.xopm");
    std::fs::write(&shared, &bytes).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&shared, &path).unwrap();
    assert_eq!(load_and_decide(&dir, &bytes), Vec::<String>::new());
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(replay_all(&dir), 3);
}

#[test]
fn a_folder_in_place_of_the_kept_copy_fails_the_load_and_nothing_is_decided() {
    let bytes = module_bytes("fine");
    let root = tempfile::tempdir().unwrap();
    let (dir, path, _) = logged_once(root.path(), &bytes);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("notes.txt"), b"mine").unwrap();

    let rt = Runtime::with_log(open_log(&dir));
    let size = rt.log().unwrap().size();
    let e = rt.load_bytes("m", &bytes, None).unwrap_err().to_string();
    assert!(
        e.contains(&format!("`{}`", path.display()))
            && e.contains("is a folder, where the module's file is kept")
            && e.contains("is not loaded (its decisions could not be replayed)")
            && e.contains("move the folder away"),
        "{e}"
    );
    // Nothing decided by the module, so no record it would name.
    assert!(rt.decide("pol", Input::JsonBytes(b"{}")).is_err());
    assert_eq!(rt.log().unwrap().size(), size);
    rt.close().unwrap();
    // The folder is left as it was.
    assert_eq!(std::fs::read(path.join("notes.txt")).unwrap(), b"mine");
}

#[test]
fn a_module_larger_than_a_log_keeps_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let log = open_log(&root.path().join("L"));
    // Zeroed pages, allocated lazily: cheap.
    let big = vec![0u8; MAX_KEPT_MODULE as usize + 1];
    let e = log
        .store_module(&xop_runtime::module::content_hash(&big), &big)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("more than the 256 MiB a proof log keeps of a module"),
        "{e}"
    );
    let kept = std::fs::read_dir(root.path().join("L/modules"))
        .unwrap()
        .count();
    assert_eq!(kept, 0);
    log.close().unwrap();
}

/// [`logged_once`] by `module_bytes("fine")`, its kept copy removed: the log's folder, where
/// the copy was, and the module's hash.
fn one_decision(root: &Path) -> (PathBuf, PathBuf, String) {
    let (dir, path, hash) = logged_once(root, &module_bytes("fine"));
    std::fs::remove_file(&path).unwrap();
    (dir, path, hash)
}

#[test]
fn replay_refuses_a_named_pipe_without_waiting_on_it() {
    let root = tempfile::tempdir().unwrap();
    let (dir, path, hash) = one_decision(root.path());
    if !mkfifo(&path) {
        return;
    }
    let e = within_deadline(&path, "load_module", move || load_error(&dir, &hash));
    assert!(
        e.contains(&format!(
            "`{}` is a named pipe (FIFO), not a file; copy the module file there",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn replay_refuses_a_device_and_a_folder_unread() {
    let root = tempfile::tempdir().unwrap();
    let (dir, path, hash) = one_decision(root.path());
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let e = load_error(&dir, &hash);
    assert!(
        e.contains(&format!(
            "`{}` is a character device, not a file",
            path.display()
        )),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let e = load_error(&dir, &hash);
    assert!(
        e.contains(&format!("`{}` is a folder, not a file", path.display())),
        "{e}"
    );
}

#[test]
fn replay_refuses_a_file_larger_than_a_kept_module_unread() {
    let root = tempfile::tempdir().unwrap();
    let (dir, path, hash) = one_decision(root.path());
    // Sparse: no disk space is used.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_KEPT_MODULE + 1).unwrap();
    drop(f);
    let e = load_error(&dir, &hash);
    assert!(
        e.contains(&format!(
            "`{}` is {} bytes, more than the {MAX_KEPT_MODULE} bytes expected",
            path.display(),
            MAX_KEPT_MODULE + 1
        )),
        "{e}"
    );
}

#[test]
fn a_key_file_that_is_a_named_pipe_is_refused_without_waiting_on_it() {
    let root = tempfile::tempdir().unwrap();
    let fifo = root.path().join("k.pub");
    if !mkfifo(&fifo) {
        return;
    }
    let p = fifo.clone();
    let e = within_deadline(&fifo, "read_verifying_key", move || {
        read_verifying_key(&p).unwrap_err()
    });
    assert_eq!(
        e,
        format!(
            "`{}` is a named pipe (FIFO), not a public key file: it is not read; give the file \
             `xop keygen` wrote",
            fifo.display()
        )
    );
    // A folder is named as one; a character device is still read as a file (`/dev/null`
    // holds no key).
    let e = read_verifying_key(root.path()).unwrap_err();
    assert!(e.contains("is a folder, not a public key file"), "{e}");
    let e = read_verifying_key(Path::new("/dev/null")).unwrap_err();
    assert!(e.starts_with("`/dev/null` is not a public key"), "{e}");
}
