//! `omadm serve`: the HTTP(S) listener, the router, the background sweeper that ends idle
//! sessions, the refresher of the operator DDFs, and the push dispatcher.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, header};
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use omadm_storage::Store;
use tokio::net::TcpListener;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::app::{App, now_millis};
use crate::config::{Config, redact_url};
use crate::dm;

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route: `POST /dm` for devices, `/api/v1` for operators.
pub fn router(app: App) -> Router {
    let dm = Router::new()
        .route("/dm", post(dm::post))
        // Bodies over our MaxMsgSize are refused with 413 before they are read whole.
        .layer(DefaultBodyLimit::max(app.config.engine.max_msg_size as usize))
        .with_state(app.clone());
    dm.merge(crate::api::routes(app)).layer(SetSensitiveRequestHeadersLayer::new([
        header::AUTHORIZATION,
        HeaderName::from_static("x-syncml-hmac"),
    ]))
}

/// Open the store, migrate it, and serve until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    if config.admin_token.is_none() && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve the admin API on {} without a token: set OMADM_ADMIN_TOKEN (or admin_token in the configuration file)",
            config.listen
        );
    }
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&config.database_url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        database = %redact_url(&config.database_url),
        backend = store.backend_name(),
        tls = config.tls.is_some(),
        server_id = %config.server_id,
        "omadm serving"
    );
    let app = App::new(store, Arc::new(config));
    app.ddfs.reload(&app.store).await.context("cannot load the operator DDFs")?;
    serve(listener, app, shutdown).await
}

/// Serve `app` on a bound listener until `shutdown` resolves, then finish open connections.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = match &app.config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let sweeper = tokio::spawn(sweep_idle_sessions(app.clone()));
    let ddf_refresher = tokio::spawn(crate::ddfs::refresh_periodically(app.store.clone(), app.ddfs.clone()));
    let channels = app.config.delivery.start().context("cannot start the delivery channels")?;
    let stop_dispatch = Arc::new(tokio::sync::Notify::new());
    let dispatcher = {
        let stop = stop_dispatch.clone();
        tokio::spawn(crate::dispatcher::run(
            app.store.clone(),
            channels.clone(),
            app.config.push_backoff,
            app.push_wake.clone(),
            async move { stop.notified().await },
        ))
    };
    let router = router(app);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that never finishes its headers is cut off (slow-header attack).
        builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        match &tls {
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move { log_conn(peer, conn.await) });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                    log_conn(peer, watcher.watch(conn).await)
                });
            }
        }
    }
    sweeper.abort();
    ddf_refresher.abort();
    // The dispatcher finishes the round it is in (pushes it took are recorded), then stops.
    stop_dispatch.notify_one();
    if tokio::time::timeout(Duration::from_secs(10), dispatcher).await.is_err() {
        tracing::warn!("push dispatcher still sending after 10 s; its pushes will be retried");
    }
    for c in &channels {
        c.close().await;
    }
    tracing::info!("shutting down: finishing open connections");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 10 s; closing");
    }
    Ok(())
}

fn log_conn<E: std::fmt::Display>(peer: SocketAddr, r: Result<(), E>) {
    if let Err(e) = r {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A rustls acceptor from PEM files (TLS 1.2 and 1.3, the provider's default suites).
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid certificate in {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// End sessions idle for longer than the timeout, re-queueing their unanswered commands.
async fn sweep_idle_sessions(app: App) {
    let period = (app.config.session_idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let now = now_millis();
        let before = now - app.config.session_idle_timeout.as_millis() as i64;
        if let Err(e) = sweep_once(&app.store, before, now).await {
            tracing::warn!(error = %e, "idle session sweep failed");
        }
    }
}

async fn sweep_once(store: &Store, before: i64, now: i64) -> Result<(), omadm_storage::StoreError> {
    for rec in store.idle_sessions(before, 100).await? {
        let mut tx = store.begin().await?;
        // Re-read under the transaction's lock: the device may have just sent a message.
        if let Some(rec) = tx.get_session(&rec.token).await?
            && rec.outcome == omadm_storage::SessionOutcome::Active
            && rec.last_activity_at < before
        {
            tracing::info!(device = %rec.device_id, session = %rec.dm_session_id, "session timed out");
            dm::expire(&mut tx, rec, now).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
