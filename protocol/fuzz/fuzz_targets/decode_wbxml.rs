//! The WBXML decoder never panics, whatever the input: it returns a message or a `DecodeError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omadm_protocol::{Encoding, Limits, decode_as};

fuzz_target!(|data: &[u8]| {
    let _ = decode_as(data, Encoding::Wbxml, &Limits::default());
});
