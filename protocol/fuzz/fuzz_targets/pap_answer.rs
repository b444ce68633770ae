//! A Push Proxy Gateway's answer to a PAP push (`push-response`, `badmessage-response`, or
//! anything else a hostile or broken PPG sends): the parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omadm_server::delivery::pap::parse_answer;

fuzz_target!(|data: &[u8]| {
    let _ = parse_answer(data);
});
