//! A few counters and one histogram, exposed in the Prometheus text format (hand-written: a
//! dozen atomics do not need a metrics library).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the decision latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    allow: AtomicU64,
    deny: AtomicU64,
    review: AtomicU64,
    refused: AtomicU64,
    reviews_decided: AtomicU64,
    swaps: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Counts a decision with its verdict keyword and how long it took (HTTP in to out).
    pub fn decision(&self, verdict: &str, took: Duration) {
        match verdict {
            "allow" => &self.allow,
            "review" => &self.review,
            _ => &self.deny,
        }
        .fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts a request refused with a 4xx or 5xx.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a review approved or rejected over HTTP.
    pub fn review_decided(&self) {
        self.reviews_decided.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a module hot swap (a load or an unload over HTTP).
    pub fn swap(&self) {
        self.swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `log_size` is the proof log's record count.
    pub fn render(&self, log_size: u64, halted: bool, log_failed: bool) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP xop_decisions_total Decisions answered, by verdict.\n\
             # TYPE xop_decisions_total counter\n\
             xop_decisions_total{{verdict=\"allow\"}} {}\n\
             xop_decisions_total{{verdict=\"deny\"}} {}\n\
             xop_decisions_total{{verdict=\"review\"}} {}",
            g(&self.allow),
            g(&self.deny),
            g(&self.review)
        );
        let _ = writeln!(
            s,
            "# HELP xop_requests_refused_total Requests answered with an error status.\n\
             # TYPE xop_requests_refused_total counter\n\
             xop_requests_refused_total {}\n\
             # HELP xop_reviews_decided_total Review cases approved or rejected over HTTP.\n\
             # TYPE xop_reviews_decided_total counter\n\
             xop_reviews_decided_total {}\n\
             # HELP xop_module_swaps_total Modules hot-swapped (loaded or unloaded over HTTP).\n\
             # TYPE xop_module_swaps_total counter\n\
             xop_module_swaps_total {}\n\
             # HELP xop_log_records Records in the proof log.\n\
             # TYPE xop_log_records gauge\n\
             xop_log_records {log_size}\n\
             # HELP xop_halted Whether the halt switch is on.\n\
             # TYPE xop_halted gauge\n\
             xop_halted {}\n\
             # HELP xop_log_failed Whether the proof log stopped writing (nothing is acknowledged \
             until a restart).\n\
             # TYPE xop_log_failed gauge\n\
             xop_log_failed {}",
            g(&self.refused),
            g(&self.reviews_decided),
            g(&self.swaps),
            u8::from(halted),
            u8::from(log_failed)
        );
        let _ = writeln!(
            s,
            "# HELP xop_decision_seconds Decision latency, request in to response out (proof \
             record durable).\n# TYPE xop_decision_seconds histogram"
        );
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(s, "xop_decision_seconds_bucket{{le=\"{bound}\"}} {}", g(b));
        }
        let count = g(&self.latency_count);
        let _ = writeln!(
            s,
            "xop_decision_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             xop_decision_seconds_sum {}\n\
             xop_decision_seconds_count {count}",
            g(&self.latency_sum_us) as f64 / 1e6
        );
        s
    }
}
