//! The decision engines against their peers, on workload (b) of the performance issue: 200 deny
//! rules `deny "seg-i" when c.segment == "seg-i" and c.messages_7d >= i` and an `allow "ok"`.
//! XOP (JIT and interpreter), hand-written Rust, Cedar and regorus (bytecode VM and tree-walking
//! interpreter), each with its input prepared, then each from JSON text; and the peers' source
//! to ready-to-call time for 10, 100 and 1,000 such rules (`ready/cedar_*`, `ready/regorus_rvm_*`;
//! XOP's is `benches/ready.rs`, which needs no peer). Needs the `peers` feature:
//!
//! ```sh
//! cargo bench -p xop-bench --features peers --bench engines
//! ```
//!
//! `xop_jit` is the hot path: the input laid out once (`JitModule::bind`), each call writing the
//! verdict, reason bits and fired bits into a reused `Output`. `xop_jit_decision` also lays the
//! input out from values and builds the allocated `Decision` (reason and rule strings);
//! `json/xop_jit` reads the JSON text straight into the JIT's layout (`JsonReader`, reused
//! buffers) and runs: the same text each time, so after the first read the reader replays the
//! shape it learned (keys, order and blanks compared as bytes, only the values read); on
//! (a) that shape is compiled first (what the reader does by itself after 65,536 replays), and
//! `contact/json/xop_jit_replayed` is the replay without the code;
//! `contact/json/xop_jit_16_texts` reads 16 texts of that shape with other values in turn;
//! `contact/json/xop_jit_no_replay` is the reader with replaying off (its direct scanner reads
//! every input anew); `contact/json/xop_jit_serde` is the
//! same reader with the scanner off (its serde_json-driven path); `contact/json/xop_jit_values`
//! is the path before that reader: a `serde_json::Value` tree, `bind` to `Value`s,
//! `JitModule::bind`, run.
//!
//! Before timing, every engine is checked to agree with the others on 50 inputs (decision and
//! reasons). At the end a table of medians, with ratios to hand-written Rust, is printed from
//! criterion's estimates.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use xop_bench::contact;
use xop_bench::engines::peers::{Cedar, Rego, cedar_outcome, rego_outcome};
use xop_bench::engines::{
    self, Customer, Handwritten, Xop, inputs, outcome, xop_compile, xop_compile_policy, xop_source,
};
use xop_runtime::jit::{Bound, JsonReader};

/// Rules in the measured workload.
const RULES: usize = 200;

