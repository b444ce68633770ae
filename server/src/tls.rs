//! HTTPS: the rustls server configuration from PEM files, the certificate reloaded without a
//! restart, and optional client certificates.
//!
//! **Reload.** [`ReloadingCert`] is the configuration's certificate resolver: every handshake
//! reads the current certificate and key under a read lock, and [`watch`] swaps in a new pair
//! on SIGHUP or when either file changes (checked every [`RELOAD_POLL`]). Connections already
//! open keep the session they negotiated; a pair that fails to load (unreadable, or key and
//! certificate not matching, e.g. half-way through a copy) is logged and the old one kept.
//!
//! **Suites.** The aws-lc-rs provider's defaults, with TLS 1.2 and 1.3 only
//! (`with_safe_default_protocol_versions`): TLS 1.3 AES-256-GCM, AES-128-GCM,
//! ChaCha20-Poly1305; TLS 1.2 only ECDHE (ECDSA or RSA) with the same three AEADs; key exchange
//! X25519, P-256, P-384, X25519MLKEM768 (rustls 0.23 `crypto::aws_lc_rs::DEFAULT_CIPHER_SUITES`,
//! `DEFAULT_KX_GROUPS`). No CBC, RC4, 3DES or RSA key exchange: the suites OMA-TS-DM_Security
//! §5.1 lists as mandatory for TLS 1.0 devices are deliberately not offered.
//!
//! **Client certificates** (`tls_client_ca`). DM 1.2 allows transport-level authentication
//! (AAuthType `TRANSPORT`, OMA-TS-DM_StdObj AppAuth). The listener asks every client for a
//! certificate; one that does not chain to the configured CA fails the handshake. `/dm` then
//! requires one, and a message is refused (SyncHdr Status 401) unless the certificate names the
//! device: its Source LocURI (e.g. `IMEI:493005100592800`) equals a subjectAltName URI or DNS
//! name, or the subject's common name. This comes on top of DM authentication, never instead.
//! The admin API, `/metrics` and the health probes have their own tokens and need no
//! certificate. The CA file is read at start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How often [`watch`] looks at the files' modification times.
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The longest certificate (DER) whose names we read; real ones are a few KB.
const MAX_CERT_DER: usize = 64 * 1024;

/// The TLS settings of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, end-entity first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates devices' client certificates must chain to.
    pub client_ca: Option<PathBuf>,
}

/// What identifies a version of a file: modification time, size and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp(Option<SystemTime>, u64, u64);

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(Stamp(m.modified().ok(), m.len(), ino))
}

/// The server certificate and key, swapped in place when the files change.
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl ReloadingCert {
    /// Load the pair; an error when either file is unreadable or they do not match.
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> anyhow::Result<ReloadingCert> {
        let seen = (stamp(cert), stamp(key));
        let ck = load_pair(cert, key, &provider)?;
        Ok(ReloadingCert {
            current: RwLock::new(Arc::new(ck)),
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            seen: Mutex::new(seen),
        })
    }

    /// The pair handshakes use now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Load the files again and use them for new handshakes.
    pub fn reload(&self) -> anyhow::Result<()> {
        let seen = (stamp(&self.cert), stamp(&self.key));
        let ck = load_pair(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ck);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        Ok(())
    }

    /// Whether either file changed since it was last loaded.
    pub fn changed(&self) -> bool {
        let now = (stamp(&self.cert), stamp(&self.key));
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != now
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    CertifiedKey::from_der(certs, key, provider)
        .with_context(|| format!("the key does not fit the certificate {}", cert.display()))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid certificate in {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

/// The server configuration: TLS 1.2 and 1.3 with the provider's default suites, the
/// certificate from `certs`, client certificates when `files.client_ca` is set, HTTP/1.x ALPN.
pub fn server_config(
    files: &TlsFiles,
    certs: Arc<ReloadingCert>,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
            }
            // Optional at the handshake (the admin API needs none); `/dm` requires one.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(config)
}

/// Reload `certs` on SIGHUP and whenever its files change; runs until aborted.
pub async fn watch(certs: Arc<ReloadingCert>, poll: Duration) {
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; certificate files are still polled");
            None
        }
    };
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let why = tokio::select! {
            _ = tick.tick() => if certs.changed() { "files changed" } else { continue },
            _ = hangup => "SIGHUP",
        };
        match certs.reload() {
            Ok(()) => tracing::info!(cert = %certs.cert.display(), reason = why, "TLS certificate reloaded"),
            Err(e) => {
                tracing::warn!(
                    reason = why,
                    error = format!("{e:#}"),
                    "TLS certificate not reloaded; keeping the old one"
                )
            }
        }
    }
}

/// The names of a verified client certificate, attached to each request of its connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// subjectAltName URIs and DNS names, then the subject's common names.
    pub names: Vec<String>,
}

impl ClientCertificate {
    /// The names in an end-entity certificate (DER); `None` if it does not parse.
    pub fn from_der(der: &[u8]) -> Option<ClientCertificate> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        if der.len() > MAX_CERT_DER {
            return None;
        }
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::URI(s) | GeneralName::DNSName(s) => names.push((*s).to_owned()),
                    _ => {}
                }
            }
        }
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_owned));
        Some(ClientCertificate { names })
    }

    /// Whether the certificate names the device `device_id` (exact match).
    pub fn names_device(&self, device_id: &str) -> bool {
        self.names.iter().any(|n| n == device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_suites_are_ecdhe_aead_only() {
        let p = rustls::crypto::aws_lc_rs::default_provider();
        let names: Vec<String> = p.cipher_suites.iter().map(|s| format!("{:?}", s.suite())).collect();
        assert_eq!(
            names,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]
        );
        let groups: Vec<String> = p.kx_groups.iter().map(|g| format!("{:?}", g.name())).collect();
        assert_eq!(groups, ["X25519", "secp256r1", "secp384r1", "X25519MLKEM768"]);
    }

    #[test]
    fn client_certificate_names_from_san_and_cn() {
        let mut params = rcgen::CertificateParams::new(vec!["dev.example".to_owned()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::URI("IMEI:493005100592800".try_into().unwrap()));
        params.distinguished_name.push(rcgen::DnType::CommonName, "MAC:00AABBCCDDEE");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let c = ClientCertificate::from_der(cert.der()).unwrap();
        assert!(c.names_device("IMEI:493005100592800"));
        assert!(c.names_device("MAC:00AABBCCDDEE"));
        assert!(c.names_device("dev.example"));
        assert!(!c.names_device("IMEI:49300510059280"));
        assert_eq!(ClientCertificate::from_der(b"\x30\x03\x02\x01"), None);
        assert_eq!(ClientCertificate::from_der(&[]), None);
    }
}
