//! `xop mcp-gateway`: the process around a [`Session`]: the module, the subject, the log, the
//! upstream server's process, and the two line readers.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};
use xop_runtime::module;

use crate::desk::ServerDesk;
use crate::inflight::Timeouts;
use crate::jsonrpc;
use crate::record::{EngineRecorder, NoRecorder, Recorder};
use crate::session::{Out, Session};

/// The options of `xop mcp-gateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The compiled module (`.xopm`).
    pub module: PathBuf,
    /// The public key the module must be signed with (a file written by `xop keygen`).
    pub trust: Option<PathBuf>,
    /// The agent whose bindings apply (the module's only agent when `None`).
    pub agent: Option<String>,
    /// The session's subject: a JSON object, or a file holding one.
    pub subject: Option<String>,
    /// The proof log's folder.
    pub log: Option<PathBuf>,
    /// Where held calls' review cases go: a running `xop serve` (its base URL), and the
    /// operator token to open them with. `None`: the in-process desk nobody can approve.
    pub review_server: Option<(String, String)>,
    /// An `xop.toml` whose `[camara]` section gives the CAMARA connectors: the policies'
    /// signals are then read from the network (absent otherwise).
    pub config: Option<PathBuf>,
    /// How long requests forwarded to the upstream server are waited for.
    pub timeouts: Timeouts,
    /// The upstream MCP server's command and arguments.
    pub upstream: Vec<String>,
}

/// Exit status: the client closed the session.
pub const EXIT_OK: u8 = 0;
/// Exit status: the upstream server exited (the client got errors for what was pending).
pub const EXIT_UPSTREAM: u8 = 1;
/// Exit status: the gateway could not start (module, key, subject, log, command).
pub const EXIT_FAILURE: u8 = 2;

/// Runs the gateway until the client closes its input or the upstream server exits; the exit
/// status. Errors go to standard error as `error: …`.
pub fn run(options: &Options) -> u8 {
    match start(options) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_FAILURE
        }
    }
}

fn read_text(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the {what} `{}`: {}",
            path.display(),
            xop_runtime::io::reason(&e)
        )
    })
}

/// The subject: inline JSON (starting with `{`) or a file.
fn subject(text: Option<&str>) -> Result<Map<String, Json>, String> {
    let Some(text) = text else {
        return Ok(Map::new());
    };
    let (json, from) = if text.trim_start().starts_with('{') {
        (text.to_string(), "--subject".to_string())
    } else {
        (
            read_text(Path::new(text), "subject file")?,
            format!("`{text}`"),
        )
    };
    match serde_json::from_str::<Json>(&json) {
        Ok(Json::Object(o)) => Ok(o),
        Ok(_) => Err(format!(
            "{from} is not a JSON object: give the action parameters the tool calls do not \
             take, by name, e.g. {{\"to\": {{\"id\": \"cust-42\"}}}}"
        )),
        Err(e) => Err(format!("{from} is not valid JSON: {e}")),
    }
}

