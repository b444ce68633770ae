//! `omadm`: the OMA DM server and the operator's command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what went wrong and where (byte offset or element).
            eprintln!("omadm: {e:#}");
            ExitCode::from(2)
        }
    }
}
