//! The XOP network connectors: the CAMARA APIs (SIM Swap 2.1.0, Quality on Demand 1.1.0,
//! Device Roaming Status 1.0.0, Device Reachability Status 1.0.0) as the `std.camara` signal
//! sources and actions. A crate of its own so that the embeddable runtime stays free of HTTP.
//!
//! - [`Camara`] holds the configuration (`[camara]` in `xop.toml`, [`CamaraConfig`]), the
//!   HTTP agent, the OAuth2 token (client-credentials grant, reused until it expires) and the
//!   cache of signal values. It is `Send + Sync`: share one per process.
//! - Every operation follows its OpenAPI contract (request bodies, `x-correlator`, bearer
//!   token, error bodies with `status`/`code`/`message`) and returns an [`Exchange`]: the
//!   typed answer or a [`CallError`], and the [`NetworkCall`]s made.
//! - [`NetworkSignals`] is the interpreter's [`Signals`](xop_runtime::interp::Signals) for one
//!   decision: a signal declared `from camara.sim_swap(…) max_age 5m` is fetched when a rule
//!   reads it, reused while younger than its `max_age`, and absent when the call fails or
//!   times out; each read leaves a [`SignalOutcome`] (the reason, the correlators) for the
//!   proof record. [`Camara::decide`] returns them next to the decision.
//! - [`ActionExecutor`] carries out an allowed `create_qos_session` / `delete_qos_session`
//!   and returns an [`ActionRecord`] (the session id or the failure, with the correlator). A
//!   session created `UNAVAILABLE` or with another QoS profile is not done: it is deleted.
//!
//! Retries: at most `max_attempts` per call, with doubling backoff, of what may pass: no answer,
//! 429 (but not `QUOTA_EXCEEDED`), 502, 503, 504; 500, 501 and other 4xx are final. Reads (also
//! those CAMARA makes with POST) and DELETE are retried on all of these; creating or extending a
//! QoS session only when the request surely was not processed (no connection, 429), since the
//! contract has no idempotency key. A 401 with a cached token fetches a new token and tries once
//! more, beyond `max_attempts` (nothing was done: it is not a repeat).
//!
//! Deadlines: the reads of a decision made with one ([`Camara::signals_by_deadline`], which the
//! runtime uses for a decision with `Options::deadline`) start no request after it, have a request
//! in flight cut off at it (the token request too), and wait before no retry whose wait would pass
//! it: the signal is then absent, its reason saying that the decision's deadline passed before the
//! operation could be read ([`CallError::DeadlinePassed`]), and nothing is cached. Once the
//! deadline's caller gave up, no request starts and no wait goes on ([`CallError::GaveUp`]). The
//! deadline is a value the signal source passes to every call, so it holds on any thread. Actions
//! are never cut off half-way.

mod actions;
mod api;
mod config;
mod connectors;
mod convert;
mod http;
mod signals;

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use actions::{
    ActionExecutor, ActionOutcome, ActionRecord, CREATE_QOS_SESSION, DELETE_QOS_SESSION,
    is_network_action,
};
pub use api::{
    Connectivity, CreateSession, Exchange, QosStatus, ReachabilityStatus, RoamingStatus,
    SessionInfo, SimSwapDate, StatusInfo,
};
pub use config::{Api, CamaraConfig, ConfigError, Secret};
pub use http::{CallError, Clock, NetworkCall, WallClock, new_correlator};
pub use signals::{NetworkSignals, SignalOutcome};

/// The CAMARA connectors of one process: configuration, HTTP agent, token and value caches.
pub struct Camara {
    transport: http::Transport,
    cache: Mutex<signals::Cache>,
    /// The time of day, when an answer comes: what Device Status's `lastStatusTime` is judged
    /// at besides the decision time, which the caller gives.
    wall: WallClock,
}

impl Camara {
    /// Connectors with `config`, on the system clocks.
    pub fn new(config: CamaraConfig) -> Camara {
        Camara::with_clock(config, Arc::new(Instant::now))
    }

    /// Connectors with `config`, telling the time (token expiry, value ages) with `clock`, and
    /// the time of day with the system's.
    pub fn with_clock(config: CamaraConfig, clock: Clock) -> Camara {
        Camara::with_clocks(config, clock, Arc::new(system_time_ms))
    }

    /// Connectors with `config`, telling the time with `clock` (token expiry, value ages) and
    /// the time of day with `wall` (when an answer came, in milliseconds since the epoch:
    /// Device Status's observation times are judged at it as well as at the decision time).
    pub fn with_clocks(config: CamaraConfig, clock: Clock, wall: WallClock) -> Camara {
        let cache = Mutex::new(signals::Cache::new(config.cache_entries));
        Camara {
            transport: http::Transport::new(config, clock),
            cache,
            wall,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &CamaraConfig {
        &self.transport.config
    }

    /// Forgets the cached token and signal values (after a configuration change, say).
    pub fn clear_caches(&self) {
        self.transport.clear_token();
        http::lock(&self.cache).clear();
    }
}

/// The system's time of day, in milliseconds since the epoch.
fn system_time_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_camara_serves_every_thread() {
        fn shared<T: Send + Sync>() {}
        shared::<Camara>();
        shared::<SignalOutcome>();
        shared::<ActionRecord>();
    }
}
