//! Rebuild when a migration is added: `sqlx::migrate!` embeds the folders at compile time but
//! only watches files that already existed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
