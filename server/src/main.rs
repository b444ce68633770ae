//! `omadm`: the OMA DM server and the operator's command line.

use std::process::ExitCode;

use clap::Parser;
use omadm_server::cli;

fn main() -> ExitCode {
    // One crypto provider for every rustls user in the process (the server, sqlx's TLS).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what went wrong and where.
            eprintln!("omadm: {e:#}");
            ExitCode::from(2)
        }
    }
}
