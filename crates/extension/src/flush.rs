//! When to flush: the strategies of the `lambdatel.flush` setting, as a small state machine that is given
//! the time (so tests drive it with their own clock).
//!
//! - `end`: after each invocation's `platform.runtimeDone`, before asking for the next event. Nothing waits
//!   in a frozen sandbox; the function's invoke phase pays for the flush.
//! - `periodic`: at the start of an invocation, when `interval` has passed since the last flush. The flush
//!   runs while the function does, and the extension asks for the next event at once.
//! - `continuous`: every `interval` while the function runs; a flush in flight completes before the
//!   extension asks for the next event, so nothing is frozen half-sent.
//! - `adaptive` (default): `end` while invocations are sparse; `periodic` once they are frequent (at least
//!   `frequent_invocations` within `window`), back to `end` when traffic falls, when held data would get
//!   older than `max_age`, or while invocations are heavy (more telemetry per invocation than Lambda delivers
//!   in one POST): then waiting for `runtimeDone` drains Lambda's buffer before the sandbox freezes.
//!   SHUTDOWN always flushes everything.
//!
//! Whatever the strategy, once the data held reaches a quarter of the memory bound, the next invocation
//! flushes at its start, so a chatty function does not run into the bound between periodic flushes.

use std::{collections::VecDeque, time::Duration};

use serde::Deserialize;
use tokio::time::Instant;

/// The `lambdatel.flush` setting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlushConfig {
    /// `adaptive` (default), `end`, `periodic` or `continuous`.
    pub strategy: Strategy,
    /// Time between flushes in `periodic` and `continuous` modes (and in `adaptive` once traffic is frequent).
    #[serde(with = "lambdatel_config::duration_serde")]
    pub interval: Duration,
    /// `adaptive`: the oldest unflushed data may get; past it the next invocation flushes at its end.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub max_age: Duration,
    /// `adaptive`: invocations within `window` that make traffic "frequent".
    pub frequent_invocations: usize,
    /// `adaptive`: the window over which invocations are counted.
    #[serde(with = "lambdatel_config::duration_serde")]
    pub window: Duration,
}

impl Default for FlushConfig {
    fn default() -> Self {
        FlushConfig {
            strategy: Strategy::Adaptive,
            interval: Duration::from_secs(10),
            max_age: Duration::from_secs(30),
            frequent_invocations: 10,
            window: Duration::from_secs(60),
        }
    }
}

impl FlushConfig {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("flush.interval must be above zero".into());
        }
        if self.frequent_invocations < 2 {
            return Err("flush.frequent_invocations must be at least 2".into());
        }
        if self.max_age < self.interval {
            return Err("flush.max_age must be at least flush.interval".into());
        }
        Ok(())
    }
}

/// When to flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Chooses between the others from the load (the default).
    #[default]
    Adaptive,
    /// Flushes at the end of every invocation.
    End,
    /// Flushes when the interval has passed, at the start of an invocation.
    Periodic,
    /// Flushes in the background while invocations run.
    Continuous,
}

/// How much telemetry is coming in, as the flush policy sees it at an INVOKE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Bytes received during the previous invocation.
    pub last_invocation_bytes: u64,
    /// More than this per invocation is heavy (Lambda's `buffering.max_bytes`).
    pub heavy_bytes: u64,
    /// Bytes held until the next flush, and the memory bound on them.
    pub held_bytes: usize,
    /// The bound on held bytes.
    pub held_limit: usize,
}

impl Load {
    fn heavy(&self) -> bool {
        self.last_invocation_bytes > self.heavy_bytes
    }

    fn filling_up(&self) -> bool {
        self.held_bytes >= self.held_limit / 4
    }
}

/// What to do for one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Flush right away, while the function runs.
    pub flush_at_start: bool,
    /// Wait for `platform.runtimeDone`, then flush before asking for the next event.
    pub flush_at_end: bool,
    /// Flush every this long while waiting for `platform.runtimeDone` (then ask for the next event at once).
    pub background: Option<Duration>,
}

/// The flush decisions of one extension process.
#[derive(Debug)]
pub struct FlushPolicy {
    config: FlushConfig,
    last_flush: Instant,
    recent_invokes: VecDeque<Instant>,
    frequent: bool,
}

impl FlushPolicy {
    /// A policy starting at `now`.
    pub fn new(config: FlushConfig, now: Instant) -> Self {
        FlushPolicy { config, last_flush: now, recent_invokes: VecDeque::new(), frequent: false }
    }

    /// Whether `adaptive` currently treats traffic as frequent.
    pub fn is_frequent(&self) -> bool {
        self.frequent
    }

    /// Decides how the invocation starting at `now` flushes, given the telemetry coming in.
    pub fn on_invoke(&mut self, now: Instant, load: Load) -> Plan {
        let mut plan = self.plan(now, load);
        if !plan.flush_at_end && load.filling_up() {
            plan.flush_at_start = true;
        }
        plan
    }

