//! Delivery, the last hop of an event: each exporter's queue of undelivered data, sent in requests of a
//! bounded size, every exporter and every signal at once, so a flush costs one round trip to the slowest
//! backend whatever the number of signals and exporters. Retries are counted, what a backend refused for
//! good is dropped and counted, and what could not be delivered in time waits for the next flush.
//!
//! **Exports survive the freeze.** When the flush deadline comes, a request that was fully handed to the
//! transport is not cancelled: it stays in flight while the sandbox is frozen, and its answer is read after
//! the thaw and accounted at the next flush (acknowledged: done; failed or timed out after the exporter's
//! own `timeout`: queued again, at-least-once). A request not yet fully written is abandoned at the
//! deadline and its data kept for the next flush, as is everything not yet sent.
//!
//! The duplicate window: a request whose answer is lost after the backend stored it (the connection is
//! reset or the attempt times out while the answer is on its way, or the backend answers after the
//! exporter's `timeout`) is sent again, so the backend can receive it twice. Nothing is lost to this;
//! at shutdown, a request still unanswered at the deadline is reported as undelivered although the backend
//! may have stored it.
//!
//! **A circuit breaker per exporter** (`breaker.rs`) keeps a dead backend from costing every flush its
//! budget.
//!
//! The exporters themselves (network clients) live in the components crate; here they are anything that
//! implements [`Export`], which keeps this crate free of network code and its tests free of servers.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    sync::mpsc,
    time::{sleep_until, timeout_at, Instant},
};

use crate::{
    breaker::{BreakerConfig, BreakerState},
    queue::ExporterSlot,
    ExportError, Signal, Signals, SIGNALS,
};

/// An exporter as the delivery path sees it: sends one signal's data and says how much it may keep.
///
/// Clones share the exporter's connection: each export round sends from a clone in its own task.
pub trait Export: Clone + Send + Sync + 'static {
    /// Exports one signal of `data` as `attempts` allows; returns the retries made and the last error when
    /// the data could not be delivered. Each attempt is bounded by the exporter's own timeout only: the
    /// caller abandons an attempt not fully written by `attempts.start_by`, and lets a written one finish.
    fn export(
        &self,
        signal: Signal,
        data: &Signals,
        attempts: Attempts,
    ) -> impl Future<Output = (ExportOutcome, Result<(), ExportError>)> + Send;

    /// Most items kept for the next flush when a delivery fails; 0 when failed data is not kept.
    fn queue_limit(&self) -> usize;

    /// Drops pooled connections (after a SnapStart restore they died with the snapshot).
    fn reset_connections(&self) {}
    /// The circuit breaker's settings for this exporter.
    fn breaker(&self) -> BreakerConfig {
        BreakerConfig::default()
    }
}

/// What an export may do: until when attempts may start, whether to retry, and where to say that the
/// current attempt's request has been fully written.
#[derive(Debug, Clone)]
pub struct Attempts {
    /// No attempt (and no retry) starts at or after this instant.
    pub start_by: Instant,
    /// Retry retryable failures with backoff; false for a circuit breaker's probe.
    pub retry: bool,
    /// Set by the exporter once the current attempt's request was handed to the transport in full; cleared
    /// when an attempt ends.
    pub written: WriteFlag,
}

impl Attempts {
    /// Attempts with retries until `start_by`.
    pub fn until(start_by: Instant) -> Self {
        Attempts { start_by, retry: true, written: WriteFlag::default() }
    }
}

/// Whether the request of the attempt in progress has been fully written; shared between the exporter (which
/// sets it) and the delivery path (which decides at the deadline whether to wait for the answer).
#[derive(Debug, Clone, Default)]
pub struct WriteFlag(Arc<AtomicBool>);

impl WriteFlag {
    /// The request was handed to the transport in full.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// The attempt ended: the next one starts unwritten.
    pub fn clear(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// True once the request of the current attempt was fully written.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How one export of one signal went, for the self-telemetry counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Attempts made beyond the first.
    pub retries: u32,
    /// The backend looked down (unreachable, or unavailable attempt after attempt): open the breaker.
    pub backend_down: bool,
}

/// Counters of one exporter for one signal, for self-telemetry and the shutdown summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounters {
    /// Items the backend acknowledged.
    pub exported: u64,
    /// Retries of failed attempts.
    pub retries: u64,
    /// Items dropped because the backend rejected them for good.
    pub dropped_rejected: u64,
    /// Items dropped because the queue of undelivered data was full.
    pub dropped_queue_full: u64,
    /// Items dropped because the extension's memory bound was reached.
    pub dropped_memory_limit: u64,
    /// Flushes that ended with data still undelivered (kept for the next one).
    pub deferred_flushes: u64,
    /// Items of requests left in flight at a flush deadline and acknowledged afterwards.
    pub acknowledged_late: u64,
    /// Items of requests left in flight at a flush deadline that failed afterwards (queued again).
    pub failed_late: u64,
}

