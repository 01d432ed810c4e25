//! Wiring of the Runtime API proxy and of the trace join into the extension: the proxy is bound before
//! `register` (so its address file exists before the runtime and its wrapper start) and served once the
//! extension knows the real Runtime API; its trigger store feeds the join step of every flush.

use lambdatel_components::{
    receivers::join::Joiner,
    runtime_proxy::{self, Bound, ProxyConfig, RuntimeProxy},
};

use crate::{log, settings::Settings};

/// The file name of the layer's wrapper script, as `AWS_LAMBDA_EXEC_WRAPPER` names it.
const WRAPPER_NAME: &str = "lambdatel-wrapper";

/// Whether the proxy is to run: as configured, else when the function's runtime starts through lambdatel's
/// wrapper.
pub fn wanted(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> bool {
    settings.runtime_proxy.unwrap_or_else(|| {
        env("AWS_LAMBDA_EXEC_WRAPPER")
            .is_some_and(|wrapper| std::path::Path::new(wrapper.trim()).file_name().is_some_and(|n| n == WRAPPER_NAME))
    })
}

/// Binds the proxy and writes its address file. A failure is logged and the extension goes on without it:
/// the wrapper then finds no proxy and leaves the runtime on Lambda's own Runtime API.
pub async fn bind(env: &dyn Fn(&str) -> Option<String>) -> Option<Bound> {
    let mut config = ProxyConfig::default();
    if let Some(file) = env(runtime_proxy::ADDRESS_FILE_ENV).filter(|f| !f.is_empty()) {
        config.address_file = Some(file.into());
    }
    match RuntimeProxy::bind(config).await {
        Ok(bound) => Some(bound),
        Err(e) => {
            log::warn(&format!("{e}; triggers will not be recorded"));
            None
        }
    }
}

/// Starts serving a bound proxy in front of `upstream` (Lambda's Runtime API) and returns the join step
/// reading its triggers; without a proxy, the join step alone.
pub fn start(settings: &Settings, proxy: Option<Bound>, upstream: &str) -> Joiner {
    let Some(proxy) = proxy else { return Joiner::new(settings.trace_join, None) };
    let triggers = proxy.triggers();
    let address = proxy.local_addr();
    let on_stop = |e: runtime_proxy::ProxyError| {
        log::warn(&format!("{e}; the function's runtime keeps working without the proxy after its next restart"));
    };
    match proxy.serve_on_own_thread(upstream, on_stop) {
        Ok(()) => log::info(&format!("Runtime API proxy on {address}")),
        // The listener is closed with it: the wrapper finds no proxy and leaves the runtime on Lambda's API.
        Err(e) => log::warn(&format!("{e}; triggers will not be recorded")),
    }
    Joiner::new(settings.trace_join, Some(triggers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(wrapper: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |key| (key == "AWS_LAMBDA_EXEC_WRAPPER").then_some(wrapper).flatten().map(str::to_owned)
    }

    #[test]
    fn the_proxy_runs_by_itself_only_behind_lambdatels_wrapper() {
        let auto = Settings::default();
        assert!(wanted(&auto, &env_with(Some("/opt/lambdatel-wrapper"))));
        assert!(!wanted(&auto, &env_with(Some("/opt/otel-instrument"))));
        assert!(!wanted(&auto, &env_with(Some("/opt/lambdatel-wrapper-old"))));
        assert!(!wanted(&auto, &env_with(None)));
        let on = Settings { runtime_proxy: Some(true), ..Settings::default() };
        assert!(wanted(&on, &env_with(None)));
        let off = Settings { runtime_proxy: Some(false), ..Settings::default() };
        assert!(!wanted(&off, &env_with(Some("/opt/lambdatel-wrapper"))));
    }
}
