//! `omadm command ...`: queue management commands for a device and read their state and
//! results, directly in the database, through the same operations as the admin API.

use anyhow::Context;
use clap::{Args, Subcommand};
use omadm_storage::Store;

use super::device::{ACTOR, DbArgs, clean, fmt_time, print_json, print_table, shorten};
use crate::admin::{self, CommandRequest, CommandView};

/// `omadm command`.
#[derive(Args, Debug)]
pub struct CommandArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: CommandCommand,
}

#[derive(Subcommand, Debug)]
enum CommandCommand {
    /// Queue a command for the device's next session; prints its id.
    ///
    /// Either an item command from flags (--op Get --target ./DevDetail/SwV), or any command,
    /// Atomic / Sequence trees and UI alerts included, as JSON in the API's shape:
    /// --json '{"op":"Sequence","commands":[{"op":"Alert","alert_code":1101,"texts":["","Install?"]},{"op":"Exec","target":"./FUMO/Update"}]}'.
    Add {
        /// Device id.
        device_id: String,
        /// Get, Add, Replace, Delete, Exec, Copy (or Alert, with --alert-code and --text).
        #[arg(long, required_unless_present = "json")]
        op: Option<String>,
        /// Target node URI (./...).
        #[arg(long)]
        target: Option<String>,
        /// Data (Add, Replace, Exec).
        #[arg(long)]
        data: Option<String>,
        /// Meta Format of the data: b64, bin, bool, chr, int, node, null, xml, date, time, float.
        #[arg(long)]
        format: Option<String>,
        /// Meta Type of the data (MIME type), e.g. text/plain.
        #[arg(long = "type")]
        mime_type: Option<String>,
        /// Source node URI (Copy).
        #[arg(long)]
        source: Option<String>,
        /// UI alert code 1100-1104 (--op Alert).
        #[arg(long)]
        alert_code: Option<i64>,
        /// UI alert text, repeated: the options (e.g. MAXDT=30, may be empty), the prompt, then
        /// the choices (--op Alert).
        #[arg(long = "text")]
        texts: Vec<String>,
        /// The whole command as JSON (API shape); @FILE reads it from a file, - from stdin.
        #[arg(
            long,
            value_name = "SPEC",
            conflicts_with_all = ["op", "target", "data", "format", "mime_type", "source", "alert_code", "texts"]
        )]
        json: Option<String>,
    },
    /// Show a command with its state, Status, results and children.
    Show {
        /// Device id.
        device_id: String,
        /// Command id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a held command anyway (operator override of the mirrored-ACL and DDF checks).
    Force {
        /// Device id.
        device_id: String,
        /// Command id (top-level).
        id: i64,
    },
    /// List a device's commands, newest first.
    #[command(alias = "ls")]
    List {
        /// Device id.
        device_id: String,
        /// Only commands in this state: queued, sent, done, failed.
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run `omadm command ...`.
pub fn run(args: CommandArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = execute(&store, args.command).await;
        store.close().await;
        out
    })
}

async fn execute(store: &Store, command: CommandCommand) -> anyhow::Result<()> {
    match command {
        CommandCommand::Add {
            device_id,
            op,
            target,
            data,
            format,
            mime_type,
            source,
            alert_code,
            texts,
            json,
        } => {
            let req = match json {
                Some(spec) => parse_spec(&spec)?,
                None => CommandRequest {
                    op: op.unwrap_or_default(),
                    target,
                    source,
                    data,
                    format,
                    mime_type,
                    alert_code,
                    texts,
                    commands: vec![],
                },
            };
            let id = admin::enqueue_command(store, &device_id, req, ACTOR).await?;
            println!("{id}");
        }
        CommandCommand::Show { device_id, id, json } => {
            let cmd = admin::get_command(store, &device_id, id).await?;
            if json {
                return print_json(&cmd);
            }
            print_tree(&cmd, 0);
        }
        CommandCommand::Force { device_id, id } => {
            let cmd = admin::force_command(store, &device_id, id, ACTOR).await?;
            print_tree(&cmd, 0);
        }
        CommandCommand::List { device_id, state, limit, json } => {
            let cmds = admin::list_commands(store, &device_id, state.as_deref(), Some(limit)).await?;
            if json {
                return print_json(&cmds);
            }
            let rows = cmds
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.op.clone(),
                        describe(c),
                        c.state.as_str().to_owned(),
                        c.status.map_or("-".to_owned(), |s| s.to_string()),
                        fmt_time(c.created_at),
                    ]
                })
                .collect();
            print_table(&["ID", "OP", "TARGET", "STATE", "STATUS", "CREATED"], rows);
        }
    }
    Ok(())
}

/// The `--json` spec: inline JSON, `@FILE` or `-` (stdin).
fn parse_spec(spec: &str) -> anyhow::Result<CommandRequest> {
    let text = if spec == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the command from stdin")?
    } else if let Some(path) = spec.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
    } else {
        spec.to_owned()
    };
    serde_json::from_str(&text).context("invalid command JSON")
}

/// What a command acts on, for one table cell.
fn describe(c: &CommandView) -> String {
    match (&c.target, c.alert_code) {
        (Some(t), _) => clean(t),
        (None, Some(code)) => {
            format!("alert {code}: {}", clean(&shorten(c.texts.get(1).map_or("", String::as_str), 40)))
        }
        (None, None) => match c.commands.len() {
            1 => "1 command".to_owned(),
            n => format!("{n} commands"),
        },
    }
}

/// A command, its results and its children, indented by depth.
fn print_tree(c: &CommandView, depth: usize) {
    let pad = "  ".repeat(depth);
    let mut line = format!("{pad}#{} {} {}", c.id, c.op, describe(c));
    if let Some(d) = &c.data {
        line.push_str(&format!(" = {}", clean(&shorten(d, 60))));
    }
    let status = c.status.map_or(String::new(), |s| format!(" (status {s})"));
    println!("{line}  [{}{status}]", c.state.as_str());
    if let Some(reason) = &c.held {
        println!("{pad}    held: {}", clean(reason));
    }
    for r in &c.results {
        let format = r.format.as_deref().map_or(String::new(), |f| format!(" ({})", clean(f)));
        println!("{pad}    {}{format} = {}", clean(&r.source), clean(&shorten(&r.data, 200)));
    }
    for child in &c.commands {
        print_tree(child, depth + 1);
    }
}
