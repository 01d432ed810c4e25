//! The receiver runtime, the hop between a receiver's listener and the pipeline graph: the running
//! receivers of one extension process, bound before it registers and drained together at each flush,
//! so the graph sees one flush's data from all receivers at once.
//!
//! Adding a receiver type means: a variant in [`Bound`] and [`Running`], its bind in [`bind`], and its
//! drain in [`Receivers::drain`] and [`Receivers::finish`].

use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use crate::{
    receivers::{
        join::Joiner,
        otlp::{BoundOtlp, OtlpReceiver},
        telemetry_api::{
            convert::{InvokeContext, ResourceInfo},
            listener::{BoundListener, TelemetryApiReceiver},
        },
    },
    Graph, ReceiverConfig,
};

/// A receiver whose port is bound but which does not serve yet.
pub enum Bound {
    /// The Telemetry API (or Logs API) listener.
    TelemetryApi(BoundListener),
    /// An OTLP gRPC and/or HTTP listener.
    Otlp(BoundOtlp),
}

/// A serving receiver.
pub enum Running {
    /// The Telemetry API (or Logs API) listener.
    TelemetryApi(TelemetryApiReceiver),
    /// An OTLP gRPC and/or HTTP listener.
    Otlp(OtlpReceiver),
}

impl Running {
    fn as_telemetry_api(&self) -> Option<&TelemetryApiReceiver> {
        match self {
            Running::TelemetryApi(t) => Some(t),
            Running::Otlp(_) => None,
        }
    }
}

/// Why a receiver could not bind its port.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The Telemetry API listener.
    #[error("receivers.{id}: {message}")]
    TelemetryApi {
        /// The receiver's id.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// An `otlp` receiver; the source names the key under the receiver's.
    #[error("receivers.{id}.{source}")]
    Otlp {
        /// The receiver's id.
        id: String,
        /// What went wrong, and where.
        source: crate::receivers::otlp::BindError,
    },
}

/// Binds a receiver's port; the error names the key to change.
pub async fn bind(id: &str, config: &ReceiverConfig) -> Result<Bound, BindError> {
    match config {
        ReceiverConfig::TelemetryApi(config) => BoundListener::bind(config)
            .await
            .map(Bound::TelemetryApi)
            .map_err(|message| BindError::TelemetryApi { id: id.to_owned(), message }),
        ReceiverConfig::Otlp(config) => BoundOtlp::bind(config)
            .await
            .map(Bound::Otlp)
            .map_err(|source| BindError::Otlp { id: id.to_owned(), source }),
    }
}

/// Every running receiver, each with its index in the graph.
#[derive(Default)]
pub struct Receivers {
    running: Vec<(usize, Running)>,
    /// Joins each flush's platform spans and logs with the function's own spans before dispatch.
    joiner: Mutex<Joiner>,
}

impl Receivers {
    /// Starts bound receivers; the Telemetry API converter builds its resource from `resource`.
    pub fn start(bound: Vec<(usize, Bound)>, resource: ResourceInfo) -> Self {
        let mut resource = Some(resource);
        let running = bound
            .into_iter()
            .map(|(index, bound)| match bound {
                Bound::TelemetryApi(listener) => {
                    (index, Running::TelemetryApi(listener.start(resource.take().unwrap_or_default())))
                }
                Bound::Otlp(otlp) => (index, Running::Otlp(otlp.start())),
            })
            .collect();
        Receivers { running, joiner: Mutex::default() }
    }

    /// Sets how each flush joins the function's own trace (the default: [`Joiner::default`]).
    pub fn set_joiner(&mut self, joiner: Joiner) {
        self.joiner = Mutex::new(joiner);
    }

    fn joiner(&self) -> MutexGuard<'_, Joiner> {
        // The joiner's state is a cache of recent span ids: after a panic elsewhere it is still usable.
        self.joiner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Joins the Telemetry API receiver's part of a flush with the other receivers' parts.
    fn join(&self, flush: &mut [(usize, lambdatel_pipeline::Signals)], last: bool) {
        let Some(platform_index) = self.running.iter().find_map(|(i, r)| r.as_telemetry_api().map(|_| *i)) else {
            return;
        };
        let Some(position) = flush.iter().position(|(i, _)| *i == platform_index) else { return };
        let mut platform = std::mem::take(&mut flush[position].1);
        let mut sdk: Vec<&mut lambdatel_pipeline::Signals> =
            flush.iter_mut().filter(|(i, _)| *i != platform_index).map(|(_, s)| s).collect();
        self.joiner().apply(&mut platform, &mut sdk, last);
        flush[position].1 = platform;
    }

    /// The Telemetry API receiver, when configured (at most one: Lambda allows one subscription).
    pub fn telemetry_api(&self) -> Option<&TelemetryApiReceiver> {
        self.running.iter().find_map(|(_, r)| r.as_telemetry_api())
    }

    /// Bounds what receivers hold between flushes, in bytes.
    pub fn set_memory_budget(&self, bytes: usize) {
        if let Some(t) = self.telemetry_api() {
            t.set_log_budget(bytes);
        }
    }

