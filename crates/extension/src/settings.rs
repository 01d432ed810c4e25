//! The extension's own settings (the `lambdatel:` section of the config): how it flushes and how much it
//! may hold. Everything else in the config describes pipelines.

use std::time::Duration;

use lambdatel_components::receivers::join::TraceJoin;
use serde::Deserialize;

use lambdatel_components::processors::MemoryLimit;

use crate::flush::FlushConfig;

/// The `lambdatel:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Longest time an invocation's flush may add to the invoke phase (after `platform.runtimeDone`).
    /// A backend that is down or slow costs the function at most this much.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub flush_budget: Duration,
    /// Longest wait for an invocation's `platform.runtimeDone` after INVOKE, beyond which the flush runs
    /// anyway (the invocation's own deadline caps it too).
    #[serde(with = "lambdatel_config::duration_serde")]
    pub runtime_done_timeout: Duration,
    /// Time kept back from Lambda's SHUTDOWN deadline, so the process exits before SIGKILL.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub shutdown_margin: Duration,
    /// When to flush (see the README's "Flushing" section).
    pub flush: FlushConfig,
    /// Most memory, in MiB, the extension may use to hold telemetry (log records waiting for a flush and
    /// undelivered data in exporter queues, half each). Past it new data is dropped and counted. Default:
    /// an eighth of the function's memory, between 4 and 256 MiB.
    pub memory_limit_mib: Option<u64>,
    /// The limits of the config's `memory_limiter` processors, which can only lower the bound (not a key
    /// of this section).
    #[serde(skip)]
    pub memory_limiters: Vec<MemoryLimit>,
    /// Emit the extension's own counters as `lambdatel.*` metrics in the metrics pipelines.
    pub self_telemetry: bool,
    /// How lambdatel's invocation span meets the function's own OpenTelemetry trace: `sdk` (the SDK's entry
    /// span stands for the invocation and takes lambdatel's facts), `link` (both kept, linked both ways) or
    /// `xray` (lambdatel's spans follow Lambda's X-Ray header only).
    pub trace_join: TraceJoin,
    /// Run the Runtime API proxy that reads each invocation's trigger. Unset: on exactly when the function's
    /// `AWS_LAMBDA_EXEC_WRAPPER` is lambdatel's wrapper, the only way the runtime ever reaches the proxy.
    pub runtime_proxy: Option<bool>,
    /// What a start-up error (config, secret, port, subscription refused) does: `passthrough` (default)
    /// logs one ERROR line and lets the function run without telemetry; `fail` fails the function's init.
    pub on_error: OnError,
    /// `auto` (default) tells Lambda Managed Instances from `AWS_LAMBDA_INITIALIZATION_TYPE`;
    /// `managed_instances` or `on_demand` force the mode.
    pub mode: Mode,
    /// What the `tail_sampling` processor's decisions do beyond the traces pipelines.
    pub tail_sampling: TailSamplingSettings,
}

/// The `lambdatel.tail_sampling` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TailSamplingSettings {
    /// Drop the log records (those with a trace id) of the traces the traces pipelines dropped in the same
    /// flush, so that a sampled-out invocation leaves no logs either. Default off.
    pub drop_logs_of_dropped_traces: bool,
}

/// The `lambdatel.on_error` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Report the error, then register and idle: the function never fails because of its telemetry.
    #[default]
    Passthrough,
    /// Report the error through `init/error`: the function's init fails.
    Fail,
}

/// The `lambdatel.mode` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// From the environment.
    #[default]
    Auto,
    /// Lambda Managed Instances: SHUTDOWN-only registration, concurrent invocations, background flushes.
    ManagedInstances,
    /// The classic sandbox: one invocation at a time, frozen between them.
    OnDemand,
}

/// The `initializationType` of Lambda Managed Instances, as `AWS_LAMBDA_INITIALIZATION_TYPE` gives it.
pub const MANAGED_INSTANCES_INIT_TYPE: &str = "lambda-managed-instances";

impl Mode {
    /// Whether the extension runs as on Lambda Managed Instances, given the environment.
    pub fn is_managed_instances(self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Mode::Auto => env("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref() == Some(MANAGED_INSTANCES_INIT_TYPE),
            Mode::ManagedInstances => true,
            Mode::OnDemand => false,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flush_budget: Duration::from_secs(1),
            runtime_done_timeout: Duration::from_secs(900),
            shutdown_margin: Duration::from_millis(150),
            flush: FlushConfig::default(),
            memory_limit_mib: None,
            memory_limiters: Vec::new(),
            self_telemetry: true,
            trace_join: TraceJoin::Sdk,
            runtime_proxy: None,
            on_error: OnError::default(),
            mode: Mode::default(),
            tail_sampling: TailSamplingSettings::default(),
        }
    }
}

