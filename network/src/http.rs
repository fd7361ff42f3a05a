//! The HTTP exchange every connector goes through: an OAuth2 bearer token (client-credentials
//! grant, cached until it expires), an `x-correlator` per call, a timeout per attempt, bounded
//! retries of what is safe to retry, CAMARA error bodies, and a record of every request made.

use std::fmt;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ureq::Agent;
use xop_runtime::engine::Deadline;

use crate::config::{Api, CamaraConfig};

/// The most of an answer's body that is read; a larger one is out of contract.
const MAX_BODY: u64 = 1 << 20;

/// What tells the time to the connectors (token expiry, cache ages). Tests move it by hand.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// What tells the time of day to the connectors, in milliseconds since the epoch: when an
/// answer came, which the network's observation times are judged at besides the decision
/// time. Tests set it by hand.
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// One HTTP request made to the network, as the proof record keeps it (the runtime's record
/// type: the connectors fill it, the proof log stores it).
pub use xop_runtime::proof::record::NetworkCall;

/// Why a call gave no answer that the connector could use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallError {
    /// The API is not configured (no base URL in `[camara]`); nothing was sent.
    NotConfigured(String),
    /// An argument is outside the API's contract (a phone number that is not E.164, a
    /// `maxAge` out of range); nothing was sent.
    InvalidArgument(String),
    /// No token could be had from the token endpoint.
    Auth(String),
    /// The API answered with a CAMARA error body.
    Api {
        /// The HTTP status.
        status: u16,
        /// The error `code` (`OUT_OF_RANGE`, `QUALITY_ON_DEMAND.DURATION_OUT_OF_RANGE`).
        code: String,
        /// The error `message`.
        message: String,
    },
    /// The API answered with a status its contract does not give for this operation, or an
    /// error status without a CAMARA error body.
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No answer within the timeout.
    Timeout,
    /// The connection failed or broke.
    Transport(String),
    /// The answer's body is not what the contract says (not JSON, a field missing or of the
    /// wrong type, an unknown enum value).
    BadResponse(String),
    /// The decision the call reads for has a deadline, and it passed (or would have during a
    /// wait before a retry) before an answer came: no further request was started, and one in
    /// flight was cut off at it.
    DeadlinePassed {
        /// The operation, as the API's name and the operation's (`sim-swap checkSimSwap`).
        operation: String,
        /// Why the last try failed, if one was made.
        last: Option<Box<CallError>>,
    },
    /// The caller of the decision the call reads for stopped waiting for it
    /// ([`Deadline::give_up`]) before an answer came, before its deadline: no further request
    /// was started, and no wait before a retry went on (a request in flight ends at the
    /// deadline or its own timeout, whichever comes first).
    GaveUp {
        /// The operation, as the API's name and the operation's (`sim-swap checkSimSwap`).
        operation: String,
        /// Why the last try failed, if one was made.
        last: Option<Box<CallError>>,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NotConfigured(m) => write!(f, "not configured: {m}"),
            CallError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            CallError::Auth(m) => write!(f, "no access token: {m}"),
            CallError::Api {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
            CallError::UnexpectedStatus { status, body } if body.is_empty() => {
                write!(f, "unexpected status {status}")
            }
            CallError::UnexpectedStatus { status, body } => {
                write!(f, "unexpected status {status}: {body}")
            }
            CallError::Timeout => f.write_str("timed out"),
            CallError::Transport(m) => write!(f, "connection failed: {m}"),
            CallError::BadResponse(m) => write!(f, "answer out of contract: {m}"),
            CallError::DeadlinePassed { operation, last } => {
                write!(
                    f,
                    "the decision's deadline passed before {operation} could be read"
                )?;
                last_try(f, last.as_deref())
            }
            CallError::GaveUp { operation, last } => {
                write!(
                    f,
                    "the decision's caller stopped waiting before {operation} could be read"
                )?;
                last_try(f, last.as_deref())
            }
        }
    }
}

impl std::error::Error for CallError {}

/// The end of the message of a call its deadline stopped: why its last try failed, or that
/// none was made.
fn last_try(f: &mut fmt::Formatter<'_>, last: Option<&CallError>) -> fmt::Result {
    match last {
        Some(last) => write!(f, " (the last try: {last})"),
        None => f.write_str(": no request for it was sent"),
    }
}

