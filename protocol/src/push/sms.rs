//! WDP over GSM SMS: a WSP PDU as the TP-User-Data of one or more 8-bit SMS (WAP-259-WDP
//! Annex A; 3GPP TS 23.040 §9.2.3.24; FACTS.md F.2).
//!
//! Every segment carries a User Data Header (UDHL, then IEs) with 16-bit application port
//! addressing (IE 0x05: destination, source). A PDU that does not fit one SMS (140 octets with
//! the header) is cut into concatenated segments that add IE 0x00 (8-bit reference) or 0x08
//! (16-bit reference) after the port IE, as Kannel does (`sms.c` prepend_catenation_udh).

use super::PushError;

/// SMPP `esm_class` / TP-UDHI flag: the user data starts with a header (SMPP 3.4 §5.2.12;
/// FACTS F.2).
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// SMPP `data_coding` / TP-DCS for 8-bit data, general group (3GPP TS 23.038 §4; Kannel's
/// default with a UDH, FACTS F.2 and L.9; some operators want 0xF5 instead).
pub const DATA_CODING_8BIT: u8 = 0x04;
/// Octets of TP-User-Data in one 8-bit SMS, header included (FACTS F.2).
pub const MAX_USER_DATA: usize = 140;
/// Most segments one concatenated message can have: the total is one octet.
pub const MAX_SEGMENTS: usize = 255;

const IE_CONCAT_8: u8 = 0x00;
const IE_PORTS_16: u8 = 0x05;
const IE_CONCAT_16: u8 = 0x08;

/// 16-bit application ports of WDP over SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    /// The port the device receives on.
    pub destination: u16,
    /// The sender's port.
    pub source: u16,
}

impl Ports {
    /// Connectionless WSP push port of the device, 2948 (Kannel `CONNECTIONLESS_PUSH_CLIPORT`).
    pub const WAP_PUSH: u16 = 2948;
    /// Connectionless WSP server port, 9200 (Kannel `CONNECTIONLESS_SERVPORT`).
    pub const WSP_CONNECTIONLESS: u16 = 9200;
    /// Push from the WSP server port to the device's push port.
    pub const PUSH: Self = Self { destination: Self::WAP_PUSH, source: Self::WSP_CONNECTIONLESS };
}

/// Concatenation reference, the same in every segment of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatReference {
    /// IE 0x00, one-octet reference.
    Eight(u8),
    /// IE 0x08, two-octet reference.
    Sixteen(u16),
}

impl ConcatReference {
    /// The concatenation IE of segment `seq` (1-based) of `total`.
    fn ie(self, total: u8, seq: u8) -> Vec<u8> {
        match self {
            Self::Eight(r) => vec![IE_CONCAT_8, 3, r, total, seq],
            Self::Sixteen(r) => {
                let [hi, lo] = r.to_be_bytes();
                vec![IE_CONCAT_16, 4, hi, lo, total, seq]
            }
        }
    }
}

/// Cuts a WDP payload (a WSP PDU) into complete TP-User-Data values of at most 140 octets:
/// one SMS with the port IE when it fits (133 payload octets), else concatenated segments
/// (128 octets each with an 8-bit reference, 127 with a 16-bit one). Fails beyond 255 segments.
pub fn segment(
    wdp_payload: &[u8],
    ports: Ports,
    reference: ConcatReference,
) -> Result<Vec<Vec<u8>>, PushError> {
    let [dh, dl] = ports.destination.to_be_bytes();
    let [sh, sl] = ports.source.to_be_bytes();
    let port_ie = [IE_PORTS_16, 4, dh, dl, sh, sl];
    let single = |ies: &[u8], data: &[u8]| {
        let mut ud = Vec::with_capacity(1 + ies.len() + data.len());
        ud.push(ies.len() as u8);
        ud.extend_from_slice(ies);
        ud.extend_from_slice(data);
        ud
    };
    if 1 + port_ie.len() + wdp_payload.len() <= MAX_USER_DATA {
        return Ok(vec![single(&port_ie, wdp_payload)]);
    }
    let udh_len = 1 + port_ie.len() + reference.ie(0, 0).len();
    let chunk = MAX_USER_DATA - udh_len;
    let total = wdp_payload.len().div_ceil(chunk);
    let total = u8::try_from(total).map_err(|_| PushError::TooManySegments { len: wdp_payload.len() })?;
    Ok((1..=total)
        .zip(wdp_payload.chunks(chunk))
        .map(|(seq, data)| {
            let mut ies = port_ie.to_vec();
            ies.extend(reference.ie(total, seq));
            single(&ies, data)
        })
        .collect())
}

/// One segment's header fields and payload.
struct Segment<'a> {
    ports: Ports,
    concat: Option<(ConcatReference, u8, u8)>,
    payload: &'a [u8],
}