/// What one export round achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Items delivered in this round.
    pub exported: u64,
    /// Items still queued after this round.
    pub pending: u64,
    /// Items of fully written requests still awaiting their answer.
    pub in_flight: u64,
    /// Exporters that still hold data or had data refused in this round.
    pub problems: Vec<ExportProblem>,
}

/// What went wrong for one exporter in one export round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportProblem {
    /// The exporter's id.
    pub exporter: String,
    /// The last error.
    pub error: String,
    /// Items held for the next flush.
    pub held: u64,
    /// Items refused for good in this round (and dropped).
    pub rejected: u64,
}

impl std::fmt::Display for ExportProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exporter {}: {}", self.exporter, self.error)?;
        if self.rejected > 0 {
            write!(f, "; {} items refused and dropped", self.rejected)?;
        }
        if self.held > 0 {
            write!(f, "; {} items held for the next flush", self.held)?;
        }
        Ok(())
    }
}

/// How long past its deadline a flush waits for its tasks' reports. Each task watches the deadline itself
/// and reports at once; this only bounds the wait should one be slow to be scheduled.
const REPORT_GRACE: Duration = Duration::from_millis(50);

/// The channel every export task reports on; late answers of requests left in flight arrive here too.
pub(crate) struct Delivery {
    sender: mpsc::UnboundedSender<Settlement>,
    reports: mpsc::UnboundedReceiver<Settlement>,
}

impl Delivery {
    pub(crate) fn new() -> Self {
        let (sender, reports) = mpsc::unbounded_channel();
        Delivery { sender, reports }
    }
}

/// Which flush this is: a regular one honours the circuit breakers; the last one, at shutdown, tries every
/// backend and waits for requests in flight until its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    Regular,
    Final,
}

/// Sends every exporter's queue, every signal of every exporter concurrently, and returns by `deadline`
/// (plus a few milliseconds of scheduling). What could not be delivered goes back to its queue, within the
/// queue's bound; written requests still unanswered stay in flight (see the module documentation).
pub(crate) async fn export_all<X: Export>(
    slots: &mut [ExporterSlot<X>],
    delivery: &mut Delivery,
    deadline: Instant,
    round: Round,
) -> ExportReport {
    let mut report = ExportReport::default();
    let mut tally = vec![RoundTally::default(); slots.len()];
    // Answers that came in since the last flush, typically read right after the thaw.
    while let Ok(settlement) = delivery.reports.try_recv() {
        settle(slots, settlement, &mut tally);
    }
    if round == Round::Final {
        // Requests still unanswered from earlier flushes may not be answered before the process ends: send
        // their data again (at-least-once; a late answer to the original makes a duplicate).
        for slot in slots.iter_mut() {
            for copy in slot.unanswered.drain(..) {
                if let Some(mut data) = copy.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    data.append(&mut slot.pending);
                    slot.pending = data;
                }
            }
        }
    }
    let probed = launch(slots, delivery, deadline, round, |_| true);
    collect(slots, delivery, deadline, probed.running, &mut tally).await;
    // A probe that got through closed its breaker: the rest of that exporter's queue drains in this flush.
    let reopened: Vec<usize> =
        probed.probes.into_iter().filter(|&i| slots[i].breaker.state(Instant::now()) == BreakerState::Closed).collect();
    if !reopened.is_empty() && Instant::now() < deadline {
        let drained = launch(slots, delivery, deadline, round, |i| reopened.contains(&i));
        collect(slots, delivery, deadline, drained.running, &mut tally).await;
    }
    if round == Round::Final {
        while slots.iter().any(|s| s.in_flight.iter().any(|&n| n > 0)) {
            match timeout_at(deadline, delivery.reports.recv()).await {
                Ok(Some(settlement)) => settle(slots, settlement, &mut tally),
                Ok(None) | Err(_) => break,
            }
        }
    }
    for (slot, tally) in slots.iter_mut().zip(tally) {
        book_round(slot, tally, &mut report);
    }
    report
}

/// Tasks started by [`launch`], and the exporters it probed.
struct Launched {
    running: usize,
    probes: Vec<usize>,
}

