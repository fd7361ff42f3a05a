//! Accepting connections: HTTP/1.1 with a deadline for each request's head and for each write
//! of an answer, a bound on a head's size and on open connections, and a graceful stop that
//! cannot be held up by a client that never finishes.
//!
//! `axum::serve` sets none of these: a client sending half a request head kept its connection
//! (and a file descriptor) for as long as it liked, enough of them starved everyone else, and
//! one of them kept a stopping server from closing its proof log.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// Connections open at once; past it, new connections are closed as soon as they are
/// accepted, so that the process keeps file descriptors for its log and its answers.
pub const MAX_CONNECTIONS: usize = 4096;

/// How long a stopping server waits for open connections to finish their requests.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// The largest request head (request line and headers, with the blank line ending it), in
/// bytes: 408 KiB. One byte more is answered 431 by hyper, and the connection is closed.
/// (hyper's own bound, its read buffer, is not exact: a read may fill the buffer past it, and a
/// head that arrives whole in such a read is accepted.)
pub const MAX_HEAD: usize = 408 * 1024;

/// Serves `router` on `listener` until `stop` completes, then lets connections finish the
/// request they are in (at most [`STOP_GRACE`]) and returns. A client must send each request's
/// head (line and headers, at most [`MAX_HEAD`] bytes) within `timeout` of starting it, or of
/// opening the connection (the rest of the request is bounded by the router's own timeout),
/// and a write of an answer that makes no progress for `timeout` (a client that does not read
/// what it asked for) closes the connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    // `timeout_ms` is not bounded in xop.toml, and a deadline past what the clock can count
    // would panic in the write timer: 30 years is as good as none.
    let timeout = timeout.min(Duration::from_secs(30 * 366 * 86_400));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_header_size(MAX_HEAD);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a little rather than spin, and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = router
            .clone()
            .map_request(|req: hyper::Request<Incoming>| req.map(Body::new));
        // Without it, a client that pipelines requests and never reads the answers held its
        // connection, and a connection slot, for ever, and a stop for all of STOP_GRACE.
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(timeout));
        let conn = http.serve_connection(
            TokioIo::new(Box::pin(stream)),
            TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A connection's error (a reset, a head not sent in time) concerns that client only.
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(STOP_GRACE, graceful.shutdown()).await;
}
