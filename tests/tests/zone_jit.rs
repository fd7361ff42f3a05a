//! The JIT reads a zone's offset table inline (`local_hour`, `day_of_week`): it must answer
//! exactly what `Zone::field` and the interpreter answer, around every transition of zones with
//! unusual rules (30-minute DST, +05:45, +14 after skipping a day, buckets the table leaves to
//! jiff), at the table's edges and outside it (where the host call answers, errors included),
//! from zones bound as values, read from JSON, and written as constants.

use jiff::Timestamp;
use xop_runtime::interp::{self, Decision, NoSignals};
use xop_runtime::ir::Program;
use xop_runtime::jit::{self, Bound, JitModule};
use xop_runtime::value::Value;
use xop_runtime::zone::{Field, Zone};

/// Zones on both sides of UTC, with half-hour and 45-minute offsets, Lord Howe's 30-minute
/// DST, Kiritimati and Apia (which skipped a day), Casablanca (buckets with two transitions,
/// answered by jiff), and UTC.
const ZONES: [&str; 10] = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "UTC",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "America/St_Johns",
    "Africa/Casablanca",
    "Etc/GMT+12",
];

/// The zone written as a constant in policy `fixed`.
const FIXED: &str = "Asia/Kathmandu";

/// The first second the table does not cover (2106-02-07T06:28:16Z).
const TABLE_END_MS: i64 = (1 << 32) * 1000;

/// A policy per engine path: `clock` on a zone from the input, `fixed` on a constant one. Each
/// has one rule per hour and per weekday, so the reasons name both fields.
fn source() -> String {
    let mut s = String::from(
        "module t.zones\n\nuse std.consent.service\nuse std.time.{local_hour, day_of_week}\n\n\
         action probe(tz: Tz) purpose service risk minimal\n",
    );
    for (name, zone) in [("clock", "tz".to_string()), ("fixed", format!("{FIXED:?}"))] {
        s.push_str(&format!("\npolicy {name} for probe(tz: tz) at now {{\n"));
        for h in 0..24 {
            s.push_str(&format!(
                "  deny \"h{h}\" when local_hour(now, {zone}) == {h}\n"
            ));
        }
        for d in 1..=7 {
            s.push_str(&format!(
                "  deny \"d{d}\" when day_of_week(now, {zone}) == {d}\n"
            ));
        }
        s.push_str("  allow \"ok\"\n}\n");
    }
    // A decision's code looks zones up too (ranked by both fields, guarded by both policies).
    s.push_str(
        "\ndecision zoned(tz: Tz) at now {\n  propose probe(tz: tz)\n      \
         rank by local_hour(now, tz) * 10 + day_of_week(now, tz)\n}\n",
    );
    s
}

fn program() -> Program {
    xop_tests::lower_source("t/zones.xop", &source())
}

/// The hour and weekday a decision's reasons name, if it did not fail.
fn fields(d: &Decision) -> Option<(i64, i64)> {
    if d.error.is_some() {
        return None;
    }
    let find = |p: char| {
        d.reasons
            .iter()
            .find_map(|r| r.strip_prefix(p).and_then(|n| n.parse::<i64>().ok()))
    };
    Some((find('h')?, find('d')?))
}

struct Engines {
    program: Program,
    jit: JitModule,
    clock: usize,
    fixed: usize,
}

impl Engines {
    fn new() -> Engines {
        let program = program();
        let jit = jit::compile(&program);
        let clock = program.policy("clock").expect("clock").0;
        let fixed = program.policy("fixed").expect("fixed").0;
        for p in [clock, fixed] {
            assert_eq!(jit.unsupported(p), None, "the JIT compiles the policies");
        }
        Engines {
            program,
            jit,
            clock,
            fixed,
        }
    }

    /// Checks policy `policy` on zone `name` at `ms`: the JIT's decision equals the
    /// interpreter's, and both name `zone.field` (or fail where it has no answer).
    fn check(&self, policy: usize, name: &str, zone: Option<&Zone>, ms: i64) {
        let args = [Value::Tz(name.into())];
        let jit = self.jit.decide(policy, &args, ms).expect("compiled");
        let interp = interp::decide(&self.program, policy, &args, ms, &NoSignals);
        assert_eq!(jit, interp, "{name} at {ms} ms");
        if let Some(zone) = zone {
            let want = zone
                .field(ms, Field::Hour)
                .zip(zone.field(ms, Field::Weekday));
            assert_eq!(fields(&jit), want, "{name} at {ms} ms: {jit:?}");
        }
    }
}

