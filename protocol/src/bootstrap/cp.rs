//! The OMA Client Provisioning document, `wap-provisioningdoc` (OMA-WAP-ProvCont-v1_1;
//! DTD `-//WAPFORUM//DTD PROV 1.0//EN`; FACTS.md G), and the DM bootstrap built with it:
//! a w7 APPLICATION characteristic with its NAPDEF, PXLOGICAL and, for Windows Mobile, the
//! Microsoft extensions (OMA-TS-DM_Bootstrap-V1_2 §5.3; FACTS.md H.2; seed 001).
//!
//! ```text
//! wap-provisioningdoc (characteristic+)   version
//! characteristic (parm | characteristic)* type
//! parm EMPTY                              name, value?
//! ```
//!
//! XML here is for people and for tools (`xml2wbxml`); devices get [`ProvisioningDoc::to_wbxml`]
//! ([`super::cp_wbxml`]).

use base64::Engine as _;

use super::account::{BootstrapError, DmAccount, MsExtensions, NapDef, PxLogical};
use crate::error::DecodeError;
use crate::limits::Limits;

/// Formal public identifier of PROV 1.0 (FACTS.md G.1).
pub const FPI_PROV_1_0: &str = "-//WAPFORUM//DTD PROV 1.0//EN";
/// System identifier of the PROV DTD, for the XML DOCTYPE.
pub const PROV_DTD_URL: &str = "http://www.wapforum.org/DTD/prov.dtd";
/// Content type of a WBXML CP document, WSP well-known code 0x36 (FACTS.md B.6, G.4).
pub const CONTENT_TYPE_WBXML: &str = "application/vnd.wap.connectivity-wbxml";
/// Content type of an XML CP document, WSP code 0x35.
pub const CONTENT_TYPE_XML: &str = "text/vnd.wap.connectivity-xml";
/// The APPID of the DM application registration (FACTS.md H.2).
pub const APPID_W7: &str = "w7";

/// `<parm name=".." value=".."/>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Parm {
    /// `name`.
    pub name: String,
    /// `value`; absent for flag parms such as INIT.
    pub value: Option<String>,
}

impl Parm {
    /// A parm with a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Parm {
        Parm { name: name.into(), value: Some(value.into()) }
    }

    /// A parm without a value (INIT).
    pub fn flag(name: impl Into<String>) -> Parm {
        Parm { name: name.into(), value: None }
    }
}

/// `<characteristic type="..">`: parms, then nested characteristics.
///
/// The DTD allows parms and characteristics interleaved; every document seen writes parms
/// first, and devices read them by name, so the model keeps the two lists apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Characteristic {
    /// `type`.
    pub type_: String,
    /// The `<parm>` children, in order.
    pub parms: Vec<Parm>,
    /// The nested `<characteristic>` children, in order.
    pub children: Vec<Characteristic>,
}

impl Characteristic {
    /// An empty characteristic of `type_`.
    pub fn new(type_: impl Into<String>) -> Characteristic {
        Characteristic { type_: type_.into(), ..Characteristic::default() }
    }

    /// Adds a parm with a value.
    pub fn parm(mut self, name: &str, value: impl Into<String>) -> Characteristic {
        self.parms.push(Parm::new(name, value));
        self
    }

    /// Adds a parm with a value when there is one.
    pub fn parm_opt(self, name: &str, value: Option<&str>) -> Characteristic {
        match value {
            Some(v) => self.parm(name, v),
            None => self,
        }
    }

    /// Adds a nested characteristic.
    pub fn child(mut self, child: Characteristic) -> Characteristic {
        self.children.push(child);
        self
    }

    /// The value of the first parm named `name`.
    pub fn value_of(&self, name: &str) -> Option<&str> {
        self.parms.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
    }
}

/// `<wap-provisioningdoc>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProvisioningDoc {
    /// `version`: `1.0` (ProvCont 1.0/1.1), Windows Mobile writes `1.1`.
    pub version: String,
    /// The top-level characteristics.
    pub characteristics: Vec<Characteristic>,
}

impl Default for ProvisioningDoc {
    fn default() -> Self {
        ProvisioningDoc { version: "1.0".to_owned(), characteristics: Vec::new() }
    }
}

impl ProvisioningDoc {
    /// A version 1.0 document.
    pub fn new(characteristics: Vec<Characteristic>) -> ProvisioningDoc {
        ProvisioningDoc { characteristics, ..ProvisioningDoc::default() }
    }

