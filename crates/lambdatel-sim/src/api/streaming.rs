//! Streamed responses (`Lambda-Runtime-Function-Response-Mode: streaming`): the body comes chunked, and an
//! error that happens once bytes are out comes in trailers instead of an `error` call.

use super::RuntimeResult;

/// The error a streamed response ends with: `Lambda-Runtime-Function-Error-Type` and the base64
/// `Lambda-Runtime-Function-Error-Body` trailers. `None` when the stream ended well.
pub(super) fn streamed_error(trailers: &hyper::HeaderMap) -> Option<RuntimeResult> {
    let error_type = trailers.get("Lambda-Runtime-Function-Error-Type")?.to_str().ok()?.to_string();
    let body = trailers
        .get("Lambda-Runtime-Function-Error-Body")
        .map(|v| base64_decode(v.as_bytes()).unwrap_or_else(|| v.as_bytes().to_vec()))
        .unwrap_or_default();
    Some(RuntimeResult::Error { error_type, body: body.into() })
}

/// Standard base64 (padding optional); `None` for anything else.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    let text = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_error_comes_from_the_trailers() {
        let mut trailers = hyper::HeaderMap::new();
        assert!(streamed_error(&trailers).is_none());
        trailers.insert("lambda-runtime-function-error-type", "Runtime.StreamError".parse().unwrap());
        // base64 of {"errorMessage":"cut"}
        trailers.insert("lambda-runtime-function-error-body", "eyJlcnJvck1lc3NhZ2UiOiJjdXQifQ==".parse().unwrap());
        let Some(RuntimeResult::Error { error_type, body }) = streamed_error(&trailers) else { panic!() };
        assert_eq!((error_type.as_str(), &body[..]), ("Runtime.StreamError", &br#"{"errorMessage":"cut"}"#[..]));
        assert_eq!(base64_decode(b"AP8A/w").unwrap(), [0, 255, 0, 255]);
        assert_eq!(base64_decode(b"not base64!"), None);
    }
}
