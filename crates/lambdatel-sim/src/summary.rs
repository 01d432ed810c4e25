//! The human-readable account of a run: the summary of a [`Report`], one line per invocation,
//! and what the OTLP backend saw (or that there was none).

use crate::fleet::FleetReport;
use crate::otlp::{OtlpSink, Received};
use crate::sim::{Outcome, Report};
use std::fmt::Write as _;
use std::time::Duration;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f64::total_cmp);
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1])
}

/// The human-readable summary of a report.
pub fn summary(report: &Report) -> String {
    let mut s = String::new();
    let mut by_status: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in &report.invocations {
        *by_status.entry(i.status.as_str()).or_default() += 1;
    }
    let statuses: Vec<String> = by_status.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        s,
        "{} invocation(s) ({}), {} extension process(es), memory {} MB, timeout {} ms, {}",
        report.invocations.len(),
        if statuses.is_empty() { "none".into() } else { statuses.join(", ") },
        report.extensions.len(),
        report.memory_mb,
        report.timeout_ms,
        match report.managed_instances {
            Some(n) => format!("managed instances (concurrency {n})"),
            None => format!("freeze {}", if report.freeze { "on" } else { "off" }),
        }
    );
    for init in &report.inits {
        let _ = writeln!(
            s,
            "init ({}): {} in {:.1} ms{}",
            init.phase,
            init.status,
            init.duration_ms,
            init.error_type.as_ref().map(|t| format!(" [{t}]")).unwrap_or_default()
        );
    }
    if !report.invocations.is_empty() {
        let _ = writeln!(
            s,
            "response to caller: {}",
            stats(report.invocations.iter().filter_map(|i| i.response_ms).collect())
        );
        let _ = writeln!(
            s,
            "invoke phase:       {}",
            stats(report.invocations.iter().map(|i| i.invoke_phase_ms).collect())
        );
    }
    for e in &report.extensions {
        let _ = writeln!(s, "extension {} (pid {}, generation {}):", e.name, e.pid, e.generation);
        let _ = writeln!(
            s,
            "  registered {}, events [{}], first next after {}",
            e.registered,
            e.events.join(", "),
            e.time_to_first_next_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into())
        );
        let _ = writeln!(s, "  post-runtime: {}", stats(e.post_runtime_ms.clone()));
        let _ = writeln!(
            s,
            "  peak RSS {:.1} MiB, CPU {:.1} ms, shutdown {}, {}{}",
            e.peak_rss_kb as f64 / 1024.0,
            e.cpu_ms,
            e.shutdown_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into()),
            e.exit_status.as_ref().map(|x| x.to_string()).unwrap_or("not reaped".into()),
            if e.killed { " (SIGKILLed)" } else { "" }
        );
        for err in &e.errors {
            let _ = writeln!(
                s,
                "  {}/error {}: {}",
                err.kind,
                err.error_type,
                err.message.clone().or(err.body.clone()).unwrap_or_default()
            );
        }
        if let Some(sub) = &e.subscription {
            let _ = writeln!(
                s,
                "  {} API {} [{}]: {} delivered in {} batch(es), {} dropped, {} failed attempt(s) ({} rejected)",
                sub.api,
                sub.schema_version,
                sub.types.join(", "),
                sub.delivered,
                sub.batches,
                sub.dropped,
                sub.failed_attempts,
                sub.rejected_attempts
            );
        }
    }
    let _ = writeln!(
        s,
        "telemetry: {} event(s) emitted, {} delivered, {} dropped; shutdown {}",
        report.events.len(),
        report.events_delivered,
        report.events_dropped,
        report.shutdown_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into())
    );
    s
}

pub(crate) fn outcome_line(n: u64, total: Option<u64>, o: &Outcome) -> String {
    let of = total.map(|t| format!("/{t}")).unwrap_or_default();
    let post: Vec<String> = o.post_runtime_ms.iter().map(|(n, t)| format!("{n} +{t:.1} ms")).collect();
    format!(
        "[{n}{of}] {} {}{} response {} invoke {:.1} ms{}",
        o.request_id,
        o.status,
        o.error_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(),
        o.response_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into()),
        o.invoke_phase_ms,
        if post.is_empty() { String::new() } else { format!(" [{}]", post.join(", ")) }
    )
}

