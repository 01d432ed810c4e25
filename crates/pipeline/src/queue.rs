//! The exporter queue, the hop between a pipeline and delivery: one queue per exporter id, shared by every
//! pipeline that names it, holding what waits for the next export round (oldest first), within a bound in
//! items per exporter and a memory budget in bytes for all queues together.

use lambdatel_config::ComponentId;

use crate::{
    breaker::Breaker,
    export::{Delivery, ExportCounters, Unanswered},
    Export, Signals,
};

/// One exporter instance with its queue, shared by every pipeline that names its id.
pub(crate) struct ExporterSlot<X> {
    pub(crate) id: ComponentId,
    pub(crate) exporter: X,
    /// Undelivered data, oldest first.
    pub(crate) pending: Signals,
    pub(crate) queue_limit: usize,
    /// The smallest request bound of the pipelines feeding this exporter, if any sets one.
    pub(crate) max_request_items: Option<usize>,
    pub(crate) counters: [ExportCounters; 3],
    pub(crate) last_error: Option<String>,
    /// Items per signal of written requests left in flight past a flush, awaiting their answer.
    pub(crate) in_flight: [u64; 3],
    /// Copies of the requests left in flight, for the final export to send again if still unanswered.
    pub(crate) unanswered: Vec<Unanswered>,
    pub(crate) breaker: Breaker,
}

impl<X: Export> ExporterSlot<X> {
    pub(crate) fn new(id: ComponentId, exporter: X) -> Self {
        ExporterSlot {
            id,
            queue_limit: exporter.queue_limit(),
            pending: Signals::default(),
            max_request_items: None,
            counters: Default::default(),
            last_error: None,
            in_flight: [0; 3],
            unanswered: Vec::new(),
            breaker: Breaker::new(exporter.breaker()),
            exporter,
        }
    }
}

impl<X> ExporterSlot<X> {
    /// Items waiting in this queue, all signals together.
    pub(crate) fn pending_items(&self) -> u64 {
        self.pending.total_count() as u64
    }
}

/// Every exporter queue with the memory budget they share.
pub(crate) struct Queues<X> {
    pub(crate) slots: Vec<ExporterSlot<X>>,
    /// Most encoded bytes all queues may hold together; `None` is unbounded.
    pub(crate) budget_bytes: Option<usize>,
    pub(crate) queued_bytes: usize,
    pub(crate) delivery: Delivery,
}

impl<X: Export> Queues<X> {
    pub(crate) fn new() -> Self {
        Queues { slots: Vec::new(), budget_bytes: None, queued_bytes: 0, delivery: Delivery::new() }
    }

    /// Appends one pipeline's output to the queues of its exporters, cloning for every exporter but the
    /// last, which takes the original. Past the memory budget the data is dropped and counted.
    pub(crate) fn enqueue(&mut self, exporters: &[usize], signal: crate::Signal, mut data: Signals, exempt: bool) {
        let size = data.encoded_size();
        let items = data.count(signal) as u64;
        for (n, &index) in exporters.iter().enumerate() {
            let slot = &mut self.slots[index];
            let over = self.budget_bytes.is_some_and(|budget| self.queued_bytes.saturating_add(size) > budget);
            if over && !exempt {
                slot.counters[signal.index()].dropped_memory_limit += items;
                continue;
            }
            self.queued_bytes += size;
            if n + 1 < exporters.len() {
                slot.pending.append(&mut data.part(signal));
            } else {
                slot.pending.append(&mut data);
            }
        }
    }

    /// Recounts the bytes held after an export round freed some.
    pub(crate) fn recount(&mut self) {
        self.queued_bytes = self.slots.iter().map(|s| s.pending.encoded_size()).sum();
    }
}
