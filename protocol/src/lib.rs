//! # omadm-protocol
//!
//! SyncML DM 1.2 and DM 1.1.2 messages as typed values, their XML and WBXML encodings, and the
//! authentication math of OMA DM Security. Sans-IO: bytes in, values out; no sockets, no
//! database, no async, no clock.
//!
//! Layout, in the order data flows:
//! - [`xml`] and [`wbxml`] turn bytes into [`event::Event`]s and back;
//! - [`message`] is the typed model (`SyncMl`, `SyncHdr`, commands, `Status`, ...) read from
//!   and written to those events;
//! - [`codec`] is the front door: detect the encoding, decode, encode;
//! - [`auth`] computes and checks `syncml:auth-basic`, `syncml:auth-md5` and `x-syncml-hmac`;
//! - [`notification`] builds and reads the DM notification (package 0) that asks a device to
//!   connect, and [`push`] frames it (or a CP / DM bootstrap document) as a WSP Push PDU and
//!   cuts that into SMS user data;
//! - [`bootstrap`] builds, signs and reads bootstrap documents (OMA CP w7 and DM profile).

#![forbid(unsafe_code)]

pub mod auth;
pub mod bootstrap;
pub mod codec;
pub mod error;
pub mod event;
pub mod limits;
pub mod message;
pub mod notification;
pub mod push;
pub mod tag;
pub mod tree;
pub mod wbxml;
pub mod xml;

pub use codec::{Encoding, decode, decode_as, encode, encode_pretty_xml};
pub use error::DecodeError;
pub use limits::Limits;
pub use message::{
    Alert, AlertCode, Anchor, Chal, Command, Container, Cred, Data, DmVersion, Exec, Format, Item,
    ItemCommand, Location, Mem, Meta, Results, Status, StatusCode, SyncBody, SyncHdr, SyncMl,
};
