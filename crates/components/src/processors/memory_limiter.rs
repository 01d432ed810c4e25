//! The Collector's `memory_limiter` processor, mapped onto lambdatel's memory bound.
//!
//! In the Collector it watches the process's heap and refuses data above a soft limit (`limit` minus
//! `spike_limit`). lambdatel bounds what it holds instead (log records waiting for a flush and undelivered
//! data, see the extension's `memory_limit_mib`), so the processor passes data through and its soft limit
//! tightens that bound: the extension holds no more than the smallest of its own bound and every
//! `memory_limiter` soft limit that a pipeline uses ([`limits_in`]). A limiter can lower the bound, never
//! raise it. `check_interval` and the garbage collector intervals have no meaning here and are ignored.

use std::time::Duration;

use lambdatel_config::{ComponentConfig, Config, ConfigError};
use lambdatel_pipeline::Processor;
use serde::Deserialize;

use crate::ProcessorFactory;

/// Configuration of the `memory_limiter` processor, with the Collector's keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryLimiterConfig {
    /// Accepted and ignored: lambdatel checks its bound on every received batch, not on a timer.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub check_interval: Duration,
    /// The hard limit in MiB; when set, the percentages are not used (as in the Collector).
    pub limit_mib: u64,
    /// Headroom below `limit_mib` in MiB; the bound is `limit_mib - spike_limit_mib`. Default: 20% of
    /// `limit_mib`.
    pub spike_limit_mib: u64,
    /// The hard limit as a percentage of the function's memory size.
    pub limit_percentage: u64,
    /// Headroom as a percentage of the function's memory size. Default: 20% of the limit.
    pub spike_limit_percentage: u64,
    /// Accepted and ignored: lambdatel has no garbage collector to trigger.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub min_gc_interval_when_soft_limited: Duration,
    /// Accepted and ignored, like `min_gc_interval_when_soft_limited`.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub min_gc_interval_when_hard_limited: Duration,
}

/// A `memory_limiter`'s limit, in the form it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// `limit_mib` and `spike_limit_mib` (0: the default of 20%).
    Fixed {
        /// The hard limit in MiB.
        limit_mib: u64,
        /// The headroom in MiB.
        spike_limit_mib: u64,
    },
    /// `limit_percentage` and `spike_limit_percentage` of the function's memory (0: the default of 20%
    /// of the limit).
    Percentage {
        /// The hard limit in percent.
        limit: u64,
        /// The headroom in percent.
        spike_limit: u64,
    },
}

impl MemoryLimit {
    /// The soft limit in bytes (the limit less its headroom), as the Collector computes it; `None` for a
    /// percentage when the function's memory size is not known.
    pub fn soft_limit_bytes(&self, function_memory_mb: Option<u64>) -> Option<usize> {
        const MIB: u64 = 1024 * 1024;
        let (limit, spike) = match *self {
            MemoryLimit::Fixed { limit_mib, spike_limit_mib } => (limit_mib * MIB, spike_limit_mib * MIB),
            MemoryLimit::Percentage { limit, spike_limit } => {
                let total = function_memory_mb? * MIB;
                (total * limit / 100, total * spike_limit / 100)
            }
        };
        let spike = if spike == 0 { limit / 5 } else { spike };
        Some(usize::try_from(limit.saturating_sub(spike)).unwrap_or(usize::MAX))
    }

    fn describe(&self) -> String {
        let soft = |limit: u64, spike: u64| if spike == 0 { limit - limit / 5 } else { limit - spike };
        match *self {
            MemoryLimit::Fixed { limit_mib, spike_limit_mib } => {
                format!("at most {} MiB", soft(limit_mib, spike_limit_mib))
            }
            MemoryLimit::Percentage { limit, spike_limit } => {
                format!("at most {}% of the function's memory", soft(limit, spike_limit))
            }
        }
    }
}

impl MemoryLimiterConfig {
    /// The limit this config sets.
    pub fn limit(&self) -> MemoryLimit {
        if self.limit_mib > 0 {
            MemoryLimit::Fixed { limit_mib: self.limit_mib, spike_limit_mib: self.spike_limit_mib }
        } else {
            MemoryLimit::Percentage { limit: self.limit_percentage, spike_limit: self.spike_limit_percentage }
        }
    }
}

/// The limits of the `memory_limiter` processors that the config's pipelines use (each id once); a
/// limiter whose settings are invalid is left out, its error being reported when the graph is built.
pub fn limits_in(config: &Config) -> Vec<MemoryLimit> {
    let used: std::collections::BTreeSet<_> = config
        .pipelines
        .values()
        .flat_map(|p| &p.processors)
        .filter(|id| id.type_name == MemoryLimiterProcessor::TYPE)
        .collect();
    used.into_iter()
        .filter_map(|id| config.processors.get(id))
        .filter_map(|at| {
            let settings: MemoryLimiterConfig = at.deserialize().ok()?;
            MemoryLimiterProcessor::validate(&settings, at).ok()?;
            Some(settings.limit())
        })
        .collect()
}

/// The `memory_limiter` processor: passes every batch through; its limit works through [`limits_in`].
#[derive(Debug, Clone)]
pub struct MemoryLimiterProcessor;

impl Processor for MemoryLimiterProcessor {}

impl ProcessorFactory for MemoryLimiterProcessor {
    const TYPE: &'static str = "memory_limiter";
    const EXAMPLE: &'static str = "check_interval: 1s\nlimit_mib: 64";
    type Config = MemoryLimiterConfig;

