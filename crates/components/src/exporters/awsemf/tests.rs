use lambdatel_pipeline::{
    common::{any_value::Value, AnyValue, KeyValue},
    metrics::{metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics},
};
use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn gauge(name: &str, unit: &str, value: f64, attributes: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes,
                time_unix_nano: 1_700_000_000_000_000_000,
                value: Some(number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

fn settings(yaml: &str) -> (AwsEmfConfig, ComponentConfig) {
    let at = ComponentConfig::from_yaml("exporters.awsemf", yaml, &|_| None).unwrap();
    (at.deserialize().unwrap(), at)
}

#[test]
fn lines_parse_back_into_values_dimensions_and_units() {
    let (config, _) = settings("namespace: shop\ndimension_rollup_option: NoDimensionRollup\n");
    let exporter = AwsEmfExporter::new(&config);
    let data = Signals {
        metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    gauge("latency", "ms", 12.5, vec![attribute("route", "/cart")]),
                    gauge("queue", "1", 3.0, vec![attribute("route", "/cart")]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let now = UNIX_EPOCH + Duration::from_secs(1);
    assert_eq!(exporter.lines(Signal::Traces, &data, now), Vec::<String>::new());
    let lines = exporter.lines(Signal::Metrics, &data, now);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(EMF_LINE_PREFIX), "{}", lines[0]);
    let object: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(object["lambdatel"], "emf");
    assert_eq!(object["latency"], 12.5);
    assert_eq!(object["queue"], 3.0);
    assert_eq!(object["route"], "/cart");
    let aws = &object["_aws"];
    assert_eq!(aws["Timestamp"], 1_700_000_000_000u64);
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "shop");
    assert_eq!(directive["Dimensions"], serde_json::json!([["route"]]));
    assert_eq!(
        directive["Metrics"],
        serde_json::json!([{"Name": "latency", "Unit": "Milliseconds"}, {"Name": "queue", "Unit": "None"}])
    );
}

#[test]
fn adot_settings_are_warned_unknown_ones_are_errors() {
    let (config, at) = settings("namespace: n\nlog_group_name: /aws/x\noutput_destination: cloudwatch\n");
    assert_eq!(config.check(&at), Ok(()));
    assert_eq!(
        config.warnings(&at),
        [
            "<config>:2:1: exporters.awsemf.log_group_name: has no meaning for EMF written to the function's log and is ignored",
            "<config>:3:1: exporters.awsemf.output_destination: EMF goes to stdout, which Lambda ships to the function's log group",
        ]
    );
    let (config, at) = settings("namespcae: n\n");
    assert_eq!(
        config.check(&at).unwrap_err().to_string(),
        "<config>:1:1: exporters.awsemf.namespcae: unknown awsemf setting \"namespcae\""
    );
    let (config, at) = settings("output_destination: s3\n");
    assert_eq!(
        config.check(&at).unwrap_err().to_string(),
        "<config>:1:1: exporters.awsemf.output_destination: \"s3\" is not stdout or cloudwatch"
    );
}
