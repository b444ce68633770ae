//! Bootstrap message authentication: the SEC methods and the MAC of OMA-WAP-ProvBoot-v1_1 §6
//! (FACTS.md G.4), also used for the DM profile (FACTS.md G.5).
//!
//! MAC = HMAC-SHA1(key, the WBXML document exactly as sent), written as 40 uppercase hex
//! digits in the `MAC` content-type parameter (Kannel, Intel CPClient and Mozilla agree on
//! uppercase). The key depends on the method:
//! - NETWPIN: the IMSI in GSM 11.11 semi-octets ([`imsi_semi_octets`]);
//! - USERPIN: the ASCII bytes of the PIN;
//! - USERNETWPIN: the IMSI semi-octets followed by the PIN bytes (CPClient, S60, Funambol;
//!   the DM Security wording "PIN:secret" is not what devices do, FACTS.md G.4);
//! - USERPINMAC: the user types `K‖m`; K is the key and m is derived from the MAC itself,
//!   so no MAC parameter is sent ([`userpinmac_pin`], [`verify_userpinmac`]).
//!
//! The crate has no RNG: randomness for K comes in as bytes ([`userpinmac_k_from_random`]).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Digits of the longest IMSI (ITU-T E.212).
pub const MAX_IMSI_DIGITS: usize = 15;
/// Digits of the shortest IMSI accepted: MCC (3) + MNC (2) + one MSIN digit.
pub const MIN_IMSI_DIGITS: usize = 6;
/// Longest PIN accepted, in bytes.
pub const MAX_PIN_LEN: usize = 64;
/// Shortest USERPINMAC PIN (K‖m), as Intel CPClient requires (FACTS.md G.4).
pub const MIN_USERPINMAC_LEN: usize = 10;
/// Longest USERPINMAC PIN: m has one digit per MAC byte (20 for SHA-1).
pub const MAX_USERPINMAC_LEN: usize = 40;

/// The SEC parameter of the content type (FACTS.md G.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecMethod {
    /// 0: network PIN (IMSI).
    NetwPin = 0,
    /// 1: user PIN.
    UserPin = 1,
    /// 2: IMSI and user PIN.
    UserNetwPin = 2,
    /// 3: user PIN carrying its own MAC.
    UserPinMac = 3,
}

impl SecMethod {
    /// The SEC code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The method of a SEC code.
    pub const fn from_code(code: u8) -> Option<SecMethod> {
        match code {
            0 => Some(SecMethod::NetwPin),
            1 => Some(SecMethod::UserPin),
            2 => Some(SecMethod::UserNetwPin),
            3 => Some(SecMethod::UserPinMac),
            _ => None,
        }
    }

    /// The name WSP decoders print (`NETWPIN`, `USERPIN`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SecMethod::NetwPin => "NETWPIN",
            SecMethod::UserPin => "USERPIN",
            SecMethod::UserNetwPin => "USERNETWPIN",
            SecMethod::UserPinMac => "USERPINMAC",
        }
    }
}

/// Why a key or PIN could not be made or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The IMSI is not 6 to 15 decimal digits.
    #[error("IMSI must be {MIN_IMSI_DIGITS} to {MAX_IMSI_DIGITS} decimal digits")]
    Imsi,
    /// The PIN is empty, too long or not printable ASCII.
    #[error("PIN must be 1 to {MAX_PIN_LEN} printable ASCII characters")]
    Pin,
    /// A USERPINMAC K is not 5 to 20 decimal digits.
    #[error("USERPINMAC K must be {} to {} decimal digits", MIN_USERPINMAC_LEN / 2, MAX_USERPINMAC_LEN / 2)]
    UserPinMacKey,
    /// Too few random bytes to draw the digits of K.
    #[error("not enough random bytes to draw {0} digits")]
    NotEnoughRandom(usize),
}

/// The signature of a bootstrap document: SEC and MAC parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// SEC.
    pub sec: SecMethod,
    /// MAC: 40 uppercase hex digits.
    pub mac: String,
}

/// The shared secret a document is signed with (USERPINMAC has its own functions).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// NETWPIN with the subscriber's IMSI.
    NetwPin {
        /// The IMSI digits.
        imsi: String,
    },
    /// USERPIN with a PIN the user is told.
    UserPin {
        /// The PIN.
        pin: String,
    },
    /// USERNETWPIN.
    UserNetwPin {
        /// The IMSI digits.
        imsi: String,
        /// The PIN.
        pin: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::NetwPin { .. } => "NetwPin(<redacted>)",
            Credential::UserPin { .. } => "UserPin(<redacted>)",
            Credential::UserNetwPin { .. } => "UserNetwPin(<redacted>)",
        })
    }
}

