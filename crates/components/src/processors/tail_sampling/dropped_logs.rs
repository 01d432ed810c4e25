//! Drops the log records of traces the traces pipelines dropped in the same flush (the `lambdatel` setting
//! `tail_sampling.drop_logs_of_dropped_traces`), so a sampled-out invocation leaves no logs either.
//! Records without a trace id are kept.

use lambdatel_pipeline::{logs::ResourceLogs, FlushView, Processor};

/// Added at the head of every logs pipeline when the setting is on.
#[derive(Debug, Default)]
pub struct DropLogsOfDroppedTraces {
    /// This flush's dropped trace ids, sorted (as the view gives them).
    dropped: Vec<Vec<u8>>,
}

impl Processor for DropLogsOfDroppedTraces {
    fn observe_flush(&mut self, flush: &FlushView<'_>) {
        self.dropped.clear();
        self.dropped.extend(flush.dropped_trace_ids().map(<[u8]>::to_vec));
    }

    fn process_logs(&mut self, batch: &mut Vec<ResourceLogs>) {
        if self.dropped.is_empty() {
            return;
        }
        let dropped = &self.dropped;
        for rl in batch.iter_mut() {
            for sl in rl.scope_logs.iter_mut() {
                sl.log_records.retain(|r| {
                    r.trace_id.is_empty() || dropped.binary_search_by(|id| id.as_slice().cmp(&r.trace_id)).is_err()
                });
            }
            rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
        }
        batch.retain(|rl| !rl.scope_logs.is_empty());
    }
}
