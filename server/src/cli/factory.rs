//! `omadm bootstrap factory`: the factory ("customized") bootstrap of OMA DM Bootstrap
//! §5.1.2.1 (seed 003): the manufacturer loads each device's bootstrap document at production,
//! so nothing goes over the air.
//!
//! In: a CSV of the batch, a header line and the columns `imei,imsi` (required) and `msisdn`,
//! `username` (optional). Out: per row, fresh credentials stored for device `IMEI:<imei>`
//! (created, or its credentials replaced, through [`operation::prepare`] and
//! [`operation::record`], without a push) and `<imei>.wbxml` (the document, signed with
//! NETWPIN from the row's IMSI, FACTS.md G.4) and `<imei>.xml` in the output directory, plus
//! `manifest.csv` with each document's SEC and MAC.
//!
//! All or nothing: every row is checked and its document built before anything is stored or
//! written; one bad row stops the export and each bad row is reported with its line number.
//! The devices are then stored in one transaction, committed after the files are written.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use omadm_protocol::bootstrap::security::imsi_semi_octets;

use super::bootstrap::{AccountArgs, DmArgs};
use super::device::{ACTOR, DbArgs};
use crate::app::{now_millis, random16};
use crate::bootstrap::Profile;
use crate::bootstrap::operation::{self, BootstrapClientAuth, Prepared, SecurityRequest};
use crate::config::Config;

/// Largest CSV accepted, in bytes.
pub const MAX_CSV_BYTES: usize = 2 * 1024 * 1024;
/// Most devices in one export (every document is built, in memory, before any is stored).
pub const MAX_ROWS: usize = 10_000;
/// Most bad rows listed in the error.
const MAX_REPORTED: usize = 10;
/// Digits of an IMEI (3GPP TS 23.003 §6.2.1: TAC, SNR, check digit).
const IMEI_DIGITS: usize = 15;

/// `omadm bootstrap factory` flags.
#[derive(Args, Debug)]
pub struct FactoryArgs {
    /// The batch: a header line, then one device per line; columns imei and imsi (required),
    /// msisdn and username (optional; the username defaults to the IMEI). Plain values, no
    /// quoting; at most 10000 rows and 2 MiB.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Directory for the documents (created if needed; files of the same IMEI are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// cp (wap-provisioningdoc) or dm (DM-profile WBXML message).
    #[arg(long, value_parser = ["cp", "dm"])]
    profile: String,
    #[command(flatten)]
    pub(crate) account: AccountArgs,
    #[command(flatten)]
    dm: DmArgs,
}

/// One device of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its line in the file (1 is the header).
    pub line: usize,
    /// 15 digits.
    pub imei: String,
    /// 6 to 15 digits.
    pub imsi: String,
    /// E.164 number, when given.
    pub msisdn: Option<String>,
    /// The user name, when given.
    pub username: Option<String>,
}

/// Why the CSV was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// Over [`MAX_CSV_BYTES`].
    #[error("larger than {max} bytes")]
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// Over [`MAX_ROWS`] device lines.
    #[error("more than {max} device rows")]
    TooManyRows {
        /// The bound.
        max: usize,
    },
    /// Not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// No device line.
    #[error("no device rows under the header")]
    NoRows,
    /// A line is wrong.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn at(line: usize, reason: impl Into<String>) -> CsvError {
    CsvError::Line { line, reason: reason.into() }
}

/// The columns a header may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Imei,
    Imsi,
    Msisdn,
    Username,
}

/// Parse and check the batch: every error found, or every row.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, Vec<CsvError>> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(vec![CsvError::TooLarge { max: MAX_CSV_BYTES }]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| vec![CsvError::NotUtf8])?;
    // A spreadsheet's byte-order mark is not part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let Some((header_line, header)) = lines.by_ref().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(vec![CsvError::NoRows]);
    };
    let columns = parse_header(header).map_err(|reason| vec![at(header_line, reason)])?;

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(vec![CsvError::TooManyRows { max: MAX_ROWS }]);
        }
        match parse_row(line, text, &columns) {
            Ok(row) => match seen.get(&row.imei) {
                Some(first) => errors.push(at(line, format!("imei {} is also on line {first}", row.imei))),
                None => {
                    seen.insert(row.imei.clone(), line);
                    rows.push(row);
                }
            },
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![CsvError::NoRows]);
    }
    Ok(rows)
}

fn parse_header(header: &str) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    for name in header.split(',') {
        let column = match name.trim().to_ascii_lowercase().as_str() {
            "imei" => Column::Imei,
            "imsi" => Column::Imsi,
            "msisdn" => Column::Msisdn,
            "username" => Column::Username,
            other => {
                return Err(format!(
                    "header: unknown column {:?} (expected imei,imsi[,msisdn][,username])",
                    super::device::shorten(other, 40)
                ));
            }
        };
        if columns.contains(&column) {
            return Err(format!("header: column {} appears twice", name.trim()));
        }
        columns.push(column);
    }
    for (needed, name) in [(Column::Imei, "imei"), (Column::Imsi, "imsi")] {
        if !columns.contains(&needed) {
            return Err(format!(
                "header: the {name} column is missing (expected imei,imsi[,msisdn][,username])"
            ));
        }
    }
    Ok(columns)
}

