//! The PAP channel: the server acts as a Push Initiator and posts each push to a Push Proxy
//! Gateway, which builds the WSP push and the SMS itself.
//!
//! Request (WAP-247 PAP 2.0, push submission; shared/TOOLS.md, the shape Kannel 1.4.5 accepts): `POST` of
//! a `multipart/related` body (RFC 2387) whose first part is the PAP control document (DOCTYPE
//! `-//WAPFORUM//DTD PAP 2.0//EN`, `push-message` with our push-id, the `address` in the PPG
//! client-address form `WAPPUSH=<+msisdn>/TYPE=PLMN@<ppg host>` (WAP-249 PPG Service, PPG addressing),
//! `quality-of-service`) and whose second part is the content with its own Content-Type and
//! `X-Wap-Application-Id`. No `Cache-Control: no-transform`: Kannel corrupts such bodies
//! (TOOLS.md).
//!
//! Answer: a `push-response` whose `response-result code` classifies the outcome (PAP §9.13 as
//! cited by Kannel:
//! 1xxx success, 2xxx client errors, 3xxx server errors, 4xxx service failures; values as in
//! Kannel gw/wap_push_ppg.h), or a `badmessage-response` (code 2000) for a document the PPG
//! could not parse. HTTP and TLS go through hyper and rustls; bodies are bounded, every step
//! has a timeout.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use quick_xml::events::{BytesStart, Event};
use serde::Deserialize;

use super::endpoint::Endpoint;
use super::{
    ConfigError, DeliveryError, DeliveryFuture, DeliveryOutcome, OutboundPush, PushChannel, Secret,
    check_push_id, e164_digits,
};

/// The public identifier of the PAP 2.0 DTD (WAP-247 PAP 2.0 Appendix; TOOLS.md).
pub const PAP_20_PUBLIC_ID: &str = "-//WAPFORUM//DTD PAP 2.0//EN";
/// Its system identifier.
pub const PAP_20_SYSTEM_ID: &str = "http://www.wapforum.org/DTD/pap_2.0.dtd";

/// How to reach a Push Proxy Gateway; `[delivery.pap]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PapConfig {
    /// The PPG's PAP URL, `http://` or `https://`, e.g. `http://127.0.0.1:13080/wappush`.
    pub url: String,
    /// The PPG specifier after `@` in push addresses (`WAPPUSH=+49.../TYPE=PLMN@<ppg_host>`).
    pub ppg_host: String,
    /// HTTP Basic user name, when the PPG requires one.
    #[serde(default)]
    pub username: Option<String>,
    /// HTTP Basic password. Never logged.
    #[serde(default)]
    pub password: Option<Secret>,
    /// PEM file of the CA certificates trusted for an `https` URL; default the system bundle.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time for connecting, sending and reading the answer, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest answer read, in octets.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// `network` of quality-of-service, e.g. `GSM`.
    #[serde(default = "default_network")]
    pub network: String,
    /// `bearer` of quality-of-service, e.g. `SMS`.
    #[serde(default = "default_bearer")]
    pub bearer: String,
}

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_max_response_bytes() -> usize {
    64 * 1024
}
fn default_network() -> String {
    "GSM".into()
}
fn default_bearer() -> String {
    "SMS".into()
}

impl PapConfig {
    /// A configuration with every default, for `url` and `ppg_host`.
    pub fn new(url: impl Into<String>, ppg_host: impl Into<String>) -> Self {
        PapConfig {
            url: url.into(),
            ppg_host: ppg_host.into(),
            username: None,
            password: None,
            ca_file: None,
            timeout_ms: default_timeout_ms(),
            max_response_bytes: default_max_response_bytes(),
            network: default_network(),
            bearer: default_bearer(),
        }
    }
}

/// A [`PushChannel`] that posts pushes to a PPG over PAP 2.0.
pub struct PapChannel {
    config: PapConfig,
    target: Endpoint,
    authorization: Option<String>,
}

impl std::fmt::Debug for PapChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PapChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

