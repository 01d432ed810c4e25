//! gzip for request bodies with one compressor kept per exporter. Building a deflate compressor allocates
//! and zeroes about 300 KB, which for a quiet invocation's few kilobytes costs more than compressing them;
//! a compressor reset between bodies keeps its tables, and bodies under [`MIN_GZIP_LEN`] are not compressed.

use std::{
    io::Write,
    sync::{Mutex, MutexGuard},
};

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
        let mut writer = self.writer(0, raw.len());
        writer.write_all(raw)?;
        writer.finish()
    }

    /// One gzip member written in pieces, so that what it compresses need not be in memory whole. The output
    /// starts with `reserved` zero bytes (room for a gRPC message prefix); `expected` is the input's length,
    /// if known, to size the output.
    pub fn writer(&self, reserved: usize, expected: usize) -> GzipWriter<'_> {
        let mut compressor = self.compressor.lock().unwrap_or_else(|e| e.into_inner());
        compressor.get_or_insert_with(|| Compress::new(Compression::fast(), false)).reset();
        let mut out = Vec::with_capacity(reserved + HEADER.len() + expected / 4 + 64);
        out.resize(reserved, 0);
        out.extend_from_slice(&HEADER);
        GzipWriter { compressor, out, crc: Crc::new() }
    }
}

/// A gzip member being written: [`Write`] the input, then [`finish`](GzipWriter::finish). Holds the
/// exporter's compressor until then.
pub struct GzipWriter<'a> {
    compressor: MutexGuard<'a, Option<Compress>>,
    out: Vec<u8>,
    crc: Crc,
}

impl GzipWriter<'_> {
    /// The whole member: the reserved bytes, header, deflate stream, CRC-32 and input length.
    pub fn finish(mut self) -> Result<Vec<u8>, std::io::Error> {
        self.compress(&[], FlushCompress::Finish)?;
        let mut out = self.out;
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32.
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        Ok(out)
    }

    fn compress(&mut self, mut raw: &[u8], flush: FlushCompress) -> Result<(), std::io::Error> {
        let compressor = self.compressor.as_mut().expect("made by Gzip::writer");
        loop {
            // `compress_vec` writes only into spare capacity.
            if self.out.capacity() - self.out.len() < 1024 {
                self.out.reserve(self.out.capacity().max(4096));
            }
            let before = compressor.total_in();
            let status = compressor.compress_vec(raw, &mut self.out, flush)?;
            raw = &raw[(compressor.total_in() - before) as usize..];
            match status {
                Status::StreamEnd => return Ok(()),
                // Without a flush, input taken in is all that is asked: the rest comes out later.
                _ if raw.is_empty() && flush == FlushCompress::None => return Ok(()),
                _ => {}
            }
        }
    }
}

impl Write for GzipWriter<'_> {
    fn write(&mut self, raw: &[u8]) -> std::io::Result<usize> {
        self.crc.update(raw);
        self.compress(raw, FlushCompress::None)?;
        Ok(raw.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
    fn a_member_written_in_pieces_is_the_member_of_the_whole() {
        let gzip = Gzip::default();
        let text: Vec<u8> = (0..50_000u32).flat_map(|i| format!("piece {i}\n").into_bytes()).collect();
        let mut writer = gzip.writer(5, text.len());
        for piece in text.chunks(7_777) {
            writer.write_all(piece).unwrap();
        }
        let member = writer.finish().unwrap();
        assert_eq!(&member[..5], &[0; 5], "the reserved bytes come first");
        assert_eq!(gunzip(&member[5..]), text);
        assert_eq!(member[5..], gzip.encode(&text).unwrap());
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
