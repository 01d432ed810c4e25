//! The config loader: any text as a `config.yaml`, with `${env:...}` references resolved to fuzzed values.
//! Nothing may panic; a config that loads must also build (or fail with errors) component by component.

#![no_main]

use lambdatel_components::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Environment values come from the same input, so substitution is exercised too.
    let env = |name: &str| Some(format!("{name}: [x, {{y: 1}}]"));
    let Ok(config) = lambdatel_config::parse(text, Some("fuzz.yaml"), &env) else { return };
    let registry = Registry::builtin();
    for (id, component) in &config.receivers {
        let _ = registry.build_receiver(id, component);
    }
    for (id, component) in &config.processors {
        let _ = registry.build_processor(id, component);
    }
});
