//! Durable, proven decisions per second, in process: the runtime deciding the ACME `contact`
//! policy (the bundled example) with every decision appended to the proof log and acknowledged
//! only once its batch is synced (group commit). Many concurrent deciders keep the batches
//! full, as a server's request handlers would.
//!
//! Each iteration is one decision; criterion's time per iteration is the inverse of the
//! throughput. Pin to one core with `taskset -c 0 cargo bench -p xop-bench --bench proof`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use xop_compiler::db::Workspace;
use xop_runtime::bind::Bound;
use xop_runtime::engine::{Input, Runtime};
use xop_runtime::ir::Verdict;
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::{LogConfig, ProofLog};

/// Concurrent deciders: one sync takes about 5 ms on the reference machine, so a batch needs
/// about a thousand records in flight to reach 200,000 decisions per second.
const DECIDERS: usize = 1024;

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
/// timed).
struct Pool {
    state: Arc<(Mutex<Work>, Condvar)>,
}

#[derive(Default)]
struct Work {
    /// Decisions still to start in the current round.
    todo: u64,
    /// Decisions finished in the current round.
    done: u64,
}

impl Pool {
    fn new(rt: Arc<Runtime>, bound: Arc<Bound>, logged: bool) -> Pool {
        let state = Arc::new((Mutex::new(Work::default()), Condvar::new()));
        for _ in 0..DECIDERS {
            let (rt, bound, state) = (Arc::clone(&rt), Arc::clone(&bound), Arc::clone(&state));
            std::thread::spawn(move || {
                let (lock, cv) = &*state;
                loop {
                    {
                        let mut w = lock.lock().unwrap();
                        while w.todo == 0 {
                            w = cv.wait(w).unwrap();
                        }
                        w.todo -= 1;
                    }
                    let o = rt.decide("contact", Input::Bound(&bound)).unwrap();
                    assert_eq!(o.seq.is_some(), logged);
                    let mut w = lock.lock().unwrap();
                    w.done += 1;
                    if w.todo == 0 {
                        cv.notify_all();
                    }
                }
            });
        }
        Pool { state }
    }

    /// `n` decisions over the pool; the wall time they take.
    fn run(&self, n: u64) -> Duration {
        let (lock, cv) = &*self.state;
        let start = Instant::now();
        {
            let mut w = lock.lock().unwrap();
            w.todo = n;
            w.done = 0;
            cv.notify_all();
        }
        let mut w = lock.lock().unwrap();
        while w.done < n {
            w = cv.wait(w).unwrap();
        }
        start.elapsed()
    }
}

fn bench(c: &mut Criterion) {
    let module = acme_module();
    let dir = tempfile::tempdir().unwrap();
    let log = ProofLog::open(dir.path(), LogConfig::default()).unwrap();
    let rt = Arc::new(Runtime::with_log(log));
    rt.load_bytes("acme", &module, None).unwrap();
    let text = input();
    let set = rt.modules();
    let (m, index) = set.policy("contact").unwrap();
    let bound = Arc::new(xop_runtime::bind::bind_json(m.program(), index, &text).unwrap());
    drop(set);
    // Before timing: the decision is the documented one, and it is proven.
    let o = rt.decide("contact", Input::Json(&text)).unwrap();
    assert_eq!(o.verdict, Verdict::Deny);
    assert_eq!(o.reasons, ["in-service-interaction"]);
    assert_eq!(o.seq, Some(0));

    let mut g = c.benchmark_group("proof");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let pool = Pool::new(Arc::clone(&rt), Arc::clone(&bound), true);
    g.bench_function("durable_decisions_bound", |b| {
        b.iter_custom(|iters| pool.run(iters))
    });
    // Without the log, for comparison: what the proof costs.
    let bare = Arc::new(Runtime::new());
    bare.load_bytes("acme", &module, None).unwrap();
    let bare_pool = Pool::new(bare, Arc::clone(&bound), false);
    g.bench_function("unlogged_decisions_bound", |b| {
        b.iter_custom(|iters| bare_pool.run(iters))
    });
    g.finish();
    let size = rt.log().unwrap().size();
    eprintln!("proof log: {size} records written");
}

criterion_group!(benches, bench);
criterion_main!(benches);
