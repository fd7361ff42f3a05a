//! `xop serve`: the XOP runtime over HTTP (tokio, axum). Decisions are proven in the proof log
//! before they are answered; review cases go to the review queue; operators hot-swap modules
//! and turn the halt switch. The endpoints and guarantees: `docs/serve.md`.
//!
//! Network-facing code lives here, apart from the runtime crate, so that a service embedding
//! the runtime carries no HTTP stack.

pub mod app;
pub mod config;
pub mod listen;
pub mod metrics;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xop_runtime::connectors::Connectors;
use xop_runtime::engine::{ModuleSet, ReviewCase, ReviewSink, Runtime};
use xop_runtime::proof::record::{Body, Record};
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{OpeningReport, ReviewQueue, RuntimeLog};

use crate::app::App;
use crate::config::Config;
use crate::metrics::Metrics;

/// The default address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The file in the data folder holding the running server's URL (`http://ADDR`), so that
/// `xop review approve` can say where to send what it may not write itself.
pub const URL_FILE: &str = "serve.url";

/// The URL a server running on `data` wrote, if any. Only meaningful while the folder's log is
/// locked (a server killed with `kill -9` leaves the file behind; the next one overwrites it).
pub fn running_url(data: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join(URL_FILE)).ok()?;
    let url = text.lines().next()?.trim();
    (url.starts_with("http://") && url.len() < 256).then(|| url.to_string())
}

/// The URL to reach `addr` from this host: an unspecified address (`0.0.0.0`, `::`) is
/// reached on loopback.
fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("http://{ip}:{}", addr.port())
}

/// The longest module name, in bytes: `NAME.xopm` must fit a file name (255 bytes on the
/// common file systems).
pub const MAX_MODULE_NAME: usize = 250;

/// Why `name` cannot name a module (the slot it is loaded under), if it cannot. A module is
/// named after its file (`NAME.xopm`), and a slot loaded over HTTP must be one a start-up could
/// serve again from such a file (the warnings of a restart say to copy it there), so the names
/// allowed, at start-up and over HTTP alike, are: 1 to [`MAX_MODULE_NAME`] bytes of UTF-8, no
/// `/` (a folder, not a file), no control character (U+0000–U+001F, U+007F–U+009F: printed
/// in warnings, one would reach a terminal as an escape sequence or a forged line), and not
/// `.` or `..`.
pub fn module_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > MAX_MODULE_NAME {
        return Some(format!(
            "is {} bytes long, more than {MAX_MODULE_NAME} (`NAME.xopm` must fit a file name)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some("is `.` or `..`, which name folders".into());
    }
    if name.contains('/') {
        return Some("contains `/`, which no file name can".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "contains the control character {}",
            c.escape_unicode()
        ));
    }
    None
}

/// `name` as warnings print it: a module name from the proof log (written by an older version,
/// which did not check names) may hold a control character, which must not reach a terminal.
pub(crate) fn shown(name: &str) -> String {
    name.escape_debug().to_string()
}

