//! [`Secret`]: a password, a stored `B64(H(name:password))` or a basic credential, redacted
//! in `Debug`.

use std::fmt;

/// A secret string: a password (DMAcc AAuthSecret, DM 1.1.2 ClientPW/ServerPW), the stored
/// `B64(H(username ":" password))` of [`md5_secret`](super::md5_secret), or encoded basic
/// credentials.
///
/// `Debug` prints `Secret(<redacted>)` and there is no `Display`, so a secret never reaches a
/// log by accident; read it with [`Secret::expose`]. Equality is constant-time. On drop the
/// buffer is overwritten with zeros on a best-effort basis (copies made by callers, or by
/// reallocation, are out of reach).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text. Call only where the value is needed (hashing, storage, the wire).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        super::ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = Secret::new("OhBehave");
        let printed = format!("{s:?} {:?}", Some(&s));
        assert!(!printed.contains("OhBehave"), "{printed}");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "OhBehave");
        assert_eq!(s.len(), 8);
    }

    #[test]
    fn equality() {
        assert_eq!(Secret::from("a"), Secret::new(String::from("a")));
        assert_ne!(Secret::from("a"), Secret::from("ab"));
        assert_ne!(Secret::from("a"), Secret::from("b"));
    }
}
