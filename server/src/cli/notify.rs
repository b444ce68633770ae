//! `omadm notify ...`: wake a device (a notification recorded straight in the database, sent
//! by the scheduler of a running `omadm serve`), list notifications, and build a package 0
//! with its WSP push and SMS segments in hex for debugging (no database).

use anyhow::Context;
use clap::{Args, Subcommand};
use omadm_protocol::auth::Nonce;
use omadm_protocol::notification::{Initiator, Notification};
use omadm_protocol::push::{ConcatReference, Ports, sms};
use omadm_storage::{NotificationRecord, NotificationState};

use super::device::{ACTOR, DbArgs, clean, fmt_time, print_json, print_table};
use crate::admin;
use crate::notify::operation::{NotifyRequest, PolicyOverrides, notify_device};
use crate::notify::{DM_1_1_2, DM_1_2, parse_ui_mode, push_pdu, version_field};

/// `omadm notify`.
#[derive(Args, Debug)]
pub struct NotifyArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(Subcommand, Debug)]
enum NotifyCommand {
    /// Record a notification for a device; a running server sends it (prints it).
    Send {
        /// Device id.
        device_id: String,
        /// not-specified, background, informative, user-interaction (or 0-3).
        #[arg(long)]
        ui_mode: Option<String>,
        /// The device's number (E.164); the stored one when absent (a number given is stored).
        #[arg(long)]
        msisdn: Option<String>,
        /// smpp, pap or http.
        #[arg(long)]
        channel: Option<String>,
        /// Force 1.2 or 1.1.2.
        #[arg(long)]
        dm_version: Option<String>,
        /// DM 1.2 re-sends after the first.
        #[arg(long)]
        retries: Option<u32>,
        /// Wait after each DM 1.2 send, seconds.
        #[arg(long)]
        interval_secs: Option<u64>,
        /// DM 1.1.2 sends after the DM 1.2 ones (0: no fallback).
        #[arg(long)]
        fallback_retries: Option<u32>,
        /// Wait after each DM 1.1.2 send, seconds.
        #[arg(long)]
        fallback_interval_secs: Option<u64>,
        /// Give up after this many seconds.
        #[arg(long)]
        give_up_secs: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List notifications, newest first.
    #[command(alias = "ls")]
    List {
        /// Only this device's.
        #[arg(long)]
        device: Option<String>,
        /// Only in this state: queued, sent, retried, fell_back, session_opened, gave_up.
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a package 0, its WSP push and its SMS user data in hex (no database).
    Build {
        /// The ServerID (the device's SRVCRED AAuthName / DM 1.1.2 ServerId).
        #[arg(long)]
        server_id: String,
        /// The server password the device knows (SRVCRED AAuthSecret / ServerPW).
        #[arg(long)]
        server_password: String,
        /// The server nonce the device holds, Base64 (SRVCRED AAuthData / ServerNonce).
        #[arg(long)]
        nonce: String,
        /// Session id, 1-65535 (decimal, or hex with 0x).
        #[arg(long)]
        session_id: String,
        /// not-specified, background, informative, user-interaction (or 0-3).
        #[arg(long, default_value = "background")]
        ui_mode: String,
        /// 1.2 or 1.1.2 (both send the version field 11).
        #[arg(long = "version", default_value = DM_1_2)]
        dm_version: String,
        /// server or client.
        #[arg(long, default_value = "server")]
        initiator: String,
    },
}

/// Run `omadm notify ...`.
pub fn run(args: NotifyArgs) -> anyhow::Result<()> {
    if let NotifyCommand::Build {
        server_id,
        server_password,
        nonce,
        session_id,
        ui_mode,
        dm_version,
        initiator,
    } = &args.command
    {
        return build(server_id, server_password, nonce, session_id, ui_mode, dm_version, initiator);
    }
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = async {
            match args.command {
                NotifyCommand::Send {
                    device_id,
                    ui_mode,
                    msisdn,
                    channel,
                    dm_version,
                    retries,
                    interval_secs,
                    fallback_retries,
                    fallback_interval_secs,
                    give_up_secs,
                    json,
                } => {
                    let req = NotifyRequest {
                        ui_mode,
                        msisdn,
                        channel,
                        dm_version,
                        policy: PolicyOverrides {
                            retries,
                            interval_secs,
                            jitter_pct: None,
                            fallback_retries,
                            fallback_interval_secs,
                            give_up_secs,
                        },
                    };
                    let n = notify_device(&store, &config.notification, &device_id, &req, ACTOR).await?;
                    if json {
                        return print_json(&n);
                    }
                    println!(
                        "notification {} for {}: session id {} (DM {}), {}",
                        n.id,
                        clean(&n.device_id),
                        n.session_id_hex,
                        n.dm_version,
                        n.state.as_str()
                    );
                    Ok(())
                }
                NotifyCommand::List { device, state, limit, json } => {
                    let state = match state.as_deref() {
                        None => None,
                        Some(s) => Some(NotificationState::parse(s).with_context(|| {
                            format!(
                                "--state {s:?}: queued, sent, retried, fell_back, session_opened, gave_up"
                            )
                        })?),
                    };
                    let limit = admin::check_limit(Some(limit))?;
                    let list = store.list_notifications(device.as_deref(), state, limit).await?;
                    if json {
                        return print_json(&list);
                    }
                    print_table(
                        &["ID", "DEVICE", "SESSION", "DM", "STATE", "SENDS", "PUSH", "CREATED"],
                        list.iter().map(row).collect(),
                    );
                    Ok(())
                }
                NotifyCommand::Build { .. } => Ok(()),
            }
        }
        .await;
        store.close().await;
        out
    })
}

