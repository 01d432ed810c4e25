//! The built-in scripted function: a runtime with one worker per concurrent invocation.

use super::*;

/// The built-in function: its init, then `workers` runtime loops (one on-demand; one per
/// concurrent invocation on Managed Instances) running each invocation's script.
pub(super) async fn scripted_runtime(env: Arc<Env>, spec: ScriptedFunction, echo: bool, workers: usize) {
    tokio::time::sleep(spec.init_duration).await;
    if let Some(ty) = spec.init_error {
        {
            let mut st = env.st.lock().unwrap();
            let body = json!({"errorType": ty, "errorMessage": "scripted init failure"});
            st.rt.init_error = Some((ty, body.to_string().into()));
        }
        env.bump();
        return;
    }
    if workers == 1 {
        return scripted_worker(env, echo, false).await;
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        // Concurrent invocations write their lines over their whole duration, so they interleave.
        set.spawn(scripted_worker(env.clone(), echo, true));
    }
    // Dropping the set (when this task is aborted at shutdown) aborts the workers too.
    while set.join_next().await.is_some() {}
}

/// One runtime worker: `next`, run the script, post the result, repeat.
async fn scripted_worker(env: Arc<Env>, echo: bool, spread_logs: bool) {
    while let Some(inv) = env.runtime_next().await {
        let script = inv.script.unwrap_or_default();
        let gap = script.duration / (script.logs.len() as u32 + 1);
        for line in &script.logs {
            if spread_logs {
                tokio::time::sleep(gap).await;
            }
            if echo {
                eprintln!("[function] {line:?}");
            }
            let rec = match line {
                LogLine::Text(t) | LogLine::Stderr(t) => LogRecord::Text(t.clone()),
                LogLine::Json { level, message } => LogRecord::Json(JsonLogRecord {
                    timestamp: iso8601(SystemTime::now()),
                    level: level.clone(),
                    request_id: Some(inv.request_id.clone()),
                    message: message.clone(),
                }),
            };
            env.hub.emit(EventRecord::Function(rec));
        }
        let spent = if spread_logs { gap * script.logs.len() as u32 } else { Duration::ZERO };
        tokio::time::sleep(script.duration.saturating_sub(spent)).await;
        match script.result {
            ScriptResult::Ok(body) => {
                env.runtime_result(&inv.request_id, RuntimeResult::Response(body.into()));
            }
            ScriptResult::Error { error_type, message } => {
                let body = json!({"errorType": error_type, "errorMessage": message, "stackTrace": []});
                env.runtime_result(&inv.request_id, RuntimeResult::Error { error_type, body: body.to_string().into() });
            }
            ScriptResult::Timeout => std::future::pending::<()>().await,
            ScriptResult::Crash => {
                env.hub.emit(EventRecord::Function(LogRecord::Text(format!(
                    "RequestId: {} Error: Runtime exited with error: exit status 1",
                    inv.request_id
                ))));
                env.hub.flush_all();
                env.runtime_exited();
                return;
            }
        }
    }
}
