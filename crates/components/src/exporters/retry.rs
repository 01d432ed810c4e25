//! Bounded, jittered exponential backoff for exports.
//!
//! Every retry loop in lambdatel is capped by a deadline (the flush budget): a function must never wait on
//! a backend longer than its configured budget, and Lambda bills every millisecond the sandbox stays up.

use std::time::Duration;

use serde::Deserialize;

/// The Collector's `retry_on_failure` block, with defaults sized for Lambda's short flush windows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry retryable failures at all.
    pub enabled: bool,
    /// Wait before the first retry.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub initial_interval: Duration,
    /// Upper bound of a single wait.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub max_interval: Duration,
    /// Give up on a batch after this long (it is then kept for the next flush, within the buffer bound).
    /// The flush deadline caps it further.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub max_elapsed_time: Duration,
    /// Multiplier applied to the wait after each attempt.
    pub multiplier: f64,
    /// Random spread applied to each wait (0.5 = ±50%), so many sandboxes do not retry in lockstep.
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(500),
            max_elapsed_time: Duration::from_secs(5),
            multiplier: 2.0,
            randomization_factor: 0.5,
        }
    }
}

impl RetryConfig {
    /// Checks the values a person may get wrong; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(format!("retry_on_failure.multiplier must be at least 1, got {}", self.multiplier));
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(format!(
                "retry_on_failure.randomization_factor must be between 0 and 1, got {}",
                self.randomization_factor
            ));
        }
        if self.initial_interval.is_zero() || self.initial_interval > self.max_interval {
            return Err("retry_on_failure.initial_interval must be above zero and at most max_interval".into());
        }
        Ok(())
    }

    /// A backoff sequence following these settings.
    pub fn backoff(&self) -> Backoff {
        Backoff { config: self.clone(), next: self.initial_interval }
    }
}

/// The `circuit_breaker` block of the network exporters: once a flush finds the backend unreachable (connection
/// refused or reset, name not resolved, or `UNAVAILABLE` three times in a row), later flushes skip it and
/// keep its data queued, probing it once, briefly, at an interval that doubles while it stays down.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Skip a backend found down; when false, every flush retries it for its whole budget.
    pub enabled: bool,
    /// Wait between finding the backend down and the first probe.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub initial_interval: Duration,
    /// Upper bound of the wait between probes.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub max_interval: Duration,
    /// Time a probe may take to connect and send its request; a probe still connecting then is abandoned
    /// (its data stays queued).
    #[serde(with = "lambdatel_config::duration_serde")]
    pub probe_timeout: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        let defaults = lambdatel_pipeline::BreakerConfig::default();
        CircuitBreakerConfig {
            enabled: defaults.enabled,
            initial_interval: defaults.initial_interval,
            max_interval: defaults.max_interval,
            probe_timeout: defaults.probe_window,
        }
    }
}

impl CircuitBreakerConfig {
    /// Checks the values a person may get wrong; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.initial_interval.is_zero() || self.initial_interval > self.max_interval {
            return Err("circuit_breaker.initial_interval must be above zero and at most max_interval".into());
        }
        if self.probe_timeout.is_zero() {
            return Err("circuit_breaker.probe_timeout must be above zero".into());
        }
        Ok(())
    }
}

impl From<CircuitBreakerConfig> for lambdatel_pipeline::BreakerConfig {
    fn from(c: CircuitBreakerConfig) -> Self {
        lambdatel_pipeline::BreakerConfig {
            enabled: c.enabled,
            initial_interval: c.initial_interval,
            max_interval: c.max_interval,
            probe_window: c.probe_timeout,
        }
    }
}

/// The sequence of waits between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: RetryConfig,
    next: Duration,
}

impl Backoff {
    /// The wait before the next attempt: the server's `retry_after` when it gave one (never shorter), else
    /// the exponential schedule with jitter.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let base = self.next;
        self.next = base.mul_f64(self.config.multiplier).min(self.config.max_interval);
        let spread = self.config.randomization_factor;
        let jittered = base.mul_f64(1.0 - spread + 2.0 * spread * fastrand::f64());
        match retry_after {
            Some(server) => server.max(jittered),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_up_to_the_cap_within_the_jitter_band() {
        let config = RetryConfig {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(300),
            ..RetryConfig::default()
        };
        let mut backoff = config.backoff();
        let bases = [100u64, 200, 300, 300];
        for base in bases {
            let d = backoff.next_delay(None).as_secs_f64() * 1000.0;
            assert!(d >= base as f64 * 0.5 - 0.001 && d <= base as f64 * 1.5 + 0.001, "{d} vs {base}");
        }
    }

    #[test]
    fn server_retry_after_is_honoured() {
        let mut backoff = RetryConfig::default().backoff();
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(3))), Duration::from_secs(3));
    }

    #[test]
    fn validation_names_the_key() {
        let bad = RetryConfig { multiplier: 0.5, ..RetryConfig::default() };
        assert!(bad.validate().unwrap_err().contains("retry_on_failure.multiplier"));
        let bad = RetryConfig { randomization_factor: 2.0, ..RetryConfig::default() };
        assert!(bad.validate().unwrap_err().contains("randomization_factor"));
        assert!(RetryConfig::default().validate().is_ok());
    }

    #[test]
    fn breaker_validation_names_the_key() {
        let bad = CircuitBreakerConfig { initial_interval: Duration::from_secs(60), ..CircuitBreakerConfig::default() };
        assert_eq!(
            bad.validate().unwrap_err(),
            "circuit_breaker.initial_interval must be above zero and at most max_interval"
        );
        let bad = CircuitBreakerConfig { probe_timeout: Duration::ZERO, ..CircuitBreakerConfig::default() };
        assert_eq!(bad.validate().unwrap_err(), "circuit_breaker.probe_timeout must be above zero");
        assert_eq!(CircuitBreakerConfig::default().validate(), Ok(()));
    }
}
