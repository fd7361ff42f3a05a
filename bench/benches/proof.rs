//! Durable, proven decisions per second, in process: the runtime deciding the ACME `contact`
//! policy (the bundled example) with every decision appended to the proof log and acknowledged
//! only once its batch is synced (group commit). Many concurrent deciders keep the batches
//! full, as a server's request handlers would.
//!
//! Each iteration is one decision; criterion's time per iteration is the inverse of the
//! throughput. Measured with a thread per decision in flight (`Runtime::decide`, blocking):
//! the runtime as `xop serve` runs it (the policy compiled by the JIT), on the interpreter
//! only, and without a log (what the proof costs); then with one thread and many decisions in
//! flight, none of them holding a thread while its record is synced: `Runtime::decide_many`
//! (one wait per batch) and `Runtime::submit` futures on a one-thread tokio runtime (as the
//! server's handlers await them). Pin to one core with
//! `taskset -c 0 cargo bench -p xop-bench --bench proof`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
// Links the allocator `xop serve` runs on (mimalloc, set by `xop_bench`), which nothing else
// here would pull in.
use xop_bench as _;
use xop_compiler::db::Workspace;
use xop_runtime::bind::Bound;
use xop_runtime::engine::{Engine, Input, Options, Outcome, Request, Runtime};
use xop_runtime::ir::Verdict;
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::{LogConfig, ProofLog};

/// Concurrent deciders: one sync takes about 5 ms on the reference machine, so a batch needs
/// about a thousand records in flight to reach 200,000 decisions per second.
const DECIDERS: usize = 1024;

/// Decisions in flight at once from one thread: `decide_many`'s batch, or submitted futures.
const IN_FLIGHT: usize = 4096;

fn acme_module() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme");
    let mut ws = Workspace::new();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "xop").then(|| {
                let name = format!("acme/{}", p.file_name().unwrap().to_string_lossy());
                (name, std::fs::read_to_string(&p).unwrap())
            })
        })
        .collect();
    files.sort();
    for (name, text) in &files {
        ws.set_file(name, text.as_str());
    }
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowering");
    Module {
        program,
        source_hash: hash_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_bytes()))),
        sources: files.into_iter().map(|(n, _)| n).collect(),
    }
    .to_bytes(None)
}

fn input() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme/inputs/offer-on-hold.json"),
    )
    .unwrap()
}

/// [`DECIDERS`] threads, started once, that decide on demand (so that thread start-up is not
/// timed). Work is handed out through atomics, not a shared lock: a lock taken twice per
/// decision by a thousand threads would be measured as much as the runtime is.
struct Pool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    /// Decisions still to claim in the current round (goes below zero once all are claimed).
    todo: AtomicI64,
    /// Decisions finished in the current round.
    done: AtomicU64,
    /// Decisions in the current round.
    target: AtomicU64,
    /// The current round's number; deciders wait on `start` for the next one.
    round: Mutex<u64>,
    start: Condvar,
    /// Set by the decider finishing a round's last decision.
    finished: Mutex<bool>,
    finish: Condvar,
}

impl Pool {
    fn new(rt: Arc<Runtime>, bound: Arc<Bound>, logged: bool) -> Pool {
        let shared = Arc::new(PoolShared {
            todo: AtomicI64::new(0),
            done: AtomicU64::new(0),
            target: AtomicU64::new(0),
            round: Mutex::new(0),
            start: Condvar::new(),
            finished: Mutex::new(false),
            finish: Condvar::new(),
        });
        for _ in 0..DECIDERS {
            let (rt, bound, sh) = (Arc::clone(&rt), Arc::clone(&bound), Arc::clone(&shared));
            std::thread::spawn(move || {
                let mut seen = 0;
                loop {
                    {
                        let mut r = sh.round.lock().unwrap();
                        while *r == seen {
                            r = sh.start.wait(r).unwrap();
                        }
                        seen = *r;
                    }
                    while sh.todo.fetch_sub(1, Ordering::AcqRel) > 0 {
                        let o = rt.decide("contact", Input::Bound(&bound)).unwrap();
                        assert_eq!(o.seq.is_some(), logged);
                        let done = sh.done.fetch_add(1, Ordering::AcqRel) + 1;
                        if done == sh.target.load(Ordering::Acquire) {
                            *sh.finished.lock().unwrap() = true;
                            sh.finish.notify_one();
                        }
                    }
                }
            });
        }
        Pool { shared }
    }

    /// `n` decisions over the pool; the wall time they take.
    fn run(&self, n: u64) -> Duration {
        let sh = &*self.shared;
        *sh.finished.lock().unwrap() = false;
        sh.target.store(n, Ordering::Release);
        sh.done.store(0, Ordering::Release);
        let start = Instant::now();
        sh.todo.store(n as i64, Ordering::Release);
        {
            let mut r = sh.round.lock().unwrap();
            *r += 1;
            sh.start.notify_all();
        }
        let mut f = sh.finished.lock().unwrap();
        while !*f {
            f = sh.finish.wait(f).unwrap();
        }
        start.elapsed()
    }
}

