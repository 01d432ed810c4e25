//! The offline commands: `lambdatel validate [FILE ...]` and `lambdatel convert [--config FILE] [BATCH.json ...]`.

use std::{
    io::{Read, Write},
    process::ExitCode,
};

use lambdatel_components::{
    receivers::telemetry_api::convert::{ConvertOptions, Converter, ResourceInfo},
    Registry,
};
use lambdatel_pipeline::Signal;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest,
};

use crate::{config_source, Checked};

const HELP: &str = "lambdatel: an AWS Lambda extension that works like a tiny OpenTelemetry Collector

Run with no arguments, it is the extension (that is how Lambda starts it from /opt/extensions).

Commands:
  lambdatel validate [FILE ...]
      Check configurations (each FILE, else the one the extension would use) and print their pipelines;
      every error of every file is reported, with the unset ${env:...} variables behind it.
  lambdatel convert [--config FILE] [BATCH.json ...]
      Run Telemetry API batches (JSON arrays as Lambda POSTs them; standard input when no file is given)
      through the configured processors and print the result as OTLP/JSON, one object keyed by pipeline.
  lambdatel --version | --help

Configuration: LAMBDATEL_CONFIG (a path), else /opt/lambdatel/config.yaml, else a default that sends to
OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_HEADERS) over OTLP/gRPC.
";

/// Why a command stopped early.
#[derive(Debug)]
enum Failure {
    /// A message for standard error; the command fails.
    Message(String),
    /// The command failed and has said why already.
    Reported,
    /// Standard output was closed (`lambdatel convert ... | head`): the reader has what it wanted, so the
    /// command ends quietly and successfully, as Unix tools do.
    StdoutClosed,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::Message(message.to_owned())
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::StdoutClosed,
            _ => Failure::Message(format!("cannot write the output: {error}")),
        }
    }
}

/// Writes to standard output without the panic `print!` has when the reader went away.
fn out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

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
        "--version" | "-V" | "version" => out(&format!("lambdatel {}\n", env!("CARGO_PKG_VERSION"))),
        "--help" | "-h" | "help" => out(HELP),
        other => Err(Failure::Message(format!("unknown command {other:?}\n\n{HELP}"))),
    };
    match result {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
        Err(Failure::Reported) => ExitCode::FAILURE,
    }
}

/// Loads and checks a configuration in every stage (see [`crate::check`]).
fn load(
    registry: &Registry,
    file: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Checked), String> {
    let source = match file {
        Some(path) => config_source::ConfigSource::File(path.into()),
        None => config_source::choose(env),
    };
    let checked = crate::check(config_source::load_partial(&source, env), registry, &lambdatel_aws::Env::snapshot(env))
        .map_err(|e| config_source::invalid_message(&source, &e))?;
    Ok((source.to_string(), checked))
}

/// Checks each file (or the configuration the extension would use) and reports every one: a bad file
/// does not hide the files after it.
fn validate(registry: &Registry, files: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<(), Failure> {
    let files: Vec<Option<&str>> =
        if files.is_empty() { vec![None] } else { files.iter().map(|f| Some(f.as_str())).collect() };
    let mut invalid = 0;
    for file in &files {
        match load(registry, *file, env) {
            Ok((source, checked)) => {
                for warning in &checked.config.warnings {
                    eprintln!("warning: {warning}");
                }
                let mut text = format!("{source}: valid\n");
                for line in checked.graph.describe() {
                    text.push_str(&format!("  {line}\n"));
                }
                out(&text)?;
            }
            Err(message) => {
                eprintln!("{message}");
                invalid += 1;
            }
        }
    }
    match invalid {
        0 => Ok(()),
        // The errors are printed already; one line says how many files failed when there were several.
        _ if files.len() == 1 => Err(Failure::Reported),
        n => Err(Failure::Message(format!("{n} of {} configurations are invalid", files.len()))),
    }
}

fn convert(registry: &Registry, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<(), Failure> {
    let mut config_file = None;
    let mut batches = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--config" => config_file = Some(rest.next().ok_or("--config needs a file")?.as_str()),
            other if other.starts_with('-') && other != "-" => {
                return Err(format!("convert: unknown option {other}").into())
            }
            file => batches.push(file.to_string()),
        }
    }
    let (source, Checked { mut graph, .. }) = load(registry, config_file, env)?;
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
        let stats = converter.ingest(&body);
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
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(out)).expect("JSON values serialise");
    self::out(&(text + "\n"))
}