fn start(options: &Options) -> Result<u8, String> {
    let bytes = std::fs::read(&options.module).map_err(|e| {
        format!(
            "cannot read the module `{}`: {} (build one with `xop build SOURCES -o FILE.xopm`)",
            options.module.display(),
            xop_runtime::io::reason(&e)
        )
    })?;
    let trust = match &options.trust {
        Some(path) => Some(
            module::parse_verifying_key(read_text(path, "public key")?.trim())
                .map_err(|e| format!("`{}` is not a public key: {e}", path.display()))?,
        ),
        None => None,
    };
    let loaded = module::load(&bytes, trust.as_ref())
        .map_err(|e| format!("refusing module `{}`: {e}", options.module.display()))?;
    let context = subject(options.subject.as_deref())?;
    if options.upstream.is_empty() {
        return Err("no upstream command: give it after `--`, e.g. `xop mcp-gateway --module m.xopm -- python3 server.py`".into());
    }
    let program = loaded.module.program;
    let connectors = match &options.config {
        Some(path) => Some(xop_network::Camara::new(
            xop_network::CamaraConfig::from_file(path).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let desk = match &options.review_server {
        Some((url, token)) => Some(ServerDesk::new(
            url,
            token,
            &module::hex(&loaded.content_hash),
        )?),
        None => None,
    };
    match &options.log {
        Some(dir) => {
            let recorder = EngineRecorder::open(dir, &bytes)?;
            let session = Session::new(program, options.agent.as_deref(), context, recorder)?
                .with_timeouts(options.timeouts);
            let session = equip(session, desk, connectors);
            let (status, recorder) = serve(session, &options.upstream, io::stdin(), io::stdout())?;
            recorder
                .close()
                .map_err(|e| format!("cannot close the proof log: {e}"))?;
            Ok(status)
        }
        None => {
            let session = Session::new(program, options.agent.as_deref(), context, NoRecorder)?
                .with_timeouts(options.timeouts);
            let session = equip(session, desk, connectors);
            serve(session, &options.upstream, io::stdin(), io::stdout()).map(|(status, _)| status)
        }
    }
}

/// The session with its review desk and connectors, when given.
fn equip<R: Recorder>(
    session: Session<R>,
    desk: Option<ServerDesk>,
    connectors: Option<xop_network::Camara>,
) -> Session<R> {
    let session = match desk {
        Some(d) => session.with_desk(d),
        None => session,
    };
    match connectors {
        Some(c) => session.with_connectors(Box::new(c)),
        None => session,
    }
}

enum Event {
    Client(Line),
    ClientEof,
    Upstream(Line),
    UpstreamEof,
    /// Writing to the upstream's input failed: it closed it, or exited.
    UpstreamStopped,
}

/// A line read from a peer, without its line break; or, when it is not UTF-8, why not.
type Line = Result<String, String>;

/// Messages waiting for the upstream server to read them, beyond what its pipe holds, before
/// the gateway counts it as no longer reading (and stops, answering what waits with -32004).
/// The queue keeps the gateway answering the client itself (denials, refusals, `-32601`)
/// while the upstream is slow to read, instead of blocking on a full pipe.
pub const UPSTREAM_QUEUE: usize = 4096;

/// Reads lines from `input` into `tx` until its end, then sends `eof`.
fn pump(
    input: impl Read + Send + 'static,
    tx: mpsc::Sender<Event>,
    wrap: fn(Line) -> Event,
    eof: Event,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(input);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while buf.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                        buf.pop();
                    }
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    // JSON text is UTF-8 (RFC 8259 §8.1); replacing bad bytes would hand the
                    // tool other arguments than the ones the client sent.
                    let line = String::from_utf8(std::mem::take(&mut buf)).map_err(|e| {
                        format!(
                            "the line is not UTF-8 (byte {} is not); JSON text must be UTF-8",
                            e.utf8_error().valid_up_to() + 1
                        )
                    });
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(eof);
    });
}

/// Writes what is queued to the upstream's `input`, on a thread of its own so that an upstream
/// that stops reading cannot block the gateway; tells `tx` when a write fails. The input is
/// closed once the queue's sender is dropped and what it held is written.
fn feed(mut input: ChildStdin, tx: mpsc::Sender<Event>) -> mpsc::SyncSender<Json> {
    let (queue, rx) = mpsc::sync_channel::<Json>(UPSTREAM_QUEUE);
    thread::spawn(move || {
        for v in rx {
            if write_line(&mut input, &v).is_err() {
                let _ = tx.send(Event::UpstreamStopped);
                return;
            }
        }
    });
    queue
}