/// A small deterministic generator (splitmix64), so that a failure names a reproducible
/// instant.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Instants worth checking in `zone`: around each of its transitions, random ones over the
/// table's range and far beyond it, and the edges of the table and of the range of times.
fn instants(zone: &Zone, state: &mut u64) -> Vec<i64> {
    let mut out = Vec::new();
    for t in zone
        .tz()
        .following(Timestamp::UNIX_EPOCH)
        .take_while(|t| t.timestamp().as_millisecond() < TABLE_END_MS + 86_400_000)
    {
        let ms = t.timestamp().as_millisecond();
        for d in [-3_600_001, -1_001, -1_000, -1, 0, 1, 999, 1_000, 3_599_999] {
            out.push(ms + d);
        }
    }
    for _ in 0..300 {
        let r = next(state);
        out.push((r % TABLE_END_MS as u64) as i64);
        // 1870 to 2270.
        let span = 400 * 366 * 86_400_000;
        out.push((r % span) as i64 - 100 * 366 * 86_400_000);
    }
    let (min, max) = (
        Timestamp::MIN.as_millisecond(),
        Timestamp::MAX.as_millisecond(),
    );
    out.extend([
        0,
        -1,
        -1_000,
        -1_001,
        999,
        1_000,
        TABLE_END_MS - 1_001,
        TABLE_END_MS - 1,
        TABLE_END_MS,
        TABLE_END_MS + 999,
        min,
        min - 1,
        max,
        max + 1,
        i64::MIN,
        i64::MAX,
    ]);
    out
}

#[test]
fn inline_lookup_agrees_with_the_zone_and_the_interpreter() {
    let e = Engines::new();
    let mut state = 11;
    let mut checked = 0;
    for name in ZONES {
        let zone = Zone::get(name).expect("a zone");
        for ms in instants(&zone, &mut state) {
            e.check(e.clock, name, Some(&zone), ms);
            checked += 1;
        }
    }
    assert!(checked > 5_000, "only {checked} instants");
}

#[test]
fn decisions_look_zones_up_inline_too() {
    let e = Engines::new();
    let (decision, _) = e
        .program
        .decisions
        .iter()
        .enumerate()
        .find(|(_, d)| d.name == "zoned")
        .expect("the decision");
    let mut state = 14;
    for name in ["Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Atlantis"] {
        let zone = Zone::get(name).ok();
        let instants = zone.as_ref().map_or_else(
            || vec![0, 1_764_061_200_000, i64::MAX],
            |z| instants(z, &mut state),
        );
        let args = [Value::Tz(name.into())];
        for ms in instants {
            let jit = e.jit.decide_decision(decision, &args, ms);
            let interp = interp::rank(&e.program, decision, &args, ms, &NoSignals);
            assert_eq!(jit, Some(interp), "{name} at {ms} ms");
        }
    }
}

#[test]
fn a_constant_zone_is_read_inline_too() {
    let e = Engines::new();
    let zone = Zone::get(FIXED).expect("a zone");
    let mut state = 12;
    // The input's zone is another one (or none at all): the constant's table answers.
    for ms in instants(&zone, &mut state) {
        e.check(e.fixed, "Europe/Paris", Some(&zone), ms);
    }
}

#[test]
fn outside_the_table_and_unknown_zones_fail_as_before() {
    let e = Engines::new();
    let args = [Value::Tz("Europe/Paris".into())];
    let d = e.jit.decide(e.clock, &args, i64::MAX).expect("compiled");
    let error = d.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("outside the supported range of times"),
        "{d:?}"
    );
    // A name that is no zone: whatever the interpreter says (bad input), the JIT says too.
    for ms in [0, 1_764_061_200_000, -1, TABLE_END_MS] {
        e.check(e.clock, "Europe/Atlantis", None, ms);
    }
}

#[test]
fn zones_read_from_json_are_looked_up_inline() {
    let e = Engines::new();
    let mut reader = e.jit.json_reader(e.clock).expect("a reader");
    let mut bound = Bound::empty();
    let mut out = e.jit.output(e.clock);
    let mut state = 13;
    for name in ZONES {
        let zone = Zone::get(name).expect("a zone");
        for ms in instants(&zone, &mut state) {
            let Ok(t) = Timestamp::from_millisecond(ms) else {
                continue;
            };
            let json = format!(r#"{{"tz": {name:?}, "now": "{t}"}}"#);
            if t.to_string().starts_with(['+', '-']) {
                // Years past 9999 or before 0: jiff writes them, RFC 3339 has no such form.
                let read = reader.bind_json_into(&e.jit, &json, &mut bound);
                assert!(read.is_err(), "{json}");
                continue;
            }
            let now = reader
                .bind_json_into(&e.jit, &json, &mut bound)
                .expect("reading the input")
                .expect("a time");
            assert_eq!(now, ms, "{json}");
            e.jit.run(&bound, now, &mut out).expect("runs");
            let d = e.jit.decision(&bound, &out);
            let args = [Value::Tz(name.into())];
            let want = interp::decide(&e.program, e.clock, &args, ms, &NoSignals);
            assert_eq!(d, want, "{json}");
        }
    }
}
