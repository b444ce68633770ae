//! The WBXML token tables of OMA Client Provisioning (`-//WAPFORUM//DTD PROV 1.0//EN`, public
//! id 0x0B; WAP-183-ProvCont and OMA-WAP-ProvCont-v1_1 §7; FACTS.md G.2, G.3).
//!
//! Sources: libwbxml `sv_prov10_*` tables, Mozilla `CpPduHelper.jsm` and Kannel
//! `ota_compiler.c`, which agree on every value here. Entries only Kannel has (FACTS.md G.3,
//! L.12) are read but never written, so that what we send decodes everywhere.

/// The three elements of the PROV DTD. Pages 0 and 1 both hold `characteristic` and `parm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// `<wap-provisioningdoc>`, page 0 only.
    ProvisioningDoc,
    /// `<characteristic>`.
    Characteristic,
    /// `<parm>`.
    Parm,
}

/// Tag tokens: (page, token without the 0x40/0x80 flags, element) (FACTS.md G.2).
pub const TAGS: &[(u8, u8, Element)] = &[
    (0, 0x05, Element::ProvisioningDoc),
    (0, 0x06, Element::Characteristic),
    (0, 0x07, Element::Parm),
    (1, 0x06, Element::Characteristic),
    (1, 0x07, Element::Parm),
];

/// The element of a tag token on `page`.
pub fn element(page: u8, token: u8) -> Option<Element> {
    TAGS.iter().find(|(p, t, _)| *p == page && *t == token).map(|(_, _, e)| *e)
}

/// The attributes of the PROV DTD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    /// `version` of `wap-provisioningdoc`.
    Version,
    /// `type` of `characteristic`.
    Type,
    /// `name` of `parm`.
    Name,
    /// `value` of `parm`.
    Value,
}

impl Attr {
    /// The attribute name in XML.
    pub const fn name(self) -> &'static str {
        match self {
            Attr::Version => "version",
            Attr::Type => "type",
            Attr::Name => "name",
            Attr::Value => "value",
        }
    }
}

/// One attribute-start token: the attribute and the value prefix it carries ("" for none).
#[derive(Clone, Copy, Debug)]
pub struct AttrStart {
    /// Code page.
    pub page: u8,
    /// Token (< 0x80).
    pub token: u8,
    /// The attribute it starts.
    pub attr: Attr,
    /// The value it implies (the whole value for the PROV tables), "" for a bare name.
    pub prefix: &'static str,
    /// Written by our encoder (false: single-source entries, read only).
    pub write: bool,
}

const fn s(page: u8, token: u8, attr: Attr, prefix: &'static str) -> AttrStart {
    AttrStart { page, token, attr, prefix, write: true }
}

const fn read_only(page: u8, token: u8, attr: Attr, prefix: &'static str) -> AttrStart {
    AttrStart { page, token, attr, prefix, write: false }
}

use Attr::{Name as N, Type as T};