/// The two timed inputs: one denied by rule 150, one allowed (same segment, under its
/// threshold), so that every engine walks the same rules either way.
fn timed_inputs() -> [(&'static str, Customer); 2] {
    let c = |messages_7d| Customer {
        id: "c-42".to_string(),
        segment: "seg-150".to_string(),
        messages_7d,
    };
    [("deny", c(150)), ("allow", c(149))]
}

/// A JSON reader of `xop`'s policy, its direct scanner on or off.
fn reader(xop: &Xop, scan: bool) -> JsonReader {
    let mut r = xop
        .jit
        .json_reader(xop.policy)
        .expect("the policy is compiled");
    r.set_scan(scan);
    r
}

/// Asserts that the JSON reader's direct scanner reads `json` (the timed figures are of that
/// path) and that the serde path, alone, reads it without falling back.
fn assert_scanned(xop: &Xop, json: &str) {
    let mut into = Bound::empty();
    for scan in [true, false] {
        let mut r = reader(xop, scan);
        r.bind_json_into(&xop.jit, json, &mut into)
            .expect("reading the input");
        assert!(!r.fell_back(), "the JSON reader's fast path, {json}");
        assert_eq!(r.scanned(), scan, "the JSON reader's scanner, {json}");
    }
}

fn engines(c: &mut Criterion) {
    let xop = xop_compile(&xop_source(RULES));
    let hand = Handwritten::new(RULES);
    let cedar = Cedar::new(RULES);
    let mut rego = Rego::new(RULES);

    // Before timing: every engine agrees with every other on decision and reasons.
    let cases = inputs(RULES, 50);
    let mut json_input = xop.json_input();
    let denied = cases.iter().filter(|c| hand.decide(c).0).count();
    assert!((10..40).contains(&denied), "{denied} of 50 inputs denied");
    for c in cases.iter().chain(timed_inputs().iter().map(|(_, c)| c)) {
        let want = hand.decide(c);
        assert_eq!(hand.decide_indexed(c), want, "rust indexed, {c:?}");
        let json = c.json();
        let args = xop.args(c);
        assert_eq!(outcome(&xop.jit(&args)), want, "xop jit, {c:?}");
        let mut out = xop.output();
        xop.run(&xop.bound(c), &mut out);
        assert_eq!(xop.output_outcome(&out), want, "xop jit, bound, {c:?}");
        xop.run_json(&mut json_input, &json, &mut out);
        assert_eq!(xop.output_outcome(&out), want, "xop jit from json, {c:?}");
        assert!(
            !json_input.fell_back(),
            "the JSON reader's fast path, {c:?}"
        );
        assert_scanned(&xop, &json);
        assert_eq!(outcome(&xop.interp(&args)), want, "xop interpreter, {c:?}");
        assert_eq!(outcome(&xop.jit_json(&json)), want, "xop from json, {c:?}");
        let req = cedar.request(c);
        assert_eq!(cedar_outcome(&cedar.authorize(&req)), want, "cedar, {c:?}");
        assert_eq!(
            cedar_outcome(&cedar.authorize_json(&json)),
            want,
            "cedar from json, {c:?}"
        );
        let input = Rego::input(c);
        assert_eq!(rego_outcome(&rego.eval(&input)), want, "rvm, {c:?}");
        assert_eq!(
            rego_outcome(&rego.eval_json(&json)),
            want,
            "rvm from json, {c:?}"
        );
        assert_eq!(
            rego_outcome(&rego.eval_interp(&input)),
            want,
            "regorus interpreter, {c:?}"
        );
    }
    // The timed VM starts fresh (the checks above ran on it too; it is reused across calls
    // either way, as a server would).
    rego.fresh_vm();

    let mut g = c.benchmark_group("engines");
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    for (name, cust) in timed_inputs() {
        let args = xop.args(&cust);
        let req = cedar.request(&cust);
        let input = Rego::input(&cust);
        let json = cust.json();
        g.bench_function(format!("{name}/rust"), |b| {
            b.iter(|| hand.decide(black_box(&cust)))
        });
        g.bench_function(format!("{name}/rust_indexed"), |b| {
            b.iter(|| hand.decide_indexed(black_box(&cust)))
        });
        let bound = xop.bound(&cust);
        let mut out = xop.output();
        g.bench_function(format!("{name}/xop_jit"), |b| {
            b.iter(|| xop.run(black_box(&bound), &mut out))
        });
        g.bench_function(format!("{name}/xop_jit_decision"), |b| {
            b.iter(|| xop.jit(black_box(&args)))
        });
        g.bench_function(format!("{name}/xop_interp"), |b| {
            b.iter(|| xop.interp(black_box(&args)))
        });
        g.bench_function(format!("{name}/cedar"), |b| {
            b.iter(|| cedar.authorize(black_box(&req)))
        });
        g.bench_function(format!("{name}/regorus_rvm"), |b| {
            b.iter(|| rego.eval(black_box(&input)))
        });
        g.bench_function(format!("{name}/regorus_interp"), |b| {
            b.iter(|| rego.eval_interp(black_box(&input)))
        });
        // The text's shape compiled (what the reader does by itself after 65,536 replays).
        xop.run_json(&mut json_input, &json, &mut out);
        if !json_input.compiled() {
            assert!(json_input.compile_now(), "the timed input's shape compiles");
        }
        xop.run_json(&mut json_input, &json, &mut out);
        assert!(json_input.compiled(), "the compiled shape reads {json}");
        g.bench_function(format!("{name}/json/xop_jit"), |b| {
            b.iter(|| xop.run_json(&mut json_input, black_box(&json), &mut out))
        });
        g.bench_function(format!("{name}/json/cedar"), |b| {
            b.iter(|| cedar.authorize_json(black_box(&json)))
        });
        g.bench_function(format!("{name}/json/regorus_rvm"), |b| {
            b.iter(|| rego.eval_json(black_box(&json)))
        });
    }
    g.finish();

    contact_policy(c);

    // XOP's source to ready-to-call (`ready/xop_*`) is measured by `benches/ready.rs`, which
    // needs no peer; the peers' is measured here, and the table at the end prints both.
    ready_peers(c);
}

/// The peers' source to ready-to-call on workload (b)'s shape with 10, 100 and 1,000 rules:
/// Cedar parsing every policy into a policy set, regorus parsing the Rego module, compiling it
/// for the entry point and compiling that to RVM bytecode (what `Rego::with_source` does
/// before its first evaluation). The texts are generated before timing. XOP's figure does
/// more: type checking and the compliance proofs besides parsing and compiling.
fn ready_peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("ready");
    g.sample_size(10);
    for n in [10, 100, 1000] {
        let cedar = engines::cedar_policies(n);
        let rego = engines::rego_source(n);
        // Ready means deciding: each answers one input before timing.
        for cust in &inputs(n, 3) {
            let want = Handwritten::new(n).decide(cust);
            let ready = Cedar::with_policies(cedar.clone());
            assert_eq!(cedar_outcome(&ready.authorize(&ready.request(cust))), want);
            let mut ready = Rego::with_source(rego.clone());
            assert_eq!(rego_outcome(&ready.eval(&Rego::input(cust))), want);
        }
        g.bench_function(format!("cedar_{n}_rules"), |b| {
            b.iter(|| Cedar::with_policies(black_box(cedar.clone())))
        });
        g.bench_function(format!("regorus_rvm_{n}_rules"), |b| {
            b.iter(|| Rego::with_source(black_box(rego.clone())))
        });
    }
    g.finish();
}

