//! The delivery path against scripted exporters, in paused time: concurrency, requests left in flight past
//! the deadline, and the circuit breaker.

use std::sync::{Arc, Mutex};

use lambdatel_config::ComponentId;

use super::*;
use crate::{
    logs::{LogRecord, ResourceLogs, ScopeLogs},
    metrics::{Metric, ResourceMetrics, ScopeMetrics},
    trace::{ResourceSpans, ScopeSpans, Span},
};

/// What the scripted backend does with every request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    /// Takes the request, answers after this long.
    Answers(Duration),
    /// Takes the request, fails it retryably after this long.
    FailsAfter(Duration),
    /// Never finishes taking the request.
    NeverReads,
    /// Refuses the connection.
    Refuses,
}

#[derive(Clone)]
struct Scripted {
    backend: Arc<Mutex<Backend>>,
    /// Every attempt: its signal, item count and whether retries were allowed.
    calls: Arc<Mutex<Vec<(Signal, usize, bool)>>>,
}

impl Scripted {
    fn new(backend: Backend) -> Self {
        Scripted { backend: Arc::new(Mutex::new(backend)), calls: Arc::default() }
    }

    fn set(&self, backend: Backend) {
        *self.backend.lock().unwrap() = backend;
    }

    fn calls(&self) -> Vec<(Signal, usize, bool)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Export for Scripted {
    async fn export(
        &self,
        signal: Signal,
        data: &Signals,
        attempts: Attempts,
    ) -> (ExportOutcome, Result<(), ExportError>) {
        self.calls.lock().unwrap().push((signal, data.count(signal), attempts.retry));
        let backend = *self.backend.lock().unwrap();
        let retryable = || ExportError::Retryable { message: "answer lost".into(), retry_after: None };
        match backend {
            Backend::Answers(after) => {
                attempts.written.set();
                tokio::time::sleep(after).await;
                (ExportOutcome::default(), Ok(()))
            }
            Backend::FailsAfter(after) => {
                attempts.written.set();
                tokio::time::sleep(after).await;
                (ExportOutcome::default(), Err(retryable()))
            }
            Backend::NeverReads => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            Backend::Refuses => (
                ExportOutcome { retries: 1, backend_down: true },
                Err(ExportError::Unreachable { message: "connection refused".into() }),
            ),
        }
    }

    fn queue_limit(&self) -> usize {
        1000
    }

    fn breaker(&self) -> BreakerConfig {
        BreakerConfig {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
            ..BreakerConfig::default()
        }
    }
}

/// `n` spans, `n` gauges and `n` log records.
fn data(n: usize) -> Signals {
    Signals {
        spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span::default(); n], ..Default::default() }],
            ..Default::default()
        }],
        metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: (0..n)
                    .map(|_| Metric {
                        data: Some(crate::metrics::metric::Data::Gauge(crate::metrics::Gauge {
                            data_points: vec![Default::default()],
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); n], ..Default::default() }],
            ..Default::default()
        }],
    }
}

struct Setup {
    slots: Vec<ExporterSlot<Scripted>>,
    delivery: Delivery,
}

impl Setup {
    fn new(exporters: &[&Scripted]) -> Self {
        let slots = exporters
            .iter()
            .enumerate()
            .map(|(i, x)| ExporterSlot::new(ComponentId::parse(&format!("otlp/{i}")).unwrap(), (*x).clone()))
            .collect();
        Setup { slots, delivery: Delivery::new() }
    }

    fn queue(&mut self, n: usize) {
        for slot in &mut self.slots {
            slot.pending.append(&mut data(n));
        }
    }