/// Starts one task per signal of every exporter `chosen` (by index) with data queued, as its breaker allows.
fn launch<X: Export>(
    slots: &mut [ExporterSlot<X>],
    delivery: &Delivery,
    deadline: Instant,
    round: Round,
    chosen: impl Fn(usize) -> bool,
) -> Launched {
    let now = Instant::now();
    let mut launched = Launched { running: 0, probes: Vec::new() };
    for (index, slot) in slots.iter_mut().enumerate().filter(|(i, _)| chosen(*i)) {
        let state = match round {
            Round::Regular => slot.breaker.state(now),
            Round::Final => BreakerState::Closed,
        };
        let (start_by, retry, signals) = match state {
            BreakerState::Open => continue,
            BreakerState::Closed => (deadline, true, SIGNALS.to_vec()),
            BreakerState::Probe => {
                launched.probes.push(index);
                let first = SIGNALS.into_iter().find(|&s| slot.pending.count(s) > 0);
                (deadline.min(now + slot.breaker.probe_window()), false, first.into_iter().collect())
            }
        };
        for signal in signals {
            let data = slot.pending.take_part(signal);
            if data.count(signal) == 0 {
                continue;
            }
            let task = SignalTask {
                exporter: slot.exporter.clone(),
                slot: index,
                signal,
                max_request: slot.max_request_items,
                start_by,
                retry,
                reports: delivery.sender.clone(),
            };
            tokio::spawn(task.run(data));
            launched.running += 1;
        }
    }
    launched
}

/// Settles reports until `running` tasks have ended their part in this flush, or the deadline passes.
async fn collect<X>(
    slots: &mut [ExporterSlot<X>],
    delivery: &mut Delivery,
    deadline: Instant,
    mut running: usize,
    tally: &mut [RoundTally],
) {
    while running > 0 {
        match timeout_at(deadline + REPORT_GRACE, delivery.reports.recv()).await {
            Ok(Some(settlement)) => {
                running -= usize::from(settlement.ends_round);
                settle(slots, settlement, tally);
            }
            // The sender half lives in `delivery`, so the channel never closes; a timeout leaves a slow task
            // to report at the next flush.
            Ok(None) | Err(_) => break,
        }
    }
}

/// Applies one task's report to its exporter: counters, the breaker, and what goes back to the queue.
fn settle<X>(slots: &mut [ExporterSlot<X>], settlement: Settlement, tally: &mut [RoundTally]) {
    let Settlement {
        slot: index, signal, counters, mut requeue, last_error, backend_down, delivered, unanswered, ..
    } = settlement;
    let slot = &mut slots[index];
    // Copies whose answer came are of no more use.
    slot.unanswered.retain(|copy| copy.lock().map_or(true, |data| data.is_some()));
    slot.unanswered.extend(unanswered);
    let k = signal.index();
    let total = &mut slot.counters[k];
    total.exported += counters.exported;
    total.retries += counters.retries;
    total.dropped_rejected += counters.dropped_rejected;
    total.acknowledged_late += counters.acknowledged_late;
    total.failed_late += counters.failed_late;
    tally[index].exported += counters.exported;
    tally[index].rejected += counters.dropped_rejected;
    slot.in_flight[k] = slot.in_flight[k] + settlement.left_in_flight - settlement.settles_in_flight;
    // What comes back is older than what was queued meanwhile: it goes first.
    if !requeue.is_empty() {
        requeue.append(&mut slot.pending);
        slot.pending = requeue;
    }
    let now = Instant::now();
    if backend_down {
        slot.breaker.record_down(now);
    } else if delivered {
        slot.breaker.record_delivered(now);
    }
    if last_error.is_some() {
        slot.last_error = last_error;
    } else if delivered && slot.pending.is_empty() {
        slot.last_error = None;
    }
}

/// Books one exporter's round: the queue bound, the counters of deferred data, and a problem entry when data
/// is held or was refused.
fn book_round<X>(slot: &mut ExporterSlot<X>, tally: RoundTally, report: &mut ExportReport) {
    for (k, signal) in SIGNALS.into_iter().enumerate() {
        let held = slot.pending.count(signal);
        if held > 0 {
            slot.counters[k].deferred_flushes += 1;
        }
        if held > slot.queue_limit {
            let dropped = slot.pending.take_front(signal, held - slot.queue_limit);
            slot.counters[k].dropped_queue_full += dropped.count(signal) as u64;
        }
        report.pending += slot.pending.count(signal) as u64;
        report.in_flight += slot.in_flight[k];
    }
    report.exported += tally.exported;
    // Data held for the next flush, or refused for good (bad credentials, say): either way the lifecycle
    // must be told, or a backend that rejects everything would go unnoticed until shutdown.
    let held = slot.pending_items();
    if let (Some(error), true) = (&slot.last_error, held > 0 || tally.rejected > 0) {
        let error = match slot.breaker.next_probe_in(Instant::now()) {
            Some(wait) => format!("{error} (backend down: next try in {} ms)", wait.as_millis()),
            None => error.clone(),
        };
        report.problems.push(ExportProblem { exporter: slot.id.to_string(), error, held, rejected: tally.rejected });
    }
}

