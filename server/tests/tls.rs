//! HTTPS with rustls when a certificate and key are configured: a device completes package 1
//! over TLS and the RespURI it gets is https. Certificates are made at test time.

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
