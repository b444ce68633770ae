//! `omadm device ...`: manage devices directly in the database, through the same operations
//! (validation, audit log) as the admin API. Also the helpers the other database commands
//! share: where the database is, and human-readable output.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use omadm_storage::Store;

use crate::admin::{self, ClientAuthRequest, CreateDevice, DeviceView, ServerAuthRequest};
use crate::config::{Config, Overrides, redact_url};

/// The actor recorded in the audit log for changes made with the CLI.
pub(crate) const ACTOR: &str = "cli";

/// Where the database is: flag, environment or configuration file, like `omadm serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// TOML configuration file (its database_url and server_id are used).
    #[arg(long, env = "OMADM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://... [default: sqlite://omadm.db].
    // The value may hold a PostgreSQL password: never shown in --help.
    #[arg(long, env = "OMADM_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// The configuration these flags select (and `server_id`, when given, as our ServerID).
    pub(crate) fn resolve(&self, server_id: Option<String>) -> anyhow::Result<Config> {
        Overrides {
            config: self.config.clone(),
            database_url: self.database_url.clone(),
            server_id,
            ..Overrides::default()
        }
        .resolve()
    }

    /// Open and migrate the database, as `omadm serve` would.
    pub(crate) async fn open(config: &Config) -> anyhow::Result<Store> {
        let url = redact_url(&config.database_url);
        let store =
            Store::connect(&config.database_url).await.with_context(|| format!("cannot open {url}"))?;
        store.migrate().await.with_context(|| format!("cannot migrate {url}"))?;
        Ok(store)
    }
}

/// `omadm device`.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: DeviceCommand,
}

/// How the device authenticates to the server.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum AuthArg {
    /// syncml:auth-basic.
    Basic,
    /// syncml:auth-md5.
    Md5,
    /// x-syncml-hmac (syncml:auth-MAC).
    Hmac,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Register a device and the credentials of both directions.
    Add {
        /// Device id (DevId), e.g. IMEI:493005100592800.
        device_id: String,
        /// How the device authenticates to us.
        #[arg(long, value_enum)]
        auth: AuthArg,
        /// The user name the device sends (DMAcc AAuthName).
        #[arg(long)]
        username: String,
        /// The device's password (DMAcc AAuthSecret); only its digest is stored.
        #[arg(long, env = "OMADM_DEVICE_PASSWORD", hide_env_values = true)]
        password: String,
        /// Base64 nonce the device uses next [default: 16 random bytes].
        #[arg(long)]
        nonce: Option<String>,
        /// Our password towards the device (SRVCRED); without it we do not authenticate.
        #[arg(long, env = "OMADM_SERVER_PASSWORD", hide_env_values = true)]
        server_password: Option<String>,
        /// Base64 nonce the device expects from us [default: 16 random bytes].
        #[arg(long, requires = "server_password")]
        server_nonce: Option<String>,
        /// The ServerID the device knows us by [default: the configured one, else omadm].
        #[arg(long, env = "OMADM_SERVER_ID")]
        server_id: Option<String>,
    },
    /// List devices, ordered by id.
    #[command(alias = "ls")]
    List {
        /// Start after this device id.
        #[arg(long)]
        after: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
    },
    /// Show a device and its inventory.
    Show {
        /// Device id.
        device_id: String,
    },
    /// Delete a device with its inventory, commands, alerts and sessions.
    #[command(alias = "delete")]
    Rm {
        /// Device id.
        device_id: String,
    },
    /// Show the server's mirror of the device's management tree (nodes, values, ACLs).
    Tree {
        /// Device id.
        device_id: String,
        /// Print it as a TNDS document (application/vnd.syncml.dmtnds+xml).
        #[arg(long)]
        tnds: bool,
    },
    /// List a device's DM sessions, newest first.
    Sessions {
        /// Device id.
        device_id: String,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = admin::DEFAULT_LIMIT)]
        limit: u32,
    },
}

/// Run `omadm device ...`.
pub fn run(args: DeviceArgs) -> anyhow::Result<()> {
    let server_id = match &args.command {
        DeviceCommand::Add { server_id, .. } => server_id.clone(),
        _ => None,
    };
    let config = args.db.resolve(server_id)?;
    super::runtime()?.block_on(async {
        let store = DbArgs::open(&config).await?;
        let out = execute(&store, &config, args.command, args.json).await;
        store.close().await;
        out
    })
}

