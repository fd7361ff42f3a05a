//! `xop mcp-gateway`: the process around a [`Session`]: the module, the subject, the log, the
//! upstream server's process, and the two line readers.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};
use xop_runtime::module;

use crate::desk::ServerDesk;
use crate::inflight::Timeouts;
use crate::jsonrpc;
use crate::record::{EngineRecorder, NoRecorder, Recorder, UnreadLine};
use crate::session::{Out, Session, Work, Worked};

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
    /// How long a call's decision may wait for its signal reads (`--decide-timeout`; see
    /// [`Session::with_decide_timeout`]).
    pub decide_timeout: Duration,
    /// The upstream MCP server's command and arguments.
    pub upstream: Vec<String>,
}

/// Exit status: the client closed the session.
pub const EXIT_OK: u8 = 0;
/// Exit status: the upstream server exited, closed its input, or read nothing of it for too
/// long (the client got errors for what was pending).
pub const EXIT_UPSTREAM: u8 = 1;
/// Exit status: the gateway could not start (module, key, subject, log, command).
pub const EXIT_FAILURE: u8 = 2;
/// Exit status: the session ran, but the proof log could not be closed at its end (its last
/// signed checkpoint, or a batch, could not be written: a full disk, say). What the log
/// acknowledged is durable; `xop log verify DIR` says what follows it.
pub const EXIT_LOG: u8 = 3;

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

/// The subject: inline JSON, or a file holding it. Text that starts like a JSON object or
/// array (`{`, `[`) is JSON; otherwise a file of that name, or, when there is none and the
/// text reads as JSON (`5`, `"x"`), that JSON. Read strictly, as a decision's input: a key
/// given twice, or a number JSON would read rounded, is refused with its path.
fn subject(text: Option<&str>) -> Result<Map<String, Json>, String> {
    let Some(text) = text else {
        return Ok(Map::new());
    };
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\n', '\r']);
    let inline = trimmed.starts_with(['{', '['])
        || (!Path::new(text).exists() && serde_json::from_str::<Json>(text).is_ok());
    let (json, from) = if inline {
        (text.to_string(), "--subject".to_string())
    } else {
        (
            read_text(Path::new(text), "subject file")?,
            format!("the subject file `{text}`"),
        )
    };
    match xop_runtime::bind::parse_input(&json) {
        Ok(Json::Object(o)) => Ok(o),
        Ok(_) => Err(format!(
            "{from} is not a JSON object: give the action parameters the tool calls do not \
             take, by name, e.g. {{\"to\": {{\"id\": \"cust-42\"}}}}"
        )),
        Err(e) if e.kind == xop_runtime::bind::BindErrorKind::Malformed => {
            Err(format!("{from} is not valid JSON: {}", e.message))
        }
        Err(e) => Err(format!("{from}: {e}")),
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
        Some(path) => Some(module::read_verifying_key(path)?),
        None => None,
    };
    let loaded = module::load(&bytes, trust.as_ref())
        .map_err(|e| format!("refusing module `{}`: {e}", options.module.display()))?;
    let context = subject(options.subject.as_deref())?;
    if options.upstream.is_empty() {
        return Err("no upstream command: give it after `--`, e.g. `xop mcp-gateway --module m.xopm -- python3 server.py`".into());
    }
    let program = loaded.module.program;
    // The subject is checked against the agent's tools before anything is opened.
    let agent = crate::session::pick_agent(&program, options.agent.as_deref())?;
    crate::session::check_subject(&program, agent, &context)
        .map_err(|e| format!("--subject: {e}"))?;
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
                .with_timeouts(options.timeouts)
                .with_decide_timeout(options.decide_timeout);
            let session = equip(session, desk, connectors);
            let (status, recorder) = serve(session, &options.upstream, io::stdin(), io::stdout())?;
            Ok(log_closed(status, recorder.close(), dir))
        }
        None => {
            let session = Session::new(program, options.agent.as_deref(), context, NoRecorder)?
                .with_timeouts(options.timeouts)
                .with_decide_timeout(options.decide_timeout);
            let session = equip(session, desk, connectors);
            serve(session, &options.upstream, io::stdin(), io::stdout()).map(|(status, _)| status)
        }
    }
}

