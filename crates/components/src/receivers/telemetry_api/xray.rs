//! Parsing of the X-Ray trace header (`X-Amzn-Trace-Id`) that Lambda hands out in `tracing.value`.
//!
//! The header is untrusted text: anything malformed yields `None` so that the caller makes fresh ids,
//! and no input can panic.

/// The trace context carried by an X-Ray header, already in OTLP's byte layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XrayContext {
    /// `Root=1-<8 hex>-<24 hex>`: the two hex parts joined into a 16-byte trace id.
    pub trace_id: [u8; 16],
    /// `Parent=<16 hex>`: the span id of the caller, when the header names one.
    pub parent_id: Option<[u8; 8]>,
    /// `Sampled=1` or `Sampled=0`; `None` when absent or undecided (`Sampled=?`).
    pub sampled: Option<bool>,
}

/// Parses an X-Ray header such as `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`.
///
/// Keys may come in any order, with spaces around them, and extra keys (`Lineage`, `Self`) are ignored.
/// Returns `None` when `Root` is missing or malformed, when `Parent` is present but malformed, or when an id
/// is all zeros (invalid in OTLP).
pub fn parse_xray(header: &str) -> Option<XrayContext> {
    let mut trace_id = None;
    let mut parent_id = None;
    let mut sampled = None;
    for part in header.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=')?;
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("Root") {
            trace_id = Some(parse_root(value)?);
        } else if key.eq_ignore_ascii_case("Parent") {
            let mut id = [0u8; 8];
            if value.len() != 16 || !decode_hex(value, &mut id) || id == [0; 8] {
                return None;
            }
            parent_id = Some(id);
        } else if key.eq_ignore_ascii_case("Sampled") {
            sampled = match value {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            };
        }
    }
    Some(XrayContext { trace_id: trace_id?, parent_id, sampled })
}

/// `1-<8 hex epoch>-<24 hex random>` -> 16 bytes.
fn parse_root(value: &str) -> Option<[u8; 16]> {
    let mut parts = value.split('-');
    let (version, epoch, random) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || version != "1" || epoch.len() != 8 || random.len() != 24 {
        return None;
    }
    let mut id = [0u8; 16];
    let (head, tail) = id.split_at_mut(4);
    if !decode_hex(epoch, head) || !decode_hex(random, tail) || id == [0; 16] {
        return None;
    }
    Some(id)
}

/// Decodes `hex` (exactly twice `out.len()` hex digits, either case) into `out`.
pub(crate) fn decode_hex(hex: &str, out: &mut [u8]) -> bool {
    decode_hex_bytes(hex.as_bytes(), out)
}

/// [`decode_hex`] on bytes.
pub(crate) fn decode_hex_bytes(bytes: &[u8], out: &mut [u8]) -> bool {
    if bytes.len() != out.len() * 2 {
        return false;
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(h), Some(l)) => *slot = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: [u8; 16] =
        [0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93];
    const PARENT: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];

    #[test]
    fn parses_the_lambda_form() {
        let got = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(got, Some(XrayContext { trace_id: TRACE, parent_id: Some(PARENT), sampled: Some(true) }));
    }

    #[test]
    fn accepts_any_order_spaces_extra_keys_and_uppercase_hex() {
        let got = parse_xray(
            " Sampled=0 ; Lineage=a87bd80c:1|68fd508a:5 ;Parent=53995C3F42CD8AD8; Root=1-5759E988-BD862E3FE1BE46A994272793;",
        );
        assert_eq!(got, Some(XrayContext { trace_id: TRACE, parent_id: Some(PARENT), sampled: Some(false) }));
    }

    #[test]
    fn parent_and_sampled_are_optional() {
        let got = parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?");
        assert_eq!(got, Some(XrayContext { trace_id: TRACE, parent_id: None, sampled: None }));
    }

    #[test]
    fn malformed_headers_are_none() {
        for bad in [
            "",
            "Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a9942727934",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98g-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793-00",
            "Root=1-00000000-000000000000000000000000",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
            "Root=1-5759e988-bd862e3fe1be46a994272793;garbage",
            "Root=1-5759e988-bd862e3fe1be46a99427279é",
            "Root=1-é759e988-bd862e3fe1be46a994272793",
        ] {
            assert_eq!(parse_xray(bad), None, "{bad:?}");
        }
    }
}