async fn execute(store: &Store, config: &Config, command: DeviceCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Add {
            device_id,
            auth,
            username,
            password,
            nonce,
            server_password,
            server_nonce,
            ..
        } => {
            let req = CreateDevice {
                device_id,
                client_auth: ClientAuthRequest {
                    auth_type: format!("{auth:?}").to_ascii_lowercase(),
                    username,
                    password,
                    nonce,
                },
                server_auth: server_password
                    .map(|password| ServerAuthRequest { password, nonce: server_nonce }),
                // The --server-id flag went into the configuration's server_id.
                server_id: None,
            };
            let device = admin::create_device(store, req, &config.server_id, ACTOR).await?;
            if json {
                print_json(&device)?;
            } else {
                println!("added device {}", clean(&device.device_id));
                print_device(&device);
            }
        }
        DeviceCommand::List { after, limit } => {
            let page = admin::list_devices(store, after.as_deref(), Some(limit)).await?;
            if json {
                return print_json(&page);
            }
            let rows = page
                .devices
                .iter()
                .map(|d| {
                    vec![
                        clean(&d.device_id),
                        d.client_auth.auth_type.as_str().to_owned(),
                        clean(&d.client_auth.username),
                        clean(&d.server_id),
                        yes_no(d.server_auth).to_owned(),
                        d.dm_version.as_deref().map_or("-".to_owned(), clean),
                        d.last_session_at.map_or("never".to_owned(), fmt_time),
                    ]
                })
                .collect();
            print_table(
                &["DEVICE", "AUTH", "USERNAME", "SERVER ID", "SERVER AUTH", "DM", "LAST SESSION"],
                rows,
            );
            if let Some(next) = page.next_after {
                println!("(more: --after {})", clean(&next));
            }
        }
        DeviceCommand::Show { device_id } => {
            let device = admin::get_device(store, &device_id).await?;
            let inventory = admin::inventory(store, &device_id).await?;
            if json {
                let mut v = serde_json::to_value(&device)?;
                v["inventory"] = serde_json::to_value(&inventory)?;
                return print_json(&v);
            }
            print_device(&device);
            println!();
            println!("inventory ({} nodes):", inventory.len());
            let rows = inventory
                .iter()
                .map(|i| {
                    vec![
                        clean(&i.uri),
                        i.format.as_deref().map_or("-".to_owned(), clean),
                        clean(&shorten(&i.value, 60)),
                        fmt_time(i.updated_at),
                    ]
                })
                .collect();
            print_table(&["URI", "FORMAT", "VALUE", "UPDATED"], rows);
        }
        DeviceCommand::Rm { device_id } => {
            admin::delete_device(store, &device_id, ACTOR).await?;
            if json {
                print_json(&serde_json::json!({ "deleted": device_id }))?;
            } else {
                println!("deleted device {}", clean(&device_id));
            }
        }
        DeviceCommand::Tree { device_id, tnds } => {
            if tnds {
                let xml = admin::tree_tnds(store, &device_id).await?;
                println!("{}", String::from_utf8_lossy(&xml));
                return Ok(());
            }
            let nodes = admin::tree(store, &device_id).await?;
            if json {
                return print_json(&nodes);
            }
            let opt = |v: &Option<String>| v.as_deref().map_or("-".to_owned(), |x| clean(&shorten(x, 60)));
            let rows = nodes
                .iter()
                .map(|n| {
                    vec![clean(&n.uri), opt(&n.format), opt(&n.value), opt(&n.acl), fmt_time(n.updated_at)]
                })
                .collect();
            print_table(&["URI", "FORMAT", "VALUE", "ACL", "UPDATED"], rows);
        }
        DeviceCommand::Sessions { device_id, limit } => {
            let sessions = admin::sessions(store, &device_id, Some(limit)).await?;
            if json {
                return print_json(&sessions);
            }
            let rows = sessions
                .iter()
                .map(|s| {
                    vec![
                        clean(&s.session_id),
                        clean(&s.dm_version),
                        fmt_time(s.started_at),
                        s.ended_at.map_or("-".to_owned(), fmt_time),
                        format!("{}/{}", s.messages_in, s.messages_out),
                        s.outcome.as_str().to_owned(),
                    ]
                })
                .collect();
            print_table(&["SESSION", "DM", "STARTED", "ENDED", "MSGS IN/OUT", "OUTCOME"], rows);
        }
    }
    Ok(())
}

fn print_device(d: &DeviceView) {
    let rows = [
        ("device", clean(&d.device_id)),
        (
            "client auth",
            format!("{} (user {})", d.client_auth.auth_type.as_str(), clean(&d.client_auth.username)),
        ),
        ("server id", clean(&d.server_id)),
        ("server auth", yes_no(d.server_auth).to_owned()),
        ("dm version", d.dm_version.as_deref().map_or("-".to_owned(), clean)),
        ("created", fmt_time(d.created_at)),
        ("updated", fmt_time(d.updated_at)),
        ("last session", d.last_session_at.map_or("never".to_owned(), fmt_time)),
    ];
    for (k, v) in rows {
        println!("{:<14}{v}", format!("{k}:"));
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

// ------------------------------------------------------------------------------------------
// Output helpers shared by the database commands.

/// Print a value as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print rows under headers, columns padded to their widest cell.
pub(crate) fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { (*c).to_owned() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        println!("{}", text.join("  "));
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Text from the database or a device made safe for a terminal: control characters
/// (escape sequences, line breaks) are shown escaped.
pub(crate) fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
            .collect()
    } else {
        s.to_owned()
    }
}

/// At most `max` characters of `s`, with `...` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
        out.push_str("...");
        out
    }
}

/// Unix epoch milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn fmt_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formatting() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
        assert_eq!(fmt_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(fmt_time(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(fmt_time(-1000), "1969-12-31 23:59:59");
    }

    #[test]
    fn terminal_safety_and_shortening() {
        assert_eq!(clean("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(clean("plain"), "plain");
        assert_eq!(shorten("abcdef", 5), "ab...");
        assert_eq!(shorten("abc", 5), "abc");
    }
}
