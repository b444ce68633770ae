//! The operator's bootstrap (`POST /api/v1/devices/{id}/bootstrap`): new credentials for both
//! directions, the signed document carrying them, and its push, stored in one transaction.
//!
//! The device row holds only digests of the passwords, so a bootstrap provisions fresh ones
//! (the operator's, or drawn here): the document carries them in the clear to the device, the
//! database keeps their digests, and the push PDU is dropped once delivered. The device counts
//! as bootstrapped when it first authenticates with them (OMA-TS-DM_Bootstrap: a bootstrap
//! gets no response; the first session is the acknowledgement).
//!
//! [`prepare`] (credentials and document) and [`record`] (storing them) are shared with the
//! CLI: `omadm bootstrap cp|dm` prints or sends what `prepare` builds, and the factory export
//! stores it without a push.

use base64::Engine as _;
use omadm_protocol::auth::Nonce;
use omadm_protocol::bootstrap::{
    AuthSpec, AuthType, DmAccount, DmForm, DmLayout, MsExtensions, NapAuth, NapDef, PxLogical,
    RootCertificate,
};
use omadm_storage::{
    Bootstrap, BootstrapState, ClientAuthType, Device, Millis, NewPush, PushRecord, Store, StoreError, Tx,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Built, Options, Profile, Security, build};
use crate::admin::{AdminError, ClientAuthRequest, CreateDevice, ServerAuthRequest, device_from_request};
use crate::app::{now_millis, random16};
use crate::config::Config;

/// Attempts a bootstrap push gets before it is given up.
pub const MAX_ATTEMPTS: u32 = 5;

/// A bootstrap request. Not `Serialize`/`Debug`-printed whole: it may hold passwords and PINs.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapRequest {
    /// `cp` (Client Provisioning) or `dm` (DM profile).
    pub profile: Profile,
    /// The device's number (E.164) the push goes to.
    pub msisdn: String,
    /// How the push is signed.
    pub security: SecurityRequest,
    /// How the device will authenticate to us.
    pub client_auth: BootstrapClientAuth,
    /// Our password towards the device (SRVCRED); drawn when absent.
    #[serde(default)]
    pub server_password: Option<String>,
    /// The ServerID; the configured one when absent.
    #[serde(default)]
    pub server_id: Option<String>,
    /// The account's display name (NAME); the ServerID when absent.
    #[serde(default)]
    pub account_name: Option<String>,
    /// DM profile: `1.2` (`./DMAcc`, the default) or `1.1.2` (`./SyncML/DMAcc`).
    #[serde(default)]
    pub dm_version: Option<String>,
    /// DM profile: `tnds` (one Add of a TNDS object, the default) or `commands`.
    #[serde(default)]
    pub form: Option<String>,
    /// An access point to provision with the account.
    #[serde(default)]
    pub nap: Option<NapRequest>,
    /// A proxy to provision with the account.
    #[serde(default)]
    pub proxy: Option<ProxyRequest>,
    /// The delivery channel (`smpp`, `pap`); the first configured when absent.
    #[serde(default)]
    pub channel: Option<String>,
    /// Microsoft extensions (CP profile only; seed 001).
    #[serde(default)]
    pub ms_extensions: Option<MsExtensionsRequest>,
}

/// The Microsoft extensions of a Windows Mobile bootstrap (seed 001): the w7 ROLE, security
/// policies and root certificates for the CertificateStore.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsExtensionsRequest {
    /// w7 ROLE (e.g. 8: manager).
    #[serde(default)]
    pub role: Option<u32>,
    /// SecurityPolicy entries: policy id and value, e.g. `{"id": 4119, "value": "128"}`.
    #[serde(default)]
    pub security_policies: Vec<SecurityPolicyRequest>,
    /// Root certificates to install: Base64 of each DER certificate.
    #[serde(default)]
    pub root_certificates: Vec<String>,
}

/// One SecurityPolicy parm.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityPolicyRequest {
    /// The policy id.
    pub id: u32,
    /// Its value.
    pub value: String,
}

/// The SEC method and its secret (FACTS.md G.4).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityRequest {
    /// `netwpin`, `userpin`, `usernetwpin` or `userpinmac`.
    pub method: String,
    /// The subscriber's IMSI (NETWPIN, USERNETWPIN).
    #[serde(default)]
    pub imsi: Option<String>,
    /// The PIN the user will type (USERPIN, USERNETWPIN); drawn when absent.
    #[serde(default)]
    pub pin: Option<String>,
}

