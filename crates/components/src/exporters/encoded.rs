//! OTLP export requests encoded straight from the batch: the generated request types (and tonic's generated
//! clients) take an owned batch, so every attempt deep-copied it (for a chatty flush, thousands of allocations
//! and a megabyte of copying) only to encode it once. A request to be gzipped is encoded item by item into the
//! compressor, so a chatty flush's request is never in memory uncompressed. The `otlp` exporter sends the
//! bytes framed as a gRPC message (see `grpc_body`); `otlphttp` posts them.

use std::{io::Write, marker::PhantomData};

use bytes::Bytes;
use opentelemetry_proto::tonic::{
    common::v1::InstrumentationScope,
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    metrics::v1::{Metric, ResourceMetrics, ScopeMetrics},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use prost::{
    encoding::{encode_key, encode_varint, message, string, WireType},
    Message,
};
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    Status,
};

use super::{
    grpc_body::{Framed, PREFIX},
    gzip::{Gzip, MIN_GZIP_LEN},
};

/// The bytes of an `Export{Trace,Metrics,Logs}ServiceRequest`, whose one field is the repeated resource entries
/// (field 1 in all three), gzipped when a compressor was given and the request is at least [`MIN_GZIP_LEN`]
/// long.
pub(crate) struct EncodedRequest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) gzipped: bool,
}

impl EncodedRequest {
    pub(crate) fn new<R: Entry>(resources: &[R], gzip: Option<&Gzip>) -> Result<Self, String>
    where
        R::Child: Entry,
    {
        Self::after(0, resources, gzip)
    }

    /// The request framed as one gRPC message, prefix and message in one buffer.
    pub(crate) fn framed<R: Entry>(resources: &[R], gzip: Option<&Gzip>) -> Result<Framed, String>
    where
        R::Child: Entry,
    {
        let EncodedRequest { mut bytes, gzipped } = Self::after(PREFIX, resources, gzip)?;
        let length = u32::try_from(bytes.len() - PREFIX).map_err(|_| "an export request over 4 GiB".to_string())?;
        bytes[0] = u8::from(gzipped);
        bytes[1..PREFIX].copy_from_slice(&length.to_be_bytes());
        Ok(Framed { bytes: Bytes::from(bytes), gzipped })
    }

    /// The request encoded after `reserved` zero bytes.
    fn after<R: Entry>(reserved: usize, resources: &[R], gzip: Option<&Gzip>) -> Result<Self, String>
    where
        R::Child: Entry,
    {
        let length: usize = resources.iter().map(|resource| message::encoded_len(1, resource)).sum();
        match gzip {
            Some(gzip) if length >= MIN_GZIP_LEN => {
                let mut writer = gzip.writer(reserved, length);
                write_in_pieces(resources, &mut writer).map_err(|e| format!("gzip: {e}"))?;
                Ok(EncodedRequest { bytes: writer.finish().map_err(|e| format!("gzip: {e}"))?, gzipped: true })
            }
            _ => {
                let mut bytes = Vec::with_capacity(reserved + length);
                bytes.resize(reserved, 0);
                for resource in resources {
                    message::encode(1, resource, &mut bytes);
                }
                Ok(EncodedRequest { bytes, gzipped: false })
            }
        }
    }
}

/// The size of the pieces [`write_in_pieces`] hands over.
const PIECE: usize = 32 * 1024;

