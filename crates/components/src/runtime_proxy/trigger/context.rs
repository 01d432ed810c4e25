//! Caller trace contexts found in events: W3C `traceparent`/`tracestate` and X-Ray `X-Amzn-Trace-Id`.
//!
//! Every value is untrusted text from the function's callers: anything malformed yields `None`, never a panic.

use crate::receivers::telemetry_api::xray::{decode_hex, parse_xray};

/// A remote span context: the parent of an HTTP invocation, or a link to a message's producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContext {
    /// 16-byte trace id, never all zeros.
    pub trace_id: [u8; 16],
    /// 8-byte span id of the remote span, never all zeros.
    pub span_id: [u8; 8],
    /// The W3C `tracestate` that came with a `traceparent`, as sent (empty for X-Ray).
    pub trace_state: String,
    /// The sampled flag, when the header carries a decided one.
    pub sampled: Option<bool>,
}

/// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), with its `tracestate` if any.
///
/// Follows the W3C rules a receiver must apply: lowercase hex only, version `ff` is invalid, version `00` has
/// exactly four fields, a higher version may append fields after a `-`, and all-zero ids are invalid.
pub fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<RemoteContext> {
    let value = traceparent.trim();
    let bytes = value.as_bytes();
    if bytes.len() < 55 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let version = &value[..2];
    if !is_lower_hex(version) || version == "ff" || (version == "00" && bytes.len() != 55) {
        return None;
    }
    if bytes.len() > 55 && bytes[55] != b'-' {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let (trace_hex, span_hex, flags_hex) = (&value[3..35], &value[36..52], &value[53..55]);
    if !is_lower_hex(trace_hex) || !is_lower_hex(span_hex) || !is_lower_hex(flags_hex) {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    let mut flags = [0u8; 1];
    if !decode_hex(trace_hex, &mut trace_id)
        || !decode_hex(span_hex, &mut span_id)
        || !decode_hex(flags_hex, &mut flags)
    {
        return None;
    }
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(RemoteContext {
        trace_id,
        span_id,
        trace_state: tracestate.map(str::trim).unwrap_or_default().to_string(),
        sampled: Some(flags[0] & 1 == 1),
    })
}

/// An X-Ray header as a remote context: only when it names both the trace (`Root`) and the caller's span
/// (`Parent`), since a trace id alone gives nothing to parent or link to.
pub fn parse_xray_context(header: &str) -> Option<RemoteContext> {
    let xray = parse_xray(header)?;
    Some(RemoteContext {
        trace_id: xray.trace_id,
        span_id: xray.parent_id?,
        trace_state: String::new(),
        sampled: xray.sampled,
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: [u8; 16] =
        [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
    const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

    #[test]
    fn parses_a_w3c_traceparent_with_its_tracestate() {
        let got =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Some(" congo=t61rcWkgMzE "));
        assert_eq!(
            got,
            Some(RemoteContext {
                trace_id: TRACE,
                span_id: SPAN,
                trace_state: "congo=t61rcWkgMzE".into(),
                sampled: Some(true)
            })
        );
        let unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", None).unwrap();
        assert_eq!((unsampled.sampled, unsampled.trace_state.as_str()), (Some(false), ""));
    }

    #[test]
    fn accepts_a_future_version_with_extra_fields() {
        let got =
            parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", None);
        assert_eq!(got.map(|c| (c.trace_id, c.span_id)), Some((TRACE, SPAN)));
    }

    #[test]
    fn rejects_every_malformed_traceparent() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9é2b7-01",
        ] {
            assert_eq!(parse_traceparent(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn an_xray_header_needs_a_parent_to_be_a_context() {
        let got =
            parse_xray_context("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        assert_eq!(got.span_id, [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]);
        assert_eq!(got.trace_id[..4], [0x57, 0x59, 0xe9, 0x88]);
        assert_eq!(got.sampled, Some(true));
        assert_eq!(parse_xray_context("Root=1-5e9f0c65-1de4d666d4dd26aced652b6c"), None);
        assert_eq!(parse_xray_context("Root=garbage;Parent=53995c3f42cd8ad8"), None);
    }
}
