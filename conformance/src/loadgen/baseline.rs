//! The baseline: a trivial hyper server that answers every POST with a canned body, the real
//! package 2 or package 4 bytes the DM server sent in the run before it. Driven by the same
//! client with the same requests, it shows what the machine does for HTTP alone, so that the
//! DM server's rate can be read as a ratio rather than as an absolute figure on a noisy machine.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The answers to replay.
#[derive(Clone, Debug)]
pub struct Canned {
    /// Content type of both answers.
    pub content_type: &'static str,
    /// The answer to a request without a session token (package 1).
    pub pkg2: Bytes,
    /// The answer to a request with one (`?s=`, package 3).
    pub pkg4: Bytes,
}

/// The baseline server on its own runtime (threads named `lg-baseline`), bound to
/// `127.0.0.1:0`; stopped when dropped.
pub struct BaselineServer {
    /// Where it listens.
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

/// The thread-name prefix of the baseline server's runtime.
pub const THREAD_NAME: &str = "lg-baseline";

impl BaselineServer {
    /// Start with `threads` worker threads (the DM server has one per core).
    pub fn start(canned: Canned, threads: usize) -> std::io::Result<BaselineServer> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let ct = HeaderValue::from_static(canned.content_type);
        rt.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => return eprintln!("baseline server: {e}"),
            };
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let canned = canned.clone();
                let ct = ct.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let canned = canned.clone();
                        let ct = ct.clone();
                        async move {
                            let second = req.uri().query().is_some_and(|q| q.contains("s="));
                            // Read the request whole, as the DM endpoint does.
                            let _ = req.into_body().collect().await;
                            let body = if second { canned.pkg4 } else { canned.pkg2 };
                            let mut resp = Response::new(Full::new(body));
                            resp.headers_mut().insert(CONTENT_TYPE, ct);
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(BaselineServer { addr, rt: Some(rt) })
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