/// Writes the request's bytes to `out` in pieces of about [`PIECE`] bytes: the two levels above the items by
/// hand, in the field order prost encodes them in (a test compares the bytes), each item with prost.
fn write_in_pieces<R: Entry>(resources: &[R], out: &mut impl Write) -> std::io::Result<()>
where
    R::Child: Entry,
{
    let mut piece = Vec::with_capacity(PIECE + 1024);
    for resource in resources {
        open_field(1, resource, &mut piece);
        let (head, scopes, schema_url) = resource.parts();
        if let Some(head) = head {
            message::encode(1, head, &mut piece);
        }
        for scope in scopes {
            open_field(2, scope, &mut piece);
            let (head, items, scope_schema_url) = scope.parts();
            if let Some(head) = head {
                message::encode(1, head, &mut piece);
            }
            for item in items {
                message::encode(2, item, &mut piece);
                if piece.len() >= PIECE {
                    out.write_all(&piece)?;
                    piece.clear();
                }
            }
            if !scope_schema_url.is_empty() {
                string::encode(3, scope_schema_url, &mut piece);
            }
        }
        if !schema_url.is_empty() {
            string::encode(3, schema_url, &mut piece);
        }
    }
    out.write_all(&piece)
}

/// The key and length of the embedded message `entry` as field `tag`; its fields follow.
fn open_field(tag: u32, entry: &impl Message, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(entry.encoded_len() as u64, out);
}

/// A `Resource{Spans,Metrics,Logs}` or `Scope{Spans,Metrics,Logs}` entry: the resource or scope (field 1),
/// the repeated entries below it (field 2) and a schema URL (field 3), the same numbers in all six.
pub(crate) trait Entry: Message {
    type Head: Message;
    type Child: Message;

    fn parts(&self) -> (Option<&Self::Head>, &[Self::Child], &String);
}

macro_rules! entry {
    ($entry:ty, $head_field:ident: $head:ty, $children:ident: $child:ty) => {
        impl Entry for $entry {
            type Head = $head;
            type Child = $child;

            fn parts(&self) -> (Option<&$head>, &[$child], &String) {
                (self.$head_field.as_ref(), &self.$children, &self.schema_url)
            }
        }
    };
}

entry!(ResourceSpans, resource: Resource, scope_spans: ScopeSpans);
entry!(ScopeSpans, scope: InstrumentationScope, spans: Span);
entry!(ResourceMetrics, resource: Resource, scope_metrics: ScopeMetrics);
entry!(ScopeMetrics, scope: InstrumentationScope, metrics: Metric);
entry!(ResourceLogs, resource: Resource, scope_logs: ScopeLogs);
entry!(ScopeLogs, scope: InstrumentationScope, log_records: LogRecord);

