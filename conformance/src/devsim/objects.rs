//! The device's management objects, and its DM account read from and written to the tree.
//!
//! Default tree (ServerID `<sid>`, account `<x>`):
//!
//! | node | ACL | notes |
//! | --- | --- | --- |
//! | `.` | `Add=*&Get=*` | FACTS.md C.7 default root ACL |
//! | `./DevInfo` | `Get=*` | DevId, Man, Mod, DmV, Lang (J.1) |
//! | `./DevDetail` | `Get=*` | URI/MaxDepth, MaxTotLen, MaxSegLen, DevTyp, OEM, FwV, SwV, HwV, LrgObj=`true` (J.2) |
//! | `./DMAcc/<x>` (DM 1.2) | `Get=<sid>&Replace=<sid>` | AppID `w7`, ServerID, Name, AppAddr, AAuthPref, AppAuth/1 CLCRED, AppAuth/2 SRVCRED (H.1); secrets and nonces `Replace=<sid>` only |
//! | `./SyncML/DMAcc/<x>` (DM 1.1.2) | `Get=<sid>&Replace=<sid>` | Addr, AddrType, PortNbr, ConRef, ServerId, ServerPW, ServerNonce, UserName, ClientPW, ClientNonce, AuthPref, Name (H.3) |
//! | `./FwUpdate/x1` | `Get=*&Replace=<sid>&Exec=<sid>` | FUMO (I.1): PkgName, PkgVersion, Download/PkgURL, Update/PkgData, DownloadAndUpdate/PkgURL, State (`Get=*`) |
//! | `./Vendor` | `Add=*&Delete=*&Exec=*&Get=*&Replace=*` | Settings/{Volume, Greeting}, Log, Reboot (executable), ReadOnly (`Get=*`) |
//! | `./Vendor/Secure` | rights for `operator-b` only | Key: every command from `<sid>` gets 425 |

use omadm_protocol::auth::Nonce;
use omadm_protocol::{DmVersion, Format};

use super::tree::{ExecAction, Node, Tree};
use super::{AuthKind, DeviceConfig};

/// The other server named in `./Vendor/Secure`'s ACL.
pub const OTHER_SERVER: &str = "operator-b";

/// The FUMO object's URI.
pub const FUMO: &str = "./FwUpdate/x1";

/// MO identifiers (FACTS.md C.7, I).
pub const DEVINFO_MO: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
/// DevDetail MO identifier.
pub const DEVDETAIL_MO: &str = "urn:oma:mo:oma-dm-devdetail:1.0";
/// DMAcc MO identifier.
pub const DMACC_MO: &str = "urn:oma:mo:oma-dm-dmacc:1.0";
/// FUMO MO identifier.
pub const FUMO_MO: &str = "urn:oma:mo:oma-fumo:1.0";