impl Credential {
    /// The SEC method.
    pub fn method(&self) -> SecMethod {
        match self {
            Credential::NetwPin { .. } => SecMethod::NetwPin,
            Credential::UserPin { .. } => SecMethod::UserPin,
            Credential::UserNetwPin { .. } => SecMethod::UserNetwPin,
        }
    }

    /// The HMAC key (FACTS.md G.4).
    pub fn key(&self) -> Result<Vec<u8>, SecurityError> {
        match self {
            Credential::NetwPin { imsi } => imsi_semi_octets(imsi),
            Credential::UserPin { pin } => Ok(pin_bytes(pin)?.to_vec()),
            Credential::UserNetwPin { imsi, pin } => {
                let mut key = imsi_semi_octets(imsi)?;
                key.extend_from_slice(pin_bytes(pin)?);
                Ok(key)
            }
        }
    }

    /// Signs `wbxml`, the document exactly as it will be sent.
    pub fn sign(&self, wbxml: &[u8]) -> Result<Signature, SecurityError> {
        Ok(Signature { sec: self.method(), mac: mac(&self.key()?, wbxml) })
    }

    /// What a device does: whether `mac_hex` is the MAC of `wbxml` under this credential.
    /// Hex case is ignored; the comparison is constant-time.
    pub fn verify(&self, wbxml: &[u8], mac_hex: &str) -> Result<bool, SecurityError> {
        let expected = hmac_sha1(&self.key()?, wbxml);
        Ok(decode_hex(mac_hex).is_some_and(|got| bool::from(got.as_slice().ct_eq(&expected))))
    }
}

fn pin_bytes(pin: &str) -> Result<&[u8], SecurityError> {
    let ok = !pin.is_empty() && pin.len() <= MAX_PIN_LEN && pin.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(pin.as_bytes()) } else { Err(SecurityError::Pin) }
}

/// The IMSI in GSM 11.11 semi-octet form without the length byte, the NETWPIN key
/// (FACTS.md G.4): a first nibble `9` for an odd number of digits (`1` and a trailing `F` for
/// an even number), then the nibbles of each byte swapped. `262011234567890` →
/// `29 26 10 21 43 65 87 09`.
pub fn imsi_semi_octets(imsi: &str) -> Result<Vec<u8>, SecurityError> {
    let digits = imsi.as_bytes();
    if !(MIN_IMSI_DIGITS..=MAX_IMSI_DIGITS).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit)
    {
        return Err(SecurityError::Imsi);
    }
    let odd = digits.len() % 2 == 1;
    let mut nibbles = Vec::with_capacity(digits.len() + 2);
    nibbles.push(if odd { 0x9 } else { 0x1 });
    nibbles.extend(digits.iter().map(|d| d - b'0'));
    if !odd {
        nibbles.push(0xF);
    }
    Ok(nibbles.chunks(2).map(|pair| (pair[1] << 4) | pair[0]).collect())
}

/// HMAC-SHA1 of `data` under `key`, 20 bytes.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut h = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    h.update(data);
    h.finalize().into_bytes().into()
}

/// The MAC parameter: HMAC-SHA1(key, wbxml) as 40 uppercase hex digits (FACTS.md G.4).
pub fn mac(key: &[u8], wbxml: &[u8]) -> String {
    upper_hex(&hmac_sha1(key, wbxml))
}

/// Uppercase hex of `bytes`.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    bytes.iter().flat_map(|b| [HEX[usize::from(b >> 4)] as char, HEX[usize::from(b & 0xF)] as char]).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) || t.len() > 128 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    t.chunks(2).map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?)).collect()
}

fn check_k(k: &str) -> Result<(), SecurityError> {
    let ok = (MIN_USERPINMAC_LEN / 2..=MAX_USERPINMAC_LEN / 2).contains(&k.len())
        && k.bytes().all(|b| b.is_ascii_digit());
    if ok { Ok(()) } else { Err(SecurityError::UserPinMacKey) }
}

/// Draws `len` decimal digits for a USERPINMAC K from `random` (bytes from the caller's
/// RNG), by rejection: bytes 250..=255 are skipped so every digit is equally likely.
pub fn userpinmac_k_from_random(random: &[u8], len: usize) -> Result<String, SecurityError> {
    if !(MIN_USERPINMAC_LEN / 2..=MAX_USERPINMAC_LEN / 2).contains(&len) {
        return Err(SecurityError::UserPinMacKey);
    }
    let k: String =
        random.iter().filter(|&&b| b < 250).take(len).map(|b| char::from(b'0' + b % 10)).collect();
    if k.len() < len {
        return Err(SecurityError::NotEnoughRandom(len));
    }
    Ok(k)
}

