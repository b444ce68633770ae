//! omadm-conformance: the OMA DM device simulator, the load generator and the black-box
//! conformance suite (in `tests/`) of omadm.
pub mod devsim;
pub mod loadgen;
