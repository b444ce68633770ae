//! Building a bootstrap push: the document of either profile, signed, in its WSP push PDU.
//!
//! Shared by the admin API (which stores the push and the device's new credentials) and the
//! CLI (`omadm bootstrap cp|dm`, which prints every layer). The documents themselves are
//! built by [`omadm_protocol::bootstrap`]; this module picks the profile, the SEC method and
//! its key, and frames the result (FACTS.md G.4, G.5, F.1).

pub mod operation;

use omadm_protocol::Encoding;
use omadm_protocol::bootstrap::{
    DmAccount, DmBootstrap, DmForm, DmLayout, MsExtensions, NapDef, ProvisioningDoc, PxLogical, SecMethod,
    security,
};
use omadm_protocol::push::{
    ApplicationId, ConcatReference, ContentType, Mac, MediaType, Ports, PushPdu, sms,
};
use omadm_storage::PushKind;

/// Digits of a USERPIN the server draws (when the operator gives none).
pub const USERPIN_DIGITS: usize = 8;
/// Digits of the K half of a USERPINMAC PIN the server draws (the user types 2× this).
pub const USERPINMAC_K_DIGITS: usize = 5;

/// The bootstrap profile (OMA-TS-DM_Bootstrap §5: Client Provisioning or DM profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A `wap-provisioningdoc` with the w7 APPLICATION (content type 0xB6).
    Cp,
    /// A SyncML DM message adding the DMAcc account (content type 0xC2).
    Dm,
}

impl Profile {
    /// `cp` or `dm`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Cp => "cp",
            Profile::Dm => "dm",
        }
    }
}

/// How the push is signed, and the secret the device checks it with.
#[derive(Clone, PartialEq, Eq)]
pub enum Security {
    /// NETWPIN: key from the IMSI (the device knows it from its SIM).
    NetwPin { imsi: String },
    /// USERPIN: the user types the PIN; `None`: the server draws one.
    UserPin { pin: Option<String> },
    /// USERNETWPIN: IMSI and the PIN the user types.
    UserNetwPin { imsi: String, pin: Option<String> },
    /// USERPINMAC: the server draws K; the user types K‖m, which carries the MAC itself.
    UserPinMac,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method().name())
    }
}

impl Security {
    /// The SEC method.
    pub fn method(&self) -> SecMethod {
        match self {
            Security::NetwPin { .. } => SecMethod::NetwPin,
            Security::UserPin { .. } => SecMethod::UserPin,
            Security::UserNetwPin { .. } => SecMethod::UserNetwPin,
            Security::UserPinMac => SecMethod::UserPinMac,
        }
    }
}

/// Everything a bootstrap needs besides the account.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which profile.
    pub profile: Profile,
    /// How it is signed.
    pub security: Security,
    /// The DM profile's tree layout (DM 1.2 `./DMAcc` or DM 1.1.2 `./SyncML/DMAcc`).
    pub layout: DmLayout,
    /// The DM profile's form: individual Adds or one TNDS Add.
    pub form: DmForm,
    /// The account's node name `<x>`.
    pub account_node: String,
    /// A NAPDEF to provision (CP) or write under `./SyncML/Con` (DM 1.1.2).
    pub nap: Option<NapDef>,
    /// A PXLOGICAL likewise.
    pub px: Option<PxLogical>,
    /// The Microsoft extensions of seed 001 (ROLE, SecurityPolicy, CertificateStore); CP only.
    pub ms: Option<MsExtensions>,
}

/// A built bootstrap: every layer, for storing, sending or printing.
#[derive(Clone)]
pub struct Built {
    /// What the push carries.
    pub kind: PushKind,
    /// The document as readable XML (CP: the `wap-provisioningdoc`; DM: the SyncML message).
    pub xml: Vec<u8>,
    /// The document as sent (WBXML): what SEC/MAC sign.
    pub wbxml: Vec<u8>,
    /// The WSP push PDU around it.
    pub pdu: PushPdu,
    /// The PIN the user must type (USERPIN / USERNETWPIN / USERPINMAC), to hand over out of
    /// band; `None` for NETWPIN.
    pub user_pin: Option<String>,
}

impl std::fmt::Debug for Built {
    /// The document holds the account's passwords: only sizes are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").field("kind", &self.kind).field("wbxml_len", &self.wbxml.len()).finish()
    }
}

impl Built {
    /// The push's content type as text, with SEC and MAC (for operators and PPGs).
    pub fn content_type_text(&self) -> String {
        let ct = &self.pdu.content_type;
        let mut s = ct.media.mime().to_owned();
        if let Some(sec) = ct.sec.and_then(|s| SecMethod::from_code(s.code())) {
            s.push_str("; SEC=");
            s.push_str(sec.name());
        }
        if let Some(mac) = &ct.mac {
            s.push_str("; MAC=");
            s.push_str(mac.as_str());
        }
        s
    }