/// The USERPINMAC PIN the user types: K followed by m, one digit per leading MAC byte,
/// `m[i] = HMAC-SHA1(K, wbxml)[i] mod 10` (Intel CPClient, S60; FACTS.md G.4).
pub fn userpinmac_pin(k: &str, wbxml: &[u8]) -> Result<String, SecurityError> {
    check_k(k)?;
    let mac = hmac_sha1(k.as_bytes(), wbxml);
    let m: String = mac.iter().take(k.len()).map(|b| char::from(b'0' + b % 10)).collect();
    Ok(format!("{k}{m}"))
}

/// What a device does with a USERPINMAC document: split the typed PIN in halves K‖m and
/// check m against HMAC-SHA1(K, wbxml). A PIN of odd length, shorter than 10 digits or with
/// non-digits is refused.
pub fn verify_userpinmac(pin: &str, wbxml: &[u8]) -> bool {
    if !pin.len().is_multiple_of(2) || pin.len() < MIN_USERPINMAC_LEN {
        return false;
    }
    let (k, m) = pin.split_at(pin.len() / 2);
    match userpinmac_pin(k, wbxml) {
        Ok(expected) => bool::from(expected.as_bytes()[k.len()..].ct_eq(m.as_bytes())),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imsi_odd_and_even() {
        // FACTS.md G.4 / K.4.
        assert_eq!(upper_hex(&imsi_semi_octets("262011234567890").unwrap()), "2926102143658709");
        // Even: first nibble 1, padding F.
        assert_eq!(upper_hex(&imsi_semi_octets("26201123456789").unwrap()), "21261021436587F9");
        assert_eq!(upper_hex(&imsi_semi_octets("123456").unwrap()), "113254F6");
        assert_eq!(upper_hex(&imsi_semi_octets("1234567").unwrap()), "19325476");
    }

    #[test]
    fn imsi_refused() {
        for bad in ["", "12345", "1234567890123456", "26201123456789a", " 26201123456789"] {
            assert_eq!(imsi_semi_octets(bad), Err(SecurityError::Imsi), "{bad:?}");
        }
    }

    #[test]
    fn rfc2202_hmac_sha1() {
        // RFC 2202 test case 2.
        assert_eq!(mac(b"Jefe", b"what do ya want for nothing?"), "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79");
    }

    #[test]
    fn sec_codes() {
        for m in [SecMethod::NetwPin, SecMethod::UserPin, SecMethod::UserNetwPin, SecMethod::UserPinMac] {
            assert_eq!(SecMethod::from_code(m.code()), Some(m));
        }
        assert_eq!(SecMethod::from_code(4), None);
    }

    #[test]
    fn usernetwpin_key_is_imsi_then_pin() {
        let key =
            Credential::UserNetwPin { imsi: "262011234567890".into(), pin: "1234".into() }.key().unwrap();
        assert_eq!(upper_hex(&key), "292610214365870931323334");
    }

    #[test]
    fn verify_ignores_hex_case_and_refuses_garbage() {
        let c = Credential::UserPin { pin: "1234".into() };
        let sig = c.sign(b"doc").unwrap();
        assert!(c.verify(b"doc", &sig.mac).unwrap());
        assert!(c.verify(b"doc", &sig.mac.to_lowercase()).unwrap());
        assert!(!c.verify(b"doc2", &sig.mac).unwrap());
        assert!(!c.verify(b"doc", "zz").unwrap());
        assert!(!c.verify(b"doc", "").unwrap());
        assert_eq!(Credential::UserPin { pin: String::new() }.key(), Err(SecurityError::Pin));
    }

    #[test]
    fn userpinmac_round_trip() {
        let k = userpinmac_k_from_random(&[255, 3, 250, 14, 99, 7, 128, 0], 5).unwrap();
        assert_eq!(k, "34978");
        let pin = userpinmac_pin(&k, b"document").unwrap();
        assert_eq!(pin.len(), 10);
        assert!(verify_userpinmac(&pin, b"document"));
        assert!(!verify_userpinmac(&pin, b"documenT"));
        assert!(!verify_userpinmac(&pin[..9], b"document"));
        assert_eq!(userpinmac_k_from_random(&[251; 10], 5), Err(SecurityError::NotEnoughRandom(5)));
        assert_eq!(userpinmac_pin("1234", b"d"), Err(SecurityError::UserPinMacKey));
    }
}