/// What the OTLP backend saw, or a warning when the extensions' endpoint has no receiver (every
/// export then fails, and the retries show up as post-runtime time with no visible reason).
pub async fn backend_note(env: &[(String, String)], sink: Option<&OtlpSink>, report: &Report) -> String {
    if let Some(sink) = sink {
        if sink.request_count() == 0 {
            return "OTLP receiver: no export arrived\n".into();
        }
        let mut s = format!(
            "OTLP receiver: {} export request(s) on {} connection(s), {} protobuf bytes\n",
            sink.request_count(),
            sink.connections_accepted(),
            sink.request_bytes()
        );
        let delays = arrival_delays(report, &sink.received());
        if !delays.is_empty() {
            let _ = writeln!(
                s,
                "span arrival relative to invocation end (negative: before it ended): {} ({} of {} invocation(s))",
                stats(delays.clone()),
                delays.len(),
                report.invocations.len()
            );
        }
        return s;
    }
    if report.extensions.is_empty() {
        return String::new();
    }
    let configured = env.iter().rev().find(|(k, _)| k == "OTEL_EXPORTER_OTLP_ENDPOINT").map(|(_, v)| v.clone());
    let (endpoint, source) = match configured {
        Some(e) => (e, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        None => ("http://localhost:4317".to_string(), "the default OTLP endpoint"),
    };
    match host_port(&endpoint) {
        Some(addr) if !listening(&addr).await => format!(
            "warning: nothing listens at {endpoint} ({source}): the extensions' exports fail and their retries \
             count as post-runtime time; --otlp starts an embedded receiver\n"
        ),
        _ => String::new(),
    }
}

/// Per invocation, ms from its end to the first arrival of a span carrying its
/// `faas.invocation_id`.
pub fn arrival_delays(report: &Report, received: &Received) -> Vec<f64> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let ends: std::collections::HashMap<&str, f64> =
        report.invocations.iter().map(|i| (i.request_id.as_str(), i.end_unix_ms)).collect();
    let mut first: std::collections::HashMap<&str, f64> = Default::default();
    for (_, span, at) in received.spans_with_arrival() {
        let id = span.attributes.iter().find(|kv| kv.key == "faas.invocation_id").and_then(|kv| match &kv.value {
            Some(v) => match &v.value {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            },
            None => None,
        });
        let Some((&id, _)) = id.and_then(|id| ends.get_key_value(id)) else { continue };
        let at_ms = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1000.0;
        first.entry(id).and_modify(|t| *t = t.min(at_ms)).or_insert(at_ms);
    }
    // Rounded to the microsecond, like every other figure of the report.
    first.iter().map(|(id, at)| ((at - ends[id]) * 1000.0).round() / 1000.0).collect()
}

/// `host:port` of an endpoint URL (the scheme's port when none is given).
fn host_port(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let authority = rest.split('/').next()?;
    if authority.is_empty() {
        return None;
    }
    if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        return Some(authority.to_string());
    }
    Some(format!("{authority}:{}", if scheme == "https" { 443 } else { 80 }))
}

async fn listening(addr: &str) -> bool {
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(tokio::time::timeout(Duration::from_millis(500), connect).await, Ok(Ok(_)))
}