    fn validate(config: &MemoryLimiterConfig, at: &ComponentConfig) -> Result<(), ConfigError> {
        if config.limit_mib == 0 && config.limit_percentage == 0 {
            return Err(at.error("memory_limiter needs limit_mib or limit_percentage above zero"));
        }
        if config.limit_mib > 0 && config.spike_limit_mib >= config.limit_mib {
            return Err(at.error_at("spike_limit_mib", "spike_limit_mib must be below limit_mib"));
        }
        let percentages =
            [("limit_percentage", config.limit_percentage), ("spike_limit_percentage", config.spike_limit_percentage)];
        for (key, value) in percentages {
            if value > 100 {
                return Err(at.error_at(key, format!("{key} must be at most 100, not {value}")));
            }
        }
        if config.limit_mib == 0 && config.spike_limit_percentage >= config.limit_percentage {
            return Err(at.error_at("spike_limit_percentage", "spike_limit_percentage must be below limit_percentage"));
        }
        Ok(())
    }

    fn warnings(config: &MemoryLimiterConfig, at: &ComponentConfig) -> Vec<ConfigError> {
        vec![at.error(format!(
            "memory_limiter is mapped onto lambdatel's memory bound: buffered telemetry is held to {} (or \
             lambdatel.memory_limit_mib when lower); check_interval and the gc intervals are ignored",
            config.limit().describe()
        ))]
    }

    fn create(_config: MemoryLimiterConfig, _at: &ComponentConfig) -> Result<Self, ConfigError> {
        Ok(MemoryLimiterProcessor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::matching::test_support::*;

    fn settings(yaml: &str) -> Result<MemoryLimiterConfig, String> {
        let at = component("processors.memory_limiter", yaml);
        let config: MemoryLimiterConfig = at.deserialize().map_err(|e| e.to_string())?;
        MemoryLimiterProcessor::validate(&config, &at).map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn fixed_limits_keep_the_collector_arithmetic() {
        let limit = settings("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 30").unwrap().limit();
        assert_eq!(limit, MemoryLimit::Fixed { limit_mib: 100, spike_limit_mib: 30 });
        assert_eq!(limit.soft_limit_bytes(None), Some(70 << 20));
        // The default headroom is 20% of the limit.
        let limit = settings("limit_mib: 100").unwrap().limit();
        assert_eq!(limit.soft_limit_bytes(Some(1024)), Some(80 << 20));
        // limit_mib wins over a percentage, as in the Collector.
        let limit = settings("limit_mib: 50\nlimit_percentage: 90").unwrap().limit();
        assert_eq!(limit.soft_limit_bytes(Some(1024)), Some(40 << 20));
    }

    #[test]
    fn percentages_are_of_the_function_memory() {
        let limit = settings("limit_percentage: 50\nspike_limit_percentage: 10").unwrap().limit();
        assert_eq!(limit.soft_limit_bytes(Some(1000)), Some(400 << 20));
        assert_eq!(limit.soft_limit_bytes(None), None);
        let limit = settings("limit_percentage: 50").unwrap().limit();
        assert_eq!(limit.soft_limit_bytes(Some(1000)), Some(400 << 20));
    }

    #[test]
    fn warns_that_it_is_a_mapping() {
        let at = component("processors.memory_limiter", "check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 30");
        let config: MemoryLimiterConfig = at.deserialize().unwrap();
        assert_eq!(
            MemoryLimiterProcessor::warnings(&config, &at)[0].to_string(),
            "<config>:1:15: processors.memory_limiter: memory_limiter is mapped onto lambdatel's memory bound: buffered \
             telemetry is held to at most 70 MiB (or lambdatel.memory_limit_mib when lower); check_interval and \
             the gc intervals are ignored"
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            settings("check_interval: 1s").unwrap_err(),
            "<config>:1:15: processors.memory_limiter: memory_limiter needs limit_mib or limit_percentage above zero"
        );
        assert_eq!(
            settings("limit_mib: 10\nspike_limit_mib: 10").unwrap_err(),
            "<config>:2:1: processors.memory_limiter.spike_limit_mib: spike_limit_mib must be below limit_mib"
        );
        assert_eq!(
            settings("limit_percentage: 120").unwrap_err(),
            "<config>:1:1: processors.memory_limiter.limit_percentage: limit_percentage must be at most 100, not 120"
        );
        assert_eq!(
            settings("limit_percentage: 20\nspike_limit_percentage: 30").unwrap_err(),
            "<config>:2:1: processors.memory_limiter.spike_limit_percentage: spike_limit_percentage must be below limit_percentage"
        );
        assert_eq!(
            settings("limit_mb: 10").unwrap_err().split(", expected").next().unwrap(),
            "<config>:1:1: processors.memory_limiter.limit_mb: unknown field `limit_mb`"
        );
    }

    #[test]
    fn limits_in_collects_the_used_limiters() {
        let yaml = "receivers: {otlp: }\nprocessors:\n  memory_limiter: {limit_mib: 100}\n  \
                    memory_limiter/b: {limit_percentage: 50}\n  memory_limiter/unused: {limit_mib: 1}\n  \
                    memory_limiter/bad: {limit_mib: 0}\nexporters: {debug: }\nservice:\n  pipelines:\n    \
                    traces: {receivers: [otlp], processors: [memory_limiter, memory_limiter/b], exporters: [debug]}\n    \
                    logs: {receivers: [otlp], processors: [memory_limiter, memory_limiter/bad], exporters: [debug]}\n";
        let config = lambdatel_config::parse_partial(yaml, None, &|_| None).0.unwrap();
        assert_eq!(
            limits_in(&config),
            vec![
                MemoryLimit::Fixed { limit_mib: 100, spike_limit_mib: 0 },
                MemoryLimit::Percentage { limit: 50, spike_limit: 0 },
            ]
        );
    }
}