impl CallError {
    /// The CAMARA error code, for an error answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Api { status, .. } | CallError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Whether a call may be repeated when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Repeating it changes nothing (reads, also those CAMARA makes with POST; DELETE): retried
    /// on timeouts, broken connections and the transient error answers ([`transient`]).
    Idempotent,
    /// Repeating it may do it twice (creating a session, extending one): retried only when
    /// the request surely was not processed (no connection could be made, or a 429 that is
    /// not `QUOTA_EXCEEDED`).
    Once,
}

/// One call to make.
pub(crate) struct Request<'a> {
    pub api: Api,
    pub operation: &'static str,
    pub method: &'static str,
    /// The path under the API's base URL.
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub retry: Retry,
    /// The success statuses the contract gives for this operation.
    pub expect: &'a [u16],
}

/// A successful answer.
pub(crate) struct Answer {
    pub status: u16,
    /// The body; one that is not UTF-8 text, decoded leniently (each invalid sequence a
    /// U+FFFD), so that what it names in ASCII (a `sessionId`) can still be found.
    pub body: String,
    /// Why the body is out of contract as text (not UTF-8; compressed, which was not asked
    /// for), if it is: the answer cannot then be parsed, whatever its status.
    pub not_text: Option<String>,
}

/// What a call gave, and whether an attempt before the last may have been processed by the
/// operator (sent, then no answer; or an answer saying the server may have acted): a retry's
/// answer may then be the effect of that attempt (a DELETE's 404).
pub(crate) struct Called {
    pub result: Result<Answer, CallError>,
    pub earlier_may_have_run: bool,
}

#[derive(Clone)]
struct Token {
    value: String,
    /// When to stop using it (before its real expiry, to allow for clock skew and latency).
    renew_at: Instant,
}

/// The HTTP side of the connectors: the agent, the configuration and the token cache.
pub(crate) struct Transport {
    pub config: CamaraConfig,
    agent: Agent,
    token: Mutex<Option<Token>>,
    pub clock: Clock,
}

/// What one attempt gave.
enum Attempt {
    Done(Answer),
    /// Failed; retry if `retryable`, after at least `wait` (a `Retry-After`).
    Failed {
        error: CallError,
        retryable: bool,
        wait: Option<Duration>,
        /// A 401 with a token that was cached: it may have been revoked, fetch a new one.
        stale_token: bool,
        /// The request reached the operator and may have been carried out (no answer after
        /// sending it, or a 500/502/504); false when it surely was not (no connection, no
        /// token, or an answer refusing it).
        may_have_run: bool,
    },
}

/// Why no token could be had: the error, whether asking again may help, and after how long
/// at least (the token endpoint's `Retry-After`).
struct TokenFailure {
    error: CallError,
    retryable: bool,
    wait: Option<Duration>,
}

/// Whether an answer's echoed `x-correlator` is present and not the one sent (an answer
/// without one is accepted: the header is optional in the answers of some operations).
fn echo_differs(echoed: Option<&str>, sent: &str) -> bool {
    echoed.is_some_and(|e| e.trim() != sent)
}

