//! The HTTP API (axum): routes, request checks, authentication, errors as JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use xop_runtime::bind::BindErrorKind;
use xop_runtime::cost::Work;
use xop_runtime::engine::{
    Approved, Deadline, Input, Options, Outcome, ReviewCase, ReviewSink, Runtime, RuntimeError,
    Unloaded,
};
use xop_runtime::ir::Verdict;
use xop_runtime::proof::LogError;
use xop_runtime::proof::record::{Evidence, ReviewTerms};
use xop_runtime::review::{ReviewError, ReviewQueue, Reviewer, SettleError, Status};

use crate::config::{Config, Principal};
use crate::metrics::Metrics;
use crate::shown;

/// What every handler shares.
pub struct App {
    /// The runtime (modules, proof log).
    pub rt: Arc<Runtime>,
    /// The review queue (the runtime's review sink).
    pub queue: ReviewQueue,
    /// The configuration.
    pub config: Config,
    /// Where the configuration was read from, if from a file (named in warnings).
    pub config_path: Option<std::path::PathBuf>,
    /// The metrics.
    pub metrics: Metrics,
    /// Why the proof log (or the review store) stopped writing, once it has: nothing more is
    /// acknowledged until a restart, and `/healthz` says so.
    pub broken: std::sync::OnceLock<String>,
    /// The permits of large and costly decisions ([`LARGE_BODY`], [`WORK_BUDGET`]), one per
    /// decision parsed, bound and decided on the blocking pool at once: [`large_permits`] of
    /// them.
    pub large: Arc<tokio::sync::Semaphore>,
}

/// A decision whose body is larger than this (64 KiB) is parsed, bound and decided on tokio's
/// blocking pool rather than on an async worker, whatever its policies: parsing, binding and
/// proving it are linear in its size, and a worker busy with it could neither answer its own
/// timeout nor any other request. A smaller one goes there too when the bound on the work
/// that grows with the input (reading it, and its policies') exceeds [`WORK_BUDGET`] for its
/// size (each loaded module's [`xop_runtime::cost::ModuleWork`], found when it is loaded).
pub const LARGE_BODY: usize = 64 * 1024;

/// The most steps that grow with a decision's input a decision may take on an async worker:
/// 2^20 (1,048,576), as many as 16 steps a byte over a body of [`LARGE_BODY`] bytes (a few
/// milliseconds of computing). A decision goes to the blocking pool exactly when its body is
/// over [`LARGE_BODY`] or, for its body's size `n`, the bound `B(n)` exceeds this, where `B`
/// is the sum of [`Work::of_input`] (parsing, binding and proving the input: `(1 + 2W)·n`)
/// and the [`Work::of_policy`] of the policy asked (of each of the action's policies), its
/// constant term left out ([`Work::growing`]). `W` ([`Work::widening`]) is 1 when the
/// records an input can bind to have at most one optional field each, and `⌈(1 + O)/2⌉` for
/// `O` the most optional fields of one: an object `{}` binds to a record of all its absent
/// fields. In `B`, each operation that walks values of the input adds its operands' sizes,
/// `W·n` each, even outside a loop: a comparison, concatenation or ordering of two texts,
/// lists or records neither of which is a constant (`c.a == c.b`: `2W·n`), `in` over a list of
/// the input, an intrinsic given a list or text of the input (consent, the contact ones,
/// `local_hour` and the other time zone ones), a signal read; a loop over a list of the input
/// multiplies its condition's cost by `W·n`. So, with `W` = 1: a policy whose rules compare
/// only scalars, or values with constants, never passes it below [`LARGE_BODY`] (`3n`); nine
/// rules `c.a == c.b` pass it from 49,933 bytes (`21n`); a single loop with a condition of a
/// few steps only past [`LARGE_BODY`]; two nested loops from a few hundred bytes (from 362 for
/// `any(c.xs, a => any(c.xs, b => a + b == 0 - 1))`), three from a few dozen. With records of
/// 15 optional fields or more (`W` ≥ 8), reading alone passes it below [`LARGE_BODY`] (from
/// 61,681 bytes at `W` = 8; from 1,046 bytes at `W` = 501, 1000 optional fields).
pub const WORK_BUDGET: u64 = 1 << 20;

/// How many large and costly decisions ([`LARGE_BODY`], [`WORK_BUDGET`]) may run at once: one per
/// core the machine has (`std::thread::available_parallelism`, 1 if unknown), so that however many
/// are sent, they leave the async workers, and so `/healthz` and small decisions, a share of every
/// core. A decision cut loose by its timeout stops computing (its [`Deadline`] given up: the engines
/// stop within one pass of a loop nested in another, see docs/serve.md) and frees its permit; one
/// waiting for a permit does so under its own deadline.
pub fn large_permits() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A response's mark that the log or the review store has failed for good ([`App::broken`]).
#[derive(Debug, Clone)]
struct Broken(String);

/// Whether `e` means the log's writer has stopped (it acknowledges nothing more).
fn log_broken(e: &LogError) -> bool {
    matches!(e, LogError::Io { .. } | LogError::Failed(_))
}

/// An error answer: `{"error": code, "message": …}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    broken: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            broken: false,
        }
    }

    /// `not_proven`: the record could not be written; `broken` when the writer has stopped.
    fn not_proven(message: String, broken: bool) -> ApiError {
        ApiError {
            broken,
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_proven", message)
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if self.broken {
            r.extensions_mut().insert(Broken(self.message));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"xop\""),
            );
        }
        // RFC 9110 §15.5.16: an unsupported content coding is answered with the codings that
        // would do.
        if self.code == "unsupported_encoding" {
            r.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        r
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// The router over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/decide/{policy}", post(decide))
        .route("/v1/actions", get(list_actions))
        .route("/v1/actions/{action}/decide", post(decide_action))
        .route("/v1/reviews", get(list_reviews).post(open_review))
        .route("/v1/reviews/{id}", get(show_review))
        .route("/v1/reviews/{id}/approve", post(approve))
        .route("/v1/reviews/{id}/reject", post(reject))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/proof/{n}", get(proof))
        .route("/v1/modules", post(load_module))
        .route("/v1/modules/{name}", delete(unload_module))
        .route("/v1/halt", get(halt_state).post(halt_on).delete(halt_off))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), guard))
        .with_state(app)
}

/// When a request came in (the guard's clock): a decision's [`Deadline`] is counted from it,
/// so that the decision and the request time out together.
#[derive(Debug, Clone, Copy)]
struct Started(Instant);

/// `started` plus `timeout_ms` (a timeout too large for the clock is as good as none).
fn deadline_of(started: Instant, timeout_ms: u64) -> Instant {
    started
        .checked_add(Duration::from_millis(timeout_ms))
        .unwrap_or_else(|| started + Duration::from_secs(30 * 366 * 86_400))
}