    /// The SMS user data (UDH + WSP) of each segment, to port 2948 (FACTS.md F.2).
    pub fn sms_segments(&self, reference: ConcatReference) -> Result<Vec<Vec<u8>>, BuildError> {
        sms::segment(&self.pdu.encode(), Ports::PUSH, reference).map_err(|e| BuildError::Push(e.to_string()))
    }
}

/// Why a bootstrap could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The account or the network settings are not valid.
    #[error("{0}")]
    Account(#[from] omadm_protocol::bootstrap::BootstrapError),
    /// The IMSI or PIN is not valid for the SEC method.
    #[error("{0}")]
    Security(#[from] omadm_protocol::bootstrap::SecurityError),
    /// The push does not fit (too many SMS segments).
    #[error("push: {0}")]
    Push(String),
}

/// Build the signed bootstrap for `account` on `device_id`. `random` supplies the PIN digits
/// the server draws.
pub fn build(
    account: &DmAccount,
    device_id: &str,
    opts: &Options,
    random: &mut dyn FnMut() -> [u8; 16],
) -> Result<Built, BuildError> {
    let (kind, media, xml, wbxml) = match opts.profile {
        Profile::Cp => {
            let doc = ProvisioningDoc::for_dm_account(
                account,
                opts.nap.as_ref(),
                opts.px.as_ref(),
                opts.ms.as_ref(),
            )?;
            (PushKind::BootstrapCp, MediaType::ConnectivityWbxml, doc.to_xml(), doc.to_wbxml())
        }
        Profile::Dm => {
            let boot = DmBootstrap {
                account,
                device_id,
                session_id: "1",
                account_node: &opts.account_node,
                layout: opts.layout,
                form: opts.form,
                nap: opts.nap.as_ref(),
                px: opts.px.as_ref(),
            };
            let message = boot.message()?;
            let xml = omadm_protocol::encode_pretty_xml(&message);
            // The DM profile MUST be WBXML (OMA-TS-DM_Bootstrap §5.2.2; FACTS.md G.5).
            (
                PushKind::BootstrapDm,
                MediaType::DmBootstrap,
                xml,
                omadm_protocol::encode(&message, Encoding::Wbxml),
            )
        }
    };
    let digits = |n: usize, random: &mut dyn FnMut() -> [u8; 16]| -> String {
        let mut out = String::with_capacity(n);
        while out.len() < n {
            // Bytes 250..=255 are skipped so every digit is equally likely.
            out.extend(
                random().iter().filter(|&&b| b < 250).map(|b| char::from(b'0' + b % 10)).take(n - out.len()),
            );
        }
        out
    };
    let (credential, user_pin) = match &opts.security {
        Security::NetwPin { imsi } => (Some(security::Credential::NetwPin { imsi: imsi.clone() }), None),
        Security::UserPin { pin } => {
            let pin = pin.clone().unwrap_or_else(|| digits(USERPIN_DIGITS, random));
            (Some(security::Credential::UserPin { pin: pin.clone() }), Some(pin))
        }
        Security::UserNetwPin { imsi, pin } => {
            let pin = pin.clone().unwrap_or_else(|| digits(USERPIN_DIGITS, random));
            (Some(security::Credential::UserNetwPin { imsi: imsi.clone(), pin: pin.clone() }), Some(pin))
        }
        Security::UserPinMac => {
            let k = digits(USERPINMAC_K_DIGITS, random);
            (None, Some(security::userpinmac_pin(&k, &wbxml)?))
        }
    };
    let mut content_type = ContentType::new(media);
    content_type.sec = Some(opts.security.method().into());
    if let Some(c) = credential {
        let sig = c.sign(&wbxml)?;
        content_type.mac = Some(Mac::new(&sig.mac).map_err(|e| BuildError::Push(e.to_string()))?);
    }
    // DM pushes carry application id 0x07; CP pushes none, as Kannel and the CP receivers
    // expect (FACTS.md F.1).
    let application_id = (opts.profile == Profile::Dm).then_some(ApplicationId::SYNCML_DM);
    let pdu = PushPdu { tid: 1, content_type, application_id, body: wbxml.clone() };
    let built = Built { kind, xml, wbxml, pdu, user_pin };
    // Refuse what cannot be sent rather than store it.
    built.sms_segments(ConcatReference::Eight(0))?;
    Ok(built)
}