/// At most 80 characters of a value an answer gave, for a message.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transport {
    pub fn new(config: CamaraConfig, clock: Clock) -> Transport {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            // A redirect would carry the bearer token and the body elsewhere: refuse them.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("xop-network/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Transport {
            config,
            agent,
            token: Mutex::new(None),
            clock,
        }
    }

    /// Forgets the cached token.
    pub fn clear_token(&self) {
        lock(&self.token).take();
    }

    /// Makes `req`, retrying what is safe to retry, and appends every request made (token
    /// requests included) to `calls`.
    ///
    /// `until` is the deadline of the decision the call reads for (`None`: unbounded; actions
    /// never have one, so a QoD session being created is not cut off half-way): no try starts
    /// at or after it, one in flight (its token request too) is cut off at it, and no wait
    /// before a retry runs past it ([`CallError::DeadlinePassed`]); once its caller gave up,
    /// no try starts and no wait goes on ([`CallError::GaveUp`]). It is passed with each call,
    /// not kept anywhere, so a call honours it on whatever thread it runs.
    pub fn call(
        &self,
        req: &Request<'_>,
        until: Option<&Deadline>,
        calls: &mut Vec<NetworkCall>,
    ) -> Result<Answer, CallError> {
        self.call_traced(req, until, calls).result
    }

    /// [`Transport::call`], also telling whether an attempt before the last may have been
    /// processed.
    pub fn call_traced(
        &self,
        req: &Request<'_>,
        until: Option<&Deadline>,
        calls: &mut Vec<NetworkCall>,
    ) -> Called {
        let Some(base) = self.config.base_url(req.api) else {
            return Called {
                result: Err(CallError::NotConfigured(format!(
                    "no base URL for {} in [camara] (api_root or apis.{})",
                    req.api.name(),
                    req.api.name().replace('-', "_")
                ))),
                earlier_may_have_run: false,
            };
        };
        let url = format!("{base}{}", req.path);
        let correlator = new_correlator();
        let body = req.body.as_ref().map(serde_json::Value::to_string);
        let mut refreshed = false;
        let mut earlier_may_have_run = false;
        // Tries, each a token request or a request to the API or both: what `max_attempts`
        // bounds. The record numbers the API's requests and the token requests apart.
        let mut tries = 0;
        let mut api_requests = 0;
        let mut token_requests = 0;
        let operation = || format!("{} {}", req.api.name(), req.operation);
        // Why the deadline stopped the call: it passed, or its caller gave up first.
        let stopped = |last: Option<CallError>| {
            let (operation, last) = (operation(), last.map(Box::new));
            if until.is_some_and(Deadline::gave_up) {
                CallError::GaveUp { operation, last }
            } else {
                CallError::DeadlinePassed { operation, last }
            }
        };
        // Why the last try failed, for a call the deadline stops.
        let mut last: Option<CallError> = None;
        loop {
            tries += 1;
            let done = |result| Called {
                result,
                earlier_may_have_run,
            };
            // No try starts at or after the deadline; one started before has what is left.
            let Some(limit) = self.time_left(until) else {
                return done(Err(stopped(last)));
            };
            let outcome = match self.token(calls, &mut token_requests, limit) {
                Ok((token, cached)) => {
                    // The token request may have used up what was left.
                    let Some(limit) = self.time_left(until) else {
                        return done(Err(stopped(last)));
                    };
                    api_requests += 1;
                    self.attempt(
                        req,
                        &url,
                        &correlator,
                        body.as_deref(),
                        (&token, cached),
                        api_requests,
                        limit,
                        calls,
                    )
                }
                Err(failed) => Attempt::Failed {
                    error: failed.error,
                    retryable: failed.retryable,
                    wait: failed.wait,
                    stale_token: false,
                    may_have_run: false,
                },
            };
            match outcome {
                Attempt::Done(answer) => return done(Ok(answer)),
                Attempt::Failed {
                    stale_token: true,
                    error,
                    ..
                } => {
                    lock(&self.token).take();
                    // One more try with a fresh token, whatever `max_attempts`: a 401 means
                    // nothing was done, so this is not a repeat of the request but its first
                    // try with a usable token. Once per call, so a revoked client cannot loop.
                    if refreshed {
                        return done(Err(error));
                    }
                    refreshed = true;
                    last = Some(error);
                }
                Attempt::Failed {
                    error,
                    retryable,
                    wait,
                    may_have_run,
                    ..
                } => {
                    // A final answer is the call's, deadline or not.
                    if !retryable {
                        return done(Err(error));
                    }
                    // Cut off at the deadline (or failed as it passed): the deadline stopped
                    // the call, whatever was left of its attempts.
                    if self.time_left(until).is_none() {
                        return done(Err(stopped(Some(error))));
                    }
                    // The fresh-token try does not use up one of the `max_attempts`.
                    if tries >= self.config.max_attempts + u32::from(refreshed) {
                        return done(Err(error));
                    }
                    let wait = self.backoff(tries, wait);
                    // A wait that would end at or past the deadline leads to no try: stop now.
                    if until.is_some_and(|d| {
                        Instant::now()
                            .checked_add(wait)
                            .is_none_or(|end| end >= d.at())
                    }) {
                        return done(Err(stopped(Some(error))));
                    }
                    earlier_may_have_run |= may_have_run;
                    last = Some(error);
                    // Cut short if the caller gives up meanwhile: the next turn then stops.
                    pause(wait, until);
                }
            }
        }
    }

    /// How long a try starting now may take: `None` when the deadline has passed or its caller
    /// gave up (no try starts), `Some(None)` without a deadline (each request has
    /// `timeout_ms`), else the time left when it is less than `timeout_ms`.
    fn time_left(&self, deadline: Option<&Deadline>) -> Option<Option<Duration>> {
        let Some(deadline) = deadline else {
            return Some(None);
        };

        if deadline.gave_up() {
            return None;
        }
        let left = deadline.at().checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        Some((left < self.config.timeout).then_some(left))
    }

    /// The wait before retry number `attempt`: the backoff doubled each time, or the server's
    /// `Retry-After` if longer, capped by `max_backoff`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self
            .config
            .backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        doubled
            .max(retry_after.unwrap_or_default())
            .min(self.config.max_backoff)
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        req: &Request<'_>,
        url: &str,
        correlator: &str,
        body: Option<&str>,
        (token, cached_token): (&str, bool),
        attempt: u32,
        limit: Option<Duration>,
        calls: &mut Vec<NetworkCall>,
    ) -> Attempt {
        let started = Instant::now();
        let bearer = format!("Bearer {token}");
        let sent = match req.method {
            "GET" => within(self.agent.get(url), limit)
                .header("authorization", &bearer)
                .header("x-correlator", correlator)
                .header("accept", "application/json")
                .call(),
            "DELETE" => within(self.agent.delete(url), limit)
                .header("authorization", &bearer)
                .header("x-correlator", correlator)
                .header("accept", "application/json")
                .call(),
            _ => within(self.agent.post(url), limit)
                .header("authorization", &bearer)
                .header("x-correlator", correlator)
                .header("accept", "application/json")
                .content_type("application/json")
                .send(body.unwrap_or("{}")),
        };
        let mut record = NetworkCall {
            api: req.api.name().to_string(),
            operation: req.operation.to_string(),
            method: req.method.to_string(),
            path: req.path.clone(),
            correlator: Some(correlator.to_string()),
            echoed_correlator: None,
            attempt,
            status: None,
            error_code: None,
            error: None,
            elapsed_ms: 0,
        };
        let outcome = match sent {
            Err(e) => {
                let (error, connected) = transport_error(e);
                Attempt::Failed {
                    error,
                    // Without a connection nothing was sent: safe to repeat anything.
                    retryable: !connected || req.retry == Retry::Idempotent,
                    wait: None,
                    stale_token: false,
                    may_have_run: connected,
                }
            }
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                record.status = Some(status);
                record.echoed_correlator = header(&resp, "x-correlator");
                let retry_after = retry_after(&resp);
                let encoding = header(&resp, "content-encoding");
                match read_body(&mut resp, encoding.as_deref()) {
                    // Out of contract whatever the status; a repeat would only fetch it again.
                    Err(ureq::Error::BodyExceedsLimit(limit)) => Attempt::Failed {
                        error: CallError::BadResponse(too_large(status, limit)),
                        retryable: false,
                        wait: None,
                        stale_token: false,
                        may_have_run: true,
                    },
                    Err(e) => {
                        let (error, _) = transport_error(e);
                        Attempt::Failed {
                            error,
                            retryable: req.retry == Retry::Idempotent,
                            wait: None,
                            stale_token: false,
                            // The status came: the request was received, maybe carried out.
                            may_have_run: true,
                        }
                    }
                    // The contract has the answer echo the request's `x-correlator`: another
                    // value means it may be another request's answer (a proxy mixing them up),
                    // whatever it says. Out of contract, not retried, as any such answer; the
                    // request reached the operator and may have been carried out.
                    Ok(_) if echo_differs(record.echoed_correlator.as_deref(), correlator) => {
                        Attempt::Failed {
                            error: CallError::BadResponse(format!(
                                "the answer echoes x-correlator `{}`, not the `{correlator}` \
                                 sent: it may be another request's answer",
                                shorten(record.echoed_correlator.as_deref().unwrap_or_default())
                            )),
                            retryable: false,
                            wait: None,
                            stale_token: false,
                            may_have_run: true,
                        }
                    }
                    Ok((text, not_text)) if req.expect.contains(&status) => Attempt::Done(Answer {
                        status,
                        body: text,
                        not_text,
                    }),
                    Ok((text, not_text)) => {
                        // An error answer whose body is not text is still that status:
                        // judged by it (a 503 refused the request; a 400 is final), its
                        // body unreadable, so it has no CAMARA error.
                        let error = match not_text {
                            Some(why) => CallError::UnexpectedStatus { status, body: why },
                            None => error_answer(status, &text),
                        };
                        // A 429 refused the request unprocessed: safe to repeat anything.
                        let retryable = transient(status, error.code())
                            && (status == 429 || req.retry == Retry::Idempotent);
                        Attempt::Failed {
                            error,
                            retryable,
                            wait: retry_after,
                            stale_token: status == 401 && cached_token,
                            // A gateway's 502/504 or a 500 may come after the server acted;
                            // 4xx, 501 and 503 refuse the request.
                            may_have_run: matches!(status, 500 | 502 | 504),
                        }
                    }
                }
            }
        };
        if let Attempt::Failed { error, .. } = &outcome {
            record.error_code = error.code().map(str::to_string);
            record.error = Some(error.to_string());
        }
        record.elapsed_ms = elapsed_ms(started);
        calls.push(record);
        outcome
    }

    /// A token: the cached one if still good (`true`), else a new one from the token endpoint
    /// (`false`, its request taking at most `limit` when less than `timeout_ms` is left before
    /// the deadline), counting the call's token requests in `requests`. An error says whether
    /// asking again may help, and after how long.
    fn token(
        &self,
        calls: &mut Vec<NetworkCall>,
        requests: &mut u32,
        limit: Option<Duration>,
    ) -> Result<(String, bool), TokenFailure> {
        let now = (self.clock)();
        if let Some(t) = lock(&self.token).as_ref()
            && now < t.renew_at
        {
            return Ok((t.value.clone(), true));
        }
        *requests += 1;
        let token = self.fetch_token(calls, *requests, limit)?;
        let value = token.value.clone();
        *lock(&self.token) = Some(token);
        Ok((value, false))
    }

    /// Asks the token endpoint for a token: request number `attempt` of the call it is for.
    fn fetch_token(
        &self,
        calls: &mut Vec<NetworkCall>,
        attempt: u32,
        limit: Option<Duration>,
    ) -> Result<Token, TokenFailure> {
        let c = &self.config;
        let started = Instant::now();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = c.scope.as_deref() {
            form.push(("scope", scope));
        }
        // RFC 6749 §2.3.1: the client id and secret, form-encoded, in HTTP Basic.
        let basic = base64(
            format!(
                "{}:{}",
                form_encode(&c.client_id),
                form_encode(c.client_secret.expose())
            )
            .as_bytes(),
        );
        let sent = within(self.agent.post(&c.token_url), limit)
            .header("authorization", &format!("Basic {basic}"))
            .header("accept", "application/json")
            .send_form(form);
        let mut record = NetworkCall {
            api: "oauth2".into(),
            operation: "token".into(),
            method: "POST".into(),
            path: String::new(),
            correlator: None,
            echoed_correlator: None,
            attempt,
            status: None,
            error_code: None,
            error: None,
            elapsed_ms: 0,
        };
        let fetched_at = (self.clock)();
        let fail = |error, retryable, wait| TokenFailure {
            error: CallError::Auth(error),
            retryable,
            wait,
        };
        let result = match sent {
            Err(e) => {
                let (error, _) = transport_error(e);
                Err(fail(error.to_string(), true, None))
            }
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                record.status = Some(status);
                let wait = retry_after(&resp);
                let encoding = header(&resp, "content-encoding");
                match read_body(&mut resp, encoding.as_deref()) {
                    Err(ureq::Error::BodyExceedsLimit(limit)) => Err(fail(
                        format!(
                            "the token endpoint's answer is out of contract: {}",
                            too_large(status, limit)
                        ),
                        false,
                        None,
                    )),
                    Err(e) => Err(fail(transport_error(e).0.to_string(), true, None)),
                    Ok((_, Some(why))) if status == 200 => Err(fail(
                        format!("the token endpoint's answer is out of contract: {why}"),
                        false,
                        None,
                    )),
                    // An error answer that is not text: that status, judged by it.
                    Ok((_, Some(why))) => Err(fail(
                        format!("the token endpoint answered {status} ({why})"),
                        transient(status, None),
                        wait,
                    )),
                    Ok((text, None)) if status == 200 => self
                        .parse_token(&text, fetched_at)
                        .map_err(|m| fail(m, false, None)),
                    Ok((text, None)) => {
                        // RFC 6749 §5.2: `error` and `error_description`.
                        let body: Option<serde_json::Value> = serde_json::from_str(&text).ok();
                        let field = |k: &str| {
                            body.as_ref()
                                .and_then(|b| b.get(k))
                                .and_then(|v| v.as_str())
                                .map(str::to_string)
                        };
                        record.error_code = field("error");
                        let what = match (field("error"), field("error_description")) {
                            (Some(e), Some(d)) => format!("{e}: {d}"),
                            (Some(e), None) => e,
                            _ => excerpt(&text),
                        };
                        let retryable = transient(status, record.error_code.as_deref());
                        Err(fail(
                            format!("the token endpoint answered {status} {what}"),
                            retryable,
                            wait,
                        ))
                    }
                }
            }
        };
        if let Err(f) = &result {
            record.error = Some(f.error.to_string());
        }
        record.elapsed_ms = elapsed_ms(started);
        calls.push(record);
        result
    }

    fn parse_token(&self, text: &str, fetched_at: Instant) -> Result<Token, String> {
        let body = xop_runtime::bind::parse_json(text)
            .map_err(|e| format!("the token endpoint's answer is not strict JSON: {e}"))?;
        let value = body
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or("the token endpoint's answer has no access_token")?;
        // A token is sent in a header: refuse anything that cannot be one (RFC 6750 b64token).
        if !value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        }) {
            return Err("the access_token has characters a bearer token cannot have".into());
        }
        match body.get("token_type").and_then(|v| v.as_str()) {
            Some(t) if t.eq_ignore_ascii_case("bearer") => {}
            other => {
                return Err(format!(
                    "the token_type is {}, not Bearer",
                    other.unwrap_or("missing")
                ));
            }
        }
        let lifetime = match body.get("expires_in") {
            None | Some(serde_json::Value::Null) => self.config.default_token_lifetime,
            Some(v) => token_lifetime(v)?,
        };
        // Renew a little early: the token must still be good when the API checks it.
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        // The lifetime is capped, so this cannot overflow; if the clock is near its end
        // anyway, renew at once rather than panic.
        let renew_at = fetched_at
            .checked_add(lifetime.saturating_sub(margin))
            .unwrap_or(fetched_at);
        Ok(Token {
            value: value.to_string(),
            renew_at,
        })
    }
}

