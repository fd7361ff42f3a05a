//! `xop eval`'s input, end to end: refused input explained in full on every path (`--policy`,
//! the JIT, `--log`, `--action`), proven in the log with its stable code and a detail that
//! quotes none of the input's values; `--decision --format json` answers refused input in
//! JSON; input that is not UTF-8 is bad input, not an I/O error; a leading byte-order mark is
//! skipped (also by `xop serve`); an ambiguous `--policy` name is refused (also by `xop
//! serve`); a closed standard error is no panic; a program without decisions says so.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{TempDir, s, text};

/// The first module: a receipt guarded by a policy `p`, and a decision.
const A: &str = r#"/// The first module: a receipt, guarded by a policy named `p`.
module t.a

/// Helping a customer with something they asked for.
purpose service

/// How much a customer is worth.
enum Tier { gold, silver }

/// A customer.
record Customer {
  id: Id
  tier: Tier
  orders: Int
}

/// Send a receipt.
action send_receipt(to: Customer, amount: Int) purpose service risk minimal

policy p for send_receipt(to: c, amount: a) {
  deny "negative" when a < 0
  allow "ok"
}

/// Which receipt to send.
decision pick(c: Customer) {
  propose send_receipt(to: c, amount: c.orders) rank by 1
}
"#;

/// The second module: another action, guarded by another policy named `p`.
const B: &str = r#"/// The second module: another action, guarded by another policy named `p`.
module t.b

use t.a.{Customer, Tier, service}

/// Thank a customer.
action thank(to: Customer) purpose service risk minimal

policy p for thank(to: c) {
  deny "silver" when c.tier == Tier.silver
  allow "thanked"
}
"#;

const OK: &str = r#"{"to": {"id": "c-1", "tier": "gold", "orders": 2}, "amount": 5}"#;

/// A folder with the two modules under `src/`.
fn project(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("src/a.xop", A);
    dir.write("src/b.xop", B);
    dir
}

