//! Workload generators shared by the benchmarks.

pub mod contact;
pub mod engines;

/// The benchmarks run on the allocator the `xop` binary ships with (see `cli/src/main.rs`),
/// so that they measure what it runs; the peer engines, in the same process, get it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;

/// A synthetic project of about `lines` lines: `files` modules, each with a customer record,
/// actions, signals and policies whose rules read fields, call the stdlib and narrow signals.
/// Returns `(path, text)` pairs; the project checks clean.
pub fn project(lines: usize, files: usize) -> Vec<(String, String)> {
    let per_file = lines / files.max(1);
    (0..files)
        .map(|f| {
            let mut s = String::new();
            let _ = writeln!(s, "module bench.m{f}\n");
            s.push_str("use std.consent.{consent, Consent}\nuse std.time.local_hour\nuse std.channel.*\n");
            s.push_str("use std.camara.{SimSwap, swapped_within}\n\n");
            let _ = writeln!(s, "purpose p{f}\nrole r{f}\n");
            s.push_str("record Customer {\n  id: Id\n  messages_7d: Int\n  risk_score: Int\n  tz: Tz\n");
            s.push_str("  consents: List<Consent>\n  msisdn: Text\n  nickname: Text?\n}\n\n");
            s.push_str("signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m\n\n");
            let mut n = 0;
            while s.lines().count() < per_file {
                let _ = writeln!(
                    s,
                    "action a{n}(to: Customer, channel: Channel, note: Text) purpose p{f} risk minimal\n"
                );
                let _ = writeln!(s, "policy g{n} for a{n}(to: c, channel: ch) at now {{");
                for r in 0..8 {
                    let _ = writeln!(
                        s,
                        "  deny \"cap-{r}\" when c.messages_7d >= {r} and c.risk_score > {n} or c.nickname is present and c.nickname == \"x{r}\""
                    );
                }
                s.push_str("  deny \"no-consent\" unless consent(c, p");
                let _ = writeln!(s, "{f}, ch)");
                s.push_str("  deny \"quiet\" unless local_hour(now, c.tz) in 8..21\n");
                let _ = writeln!(
                    s,
                    "  review \"swap\" by role r{f} within 15m else deny when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)"
                );
                s.push_str("  allow \"ok\"\n}\n\n");
                n += 1;
            }
            (format!("bench/m{f}.xop"), s)
        })
        .collect()
}
