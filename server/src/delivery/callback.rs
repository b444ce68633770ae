//! The HTTP callback channel: for devices an SMS cannot reach (no SMSC, data-only modems),
//! each push is posted as JSON to an operator-supplied URL, whose service delivers it by its
//! own means (issue 7: "by HTTP callback to an operator-supplied URL").
//!
//! Request: `POST <url>`, `Content-Type: application/json`, optional
//! `Authorization: Bearer <token>`, body
//! `{"push_id", "device_id", "msisdn", "content_type", "application_id", "body_b64",
//! "sms_user_data_b64": [..]}` (the content before WSP framing, and the ready SMS user data for
//! services that do send SMS). Answer: any 2xx accepts the push; 408, 429 and 5xx are
//! temporary; other statuses reject it.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use serde::Deserialize;

use super::endpoint::Endpoint;
use super::{
    ConfigError, DeliveryError, DeliveryFuture, DeliveryOutcome, OutboundPush, PushChannel, Secret,
    check_push_id,
};

/// `[delivery.http]`: where pushes are posted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    /// The operator's endpoint, `http://` or `https://`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Option<Secret>,
    /// PEM CA bundle for `https` (default: the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long one post may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The most of the endpoint's answer we read (we only need its status).
const MAX_ANSWER: usize = 4096;

/// A [`PushChannel`] posting pushes to an operator's HTTP endpoint.
pub struct CallbackChannel {
    config: CallbackConfig,
    target: Endpoint,
}

impl std::fmt::Debug for CallbackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

impl CallbackChannel {
    /// Checks the configuration.
    pub fn new(config: CallbackConfig) -> Result<CallbackChannel, ConfigError> {
        if config.timeout_ms == 0 {
            return Err(ConfigError::new("http.timeout_ms", "must be positive"));
        }
        if let Some(t) = &config.token
            && (t.expose().is_empty() || !t.expose().bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ConfigError::new("http.token", "must be printable ASCII without spaces"));
        }
        let target =
            Endpoint::parse(&config.url, "http.url", config.ca_file.as_deref(), "http.ca_file", MAX_ANSWER)?;
        Ok(CallbackChannel { config, target })
    }

    async fn post(&self, push: &OutboundPush) -> Result<DeliveryOutcome, DeliveryError> {
        check_push_id(&push.push_id)?;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let body = serde_json::json!({
            "push_id": push.push_id,
            "device_id": push.device_id,
            "msisdn": push.msisdn,
            "content_type": push.content.content_type,
            "application_id": push.content.application_id,
            "body_b64": b64(&push.content.body),
            "sms_user_data_b64": push.sms_user_data.iter().map(|s| b64(s)).collect::<Vec<_>>(),
        })
        .to_string();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.target.path)
            .header(header::HOST, &self.target.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len());
        if let Some(token) = &self.config.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::InvalidPush(format!("cannot build the callback request: {e}")))?;
        let limit = Duration::from_millis(self.config.timeout_ms);
        let (status, _) = tokio::time::timeout(limit, self.target.exchange(request, "the callback endpoint"))
            .await
            .map_err(|_| DeliveryError::Temporary {
                reason: format!("no callback answer within {} ms", limit.as_millis()),
            })??;
        classify(status, &push.push_id)
    }
}

/// What an HTTP status means for the push.
fn classify(status: StatusCode, push_id: &str) -> Result<DeliveryOutcome, DeliveryError> {
    if status.is_success() {
        Ok(DeliveryOutcome::Accepted { references: vec![push_id.to_owned()] })
    } else if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
        Err(DeliveryError::Temporary { reason: format!("callback endpoint answered HTTP {status}") })
    } else {
        Err(DeliveryError::Rejected {
            code: u32::from(status.as_u16()),
            reason: format!("callback endpoint answered HTTP {status}"),
        })
    }
}

impl PushChannel for CallbackChannel {
    fn deliver<'a>(&'a self, push: &'a OutboundPush) -> DeliveryFuture<'a> {
        Box::pin(self.post(push))
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert!(classify(StatusCode::ACCEPTED, "p").is_ok());
        for s in [500, 503, 408, 429] {
            let e = classify(StatusCode::from_u16(s).unwrap(), "p").unwrap_err();
            assert!(e.is_retryable(), "{s}");
        }
        for s in [400, 401, 404, 302] {
            let e = classify(StatusCode::from_u16(s).unwrap(), "p").unwrap_err();
            assert!(!e.is_retryable(), "{s}");
        }
    }

    #[test]
    fn config_checks() {
        let ok = CallbackConfig {
            url: "http://127.0.0.1:9/push".into(),
            token: None,
            ca_file: None,
            timeout_ms: 1,
        };
        assert!(CallbackChannel::new(ok.clone()).is_ok());
        assert!(CallbackChannel::new(CallbackConfig { url: "ftp://x/".into(), ..ok.clone() }).is_err());
        assert!(CallbackChannel::new(CallbackConfig { timeout_ms: 0, ..ok.clone() }).is_err());
        assert!(CallbackChannel::new(CallbackConfig { token: Some(Secret::new("a b")), ..ok }).is_err());
    }
}