/// Runs `xop ARGS` in `dir`, with `stdin` on standard input (none when `None`).
fn run(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn xop(dir: &Path, args: &[&str]) -> Output {
    run(dir, args, None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

/// Record `seq` of the log in `dir`, as JSON (`xop log show`).
fn record(dir: &Path, log: &str, seq: u64) -> (String, Value) {
    let o = xop(
        dir,
        &["log", "show", log, &seq.to_string(), "--format", "json"],
    );
    assert_code(&o, 0);
    let line = stdout(&o);
    let v = serde_json::from_str(&line).unwrap();
    (line, v)
}

fn log_verifies(dir: &Path, log: &str) {
    let o = xop(dir, &["log", "verify", log]);
    assert_code(&o, 0);
}

/// A running `xop serve`, killed and reaped when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `xop serve` of `module` on a free port, its data in `data`.
fn serve(module: &Path, data: &Path) -> (Served, SocketAddr) {
    let mut child = Served(
        Command::new(env!("CARGO_BIN_EXE_xop"))
            .args([
                "serve",
                "--module",
                s(module),
                "--data",
                s(data),
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
}

/// POST `body` as JSON to `path`: the status and the answer.
fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let t = String::from_utf8_lossy(&out).into_owned();
    let status = t[9..12].parse().unwrap();
    let (_, b) = t.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(b).unwrap())
}

/// Builds the project's module: its path.
fn build(dir: &TempDir) -> PathBuf {
    let o = xop(dir.path(), &["build", "src", "-o", "m.xopm"]);
    assert_code(&o, 0);
    dir.path().join("m.xopm")
}

/// Item 1: the message of a refused input (the path, what was expected, what was found, the
/// hint) is the same on every path; the proof record keeps the stable `path: kind` as its
/// error and the message without the input's values as its detail.
#[test]
fn refused_input_is_explained_in_full_on_every_path_and_proven_without_its_values() {
    let dir = project("explained");
    let customer = |fields: &str| {
        format!(r#"{{"to": {{"id": "c-1", "tier": "gold", {fields}}}, "amount": 5}}"#)
    };
    // (input, the message's start, the record's error, the record's detail's start)
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            customer(r#""orders": "secret-3""#),
            r#"to.orders: expected an integer, found "secret-3""#,
            "to.orders: wrong-type",
            "expected an integer, found a string",
        ),
        (
            format!(r#"{{"now": "secret-yesterday", {}"#, &OK[1..]),
            r#"now: expected an RFC 3339 time like "2025-03-01T09:30:00Z", found "secret-yesterday" (expected the form"#,
            "now: malformed",
            r#"expected an RFC 3339 time like "2025-03-01T09:30:00Z", found a string (expected the form"#,
        ),
        (
            String::new(),
            "input: invalid JSON: EOF while parsing a value at line 1 column 0",
            "input: malformed",
            "invalid JSON: EOF while parsing a value at line 1 column 0",
        ),
        (
            OK.replace("gold", "secret-platinum"),
            r#"to.tier: unknown Tier variant "secret-platinum"; expected one of: gold, silver"#,
            "to.tier: unknown-enum-value",
            "unknown Tier variant; expected one of: gold, silver",
        ),
        (
            // A key the program does not declare is the input's own text: the record names it
            // by its length, the person who gave it is shown it.
            customer(r#""orders": 2, "secret-key": 1"#),
            r#"to[<key of 10 characters>]: unknown field "secret-key" of Customer; known fields: id, tier, orders"#,
            "to[<key of 10 characters>]: unknown-field",
            "unknown field <key of 10 characters> of Customer; known fields: id, tier, orders",
        ),
        (
            customer(r#""orders": 2.5"#),
            "to.orders: expected an integer, found 2.5",
            "to.orders: wrong-type",
            "expected an integer, found a number with a fraction or an exponent",
        ),
        (
            OK.replace(r#", "orders": 2"#, ""),
            "to.orders: missing; expected an integer",
            "to.orders: missing",
            "missing; expected an integer",
        ),
    ];
    let mut seq = 0;
    for (input, message, code, detail) in &cases {
        dir.write("in.json", input);
        let policy = ["eval", "src", "--policy", "t.a.p", "--input", "in.json"];
        let action = [
            "eval",
            "src",
            "--action",
            "send_receipt",
            "--input",
            "in.json",
        ];
        // The reference: the interpreter on `--policy`, as before.
        let o = xop(dir.path(), &[&policy[..], &["--format", "json"]].concat());
        assert_code(&o, 1);
        let want = json_of(&o)["error"].as_str().unwrap().to_string();
        assert!(want.starts_with(message), "{want}");
        let human = format!("deny (xop:bad-input)\n  error: {want}\n");
        for args in [
            &policy[..],
            &[&policy[..], &["--engine", "jit"]].concat(),
            &[&policy[..], &["--log", "log"]].concat(),
            &action[..],
            &[&action[..], &["--engine", "jit"]].concat(),
            &[&action[..], &["--log", "log"]].concat(),
        ] {
            let o = xop(dir.path(), args);
            assert_code(&o, 1);
            assert!(stdout(&o).starts_with(&human), "{args:?}: {}", text(&o));
            let o = xop(dir.path(), &[args, &["--format", "json"]].concat());
            assert_code(&o, 1);
            let v = json_of(&o);
            assert_eq!(v["verdict"], "deny", "{args:?}: {v}");
            assert_eq!(v["reasons"], json!(["xop:bad-input"]), "{args:?}: {v}");
            assert_eq!(v["error"], want.as_str(), "{args:?}: {v}");
        }
        // Four records: --policy and --action, human and JSON, all the same refusal.
        for _ in 0..4 {
            let (line, r) = record(dir.path(), "log", seq);
            assert_eq!(r["reasons"], json!(["xop:bad-input"]), "{line}");
            assert_eq!(r["error"], *code, "{line}");
            let logged = r["detail"].as_str().unwrap_or_else(|| panic!("{line}"));
            assert!(logged.starts_with(detail), "{line}");
            assert!(
                !line.contains("secret-"),
                "a value of the input is logged: {line}"
            );
            seq += 1;
        }
    }
    log_verifies(dir.path(), "log");
    let o = xop(dir.path(), &["log", "replay", "log"]);
    assert_code(&o, 0);
    // `xop explain` reads such a record, its detail included.
    let o = xop(dir.path(), &["explain", "log", "0"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("error: to.orders: wrong-type\n  detail: expected "),
        "{}",
        text(&o)
    );
}

/// Item 1, `xop serve`: the answer to refused input carries the whole message too, the record
/// only the code and the detail.
#[test]
fn serve_answers_refused_input_with_the_whole_message() {
    let dir = project("serve-explained");
    let module = build(&dir);
    let data = dir.path().join("data");
    let (_served, addr) = serve(&module, &data);
    let input = OK.replace("\"orders\": 2", "\"orders\": \"secret-3\"");
    let (st, o) = post(addr, "/v1/decide/t.a.p", input.as_bytes());
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["reasons"], json!(["xop:bad-input"]), "{o}");
    assert_eq!(
        o["error"], r#"to.orders: expected an integer, found "secret-3""#,
        "{o}"
    );
    let (line, r) = record(dir.path(), "data", o["seq"].as_u64().unwrap());
    assert_eq!(r["error"], "to.orders: wrong-type", "{line}");
    assert_eq!(r["detail"], "expected an integer, found a string", "{line}");
    assert!(!line.contains("secret-"), "{line}");
}

/// Item 2: `--decision … --format json` answers refused input with the JSON of a ranking:
/// no candidate, `choice` null, the reasons and the error.
#[test]
fn a_decision_on_refused_input_is_json_with_format_json() {
    let dir = project("decision-json");
    dir.write("bad.json", r#"{"c": {"id": 5}}"#);
    dir.write(
        "good.json",
        r#"{"c": {"id": "c-1", "tier": "gold", "orders": 2}}"#,
    );
    let args = |input: &'static str| ["eval", "src", "--decision", "pick", "--input", input];
    let o = xop(
        dir.path(),
        &[&args("bad.json")[..], &["--format", "json"]].concat(),
    );
    assert_code(&o, 1);
    assert_eq!(
        json_of(&o),
        json!({
            "decision": "t.a.pick",
            "choice": null,
            "candidates": [],
            "reasons": ["xop:bad-input"],
            "error": "c.id: expected an id (a string), found 5",
        })
    );
    // For people, as before.
    let o = xop(dir.path(), &args("bad.json"));
    assert_code(&o, 1);
    assert_eq!(
        stdout(&o),
        "no candidate (xop:bad-input)\n  error: c.id: expected an id (a string), found 5\n"
    );
    // A good input has the same keys: no reason, no error.
    let o = xop(
        dir.path(),
        &[&args("good.json")[..], &["--format", "json"]].concat(),
    );
    assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["choice"], 0, "{v}");
    assert_eq!(v["reasons"], json!([]), "{v}");
    assert_eq!(v["error"], Value::Null, "{v}");
    assert_eq!(v["candidates"][0]["verdict"], "allow", "{v}");
}

/// Item 3: input that is not UTF-8 is refused as bad input (deny, exit 1, where the invalid
/// byte is), like any other malformed JSON, on every path and from standard input.
#[test]
fn input_that_is_not_utf8_is_bad_input() {
    let dir = project("not-utf8");
    // Line 2, after `  "to": {"id": "café` (20 characters): column 21.
    let input: &[u8] =
        b"{\n  \"to\": {\"id\": \"caf\xc3\xa9\xff\", \"tier\": \"gold\", \"orders\": 2},\n  \"amount\": 5\n}\n";
    dir.write("in.json", input);
    let message = "input: invalid JSON: not valid UTF-8 (byte 0xff at line 2, column 21); JSON \
                   text must be UTF-8";
    let policy = ["eval", "src", "--policy", "t.a.p"];
    let action = ["eval", "src", "--action", "send_receipt"];
    let file = ["--input", "in.json"];
    for (args, stdin) in [
        ([&policy[..], &file[..]].concat(), None),
        ([&policy[..], &["--input", "-"]].concat(), Some(input)),
        (
            [&policy[..], &file[..], &["--engine", "jit"]].concat(),
            None,
        ),
        (
            [&policy[..], &["--input", "-", "--engine", "jit"]].concat(),
            Some(input),
        ),
        ([&policy[..], &file[..], &["--log", "log"]].concat(), None),
        ([&action[..], &file[..]].concat(), None),
        (
            [&action[..], &["--input", "-", "--log", "log"]].concat(),
            Some(input),
        ),
    ] {
        let o = run(dir.path(), &args, stdin);
        assert_code(&o, 1);
        assert_eq!(
            stdout(&o).lines().take(2).collect::<Vec<_>>(),
            ["deny (xop:bad-input)", &format!("  error: {message}")],
            "{args:?}"
        );
        let o = run(
            dir.path(),
            &[&args[..], &["--format", "json"]].concat(),
            stdin,
        );
        assert_code(&o, 1);
        let v = json_of(&o);
        assert_eq!(
            (&v["verdict"], &v["reasons"], &v["error"]),
            (&json!("deny"), &json!(["xop:bad-input"]), &json!(message)),
            "{args:?}"
        );
        assert_eq!(stderr(&o), "", "{args:?}");
    }
    // Proven: two records by --policy, two by --action.
    for seq in 0..4 {
        let (line, r) = record(dir.path(), "log", seq);
        assert_eq!(r["error"], "input: malformed", "{line}");
        assert_eq!(
            r["detail"],
            "invalid JSON: not valid UTF-8 (byte 0xff at line 2, column 21); JSON text must be \
             UTF-8",
            "{line}"
        );
    }
    log_verifies(dir.path(), "log");
    // A decision's input too.
    let o = xop(
        dir.path(),
        &[
            "eval",
            "src",
            "--decision",
            "pick",
            "--input",
            "in.json",
            "--format",
            "json",
        ],
    );
    assert_code(&o, 1);
    assert_eq!(json_of(&o)["error"], message);
}

/// Item 4: a UTF-8 byte-order mark before the input is skipped, wherever input JSON is read:
/// `xop eval` (every path, files and standard input) and `xop serve`.
#[test]
fn a_leading_byte_order_mark_is_skipped() {
    let dir = project("bom");
    let input = format!("\u{feff}{OK}");
    dir.write("in.json", &input);
    let policy = ["eval", "src", "--policy", "t.a.p"];
    let action = ["eval", "src", "--action", "send_receipt"];
    let file = ["--input", "in.json"];
    for (args, stdin) in [
        ([&policy[..], &file[..]].concat(), None),
        (
            [&policy[..], &["--input", "-"]].concat(),
            Some(input.as_bytes()),
        ),
        (
            [&policy[..], &file[..], &["--engine", "jit"]].concat(),
            None,
        ),
        ([&policy[..], &file[..], &["--log", "log"]].concat(), None),
        ([&action[..], &file[..]].concat(), None),
        (
            [&action[..], &file[..], &["--engine", "jit"]].concat(),
            None,
        ),
    ] {
        let o = run(dir.path(), &args, stdin);
        assert_code(&o, 0);
        assert!(
            stdout(&o).starts_with("allow (ok)\n"),
            "{args:?}: {}",
            text(&o)
        );
    }
    // A decision's input.
    dir.write(
        "d.json",
        "\u{feff}{\"c\": {\"id\": \"c-1\", \"tier\": \"gold\", \"orders\": 2}}",
    );
    let o = xop(
        dir.path(),
        &["eval", "src", "--decision", "pick", "--input", "d.json"],
    );
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("next best action: t.a.send_receipt"),
        "{}",
        text(&o)
    );
    // Only one: a second mark right after the first is refused on every path alike (the
    // policy on either engine, the action, a logged decision, a decision's ranking), saying
    // what it is, and never decided on.
    dir.write("two.json", format!("\u{feff}\u{feff}{OK}"));
    dir.write(
        "two_d.json",
        "\u{feff}\u{feff}{\"c\": {\"id\": \"c-1\", \"tier\": \"gold\", \"orders\": 2}}",
    );
    let two = ["--input", "two.json"];
    for args in [
        [&policy[..], &two[..]].concat(),
        [&policy[..], &two[..], &["--engine", "jit"]].concat(),
        [&policy[..], &two[..], &["--log", "log2"]].concat(),
        [&action[..], &two[..]].concat(),
        vec!["eval", "src", "--decision", "pick", "--input", "two_d.json"],
    ] {
        let o = xop(dir.path(), &args);
        assert_code(&o, 1);
        assert!(
            text(&o).contains("a second byte-order mark (U+FEFF) follows the first"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(!stdout(&o).contains("allow"), "{args:?}: {}", text(&o));
    }
    // Only a leading one: one inside the text is not blank space.
    dir.write("late.json", format!(" \u{feff}{OK}"));
    let o = xop(
        dir.path(),
        &[&policy[..], &["--input", "late.json"]].concat(),
    );
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("invalid JSON: expected value"),
        "{}",
        text(&o)
    );
    // `xop serve` reads a decision's body the same way.
    let module = build(&dir);
    let (_served, addr) = serve(&module, &dir.path().join("data"));
    let (st, o) = post(addr, "/v1/decide/t.a.p", input.as_bytes());
    assert_eq!((st, &o["verdict"]), (200, &json!("allow")), "{o}");
    let (st, o) = post(addr, "/v1/actions/send_receipt/decide", input.as_bytes());
    assert_eq!((st, &o["verdict"]), (200, &json!("allow")), "{o}");
}

/// Item 5: a short policy name two modules use is refused, naming the qualified names, as an
/// ambiguous action name is; by `xop eval` on every path and by `xop serve`.
#[test]
fn an_ambiguous_policy_name_is_refused() {
    let dir = project("ambiguous");
    dir.write("in.json", OK);
    let module = build(&dir);
    let refusal = "error: the policy name `p` could mean t.a.p or t.b.p: give its qualified name\n";
    for from in ["src", "m.xopm"] {
        let args = ["eval", from, "--policy", "p", "--input", "in.json"];
        for extra in [
            &[][..],
            &["--engine", "jit"],
            &["--log", "log"],
            &["--format", "json"],
        ] {
            let o = xop(dir.path(), &[&args[..], extra].concat());
            assert_code(&o, 2);
            assert_eq!(stderr(&o), refusal, "{from} {extra:?}");
            assert_eq!(stdout(&o), "", "{from} {extra:?}");
        }
        // The qualified names decide.
        let o = xop(
            dir.path(),
            &["eval", from, "--policy", "t.a.p", "--input", "in.json"],
        );
        assert_code(&o, 0);
        assert!(stdout(&o).starts_with("allow (ok)"), "{}", text(&o));
        dir.write(
            "thank.json",
            r#"{"to": {"id": "c-1", "tier": "silver", "orders": 2}}"#,
        );
        let o = xop(
            dir.path(),
            &["eval", from, "--policy", "t.b.p", "--input", "thank.json"],
        );
        assert_code(&o, 0);
        assert!(stdout(&o).starts_with("deny (silver)"), "{}", text(&o));
    }
    // Refused before any log is opened.
    assert!(!dir.path().join("log").exists());
    // `xop serve` refuses it too (404, as an ambiguous action name).
    let (_served, addr) = serve(&module, &dir.path().join("data"));
    let (st, o) = post(addr, "/v1/decide/p", OK.as_bytes());
    assert_eq!(st, 404, "{o}");
    assert_eq!(o["error"], "ambiguous_policy", "{o}");
    assert_eq!(
        o["message"],
        "the policy name `p` could mean t.a.p or t.b.p: give its qualified name"
    );
    let (st, o) = post(addr, "/v1/decide/t.a.p", OK.as_bytes());
    assert_eq!((st, &o["verdict"]), (200, &json!("allow")), "{o}");
}

/// Item 6: a note on a closed standard error (`xop eval … 2>&1 >/dev/null | head -c 10`) is
/// no panic: the decision is still printed and the exit status says what it was.
#[test]
fn a_closed_standard_error_is_no_panic() {
    let dir = project("closed-stderr");
    // A second policy guarding the receipt: asking one of them alone prints a note.
    dir.write(
        "src/c.xop",
        "/// A second policy of the receipt.\nmodule t.c\n\nuse t.a.send_receipt\n\n\
         policy q for send_receipt(to: c, amount: a) {\n  deny \"large\" when a > 100\n  \
         allow \"small\"\n}\n",
    );
    dir.write("in.json", OK);
    let args = ["eval", "src", "--policy", "t.a.p", "--input", "in.json"];
    let o = xop(dir.path(), &args);
    assert_code(&o, 0);
    assert!(
        stderr(&o).starts_with("note: `t.a.p` is one of 2 policies"),
        "{}",
        text(&o)
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).starts_with("allow (ok)"), "{}", text(&o));
}

/// Item 7: asking for a decision of a program that declares none says so, instead of an
/// empty list.
#[test]
fn a_program_without_decisions_says_so() {
    let dir = TempDir::new("no-decisions");
    dir.write("src/a.xop", A.split("/// Which receipt").next().unwrap());
    dir.write("in.json", OK);
    let ask = |from: &str| {
        xop(
            dir.path(),
            &["eval", from, "--decision", "nope", "--input", "in.json"],
        )
    };
    let o = ask("src");
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: no decision `nope`: the sources declare no decision\n"
    );
    let o = xop(dir.path(), &["build", "src", "-o", "m.xopm"]);
    assert_code(&o, 0);
    let o = ask("m.xopm");
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: no decision `nope`: the module declares no decision\n"
    );
    // With decisions, they are listed.
    let dir = project("some-decisions");
    dir.write("in.json", OK);
    let o = xop(
        dir.path(),
        &["eval", "src", "--decision", "nope", "--input", "in.json"],
    );
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: no decision `nope`; the decisions are: pick\n"
    );
}

/// A compiled module under another name than `.xopm` (known by its magic) is decided, on the
/// runtime's path, from its own bytes: its signature checked by `--trust`, its hash the
/// record's, as for `m.xopm`.
#[test]
fn a_module_under_another_name_is_decided_from_its_own_bytes() {
    let dir = project("module-bytes");
    dir.write("in.json", OK);
    let o = xop(dir.path(), &["keygen", "-o", "k"]);
    assert_code(&o, 0);
    let o = xop(
        dir.path(),
        &["build", "src", "-o", "m.xopm", "--sign", "k.key"],
    );
    assert_code(&o, 0);
    std::fs::copy(dir.path().join("m.xopm"), dir.path().join("m.bin")).unwrap();
    let o = xop(
        dir.path(),
        &[
            "eval",
            "m.bin",
            "--trust",
            "k.pub",
            "--action",
            "send_receipt",
            "--input",
            "in.json",
            "--log",
            "log",
            "--format",
            "json",
        ],
    );
    assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["verdict"], "allow", "{v}");
    let o = xop(
        dir.path(),
        &[
            "eval",
            "m.xopm",
            "--trust",
            "k.pub",
            "--action",
            "send_receipt",
            "--input",
            "in.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(json_of(&o)["module"], v["module"]);
    let o = xop(
        dir.path(),
        &["eval", "m.bin", "--decision", "nope", "--input", "in.json"],
    );
    assert_code(&o, 2);
    assert_eq!(
        stderr(&o),
        "error: no decision `nope`; the decisions are: pick\n"
    );
}

/// QA's reproducer: a Device Reachability signal with a `max_age`, denied when absent.
const REACH: &str = r#"module rr

use std.camara.ReachabilityStatus

purpose service

record Cust {
  @personal(purpose: [service]) phone: Text
}

action call(c: Cust) purpose service risk minimal

signal reach(c: Cust): ReachabilityStatus from camara.device_reachability(c.phone) max_age 5m

policy p for call(c: c) {
  deny "status-unknown" when reach(c) is absent
  deny "unreachable" when reach(c) is present and not reach(c).reachable
  allow "reachable"
}
"#;

/// An input decided at 2026-11-25T10:00:00Z whose `reach` the network observed at `observed`
/// (no `last_status_time` when `None`).
fn reach_input(observed: Option<&str>) -> String {
    let mut reach = json!({"reachable": true, "connectivity": ["connected_data"]});
    if let Some(t) = observed {
        reach["last_status_time"] = json!(t);
    }
    json!({"now": "2026-11-25T10:00:00Z", "c": {"phone": "+33612345678"},
           "signals": {"reach": reach}})
    .to_string()
}

/// A signal value given in the input's `signals` is judged as the connectors judge their
/// answers (language.md §5.8, network.md "Freshness"): stale, observed beyond the clock
/// allowance after the decision time, or without `last_status_time` under a `max_age`, it is
/// absent, so the policy's handling of absence applies, on both engines; the proof record says
/// why, and replays. Fresh, or ahead within the allowance, it is read.
#[test]
fn a_given_signal_value_is_judged_by_when_the_network_observed_it() {
    let dir = TempDir::new("given-freshness");
    dir.write("src/reach.xop", REACH);
    let source = "std.camara.device_reachability";
    let cases = [
        (
            "stale",
            Some("2026-11-22T10:00:00Z"),
            Some(
                "stale: the network observed it 3d ago (last_status_time \
                 2026-11-22T10:00:00.000Z), more than max_age 5m",
            ),
        ),
        (
            "future",
            Some("2026-11-26T10:00:00Z"),
            Some(
                "out of contract: last_status_time 2026-11-26T10:00:00.000Z is after the \
                 decision time 2026-11-25T10:00:00.000Z (more than the 5m allowed for clocks \
                 apart), so it cannot be shown to be within max_age 5m",
            ),
        ),
        (
            "nolst",
            None,
            Some(
                "freshness unknown: the value given has no last_status_time, so it cannot be \
                 shown to be within max_age 5m; the policy's handling of an absent signal applies",
            ),
        ),
        ("fresh", Some("2026-11-25T09:56:00Z"), None),
        ("ahead", Some("2026-11-25T10:04:00Z"), None),
    ];
    let mut seq = 0;
    for (name, observed, why) in cases {
        let file = format!("{name}.json");
        dir.write(&file, reach_input(observed));
        let (verdict, reason) = match why {
            Some(_) => ("deny", "status-unknown"),
            None => ("allow", "reachable"),
        };
        for engine in ["jit", "interp"] {
            let eval = |more: &[&str]| {
                let mut args = vec![
                    "eval", "src", "--policy", "p", "--input", &file, "--engine", engine,
                ];
                args.extend(more);
                let o = xop(dir.path(), &args);
                assert_code(&o, 0);
                o
            };
            let v = json_of(&eval(&["--format", "json"]));
            assert_eq!(v["verdict"], verdict, "{name} {engine}: {v}");
            assert_eq!(v["reasons"], json!([reason]), "{name} {engine}: {v}");
            // Proven: the record and the output say why the value is absent.
            let o = eval(&["--log", "log"]);
            let out = stdout(&o);
            assert!(out.starts_with(&format!("{verdict} ({reason})")), "{out}");
            let (_, r) = record(dir.path(), "log", seq);
            seq += 1;
            assert_eq!(r["verdict"], verdict, "{name} {engine}: {r}");
            let read = &r["signals"][0];
            assert_eq!(read["signal"], "rr.reach", "{r}");
            match why {
                Some(why) => {
                    let said = format!("{source}: given in the input: {why}");
                    assert_eq!(read["fetch"]["reason"], said.as_str(), "{r}");
                    assert!(read["value"].is_null(), "{r}");
                    assert!(
                        out.contains(&format!("signal rr.reach from {source}: absent: {said}")),
                        "{out}"
                    );
                }
                None => {
                    assert!(read.get("fetch").is_none(), "{r}");
                    assert_eq!(read["value"]["reachable"], true, "{r}");
                    assert!(!out.contains("signal rr.reach"), "{out}");
                }
            }
        }
    }
    log_verifies(dir.path(), "log");
    let o = xop(dir.path(), &["log", "replay", "log"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains(&format!("{seq} decisions replayed: {seq} same")),
        "{}",
        text(&o)
    );
    // `xop serve` without `[camara]` takes `signals` from the input, judged alike.
    let module = build(&dir);
    let data = dir.path().join("data");
    let (_served, addr) = serve(&module, &data);
    for (name, observed, why) in cases {
        let (status, v) = post(addr, "/v1/decide/p", reach_input(observed).as_bytes());
        assert_eq!(status, 200, "{name}: {v}");
        let verdict = if why.is_some() { "deny" } else { "allow" };
        assert_eq!(v["verdict"], verdict, "{name}: {v}");
    }
}

/// A given signal value judged absent is reported by `--policy` and `--decision` without
/// `--log` as `--action` reports it: a `signal NAME from SOURCE: absent: WHY` line, and in
/// JSON the reads in `signals` (`fetch.reason` saying why), the same on both engines (the
/// JIT's JSON reader leaves given signals to the binder, which judges them).
#[test]
fn a_judged_signal_is_reported_by_policy_and_decision_as_by_action() {
    let dir = TempDir::new("judged-report");
    let decision = "decision pick(c: Cust) {\n  propose call(c: c) rank by 1\n}\n";
    dir.write("src/reach.xop", format!("{REACH}\n{decision}"));
    let source = "std.camara.device_reachability";
    let why = format!(
        "{source}: given in the input: stale: the network observed it 3d ago (last_status_time \
         2026-11-22T10:00:00.000Z), more than max_age 5m"
    );
    let line = format!("  signal rr.reach from {source}: absent: {why}\n");
    dir.write("stale.json", reach_input(Some("2026-11-22T10:00:00Z")));
    dir.write("fresh.json", reach_input(Some("2026-11-25T09:56:00Z")));
    let pick = json!({"c": {"phone": "+33612345678"}, "now": "2026-11-25T10:00:00Z",
                      "signals": {"reach": {"reachable": true, "connectivity": ["connected_data"],
                                            "last_status_time": "2026-11-22T10:00:00Z"}}});
    dir.write("pick.json", pick.to_string());
    for engine in ["jit", "interp"] {
        for asked in [
            ["--policy", "p"],
            ["--action", "call"],
            ["--decision", "pick"],
        ] {
            let file = if asked[0] == "--decision" {
                "pick.json"
            } else {
                "stale.json"
            };
            let eval = |format: &str| {
                let args = [
                    "eval", "src", asked[0], asked[1], "--input", file, "--engine", engine,
                    "--format", format,
                ];
                let o = xop(dir.path(), &args);
                assert_code(&o, 0);
                o
            };
            let human = stdout(&eval("human"));
            assert!(human.ends_with(&line), "{asked:?} {engine}: {human}");
            let v = json_of(&eval("json"));
            let reads = v["signals"].as_array().unwrap_or_else(|| panic!("{v}"));
            assert_eq!(reads.len(), 1, "{asked:?} {engine}: {v}");
            assert_eq!(reads[0]["signal"], "rr.reach", "{v}");
            assert!(reads[0]["value"].is_null(), "{v}");
            assert_eq!(reads[0]["fetch"]["reason"], why.as_str(), "{v}");
            assert_eq!(reads[0]["fetch"]["source"], source, "{v}");
        }
        // Read fresh: reported as read, with no line.
        let args = [
            "eval",
            "src",
            "--policy",
            "p",
            "--input",
            "fresh.json",
            "--engine",
            engine,
        ];
        let o = xop(dir.path(), &args);
        assert_eq!(
            stdout(&o),
            "allow (reachable)\n  fired p#3 at src/reach.xop:18: allow \"reachable\"\n",
            "{}",
            text(&o)
        );
        let mut json_args = args.to_vec();
        json_args.extend(["--format", "json"]);
        let v = json_of(&xop(dir.path(), &json_args));
        assert_eq!(v["signals"][0]["value"]["reachable"], true, "{v}");
        assert!(v["signals"][0].get("fetch").is_none(), "{v}");
    }
}

/// A decision's candidate whose own evaluation failed (here its Decimal rank overflows) is
/// shown with its arguments and `rank failed` (JSON: `"rank": null` and its `error`), not with
/// no arguments and the `i64::MIN` that only orders it last; on both engines.
#[test]
fn a_failed_candidate_shows_its_arguments_and_no_rank() {
    let dir = TempDir::new("failed-candidate");
    dir.write(
        "src/r.xop",
        r#"module qa.rank
purpose p
record R { id: Id  a: Decimal  b: Decimal }
action act(to: R, tag: Text) purpose p risk minimal
policy P for act(to: r) { allow "ok" }
decision d(c: R) {
  propose act(to: c, tag: "mul") rank by c.a * c.b
  propose act(to: c, tag: "const") rank by 0.5
}
"#,
    );
    dir.write(
        "in.json",
        r#"{"c":{"id":"1","a":"79228162514264337593543950335","b":"0.5"}}"#,
    );
    for engine in ["jit", "interp"] {
        let args = [
            "eval",
            "src",
            "--decision",
            "d",
            "--input",
            "in.json",
            "--engine",
            engine,
        ];
        let o = xop(dir.path(), &args);
        assert_code(&o, 0);
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "1. qa.rank.act(tag: \"const\") (line 8) rank 0.5: allow (ok)",
                "2. qa.rank.act(tag: \"mul\") (line 7) rank failed: deny (xop:runtime-error)",
            ],
            "{engine}: {out}"
        );
        assert!(
            lines[2].starts_with("   error: proposal of qa.rank.act at line 7: "),
            "{out}"
        );
        assert!(!out.contains("9223372036854775808"), "{out}");
        let mut json_args = args.to_vec();
        json_args.extend(["--format", "json"]);
        let v = json_of(&xop(dir.path(), &json_args));
        let failed = &v["candidates"][1];
        assert!(failed["rank"].is_null(), "{engine}: {v}");
        assert_eq!(failed["args"]["tag"], "mul", "{engine}: {v}");
        assert_eq!(failed["args"]["to"]["b"], "0.5", "{engine}: {v}");
        assert!(
            failed["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("proposal of")),
            "{v}"
        );
        assert_eq!(v["candidates"][0]["rank"], "0.5", "{engine}: {v}");
        assert_eq!(v["choice"], 0, "{engine}: {v}");
    }
}

/// A QoD boost guarded by two policies: the second denies a blocked number.
const BOOST2: &str = r#"module t.boost2

use std.camara.create_qos_session

policy qod_limits for create_qos_session(qos_profile: q, duration: d) {
  deny "profile-not-offered" unless q in ["QOS_M", "QOS_L"]
  allow "boost-within-limits"
}

policy qod_blocklist for create_qos_session(phone_number: p) {
  deny "number-blocked" when p == "+33612345678"
  allow "not-blocked"
}
"#;

/// `xop eval --policy P --config` where P is one of two policies guarding the QoD action:
/// decided (and proven with `--log`), but never carried out, since P's verdict alone is not
/// the action's (here the action's is a deny); the output says so, in text and JSON, and no
/// request reaches the operator.
#[test]
fn a_policy_decided_alone_carries_nothing_out() {
    let dir = TempDir::new("eval-alone-qod");
    dir.write("src/boost2.xop", BOOST2);
    dir.write(
        "in.json",
        r#"{"phone_number": "+33612345678", "application_server": "198.51.100.0/24",
            "qos_profile": "QOS_L", "duration": "1h"}"#,
    );
    // The operator: whatever connects here is a request xop sent.
    let operator = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    operator.set_nonblocking(true).unwrap();
    let url = format!("http://{}", operator.local_addr().unwrap());
    dir.write(
        "xop.toml",
        format!(
            "[camara]\napi_root = \"{url}\"\ntoken_url = \"{url}/oauth2/token\"\nclient_id = \
             \"x\"\nclient_secret = \"y\"\ntimeout_ms = 300\nmax_attempts = 1\n"
        ),
    );
    let alone = [
        "eval",
        "src",
        "--policy",
        "qod_limits",
        "--input",
        "in.json",
    ];
    let o = xop(&dir.0, &[&alone[..], &["--config", "xop.toml"]].concat());
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("allow (boost-within-limits)\n"), "{out}");
    assert!(
        out.contains(
            "  not performed std.camara.create_qos_session: `t.boost2.qod_limits` is one of 2 \
             policies guarding `std.camara.create_qos_session`: its verdict alone is not the \
             action's"
        ),
        "{out}"
    );
    assert!(out.contains("; nothing was sent (`--action std.camara.create_qos_session`"));
    assert!(!out.contains("\n  performed "), "{out}");
    let o = xop(
        &dir.0,
        &[
            &alone[..],
            &["--config", "xop.toml", "--log", "log", "--format", "json"],
        ]
        .concat(),
    );
    assert_code(&o, 0);
    let v = json_of(&o);
    assert_eq!(v["verdict"], "allow");
    assert_eq!(
        v["not_performed"]["action"],
        "std.camara.create_qos_session"
    );
    assert!(
        v["not_performed"]["reason"]
            .as_str()
            .unwrap()
            .contains("verdict alone")
    );
    assert!(v.get("performed").is_none(), "{v}");
    // Proven as the one policy's decision, and nothing else.
    let o = xop(&dir.0, &["log", "show", "log"]);
    assert!(stdout(&o).contains("1 records"), "{}", text(&o));
    log_verifies(&dir.0, "log");
    // The action's verdict denies it: nothing is sent either.
    let o = xop(
        &dir.0,
        &[
            "eval",
            "src",
            "--action",
            "create_qos_session",
            "--input",
            "in.json",
            "--config",
            "xop.toml",
        ],
    );
    assert!(
        stdout(&o).starts_with("deny (number-blocked)"),
        "{}",
        text(&o)
    );
    assert!(
        matches!(operator.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "xop sent a request to the operator"
    );
}

/// Without a `signals` object in the input, the JIT's JSON path lists the signals the rules
/// read, each absent, as the interpreter does: the two engines' outputs are the same, in JSON
/// and for people.
#[test]
fn signals_read_as_absent_are_listed_by_both_engines() {
    let dir = TempDir::new("eval-absent-signals");
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/signals/signals.xop");
    dir.write("signals.xop", std::fs::read_to_string(policy).unwrap());
    dir.write(
        "in.json",
        r#"{"now": "2026-06-01T12:00:00Z", "to": {"id": "c1", "msisdn": "+33612345678"}, "amount": 10}"#,
    );
    for format in ["json", "human"] {
        let eval = |engine| {
            let args = [
                "eval",
                "signals.xop",
                "--policy",
                "swaps",
                "--input",
                "in.json",
            ];
            let o = xop(
                &dir.0,
                &[&args[..], &["--engine", engine, "--format", format]].concat(),
            );
            assert_code(&o, 0);
            stdout(&o)
        };
        let (interp, jit) = (eval("interp"), eval("jit"));
        assert_eq!(jit, interp, "{format}");
        if format == "json" {
            let signals = &json_of_text(&jit)["signals"];
            let names: Vec<&str> = signals
                .as_array()
                .unwrap_or_else(|| panic!("no signals: {jit}"))
                .iter()
                .map(|s| s["signal"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                ["conf.signals.sim_swap", "conf.signals.roaming"],
                "{jit}"
            );
            assert!(
                signals
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["value"].is_null()),
                "{jit}"
            );
        }
    }
}

fn json_of_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
