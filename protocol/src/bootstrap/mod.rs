//! Bootstrap: bringing a device from a clean state to one where it opens sessions with our
//! server (OMA-TS-DM_Bootstrap-V1_2; seeds 000, 001, 003; FACTS.md G, H).
//!
//! Two profiles, both sans-IO (the caller pushes the bytes, e.g. by WAP Push):
//! - Client Provisioning: a `wap-provisioningdoc` with the w7 APPLICATION
//!   ([`cp::ProvisioningDoc::for_dm_account`]), WBXML-encoded ([`cp_wbxml`], token tables in
//!   [`cp_tokens`]), content type `application/vnd.wap.connectivity-wbxml`;
//! - DM: a SyncML DM message that Adds the DMAcc account ([`dm::DmBootstrap`]), content
//!   type `application/vnd.syncml.dm+wbxml`.
//!
//! Either document is signed with [`security`] (SEC method and HMAC-SHA1 MAC). The operator
//! input ([`DmAccount`], [`NapDef`], [`PxLogical`], [`MsExtensions`]) is in [`account`] and is
//! validated before anything is built.

pub mod account;
pub mod cp;
pub mod cp_tokens;
pub mod cp_wbxml;
pub mod dm;
pub mod security;

pub use account::{
    AuthSpec, AuthType, BootstrapError, DmAccount, MsExtensions, NapAuth, NapDef, PxLogical, RootCertificate,
};
pub use cp::{Characteristic, Parm, ProvisioningDoc};
pub use dm::{DmBootstrap, DmForm, DmLayout};
pub use security::{Credential, SecMethod, SecurityError, Signature};