/// The exit status of a session that ended with `status` once its proof log (in `dir`) was
/// closed (`closed`): [`EXIT_LOG`] when it could not be, said on standard error.
fn log_closed(status: u8, closed: Result<(), String>, dir: &Path) -> u8 {
    match closed {
        Ok(()) => status,
        Err(e) => {
            eprintln!(
                "error: cannot close the proof log `{}`: {e}. What it acknowledged is durable; \
                 check it with `xop log verify {}` (the next writer to open it, once the cause is \
                 fixed, drops a torn batch and signs what it holds)",
                dir.display(),
                dir.display()
            );
            EXIT_LOG
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
    /// Work done off the loop (the review server's answer, a decision reading signals).
    Worked(Worked),
}

/// A line read from a peer, without its line break; or, when it cannot be read as text, why
/// not.
type Line = Result<String, Unreadable>;

/// A line that cannot be read as text.
struct Unreadable {
    /// Why (not UTF-8, too long).
    why: String,
    /// The line with its bytes that are not UTF-8 replaced, to find its id and method (and,
    /// from the client, the tool calls to record); of a line too long, its first
    /// [`jsonrpc::SNIFF_HEAD`] bytes, all that was kept.
    head: String,
    /// What the record of its refusal says of it: longer than [`MAX_MESSAGE`] (else not
    /// UTF-8), and its length.
    line: UnreadLine,
}

/// The largest message read from either peer ([`jsonrpc::MAX_MESSAGE`], 16 MiB).
pub const MAX_MESSAGE: usize = jsonrpc::MAX_MESSAGE;

/// Messages waiting for the upstream server to read them, beyond what its pipe holds, at which
/// the gateway stops reading the client (backpressure) until the upstream has read some. The
/// queue keeps the gateway answering the client itself (denials, refusals, `-32601`) while the
/// upstream is slow to read, instead of blocking on a full pipe.
pub const UPSTREAM_QUEUE: usize = 4096;

/// Bytes waiting for the upstream server at which the gateway stops reading the client, as
/// for [`UPSTREAM_QUEUE`].
pub const UPSTREAM_QUEUE_BYTES: usize = 2 * MAX_MESSAGE;

/// How long the gateway waits, once the client closed its input, for the answers the client
/// still waits for (then answers the rest itself), and then for the upstream to exit once its
/// input is closed (then kills it).
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// How many threads do the work that waits on the network (the review server, the connectors),
/// each one piece at a time.
pub const WORKERS: usize = 8;

/// How many events (lines read, work done) wait for the loop at most; a reader waits beyond.
const EVENTS: usize = 64;

/// The bytes written to the upstream's input at a time: its progress is counted in them.
const CHUNK: usize = 64 << 10;

/// What waits to be written to the upstream server, shared by the loop (which queues), the
/// writer (which writes) and the client's reader (which waits while too much waits).
struct Backlog {
    state: Mutex<Waiting>,
    room: Condvar,
}

struct Waiting {
    messages: usize,
    bytes: usize,
    /// When the writer last wrote a chunk, or the queue became non-empty.
    progress: Instant,
    /// The session is over: nobody waits for room.
    closed: bool,
}

impl Backlog {
    fn new() -> Backlog {
        Backlog {
            state: Mutex::new(Waiting {
                messages: 0,
                bytes: 0,
                progress: Instant::now(),
                closed: false,
            }),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A message of `len` bytes queued.
    fn push(&self, len: usize) {
        let mut w = self.lock();
        if w.messages == 0 {
            w.progress = Instant::now();
        }
        w.messages += 1;
        w.bytes += len;
    }

    /// Some of it written.
    fn progress(&self) {
        self.lock().progress = Instant::now();
    }

    /// A message of `len` bytes written.
    fn written(&self, len: usize) {
        let mut w = self.lock();
        w.messages = w.messages.saturating_sub(1);
        w.bytes = w.bytes.saturating_sub(len);
        w.progress = Instant::now();
        drop(w);
        self.room.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }

    /// Waits while the queue is full (the client's reader, before it reads a line).
    fn wait_for_room(&self) {
        let mut w = self.lock();
        while !w.closed && (w.messages >= UPSTREAM_QUEUE || w.bytes >= UPSTREAM_QUEUE_BYTES) {
            w = self.room.wait(w).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Since when the upstream has read nothing of what waits for it, if anything waits.
    fn stuck_since(&self) -> Option<(Instant, usize)> {
        let w = self.lock();
        (w.messages > 0).then_some((w.progress, w.messages))
    }
}

/// Reads one line of at most `max` bytes (without its line break) into `buf`: `Ok(None)` at
/// the end of the input, `Ok(Some((len, true)))` for a line, `Ok(Some((len, false)))` for a
/// longer one, of which only the first [`jsonrpc::SNIFF_HEAD`] bytes are kept (the rest is
/// read, counted and dropped). `len` is the line's length without the line breaks (`\r`,
/// `\n`) that end it.
fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<(u64, bool)>> {
    let mut fits = true;
    let mut any = false;
    // Every byte of the line, and how many of the last ones are line breaks (`\r`, `\n`).
    let mut read: u64 = 0;
    let mut breaks: u64 = 0;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some((read - breaks, fits)));
        }
        any = true;
        let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let taken = &chunk[..take];
        let tail = taken
            .iter()
            .rev()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .count();
        breaks = if tail == take {
            breaks + tail as u64
        } else {
            tail as u64
        };
        read += take as u64;
        if fits {
            // The line break (and a carriage return before it) does not count.
            if buf.len() + take > max + 2 {
                fits = false;
                buf.truncate(jsonrpc::SNIFF_HEAD);
                let room = jsonrpc::SNIFF_HEAD.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..take.min(room)]);
            } else {
                buf.extend_from_slice(taken);
            }
        }
        input.consume(take);
        if end {
            if fits {
                while buf.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                    buf.pop();
                }
                fits = buf.len() <= max;
                if !fits {
                    buf.truncate(jsonrpc::SNIFF_HEAD);
                }
            }
            return Ok(Some((read - breaks, fits)));
        }
    }
}