/// Items one exporter delivered and had refused during one flush (late answers included).
#[derive(Debug, Clone, Copy, Default)]
struct RoundTally {
    exported: u64,
    rejected: u64,
}

/// One task's account of its part of a flush, or of the late answer of a request it left in flight.
struct Settlement {
    slot: usize,
    signal: Signal,
    counters: ExportCounters,
    /// Data to queue again (not sent, or failed retryably), oldest first.
    requeue: Signals,
    last_error: Option<String>,
    backend_down: bool,
    delivered: bool,
    /// This report ends the task's part in the flush that started it (the late answer's does not).
    ends_round: bool,
    /// Items of a written request the task goes on waiting for.
    left_in_flight: u64,
    /// Items of a request left in flight earlier that this report settles.
    settles_in_flight: u64,
    /// A copy of the request left in flight, until its answer comes (taken by the final export to send again).
    unanswered: Option<Unanswered>,
}

/// The data of a request left in flight; `None` once its answer came.
pub(crate) type Unanswered = Arc<std::sync::Mutex<Option<Signals>>>;

impl Settlement {
    fn new(slot: usize, signal: Signal) -> Self {
        Settlement {
            slot,
            signal,
            counters: ExportCounters::default(),
            requeue: Signals::default(),
            last_error: None,
            backend_down: false,
            delivered: false,
            ends_round: false,
            left_in_flight: 0,
            settles_in_flight: 0,
            unanswered: None,
        }
    }

    /// Accounts one request's outcome; false when the task must stop (the rest waits for a later flush).
    fn record(&mut self, outcome: ExportOutcome, result: Result<(), ExportError>, mut request: Signals) -> bool {
        let items = request.count(self.signal) as u64;
        self.counters.retries += u64::from(outcome.retries);
        self.backend_down |= outcome.backend_down;
        match result {
            Ok(()) => {
                self.counters.exported += items;
                self.delivered = true;
                true
            }
            Err(ExportError::Permanent { message }) => {
                self.counters.dropped_rejected += items;
                self.last_error = Some(message);
                true
            }
            Err(error) => {
                self.backend_down |= matches!(error, ExportError::Unreachable { .. });
                self.requeue.append(&mut request);
                self.last_error = Some(error.to_string());
                false
            }
        }
    }
}

/// One signal of one exporter's queue, sent in requests of at most `max_request` items, one after another.
struct SignalTask<X> {
    exporter: X,
    slot: usize,
    signal: Signal,
    max_request: Option<usize>,
    start_by: Instant,
    retry: bool,
    reports: mpsc::UnboundedSender<Settlement>,
}

impl<X: Export> SignalTask<X> {
    /// Sends `remaining` until it is empty, a retryable failure stops it, or `start_by` passes; a request
    /// fully written by then is awaited past the flush and its answer reported separately.
    async fn run(self, mut remaining: Signals) {
        let signal = self.signal;
        let mut report = Settlement::new(self.slot, signal);
        while remaining.count(signal) > 0 && Instant::now() < self.start_by {
            let mut request = match self.max_request {
                Some(n) => remaining.take_front(signal, n),
                None => std::mem::take(&mut remaining),
            };
            let written = WriteFlag::default();
            let attempts = Attempts { start_by: self.start_by, retry: self.retry, written: written.clone() };
            let mut export = Box::pin(self.exporter.export(signal, &request, attempts));
            let finished = tokio::select! {
                biased;
                result = &mut export => Some(result),
                () = sleep_until(self.start_by) => None,
            };
            let (outcome, result) = match finished {
                Some(finished) => finished,
                None if written.is_set() => {
                    // Fully sent: answer the flush now, and read the backend's answer whenever it comes.
                    let items = request.count(signal) as u64;
                    report.requeue.append(&mut remaining);
                    report.ends_round = true;
                    report.left_in_flight = items;
                    let copy: Unanswered = Arc::new(std::sync::Mutex::new(Some(request.clone())));
                    report.unanswered = Some(copy.clone());
                    let _ = self.reports.send(report);
                    let (outcome, result) = export.await;
                    copy.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let mut late = Settlement::new(self.slot, signal);
                    late.settles_in_flight = items;
                    if result.is_ok() {
                        late.counters.acknowledged_late = items;
                    } else if result.as_ref().is_err_and(ExportError::is_retryable) {
                        late.counters.failed_late = items;
                    }
                    late.record(outcome, result, request);
                    let _ = self.reports.send(late);
                    return;
                }
                None => {
                    // Not fully written: nothing of it reached the backend whole; keep it for the next flush.
                    drop(export);
                    request.append(&mut remaining);
                    remaining = request;
                    break;
                }
            };
            drop(export);
            if !report.record(outcome, result, request) {
                break;
            }
        }
        report.requeue.append(&mut remaining);
        report.ends_round = true;
        let _ = self.reports.send(report);
    }
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
