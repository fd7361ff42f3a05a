//! How the verbs find, name and write files, where QA found sources lost or destroyed:
//! - two sources whose names are not UTF-8 were both named `coll/�.xop`, and the second
//!   replaced the first (`xop check` passed over a syntax error, `xop build` dropped a deny);
//! - `xop fmt` wrote a file in place, so a full disk left the source truncated;
//! - `xop build -o FIFO` waited forever for a reader.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{TempDir, text};

/// `xop ARGS` run in `dir`, without colour.
fn xop(dir: &Path, args: &[&str]) -> Output {
    support::xop_in(dir, args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A policy that allows, and another module's policy for the same action that denies.
const ALLOWS: &str = "module c.one\n\npurpose m\n\nrecord C {\n  id: Id\n}\n\naction send(to: C) \
     purpose m risk minimal\n\npolicy p for send(to: c) {\n  allow \"ok\"\n}\n";
const DENIES: &str = "module c.two\n\nuse c.one.{C, send}\n\npolicy q for send(to: c) {\n  deny \
     \"always\"\n}\n";

/// Two sources named `coll/\xff.xop` and `coll/\xfe.xop` (not UTF-8, both shown as
/// `coll/�.xop`): every verb that reads sources refuses them, naming each one apart, before
/// checking anything; none is silently left out. `None` where the file system refuses such
/// names.
#[cfg(unix)]
#[test]
fn sources_whose_names_are_not_utf8_are_refused_not_lost() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = TempDir::new("non-utf8");
    fs::create_dir(dir.path().join("coll")).unwrap();
    let ff = dir.path().join("coll").join(OsStr::from_bytes(b"\xff.xop"));
    let fe = dir.path().join("coll").join(OsStr::from_bytes(b"\xfe.xop"));
    if fs::write(&ff, ALLOWS).is_err() {
        eprintln!("skipped: this file system refuses names that are not UTF-8");
        return;
    }
    fs::write(&fe, DENIES).unwrap();
    dir.write("in.json", r#"{"to": {"id": "x"}}"#);

    let refused = |o: &Output, what: &str| {
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(o));
        let err = stderr(o);
        for name in [r"coll/\xFF.xop", r"coll/\xFE.xop"] {
            assert!(
                err.contains(&format!("the path `{name}` is not valid UTF-8"))
                    && err.contains("rename it"),
                "{what}: `{name}` not refused in:\n{err}"
            );
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    refused(&xop(dir.path(), &["check", "coll"]), "check");
    refused(&xop(dir.path(), &["check", "."]), "check .");
    let o = xop(dir.path(), &["build", "coll", "-o", "coll.xopm"]);
    refused(&o, "build");
    assert!(
        !dir.path().join("coll.xopm").exists(),
        "build wrote a module"
    );
    refused(
        &xop(
            dir.path(),
            &["eval", "coll", "--action", "send", "--input", "in.json"],
        ),
        "eval",
    );
    refused(&xop(dir.path(), &["test", "coll"]), "test");
    refused(&xop(dir.path(), &["fmt", "--check", "coll"]), "fmt --check");
    refused(&xop(dir.path(), &["fmt", "coll"]), "fmt");

    // Named on the command line, too (`check` refuses before reading the other file).
    let o = Command::new(env!("CARGO_BIN_EXE_xop"))
        .arg("check")
        .arg(&ff)
        .arg(&fe)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("is not valid UTF-8"), "{}", text(&o));

    // A syntax error in either file is not hidden by the other: renamed, both are read.
    fs::write(&fe, "module c.two\n\nthis is a syntax error\n").unwrap();
    refused(&xop(dir.path(), &["check", "coll"]), "check with an error");
    fs::rename(&ff, dir.path().join("coll/one.xop")).unwrap();
    fs::rename(&fe, dir.path().join("coll/two.xop")).unwrap();
    let o = xop(dir.path(), &["check", "coll"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("coll/two.xop"), "{}", text(&o));
}

/// A source larger than the process may write: `xop fmt`'s write fails part-way, as on a full
/// disk. The source is left byte for byte as it was, nothing is left beside it, and the
/// summary does not count it reformatted.
#[cfg(unix)]
#[test]
fn a_failed_fmt_write_leaves_the_source_whole() {
    let dir = TempDir::new("fmt-full");
    let fields: Vec<String> = (0..400).map(|i| format!("f{i}: Int")).collect();
    let source = format!(
        "module t.tiny\n\n/// keep me\nrecord R {{ {} }}\n",
        fields.join(" ")
    );
    let path = dir.write("p.xop", &source);
    dir.write("tidy.xop", "module t.tidy\n");
    // `ulimit -f 2` lets a process write at most 1 or 2 KiB to a file (512- or 1024-byte
    // blocks, by shell), whoever runs it; SIGXFSZ ignored, the write fails with EFBIG instead.
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 2 && exec "$0" fmt ."#)
        .arg(env!("CARGO_BIN_EXE_xop"))
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        source,
        "the source changed"
    );
    let err = stderr(&o);
    assert!(
        err.contains("error: cannot write `p.xop`: ") && err.contains("it was left unchanged"),
        "{err}"
    );
    assert!(
        err.contains("0 files reformatted, 1 already formatted, 1 file could not be written"),
        "{err}"
    );
    let mut left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["p.xop", "tidy.xop"],
        "a temporary file was left behind"
    );

    // Without the limit it is written, and counted.
    let o = xop(dir.path(), &["fmt", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stderr(&o).contains("1 file reformatted, 1 already formatted"),
        "{}",
        text(&o)
    );
    assert_ne!(fs::read_to_string(&path).unwrap(), source);
}

/// `xop fmt` on a link rewrites the file linked to, keeping the link and the file's
/// permissions.
#[cfg(unix)]
#[test]
fn fmt_replaces_the_file_a_link_names_and_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("fmt-link");
    let real = dir.write("real/p.xop", "module   t.tiny\n");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real/p.xop", dir.path().join("link.xop")).unwrap();
    let o = xop(dir.path(), &["fmt", "link.xop"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fs::read_to_string(&real).unwrap(), "module t.tiny\n");
    let link = fs::symlink_metadata(dir.path().join("link.xop")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

/// `xop build -o FIFO` is refused at once (it waited for a reader forever); `/dev/null` is
/// still written to.
#[cfg(unix)]
#[test]
fn build_refuses_a_named_pipe_and_writes_dev_null() {
    let dir = TempDir::new("build-fifo");
    dir.write("p.xop", ALLOWS);
    if !support::mkfifo(&dir.path().join("m.xopm")) {
        return;
    }
    // Killed after a minute: `-o FIFO` must not wait for a reader.
    let o = support::xop_within(dir.path(), &["build", "p.xop", "-o", "m.xopm"], 60);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("`m.xopm` is a named pipe (FIFO): -o takes the module's file"),
        "{}",
        text(&o)
    );

    let o = xop(dir.path(), &["build", "p.xop", "-o", "/dev/null"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
