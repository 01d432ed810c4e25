//! Random identifiers in the formats Lambda uses: request/extension ids (UUID v4 text) and
//! X-Ray trace headers.

use std::time::{SystemTime, UNIX_EPOCH};

fn hex(n: usize) -> String {
    (0..n).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect()
}

/// A random UUID v4 in its canonical text form.
pub fn uuid() -> String {
    let variant = char::from_digit(fastrand::u32(8..12), 16).unwrap_or('8');
    format!("{}-{}-4{}-{}{}-{}", hex(8), hex(4), hex(3), variant, hex(3), hex(12))
}

/// A random 16-hex-digit span id.
pub fn span_id() -> String {
    hex(16)
}

/// A new sampled X-Ray trace header `Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=1`.
pub fn trace_header() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("Root=1-{secs:08x}-{};Parent={};Sampled=1", hex(24), span_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let u = uuid();
        let parts: Vec<_> = u.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        let t = trace_header();
        assert!(t.starts_with("Root=1-") && t.ends_with(";Sampled=1"), "{t}");
        assert_eq!(t.split(';').nth(1).unwrap().len(), "Parent=".len() + 16);
        assert_ne!(uuid(), uuid());
    }
}
