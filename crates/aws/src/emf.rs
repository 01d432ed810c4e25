//! CloudWatch Embedded Metric Format: OTLP metrics as EMF JSON lines, which CloudWatch Logs turns into
//! metrics when they are written to a function's log, with the Collector `awsemf` exporter's semantics:
//!
//! - one object per resource, label set and timestamp, holding every metric with those (at most 100 per
//!   object, CloudWatch's limit; more are split over several objects);
//! - labels are the data point attributes (plus the resource's with `resource_to_telemetry_conversion`) and
//!   `OTelLib`, the instrumentation scope name; dimension sets per `dimension_rollup_option`;
//! - gauges as they are; monotonic cumulative sums as the delta since the previous point of the series (the
//!   first point only primes it); histograms and summaries as CloudWatch statistic sets (`Count`, `Sum`,
//!   `Min`, `Max`, cumulative ones as deltas), delta exponential histograms also with `Values`/`Counts`;
//! - OpenTelemetry (UCUM) units mapped to CloudWatch units, `None` when CloudWatch has no equivalent.

use std::{
    collections::{BTreeMap, HashMap},
    time::{SystemTime, UNIX_EPOCH},
};

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as AnyValue, KeyValue},
    metrics::v1::{
        exponential_histogram_data_point::Buckets, metric::Data, number_data_point::Value as NumberValue,
        AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, ResourceMetrics,
        SummaryDataPoint,
    },
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// CloudWatch's limit of metrics in one EMF object.
pub const MAX_METRICS_PER_OBJECT: usize = 100;
/// CloudWatch's limit of values in one metric's `Values` array.
const MAX_VALUES: usize = 100;
/// Series whose previous cumulative value is kept; past this the memory is reset rather than grown (a
/// function emitting more series than this is misconfigured for EMF anyway).
const MAX_TRACKED_SERIES: usize = 10_000;
/// The label carrying the instrumentation scope name, as `awsemf` names it.
pub const OTEL_LIB_DIMENSION: &str = "OTelLib";

/// Which dimension sets are declared besides the one of all labels (the Collector's option of that name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum DimensionRollup {
    /// Only the set of all labels.
    NoDimensionRollup,
    /// Also one set per label (with `OTelLib`).
    #[serde(alias = "SingleDimensionRollup")]
    SingleDimensionRollupOnly,
    /// Also the empty set (just `OTelLib`) and one set per label: the Collector's default.
    #[default]
    ZeroAndSingleDimensionRollup,
}

/// The `awsemf` settings that mean something for EMF on a function's stdout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EmfConfig {
    /// CloudWatch namespace; from `service.namespace`/`service.name` of the resource, else `default`, when
    /// empty.
    pub namespace: String,
    /// Dimension sets declared for each label set.
    pub dimension_rollup_option: DimensionRollup,
    /// Resource attributes become labels too (data point attributes win on a clash).
    pub resource_to_telemetry_conversion: bool,
}

/// Turns OTLP metrics into EMF lines, remembering cumulative series to emit their deltas.
#[derive(Debug, Default)]
pub struct EmfEncoder {
    config: EmfConfig,
    previous: HashMap<SeriesKey, Previous>,
}

type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    resource: Vec<(String, String)>,
    metric: String,
    labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy)]
struct Previous {
    start_time: u64,
    value: f64,
    count: u64,
}

/// One EMF object under construction: its labels, timestamp and metrics.
struct Group {
    labels: Labels,
    timestamp_ms: u64,
    metrics: BTreeMap<String, (Value, &'static str)>,
}

impl EmfEncoder {
    /// An encoder with `config`.
    pub fn new(config: EmfConfig) -> Self {
        EmfEncoder { config, previous: HashMap::new() }
    }

