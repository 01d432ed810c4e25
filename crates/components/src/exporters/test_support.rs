//! What the exporters' tests share: a backend that counts the connections it accepts and records what each
//! request carried, over HTTP/2 with tonic's own OTLP trace service (gRPC, gzip accepted) or over HTTP/1.1
//! (OTLP/HTTP, answered 200); and a request body of several frames.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Body, Frame, Incoming},
    service::service_fn,
    Request, Response,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_server::{TraceService, TraceServiceServer},
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::{codec::CompressionEncoding, codegen::Service};

/// One gRPC export as the server decoded it: its `grpc-encoding` and the names of the spans it carried.
pub(crate) type GrpcExport = (Option<String>, Vec<String>);

/// What the server saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub connections: AtomicUsize,
    /// Each OTLP/HTTP request's `Authorization` header.
    pub authorizations: Mutex<Vec<String>>,
    pub grpc_exports: Mutex<Vec<GrpcExport>>,
}

/// tonic's trace service, recording each export into [`Seen`].
#[derive(Clone)]
struct Recording(Arc<Seen>);

#[tonic::async_trait]
impl TraceService for Recording {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let encoding = request.metadata().get("grpc-encoding").map(|v| v.to_str().unwrap().to_string());
        let request = request.into_inner();
        let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
        let names = spans.map(|s| s.name.clone()).collect();
        self.0.grpc_exports.lock().unwrap().push((encoding, names));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Starts the server on a free loopback port; returns its `http://` URL and what it sees.
pub(crate) async fn server(grpc: bool) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let counted = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.connections.fetch_add(1, Ordering::SeqCst);
            let io = TokioIo::new(stream);
            let seen = counted.clone();
            if grpc {
                let service = service_fn(move |request: Request<Incoming>| {
                    let mut server =
                        TraceServiceServer::new(Recording(seen.clone())).accept_compressed(CompressionEncoding::Gzip);
                    async move { server.call(request).await }
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service),
                );
            } else {
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let authorization =
                            request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
                        seen.authorizations.lock().unwrap().extend(authorization);
                        let _ = request.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
            }
        }
    });
    (url, seen)
}

/// A body of several data frames, ending only when polled past the last.
pub(crate) struct Chunks(Vec<Bytes>);

impl Chunks {
    pub(crate) fn new(frames: impl IntoIterator<Item = Bytes>) -> Self {
        let mut frames: Vec<Bytes> = frames.into_iter().collect();
        frames.reverse();
        Chunks(frames)
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop().map(|b| Ok(Frame::data(b))))
    }
}
