//! An HTTP(S) endpoint a channel posts to (a PPG, an operator's callback URL): the URL parsed
//! once, one HTTP/1.1 exchange per request on a fresh connection, the answer bounded.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{ConfigError, DeliveryError};

/// Where the Debian CA bundle lives: the default trust store for `https` URLs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A parsed `http://` or `https://` URL and what it takes to reach it.
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query: the request target.
    pub(crate) path: String,
    /// The Host header.
    pub(crate) authority: String,
    tls: Option<TlsConnector>,
    max_response_bytes: usize,
}

impl Endpoint {
    /// Parse `url` (the setting `field`, named in errors); `https` trusts `ca_file` (the
    /// setting `ca_field`) or the system bundle.
    pub(crate) fn parse(
        url: &str,
        field: &'static str,
        ca_file: Option<&std::path::Path>,
        ca_field: &'static str,
        max_response_bytes: usize,
    ) -> Result<Endpoint, ConfigError> {
        let uri: Uri = url.parse().map_err(|e| ConfigError::new(field, format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(ConfigError::new(field, "must start with http:// or https://")),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or(ConfigError::new(field, "has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned());
        let authority = uri.authority().map_or(host.clone(), |a| a.as_str().to_owned());
        if authority.contains('@') {
            return Err(ConfigError::new(field, "credentials belong in their own settings, not the URL"));
        }
        let tls = if tls { Some(tls_connector(ca_field, ca_file)?) } else { None };
        Ok(Endpoint { host, port, path, authority, tls, max_response_bytes })
    }

    /// One exchange: the status and the body (at most `max_response_bytes`). `peer` names the
    /// other side in errors. Connect and TLS failures are `Unavailable`, the rest `Temporary`.
    pub(crate) async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        peer: &str,
    ) -> Result<(StatusCode, Bytes), DeliveryError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| {
            DeliveryError::Unavailable {
                reason: format!("connect to {peer} {}:{}: {e}", self.host, self.port),
            }
        })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.send(tcp, request, peer).await,
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| DeliveryError::Unavailable { reason: format!("{peer} host name: {e}") })?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| DeliveryError::Unavailable { reason: format!("TLS with {peer}: {e}") })?;
                self.send(tls, request, peer).await
            }
        }
    }

    async fn send<S>(
        &self,
        stream: S,
        request: Request<Full<Bytes>>,
        peer: &str,
    ) -> Result<(StatusCode, Bytes), DeliveryError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let temporary = |what: &str, e: &dyn std::fmt::Display| DeliveryError::Temporary {
            reason: format!("{what}: {e}"),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| temporary(&format!("HTTP handshake with {peer}"), &e))?;
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(|e| temporary("request", &e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), self.max_response_bytes)
            .collect()
            .await
            .map_err(|e| temporary(&format!("answer of {peer}"), &e))?
            .to_bytes();
        connection.abort();
        Ok((status, body))
    }
}

fn tls_connector(
    field: &'static str,
    ca_file: Option<&std::path::Path>,
) -> Result<TlsConnector, ConfigError> {
    let path = ca_file.unwrap_or(std::path::Path::new(SYSTEM_CA_BUNDLE));
    let bad = |e: &dyn std::fmt::Display| ConfigError::new(field, format!("{}: {e}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificates"));
    }
    // An explicit provider: the process may hold two, and the default builder then panics.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