/// Reads the UDH of one TP-User-Data; unknown IEs are skipped.
fn parse(ud: &[u8], index: usize) -> Result<Segment<'_>, PushError> {
    if ud.len() > MAX_USER_DATA {
        return Err(PushError::TooLong { len: ud.len(), max: MAX_USER_DATA });
    }
    let udhl = usize::from(*ud.first().ok_or(PushError::UnexpectedEof { offset: 0 })?);
    let udh = ud.get(1..1 + udhl).ok_or(PushError::UnexpectedEof { offset: ud.len() })?;
    let (mut ports, mut concat) = (None, None);
    let mut pos = 0;
    while pos < udh.len() {
        let bad = |reason| PushError::Malformed { offset: 1 + pos, reason };
        let (&id, rest) = udh[pos..].split_first().ok_or_else(|| bad("truncated IE"))?;
        let len = usize::from(*rest.first().ok_or_else(|| bad("truncated IE"))?);
        let data = rest.get(1..1 + len).ok_or_else(|| bad("IE longer than the header"))?;
        match (id, data) {
            (IE_PORTS_16, &[dh, dl, sh, sl]) => {
                let p =
                    Ports { destination: u16::from_be_bytes([dh, dl]), source: u16::from_be_bytes([sh, sl]) };
                if ports.replace(p).is_some() {
                    return Err(bad("two port IEs"));
                }
            }
            (IE_CONCAT_8, &[r, total, seq]) | (IE_CONCAT_16, &[_, r, total, seq]) => {
                let reference = match id {
                    IE_CONCAT_8 => ConcatReference::Eight(r),
                    _ => ConcatReference::Sixteen(u16::from_be_bytes([data[0], r])),
                };
                if concat.replace((reference, total, seq)).is_some() {
                    return Err(bad("two concatenation IEs"));
                }
            }
            (IE_PORTS_16 | IE_CONCAT_8 | IE_CONCAT_16, _) => return Err(bad("IE of the wrong length")),
            _ => {}
        }
        pos += 2 + len;
    }
    let ports = ports.ok_or(PushError::MissingPorts { index })?;
    Ok(Segment { ports, concat, payload: &ud[1 + udhl..] })
}