/// A runtime deciding the ACME module, proving in a log in `dir` (none without), on the JIT or
/// only on the interpreter.
fn runtime(module: &[u8], dir: Option<&Path>, jit: bool) -> Arc<Runtime> {
    let rt = match dir {
        Some(d) => Runtime::with_log(ProofLog::open(d, LogConfig::default()).unwrap()),
        None => Runtime::new(),
    };
    rt.set_jit(jit);
    rt.load_bytes("acme", module, None).unwrap();
    let set = rt.modules();
    let (m, index) = set.policy("contact").unwrap();
    let engine = m.engine(index);
    assert_eq!(engine == Engine::Jit, jit, "{:?}", m.jit_unsupported(index));
    drop(set);
    Arc::new(rt)
}

/// `n` decisions by this thread, [`IN_FLIGHT`] at a time with `decide_many`; the wall time.
fn batched(rt: &Runtime, bound: &Bound, n: u64) -> Duration {
    let batch = vec![
        Request {
            policy: "contact",
            input: Input::Bound(bound),
            options: Options::default(),
        };
        IN_FLIGHT
    ];
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(IN_FLIGHT as u64);
        for r in rt.decide_many(&batch[..k as usize]) {
            assert!(r.unwrap().seq.is_some());
        }
        left -= k;
    }
    start.elapsed()
}

/// `n` decisions as tasks on a one-thread tokio runtime, each submitting its decision and
/// awaiting it, [`IN_FLIGHT`] at a time (a new one starts as the oldest is answered); the
/// wall time.
fn submitted(
    tokio: &tokio::runtime::Runtime,
    rt: &Arc<Runtime>,
    bound: &Arc<Bound>,
    n: u64,
) -> Duration {
    tokio.block_on(async {
        let start = Instant::now();
        let mut flight: VecDeque<tokio::task::JoinHandle<Outcome>> =
            VecDeque::with_capacity(IN_FLIGHT);
        for _ in 0..n {
            if flight.len() == IN_FLIGHT
                && let Some(oldest) = flight.pop_front()
            {
                let o = oldest.await.unwrap();
                assert!(o.seq.is_some());
            }
            let (rt, bound) = (Arc::clone(rt), Arc::clone(bound));
            flight.push_back(tokio::spawn(async move {
                let pending = rt
                    .submit("contact", Input::Bound(&bound), Options::default())
                    .unwrap();
                rt.finish(pending.await.unwrap()).unwrap()
            }));
        }
        for t in flight {
            assert!(t.await.unwrap().seq.is_some());
        }
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let module = acme_module();
    let text = input();
    let mut g = c.benchmark_group("proof");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    // The runtime as `xop serve` runs it (the policy on the JIT), then on the interpreter
    // only, then without the log (what the proof costs).
    for (name, jit, logged) in [
        ("durable_decisions_bound", true, true),
        ("durable_decisions_bound_interpreter", false, true),
        ("unlogged_decisions_bound", true, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(&module, logged.then(|| dir.path()), jit);
        let set = rt.modules();
        let (m, index) = set.policy("contact").unwrap();
        let bound = Arc::new(xop_runtime::bind::bind_json(m.program(), index, &text).unwrap());
        drop(set);
        // Before timing: the decision is the documented one, and it is proven.
        let o = rt.decide("contact", Input::Json(&text)).unwrap();
        assert_eq!(o.verdict, Verdict::Deny);
        assert_eq!(o.reasons, ["in-service-interaction"]);
        assert_eq!(o.seq, logged.then_some(0));
        let pool = Pool::new(Arc::clone(&rt), bound, logged);
        g.bench_function(name, |b| b.iter_custom(|iters| pool.run(iters)));
        if let Some(log) = rt.log() {
            eprintln!("{name}: {} records written", log.size());
        }
    }
    // One thread, many decisions in flight.
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(&module, Some(dir.path()), true);
    let set = rt.modules();
    let (m, index) = set.policy("contact").unwrap();
    let bound = Arc::new(xop_runtime::bind::bind_json(m.program(), index, &text).unwrap());
    drop(set);
    g.bench_function("durable_decisions_batched", |b| {
        b.iter_custom(|iters| batched(&rt, &bound, iters))
    });
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("durable_decisions_async", |b| {
        b.iter_custom(|iters| submitted(&tokio, &rt, &bound, iters))
    });
    if let Some(log) = rt.log() {
        eprintln!("batched and async: {} records written", log.size());
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
