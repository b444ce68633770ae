//! The omadm server: the DM session engine, the `/dm` endpoint, the admin API, `serve`.

pub mod admin;
pub mod api;
pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod ddfs;
pub mod delivery;
pub mod dispatcher;
pub mod dm;
pub mod serve;
pub mod session;
