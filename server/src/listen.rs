//! Accepting connections: HTTP/1.1 with a deadline for each request's head, a bound on open
//! connections, and a graceful stop that cannot be held up by a client that never finishes.
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
use tower::ServiceExt;

/// Connections open at once; past it, new connections are closed as soon as they are
/// accepted, so that the process keeps file descriptors for its log and its answers.
pub const MAX_CONNECTIONS: usize = 4096;

/// How long a stopping server waits for open connections to finish their requests.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// Serves `router` on `listener` until `stop` completes, then lets connections finish the
/// request they are in (at most [`STOP_GRACE`]) and returns. A client must send each request's
/// head (line and headers) within `head_timeout` of starting it, or of opening the connection
/// (the rest of the request is bounded by the router's own timeout).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    head_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
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
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
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