/// Joins the TP-User-Data of one message, in any order, back into its ports and WDP payload.
/// Checks that every segment has the same ports, reference and total, and that each sequence
/// number 1..=total is there exactly once.
pub fn reassemble<S: AsRef<[u8]>>(segments: &[S]) -> Result<(Ports, Vec<u8>), PushError> {
    if segments.len() > MAX_SEGMENTS {
        return Err(PushError::Reassembly("more than 255 segments"));
    }
    let parsed =
        segments.iter().enumerate().map(|(i, s)| parse(s.as_ref(), i)).collect::<Result<Vec<_>, _>>()?;
    let first = parsed.first().ok_or(PushError::Reassembly("no segments"))?;
    let Some((reference, total, _)) = first.concat else {
        return match parsed.len() {
            1 => Ok((first.ports, first.payload.to_vec())),
            _ => Err(PushError::Reassembly("segment without concatenation IE")),
        };
    };
    if usize::from(total) != parsed.len() {
        return Err(PushError::Reassembly("segment count differs from the total"));
    }
    let mut slots: Vec<Option<&[u8]>> = vec![None; parsed.len()];
    for s in &parsed {
        let (r, t, seq) = s.concat.ok_or(PushError::Reassembly("segment without concatenation IE"))?;
        if r != reference || t != total || s.ports != first.ports {
            return Err(PushError::Reassembly("segments of different messages"));
        }
        let slot = usize::from(seq)
            .checked_sub(1)
            .and_then(|i| slots.get_mut(i))
            .ok_or(PushError::Reassembly("sequence number out of range"))?;
        if slot.replace(s.payload).is_some() {
            return Err(PushError::Reassembly("duplicate sequence number"));
        }
    }
    Ok((first.ports, slots.into_iter().flatten().flatten().copied().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PKG0_PUSH: &[u8] = include_bytes!("../../tests/vectors/push/pkg0_push.bin");
    const CP_PUSH: &[u8] = include_bytes!("../../tests/vectors/push/cp_push_userpin.bin");

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn notification_fits_one_sms_as_in_facts_e3() {
        let ports = Ports { destination: Ports::WAP_PUSH, source: 0xC002 };
        let ud = segment(PKG0_PUSH, ports, ConcatReference::Eight(9)).unwrap();
        assert_eq!(ud.len(), 1);
        assert_eq!(ud[0].len(), 55);
        assert_eq!(
            hex(&ud[0]),
            "0605040b84c002010603c4af872e84b4d47d65793a313fb4b5ffcbaac5\
             02d0000000123412636f6d2e6d676d747372762e6d616e616765"
        );
        assert_eq!(reassemble(&ud).unwrap(), (ports, PKG0_PUSH.to_vec()));
    }

    #[test]
    fn cp_push_is_concatenated_with_8_bit_reference() {
        let ud = segment(CP_PUSH, Ports::PUSH, ConcatReference::Eight(0x42)).unwrap();
        assert_eq!(ud.len(), 3);
        for (i, s) in ud.iter().enumerate() {
            assert!(s.len() <= MAX_USER_DATA);
            assert_eq!(s[..12], [0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x42, 3, i as u8 + 1]);
        }
        assert_eq!(ud[0].len(), 140);
        assert_eq!(ud[1].len(), 140);
        assert_eq!(ud[2].len(), 12 + CP_PUSH.len() - 256);
        let mut shuffled = vec![ud[2].clone(), ud[0].clone(), ud[1].clone()];
        assert_eq!(reassemble(&shuffled).unwrap(), (Ports::PUSH, CP_PUSH.to_vec()));
        shuffled.pop();
        assert!(matches!(reassemble(&shuffled), Err(PushError::Reassembly(_))));
    }

    #[test]
    fn sixteen_bit_reference() {
        let ud = segment(CP_PUSH, Ports::PUSH, ConcatReference::Sixteen(0xBEEF)).unwrap();
        assert_eq!(ud.len(), 3);
        assert_eq!(ud[1][..13], [0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0xBE, 0xEF, 3, 2]);
        assert_eq!(ud[0].len(), 140);
        assert_eq!(reassemble(&ud).unwrap().1, CP_PUSH);
    }

    #[test]
    fn boundaries() {
        let r = ConcatReference::Eight(1);
        assert_eq!(segment(&[7; 133], Ports::PUSH, r).unwrap().len(), 1);
        let two = segment(&[7; 134], Ports::PUSH, r).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].len(), 140);
        assert_eq!(segment(&[], Ports::PUSH, r).unwrap(), vec![vec![6, 5, 4, 0x0B, 0x84, 0x23, 0xF0]]);
        assert_eq!(segment(&vec![0; 255 * 128], Ports::PUSH, r).unwrap().len(), 255);
        assert_eq!(
            segment(&vec![0; 255 * 128 + 1], Ports::PUSH, r),
            Err(PushError::TooManySegments { len: 255 * 128 + 1 })
        );
        assert!(segment(&vec![0; 255 * 127 + 1], Ports::PUSH, ConcatReference::Sixteen(1)).is_err());
    }

    #[test]
    fn reassembly_rejects_inconsistent_segments() {
        let ud = segment(CP_PUSH, Ports::PUSH, ConcatReference::Eight(1)).unwrap();
        let other = segment(CP_PUSH, Ports::PUSH, ConcatReference::Eight(2)).unwrap();
        let err = |s: &[Vec<u8>]| reassemble(s).unwrap_err();
        assert_eq!(
            err(&[ud[0].clone(), other[1].clone(), ud[2].clone()]),
            PushError::Reassembly("segments of different messages")
        );
        assert_eq!(
            err(&[ud[0].clone(), ud[0].clone(), ud[2].clone()]),
            PushError::Reassembly("duplicate sequence number")
        );
        let mut bad_seq = ud.clone();
        bad_seq[2][11] = 0;
        assert_eq!(err(&bad_seq), PushError::Reassembly("sequence number out of range"));
        let no_ports = vec![vec![0x05, 0x00, 0x03, 1, 1, 1, 0xAA]];
        assert_eq!(err(&no_ports), PushError::MissingPorts { index: 0 });
        assert!(matches!(err(&[vec![0x0B, 0x05, 0x04]]), PushError::UnexpectedEof { .. }));
        assert!(matches!(err(&[vec![0x03, 0x05, 0x04, 0x0B]]), PushError::Malformed { .. }));
        assert!(matches!(err(&[vec![0; 141]]), PushError::TooLong { .. }));
        assert_eq!(err(&Vec::<Vec<u8>>::new()), PushError::Reassembly("no segments"));
    }

    #[test]
    fn reassembly_skips_unknown_ies() {
        // IE 0x24 (national language shift) then ports.
        let ud = [0x09, 0x24, 0x01, 0x00, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0xAB];
        assert_eq!(reassemble(&[ud]).unwrap(), (Ports::PUSH, vec![0xAB]));
    }

    proptest! {
        #[test]
        fn segment_then_reassemble_round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..2000),
            r in any::<u16>(),
            sixteen in any::<bool>(),
            src in any::<u16>(),
        ) {
            let reference = if sixteen { ConcatReference::Sixteen(r) } else { ConcatReference::Eight(r as u8) };
            let ports = Ports { destination: Ports::WAP_PUSH, source: src };
            let mut ud = segment(&payload, ports, reference).unwrap();
            prop_assert!(ud.iter().all(|s| s.len() <= MAX_USER_DATA));
            ud.reverse();
            prop_assert_eq!(reassemble(&ud).unwrap(), (ports, payload));
        }

        #[test]
        fn reassemble_never_panics(segs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..150), 0..5)) {
            let _ = reassemble(&segs);
        }
    }
}
