//! Round-trip oracle: whatever `decode` accepts (either encoding, detected), `encode` writes in
//! both encodings, and each of those decodes again to the same message.
//!
//! "The same" allows the two losses the encoders document:
//! - WBXML `STR_I` cannot carry U+0000, so `Data::Text` holding a NUL is written as OPAQUE and
//!   comes back as `Data::Opaque` with the same bytes: Data is compared by its bytes.
//! - XML has no OPAQUE: `Data::Opaque` comes back from XML as text, or as the Base64 of the
//!   bytes when they are not UTF-8 XML can carry. A message holding OPAQUE data that does not
//!   survive XML byte for byte must reach a fixed point after one XML round trip instead.
//!
//! Seen by this oracle first: tests/vectors/fuzz/decode_any_xml_raw_nul_in_data_*.xml.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omadm_protocol::{Command, Data, Encoding, Item, Limits, SyncMl, decode, decode_as, encode};

fn round_trip(msg: &SyncMl, encoding: Encoding) -> SyncMl {
    let bytes = encode(msg, encoding);
    match decode_as(&bytes, encoding, &Limits::default()) {
        Ok(again) => again,
        Err(e) => panic!(
            "{encoding:?} re-encoding does not decode: {e}\nmessage: {msg:#?}\nbytes: {:?}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

/// Every Item of `commands`, nested ones included.
fn for_each_item(commands: &mut [Command], f: &mut impl FnMut(&mut Item)) {
    for command in commands {
        let items: &mut [Item] = match command {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => &mut c.items,
            Command::Alert(a) => &mut a.items,
            Command::Exec(e) => std::slice::from_mut(&mut e.item),
            Command::Results(r) => &mut r.items,
            Command::Status(s) => &mut s.items,
            Command::Atomic(c) | Command::Sequence(c) => {
                for_each_item(&mut c.commands, f);
                &mut []
            }
            Command::Unsupported(_) => &mut [],
        };
        items.iter_mut().for_each(&mut *f);
    }
}

/// `msg` with every text Data as OPAQUE bytes, so that Data compares by its bytes.
fn data_as_bytes(msg: &SyncMl) -> SyncMl {
    let mut msg = msg.clone();
    for_each_item(&mut msg.body.commands, &mut |item| {
        if let Some(Data::Text(s)) = &mut item.data {
            item.data = Some(Data::Opaque(std::mem::take(s).into_bytes()));
        }
    });
    msg
}

fn has_opaque(msg: &SyncMl) -> bool {
    let mut found = false;
    let mut msg = msg.clone();
    for_each_item(&mut msg.body.commands, &mut |item| {
        found |= matches!(item.data, Some(Data::Opaque(_)));
    });
    found
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode(data, &Limits::default()) else { return };
    let expected = data_as_bytes(&msg);

    let via_wbxml = round_trip(&msg, Encoding::Wbxml);
    assert_eq!(data_as_bytes(&via_wbxml), expected, "WBXML round trip changed the message");

    let via_xml = round_trip(&msg, Encoding::Xml);
    if data_as_bytes(&via_xml) != expected {
        assert!(has_opaque(&msg), "XML round trip changed the message:\n{msg:#?}\n{via_xml:#?}");
        let again = round_trip(&via_xml, Encoding::Xml);
        assert_eq!(again, via_xml, "XML round trip of a message with OPAQUE data is not stable");
    }
});
