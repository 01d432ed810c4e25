//! The circuit breaker of one exporter: once a flush finds the backend unreachable, later flushes stop
//! spending their budget on it. While open, a flush skips the exporter (its data stays queued within the
//! bounds) until the next probe is due; the probe is one brief attempt without retries. The interval between
//! probes doubles while the backend stays down, up to a cap; one delivered request closes the breaker.

use std::time::Duration;

use tokio::time::Instant;

/// When an open breaker probes its backend again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Open the breaker at all; when false, every flush retries for its whole budget.
    pub enabled: bool,
    /// Wait between opening and the first probe.
    pub initial_interval: Duration,
    /// Upper bound of the wait between probes.
    pub max_interval: Duration,
    /// How long a probe may take to connect and write its request before it is abandoned.
    pub probe_window: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
            probe_window: Duration::from_millis(250),
        }
    }
}

/// What a flush may do with one exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// The backend is believed reachable: send everything, with retries.
    Closed,
    /// The backend is down and no probe is due: send nothing.
    Open,
    /// The backend is down and a probe is due: one request, once, within the probe window.
    Probe,
}

/// The breaker of one exporter, with the time it has spent open.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    /// When it opened, while it is open.
    open_since: Option<Instant>,
    next_probe: Instant,
    interval: Duration,
    /// Time spent open in spells that have ended.
    closed_spells: Duration,
    /// How many times it opened.
    pub(crate) opened: u64,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            open_since: None,
            next_probe: Instant::now(),
            interval: config.initial_interval,
            closed_spells: Duration::ZERO,
            opened: 0,
        }
    }

    /// What a flush starting at `now` may do.
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match self.open_since {
            None => BreakerState::Closed,
            Some(_) if now >= self.next_probe => BreakerState::Probe,
            Some(_) => BreakerState::Open,
        }
    }

    pub(crate) fn probe_window(&self) -> Duration {
        self.config.probe_window
    }

    /// The backend was found unreachable: open, or wait longer before the next probe if already open. A
    /// failure reported while open and before a probe was due (another signal of the flush that opened it)
    /// says nothing new.
    pub(crate) fn record_down(&mut self, now: Instant) {
        if !self.config.enabled || (self.open_since.is_some() && now < self.next_probe) {
            return;
        }
        if self.open_since.is_none() {
            self.open_since = Some(now);
            self.opened += 1;
            self.interval = self.config.initial_interval;
        } else {
            self.interval = (self.interval * 2).min(self.config.max_interval);
        }
        // ±25% so the sandboxes of one function, all cut off by the same outage, do not probe in lockstep.
        self.next_probe = now + self.interval.mul_f64(0.75 + 0.5 * fastrand::f64());
    }

    /// A request was delivered: the backend is back.
    pub(crate) fn record_delivered(&mut self, now: Instant) {
        if let Some(since) = self.open_since.take() {
            self.closed_spells += now.saturating_duration_since(since);
        }
    }

    /// Total time spent open, the current spell included.
    pub(crate) fn open_time(&self, now: Instant) -> Duration {
        self.closed_spells + self.open_since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Time until the next probe, while open.
    pub(crate) fn next_probe_in(&self, now: Instant) -> Option<Duration> {
        self.open_since.map(|_| self.next_probe.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(350),
            ..BreakerConfig::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_probes_at_growing_intervals_and_closes_on_delivery() {
        let mut breaker = Breaker::new(config());
        let t0 = Instant::now();
        assert_eq!(breaker.state(t0), BreakerState::Closed);
        breaker.record_down(t0);
        breaker.record_down(t0 + Duration::from_millis(1));
        assert_eq!(breaker.opened, 1);
        assert!(breaker.next_probe_in(t0).unwrap() <= Duration::from_millis(125), "a second report changes nothing");
        assert_eq!(breaker.state(t0 + Duration::from_millis(74)), BreakerState::Open);
        assert_eq!(breaker.state(t0 + Duration::from_millis(126)), BreakerState::Probe);
        // Failed probes: 200 ms, then the 350 ms cap, each ±25%.
        let mut at = t0 + Duration::from_millis(126);
        for base in [200u64, 350, 350] {
            breaker.record_down(at);
            let wait = breaker.next_probe_in(at).unwrap();
            let ms = wait.as_millis() as u64;
            assert!(ms >= base * 3 / 4 && ms <= base * 5 / 4, "{ms} vs {base}");
            at += wait;
        }
        assert_eq!(breaker.opened, 1, "failed probes do not reopen");
        breaker.record_delivered(at);
        assert_eq!(breaker.state(at), BreakerState::Closed);
        assert_eq!(breaker.open_time(at + Duration::from_secs(5)), at - t0);
        // Down again: back to the initial interval.
        breaker.record_down(at);
        assert_eq!(breaker.opened, 2);
        let wait = breaker.next_probe_in(at).unwrap().as_millis();
        assert!((75..=125).contains(&wait), "{wait}");
        assert_eq!(breaker.open_time(at + Duration::from_millis(10)), at - t0 + Duration::from_millis(10));
    }

    #[test]
    fn a_disabled_breaker_never_opens() {
        let mut breaker = Breaker::new(BreakerConfig { enabled: false, ..config() });
        let now = Instant::now();
        breaker.record_down(now);
        assert_eq!(breaker.state(now + Duration::from_secs(1)), BreakerState::Closed);
        assert_eq!(breaker.opened, 0);
    }
}
