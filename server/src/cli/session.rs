//! `omadm session ...`: a device's sessions and, for support, the transcript of one: every
//! message both ways as XML, secrets redacted (`crate::transcript`).

use clap::{Args, Subcommand};

use super::device::{DbArgs, clean, fmt_time, print_json, print_table};
use crate::admin;

/// `omadm session`.
#[derive(Args, Debug)]
pub struct SessionArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Subcommand, Debug)]
enum SessionCommand {
    /// A device's sessions, newest first, with their public ids.
    List {
        /// Device id.
        device_id: String,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every message of one session as XML, in order (credentials and secrets redacted).
    Show {
        /// Device id.
        device_id: String,
        /// The session's id (from `omadm session list`).
        session: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run `omadm session`.
pub fn run(args: SessionArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = match args.command {
            SessionCommand::List { device_id, limit, json } => {
                admin::sessions(&store, &device_id, Some(limit)).await.map(|sessions| {
                    if json {
                        return print_json(&sessions);
                    }
                    let rows = sessions
                        .iter()
                        .map(|s| {
                            vec![
                                s.id.clone(),
                                fmt_time(s.started_at),
                                clean(&s.session_id),
                                s.dm_version.clone(),
                                format!("{}/{}", s.messages_in, s.messages_out),
                                s.outcome.as_str().to_owned(),
                            ]
                        })
                        .collect();
                    print_table(&["ID", "STARTED", "SESSIONID", "DM", "IN/OUT", "OUTCOME"], rows);
                    Ok(())
                })
            }
            SessionCommand::Show { device_id, session, json } => {
                admin::transcript(&store, &device_id, &session).await.map(|messages| {
                    if json {
                        return print_json(&messages);
                    }
                    if messages.is_empty() {
                        println!(
                            "(no messages kept for this session: transcripts are off or past retention)"
                        );
                    }
                    for m in &messages {
                        let who = match m.direction {
                            omadm_storage::Direction::Device => "device -> server",
                            omadm_storage::Direction::Server => "server -> device",
                        };
                        println!(
                            "--- #{} {} {} ({} bytes {})",
                            m.seq,
                            fmt_time(m.at),
                            who,
                            m.size,
                            m.encoding
                        );
                        println!("{}", m.xml.trim_end());
                    }
                    Ok(())
                })
            }
        };
        store.close().await;
        out?
    })
}
