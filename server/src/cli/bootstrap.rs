//! `omadm bootstrap ...`: build a bootstrap of either profile and print every layer of it
//! (document, WBXML, WSP push PDU, SMS), write them to files or queue the push for a running
//! server; export factory bootstraps for a batch of devices ([`super::factory`]); show a
//! device's bootstrap state.
//!
//! Every path goes through [`operation::prepare`], the same code that provisions credentials
//! for the admin API (`POST /api/v1/devices/{id}/bootstrap`), with a [`BootstrapRequest`] built
//! from the flags.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use omadm_protocol::push::ConcatReference;
use omadm_storage::Store;

use super::device::{ACTOR, DbArgs, clean, fmt_time, print_json};
use super::factory::{self, FactoryArgs};
use crate::admin::{self, AdminError};
use crate::app::{now_millis, random16};
use crate::bootstrap::operation::{
    self, BootstrapClientAuth, BootstrapRequest, MsExtensionsRequest, NapRequest, Prepared, ProxyRequest,
    SecurityPolicyRequest, SecurityRequest,
};
use crate::bootstrap::{Built, Profile};
use crate::config::{Config, Overrides};

/// `omadm bootstrap`.
#[derive(Args, Debug)]
pub struct BootstrapArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Public base URL of the server (e.g. https://dm.example.com): the account's server
    /// address is <URL>/dm, as for the admin API. Needed by --send.
    #[arg(long, env = "OMADM_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    #[command(subcommand)]
    command: BootstrapCommand,
}