/// Attribute-start tokens of pages 0 and 1 (FACTS.md G.3).
pub const ATTR_STARTS: &[AttrStart] = &[
    // Page 0: wap-provisioningdoc.
    s(0, 0x45, Attr::Version, ""),
    s(0, 0x46, Attr::Version, "1.0"),
    // Page 0: characteristic types.
    s(0, 0x50, T, ""),
    s(0, 0x51, T, "PXLOGICAL"),
    s(0, 0x52, T, "PXPHYSICAL"),
    s(0, 0x53, T, "PORT"),
    s(0, 0x54, T, "VALIDITY"),
    s(0, 0x55, T, "NAPDEF"),
    s(0, 0x56, T, "BOOTSTRAP"),
    s(0, 0x57, T, "VENDORCONFIG"),
    s(0, 0x58, T, "CLIENTIDENTITY"),
    s(0, 0x59, T, "PXAUTHINFO"),
    s(0, 0x5A, T, "NAPAUTHINFO"),
    s(0, 0x5B, T, "ACCESS"),
    read_only(0, 0x5C, T, "BEARERINFO"),
    read_only(0, 0x5D, T, "DNS-ADDRINFO"),
    // Page 0: parm name and value.
    s(0, 0x05, N, ""),
    s(0, 0x06, Attr::Value, ""),
    s(0, 0x07, N, "NAME"),
    s(0, 0x08, N, "NAP-ADDRESS"),
    s(0, 0x09, N, "NAP-ADDRTYPE"),
    s(0, 0x0A, N, "CALLTYPE"),
    s(0, 0x0B, N, "VALIDUNTIL"),
    s(0, 0x0C, N, "AUTHTYPE"),
    s(0, 0x0D, N, "AUTHNAME"),
    s(0, 0x0E, N, "AUTHSECRET"),
    s(0, 0x0F, N, "LINGER"),
    s(0, 0x10, N, "BEARER"),
    s(0, 0x11, N, "NAPID"),
    s(0, 0x12, N, "COUNTRY"),
    s(0, 0x13, N, "NETWORK"),
    s(0, 0x14, N, "INTERNET"),
    s(0, 0x15, N, "PROXY-ID"),
    s(0, 0x16, N, "PROXY-PROVIDER-ID"),
    s(0, 0x17, N, "DOMAIN"),
    s(0, 0x18, N, "PROVURL"),
    s(0, 0x19, N, "PXAUTH-TYPE"),
    s(0, 0x1A, N, "PXAUTH-ID"),
    s(0, 0x1B, N, "PXAUTH-PW"),
    s(0, 0x1C, N, "STARTPAGE"),
    s(0, 0x1D, N, "BASAUTH-ID"),
    s(0, 0x1E, N, "BASAUTH-PW"),
    s(0, 0x1F, N, "PUSHENABLED"),
    s(0, 0x20, N, "PXADDR"),
    s(0, 0x21, N, "PXADDRTYPE"),
    s(0, 0x22, N, "TO-NAPID"),
    s(0, 0x23, N, "PORTNBR"),
    s(0, 0x24, N, "SERVICE"),
    s(0, 0x25, N, "LINKSPEED"),
    s(0, 0x26, N, "DNLINKSPEED"),
    s(0, 0x27, N, "LOCAL-ADDR"),
    s(0, 0x28, N, "LOCAL-ADDRTYPE"),
    s(0, 0x29, N, "CONTEXT-ALLOW"),
    s(0, 0x2A, N, "TRUST"),
    s(0, 0x2B, N, "MASTER"),
    s(0, 0x2C, N, "SID"),
    s(0, 0x2D, N, "SOC"),
    s(0, 0x2E, N, "WSP-VERSION"),
    s(0, 0x2F, N, "PHYSICAL-PROXY-ID"),
    s(0, 0x30, N, "CLIENT-ID"),
    s(0, 0x31, N, "DELIVERY-ERR-SDU"),
    s(0, 0x32, N, "DELIVERY-ORDER"),
    s(0, 0x33, N, "TRAFFIC-CLASS"),
    s(0, 0x34, N, "MAX-SDU-SIZE"),
    s(0, 0x35, N, "MAX-BITRATE-UPLINK"),
    s(0, 0x36, N, "MAX-BITRATE-DNLINK"),
    s(0, 0x37, N, "RESIDUAL-BER"),
    s(0, 0x38, N, "SDU-ERROR-RATIO"),
    s(0, 0x39, N, "TRAFFIC-HANDL-PRIO"),
    s(0, 0x3A, N, "TRANSFER-DELAY"),
    s(0, 0x3B, N, "GUARANTEED-BITRATE-UPLINK"),
    s(0, 0x3C, N, "GUARANTEED-BITRATE-DNLINK"),
    s(0, 0x3D, N, "PXADDR-FQDN"),
    s(0, 0x3E, N, "PROXY-PW"),
    s(0, 0x3F, N, "PPGAUTH-TYPE"),
    s(0, 0x47, N, "PULLENABLED"),
    s(0, 0x48, N, "DNS-ADDR"),
    s(0, 0x49, N, "MAX-NUM-RETRY"),
    s(0, 0x4A, N, "FIRST-RETRY-TIMEOUT"),
    s(0, 0x4B, N, "REREG-THRESHOLD"),
    s(0, 0x4C, N, "T-BIT"),
    s(0, 0x4E, N, "AUTH-ENTITY"),
    s(0, 0x4F, N, "SPI"),
    // Page 1 (OMA ProvCont 1.1 additions; the w7 parameters live here).
    s(1, 0x05, N, ""),
    s(1, 0x06, Attr::Value, ""),
    s(1, 0x07, N, "NAME"),
    s(1, 0x14, N, "INTERNET"),
    s(1, 0x1C, N, "STARTPAGE"),
    s(1, 0x22, N, "TO-NAPID"),
    s(1, 0x23, N, "PORTNBR"),
    s(1, 0x24, N, "SERVICE"),
    s(1, 0x2E, N, "AACCEPT"),
    s(1, 0x2F, N, "AAUTHDATA"),
    s(1, 0x30, N, "AAUTHLEVEL"),
    s(1, 0x31, N, "AAUTHNAME"),
    s(1, 0x32, N, "AAUTHSECRET"),
    s(1, 0x33, N, "AAUTHTYPE"),
    s(1, 0x34, N, "ADDR"),
    s(1, 0x35, N, "ADDRTYPE"),
    s(1, 0x36, N, "APPID"),
    s(1, 0x37, N, "APROTOCOL"),
    s(1, 0x38, N, "PROVIDER-ID"),
    s(1, 0x39, N, "TO-PROXY"),
    s(1, 0x3A, N, "URI"),
    s(1, 0x3B, N, "RULE"),
    read_only(1, 0x3C, N, "APPREF"),
    read_only(1, 0x3D, N, "TO-APPREF"),
    s(1, 0x50, T, ""),
    s(1, 0x53, T, "PORT"),
    s(1, 0x55, T, "APPLICATION"),
    s(1, 0x56, T, "APPADDR"),
    s(1, 0x57, T, "APPAUTH"),
    s(1, 0x58, T, "CLIENTIDENTITY"),
    s(1, 0x59, T, "RESOURCE"),
];

