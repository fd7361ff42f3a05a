//! What `xop fmt` and the diagnostics do with the files they touch, where QA found:
//! - a rewritten file losing its extended attributes and its access control list (ACL), its
//!   owning group then allowed to write;
//! - file names with control characters printed raw (`would reformat: a␛[2K␍b.xop` erased
//!   its own line; a header `[ bad␛[2Jz.xop:2:14 ]` cleared the screen);
//! - `xop fmt -` with standard output closed losing the formatted text, exit 0.

mod support;

use std::process::Output;

use support::{TempDir, s, text, xop_in};

const MESSY: &str = "module m\nfn   f(): Int = 1\n";
const TIDY: &str = "module m\n\nfn f(): Int = 1\n";

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of the attribute `name` of `path`, if it has one.
#[cfg(target_os = "linux")]
fn attribute(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A file with a `user.*` attribute and one with an ACL keep them when `xop fmt` rewrites
/// them, and the ACL file keeps its mode (`rw-rw-r--+`: group bits that are the ACL's mask).
#[cfg(target_os = "linux")]
#[test]
fn fmt_keeps_extended_attributes_and_acls() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("fmt-xattr");
    let note = dir.write("note.xop", MESSY);
    let listed = dir.write("acl.xop", MESSY.replace("module m", "module n"));
    let flags = rustix::fs::XattrFlags::empty();
    let user = rustix::fs::setxattr(&note, "user.note", b"keep me", flags);
    if let Err(e) = &user {
        eprintln!("skipped the user attribute: this file system keeps none ({e})");
    }
    // Owner rw, user 1000 rw, owning group r, mask rw, others r.
    let entry = |tag: u16, perm: u16, id: u32| {
        [
            &tag.to_le_bytes()[..],
            &perm.to_le_bytes(),
            &id.to_le_bytes(),
        ]
        .concat()
    };
    let acl = [
        2u32.to_le_bytes().to_vec(),
        entry(0x01, 6, u32::MAX),
        entry(0x02, 6, 1000),
        entry(0x04, 4, u32::MAX),
        entry(0x10, 6, u32::MAX),
        entry(0x20, 4, u32::MAX),
    ]
    .concat();
    let access = rustix::fs::setxattr(&listed, "system.posix_acl_access", &acl, flags);
    if let Err(e) = &access {
        eprintln!("skipped the ACL: this file system keeps none ({e})");
    }
    assert!(
        user.is_ok() || access.is_ok(),
        "neither could be set: the test proves nothing here"
    );
    let acl_before = attribute(&listed, "system.posix_acl_access");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
    let mode_before = mode(&listed);
    let o = xop_in(dir.path(), &["fmt", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(dir.read("note.xop"), TIDY);
    assert_eq!(dir.read("acl.xop"), TIDY.replace("module m", "module n"));
    if user.is_ok() {
        assert_eq!(
            attribute(&note, "user.note").as_deref(),
            Some(&b"keep me"[..])
        );
    }
    if access.is_ok() {
        assert_eq!(attribute(&listed, "system.posix_acl_access"), acl_before);
        assert_eq!(mode(&listed), mode_before);
    }
}

/// A file name with control characters is listed by `xop fmt --check` with them escaped, as
/// `xop test` shows it: an `ESC [2K CR` cannot erase the line, a line break cannot forge a
/// `would reformat:` line of its own.
#[cfg(unix)]
#[test]
fn fmt_check_lists_file_names_escaped() {
    let dir = TempDir::new("fmt-names");
    dir.write("a\u{1b}[2K\rb.xop", MESSY);
    dir.write("c\nwould reformat: d.xop", MESSY);
    let o = xop_in(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stdout(&o),
        "would reformat: a\\u{1b}[2K\\u{d}b.xop\nwould reformat: c\\nwould reformat: d.xop\n"
    );
    // A file that cannot be read is named escaped too.
    dir.write("e\u{1b}[2Kx.xop", b"\xff");
    let o = xop_in(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("error: cannot read `e\\u{1b}[2Kx.xop`: not valid UTF-8"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains('\u{1b}'), "{}", stderr(&o));
}

/// The header of a report names the file with its control characters escaped, in `xop fmt`
/// and in `xop check` alike; `--format json` keeps the exact name.
#[cfg(unix)]
#[test]
fn diagnostic_headers_name_files_escaped() {
    let dir = TempDir::new("fmt-header");
    let bad = "bad\u{1b}[2Jz.xop";
    dir.write(bad, "module k\nfn g(): Int =\n");
    for args in [["fmt", bad], ["check", bad]] {
        let o = xop_in(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        // `xop fmt` reports on standard error, `xop check` on standard output.
        let all = text(&o);
        assert!(all.contains("[ bad\\u{1b}[2Jz.xop:2:14 ]"), "{all}");
        assert!(!all.contains('\u{1b}'), "{all}");
    }
    let o = xop_in(dir.path(), &["check", "--format", "json", bad]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["diagnostics"][0]["file"], bad, "{v}");
}

/// `xop fmt -` with standard output closed (`>&-`) fails (exit 2, saying so) rather than
/// losing the formatted text; sent to `/dev/null` on purpose, it succeeds.
#[cfg(unix)]
#[test]
fn fmt_stdin_to_a_closed_standard_output_fails() {
    let dir = TempDir::new("fmt-closed-stdout");
    let input = dir.write("in.xop", MESSY);
    let run = |redirect: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec \"$0\" fmt - < \"$1\" {redirect}"))
            .arg(env!("CARGO_BIN_EXE_xop"))
            .arg(s(&input))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let o = run(">&-");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("error: cannot write to standard output: it is closed"),
        "{}",
        stderr(&o)
    );
    let o = run("> /dev/null");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stderr(&o), "");
    let o = run("");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stdout(&o), TIDY);
}