#[derive(Subcommand, Debug)]
enum BootstrapCommand {
    /// Client Provisioning profile: a wap-provisioningdoc with the w7 APPLICATION, pushed with
    /// content type 0xB6.
    ///
    /// Prints the document as XML, its WBXML, the WSP push PDU and the SMS that carry it, in
    /// hex, with the content type (SEC, MAC) and the PIN the user must type. This is a
    /// debugging and printing tool: passwords not given are drawn and printed once, and nothing
    /// is stored unless --send is given.
    Cp(BuildArgs),
    /// DM profile: a SyncML DM message (WBXML) adding the DMAcc account, pushed with content
    /// type 0xC2 and application id 0x07.
    ///
    /// Prints or sends like `omadm bootstrap cp`.
    Dm {
        #[command(flatten)]
        build: BuildArgs,
        #[command(flatten)]
        dm: DmArgs,
    },
    /// Factory ("customized") bootstrap: one signed document per device of a CSV, loaded by the
    /// manufacturer at production (OMA DM Bootstrap §5.1.2.1).
    ///
    /// The CSV has a header line and the columns imei,imsi (required), msisdn and username
    /// (optional), in any order. Every row gets fresh credentials; its device IMEI:<imei> is
    /// created, or its credentials replaced, in the database (no push is queued), and DIR gets
    /// <imei>.wbxml (the document, signed with NETWPIN from the row's IMSI), <imei>.xml and a
    /// manifest.csv with each document's MAC. All rows are checked first: one bad row stops the
    /// export before anything is stored or written, and every bad row is reported with its line.
    Factory(FactoryArgs),
    /// Show a device's latest bootstrap: profile, state (pending until the device's first
    /// authenticated session), its push.
    Status {
        /// Device id.
        device_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The DM server account and its network settings, shared by `cp`, `dm` and `factory`.
#[derive(Args, Debug, Clone)]
pub(crate) struct AccountArgs {
    /// The ServerID the device will know us by (PROVIDER-ID / DMAcc ServerID) [default: the
    /// configured one, else omadm].
    #[arg(long, env = "OMADM_SERVER_ID")]
    pub server_id: Option<String>,
    /// The DM server address the device connects to (ADDR), e.g. https://dm.example.com/dm
    /// [default: <public-url>/dm]. Not with --send: a queued push uses the public URL.
    #[arg(long, value_name = "URL")]
    pub addr: Option<String>,
    /// The account's display name (NAME) [default: the ServerID].
    #[arg(long)]
    pub name: Option<String>,
    /// How the device authenticates to us: basic (syncml:auth-basic), md5 (syncml:auth-md5) or
    /// hmac (x-syncml-hmac); the server's credentials use the same type.
    #[arg(long, default_value = "md5", value_parser = ["basic", "md5", "hmac"])]
    pub auth: String,
    /// NAPDEF to provision: its NAPID (TO-NAPID of the account). Needs --apn.
    #[arg(long, requires = "apn")]
    pub napid: Option<String>,
    /// NAPDEF NAP-ADDRESS, e.g. the APN internet.example.
    #[arg(long, requires = "napid")]
    pub apn: Option<String>,
    /// NAPDEF NAP-ADDRTYPE of --apn.
    #[arg(long, default_value = "APN", requires = "napid")]
    pub nap_addrtype: String,
    /// NAPDEF NAME [default: the NAPID].
    #[arg(long, requires = "napid")]
    pub nap_name: Option<String>,
    /// NAPDEF BEARER.
    #[arg(long, default_value = "GSM-GPRS", requires = "napid")]
    pub bearer: String,
    /// NAPAUTHINFO AUTHTYPE of the access point, e.g. PAP or CHAP.
    #[arg(long, requires = "napid")]
    pub nap_auth_type: Option<String>,
    /// NAPAUTHINFO AUTHNAME.
    #[arg(long, requires = "nap_auth_type")]
    pub nap_auth_name: Option<String>,
    /// NAPAUTHINFO AUTHSECRET.
    #[arg(long, requires = "nap_auth_type")]
    pub nap_auth_secret: Option<String>,
    /// PXLOGICAL to provision: its PROXY-ID (TO-PROXY of the account). Needs --proxy-addr and
    /// --napid (the proxy's TO-NAPID).
    #[arg(long, requires_all = ["proxy_addr", "napid"])]
    pub proxy_id: Option<String>,
    /// PXPHYSICAL PXADDR, e.g. 10.0.0.1.
    #[arg(long, requires = "proxy_id")]
    pub proxy_addr: Option<String>,
    /// PXPHYSICAL PXADDRTYPE of --proxy-addr.
    #[arg(long, default_value = "IPV4", requires = "proxy_id")]
    pub proxy_addrtype: String,
    /// PXPHYSICAL PORTNBR.
    #[arg(long, requires = "proxy_id")]
    pub proxy_port: Option<u16>,
    /// PXLOGICAL NAME [default: the PROXY-ID].
    #[arg(long, requires = "proxy_id")]
    pub proxy_name: Option<String>,
    /// Microsoft extension (CP only, seed 001): the w7 ROLE, e.g. 8 (manager).
    #[arg(long)]
    pub ms_role: Option<u32>,
    /// Microsoft extension (CP only): a SecurityPolicy as ID=VALUE, e.g. 4119=128; repeatable.
    #[arg(long = "ms-policy", value_name = "ID=VALUE", value_parser = parse_policy)]
    pub ms_policies: Vec<(u32, String)>,
    /// Microsoft extension (CP only): a root certificate (DER file) for the CertificateStore;
    /// repeatable.
    #[arg(long = "ms-root-cert", value_name = "FILE")]
    pub ms_root_certs: Vec<std::path::PathBuf>,
}

fn parse_policy(s: &str) -> Result<(u32, String), String> {
    let (id, value) = s.split_once('=').ok_or("expected ID=VALUE")?;
    Ok((id.trim().parse().map_err(|_| format!("{id:?} is not a policy id"))?, value.to_owned()))
}

impl AccountArgs {
    /// The NAPDEF of the request.
    fn nap(&self) -> Option<NapRequest> {
        let (napid, apn) = (self.napid.clone()?, self.apn.clone()?);
        Some(NapRequest {
            name: self.nap_name.clone().unwrap_or_else(|| napid.clone()),
            napid,
            bearer: self.bearer.clone(),
            address: apn,
            address_type: self.nap_addrtype.clone(),
            auth_type: self.nap_auth_type.clone(),
            auth_name: self.nap_auth_name.clone(),
            auth_secret: self.nap_auth_secret.clone(),
        })
    }

    /// The PXLOGICAL of the request.
    fn proxy(&self) -> Option<ProxyRequest> {
        let (proxy_id, address, to_napid) =
            (self.proxy_id.clone()?, self.proxy_addr.clone()?, self.napid.clone()?);
        Some(ProxyRequest {
            name: self.proxy_name.clone().unwrap_or_else(|| proxy_id.clone()),
            proxy_id,
            address,
            address_type: self.proxy_addrtype.clone(),
            to_napid,
            port: self.proxy_port,
        })
    }

    /// The Microsoft extensions of the request, when any flag asks for them.
    pub(crate) fn ms_extensions(&self) -> anyhow::Result<Option<MsExtensionsRequest>> {
        if self.ms_role.is_none() && self.ms_policies.is_empty() && self.ms_root_certs.is_empty() {
            return Ok(None);
        }
        let mut root_certificates = Vec::new();
        for path in &self.ms_root_certs {
            let der = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            root_certificates.push(base64::engine::general_purpose::STANDARD.encode(der));
        }
        Ok(Some(MsExtensionsRequest {
            role: self.ms_role,
            security_policies: self
                .ms_policies
                .iter()
                .map(|(id, value)| SecurityPolicyRequest { id: *id, value: value.clone() })
                .collect(),
            root_certificates,
        }))
    }

    /// A request for `profile`, the fields every path shares filled in.
    pub(crate) fn request(
        &self,
        profile: Profile,
        dm: &DmArgs,
        security: SecurityRequest,
        client_auth: BootstrapClientAuth,
    ) -> BootstrapRequest {
        BootstrapRequest {
            profile,
            msisdn: String::new(),
            security,
            client_auth,
            server_password: None,
            server_id: self.server_id.clone(),
            account_name: self.name.clone(),
            dm_version: Some(dm.dm_version.clone()),
            form: Some(dm.form.clone()),
            nap: self.nap(),
            proxy: self.proxy(),
            channel: None,
            ms_extensions: None,
        }
    }

    /// The server address: --addr, else the public URL's `/dm` (as the admin API uses).
    pub(crate) fn addr(&self, config: &Config) -> anyhow::Result<String> {
        match (&self.addr, &config.public_url) {
            (Some(a), _) => Ok(a.clone()),
            (None, Some(public)) => Ok(format!("{public}/dm")),
            (None, None) => anyhow::bail!(
                "give --addr URL (the DM server address the device connects to) or --public-url"
            ),
        }
    }
}

/// The DM profile's layout and form.
#[derive(Args, Debug, Clone)]
pub(crate) struct DmArgs {
    /// DM version of the account: 1.2 (./DMAcc/<x>) or 1.1.2 (./SyncML/DMAcc/<x>).
    #[arg(long, default_value = "1.2", value_parser = ["1.2", "1.1.2"])]
    pub dm_version: String,
    /// How the message adds the account: tnds (one Add of a TNDS object) or commands (one Add
    /// per node).
    #[arg(long, default_value = "tnds", value_parser = ["tnds", "commands"])]
    pub form: String,
}

impl Default for DmArgs {
    fn default() -> Self {
        DmArgs { dm_version: "1.2".into(), form: "tnds".into() }
    }
}

/// `omadm bootstrap cp|dm` flags.
#[derive(Args, Debug)]
struct BuildArgs {
    /// Device id (DevId), e.g. IMEI:493005100592800 (the DM profile's message is addressed to it).
    device_id: String,
    #[command(flatten)]
    account: AccountArgs,
    /// The user name the device sends (APPSRV AAUTHNAME / DMAcc client AAuthName).
    #[arg(long)]
    username: String,
    /// The device's password (APPSRV AAUTHSECRET) [default: drawn, 16 random bytes in URL-safe
    /// Base64, printed once].
    #[arg(long, env = "OMADM_DEVICE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Our password towards the device (CLIENT AAUTHSECRET / SRVCRED) [default: drawn, printed
    /// once].
    #[arg(long, env = "OMADM_SERVER_PASSWORD", hide_env_values = true)]
    server_password: Option<String>,
    /// How the push is signed (SEC): netwpin (key from --imsi), userpin (--pin), usernetwpin
    /// (--imsi and --pin) or userpinmac (the server draws the PIN the user types).
    #[arg(long, value_parser = ["netwpin", "userpin", "usernetwpin", "userpinmac"])]
    sec: String,
    /// The subscriber's IMSI (netwpin, usernetwpin).
    #[arg(long, required_if_eq_any = [("sec", "netwpin"), ("sec", "usernetwpin")])]
    imsi: Option<String>,
    /// The PIN the user will type (userpin, usernetwpin) [default: 8 digits drawn, printed].
    #[arg(long)]
    pin: Option<String>,
    /// Write doc.xml, doc.wbxml, push.wsp and sms-1.bin, sms-2.bin, ... (SMS user data with
    /// its UDH) to DIR instead of printing them in hex.
    #[arg(long, value_name = "DIR", conflicts_with = "send")]
    out: Option<PathBuf>,
    /// Store the bootstrap in the database instead: the device's new credentials, the push
    /// (queued; a running server's dispatcher sends it) and the pending bootstrap. Prints the
    /// push id, its state and the user PIN.
    #[arg(long, requires = "msisdn")]
    send: bool,
    /// The device's number (E.164, e.g. +491701234567) the push goes to (--send).
    #[arg(long, requires = "send")]
    msisdn: Option<String>,
    /// Delivery channel (--send) [default: the first configured: smpp, then pap].
    #[arg(long, requires = "send", value_parser = ["smpp", "pap", "http"])]
    channel: Option<String>,
}

impl BuildArgs {
    fn request(&self, profile: Profile, dm: &DmArgs) -> anyhow::Result<BootstrapRequest> {
        let security =
            SecurityRequest { method: self.sec.clone(), imsi: self.imsi.clone(), pin: self.pin.clone() };
        let client_auth = BootstrapClientAuth {
            auth_type: Some(self.account.auth.clone()),
            username: self.username.clone(),
            password: self.password.clone(),
        };
        let mut req = self.account.request(profile, dm, security, client_auth);
        req.server_password = self.server_password.clone();
        req.msisdn = self.msisdn.clone().unwrap_or_default();
        req.channel = self.channel.clone();
        req.ms_extensions = self.account.ms_extensions()?;
        Ok(req)
    }
}

/// The configuration the flags select, with `--public-url` and `--server-id`.
pub(crate) fn resolve(
    db: &DbArgs,
    public_url: Option<&str>,
    server_id: Option<&str>,
) -> anyhow::Result<Config> {
    Overrides {
        config: db.config.clone(),
        database_url: db.database_url.clone(),
        server_id: server_id.map(str::to_owned),
        public_url: public_url.map(str::to_owned),
        ..Overrides::default()
    }
    .resolve()
}

/// Run `omadm bootstrap ...`.
pub fn run(args: BootstrapArgs) -> anyhow::Result<()> {
    let public_url = args.public_url.as_deref();
    match args.command {
        BootstrapCommand::Cp(build) => {
            build_one(&args.db, public_url, build, Profile::Cp, &DmArgs::default())
        }
        BootstrapCommand::Dm { build, dm } => build_one(&args.db, public_url, build, Profile::Dm, &dm),
        BootstrapCommand::Factory(f) => {
            let config = resolve(&args.db, public_url, f.account.server_id.as_deref())?;
            factory::run(&config, f)
        }
        BootstrapCommand::Status { device_id, json } => {
            let config = args.db.resolve(None)?;
            super::runtime()?.block_on(async {
                let store = DbArgs::open(&config).await?;
                let out = status(&store, &device_id, json).await;
                store.close().await;
                out
            })
        }
    }
}

fn build_one(
    db: &DbArgs,
    public_url: Option<&str>,
    args: BuildArgs,
    profile: Profile,
    dm: &DmArgs,
) -> anyhow::Result<()> {
    let config = resolve(db, public_url, args.account.server_id.as_deref())?;
    let req = args.request(profile, dm)?;
    if args.send {
        anyhow::ensure!(
            args.account.addr.is_none(),
            "--addr cannot be used with --send: the pushed account points at <public-url>/dm"
        );
        return super::runtime()?.block_on(async {
            let store = DbArgs::open(&config).await?;
            let out = send(&store, &config, &args.device_id, req).await;
            store.close().await;
            out
        });
    }
    let addr = args.account.addr(&config)?;
    let prepared =
        operation::prepare(&args.device_id, &req, &config.server_id, addr, now_millis(), &mut random16)?;
    // One 8-bit concatenation reference for this message's segments (FACTS.md F.2).
    let segments = prepared.built.sms_segments(ConcatReference::Eight(random16()[0]))?;
    let mut out = summary(&prepared, &req);
    if let Some(dir) = &args.out {
        write_files(dir, &prepared.built, &segments, &mut out)?;
    } else {
        layers(&prepared.built, &segments, &mut out);
    }
    // One write, so a closed pipe (`| head`) is an error rather than a panic.
    std::io::stdout().lock().write_all(out.as_bytes()).context("cannot write to stdout")
}

/// What the operator needs besides the bytes: the account, the drawn secrets, the content type.
fn summary(p: &Prepared, req: &BootstrapRequest) -> String {
    let account = &p.account;
    let mut rows = vec![
        ("profile", p.options.profile.as_str().to_owned()),
        ("device", clean(&p.device.device_id)),
        ("server id", clean(&account.server_id)),
        ("server address", clean(&account.addr)),
        (
            "client auth",
            format!("{} (user {})", p.device.client_auth_type.as_str(), clean(&account.client_auth.name)),
        ),
    ];
    // Drawn secrets are shown this once: they exist nowhere else but in the document.
    if req.client_auth.password.is_none() {
        rows.push(("client password", clean(&account.client_auth.secret)));
    }
    if req.server_password.is_none() {
        rows.push(("server password", clean(&account.server_auth.secret)));
    }
    rows.push(("content type", p.built.content_type_text()));
    if let Some(pin) = &p.built.user_pin {
        rows.push(("user PIN", clean(pin)));
    }
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{:<17}{v}", format!("{k}:"));
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every layer, labelled, binary ones in hex.
fn layers(built: &Built, segments: &[Vec<u8>], out: &mut String) {
    let pdu = built.pdu.encode();
    let _ = write!(
        out,
        "\ndocument (XML, {} bytes):\n{}\n\nWBXML ({} bytes):\n{}\n\nWSP push PDU ({} bytes):\n{}\n\n",
        built.xml.len(),
        String::from_utf8_lossy(&built.xml).trim_end(),
        built.wbxml.len(),
        hex(&built.wbxml),
        pdu.len(),
        hex(&pdu)
    );
    let _ = writeln!(
        out,
        "SMS ({} segments: user data with UDH, to port 2948, data coding 0x04):",
        segments.len()
    );
    for (i, s) in segments.iter().enumerate() {
        let _ = writeln!(out, "{}: {}", i + 1, hex(s));
    }
}

/// `doc.xml`, `doc.wbxml`, `push.wsp`, `sms-N.bin` in `dir` (created if needed).
fn write_files(dir: &Path, built: &Built, segments: &[Vec<u8>], out: &mut String) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("doc.xml".into(), built.xml.clone()),
        ("doc.wbxml".into(), built.wbxml.clone()),
        ("push.wsp".into(), built.pdu.encode()),
    ];
    files.extend(segments.iter().enumerate().map(|(i, s)| (format!("sms-{}.bin", i + 1), s.clone())));
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        let _ = writeln!(out, "{:<17}{}", "wrote:", path.display());
    }
    Ok(())
}

