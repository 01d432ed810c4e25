//! Failing open: a start-up error (config, secret, port, subscription refused) must not take the function
//! down with it. With `lambdatel.on_error: passthrough` (the default) the extension logs one ERROR line,
//! stays registered and answers `next` without collecting anything, and exits 0 at SHUTDOWN; with `fail` it
//! reports the error through `init/error` as before. `LAMBDATEL_DISABLED=true` idles the same way on purpose.

use std::{process::ExitCode, time::Duration};

use crate::{
    api::{ApiError, ExtensionsApi, NextEvent},
    config_source::ConfigSource,
    log,
    settings::{Mode, OnError},
};

/// Why the extension could not start: the function error type for `init/error`, and a message naming the
/// file, key and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartFailure {
    pub error_type: &'static str,
    pub message: String,
}

impl StartFailure {
    pub fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        StartFailure { error_type, message: message.into() }
    }
}

/// Whether the kill switch `LAMBDATEL_DISABLED` is on (`true` or `1`, any case).
pub(crate) fn disabled(env: &(dyn Fn(&str) -> Option<String> + Send + Sync)) -> bool {
    env("LAMBDATEL_DISABLED").is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
}

/// Registers (SHUTDOWN only on Managed Instances) and idles: the kill switch.
pub(crate) async fn register_and_idle(api: &mut ExtensionsApi, name: &str, managed_instances: bool) -> ExitCode {
    if let Err(e) = api.register(name, managed_instances).await {
        log::error(&format!("cannot register with Lambda: {e}"));
        return ExitCode::FAILURE;
    }
    log::info("LAMBDATEL_DISABLED is set: collecting nothing");
    idle(api).await
}

/// Handles a start-up failure as `on_error` says.
pub(crate) async fn on_start_failure(api: &ExtensionsApi, on_error: OnError, failure: StartFailure) -> ExitCode {
    match on_error {
        OnError::Fail => {
            log::error(&failure.message);
            if let Err(e) = api.init_error(failure.error_type, &failure.message).await {
                log::error(&format!("could not report the error to Lambda: {e}"));
            }
            ExitCode::FAILURE
        }
        OnError::Passthrough => {
            log::error(&passthrough_line(&failure));
            idle(api).await
        }
    }
}

/// The one line a passthrough failure prints: the message's lines joined, and what happens now.
fn passthrough_line(failure: &StartFailure) -> String {
    let message: Vec<&str> = failure.message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    format!(
        "{}; the function runs without telemetry (lambdatel.on_error: passthrough; set it to fail to fail the init instead)",
        message.join("; ").replace(":; ", ": ")
    )
}

/// Answers `next` until SHUTDOWN, collecting nothing.
async fn idle(api: &ExtensionsApi) -> ExitCode {
    loop {
        match next_event(api).await {
            Ok(NextEvent::Invoke { .. }) => {}
            Ok(NextEvent::Shutdown { .. }) => return ExitCode::SUCCESS,
            Err(e) => {
                log::error(&format!("stopping: {e}"));
                let _ = api.exit_error("Extension.NextFailed", &e.to_string()).await;
                return ExitCode::FAILURE;
            }
        }
    }
}

/// `event/next`, with a few retries of a transient connection failure. Lambda's own answers (403, 500) mean
/// "exit promptly" and come back at once.
pub(crate) async fn next_event(api: &ExtensionsApi) -> Result<NextEvent, ApiError> {
    let mut failures = 0u32;
    loop {
        match api.next().await {
            Ok(event) => return Ok(event),
            Err(e) if matches!(e, ApiError::Status { .. }) || failures >= 3 => return Err(e),
            Err(e) => {
                failures += 1;
                log::error(&format!("{e}; retrying"));
                tokio::time::sleep(Duration::from_millis(50 * u64::from(failures))).await;
            }
        }
    }
}