impl Settings {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_budget.is_zero() {
            return Err("flush_budget must be above zero".into());
        }
        if self.memory_limit_mib == Some(0) {
            return Err("memory_limit_mib must be above zero".into());
        }
        self.flush.validate()
    }

    /// The memory bound in bytes for a function of `function_memory_mb` (when known): `memory_limit_mib` or
    /// its default, lowered to the tightest `memory_limiter` soft limit.
    pub fn memory_limit_bytes(&self, function_memory_mb: Option<u64>) -> usize {
        let mib = self.memory_limit_mib.unwrap_or_else(|| function_memory_mb.map_or(16, |mb| (mb / 8).clamp(4, 256)));
        let own = (mib as usize).saturating_mul(1024 * 1024);
        self.memory_limiters.iter().filter_map(|l| l.soft_limit_bytes(function_memory_mb)).fold(own, usize::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(section: &str) -> Result<Settings, String> {
        let yaml = format!(
            "lambdatel:\n{section}\nreceivers: {{otlp: {{}}}}\nexporters: {{debug: {{}}}}\nservice: {{pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}\n"
        );
        let config = lambdatel_config::parse(&yaml, None, &|_| None).map_err(|e| e.to_string())?;
        crate::settings_from(&config).map_err(|e| e.to_string())
    }

    #[test]
    fn trace_join_and_runtime_proxy_parse_and_reject_unknown_values() {
        let s = settings("  trace_join: link\n  runtime_proxy: true").unwrap();
        assert_eq!((s.trace_join, s.runtime_proxy), (TraceJoin::Link, Some(true)));
        let s = settings("  flush_budget: 1s").unwrap();
        assert_eq!((s.trace_join, s.runtime_proxy), (TraceJoin::Sdk, None));
        let e = settings("  trace_join: otel").unwrap_err();
        assert!(
            e.contains("trace_join") && e.contains("unknown variant `otel`, expected one of `sdk`, `link`, `xray`"),
            "{e}"
        );
    }

    #[test]
    fn dropping_the_logs_of_dropped_traces_is_off_unless_asked() {
        assert!(!Settings::default().tail_sampling.drop_logs_of_dropped_traces);
        let on: Settings =
            serde_json::from_str(r#"{"tail_sampling": {"drop_logs_of_dropped_traces": true}}"#).expect("parses");
        assert!(on.tail_sampling.drop_logs_of_dropped_traces);
        let typo = serde_json::from_str::<Settings>(r#"{"tail_sampling": {"drop_logs": true}}"#).unwrap_err();
        assert!(typo.to_string().starts_with("unknown field `drop_logs`"), "{typo}");
    }

    #[test]
    fn memory_limit_follows_the_function_size() {
        let s = Settings::default();
        assert_eq!(s.memory_limit_bytes(Some(128)), 16 << 20);
        assert_eq!(s.memory_limit_bytes(Some(10_240)), 256 << 20);
        assert_eq!(s.memory_limit_bytes(Some(16)), 4 << 20);
        assert_eq!(s.memory_limit_bytes(None), 16 << 20);
        let s = Settings { memory_limit_mib: Some(3), ..Settings::default() };
        assert_eq!(s.memory_limit_bytes(Some(1024)), 3 << 20);
    }

    #[test]
    fn memory_limiters_only_lower_the_bound() {
        let limiters = vec![
            MemoryLimit::Fixed { limit_mib: 100, spike_limit_mib: 20 },
            MemoryLimit::Percentage { limit: 10, spike_limit: 5 },
        ];
        let s = Settings { memory_limiters: limiters, ..Settings::default() };
        // 1024 MB: own default 128 MiB, fixed 80 MiB, 5% of 1024 = 51.2 MiB.
        assert_eq!(s.memory_limit_bytes(Some(1024)), 1024 * 1024 * 1024 * 5 / 100);
        // 128 MB: own default 16 MiB, fixed 80 MiB, 5% of 128 MB = 6.4 MiB.
        assert_eq!(s.memory_limit_bytes(Some(128)), 128 * 1024 * 1024 * 5 / 100);
        // Unknown memory: the percentage cannot apply, the fixed limit does not lower 16 MiB.
        assert_eq!(s.memory_limit_bytes(None), 16 << 20);
        let s = Settings {
            memory_limit_mib: Some(200),
            memory_limiters: vec![MemoryLimit::Fixed { limit_mib: 100, spike_limit_mib: 0 }],
            ..Settings::default()
        };
        assert_eq!(s.memory_limit_bytes(None), 80 << 20);
    }

    #[test]
    fn the_mode_follows_the_environment_unless_forced() {
        let managed = |k: &str| (k == "AWS_LAMBDA_INITIALIZATION_TYPE").then(|| MANAGED_INSTANCES_INIT_TYPE.to_owned());
        let on_demand = |k: &str| (k == "AWS_LAMBDA_INITIALIZATION_TYPE").then(|| "on-demand".to_owned());
        assert!(Mode::Auto.is_managed_instances(&managed));
        assert!(!Mode::Auto.is_managed_instances(&on_demand));
        assert!(!Mode::Auto.is_managed_instances(&|_| None));
        assert!(Mode::ManagedInstances.is_managed_instances(&on_demand));
        assert!(!Mode::OnDemand.is_managed_instances(&managed));
    }
}
