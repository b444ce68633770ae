//! `omadm serve`: the HTTP(S) listener, the router, the background sweeper that ends idle
//! sessions, the refresher of the operator DDFs, the push dispatcher and the notification
//! scheduler. Outside `/api/v1`: `/healthz`, `/readyz` ([`crate::health`]) and `/metrics`
//! ([`crate::metrics`]); every request is counted by route class and status.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, header};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use omadm_storage::Store;
use tokio::net::TcpListener;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use crate::app::{App, now_millis};
use crate::config::{Config, redact_url};
use crate::dm;
use crate::tls::{self, ClientCertificate, ReloadingCert, TlsFiles};

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route: `POST /dm` for devices, `/api/v1` for operators, health and metrics.
pub fn router(app: App) -> Router {
    let dm = Router::new()
        .route("/dm", post(dm::post))
        // Bodies over our MaxMsgSize are refused with 413 before they are read whole.
        .layer(DefaultBodyLimit::max(app.config.engine.max_msg_size as usize))
        .with_state(app.clone());
    let ops = Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .route("/metrics", get(crate::metrics::get))
        .route("/firmware/{id}/{name}", get(crate::campaign::firmware::download))
        .with_state(app.clone());
    dm.merge(ops)
        .merge(crate::api::routes(app))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(SetSensitiveRequestHeadersLayer::new([
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
        Some((cert, key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: app.config.tls_client_ca.clone(),
            };
            Some(tls_acceptor(&files)?)
        }
        None => None,
    };
    let cert_watcher =
        tls.as_ref().map(|(_, certs)| tokio::spawn(tls::watch(certs.clone(), tls::RELOAD_POLL)));
    let draining = app.draining.clone();
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
    let stop_campaigns = Arc::new(tokio::sync::Notify::new());
    let campaigns = {
        let stop = stop_campaigns.clone();
        let engine = crate::campaign::engine::for_app(&app);
        tokio::spawn(engine.run(crate::dispatcher::Wake::default(), async move { stop.notified().await }))
    };
    let stop_notify = Arc::new(tokio::sync::Notify::new());
    let notifier = {
        let stop = stop_notify.clone();
        tokio::spawn(crate::notify::scheduler::run(
            app.store.clone(),
            app.config.notification,
            app.notify_wake.clone(),
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
            Some((acceptor, _)) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                let router = router.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    // A verified client certificate goes with every request of the connection.
                    let client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| ClientCertificate::from_der(c))
                        .map(Arc::new);
                    match client_cert {
                        Some(c) => {
                            let service =
                                TowerToHyperService::new(tower::Layer::layer(&axum::Extension(c), router));
                            let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                            log_conn(peer, watcher.watch(conn).await)
                        }
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                            log_conn(peer, watcher.watch(conn).await)
                        }
                    }
                });
            }
        }
    }
    // Not ready from now on: load balancers stop sending new sessions here.
    draining.start();
    sweeper.abort();
    ddf_refresher.abort();
    if let Some(w) = cert_watcher {
        w.abort();
    }
    // The notification scheduler finishes its round (its steps are transactions), then stops.
    stop_campaigns.notify_one();
    if tokio::time::timeout(Duration::from_secs(10), campaigns).await.is_err() {
        tracing::warn!("campaign engine still busy after 10 s; its leases will run out");
    }
    stop_notify.notify_one();
    if tokio::time::timeout(Duration::from_secs(10), notifier).await.is_err() {
        tracing::warn!("notification scheduler still busy after 10 s; its leases will run out");
    }
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

/// A rustls acceptor from PEM files ([`crate::tls`]) and the certificate it reloads.
fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<(tokio_rustls::TlsAcceptor, Arc<ReloadingCert>)> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = Arc::new(ReloadingCert::load(&files.cert, &files.key, provider.clone())?);
    let config = tls::server_config(files, certs.clone(), provider)?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), certs))
}

/// End sessions idle for longer than the timeout, re-queueing their unanswered commands.
async fn sweep_idle_sessions(app: App) {
    let period = (app.config.session_idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(period);
    let mut last_purge = 0;
    loop {
        tick.tick().await;
        let now = now_millis();
        let before = now - app.config.session_idle_timeout.as_millis() as i64;
        if let Err(e) = sweep_once(&app.store, before, now).await {
            tracing::warn!(error = %e, "idle session sweep failed");
        }
        // Transcripts past their retention, once a minute.
        if let Some(keep) = app.config.transcript_retention
            && now - last_purge >= 60_000
        {
            last_purge = now;
            match app.store.delete_transcripts_before(now - keep.as_millis() as i64).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "transcript messages past retention deleted"),
                Err(e) => tracing::warn!(error = %e, "transcript purge failed"),
            }
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