/// Reads lines from `input` into `tx` until its end, then sends `eof`. With `gate`, waits for
/// room in the upstream's queue before each line (backpressure on the client).
fn pump(
    input: impl Read + Send + 'static,
    tx: mpsc::SyncSender<Event>,
    wrap: fn(Line) -> Event,
    eof: Event,
    gate: Option<Arc<Backlog>>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(CHUNK, input);
        let mut buf = Vec::new();
        loop {
            if let Some(g) = &gate {
                g.wait_for_room();
            }
            buf.clear();
            let (len, fits) = match read_line(&mut reader, &mut buf, MAX_MESSAGE) {
                Ok(Some(read)) => read,
                Ok(None) | Err(_) => break,
            };
            let line = if !fits {
                Err(Unreadable {
                    why: format!(
                        "the message is longer than the gateway's maximum of {} MiB \
                         (MAX_MESSAGE); it was not read",
                        MAX_MESSAGE >> 20
                    ),
                    head: String::from_utf8_lossy(&buf).into_owned(),
                    line: UnreadLine {
                        too_long: true,
                        bytes: len,
                    },
                })
            } else if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            } else {
                // JSON text is UTF-8 (RFC 8259 §8.1); replacing bad bytes would hand the tool
                // other arguments than the ones the client sent.
                String::from_utf8(std::mem::take(&mut buf)).map_err(|e| {
                    let at = e.utf8_error().valid_up_to();
                    let bytes = e.into_bytes();
                    Unreadable {
                        why: format!(
                            "the line is not UTF-8 (byte {} is not); JSON text must be UTF-8",
                            at + 1
                        ),
                        // All of it: the tool calls of a batch are recorded one by one.
                        head: String::from_utf8_lossy(&bytes).into_owned(),
                        line: UnreadLine {
                            too_long: false,
                            bytes: len,
                        },
                    }
                })
            };
            if tx.send(wrap(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(eof);
    });
}

/// Writes what is queued to the upstream's `input`, on a thread of its own so that an upstream
/// that reads slowly, or not at all, cannot block the gateway; counts its progress in
/// `backlog`; tells `tx` when a write fails. The input is closed once the queue's sender is
/// dropped and what it held is written.
fn feed(
    mut input: ChildStdin,
    tx: mpsc::SyncSender<Event>,
    backlog: Arc<Backlog>,
) -> mpsc::Sender<Vec<u8>> {
    let (queue, rx) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        for bytes in rx {
            for chunk in bytes.chunks(CHUNK) {
                if input.write_all(chunk).is_err() {
                    let _ = tx.send(Event::UpstreamStopped);
                    return;
                }
                backlog.progress();
            }
            backlog.written(bytes.len());
        }
    });
    queue
}