/// The attribute-start token `token` of `page`.
pub fn attr_start(page: u8, token: u8) -> Option<&'static AttrStart> {
    ATTR_STARTS.iter().find(|a| a.page == page && a.token == token)
}

/// The writable attribute-start token for `attr` with the whole value `prefix` ("" for the
/// bare name), preferring `page` (the current attribute page, so that no SWITCH_PAGE is
/// needed), then page 0, then page 1.
pub fn find_attr_start(attr: Attr, prefix: &str, page: u8) -> Option<&'static AttrStart> {
    let mut found = ATTR_STARTS.iter().filter(|a| a.write && a.attr == attr && a.prefix == prefix);
    let first = found.next()?;
    Some(std::iter::once(first).chain(found).find(|a| a.page == page).unwrap_or(first))
}

/// One attribute-value token: a string it stands for.
#[derive(Clone, Copy, Debug)]
pub struct AttrValue {
    /// Code page.
    pub page: u8,
    /// Token (>= 0x85, outside the global 0xC0-0xC4).
    pub token: u8,
    /// The string.
    pub text: &'static str,
    /// Written by our encoder. Page-1 0x90-0x93 (AAUTHTYPE pieces) are read only: Wireshark
    /// does not know them and FACTS.md G.3 recommends strings; Kannel-only ones likewise.
    pub write: bool,
}

const fn v(page: u8, token: u8, text: &'static str) -> AttrValue {
    AttrValue { page, token, text, write: true }
}

