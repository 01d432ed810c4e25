//! Property tests of the config loader: it never panics on YAML-ish text of any shape, it reports every
//! failure as located errors, generated valid configs load with exactly their components, and values that
//! come from the environment (tokens, keys) never appear in errors or warnings.

use lambdatel_config::{parse, ComponentId};
use proptest::prelude::*;

/// Fragments that YAML and the config loader treat specially.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("receivers:".to_string()),
        Just("exporters:".to_string()),
        Just("processors:".to_string()),
        Just("service:".to_string()),
        Just("pipelines:".to_string()),
        Just("lambdatel:".to_string()),
        Just("traces:".to_string()),
        Just("{receivers: [telemetryapi], exporters: [otlp]}".to_string()),
        Just("telemetryapi:".to_string()),
        Just("otlp/a:".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("\n  ".to_string()),
        Just("\n    ".to_string()),
        Just("\t".to_string()),
        Just(": ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(", ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("&anchor ".to_string()),
        Just("*anchor".to_string()),
        Just("<<: *anchor".to_string()),
        Just("!!str ".to_string()),
        Just("!!binary ".to_string()),
        Just("|\n  ".to_string()),
        Just(">-\n  ".to_string()),
        Just("---\n".to_string()),
        Just("...\n".to_string()),
        Just("? ".to_string()),
        Just("# comment".to_string()),
        Just("${env:TOKEN}".to_string()),
        Just("${env:".to_string()),
        Just("${TOKEN:-default}".to_string()),
        Just("$${env:TOKEN}".to_string()),
        Just("~".to_string()),
        Just("null".to_string()),
        Just("1e309".to_string()),
        Just("-0x10".to_string()),
        Just("10ms".to_string()),
        "[a-z_/]{1,8}".prop_map(|s| s),
        "\\PC{1,4}".prop_map(|s| s),
    ]
}

const VALID: &str = "receivers:
  telemetryapi:
processors:
  batch:
exporters:
  otlp:
    endpoint: http://127.0.0.1:4317
    headers:
      authorization: ${env:TOKEN}
service:
  pipelines:
    traces: {receivers: [telemetryapi], processors: [batch], exporters: [otlp]}
";

const SECRET: &str = "Bearer s3cr3t-t0ken-value";

fn env(name: &str) -> Option<String> {
    (name == "TOKEN").then(|| SECRET.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn yaml_ish_text_never_panics_and_errors_are_located(tokens in proptest::collection::vec(token(), 0..60)) {
        let text = tokens.concat();
        match parse(&text, Some("fuzz.yaml"), &env) {
            Ok(config) => prop_assert!(!config.pipelines.is_empty()),
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    let shown = error.to_string();
                    prop_assert!(shown.starts_with("fuzz.yaml"), "{}", shown);
                    prop_assert!(!shown.contains(SECRET), "{}", shown);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse(&text, None, &env);
    }

    #[test]
    fn a_valid_config_with_a_line_broken_never_panics_nor_leaks_the_token(
        at in 0usize..14, garbage in proptest::collection::vec(token(), 1..4),
    ) {
        let mut lines: Vec<String> = VALID.lines().map(str::to_string).collect();
        let at = at.min(lines.len());
        lines.insert(at, garbage.concat());
        let text = lines.join("\n");
        match parse(&text, Some("config.yaml"), &env) {
            Ok(config) => {
                for warning in &config.warnings {
                    prop_assert!(!warning.contains(SECRET), "{}", warning);
                }
            }
            Err(errors) => {
                for error in &errors.0 {
                    prop_assert!(!error.to_string().contains(SECRET), "{}", error);
                }
            }
        }
    }

    #[test]
    fn generated_configs_load_with_exactly_their_components(
        names in proptest::collection::btree_set("[a-z][a-z0-9_]{0,6}", 1..5),
        signals in proptest::collection::btree_set(prop_oneof![Just("traces"), Just("metrics"), Just("logs")], 1..4),
    ) {
        let mut text = String::from("receivers:\n  telemetryapi:\nexporters:\n");
        for name in &names {
            text.push_str(&format!("  otlp/{name}:\n    endpoint: http://127.0.0.1:4317\n"));
        }
        let list: Vec<String> = names.iter().map(|n| format!("otlp/{n}")).collect();
        text.push_str("service:\n  pipelines:\n");
        for signal in &signals {
            text.push_str(&format!("    {signal}: {{receivers: [telemetryapi], exporters: [{}]}}\n", list.join(", ")));
        }
        let config = parse(&text, None, &env).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let exporters: Vec<ComponentId> = config.exporters.keys().cloned().collect();
        let expected: Vec<String> = list.clone();
        prop_assert_eq!(exporters.iter().map(ToString::to_string).collect::<Vec<_>>(), expected);
        prop_assert_eq!(config.pipelines.len(), signals.len());
        for pipeline in config.pipelines.values() {
            prop_assert_eq!(pipeline.exporters.len(), names.len());
        }
    }
}