    /// The DM bootstrap document (OMA-TS-DM_Bootstrap-V1_2 §5.3, FACTS.md H.2): the w7
    /// APPLICATION, then the NAPDEF and PXLOGICAL when given, then the Microsoft extensions
    /// when asked (seed 001).
    ///
    /// APPLICATION: APPID `w7`, PROVIDER-ID = ServerID, NAME, TO-PROXY / TO-NAPID, ROLE
    /// (Microsoft), INIT; the address as ADDR, or as APPADDR (ADDR, ADDRTYPE `URI`,
    /// PORT/PORTNBR) when a port is given; two APPAUTH: AAUTHLEVEL `APPSRV` with the
    /// client's credentials (the client authenticates to the server: DMAcc CLCRED) and
    /// `CLIENT` with the server's (SRVCRED), each with AAUTHTYPE, AAUTHNAME, AAUTHSECRET
    /// and AAUTHDATA = Base64 of the nonce. With neither `to_proxy` nor `to_napid` set the
    /// account links to the given proxy, else to the given NAPDEF.
    pub fn for_dm_account(
        account: &DmAccount,
        nap: Option<&NapDef>,
        px: Option<&PxLogical>,
        ms: Option<&MsExtensions>,
    ) -> Result<ProvisioningDoc, BootstrapError> {
        account.validate()?;
        nap.map(NapDef::validate).transpose()?;
        px.map(PxLogical::validate).transpose()?;
        ms.map(MsExtensions::validate).transpose()?;

        let (to_proxy, to_napid) = match (&account.to_proxy, &account.to_napid) {
            (None, None) => match (px, nap) {
                (Some(px), _) => (Some(px.proxy_id.as_str()), None),
                (None, Some(nap)) => (None, Some(nap.napid.as_str())),
                (None, None) => (None, None),
            },
            (p, n) => (p.as_deref(), n.as_deref()),
        };
        let mut app = Characteristic::new("APPLICATION")
            .parm("APPID", APPID_W7)
            .parm("PROVIDER-ID", &account.server_id)
            .parm_opt("NAME", account.name.as_deref());
        if account.port.is_none() {
            app = app.parm("ADDR", &account.addr);
        }
        app = app.parm_opt("TO-PROXY", to_proxy).parm_opt("TO-NAPID", to_napid);
        if let Some(role) = ms.and_then(|m| m.role) {
            app = app.parm("ROLE", role.to_string());
        }
        if account.init {
            app.parms.push(Parm::flag("INIT"));
        }
        if let Some(port) = account.port {
            app = app.child(
                Characteristic::new("APPADDR")
                    .parm("ADDR", &account.addr)
                    .parm("ADDRTYPE", "URI")
                    .child(Characteristic::new("PORT").parm("PORTNBR", port.to_string())),
            );
        }
        for (level, auth) in [("APPSRV", &account.client_auth), ("CLIENT", &account.server_auth)] {
            let mut appauth = Characteristic::new("APPAUTH")
                .parm("AAUTHLEVEL", level)
                .parm("AAUTHTYPE", auth.auth_type.aauth_type());
            if !auth.name.is_empty() {
                appauth = appauth.parm("AAUTHNAME", &auth.name);
            }
            appauth = appauth.parm("AAUTHSECRET", &auth.secret);
            if !auth.nonce.is_empty() {
                appauth =
                    appauth.parm("AAUTHDATA", base64::engine::general_purpose::STANDARD.encode(&auth.nonce));
            }
            app = app.child(appauth);
        }

        let mut doc = ProvisioningDoc::new(vec![app]);
        if let Some(nap) = nap {
            let mut c = Characteristic::new("NAPDEF")
                .parm("NAPID", &nap.napid)
                .parm("NAME", &nap.name)
                .parm("BEARER", &nap.bearer)
                .parm("NAP-ADDRESS", &nap.nap_address)
                .parm("NAP-ADDRTYPE", &nap.nap_addrtype);
            if let Some(a) = &nap.auth {
                c = c.child(
                    Characteristic::new("NAPAUTHINFO")
                        .parm("AUTHTYPE", &a.auth_type)
                        .parm("AUTHNAME", &a.name)
                        .parm("AUTHSECRET", &a.secret),
                );
            }
            doc.characteristics.push(c);
        }
        if let Some(px) = px {
            let mut physical = Characteristic::new("PXPHYSICAL")
                .parm("PHYSICAL-PROXY-ID", &px.physical_proxy_id)
                .parm("PXADDR", &px.pxaddr)
                .parm("PXADDRTYPE", &px.pxaddrtype)
                .parm("TO-NAPID", &px.to_napid);
            if let Some(port) = px.port {
                physical = physical.child(Characteristic::new("PORT").parm("PORTNBR", port.to_string()));
            }
            doc.characteristics.push(
                Characteristic::new("PXLOGICAL")
                    .parm("PROXY-ID", &px.proxy_id)
                    .parm("NAME", &px.name)
                    .child(physical),
            );
        }
        if let Some(ms) = ms {
            if !ms.security_policies.is_empty() {
                let mut c = Characteristic::new("SecurityPolicy");
                for (id, value) in &ms.security_policies {
                    c = c.parm(&id.to_string(), value);
                }
                doc.characteristics.push(c);
            }
            if !ms.root_certificates.is_empty() {
                let mut root = Characteristic::new("ROOT");
                for cert in &ms.root_certificates {
                    root = root.child(
                        Characteristic::new(cert.thumbprint.to_ascii_uppercase())
                            .parm("EncodedCertificate", &cert.encoded),
                    );
                }
                doc.characteristics.push(Characteristic::new("CertificateStore").child(root));
            }
        }
        Ok(doc)
    }