fn printable(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

impl PapChannel {
    /// Checks the configuration and prepares the HTTP(S) target.
    pub fn new(config: PapConfig) -> Result<PapChannel, ConfigError> {
        let target = Endpoint::parse(
            &config.url,
            "pap.url",
            config.ca_file.as_deref(),
            "pap.ca_file",
            config.max_response_bytes,
        )?;
        for (field, value) in [
            ("pap.ppg_host", &config.ppg_host),
            ("pap.network", &config.network),
            ("pap.bearer", &config.bearer),
        ] {
            if !printable(value) {
                return Err(ConfigError::new(field, "must be non-empty printable ASCII without spaces"));
            }
        }
        if config.timeout_ms == 0 || config.max_response_bytes == 0 {
            return Err(ConfigError::new(
                "pap.timeout_ms",
                "timeout_ms and max_response_bytes must be positive",
            ));
        }
        let authorization = match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                if user.contains(':') {
                    return Err(ConfigError::new("pap.username", "must not contain ':' (RFC 7617)"));
                }
                let pair = format!("{user}:{}", password.expose());
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
            }
            (None, None) => None,
            _ => return Err(ConfigError::new("pap.username", "username and password go together")),
        };
        Ok(PapChannel { config, target, authorization })
    }

    async fn push(&self, push: &OutboundPush) -> Result<DeliveryOutcome, DeliveryError> {
        check_push_id(&push.push_id)?;
        let msisdn = e164_digits(&push.msisdn)?;
        let content = &push.content;
        let header_value = |name: &str, v: &str| {
            if v.is_empty() || v.len() > 256 || !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                Err(DeliveryError::InvalidPush(format!("{name} must be 1-256 printable ASCII characters")))
            } else {
                Ok(())
            }
        };
        header_value("content_type", &content.content_type)?;
        if let Some(app) = &content.application_id {
            header_value("application_id", app)?;
        }
        let boundary = boundary_for(&content.body)?;
        let body = request_body(push, msisdn, &self.config, &boundary);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.target.path)
            .header(header::HOST, &self.target.authority)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}; type=\"application/xml\""),
            )
            .header(header::CONTENT_LENGTH, body.len());
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::InvalidPush(format!("cannot build the PAP request: {e}")))?;
        let limit = Duration::from_millis(self.config.timeout_ms);
        let (status, answer) =
            tokio::time::timeout(limit, self.target.exchange(request, "the PPG")).await.map_err(|_| {
                DeliveryError::Temporary { reason: format!("no PPG answer within {} ms", limit.as_millis()) }
            })??;
        let outcome = outcome(status, &answer, &push.push_id);
        match &outcome {
            Ok(_) => tracing::info!(push_id = %push.push_id, "push accepted by the PPG"),
            Err(error) => tracing::warn!(push_id = %push.push_id, %error, "PAP push failed"),
        }
        outcome
    }
}

impl PushChannel for PapChannel {
    fn deliver<'a>(&'a self, push: &'a OutboundPush) -> DeliveryFuture<'a> {
        Box::pin(self.push(push))
    }

    fn name(&self) -> &'static str {
        "pap"
    }
}

/// A multipart boundary (RFC 2046 §5.1.1: at most 70 characters) that the content does not
/// contain: 128 random bits, drawn again in the unlikely case of a match.
fn boundary_for(content: &[u8]) -> Result<String, DeliveryError> {
    for _ in 0..4 {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| DeliveryError::Temporary { reason: format!("no randomness for a boundary: {e}") })?;
        let boundary = format!("omadm-{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
        if !content.windows(boundary.len()).any(|w| w == boundary.as_bytes()) {
            return Ok(boundary);
        }
    }
    Err(DeliveryError::Temporary { reason: "no multipart boundary outside the content".into() })
}

/// XML character data or attribute value with the five special characters escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The PAP control document of one push: `push-message`, `address`, `quality-of-service`.
pub fn control_document(push_id: &str, msisdn_digits: &str, config: &PapConfig) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n\
         <!DOCTYPE pap PUBLIC \"{PAP_20_PUBLIC_ID}\" \"{PAP_20_SYSTEM_ID}\">\r\n\
         <pap><push-message push-id=\"{}\" progress-notes-requested=\"false\">\
         <address address-value=\"WAPPUSH=+{}/TYPE=PLMN@{}\"/>\
         <quality-of-service priority=\"high\" delivery-method=\"unconfirmed\" network-required=\"true\" \
         network=\"{}\" bearer-required=\"true\" bearer=\"{}\"/>\
         </push-message></pap>",
        escape(push_id),
        escape(msisdn_digits),
        escape(&config.ppg_host),
        escape(&config.network),
        escape(&config.bearer),
    )
}

