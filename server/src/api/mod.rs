//! Admin API (being written).
use crate::app::App;
pub fn routes(_app: App) -> axum::Router {
    axum::Router::new()
}
