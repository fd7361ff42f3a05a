//! The requests forwarded to the upstream server that wait for its answer, and their deadlines
//! (MCP 2025-11-25, basic lifecycle, "Timeouts": a sender establishes a timeout for every
//! request, may reset it on progress, and always enforces a maximum).
//!
//! The deadlines are kept in a heap so that the gateway's loop can sleep until the earliest one
//! ([`crate::run()`] waits on its channel with `recv_timeout`): no thread per request, no polling.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::session::Pending;

/// The default of `--upstream-timeout`: the official TypeScript SDK's default request timeout
/// (`DEFAULT_REQUEST_TIMEOUT_MSEC`, 60 s), so that a client built on it, which gives up after
/// 60 s too, is answered by the gateway about when it would stop waiting itself.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default of `--upstream-max-timeout`: ten times [`DEFAULT_TIMEOUT`], room for a tool that
/// reports progress while it works, yet a bound on one that reports progress forever.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the gateway waits for the upstream server's answer to a request it forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait without an answer, counted from the request or from the last progress
    /// notification the upstream sent for it.
    pub request: Duration,
    /// The longest wait in total, progress notwithstanding.
    pub max: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            request: DEFAULT_TIMEOUT,
            max: DEFAULT_MAX_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// Timeouts of `request` (reset by progress) and `max` (never reset). There is no "no
    /// timeout": the specification asks for a maximum always, and a very long one is possible.
    pub fn new(request: Duration, max: Duration) -> Result<Timeouts, String> {
        if request.is_zero() {
            return Err("--upstream-timeout must be more than 0".into());
        }
        // A maximum below the timeout would silently shorten it: say so instead.
        if max < request {
            return Err(format!(
                "--upstream-max-timeout ({}) is shorter than --upstream-timeout ({}): raise it \
                 to at least the timeout",
                seconds(max),
                seconds(request)
            ));
        }
        Ok(Timeouts { request, max })
    }
}

/// A duration as the messages write it: `60 s`, `0.25 s`.
pub fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        return format!("{} s", d.as_secs());
    }
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// A request waiting for the upstream server's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// What it is, to treat its answer.
    pub kind: Pending,
    /// Its id, as the client sent it and the upstream saw it.
    pub id: Json,
    /// Its method.
    pub method: String,
    /// Its progress token's key (`params._meta.progressToken`), if it has one.
    token: Option<String>,
    /// When it was forwarded.
    since: Instant,
    /// When it was forwarded, or the upstream last reported progress on it.
    last: Instant,
    /// Which forwarding this is (an id can come back once its request is done).
    seq: u64,
}

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No answer (nor progress) for [`Timeouts::request`].
    Timeout,
    /// No answer within [`Timeouts::max`], progress notwithstanding.
    Max,
}

/// What a progress notification of the upstream is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// A waiting request: its clock was reset.
    Waiting,
    /// A request the gateway stopped waiting for: the client has been answered.
    Abandoned,
    /// No request the gateway knows.
    Unknown,
}

/// How many requests the gateway stopped waiting for (timed out, cancelled) it remembers, to
/// drop their late answers even when the client reuses the id. The oldest are forgotten first.
pub const ABANDONED_LIMIT: usize = 1024;

/// The requests in flight to the upstream server.
#[derive(Debug)]
pub(crate) struct InFlight {
    timeouts: Timeouts,
    /// By id key ([`crate::jsonrpc::id_key`]).
    waiting: HashMap<String, Request>,
    /// Progress token key → id key of the waiting request.
    tokens: HashMap<String, String>,
    /// `(deadline, seq, id key)`, earliest first. An entry can be stale (its request answered)
    /// or early (progress moved the deadline): it is checked when it comes out.
    heap: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// Id key → `(seq, token key)` of the requests the gateway stopped waiting for.
    abandoned: HashMap<String, (u64, Option<String>)>,
    /// The abandoned requests in the order they were abandoned, to forget the oldest.
    abandoned_order: VecDeque<(String, u64)>,
    /// Progress token key → id key of an abandoned request.
    abandoned_tokens: HashMap<String, String>,
    seq: u64,
}