/// The name each module of `modules` is loaded under: its file name without extension
/// (`a/acme.xopm` → `acme`). Refused, saying which files and how to fix it: a file name that
/// is not UTF-8 (no name could be given it that says which file it is), a name no module may
/// have ([`module_name_problem`]: a control character, more than 250 bytes), a path that names
/// no file, and two paths that would be loaded under the same name (the second would replace
/// the first).
pub fn slot_names(modules: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::with_capacity(modules.len());
    for (i, path) in modules.iter().enumerate() {
        let stem = path.file_stem().ok_or_else(|| {
            format!(
                "--module `{}` names no file: give a module file, FILE.xopm (`xop build`)",
                path.display()
            )
        })?;
        let name = stem.to_str().ok_or_else(|| {
            format!(
                "--module `{}`: a module is loaded under its file name without extension, and \
                 this one is not UTF-8; rename the file to a UTF-8 name (e.g. `module.xopm`)",
                path.display()
            )
        })?;
        if let Some(why) = module_name_problem(name) {
            return Err(format!(
                "--module `{}`: a module is loaded under its file name without extension, and \
                 `{}` {why}: rename the file (e.g. to \
                 `module.xopm`); nothing was served",
                path.display().to_string().escape_debug(),
                shown(name)
            ));
        }
        if let Some(j) = names.iter().position(|n| n == name) {
            let first = &modules[j];
            return Err(if first == path {
                format!(
                    "--module `{}` is given twice: give each module once",
                    path.display()
                )
            } else {
                let ext = path
                    .extension()
                    .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
                format!(
                    "--module `{}` and --module `{}` would both be loaded as the module \
                     `{name}` (a module is named after its file name without extension), and \
                     the second would replace the first: rename one of the files so that the \
                     names differ (e.g. `{}` to `{}`); nothing was loaded",
                    first.display(),
                    path.display(),
                    path.display(),
                    path.with_file_name(format!("{name}-{}{ext}", i + 1))
                        .display()
                )
            });
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// What `xop serve` is given.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Module files, each loaded under its file name without extension ([`slot_names`]).
    pub modules: Vec<PathBuf>,
    /// The data folder: proof log, review queue.
    pub data: PathBuf,
    /// `xop.toml`.
    pub config: Option<PathBuf>,
    /// The address (overrides the configuration's).
    pub listen: Option<String>,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
}

/// A running server.
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    module_notes: Vec<String>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What start-up said on stderr about the modules the proof log says were serving and
    /// the ones loaded now ([`module_changes`]): one warning per slot that differs.
    pub fn module_notes(&self) -> &[String] {
        &self.module_notes
    }

    /// Stops it gracefully (see [`serve`]) and waits until the proof log is closed.
    pub fn stop(mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the server thread panicked".into()),
            None => Ok(()),
        }
    }

    /// Waits for ctrl-c or SIGTERM, then stops gracefully.
    pub fn wait_for_signal(self) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the signal handler: {e}"))?;
        rt.block_on(shutdown_signal());
        self.stop()
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Opens the data folder (proof log, review queue), loads the modules, binds the address and
/// serves on a thread of its own. Errors say what to fix.
pub fn serve(opts: &ServeOptions) -> Result<Running, String> {
    serve_with(opts, None)
}

/// [`serve`] with `connectors` plugged into the runtime instead of the CAMARA connectors that
/// `[camara]` in `xop.toml` configures (when given): an embedder's own connectors, or a test's.
pub fn serve_with(
    opts: &ServeOptions,
    connectors: Option<Box<dyn Connectors>>,
) -> Result<Running, String> {
    let config = match &opts.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let listen = opts
        .listen
        .clone()
        .or_else(|| config.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    if opts.modules.is_empty() {
        return Err("give at least one module: --module FILE.xopm (`xop build`)".into());
    }
    // Before anything is bound, created or loaded: two modules under one name would have the
    // second silently replace the first (its policies gone, the other's deciding alone).
    let names = slot_names(&opts.modules)?;
    // Bound before the data folder is opened: a port in use (or a typo) leaves no new log and
    // signing key behind.
    let listener = std::net::TcpListener::bind(&listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on `{listen}`: {e} (use --listen ADDR)"))?;
    // Read and verified before the data folder is opened too: a mistyped path, or a module
    // the trusted key did not sign, leaves no new log and signing key behind either (as
    // `xop eval` and `xop mcp-gateway` refuse without creating anything).
    let mut files = Vec::with_capacity(opts.modules.len());
    for path in &opts.modules {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read `{}`: {}; nothing was served",
                path.display(),
                xop_runtime::io::reason(&e)
            )
        })?;
        xop_runtime::module::load(&bytes, config.trust.as_ref()).map_err(|e| {
            format!(
                "`{}`: {}; nothing was served",
                path.display(),
                xop_runtime::engine::RuntimeError::Module(e)
            )
        })?;
        files.push(bytes);
    }
    let log = ProofLog::open(&opts.data, LogConfig::default()).map_err(|e| e.to_string())?;
    if let Some(w) = log.recovery_warning() {
        eprintln!("xop serve: warning: {w}");
    }
    let rt = Arc::new(Runtime::with_log(log));
    for ((path, name), bytes) in opts.modules.iter().zip(&names).zip(&files) {
        rt.load_bytes(name, bytes, config.trust.as_ref())
            .map_err(|e| match e {
                // Both are --module files: the fix is to give one of them.
                xop_runtime::engine::RuntimeError::Conflict { policy, module } => {
                    let other = names
                        .iter()
                        .position(|n| *n == module)
                        .map_or(String::new(), |i| {
                            format!(" (`{}`)", opts.modules[i].display())
                        });
                    format!(
                        "`{}`: policy `{policy}` is already defined by module `{module}`{other}, \
                         and two loaded modules may not define one policy: give only one of \
                         them with --module; nothing was served",
                        path.display()
                    )
                }
                e => format!("`{}`: {e}", path.display()),
            })?;
    }
    // A damaged copy of a module in DATA/modules/ was replaced: someone changed the folder.
    for w in rt.log().map(ProofLog::take_warnings).unwrap_or_default() {
        eprintln!("xop serve: warning: {w}");
    }
    // A hot swap lasts until a restart: say so when this start serves other modules than the
    // log's last `module.loaded` said, and record the change, so that the log says what served.
    let module_notes = module_changes(&rt, &opts.modules, &names)?;
    for n in &module_notes {
        eprintln!("xop serve: warning: {n}");
    }
    match (connectors, &config.camara) {
        (Some(c), _) => rt.set_connectors(Some(c)),
        (None, Some(camara)) => {
            rt.set_connectors(Some(Box::new(xop_network::Camara::new(camara.clone()))));
        }
        (None, None) => {}
    }
    let mut report = OpeningReport::new(std::time::Instant::now, "before listening");
    let queue = ReviewQueue::open_reporting(
        &opts.data,
        Box::new(RuntimeLog(Arc::downgrade(&rt))),
        xop_runtime::review::wall_clock(),
        &mut |p| {
            if let Some(line) = report.line(p) {
                eprintln!("xop serve: {line}");
            }
        },
    )
    .map_err(|e| e.to_string())?;
    for n in queue.notices() {
        eprintln!("xop serve: warning: {n}");
    }
    for w in unheld_review_roles(&rt.modules(), &config, opts.config.as_deref()) {
        eprintln!("xop serve: warning: {w}");
    }
    rt.set_review_sink(Some(Box::new(Sink(queue.clone()))));
    // Before the timer starts: the cases opening closed with their fallback are handed over
    // now (an `allow` one carried out before listening), then each the deadline closes.
    let carrier = Arc::downgrade(&rt);
    queue.set_on_fallback(Box::new(move |case| {
        if let Some(rt) = carrier.upgrade() {
            carry_out_fallback(&rt, case);
        }
    }));
    queue.start_timer();
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on `{listen}`: {e}"))?;
    // Best effort: it only serves a friendlier message (`xop review` while the server runs).
    let url_file = opts.data.join(URL_FILE);
    let _ = std::fs::write(&url_file, format!("{}\n", local_url(addr)));
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = opts.workers {
        builder.worker_threads(n.max(1));
    }
    let tokio_rt = builder
        .build()
        .map_err(|e| format!("cannot start the server's threads: {e}"))?;
    let app = Arc::new(App {
        rt: Arc::clone(&rt),
        queue: queue.clone(),
        config,
        config_path: opts.config.clone(),
        metrics: Metrics::default(),
        broken: std::sync::OnceLock::new(),
        large: Arc::new(tokio::sync::Semaphore::new(app::large_permits())),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("xop-serve".into())
        .spawn(move || {
            let served = tokio_rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| format!("cannot listen: {e}"))?;
                let timeout = Duration::from_millis(app.config.timeout_ms);
                listen::serve(listener, app::router(app), timeout, async {
                    let _ = rx.await;
                })
                .await;
                Ok::<(), String>(())
            });
            // In-flight requests are answered by now; blocking decisions cut loose by a
            // timeout still finish (their records are durable either way).
            tokio_rt.shutdown_timeout(Duration::from_secs(10));
            // Before the log's lock is released: afterwards the file may be the next server's.
            let _ = std::fs::remove_file(&url_file);
            let closed = close(rt, &queue);
            served.and(closed)
        })
        .map_err(|e| format!("cannot start the server thread: {e}"))?;
    Ok(Running {
        addr,
        stop: Some(tx),
        thread: Some(thread),
        module_notes,
    })
}