/// The device's credentials towards us.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapClientAuth {
    /// `basic`, `md5` (the default) or `hmac`.
    #[serde(rename = "type", default)]
    pub auth_type: Option<String>,
    /// AAuthName.
    pub username: String,
    /// AAuthSecret; drawn when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// A NAPDEF (OMA-WAP-ProvCont §5.4).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NapRequest {
    /// NAPID.
    pub napid: String,
    /// NAME.
    pub name: String,
    /// BEARER, e.g. `GSM-GPRS`.
    pub bearer: String,
    /// NAP-ADDRESS, e.g. the APN.
    pub address: String,
    /// NAP-ADDRTYPE, e.g. `APN`.
    pub address_type: String,
    /// NAPAUTHINFO AUTHTYPE (`PAP`, `CHAP`), with `auth_name` and `auth_secret`.
    #[serde(default)]
    pub auth_type: Option<String>,
    /// AUTHNAME.
    #[serde(default)]
    pub auth_name: Option<String>,
    /// AUTHSECRET.
    #[serde(default)]
    pub auth_secret: Option<String>,
}

/// A PXLOGICAL with one PXPHYSICAL (OMA-WAP-ProvCont §5.3).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRequest {
    /// PROXY-ID.
    pub proxy_id: String,
    /// NAME.
    pub name: String,
    /// PXADDR.
    pub address: String,
    /// PXADDRTYPE, e.g. `IPV4`.
    pub address_type: String,
    /// TO-NAPID of the physical proxy.
    pub to_napid: String,
    /// PORTNBR.
    #[serde(default)]
    pub port: Option<u16>,
}

/// What the operator gets back.
#[derive(Debug, Serialize)]
pub struct BootstrapView {
    /// The queued push.
    pub push: PushRecord,
    /// The device's bootstrap state.
    pub bootstrap: Bootstrap,
    /// The PIN the user must type (USERPIN, USERNETWPIN, USERPINMAC): hand it over out of band.
    pub user_pin: Option<String>,
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

/// A password drawn here: 16 random bytes, URL-safe Base64 (22 characters).
fn random_password(random: &mut dyn FnMut() -> [u8; 16]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random())
}