fn parse_row(line: usize, text: &str, columns: &[Column]) -> Result<Row, CsvError> {
    if text.contains('"') {
        return Err(at(line, "quoted fields are not supported"));
    }
    let fields: Vec<&str> = text.split(',').map(|f| f.trim_matches([' ', '\t'])).collect();
    if fields.len() != columns.len() {
        return Err(at(line, format!("{} fields, the header has {}", fields.len(), columns.len())));
    }
    if fields.iter().any(|f| f.chars().any(char::is_control)) {
        return Err(at(line, "a field holds a control character"));
    }
    let mut row = Row { line, imei: String::new(), imsi: String::new(), msisdn: None, username: None };
    for (column, value) in columns.iter().zip(fields) {
        match column {
            Column::Imei => {
                check_imei(value).map_err(|reason| at(line, format!("imei {:?}: {reason}", short(value))))?;
                row.imei = value.to_owned();
            }
            Column::Imsi => {
                imsi_semi_octets(value).map_err(|e| at(line, format!("imsi {:?}: {e}", short(value))))?;
                row.imsi = value.to_owned();
            }
            Column::Msisdn if value.is_empty() => {}
            Column::Msisdn => {
                crate::delivery::e164_digits(value).map_err(|e| at(line, format!("msisdn: {e}")))?;
                row.msisdn = Some(value.to_owned());
            }
            Column::Username if value.is_empty() => {}
            Column::Username => row.username = Some(value.to_owned()),
        }
    }
    Ok(row)
}

fn short(s: &str) -> String {
    super::device::shorten(s, 40)
}

/// 15 digits whose last is the Luhn check digit (3GPP TS 23.003 §6.2.1 and Annex B).
fn check_imei(imei: &str) -> Result<(), &'static str> {
    if imei.len() != IMEI_DIGITS || !imei.bytes().all(|b| b.is_ascii_digit()) {
        return Err("needs 15 digits");
    }
    let sum: u32 = imei
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { (d * 2) / 10 + (d * 2) % 10 } else { d }
        })
        .sum();
    if sum.is_multiple_of(10) { Ok(()) } else { Err("wrong check digit (Luhn)") }
}

/// One error line for the operator: the first bad rows and how many more.
fn report(errors: &[impl std::fmt::Display]) -> String {
    let mut text: Vec<String> = errors.iter().take(MAX_REPORTED).map(ToString::to_string).collect();
    if errors.len() > MAX_REPORTED {
        text.push(format!("and {} more", errors.len() - MAX_REPORTED));
    }
    text.join("; ")
}

/// Read at most [`MAX_CSV_BYTES`] (+1, to tell a longer file).
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CSV_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

