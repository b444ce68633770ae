//! One keep-alive HTTP/1.1 client connection (hyper's low-level client: no pool, no
//! per-request lookup), reopened after it breaks.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use super::dm::Failure;

/// An answer, body read whole.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// The Content-Type header, if any and if it is text.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// A connection to one server, opened on first use and reopened after an error.
pub struct HttpConn {
    addr: SocketAddr,
    host: HeaderValue,
    bearer: Option<HeaderValue>,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened so far (1 for a connection that never broke).
    pub connects: u32,
}

impl HttpConn {
    /// A connection to `addr`, sending `Host: authority` (the DM server builds its RespURI from
    /// it) and, when given, `Authorization: Bearer token`.
    pub fn new(addr: SocketAddr, authority: &str, token: Option<&str>) -> HttpConn {
        HttpConn {
            addr,
            host: HeaderValue::from_str(authority).expect("authority is header text"),
            bearer: token
                .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("token is header text")),
            sender: None,
            connects: 0,
        }
    }

    /// Open the connection now if it is not open.
    pub async fn connect(&mut self) -> Result<(), Failure> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::Transport(format!("connect {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Transport(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// POST `body` to `path` (origin form, e.g. `/dm?s=...`).
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<HttpResponse, Failure> {
        self.request(Method::POST, path, Some(content_type), body).await
    }

    /// Send one request and read the whole answer. A transport error closes the connection
    /// (the next request opens a new one); the request is not retried.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> Result<HttpResponse, Failure> {
        self.connect().await?;
        let sender = self.sender.as_mut().expect("connected");
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Err(Failure::Transport(format!("connection not ready: {e}")));
        }
        let mut req = Request::builder().method(method).uri(path).header(HOST, self.host.clone());
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(b) = &self.bearer {
            req = req.header(AUTHORIZATION, b.clone());
        }
        let req = req.body(Full::new(body)).map_err(|e| Failure::Transport(format!("request: {e}")))?;
        let result = async {
            let resp = sender.send_request(req).await?;
            let status = resp.status().as_u16();
            let content_type =
                resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(HttpResponse { status, content_type, body })
        }
        .await;
        result.map_err(|e| {
            self.sender = None;
            Failure::Transport(e.to_string())
        })
    }
}