/// The multipart/related body: control document, then the content (RFC 2046 §5.1.1: the CRLF
/// before each delimiter belongs to the delimiter, so the content's bytes are exact).
fn request_body(push: &OutboundPush, msisdn_digits: &str, config: &PapConfig, boundary: &str) -> Vec<u8> {
    let control = control_document(&push.push_id, msisdn_digits, config);
    let mut out = Vec::with_capacity(control.len() + push.content.body.len() + 300);
    out.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/xml\r\n\r\n").as_bytes());
    out.extend_from_slice(control.as_bytes());
    out.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Type: {}\r\n", push.content.content_type).as_bytes(),
    );
    if let Some(app) = &push.content.application_id {
        out.extend_from_slice(format!("X-Wap-Application-Id: {app}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&push.content.body);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// What the PPG answered, as far as we need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PapAnswer {
    /// `push-response` with its `response-result`.
    PushResponse { push_id: Option<String>, code: u32, desc: Option<String> },
    /// `badmessage-response`: the PPG could not parse our document.
    BadMessage { code: u32, desc: Option<String> },
}

/// Reads a PAP answer document. No DTD is processed; entity references other than the five
/// predefined ones are errors.
pub fn parse_answer(xml: &[u8]) -> Result<PapAnswer, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut push_id = None;
    let mut in_push_response = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("malformed PAP answer: {e}"))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "push-response" => {
                    in_push_response = true;
                    push_id = attribute(e, "push-id")?;
                }
                "response-result" if in_push_response => {
                    let code = code(e)?;
                    return Ok(PapAnswer::PushResponse { push_id, code, desc: attribute(e, "desc")? });
                }
                "badmessage-response" => {
                    return Ok(PapAnswer::BadMessage { code: code(e)?, desc: attribute(e, "desc")? });
                }
                _ => {}
            },
            Event::Eof => return Err("no push-response or badmessage-response in the PAP answer".into()),
            _ => {}
        }
    }
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("malformed attribute in PAP answer: {e}"))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("malformed attribute in PAP answer: {e}"))?;
            return Ok(Some(v.chars().take(512).collect()));
        }
    }
    Ok(None)
}

fn code(e: &BytesStart<'_>) -> Result<u32, String> {
    let raw = attribute(e, "code")?.ok_or("PAP result without a code")?;
    raw.trim().parse().map_err(|_| format!("PAP result code {raw:?} is not a number"))
}

/// PAP status codes (PAP §9.13).
pub mod code {
    pub const OK: u32 = 1000;
    pub const ACCEPTED_FOR_PROCESSING: u32 = 1001;
    pub const BAD_REQUEST: u32 = 2000;
    pub const DUPLICATE_PUSH_ID: u32 = 2007;
    pub const INTERNAL_SERVER_ERROR: u32 = 3000;
    pub const REQUIRED_NETWORK_NOT_AVAILABLE: u32 = 3009;
    pub const REQUIRED_BEARER_NOT_AVAILABLE: u32 = 3010;
    pub const SERVICE_FAILURE: u32 = 4000;
}

/// Maps a PAP status code to the delivery result (PAP §9.13 classes): 1xxx accepted; 2xxx
/// errors in our request, permanent; 3xxx the PPG cannot serve it: permanent where it lacks a
/// capability, temporary for an internal error or a network/bearer that is down; 4xxx service
/// failures, temporary. 2007 (duplicate push-id) after a retry means an earlier try got
/// through: push-ids are stable across retries, so it counts as accepted.
pub fn classify(
    code_value: u32,
    desc: Option<&str>,
    push_id: &str,
) -> Result<DeliveryOutcome, DeliveryError> {
    let reason = || format!("PAP {code_value}{}", desc.map(|d| format!(" {d}")).unwrap_or_default());
    match code_value {
        1000..=1999 | code::DUPLICATE_PUSH_ID => {
            Ok(DeliveryOutcome::Accepted { references: vec![push_id.to_owned()] })
        }
        code::INTERNAL_SERVER_ERROR
        | code::REQUIRED_NETWORK_NOT_AVAILABLE
        | code::REQUIRED_BEARER_NOT_AVAILABLE => Err(DeliveryError::Temporary { reason: reason() }),
        4000..=5999 => Err(DeliveryError::Temporary { reason: reason() }),
        _ => Err(DeliveryError::Rejected { code: code_value, reason: reason() }),
    }
}