/// What the proof log says a slot served last: its latest `module.loaded` or
/// `module.unloaded` record.
struct Logged {
    /// The module's content hash (hex).
    module: String,
    /// Whether the record unloaded it.
    unloaded: bool,
    /// The record.
    seq: u64,
    /// Who: the operator of a hot swap or unload, `None` for a start-up.
    by: Option<String>,
}

impl Logged {
    /// `record 7: a hot swap by `ops``, as warnings name the record.
    fn said(&self) -> String {
        let what = match (&self.by, self.unloaded) {
            (Some(by), false) => format!("a hot swap by `{}`", shown(by)),
            (Some(by), true) => format!("unloaded by `{}`", shown(by)),
            (None, false) => "loaded at a start-up".to_string(),
            (None, true) => "left out at a start-up".to_string(),
        };
        format!("record {}: {what}", self.seq)
    }
}

/// The slots the proof log's module records (`module.loaded`, `module.unloaded`: hot swaps,
/// unloads, and start-ups that changed what served) name, each with its latest record, in the
/// order of those records. Read from the last record back.
fn logged_modules(log: &ProofLog) -> Result<Vec<(String, Logged)>, String> {
    let mut out: Vec<(String, Logged)> = Vec::new();
    for seq in (0..log.size()).rev() {
        let bytes = log
            .record_bytes(seq)
            .map_err(|e| format!("cannot read record {seq} of the proof log: {e}"))?
            .unwrap_or_default();
        // Most records are decisions: only an event's head is looked at before decoding.
        const EVENT: &[u8] = b"\"kind\":\"event\",\"name\":\"module.";
        let head = &bytes[..bytes.len().min(128)];
        if !head.windows(EVENT.len()).any(|w| w == EVENT) {
            continue;
        }
        let Ok(Record {
            body: Body::Event { name, data },
            ..
        }) = xop_runtime::proof::record::decode(&bytes)
        else {
            continue;
        };
        let unloaded = match name.as_str() {
            "module.loaded" => false,
            "module.unloaded" => true,
            _ => continue,
        };
        let (Some(slot), Some(module)) = (data["name"].as_str(), data["module"].as_str()) else {
            continue;
        };
        if out.iter().any(|(s, _)| s == slot) {
            continue;
        }
        let by = data["by"].as_str().map(str::to_string);
        out.push((
            slot.to_string(),
            Logged {
                module: module.to_string(),
                unloaded,
                seq,
                by,
            },
        ));
    }
    out.reverse();
    Ok(out)
}

