//! What every request handler shares: the store, the configuration, the engine settings, the
//! DDFs commands are checked against.

use std::sync::Arc;

use omadm_storage::Store;

use crate::config::Config;
use crate::ddfs::Ddfs;
use crate::dispatcher::Wake;

/// Shared server state (cheap to clone).
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Store,
    /// The configuration.
    pub config: Arc<Config>,
    /// The standard and imported DDFs, in memory ([`crate::ddfs`]).
    pub ddfs: Ddfs,
    /// Wakes this node's push dispatcher when a push is queued here.
    pub push_wake: Wake,
    /// Wakes this node's notification scheduler when a notification is queued here.
    pub notify_wake: Wake,
    /// Set when this node starts shutting down (`/readyz` then answers 503).
    pub draining: crate::health::Draining,
}

impl App {
    /// Shared state over `store` with `config`; the imported DDFs are loaded by `serve` (or
    /// [`Ddfs::reload`]), the standard ones are there from the start.
    pub fn new(store: Store, config: Arc<Config>) -> App {
        App {
            store,
            config,
            ddfs: Ddfs::default(),
            push_wake: Wake::default(),
            notify_wake: Wake::default(),
            draining: Default::default(),
        }
    }
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