    /// The EMF lines (JSON objects without a trailing newline) of `batch`; points at `now` when they carry no
    /// time. Data points with non-finite values are left out: JSON cannot carry them.
    pub fn encode(&mut self, batch: &[ResourceMetrics], now: SystemTime) -> Vec<String> {
        let now_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        if self.previous.len() > MAX_TRACKED_SERIES {
            self.previous.clear();
        }
        let mut lines = Vec::new();
        for resource_metrics in batch {
            let resource_attributes =
                resource_metrics.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
            let resource_labels = labels_of(resource_attributes);
            let resource_key: Vec<(String, String)> = resource_labels.clone().into_iter().collect();
            let mut groups: Vec<Group> = Vec::new();
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope_name = scope_metrics.scope.as_ref().map(|s| s.name.as_str()).unwrap_or_default();
                for metric in &scope_metrics.metrics {
                    let unit = cloudwatch_unit(&metric.unit);
                    for (attributes, time, value) in self.values(&resource_key, metric) {
                        let mut labels = match self.config.resource_to_telemetry_conversion {
                            true => resource_labels.clone(),
                            false => Labels::new(),
                        };
                        labels.extend(labels_of(attributes));
                        if !scope_name.is_empty() {
                            labels.insert(OTEL_LIB_DIMENSION.to_string(), scope_name.to_string());
                        }
                        let timestamp_ms = if time == 0 { now_ms } else { time / 1_000_000 };
                        let group =
                            match groups.iter().position(|g| g.labels == labels && g.timestamp_ms == timestamp_ms) {
                                Some(at) => &mut groups[at],
                                None => {
                                    groups.push(Group { labels, timestamp_ms, metrics: BTreeMap::new() });
                                    groups.last_mut().expect("just pushed")
                                }
                            };
                        group.metrics.insert(metric.name.clone(), (value, unit));
                    }
                }
            }
            let namespace = self.namespace(&resource_labels);
            for group in groups {
                lines.extend(self.objects(&namespace, group));
            }
        }
        lines
    }