    /// The w7 APPLICATION characteristics of the document.
    pub fn dm_accounts(&self) -> impl Iterator<Item = &Characteristic> {
        self.characteristics
            .iter()
            .filter(|c| c.type_ == "APPLICATION" && c.value_of("APPID") == Some(APPID_W7))
    }

    /// The document as indented XML with the PROV 1.0 DOCTYPE, the form `xml2wbxml` and
    /// people read. Characters XML 1.0 cannot hold (C0 controls) are written as character
    /// references; such values are refused by the builders anyway.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"<?xml version=\"1.0\"?>\n");
        out.extend_from_slice(
            format!("<!DOCTYPE wap-provisioningdoc PUBLIC \"{FPI_PROV_1_0}\" \"{PROV_DTD_URL}\">\n")
                .as_bytes(),
        );
        out.extend_from_slice(b"<wap-provisioningdoc version=\"");
        escape_attr(&mut out, &self.version);
        if self.characteristics.is_empty() {
            out.extend_from_slice(b"\"/>\n");
            return out;
        }
        out.extend_from_slice(b"\">\n");
        for c in &self.characteristics {
            write_characteristic(&mut out, c, 1);
        }
        out.extend_from_slice(b"</wap-provisioningdoc>\n");
        out
    }

    /// The document as WBXML 1.3, public id 0x0B, UTF-8, no string table (FACTS.md G.1).
    pub fn to_wbxml(&self) -> Vec<u8> {
        super::cp_wbxml::encode(self)
    }

    /// Reads a WBXML document, bounded by `limits` (FACTS.md A, G).
    pub fn from_wbxml(bytes: &[u8], limits: &Limits) -> Result<ProvisioningDoc, DecodeError> {
        super::cp_wbxml::decode(bytes, limits)
    }
}

fn write_characteristic(out: &mut Vec<u8>, c: &Characteristic, depth: usize) {
    indent(out, depth);
    out.extend_from_slice(b"<characteristic type=\"");
    escape_attr(out, &c.type_);
    if c.parms.is_empty() && c.children.is_empty() {
        out.extend_from_slice(b"\"/>\n");
        return;
    }
    out.extend_from_slice(b"\">\n");
    for p in &c.parms {
        indent(out, depth + 1);
        out.extend_from_slice(b"<parm name=\"");
        escape_attr(out, &p.name);
        if let Some(v) = &p.value {
            out.extend_from_slice(b"\" value=\"");
            escape_attr(out, v);
        }
        out.extend_from_slice(b"\"/>\n");
    }
    for child in &c.children {
        write_characteristic(out, child, depth + 1);
    }
    indent(out, depth);
    out.extend_from_slice(b"</characteristic>\n");
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    out.extend(std::iter::repeat_n(b' ', depth * 2));
}

