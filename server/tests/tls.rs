//! HTTPS with rustls when a certificate and key are configured: a device completes package 1
//! over TLS and the RespURI it gets is https; the certificate reloads when its files change;
//! client certificates (`tls_client_ca`) are required on `/dm`. Certificates are made at test time.

mod common;

use std::sync::Arc;

use common::*;
use omadm_protocol::*;
use omadm_storage::ClientAuthType;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn package_one_over_tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = TempDir::new("tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let mut cfg = config(&format!("sqlite://{}", dir.0.join("db.sqlite").display()));
    cfg.tls = Some((cert, key));
    let server = Server::start(cfg).await;
    let creds = DeviceCreds::new("IMEI:500000000000001", ClientAuthType::Basic);
    server.add_device(&creds).await;

    let mut dev = Client::new(&server, creds);
    let body = encode(&dev.package1(), Encoding::Xml);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ck.cert.der().to_vec())).unwrap();
    let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/vnd.syncml.dm+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr.port(),
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let r = http::parse(&raw);
    assert_eq!(r.status, 200);
    let m = decode(&r.body, &Limits::default()).unwrap();
    assert_eq!(hdr_status(&m).data, StatusCode::AuthenticationAccepted);
    assert!(m.hdr.source.loc_uri.starts_with("https://localhost:"), "{}", m.hdr.source.loc_uri);

    // Plain HTTP to the TLS port gets no DM answer.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /dm HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut raw)).await;
    assert!(!raw.starts_with(b"HTTP/1.1 200"));
    server.stop().await;
}

/// A CA and a leaf it signs (rcgen at test time).
struct Ca {
    cert: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, issuer: rcgen::Issuer::new(p, key) }
    }

    /// A client certificate with a subjectAltName URI `uri`.
    fn client(&self, uri: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names.push(rcgen::SanType::URI(uri.try_into().unwrap()));
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        (p.signed_by(&key, &self.issuer).unwrap(), key)
    }
}

fn connector(
    server_root: &CertificateDer<'static>,
    client: Option<(&rcgen::Certificate, &rcgen::KeyPair)>,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_root.clone()).unwrap();
    let b = rustls::ClientConfig::builder().with_root_certificates(roots);
    let c = match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(c))
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(server: &Server, c: &tokio_rustls::TlsConnector) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await?;
    let mut tls = c.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
    // TLS 1.3 reports a refused client certificate after the handshake: read to see it.
    tls.write_all(b"").await?;
    Ok(tls)
}

/// One keep-alive request on an open TLS stream; the response's status and body.
async fn request(
    tls: &mut Tls,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body).await?;
    // Read the head, then exactly Content-Length bytes (the connection stays open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while raw.len() < end + 4 + len {
                let n = tls.read(&mut buf).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                raw.extend_from_slice(&buf[..n]);
            }
            let r = http::parse(&raw[..end + 4 + len]);
            return Ok((r.status, r.body));
        }
    }
}

fn served_cert(tls: &Tls) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Replacing the certificate and key files: new connections get the new certificate within a
/// few poll periods, while a connection opened before keeps working with the old one.
#[tokio::test]
async fn certificate_reloads_when_the_files_change() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = TempDir::new("tls-reload");
    let ca = Ca::new("omadm test CA");
    let leaf = |serial: u64| {
        let mut p = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        p.serial_number = Some(rcgen::SerialNumber::from(serial));
        let key = rcgen::KeyPair::generate().unwrap();
        (p.signed_by(&key, &ca.issuer).unwrap(), key)
    };
    let (cert1, key1) = leaf(1);
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, cert1.pem()).unwrap();
    std::fs::write(&key, key1.serialize_pem()).unwrap();
    let mut cfg = config(&format!("sqlite://{}", dir.0.join("db.sqlite").display()));
    cfg.tls = Some((cert.clone(), key.clone()));
    let server = Server::start(cfg).await;
    let root = CertificateDer::from(ca.cert.der().to_vec());
    let c = connector(&root, None);

    let mut old = connect(&server, &c).await.unwrap();
    assert_eq!(served_cert(&old), cert1.der().to_vec());
    assert_eq!(request(&mut old, "/healthz", "text/plain", b"").await.unwrap().0, 405);

    // Replace both files (write-then-rename, as cert managers do).
    let (cert2, key2) = leaf(2);
    std::fs::write(dir.0.join("cert.new"), cert2.pem()).unwrap();
    std::fs::write(dir.0.join("key.new"), key2.serialize_pem()).unwrap();
    std::fs::rename(dir.0.join("key.new"), &key).unwrap();
    std::fs::rename(dir.0.join("cert.new"), &cert).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let fresh = connect(&server, &c).await.unwrap();
        if served_cert(&fresh) == cert2.der().to_vec() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The connection from before the reload still answers, on its old certificate.
    assert_eq!(served_cert(&old), cert1.der().to_vec());
    let body = encode(
        &Client::new(&server, DeviceCreds::new("IMEI:1", ClientAuthType::Basic)).package1(),
        Encoding::Xml,
    );
    let (status, _) = request(&mut old, "/dm", "application/vnd.syncml.dm+xml", &body).await.unwrap();
    assert_eq!(status, 200);

    // A broken pair (key of another certificate) is refused; the current one stays.
    let (_, key3) = leaf(3);
    std::fs::write(&key, key3.serialize_pem()).unwrap();
    tokio::time::sleep(omadm_server::tls::RELOAD_POLL * 2).await;
    assert_eq!(served_cert(&connect(&server, &c).await.unwrap()), cert2.der().to_vec());
    server.stop().await;
}