/// Compares the modules loaded at start-up (`paths`, loaded under `names`) with what the proof
/// log's module records (`module.loaded`, `module.unloaded`: the latest of each slot) say was
/// serving, and for each slot that differs records the change and returns a warning saying
/// which module serves now, which the log says served, and how to serve that one (its file is
/// kept in `DATA/modules`): a module of another hash loaded under a slot (a hot swap this
/// restart undoes), recorded as `module.loaded`; a slot the log says serves that is not loaded
/// now, recorded as `module.unloaded`; a slot the log says was unloaded that is loaded again,
/// recorded as `module.loaded`. Each such record has `"startup": true` and no `by`. Slots no
/// module record names (a log without hot swaps) are left alone: their decisions' records name
/// their modules. The next start compares with these records, so a warning is given once.
pub fn module_changes(
    rt: &Runtime,
    paths: &[PathBuf],
    names: &[String],
) -> Result<Vec<String>, String> {
    let Some(log) = rt.log() else {
        return Ok(Vec::new());
    };
    let logged = logged_modules(log)?;
    let loaded = rt.modules();
    let kept = |hash: &str| xop_runtime::proof::module_path(log.dir(), hash);
    let record = |event: &str, name: &str, module: &str| {
        log.append_event(
            event,
            serde_json::json!({"name": name, "module": module, "startup": true}),
        )
        .map_err(|e| format!("cannot record the modules loaded at start-up: {e}"))
    };
    let mut notes = Vec::new();
    for (slot, was) in &logged {
        // As printed: escaped (see `shown`).
        let name = shown(slot);
        let now = loaded.modules.iter().find(|m| &m.name == slot);
        let file = names
            .iter()
            .position(|n| n == slot)
            .map(|i| paths[i].display().to_string())
            .unwrap_or_default();
        match now {
            Some(m) if !was.unloaded && m.hash == was.module => {}
            Some(m) if !was.unloaded => {
                let seq = record("module.loaded", slot, &m.hash)?;
                notes.push(format!(
                    "module `{name}` is loaded from `{file}` ({}), but the proof log says \
                     `{name}` was serving {} ({}): this restart {}; to serve it again, copy \
                     `{}` to `{name}.xopm` (a module is named after its file) and start with \
                     --module {name}.xopm, or load it over HTTP (POST /v1/modules?name={}); \
                     recorded as `module.loaded` (record {seq})",
                    m.hash,
                    shown(&was.module),
                    was.said(),
                    if was.by.is_some() {
                        "undid that hot swap"
                    } else {
                        "replaced it"
                    },
                    kept(&was.module).display(),
                    app::percent_encode(slot),
                ));
            }
            Some(m) => {
                let seq = record("module.loaded", slot, &m.hash)?;
                notes.push(format!(
                    "module `{name}` is loaded from `{file}` ({}), but the proof log says \
                     `{name}` was unloaded ({}): this restart serves it again; to keep it \
                     unloaded, start without --module `{file}`, or unload it over HTTP \
                     (DELETE /v1/modules/{}); recorded as `module.loaded` (record {seq})",
                    m.hash,
                    was.said(),
                    app::percent_encode(slot),
                ));
            }
            None if was.unloaded => {}
            None => {
                let seq = record("module.unloaded", slot, &was.module)?;
                notes.push(format!(
                    "the proof log says module `{name}` was serving {} ({}), but it is not \
                     loaded now: its policies are not decided; to serve it again, copy `{}` to \
                     `{name}.xopm` (a module is named after its file) and add --module \
                     {name}.xopm, or load it over HTTP (POST /v1/modules?name={}); recorded \
                     as `module.unloaded` (record {seq})",
                    shown(&was.module),
                    was.said(),
                    kept(&was.module).display(),
                    app::percent_encode(slot),
                ));
            }
        }
    }
    Ok(notes)
}