/// The longest a token is used, whatever its `expires_in`: a day. A longer (or absurd, up to
/// `u64::MAX` seconds) lifetime is capped to it rather than trusted, so no time computed from
/// it can overflow, and a token is fetched afresh at least daily.
pub(crate) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// A token answer's `expires_in`: whole seconds, capped at [`MAX_TOKEN_LIFETIME`]; the error
/// says what else it is.
fn token_lifetime(v: &serde_json::Value) -> Result<Duration, String> {
    use serde_json::Value;
    let cap = MAX_TOKEN_LIFETIME.as_secs();
    match v {
        Value::Number(n) => {
            if let Some(s) = n.as_u64() {
                return Ok(Duration::from_secs(s.min(cap)));
            }
            if n.as_i64().is_some_and(|s| s < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
                return Err(format!("expires_in {n} is negative"));
            }
            match n.as_f64() {
                // Beyond u64 and written as a float (`1e30`): a lifetime longer than any
                // token needs, capped like any long one.
                Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(MAX_TOKEN_LIFETIME),
                _ => Err(format!(
                    "expires_in {n} is not a whole number of seconds (a fraction)"
                )),
            }
        }
        Value::String(s) => Err(format!(
            "expires_in is a string (`{}`), not a number of seconds",
            shorten(s)
        )),
        other => Err(format!(
            "expires_in is {}, not a number of seconds",
            match other {
                Value::Bool(_) => "a boolean",
                Value::Array(_) => "an array",
                _ => "an object",
            }
        )),
    }
}

