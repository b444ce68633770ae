//! `omadm group ...`: device groups, which campaigns target (`"target": {"group": "..."}`),
//! directly in the database, through the same operations as the admin API.

use clap::{Args, Subcommand};

use super::device::{ACTOR, DbArgs, clean, print_json, print_table};
use crate::admin;

/// `omadm group`.
#[derive(Args, Debug)]
pub struct GroupArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Put devices in a group (created by its first device).
    Add {
        /// Group name.
        group: String,
        /// Device ids.
        #[arg(required = true)]
        device_ids: Vec<String>,
    },
    /// Take a device out of a group.
    Remove {
        /// Group name.
        group: String,
        /// Device id.
        device_id: String,
    },
    /// Every group with its size, or with a name, its devices.
    List {
        /// Group name: list its devices.
        group: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run `omadm group`.
pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out: anyhow::Result<()> = async {
            match args.command {
                GroupCommand::Add { group, device_ids } => {
                    let added = admin::add_to_group(&store, &group, &device_ids, ACTOR).await?;
                    println!("{added} device(s) added to {}", clean(&group));
                }
                GroupCommand::Remove { group, device_id } => {
                    admin::remove_from_group(&store, &group, &device_id, ACTOR).await?;
                    println!("{} removed from {}", clean(&device_id), clean(&group));
                }
                GroupCommand::List { group: None, json } => {
                    let groups = store.list_groups().await?;
                    if json {
                        return print_json(&groups);
                    }
                    let rows =
                        groups.iter().map(|g| vec![clean(&g.group_name), g.devices.to_string()]).collect();
                    print_table(&["GROUP", "DEVICES"], rows);
                }
                GroupCommand::List { group: Some(group), json } => {
                    // Every page, in order.
                    let mut all = Vec::new();
                    loop {
                        let page = store.group_devices(&group, all.last().map(String::as_str), 1000).await?;
                        let done = page.len() < 1000;
                        all.extend(page);
                        if done {
                            break;
                        }
                    }
                    if json {
                        return print_json(&all);
                    }
                    for d in &all {
                        println!("{}", clean(d));
                    }
                }
            }
            Ok(())
        }
        .await;
        store.close().await;
        out
    })
}
