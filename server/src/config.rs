//! Server configuration: defaults, then a TOML file, then environment variables and flags
//! (clap merges those two), later sources overriding earlier ones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::delivery::DeliveryConfig;
use crate::dispatcher::Backoff;
use crate::notify::{NotificationConfig, NotificationFile};
use crate::session::EngineConfig;

/// Everything `omadm serve` needs.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Our ServerID (DMAcc ServerID; the server credentials' user name).
    pub server_id: String,
    /// Bearer token of the admin API; `None` only when listening on loopback.
    pub admin_token: Option<String>,
    /// The URL devices reach us at, e.g. `https://dm.example.com`; when unset it is built from
    /// the request's Host header.
    pub public_url: Option<String>,
    /// PEM certificate chain and private key: HTTPS when both are set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Session engine settings.
    pub engine: EngineConfig,
    /// A session with no message for this long is ended and its unanswered commands re-queued.
    pub session_idle_timeout: Duration,
    /// How long session transcripts are kept (`None`: none are kept).
    pub transcript_retention: Option<Duration>,
    /// The push delivery channels (`[delivery]`: SMPP, PAP).
    pub delivery: DeliveryConfig,
    /// Waits between attempts of a push that failed for a passing reason.
    pub push_backoff: Backoff,
    /// Notification retries, fallback and throttling (`[notification]`).
    pub notification: NotificationConfig,
    /// Campaigns and firmware packages (`[campaign]`).
    pub campaign: crate::campaign::CampaignConfig,
    /// PEM CA certificates: `/dm` requires a client certificate chained to them that names the
    /// device ([`crate::tls`]). Only with `tls`.
    pub tls_client_ca: Option<PathBuf>,
    /// Bearer token for `GET /metrics`; open when unset.
    pub metrics_token: Option<String>,
    /// How `omadm serve` writes its logs.
    pub log_format: LogFormat,
}

/// How logs are written (`log_format`, `--log-format`, `OMADM_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::fmt::Debug for Config {
    /// The admin token never appears in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("server_id", &self.server_id)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("public_url", &self.public_url)
            .field("tls", &self.tls)
            .field("engine", &self.engine)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("transcript_retention", &self.transcript_retention)
            .field("delivery", &self.delivery)
            .field("push_backoff", &self.push_backoff)
            .field("notification", &self.notification)
            .field("tls_client_ca", &self.tls_client_ca)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// A database URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:<redacted>{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The `[server]`-less flat TOML file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub server_id: Option<String>,
    pub admin_token: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub metrics_token: Option<String>,
    pub log_format: Option<LogFormat>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
    pub session_idle_timeout_secs: Option<u64>,
    pub transcript_retention_days: Option<u64>,
    pub push_retry_first_secs: Option<u64>,
    pub push_retry_max_secs: Option<u64>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub notification: NotificationFile,
    #[serde(default)]
    pub campaign: crate::campaign::CampaignConfig,
}

impl FileConfig {
    /// Read a TOML configuration file.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid configuration in {}", path.display()))
    }
}

/// Defaults of a local start: loopback, SQLite file in the working directory.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://omadm.db";
/// The default ServerID.
pub const DEFAULT_SERVER_ID: &str = "omadm";

/// Overrides from flags or the environment (clap fills both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "OMADM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "OMADM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Database URL: sqlite://FILE or postgres://... [default: sqlite://omadm.db].
    #[arg(long, env = "OMADM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Our ServerID [default: omadm].
    #[arg(long, env = "OMADM_SERVER_ID")]
    pub server_id: Option<String>,
    /// Bearer token for the admin API (required unless listening on loopback).
    #[arg(long, env = "OMADM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Public base URL of the server, used in RespURI (e.g. https://dm.example.com).
    #[arg(long, env = "OMADM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "OMADM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "OMADM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: /dm then requires a client certificate chained to them.
    #[arg(long, env = "OMADM_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Bearer token for GET /metrics (open when unset).
    #[arg(long, env = "OMADM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Log format (text or json); the level comes from RUST_LOG (default info).
    #[arg(long, env = "OMADM_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Overrides {
    /// Merge defaults, the file (if any) and these overrides.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let mut engine = EngineConfig::default();
        if let Some(m) = file.max_msg_size {
            anyhow::ensure!((4096..=16 * 1024 * 1024).contains(&m), "max_msg_size must be 4096..16777216");
            engine.max_msg_size = m;
        }
        if let Some(m) = file.max_obj_size {
            anyhow::ensure!((4096..=256 * 1024 * 1024).contains(&m), "max_obj_size must be 4096..268435456");
            engine.max_obj_size = m;
        }
        let tls = match (self.tls_cert.clone().or(file.tls_cert), self.tls_key.clone().or(file.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("tls_cert and tls_key must be given together"),
        };
        let tls_client_ca = self.tls_client_ca.clone().or(file.tls_client_ca);
        anyhow::ensure!(tls_client_ca.is_none() || tls.is_some(), "tls_client_ca needs tls_cert and tls_key");
        let config = Config {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            database_url: self
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            server_id: self
                .server_id
                .clone()
                .or(file.server_id)
                .unwrap_or_else(|| DEFAULT_SERVER_ID.to_owned()),
            admin_token: self.admin_token.clone().or(file.admin_token).filter(|t| !t.is_empty()),
            public_url: self
                .public_url
                .clone()
                .or(file.public_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            tls,
            engine,
            session_idle_timeout: Duration::from_secs(file.session_idle_timeout_secs.unwrap_or(300).max(1)),
            push_backoff: Backoff {
                first: Duration::from_secs(file.push_retry_first_secs.unwrap_or(10).max(1)),
                max: Duration::from_secs(file.push_retry_max_secs.unwrap_or(600).max(1)),
            },
            notification: NotificationConfig::from_file(&file.notification)?,
            campaign: file.campaign.clone(),
            tls_client_ca,
            metrics_token: self.metrics_token.clone().or(file.metrics_token).filter(|t| !t.is_empty()),
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
            // Days; 0 keeps none. Default 7.
            transcript_retention: match file.transcript_retention_days.unwrap_or(7) {
                0 => None,
                d => Some(Duration::from_secs(d.min(3650) * 86_400)),
            },
            delivery: file.delivery,
        };
        anyhow::ensure!(!config.server_id.is_empty(), "server_id must not be empty");
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_defaults_file_flags() {
        let dir = std::env::temp_dir().join(format!("omadm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("omadm.toml");
        std::fs::write(
            &path,
            "server_id = \"fromfile\"\nlisten = \"127.0.0.1:9000\"\nmax_msg_size = 20000\n",
        )
        .unwrap();
        let o = Overrides {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let c = o.resolve().unwrap();
        assert_eq!(c.server_id, "fromfile");
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.engine.max_msg_size, 20000);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(o.resolve().is_err());
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:<redacted>@h/db");
    }
}
