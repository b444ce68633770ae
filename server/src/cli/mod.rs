//! Command-line interface: one module per top-level command.

mod alert;
mod bootstrap;
mod campaign;
mod codec;
mod command;
mod ddf;
mod device;
mod factory;
mod group;
mod notify;
mod push;
mod serve;
mod session;

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
    /// Run the DM server and the admin API (defaults: 127.0.0.1:8080, sqlite://omadm.db).
    Serve(serve::ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(serve::MigrateArgs),
    /// Decode and encode SyncML DM messages (XML and WBXML), for debugging devices.
    #[command(subcommand)]
    Codec(codec::CodecCommand),
    /// Manage devices and their credentials (directly in the database).
    Device(device::DeviceArgs),
    /// Queue management commands for a device and read their results.
    #[command(name = "command")]
    Commands(command::CommandArgs),
    /// List the Generic Alerts devices sent.
    Alerts(alert::AlertsArgs),
    /// Import, list and delete operator DDF files (directly in the database).
    Ddf(ddf::DdfArgs),
    /// A device's sessions and the transcript of one (every message, secrets redacted).
    Session(session::SessionArgs),
    /// Device groups, which campaigns target.
    Group(group::GroupArgs),
    /// Bootstrap devices: print, write or send a CP / DM-profile bootstrap; factory export.
    Bootstrap(Box<bootstrap::BootstrapArgs>),
    /// List the WAP pushes and their delivery state (directly in the database).
    Push(push::PushArgs),
    /// Wake devices (DM notifications), list notifications, build a package 0 in hex.
    Notify(notify::NotifyArgs),
    /// Firmware and configuration campaigns: create, list, show, pause, resume, cancel, retry, watch.
    Campaign(campaign::CampaignArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve::serve(a),
        Command::Migrate(a) => serve::migrate(a),
        Command::Codec(c) => codec::run(c),
        Command::Device(a) => device::run(a),
        Command::Commands(a) => command::run(a),
        Command::Alerts(a) => alert::run(a),
        Command::Ddf(a) => ddf::run(a),
        Command::Session(a) => session::run(a),
        Command::Group(a) => group::run(a),
        Command::Bootstrap(a) => bootstrap::run(*a),
        Command::Push(a) => push::run(a),
        Command::Notify(a) => notify::run(a),
        Command::Campaign(a) => campaign::run(a),
    }
}

/// A Tokio runtime for commands that talk to the database or the network.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