    async fn flush(&mut self, budget: Duration) -> ExportReport {
        export_all(&mut self.slots, &mut self.delivery, Instant::now() + budget, Round::Regular).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_flush_costs_one_round_trip_whatever_the_signals_and_exporters() {
    let (a, b) = (
        Scripted::new(Backend::Answers(Duration::from_millis(20))),
        Scripted::new(Backend::Answers(Duration::from_millis(20))),
    );
    let mut setup = Setup::new(&[&a, &b]);
    setup.queue(2);
    let started = Instant::now();
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(20), "six exports, one round trip");
    assert_eq!(report, ExportReport { exported: 12, pending: 0, in_flight: 0, problems: vec![] });
    assert_eq!(a.calls().len(), 3);
    assert_eq!(b.calls().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_written_request_outlives_the_deadline_and_its_answer_is_accounted_later() {
    let slow = Scripted::new(Backend::Answers(Duration::from_secs(3)));
    let mut setup = Setup::new(&[&slow]);
    setup.queue(2);
    let started = Instant::now();
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(1), "the flush ends at its deadline");
    assert_eq!((report.exported, report.pending, report.in_flight), (0, 0, 6));
    // Frozen, then thawed after the answers came in: the next flush accounts them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!((report.exported, report.pending, report.in_flight), (6, 0, 0));
    let c = setup.slots[0].counters;
    assert_eq!(c.map(|c| (c.exported, c.acknowledged_late, c.failed_late)), [(2, 2, 0); 3]);
    assert_eq!(slow.calls().len(), 3, "nothing sent twice");
}

#[tokio::test(start_paused = true)]
async fn a_written_request_that_fails_after_the_deadline_is_queued_again() {
    let backend = Scripted::new(Backend::FailsAfter(Duration::from_secs(3)));
    let mut setup = Setup::new(&[&backend]);
    setup.queue(2);
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!((report.pending, report.in_flight), (0, 6));
    tokio::time::sleep(Duration::from_secs(3)).await;
    backend.set(Backend::Answers(Duration::from_millis(5)));
    setup.queue(1);
    let report = setup.flush(Duration::from_secs(1)).await;
    // The failed requests go out again, before the newer data, in the same flush.
    assert_eq!((report.exported, report.pending, report.in_flight), (9, 0, 0));
    let c = setup.slots[0].counters;
    assert_eq!(c.map(|c| (c.exported, c.failed_late)), [(3, 2); 3]);
    let calls = backend.calls();
    assert_eq!(calls.len(), 6);
    assert!(calls[3..].iter().all(|&(_, items, _)| items == 3), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_request_not_fully_written_by_the_deadline_is_kept_for_the_next_flush() {
    let backend = Scripted::new(Backend::NeverReads);
    let mut setup = Setup::new(&[&backend]);
    setup.queue(2);
    let started = Instant::now();
    let report = setup.flush(Duration::from_millis(300)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!((report.exported, report.pending, report.in_flight), (0, 6, 0));
    assert_eq!(setup.slots[0].counters.map(|c| c.deferred_flushes), [1; 3]);
}

#[tokio::test(start_paused = true)]
async fn a_dead_backend_is_skipped_then_probed_once_and_drained_when_back() {
    let backend = Scripted::new(Backend::Refuses);
    let mut setup = Setup::new(&[&backend]);
    setup.queue(2);
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!(report.pending, 6);
    assert_eq!(backend.calls().len(), 3, "one export per signal, each found it down");
    assert_eq!(setup.slots[0].breaker.opened, 1);

    // Open: the next flushes skip the exporter at no cost, keeping what it holds.
    setup.queue(1);
    let started = Instant::now();
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(report.pending, 9);
    assert_eq!(backend.calls().len(), 3);
    assert_eq!(report.problems.len(), 1);
    let problem = &report.problems[0].to_string();
    assert!(
        problem.starts_with("exporter otlp/0: backend unreachable: connection refused (backend down: next try in "),
        "{problem}"
    );
    assert!(problem.ends_with(" ms); 9 items held for the next flush"), "{problem}");

    // The probe: one request of one signal, without retries; it fails, the wait grows.
    tokio::time::sleep(Duration::from_millis(130)).await;
    setup.flush(Duration::from_secs(1)).await;
    assert_eq!(backend.calls()[3..], [(Signal::Traces, 3, false)]);
    let wait = setup.slots[0].breaker.next_probe_in(Instant::now()).unwrap();
    assert!(wait >= Duration::from_millis(150), "{wait:?}");

    // Back: the next probe succeeds and closes the breaker, and the rest drains in the same flush.
    backend.set(Backend::Answers(Duration::from_millis(1)));
    tokio::time::sleep(wait).await;
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!((report.exported, report.pending, report.problems.len()), (9, 0, 0));
    assert_eq!(backend.calls()[4..], [(Signal::Traces, 3, false), (Signal::Metrics, 3, true), (Signal::Logs, 3, true)]);
    let open = setup.slots[0].breaker.open_time(Instant::now() + Duration::from_secs(1));
    assert!(open >= Duration::from_millis(130) + wait && open < Duration::from_millis(140) + wait, "{open:?}");
}

#[tokio::test(start_paused = true)]
async fn the_final_export_ignores_the_breaker_and_waits_for_answers_in_flight() {
    let backend = Scripted::new(Backend::Refuses);
    let mut setup = Setup::new(&[&backend]);
    setup.queue(1);
    setup.flush(Duration::from_secs(1)).await;
    backend.set(Backend::Answers(Duration::from_millis(700)));
    let deadline = Instant::now() + Duration::from_secs(2);
    let report = export_all(&mut setup.slots, &mut setup.delivery, deadline, Round::Final).await;
    assert_eq!((report.exported, report.pending, report.in_flight), (3, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_final_export_sends_requests_still_unanswered_again() {
    let backend = Scripted::new(Backend::Answers(Duration::from_secs(10)));
    let mut setup = Setup::new(&[&backend]);
    setup.queue(2);
    let report = setup.flush(Duration::from_secs(1)).await;
    assert_eq!(report.in_flight, 6);
    backend.set(Backend::Answers(Duration::from_millis(10)));
    let deadline = Instant::now() + Duration::from_secs(1);
    let report = export_all(&mut setup.slots, &mut setup.delivery, deadline, Round::Final).await;
    // Sent again and acknowledged; the originals are still unanswered (a duplicate should they land).
    assert_eq!((report.exported, report.pending, report.in_flight), (6, 0, 6));
    assert_eq!(backend.calls().len(), 6);
}