/// How often a wait before a retry looks whether the caller of its decision gave up.
const GIVE_UP_POLL: Duration = Duration::from_millis(20);

/// Waits `wait` before a retry, or less once the caller of the decision gave up (`until`'s
/// [`Deadline::give_up`]): looked at every [`GIVE_UP_POLL`], since giving up wakes nobody.
fn pause(wait: Duration, until: Option<&Deadline>) {
    let Some(until) = until else {
        thread::sleep(wait);
        return;
    };
    // A wait too long for the clock (never, with `max_backoff` capping it) is as good as
    // forever: wait until the caller gives up.
    let end = Instant::now().checked_add(wait);
    loop {
        if until.gave_up() {
            return;
        }
        let left = match end {
            Some(end) => match end
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            {
                Some(left) => left,
                None => return,
            },
            None => GIVE_UP_POLL,
        };
        thread::sleep(left.min(GIVE_UP_POLL));
    }
}

/// `req` with its whole exchange (connecting to reading the body's last byte) bounded by
/// `limit` instead of `timeout_ms`: the time left before a deadline nearer than that.
fn within<B>(req: ureq::RequestBuilder<B>, limit: Option<Duration>) -> ureq::RequestBuilder<B> {
    match limit {
        Some(limit) => req.config().timeout_global(Some(limit)).build(),
        None => req,
    }
}