/// The default tree of a device with this configuration.
pub fn default_tree(c: &DeviceConfig) -> Tree {
    let sid = c.server_id.as_str();
    let mut t = Tree::new("Add=*&Get=*");
    let i = &c.info;
    let dmv = match c.version {
        DmVersion::V1_2 => "1.2",
        DmVersion::V1_1_2 => "1.1.2",
    };
    let fixed = |name: &str, v: &str| Node::text(name, v).permanent();
    t.insert(
        ".",
        Node::interior("DevInfo").with_type(DEVINFO_MO).with_acl("Get=*").permanent().with_children([
            fixed("DevId", &c.device_id),
            fixed("Man", &i.manufacturer),
            fixed("Mod", &i.model),
            fixed("DmV", dmv),
            fixed("Lang", &i.language),
        ]),
    );
    t.insert(
        ".",
        Node::interior("DevDetail").with_type(DEVDETAIL_MO).with_acl("Get=*").permanent().with_children([
            Node::interior("URI").permanent().with_children([
                fixed("MaxDepth", "0"),
                fixed("MaxTotLen", "0"),
                fixed("MaxSegLen", "0"),
            ]),
            fixed("DevTyp", &i.device_type),
            fixed("OEM", &i.oem),
            fixed("FwV", &i.firmware_version),
            fixed("SwV", &i.software_version),
            fixed("HwV", &i.hardware_version),
            Node::leaf("LrgObj", Format::Bool, "true").permanent(),
        ]),
    );
    let secret = |name: &str, v: &[u8], format: Format| {
        Node::leaf(name, format, v.to_vec()).with_acl(&format!("Replace={sid}")).permanent()
    };
    let (host_port, _) = host_and_port(&c.server_url);
    match c.version {
        DmVersion::V1_2 => {
            let mut appauth = vec![Node::interior("1").permanent().with_children([
                fixed("AAuthLevel", "CLCRED"),
                fixed("AAuthType", c.client.kind.auth_type().aauth_type()),
                fixed("AAuthName", &c.client.username),
                secret("AAuthSecret", c.client.password.as_bytes(), Format::Chr),
                secret("AAuthData", c.client.nonce.as_bytes(), Format::Bin),
            ])];
            if let Some(s) = &c.server {
                appauth.push(Node::interior("2").permanent().with_children([
                    fixed("AAuthLevel", "SRVCRED"),
                    fixed("AAuthType", "DIGEST"),
                    fixed("AAuthName", sid),
                    secret("AAuthSecret", s.password.as_bytes(), Format::Chr),
                    secret("AAuthData", s.nonce.as_bytes(), Format::Bin),
                ]));
            }
            t.insert(".", Node::interior("DMAcc").with_acl(&format!("Get={sid}")).permanent());
            t.insert(
                "./DMAcc",
                Node::interior(&c.account)
                    .with_type(DMACC_MO)
                    .with_acl(&format!("Get={sid}&Replace={sid}"))
                    .permanent()
                    .with_children([
                        fixed("AppID", "w7"),
                        fixed("ServerID", sid),
                        fixed("Name", sid),
                        Node::interior("AppAddr").permanent().with_children([Node::interior("1")
                            .permanent()
                            .with_children([
                                fixed("Addr", &c.server_url),
                                fixed("AddrType", "URI"),
                                Node::interior("Port").permanent().with_children([Node::interior("1")
                                    .permanent()
                                    .with_children([fixed("PortNbr", &host_port)])]),
                            ])]),
                        fixed("AAuthPref", c.client.kind.auth_type().aauth_type()),
                        Node::interior("AppAuth").permanent().with_children(appauth),
                    ]),
            );
        }
        DmVersion::V1_1_2 => {
            let (server_pw, server_nonce) = match &c.server {
                Some(s) => (s.password.as_bytes().to_vec(), s.nonce.as_bytes().to_vec()),
                None => (Vec::new(), Vec::new()),
            };
            t.insert(".", Node::interior("SyncML").with_acl(&format!("Get={sid}")).permanent());
            t.insert("./SyncML", Node::interior("DMAcc").permanent());
            t.insert(
                "./SyncML/DMAcc",
                Node::interior(&c.account)
                    .with_acl(&format!("Get={sid}&Replace={sid}"))
                    .permanent()
                    .with_children([
                        fixed("Addr", &c.server_url),
                        fixed("AddrType", "1"),
                        fixed("PortNbr", &host_port),
                        fixed("ConRef", ""),
                        fixed("ServerId", sid),
                        secret("ServerPW", &server_pw, Format::Chr),
                        secret("ServerNonce", &server_nonce, Format::Bin),
                        fixed("UserName", &c.client.username),
                        secret("ClientPW", c.client.password.as_bytes(), Format::Chr),
                        secret("ClientNonce", c.client.nonce.as_bytes(), Format::Bin),
                        fixed("AuthPref", c.client.kind.auth_type().meta_type()),
                        fixed("Name", sid),
                    ]),
            );
        }
    }
    t.insert(".", Node::interior("FwUpdate").with_acl(&format!("Get=*&Add={sid}")).permanent());
    t.insert(
        "./FwUpdate",
        Node::interior("x1")
            .with_type(FUMO_MO)
            .with_acl(&format!("Get=*&Replace={sid}&Exec={sid}"))
            .permanent()
            .with_children([
                fixed("PkgName", ""),
                fixed("PkgVersion", ""),
                Node::interior("Download")
                    .permanent()
                    .executable(ExecAction::FumoDownload)
                    .with_children([fixed("PkgURL", "")]),
                Node::interior("Update")
                    .permanent()
                    .executable(ExecAction::FumoUpdate)
                    .with_children([Node::leaf("PkgData", Format::Bin, Vec::new()).permanent()]),
                Node::interior("DownloadAndUpdate")
                    .permanent()
                    .executable(ExecAction::FumoDownloadAndUpdate)
                    .with_children([fixed("PkgURL", "")]),
                Node::leaf("State", Format::Int, "10").with_acl("Get=*").permanent(),
            ]),
    );
    let log: String = (1..=40).map(|n| format!("{n:04} boot ok; radio on; battery 87%\n")).collect();
    t.insert(
        ".",
        Node::interior("Vendor")
            .with_type("urn:acme:mo:vendor:1.0")
            .with_acl("Add=*&Delete=*&Exec=*&Get=*&Replace=*")
            .permanent()
            .with_children([
                Node::interior("Settings").with_children([
                    Node::leaf("Volume", Format::Int, "5"),
                    Node::text("Greeting", "hello").with_title("Start-up greeting"),
                ]),
                Node::text("Log", &log).permanent(),
                Node::text("Reboot", "").executable(ExecAction::Plain).permanent(),
                Node::text("ReadOnly", "fixed").with_acl("Get=*").permanent(),
                Node::interior("Secure")
                    .with_acl(&format!("Add={o}&Delete={o}&Exec={o}&Get={o}&Replace={o}", o = OTHER_SERVER))
                    .permanent()
                    .with_children([Node::text("Key", "s3cret")]),
            ]),
    );
    t
}