/// The human-readable account of a fleet run.
pub fn fleet_summary(r: &FleetReport) -> String {
    let mut s = String::new();
    let statuses: Vec<String> = r.statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let n = r.invocations().max(1) as f64;
    let _ = writeln!(
        s,
        "{} invocation(s) ({}), {} not run, in {:.1} s; {} sandbox(es) created, at most {} at once, {} cold start(s)",
        r.invocations(),
        if statuses.is_empty() { "none".into() } else { statuses.join(", ") },
        r.not_run,
        r.duration_ms / 1000.0,
        r.sandboxes_created,
        r.max_live_sandboxes,
        r.cold_starts
    );
    let _ = writeln!(s, "post-runtime: {}", stats(r.post_runtime_ms()));
    let b = &r.backend;
    let _ = writeln!(
        s,
        "backend: {} connection(s), {} request(s) ({:.2} per invocation), {} bytes ({:.0} per invocation)",
        b.connections,
        b.requests,
        b.requests as f64 / n,
        b.bytes,
        b.bytes as f64 / n
    );
    let _ = writeln!(
        s,
        "spans: {} received, {} duplicate(s), {} invocation(s) without a span",
        b.spans, b.duplicate_spans, b.invocations_without_span
    );
    let _ = writeln!(
        s,
        "function log lines: {} written, {} lost, {} duplicate(s)",
        b.log_lines_written, b.log_lines_lost, b.log_lines_duplicated
    );
    let by_name: Vec<String> = b.metric_series_by_name.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "metric series: {} ({})", b.metric_series, by_name.join(", "));
    if !b.extension_drops.is_empty() {
        let drops: Vec<String> = b.extension_drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "dropped by the extensions (their self-telemetry): {}", drops.join(", "));
    }
    if let Some(g) = &r.gateway {
        let _ = writeln!(
            s,
            "gateway ({}): {} connection(s) from {} sandbox(es), at most {} from one; {} bytes in ({:.0} per invocation); {} failed to reach it{}",
            g.kind,
            g.connections,
            r.sandboxes_created,
            g.max_connections_per_sandbox,
            g.bytes,
            g.bytes as f64 / n,
            g.upstream_failures,
            match (g.outage_start_ms, g.outage_ms) {
                (Some(at), Some(ms)) => format!(
                    "; down {:.1} s from {:.1} s, {} connection(s) cut ({} awaiting an answer), {} span(s) of that time delivered after it",
                    ms / 1000.0,
                    at / 1000.0,
                    g.connections_cut,
                    g.connections_cut_awaiting_answer,
                    g.outage_spans_delivered_after.unwrap_or(0)
                ),
                _ => String::new(),
            }
        );
    }
    for sb in &r.sandboxes {
        let _ = writeln!(
            s,
            "sandbox {}: {} invocation(s), init {}, post-runtime {}, extensions {:.1} MiB peak, {:.1} ms CPU, shutdown {}{}{}",
            sb.id,
            sb.invocations,
            sb.init_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into()),
            stats(sb.post_runtime_ms.clone()),
            sb.extension_peak_rss_kb as f64 / 1024.0,
            sb.extension_cpu_ms,
            sb.shutdown_ms.map(|t| format!("{t:.1} ms")).unwrap_or("-".into()),
            if sb.killed_extensions > 0 { format!(", {} SIGKILLed", sb.killed_extensions) } else { String::new() },
            if r.gateway.is_some() { format!(", {} gateway connection(s)", sb.gateway_connections) } else { String::new() }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(stats(vec![]), "-");
        assert_eq!(stats(vec![3.0, 1.0, 2.0]), "p50 2.0 ms, p99 3.0 ms, max 3.0 ms");
    }

    #[test]
    fn arrival_delay_is_the_first_span_of_each_invocation_after_its_end() {
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use std::time::UNIX_EPOCH;
        let invocation = |id: &str, end_unix_ms: f64| crate::sim::InvocationRecord {
            request_id: id.into(),
            status: "success".into(),
            error_type: None,
            response_ms: None,
            runtime_ms: None,
            invoke_phase_ms: 0.0,
            post_runtime_ms: Default::default(),
            end_unix_ms,
        };
        let report = Report {
            function_name: "f".into(),
            memory_mb: 128,
            timeout_ms: 3000,
            freeze: false,
            managed_instances: Some(2),
            inits: vec![],
            invocations: vec![invocation("a", 1_000.0), invocation("b", 2_000.0), invocation("c", 3_000.0)],
            extensions: vec![],
            shutdown_ms: None,
            shutdown_reason: None,
            runtime_exit: None,
            events_delivered: 0,
            events_dropped: 0,
            events: vec![],
        };
        let span = |id: &str| Span {
            attributes: vec![KeyValue {
                key: "faas.invocation_id".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue(id.into())) }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let batch = |ids: &[&str]| ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: ids.iter().map(|id| span(id)).collect(), ..Default::default() }],
            ..Default::default()
        };
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let received = Received {
            // "a" arrives twice (the first counts), "b" once, "c" never; "x" is no invocation of the run.
            spans: vec![batch(&["a", "x"]), batch(&["b", "a"])],
            span_arrivals: vec![at(1_040), at(2_015)],
            ..Default::default()
        };
        let mut delays = arrival_delays(&report, &received);
        delays.sort_by(f64::total_cmp);
        assert_eq!(delays, [15.0, 40.0]);
    }

    #[test]
    fn endpoint_host_and_port() {
        assert_eq!(host_port("http://localhost:4317").as_deref(), Some("localhost:4317"));
        assert_eq!(host_port("http://collector:4318/v1/traces").as_deref(), Some("collector:4318"));
        assert_eq!(host_port("https://api.example.com").as_deref(), Some("api.example.com:443"));
        assert_eq!(host_port("http://[::1]:4317").as_deref(), Some("[::1]:4317"));
        assert_eq!(host_port("localhost:4317"), None);
        assert_eq!(host_port("http://"), None);
    }
}