/// The per-request timeout, and the refusal counter. A decision answers its own timeout at the
/// same instant, saying whether it was recorded ([`decision_timeout`]); this answer is the
/// other endpoints'.
async fn guard(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    req.extensions_mut().insert(Started(started));
    let until = deadline_of(started, app.config.timeout_ms);
    let handled = async {
        // Here rather than in `read_body`: a coded body is refused whichever endpoint it is
        // sent to, also one that reads no body.
        if let Some(refusal) = transfer_coding_refusal(req.headers()) {
            // Read (within the limit) so that the client reads the answer, not a reset.
            let _ = axum::body::to_bytes(req.into_body(), app.config.body_limit).await;
            return refusal.into_response();
        }
        next.run(req).await
    };
    let response = match tokio::time::timeout_at(until.into(), handled).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} ms (timeout_ms in xop.toml) and was not \
                 acknowledged, but what it asked may still be done: a review's answer (and the \
                 action an approval carries out), a module load or the halt switch goes on once \
                 under way; look before retrying (GET /v1/reviews/{{id}}, /healthz, GET \
                 /v1/halt)",
                app.config.timeout_ms
            ),
        )
        .into_response(),
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        app.metrics.refused();
    }
    if let Some(Broken(why)) = response.extensions().get::<Broken>() {
        let _ = app.broken.set(why.clone());
    }
    response
}

/// 501 `unsupported_transfer_coding` for a request whose `Transfer-Encoding` is anything but
/// a lone `chunked` (RFC 9112 §6.1). hyper refuses one whose last coding is not `chunked`, and
/// undoes the `chunked`, but leaves any coding before it (`gzip, chunked`) on the body: read
/// as sent, such a body would be decided as something it is not. Empty list elements are
/// ignored (RFC 9110 §5.6.1).
fn transfer_coding_refusal(headers: &HeaderMap) -> Option<ApiError> {
    let codings: Vec<String> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .collect();
    let is_chunked = |c: &String| c.eq_ignore_ascii_case("chunked");
    if codings.len() <= 1 && codings.iter().all(is_chunked) {
        return None;
    }
    let sent = codings.join(", ");
    let what = match codings.iter().find(|c| !is_chunked(c)) {
        Some(c) => format!("the transfer coding `{c}` is not decoded here"),
        None => "`chunked` may be applied only once (RFC 9112 §6.1)".to_string(),
    };
    Some(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "unsupported_transfer_coding",
        format!(
            "the request is `Transfer-Encoding: {sent}`: {what}; send the body as it is, with \
             a Content-Length or `Transfer-Encoding: chunked` alone; nothing was done"
        ),
    ))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no endpoint `{}`; the endpoints are POST /v1/decide/{{policy}}, POST \
             /v1/actions/{{action}}/decide, GET /v1/actions, GET|POST /v1/reviews, \
             GET /v1/reviews/{{id}}, POST /v1/reviews/{{id}}/approve|reject, GET \
             /v1/log/checkpoint, GET /v1/log/proof/{{n}}, POST /v1/modules, DELETE \
             /v1/modules/{{name}}, GET|POST|DELETE /v1/halt, GET /healthz, GET /metrics \
             (docs/serve.md)",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "`{method} {}` is not served; the `Allow` header lists the methods this endpoint \
             takes (docs/serve.md)",
            uri.path()
        ),
    )
}

/// A path parameter, percent-decoded as UTF-8; a parameter that is not answers JSON like
/// every other refusal (axum's own rejection is plain text).
struct Param(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Param {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(p)) => Ok(Param(p)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_path",
                format!("{}; percent-encode UTF-8 in paths", e.body_text()),
            )),
        }
    }
}

/// Reads a body of media type `want` within the size limit. `optional`: an empty body without
/// a content type is fine.
async fn read_body(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    want: &str,
    optional: bool,
) -> Result<Bytes> {
    let limit = app.config.body_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {limit} bytes (body_limit in xop.toml)"),
        )
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let ty = headers.get(header::CONTENT_TYPE);
    let media = ty
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .map(str::to_string);
    // The body is read (within the limit) even when it is refused, so that the client reads
    // the answer rather than a reset connection.
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        if e.is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            // Ended before its length, a bad chunk: the client's body, not its size.
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("the body could not be read ({e}); nothing was decided"),
            )
        }
    })?;
    if optional && ty.is_none() && bytes.is_empty() {
        return Ok(bytes);
    }
    // Two types would leave it to the server which one the client meant.
    at_most_one(
        headers,
        &header::CONTENT_TYPE,
        &format!("Content-Type: {want}"),
    )?;
    // The body is read as sent, never decoded: a compressed one would be read as garbage, or
    // worse, as something else.
    if let Some(coding) = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!(
                "the body is `Content-Encoding: {coding}`, which is not decoded here; send it \
                 uncompressed (no Content-Encoding, or `identity`); nothing was done"
            ),
        ));
    }
    if !media
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case(want))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body must be `Content-Type: {want}`, not `{}`",
                media.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    Ok(bytes)
}

/// A body's JSON, read as decisions read their input: invalid JSON and an object that gives a
/// key twice are refused (which value would be meant is left open by JSON).
/// Refuses a request that gives header `name` more than once (400 `duplicate_header`),
/// saying what to send instead (`like`, e.g. `Content-Type: application/json`).
fn at_most_one(headers: &HeaderMap, name: &header::HeaderName, like: &str) -> Result<()> {
    if headers.get_all(name).iter().nth(1).is_none() {
        return Ok(());
    }
    let shown = like.split(':').next().unwrap_or(like);
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "duplicate_header",
        format!(
            "the request has more than one {shown} header; send one, `{like}`; nothing was done"
        ),
    ))
}

fn parse_json(bytes: &[u8]) -> Result<Value> {
    body_json(xop_runtime::bind::parse_json_bytes(bytes))
}

/// A decision's input as [`parse_json`] reads a body, refusing too a number that JSON would
/// read rounded ([`xop_runtime::bind::parse_input`]). One leading byte-order mark is skipped,
/// as everywhere; `json_text` refuses a second one.
fn parse_input(bytes: &[u8]) -> Result<Value> {
    body_json(xop_runtime::bind::json_text(bytes).and_then(xop_runtime::bind::parse_input))
}

/// A parsed body, or the answer to one that is refused.
fn body_json(parsed: std::result::Result<Value, xop_runtime::bind::BindError>) -> Result<Value> {
    parsed.map_err(|e| match e.kind {
        BindErrorKind::DuplicateKey => ApiError::new(
            StatusCode::BAD_REQUEST,
            "duplicate_key",
            format!("the body gives a key twice: {e}; nothing was decided"),
        ),
        BindErrorKind::OutOfRange => ApiError::new(
            StatusCode::BAD_REQUEST,
            "inexact_number",
            format!("{e}; nothing was decided"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is {}; nothing was decided", e.message),
        ),
    })
}

/// The most evidence items a review request may carry.
const MAX_EVIDENCE: usize = 10_000;

/// The longest review an operator may open: its deadline must be a time the log can write.
const MAX_WITHIN_MS: i64 = 10 * 366 * 86_400_000;

/// `body` as an object with only the `known` fields: a typo (`nte` for `note`) or another
/// shape is refused, not read as "no note".
fn only_fields<'a>(
    body: &'a Value,
    known: &[&str],
    code: &'static str,
    shape: &str,
) -> Result<&'a serde_json::Map<String, Value>> {
    let Value::Object(fields) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("the body must be a JSON object: {shape}"),
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!(
                "unknown field `{unknown}`; the fields are {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(fields)
}