/// Workload (a): the contact policy of DESIGN.md §1 (see `xop_bench::contact`).
fn contact_policy(c: &mut Criterion) {
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let cedar = Cedar::with_policies(contact::cedar_policies());
    let mut rego = Rego::with_source(contact::rego_source());
    // Rego's allow is `["ok"]` in `rego_outcome`; here the allow reason is "eligible".
    let rego_named = |o: (bool, Vec<String>)| {
        if o.0 {
            o
        } else {
            (false, vec!["eligible".to_string()])
        }
    };
    let cases = contact::cases(300);
    let mut out = xop.output();
    let mut json_input = xop.json_input();
    let mut allowed = 0;
    for k in cases.iter().chain(std::iter::once(&contact::timed_case())) {
        let (deny, bits) = contact::decide(k);
        let zone = xop_runtime::zone::Zone::get(&k.tz).expect("the case's zone");
        assert_eq!(contact::decide_zone_table(k, &zone), (deny, bits), "{k:?}");
        let want = (deny, contact::reason_names(bits));
        allowed += usize::from(!deny);
        let json = k.json();
        let (input, now) = xop.bound_json(&json);
        xop.run_at(&input, now, &mut out);
        assert_eq!(xop.output_outcome(&out), want, "xop jit, {json}");
        xop.run_json(&mut json_input, &json, &mut out);
        assert_eq!(xop.output_outcome(&out), want, "xop jit from json, {json}");
        assert!(
            !json_input.fell_back(),
            "the JSON reader's fast path, {json}"
        );
        assert_scanned(&xop, &json);
        assert_eq!(
            outcome(&xop.interp_json(&json)),
            want,
            "xop interpreter, {json}"
        );
        let peer = k.peer_json();
        let req = cedar.request_json(&peer);
        assert_eq!(cedar_outcome(&cedar.authorize(&req)), want, "cedar, {peer}");
        let input = regorus::Value::from_json_str(&peer).expect("rego input");
        assert_eq!(
            rego_named(rego_outcome(&rego.eval(&input))),
            want,
            "rvm, {peer}"
        );
    }
    assert!((20..280).contains(&allowed), "{allowed} of 301 allowed");
    rego.fresh_vm();

    let k = contact::timed_case();
    let json = k.json();
    let peer = k.peer_json();
    let (bound, now) = xop.bound_json(&json);
    let req = cedar.request_json(&peer);
    let rego_input = regorus::Value::from_json_str(&peer).expect("rego input");
    let mut g = c.benchmark_group("contact");
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("rust", |b| b.iter(|| contact::decide(black_box(&k))));
    let zone = xop_runtime::zone::Zone::get(&k.tz).expect("the timed case's zone");
    g.bench_function("rust_zone_table", |b| {
        b.iter(|| contact::decide_zone_table(black_box(&k), &zone))
    });
    g.bench_function("xop_jit", |b| {
        b.iter(|| xop.run_at(black_box(&bound), now, &mut out))
    });
    g.bench_function("json/xop_interp", |b| {
        b.iter(|| xop.interp_json(black_box(&json)))
    });
    g.bench_function("cedar", |b| b.iter(|| cedar.authorize(black_box(&req))));
    g.bench_function("regorus_rvm", |b| {
        b.iter(|| rego.eval(black_box(&rego_input)))
    });
    // The timed input read again and again: after the first read, the reader replays the
    // shape it learned (its keys, order and blanks) and reads only the values; after 65,536
    // replays it compiles that shape, and the code reads them (compiled at once here).
    let mut replay_input = xop.json_input();
    replay_input.set_compile(false);
    for input in [&mut json_input, &mut replay_input] {
        xop.run_json(input, &json, &mut out);
        xop.run_json(input, &json, &mut out);
        assert!(input.replayed(), "the reader replays the timed input");
    }
    assert!(json_input.compile_now(), "the timed input's shape compiles");
    xop.run_json(&mut json_input, &json, &mut out);
    assert!(
        json_input.compiled(),
        "the compiled shape reads the timed input"
    );
    g.bench_function("json/xop_jit", |b| {
        b.iter(|| xop.run_json(&mut json_input, black_box(&json), &mut out))
    });
    g.bench_function("json/xop_jit_replayed", |b| {
        b.iter(|| xop.run_json(&mut replay_input, black_box(&json), &mut out))
    });
    // Sixteen texts of that shape with other values, in turn: read by the code all the same.
    let texts: Vec<String> = contact::timed_shape_cases(16)
        .iter()
        .map(contact::Case::json)
        .collect();
    let mut verdicts = [0usize; 2];
    for (k, text) in contact::timed_shape_cases(16).iter().zip(&texts) {
        let (deny, bits) = contact::decide(k);
        xop.run_json(&mut json_input, text, &mut out);
        assert_eq!(
            xop.output_outcome(&out),
            (deny, contact::reason_names(bits)),
            "xop jit from json, {text}"
        );
        assert!(json_input.compiled(), "the compiled shape reads {text}");
        verdicts[usize::from(deny)] += 1;
    }
    assert!(
        verdicts[0] > 0 && verdicts[1] > 0,
        "{verdicts:?} allowed, denied"
    );
    let mut next = 0;
    g.bench_function("json/xop_jit_16_texts", |b| {
        b.iter(|| {
            next = (next + 1) % texts.len();
            xop.run_json(&mut json_input, black_box(&texts[next]), &mut out)
        })
    });
    // The reader without replaying: its direct scanner reads every input anew.
    let mut scan_input = xop.json_input();
    scan_input.set_replay(false);
    xop.run_json(&mut scan_input, &json, &mut out);
    assert!(!scan_input.replayed() && !scan_input.fell_back());
    g.bench_function("json/xop_jit_no_replay", |b| {
        b.iter(|| xop.run_json(&mut scan_input, black_box(&json), &mut out))
    });
    // The same reader with its direct scanner off: the serde_json-driven path.
    let mut serde_reader = reader(&xop, false);
    let mut serde_bound = Bound::empty();
    g.bench_function("json/xop_jit_serde", |b| {
        b.iter(|| {
            let now = serde_reader
                .bind_json_into(&xop.jit, black_box(&json), &mut serde_bound)
                .expect("reading the input");
            xop.run_at(&serde_bound, now.unwrap_or(0), &mut out)
        })
    });
    // The floor for any reader built on serde_json: scanning the text, every value ignored.
    g.bench_function("json/serde_json_ignored", |b| {
        b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(black_box(&json)).is_ok())
    });
    g.bench_function("json/xop_jit_values", |b| {
        b.iter(|| xop.run_json_values(black_box(&json), &mut out))
    });
    g.bench_function("json/cedar", |b| {
        b.iter(|| cedar.authorize_json(black_box(&peer)))
    });
    g.bench_function("json/regorus_rvm", |b| {
        b.iter(|| rego.eval_json(black_box(&peer)))
    });
    g.finish();
}