fn write_line(out: &mut impl Write, value: &Json) -> io::Result<()> {
    let mut text = value.to_string();
    text.push('\n');
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Ends the upstream process: its input closed, a grace period, then a kill.
fn stop(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `session` between a client (`client_in`, `client_out`: standard input and output for
/// `xop mcp-gateway`) and the upstream server started with `upstream` (command, arguments),
/// until the client closes its input ([`EXIT_OK`]) or the upstream stops ([`EXIT_UPSTREAM`]);
/// the exit status and the recorder. Warnings go to standard error. The session's timeouts are
/// kept by the real clock: give it none of its own ([`Session::with_monotonic_clock`]).
pub fn serve<R: Recorder>(
    mut session: Session<R>,
    upstream: &[String],
    client_in: impl Read + Send + 'static,
    mut stdout: impl Write,
) -> Result<(u8, R), String> {
    let Some((command, args)) = upstream.split_first() else {
        return Err("no upstream command".into());
    };
    for w in session.startup_warnings() {
        eprintln!("warning: {w}");
    }
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the upstream MCP server `{command}`: {e}"))?;
    let (Some(upstream_in), Some(upstream_out)) = (child.stdin.take(), child.stdout.take()) else {
        stop(&mut child);
        return Err("the upstream server's standard input and output are not available".into());
    };
    let (tx, rx) = mpsc::channel();
    let mut upstream_in = Some(feed(upstream_in, tx.clone()));
    pump(
        upstream_out,
        tx.clone(),
        Event::Upstream,
        Event::UpstreamEof,
    );
    pump(client_in, tx, Event::Client, Event::ClientEof);
    let status = loop {
        // Sleep until a message comes or the earliest request forwarded upstream runs out of
        // time: one thread keeps every deadline, and messages are handled as soon as they come.
        let event = match session.next_deadline() {
            None => match rx.recv() {
                Ok(e) => Some(e),
                Err(_) => break EXIT_OK,
            },
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(e) => Some(e),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break EXIT_OK,
            },
        };
        let mut stalled = None;
        let mut outs = match event {
            // Only time passed.
            None => Vec::new(),
            Some(Event::Client(Ok(line))) => session.from_client(&line),
            Some(Event::Client(Err(why))) => vec![Out::Client(jsonrpc::error(
                &Json::Null,
                jsonrpc::PARSE_ERROR,
                &format!("parse error: {why}"),
                None,
            ))],
            Some(Event::Upstream(Ok(line))) => session.from_upstream(&line),
            Some(Event::Upstream(Err(why))) => vec![Out::Warn(format!(
                "the upstream server sent a line that is not JSON-RPC; ignored: {why}"
            ))],
            Some(Event::ClientEof) => {
                // The client is done: close the upstream's input (once what is queued for it
                // is written) so that it exits too.
                upstream_in = None;
                break EXIT_OK;
            }
            Some(Event::UpstreamStopped) => {
                stalled = Some("stopped reading");
                Vec::new()
            }
            Some(Event::UpstreamEof) => {
                let outs = session.upstream_gone();
                for o in &outs {
                    if let Out::Client(v) = o {
                        let _ = write_line(&mut stdout, v);
                    }
                }
                eprintln!("error: the upstream MCP server `{command}` has exited; stopping");
                break EXIT_UPSTREAM;
            }
        };
        // Checked after every message too, so that a steady stream of them cannot hold a
        // timeout back.
        outs.extend(session.expire());
        let mut client_gone = false;
        for o in outs {
            match o {
                Out::Client(v) => client_gone |= write_line(&mut stdout, &v).is_err(),
                Out::Upstream(v) => match upstream_in.as_ref().map(|q| q.try_send(v)) {
                    Some(Ok(())) => {}
                    Some(Err(mpsc::TrySendError::Full(_))) => {
                        stalled = Some("is not reading its input");
                    }
                    Some(Err(mpsc::TrySendError::Disconnected(_))) | None => {
                        stalled = Some("stopped reading");
                    }
                },
                Out::Warn(w) => eprintln!("warning: {w}"),
            }
        }
        if client_gone {
            break EXIT_OK;
        }
        if let Some(what) = stalled {
            // Answer what waits for it and stop.
            for o in session.upstream_gone() {
                if let Out::Client(v) = o {
                    let _ = write_line(&mut stdout, &v);
                }
            }
            eprintln!("error: the upstream MCP server `{command}` {what}; stopping");
            break EXIT_UPSTREAM;
        }
    };
    drop(upstream_in);
    stop(&mut child);
    Ok((status, session.into_recorder()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_inline_file_and_errors() {
        assert_eq!(subject(None).unwrap(), Map::new());
        let s = subject(Some(r#"{"to": {"id": "c-1"}}"#)).unwrap();
        assert_eq!(s["to"]["id"], "c-1");
        let dir = std::env::temp_dir().join(format!("xop-gw-subject-{}", std::process::id()));
        std::fs::write(&dir, r#"{"to": 1}"#).unwrap();
        assert_eq!(subject(Some(dir.to_str().unwrap())).unwrap()["to"], 1);
        let _ = std::fs::remove_file(&dir);
        assert!(
            subject(Some("{nope"))
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            subject(Some("/no/such/file"))
                .unwrap_err()
                .contains("cannot read")
        );
    }

    #[test]
    fn refuses_to_start_without_what_it_needs() {
        let o = Options {
            module: "/no/such/module.xopm".into(),
            trust: None,
            agent: None,
            subject: None,
            log: None,
            review_server: None,
            config: None,
            timeouts: Timeouts::default(),
            upstream: vec!["true".into()],
        };
        assert!(start(&o).unwrap_err().contains("xop build"));
    }
}