/// Whether an error answer says "try again later": a 429, unless its code is
/// `QUOTA_EXCEEDED` (a business quota, which a retry within the call only uses up further);
/// 502, 503, 504. Any other error is final: 4xx are the request's fault; 500 is a server fault
/// that repeating at once does not mend; 501 `NOT_IMPLEMENTED` is permanent.
fn transient(status: u16, code: Option<&str>) -> bool {
    match status {
        429 => code != Some("QUOTA_EXCEEDED"),
        502..=504 => true,
        _ => false,
    }
}

/// An answer's `Retry-After`: delay seconds, or an HTTP date (RFC 9110 §10.2.3, any of its
/// three forms) read as the wait from now, none if it has passed. Anything else is ignored
/// (the backoff applies).
fn retry_after<B>(resp: &ureq::http::Response<B>) -> Option<Duration> {
    header(resp, "retry-after").and_then(|s| retry_after_value(&s, std::time::SystemTime::now()))
}

/// [`retry_after`]'s reading of the header's value `text` at `now`.
fn retry_after_value(text: &str, now: std::time::SystemTime) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Delay seconds; beyond u64 is as long as u64's (the cap applies to either).
        let seconds = text.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Reads an answer's body, at most [`MAX_BODY`] bytes: the text, and why it is out of
