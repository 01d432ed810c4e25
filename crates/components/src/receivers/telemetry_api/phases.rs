//! The init and restore phases (`platform.initStart` / `restoreStart`, their runtimeDone and report), and the
//! resource facts their start events carry.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::{
    convert::Converter,
    events::{Event, EventBody, PhaseDone, PhaseSpan, PhaseStart},
    ids,
    metrics::Instrument,
    resource::{int, set_attr},
};

/// The `initializationType` of Lambda Managed Instances.
const MANAGED_INSTANCES: &str = "lambda-managed-instances";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PhaseKind {
    Init,
    Restore,
}

/// An init or restore phase being assembled from its start, runtimeDone and report events.
#[derive(Debug)]
pub(super) struct Phase {
    pub kind: PhaseKind,
    pub initialization_type: Option<String>,
    pub phase: Option<String>,
    pub start: Option<u64>,
    /// runtimeDone time.
    pub end: Option<u64>,
    pub report_time: Option<u64>,
    pub report_duration_ms: Option<f64>,
    pub status: Option<String>,
    pub error_type: Option<String>,
    pub spans: Vec<PhaseSpan>,
    /// runtimeDone or report arrived: the span can be drawn.
    pub complete: bool,
}

impl Phase {
    fn new(kind: PhaseKind) -> Self {
        Phase {
            kind,
            initialization_type: None,
            phase: None,
            start: None,
            end: None,
            report_time: None,
            report_duration_ms: None,
            status: None,
            error_type: None,
            spans: Vec::new(),
            complete: false,
        }
    }

    /// On-demand inits and restores happen right before an invocation: they join its trace.
    pub fn joins_invocation(&self) -> bool {
        self.kind == PhaseKind::Restore || self.initialization_type.as_deref() == Some("on-demand")
    }

    fn absorb(&mut self, done: PhaseDone) {
        if done.initialization_type.is_some() {
            self.initialization_type = done.initialization_type;
        }
        if done.phase.is_some() {
            self.phase = done.phase;
        }
        if done.status.is_some() {
            self.status = done.status;
        }
        if done.error_type.is_some() {
            self.error_type = done.error_type;
        }
        if !done.spans.is_empty() {
            self.spans = done.spans;
        }
        self.complete = true;
    }
}

impl Converter {
    /// Whether `event` is an init or restore event already seen (Lambda retrying a POST); remembers it.
    pub(super) fn is_repeated_phase_event(&mut self, event: &Event) -> bool {
        let (Some(tag), Some(t)) = (phase_event_tag(&event.body), event.time) else { return false };
        if self.recent_phase_events.contains(&(tag, t)) {
            return true;
        }
        if self.recent_phase_events.len() == 8 {
            self.recent_phase_events.pop_front();
        }
        self.recent_phase_events.push_back((tag, t));
        false
    }

    pub(super) fn on_phase_start(&mut self, kind: PhaseKind, time: Option<u64>, start: PhaseStart) {
        // A previous phase still held (an init that failed and was retried) keeps a trace of its own.
        if let Some(old) = self.phase_slot(kind).take() {
            self.emit_phase(old, None);
        }
        self.patch_resource(&start);
        match kind {
            PhaseKind::Init => self.on_init_start(&start),
            PhaseKind::Restore => self.on_restore_start(&start),
        }
        let mut phase = Phase::new(kind);
        phase.start = time;
        phase.initialization_type = start.initialization_type;
        phase.phase = start.phase;
        *self.phase_slot(kind) = Some(phase);
    }

    fn on_init_start(&mut self, start: &PhaseStart) {
        self.init_duration_recorded = false;
        match start.initialization_type.as_deref() {
            Some("on-demand") => {
                self.metrics.add(Instrument::Coldstarts, 1);
                // A suppressed init (phase `invoke`, after a reset) may run inside the invocation that
                // triggered it, after its platform.start: that invocation is the cold one.
                let running = match start.phase.as_deref() {
                    Some("invoke") => self.invocations.latest_running(),
                    _ => None,
                };
                match running {
                    Some(inv) => inv.coldstart = true,
                    None => self.cold_pending = true,
                }
            }
            Some(MANAGED_INSTANCES) => self.managed_instances = true,
            _ => {}
        }
    }

    /// SnapStart: this sandbox was restored from a snapshot, whose memory (this converter's included) holds
    /// the init that made the snapshot. That init is not this sandbox's cold start, and its span, if still
    /// held, does not belong in the trace of this sandbox's first invocation.
    ///
    /// Every copy of the snapshot resumes with the same id generator and the same `service.instance.id`:
    /// the generator is reseeded, the sandbox gets an instance id of its own (unless Lambda names one), and
    /// the cumulative metrics start over under it, so copies write neither equal ids nor one shared series.
    fn on_restore_start(&mut self, start: &PhaseStart) {
        ids::reseed_from_os();
        if start.instance_id.is_none() && !self.info.user_sets("service.instance.id") {
            set_attr(&mut self.resource.attributes, "service.instance.id", &ids::uuid_v4());
        }
        self.metrics.restart();
        self.cold_pending = false;
        if let Some(snapshot_init) = self.init.take() {
            self.emit_phase(snapshot_init, None);
        }
        self.counters.restores += 1;
        self.restore_unseen = true;
    }

