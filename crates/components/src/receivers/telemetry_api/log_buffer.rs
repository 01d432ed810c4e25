//! The log records held between drains, and the memory budget that bounds them.

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue},
    logs::v1::LogRecord,
};

/// Log records waiting for the next drain, within a budget of approximate bytes; past it new records are
/// dropped and counted, so a chatty function (or many concurrent ones) cannot push the sandbox toward
/// out-of-memory while the backend is unreachable or flushes are spaced out.
#[derive(Debug)]
pub(super) struct LogBuffer {
    records: Vec<LogRecord>,
    budget_bytes: usize,
    held_bytes: usize,
    dropped: u64,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer { records: Vec::new(), budget_bytes: usize::MAX, held_bytes: 0, dropped: 0 }
    }
}

impl LogBuffer {
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget_bytes = bytes;
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Records dropped for the budget since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reserves room for `record`, which is about to be completed and pushed: `false` (and counted as
    /// dropped) when it does not fit. Checked before the record is attributed, so a dropped record costs
    /// no more work.
    pub fn reserve(&mut self, record: &LogRecord) -> bool {
        let size = approximate_size(record);
        if self.held_bytes.saturating_add(size) > self.budget_bytes {
            self.dropped += 1;
            return false;
        }
        self.held_bytes += size;
        true
    }

    /// Queues a record that [`reserve`](Self::reserve) made room for.
    pub fn push(&mut self, record: LogRecord) {
        self.records.push(record);
    }

    /// Takes every held record and frees the budget.
    pub fn take(&mut self) -> Vec<LogRecord> {
        self.held_bytes = 0;
        std::mem::take(&mut self.records)
    }
}

/// Roughly what a log record costs in memory: its body and attributes plus a fixed overhead.
fn approximate_size(record: &LogRecord) -> usize {
    fn value_size(value: &AnyValue) -> usize {
        match &value.value {
            Some(Av::StringValue(s)) => s.len(),
            Some(Av::BytesValue(b)) => b.len(),
            Some(Av::ArrayValue(a)) => a.values.iter().map(value_size).sum::<usize>() + 16,
            Some(Av::KvlistValue(kv)) => {
                kv.values.iter().map(|kv| kv.key.len() + kv.value.as_ref().map_or(0, value_size)).sum::<usize>() + 16
            }
            _ => 8,
        }
    }
    let attributes: usize =
        record.attributes.iter().map(|kv| kv.key.len() + kv.value.as_ref().map_or(0, value_size) + 32).sum();
    128 + record.body.as_ref().map_or(0, value_size) + attributes
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::KeyValue;

    fn record(body: &str, attributes: usize) -> LogRecord {
        LogRecord {
            body: Some(AnyValue { value: Some(Av::StringValue(body.into())) }),
            attributes: (0..attributes)
                .map(|i| KeyValue {
                    key: format!("k{i}"),
                    value: Some(AnyValue { value: Some(Av::IntValue(1)) }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sizes_count_body_attributes_and_overhead() {
        assert_eq!(approximate_size(&LogRecord::default()), 128);
        // 128 + 5 bytes of body + (2 + 8 + 32) per attribute.
        assert_eq!(approximate_size(&record("hello", 2)), 128 + 5 + 2 * 42);
    }

    #[test]
    fn the_budget_drops_and_counts_what_does_not_fit() {
        let mut buffer = LogBuffer::default();
        buffer.set_budget(300);
        let r = record(&"x".repeat(100), 0); // 228 bytes
        assert!(buffer.reserve(&r));
        buffer.push(r.clone());
        assert!(!buffer.reserve(&r));
        assert_eq!((buffer.held_bytes(), buffer.dropped()), (228, 1));
        assert_eq!(buffer.take(), vec![r.clone()]);
        assert_eq!(buffer.held_bytes(), 0);
        assert!(buffer.reserve(&r), "a take frees the budget");
        assert_eq!(buffer.dropped(), 1);
    }
}