    /// The EMF value of each data point of `metric` that has one: (attributes, time, value).
    fn values<'m>(&mut self, resource: &[(String, String)], metric: &'m Metric) -> Vec<(&'m [KeyValue], u64, Value)> {
        let key = |attributes: &[KeyValue]| SeriesKey {
            resource: resource.to_vec(),
            metric: metric.name.clone(),
            labels: labels_of(attributes).into_iter().collect(),
        };
        let cumulative = |temporality: i32| temporality == AggregationTemporality::Cumulative as i32;
        let mut values = Vec::new();
        match &metric.data {
            None => {}
            Some(Data::Gauge(gauge)) => {
                for point in &gauge.data_points {
                    if let Some(value) = number(point.value) {
                        values.push((point.attributes.as_slice(), point.time_unix_nano, value));
                    }
                }
            }
            Some(Data::Sum(sum)) => {
                let to_delta = sum.is_monotonic && cumulative(sum.aggregation_temporality);
                for point in &sum.data_points {
                    let Some(value) = number(point.value) else { continue };
                    let value = if to_delta {
                        let current = value.as_f64().unwrap_or_default();
                        let Some((delta, _)) =
                            self.delta(key(&point.attributes), point.start_time_unix_nano, current, 0)
                        else {
                            continue;
                        };
                        // Integer counters stay integers (exact below 2^53, far above real counts).
                        match point.value {
                            Some(NumberValue::AsInt(_)) => Value::from(delta.round() as i64),
                            _ => match finite(delta) {
                                Some(delta) => delta,
                                None => continue,
                            },
                        }
                    } else {
                        value
                    };
                    values.push((point.attributes.as_slice(), point.time_unix_nano, value));
                }
            }
            Some(Data::Histogram(histogram)) => {
                for point in &histogram.data_points {
                    let sum = point.sum.unwrap_or_default();
                    let stats = match cumulative(histogram.aggregation_temporality) {
                        true => self.delta(key(&point.attributes), point.start_time_unix_nano, sum, point.count),
                        false => Some((sum, point.count)),
                    };
                    let Some((sum, count)) = stats else { continue };
                    let (min, max) = histogram_range(point);
                    if let Some(value) = statistic_set(count, sum, min, max) {
                        values.push((point.attributes.as_slice(), point.time_unix_nano, value));
                    }
                }
            }
            Some(Data::ExponentialHistogram(histogram)) => {
                for point in &histogram.data_points {
                    let sum = point.sum.unwrap_or_default();
                    let mean = if point.count > 0 { sum / point.count as f64 } else { 0.0 };
                    let (min, max) = (point.min.unwrap_or(mean), point.max.unwrap_or(mean));
                    let value = if cumulative(histogram.aggregation_temporality) {
                        // Bucket-wise deltas would need both points at the same scale: only the statistics
                        // are made deltas.
                        let Some((sum, count)) =
                            self.delta(key(&point.attributes), point.start_time_unix_nano, sum, point.count)
                        else {
                            continue;
                        };
                        statistic_set(count, sum, min, max)
                    } else {
                        statistic_set(point.count, sum, min, max).map(|set| with_values(set, point))
                    };
                    if let Some(value) = value {
                        values.push((point.attributes.as_slice(), point.time_unix_nano, value));
                    }
                }
            }
            Some(Data::Summary(summary)) => {
                for point in &summary.data_points {
                    // Summaries are cumulative by definition.
                    let delta = self.delta(key(&point.attributes), point.start_time_unix_nano, point.sum, point.count);
                    let Some((sum, count)) = delta else { continue };
                    let (min, max) = summary_range(point);
                    if let Some(value) = statistic_set(count, sum, min, max) {
                        values.push((point.attributes.as_slice(), point.time_unix_nano, value));
                    }
                }
            }
        }
        values
    }

    /// The change of a cumulative series since its previous point, remembering this one; `None` for the
    /// first point of a series. A restart (new start time, or a value going down) counts from zero.
    fn delta(&mut self, key: SeriesKey, start_time: u64, value: f64, count: u64) -> Option<(f64, u64)> {
        let current = Previous { start_time, value, count };
        let previous = self.previous.insert(key, current)?;
        if previous.start_time != start_time || value < previous.value || count < previous.count {
            return Some((value, count));
        }
        Some((value - previous.value, count - previous.count))
    }

    fn namespace(&self, resource: &Labels) -> String {
        if !self.config.namespace.is_empty() {
            return self.config.namespace.clone();
        }
        match (resource.get("service.namespace"), resource.get("service.name")) {
            (Some(namespace), Some(name)) => format!("{namespace}/{name}"),
            (Some(only), None) | (None, Some(only)) => only.clone(),
            (None, None) => "default".to_string(),
        }
    }

    /// The EMF objects of one group, 100 metrics each at most.
    fn objects(&self, namespace: &str, group: Group) -> Vec<String> {
        let dimensions = dimension_sets(self.config.dimension_rollup_option, &group.labels);
        let metrics: Vec<(String, (Value, &'static str))> = group.metrics.into_iter().collect();
        metrics
            .chunks(MAX_METRICS_PER_OBJECT)
            .map(|chunk| {
                let mut object = Map::new();
                for (key, value) in &group.labels {
                    object.insert(key.clone(), Value::String(value.clone()));
                }
                let declared: Vec<Value> = chunk
                    .iter()
                    .map(|(name, (value, unit))| {
                        object.insert(name.clone(), value.clone());
                        json!({ "Name": name, "Unit": unit })
                    })
                    .collect();
                object.insert(
                    "_aws".to_string(),
                    json!({
                        "Timestamp": group.timestamp_ms,
                        "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": dimensions, "Metrics": declared }],
                    }),
                );
                Value::Object(object).to_string()
            })
            .collect()
    }
}

/// The dimension sets of a label set, each sorted, without repeats, as `awsemf` builds them.
pub fn dimension_sets(rollup: DimensionRollup, labels: &Labels) -> Vec<Vec<String>> {
    let has_lib = labels.contains_key(OTEL_LIB_DIMENSION);
    let plain: Vec<&String> = labels.keys().filter(|k| k.as_str() != OTEL_LIB_DIMENSION).collect();
    let zero: Vec<String> = if has_lib { vec![OTEL_LIB_DIMENSION.to_string()] } else { Vec::new() };
    let mut sets: Vec<Vec<String>> = vec![labels.keys().cloned().collect()];
    if rollup == DimensionRollup::ZeroAndSingleDimensionRollup && !plain.is_empty() {
        sets.push(zero.clone());
    }
    if rollup != DimensionRollup::NoDimensionRollup {
        for label in &plain {
            let mut set = zero.clone();
            set.push((*label).clone());
            set.sort();
            sets.push(set);
        }
    }
    let mut unique: Vec<Vec<String>> = Vec::new();
    for set in sets {
        if !unique.contains(&set) {
            unique.push(set);
        }
    }
    unique
}

