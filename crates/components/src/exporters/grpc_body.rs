//! The body of an `otlp` export. tonic would copy each encoded message into a buffer of its own (for a chatty
//! flush, a second copy of a request of a megabyte or more) and build a new gzip compressor for every message.
//! So the exporter encodes each request once, already framed as a gRPC message and gzipped when worthwhile
//! ([`EncodedRequest::framed`](super::encoded::EncodedRequest::framed)), and hands it to this wrapper around
//! the channel in the request's extensions, while tonic encodes an empty placeholder in its place (see
//! [`PlaceholderCodec`](super::encoded::PlaceholderCodec)). The wrapper sends the frame as the body and says
//! `grpc-encoding: gzip` when it is compressed, as tonic would have.

use bytes::Bytes;
use http_body_util::Full;
use tonic::codegen::{
    http::{HeaderValue, Request},
    Service,
};

/// The gRPC message prefix: a compressed flag and a big-endian length.
pub(crate) const PREFIX: usize = 5;

/// One gRPC request message, framed: the compressed flag, the big-endian length, then the message.
#[derive(Clone)]
pub(crate) struct Framed {
    pub(crate) bytes: Bytes,
    /// The message is gzipped (and flagged so).
    pub(crate) gzipped: bool,
}

/// A gRPC channel that sends the [`Framed`] message of each request as its body. A request without one goes
/// as tonic made it.
#[derive(Clone)]
pub(crate) struct FramedBodies<S>(pub(crate) S);

impl<S> Service<Request<tonic::body::Body>> for FramedBodies<S>
where
    S: Service<Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<tonic::body::Body>) -> Self::Future {
        if let Some(Framed { bytes, gzipped }) = request.extensions_mut().remove::<Framed>() {
            if gzipped {
                request.headers_mut().insert("grpc-encoding", HeaderValue::from_static("gzip"));
            }
            *request.body_mut() = tonic::body::Body::new(Full::new(bytes));
        }
        self.0.call(request)
    }
}

#[cfg(test)]
mod tests {
    use lambdatel_pipeline::{Signal, Signals, WriteFlag};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use crate::exporters::{
        otlp_grpc::{Compression, OtlpGrpcConfig, OtlpGrpcExporter},
        test_support,
    };

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