fn principal(app: &App, headers: &HeaderMap) -> Result<Principal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send `Authorization: Bearer TOKEN` with a token whose SHA-256 is in xop.toml",
        ));
    };
    // Not a list header: with two, which credentials count would be the server's guess.
    at_most_one(
        headers,
        &header::AUTHORIZATION,
        "Authorization: Bearer TOKEN",
    )?;
    // RFC 9110 §11.1: the scheme is case-insensitive.
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the Authorization header must be `Bearer TOKEN`",
            )
        })?;
    app.config.authenticate(token).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "the token is not in xop.toml (its SHA-256 must be a reviewer's or operator's \
             token_sha256)",
        )
    })
}

fn operator(app: &App, headers: &HeaderMap) -> Result<Principal> {
    let p = principal(app, headers)?;
    if !p.operator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_operator",
            format!(
                "`{}` is not an operator; only [[operators]] in xop.toml may do this",
                p.name
            ),
        ));
    }
    Ok(p)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        runtime_error(e)
    }
}

fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::UnknownPolicy { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_policy", e.to_string())
        }
        RuntimeError::UnknownAction { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_action", e.to_string())
        }
        RuntimeError::AmbiguousPolicy { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "ambiguous_policy", e.to_string())
        }
        RuntimeError::AmbiguousAction { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "ambiguous_action", e.to_string())
        }
        RuntimeError::SplitAction { .. } => {
            ApiError::new(StatusCode::CONFLICT, "split_action", e.to_string())
        }
        RuntimeError::PartialPolicy {
            policy,
            action,
            guards,
            modules,
        } => {
            // Where its policies live in one module the action can be decided whole; across
            // modules it cannot (split_action): say what works.
            let fix = if modules.len() > 1 {
                format!(
                    "they are in modules {}, checked apart: build them into one module, then \
                     decide the action over all of them (POST /v1/actions/{action}/decide)",
                    modules.join(", ")
                )
            } else {
                format!("decide the action over all its policies: POST /v1/actions/{action}/decide")
            };
            ApiError::new(
                StatusCode::CONFLICT,
                "partial_policy",
                format!(
                    "`{policy}` is one of {} policies guarding `{action}` ({}); deciding it alone \
                     could allow what another denies or sends to review, so nothing was decided; \
                     {fix}",
                    guards.len(),
                    guards.join(", ")
                ),
            )
        }
        RuntimeError::Log(ref l) => ApiError::not_proven(
            format!("{e}; the decision must not be acted upon"),
            log_broken(l),
        ),
        RuntimeError::Module(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "module_refused",
            e.to_string(),
        ),
        // What an operator can do over HTTP, with the URLs to send.
        RuntimeError::Conflict { policy, module } => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "policy `{policy}` is already defined by module `{module}`, and two loaded \
                 modules may not define one policy; nothing was loaded: load this module under \
                 that name to replace `{module}` (POST /v1/modules?name={encoded}), or unload \
                 `{module}` first (DELETE /v1/modules/{encoded})",
                encoded = percent_encode(&module)
            ),
        ),
        RuntimeError::Io(_) => ApiError::internal(e.to_string()),
        RuntimeError::DeadlinePassed { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("{e}; retry it (timeout_ms in xop.toml)"),
        ),
    }
}

/// The answer to a decision that ran out of time (`timeout_ms`): exactly what became of it,
/// as its [`Deadline`] tells when the handler gives up on it.
fn decision_timeout(app: &App, deadline: &Deadline) -> ApiError {
    let ms = app.config.timeout_ms;
    let message = if deadline.give_up() {
        let (record, look) = match deadline.seq() {
            Some(n) => (
                format!("its record ({n})"),
                format!("`xop log show DATA {n}`"),
            ),
            None => ("its record".to_string(), "`xop log show DATA`".to_string()),
        };
        format!(
            "the request took longer than {ms} ms (timeout_ms in xop.toml) after its decision was \
             recorded: it was not acknowledged, but the decision stands: {record} becomes \
             durable (unless the log fails), a review it calls for opens its case, and an \
             allowed action the connectors had started before the deadline completes (one not \
             started by then is not carried out: an `action.not_performed` record says so); a \
             retry is a new decision, which may carry the action out or open a case again: look \
             this one up first ({look}, GET /v1/reviews)"
        )
    } else {
        format!(
            "the decision took longer than {ms} ms (timeout_ms in xop.toml) and was abandoned \
             before it was recorded: nothing was recorded, carried out or sent to review; retry it"
        )
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
}

fn review_error(e: ReviewError) -> ApiError {
    let (status, code) = match &e {
        ReviewError::NotFound(_) => (StatusCode::NOT_FOUND, "no_such_case"),
        ReviewError::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
        ReviewError::WrongRole { .. } => (StatusCode::FORBIDDEN, "wrong_role"),
        ReviewError::AlreadyApproved { .. } => (StatusCode::CONFLICT, "already_approved"),
        ReviewError::Changed { .. } => (StatusCode::CONFLICT, "case_changed"),
        ReviewError::Halted { .. } => (StatusCode::CONFLICT, "halted"),
        ReviewError::Log(_) | ReviewError::HaltLog { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "not_proven")
        }
        ReviewError::Io(_) | ReviewError::Corrupt(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "review_store")
        }
    };
    ApiError::new(status, code, e.to_string())
}

fn log_event(rt: &Runtime, name: &str, data: Value) -> Result<Option<u64>> {
    match rt.log() {
        None => Ok(None),
        Some(log) => log.append_event(name, data).map(Some).map_err(|e| {
            ApiError::not_proven(
                format!("the proof record could not be written: {e}"),
                log_broken(&e),
            )
        }),
    }
}

impl App {
    /// Decides and applies the halt switch and a failed case's fallback; blocking.
    fn decide_blocking(&self, asked: &Asked, input: &Value, deadline: &Deadline) -> Result<Value> {
        let input = Input::Value(input);
        let options = Options {
            deadline: Some(deadline),
            whole_action: true,
            ..Options::default()
        };
        let o: Outcome = match asked {
            Asked::Policy(policy) => self.rt.decide_with(policy, input, options),
            Asked::Action(action) => self.rt.decide_action(action, input, options),
        }
        .map_err(|e| match e {
            // A decision that stopped computing at its deadline may end here just before the
            // handler's own timeout answers: the same answer either way.
            RuntimeError::DeadlinePassed { .. } => decision_timeout(self, deadline),
            e => runtime_error(e),
        })?;
        self.answer(o)
    }

