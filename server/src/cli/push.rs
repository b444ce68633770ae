//! `omadm push ...`: the WAP pushes in the database and their delivery state (queued, sending,
//! accepted by an SMSC or PPG, failed), as `GET /api/v1/pushes` shows them.

use clap::{Args, Subcommand};
use omadm_storage::{PushRecord, Store};

use super::device::{DbArgs, clean, fmt_time, print_json, print_table, shorten};
use crate::admin::{self, AdminError};

/// `omadm push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: PushCommand,
}

#[derive(Subcommand, Debug)]
enum PushCommand {
    /// List pushes, newest first, with state, attempts, gateway reference and failure.
    #[command(alias = "ls")]
    List {
        /// Only the pushes of this device.
        #[arg(long)]
        device: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
    },
    /// Show one push.
    Show {
        /// Push id.
        id: i64,
    },
}

/// Run `omadm push ...`.
pub fn run(args: PushArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = execute(&store, args.command, args.json).await;
        store.close().await;
        out
    })
}

async fn execute(store: &Store, command: PushCommand, json: bool) -> anyhow::Result<()> {
    match command {
        PushCommand::List { device, limit } => {
            if let Some(d) = &device {
                admin::check_device_id(d)?;
            }
            let limit = admin::check_limit(Some(limit))?;
            let pushes = store.list_pushes(device.as_deref(), limit).await?;
            if json {
                return print_json(&pushes);
            }
            let opt = |s: &Option<String>| s.as_deref().map_or("-".to_owned(), |v| clean(&shorten(v, 40)));
            let rows = pushes
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        opt(&p.device_id),
                        p.kind.as_str().to_owned(),
                        clean(&p.msisdn),
                        opt(&p.channel),
                        p.state.as_str().to_owned(),
                        format!("{}/{}", p.attempts, p.max_attempts),
                        opt(&p.reference),
                        fmt_time(p.created_at),
                        opt(&p.failure),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "DEVICE",
                    "KIND",
                    "MSISDN",
                    "CHANNEL",
                    "STATE",
                    "ATTEMPTS",
                    "REFERENCE",
                    "CREATED",
                    "FAILURE",
                ],
                rows,
            );
        }
        PushCommand::Show { id } => {
            let push = store.get_push(id).await?.ok_or_else(|| AdminError::NotFound(format!("push {id}")))?;
            if json {
                return print_json(&push);
            }
            print_push(&push);
        }
    }
    Ok(())
}

fn print_push(p: &PushRecord) {
    let opt = |s: &Option<String>| s.as_deref().map_or("-".to_owned(), clean);
    let rows = [
        ("push", p.id.to_string()),
        ("device", opt(&p.device_id)),
        ("kind", p.kind.as_str().to_owned()),
        ("msisdn", clean(&p.msisdn)),
        ("channel", p.channel.as_deref().map_or("(first configured)".to_owned(), clean)),
        ("content type", clean(&p.content_type)),
        ("state", p.state.as_str().to_owned()),
        ("attempts", format!("{}/{}", p.attempts, p.max_attempts)),
        ("next attempt", fmt_time(p.next_attempt_at)),
        ("reference", opt(&p.reference)),
        ("failure", opt(&p.failure)),
        ("created", fmt_time(p.created_at)),
        ("updated", fmt_time(p.updated_at)),
    ];
    for (k, v) in rows {
        println!("{:<14}{v}", format!("{k}:"));
    }
}
