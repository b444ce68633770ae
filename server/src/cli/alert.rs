//! `omadm alerts`: the Generic Alerts (1226) devices sent (FUMO results and the like).

use clap::Args;

use super::device::{DbArgs, clean, fmt_time, print_json, print_table, shorten};
use crate::admin;

/// `omadm alerts`.
#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only this device's alerts.
    #[arg(long)]
    device: Option<String>,
    /// At most this many (1-1000), newest first.
    #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
    limit: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Run `omadm alerts`.
pub fn run(args: AlertsArgs) -> anyhow::Result<()> {
    let config = args.db.resolve(None)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let alerts = admin::generic_alerts(&store, args.device.as_deref(), Some(args.limit)).await;
        store.close().await;
        let alerts = alerts?;
        if args.json {
            return print_json(&alerts);
        }
        let opt = |s: &Option<String>| s.as_deref().map_or("-".to_owned(), |v| clean(&shorten(v, 60)));
        let rows = alerts
            .iter()
            .map(|a| {
                vec![
                    a.id.to_string(),
                    fmt_time(a.received_at),
                    clean(&a.device_id),
                    opt(&a.alert_type),
                    opt(&a.source),
                    opt(&a.data),
                    opt(&a.correlator),
                ]
            })
            .collect();
        print_table(&["ID", "RECEIVED", "DEVICE", "TYPE", "SOURCE", "DATA", "CORRELATOR"], rows);
        Ok(())
    })
}
