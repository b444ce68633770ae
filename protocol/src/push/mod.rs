//! WAP Push framing: the connectionless WSP Push PDU ([`wsp`]) and its transport as WDP over
//! GSM SMS ([`sms`]).
//!
//! A server pushes a DM notification (package 0, content type 0xC4), a DM-profile WBXML
//! bootstrap (0xC2) or an OMA CP document (0xB6) to a device's WDP port 2948. The PDU is built
//! by [`wsp::PushPdu::encode`] and cut into SMS user data by [`sms::segment`]; an SMSC client
//! sends each segment with [`sms::ESM_CLASS_UDHI`] and [`sms::DATA_CODING_8BIT`].
//!
//! Sources: FACTS.md F.1 (WSP Push PDU), F.2 (WDP over SMS), E.3 (DM notification delivery),
//! G.4/G.5 (SEC and MAC parameters); WAP-230-WSP §8.2.4.1 and §8.4, WAP-259-WDP Annex A.

mod error;
pub mod sms;
pub mod wsp;

pub use error::PushError;
pub use sms::{ConcatReference, Ports, reassemble, segment};
pub use wsp::{ApplicationId, ContentType, Mac, MediaType, PushPdu, Sec};