    /// Decides a cheap decision (neither large nor costly: [`App::costly`]) on the async
    /// worker and awaits the record's durability without holding a thread: deciding takes
    /// about a microsecond, and the writer completes the whole batch's futures after its one
    /// sync. What may block stays on the blocking pool, without a permit (it waits for the
    /// network or the disk, not for a core; a costly decision never comes here, so it takes
    /// one also under the halt switch or with connectors): connectors (they read signals over
    /// the network while deciding), the halt switch (its fallback is a record of its own), a
    /// review (its case is made durable) or an action to carry out.
    /// A policy that is one of several guarding its action (in any loaded module) is refused
    /// (409 `partial_policy`) by the runtime itself, on the snapshot of the modules it decides
    /// with ([`Options::whole_action`]): the compliance checker proves its properties of all of
    /// them together (a deny in any wins, a review in one holds the action), so deciding one
    /// alone could allow what another denies or sends to a human; such an action is decided
    /// over all its policies (`POST /v1/actions/{action}/decide`).
    ///
    /// The decision is made under `deadline` (the request's `timeout_ms`): not recorded once it
    /// has passed, and an allowed action not carried out once it has ([`Options::deadline`]).
    async fn decide_async(
        self: &Arc<Self>,
        asked: Asked,
        input: Value,
        deadline: &Deadline,
    ) -> Result<Value> {
        if self.rt.has_connectors() || self.queue.halted().is_some() {
            let a = Arc::clone(self);
            let d = deadline.clone();
            return blocking(move || a.decide_blocking(&asked, &input, &d)).await;
        }
        let options = Options {
            deadline: Some(deadline),
            whole_action: true,
            ..Options::default()
        };
        let pending = match &asked {
            Asked::Policy(policy) => self.rt.submit(policy, Input::Value(&input), options),
            Asked::Action(action) => self.rt.submit_action(action, Input::Value(&input), options),
        }
        .map_err(runtime_error)?;
        drop(input);
        // A task of its own: once recorded, the decision stands, and what follows its record
        // (its review case) is done even if the request times out meanwhile and its handler is
        // dropped, as on the blocking path.
        let a = Arc::clone(self);
        let rest = tokio::spawn(async move {
            let decided = pending.await.map_err(runtime_error)?;
            // The halt switch may have been turned on while the record was written.
            if decided.may_block() || a.queue.halted().is_some() {
                return blocking(move || {
                    let o = a.rt.finish(decided).map_err(runtime_error)?;
                    a.answer(o)
                })
                .await;
            }
            let o = a.rt.finish(decided).map_err(runtime_error)?;
            a.answer(o)
        });
        rest.await
            .map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
    }

    /// Whether deciding `asked` on a body of `len` bytes may take more than [`WORK_BUDGET`]
    /// steps that grow with the input, reading the input included, by the bounds of the
    /// modules loaded now ([`xop_runtime::cost::ModuleWork`], found when each was loaded): then it is decided as a
    /// large one ([`App::decide_large`]). A name that is no loaded policy or action is not (the
    /// runtime refuses it at once).
    fn costly(&self, asked: &Asked, len: usize) -> bool {
        let set = self.rt.modules();
        let n = u64::try_from(len).unwrap_or(u64::MAX);
        let within = |w: &Work| w.growing(n) <= WORK_BUDGET;
        // The usual case: no policy loaded has work that grows past the budget at this size.
        if set.modules.iter().all(|m| within(&m.work.most)) {
            return false;
        }
        let work = match asked {
            Asked::Policy(policy) => match set.resolve_policy(policy) {
                Ok((m, i)) => m.work.of_policies(&[i]),
                Err(_) => return false,
            },
            Asked::Action(action) => match set.action(action) {
                Ok((_, m, indices)) => m.work.of_policies(&indices),
                Err(_) => return false,
            },
        };
        // An index not of its module (never expected): costly, to be safe.
        !work.is_some_and(|w| within(&w))
    }

    /// Decides a large body ([`LARGE_BODY`]) or a costly decision ([`App::costly`]) on the blocking
    /// pool, parsing and binding it there too (and applying the halt switch, reading signals
    /// through the connectors), once one of the [`large_permits`] is free: the async worker stays
    /// free, so the request's timeout fires on time (the caller's `timeout_at`, which also bounds
    /// the wait for a permit) and other requests are answered meanwhile. A decision that outlives
    /// its deadline is not recorded: the runtime checks the deadline before submitting its record
    /// ([`Options::deadline`]), so the 503 saying it was abandoned stays true.
    async fn decide_large(
        self: &Arc<Self>,
        asked: Asked,
        bytes: Bytes,
        deadline: &Deadline,
    ) -> Result<Value> {
        let permit = Arc::clone(&self.large)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal(format!("the large decisions' permits: {e}")))?;
        let a = Arc::clone(self);
        let d = deadline.clone();
        blocking(move || {
            // Held until the computation ends: a thread busy with it is a core taken. A
            // request that timed out gave its deadline up, which stops the computation (a
            // loop in a loop of the input: at the next pass; what is linear in the input
            // runs to its end).
            let _permit = permit;
            // Answered already (timed out while waiting for the permit): nothing to do.
            if d.gave_up() {
                return Err(decision_timeout(&a, &d));
            }
            let input = parse_input(&bytes)?;
            drop(bytes);
            a.decide_blocking(&asked, &input, &d)
        })
        .await
    }

    /// The answer to a proven decision, settled by the queue ([`ReviewQueue::settle`]: the
    /// halt switch applied, and a failed case's fallback, both proven; blocking only when the
    /// switch is on or a case failed).
    fn answer(&self, mut o: Outcome) -> Result<Value> {
        // The halt's fallback is that of the module the decision was made with (a swap may
        // have followed): the outcome carries it.
        let settled = self.queue.settle(&self.rt, &mut o).map_err(|e| match e {
            SettleError::Halt(e) => review_error(e),
            SettleError::Fallback { why, .. } => ApiError::not_proven(
                format!("the proof record could not be written: {why}"),
                log_broken(&why),
            ),
        })?;
        Ok(json!({
            "verdict": o.verdict.keyword(),
            "reasons": o.reasons,
            "fired": o.fired,
            "seq": o.seq,
            "case": o.case,
            "case_error": o.case_error,
            "review": o.review,
            "error": o.error,
            "halted": settled.halted,
            "module": o.module,
            "policy": o.policy,
            "action": o.action,
            "performed": o.performed,
            "performed_seq": o.performed_seq,
            "not_performed": o.not_performed,
        }))
    }
}

/// What a decision is asked of.
enum Asked {
    /// One policy (`POST /v1/decide/{policy}`).
    Policy(String),
    /// An action over all its policies (`POST /v1/actions/{action}/decide`).
    Action(String),
}

async fn decide(
    State(app): State<Arc<App>>,
    started: Option<Extension<Started>>,
    Param(policy): Param,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    decide_asked(app, started, Asked::Policy(policy), headers, body).await
}

async fn decide_action(
    State(app): State<Arc<App>>,
    started: Option<Extension<Started>>,
    Param(action): Param,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    decide_asked(app, started, Asked::Action(action), headers, body).await
}

/// A decision, under the request's deadline: past it, the answer is 503 `timeout` saying
/// whether the decision was recorded (then it stands) or abandoned (then nothing of it
/// happens), given here, at the instant the guard would give its own.
async fn decide_asked(
    app: Arc<App>,
    started: Option<Extension<Started>>,
    asked: Asked,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let start = started.map_or_else(Instant::now, |Extension(Started(t))| t);
    let deadline = Deadline::new(deadline_of(start, app.config.timeout_ms));
    let work = async {
        let bytes = read_body(&app, &headers, body, "application/json", false).await?;
        if bytes.len() > LARGE_BODY || app.costly(&asked, bytes.len()) {
            return app.decide_large(asked, bytes, &deadline).await;
        }
        let input = parse_input(&bytes)?;
        app.decide_async(asked, input, &deadline).await
    };
    let out = match tokio::time::timeout_at(deadline.at().into(), work).await {
        Ok(out) => out?,
        Err(_) => return Err(decision_timeout(&app, &deadline)),
    };
    let verdict = out["verdict"].as_str().unwrap_or("deny");
    app.metrics.decision(verdict, start.elapsed());
    Ok(axum::Json(out).into_response())
}

