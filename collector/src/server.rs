//! The HTTP/1.1 server loop: hyper with a timer, so that slow clients are
//! cut off (headers must arrive within `header_read_timeout`; bodies are
//! bounded in `ingest::body`; a response a client does not read within
//! `write_timeout` closes the connection), at most `max_connections` open
//! connections (more wait in the kernel's backlog), keep-alive for pixels and
//! load balancers, the peer address for each request, and graceful shutdown:
//! stop accepting, let in-flight requests finish (up to a bound), close idle
//! connections.
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// Limits of the connection layer.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time allowed for a request's headers to arrive.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Time a blocked write may wait for the client to read.
    pub write_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self::from_config(&crate::config::LimitsConfig::default())
    }
}

impl ServerLimits {
    /// The limits the configuration sets.
    pub fn from_config(l: &crate::config::LimitsConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(15),
            max_connections: l.max_connections.max(1),
            write_timeout: Duration::from_secs(l.write_timeout_secs.max(1)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with(listener, router, limits, None, shutdown).await
}

/// [`run`], with TLS terminated by `tls` when given (the handshake must end
/// within `header_read_timeout`; see [`crate::tls`]).
pub async fn run_with(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = router.clone().map_request(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.map(axum::body::Body::new)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let stream = Box::pin(stream);
        let Some(acceptor) = tls.clone() else {
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                drop(permit);
            });
            continue;
        };
        let watcher = graceful.watcher();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), TowerToHyperService::new(svc));
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the shutdown grace period");
    }
    Ok(())
}
