//! The Init phase (extension init, runtime init, function init, within the Init limit) and the
//! SnapStart restore.

use super::*;

impl Simulator {
    /// Runs an init phase (`init`, `invoke` for a suppressed init, `snap-start`).
    pub(super) async fn run_init(&mut self, phase: &str) -> Result<(), SimError> {
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::now() + self.init_limit();
        self.generation += 1;
        self.post_runtime.clear();
        let hub = self.env.hub.clone();
        hub.set_frozen(false);
        hub.open_backlog();
        let names: Vec<String> =
            self.ext_paths.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
        self.env.reset_for_init(names.clone());
        let init_type = self.initialization_type().to_string();
        hub.emit(EventRecord::InitStart(InitStart {
            initialization_type: init_type.clone(),
            phase: phase.into(),
            function_name: self.cfg.function_name.clone(),
            function_version: self.cfg.function_version.clone(),
            instance_id: None,
            instance_max_memory: Some(self.cfg.memory_mb),
            runtime_version: None,
            runtime_version_arn: None,
        }));
        // Extension init: start every extension and wait for all to register.
        let base = self.base_env();
        let mut ext_env = base.clone();
        ext_env.retain(|(k, _)| k != "_HANDLER");
        for (path, name) in self.ext_paths.clone().into_iter().zip(names.iter()) {
            let env = self.env.clone();
            let proc =
                spawn(&path, &[], &ext_env, None, self.output_sink(name.clone(), false), Arc::new(move || env.bump()))
                    .map_err(|source| SimError::Spawn { path: path.clone(), source })?;
            self.exts.push(ExtProc { name: name.clone(), path, proc, shutdown_sent: None, killed: false });
        }
        let exit_flags = self.exit_flags();
        let all_registered = self
            .env
            .wait_until(deadline, |st| {
                st.allowed_names.is_empty()
                    || st.allowed_names.iter().any(|n| exit_flags.iter().any(|(en, f)| en == n && f()))
                    || st.exts.iter().any(|e| e.failed)
            })
            .await;
        let unregistered = self.env.st.lock().unwrap().allowed_names.clone();
        if !all_registered && !unregistered.is_empty() {
            let still_running: Vec<String> = unregistered
                .iter()
                .filter(|n| self.exts.iter().any(|e| &e.name == *n && e.proc.exit_info().is_none()))
                .cloned()
                .collect();
            if !still_running.is_empty() {
                self.kill_all().await;
                hub.close_backlog();
                self.needs_init = true;
                return Err(SimError::NeverRegistered {
                    names: still_running,
                    limit_ms: self.init_limit().as_millis() as u64,
                });
            }
        }
        let mut failure: Option<(String, String)> = None;
        if !unregistered.is_empty() {
            failure = Some(("failure".into(), "Extension.Crash".into()));
        }
        // Runtime init: start the runtime once every extension has registered.
        if failure.is_none() {
            self.start_runtime(&base)?;
            let exit_flags = self.exit_flags();
            let rt_done = self
                .env
                .wait_until(deadline, |st| {
                    let rt_ready = st.rt.next_calls > 0 || st.rt.init_error.is_some() || st.rt.exited;
                    let exts_ready = st
                        .exts
                        .iter()
                        .all(|e| !e.busy || e.failed || exit_flags.iter().any(|(n, f)| *n == e.name && f()));
                    (rt_ready && exts_ready) || st.exts.iter().any(|e| e.failed)
                })
                .await;
            let st = self.env.st.lock().unwrap();
            let ext_exited = st.exts.iter().any(|e| e.busy && exit_flags.iter().any(|(n, f)| *n == e.name && f()));
            failure = if !rt_done {
                Some(("timeout".into(), "Sandbox.Timedout".into()))
            } else if let Some(err) = st.exts.iter().find_map(|e| e.errors.first()) {
                Some(("error".into(), err.error_type.clone()))
            } else if let Some((ty, _)) = &st.rt.init_error {
                Some(("error".into(), ty.clone()))
            } else if st.rt.exited && st.rt.next_calls == 0 {
                Some(("failure".into(), "Runtime.ExitError".into()))
            } else if ext_exited {
                Some(("failure".into(), "Extension.Crash".into()))
            } else {
                None
            };
            // platform.extension for every extension that finished its init.
            for e in st.exts.iter().filter(|e| e.first_next.is_some()) {
                let mut events = Vec::new();
                if e.invoke {
                    events.push("INVOKE".to_string());
                }
                if e.shutdown {
                    events.push("SHUTDOWN".to_string());
                }
                hub.emit_at(
                    wall(e.first_next.unwrap_or(t0)),
                    EventRecord::Extension(ExtensionState { name: e.name.clone(), state: "Ready".into(), events }),
                );
            }
            let rt_time = st.rt.last_next.map(wall).unwrap_or_else(SystemTime::now);
            let (status, error_type) = match &failure {
                None => ("success".to_string(), None),
                Some((s, t)) => (s.clone(), Some(t.clone())),
            };
            hub.emit_at(
                rt_time,
                EventRecord::InitRuntimeDone(PhaseDone {
                    initialization_type: Some(init_type.clone()),
                    phase: Some(phase.into()),
                    status,
                    error_type,
                    spans: None,
                }),
            );
        }
        let duration = t0.elapsed();
        let (status, error_type) = match &failure {
            None => ("success".to_string(), None),
            Some((s, t)) => (s.clone(), Some(t.clone())),
        };
        hub.emit(EventRecord::InitReport(InitReport {
            initialization_type: init_type,
            phase: phase.into(),
            status: status.clone(),
            error_type: error_type.clone(),
            metrics: DurationMetrics { duration_ms: ms(duration) },
            spans: None,
        }));
        hub.close_backlog();
        self.inits.push(InitRecord { phase: phase.into(), status, error_type, duration_ms: ms(duration) });
        self.env.st.lock().unwrap().phase = Phase::Idle;
        if failure.is_some() {
            // Give subscribers a moment to receive the init events before the sandbox is torn down.
            hub.flush_all();
            hub.drained(Duration::from_millis(500)).await;
            self.teardown(ShutdownReason::Failure, false).await;
            self.needs_init = true;
        } else {
            self.needs_init = false;
            self.pending_init_ms = Some(ms(duration));
            if self.cfg.snap_start && phase == "snap-start" {
                self.restore().await;
            }
            self.freeze().await;
        }
        Ok(())
    }

