//! One on-demand invocation through its whole invoke phase: INVOKE to the runtime and the
//! extensions, the response, `platform.runtimeDone`, every extension's `next`, `platform.report`,
//! then the freeze (or a reset after a timeout or crash).

use super::*;

impl Simulator {
    /// Runs one invocation through its whole invoke phase.
    pub async fn invoke(&mut self, inv: Invocation) -> Result<Outcome, SimError> {
        self.invoke_with(inv, None).await
    }

    /// Like [`Simulator::invoke`], also sending the response to `early` as soon as the runtime
    /// posts it (what the Invoke API's caller gets).
    pub async fn invoke_with(
        &mut self,
        inv: Invocation,
        mut early: Option<oneshot::Sender<EarlyResponse>>,
    ) -> Result<Outcome, SimError> {
        if self.shut_down {
            return Err(SimError::ShutDown);
        }
        if self.cfg.managed_instances.is_some() {
            let mut outcomes = self.run_concurrently(vec![(inv, early)]).await?;
            return outcomes.pop().ok_or(SimError::ShutDown);
        }
        let t0 = Instant::now();
        let mut suppressed = false;
        if !self.needs_init && self.a_process_exited() {
            // Lambda does not hand an invocation to an environment whose runtime or an extension has died since
            // the last one: it resets it, as after a crash, and this invocation initialises a new one.
            self.teardown(ShutdownReason::Failure, true).await;
            self.needs_init = true;
        }
        if self.needs_init {
            suppressed = true;
            self.run_init("invoke").await?;
        }
        self.thaw();
        let request_id = crate::ids::uuid();
        let trace = inv.trace_header.clone().unwrap_or_else(crate::ids::trace_header);
        let start_wall = SystemTime::now();
        let deadline_wall = start_wall + self.cfg.timeout;
        let deadline = tokio::time::Instant::now() + self.cfg.timeout;
        let tracing = |span: &str| {
            Some(TraceContext { span_id: Some(span.to_string()), kind: "X-Amzn-Trace-Id".into(), value: trace.clone() })
        };
        let span = crate::ids::span_id();
        if self.needs_init {
            // The suppressed init failed: the invocation fails without reaching the runtime.
            let err = self.inits.last().and_then(|i| i.error_type.clone()).unwrap_or("Runtime.Unknown".into());
            let body = json!({"errorType": err, "errorMessage": "the execution environment failed to initialise"});
            if let Some(tx) = early {
                let _ =
                    tx.send(EarlyResponse { body: body.to_string().into(), function_error: Some("Unhandled".into()) });
            }
            return Ok(self.record(Outcome {
                request_id,
                status: "failure".into(),
                error_type: Some(err),
                response: Some(body.to_string().into()),
                response_ms: Some(ms(t0.elapsed())),
                runtime_ms: None,
                invoke_phase_ms: ms(t0.elapsed()),
                post_runtime_ms: Vec::new(),
                suppressed_init: suppressed,
                trace_header: trace,
                end_unix_ms: unix_ms(SystemTime::now()),
            }));
        }
        let hub = self.env.hub.clone();
        hub.emit(EventRecord::Start(Start {
            request_id: request_id.clone(),
            version: Some(self.cfg.function_version.clone()),
            function_arn: None,
            tracing: tracing(&span),
        }));
        let invoke_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": epoch_ms(deadline_wall),
            "requestId": request_id,
            "invokedFunctionArn": self.arn(),
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        });
        let t_start = Instant::now();
        let rt_next_before;
        {
            let mut st = self.env.st.lock().unwrap();
            st.phase = Phase::Invoke;
            st.rt.output_cap = None;
            st.rt.in_flight.insert(request_id.clone());
            rt_next_before = st.rt.next_calls;
            for e in st.exts.iter_mut().filter(|e| e.invoke && !e.failed) {
                e.busy = true;
                let _ = e.tx.send(invoke_event.clone());
            }
            let _ = st.rt.tx.send(PendingInvoke {
                request_id: request_id.clone(),
                payload: inv.payload.clone(),
                deadline_ms: epoch_ms(deadline_wall),
                arn: self.arn(),
                trace: trace.clone(),
                client_context: inv.client_context.clone(),
                script: Some(inv.script.clone()),
            });
        }
        self.env.bump();
        // Wait for the response (or crash, or timeout).
        self.env.wait_until(deadline, |st| st.rt.results.contains_key(&request_id) || st.rt.exited).await;
        let (result, crashed) = {
            let mut st = self.env.st.lock().unwrap();
            st.rt.in_flight.remove(&request_id);
            (st.rt.results.remove(&request_id), st.rt.exited)
        };
        let (mut response, mut response_ms, mut function_error, mut resp_at) = (None, None, None, None);
        if let Some((at, r)) = &result {
            let (body, fe) = match r {
                RuntimeResult::Response(b) => (b.clone(), None),
                RuntimeResult::Error { error_type, body } => (body.clone(), Some(error_type.clone())),
            };
            response_ms = Some(ms(at.duration_since(t_start)));
            resp_at = Some(*at);
            function_error = fe.clone();
            if let Some(tx) = early.take() {
                let _ = tx.send(EarlyResponse { body: body.clone(), function_error: fe.map(|_| "Unhandled".into()) });
            }
            response = Some(body);
        }
        // The runtime is done when it calls next again.
        let rt_done = self.env.wait_until(deadline, |st| st.rt.next_calls > rt_next_before || st.rt.exited).await
            && !crashed
            && !self.env.st.lock().unwrap().rt.exited;
        let crashed = self.env.st.lock().unwrap().rt.exited;
        let timed_out = !rt_done && !crashed;
        let (rt_done_at, rt_done_wall) = if rt_done {
            let st = self.env.st.lock().unwrap();
            (st.rt.last_next, st.rt.last_next_wall)
        } else {
            (None, None)
        };
        let runtime_end = rt_done_at.unwrap_or_else(Instant::now);
        // Lambda delivers the function's output before the runtimeDone that follows it: what the runtime wrote
        // before its `next` goes out first, stamped no later than that `next`.
        if let Some(runtime) = &self.runtime {
            runtime.drain_output();
        }
        let (rt_status, rt_error) = if timed_out {
            ("timeout", Some("Sandbox.Timedout".to_string()))
        } else if crashed {
            ("failure", Some("Runtime.ExitError".to_string()))
        } else if let Some(t) = &function_error {
            ("error", Some(t.clone()))
        } else {
            ("success", None)
        };
        if timed_out {
            hub.emit(EventRecord::Function(LogRecord::Text(format!(
                "{} {} Task timed out after {:.2} seconds",
                iso8601(SystemTime::now()),
                request_id,
                self.cfg.timeout.as_secs_f64()
            ))));
        }
        let mut spans = Vec::new();
        if let Some(at) = resp_at {
            spans.push(PlatformSpan {
                name: "responseLatency".into(),
                start: iso8601(wall(t_start)),
                duration_ms: ms(at.duration_since(t_start)),
            });
            spans.push(PlatformSpan { name: "responseDuration".into(), start: iso8601(wall(at)), duration_ms: 0.0 });
            spans.push(PlatformSpan {
                name: "runtimeOverhead".into(),
                start: iso8601(wall(at)),
                duration_ms: ms(runtime_end.saturating_duration_since(at)),
            });
        }
        let runtime_ms = ms(runtime_end.duration_since(t_start));
        hub.emit_at(
            rt_done_wall.unwrap_or_else(|| wall(runtime_end)),
            EventRecord::RuntimeDone(RuntimeDone {
                request_id: request_id.clone(),
                status: rt_status.into(),
                error_type: rt_error.clone(),
                metrics: Some(RuntimeDoneMetrics {
                    duration_ms: runtime_ms,
                    produced_bytes: response.as_ref().map(|b| b.len() as u64),
                }),
                spans: (!spans.is_empty()).then_some(spans),
                tracing: tracing(&span),
            }),
        );
        self.env.st.lock().unwrap().rt.output_cap = None;
        if crashed {
            hub.flush_all();
        }
        // The invoke phase ends when every extension has called next too.
        let exit_flags = self.exit_flags();
        let exts_done = self
            .env
            .wait_until(deadline, |st| {
                st.exts.iter().all(|e| !e.busy || e.failed || exit_flags.iter().any(|(n, f)| *n == e.name && f()))
            })
            .await;
        let end = Instant::now();
        let mut post = Vec::new();
        let mut ext_crash = false;
        {
            let st = self.env.st.lock().unwrap();
            for e in st.exts.iter().filter(|e| e.invoke) {
                if !e.busy {
                    if let Some(last) = e.last_next {
                        let d = ms(last.saturating_duration_since(runtime_end));
                        post.push((e.name.clone(), d));
                        self.post_runtime.entry(e.name.clone()).or_default().push(d);
                    }
                } else if exts_done {
                    ext_crash = true;
                }
            }
        }
        let timed_out = timed_out || !exts_done;
        let (status, error_type) = if timed_out {
            ("timeout".to_string(), Some("Sandbox.Timedout".to_string()))
        } else if crashed {
            ("failure".to_string(), rt_error)
        } else if ext_crash {
            ("failure".to_string(), Some("Extension.Crash".to_string()))
        } else {
            (rt_status.to_string(), rt_error)
        };
        if let Some(tx) = early.take() {
            // No response was posted: the caller gets the error Lambda answers with.
            let message = if timed_out {
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    self.cfg.timeout.as_secs_f64()
                )
            } else {
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
            };
            let body = json!({"errorType": error_type.clone().unwrap_or_default(), "errorMessage": message});
            let _ = tx.send(EarlyResponse { body: body.to_string().into(), function_error: Some("Unhandled".into()) });
        }
        let duration = end.duration_since(t_start);
        let memory = inv.script.memory_used_mb.unwrap_or_else(|| {
            let kb: u64 = self.procs().iter().map(|p| p.peak_rss_kb()).sum();
            kb.div_ceil(1024)
        });
        hub.emit(EventRecord::Report(crate::events::Report {
            request_id: request_id.clone(),
            status: status.clone(),
            error_type: error_type.clone(),
            metrics: ReportMetrics {
                duration_ms: ms(duration),
                billed_duration_ms: Some((duration.as_secs_f64() * 1000.0).ceil() as u64),
                memory_size_mb: Some(self.cfg.memory_mb),
                max_memory_used_mb: Some(memory),
                init_duration_ms: self.pending_init_ms.take(),
                restore_duration_ms: self.pending_restore_ms.take(),
            },
            spans: Some(vec![PlatformSpan {
                name: "extensionOverhead".into(),
                start: iso8601(wall(runtime_end)),
                duration_ms: ms(end.saturating_duration_since(runtime_end)),
            }]),
            tracing: tracing(&span),
        }));
        self.env.st.lock().unwrap().phase = Phase::Idle;
        let outcome = Outcome {
            request_id,
            status: status.clone(),
            error_type,
            response,
            response_ms,
            runtime_ms: rt_done.then_some(runtime_ms),
            invoke_phase_ms: ms(duration),
            post_runtime_ms: post,
            suppressed_init: suppressed,
            trace_header: trace,
            end_unix_ms: unix_ms(wall(end)),
        };
        if status == "timeout" || status == "failure" {
            let reason = if status == "timeout" { ShutdownReason::Timeout } else { ShutdownReason::Failure };
            self.teardown(reason, true).await;
            self.needs_init = true;
        } else {
            self.freeze().await;
        }
        Ok(self.record(outcome))
    }

    /// Whether the runtime process or an extension process has exited (reaped, or a zombie not reaped yet:
    /// Lambda, their parent, knows at once).
    fn a_process_exited(&self) -> bool {
        self.procs()
            .iter()
            .any(|p| p.exit_info().is_some() || matches!(crate::process::proc_state(p.pid), None | Some('Z')))
    }

    pub(super) fn record(&mut self, o: Outcome) -> Outcome {
        self.invocations.push(InvocationRecord {
            request_id: o.request_id.clone(),
            status: o.status.clone(),
            error_type: o.error_type.clone(),
            response_ms: o.response_ms,
            runtime_ms: o.runtime_ms,
            invoke_phase_ms: o.invoke_phase_ms,
            post_runtime_ms: o.post_runtime_ms.iter().cloned().collect(),
            end_unix_ms: o.end_unix_ms,
        });
        o
    }
}
