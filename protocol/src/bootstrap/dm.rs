//! The DM-profile bootstrap (OMA-TS-DM_Bootstrap-V1_2 §5.5-5.6; FACTS.md G.5, H.1, H.3): a
//! complete SyncML DM message, WBXML only, that creates a DM account on the device. The
//! device processes it like any message but sends no response; the first session it opens
//! is the acknowledgement. The SyncHdr Source LocURI (our ServerID) owns the added nodes.
//!
//! Two layouts:
//! - DM 1.2: `./DMAcc/<x>` (AppID, ServerID, Name, PrefConRef, AppAddr/1/{Addr, AddrType,
//!   Port/1/PortNbr}, AAuthPref, AppAuth/1 = CLCRED, AppAuth/2 = SRVCRED) in a SyncML 1.2
//!   message;
//! - DM 1.1.2: `./SyncML/DMAcc/<x>` (Addr, AddrType `1` = HTTP, PortNbr, ConRef, ServerId,
//!   ServerPW, ServerNonce, UserName, ClientPW, ClientNonce, AuthPref, Name) and, when a NAP
//!   or proxy is given, `./SyncML/Con/<x>/{NAP, PX}` in a SyncML 1.1 message.
//!
//! Two forms: one Add per node, interior nodes first with Format `node`; or one Add of a
//! TNDS tree embedded as a WBXML document in OPAQUE data (Meta Type
//! `application/vnd.syncml.dmtnds+wbxml`, the form CM's bootstrap session reads). Nonces are
//! Base64 with Format `b64`, which the DDF accepts for `bin` nodes.

use base64::Engine as _;

use super::account::{BootstrapError, DmAccount, MAX_FIELD_LEN, NapDef, PxLogical, check_text};
use crate::codec::{Encoding, encode};
use crate::message::{
    Command, DmVersion, Format, Item, ItemCommand, Location, Meta, SyncBody, SyncHdr, SyncMl,
};
use crate::tree::tnds::{self, MgmtTree, Node, NodeType, RtProperties};
use crate::tree::uri::NodeUri;

/// Content type of a DM-profile bootstrap, WSP well-known code 0x42 (FACTS.md B.6, G.5).
pub const CONTENT_TYPE: &str = "application/vnd.syncml.dm+wbxml";
/// The DMAcc management object identifier (FACTS.md H.1).
pub const DMACC_MO_ID: &str = "urn:oma:mo:oma-dm-dmacc:1.0";

/// Where the account goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DmLayout {
    /// `./DMAcc/<x>`, DM 1.2.
    Dm12,
    /// `./SyncML/DMAcc/<x>` and `./SyncML/Con/<x>`, DM 1.1.2.
    Dm112,
}

impl DmLayout {
    /// The protocol version of the message.
    pub const fn version(self) -> DmVersion {
        match self {
            DmLayout::Dm12 => DmVersion::V1_2,
            DmLayout::Dm112 => DmVersion::V1_1_2,
        }
    }
}

/// How the nodes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DmForm {
    /// One Add per node, parents first.
    Commands,
    /// One Add of a TNDS tree.
    Tnds,
}

/// A DM-profile bootstrap message to build.
#[derive(Clone, Debug)]
pub struct DmBootstrap<'a> {
    /// The account.
    pub account: &'a DmAccount,
    /// The device id (SyncHdr Target), e.g. `IMEI:493005100592800`.
    pub device_id: &'a str,
    /// The SessionID of the message.
    pub session_id: &'a str,
    /// The name of the account node `<x>` (and of the DM 1.1.2 `Con/<x>`).
    pub account_node: &'a str,
    /// DM 1.2 or DM 1.1.2 tree layout.
    pub layout: DmLayout,
    /// Individual Adds or one TNDS Add.
    pub form: DmForm,
    /// The access point, written to `./SyncML/Con/<x>/NAP` in the DM 1.1.2 layout (DM 1.2
    /// has no standard connectivity MO: there the account's `con_ref` names one).
    pub nap: Option<&'a NapDef>,
    /// The proxy, written to `./SyncML/Con/<x>/PX` in the DM 1.1.2 layout.
    pub px: Option<&'a PxLogical>,
}