/// The port of an `http://host[:port]/...` URL as text (80 when absent), and the host.
fn host_and_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((h, p)) => (p.to_owned(), h.to_owned()),
        None => ("80".to_owned(), authority.to_owned()),
    }
}

/// Where an account's credentials live in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPaths {
    /// Client auth type (AAuthPref / AuthPref).
    pub client_type: String,
    /// AAuthName / UserName.
    pub client_name: String,
    /// AAuthSecret / ClientPW.
    pub client_secret: String,
    /// AAuthData / ClientNonce.
    pub client_nonce: String,
    /// Server AAuthSecret / ServerPW.
    pub server_secret: String,
    /// Server AAuthData / ServerNonce.
    pub server_nonce: String,
}

impl AccountPaths {
    /// The paths for the configured version and account name.
    pub fn of(c: &DeviceConfig) -> AccountPaths {
        match c.version {
            DmVersion::V1_2 => {
                let a = format!("./DMAcc/{}", c.account);
                AccountPaths {
                    client_type: format!("{a}/AAuthPref"),
                    client_name: format!("{a}/AppAuth/1/AAuthName"),
                    client_secret: format!("{a}/AppAuth/1/AAuthSecret"),
                    client_nonce: format!("{a}/AppAuth/1/AAuthData"),
                    server_secret: format!("{a}/AppAuth/2/AAuthSecret"),
                    server_nonce: format!("{a}/AppAuth/2/AAuthData"),
                }
            }
            DmVersion::V1_1_2 => {
                let a = format!("./SyncML/DMAcc/{}", c.account);
                AccountPaths {
                    client_type: format!("{a}/AuthPref"),
                    client_name: format!("{a}/UserName"),
                    client_secret: format!("{a}/ClientPW"),
                    client_nonce: format!("{a}/ClientNonce"),
                    server_secret: format!("{a}/ServerPW"),
                    server_nonce: format!("{a}/ServerNonce"),
                }
            }
        }
    }
}

/// The account as currently stored in the tree.
#[derive(Clone, Debug)]
pub struct Account {
    /// Client auth type.
    pub kind: AuthKind,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The nonce for the next client credential.
    pub client_nonce: Nonce,
    /// The server's password, when the device authenticates the server.
    pub server_password: Option<String>,
    /// The nonce the server must use next.
    pub server_nonce: Nonce,
}

impl Account {
    /// Read the account from the tree (falling back to the configuration for anything a
    /// server has deleted or garbled).
    pub fn read(tree: &Tree, c: &DeviceConfig) -> Account {
        let p = AccountPaths::of(c);
        let text = |uri: &str| tree.text(uri);
        let kind = text(&p.client_type)
            .and_then(|t| {
                omadm_protocol::auth::AuthType::from_aauth_type(&t)
                    .or_else(|_| omadm_protocol::auth::AuthType::from_meta_type(&t))
                    .ok()
            })
            .and_then(AuthKind::from_auth_type)
            .unwrap_or(c.client.kind);
        let server_password = c.server.as_ref().map(|s| text(&p.server_secret).unwrap_or(s.password.clone()));
        Account {
            kind,
            username: text(&p.client_name).unwrap_or(c.client.username.clone()),
            password: text(&p.client_secret).unwrap_or(c.client.password.clone()),
            client_nonce: tree.value(&p.client_nonce).map(Nonce::from).unwrap_or(c.client.nonce.clone()),
            server_password,
            server_nonce: tree
                .value(&p.server_nonce)
                .map(Nonce::from)
                .or(c.server.as_ref().map(|s| s.nonce.clone()))
                .unwrap_or_default(),
        }
    }