/// tonic's side of an export whose message travels [`Framed`] in the request's extensions: it encodes an
/// empty placeholder, which the channel wrapper replaces, and decodes the response `R` with prost, as the
/// generated clients do.
pub(crate) struct PlaceholderCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for PlaceholderCodec<R> {
    fn default() -> Self {
        PlaceholderCodec(PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for PlaceholderCodec<R> {
    type Encode = ();
    type Decode = R;
    type Encoder = Placeholder;
    type Decoder = ProstDecoder<R>;

    fn encoder(&mut self) -> Placeholder {
        Placeholder
    }

    fn decoder(&mut self) -> ProstDecoder<R> {
        ProstDecoder(PhantomData)
    }
}

/// Encodes nothing: see [`PlaceholderCodec`].
pub(crate) struct Placeholder;

impl Encoder for Placeholder {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

pub(crate) struct ProstDecoder<R>(PhantomData<fn() -> R>);

impl<R: Message + Default> Decoder for ProstDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        // tonic-prost's own mapping of a decode failure.
        R::decode(src).map(Some).map_err(|e| Status::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use opentelemetry_proto::tonic::{
        collector::{
            logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
            trace::v1::ExportTraceServiceRequest,
        },
        common::v1::{any_value::Value, AnyValue, KeyValue},
        metrics::v1::{metric::Data, Gauge, NumberDataPoint},
    };

    use super::*;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(member).read_to_end(&mut raw).expect("a gzip member");
        raw
    }

    /// `resources` encoded every way, each checked against the generated request's bytes `expected`.
    fn check<R: Entry>(resources: &[R], expected: &[u8])
    where
        R::Child: Entry,
    {
        let gzip = Gzip::default();
        let plain = EncodedRequest::new(resources, None).unwrap();
        assert!(!plain.gzipped);
        assert_eq!(plain.bytes, expected);
        let zipped = EncodedRequest::new(resources, Some(&gzip)).unwrap();
        assert_eq!(zipped.gzipped, expected.len() >= MIN_GZIP_LEN);
        let unzipped = if zipped.gzipped { gunzip(&zipped.bytes) } else { zipped.bytes };
        assert_eq!(unzipped, expected);
        for compressor in [None, Some(&gzip)] {
            let Framed { bytes, gzipped } = EncodedRequest::framed(resources, compressor).unwrap();
            assert_eq!(bytes[0], u8::from(gzipped), "the compressed flag");
            assert_eq!(u32::from_be_bytes(bytes[1..PREFIX].try_into().unwrap()) as usize, bytes.len() - PREFIX);
            let message = if gzipped { gunzip(&bytes[PREFIX..]) } else { bytes[PREFIX..].to_vec() };
            assert_eq!(message, expected);
        }
    }

    fn text(value: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(Value::StringValue(value.into())) })
    }

    fn resource(name: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![KeyValue { key: "service.name".into(), value: text(name), ..Default::default() }],
            ..Default::default()
        })
    }

    fn scope(name: &str) -> Option<InstrumentationScope> {
        Some(InstrumentationScope { name: name.into(), version: "1.0".into(), ..Default::default() })
    }

    #[test]
    fn the_bytes_are_those_of_the_generated_request_small_or_large_plain_or_gzipped() {
        let record = |i: usize| LogRecord {
            body: text(&format!("line {i} {}", "x".repeat(i % 300))),
            severity_number: 9,
            ..Default::default()
        };
        // Small and empty requests, then one whose items span many pieces, with every field of both levels
        // set on some entries and left empty on others.
        let shapes: [&[usize]; 4] = [&[], &[1], &[2, 0, 1], &[3_000, 0, 40, 2_000]];
        for shape in shapes {
            let logs: Vec<ResourceLogs> = shape
                .iter()
                .enumerate()
                .map(|(r, &records)| ResourceLogs {
                    resource: (r % 2 == 0).then(|| resource(&format!("service {r}"))).flatten(),
                    scope_logs: vec![
                        ScopeLogs {
                            scope: scope("first"),
                            log_records: (0..records).map(record).collect(),
                            schema_url: if r % 2 == 0 {
                                "https://opentelemetry.io/schemas/1.26.0".into()
                            } else {
                                String::new()
                            },
                        },
                        ScopeLogs::default(),
                    ],
                    schema_url: if r % 2 == 1 {
                        "https://opentelemetry.io/schemas/1.27.0".into()
                    } else {
                        String::new()
                    },
                })
                .collect();
            check(&logs, &ExportLogsServiceRequest { resource_logs: logs.clone() }.encode_to_vec());
        }
        let spans: Vec<ResourceSpans> = vec![ResourceSpans {
            resource: resource("orders"),
            scope_spans: vec![ScopeSpans {
                scope: scope("lambdatel"),
                spans: (0..500)
                    .map(|i| Span {
                        name: format!("span {i}"),
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        ..Default::default()
                    })
                    .collect(),
                schema_url: "s".into(),
            }],
            schema_url: "r".into(),
        }];
        check(&spans, &ExportTraceServiceRequest { resource_spans: spans.clone() }.encode_to_vec());
        let point = |i: usize| NumberDataPoint { time_unix_nano: i as u64, ..Default::default() };
        let metrics: Vec<ResourceMetrics> = vec![ResourceMetrics {
            resource: resource("orders"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("lambdatel"),
                metrics: (0..300)
                    .map(|i| Metric {
                        name: format!("metric.{i}"),
                        data: Some(Data::Gauge(Gauge { data_points: (0..3).map(point).collect() })),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }];
        check(&metrics, &ExportMetricsServiceRequest { resource_metrics: metrics.clone() }.encode_to_vec());
    }
}
