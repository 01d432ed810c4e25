//! The `awsemf` exporter under the simulator: its lines on the extension's stdout (where Lambda sends them to
//! CloudWatch, which makes metrics of them) are parsed back as CloudWatch parses Embedded Metric Format, and
//! the values and dimensions are those of the simulated invocations.

use std::collections::BTreeMap;

use lambdatel_e2e::*;
use lambdatel_sim::{
    events::{EventRecord, ReportMetrics},
    Invocation, ShutdownReason, Simulator,
};
use serde_json::{Map, Value};

const INVOCATIONS: usize = 5;
const NAMESPACE: &str = "lambdatel/e2e";
const MARKER: &str = "{\"lambdatel\":\"emf\",";

/// One EMF object checked against the specification's structure: the metrics it declares, each with its
/// unit and value, and its dimension sets, each dimension with its value.
#[derive(Debug)]
struct Emf {
    metrics: BTreeMap<String, (String, Value)>,
    dimensions: Vec<Vec<String>>,
    labels: BTreeMap<String, String>,
}

fn parse(line: &str) -> Emf {
    let object: Map<String, Value> = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let aws = object["_aws"].as_object().expect("an _aws member");
    assert!(aws["Timestamp"].as_u64().is_some(), "Timestamp in ms: {line}");
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1, "{line}");
    let directive = directives[0].as_object().unwrap();
    assert_eq!(directive["Namespace"], NAMESPACE);
    let dimensions: Vec<Vec<String>> = directive["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| set.as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect())
        .collect();
    let declared = directive["Metrics"].as_array().unwrap();
    assert!(!declared.is_empty() && declared.len() <= 100, "1 to 100 metrics per object: {line}");
    let mut metrics = BTreeMap::new();
    for metric in declared {
        let name = metric["Name"].as_str().unwrap().to_string();
        let unit = metric["Unit"].as_str().unwrap().to_string();
        // Every declared metric is a root member: a number, or a statistic set.
        let value = object.get(&name).unwrap_or_else(|| panic!("{name} is declared but absent: {line}")).clone();
        assert!(value.is_number() || value.get("Count").is_some(), "{name}: {value}");
        metrics.insert(name, (unit, value));
    }
    let mut labels = BTreeMap::new();
    for dimension in dimensions.iter().flatten() {
        let value = object.get(dimension).and_then(Value::as_str);
        labels.insert(dimension.clone(), value.unwrap_or_else(|| panic!("dimension {dimension}: {line}")).to_string());
    }
    Emf { metrics, dimensions, labels }
}

/// A statistic set summed over objects: (count, sum, min, max).
fn add_statistics(total: &mut Option<(u64, f64, f64, f64)>, set: &Value) {
    let (count, sum) = (set["Count"].as_u64().unwrap(), set["Sum"].as_f64().unwrap());
    let (min, max) = (set["Min"].as_f64().unwrap(), set["Max"].as_f64().unwrap());
    *total = Some(match *total {
        None => (count, sum, min, max),
        Some((c, s, lo, hi)) => (c + count, s + sum, lo.min(min), hi.max(max)),
    });
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emf_lines_parse_back_into_the_invocations_metrics() {
    let dir = TempDir::new("emf");
    let yaml = format!(
        "receivers:
  telemetryapi:
    temporality: delta
exporters:
  awsemf:
    namespace: {NAMESPACE}
    resource_to_telemetry_conversion:
      enabled: true
service:
  pipelines:
    metrics: {{receivers: [telemetryapi], exporters: [awsemf]}}
"
    );
    let config = dir.write("config.yaml", &yaml);
    let cfg = lambdatel_with_config(&config);
    let region = cfg.region.clone();
    let mut sim = Simulator::start(cfg).await.expect("the simulator starts");
    for _ in 0..INVOCATIONS {
        assert_eq!(sim.invoke(Invocation::default()).await.unwrap().status, "success");
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(report.extensions[0].exit_status.as_ref().and_then(|s| s.code), Some(0));
    let reported: Vec<&ReportMetrics> = report
        .events
        .iter()
        .filter_map(|e| match &e.record {
            EventRecord::Report(r) => Some(&r.metrics),
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), INVOCATIONS);

    let lines = extension_lines(&report);
    let objects: Vec<Emf> = lines.iter().filter(|l| l.starts_with(MARKER)).map(|l| parse(l)).collect();
    assert!(!objects.is_empty(), "EMF lines in {lines:#?}");
    let (mut invocations, mut duration, mut billed) = (0, None, None);
    for object in &objects {
        // The resource's attributes are the dimensions: this function, its region, the receiver's scope.
        assert_eq!(object.labels.get("faas.name").map(String::as_str), Some("orders"), "{object:#?}");
        assert_eq!(object.labels.get("cloud.region"), Some(&region), "{object:#?}");
        assert_eq!(object.labels.get("OTelLib").map(String::as_str), Some("lambdatel"), "{object:#?}");
        // ZeroAndSingleDimensionRollup: every label; the scope alone; the scope with each other label.
        let mut expected = vec![object.labels.keys().cloned().collect::<Vec<_>>(), vec!["OTelLib".to_string()]];
        for label in object.labels.keys().filter(|l| *l != "OTelLib") {
            let mut set = vec!["OTelLib".to_string(), label.clone()];
            set.sort();
            expected.push(set);
        }
        assert_eq!(object.dimensions, expected);
        if let Some((unit, value)) = object.metrics.get("faas.invocations") {
            assert_eq!(unit, "Count");
            invocations += value.as_u64().unwrap();
        }
        if let Some((unit, set)) = object.metrics.get("aws.lambda.duration") {
            assert_eq!(unit, "Seconds");
            add_statistics(&mut duration, set);
        }
        if let Some((unit, set)) = object.metrics.get("aws.lambda.billed_duration") {
            assert_eq!(unit, "Seconds");
            add_statistics(&mut billed, set);
        }
    }
    assert_eq!(invocations, INVOCATIONS as u64);
    let seconds = |ms: Vec<f64>| {
        let values: Vec<f64> = ms.iter().map(|ms| ms / 1000.0).collect();
        let sum: f64 = values.iter().sum();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(0.0, f64::max);
        (values.len() as u64, sum, min, max)
    };
    for (name, got, want) in [
        ("aws.lambda.duration", duration, seconds(reported.iter().map(|m| m.duration_ms).collect())),
        (
            "aws.lambda.billed_duration",
            billed,
            seconds(reported.iter().map(|m| m.billed_duration_ms.unwrap() as f64).collect()),
        ),
    ] {
        let (count, sum, min, max) = got.unwrap_or_else(|| panic!("{name} in {lines:#?}"));
        assert_eq!(count, want.0, "{name}");
        assert!(close(sum, want.1) && close(min, want.2) && close(max, want.3), "{name}: {got:?} != {want:?}");
    }
}