impl InFlight {
    pub fn new(timeouts: Timeouts) -> InFlight {
        InFlight {
            timeouts,
            waiting: HashMap::new(),
            tokens: HashMap::new(),
            heap: BinaryHeap::new(),
            abandoned: HashMap::new(),
            abandoned_order: VecDeque::new(),
            abandoned_tokens: HashMap::new(),
            seq: 0,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// Whether a request with this id key waits.
    pub fn contains(&self, key: &str) -> bool {
        self.waiting.contains_key(key)
    }

    /// Whether a request with this id key was abandoned and its answer has not come.
    pub fn is_abandoned(&self, key: &str) -> bool {
        self.abandoned.contains_key(key)
    }

    /// When the earliest deadline falls, if any request waits. It can be early (a request
    /// answered, or given more time by progress, since): [`InFlight::expire`] then finds
    /// nothing due and the next deadline is later.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// A request forwarded at `now`.
    pub fn insert(
        &mut self,
        key: String,
        id: Json,
        kind: Pending,
        method: String,
        token: Option<String>,
        now: Instant,
    ) {
        self.seq += 1;
        self.forget_abandoned(&key);
        if let Some(t) = &token {
            self.tokens.insert(t.clone(), key.clone());
        }
        let request = Request {
            kind,
            id,
            method,
            token,
            since: now,
            last: now,
            seq: self.seq,
        };
        if let Some(at) = self.deadline(&request) {
            self.heap.push(Reverse((at, self.seq, key.clone())));
        }
        self.waiting.insert(key, request);
        // Stale entries leave the heap only at their deadline: with many quick answers they
        // would pile up, so the heap is rebuilt once they outnumber the waiting requests.
        if self.heap.len() > 2 * self.waiting.len() + 64 {
            self.heap = self
                .waiting
                .iter()
                .filter_map(|(k, r)| self.deadline(r).map(|at| Reverse((at, r.seq, k.clone()))))
                .collect();
        }
    }

    /// The request an answer with this id key is for, no longer waiting.
    pub fn answered(&mut self, key: &str) -> Option<Request> {
        let request = self.waiting.remove(key)?;
        self.drop_token(key, request.token.as_deref());
        Some(request)
    }

    /// An answer with this id key came for no waiting request: whether it is the late answer
    /// of an abandoned one (then forgotten: the upstream is done with it).
    pub fn late(&mut self, key: &str) -> bool {
        self.forget_abandoned(key)
    }

    /// The client cancelled the request with this id key: no longer waited for.
    pub fn cancel(&mut self, key: &str) -> Option<Request> {
        let request = self.answered(key)?;
        self.abandon(key, &request);
        Some(request)
    }

    /// The upstream reported progress on the request with this progress token key at `now`.
    pub fn progress(&mut self, token: &str, now: Instant) -> Progress {
        if let Some(r) = self.tokens.get(token).and_then(|k| self.waiting.get_mut(k)) {
            // The heap keeps the earlier deadline; `expire` finds the later one when it is due.
            r.last = r.last.max(now);
            return Progress::Waiting;
        }
        if self.abandoned_tokens.contains_key(token) {
            Progress::Abandoned
        } else {
            Progress::Unknown
        }
    }

    /// The requests whose deadline has passed at `now`, earliest first, no longer waited for,
    /// with the limit each ran into.
    pub fn expire(&mut self, now: Instant) -> Vec<(Request, Limit)> {
        let mut out = Vec::new();
        while let Some(Reverse((at, seq, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            let seq = *seq;
            let Some(Reverse((_, _, key))) = self.heap.pop() else {
                break;
            };
            let Some(request) = self.waiting.get(&key).filter(|r| r.seq == seq) else {
                continue; // answered, or cancelled, since
            };
            match self.deadline(request) {
                Some(real) if real > now => self.heap.push(Reverse((real, seq, key))),
                None => {}
                Some(_) => {
                    let limit = if self.max_reached(request, now) {
                        Limit::Max
                    } else {
                        Limit::Timeout
                    };
                    if let Some(request) = self.answered(&key) {
                        self.abandon(&key, &request);
                        out.push((request, limit));
                    }
                }
            }
        }
        out
    }

    /// Every waiting request, by id key, no longer waiting (the upstream is gone).
    pub fn drain(&mut self) -> Vec<Request> {
        let mut all: Vec<(String, Request)> = self.waiting.drain().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        self.tokens.clear();
        self.heap.clear();
        all.into_iter().map(|(_, r)| r).collect()
    }

    /// How many requests wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    fn deadline(&self, r: &Request) -> Option<Instant> {
        // Past what an `Instant` can hold is never.
        let idle = r.last.checked_add(self.timeouts.request);
        let max = r.since.checked_add(self.timeouts.max);
        match (idle, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn max_reached(&self, r: &Request, now: Instant) -> bool {
        r.since
            .checked_add(self.timeouts.max)
            .is_some_and(|at| at <= now)
    }

    fn drop_token(&mut self, key: &str, token: Option<&str>) {
        if let Some(t) = token
            && self.tokens.get(t).is_some_and(|k| k == key)
        {
            self.tokens.remove(t);
        }
    }

    fn abandon(&mut self, key: &str, request: &Request) {
        self.abandoned
            .insert(key.to_string(), (request.seq, request.token.clone()));
        if let Some(t) = &request.token {
            self.abandoned_tokens.insert(t.clone(), key.to_string());
        }
        self.abandoned_order
            .push_back((key.to_string(), request.seq));
        while self.abandoned_order.len() > ABANDONED_LIMIT {
            if let Some((k, seq)) = self.abandoned_order.pop_front()
                && self.abandoned.get(&k).is_some_and(|(s, _)| *s == seq)
            {
                self.forget_abandoned(&k);
            }
        }
    }

    /// Forgets the abandoned request with this id key; whether there was one.
    fn forget_abandoned(&mut self, key: &str) -> bool {
        let Some((_, token)) = self.abandoned.remove(key) else {
            return false;
        };
        if let Some(t) = token
            && self.abandoned_tokens.get(&t).is_some_and(|k| k == key)
        {
            self.abandoned_tokens.remove(&t);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MS: Duration = Duration::from_millis(1);

    fn flight(request_ms: u64, max_ms: u64) -> InFlight {
        InFlight::new(Timeouts::new(MS * request_ms as u32, MS * max_ms as u32).unwrap())
    }

    #[test]
    fn timeouts_are_checked_and_written_in_seconds() {
        assert!(Timeouts::new(Duration::ZERO, Duration::from_secs(1)).is_err());
        let e = Timeouts::new(Duration::from_secs(900), DEFAULT_MAX_TIMEOUT).unwrap_err();
        assert!(
            e.contains("(600 s) is shorter than --upstream-timeout (900 s)"),
            "{e}"
        );
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(Timeouts::default().request, Duration::from_secs(60));
    }

    #[test]
    fn a_request_expires_at_its_deadline_and_not_before() {
        let t0 = Instant::now();
        let mut f = flight(100, 1000);
        f.insert(
            "1".into(),
            json!(1),
            Pending::Other,
            "ping".into(),
            None,
            t0,
        );
        assert_eq!(f.next_deadline(), Some(t0 + MS * 100));
        assert!(f.expire(t0 + MS * 99).is_empty());
        let gone = f.expire(t0 + MS * 100);
        assert_eq!(gone.len(), 1);
        assert_eq!(
            (gone[0].0.id.clone(), gone[0].1),
            (json!(1), Limit::Timeout)
        );
        assert!(!f.contains("1") && f.is_abandoned("1"));
        assert_eq!(f.next_deadline(), None);
        // Its late answer is recognised once.
        assert!(f.answered("1").is_none());
        assert!(f.late("1"));
        assert!(!f.late("1"));
    }

    #[test]
    fn progress_moves_the_deadline_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut f = flight(100, 250);
        f.insert(
            "1".into(),
            json!(1),
            Pending::Other,
            "tools/call".into(),
            Some("\"t\"".into()),
            t0,
        );
        assert_eq!(f.progress("\"t\"", t0 + MS * 90), Progress::Waiting);
        assert_eq!(f.progress("\"other\"", t0 + MS * 90), Progress::Unknown);
        // The heap's entry is early: it is pushed back to the real deadline.
        assert!(f.expire(t0 + MS * 100).is_empty());
        assert_eq!(f.next_deadline(), Some(t0 + MS * 190));
        assert_eq!(f.progress("\"t\"", t0 + MS * 180), Progress::Waiting);
        assert!(f.expire(t0 + MS * 249).is_empty());
        let gone = f.expire(t0 + MS * 250);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1, Limit::Max);
        assert_eq!(f.progress("\"t\"", t0 + MS * 260), Progress::Abandoned);
    }

    #[test]
    fn answered_and_cancelled_requests_do_not_expire() {
        let t0 = Instant::now();
        let mut f = flight(100, 1000);
        f.insert(
            "1".into(),
            json!(1),
            Pending::Other,
            "ping".into(),
            None,
            t0,
        );
        f.insert(
            "2".into(),
            json!(2),
            Pending::Other,
            "ping".into(),
            None,
            t0,
        );
        assert!(f.answered("1").is_some());
        assert!(f.cancel("2").is_some());
        assert!(f.is_abandoned("2") && !f.is_abandoned("1"));
        assert!(f.expire(t0 + MS * 5000).is_empty());
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn stale_heap_entries_and_abandoned_ids_stay_bounded() {
        let t0 = Instant::now();
        let mut f = flight(100, 1000);
        for i in 0..10_000 {
            let k = i.to_string();
            f.insert(k.clone(), json!(i), Pending::Other, "ping".into(), None, t0);
            f.answered(&k);
        }
        assert!(f.heap.len() <= 65, "{}", f.heap.len());
        for i in 0..(ABANDONED_LIMIT + 10) {
            let k = format!("\"a{i}\"");
            f.insert(k.clone(), json!(i), Pending::Other, "ping".into(), None, t0);
            f.cancel(&k);
        }
        assert_eq!(f.abandoned.len(), ABANDONED_LIMIT);
        assert!(
            !f.is_abandoned("\"a0\"") && f.is_abandoned(&format!("\"a{}\"", ABANDONED_LIMIT + 9))
        );
    }

    #[test]
    fn a_timeout_past_what_an_instant_holds_never_expires() {
        let t0 = Instant::now();
        let mut f = InFlight::new(Timeouts::new(Duration::MAX, Duration::MAX).unwrap());
        f.insert(
            "1".into(),
            json!(1),
            Pending::Other,
            "ping".into(),
            None,
            t0,
        );
        assert_eq!(f.next_deadline(), None);
        assert!(f.expire(t0 + Duration::from_secs(1_000_000)).is_empty());
    }
}