/// Escapes a double-quoted attribute value: markup characters and every control character
/// (whitespace included, which attribute normalisation would otherwise turn into spaces).
fn escape_attr(out: &mut Vec<u8>, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            c if c.is_control() => out.extend_from_slice(format!("&#x{:X};", u32::from(c)).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::account::{AuthSpec, AuthType, RootCertificate};
    use super::*;

    pub(crate) fn account() -> DmAccount {
        DmAccount {
            server_id: "dms".into(),
            name: Some("DM".into()),
            addr: "http://dm.example.com/dm".into(),
            port: Some(80),
            client_auth: AuthSpec {
                auth_type: AuthType::Digest,
                name: "dev".into(),
                secret: "cpw".into(),
                nonce: Vec::new(),
            },
            server_auth: AuthSpec {
                auth_type: AuthType::Digest,
                name: "dms".into(),
                secret: "spw".into(),
                nonce: vec![0; 4],
            },
            to_napid: None,
            to_proxy: None,
            init: false,
            con_ref: None,
        }
    }

    #[test]
    fn w7_application_shape() {
        let doc = ProvisioningDoc::for_dm_account(&account(), None, None, None).unwrap();
        let app = doc.dm_accounts().next().unwrap();
        assert_eq!(app.value_of("PROVIDER-ID"), Some("dms"));
        assert_eq!(app.value_of("ADDR"), None, "address in APPADDR when a port is given");
        let appaddr = &app.children[0];
        assert_eq!(
            (appaddr.type_.as_str(), appaddr.value_of("ADDR")),
            ("APPADDR", Some("http://dm.example.com/dm"))
        );
        assert_eq!(appaddr.children[0].value_of("PORTNBR"), Some("80"));
        let levels: Vec<_> = app.children[1..].iter().map(|c| c.value_of("AAUTHLEVEL").unwrap()).collect();
        assert_eq!(levels, ["APPSRV", "CLIENT"]);
        assert_eq!(app.children[1].value_of("AAUTHDATA"), None, "no nonce, no AAUTHDATA");
        assert_eq!(app.children[2].value_of("AAUTHDATA"), Some("AAAAAA=="));
    }

    #[test]
    fn links_and_ms_extensions() {
        let nap = NapDef {
            napid: "NAP1".into(),
            name: "GPRS".into(),
            bearer: "GSM-GPRS".into(),
            nap_address: "apn".into(),
            nap_addrtype: "APN".into(),
            auth: None,
        };
        let mut acc = account();
        acc.port = None;
        acc.init = true;
        let ms = MsExtensions {
            role: Some(8),
            security_policies: vec![(4119, "128".into())],
            root_certificates: vec![RootCertificate::from_der(b"der")],
        };
        let doc = ProvisioningDoc::for_dm_account(&acc, Some(&nap), None, Some(&ms)).unwrap();
        let app = &doc.characteristics[0];
        assert_eq!(app.value_of("TO-NAPID"), Some("NAP1"));
        assert_eq!(app.value_of("ADDR"), Some("http://dm.example.com/dm"));
        assert_eq!(app.value_of("ROLE"), Some("8"));
        assert!(app.parms.iter().any(|p| p.name == "INIT" && p.value.is_none()));
        let types: Vec<_> = doc.characteristics.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["APPLICATION", "NAPDEF", "SecurityPolicy", "CertificateStore"]);
        assert_eq!(
            doc.characteristics[3].children[0].children[0].value_of("EncodedCertificate"),
            Some("ZGVy")
        );
    }

    #[test]
    fn invalid_input_is_refused() {
        let mut acc = account();
        acc.server_id.clear();
        assert_eq!(
            ProvisioningDoc::for_dm_account(&acc, None, None, None),
            Err(BootstrapError::Empty { field: "server_id" })
        );
        let mut acc = account();
        acc.addr = "ftp://x".into();
        assert!(matches!(
            ProvisioningDoc::for_dm_account(&acc, None, None, None),
            Err(BootstrapError::NotHttpUrl(_))
        ));
    }

    #[test]
    fn xml_escapes_and_doctype() {
        let doc = ProvisioningDoc::new(vec![Characteristic::new("A\"<&>").parm("N", "v\tx")]);
        let xml = String::from_utf8(doc.to_xml()).unwrap();
        assert!(xml.contains("<!DOCTYPE wap-provisioningdoc PUBLIC \"-//WAPFORUM//DTD PROV 1.0//EN\""));
        assert!(xml.contains("type=\"A&quot;&lt;&amp;&gt;\""), "{xml}");
        assert!(xml.contains("value=\"v&#x9;x\""), "{xml}");
    }
}
