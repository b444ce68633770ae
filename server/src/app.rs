//! What every request handler shares: the store, the configuration, the engine settings.

use std::sync::Arc;

use omadm_storage::Store;

use crate::config::Config;

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub config: Arc<Config>,
}

/// Unix epoch milliseconds now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 16 random bytes from the operating system (nonces, session tokens).
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// A random token as 32 lowercase hex characters.
pub fn random_token() -> String {
    random16().iter().map(|b| format!("{b:02x}")).collect()
}