    /// How much telemetry the receivers have taken in so far (bytes of Telemetry API POST bodies), and how
    /// much they hold until the next flush: what the flush policy weighs.
    pub fn volume(&self) -> (u64, usize) {
        self.telemetry_api().map_or((0, 0), |t| (t.stats().bytes, t.held_log_bytes()))
    }

    /// The receivers' part of the self-telemetry: (events accepted, events skipped, logs dropped by the
    /// memory bound).
    pub fn counters(&self) -> (u64, u64, u64) {
        self.telemetry_api().map_or((0, 0, 0), |t| {
            let stats = t.stats();
            (stats.ingest.events, stats.ingest.skipped_events, t.dropped_logs())
        })
    }

    /// Sends the extension's own metrics down the metrics pipelines of the Telemetry API receiver, with its
    /// resource. Without that receiver there is no Lambda resource to attach them to, and they are left out.
    pub fn dispatch_self_telemetry(
        &self,
        graph: &mut Graph,
        make: impl FnOnce(lambdatel_pipeline::resource::Resource) -> Option<lambdatel_pipeline::Signals>,
    ) {
        let Some((index, t)) = self.running.iter().find_map(|(i, r)| r.as_telemetry_api().map(|t| (*i, t))) else {
            return;
        };
        if let Some(signals) = make(t.resource()) {
            graph.dispatch_exempt(index, signals);
        }
    }

    /// Declares the sandbox a Lambda Managed Instances one (a config forcing the mode; otherwise the
    /// converter knows it from the environment and `platform.initStart`).
    pub fn set_managed_instances(&self, managed_instances: bool) {
        if let Some(t) = self.telemetry_api() {
            t.set_managed_instances(managed_instances);
        }
    }

    /// Waits until an invocation has ended since the last drain, or `deadline`; returns whether one has.
    /// Without a Telemetry API receiver nothing ends, and this waits until `deadline`.
    pub async fn wait_ended(&self, deadline: Instant) -> bool {
        match self.telemetry_api() {
            Some(t) => t.wait_ended(deadline).await,
            None => {
                tokio::time::sleep_until(deadline).await;
                false
            }
        }
    }

    /// SnapStart restores (`platform.restoreStart`) received so far.
    pub fn restores(&self) -> u64 {
        self.telemetry_api().map_or(0, |t| t.restores())
    }

    /// Tells receivers that an invocation started.
    pub fn on_invoke(&self, ctx: InvokeContext) {
        if let Some(t) = self.telemetry_api() {
            t.on_invoke(ctx);
        }
    }

    /// Waits for `platform.runtimeDone` of `request_id` (when platform events are subscribed) until
    /// `deadline`, then for the function's OTLP requests still in flight (each `otlp` receiver's
    /// `flush_wait` at most), so that what the function sent during the invocation is part of its flush.
    pub async fn wait_runtime_done(&self, request_id: &str, deadline: Instant) {
        if let Some(t) = self.telemetry_api().filter(|t| t.config().wants_platform()) {
            t.wait_runtime_done(request_id, deadline).await;
        }
        for (_, receiver) in &self.running {
            if let Running::Otlp(otlp) = receiver {
                otlp.wait_idle(deadline.min(Instant::now() + otlp.config().flush_wait)).await;
            }
        }
    }

    /// Moves everything received and complete into the graph's pipelines, as one flush.
    pub fn collect(&self, graph: &mut Graph) {
        graph.dispatch_flush(self.drain());
    }

    /// Everything received and complete, by receiver index.
    pub fn drain(&self) -> Vec<(usize, lambdatel_pipeline::Signals)> {
        let mut flush = self
            .running
            .iter()
            .map(|(index, receiver)| match receiver {
                Running::TelemetryApi(t) => (*index, t.drain()),
                Running::Otlp(otlp) => (*index, otlp.drain()),
            })
            .collect::<Vec<_>>();
        self.join(&mut flush, false);
        flush
    }

    /// At shutdown: waits for the last deliveries (until `deadline`), then moves everything, including what
    /// receivers still hold, into the graph.
    pub async fn finish(&self, graph: &mut Graph, deadline: Instant) {
        let mut flush = Vec::with_capacity(self.running.len());
        for (index, receiver) in &self.running {
            match receiver {
                Running::TelemetryApi(t) => {
                    // Lambda sends what it still buffers within one buffering period: stop when it goes quiet.
                    let quiet = std::time::Duration::from_millis(u64::from(t.config().buffering.timeout_ms) + 50);
                    t.wait_quiet(quiet, deadline).await;
                    flush.push((*index, t.finish()));
                }
                Running::Otlp(otlp) => {
                    otlp.wait_idle(deadline.min(Instant::now() + otlp.config().flush_wait)).await;
                    flush.push((*index, otlp.drain()));
                }
            }
        }
        self.join(&mut flush, true);
        graph.dispatch_flush(flush);
    }
}