    /// Store the nonce the server gave for the device's next credential.
    pub fn store_client_nonce(tree: &mut Tree, c: &DeviceConfig, nonce: &Nonce) {
        tree.set_value(&AccountPaths::of(c).client_nonce, nonce.as_bytes().to_vec());
    }

    /// Store the nonce the device gave the server for the server's next credential.
    pub fn store_server_nonce(tree: &mut Tree, c: &DeviceConfig, nonce: &Nonce) {
        tree.set_value(&AccountPaths::of(c).server_nonce, nonce.as_bytes().to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devsim::ServerCredentials;
    use crate::devsim::tree::{AclCommand, TreeError};

    fn config(version: DmVersion) -> DeviceConfig {
        let mut c = DeviceConfig::new("http://dm.example.com:8080/dm", "IMEI:1");
        c.version = version;
        c.server = Some(ServerCredentials { password: "srvpw".into(), nonce: Nonce::new(b"sn".to_vec()) });
        c
    }

    /// FACTS.md H.1/H.3, J: the standard objects exist in both versions' layouts.
    #[test]
    fn default_objects() {
        let t = default_tree(&config(DmVersion::V1_2));
        assert_eq!(t.text("./DevInfo/DmV").as_deref(), Some("1.2"));
        assert_eq!(t.text("./DevDetail/LrgObj").as_deref(), Some("true"));
        assert_eq!(t.text("./DMAcc/omadm/ServerID").as_deref(), Some("omadm"));
        assert_eq!(t.text("./DMAcc/omadm/AppAddr/1/Port/1/PortNbr").as_deref(), Some("8080"));
        assert_eq!(t.node("./FwUpdate/x1").unwrap().mime_type.as_deref(), Some(FUMO_MO));
        assert!(t.node("./SyncML").is_none());
        let t = default_tree(&config(DmVersion::V1_1_2));
        assert_eq!(t.text("./DevInfo/DmV").as_deref(), Some("1.1.2"));
        assert_eq!(t.text("./SyncML/DMAcc/omadm/ServerId").as_deref(), Some("omadm"));
        assert_eq!(t.text("./SyncML/DMAcc/omadm/AuthPref").as_deref(), Some("syncml:auth-md5"));
        assert!(t.node("./DMAcc").is_none());
    }

    /// FACTS.md H.1 (no Get on AAuthSecret/AAuthData), C.7: secrets cannot be read back.
    #[test]
    fn secrets_are_write_only_and_secure_is_closed() {
        let t = default_tree(&config(DmVersion::V1_2));
        assert_eq!(t.get("./DMAcc/omadm/AppAuth/1/AAuthSecret", "omadm"), Err(TreeError::PermissionDenied));
        assert!(t.allows("./DMAcc/omadm/AppAuth/1/AAuthSecret", AclCommand::Replace, "omadm"));
        assert!(t.get("./DMAcc/omadm/AppAuth/1/AAuthName", "omadm").is_ok());
        assert_eq!(t.get("./DMAcc/omadm/ServerID", "intruder"), Err(TreeError::PermissionDenied));
        for cmd in AclCommand::ALL {
            assert!(!t.allows("./Vendor/Secure/Key", cmd, "omadm"), "{cmd}");
            assert!(t.allows("./Vendor/Secure/Key", cmd, OTHER_SERVER), "{cmd}");
        }
    }

    #[test]
    fn account_round_trip() {
        let c = config(DmVersion::V1_2);
        let mut t = default_tree(&c);
        let a = Account::read(&t, &c);
        assert_eq!((a.kind, a.username.as_str(), a.password.as_str()), (AuthKind::Md5, "devuser", "devpw"));
        assert_eq!(a.client_nonce.as_bytes(), b"clientnonce");
        assert_eq!(a.server_password.as_deref(), Some("srvpw"));
        Account::store_client_nonce(&mut t, &c, &Nonce::new(b"n2".to_vec()));
        Account::store_server_nonce(&mut t, &c, &Nonce::new(b"s2".to_vec()));
        let a = Account::read(&t, &c);
        assert_eq!((a.client_nonce.as_bytes(), a.server_nonce.as_bytes()), (&b"n2"[..], &b"s2"[..]));
        let c = config(DmVersion::V1_1_2);
        let mut t = default_tree(&c);
        Account::store_client_nonce(&mut t, &c, &Nonce::new(b"n3".to_vec()));
        assert_eq!(Account::read(&t, &c).client_nonce.as_bytes(), b"n3");
        assert_eq!(host_and_port("http://h/dm"), ("80".into(), "h".into()));
    }
}