/// `--send`: the same operation as the admin API, on the database.
async fn send(store: &Store, config: &Config, device_id: &str, req: BootstrapRequest) -> anyhow::Result<()> {
    let view = operation::bootstrap_device(store, config, device_id, req, ACTOR).await?;
    let push = &view.push;
    let rows = [
        ("push", push.id.to_string()),
        ("state", push.state.as_str().to_owned()),
        ("kind", push.kind.as_str().to_owned()),
        ("msisdn", clean(&push.msisdn)),
        ("channel", push.channel.as_deref().map_or("(first configured)".to_owned(), clean)),
        ("content type", clean(&push.content_type)),
        ("bootstrap", view.bootstrap.state.as_str().to_owned()),
    ];
    for (k, v) in rows {
        println!("{:<17}{v}", format!("{k}:"));
    }
    if let Some(pin) = &view.user_pin {
        println!("{:<17}{}", "user PIN:", clean(pin));
    }
    Ok(())
}

/// `omadm bootstrap status`.
async fn status(store: &Store, device_id: &str, json: bool) -> anyhow::Result<()> {
    admin::check_device_id(device_id)?;
    let Some(b) = store.get_bootstrap(device_id).await? else {
        // Say whether the device itself is unknown.
        admin::get_device(store, device_id).await?;
        return Err(AdminError::NotFound(format!("device {device_id:?} has no bootstrap")).into());
    };
    let push = match b.push_id {
        Some(id) => store.get_push(id).await?,
        None => None,
    };
    if json {
        let mut v = serde_json::to_value(&b)?;
        v["push"] = serde_json::to_value(&push)?;
        return print_json(&v);
    }
    let push_text = match (&push, b.push_id) {
        (Some(p), _) => {
            format!("{} ({}, {}/{} attempts)", p.id, p.state.as_str(), p.attempts, p.max_attempts)
        }
        (None, Some(id)) => format!("{id} (deleted)"),
        (None, None) => "none (factory export)".to_owned(),
    };
    let rows = [
        ("device", clean(&b.device_id)),
        ("profile", clean(&b.profile)),
        ("state", b.state.as_str().to_owned()),
        ("push", push_text),
        ("created", fmt_time(b.created_at)),
        ("bootstrapped", b.bootstrapped_at.map_or("not yet".to_owned(), fmt_time)),
    ];
    for (k, v) in rows {
        println!("{:<14}{v}", format!("{k}:"));
    }
    Ok(())
}