    /// SnapStart: this (frozen) sandbox stands for a new copy restored from a snapshot taken now: the
    /// restore events reach the extensions before the next invoke, whose report carries the restore
    /// duration. Connections the sandbox holds stay open, as a snapshot's would look from inside it.
    /// Without `snap_start`, or before the first init, it does nothing.
    pub async fn restore_snapshot(&mut self) {
        if !self.cfg.snap_start || self.needs_init || self.shut_down {
            return;
        }
        self.thaw();
        self.restore().await;
        // Delivered before the freeze, so the extension knows of this restore at the next invoke.
        self.env.hub.flush_all();
        self.env.hub.drained(Duration::from_millis(500)).await;
        self.freeze().await;
    }

    /// SnapStart: the snapshot is "restored" right away; restore events precede the first invoke.
    pub(super) async fn restore(&mut self) {
        let t0 = Instant::now();
        let hub = &self.env.hub;
        hub.emit(EventRecord::RestoreStart(RestoreStart {
            function_name: self.cfg.function_name.clone(),
            function_version: self.cfg.function_version.clone(),
            instance_id: None,
            instance_max_memory: Some(self.cfg.memory_mb),
        }));
        hub.emit(EventRecord::RestoreRuntimeDone(PhaseDone {
            initialization_type: None,
            phase: None,
            status: "success".into(),
            error_type: None,
            spans: None,
        }));
        let d = ms(t0.elapsed());
        hub.emit(EventRecord::RestoreReport(RestoreReport {
            status: "success".into(),
            error_type: None,
            metrics: Some(DurationMetrics { duration_ms: d }),
        }));
        self.pending_restore_ms = Some(d);
    }
}
