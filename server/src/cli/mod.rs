//! Command-line interface: one module per top-level command.

mod codec;

use clap::{Parser, Subcommand};

/// omadm: an OMA DM 1.2 / 1.1.2 device-management server.
#[derive(Parser, Debug)]
#[command(name = "omadm", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode and encode SyncML DM messages (XML and WBXML), for debugging devices.
    #[command(subcommand)]
    Codec(codec::CodecCommand),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Codec(c) => codec::run(c),
    }
}