fn chr(name: &str, value: &str) -> Node {
    let mut n = Node::leaf(name, value);
    n.rt_properties.format = Some(Format::Chr);
    n
}

fn b64(name: &str, bytes: &[u8]) -> Node {
    let mut n = Node::leaf(name, base64::engine::general_purpose::STANDARD.encode(bytes));
    n.rt_properties.format = Some(Format::B64);
    n
}

impl DmBootstrap<'_> {
    fn validate(&self) -> Result<(), BootstrapError> {
        self.account.validate()?;
        check_text("device_id", self.device_id, MAX_FIELD_LEN)?;
        check_text("session_id", self.session_id, MAX_FIELD_LEN)?;
        check_text("account_node", self.account_node, MAX_FIELD_LEN)?;
        let segment_ok = !matches!(self.account_node, "." | "..")
            && !self.account_node.contains(['/', '?', '#'])
            && NodeUri::parse(&format!("./DMAcc/{}", self.account_node)).is_ok();
        if !segment_ok {
            return Err(BootstrapError::NodeName {
                field: "account_node",
                value: self.account_node.to_owned(),
            });
        }
        self.nap.map(NapDef::validate).transpose()?;
        self.px.map(PxLogical::validate).transpose()?;
        Ok(())
    }

    /// The tree to add and the URI it goes under (the Add target of the TNDS form).
    pub fn tree(&self) -> Result<(NodeUri, MgmtTree), BootstrapError> {
        self.validate()?;
        let base = match self.layout {
            DmLayout::Dm12 => "./DMAcc",
            DmLayout::Dm112 => "./SyncML",
        };
        let base = NodeUri::parse(base).map_err(|_| BootstrapError::NodeName {
            field: "account_node",
            value: self.account_node.to_owned(),
        })?;
        let nodes = match self.layout {
            DmLayout::Dm12 => vec![self.dm12_account()],
            DmLayout::Dm112 => self.dm112_nodes(),
        };
        Ok((base, MgmtTree::new(nodes)))
    }

    fn dm12_account(&self) -> Node {
        let a = self.account;
        let mut children = vec![chr("AppID", super::cp::APPID_W7), chr("ServerID", &a.server_id)];
        if let Some(name) = &a.name {
            children.push(chr("Name", name));
        }
        if let Some(con_ref) = &a.con_ref {
            children.push(chr("PrefConRef", con_ref));
        }
        let mut addr = vec![chr("Addr", &a.addr), chr("AddrType", "URI")];
        if let Some(port) = a.port {
            addr.push(Node::interior(
                "Port",
                vec![Node::interior("1", vec![chr("PortNbr", &port.to_string())])],
            ));
        }
        children.push(Node::interior("AppAddr", vec![Node::interior("1", addr)]));
        children.push(chr("AAuthPref", a.client_auth.auth_type.aauth_type()));
        let mut auths = Vec::new();
        for (x, level, auth) in [("1", "CLCRED", &a.client_auth), ("2", "SRVCRED", &a.server_auth)] {
            let mut leaves = vec![chr("AAuthLevel", level), chr("AAuthType", auth.auth_type.aauth_type())];
            if !auth.name.is_empty() {
                leaves.push(chr("AAuthName", &auth.name));
            }
            leaves.push(chr("AAuthSecret", &auth.secret));
            if !auth.nonce.is_empty() {
                leaves.push(b64("AAuthData", &auth.nonce));
            }
            auths.push(Node::interior(x, leaves));
        }
        children.push(Node::interior("AppAuth", auths));
        let mut account = Node::interior(self.account_node, children);
        account.rt_properties.type_ = Some(NodeType::DdfName(DMACC_MO_ID.to_owned()));
        account
    }

    fn dm112_nodes(&self) -> Vec<Node> {
        let a = self.account;
        let con_uri = format!("./SyncML/Con/{}", self.account_node);
        let has_con = self.nap.is_some() || self.px.is_some();
        let mut leaves = vec![chr("Addr", &a.addr), chr("AddrType", "1")];
        if let Some(port) = a.port {
            leaves.push(chr("PortNbr", &port.to_string()));
        }
        match (&a.con_ref, has_con) {
            (Some(c), _) => leaves.push(chr("ConRef", c)),
            (None, true) => leaves.push(chr("ConRef", &con_uri)),
            (None, false) => {}
        }
        leaves.push(chr("ServerId", &a.server_id));
        leaves.push(chr("ServerPW", &a.server_auth.secret));
        if !a.server_auth.nonce.is_empty() {
            leaves.push(b64("ServerNonce", &a.server_auth.nonce));
        }
        if !a.client_auth.name.is_empty() {
            leaves.push(chr("UserName", &a.client_auth.name));
        }
        leaves.push(chr("ClientPW", &a.client_auth.secret));
        if !a.client_auth.nonce.is_empty() {
            leaves.push(b64("ClientNonce", &a.client_auth.nonce));
        }
        leaves.push(chr("AuthPref", a.client_auth.auth_type.syncml_auth_pref()));
        if let Some(name) = &a.name {
            leaves.push(chr("Name", name));
        }
        let mut account = Node::interior(self.account_node, leaves);
        account.path = Some("./SyncML/DMAcc".to_owned());
        let mut nodes = vec![account];
        if has_con {
            let mut con = Vec::new();
            if let Some(nap) = self.nap {
                let mut n = vec![
                    chr("Bearer", &nap.bearer),
                    chr("AddrType", &nap.nap_addrtype),
                    chr("Addr", &nap.nap_address),
                ];
                if let Some(auth) = &nap.auth {
                    n.push(Node::interior(
                        "Auth",
                        vec![Node::interior("1", vec![chr("Id", &auth.name), chr("Secret", &auth.secret)])],
                    ));
                }
                con.push(Node::interior("NAP", n));
            }
            if let Some(px) = self.px {
                let mut p = Vec::new();
                if let Some(port) = px.port {
                    p.push(chr("PortNbr", &port.to_string()));
                }
                p.push(chr("AddrType", &px.pxaddrtype));
                p.push(chr("Addr", &px.pxaddr));
                con.push(Node::interior("PX", p));
            }
            let mut con_node = Node::interior(self.account_node, con);
            con_node.path = Some("./SyncML/Con".to_owned());
            nodes.push(con_node);
        }
        nodes
    }

    /// The bootstrap message (see the module documentation).
    pub fn message(&self) -> Result<SyncMl, BootstrapError> {
        let (base, tree) = self.tree()?;
        let version = self.layout.version();
        let hdr = SyncHdr::new(
            version,
            self.session_id,
            1,
            Location::uri(self.device_id),
            Location::uri(&self.account.server_id),
        );
        let commands = match self.form {
            DmForm::Tnds => vec![Command::Add(ItemCommand {
                cmd_id: 1,
                meta: Some(Meta::with_format_and_type(Format::Xml, tnds::CONTENT_TYPE_WBXML)),
                items: vec![Item {
                    target: Some(Location::uri(base.as_str())),
                    data: Some(tree.to_opaque_data()),
                    ..Item::default()
                }],
                ..ItemCommand::default()
            })],
            DmForm::Commands => {
                // The tree was built from checked segments: flattening cannot fail, but
                // report it as a node-name error rather than panic.
                let flat = tree
                    .flatten(&base)
                    .map_err(|e| BootstrapError::NodeName { field: "account_node", value: e.to_string() })?;
                flat.into_iter()
                    .zip(1u32..)
                    .map(|(node, cmd_id)| {
                        Command::Add(ItemCommand {
                            cmd_id,
                            items: vec![Item {
                                target: Some(Location::uri(node.uri.as_str())),
                                meta: Some(meta_of(&node.properties)),
                                data: node.value.map(crate::message::Data::Text),
                                ..Item::default()
                            }],
                            ..ItemCommand::default()
                        })
                    })
                    .collect()
            }
        };
        Ok(SyncMl { hdr, body: SyncBody { commands, is_final: true } })
    }

    /// The message as WBXML (the only encoding a bootstrap may use), to sign with
    /// [`super::security`] and push with [`CONTENT_TYPE`].
    pub fn to_wbxml(&self) -> Result<Vec<u8>, BootstrapError> {
        Ok(encode(&self.message()?, Encoding::Wbxml))
    }
}

