//! `omadm-devsim`: run DM sessions of one simulated device against a server and print what
//! happened, message by message (see `omadm_conformance::devsim`).
//!
//! ```sh
//! omadm-devsim --server http://127.0.0.1:8080/dm --device-id IMEI:493005100592800 \
//!     --auth md5 --username devuser --password devpw --nonce Y2xpZW50bm9uY2U= \
//!     --server-password srvpw --wbxml --max-msg-size 4000 --fault slow=500
//! ```
//!
//! Exit status: 0 when every session ended normally (a server package without commands),
//! 1 when one did not, 2 for a usage error.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use omadm_conformance::devsim::{
    AuthKind, Device, DeviceConfig, Faults, ReportTiming, ServerCredentials, UiAnswer,
};
use omadm_protocol::auth::Nonce;
use omadm_protocol::{DmVersion, Encoding};

/// Simulate an OMA DM 1.2 / 1.1.2 device against a DM server.
#[derive(Debug, Parser)]
#[command(name = "omadm-devsim", version, about)]
struct Args {
    /// The server's DM URL, e.g. http://127.0.0.1:8080/dm.
    #[arg(long, env = "OMADM_DEVSIM_SERVER")]
    server: String,
    /// DevId, e.g. IMEI:493005100592800.
    #[arg(long)]
    device_id: String,
    /// Client authentication: basic, md5 or hmac.
    #[arg(long, default_value = "md5")]
    auth: String,
    /// AAuthName.
    #[arg(long, default_value = "devuser")]
    username: String,
    /// AAuthSecret.
    #[arg(long, env = "OMADM_DEVSIM_PASSWORD", hide_env_values = true, default_value = "devpw")]
    password: String,
    /// Base64 of the client nonce the server expects (AAuthData).
    #[arg(long)]
    nonce: Option<String>,
    /// The server's ServerID (DMAcc ServerID).
    #[arg(long, default_value = "omadm")]
    server_id: String,
    /// Check the server's credentials with this password (SRVCRED AAuthSecret).
    #[arg(long, env = "OMADM_DEVSIM_SERVER_PASSWORD", hide_env_values = true)]
    server_password: Option<String>,
    /// Base64 of the nonce the server must use (SRVCRED AAuthData).
    #[arg(long)]
    server_nonce: Option<String>,
    /// Speak WBXML instead of XML.
    #[arg(long)]
    wbxml: bool,
    /// Speak DM 1.1.2 instead of DM 1.2.
    #[arg(long)]
    dm11: bool,
    /// MaxMsgSize to announce.
    #[arg(long, default_value_t = 16_384)]
    max_msg_size: u64,
    /// MaxObjSize to announce.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_obj_size: u64,
    /// Largest message the device sends (its own buffer).
    #[arg(long)]
    send_limit: Option<u64>,
    /// Open with Alert 1200 (server-initiated) instead of 1201.
    #[arg(long)]
    server_initiated: bool,
    /// SessionID to use.
    #[arg(long)]
    session_id: Option<String>,
    /// Wait for the server's challenge before sending credentials.
    #[arg(long)]
    no_initial_credentials: bool,
    /// How the user answers UI alerts: accept, reject, cancel or timeout.
    #[arg(long, default_value = "accept")]
    ui: String,
    /// Text typed in answer to Alert 1102.
    #[arg(long)]
    ui_text: Option<String>,
    /// FUMO result code reported in the Generic Alert.
    #[arg(long, default_value_t = 200)]
    fumo_result: u16,
    /// Report FUMO results in the next session instead of the current one.
    #[arg(long)]
    fumo_next_session: bool,
    /// Faults: wrong-password, drop-after=N, slow=MILLIS, malformed=N, abort-at=N,
    /// retransmit=N, wrong-size=DELTA (repeatable; faults apply to the first session only).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Sessions to run one after the other (the tree and nonces carry over).
    #[arg(long, default_value_t = 1)]
    sessions: u32,
    /// Print each report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also print every message as indented XML.
    #[arg(long)]
    transcript: bool,
}