/// A request's query parameters, decoded ([`query`]).
struct Query(Vec<(&'static str, String)>);

impl Query {
    /// The value of parameter `name`, if given.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The query of `uri`, each parameter's name and value percent-decoded as UTF-8, with `+` read
/// as a space: the form encoding (`application/x-www-form-urlencoded`), which HTML forms,
/// `curl -G --data-urlencode` and JavaScript's `URLSearchParams` write; a plus sign is `%2B`.
/// Only the parameters `known` are taken, each once: a misspelt one (`nmae` for `name`), a
/// repeated one, and one that is not percent-encoded UTF-8 are refused with 400 `bad_query`,
/// never read as absent or as its first value. `usage` ends the message: the parameters there
/// are, and what was not done (`nothing was listed`).
fn query(uri: &Uri, known: &[&'static str], usage: &str) -> Result<Query> {
    let bad = |why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{why}: {usage}"),
        )
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for pair in uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = |raw: &str| {
            form_decode(raw).map_err(|why| {
                bad(format!(
                    "the query parameter `{pair}` is not percent-encoded UTF-8 ({why}; percent-\
                     encode the UTF-8 bytes of a value, e.g. a space as %20 or +, a plus sign \
                     as %2B)"
                ))
            })
        };
        let name = decoded(raw_name)?;
        let value = decoded(raw_value)?;
        let Some(&known_name) = known.iter().find(|k| **k == name) else {
            return Err(bad(format!("an unknown query parameter `{name}`")));
        };
        if out.iter().any(|(n, _)| *n == known_name) {
            return Err(bad(format!("a repeated query parameter `{name}`")));
        }
        out.push((known_name, value));
    }
    Ok(Query(out))
}

/// `raw` percent-decoded, `+` read as a space (the form encoding); why not, when an escape
/// is not `%` and two hex digits or the bytes are not UTF-8. (`percent_decode_str` passes a
/// malformed escape through as written: it is refused here first.)
fn form_decode(raw: &str) -> std::result::Result<String, String> {
    let malformed = raw.match_indices('%').map(|(i, _)| i).find(|&i| {
        !raw.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
    });
    if let Some(at) = malformed {
        let shown: String = raw[at..].chars().take(3).collect();
        return Err(format!("`{shown}` is not `%` and two hex digits"));
    }
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|e| {
            format!(
                "the bytes it decodes to are not UTF-8, from byte {} of them",
                e.valid_up_to() + 1
            )
        })
}

/// Every byte but RFC 3986's unreserved characters (letters, digits, `-._~`).
const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded as a path segment or query value: every byte but the unreserved
/// characters of RFC 3986 (letters, digits, `-._~`) as `%XX`. For messages that show a URL to
/// send.
pub(crate) fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, RESERVED).to_string()
}

async fn list_reviews(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response> {
    principal(&app, &headers)?;
    // A misspelt or repeated parameter is refused, not read as no filter (or the first).
    let q = query(
        &uri,
        &["status"],
        "the only one is `status`, once (open, approved, rejected, fallback or all); nothing \
         was listed",
    )?;
    let status = match q.get("status") {
        None | Some("all") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_status",
                format!("`status={s}`: use open, approved, rejected, fallback or all"),
            )
        })?),
    };
    // Each with its record's reasons and evidence, not the file's (docs/review.md).
    let a = Arc::clone(&app);
    let cases = blocking(move || {
        Ok(a.queue
            .list(status)
            .into_iter()
            .map(|c| a.queue.show(c))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(axum::Json(json!({ "cases": cases })).into_response())
}

/// `POST /v1/reviews` (operator): a review case for a decision made elsewhere, e.g. an agent's
/// tool call that `xop mcp-gateway` holds. The request is proven first (`review.requested`,
/// naming the operator), and the case is that record's: `rv-<record>`.
async fn open_review(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let bytes = read_body(&app, &headers, body, "application/json", false).await?;
    let p = operator(&app, &headers)?;
    let v = parse_json(&bytes)?;
    let v = only_fields(
        &v,
        &[
            "action",
            "reasons",
            "role",
            "also",
            "within_ms",
            "fallback",
            "policy",
            "module",
            "source",
            "record",
            "evidence",
        ],
        "bad_review_request",
        "{\"action\", \"reasons\", \"role\", \"within_ms\", \"fallback\"} (docs/serve.md)",
    )?;
    let bad = |what: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_review_request",
            format!(
                "{what}; send {{\"action\", \"reasons\": [..], \"role\", \"within_ms\", \
                 \"fallback\": \"deny\"|\"allow\"}} and optionally \"policy\", \"module\", \
                 \"source\", \"record\" (docs/serve.md)"
            ),
        )
    };
    let text = |key: &str| -> Result<String> {
        match v.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(bad(&format!("`{key}` must be a non-empty string"))),
        }
    };
    let action = text("action")?;
    let role = text("role")?;
    // Other roles, each to be approved too (reviews of several roles fired together).
    let also: Vec<String> = match v.get("also") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| r.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("`also` must be an array of role names"))?,
        Some(_) => return Err(bad("`also` must be an array of role names")),
    };
    let reasons: Vec<String> = match v.get("reasons") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("`reasons` must be strings"))?,
        _ => return Err(bad("`reasons` must be a non-empty array")),
    };
    let within_ms = v
        .get("within_ms")
        .and_then(Value::as_i64)
        .filter(|ms| (1..=MAX_WITHIN_MS).contains(ms))
        .ok_or_else(|| {
            bad("`within_ms` must be a positive number of milliseconds, at most 10 years")
        })?;
    let fallback = match v.get("fallback").and_then(Value::as_str) {
        Some("deny") => Verdict::Deny,
        Some("allow") => Verdict::Allow,
        _ => return Err(bad("`fallback` must be \"deny\" or \"allow\"")),
    };
    let optional = |key: &str| -> Result<String> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(&format!("`{key}` must be a string"))),
        }
    };
    let (policy, module, source) = (
        optional("policy")?,
        optional("module")?,
        optional("source")?,
    );
    let record = match v.get("record") {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            r.as_u64()
                .ok_or_else(|| bad("`record` must be a record number (0, 1, 2, …)"))?,
        ),
    };
    // What the decision read, for the reviewer (the gateway sends the held call's, personal
    // values hashed): proven with the request.
    let evidence: Vec<Evidence> = match v.get("evidence") {
        None | Some(Value::Null) => Vec::new(),
        Some(items) => match serde_json::from_value::<Vec<Evidence>>(items.clone()) {
            Ok(items) if items.len() <= MAX_EVIDENCE => items,
            Ok(_) => {
                return Err(bad(&format!(
                    "`evidence` has more than {MAX_EVIDENCE} items"
                )));
            }
            Err(e) => {
                return Err(bad(&format!(
                    "`evidence` must be a list of {{\"path\", \"value\"}} items as proof records \
                     hold them ({e})"
                )));
            }
        },
    };
    let a = Arc::clone(&app);
    let case = blocking(move || {
        let now = jiff::Timestamp::now().as_millisecond();
        let seq = log_event(
            &a.rt,
            "review.requested",
            json!({"by": p.name, "source": source, "record": record, "module": module,
                   "policy": policy, "action": action, "reasons": reasons, "role": role,
                   "also": also,
                   "within_ms": within_ms, "fallback": fallback.keyword(),
                   "evidence": evidence}),
        )?;
        let case = ReviewCase {
            seq,
            module,
            policy,
            action,
            reasons,
            terms: ReviewTerms {
                role,
                within_ms,
                fallback,
                deadline: xop_runtime::proof::record::time_text(now.saturating_add(within_ms)),
                also,
            },
            evidence,
            at_ms: now,
        };
        let id = ReviewSink::open_case(&a.queue, &case).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_proven",
                format!("the case could not be opened: {e}"),
            )
        })?;
        a.queue
            .get(&id)
            .map(|c| a.queue.show(c))
            .ok_or_else(|| ApiError::internal(format!("case {id} vanished")))
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(case)).into_response())
}

