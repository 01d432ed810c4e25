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
    /// What a start-up error (config, secret, port, subscription refused) does: `passthrough` (default)
    /// logs one ERROR line and lets the function run without telemetry; `fail` fails the function's init.
    pub on_error: OnError,
    /// `auto` (default) tells Lambda Managed Instances from `AWS_LAMBDA_INITIALIZATION_TYPE`;
    /// `managed_instances` or `on_demand` force the mode.
    pub mode: Mode,
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
            self_telemetry: true,
            on_error: OnError::default(),
            mode: Mode::default(),
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
