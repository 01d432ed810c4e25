//! The body of an `otlp` export. tonic would copy each encoded message into a buffer of its own (for a chatty
//! flush, a second copy of a request of a megabyte or more) and build a new gzip compressor for every message.
//! So the exporter encodes each request once, already framed as a gRPC message ([`Framed`]), and hands it to
//! this wrapper around the channel in the request's extensions, while tonic encodes an empty placeholder in its
//! place (see [`PlaceholderCodec`](super::encoded::PlaceholderCodec)). The wrapper sends the frame as the body,
//! gzipped with the exporter's one compressor when worthwhile ([`MIN_GZIP_LEN`](super::gzip::MIN_GZIP_LEN)) and
//! said so in `grpc-encoding`, as tonic would have.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use tonic::codegen::{
    http::{HeaderValue, Request},
    Service,
};

use super::gzip::Gzip;

/// The gRPC message prefix: a compressed flag and a big-endian length.
pub(crate) const PREFIX: usize = 5;

/// One gRPC request message, framed: the compressed flag (0), the big-endian length, then the message.
#[derive(Clone)]
pub(crate) struct Framed(pub(crate) Bytes);

/// A gRPC channel that sends the [`Framed`] message of each request as its body, gzipped when it holds a
/// compressor and the message is long enough. A request without one goes as tonic made it.
#[derive(Clone)]
pub(crate) struct FramedBodies<S> {
    inner: S,
    gzip: Option<Arc<Gzip>>,
}

impl<S> FramedBodies<S> {
    pub(crate) fn new(inner: S, gzip: Option<Arc<Gzip>>) -> Self {
        FramedBodies { inner, gzip }
    }
}

impl<S> Service<Request<tonic::body::Body>> for FramedBodies<S>
where
    S: Service<Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<tonic::body::Body>) -> Self::Future {
        if let Some(Framed(frame)) = request.extensions_mut().remove::<Framed>() {
            let body = match self.gzip.as_deref().and_then(|gzip| gzipped(gzip, &frame)) {
                Some(compressed) => {
                    request.headers_mut().insert("grpc-encoding", HeaderValue::from_static("gzip"));
                    compressed
                }
                None => frame,
            };
            *request.body_mut() = tonic::body::Body::new(Full::new(body));
        }
        self.inner.call(request)
    }
}

/// The message of `frame` gzipped and framed as compressed, when it is long enough to be worth it. A
/// compressor that fails (it writes to memory, so it does not) leaves the frame as it is.
fn gzipped(gzip: &Gzip, frame: &[u8]) -> Option<Bytes> {
    let compressed = gzip.encode_if_worthwhile(frame.get(PREFIX..)?).ok()??;
    let length = u32::try_from(compressed.len()).ok()?;
    let mut out = Vec::with_capacity(PREFIX + compressed.len());
    out.push(1);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&compressed);
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use lambdatel_pipeline::{Signal, Signals, WriteFlag};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;
    use crate::exporters::{
        gzip::MIN_GZIP_LEN,
        otlp_grpc::{Compression, OtlpGrpcConfig, OtlpGrpcExporter},
        test_support,
    };

    fn framed(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn a_long_message_is_gzipped_and_flagged_a_short_one_left_as_it_is() {
        let gzip = Gzip::default();
        for long in [vec![b'a'; 100_000], vec![b'b'; MIN_GZIP_LEN]] {
            let out = gzipped(&gzip, &framed(&long)).expect("compressed");
            assert_eq!(out[0], 1, "flagged as compressed");
            let length = u32::from_be_bytes(out[1..5].try_into().unwrap()) as usize;
            assert_eq!(length, out.len() - PREFIX);
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&out[PREFIX..]).read_to_end(&mut plain).unwrap();
            assert_eq!(plain, long);
        }
        assert!(gzipped(&gzip, &framed(&[b'c'; MIN_GZIP_LEN - 1])).is_none());
        assert!(gzipped(&gzip, &framed(b"")).is_none());
        assert!(gzipped(&gzip, &[0, 0]).is_none(), "not even a prefix");
    }

    #[tokio::test]
    async fn tonics_own_server_decodes_what_the_exporter_sends() {
        let (endpoint, seen) = test_support::server(true).await;
        let span = |name: &str| ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: name.into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        // Long enough to be gzipped, then one left as it is under gzip, then compression: none.
        let long = |n: &str| format!("{n} {}", "span name ".repeat(500));
        let (first, second) = (long("first"), long("second"));
        for (compression, name) in [
            (Compression::Gzip, first.as_str()),
            (Compression::Gzip, second.as_str()),
            (Compression::Gzip, "short"),
            (Compression::None, "plain"),
        ] {
            let config = OtlpGrpcConfig { endpoint: endpoint.clone(), compression, ..OtlpGrpcConfig::default() };
            let exporter = OtlpGrpcExporter::new(&config).unwrap();
            let data = Signals { spans: vec![span(name)], ..Signals::default() };
            let written = WriteFlag::default();
            exporter.export_once(Signal::Traces, &data, &written).await.unwrap();
            assert!(written.is_set());
        }
        let gzip = Some("gzip".to_string());
        assert_eq!(
            *seen.grpc_exports.lock().unwrap(),
            [
                (gzip.clone(), vec![first.clone()]),
                (gzip, vec![second.clone()]),
                (None, vec!["short".into()]),
                (None, vec!["plain".into()])
            ]
        );
    }
}