async fn show_review(
    State(app): State<Arc<App>>,
    Param(id): Param,
    headers: HeaderMap,
) -> Result<Response> {
    principal(&app, &headers)?;
    let case = app
        .queue
        .get(&id)
        .ok_or_else(|| review_error(ReviewError::NotFound(id)))?;
    // The reasons and evidence of the case's proof record, not the file's (docs/review.md).
    let a = Arc::clone(&app);
    let shown = blocking(move || Ok(a.queue.show(case))).await?;
    Ok(axum::Json(shown).into_response())
}

async fn approve(
    State(app): State<Arc<App>>,
    Param(id): Param,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    review(app, id, headers, body, true).await
}

async fn reject(
    State(app): State<Arc<App>>,
    Param(id): Param,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    review(app, id, headers, body, false).await
}

async fn review(
    app: Arc<App>,
    id: String,
    headers: HeaderMap,
    body: Body,
    approve: bool,
) -> Result<Response> {
    let bytes = read_body(&app, &headers, body, "application/json", true).await?;
    let p = principal(&app, &headers)?;
    let note = if bytes.is_empty() {
        None
    } else {
        let body = parse_json(&bytes)?;
        let fields = only_fields(&body, &["note"], "bad_note", "{\"note\": \"TEXT\"}")?;
        match fields.get("note") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_note",
                    "`note` must be a string",
                ));
            }
        }
    };
    let reviewer = Reviewer {
        name: p.name,
        roles: p.roles,
    };
    let a = Arc::clone(&app);
    let (case, approved) = blocking(move || {
        let case = if approve {
            a.queue.approve(&id, &reviewer, note.as_deref())
        } else {
            a.queue.reject(&id, &reviewer, note.as_deref())
        }
        .map_err(review_error)?;
        // An approved action that xop carries out (a QoD boost) is carried out now, through
        // the connectors, and proven, as an allow's is.
        let approved = if xop_network::is_network_action(&case.action) {
            a.rt.perform_approved(&case).map_err(|e| {
                ApiError::not_proven(
                    format!(
                        "case {} was approved (proof record {}), but what came of its action \
                         could not be proven: {e}; look the action up at the operator before \
                         doing it again",
                        case.id,
                        case.proof.map_or("-".to_string(), |p| p.to_string())
                    ),
                    matches!(&e, RuntimeError::Log(l) if log_broken(l)),
                )
            })?
        } else {
            None
        };
        Ok((case, approved))
    })
    .await?;
    app.metrics.review_decided();
    // The case as a reviewer is shown it: with its approvals, the roles it still waits for,
    // and its record's reasons and evidence.
    let a = Arc::clone(&app);
    let shown = blocking(move || Ok(a.queue.show(case))).await?;
    let mut body = serde_json::to_value(&shown)
        .map_err(|e| ApiError::internal(format!("the case could not be written: {e}")))?;
    match approved {
        Some(Approved::Performed { performed, seq }) => {
            body["performed"] = json!(performed);
            body["performed_seq"] = json!(seq);
        }
        Some(Approved::NotPerformed { reason, seq, .. }) => {
            body["not_performed"] = json!(reason);
            body["not_performed_seq"] = json!(seq);
        }
        None => {}
    }
    Ok(axum::Json(body).into_response())
}

async fn checkpoint(State(app): State<Arc<App>>) -> Result<Response> {
    let note = app.rt.log().and_then(|l| l.checkpoint()).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_checkpoint",
            "no checkpoint is signed yet: one is signed within a second of the first record",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

async fn proof(State(app): State<Arc<App>>, Param(n): Param) -> Result<Response> {
    let seq: u64 = n.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_record_number",
            format!("`{n}` is not a record number (0, 1, 2, …)"),
        )
    })?;
    let a = Arc::clone(&app);
    let proof = blocking(move || {
        let log =
            a.rt.log()
                .ok_or_else(|| ApiError::internal("the runtime has no proof log"))?;
        let size = log.size();
        match log.prove(seq) {
            Ok(Some(p)) => Ok(p),
            Ok(None) if seq >= size => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_such_record",
                format!("record {seq} does not exist: the log has {size} records"),
            )),
            Ok(None) if a.broken.get().is_some() => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_failed",
                format!(
                    "record {seq} is not covered by a signed checkpoint, and none will be \
                     signed: the proof log stopped writing ({}); restart the server once the \
                     cause is fixed",
                    a.broken.get().map_or("", String::as_str)
                ),
            )),
            Ok(None) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_yet_covered",
                format!(
                    "record {seq} is not covered by a signed checkpoint yet; retry in a second"
                ),
            )),
            Err(e) => Err(ApiError::internal(e.to_string())),
        }
    })
    .await?;
    Ok(axum::Json(proof).into_response())
}