/// Check the request and turn it into the build options.
pub fn options(req: &BootstrapRequest) -> Result<Options, AdminError> {
    let imsi = || req.security.imsi.clone().ok_or_else(|| invalid("security.imsi: required by this method"));
    let security = match req.security.method.to_ascii_lowercase().as_str() {
        "netwpin" => Security::NetwPin { imsi: imsi()? },
        "userpin" => Security::UserPin { pin: req.security.pin.clone() },
        "usernetwpin" => Security::UserNetwPin { imsi: imsi()?, pin: req.security.pin.clone() },
        "userpinmac" => Security::UserPinMac,
        _ => return Err(invalid("security.method: one of netwpin, userpin, usernetwpin, userpinmac")),
    };
    let layout = match req.dm_version.as_deref() {
        None | Some("1.2") => DmLayout::Dm12,
        Some("1.1.2") => DmLayout::Dm112,
        Some(_) => return Err(invalid("dm_version: 1.2 or 1.1.2")),
    };
    let form = match req.form.as_deref() {
        None | Some("tnds") => DmForm::Tnds,
        Some("commands") => DmForm::Commands,
        Some(_) => return Err(invalid("form: tnds or commands")),
    };
    let nap = req.nap.as_ref().map(|n| NapDef {
        napid: n.napid.clone(),
        name: n.name.clone(),
        bearer: n.bearer.clone(),
        nap_address: n.address.clone(),
        nap_addrtype: n.address_type.clone(),
        auth: n.auth_type.as_ref().map(|t| NapAuth {
            auth_type: t.clone(),
            name: n.auth_name.clone().unwrap_or_default(),
            secret: n.auth_secret.clone().unwrap_or_default(),
        }),
    });
    let px = req.proxy.as_ref().map(|p| PxLogical {
        proxy_id: p.proxy_id.clone(),
        name: p.name.clone(),
        physical_proxy_id: format!("{}-1", p.proxy_id),
        pxaddr: p.address.clone(),
        pxaddrtype: p.address_type.clone(),
        to_napid: p.to_napid.clone(),
        port: p.port,
    });
    let ms = match &req.ms_extensions {
        None => None,
        Some(_) if req.profile != Profile::Cp => {
            return Err(invalid("ms_extensions: only with the cp profile"));
        }
        Some(m) => {
            const MAX_CERTS: usize = 16;
            if m.root_certificates.len() > MAX_CERTS || m.security_policies.len() > 64 {
                return Err(invalid(format!(
                    "ms_extensions: at most {MAX_CERTS} root certificates and 64 policies"
                )));
            }
            let root_certificates = m
                .root_certificates
                .iter()
                .map(|b64| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map(|der| RootCertificate::from_der(&der))
                        .map_err(|_| invalid("ms_extensions.root_certificates: not Base64"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(MsExtensions {
                role: m.role,
                security_policies: m.security_policies.iter().map(|p| (p.id, p.value.clone())).collect(),
                root_certificates,
            })
        }
    };
    Ok(Options { profile: req.profile, security, layout, form, account_node: "omadm".into(), nap, px, ms })
}

/// A bootstrap ready to store: the device record holding the digests of the new credentials,
/// the account the document carries them in (in the clear), the options and the signed push.
/// Nothing of it is stored yet.
pub struct Prepared {
    /// The device row to create, or whose credentials to replace.
    pub device: Device,
    /// The account as the document carries it (its secrets are the new passwords).
    pub account: DmAccount,
    /// The build options the request selected.
    pub options: Options,
    /// The signed document and its push.
    pub built: Built,
}

impl std::fmt::Debug for Prepared {
    /// The account and the document hold passwords: only the device and the sizes are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("device", &self.device).field("built", &self.built).finish()
    }
}

/// New credentials for `device_id` and the signed document carrying them: the one path that
/// provisions credentials, for the admin API, the CLI and the factory export. Passwords the
/// request leaves out are drawn from `random`; `addr` is the DM server address (ADDR) the
/// device will connect to. Stores nothing.
pub fn prepare(
    device_id: &str,
    req: &BootstrapRequest,
    server_id_default: &str,
    addr: String,
    now: Millis,
    random: &mut dyn FnMut() -> [u8; 16],
) -> Result<Prepared, AdminError> {
    let opts = options(req)?;
    let client_password = req.client_auth.password.clone().unwrap_or_else(|| random_password(random));
    let server_password = req.server_password.clone().unwrap_or_else(|| random_password(random));
    let create = CreateDevice {
        device_id: device_id.to_owned(),
        client_auth: ClientAuthRequest {
            auth_type: req.client_auth.auth_type.clone().unwrap_or_else(|| "md5".into()),
            username: req.client_auth.username.clone(),
            password: client_password.clone(),
            nonce: None,
        },
        server_auth: Some(ServerAuthRequest { password: server_password.clone(), nonce: None }),
        server_id: req.server_id.clone(),
    };
    let device = device_from_request(&create, server_id_default, now, random)?;
    let nonce = |b64: &str| Nonce::from_b64(b64).map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    let auth_type = match device.client_auth_type {
        ClientAuthType::Basic => AuthType::Basic,
        ClientAuthType::Md5 => AuthType::Digest,
        ClientAuthType::Hmac => AuthType::Hmac,
    };
    let account = DmAccount {
        server_id: device.server_id.clone(),
        name: Some(req.account_name.clone().unwrap_or_else(|| device.server_id.clone())),
        addr,
        port: None,
        client_auth: AuthSpec {
            auth_type,
            name: device.client_username.clone(),
            secret: client_password,
            nonce: nonce(&device.client_nonce),
        },
        server_auth: AuthSpec {
            auth_type,
            name: device.server_id.clone(),
            secret: server_password,
            nonce: nonce(&device.server_nonce),
        },
        to_napid: opts.nap.as_ref().map(|n| n.napid.clone()),
        to_proxy: opts.px.as_ref().map(|p| p.proxy_id.clone()),
        init: true,
        con_ref: None,
    };
    let built = build(&account, device_id, &opts, random).map_err(|e| invalid(e.to_string()))?;
    Ok(Prepared { device, account, options: opts, built })
}

/// Where a push goes: the device's number and the channel (`None`: the first configured).
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    /// E.164 number.
    pub msisdn: &'a str,
    /// `smpp` or `pap`.
    pub channel: Option<&'a str>,
}

/// Store a prepared bootstrap in `tx`: the device created or its credentials replaced, its
/// push queued when `delivery` is given (`None`: a factory bootstrap, loaded at production,
/// seed 003 §5.1.2.1), the pending bootstrap and an audit entry `device.bootstrap`. Returns
/// the bootstrap and the push id.
pub async fn record(
    tx: &mut Tx,
    prepared: &Prepared,
    delivery: Option<Delivery<'_>>,
    actor: &str,
    now: Millis,
) -> Result<(Bootstrap, Option<i64>), AdminError> {
    let device_id = prepared.device.device_id.as_str();
    match tx.get_device(device_id).await? {
        Some(old) => {
            let device = Device { created_at: old.created_at, ..prepared.device.clone() };
            tx.update_device(&device).await?;
        }
        None => tx.create_device(&prepared.device).await?,
    }
    let push_id = match delivery {
        Some(d) => {
            let push = NewPush {
                device_id: Some(device_id.to_owned()),
                kind: prepared.built.kind,
                msisdn: d.msisdn.to_owned(),
                channel: d.channel.map(str::to_owned),
                content_type: prepared.built.content_type_text(),
                pdu: prepared.built.pdu.encode(),
                max_attempts: MAX_ATTEMPTS,
            };
            let id = tx.enqueue_push(&push, now).await?;
            // The number also wakes the device later (notifications, issue 7).
            tx.set_notification_target(device_id, Some(d.msisdn), d.channel, now).await?;
            Some(id)
        }
        None => None,
    };
    let profile = prepared.options.profile;
    let bootstrap = Bootstrap {
        device_id: device_id.to_owned(),
        push_id,
        profile: profile.as_str().to_owned(),
        state: BootstrapState::Pending,
        created_at: now,
        bootstrapped_at: None,
    };
    tx.set_bootstrap(&bootstrap).await?;
    let detail = json!({
        "profile": profile.as_str(),
        "security": prepared.options.security.method().name(),
        "push_id": push_id,
        "channel": delivery.and_then(|d| d.channel),
    });
    tx.audit(actor, "device.bootstrap", Some(device_id), &detail, now).await?;
    Ok((bootstrap, push_id))
}

/// Provision `device_id` anew: store its credentials (creating the device if needed), the
/// push and the pending bootstrap in one transaction. The document is signed and framed
/// before anything is stored, so a bad request stores nothing.
pub async fn bootstrap_device(
    store: &Store,
    config: &Config,
    device_id: &str,
    req: BootstrapRequest,
    actor: &str,
) -> Result<BootstrapView, AdminError> {
    options(&req)?;
    let public = config.public_url.as_deref().ok_or_else(|| {
        invalid("the server has no public_url: set it (OMADM_PUBLIC_URL) so devices know where to connect")
    })?;
    if let Some(c) = &req.channel
        && !matches!(c.as_str(), "smpp" | "pap" | "http")
    {
        return Err(invalid("channel: smpp, pap or http"));
    }
    // The HTTP callback identifies the device by its id: the number may be left empty.
    if !(req.channel.as_deref() == Some("http") && req.msisdn.is_empty()) {
        crate::delivery::e164_digits(&req.msisdn).map_err(|e| invalid(format!("msisdn: {e}")))?;
    }
    let now = now_millis();
    let prepared = prepare(device_id, &req, &config.server_id, format!("{public}/dm"), now, &mut random16)?;
    let mut tx = store.begin().await?;
    let delivery = Delivery { msisdn: &req.msisdn, channel: req.channel.as_deref() };
    let (bootstrap, push_id) = record(&mut tx, &prepared, Some(delivery), actor, now).await?;
    let push_id = push_id.ok_or_else(|| StoreError::NotFound("the queued push".into()))?;
    let push = tx.get_push(push_id).await?.ok_or_else(|| StoreError::NotFound(format!("push {push_id}")))?;
    tx.commit().await?;
    Ok(BootstrapView { push, bootstrap, user_pin: prepared.built.user_pin })
}