/// Run `omadm bootstrap factory` with `config` (the database, the ServerID, the public URL).
pub fn run(config: &Config, args: FactoryArgs) -> anyhow::Result<()> {
    let csv = args.csv.display().to_string();
    let bytes = read_bounded(&args.csv)?;
    let rows = parse_csv(&bytes)
        .map_err(|e| anyhow::anyhow!("{csv}: {} (nothing stored or written)", report(&e)))?;
    let profile = if args.profile == "dm" { Profile::Dm } else { Profile::Cp };
    let addr = args.account.addr(config)?;

    // Every document, before anything is stored.
    let now = now_millis();
    let mut prepared = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let ms_extensions = args.account.ms_extensions()?;
    for row in &rows {
        let security = SecurityRequest { method: "netwpin".into(), imsi: Some(row.imsi.clone()), pin: None };
        let client_auth = BootstrapClientAuth {
            auth_type: Some(args.account.auth.clone()),
            username: row.username.clone().unwrap_or_else(|| row.imei.clone()),
            password: None,
        };
        let mut req = args.account.request(profile, &args.dm, security, client_auth);
        req.ms_extensions = ms_extensions.clone();
        let device_id = format!("IMEI:{}", row.imei);
        match operation::prepare(&device_id, &req, &config.server_id, addr.clone(), now, &mut random16) {
            Ok(p) => prepared.push((row, p)),
            Err(e) => errors.push(format!("line {}: {e}", row.line)),
        }
    }
    anyhow::ensure!(errors.is_empty(), "{csv}: {} (nothing stored or written)", report(&errors));

    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut written = Vec::new();
    let result = super::runtime()?.block_on(async {
        let store = DbArgs::open(config).await?;
        let out = export(&store, &args.out, &prepared, now, &mut written).await;
        store.close().await;
        out
    });
    if let Err(e) = result {
        // The transaction was rolled back: the files would hold credentials nobody stored.
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    println!(
        "exported {} device{} ({} profile, SEC=NETWPIN) to {}; manifest {}",
        prepared.len(),
        if prepared.len() == 1 { "" } else { "s" },
        profile.as_str(),
        args.out.display(),
        args.out.join("manifest.csv").display()
    );
    Ok(())
}

/// Store every device and write its files in one transaction, committed last.
async fn export(
    store: &omadm_storage::Store,
    dir: &Path,
    prepared: &[(&Row, Prepared)],
    now: i64,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    let mut manifest = String::from("imei,device_id,username,sec,mac,document\n");
    for (row, p) in prepared {
        operation::record(&mut tx, p, None, ACTOR, now)
            .await
            .with_context(|| format!("line {}: cannot store {}", row.line, p.device.device_id))?;
        for (ext, bytes) in [("wbxml", &p.built.wbxml), ("xml", &p.built.xml)] {
            let path = dir.join(format!("{}.{ext}", row.imei));
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
        let mac = p.built.pdu.content_type.mac.as_ref().map_or("", |m| m.as_str());
        manifest.push_str(&format!(
            "{},{},{},{},{mac},{}.wbxml\n",
            row.imei,
            p.device.device_id,
            p.device.client_username,
            p.options.security.method().name(),
            row.imei
        ));
    }
    let path = dir.join("manifest.csv");
    std::fs::write(&path, manifest).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMEI_1: &str = "356000000000018";
    const IMEI_2: &str = "356000000000026";

    fn line_errors(result: Result<Vec<Row>, Vec<CsvError>>) -> Vec<(usize, String)> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| match e {
                CsvError::Line { line, reason } => (line, reason),
                other => panic!("not a line error: {other}"),
            })
            .collect()
    }

    #[test]
    fn imei_check_digit() {
        assert_eq!(check_imei("490154203237518"), Ok(()));
        assert_eq!(check_imei(IMEI_1), Ok(()));
        assert!(check_imei("490154203237517").is_err());
        assert!(check_imei("49015420323751").is_err());
        assert!(check_imei("49015420323751x").is_err());
    }

    #[test]
    fn rows_in_any_column_order() {
        let csv = format!(
            "\u{feff}IMSI, imei ,username,msisdn\r\n262011234567890,{IMEI_1},alice,+491701234567\r\n\r\n262011234567891,{IMEI_2},,\n"
        );
        let rows = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            Row {
                line: 2,
                imei: IMEI_1.into(),
                imsi: "262011234567890".into(),
                msisdn: Some("+491701234567".into()),
                username: Some("alice".into())
            }
        );
        assert_eq!((rows[1].line, rows[1].msisdn.as_deref(), rows[1].username.as_deref()), (4, None, None));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let csv = format!(
            "imei,imsi,msisdn\n{IMEI_1},262011234567890,\n490154203237517,262011234567890,\n{IMEI_2},12x,\n{IMEI_1},262011234567890,\n{IMEI_2},262011234567890,0170\n\"{IMEI_2}\",1,\n1,2\n"
        );
        let errors = line_errors(parse_csv(csv.as_bytes()));
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8], "{errors:?}");
        assert!(errors[0].1.contains("Luhn"));
        assert!(errors[1].1.contains("imsi"));
        assert!(errors[2].1.contains("line 2"), "duplicate names the first line");
        assert!(errors[3].1.contains("msisdn"));
        assert!(errors[4].1.contains("quoted"));
        assert!(errors[5].1.contains("2 fields"));
    }

    #[test]
    fn bad_headers_and_files() {
        assert_eq!(line_errors(parse_csv(b"imei\n1\n"))[0].0, 1);
        assert!(line_errors(parse_csv(b"imei,imsi,colour\n"))[0].1.contains("colour"));
        assert!(line_errors(parse_csv(b"\nimei,imsi,imei\n"))[0].1.contains("twice"));
        assert_eq!(line_errors(parse_csv(b"\nimei,imsi,imei\n"))[0].0, 2);
        assert_eq!(parse_csv(b""), Err(vec![CsvError::NoRows]));
        assert_eq!(parse_csv(b"imei,imsi\n\n"), Err(vec![CsvError::NoRows]));
        assert_eq!(parse_csv(b"imei,imsi\n\xff\n"), Err(vec![CsvError::NotUtf8]));
        let big = vec![b'\n'; MAX_CSV_BYTES + 1];
        assert_eq!(parse_csv(&big), Err(vec![CsvError::TooLarge { max: MAX_CSV_BYTES }]));
        let mut many = String::from("imei,imsi\n");
        for _ in 0..=MAX_ROWS {
            many.push_str("1,2\n");
        }
        assert_eq!(parse_csv(many.as_bytes()), Err(vec![CsvError::TooManyRows { max: MAX_ROWS }]));
    }
}
