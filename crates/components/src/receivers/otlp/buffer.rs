//! What the `otlp` receiver holds until a flush: a bounded buffer of received items and the count of
//! requests in flight.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use lambdatel_pipeline::{Signal, Signals};
use tokio::sync::Notify;

/// Counters of what the receiver got, for self-telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtlpReceiverStats {
    /// Export requests accepted (wholly or in part).
    pub requests: u64,
    /// Requests refused as malformed, oversized or unsupported.
    pub rejected_requests: u64,
    /// Items buffered.
    pub items: u64,
    /// Items dropped because the buffer was full.
    pub dropped_items: u64,
}

pub(super) struct Buffer {
    pub(super) data: Signals,
    pub(super) items: usize,
    pub(super) stats: OtlpReceiverStats,
}

pub(super) struct Shared {
    pub(super) buffer: Mutex<Buffer>,
    pub(super) max_items: usize,
    pub(super) in_flight: AtomicUsize,
    pub(super) idle: Notify,
}

impl Shared {
    pub(super) fn new(max_items: usize) -> Self {
        Shared {
            buffer: Mutex::new(Buffer { data: Signals::default(), items: 0, stats: OtlpReceiverStats::default() }),
            max_items,
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// Buffers what fits of one request's `kind`; returns how many items were dropped.
    pub(super) fn accept(&self, kind: Signal, mut incoming: Signals) -> usize {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let total = incoming.count(kind);
        let room = self.max_items.saturating_sub(buffer.items);
        let mut kept = if total > room { incoming.take_front(kind, room) } else { incoming };
        let kept_items = kept.count(kind);
        buffer.items += kept_items;
        buffer.data.append(&mut kept);
        buffer.stats.requests += 1;
        buffer.stats.items += kept_items as u64;
        buffer.stats.dropped_items += (total - kept_items) as u64;
        total - kept_items
    }

    pub(super) fn reject(&self) {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner()).stats.rejected_requests += 1;
    }

    pub(super) fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request being received; dropping it (answered or abandoned) wakes [`OtlpReceiver::wait_idle`].
pub(super) struct InFlight(pub(super) Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