async fn load_module(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response> {
    let bytes = read_body(&app, &headers, body, "application/octet-stream", false).await?;
    let p = operator(&app, &headers)?;
    // A misspelt `name` must not load into the default slot (replacing the only module).
    let q = query(
        &uri,
        &["name"],
        "the only one is `name`, once (the slot to load into: POST /v1/modules?name=NAME); \
         nothing was loaded",
    )?;
    let name = match q.get("name") {
        // `?name=` or `?name`: a name left out by mistake, not a wish for the default slot.
        Some("") => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "the query parameter `name` is empty: give the slot to load into \
                 (POST /v1/modules?name=NAME), or leave `name` out to replace the only loaded \
                 module; nothing was loaded",
            ));
        }
        // A name a start-up could not give a module (its file's): refused, so that a restart's
        // advice to serve it from `NAME.xopm` can be followed, and no warning prints a control
        // character.
        Some(n) => match crate::module_name_problem(n) {
            None => n.to_string(),
            Some(why) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "module_name",
                    format!(
                        "the module name `{}` {why}: a module is named as its file `NAME.xopm` \
                         would be (1 to {} bytes of UTF-8, no `/`, no control character, not \
                         `.` or `..`); nothing was loaded",
                        n.escape_debug(),
                        crate::MAX_MODULE_NAME
                    ),
                ));
            }
        },
        None => {
            let set = app.rt.modules();
            match set.modules.as_slice() {
                [only] => only.name.clone(),
                _ => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "module_name",
                        "name the slot to load into: POST /v1/modules?name=NAME (the loaded \
                         modules are named after their files)",
                    ));
                }
            }
        }
    };
    let a = Arc::clone(&app);
    let (info, kept) = blocking(move || {
        // Proven before the swap, which waits for the record: no decision by the module can
        // be recorded before its `module.loaded`, and if that cannot be written, the old
        // module goes on serving.
        let loaded = (a.rt).load_bytes_recorded(&name, &bytes, a.config.trust.as_ref(), |info| {
            record_swap(
                &a.rt,
                "module.loaded",
                json!({"name": info.name, "module": info.hash, "by": p.name}),
            )
        });
        let info = loaded.map_err(|e| swap_failed(&a.rt, e, &name, false))?;
        // A damaged copy of the module in DATA/modules/ was replaced: someone changed the
        // folder. Said to the operator who loaded it, and on stderr as at start.
        let kept = (a.rt.log())
            .map(xop_runtime::proof::ProofLog::take_warnings)
            .unwrap_or_default();
        Ok((info, kept))
    })
    .await?;
    for w in &kept {
        eprintln!("xop serve: warning: {w}");
    }
    app.metrics.swap();
    let mut answer = json!({
        "name": info.name,
        "module": info.hash,
        "policies": info.policies,
        "signer": info.signer,
    });
    let mut warnings =
        crate::unheld_review_roles(&app.rt.modules(), &app.config, app.config_path.as_deref());
    warnings.extend(kept);
    if !warnings.is_empty() {
        answer["warnings"] = json!(warnings);
    }
    Ok(axum::Json(answer).into_response())
}

/// Why a hot swap or an unload did not happen.
enum SwapFailed {
    /// The runtime refused it: the module (unverified, conflicting), or its copy kept for
    /// replay could not be written.
    Refused(RuntimeError),
    /// Its proof record (`module.loaded`, `module.unloaded`) could not be written.
    Record(LogError),
}

impl From<RuntimeError> for SwapFailed {
    fn from(e: RuntimeError) -> SwapFailed {
        SwapFailed::Refused(e)
    }
}

/// Writes the proof record `name` of a hot swap or an unload, before it takes effect.
fn record_swap(rt: &Runtime, name: &str, data: Value) -> std::result::Result<(), SwapFailed> {
    match rt.log() {
        None => Ok(()),
        Some(log) => log
            .append_event(name, data)
            .map(drop)
            .map_err(SwapFailed::Record),
    }
}

/// The answer to a hot swap (`unload`: an unload) of slot `slot` that did not happen. A log
/// error here is about the module, not a decision: no decision was made, so none is said to
/// be unproven ([`runtime_error`]'s words for a decision's log error). It says what failed,
/// what serves now (nothing changed) and what to do. Only the writer's own stop (its record
/// could not be written for an I/O error) takes the node out of rotation: a module copy that
/// could not be written leaves the log writing.
fn swap_failed(rt: &Runtime, e: SwapFailed, slot: &str, unload: bool) -> ApiError {
    let set = rt.modules();
    let serving = match set.modules.iter().find(|m| m.name == slot) {
        Some(m) => format!(
            "module `{}` ({}) goes on serving as before",
            shown(slot),
            m.hash
        ),
        None => format!("no module is loaded under `{}`", shown(slot)),
    };
    let (what, retry) = if unload {
        (
            "the module was not unloaded",
            format!(
                "unload it again (DELETE /v1/modules/{})",
                percent_encode(slot)
            ),
        )
    } else {
        (
            "the module was not loaded",
            format!(
                "load it again (POST /v1/modules?name={})",
                percent_encode(slot)
            ),
        )
    };
    match e {
        // The log's words say what to do (free space, fix permissions, a smaller module).
        SwapFailed::Refused(RuntimeError::Log(l)) => ApiError::not_proven(
            format!(
                "{what} (no decision was made), so nothing changed: {serving}. Its copy for \
                 replay could not be kept: {l}"
            ),
            false,
        ),
        SwapFailed::Refused(e) => runtime_error(e),
        SwapFailed::Record(l) => {
            let broken = log_broken(&l);
            let record = if unload {
                "module.unloaded"
            } else {
                "module.loaded"
            };
            let fix = if broken {
                format!(
                    "the proof log has stopped writing (GET /healthz says why) and acknowledges \
                     nothing more: fix the cause, restart the server, then {retry}"
                )
            } else {
                format!("once the cause is fixed, {retry}")
            };
            ApiError::not_proven(
                format!(
                    "{what} (no decision was made), so nothing changed: {serving}. Its proof \
                     record `{record}` could not be written: {l}; {fix}"
                ),
                broken,
            )
        }
    }
}

/// `DELETE /v1/modules/{name}` (operator): unloads the module of slot `name`, proven as
/// `module.unloaded` naming the operator. Decisions under way finish on it; its file stays in
/// `DATA/modules` (records name it), so its review cases can still be approved. Refused, nothing
/// changed: a name no module is loaded under (404 `unknown_module`), and the only loaded module
/// (409 `last_module`: a server without modules decides nothing).
async fn unload_module(
    State(app): State<Arc<App>>,
    Param(name): Param,
    headers: HeaderMap,
) -> Result<Response> {
    let p = operator(&app, &headers)?;
    let a = Arc::clone(&app);
    let info = blocking(move || {
        // Proven before the module is unloaded: if the record cannot be written, it goes on
        // serving.
        let unloaded = a.rt.unload_recorded(&name, true, |info| {
            record_swap(
                &a.rt,
                "module.unloaded",
                json!({"name": info.name, "module": info.hash, "by": p.name}),
            )
        });
        let unloaded = unloaded.map_err(|e| swap_failed(&a.rt, e, &name, true))?;
        let info = match unloaded {
            Unloaded::Module(info) => info,
            Unloaded::NotLoaded { loaded } => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_module",
                    format!(
                        "no module is loaded under the name `{name}`; the loaded modules are: {}; \
                         nothing was unloaded",
                        loaded.join(", ")
                    ),
                ));
            }
            Unloaded::LastModule => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "last_module",
                    format!(
                        "`{name}` is the only loaded module, and a server without modules decides \
                         nothing; nothing was unloaded: load its replacement under its name \
                         (POST /v1/modules?name={}), or stop the server",
                        percent_encode(&name)
                    ),
                ));
            }
        };
        Ok(info)
    })
    .await?;
    app.metrics.swap();
    Ok(
        axum::Json(json!({"name": info.name, "module": info.hash, "unloaded": true}))
            .into_response(),
    )
}

async fn halt_state(State(app): State<Arc<App>>) -> Response {
    axum::Json(json!({"halt": app.queue.halted()})).into_response()
}

async fn halt_on(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    let bytes = read_body(&app, &headers, body, "application/json", true).await?;
    let p = operator(&app, &headers)?;
    let reason = if bytes.is_empty() {
        String::new()
    } else {
        let body = parse_json(&bytes)?;
        let fields = only_fields(&body, &["reason"], "bad_halt", "{\"reason\": \"TEXT\"}")?;
        match fields.get("reason") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_halt",
                    "`reason` must be a string",
                ));
            }
        }
    };
    let a = Arc::clone(&app);
    let halt = blocking(move || a.queue.halt(&p.name, &reason).map_err(review_error)).await?;
    Ok(axum::Json(json!({"halt": halt})).into_response())
}