    fn plan(&mut self, now: Instant, load: Load) -> Plan {
        let due = now.saturating_duration_since(self.last_flush) >= self.config.interval;
        match self.config.strategy {
            Strategy::End => Plan { flush_at_start: false, flush_at_end: true, background: None },
            Strategy::Periodic => Plan { flush_at_start: due, flush_at_end: false, background: None },
            Strategy::Continuous => {
                Plan { flush_at_start: false, flush_at_end: false, background: Some(self.config.interval) }
            }
            Strategy::Adaptive => {
                self.recent_invokes.push_back(now);
                while self
                    .recent_invokes
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) > self.config.window)
                {
                    self.recent_invokes.pop_front();
                }
                let count = self.recent_invokes.len();
                // Hysteresis: enter at the threshold, leave below half of it, so the mode does not flap.
                self.frequent = if self.frequent {
                    count * 2 >= self.config.frequent_invocations
                } else {
                    count >= self.config.frequent_invocations
                };
                let too_old = now.saturating_duration_since(self.last_flush) >= self.config.max_age;
                if self.frequent && !too_old && !load.heavy() {
                    Plan { flush_at_start: due, flush_at_end: false, background: None }
                } else {
                    Plan { flush_at_start: false, flush_at_end: true, background: None }
                }
            }
        }
    }

    /// Records a completed flush.
    pub fn flushed(&mut self, now: Instant) {
        self.last_flush = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: Plan = Plan { flush_at_start: false, flush_at_end: true, background: None };
    const IDLE: Plan = Plan { flush_at_start: false, flush_at_end: false, background: None };
    const START: Plan = Plan { flush_at_start: true, flush_at_end: false, background: None };
    const LIGHT: Load = Load { last_invocation_bytes: 1_000, heavy_bytes: 262_144, held_bytes: 0, held_limit: 8 << 20 };

    fn policy(strategy: Strategy) -> (FlushPolicy, Instant) {
        let t0 = Instant::now();
        (FlushPolicy::new(FlushConfig { strategy, ..FlushConfig::default() }, t0), t0)
    }

    #[test]
    fn end_always_flushes_at_the_end() {
        let (mut p, t0) = policy(Strategy::End);
        for i in 0..50 {
            assert_eq!(p.on_invoke(t0 + Duration::from_millis(i * 10), LIGHT), END);
        }
    }

    #[test]
    fn periodic_flushes_at_the_start_once_the_interval_has_passed() {
        let (mut p, t0) = policy(Strategy::Periodic);
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(1), LIGHT), IDLE);
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(10), LIGHT), START);
        p.flushed(t0 + Duration::from_secs(10));
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(15), LIGHT), IDLE);
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(21), LIGHT), START);
    }

    #[test]
    fn continuous_flushes_in_the_background() {
        let (mut p, t0) = policy(Strategy::Continuous);
        assert_eq!(
            p.on_invoke(t0, LIGHT),
            Plan { flush_at_start: false, flush_at_end: false, background: Some(Duration::from_secs(10)) }
        );
    }

    #[test]
    fn adaptive_goes_non_blocking_when_frequent_and_back_when_sparse() {
        let (mut p, t0) = policy(Strategy::Adaptive);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Nine invocations 100 ms apart: still sparse, so each flushes at its end.
        for i in 0..9 {
            assert_eq!(p.on_invoke(at(i * 100), LIGHT), END, "invocation {i}");
            p.flushed(at(i * 100 + 5));
        }
        // The tenth within the window makes traffic frequent: no flush on the function's path.
        assert_eq!(p.on_invoke(at(900), LIGHT), IDLE);
        assert!(p.is_frequent());
        let last_flush = 805;
        // Flushes happen at the start once the interval has passed since the last one.
        assert_eq!(p.on_invoke(at(last_flush + 9_000), LIGHT), IDLE);
        assert_eq!(p.on_invoke(at(last_flush + 10_000), LIGHT), START);
        p.flushed(at(last_flush + 10_001));
        // A long pause: traffic is sparse again, and the held data gets flushed at the end.
        let later = last_flush + 10_001 + 120_000;
        assert_eq!(p.on_invoke(at(later), LIGHT), END);
        assert!(!p.is_frequent());
    }

    #[test]
    fn adaptive_bounds_the_age_of_held_data() {
        let config = FlushConfig {
            interval: Duration::from_secs(100),
            max_age: Duration::from_secs(100),
            window: Duration::from_secs(600),
            ..FlushConfig::default()
        };
        let t0 = Instant::now();
        let mut p = FlushPolicy::new(config, t0);
        for i in 0..10 {
            p.on_invoke(t0 + Duration::from_secs(i), LIGHT);
        }
        assert!(p.is_frequent());
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(50), LIGHT), IDLE);
        // Frequent traffic, but nothing flushed for max_age: this invocation flushes at its end.
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(100), LIGHT), END);
    }

    #[test]
    fn validation_names_the_key() {
        let bad = FlushConfig { interval: Duration::ZERO, ..FlushConfig::default() };
        assert_eq!(bad.validate().unwrap_err(), "flush.interval must be above zero");
        let bad = FlushConfig { max_age: Duration::from_secs(1), ..FlushConfig::default() };
        assert_eq!(bad.validate().unwrap_err(), "flush.max_age must be at least flush.interval");
        assert!(FlushConfig::default().validate().is_ok());
    }

    #[test]
    fn adaptive_waits_for_heavy_invocations_and_flushes_early_when_data_piles_up() {
        let (mut p, t0) = policy(Strategy::Adaptive);
        for i in 0..10 {
            p.on_invoke(t0 + Duration::from_millis(i * 10), LIGHT);
        }
        assert!(p.is_frequent());
        let at = t0 + Duration::from_millis(200);
        assert_eq!(p.on_invoke(at, LIGHT), IDLE);
        // A megabyte of logs per invocation: wait for runtimeDone so Lambda's buffer drains before the freeze.
        let heavy = Load { last_invocation_bytes: 1 << 20, ..LIGHT };
        assert_eq!(p.on_invoke(at, heavy), END);
        // A quarter of the memory bound held: flush now, while the function runs.
        let full = Load { held_bytes: 2 << 20, ..LIGHT };
        assert_eq!(p.on_invoke(at, full), START);
    }

    #[test]
    fn periodic_flushes_early_when_data_piles_up() {
        let (mut p, t0) = policy(Strategy::Periodic);
        let full = Load { held_bytes: 2 << 20, ..LIGHT };
        assert_eq!(p.on_invoke(t0 + Duration::from_secs(1), full), START);
    }
}
