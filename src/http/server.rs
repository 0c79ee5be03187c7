//! The connection loop both listeners share: accept, serve HTTP/1.1 with read timeouts, and on
//! shutdown stop accepting, let in-flight requests finish (bounded by a drain timeout) and
//! return.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::Body;

/// Request limits. The defaults suit Jira's webhooks; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Larger bodies get 413. Jira's biggest issue payloads are well under this.
    pub max_body_bytes: usize,
    /// A client that has not sent complete headers by then is disconnected (slowloris).
    pub header_read_timeout: Duration,
    /// A client that has not sent the complete body by then gets 408.
    pub body_read_timeout: Duration,
    /// After shutdown, how long in-flight requests may take before their connections are cut.
    pub drain_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog instead of
    /// exhausting file descriptors.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(7),
            max_connections: 4096,
        }
    }
}

/// Set when a listener starts shutting down, so handlers can answer 503 to requests that
/// are still arriving on open connections.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    TooLarge,
    Timeout,
    Broken,
}

/// Reads a whole body within the size and time limits.
pub(crate) async fn read_body(body: Incoming, limits: &Limits) -> Result<Bytes, BodyError> {
    let limited = Limited::new(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(BodyError::TooLarge)
            } else {
                Err(BodyError::Broken)
            }
        }
    }
}

/// Serves `handler` on `listener` until `shutdown` resolves, then drains.
pub(crate) async fn serve<H, Fut>(
    listener: TcpListener,
    limits: Limits,
    draining: Draining,
    handler: H,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let accept = async {
            // The semaphore is never closed, so acquiring only waits.
            let slot = slots.clone().acquire_owned().await.ok();
            (listener.accept().await, slot)
        };
        tokio::select! {
            _ = &mut shutdown => break,
            (accepted, slot) = accept => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    let mut stop_rx = stop_rx.clone();
                    let header_timeout = limits.header_read_timeout;
                    conns.spawn(async move {
                        let _slot = slot;
                        let svc = service_fn(move |req| {
                            let handler = handler.clone();
                            async move { Ok::<_, Infallible>(handler(req).await) }
                        });
                        let conn = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(header_timeout)
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            res = conn.as_mut() => {
                                if let Err(e) = res {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                }
                            }
                            _ = async { let _ = stop_rx.wait_for(|stop| *stop).await; } => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning; the listener stays usable.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    draining.set();
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = conns.len(),
            "connections still open after the drain timeout; closing them"
        );
        conns.shutdown().await;
    }
    Ok(())
}
