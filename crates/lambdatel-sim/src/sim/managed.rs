//! Lambda Managed Instances: several invocations run at once in one environment that is never
//! frozen; extensions only get SHUTDOWN, and each invocation ends with its own `platform.report`
//! (metrics `{durationMs}`, spans `responseLatency`/`responseDuration`; no `platform.runtimeDone`).

use super::*;
use std::collections::VecDeque;

/// Settings of a Managed Instances environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedInstances {
    /// Invocations that run at once (the runtime's workers).
    pub concurrency: usize,
    /// Init may take max(this, the function timeout); 130 s in Lambda.
    pub init_timeout_floor: Duration,
}

impl ManagedInstances {
    /// The floor of Lambda's Init limit on Managed Instances.
    pub const INIT_TIMEOUT_FLOOR: Duration = Duration::from_secs(130);

    /// `concurrency` invocations at once, with Lambda's Init limit.
    pub fn new(concurrency: usize) -> ManagedInstances {
        ManagedInstances { concurrency, init_timeout_floor: Self::INIT_TIMEOUT_FLOOR }
    }
}

type Request = (Invocation, Option<oneshot::Sender<EarlyResponse>>);

/// What one invocation needs from the environment, owned so that it can run as its own task.
#[derive(Clone)]
struct InvokeContext {
    env: Arc<Env>,
    arn: String,
    version: String,
    timeout: Duration,
}

impl Simulator {
    /// Runs these invocations and returns their outcomes in the same order. On Managed
    /// Instances up to `concurrency` run at once (a new one starts as soon as one ends); in an
    /// on-demand environment they run one after another, as Lambda runs one per sandbox.
    pub async fn invoke_concurrently(&mut self, invocations: Vec<Invocation>) -> Result<Vec<Outcome>, SimError> {
        if self.cfg.managed_instances.is_none() {
            let mut outcomes = Vec::with_capacity(invocations.len());
            for inv in invocations {
                outcomes.push(self.invoke(inv).await?);
            }
            return Ok(outcomes);
        }
        self.run_concurrently(invocations.into_iter().map(|inv| (inv, None)).collect()).await
    }

    /// The Managed Instances invoke loop. A timeout or a runtime crash stops new invocations,
    /// lets those in flight end, and resets the environment (SHUTDOWN with TIMEOUT / FAILURE);
    /// the rest run after a suppressed init.
    pub(super) async fn run_concurrently(&mut self, requests: Vec<Request>) -> Result<Vec<Outcome>, SimError> {
        if self.shut_down {
            return Err(SimError::ShutDown);
        }
        let concurrency = self.cfg.managed_instances.as_ref().map_or(1, |mi| mi.concurrency.max(1));
        let ctx = InvokeContext {
            env: self.env.clone(),
            arn: self.arn(),
            version: self.cfg.function_version.clone(),
            timeout: self.cfg.timeout,
        };
        let mut pending: VecDeque<(usize, Request)> = requests.into_iter().enumerate().collect();
        let mut done: Vec<(usize, Outcome)> = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let mut suppressed = false;
            if self.needs_init {
                suppressed = true;
                self.run_init("invoke").await?;
            }
            if self.needs_init {
                // The suppressed init failed: one invocation fails per attempt, as on-demand.
                if let Some((i, (_, early))) = pending.pop_front() {
                    done.push((i, self.failed_init_outcome(early)));
                }
                continue;
            }
            let mut running = tokio::task::JoinSet::new();
            let mut reset = None;
            loop {
                while reset.is_none() && running.len() < concurrency {
                    let Some((i, (inv, early))) = pending.pop_front() else { break };
                    let ctx = ctx.clone();
                    let first = std::mem::take(&mut suppressed);
                    running.spawn(async move { (i, run_one(ctx, inv, early, first).await) });
                }
                let Some(joined) = running.join_next().await else { break };
                let (i, outcome) = match joined {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => continue,
                };
                match outcome.status.as_str() {
                    "timeout" => reset = reset.or(Some(ShutdownReason::Timeout)),
                    "failure" => reset = reset.or(Some(ShutdownReason::Failure)),
                    _ => {}
                }
                done.push((i, outcome));
            }
            if let Some(reason) = reset {
                self.teardown(reason, true).await;
                self.needs_init = true;
            }
        }
        done.sort_by_key(|(i, _)| *i);
        Ok(done.into_iter().map(|(_, o)| self.record(o)).collect())
    }

    /// The outcome of an invocation that never reached the runtime because Init failed.
    fn failed_init_outcome(&self, early: Option<oneshot::Sender<EarlyResponse>>) -> Outcome {
        let err = self.inits.last().and_then(|i| i.error_type.clone()).unwrap_or("Runtime.Unknown".into());
        let body = json!({"errorType": err, "errorMessage": "the execution environment failed to initialise"});
        if let Some(tx) = early {
            let _ = tx.send(EarlyResponse { body: body.to_string().into(), function_error: Some("Unhandled".into()) });
        }
        Outcome {
            request_id: crate::ids::uuid(),
            status: "failure".into(),
            error_type: Some(err),
            response: Some(body.to_string().into()),
            response_ms: Some(0.0),
            runtime_ms: None,
            invoke_phase_ms: 0.0,
            post_runtime_ms: Vec::new(),
            suppressed_init: true,
            trace_header: crate::ids::trace_header(),
            end_unix_ms: unix_ms(SystemTime::now()),
        }
    }
}

