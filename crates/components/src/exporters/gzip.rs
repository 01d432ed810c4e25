//! gzip for request bodies with one compressor kept per exporter. Building a deflate compressor allocates
//! and zeroes about 300 KB, which for a quiet invocation's few kilobytes costs more than compressing them;
//! a compressor reset between bodies keeps its tables, and bodies under [`MIN_GZIP_LEN`] are not compressed.

use std::sync::Mutex;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The gzip header: magic, deflate, no flags, no modification time, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Bodies shorter than this go out uncompressed. Each gzip member costs a compressor reset (about 370 KB of
/// tables zeroed), as much CPU as compressing several kilobytes, and the first compression allocates those
/// tables; a body this short fits in TCP's initial window either way, so gzip would save a few kilobytes
/// and no round trip. OTLP receivers take either, per request (HTTP) or per message (gRPC's flag).
pub const MIN_GZIP_LEN: usize = 4096;

/// A gzip encoder whose compressor is made once and reused; shared by an exporter's clones.
#[derive(Default)]
pub struct Gzip {
    compressor: Mutex<Option<Compress>>,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gzip")
    }
}

impl Gzip {
    /// `raw` as one gzip member when it is at least [`MIN_GZIP_LEN`] long; `None` when it goes out as it is.
    pub fn encode_if_worthwhile(&self, raw: &[u8]) -> Result<Option<Vec<u8>>, std::io::Error> {
        if raw.len() < MIN_GZIP_LEN {
            return Ok(None);
        }
        self.encode(raw).map(Some)
    }

    /// `raw` as one gzip member (RFC 1952), at the fast level.
    pub fn encode(&self, raw: &[u8]) -> Result<Vec<u8>, std::io::Error> {
        let mut slot = self.compressor.lock().unwrap_or_else(|e| e.into_inner());
        let compressor = slot.get_or_insert_with(|| Compress::new(Compression::fast(), false));
        compressor.reset();
        let mut out = Vec::with_capacity(HEADER.len() + raw.len() / 4 + 64);
        out.extend_from_slice(&HEADER);
        let start = compressor.total_in();
        loop {
            let consumed = (compressor.total_in() - start) as usize;
            match compressor.compress_vec(&raw[consumed..], &mut out, FlushCompress::Finish)? {
                Status::StreamEnd => break,
                // Out of room: `compress_vec` writes only into spare capacity.
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(4096)),
            }
        }
        let mut crc = Crc::new();
        crc.update(raw);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32.
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(body).read_to_end(&mut raw).expect("a valid gzip member");
        raw
    }

    #[test]
    fn one_compressor_encodes_body_after_body_that_gzip_decodes_exactly() {
        let gzip = Gzip::default();
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| format!("line {i} of the log\n").into_bytes()).collect();
        let noise: Vec<u8> = (0..300_000u64).map(|i| (i.wrapping_mul(6364136223846793005) >> 56) as u8).collect();
        for body in [&b""[..], b"x", &text, &noise, b"again, after the large ones"] {
            let encoded = gzip.encode(body).unwrap();
            assert_eq!(&encoded[..HEADER.len()], &HEADER);
            assert_eq!(gunzip(&encoded), body);
        }
        // Compressible text shrinks; the same input gives the same bytes whatever came before.
        assert!(gzip.encode(&text).unwrap().len() < text.len() / 4);
        assert_eq!(gzip.encode(b"same").unwrap(), Gzip::default().encode(b"same").unwrap());
    }

    #[test]
    fn short_bodies_are_left_alone_and_never_build_a_compressor() {
        let gzip = Gzip::default();
        assert_eq!(gzip.encode_if_worthwhile(&[b'a'; MIN_GZIP_LEN - 1]).unwrap(), None);
        assert!(gzip.compressor.lock().unwrap().is_none());
        let long = gzip.encode_if_worthwhile(&[b'a'; MIN_GZIP_LEN]).unwrap().expect("compressed");
        assert_eq!(gunzip(&long), [b'a'; MIN_GZIP_LEN]);
    }
}
