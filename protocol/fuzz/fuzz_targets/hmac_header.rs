//! The `x-syncml-hmac` header parser never panics on any UTF-8 value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omadm_protocol::auth::hmac::HmacHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        let _ = HmacHeader::parse(value);
    }
});