/// contract as text if it is (not UTF-8, or `encoding` — its `Content-Encoding` — compresses
/// it, which no request asks for); such a body is decoded leniently. An error is a body that
/// could not be read (too large, or cut short: the connection broke).
fn read_body(
    resp: &mut ureq::http::Response<ureq::Body>,
    encoding: Option<&str>,
) -> Result<(String, Option<String>), ureq::Error> {
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()?;
    let encoded = encoding
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    Ok(match (String::from_utf8(bytes), encoded) {
        (Ok(text), None) => (text, None),
        (Ok(text), Some(e)) => (
            text,
            Some(format!(
                "the body is {}-encoded (Content-Encoding), which was not asked for",
                shorten(e)
            )),
        ),
        (Err(e), encoded) => {
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let why = match encoded {
                Some(enc) => format!(
                    "the body is {}-encoded (Content-Encoding), which was not asked for",
                    shorten(enc)
                ),
                None => format!(
                    "the body is not UTF-8 text (an invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            };
            (text, Some(why))
        }
    })
}

/// Why an answer whose body is over `limit` bytes is refused: its status too, and, for an
/// error status, that its error was not read.
fn too_large(status: u16, limit: u64) -> String {
    if status < 400 {
        format!("status {status}: the body is larger than {limit} bytes")
    } else {
        format!("status {status} (an error answer) with a body larger than {limit} bytes, not read")
    }
}

fn header<B>(resp: &ureq::http::Response<B>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The error of a non-success answer: the CAMARA `ErrorInfo` (`status`, `code`, `message`)
/// if the body is one, else the status and the start of the body.
fn error_answer(status: u16, text: &str) -> CallError {
    let body: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let info = body.as_ref().and_then(|b| {
        Some((
            b.get("status")?.as_u64()?,
            b.get("code")?.as_str()?,
            b.get("message")?.as_str()?,
        ))
    });
    match info {
        Some((_, code, message)) if (200..300).contains(&status) => CallError::BadResponse(
            format!("status {status} is not this operation's, with error {code}: {message}"),
        ),
        Some((_, code, message)) if status >= 400 => CallError::Api {
            status,
            code: code.to_string(),
            message: message.to_string(),
        },
        _ => CallError::UnexpectedStatus {
            status,
            body: excerpt(text),
        },
    }
}

/// Classifies a ureq error: the error, and whether a connection was made (so that the
/// request may have been received).
fn transport_error(e: ureq::Error) -> (CallError, bool) {
    use ureq::Error as E;
    match e {
        E::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => (CallError::Timeout, false),
        E::Timeout(_) => (CallError::Timeout, true),
        E::HostNotFound => (CallError::Transport("host not found".into()), false),
        E::ConnectionFailed => (CallError::Transport("connection failed".into()), false),
        E::Io(io) => {
            let connected = !matches!(
                io.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::NotFound | ErrorKind::AddrNotAvailable
            );
            let error = if io.kind() == ErrorKind::TimedOut {
                CallError::Timeout
            } else {
                CallError::Transport(io.to_string())
            };
            (error, connected)
        }
        E::BodyExceedsLimit(n) => (
            CallError::BadResponse(format!("the body is larger than {n} bytes")),
            true,
        ),
        other => (CallError::Transport(other.to_string()), true),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A new correlator: a random UUID (version 4). It fits every API's `XCorrelator` pattern
/// (Device Status allows only letters, digits and `-`, at most 55).
pub fn new_correlator() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No system randomness: fall back on the time and a counter, still unique per process.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                let index = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let read = |text| retry_after_value(text, now);
        assert_eq!(read(" 120 "), Some(Duration::from_secs(120)));
        // The three forms RFC 9110 §5.6.7 makes recipients accept.
        assert_eq!(
            read("Sun, 06 Nov 1994 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            read("Sunday, 06-Nov-94 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            read("Sun Nov  6 08:50:07 1994"),
            Some(Duration::from_secs(30))
        );
        // A date that has passed: retry at once (the backoff still applies).
        assert_eq!(read("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        for junk in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994 08:50:07 CET"] {
            assert_eq!(read(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(form_encode("Az09*-._"), "Az09*-._");
    }

    #[test]
    fn correlators_are_uuids_and_differ() {
        let a = new_correlator();
        let b = new_correlator();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        assert_eq!(a.as_bytes()[14], b'4', "version 4");
    }

    #[test]
    fn error_bodies() {
        let e = error_answer(
            429,
            r#"{"status":429,"code":"TOO_MANY_REQUESTS","message":"Rate limit reached."}"#,
        );
        assert_eq!(e.code(), Some("TOO_MANY_REQUESTS"));
        assert_eq!(e.to_string(), "429 TOO_MANY_REQUESTS: Rate limit reached.");
        let e = error_answer(502, "<html>bad gateway</html>");
        assert_eq!(e.status(), Some(502));
        assert_eq!(e.code(), None);
        // A body missing `message` is not a CAMARA error body.
        let e = error_answer(400, r#"{"status":400,"code":"INVALID_ARGUMENT"}"#);
        assert!(matches!(e, CallError::UnexpectedStatus { status: 400, .. }));
        assert_eq!(excerpt(&"x".repeat(500)).chars().count(), 201);
    }
}