/// `on_error` and `mode` as a config file states them, read line by line: used when the file cannot be
/// parsed or checked, so that the user's choice holds even then. Defaults when absent or unreadable.
pub(crate) fn declared_settings(source: &ConfigSource) -> (OnError, Mode) {
    let text = match source {
        ConfigSource::File(path) => std::fs::read_to_string(path).unwrap_or_default(),
        // A local file named by a config variable; a remote or `env:` config that failed is not read
        // again here (passthrough, the default, then applies).
        ConfigSource::Location { location, .. } if !location.contains("://") && !location.starts_with("env:") => {
            std::fs::read_to_string(location.strip_prefix("file:").unwrap_or(location)).unwrap_or_default()
        }
        ConfigSource::Location { .. } | ConfigSource::Embedded => String::new(),
    };
    let on_error = match declared(&text, "on_error").as_deref() {
        Some("fail") => OnError::Fail,
        _ => OnError::Passthrough,
    };
    let mode = match declared(&text, "mode").as_deref() {
        Some("managed_instances") => Mode::ManagedInstances,
        Some("on_demand") => Mode::OnDemand,
        _ => Mode::Auto,
    };
    (on_error, mode)
}

/// The value of `key` directly in the top-level `lambdatel:` section (block or flow style), unquoted.
fn declared(text: &str, key: &str) -> Option<String> {
    let mut lines = text.lines();
    let section = lines.by_ref().find_map(|l| l.strip_prefix("lambdatel:"))?;
    let value_of = |entry: &str| {
        let (k, v) = entry.split_once(':')?;
        let v = v.split(" #").next().unwrap_or_default().trim().trim_matches(['"', '\'']);
        (k.trim() == key && !v.is_empty()).then(|| v.to_owned())
    };
    if section.trim_start().starts_with('{') {
        return section.split(['{', '}', ',']).find_map(value_of);
    }
    let mut indent = None;
    for line in lines {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let depth = line.len() - content.len();
        if depth == 0 {
            break;
        }
        // Only the section's own keys, not a nested `flush.mode` or the like.
        if *indent.get_or_insert(depth) == depth {
            if let Some(value) = value_of(content) {
                return Some(value);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_values_are_read_from_any_yaml_shape_even_a_broken_one() {
        let broken = "receivers:\n  telemetryapi: [\nlambdatel:\n  flush:\n    mode: x\n  on_error: \"fail\"  # strict\n  mode: managed_instances\nexporters: {\n";
        assert_eq!(declared(broken, "on_error").as_deref(), Some("fail"));
        assert_eq!(declared(broken, "mode").as_deref(), Some("managed_instances"));
        assert_eq!(declared("lambdatel: {flush_budget: 2s, on_error: fail}\n", "on_error").as_deref(), Some("fail"));
        assert_eq!(declared("service:\n  on_error: fail\n", "on_error"), None);
        assert_eq!(declared("lambdatel:\n  flush:\n    on_error: fail\n", "on_error"), None);
        assert_eq!(declared("lambdatel:\nservice:\n  on_error: fail\n", "on_error"), None);
    }

    #[test]
    fn the_passthrough_line_is_one_line() {
        let failure = StartFailure::new(
            "Extension.ConfigInvalid",
            "invalid configuration in /var/task/c.yaml:\n  c.yaml:3:5: receivers.telemetryapi.port: bad\n  c.yaml:7:1: exporters: missing\n",
        );
        assert_eq!(
            passthrough_line(&failure),
            "invalid configuration in /var/task/c.yaml: c.yaml:3:5: receivers.telemetryapi.port: bad; c.yaml:7:1: exporters: missing; \
             the function runs without telemetry (lambdatel.on_error: passthrough; set it to fail to fail the init instead)"
        );
    }

    #[test]
    fn the_kill_switch() {
        for (value, expected) in [("true", true), ("TRUE", true), ("1", true), ("false", false), ("", false)] {
            let env = move |k: &str| (k == "LAMBDATEL_DISABLED").then(|| value.to_owned());
            assert_eq!(disabled(&env), expected, "{value:?}");
        }
        assert!(!disabled(&|_| None));
    }
}
