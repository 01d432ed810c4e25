//! OTLP export requests encoded straight from the batch: the generated request types (and tonic's generated
//! clients) take an owned batch, so every attempt deep-copied it (for a chatty flush, thousands of allocations
//! and a megabyte of copying) only to encode it once. The `otlp` exporter has tonic send the bytes as they are;
//! `otlphttp` posts them.

use std::marker::PhantomData;

use bytes::BufMut;
use prost::Message;
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    Status,
};

/// The bytes of an `Export{Trace,Metrics,Logs}ServiceRequest`, whose one field is the repeated resource entries
/// (field 1 in all three).
pub(crate) struct EncodedRequest(Vec<u8>);

impl EncodedRequest {
    pub(crate) fn new<M: Message>(resources: &[M]) -> Self {
        let length = resources.iter().map(|resource| prost::encoding::message::encoded_len(1, resource)).sum();
        let mut bytes = Vec::with_capacity(length);
        for resource in resources {
            prost::encoding::message::encode(1, resource, &mut bytes);
        }
        EncodedRequest(bytes)
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Sends an [`EncodedRequest`] as it is and decodes the response `R` with prost, as the generated clients do.
pub(crate) struct PreEncoded<R>(PhantomData<fn() -> R>);

impl<R> Default for PreEncoded<R> {
    fn default() -> Self {
        PreEncoded(PhantomData)
    }
}

impl<R: Message + Default + Send + 'static> Codec for PreEncoded<R> {
    type Encode = EncodedRequest;
    type Decode = R;
    type Encoder = AsEncoded;
    type Decoder = ProstDecoder<R>;

    fn encoder(&mut self) -> AsEncoded {
        AsEncoded
    }

    fn decoder(&mut self) -> ProstDecoder<R> {
        ProstDecoder(PhantomData)
    }
}

pub(crate) struct AsEncoded;

impl Encoder for AsEncoded {
    type Item = EncodedRequest;
    type Error = Status;

    fn encode(&mut self, item: EncodedRequest, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
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
        }
    }
}
