//! Session transcripts: each DM message of a session as readable XML (whatever the wire
//! encoding), with credentials and secrets replaced by `[redacted]` before it is stored.
//!
//! Redacted: `<Cred>` data (basic credentials or digests), every `NextNonce`, and the Data
//! of items whose node holds a secret: the AppAuth secrets and nonces of DM 1.2 accounts
//! (`AAuthSecret`, `AAuthData`; OMA-TS-DM_StdObj DMAcc), the DM 1.1.2 account's
//! `ClientPW`/`ServerPW`/`ClientNonce`/`ServerNonce`, and whole TNDS objects or other
//! non-text data added under an account subtree (`./DMAcc`, `./SyncML/DMAcc`, `./Inbox`).

use omadm_protocol::{Command, Data, Encoding, Item, SyncMl};
use omadm_storage::{Direction, Millis, TranscriptMessage};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Leaf names whose values are secrets.
const SECRET_LEAVES: &[&str] = &[
    "AAuthSecret",
    "AAuthData",
    "ClientPW",
    "ServerPW",
    "ClientNonce",
    "ServerNonce",
    "ClientPw",
    "ServerPw",
];

/// Subtrees where a whole added object (TNDS, opaque data) may carry credentials.
const ACCOUNT_ROOTS: &[&str] = &["./DMAcc", "./SyncML/DMAcc", "./Inbox", "DMAcc", "SyncML/DMAcc"];

fn secret_leaf(uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or(uri);
    path.rsplit('/').next().is_some_and(|leaf| SECRET_LEAVES.iter().any(|s| s.eq_ignore_ascii_case(leaf)))
}

fn under_account(uri: &str) -> bool {
    ACCOUNT_ROOTS.iter().any(|r| uri == *r || uri.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')))
}

fn redact_item(item: &mut Item) {
    let uris = [item.target.as_ref(), item.source.as_ref()];
    let uris: Vec<&str> = uris.into_iter().flatten().map(|l| l.loc_uri.as_str()).collect();
    let Some(data) = &item.data else { return };
    let text = matches!(data, Data::Text(_));
    if uris.iter().any(|u| secret_leaf(u)) || (!text && uris.iter().any(|u| under_account(u))) {
        item.data = Some(Data::Text(REDACTED.to_owned()));
    }
}

fn redact_commands(commands: &mut [Command]) {
    for c in commands {
        match c {
            Command::Add(i)
            | Command::Copy(i)
            | Command::Delete(i)
            | Command::Get(i)
            | Command::Replace(i) => {
                if let Some(cred) = &mut i.cred {
                    cred.data = REDACTED.to_owned();
                }
                i.items.iter_mut().for_each(redact_item);
            }
            Command::Alert(a) => {
                if let Some(cred) = &mut a.cred {
                    cred.data = REDACTED.to_owned();
                }
                a.items.iter_mut().for_each(redact_item);
            }
            Command::Exec(e) => {
                if let Some(cred) = &mut e.cred {
                    cred.data = REDACTED.to_owned();
                }
                redact_item(&mut e.item);
            }
            Command::Atomic(b) | Command::Sequence(b) => redact_commands(&mut b.commands),
            Command::Results(r) => r.items.iter_mut().for_each(redact_item),
            Command::Status(s) => {
                if let Some(cred) = &mut s.cred {
                    cred.data = REDACTED.to_owned();
                }
                if let Some(chal) = &mut s.chal
                    && chal.meta.next_nonce.is_some()
                {
                    chal.meta.next_nonce = Some(REDACTED.to_owned());
                }
                s.items.iter_mut().for_each(redact_item);
            }
            Command::Unsupported(_) => {}
        }
    }
}

/// `msg` with its secrets replaced (see the module documentation).
pub fn redact(msg: &SyncMl) -> SyncMl {
    let mut m = msg.clone();
    if let Some(cred) = &mut m.hdr.cred {
        cred.data = REDACTED.to_owned();
    }
    if let Some(meta) = &mut m.hdr.meta
        && meta.next_nonce.is_some()
    {
        meta.next_nonce = Some(REDACTED.to_owned());
    }
    redact_commands(&mut m.body.commands);
    m
}

/// One transcript entry for `msg` as it went over the wire (`size` bytes in `encoding`).
pub fn entry(
    seq: u32,
    direction: Direction,
    msg: &SyncMl,
    encoding: Encoding,
    size: usize,
    at: Millis,
) -> TranscriptMessage {
    let xml = omadm_protocol::encode_pretty_xml(&redact(msg));
    TranscriptMessage {
        seq,
        direction,
        encoding: match encoding {
            Encoding::Xml => "xml",
            Encoding::Wbxml => "wbxml",
        }
        .to_owned(),
        size: u32::try_from(size).unwrap_or(u32::MAX),
        xml: String::from_utf8_lossy(&xml).into_owned(),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadm_protocol::{Limits, decode};

    #[test]
    fn credentials_nonces_and_account_secrets_are_redacted() {
        let xml = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://dm.example/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source><Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>Zz6EivR3yeaaENcRN6lpAQ==</Data></Cred></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type><Format xmlns="syncml:metinf">b64</Format><NextNonce xmlns="syncml:metinf">c2VjcmV0bm9uY2U=</NextNonce></Meta></Chal><Data>212</Data></Status><Replace><CmdID>2</CmdID><Item><Target><LocURI>./DMAcc/omadm/AppAuth/1/AAuthSecret</LocURI></Target><Data>hunter2</Data></Item><Item><Target><LocURI>./DMAcc/omadm/Name</LocURI></Target><Data>visible</Data></Item></Replace><Final/></SyncBody></SyncML>"#;
        let msg = decode(xml, &Limits::default()).unwrap();
        let e = entry(1, Direction::Device, &msg, Encoding::Xml, xml.len(), 5);
        for secret in ["Zz6EivR3yeaaENcRN6lpAQ==", "c2VjcmV0bm9uY2U=", "hunter2"] {
            assert!(!e.xml.contains(secret), "{secret} kept in {}", e.xml);
        }
        assert_eq!(e.xml.matches(REDACTED).count(), 3, "{}", e.xml);
        assert!(e.xml.contains("visible") && e.xml.contains("./DMAcc/omadm/AppAuth/1/AAuthSecret"));
        assert_eq!((e.seq, e.encoding.as_str(), e.size as usize), (1, "xml", xml.len()));
        // The redacted transcript is still a DM message.
        assert!(decode(e.xml.as_bytes(), &Limits::default()).is_ok());
    }

    #[test]
    fn secret_leaves_and_account_subtrees() {
        assert!(secret_leaf("./SyncML/DMAcc/x/ServerPW"));
        assert!(secret_leaf("./DMAcc/x/AppAuth/y/aauthdata?prop=ACL"));
        assert!(!secret_leaf("./DevDetail/SwV"));
        assert!(under_account("./DMAcc/x") && under_account("./SyncML/DMAcc"));
        assert!(!under_account("./DMAccount"));
    }
}