const fn v_read(page: u8, token: u8, text: &'static str) -> AttrValue {
    AttrValue { page, token, text, write: false }
}

/// Attribute-value tokens of pages 0 and 1 (FACTS.md G.3).
pub const ATTR_VALUES: &[AttrValue] = &[
    // Page 0: address types.
    v(0, 0x85, "IPV4"),
    v(0, 0x86, "IPV6"),
    v(0, 0x87, "E164"),
    v(0, 0x88, "ALPHA"),
    v(0, 0x89, "APN"),
    v(0, 0x8A, "SCODE"),
    v(0, 0x8B, "TETRA-ITSI"),
    v(0, 0x8C, "MAN"),
    // Call types.
    v(0, 0x90, "ANALOG-MODEM"),
    v(0, 0x91, "V.120"),
    v(0, 0x92, "V.110"),
    v(0, 0x93, "X.31"),
    v(0, 0x94, "BIT-TRANSPARENT"),
    v(0, 0x95, "DIRECT-ASYNCHRONOUS-DATA-SERVICE"),
    // Authentication types.
    v(0, 0x9A, "PAP"),
    v(0, 0x9B, "CHAP"),
    v(0, 0x9C, "HTTP-BASIC"),
    v(0, 0x9D, "HTTP-DIGEST"),
    v(0, 0x9E, "WTLS-SS"),
    v(0, 0x9F, "MD5"),
    // Bearers.
    v(0, 0xA2, "GSM-USSD"),
    v(0, 0xA3, "GSM-SMS"),
    v(0, 0xA4, "ANSI-136-GUTS"),
    v(0, 0xA5, "IS-95-CDMA-SMS"),
    v(0, 0xA6, "IS-95-CDMA-CSD"),
    v(0, 0xA7, "IS-95-CDMA-PACKET"),
    v(0, 0xA8, "ANSI-136-CSD"),
    v(0, 0xA9, "ANSI-136-GPRS"),
    v(0, 0xAA, "GSM-CSD"),
    v(0, 0xAB, "GSM-GPRS"),
    v(0, 0xAC, "AMPS-CDPD"),
    v(0, 0xAD, "PDC-CSD"),
    v(0, 0xAE, "PDC-PACKET"),
    v(0, 0xAF, "IDEN-SMS"),
    v(0, 0xB0, "IDEN-CSD"),
    v(0, 0xB1, "IDEN-PACKET"),
    v(0, 0xB2, "FLEX/REFLEX"),
    v(0, 0xB3, "PHS-SMS"),
    v(0, 0xB4, "PHS-CSD"),
    v(0, 0xB5, "TETRA-SDS"),
    v(0, 0xB6, "TETRA-PACKET"),
    v(0, 0xB7, "ANSI-136-GHOST"),
    v(0, 0xB8, "MOBITEX-MPAK"),
    v(0, 0xB9, "CDMA2000-1X-SIMPLE-IP"),
    v(0, 0xBA, "CDMA2000-1X-MOBILE-IP"),
    v_read(0, 0xBB, "3G-GSM"),
    v_read(0, 0xBC, "WLAN"),
    // Link speed.
    v(0, 0xC5, "AUTOBAUDING"),
    // Services.
    v(0, 0xCA, "CL-WSP"),
    v(0, 0xCB, "CO-WSP"),
    v(0, 0xCC, "CL-SEC-WSP"),
    v(0, 0xCD, "CO-SEC-WSP"),
    v(0, 0xCE, "CL-SEC-WTA"),
    v(0, 0xCF, "CO-SEC-WTA"),
    v(0, 0xD0, "OTA-HTTP-TO"),
    v(0, 0xD1, "OTA-HTTP-TLS-TO"),
    v(0, 0xD2, "OTA-HTTP-PO"),
    v(0, 0xD3, "OTA-HTTP-TLS-PO"),
    // Authentication entities.
    v(0, 0xE0, "AAA"),
    v(0, 0xE1, "HA"),
    // Page 1.
    v(1, 0x86, "IPV6"),
    v(1, 0x87, "E164"),
    v(1, 0x88, "ALPHA"),
    v(1, 0x8D, "APPSRV"),
    v(1, 0x8E, "OBEX"),
    v_read(1, 0x90, ","),
    v_read(1, 0x91, "HTTP-"),
    v_read(1, 0x92, "BASIC"),
    v_read(1, 0x93, "DIGEST"),
];

