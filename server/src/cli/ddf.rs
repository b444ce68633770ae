//! `omadm ddf ...`: import, list and delete operator DDF files, directly in the database,
//! through the same operations (validation, audit log) as the admin API. A running server uses
//! a change made here within [`REFRESH_PERIOD`](crate::ddfs::REFRESH_PERIOD).

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use omadm_storage::Store;

use super::device::{ACTOR, DbArgs, clean, fmt_time, print_json, print_table};
use crate::ddfs::{self, ImportDdf};

/// `omadm ddf`.
#[derive(Args, Debug)]
pub struct DdfArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: DdfCommand,
}

#[derive(Subcommand, Debug)]
enum DdfCommand {
    /// Import a DDF file (XML or WBXML, at most 1 MiB); prints its id.
    Import {
        /// The DDF file.
        file: PathBuf,
        /// Where the MO sits on devices: its root node (./Vendor/Acme for a top node Acme) or
        /// the interior node its top nodes go under (./FwUpdate for FUMO's <x>).
        #[arg(long)]
        mount: String,
        /// Unique name [default: the file name without extension].
        #[arg(long)]
        name: Option<String>,
        /// MO identifier [default: the DFType of the DDF's first top node].
        #[arg(long)]
        mo_id: Option<String>,
        /// Apply only to devices whose ./DevInfo/Man is this.
        #[arg(long)]
        man: Option<String>,
        /// Apply only to devices whose ./DevInfo/Mod is this.
        #[arg(long = "mod")]
        model: Option<String>,
    },
    /// List the imported DDFs.
    #[command(alias = "ls")]
    List,
    /// Delete an imported DDF.
    Delete {
        /// DDF id.
        id: i64,
    },
}

/// Run `omadm ddf ...`.
pub fn run(args: DdfArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = execute(&store, args.command, args.json).await;
        store.close().await;
        out
    })
}

async fn execute(store: &Store, command: DdfCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DdfCommand::Import { file, mount, name, mo_id, man, model } => {
            let size =
                std::fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?.len();
            anyhow::ensure!(
                size <= ddfs::MAX_DOCUMENT as u64,
                "{} is larger than {} bytes",
                file.display(),
                ddfs::MAX_DOCUMENT
            );
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = match name {
                Some(n) => n,
                None => file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .context("give --name: the file has no name")?,
            };
            let req = ImportDdf {
                name,
                mount,
                document: None,
                document_b64: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                mo_id,
                man,
                model,
            };
            let view = ddfs::import(store, None, req, ACTOR).await?;
            if json {
                return print_json(&view);
            }
            println!("{}", view.id);
        }
        DdfCommand::List => {
            let list = ddfs::list(store).await?;
            if json {
                return print_json(&list);
            }
            let opt = |s: &Option<String>| s.as_deref().map_or("-".to_owned(), clean);
            let rows = list
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        clean(&d.name),
                        clean(&d.mount),
                        opt(&d.mo_id),
                        opt(&d.man),
                        opt(&d.model),
                        fmt_time(d.created_at),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "MOUNT", "MO", "MAN", "MOD", "IMPORTED"], rows);
        }
        DdfCommand::Delete { id } => ddfs::delete(store, None, id, ACTOR).await?,
    }
    Ok(())
}
