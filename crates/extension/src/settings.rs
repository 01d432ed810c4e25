//! The extension's own settings (the `lambdatel:` section of the config): how it flushes and how much it
//! may hold. Everything else in the config describes pipelines.

use std::time::Duration;

use serde::Deserialize;

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
    /// Emit the extension's own counters as `lambdatel.*` metrics in the metrics pipelines.
    pub self_telemetry: bool,
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flush_budget: Duration::from_secs(1),
            runtime_done_timeout: Duration::from_secs(900),
            shutdown_margin: Duration::from_millis(150),
            flush: FlushConfig::default(),
            memory_limit_mib: None,
            self_telemetry: true,
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

    /// The memory bound in bytes for a function of `function_memory_mb` (when known).
    pub fn memory_limit_bytes(&self, function_memory_mb: Option<u64>) -> usize {
        let mib = self.memory_limit_mib.unwrap_or_else(|| function_memory_mb.map_or(16, |mb| (mb / 8).clamp(4, 256)));
        (mib as usize).saturating_mul(1024 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