/// One invocation on Managed Instances, from `platform.start` to its `platform.report`.
async fn run_one(
    ctx: InvokeContext,
    inv: Invocation,
    mut early: Option<oneshot::Sender<EarlyResponse>>,
    suppressed: bool,
) -> Outcome {
    let hub = ctx.env.hub.clone();
    let request_id = crate::ids::uuid();
    let trace = inv.trace_header.clone().unwrap_or_else(crate::ids::trace_header);
    let tracing = Some(TraceContext {
        span_id: Some(crate::ids::span_id()),
        kind: "X-Amzn-Trace-Id".into(),
        value: trace.clone(),
    });
    let deadline_wall = SystemTime::now() + ctx.timeout;
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    hub.emit(EventRecord::Start(Start {
        request_id: request_id.clone(),
        version: Some(ctx.version.clone()),
        function_arn: Some(ctx.arn.clone()),
        tracing: tracing.clone(),
    }));
    let t_start = Instant::now();
    {
        let mut st = ctx.env.st.lock().unwrap();
        st.rt.in_flight.insert(request_id.clone());
        let _ = st.rt.tx.send(PendingInvoke {
            request_id: request_id.clone(),
            payload: inv.payload.clone(),
            deadline_ms: epoch_ms(deadline_wall),
            arn: ctx.arn.clone(),
            trace: trace.clone(),
            client_context: inv.client_context.clone(),
            script: Some(inv.script.clone()),
        });
    }
    ctx.env.bump();
    ctx.env.wait_until(deadline, |st| st.rt.results.contains_key(&request_id) || st.rt.exited).await;
    let (result, crashed) = {
        let mut st = ctx.env.st.lock().unwrap();
        st.rt.in_flight.remove(&request_id);
        (st.rt.results.remove(&request_id), st.rt.exited)
    };
    let (status, error_type, response, responded_at) = match result {
        Some((at, RuntimeResult::Response(body))) => ("success", None, Some(body), Some(at)),
        Some((at, RuntimeResult::Error { error_type, body })) => ("error", Some(error_type), Some(body), Some(at)),
        None if crashed => ("failure", Some("Runtime.ExitError".to_string()), None, None),
        None => ("timeout", Some("Sandbox.Timedout".to_string()), None, None),
    };
    let end = responded_at.unwrap_or_else(Instant::now);
    if let Some(tx) = early.take() {
        let function_error = (status != "success").then(|| "Unhandled".to_string());
        let body = response.clone().unwrap_or_else(|| {
            let message = if status == "timeout" {
                format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", ctx.timeout.as_secs_f64())
            } else {
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
            };
            json!({"errorType": error_type.clone().unwrap_or_default(), "errorMessage": message}).to_string().into()
        });
        let _ = tx.send(EarlyResponse { body, function_error });
    }
    if status == "timeout" {
        hub.emit(EventRecord::Function(LogRecord::Text(format!(
            "{} {} Task timed out after {:.2} seconds",
            iso8601(SystemTime::now()),
            request_id,
            ctx.timeout.as_secs_f64()
        ))));
    }
    let spans = responded_at.map(|at| {
        vec![
            PlatformSpan {
                name: "responseLatency".into(),
                start: iso8601(wall(t_start)),
                duration_ms: ms(at.duration_since(t_start)),
            },
            PlatformSpan { name: "responseDuration".into(), start: iso8601(wall(at)), duration_ms: 0.0 },
        ]
    });
    let duration = end.duration_since(t_start);
    let end_wall = wall(end);
    hub.emit_at(
        end_wall,
        EventRecord::Report(crate::events::Report {
            request_id: request_id.clone(),
            status: status.into(),
            error_type: error_type.clone(),
            metrics: ReportMetrics {
                duration_ms: ms(duration),
                billed_duration_ms: None,
                memory_size_mb: None,
                max_memory_used_mb: None,
                init_duration_ms: None,
                restore_duration_ms: None,
            },
            spans,
            tracing,
        }),
    );
    Outcome {
        request_id,
        status: status.into(),
        error_type,
        response,
        response_ms: responded_at.map(|at| ms(at.duration_since(t_start))),
        runtime_ms: None,
        invoke_phase_ms: ms(duration),
        post_runtime_ms: Vec::new(),
        suppressed_init: suppressed,
        trace_header: trace,
        end_unix_ms: unix_ms(end_wall),
    }
}