fn row(n: &NotificationRecord) -> Vec<String> {
    vec![
        n.id.to_string(),
        clean(&n.device_id),
        n.session_id_hex.clone(),
        n.dm_version.clone(),
        n.state.as_str().to_owned(),
        n.attempts.to_string(),
        n.push_state.map_or("-".to_owned(), |s| s.as_str().to_owned()),
        fmt_time(n.created_at),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A session id in decimal or `0x` hex, 1-65535.
fn parse_session_id(s: &str) -> anyhow::Result<u16> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16),
        None => s.parse(),
    }
    .ok()
    .filter(|v| *v != 0);
    v.with_context(|| format!("--session-id {s:?}: 1-65535 (decimal, or hex with 0x)"))
}

fn build(
    server_id: &str,
    password: &str,
    nonce: &str,
    session_id: &str,
    ui_mode: &str,
    dm_version: &str,
    initiator: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(matches!(dm_version, DM_1_2 | DM_1_1_2), "--version: 1.2 or 1.1.2");
    let nonce = Nonce::from_b64(nonce).map_err(|_| anyhow::anyhow!("--nonce: not Base64"))?;
    let n = Notification {
        version: version_field(dm_version),
        ui_mode: parse_ui_mode(ui_mode).with_context(|| {
            format!("--ui-mode {ui_mode:?}: not-specified, background, informative, user-interaction")
        })?,
        initiator: match initiator {
            "server" => Initiator::Server,
            "client" => Initiator::Client,
            _ => anyhow::bail!("--initiator: server or client"),
        },
        session_id: parse_session_id(session_id)?,
        server_id: server_id.to_owned(),
        vendor_specific: Vec::new(),
    };
    let pkg0 = n.encode(password, nonce.as_bytes())?;
    let pdu = push_pdu(pkg0.clone()).encode();
    let segments = sms::segment(&pdu, Ports::PUSH, ConcatReference::Eight(1))?;
    println!("version field: {} (DM {dm_version})", n.version.value());
    println!("session id:    {} (device echoes {})", n.session_id, n.session_id_hex());
    println!("package 0:     {}", hex(&pkg0));
    println!("digest:        {}", hex(&pkg0[..16]));
    println!("wsp push:      {}", hex(&pdu));
    for (i, s) in segments.iter().enumerate() {
        println!("sms {}/{}:       {}", i + 1, segments.len(), hex(s));
    }
    Ok(())
}