fn meta_of(p: &RtProperties) -> Meta {
    Meta {
        format: p.format.clone(),
        type_: p.type_.as_ref().map(|t| t.as_str().to_owned()),
        ..Meta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::account::{AuthSpec, AuthType};
    use super::*;
    use crate::tree::StandardDdf;

    fn account() -> DmAccount {
        DmAccount {
            server_id: "omadm".into(),
            name: Some("Operator DM".into()),
            addr: "https://dm.example.com/dm".into(),
            port: Some(443),
            client_auth: AuthSpec {
                auth_type: AuthType::Digest,
                name: "dev".into(),
                secret: "cpw".into(),
                nonce: vec![0xFF, 0, 1],
            },
            server_auth: AuthSpec {
                auth_type: AuthType::Digest,
                name: "omadm".into(),
                secret: "spw".into(),
                nonce: b"srvnonce".to_vec(),
            },
            to_napid: None,
            to_proxy: None,
            init: true,
            con_ref: None,
        }
    }

    fn boot<'a>(a: &'a DmAccount, layout: DmLayout, form: DmForm) -> DmBootstrap<'a> {
        DmBootstrap {
            account: a,
            device_id: "IMEI:493005100592800",
            session_id: "1",
            account_node: "omadm",
            layout,
            form,
            nap: None,
            px: None,
        }
    }

    #[test]
    fn dm12_commands_are_valid_against_the_dmacc_ddf() {
        let a = account();
        let msg = boot(&a, DmLayout::Dm12, DmForm::Commands).message().unwrap();
        let ddf = StandardDdf::DmAcc.get().unwrap();
        for c in &msg.body.commands {
            ddf.validate_command(c).unwrap_or_else(|v| panic!("{c:?}: {v}"));
        }
        let targets: Vec<_> = msg
            .body
            .commands
            .iter()
            .map(|c| match c {
                Command::Add(a) => a.items[0].target.as_ref().unwrap().loc_uri.clone(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(targets[0], "./DMAcc/omadm");
        assert!(targets.contains(&"./DMAcc/omadm/AppAddr/1/Port/1/PortNbr".to_owned()));
        assert!(targets.contains(&"./DMAcc/omadm/AppAuth/2/AAuthData".to_owned()));
        for (i, t) in targets.iter().enumerate() {
            let parent = t.rsplit_once('/').unwrap().0;
            assert!(parent == "./DMAcc" || targets[..i].iter().any(|p| p == parent), "{t} before its parent");
        }
    }

    #[test]
    fn tnds_form_is_one_add() {
        let a = account();
        let msg = boot(&a, DmLayout::Dm112, DmForm::Tnds).message().unwrap();
        assert_eq!(msg.body.commands.len(), 1);
        let ddf = StandardDdf::SyncMlDmAcc112.get().unwrap();
        ddf.validate_command(&msg.body.commands[0]).unwrap();
        assert_eq!(msg.hdr.ver_dtd, "1.1");
    }

    #[test]
    fn bad_node_names_are_refused() {
        let a = account();
        for bad in ["", ".", "..", "a/b", "a?b"] {
            let mut b = boot(&a, DmLayout::Dm12, DmForm::Commands);
            b.account_node = bad;
            assert!(b.message().is_err(), "{bad:?}");
        }
    }
}
