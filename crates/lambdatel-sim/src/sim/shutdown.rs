//! Shutdown and reset: SIGTERM to the runtime, SHUTDOWN to the extensions, SIGKILL at the
//! deadline, and the figures of every process for the report.

use super::*;

impl Simulator {
    /// SIGKILLs everything at once (used when init cannot proceed).
    pub(super) async fn kill_all(&mut self) {
        self.thaw();
        for p in self.procs() {
            p.signal(libc::SIGKILL);
        }
        for e in &mut self.exts {
            e.killed = e.proc.exit_info().is_none();
        }
        self.collect().await;
    }

    /// Shuts the current environment down: SIGTERM and up to the runtime budget for the runtime,
    /// SHUTDOWN to extensions registered for it, SIGKILL to whatever is left at the deadline.
    pub(super) async fn teardown(&mut self, reason: ShutdownReason, graceful: bool) -> Option<f64> {
        let t0 = Instant::now();
        self.thaw();
        for p in self.procs() {
            p.expect_exit();
        }
        self.env.st.lock().unwrap().phase = Phase::Shutdown;
        let budget = if self.exts.is_empty() { Duration::ZERO } else { self.cfg.shutdown_budget };
        let deadline_wall = SystemTime::now() + budget;
        let deadline = t0 + budget;
        if let Some(task) = self.scripted.take() {
            task.abort();
        }
        if let Some(rt) = &self.runtime {
            rt.signal(libc::SIGTERM);
            let rt_budget = if graceful { self.cfg.runtime_shutdown_budget.min(budget) } else { Duration::ZERO };
            if !rt.wait_exit(rt_budget).await {
                rt.signal(libc::SIGKILL);
                rt.wait_exit(Duration::from_secs(2)).await;
            }
        }
        self.env.hub.flush_all();
        let shutdown_event =
            json!({"eventType": "SHUTDOWN", "shutdownReason": reason.wire(), "deadlineMs": epoch_ms(deadline_wall)});
        {
            let st = self.env.st.lock().unwrap();
            for ep in &mut self.exts {
                let slot = st.exts.iter().find(|s| s.name == ep.name);
                match slot {
                    Some(s) if s.shutdown && graceful && !s.failed => {
                        let _ = s.tx.send(shutdown_event.clone());
                        ep.shutdown_sent = Some(Instant::now());
                    }
                    _ => {
                        // Not registered for SHUTDOWN: nothing to wait for.
                        ep.proc.signal(libc::SIGKILL);
                        ep.killed = ep.proc.exit_info().is_none();
                        ep.shutdown_sent = Some(Instant::now());
                    }
                }
            }
        }
        for ep in &self.exts {
            ep.proc.wait_exit(deadline.saturating_duration_since(Instant::now())).await;
        }
        for ep in &mut self.exts {
            if ep.proc.exit_info().is_none() {
                ep.proc.signal(libc::SIGKILL);
                ep.killed = true;
            }
        }
        self.collect().await;
        Some(ms(t0.elapsed()))
    }

    /// Waits for every process to be reaped and moves the extension figures into the report.
    pub(super) async fn collect(&mut self) {
        for p in self.procs() {
            p.wait_exit(Duration::from_secs(5)).await;
        }
        let st = self.env.st.lock().unwrap();
        for ep in self.exts.drain(..) {
            let slot = st.exts.iter().find(|s| s.name == ep.name);
            let exit = ep.proc.exit_info();
            let subscription = slot.and_then(|s| s.subscription.as_ref()).map(|(logs, sub)| {
                use std::sync::atomic::Ordering::Relaxed;
                let schema = match &sub.request.schema {
                    Schema::Telemetry(v) | Schema::Logs(v) => v.clone(),
                };
                SubscriptionReport {
                    api: if *logs { "logs" } else { "telemetry" }.into(),
                    schema_version: schema,
                    types: sub.request.types.clone(),
                    buffering: sub.request.buffering,
                    delivered: sub.stats.delivered.load(Relaxed),
                    dropped: sub.stats.dropped.load(Relaxed),
                    batches: sub.stats.batches.load(Relaxed),
                    failed_attempts: sub.stats.failed_attempts.load(Relaxed),
                    rejected_attempts: sub.stats.rejected_attempts.load(Relaxed),
                }
            });
            let mut events = Vec::new();
            if slot.is_some_and(|s| s.invoke) {
                events.push("INVOKE".into());
            }
            if slot.is_some_and(|s| s.shutdown) {
                events.push("SHUTDOWN".into());
            }
            self.ext_reports.push(ExtensionReport {
                name: ep.name.clone(),
                path: ep.path.clone(),
                generation: self.generation,
                pid: ep.proc.pid,
                registered: slot.is_some(),
                events,
                time_to_first_next_ms: slot.and_then(|s| s.first_next).map(|t| ms(t.duration_since(ep.proc.started))),
                post_runtime_ms: self.post_runtime.remove(&ep.name).unwrap_or_default(),
                peak_rss_kb: exit.as_ref().map(|e| e.max_rss_kb).unwrap_or(0),
                cpu_ms: exit.as_ref().map(|e| ms(e.cpu)).unwrap_or(0.0),
                shutdown_ms: match (ep.shutdown_sent, &exit) {
                    (Some(s), Some(e)) => Some(ms(e.at.saturating_duration_since(s))),
                    _ => None,
                },
                exit_status: exit.map(|e| e.status),
                killed: ep.killed,
                errors: slot.map(|s| s.errors.clone()).unwrap_or_default(),
                subscription,
            });
        }
        drop(st);
        self.env.hub.clear();
    }

    /// Shuts the environment down and returns the full report.
    pub async fn shutdown(mut self, reason: ShutdownReason) -> Result<Report, SimError> {
        if self.shut_down {
            return Err(SimError::ShutDown);
        }
        self.shut_down = true;
        let (shutdown_ms, runtime_exit) = if self.needs_init {
            (None, None)
        } else {
            let d = self.teardown(reason, true).await;
            (d, self.runtime.as_ref().and_then(|r| r.exit_info()).map(|e| e.status))
        };
        self.server.abort();
        let (delivered, dropped) = self.delivery_totals();
        Ok(Report {
            function_name: self.cfg.function_name.clone(),
            memory_mb: self.cfg.memory_mb,
            timeout_ms: self.cfg.timeout.as_millis() as u64,
            freeze: self.cfg.freeze && self.cfg.managed_instances.is_none(),
            managed_instances: self.cfg.managed_instances.as_ref().map(|mi| mi.concurrency),
            inits: self.inits.clone(),
            invocations: self.invocations.clone(),
            extensions: self.ext_reports.clone(),
            shutdown_ms,
            shutdown_reason: Some(reason),
            runtime_exit,
            events_delivered: delivered,
            events_dropped: dropped,
            events: self.env.hub.events(),
        })
    }

    pub(super) fn delivery_totals(&self) -> (u64, u64) {
        self.ext_reports
            .iter()
            .filter_map(|e| e.subscription.as_ref())
            .fold((0, 0), |(d, x), s| (d + s.delivered, x + s.dropped))
    }
}
