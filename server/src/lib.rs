//! The omadm server: the DM session engine, the `/dm` endpoint, the admin API, `serve`.

pub mod admin;
pub mod api;
pub mod app;
pub mod bootstrap;
pub mod campaign;
pub mod cli;
pub mod config;
pub mod ddfs;
pub mod delivery;
pub mod dispatcher;
pub mod dm;
pub mod health;
pub mod metrics;
pub mod notify;
pub mod serve;
pub mod session;
pub mod tls;
pub mod transcript;
