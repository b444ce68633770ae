//! The WBXML multi-byte unsigned integer `mb_u_int32` (WAP-192-WBXML §5.1, FACTS.md A.2).
//!
//! Big-endian base-128: every byte carries seven value bits, bit `0x80` is set on every byte
//! but the last. A value is at most five bytes and must fit in a `u32`. WSP calls the same
//! encoding "uintvar".

use crate::error::DecodeError;

/// Longest encoding of a `u32`: five groups of seven bits.
pub const MAX_LEN: usize = 5;

/// Reads one `mb_u_int32` from `input` at `*pos` and advances `*pos` past it.
///
/// Errors: [`DecodeError::UnexpectedEof`] if the input ends inside the integer,
/// [`DecodeError::Wbxml`] if it is longer than five bytes or its value exceeds `u32::MAX`.
/// `*pos` is left unchanged on error.
pub fn read(input: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let start = *pos;
    let mut value: u32 = 0;
    for i in 0..MAX_LEN {
        let Some(&byte) = input.get(start + i) else {
            return Err(DecodeError::UnexpectedEof { offset: input.len() });
        };
        // Shifting in seven more bits must not lose any set bit.
        if value > (u32::MAX >> 7) {
            return Err(DecodeError::Wbxml {
                offset: start,
                reason: "multi-byte integer exceeds 32 bits".into(),
            });
        }
        value = (value << 7) | u32::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
    }
    Err(DecodeError::Wbxml { offset: start, reason: "multi-byte integer longer than 5 bytes".into() })
}

/// Appends `value` as an `mb_u_int32` in its shortest form (one to five bytes).
pub fn write(out: &mut Vec<u8>, value: u32) {
    let mut buf = [0u8; MAX_LEN];
    let mut i = MAX_LEN;
    let mut v = value;
    loop {
        i -= 1;
        // The last byte (written first here) has no continuation bit.
        let cont = if i == MAX_LEN - 1 { 0 } else { 0x80 };
        buf[i] = (v & 0x7F) as u8 | cont;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v);
        out
    }

    fn dec(bytes: &[u8]) -> Result<(u32, usize), DecodeError> {
        let mut pos = 0;
        read(bytes, &mut pos).map(|v| (v, pos))
    }

    #[test]
    fn facts_a2_vectors() {
        // FACTS.md A.2.
        for (value, bytes) in [
            (0x1201u32, &[0xA4, 0x01][..]),
            (0x0FD3, &[0x9F, 0x53]),
            (255, &[0x81, 0x7F]),
            (47, &[0x2F]),
            (0, &[0x00]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (u32::MAX, &[0x8F, 0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(enc(value), bytes, "encode {value:#x}");
            assert_eq!(dec(bytes), Ok((value, bytes.len())), "decode {value:#x}");
        }
    }

    #[test]
    fn reads_from_the_middle_and_stops_at_last_byte() {
        let mut pos = 1;
        assert_eq!(read(&[0xFF, 0xA4, 0x01, 0x99], &mut pos), Ok(0x1201));
        assert_eq!(pos, 3);
    }

    #[test]
    fn non_minimal_but_short_enough_is_accepted() {
        assert_eq!(dec(&[0x80, 0x80, 0x80, 0x80, 0x01]), Ok((1, 5)));
    }

    #[test]
    fn overflow_is_rejected() {
        // 2^32: the first of five bytes carries a fifth bit.
        assert!(matches!(dec(&[0x90, 0x80, 0x80, 0x80, 0x00]), Err(DecodeError::Wbxml { offset: 0, .. })));
        assert!(matches!(dec(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), Err(DecodeError::Wbxml { offset: 0, .. })));
    }

    #[test]
    fn six_bytes_are_rejected() {
        assert!(matches!(
            dec(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::Wbxml { offset: 0, .. })
        ));
    }

    #[test]
    fn truncated_is_eof() {
        assert_eq!(dec(&[]), Err(DecodeError::UnexpectedEof { offset: 0 }));
        assert_eq!(dec(&[0x81, 0x80]), Err(DecodeError::UnexpectedEof { offset: 2 }));
        let mut pos = 0;
        assert!(read(&[0x81], &mut pos).is_err());
        assert_eq!(pos, 0, "position unchanged on error");
    }

    #[test]
    fn round_trip_many() {
        for shift in 0..32 {
            for v in [(1u32 << shift) - 1, 1 << shift, (1u32 << shift) | 1] {
                let bytes = enc(v);
                assert!(bytes.len() <= MAX_LEN);
                assert_eq!(dec(&bytes), Ok((v, bytes.len())));
            }
        }
    }
}
