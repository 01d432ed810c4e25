//! EMF lines parsed back: every line is checked against the EMF specification's structure, then read into
//! metric values and dimensions and compared with what was encoded.

use std::{
    collections::BTreeMap,
    time::{Duration, UNIX_EPOCH},
};

use lambdatel_aws::emf::{DimensionRollup, EmfConfig, EmfEncoder};
use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as AnyValue, AnyValue as Any, InstrumentationScope, KeyValue},
    metrics::v1::{
        exponential_histogram_data_point::Buckets, metric::Data, number_data_point::Value as NumberValue,
        summary_data_point::ValueAtQuantile, AggregationTemporality, ExponentialHistogram,
        ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum, Summary, SummaryDataPoint,
    },
    resource::v1::Resource,
};
use serde_json::{json, Value};

const T1: u64 = 1_700_000_000_000_000_000;
const T2: u64 = T1 + 60_000_000_000;

fn attribute(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.into(), value: Some(Any { value: Some(value) }), ..Default::default() }
}

fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, AnyValue::StringValue(value.into()))
}

fn number_point(attributes: Vec<KeyValue>, time: u64, value: NumberValue) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: T1 - 1_000_000_000,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
}

fn batch(metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![text("service.name", "checkout"), text("cloud.region", "eu-west-1")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope { name: "shop".into(), ..Default::default() }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

/// One metric value read back from an EMF line.
#[derive(Debug, PartialEq)]
struct Read {
    namespace: String,
    timestamp: u64,
    unit: String,
    dimensions: Vec<Vec<String>>,
    labels: BTreeMap<String, String>,
    value: Value,
}

/// Checks one line against the EMF structure and returns its metrics by name.
fn parse_line(line: &str) -> BTreeMap<String, Read> {
    let object: serde_json::Map<String, Value> = serde_json::from_str(line).expect("an EMF line is a JSON object");
    let aws = object["_aws"].as_object().expect("_aws is an object");
    let timestamp = aws["Timestamp"].as_u64().expect("Timestamp is an integer of milliseconds");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
    assert_eq!(directives.len(), 1);
    let directive = directives[0].as_object().unwrap();
    let namespace = directive["Namespace"].as_str().expect("Namespace is a string");
    assert!(!namespace.is_empty() && namespace.len() <= 255);
    let dimensions: Vec<Vec<String>> = directive["Dimensions"]
        .as_array()
        .expect("Dimensions is an array")
        .iter()
        .map(|set| {
            let set: Vec<String> = set
                .as_array()
                .expect("a dimension set is an array")
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            assert!(set.len() <= 30, "at most 30 dimensions per set");
            for dimension in &set {
                assert!(object[dimension].is_string(), "dimension {dimension} is a top-level string");
            }
            set
        })
        .collect();
    let metrics = directive["Metrics"].as_array().expect("Metrics is an array");
    assert!(!metrics.is_empty() && metrics.len() <= 100, "1 to 100 metrics per object");
    let labels: BTreeMap<String, String> =
        object.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
    metrics
        .iter()
        .map(|declared| {
            let name = declared["Name"].as_str().expect("Name is a string").to_string();
            let unit = declared["Unit"].as_str().expect("Unit is a string").to_string();
            let value = object.get(&name).unwrap_or_else(|| panic!("{name} has a top-level value")).clone();
            match &value {
                Value::Number(_) => {}
                Value::Object(set) => {
                    for key in ["Count", "Sum", "Min", "Max"] {
                        assert!(set[key].is_number(), "statistic set {name} has {key}");
                    }
                }
                other => panic!("{name} is {other}"),
            }
            let read = Read {
                namespace: namespace.into(),
                timestamp,
                unit,
                dimensions: dimensions.clone(),
                labels: labels.clone(),
                value,
            };
            (name, read)
        })
        .collect()
}

fn parse_all(lines: &[String]) -> BTreeMap<String, Read> {
    lines.iter().flat_map(|line| parse_line(line)).collect()
}

#[test]
fn gauges_sums_histograms_and_summaries_read_back() {
    let mut encoder = EmfEncoder::new(EmfConfig { namespace: "Shop".into(), ..Default::default() });
    let route = || vec![text("route", "/cart"), attribute("status", AnyValue::IntValue(200))];
    let cumulative_sum = |value: i64, time: u64| {
        metric(
            "requests",
            "{request}",
            Data::Sum(Sum {
                data_points: vec![number_point(route(), time, NumberValue::AsInt(value))],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        )
    };
    let first = batch(vec![
        metric(
            "memory",
            "By",
            Data::Gauge(Gauge { data_points: vec![number_point(vec![], T1, NumberValue::AsInt(1024))] }),
        ),
        metric(
            "load",
            "1",
            Data::Gauge(Gauge { data_points: vec![number_point(route(), T1, NumberValue::AsDouble(0.5))] }),
        ),
        metric(
            "broken",
            "1",
            Data::Gauge(Gauge { data_points: vec![number_point(route(), T1, NumberValue::AsDouble(f64::NAN))] }),
        ),
        metric(
            "errors",
            "",
            Data::Sum(Sum {
                data_points: vec![number_point(route(), T1, NumberValue::AsInt(3))],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        ),
        cumulative_sum(10, T1),
        metric(
            "latency",
            "ms",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: route(),
                    time_unix_nano: T1,
                    count: 4,
                    sum: Some(70.0),
                    bucket_counts: vec![1, 2, 1],
                    explicit_bounds: vec![10.0, 20.0],
                    min: Some(5.0),
                    max: Some(30.0),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        ),
        metric(
            "size",
            "By",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: route(),
                    time_unix_nano: T1,
                    count: 3,
                    sum: Some(7.0),
                    scale: 0,
                    zero_count: 1,
                    positive: Some(Buckets { offset: 1, bucket_counts: vec![2] }),
                    min: Some(0.0),
                    max: Some(4.0),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        ),
    ]);
    let now = UNIX_EPOCH + Duration::from_secs(1);
    let read = parse_all(&encoder.encode(&first, now));
    let names: Vec<&str> = read.keys().map(String::as_str).collect();
    // NaN cannot be written; the first point of a cumulative sum only primes its series.
    assert_eq!(names, ["errors", "latency", "load", "memory", "size"]);

    let memory = &read["memory"];
    assert_eq!(memory.namespace, "Shop");
    assert_eq!(memory.timestamp, T1 / 1_000_000);
    assert_eq!((memory.unit.as_str(), &memory.value), ("Bytes", &json!(1024)));
    assert_eq!(memory.dimensions, vec![vec!["OTelLib".to_string()]]);
    assert_eq!(memory.labels, BTreeMap::from([("OTelLib".to_string(), "shop".to_string())]));

    let load = &read["load"];
    assert_eq!((load.unit.as_str(), &load.value), ("None", &json!(0.5)));
    assert_eq!(
        load.dimensions,
        vec![vec!["OTelLib", "route", "status"], vec!["OTelLib"], vec!["OTelLib", "route"], vec!["OTelLib", "status"],]
    );
    assert_eq!(load.labels["route"], "/cart");
    assert_eq!(load.labels["status"], "200");
    assert_eq!(read["errors"].value, json!(3));
    assert_eq!(read["latency"].unit, "Milliseconds");
    assert_eq!(read["latency"].value, json!({ "Count": 4, "Sum": 70.0, "Min": 5.0, "Max": 30.0 }));
    assert_eq!(
        read["size"].value,
        json!({ "Count": 3, "Sum": 7.0, "Min": 0.0, "Max": 4.0, "Values": [0.0, 3.0], "Counts": [1, 2] })
    );

    // The second point of the cumulative sum is sent as the change since the first.
    let summary = metric(
        "duration",
        "s",
        Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes: route(),
                start_time_unix_nano: T1 - 1,
                time_unix_nano: T2,
                count: 2,
                sum: 3.0,
                quantile_values: vec![
                    ValueAtQuantile { quantile: 0.0, value: 1.0 },
                    ValueAtQuantile { quantile: 1.0, value: 2.0 },
                ],
                ..Default::default()
            }],
        }),
    );
    let read = parse_all(&encoder.encode(&batch(vec![cumulative_sum(25, T2), summary.clone()]), now));
    assert_eq!(read.keys().collect::<Vec<_>>(), ["requests"]);
    assert_eq!((read["requests"].unit.as_str(), &read["requests"].value), ("Count", &json!(15)));
    assert_eq!(read["requests"].timestamp, T2 / 1_000_000);
    // A counter that went down restarted: its value is the count since the restart. The summary moved on.
    let mut later = summary;
    if let Some(Data::Summary(s)) = &mut later.data {
        s.data_points[0].count = 5;
        s.data_points[0].sum = 9.0;
    }
    let read = parse_all(&encoder.encode(&batch(vec![cumulative_sum(4, T2 + 1_000_000_000), later]), now));
    assert_eq!(read["requests"].value, json!(4));
    assert_eq!(read["duration"].value, json!({ "Count": 3, "Sum": 6.0, "Min": 1.0, "Max": 2.0 }));
    assert_eq!(read["duration"].unit, "Seconds");
}

#[test]
fn at_most_100_metrics_per_object_and_rollup_options() {
    let gauges: Vec<Metric> = (0..150)
        .map(|i| {
            metric(
                &format!("g{i:03}"),
                "1",
                Data::Gauge(Gauge {
                    data_points: vec![number_point(vec![text("a", "x"), text("b", "y")], 0, NumberValue::AsInt(i))],
                }),
            )
        })
        .collect();
    let mut encoder = EmfEncoder::new(EmfConfig {
        dimension_rollup_option: DimensionRollup::NoDimensionRollup,
        resource_to_telemetry_conversion: true,
        ..Default::default()
    });
    let now = UNIX_EPOCH + Duration::from_millis(1_234_567);
    let lines = encoder.encode(&batch(gauges), now);
    assert_eq!(lines.len(), 2);
    assert_eq!(parse_line(&lines[0]).len(), 100);
    assert_eq!(parse_line(&lines[1]).len(), 50);
    let read = parse_all(&lines);
    assert_eq!(read.len(), 150);
    let g149 = &read["g149"];
    assert_eq!(g149.value, json!(149));
    assert_eq!(g149.timestamp, 1_234_567, "points without a time get the encoding time");
    // No namespace configured: the resource's service.name.
    assert_eq!(g149.namespace, "checkout");
    assert_eq!(g149.dimensions, vec![vec!["OTelLib", "a", "b", "cloud.region", "service.name"]]);
    assert_eq!(g149.labels["cloud.region"], "eu-west-1");

    let single: EmfConfig =
        serde_json::from_value(json!({ "dimension_rollup_option": "SingleDimensionRollupOnly" })).unwrap();
    assert_eq!(single.dimension_rollup_option, DimensionRollup::SingleDimensionRollupOnly);
    let alias: EmfConfig =
        serde_json::from_value(json!({ "dimension_rollup_option": "SingleDimensionRollup" })).unwrap();
    assert_eq!(alias.dimension_rollup_option, DimensionRollup::SingleDimensionRollupOnly);
    let line = &EmfEncoder::new(single).encode(
        &batch(vec![metric(
            "m",
            "1",
            Data::Gauge(Gauge {
                data_points: vec![number_point(vec![text("a", "x"), text("b", "y")], T1, NumberValue::AsInt(1))],
            }),
        )]),
        now,
    )[0];
    assert_eq!(
        parse_line(line)["m"].dimensions,
        vec![vec!["OTelLib", "a", "b"], vec!["OTelLib", "a"], vec!["OTelLib", "b"]]
    );
    let wrong =
        serde_json::from_value::<EmfConfig>(json!({ "dimension_rollup_option": "AllOfThem" })).unwrap_err().to_string();
    assert_eq!(
        wrong,
        "unknown variant `AllOfThem`, expected one of `NoDimensionRollup`, `SingleDimensionRollup`, \
         `SingleDimensionRollupOnly`, `ZeroAndSingleDimensionRollup`"
    );
}
