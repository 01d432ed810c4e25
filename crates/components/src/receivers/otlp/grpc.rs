//! OTLP over gRPC: tonic's generated services on a plain hyper HTTP/2 connection.

use std::{convert::Infallible, sync::Arc};

use hyper::{body::Incoming, server::conn::http2, service::service_fn, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use lambdatel_pipeline::{Signal, Signals};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{
        logs_service_server::{LogsService, LogsServiceServer},
        ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    },
    metrics::v1::{
        metrics_service_server::{MetricsService, MetricsServiceServer},
        ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    },
    trace::v1::{
        trace_service_server::{TraceService, TraceServiceServer},
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    },
};
use tokio::{net::TcpListener, sync::watch};
use tonic::{codec::CompressionEncoding, codegen::Service};

use super::{buffer::*, *};

/// The three generated OTLP services over one shared buffer.
#[derive(Clone)]
pub(super) struct GrpcServices {
    /// Where the in-flight count lives (the services' Sink holds the same).
    pub(super) shared: Arc<Shared>,
    pub(super) traces: TraceServiceServer<Sink>,
    pub(super) metrics: MetricsServiceServer<Sink>,
    pub(super) logs: LogsServiceServer<Sink>,
}

impl GrpcServices {
    pub(super) fn new(shared: Arc<Shared>, max_message: usize) -> Self {
        let sink = Sink(shared.clone());
        GrpcServices {
            shared,
            traces: TraceServiceServer::new(sink.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
            metrics: MetricsServiceServer::new(sink.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
            logs: LogsServiceServer::new(sink)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_message),
        }
    }

    pub(super) async fn call(mut self, request: Request<Incoming>) -> Result<Response<tonic::body::Body>, Infallible> {
        let path = request.uri().path();
        if path.starts_with("/opentelemetry.proto.collector.trace.v1.TraceService/") {
            self.traces.call(request).await
        } else if path.starts_with("/opentelemetry.proto.collector.metrics.v1.MetricsService/") {
            self.metrics.call(request).await
        } else if path.starts_with("/opentelemetry.proto.collector.logs.v1.LogsService/") {
            self.logs.call(request).await
        } else {
            let status = tonic::Status::unimplemented(format!("{path} is not an OTLP export service"));
            Ok(status.into_http())
        }
    }
}

#[derive(Clone)]
pub(super) struct Sink(pub(super) Arc<Shared>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let data = Signals { spans: request.into_inner().resource_spans, ..Signals::default() };
        let dropped = self.0.accept(Signal::Traces, data);
        let partial_success = (dropped > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let data = Signals { metrics: request.into_inner().resource_metrics, ..Signals::default() };
        let dropped = self.0.accept(Signal::Metrics, data);
        let partial_success = (dropped > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success }))
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let data = Signals { logs: request.into_inner().resource_logs, ..Signals::default() };
        let dropped = self.0.accept(Signal::Logs, data);
        let partial_success = (dropped > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: dropped as i64,
            error_message: dropped_message(dropped),
        });
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success }))
    }
}

pub(super) async fn serve_grpc(listener: TcpListener, services: GrpcServices, mut stopped: watch::Receiver<bool>) {
    loop {
        let Some(stream) = accept(&listener, &mut stopped).await else { return };
        let services = services.clone();
        let shared = services.shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                // Counted from the headers on, so a flush also waits for a body still arriving.
                let guard = shared.start_request();
                let services = services.clone();
                async move {
                    let response = services.call(request).await;
                    drop(guard);
                    response
                }
            });
            let _ = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---- HTTP ----