fn nonce(text: Option<&str>, default: &[u8]) -> anyhow::Result<Nonce> {
    match text {
        Some(t) => Nonce::from_b64(t).map_err(|e| anyhow::anyhow!("nonce {t:?}: {e}")),
        None => Ok(Nonce::new(default.to_vec())),
    }
}

fn faults(specs: &[String]) -> anyhow::Result<Faults> {
    let mut f = Faults::none();
    for spec in specs {
        let (name, value) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        let num = || value.parse::<u32>().with_context(|| format!("--fault {spec}: a number is needed"));
        match name {
            "wrong-password" => f.wrong_password = true,
            "drop-after" => f.drop_after_message = Some(num()?),
            "slow" => f.slow_answer = Some(Duration::from_millis(u64::from(num()?))),
            "malformed" => f.malformed_message = Some(num()?),
            "abort-at" => f.abort_at_message = Some(num()?),
            "retransmit" => f.retransmit_message = Some(num()?),
            "wrong-size" => {
                f.wrong_object_size =
                    Some(value.parse().with_context(|| format!("--fault {spec}: a number is needed"))?)
            }
            _ => bail!(
                "unknown fault {name:?}: wrong-password, drop-after=N, slow=MS, malformed=N, abort-at=N, \
                 retransmit=N, wrong-size=D"
            ),
        }
    }
    Ok(f)
}

fn config(a: &Args) -> anyhow::Result<DeviceConfig> {
    let mut c = DeviceConfig::new(&a.server, &a.device_id);
    c.client.kind =
        AuthKind::parse(&a.auth).with_context(|| format!("--auth {}: basic, md5 or hmac", a.auth))?;
    c.client.username = a.username.clone();
    c.client.password = a.password.clone();
    c.client.nonce = nonce(a.nonce.as_deref(), b"clientnonce")?;
    c.server_id = a.server_id.clone();
    c.account = a.server_id.clone();
    if let Some(p) = &a.server_password {
        c.server = Some(ServerCredentials {
            password: p.clone(),
            nonce: nonce(a.server_nonce.as_deref(), b"servernonce")?,
        });
    }
    c.encoding = if a.wbxml { Encoding::Wbxml } else { Encoding::Xml };
    c.version = if a.dm11 { DmVersion::V1_1_2 } else { DmVersion::V1_2 };
    c.max_msg_size = Some(a.max_msg_size);
    c.max_obj_size = Some(a.max_obj_size);
    c.send_limit = a.send_limit;
    c.server_initiated = a.server_initiated;
    c.session_id = a.session_id.clone();
    c.initial_credentials = !a.no_initial_credentials;
    c.user.answer = match a.ui.as_str() {
        "accept" => UiAnswer::Accept,
        "reject" => UiAnswer::Reject,
        "cancel" => UiAnswer::Cancel,
        "timeout" => UiAnswer::Timeout,
        other => bail!("--ui {other}: accept, reject, cancel or timeout"),
    };
    c.user.text = a.ui_text.clone();
    c.fumo.result = a.fumo_result;
    c.fumo.report = if a.fumo_next_session { ReportTiming::NextSession } else { ReportTiming::SameSession };
    c.faults = faults(&a.faults)?;
    Ok(c)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omadm-devsim: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut device = Device::new(config);
    let mut all_ok = true;
    for n in 1..=args.sessions.max(1) {
        if n > 1 {
            device.config.faults = Faults::none();
            device.config.session_id = None;
        }
        let report = device.run_session().await;
        all_ok &= report.completed();
        if args.json {
            match serde_json::to_string_pretty(&report) {
                Ok(j) => println!("{j}"),
                Err(e) => eprintln!("omadm-devsim: {e}"),
            }
        } else {
            print!("{report}");
        }
        if args.transcript {
            println!("{}", report.transcript());
        }
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