/// The CloudWatch unit of an OpenTelemetry (UCUM) unit.
pub fn cloudwatch_unit(unit: &str) -> &'static str {
    match unit {
        "s" => "Seconds",
        "ms" => "Milliseconds",
        "us" | "µs" => "Microseconds",
        "By" => "Bytes",
        "kBy" | "KBy" => "Kilobytes",
        "MBy" => "Megabytes",
        "GBy" => "Gigabytes",
        "TBy" => "Terabytes",
        "bit" => "Bits",
        "kbit" => "Kilobits",
        "Mbit" => "Megabits",
        "Gbit" => "Gigabits",
        "Tbit" => "Terabits",
        "%" => "Percent",
        "1" => "None",
        "By/s" => "Bytes/Second",
        "kBy/s" => "Kilobytes/Second",
        "MBy/s" => "Megabytes/Second",
        "GBy/s" => "Gigabytes/Second",
        "TBy/s" => "Terabytes/Second",
        "bit/s" => "Bits/Second",
        "kbit/s" => "Kilobits/Second",
        "Mbit/s" => "Megabits/Second",
        "Gbit/s" => "Gigabits/Second",
        "Tbit/s" => "Terabits/Second",
        "{count}" | "{request}" | "{requests}" | "{invocation}" | "{invocations}" | "{error}" | "{errors}" => "Count",
        "{count}/s" | "1/s" | "{request}/s" | "{requests}/s" => "Count/Second",
        // Curly-brace annotations are counts of something.
        other if other.starts_with('{') && other.ends_with('}') => "Count",
        _ => "None",
    }
}

fn labels_of(attributes: &[KeyValue]) -> Labels {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), attribute_text(kv.value.as_ref()?.value.as_ref()?))))
        .collect()
}

fn attribute_text(value: &AnyValue) -> String {
    match value {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::BoolValue(b) => b.to_string(),
        AnyValue::IntValue(i) => i.to_string(),
        AnyValue::DoubleValue(d) => d.to_string(),
        AnyValue::BytesValue(b) => crate::sigv4::hex(b),
        AnyValue::ArrayValue(array) => {
            let items: Vec<String> = array.values.iter().filter_map(|v| v.value.as_ref()).map(attribute_text).collect();
            format!("[{}]", items.join(","))
        }
        AnyValue::KvlistValue(list) => {
            let items: Vec<String> = list
                .values
                .iter()
                .filter_map(|kv| Some(format!("{}:{}", kv.key, attribute_text(kv.value.as_ref()?.value.as_ref()?))))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        // An index into a profiles string table: meaningless outside a profile.
        AnyValue::StringValueStrindex(_) => String::new(),
    }
}

fn number(value: Option<NumberValue>) -> Option<Value> {
    match value? {
        NumberValue::AsInt(i) => Some(Value::from(i)),
        NumberValue::AsDouble(d) => finite(d),
    }
}

fn finite(value: f64) -> Option<Value> {
    serde_json::Number::from_f64(value).map(Value::Number)
}

/// A CloudWatch statistic set; `None` for an empty one (nothing happened) or non-finite numbers.
fn statistic_set(count: u64, sum: f64, min: f64, max: f64) -> Option<Value> {
    if count == 0 {
        return None;
    }
    Some(json!({ "Count": count, "Sum": finite(sum)?, "Min": finite(min)?, "Max": finite(max)? }))
}

/// Min and max of a histogram point: recorded ones, else the bounds of its outer non-empty buckets.
fn histogram_range(point: &HistogramDataPoint) -> (f64, f64) {
    let mean = if point.count > 0 { point.sum.unwrap_or_default() / point.count as f64 } else { 0.0 };
    let bounds = &point.explicit_bounds;
    let non_empty: Vec<usize> =
        point.bucket_counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, _)| i).collect();
    let estimated_min = non_empty.first().and_then(|&i| {
        if i == 0 {
            bounds.first().map(|b| b.min(mean))
        } else {
            bounds.get(i - 1).copied()
        }
    });
    let estimated_max =
        non_empty.last().and_then(|&i| bounds.get(i).copied().or_else(|| bounds.last().map(|b| b.max(mean))));
    (point.min.or(estimated_min).unwrap_or(mean), point.max.or(estimated_max).unwrap_or(mean))
}