/// The attribute-value token `token` of `page`.
pub fn attr_value(page: u8, token: u8) -> Option<&'static AttrValue> {
    ATTR_VALUES.iter().find(|a| a.page == page && a.token == token)
}

/// Parms whose whole value our encoder writes as a value token when one matches: the
/// enumerated parameters of ProvCont (address types, call types, authentication types,
/// bearers, link speeds, services, authentication entities). Every other value, AAUTHLEVEL
/// and AAUTHTYPE included, is an inline string (FACTS.md G.3 recommendation).
pub const TOKENIZED_VALUE_PARMS: &[&str] = &[
    "NAP-ADDRTYPE",
    "PXADDRTYPE",
    "LOCAL-ADDRTYPE",
    "CALLTYPE",
    "AUTHTYPE",
    "PXAUTH-TYPE",
    "BEARER",
    "LINKSPEED",
    "DNLINKSPEED",
    "SERVICE",
    "AUTH-ENTITY",
];

/// The writable value token for the whole value `text`, preferring `page`, then page 0.
pub fn find_attr_value(text: &str, page: u8) -> Option<&'static AttrValue> {
    let mut found = ATTR_VALUES.iter().filter(|a| a.write && a.text == text);
    let first = found.next()?;
    Some(std::iter::once(first).chain(found).find(|a| a.page == page).unwrap_or(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_per_page_and_outside_the_globals() {
        for (i, a) in ATTR_STARTS.iter().enumerate() {
            assert!(a.token >= 0x05 && a.token < 0x80 && !(0x40..=0x44).contains(&a.token), "{a:?}");
            assert!(ATTR_STARTS[i + 1..].iter().all(|b| (b.page, b.token) != (a.page, a.token)), "{a:?}");
        }
        for (i, a) in ATTR_VALUES.iter().enumerate() {
            assert!(a.token >= 0x85 && !(0xC0..=0xC4).contains(&a.token), "{a:?}");
            assert!(ATTR_VALUES[i + 1..].iter().all(|b| (b.page, b.token) != (a.page, a.token)), "{a:?}");
        }
    }

    #[test]
    fn lookups_prefer_the_current_page() {
        assert_eq!(find_attr_start(N, "NAME", 1).map(|a| (a.page, a.token)), Some((1, 0x07)));
        assert_eq!(find_attr_start(N, "NAME", 0).map(|a| (a.page, a.token)), Some((0, 0x07)));
        assert_eq!(find_attr_start(N, "APPID", 0).map(|a| (a.page, a.token)), Some((1, 0x36)));
        assert_eq!(find_attr_start(T, "APPLICATION", 0).map(|a| (a.page, a.token)), Some((1, 0x55)));
        assert_eq!(find_attr_start(Attr::Value, "", 1).map(|a| (a.page, a.token)), Some((1, 0x06)));
        assert!(find_attr_start(T, "BEARERINFO", 0).is_none(), "read only");
        assert!(find_attr_value("DIGEST", 1).is_none(), "AAUTHTYPE pieces are never written");
        assert_eq!(find_attr_value("GSM-GPRS", 1).map(|a| (a.page, a.token)), Some((0, 0xAB)));
        assert_eq!(attr_value(1, 0x93).map(|a| a.text), Some("DIGEST"));
    }
}
