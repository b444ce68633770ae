//! `omadm serve` and `omadm migrate`.

use anyhow::Context;
use omadm_storage::Store;

pub use crate::config::LogFormat;
use crate::config::{Overrides, redact_url};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    overrides: Overrides,
}

/// Logs to stderr in `format`; the level from `RUST_LOG` (default info). Each DM message's
/// lines carry its span (`dm{device=.. session=..}`, see [`crate::dm`]).
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.overrides.resolve()?;
    init_logs(config.log_format);
    super::runtime()?.block_on(crate::serve::run(config, shutdown_signal()))
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = args.overrides.resolve()?;
    super::runtime()?.block_on(async {
        let url = redact_url(&config.database_url);
        let store =
            Store::connect(&config.database_url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await.with_context(|| format!("cannot migrate {url}"))?;
        println!("{url}: schema up to date");
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