/// The delivery result of an HTTP answer: 408, 429 and 5xx are temporary, other non-2xx are
/// permanent (RFC 9110 §15), a 2xx body is a PAP answer.
pub fn outcome(status: StatusCode, body: &[u8], push_id: &str) -> Result<DeliveryOutcome, DeliveryError> {
    let code = u32::from(status.as_u16());
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Err(DeliveryError::Temporary { reason: format!("PPG answered HTTP {status}") });
    }
    if !status.is_success() {
        return Err(DeliveryError::Rejected { code, reason: format!("PPG answered HTTP {status}") });
    }
    match parse_answer(body) {
        Ok(PapAnswer::PushResponse { push_id: answered, code, desc }) => {
            classify(code, desc.as_deref(), answered.as_deref().unwrap_or(push_id))
        }
        Ok(PapAnswer::BadMessage { code, desc }) => Err(DeliveryError::Rejected {
            code,
            reason: format!(
                "PPG could not parse the push (badmessage-response): {}",
                desc.unwrap_or_default()
            ),
        }),
        // Accepted or not is unknown: a retry with the same push-id is safe (see classify).
        Err(reason) => Err(DeliveryError::Temporary { reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::PushContent;

    fn push(body: Vec<u8>) -> OutboundPush {
        OutboundPush {
            device_id: None,
            push_id: "id-1<&>\"'@omadm".into(),
            msisdn: "+491701234567".into(),
            sms_user_data: vec![],
            content: PushContent {
                content_type: "application/vnd.syncml.notification".into(),
                application_id: Some("x-wap-application:syncml.dm".into()),
                body,
            },
        }
    }

    #[test]
    fn request_body_layout() {
        let config = PapConfig::new("http://127.0.0.1:13080/wappush", "ppg.example.com");
        let content = vec![0x00, 0x0d, 0x0a, 0xff, b'-', b'-'];
        let body = request_body(&push(content.clone()), "491701234567", &config, "BND");
        let text = String::from_utf8_lossy(&body);
        let want_head = "--BND\r\nContent-Type: application/xml\r\n\r\n<?xml version=\"1.0\"?>\r\n\
            <!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD PAP 2.0//EN\" \"http://www.wapforum.org/DTD/pap_2.0.dtd\">\r\n\
            <pap><push-message push-id=\"id-1&lt;&amp;&gt;&quot;&apos;@omadm\" progress-notes-requested=\"false\">\
            <address address-value=\"WAPPUSH=+491701234567/TYPE=PLMN@ppg.example.com\"/>\
            <quality-of-service priority=\"high\" delivery-method=\"unconfirmed\" network-required=\"true\" \
            network=\"GSM\" bearer-required=\"true\" bearer=\"SMS\"/></push-message></pap>\r\n\
            --BND\r\nContent-Type: application/vnd.syncml.notification\r\n\
            X-Wap-Application-Id: x-wap-application:syncml.dm\r\n\r\n";
        assert!(text.starts_with(want_head), "{text}");
        let mut tail = content;
        tail.extend_from_slice(b"\r\n--BND--\r\n");
        assert_eq!(&body[want_head.len()..], &tail[..]);
        assert!(!text.to_ascii_lowercase().contains("no-transform"));
    }

    #[test]
    fn control_document_parses_as_xml() {
        let config = PapConfig::new("http://h/p", "ppg&co");
        let doc = control_document("a\"b", "4917", &config);
        let mut r = quick_xml::Reader::from_str(&doc);
        let mut seen = Vec::new();
        loop {
            match r.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    for a in e.attributes() {
                        let a = a.unwrap();
                        seen.push(
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned(),
                        );
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(seen.contains(&"a\"b".to_owned()));
        assert!(seen.contains(&"WAPPUSH=+4917/TYPE=PLMN@ppg&co".to_owned()));
    }

    #[test]
    fn boundary_is_fresh_and_absent_from_content() {
        let a = boundary_for(b"abc").unwrap();
        let b = boundary_for(b"abc").unwrap();
        assert_ne!(a, b);
        assert!(a.len() <= 70 && a.starts_with("omadm-"));
    }

    #[test]
    fn kannel_answers() {
        // As Kannel 1.4.5 answers (PAP 1.0 DOCTYPE, HTTP 202).
        let accepted = br#"<?xml version="1.0"?>
<!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 1.0//EN" "http://www.wapforum.org/DTD/pap_1.0.dtd">
<pap><push-response push-id="p1" sender-address="http://127.0.0.1:13080/wappush" reply-time="20260101120000Z"><response-result code="1001" desc="The request has been accepted for processing"></response-result></push-response></pap>"#;
        assert_eq!(
            outcome(StatusCode::ACCEPTED, accepted, "ours"),
            Ok(DeliveryOutcome::Accepted { references: vec!["p1".into()] })
        );
        let bad = br#"<?xml version="1.0"?><pap><badmessage-response code="2000" desc="Not understood due to malformed syntax" bad-message-fragment="x"></badmessage-response></pap>"#;
        assert!(matches!(
            outcome(StatusCode::ACCEPTED, bad, "p"),
            Err(DeliveryError::Rejected { code: 2000, .. })
        ));
    }

    #[test]
    fn code_classes() {
        let ok = |c| classify(c, None, "p").is_ok();
        let temporary = |c| matches!(classify(c, None, "p"), Err(DeliveryError::Temporary { .. }));
        let rejected =
            |c| matches!(classify(c, None, "p"), Err(DeliveryError::Rejected { code, .. }) if code == c);
        assert!(ok(1000) && ok(1001) && ok(2007));
        assert!(rejected(2000) && rejected(2001) && rejected(2002) && rejected(3001) && rejected(3006));
        assert!(temporary(3000) && temporary(3010) && temporary(4000) && temporary(4001));
    }

    #[test]
    fn http_status_classes() {
        let r = |s: u16| outcome(StatusCode::from_u16(s).unwrap(), b"", "p");
        assert!(matches!(r(503), Err(DeliveryError::Temporary { .. })));
        assert!(matches!(r(500), Err(DeliveryError::Temporary { .. })));
        assert!(matches!(r(429), Err(DeliveryError::Temporary { .. })));
        assert!(matches!(r(404), Err(DeliveryError::Rejected { code: 404, .. })));
        assert!(matches!(r(401), Err(DeliveryError::Rejected { code: 401, .. })));
        // 2xx without a PAP document: unknown outcome, retry.
        assert!(matches!(r(202), Err(DeliveryError::Temporary { .. })));
    }

    #[test]
    fn hostile_answers_are_errors() {
        for doc in [
            &b"<pap><push-response><response-result code=\"x\"/></push-response></pap>"[..],
            b"<pap><push-response><response-result/></push-response></pap>",
            b"<!DOCTYPE pap [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><pap><badmessage-response code=\"&e;\"/></pap>",
            b"<pap><push-response",
            b"\xff\xfe<",
            b"<response-result code=\"1001\"/>",
        ] {
            assert!(parse_answer(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn config_checks() {
        assert!(PapChannel::new(PapConfig::new("ftp://h/p", "ppg")).is_err());
        assert!(PapChannel::new(PapConfig::new("http:///p", "ppg")).is_err());
        assert!(PapChannel::new(PapConfig::new("http://u:p@h/p", "ppg")).is_err());
        assert!(PapChannel::new(PapConfig::new("http://h/p", "ppg host")).is_err());
        let mut c = PapConfig::new("http://h:8080/wappush?x=1", "ppg");
        c.username = Some("pi".into());
        assert!(PapChannel::new(c.clone()).is_err());
        c.password = Some(Secret::new("pw"));
        let ch = PapChannel::new(c).unwrap();
        assert_eq!(
            (ch.target.host.as_str(), ch.target.port, ch.target.path.as_str()),
            ("h", 8080, "/wappush?x=1")
        );
        assert_eq!(ch.authorization.as_deref(), Some("Basic cGk6cHc="));
        assert!(!format!("{ch:?}").contains("\"pw\""));
    }

    #[tokio::test]
    async fn invalid_pushes_are_refused_before_sending() {
        let ch = PapChannel::new(PapConfig::new("http://127.0.0.1:9/wappush", "ppg")).unwrap();
        let mut p = push(vec![1]);
        p.content.content_type = "text/plain\r\nX-Evil: 1".into();
        assert!(matches!(ch.deliver(&p).await, Err(DeliveryError::InvalidPush(_))));
        let mut p = push(vec![1]);
        p.msisdn = "0170".into();
        assert!(matches!(ch.deliver(&p).await, Err(DeliveryError::InvalidPush(_))));
    }
}