    pub(super) fn on_phase_runtime_done(&mut self, kind: PhaseKind, time: Option<u64>, done: PhaseDone) {
        let phase = self.phase_slot(kind).get_or_insert_with(|| Phase::new(kind));
        phase.end = time;
        phase.absorb(done);
    }

    pub(super) fn on_init_report(&mut self, time: Option<u64>, done: PhaseDone) {
        if let Some(ms) = done.duration_ms {
            self.metrics.record(Instrument::InitDuration, ms / 1000.0);
            self.init_duration_recorded = true;
        }
        if matches!(done.status.as_deref(), Some("error" | "failure")) {
            self.metrics.add(Instrument::Errors, 1);
        }
        if done.error_type.as_deref() == Some("Runtime.OutOfMemory") {
            self.metrics.add(Instrument::OutOfMemory, 1);
        }
        let phase = self.init.get_or_insert_with(|| Phase::new(PhaseKind::Init));
        phase.report_time = time;
        phase.report_duration_ms = done.duration_ms;
        phase.absorb(done);
        // Provisioned concurrency and the like: no invocation follows right away, so no trace to join.
        if !phase.joins_invocation() {
            if let Some(phase) = self.init.take() {
                self.emit_phase(phase, None);
            }
        }
    }

    pub(super) fn on_restore_report(&mut self, time: Option<u64>, done: PhaseDone) {
        if let Some(ms) = done.duration_ms {
            self.metrics.record(Instrument::RestoreDuration, ms / 1000.0);
        }
        let phase = self.restore.get_or_insert_with(|| Phase::new(PhaseKind::Restore));
        phase.report_time = time;
        phase.report_duration_ms = done.duration_ms;
        phase.absorb(done);
    }

    /// A complete init that joins no invocation (provisioned concurrency) goes out alone before the next starts.
    pub(super) fn emit_unjoinable_init(&mut self) {
        if self.init.as_ref().is_some_and(|p| p.complete && !p.joins_invocation()) {
            if let Some(phase) = self.init.take() {
                self.emit_phase(phase, None);
            }
        }
    }

    pub(super) fn phase_slot(&mut self, kind: PhaseKind) -> &mut Option<Phase> {
        match kind {
            PhaseKind::Init => &mut self.init,
            PhaseKind::Restore => &mut self.restore,
        }
    }

    fn patch_resource(&mut self, start: &PhaseStart) {
        let attrs = &mut self.resource.attributes;
        if let Some(id) = &start.instance_id {
            for key in super::resource::INSTANCE_KEYS {
                if !self.info.user_sets(key) {
                    set_attr(attrs, key, id);
                }
            }
        }
        if self.info.function_name.is_none() {
            if let Some(name) = &start.function_name {
                if !self.info.user_sets("faas.name") {
                    set_attr(attrs, "faas.name", name);
                }
                if self.info.service_name.is_none() && !self.info.user_sets("service.name") {
                    set_attr(attrs, "service.name", name);
                    self.function_name.clone_from(name);
                }
                self.info.function_name = Some(name.clone());
            }
        }
        if let (None, Some(max)) = (self.info.memory_mb, start.instance_max_memory) {
            // Lambda sends bytes, the documentation's example MB; no function has less than 128 MB.
            let bytes = if max < 1_048_576 { max.saturating_mul(1_048_576) } else { max };
            if !self.info.user_sets("faas.max_memory") {
                let value = Some(int(i64::try_from(bytes).unwrap_or(i64::MAX)));
                match attrs.iter_mut().find(|kv| kv.key == "faas.max_memory") {
                    Some(kv) => kv.value = value,
                    None => attrs.push(KeyValue { key: "faas.max_memory".into(), value, ..Default::default() }),
                }
            }
        }
        if self.info.function_version.is_none() && !self.info.user_sets("faas.version") {
            if let Some(version) = &start.function_version {
                set_attr(attrs, "faas.version", version);
            }
        }
    }
}

/// Identifies the init and restore events, which have no request id to tell a repeat by.
fn phase_event_tag(body: &EventBody) -> Option<u8> {
    Some(match body {
        EventBody::InitStart(_) => 0,
        EventBody::InitRuntimeDone(_) => 1,
        EventBody::InitReport(_) => 2,
        EventBody::RestoreStart(_) => 3,
        EventBody::RestoreRuntimeDone(_) => 4,
        EventBody::RestoreReport(_) => 5,
        _ => return None,
    })
}