criterion_group!(benches, engines);

/// Criterion's output folder: `target/criterion`, next to the bench executable's profile folder.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    // target/release/deps/engines-xxxx
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// The median of one benchmark from this run's estimates, in nanoseconds.
fn median_ns(dir: &std::path::Path, id: &str) -> Option<f64> {
    // Criterion keeps `group/function`, with any `/` in the function's id turned into `_`.
    let (group, function) = id.split_once('/')?;
    let path = dir.join(group).join(function.replace('/', "_"));
    let text = std::fs::read_to_string(path.join("new").join("estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// Prints the table of medians and ratios to hand-written Rust.
fn summary() {
    let Some(dir) = criterion_dir() else { return };
    println!("\nSummary (medians; ratio to hand-written Rust on the same input):\n");
    println!("| benchmark | median | × rust |");
    println!("| --- | ---: | ---: |");
    for (name, _) in timed_inputs() {
        let rust = median_ns(&dir, &format!("engines/{name}/rust"));
        for e in [
            "rust",
            "rust_indexed",
            "xop_jit",
            "xop_jit_decision",
            "xop_interp",
            "cedar",
            "regorus_rvm",
            "regorus_interp",
            "json/xop_jit",
            "json/cedar",
            "json/regorus_rvm",
        ] {
            let id = format!("engines/{name}/{e}");
            let Some(m) = median_ns(&dir, &id) else {
                continue;
            };
            let ratio = rust.map_or("—".to_string(), |r| format!("{:.1}", m / r));
            println!("| `{id}` | {} | {ratio} |", human(m));
        }
    }
    let rust = median_ns(&dir, "contact/rust");
    for e in [
        "rust",
        "xop_jit",
        "cedar",
        "regorus_rvm",
        "json/xop_interp",
        "json/xop_jit",
        "json/xop_jit_replayed",
        "json/xop_jit_16_texts",
        "json/xop_jit_no_replay",
        "json/xop_jit_serde",
        "json/xop_jit_values",
        "json/serde_json_ignored",
        "json/cedar",
        "json/regorus_rvm",
    ] {
        let id = format!("contact/{e}");
        let Some(m) = median_ns(&dir, &id) else {
            continue;
        };
        let ratio = rust.map_or("—".to_string(), |r| format!("{:.1}", m / r));
        println!("| `{id}` | {} | {ratio} |", human(m));
    }
    // Source to ready-to-call: the peers' ratio column is to XOP's figure for as many rules.
    for n in [10, 100, 1000] {
        let xop = median_ns(&dir, &format!("ready/xop_{n}_rules"));
        for e in ["xop", "cedar", "regorus_rvm"] {
            let id = format!("ready/{e}_{n}_rules");
            let Some(m) = median_ns(&dir, &id) else {
                continue;
            };
            let ratio = xop.map_or("—".to_string(), |x| format!("{:.2} × xop", m / x));
            println!("| `{id}` | {} | {ratio} |", human(m));
        }
    }
    for id in [
        "ready/xop_1000_rules/check",
        "ready/xop_1000_rules/lower",
        "ready/xop_1000_rules/jit",
    ] {
        if let Some(m) = median_ns(&dir, id) {
            println!("| `{id}` | {} | |", human(m));
        }
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
