//! `xop review approve --data` while another process (not necessarily `xop serve`) has the
//! proof log open for writing: the message names the lock and both ways out.

mod support;

use support::{TempDir, s, text, xop};

use xop_runtime::proof::{LogConfig, ProofLog};

#[test]
fn a_held_lock_is_blamed_on_another_process_not_only_on_xop_serve() {
    let tmp = TempDir::new("lock");
    let o = xop(&["token", "hash", "ana-token"]);
    assert!(o.status.success(), "{}", text(&o));
    let hash = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let config = tmp.write(
        "xop.toml",
        format!(
            "[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{hash}\"\n"
        ),
    );
    let data = tmp.0.join("data");
    // This test process holds the log, as another `xop review` or `xop eval --log` would.
    let held = ProofLog::open(&data, LogConfig::default()).unwrap();
    let approve = || {
        xop(&[
            "review",
            "approve",
            "rv-0",
            "--data",
            s(&data),
            "--config",
            s(&config),
            "--token",
            "ana-token",
        ])
    };
    let o = approve();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "another process holds `{}`",
            data.join("LOCK").display()
        )),
        "{out}"
    );
    assert!(
        out.contains("Retry once it is done")
            && out.contains("if `xop serve` runs on this folder")
            && out.contains("--server http://HOST:PORT")
            && out.contains("nothing was decided"),
        "{out}"
    );
    assert!(!out.contains("`xop serve` is running"), "{out}");
    // An address a server left in the folder is named as a possibility, not as a fact.
    tmp.write("data/serve.url", "http://127.0.0.1:9\n");
    let out = text(&approve());
    assert!(
        out.contains("left its address, http://127.0.0.1:9: if it runs")
            && out.contains("--server http://127.0.0.1:9"),
        "{out}"
    );
    held.close().unwrap();
}