fn summary_range(point: &SummaryDataPoint) -> (f64, f64) {
    let mean = if point.count > 0 { point.sum / point.count as f64 } else { 0.0 };
    let at = |q: f64| point.quantile_values.iter().find(|v| v.quantile == q).map(|v| v.value);
    (at(0.0).unwrap_or(mean), at(1.0).unwrap_or(mean))
}

/// Adds the bucket midpoints and counts of a delta exponential histogram, when CloudWatch can take them.
fn with_values(mut set: Value, point: &ExponentialHistogramDataPoint) -> Value {
    let base = 2f64.powf(2f64.powi(-point.scale));
    let mut pairs: Vec<(f64, u64)> = Vec::new();
    if point.zero_count > 0 {
        pairs.push((0.0, point.zero_count));
    }
    let mut add = |buckets: &Option<Buckets>, sign: f64| {
        let Some(buckets) = buckets else { return };
        for (i, &count) in buckets.bucket_counts.iter().enumerate() {
            if count > 0 {
                let index = f64::from(buckets.offset) + i as f64;
                let midpoint = (base.powf(index) + base.powf(index + 1.0)) / 2.0;
                pairs.push((sign * midpoint, count));
            }
        }
    };
    add(&point.positive, 1.0);
    add(&point.negative, -1.0);
    if pairs.is_empty() || pairs.len() > MAX_VALUES || pairs.iter().any(|(v, _)| !v.is_finite()) {
        return set;
    }
    let (values, counts): (Vec<f64>, Vec<u64>) = pairs.into_iter().unzip();
    set["Values"] = json!(values);
    set["Counts"] = json!(counts);
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(keys: &[&str]) -> Labels {
        keys.iter().map(|k| (k.to_string(), "v".to_string())).collect()
    }

    #[test]
    fn rollups_as_awsemf_builds_them() {
        let with_lib = labels(&["OTelLib", "b", "a"]);
        assert_eq!(
            dimension_sets(DimensionRollup::ZeroAndSingleDimensionRollup, &with_lib),
            vec![vec!["OTelLib", "a", "b"], vec!["OTelLib"], vec!["OTelLib", "a"], vec!["OTelLib", "b"]]
        );
        assert_eq!(
            dimension_sets(DimensionRollup::SingleDimensionRollupOnly, &with_lib),
            vec![vec!["OTelLib", "a", "b"], vec!["OTelLib", "a"], vec!["OTelLib", "b"]]
        );
        assert_eq!(dimension_sets(DimensionRollup::NoDimensionRollup, &with_lib), vec![vec!["OTelLib", "a", "b"]]);
        // One label: its single set is the full set, declared once.
        assert_eq!(
            dimension_sets(DimensionRollup::ZeroAndSingleDimensionRollup, &labels(&["a"])),
            vec![vec!["a".to_string()], vec![]]
        );
        assert_eq!(
            dimension_sets(DimensionRollup::ZeroAndSingleDimensionRollup, &Labels::new()),
            vec![Vec::<String>::new()]
        );
    }

    #[test]
    fn units() {
        let cases = [
            ("ms", "Milliseconds"),
            ("By", "Bytes"),
            ("1", "None"),
            ("{request}", "Count"),
            ("%", "Percent"),
            ("furlong", "None"),
            ("", "None"),
        ];
        for (otel, cloudwatch) in cases {
            assert_eq!(cloudwatch_unit(otel), cloudwatch, "{otel}");
        }
    }
}
