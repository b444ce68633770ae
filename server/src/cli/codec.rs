//! `omadm codec decode|encode`: the protocol crate's codecs on files or stdin.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use omadm_protocol::{DecodeError, Encoding, Limits};

#[derive(Subcommand, Debug)]
pub enum CodecCommand {
    /// Read a message in XML or WBXML (detected from its first byte) and print it as
    /// indented XML.
    Decode {
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Read a message (XML, or WBXML) and write it in canonical form: compact XML, or WBXML
    /// with `--wbxml` (numeric public id, no string table).
    Encode {
        /// Write WBXML instead of XML.
        #[arg(long)]
        wbxml: bool,
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
}

pub fn run(cmd: CodecCommand) -> anyhow::Result<()> {
    let limits = Limits::default();
    let (input, out) = match cmd {
        CodecCommand::Decode { input } => {
            let bytes = read_input(&input, &limits)?;
            let msg = decode(&bytes, &limits)?;
            (input, omadm_protocol::encode_pretty_xml(&msg))
        }
        CodecCommand::Encode { wbxml, input } => {
            let bytes = read_input(&input, &limits)?;
            let msg = decode(&bytes, &limits)?;
            let enc = if wbxml { Encoding::Wbxml } else { Encoding::Xml };
            (input, omadm_protocol::encode(&msg, enc))
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|_| stdout.flush())
        .with_context(|| format!("writing the output for {}", input.display()))
}

fn decode(bytes: &[u8], limits: &Limits) -> Result<omadm_protocol::SyncMl, DecodeError> {
    omadm_protocol::decode(bytes, limits)
}

/// Read the whole input, refusing more than the message limit without reading it all.
fn read_input(path: &PathBuf, limits: &Limits) -> anyhow::Result<Vec<u8>> {
    let cap = limits.max_message_bytes as u64 + 1;
    let mut buf = Vec::new();
    let res = if path.as_os_str() == "-" {
        std::io::stdin().lock().take(cap).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(cap).read_to_end(&mut buf))
    };
    res.with_context(|| format!("cannot read {}", path.display()))?;
    if buf.len() > limits.max_message_bytes {
        anyhow::bail!(DecodeError::MessageTooLarge { size: buf.len(), limit: limits.max_message_bytes });
    }
    Ok(buf)
}