async fn halt_off(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let p = operator(&app, &headers)?;
    let a = Arc::clone(&app);
    let was = blocking(move || a.queue.lift(&p.name).map_err(review_error)).await?;
    Ok(axum::Json(json!({"halt": null, "lifted": was})).into_response())
}

/// `GET /v1/actions`: every guarded action of the loaded modules, with what a client needs to
/// decide it: the policies that guard it, its parameters and their types, an input of the
/// right shape (every value a default: a template to fill in), and whether the halt switch
/// holds it (it has a review rule).
async fn list_actions(State(app): State<Arc<App>>) -> Response {
    use xop_runtime::bind::type_name;
    use xop_runtime::proof::evidence::default_json;
    let modules = app.rt.modules();
    let mut actions = Vec::new();
    for m in &modules.modules {
        let program = m.program();
        let mut seen: Vec<&str> = Vec::new();
        for p in &program.policies {
            if seen.contains(&p.action.as_str()) {
                continue;
            }
            seen.push(&p.action);
            let guards: Vec<usize> = (0..program.policies.len())
                .filter(|&i| program.policies[i].action == p.action)
                .collect();
            let mut example = serde_json::Map::new();
            let params: Vec<Value> = p
                .params
                .iter()
                .map(|x| {
                    example.insert(
                        x.name.clone(),
                        default_json(program, &x.ty, 0).unwrap_or(Value::Null),
                    );
                    json!({"name": x.name, "type": type_name(program, &x.ty)})
                })
                .collect();
            actions.push(json!({
                "action": p.action,
                "module": m.name,
                "policies": guards.iter().map(|&i| &program.policies[i].qualified).collect::<Vec<_>>(),
                "params": params,
                "example": example,
                "high_risk": xop_runtime::review::halt_fallback(program, &guards).is_some(),
            }));
        }
    }
    axum::Json(json!({"actions": actions})).into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let modules: Vec<Value> = app
        .rt
        .modules()
        .modules
        .iter()
        .map(|m| json!({"name": m.name, "module": m.hash}))
        .collect();
    let body = json!({
        "status": if app.broken.get().is_some() { "failing" } else { "ok" },
        "reason": app.broken.get(),
        "modules": modules,
        "log_records": app.rt.log().map(|l| l.size()),
        "halted": app.queue.halted().is_some(),
    });
    // A node that can acknowledge nothing must leave the load balancer's rotation.
    let status = if app.broken.get().is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let size = app.rt.log().map_or(0, |l| l.size());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(
            size,
            app.queue.halted().is_some(),
            app.broken.get().is_some(),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;
    use xop_runtime::review::RuntimeLog;

    /// A new, empty folder for the test `name` (this process's, so runs do not collide).
    fn empty_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xop-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The app of `rt` as a server with no configuration has it, its review queue in `dir`.
    fn app_of(dir: &std::path::Path, rt: Arc<Runtime>) -> App {
        let queue =
            ReviewQueue::open(dir, Box::new(RuntimeLog(Arc::downgrade(&rt)))).expect("a queue");
        App {
            rt,
            queue,
            config: Config::default(),
            config_path: None,
            metrics: Metrics::default(),
            broken: std::sync::OnceLock::new(),
            large: Arc::new(tokio::sync::Semaphore::new(large_permits())),
        }
    }

    /// A decision is costly when reading its input is, whatever its policy does: a module
    /// whose record has 1000 optional fields binds each `{}` of a body to a record of 1000
    /// absent values, so `plain`, whose rule never looks at them, goes to the blocking pool on
    /// a body of 64,860 bytes (reading it: `(1 + 2 × 501) × n` steps, [`Work::of_input`]), and
    /// stays on the async path on one of 500 bytes; so does an action, by its policies and
    /// its input read once.
    #[test]
    fn reading_an_input_of_wide_records_is_costly() {
        let fields: Vec<String> = (0..1000).map(|i| format!("f{i}: Int?")).collect();
        let text = format!(
            "module t.w\n\n/// Offers.\npurpose marketing\n\nrecord R {{ {} }}\n\n\
             record C {{ id: Id, rs: List<R> }}\n\n/// Greet.\n\
             action greet(to: C) purpose marketing risk minimal\n\n\
             policy plain for greet(to: c) {{\n  deny \"b\" when c.id == \"b\"\n\
             allow \"ok\"\n}}\n",
            fields.join(", ")
        );
        let mut ws = xop_compiler::db::Workspace::new();
        ws.set_file("w.xop", text.as_str());
        let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("it compiles");
        let module = xop_runtime::module::Module {
            program,
            source_hash: xop_runtime::module::hash_sources([("w.xop", text.as_bytes())]),
            sources: vec!["w.xop".into()],
        };
        let dir = empty_dir("costly");
        let rt = Arc::new(Runtime::new());
        rt.load_bytes("w", &module.to_bytes(None), None)
            .expect("it loads");
        let app = app_of(&dir, rt);
        let plain = Asked::Policy("plain".into());
        let greet = Asked::Action("t.w.greet".into());
        assert!(app.costly(&plain, 64_860));
        assert!(app.costly(&greet, 64_860));
        assert!(!app.costly(&plain, 500));
        assert!(!app.costly(&greet, 500));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A response that says the log stopped writing takes the node out of rotation: `/healthz`
    /// answers 503 with the reason from then on. An error that is not the writer's stop
    /// (an unknown policy, a not-proven decision of a log still writing) does not.
    #[test]
    fn a_failed_log_makes_healthz_fail() {
        let dir = empty_dir("healthz");
        let app = Arc::new(app_of(&dir, Arc::new(Runtime::new())));
        let routes = Router::new()
            .route(
                "/busy",
                get(|| async { ApiError::not_proven("the log is busy".into(), false) }),
            )
            .route(
                "/broken",
                get(|| async { ApiError::not_proven("No space left on device".into(), true) }),
            )
            .route("/healthz", get(healthz))
            .layer(middleware::from_fn_with_state(Arc::clone(&app), guard))
            .with_state(Arc::clone(&app));
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let get = |path: &str| {
            let req = Request::builder().uri(path).body(Body::empty()).unwrap();
            let r = tokio.block_on(routes.clone().oneshot(req)).unwrap();
            let status = r.status();
            let body = tokio.block_on(axum::body::to_bytes(r.into_body(), 1 << 16));
            (
                status,
                serde_json::from_slice::<Value>(&body.unwrap()).unwrap(),
            )
        };
        assert_eq!(get("/healthz").0, StatusCode::OK);
        assert_eq!(get("/busy").0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(get("/healthz").1["status"], "ok");
        assert_eq!(get("/broken").0, StatusCode::SERVICE_UNAVAILABLE);
        let (status, body) = get("/healthz");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            app.metrics
                .render(0, false, app.broken.get().is_some())
                .contains("\nxop_log_failed 1\n")
        );
        assert_eq!(
            (body["status"].as_str(), body["reason"].as_str()),
            (Some("failing"), Some("No space left on device"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
