//! The offline commands: `lambdatel validate [FILE]` and `lambdatel convert [--config FILE] [BATCH.json ...]`.

use std::{io::Read, process::ExitCode};

use lambdatel_components::{
    receivers::telemetry_api::{
        convert::{ConvertOptions, Converter, ResourceInfo},
        listener::Api,
    },
    Registry,
};
use lambdatel_config::Config;
use lambdatel_pipeline::Signal;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest,
};

use crate::{config_source, service::Graph};

const HELP: &str = "lambdatel: an AWS Lambda extension that works like a tiny OpenTelemetry Collector

Run with no arguments, it is the extension (that is how Lambda starts it from /opt/extensions).

Commands:
  lambdatel validate [FILE]
      Check a configuration (FILE, else the one the extension would use) and print its pipelines.
  lambdatel convert [--config FILE] [BATCH.json ...]
      Run Telemetry API batches (JSON arrays as Lambda POSTs them; standard input when no file is given)
      through the configured processors and print the result as OTLP/JSON, one object keyed by pipeline.
  lambdatel --version | --help

Configuration: LAMBDATEL_CONFIG (a path), else /opt/lambdatel/config.yaml, else a default that sends to
OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_HEADERS) over OTLP/gRPC.
";

/// Runs an offline command.
pub fn run(registry: Registry, args: &[String]) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    // Building exporters sets up lazy connections, which need a runtime even when nothing is sent.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _guard = runtime.enter();
    let result = match args[0].as_str() {
        "validate" => validate(&registry, &args[1..], &env),
        "convert" => convert(&registry, &args[1..], &env),
        "--version" | "-V" | "version" => {
            println!("lambdatel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "--help" | "-h" | "help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn load(file: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, Config), String> {
    let source = match file {
        Some(path) => config_source::ConfigSource::File(path.into()),
        None => config_source::choose(env),
    };
    let config = config_source::load(&source, env).map_err(|e| format!("invalid configuration in {source}:\n{e}"))?;
    Ok((source.to_string(), config))
}

fn validate(registry: &Registry, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    if args.len() > 1 {
        return Err("usage: lambdatel validate [FILE]".into());
    }
    let (source, config) = load(args.first().map(String::as_str), env)?;
    let invalid = |e: lambdatel_config::ConfigErrors| format!("invalid configuration in {source}:\n{e}");
    crate::settings_from(&config).map_err(invalid)?;
    let graph = Graph::build(&config, registry).map_err(invalid)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{source}: valid");
    for line in graph.describe() {
        println!("  {line}");
    }
    Ok(())
}

fn convert(registry: &Registry, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let mut config_file = None;
    let mut batches = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--config" => config_file = Some(rest.next().ok_or("--config needs a file")?.as_str()),
            other if other.starts_with('-') && other != "-" => return Err(format!("convert: unknown option {other}")),
            file => batches.push(file.to_string()),
        }
    }
    let (source, config) = load(config_file, env)?;
    let mut graph = Graph::build(&config, registry).map_err(|e| format!("invalid configuration in {source}:\n{e}"))?;
    let (index, receiver) = graph
        .receivers()
        .iter()
        .enumerate()
        .find_map(|(i, (_, r))| r.as_telemetry_api().map(|c| (i, c.clone())))
        .ok_or_else(|| format!("{source}: no pipeline uses a telemetryapi receiver, so there is nothing to convert"))?;
    let options = ConvertOptions {
        platform_logs: receiver.platform_logs,
        temporality: receiver.temporality,
        instance_id_attribute: receiver.instance_id_attribute,
    };
    let mut converter = Converter::new(ResourceInfo::from_env(env), options);
    if batches.is_empty() {
        batches.push("-".into());
    }
    for name in &batches {
        let body = if name == "-" {
            let mut buffer = Vec::new();
            std::io::stdin().read_to_end(&mut buffer).map_err(|e| format!("standard input: {e}"))?;
            buffer
        } else {
            std::fs::read(name).map_err(|e| format!("{name}: {e}"))?
        };
        let stats = match receiver.api {
            Api::Telemetry => converter.ingest_telemetry(&body),
            Api::Logs => converter.ingest_logs_api(&body),
        };
        if stats.malformed_batches > 0 || stats.skipped_events > 0 || stats.skipped_fields > 0 {
            eprintln!(
                "{name}: {} events, {} skipped, {} fields defaulted, {} malformed batches",
                stats.events, stats.skipped_events, stats.skipped_fields, stats.malformed_batches
            );
        }
    }
    let signals = converter.finish();
    let mut out = serde_json::Map::new();
    for (pipeline, data) in graph.process(index, signals) {
        let id = graph.pipeline_id(pipeline);
        let value = match id.signal {
            Signal::Traces => serde_json::to_value(ExportTraceServiceRequest { resource_spans: data.spans }),
            Signal::Metrics => serde_json::to_value(ExportMetricsServiceRequest { resource_metrics: data.metrics }),
            Signal::Logs => serde_json::to_value(ExportLogsServiceRequest { resource_logs: data.logs }),
        }
        .map_err(|e| format!("cannot encode {id}: {e}"))?;
        out.insert(id.to_string(), value);
    }
    println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(out)).expect("JSON values serialise"));
    Ok(())
}
