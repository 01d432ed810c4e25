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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flush_budget: Duration::from_secs(1),
            runtime_done_timeout: Duration::from_secs(900),
            shutdown_margin: Duration::from_millis(150),
            flush: FlushConfig::default(),
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_budget.is_zero() {
            return Err("flush_budget must be above zero".into());
        }
        self.flush.validate()
    }
}
