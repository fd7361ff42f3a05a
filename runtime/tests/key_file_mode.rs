//! `DIR/subjects.keys`, the subjects' secret HMAC keys, and `DIR/log.key`, the log's signing
//! key, are readable by their owner alone: made with mode 0600, and a log whose key files
//! others may read or write is not opened, with the `chmod` that fixes it.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use xop_runtime::proof::evidence::KeyProvider;
use xop_runtime::proof::record::{Body, Entry, time_text};
use xop_runtime::proof::{LogConfig, ProofLog};

fn config() -> LogConfig {
    LogConfig {
        origin: Some("test.xop/modes".into()),
        ..LogConfig::default()
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A log with one subject's key in its key file (and one record).
fn log_with_a_subject(dir: &Path) {
    let log = ProofLog::open(dir, config()).unwrap();
    log.key_for("cust-42").unwrap();
    log.append(&Entry {
        time: time_text(0),
        body: Body::Event {
            name: "test.e".into(),
            data: serde_json::json!({}),
        },
    })
    .unwrap();
    log.close().unwrap();
}

#[test]
fn the_subject_key_file_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    log_with_a_subject(dir.path());
    let keys = dir.path().join("subjects.keys");
    assert!(
        std::fs::metadata(&keys).unwrap().len() > 8,
        "no key written"
    );
    // Whatever the umask (the test runs under the usual 022): nothing for group or others.
    assert_eq!(mode(&keys) & 0o077, 0, "mode {:04o}", mode(&keys));
    assert_eq!(mode(&keys), mode(&dir.path().join("log.key")));
}

#[test]
fn a_subject_key_file_others_may_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    log_with_a_subject(dir.path());
    let keys = dir.path().join("subjects.keys");
    let before = std::fs::read(&keys).unwrap();
    for open in [0o644, 0o640, 0o604, 0o620] {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(open)).unwrap();
        let e = ProofLog::open(dir.path(), config())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("(mode {open:04o})"))
                && e.contains(&format!("`chmod 600 {}`", keys.display()))
                && e.contains("nothing was opened or changed"),
            "{e}"
        );
        assert_eq!(mode(&keys), open, "the mode was changed");
        assert_eq!(std::fs::read(&keys).unwrap(), before);
    }
    // Fixed as the message says, the log opens again.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn a_signing_key_others_may_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    log_with_a_subject(dir.path());
    let key = dir.path().join("log.key");
    assert_eq!(mode(&key), 0o600);
    let log_before = std::fs::read(dir.path().join("log.xpl")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = ProofLog::open(dir.path(), config())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the log's signing key")
            && e.contains("(mode 0644)")
            && e.contains(&format!("`chmod 600 {}`", key.display())),
        "{e}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("log.xpl")).unwrap(),
        log_before,
        "the log was changed"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    ProofLog::open(dir.path(), config())
        .unwrap()
        .close()
        .unwrap();
}
