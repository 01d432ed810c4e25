//! The extension's own log lines, on stderr with a fixed prefix. In Lambda they reach CloudWatch and come
//! back through the Telemetry API as `extension` records, so they are few (start-up, problems, shutdown) and
//! repeated problems are rate-limited: a backend outage must not turn into a stream of lines about itself.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Starts every line the extension logs.
pub const PREFIX: &str = "[lambdatel]";

/// Lines of one kind that may be printed per [`LIMIT_PERIOD`].
const LIMIT_PERIOD: Duration = Duration::from_secs(60);

/// Logs an informational line.
pub fn info(message: &str) {
    eprintln!("{PREFIX} {message}");
}

/// Logs a warning.
pub fn warn(message: &str) {
    eprintln!("{PREFIX} WARN {message}");
}

/// Logs an error.
pub fn error(message: &str) {
    eprintln!("{PREFIX} ERROR {message}");
}

/// A warning that repeats (one per failed flush, say): printed at most once per minute per `limiter`, with
/// the number of repeats that were held back.
pub fn warn_limited(limiter: &RateLimit, message: &str) {
    if let Some(suppressed) = limiter.allow(Instant::now()) {
        if suppressed > 0 {
            warn(&format!("{message} (and {suppressed} similar since the last report)"));
        } else {
            warn(message);
        }
    }
}

/// Allows one line per period; counts the rest.
#[derive(Debug, Default)]
pub struct RateLimit {
    state: Mutex<Option<(Instant, u64)>>,
}

impl RateLimit {
    /// A limiter that has let nothing through yet.
    pub const fn new() -> Self {
        RateLimit { state: Mutex::new(None) }
    }

    /// `Some(suppressed since the last allowed line)` when a line may be printed at `now`.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            Some((last, suppressed)) if now.saturating_duration_since(*last) < LIMIT_PERIOD => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let held = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(held)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_of_the_rest() {
        let limit = RateLimit::new();
        let t0 = Instant::now();
        assert_eq!(limit.allow(t0), Some(0));
        assert_eq!(limit.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(59)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(61)), Some(2));
        assert_eq!(limit.allow(t0 + Duration::from_secs(62)), None);
    }
}