/// `tls_client_ca`: a certificate from another CA fails the handshake; on `/dm` no certificate,
/// or one naming another device, gets 401; the device's own certificate is accepted. The admin
/// API and the probes need no client certificate.
#[tokio::test]
async fn client_certificates_required_on_dm() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = TempDir::new("tls-client");
    let server_ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key, ca_file) = (dir.0.join("cert.pem"), dir.0.join("key.pem"), dir.0.join("ca.pem"));
    std::fs::write(&cert, server_ck.cert.pem()).unwrap();
    std::fs::write(&key, server_ck.signing_key.serialize_pem()).unwrap();
    let ca = Ca::new("device CA");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let mut cfg = config(&format!("sqlite://{}", dir.0.join("db.sqlite").display()));
    cfg.tls = Some((cert, key));
    cfg.tls_client_ca = Some(ca_file);
    let server = Server::start(cfg).await;
    let creds = DeviceCreds::new("IMEI:600000000000001", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let root = CertificateDer::from(server_ck.cert.der().to_vec());
    let pkg1 = || encode(&Client::new(&server, creds.clone()).package1(), Encoding::Xml);
    let dm = "application/vnd.syncml.dm+xml";
    let hdr_code = |body: &[u8]| hdr_status(&decode(body, &Limits::default()).unwrap()).data;

    // Its own certificate: accepted (DM authentication still runs: 212).
    let (own, own_key) = ca.client(&creds.device_id);
    let mut tls = connect(&server, &connector(&root, Some((&own, &own_key)))).await.unwrap();
    let (status, body) = request(&mut tls, "/dm", dm, &pkg1()).await.unwrap();
    assert_eq!((status, hdr_code(&body)), (200, StatusCode::AuthenticationAccepted));

    // Another device's certificate, from the right CA: refused by DM (401).
    let (other, other_key) = ca.client("IMEI:600000000000002");
    let mut tls = connect(&server, &connector(&root, Some((&other, &other_key)))).await.unwrap();
    let (status, body) = request(&mut tls, "/dm", dm, &pkg1()).await.unwrap();
    assert_eq!((status, hdr_code(&body)), (200, StatusCode::InvalidCredentials));

    // No certificate: the handshake passes, /dm refuses, the probes and the API answer.
    let mut tls = connect(&server, &connector(&root, None)).await.unwrap();
    let (status, body) = request(&mut tls, "/dm", dm, &pkg1()).await.unwrap();
    assert_eq!((status, hdr_code(&body)), (200, StatusCode::InvalidCredentials));
    let (status, _) = request(&mut tls, "/readyz", "text/plain", b"").await.unwrap();
    assert_eq!(status, 405, "POST to a GET route: routed, no certificate asked");

    // A certificate of another CA: the server refuses the handshake.
    let rogue = Ca::new("rogue CA");
    let (bad, bad_key) = rogue.client(&creds.device_id);
    let refused = match connect(&server, &connector(&root, Some((&bad, &bad_key)))).await {
        Err(_) => true,
        Ok(mut tls) => request(&mut tls, "/dm", dm, &pkg1()).await.is_err(),
    };
    assert!(refused, "a client certificate of another CA must fail the handshake");
    server.stop().await;
}
