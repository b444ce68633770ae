//! SMPP 3.4 frames from an SMSC: the framer and the PDU decoder never panic, and whatever
//! decodes encodes again and decodes to the same PDU.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omadm_server::delivery::smpp::pdu::{Pdu, frame_length};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_length(data)
        && n <= data.len()
        && let Ok(pdu) = Pdu::decode(&data[..n])
        && let Ok(bytes) = pdu.encode()
    {
        assert_eq!(Pdu::decode(&bytes).as_ref().ok(), Some(&pdu), "re-encoded PDU decodes differently");
    }
});
