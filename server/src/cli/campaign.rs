//! `omadm campaign ...`: create, list, show, pause, resume, cancel, retry and watch campaigns,
//! straight on the database (a running `omadm serve` does the rollout).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use omadm_storage::Store;

use super::device::{ACTOR, DbArgs, clean, fmt_time, print_json, print_table};
use crate::campaign::operation::{self, Action, CampaignView, CreateCampaign};

/// `omadm campaign`.
#[derive(Args, Debug)]
pub struct CampaignArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CampaignCommand,
}

#[derive(Subcommand, Debug)]
enum CampaignCommand {
    /// Create a campaign from a JSON file (the body of POST /api/v1/campaigns).
    Create {
        /// The JSON file (`-` for stdin).
        file: PathBuf,
        /// A CSV of per-device variables (device_id,name,...), overriding the file's `csv`.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// List campaigns with their counters.
    #[command(alias = "ls")]
    List,
    /// Show a campaign, its counters and (with --devices) its devices.
    Show {
        /// Campaign id.
        id: i64,
        /// List the devices too, optionally only those in this state.
        #[arg(long)]
        devices: bool,
        /// pending, notified, in_session, succeeded, failed.
        #[arg(long)]
        state: Option<String>,
    },
    /// Stop admitting devices.
    Pause {
        /// Campaign id.
        id: i64,
    },
    /// Admit devices again.
    Resume {
        /// Campaign id.
        id: i64,
    },
    /// Cancel: unfinished devices fail with "cancelled".
    Cancel {
        /// Campaign id.
        id: i64,
    },
    /// Put the failed devices back to pending.
    Retry {
        /// Campaign id.
        id: i64,
    },
    /// Follow a campaign until it ends: a progress bar on a terminal, plain lines otherwise.
    Watch {
        /// Campaign id.
        id: i64,
        /// Seconds between looks.
        #[arg(long, default_value_t = 2)]
        interval: u64,
    },
}

/// Run `omadm campaign ...`.
pub fn run(args: CampaignArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = execute(&store, args.command, args.json).await;
        store.close().await;
        out
    })
}

fn summary(v: &CampaignView) -> Vec<String> {
    let c = &v.counts;
    vec![
        v.campaign.id.to_string(),
        clean(&v.campaign.name),
        v.campaign.kind.as_str().to_owned(),
        v.campaign.state.as_str().to_owned(),
        c.total.to_string(),
        c.pending.to_string(),
        c.notified.to_string(),
        c.in_session.to_string(),
        c.succeeded.to_string(),
        c.failed.to_string(),
    ]
}

const HEADERS: [&str; 10] =
    ["ID", "NAME", "KIND", "STATE", "TOTAL", "PENDING", "NOTIFIED", "IN SESSION", "SUCCEEDED", "FAILED"];

/// A progress line: `[#####.....] 50% ...`, `width` cells wide.
pub fn progress_line(v: &CampaignView, width: usize) -> String {
    let c = &v.counts;
    let done = c.succeeded + c.failed;
    let pct = if c.total == 0 { 100 } else { done * 100 / c.total };
    let filled = if c.total == 0 { width } else { (done as usize * width) / c.total as usize };
    format!(
        "[{}{}] {pct:>3}% {} | pending {} notified {} in session {} succeeded {} failed {}",
        "#".repeat(filled),
        ".".repeat(width - filled.min(width)),
        v.campaign.state.as_str(),
        c.pending,
        c.notified,
        c.in_session,
        c.succeeded,
        c.failed
    )
}

async fn execute(store: &Store, command: CampaignCommand, json: bool) -> anyhow::Result<()> {
    let show = |v: CampaignView| -> anyhow::Result<()> {
        if json {
            return print_json(&v);
        }
        print_table(&HEADERS, vec![summary(&v)]);
        if let Some(r) = &v.campaign.pause_reason {
            println!("paused: {}", clean(r));
        }
        Ok(())
    };
    match command {
        CampaignCommand::Create { file, csv } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let mut req: CreateCampaign = serde_json::from_str(&text).context("invalid campaign JSON")?;
            if let Some(p) = csv {
                req.csv = Some(
                    std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
                );
            }
            show(operation::create(store, req, ACTOR).await?)
        }
        CampaignCommand::List => {
            let all = operation::list(store, None).await?;
            if json {
                return print_json(&all);
            }
            print_table(&HEADERS, all.iter().map(summary).collect());
            Ok(())
        }
        CampaignCommand::Show { id, devices, state } => {
            let v = operation::show(store, id).await?;
            if !devices && state.is_none() {
                return show(v);
            }
            let list = operation::devices(store, id, state.as_deref(), None, Some(1000)).await?;
            if json {
                return print_json(&serde_json::json!({ "campaign": v, "devices": list }));
            }
            show(v)?;
            let rows = list
                .iter()
                .map(|d| {
                    vec![
                        clean(&d.device_id),
                        d.state.as_str().to_owned(),
                        d.step.clone().unwrap_or_else(|| "-".into()),
                        d.attempts.to_string(),
                        fmt_time(d.updated_at),
                        d.reason.as_deref().map_or("-".into(), clean),
                    ]
                })
                .collect();
            print_table(&["DEVICE", "STATE", "STEP", "ATTEMPTS", "UPDATED", "REASON"], rows);
            Ok(())
        }
        CampaignCommand::Pause { id } => show(operation::act(store, id, Action::Pause, ACTOR).await?),
        CampaignCommand::Resume { id } => show(operation::act(store, id, Action::Resume, ACTOR).await?),
        CampaignCommand::Cancel { id } => show(operation::act(store, id, Action::Cancel, ACTOR).await?),
        CampaignCommand::Retry { id } => show(operation::act(store, id, Action::RetryFailed, ACTOR).await?),
        CampaignCommand::Watch { id, interval } => {
            let tty = std::io::stdout().is_terminal() && !json;
            loop {
                let v = operation::show(store, id).await?;
                let line = progress_line(&v, 30);
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                } else if tty {
                    print!("\r\x1b[2K{line}");
                    std::io::stdout().flush()?;
                } else {
                    println!("{line}");
                }
                use omadm_storage::CampaignState as S;
                if matches!(v.campaign.state, S::Completed | S::Cancelled) {
                    if tty {
                        println!();
                    }
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(interval.clamp(1, 3600))).await;
            }
        }
    }
}