/// The runtime's review sink in `xop serve`: the review queue, keeping with a case the
/// arguments the runtime gives, which it does only for an action the connectors carry out
/// (`Connectors::carries_out`: a QoD boost) and an approval then carries out ([`app`]'s
/// approve).
struct Sink(ReviewQueue);

impl ReviewSink for Sink {
    fn open_case(&self, case: &ReviewCase) -> Result<String, String> {
        self.0.open_case(case)
    }

    fn open_case_with_args(
        &self,
        case: &ReviewCase,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        self.0.open_case_with_args(case, args)
    }

    fn halted(&self) -> bool {
        ReviewSink::halted(&self.0)
    }
}

/// One warning per review role that a review rule of a loaded module names and that nobody in
/// `config` holds (with the first policy naming it): such a case can never be approved or
/// rejected, only fall back at its deadline. Said on stderr when `xop serve` starts, and in the
/// answer of a hot swap.
pub fn unheld_review_roles(
    modules: &ModuleSet,
    config: &Config,
    config_path: Option<&Path>,
) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for m in &modules.modules {
        for policy in &m.program().policies {
            for review in policy.rules.iter().filter_map(|r| r.review.as_ref()) {
                let role = review.role.as_str();
                if seen.contains(&role) || config.holds_role(role) {
                    continue;
                }
                seen.push(role);
                let whose = match config_path {
                    Some(p) => format!("nobody in `{}`", p.display()),
                    None => "nobody (no --config, so no reviewers)".to_string(),
                };
                out.push(format!(
                    "{whose} holds the review role `{role}`, which a review rule of policy `{}` \
                     (module `{}`) names: its cases can only fall back at their deadline; add \
                     a reviewer with roles = [\"{role}\"] to [[reviewers]] (`xop token new` \
                     makes the token)",
                    policy.qualified,
                    shown(&m.name)
                ));
            }
        }
    }
    out
}

/// Carries out the action of a review case the queue closed with an `allow` fallback by its
/// deadline or on recovery, when it is an action xop carries out (a QoD boost), as an approval
/// carries it out ([`Runtime::perform_approved`]), and says on stderr what came of it: one line
/// per such case (performed, not performed and why, or not proven). Other cases (a `deny`
/// fallback, an action the caller carries out once told `allow`) are left alone.
fn carry_out_fallback(rt: &Runtime, case: &xop_runtime::review::Case) {
    if case.verdict.as_deref() != Some("allow") || !xop_network::is_network_action(&case.action) {
        return;
    }
    let by = case.decided_by.as_deref().unwrap_or("?");
    let proof = case.proof.map_or("-".to_string(), |p| p.to_string());
    match rt.perform_approved(case) {
        Ok(Some(done)) => eprintln!(
            "xop serve: {} fell back to allow by {by} (proof record {proof}): {}",
            case.id,
            done.summary(&case.action)
        ),
        Ok(None) => {}
        Err(e) => eprintln!(
            "xop serve: warning: {} fell back to allow by {by} (proof record {proof}), but what \
             came of its action {} could not be proven: {e}; look the action up at the operator \
             before doing it again",
            case.id, case.action
        ),
    }
}

/// Stops the review timer and closes the proof log (a final signed checkpoint). Every
/// acknowledged record was durable before it was acknowledged; this only adds the checkpoint.
fn close(rt: Arc<Runtime>, queue: &ReviewQueue) -> Result<(), String> {
    queue.shutdown();
    rt.set_review_sink(None);
    let mut rt = rt;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Arc::try_unwrap(rt) {
            Ok(runtime) => return runtime.close().map_err(|e| e.to_string()),
            Err(shared) if Instant::now() < deadline => {
                rt = shared;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => {
                return Err(
                    "a decision still running after 10 s kept the proof log open; its records \
                     are durable, the next start signs the final checkpoint"
                        .into(),
                );
            }
        }
    }
}

/// Runs `xop serve` until ctrl-c or SIGTERM. Prints the address on standard output.
pub fn run(opts: &ServeOptions) -> Result<(), String> {
    let running = serve(opts)?;
    println!("xop serve: listening on http://{}", running.addr());
    running.wait_for_signal()
}
