//! gzip for gRPC requests with the exporter's one reused compressor ([`Gzip`]). tonic's own gzip builds a
//! new compressor for every message, which costs more than compressing a quiet invocation's export; so the
//! clients send plain gRPC messages and this wrapper around the channel compresses them and says so in
//! `grpc-encoding`, as tonic would have.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use tonic::codegen::{
    http::{HeaderValue, Request},
    Body, Service,
};

use super::gzip::Gzip;

/// The gRPC message prefix: a compressed flag and a big-endian length.
const PREFIX: usize = 5;

/// A gRPC channel that gzips the messages of every request when it holds a compressor.
#[derive(Clone)]
pub(crate) struct GzipRequests<S> {
    inner: S,
    gzip: Option<Arc<Gzip>>,
}

impl<S> GzipRequests<S> {
    pub(crate) fn new(inner: S, gzip: Option<Arc<Gzip>>) -> Self {
        GzipRequests { inner, gzip }
    }
}

impl<S> Service<Request<tonic::body::Body>> for GzipRequests<S>
where
    S: Service<Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let request = match &self.gzip {
            Some(gzip) => {
                let (mut head, body) = request.into_parts();
                head.headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
                let body = GzipFrames { inner: body, gzip: gzip.clone(), frames: Vec::new(), done: false };
                Request::from_parts(head, tonic::body::Body::new(body))
            }
            None => request,
        };
        self.inner.call(request)
    }
}

/// A request body read whole (an export is one message), then sent again with each message gzipped.
struct GzipFrames {
    inner: tonic::body::Body,
    gzip: Arc<Gzip>,
    /// The plain frames so far: tonic hands an export over as one, which is then compressed without a copy.
    frames: Vec<Bytes>,
    done: bool,
}

impl Body for GzipFrames {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, tonic::Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.frames.push(data),
                    // Requests carry no trailers; pass anything else on untouched.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                None => {
                    self.done = true;
                    let frames = std::mem::take(&mut self.frames);
                    let compressed = match frames.as_slice() {
                        [one] => compress_messages(&self.gzip, one),
                        several => compress_messages(&self.gzip, &several.concat()),
                    };
                    return Poll::Ready(Some(compressed.map(hyper::body::Frame::data)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// Every whole gRPC message of `plain`, gzipped and flagged as compressed.
fn compress_messages(gzip: &Gzip, mut plain: &[u8]) -> Result<Bytes, tonic::Status> {
    let mut out = Vec::new();
    while !plain.is_empty() {
        let (flag, length) = match plain {
            [flag, a, b, c, d, ..] => (*flag, u32::from_be_bytes([*a, *b, *c, *d]) as usize),
            _ => return Err(tonic::Status::internal("a truncated gRPC message prefix")),
        };
        let Some(message) = plain.get(PREFIX..PREFIX + length) else {
            return Err(tonic::Status::internal("a truncated gRPC message"));
        };
        if flag != 0 {
            return Err(tonic::Status::internal("a gRPC message compressed twice"));
        }
        let compressed = gzip.encode(message).map_err(|e| tonic::Status::internal(format!("gzip: {e}")))?;
        let compressed_length =
            u32::try_from(compressed.len()).map_err(|_| tonic::Status::internal("message over 4 GiB"))?;
        out.push(1);
        out.extend_from_slice(&compressed_length.to_be_bytes());
        out.extend_from_slice(&compressed);
        plain = &plain[PREFIX + length..];
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use http_body_util::BodyExt;
    use lambdatel_pipeline::{Signal, Signals, WriteFlag};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;
    use crate::exporters::{
        otlp_grpc::{Compression, OtlpGrpcConfig, OtlpGrpcExporter},
        test_support::{self, Chunks},
    };

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for message in messages {
            out.push(0);
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(message);
        }
        out
    }

    /// The messages of a compressed gRPC body, gunzipped.
    fn unframed(mut body: &[u8]) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        while !body.is_empty() {
            assert_eq!(body[0], 1, "flagged as compressed");
            let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[5..5 + length]).read_to_end(&mut plain).unwrap();
            messages.push(plain);
            body = &body[5 + length..];
        }
        messages
    }

    #[test]
    fn every_message_is_gzipped_and_flagged() {
        let gzip = Gzip::default();
        let long = vec![b'a'; 100_000];
        let out = compress_messages(&gzip, &framed(&[b"first", b"", &long])).unwrap();
        assert_eq!(unframed(&out), vec![b"first".to_vec(), Vec::new(), long]);
        assert!(out.len() < 1_000, "{} bytes", out.len());
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let gzip = Gzip::default();
        let message = |r: Result<Bytes, tonic::Status>| r.unwrap_err().message().to_string();
        assert_eq!(message(compress_messages(&gzip, &[0, 0, 0])), "a truncated gRPC message prefix");
        assert_eq!(message(compress_messages(&gzip, &[0, 0, 0, 0, 9, 1])), "a truncated gRPC message");
        assert_eq!(message(compress_messages(&gzip, &[1, 0, 0, 0, 1, 1])), "a gRPC message compressed twice");
    }

    #[tokio::test]
    async fn a_body_of_several_frames_becomes_one_compressed_frame() {
        let plain = framed(&[b"one message split over frames"]);
        let inner = tonic::body::Body::new(Chunks::new(plain.chunks(7).map(Bytes::copy_from_slice)));
        let body = GzipFrames { inner, gzip: Arc::new(Gzip::default()), frames: Vec::new(), done: false };
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(unframed(&collected), vec![b"one message split over frames".to_vec()]);
    }

    #[tokio::test]
    async fn tonics_own_server_decodes_what_the_exporter_compresses() {
        let (endpoint, seen) = test_support::server(true).await;
        let span = |name: &str| ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span { name: name.into(), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        for (compression, name) in
            [(Compression::Gzip, "first"), (Compression::Gzip, "second"), (Compression::None, "plain")]
        {
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
            [(gzip.clone(), vec!["first".to_string()]), (gzip, vec!["second".into()]), (None, vec!["plain".into()])]
        );
    }
}