/// Threads doing the work handed out by the session ([`Out::Work`]), each telling `tx` what it
/// gave; they end when the returned sender is dropped.
fn workers(tx: &mpsc::SyncSender<Event>) -> mpsc::Sender<Work> {
    let (jobs, rx) = mpsc::channel::<Work>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..WORKERS {
        let (rx, tx) = (Arc::clone(&rx), tx.clone());
        thread::spawn(move || {
            loop {
                let job = {
                    let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                    match rx.recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    }
                };
                if tx.send(Event::Worked(job.run())).is_err() {
                    return;
                }
            }
        });
    }
    jobs
}

fn write_line(out: &mut impl Write, value: &Json) -> io::Result<()> {
    write_text(out, &value.to_string())
}

fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Ends the upstream process: its input closed, [`CLOSE_GRACE`], then a kill.
fn stop(child: &mut Child) {
    let deadline = Instant::now() + CLOSE_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The earlier of two times, either of which may be missing.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs `session` between a client (`client_in`, `client_out`: standard input and output for
/// `xop mcp-gateway`) and the upstream server started with `upstream` (command, arguments),
/// until the client closes its input ([`EXIT_OK`]) or the upstream stops ([`EXIT_UPSTREAM`]);
/// the exit status and the recorder. Warnings go to standard error. The session's timeouts are
/// kept by the real clock: give it none of its own ([`Session::with_monotonic_clock`]). What
/// waits on the network is done by worker threads ([`Session::with_work_off_loop`]), never by
/// the loop.
pub fn serve<R: Recorder>(
    session: Session<R>,
    upstream: &[String],
    client_in: impl Read + Send + 'static,
    mut stdout: impl Write,
) -> Result<(u8, R), String> {
    let Some((command, args)) = upstream.split_first() else {
        return Err("no upstream command".into());
    };
    let mut session = session.with_work_off_loop();
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
    let (tx, rx) = mpsc::sync_channel(EVENTS);
    let backlog = Arc::new(Backlog::new());
    let mut upstream_in = Some(feed(upstream_in, tx.clone(), Arc::clone(&backlog)));
    let jobs = workers(&tx);
    pump(
        upstream_out,
        tx.clone(),
        Event::Upstream,
        Event::UpstreamEof,
        None,
    );
    pump(
        client_in,
        tx,
        Event::Client,
        Event::ClientEof,
        Some(Arc::clone(&backlog)),
    );
    // An upstream that reads nothing of its input for this long, while messages wait for it,
    // is taken for gone: the time it has to answer a request.
    let patience = session.timeouts().request;
    // Once the client closed its input: until when its pending answers are waited for.
    let mut closing: Option<Instant> = None;
    let status = loop {
        // Sleep until a message comes, the earliest request forwarded upstream runs out of
        // time, the upstream has read nothing for too long, or the client's grace is over:
        // one thread keeps every deadline, and messages are handled as soon as they come.
        let stuck = backlog.stuck_since();
        let wake = earliest(
            earliest(
                session.next_deadline(),
                stuck.and_then(|(since, _)| since.checked_add(patience)),
            ),
            closing,
        );
        let event = match wake {
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
        let mut stopped: Option<String> = None;
        let mut outs = match event {
            // Only time passed.
            None => Vec::new(),
            Some(Event::Client(Ok(line))) => session.from_client(&line),
            Some(Event::Client(Err(u))) => session.client_unreadable(&u.head, &u.why, u.line),
            Some(Event::Upstream(Ok(line))) => session.from_upstream(&line),
            Some(Event::Upstream(Err(u))) => session.upstream_unreadable(&u.head, &u.why),
            Some(Event::Worked(w)) => session.worked(w),
            Some(Event::ClientEof) => {
                // The client is done writing, perhaps not reading: what it waits for is
                // relayed for a while yet.
                closing = Some(Instant::now() + CLOSE_GRACE);
                Vec::new()
            }
            Some(Event::UpstreamStopped) => {
                stopped = Some(format!(
                    "the upstream MCP server `{command}` no longer reads its input (it closed \
                     it, or exited); restart the gateway"
                ));
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
                break if closing.is_some() {
                    EXIT_OK
                } else {
                    EXIT_UPSTREAM
                };
            }
        };
        // Checked after every message too, so that a steady stream of them cannot hold a
        // timeout back.
        outs.extend(session.expire());
        if let Some((since, waiting)) = backlog.stuck_since()
            && since.elapsed() >= patience
        {
            stopped = Some(format!(
                "the upstream MCP server `{command}` has read nothing of its input for {} \
                 ({waiting} messages wait for it): the gateway stopped it; restart the gateway",
                crate::inflight::seconds(patience)
            ));
        }
        let mut client_gone = false;
        for o in outs {
            match o {
                Out::Client(v) => client_gone |= write_line(&mut stdout, &v).is_err(),
                Out::ClientText(v) => client_gone |= write_text(&mut stdout, &v.text).is_err(),
                Out::Upstream(_) | Out::UpstreamText(_) => {
                    let mut bytes = match o {
                        Out::UpstreamText(v) => v.text.into_bytes(),
                        Out::Upstream(v) => v.to_string().into_bytes(),
                        _ => continue,
                    };
                    bytes.push(b'\n');
                    let len = bytes.len();
                    backlog.push(len);
                    let sent = upstream_in.as_ref().is_some_and(|q| q.send(bytes).is_ok());
                    if !sent {
                        backlog.written(len);
                        stopped.get_or_insert_with(|| {
                            format!(
                                "the upstream MCP server `{command}` no longer reads its input \
                                 (it closed it, or exited); restart the gateway"
                            )
                        });
                    }
                }
                Out::Work(w) => {
                    if let Err(mpsc::SendError(w)) = jobs.send(w) {
                        // Never: the workers live as long as the loop. Do it here then.
                        let outs = session.worked(w.run());
                        for o in outs {
                            if let Some(v) = o.to_client() {
                                let _ = write_line(&mut stdout, v);
                            }
                        }
                    }
                }
                Out::Warn(w) => eprintln!("warning: {w}"),
            }
        }
        if client_gone {
            break EXIT_OK;
        }
        if let Some(why) = stopped {
            // Answer what waits for it and stop.
            for o in session.upstream_stopped(&why) {
                if let Out::Client(v) = o {
                    let _ = write_line(&mut stdout, &v);
                }
            }
            eprintln!("error: {why}; stopping");
            break if closing.is_some() {
                EXIT_OK
            } else {
                EXIT_UPSTREAM
            };
        }
        if let Some(until) = closing {
            let over = Instant::now() >= until;
            if over || session.pending() == 0 {
                // What still waits gets an answer (and the upstream the cancellations).
                for o in session.client_closed(CLOSE_GRACE) {
                    match o {
                        Out::Client(v) => {
                            let _ = write_line(&mut stdout, &v);
                        }
                        Out::Upstream(v) => {
                            if let Some(q) = &upstream_in {
                                let mut bytes = v.to_string().into_bytes();
                                bytes.push(b'\n');
                                let _ = q.send(bytes);
                            }
                        }
                        _ => {}
                    }
                }
                break EXIT_OK;
            }
        }
    };
    // Nothing waits for room any more; the upstream's input is closed once what is queued for
    // it is written, and it is given time to exit.
    backlog.close();
    drop(upstream_in.take());
    drop(jobs);
    stop(&mut child);
    Ok((status, session.into_recorder()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_read_strictly_and_said_what_it_is() {
        // 5: a key given twice, anywhere, is refused with its path.
        let e = subject(Some(r#"{"to": {"id": "a"}, "to": {"id": "b"}}"#)).unwrap_err();
        assert!(
            e.starts_with("--subject: to: the key \"to\" is given twice"),
            "{e}"
        );
        let e = subject(Some(r#"{"to": {"id": "a", "id": "b"}}"#)).unwrap_err();
        assert!(
            e.starts_with("--subject: to.id: the key \"id\" is given twice"),
            "{e}"
        );
        // 6: and so is a number JSON would read rounded.
        let e = subject(Some(r#"{"to": {"limit": 0.1000000000000000000000000001}}"#)).unwrap_err();
        assert!(e.starts_with("--subject: to.limit: the number"), "{e}");
        // 15: JSON that is not an object is said to be so, not taken for a file name.
        for text in ["[1]", " [1]", "5", "\"x\"", "true"] {
            let e = subject(Some(text)).unwrap_err();
            assert!(
                e.starts_with("--subject is not a JSON object"),
                "{text}: {e}"
            );
        }
        let e = subject(Some("[1")).unwrap_err();
        assert!(e.starts_with("--subject is not valid JSON"), "{e}");
    }

    #[test]
    fn a_log_that_cannot_be_closed_has_its_own_exit_status() {
        let dir = Path::new("/data/log");
        assert_eq!(log_closed(EXIT_OK, Ok(()), dir), EXIT_OK);
        assert_eq!(log_closed(EXIT_UPSTREAM, Ok(()), dir), EXIT_UPSTREAM);
        let full = Err("no space left on device".to_string());
        assert_eq!(log_closed(EXIT_OK, full.clone(), dir), EXIT_LOG);
        assert_eq!(log_closed(EXIT_UPSTREAM, full, dir), EXIT_LOG);
        let all = [EXIT_OK, EXIT_UPSTREAM, EXIT_FAILURE, EXIT_LOG];
        let distinct: std::collections::BTreeSet<u8> = all.into_iter().collect();
        assert_eq!(distinct.len(), all.len());
    }

    /// Reads `input` with `read_line` (at most `max` bytes a line, in chunks of `chunk`
    /// bytes): each line's fit, length and text.
    fn lines_in(input: &[u8], max: usize, chunk: usize) -> Vec<(bool, u64, Vec<u8>)> {
        let mut r = BufReader::with_capacity(chunk, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some((len, fits)) = read_line(&mut r, &mut buf, max).unwrap() {
            out.push((fits, len, std::mem::take(&mut buf)));
        }
        out
    }

    fn lines(input: &[u8], max: usize) -> Vec<(bool, u64, Vec<u8>)> {
        lines_in(input, max, 7)
    }

    #[test]
    fn lines_past_the_maximum_are_not_kept() {
        let got = lines(b"0123456789\n0123456789a\r\n0123456789\r\nabc", 10);
        assert_eq!(
            got,
            [
                (true, 10, b"0123456789".to_vec()),
                (false, 11, b"0123456789a\r\n".to_vec()),
                (true, 10, b"0123456789".to_vec()),
                (true, 3, b"abc".to_vec()),
            ]
        );
        // The length of a line too long counts what was dropped, not its line breaks, however
        // the chunks fall (a break split from its line, a run of breaks).
        let long = b"0123456789abcdef\r\r\nxy\n";
        for chunk in 1..=long.len() {
            let got = lines_in(long, 10, chunk);
            let got: Vec<(bool, u64)> = got.iter().map(|(f, n, _)| (*f, *n)).collect();
            assert_eq!(got, [(false, 16), (true, 2)], "chunks of {chunk}");
        }
        // A line far past the maximum: read through, only its head kept.
        let mut big = vec![b'{'; 3 * MAX_MESSAGE];
        big.extend_from_slice(b"\n{}\n");
        let mut r = BufReader::new(&big[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, MAX_MESSAGE).unwrap(),
            Some((3 * MAX_MESSAGE as u64, false))
        );
        assert_eq!(buf.len(), jsonrpc::SNIFF_HEAD);
        assert!(buf.capacity() <= 2 * MAX_MESSAGE, "{}", buf.capacity());
        buf.clear();
        assert_eq!(
            read_line(&mut r, &mut buf, MAX_MESSAGE).unwrap(),
            Some((2, true))
        );
        assert_eq!(buf, b"{}");
        // Exactly the maximum fits.
        let mut exact = vec![b' '; MAX_MESSAGE];
        exact.push(b'\n');
        let mut r = BufReader::new(&exact[..]);
        buf.clear();
        assert_eq!(
            read_line(&mut r, &mut buf, MAX_MESSAGE).unwrap(),
            Some((MAX_MESSAGE as u64, true))
        );
    }

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
            decide_timeout: crate::session::DEFAULT_DECIDE_TIMEOUT,
            upstream: vec!["true".into()],
        };
        assert!(start(&o).unwrap_err().contains("xop build"));
    }
}
