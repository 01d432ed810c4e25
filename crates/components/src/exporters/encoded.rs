//! OTLP export requests encoded straight from the batch: the generated request types (and tonic's generated
//! clients) take an owned batch, so every attempt deep-copied it (for a chatty flush, thousands of allocations
//! and a megabyte of copying) only to encode it once. The `otlp` exporter sends the bytes framed as a gRPC
//! message (see `grpc_body`); `otlphttp` posts them.

use std::marker::PhantomData;

use bytes::Bytes;
use prost::Message;
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    Status,
};

use super::grpc_body::{Framed, PREFIX};

/// The bytes of an `Export{Trace,Metrics,Logs}ServiceRequest`, whose one field is the repeated resource entries
/// (field 1 in all three).
pub(crate) struct EncodedRequest(Vec<u8>);

impl EncodedRequest {
    pub(crate) fn new<M: Message>(resources: &[M]) -> Self {
        Self::after(0, resources)
    }

    /// The request framed as one uncompressed gRPC message, prefix and message in one buffer.
    pub(crate) fn framed<M: Message>(resources: &[M]) -> Result<Framed, String> {
        let EncodedRequest(mut bytes) = Self::after(PREFIX, resources);
        let length = u32::try_from(bytes.len() - PREFIX).map_err(|_| "an export request over 4 GiB".to_string())?;
        bytes[1..PREFIX].copy_from_slice(&length.to_be_bytes());
        Ok(Framed(Bytes::from(bytes)))
    }

    /// The request encoded after `reserved` zero bytes.
    fn after<M: Message>(reserved: usize, resources: &[M]) -> Self {
        let length: usize = resources.iter().map(|resource| prost::encoding::message::encoded_len(1, resource)).sum();
        let mut bytes = Vec::with_capacity(reserved + length);
        bytes.resize(reserved, 0);
        for resource in resources {
            prost::encoding::message::encode(1, resource, &mut bytes);
        }
        EncodedRequest(bytes)
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

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
    use opentelemetry_proto::tonic::{
        collector::logs::v1::ExportLogsServiceRequest,
        common::v1::{any_value::Value, AnyValue},
        logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    };

    use super::*;

    #[test]
    fn the_bytes_are_those_of_the_generated_request() {
        let record = |text: &str| LogRecord {
            body: Some(AnyValue { value: Some(Value::StringValue(text.into())) }),
            severity_number: 9,
            ..Default::default()
        };
        let resource = |texts: &[&str]| ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: texts.iter().map(|t| record(t)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        for resources in
            [vec![], vec![resource(&["one"])], vec![resource(&["a", "b"]), resource(&[]), resource(&["c"])]]
        {
            let expected = ExportLogsServiceRequest { resource_logs: resources.clone() }.encode_to_vec();
            assert_eq!(EncodedRequest::new(&resources).0, expected);
            let Framed(framed) = EncodedRequest::framed(&resources).unwrap();
            assert_eq!(framed[0], 0, "uncompressed");
            assert_eq!(u32::from_be_bytes(framed[1..PREFIX].try_into().unwrap()) as usize, expected.len());
            assert_eq!(framed[PREFIX..], expected);
        }
    }
}
