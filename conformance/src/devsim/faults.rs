//! Faults a simulated device can be told to commit, to see how a server copes with devices
//! that misbehave or lose their link. Message numbers count the device's messages within one
//! session, from 1 (package 1).

use std::time::Duration;

/// The faults to inject in a session. The default injects none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Authenticate with a wrong password (the server must answer 401 with a challenge,
    /// FACTS.md D.3).
    pub wrong_password: bool,
    /// Send message N, then close the connection as soon as the answer starts to arrive,
    /// without reading it; the session ends there (a link lost mid-session).
    pub drop_after_message: Option<u32>,
    /// Wait this long before sending each message after package 1 (a slow device).
    pub slow_answer: Option<Duration>,
    /// Send message N malformed (a truncated document); the server must answer HTTP 400.
    pub malformed_message: Option<u32>,
    /// Instead of message N, abort the session with Alert 1223 (FACTS.md C.2).
    pub abort_at_message: Option<u32>,
    /// Send message N, lose the answer (as for `drop_after_message`), then send the very same
    /// message again and carry on with the answer to the retransmission.
    pub retransmit_message: Option<u32>,
    /// Announce a large object's Meta Size off by this many bytes (the server must answer
    /// 424 on the last chunk, FACTS.md C.6).
    pub wrong_object_size: Option<i64>,
}

impl Faults {
    /// No fault.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Whether any fault is set.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

/// The malformed form of an encoded message: its first half, which no decoder accepts (the
/// document is cut inside an element), prefixed so that even a tiny message stays broken.
pub fn malform(body: &[u8]) -> Vec<u8> {
    let mut out = body[..body.len() / 2].to_vec();
    if out.first().is_none_or(|b| *b != b'<') && body.first() == Some(&b'<') {
        out.insert(0, b'<');
    }
    if out.len() < 8 {
        out = b"<SyncML><SyncHdr>".to_vec();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_messages_do_not_decode() {
        let ok = b"<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr></SyncHdr><SyncBody></SyncBody></SyncML>";
        let bad = malform(ok);
        assert!(bad.len() < ok.len());
        assert!(omadm_protocol::decode(&bad, &omadm_protocol::Limits::default()).is_err());
        assert!(omadm_protocol::decode(&malform(b"<a/>"), &omadm_protocol::Limits::default()).is_err());
        let wbxml = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6C, 0x71, 0x01, 0x01];
        assert!(omadm_protocol::decode(&malform(&wbxml), &omadm_protocol::Limits::default()).is_err());
        assert!(!Faults::none().any());
        assert!(Faults { wrong_password: true, ..Faults::none() }.any());
    }
}
