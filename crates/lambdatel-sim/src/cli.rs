//! The `lambdatel-sim` command line: `run` (N invocations or a scenario, then a summary and the
//! JSON report) and `serve` (stay up with the Invoke API for curl).

use crate::fleet::{run_with_backend, FleetConfig, TrafficPattern};
use crate::gateway::{GatewayConfig, Outage};
use crate::otlp::{OtlpSink, SinkBehaviour, SinkOptions};
use crate::scenario::Step;
use crate::sim::{
    FunctionSpec, Invocation, ManagedInstances, ProcessFunction, Script, ScriptResult, ScriptedFunction,
    ShutdownReason, SimConfig, Simulator,
};
pub use crate::summary::summary;
use crate::summary::{backend_note, outcome_line};
use std::path::PathBuf;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
lambdatel-sim: a local AWS Lambda execution environment for testing extensions

USAGE:
    lambdatel-sim run   [OPTIONS]    run invocations, print a summary (and the JSON report)
    lambdatel-sim serve [OPTIONS]    stay up; invoke with
                                     curl -d '{}' http://127.0.0.1:PORT/2015-03-31/functions/function/invocations
    lambdatel-sim fleet [OPTIONS]    many sandboxes of the function at once, scaled by a traffic pattern,
                                     all exporting to the embedded OTLP receiver; prints fan-in and losses

OPTIONS:
    --extension PATH          start this extension (repeatable)
    --extensions-dir DIR      start every executable in DIR (like /opt/extensions)
    --invocations N           number of invocations for `run` (default 1); with --scenario,
                              the number of times the scenario runs
    --scenario FILE           JSON or YAML scenario of scripted invocations (see docs)
    --duration-ms MS          duration of each default scripted invocation (default 0)
    --function-command CMD    run this external runtime instead of the built-in function
    --function-arg ARG        argument for the runtime command (repeatable)
    --function-dir DIR        working directory and LAMBDA_TASK_ROOT of the runtime
    --handler NAME            _HANDLER (default index.handler)
    --no-freeze               do not SIGSTOP processes between invocations
    --otlp                    start the embedded OTLP receiver, point the extensions at it
                              (OTEL_EXPORTER_OTLP_ENDPOINT) and print what arrived
    --otlp-grpc-port PORT     port of the receiver's gRPC listener (default: any free port)
    --otlp-http-port PORT     also accept OTLP/HTTP on this port
    --otlp-delay-ms MS        the receiver answers every export MS late (a remote backend)
    --otlp-nagle              leave Nagle's algorithm on for the receiver's connections (real
                              servers set TCP_NODELAY; this is for comparison only)
    --report FILE             write the JSON report to FILE (`-` for stdout)
    --no-events               leave the event log out of the report (long runs)
    --env K=V                 extra environment for extensions and runtime (repeatable)
    --memory MB               memory size (default 128)
    --timeout DURATION        function timeout, e.g. 3s or 500ms (default 3s)
    --init-timeout DURATION   init limit (default 10s, as in Lambda; with --managed-instances the
                              limit is max(this, --timeout), default max(130s, --timeout))
    --init-duration-ms MS     how long the built-in function's init takes (default 0)
    --port PORT               Runtime API port (default: any free port)
    --snap-start              initialise as SnapStart does (restore events)
    --managed-instances       run as Lambda Managed Instances: concurrent invocations, never
                              frozen, SHUTDOWN-only extensions, Telemetry schema 2025-01-29,
                              Init limit max(130s, --timeout)
    --concurrency N           invocations at once with --managed-instances (default 1)
    --json-logs               the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT=JSON)
    --sandboxes N             fleet: most sandboxes alive at once (default 10)
    --pattern P               fleet: steady, bursty, steady-then-bursty or diurnal (default steady)
    --rate R                  fleet: mean invocations per second (default 10)
    --idle-shutdown DURATION  fleet: shut a sandbox down after this long idle (default 10s)
    --gateway G               fleet: export through a collector gateway to the receiver: `rotel`
                              (rotel-agent of python3's rotel package), a rotel-agent PATH, or
                              http://HOST:PORT of a running one; each sandbox gets its own relay
                              port in front of it, so connections are counted per sandbox
    --gateway-outage D@P%     fleet: take the gateway off the network for D once P% of the
                              invocations were dispatched (e.g. 10s@30%)
    --echo                    copy process output to stderr
    --quiet                   no progress output
";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `run` or `serve`.
    pub command: String,
    /// Extensions.
    pub extensions: Vec<PathBuf>,
    /// Extensions folder.
    pub extensions_dir: Option<PathBuf>,
    /// Invocations for `run`.
    pub invocations: u64,
    /// Scenario file.
    pub scenario: Option<PathBuf>,
    /// Duration of default scripted invocations.
    pub duration: Duration,
    /// External runtime command.
    pub function_command: Option<PathBuf>,
    /// Its arguments.
    pub function_args: Vec<String>,
    /// Its working directory.
    pub function_dir: Option<PathBuf>,
    /// `_HANDLER`.
    pub handler: Option<String>,
    /// Freeze between invocations.
    pub freeze: bool,
    /// Start the OTLP receiver.
    pub otlp: bool,
    /// gRPC port of the receiver.
    pub otlp_grpc_port: u16,
    /// HTTP port of the receiver.
    pub otlp_http_port: Option<u16>,
    /// The receiver answers every export this late.
    pub otlp_delay: Option<Duration>,
    /// Leave Nagle's algorithm on for the receiver's connections.
    pub otlp_nagle: bool,
    /// Run as Lambda Managed Instances.
    pub managed_instances: bool,
    /// Invocations at once on Managed Instances.
    pub concurrency: Option<usize>,
    /// Fleet: most sandboxes at once.
    pub sandboxes: usize,
    /// Fleet: traffic pattern.
    pub pattern: TrafficPattern,
    /// Fleet: mean invocations per second.
    pub rate: f64,
    /// Fleet: idle time after which a sandbox is shut down.
    pub idle_shutdown: Duration,
    /// Fleet: a collector gateway in front of the receiver.
    pub gateway: Option<GatewayConfig>,
    /// Report destination.
    pub report: Option<String>,
    /// Keep the event log.
    pub events: bool,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Memory in MB.
    pub memory_mb: u64,
    /// Timeout.
    pub timeout: Duration,
    /// Init limit (on Managed Instances, the floor of max(floor, timeout)); Lambda's when absent.
    pub init_timeout: Option<Duration>,
    /// How long the built-in function's init takes.
    pub init_duration: Duration,
    /// Runtime API port.
    pub port: u16,
    /// SnapStart init.
    pub snap_start: bool,
    /// JSON log format.
    pub json_logs: bool,
    /// Echo process output.
    pub echo: bool,
    /// No progress.
    pub quiet: bool,
}

/// Parses `3s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{s}` (use e.g. 3s or 500ms)");
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s, 1000)
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    Ok(Duration::from_millis(n * mult))
}

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    let command = match it.next().map(String::as_str) {
        Some(c @ ("run" | "serve" | "fleet")) => c.to_string(),
        Some("-h" | "--help" | "help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown command `{other}` (expected run, serve or fleet)")),
    };
    let mut o = Options {
        command,
        extensions: Vec::new(),
        extensions_dir: None,
        invocations: 1,
        scenario: None,
        duration: Duration::ZERO,
        function_command: None,
        function_args: Vec::new(),
        function_dir: None,
        handler: None,
        freeze: true,
        otlp: false,
        otlp_grpc_port: 0,
        otlp_http_port: None,
        otlp_delay: None,
        otlp_nagle: false,
        managed_instances: false,
        concurrency: None,
        sandboxes: 10,
        pattern: TrafficPattern::Steady,
        rate: 10.0,
        idle_shutdown: Duration::from_secs(10),
        gateway: None,
        report: None,
        events: true,
        env: Vec::new(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        init_timeout: None,
        init_duration: Duration::ZERO,
        port: 0,
        snap_start: false,
        json_logs: false,
        echo: false,
        quiet: false,
    };
    let mut outage = None;
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let num = |name: &str, v: String| v.parse::<u64>().map_err(|_| format!("{name} needs a number, got `{v}`"));
        let port = |name: &str, v: String| v.parse::<u16>().map_err(|_| format!("{name} needs a port, got `{v}`"));
        match flag.as_str() {
            "--extension" => o.extensions.push(value(flag)?.into()),
            "--extensions-dir" => o.extensions_dir = Some(value(flag)?.into()),
            "--invocations" => o.invocations = num(flag, value(flag)?)?,
            "--scenario" => o.scenario = Some(value(flag)?.into()),
            "--duration-ms" => o.duration = Duration::from_millis(num(flag, value(flag)?)?),
            "--function-command" => o.function_command = Some(value(flag)?.into()),
            "--function-arg" => o.function_args.push(value(flag)?),
            "--function-dir" => o.function_dir = Some(value(flag)?.into()),
            "--handler" => o.handler = Some(value(flag)?),
            "--no-freeze" => o.freeze = false,
            "--otlp" => o.otlp = true,
            "--otlp-grpc-port" => o.otlp_grpc_port = port(flag, value(flag)?)?,
            "--otlp-http-port" => o.otlp_http_port = Some(port(flag, value(flag)?)?),
            "--otlp-delay-ms" => o.otlp_delay = Some(Duration::from_millis(num(flag, value(flag)?)?)),
            "--otlp-nagle" => o.otlp_nagle = true,
            "--managed-instances" => o.managed_instances = true,
            "--sandboxes" => match num(flag, value(flag)?)? {
                0 => return Err("--sandboxes must be at least 1".into()),
                n => o.sandboxes = n as usize,
            },
            "--pattern" => o.pattern = value(flag)?.parse()?,
            "--rate" => {
                let v = value(flag)?;
                o.rate = match v.parse::<f64>() {
                    Ok(r) if r > 0.0 && r.is_finite() => r,
                    _ => return Err(format!("--rate needs a positive number of invocations per second, got `{v}`")),
                };
            }
            "--idle-shutdown" => o.idle_shutdown = parse_duration(&value(flag)?)?,
            "--gateway" => {
                o.gateway = Some(GatewayConfig { kind: GatewayConfig::parse_kind(&value(flag)?)?, outage: None })
            }
            "--gateway-outage" => outage = Some(value(flag)?.parse::<Outage>()?),
            "--concurrency" => match num(flag, value(flag)?)? {
                0 => return Err("--concurrency must be at least 1".into()),
                n => o.concurrency = Some(n as usize),
            },
            "--report" => o.report = Some(value(flag)?),
            "--no-events" => o.events = false,
            "--env" => {
                let kv = value(flag)?;
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("--env needs K=V, got `{kv}`"))?;
                o.env.push((k.to_string(), v.to_string()));
            }
            "--memory" => o.memory_mb = num(flag, value(flag)?)?,
            "--timeout" => o.timeout = parse_duration(&value(flag)?)?,
            "--init-timeout" => o.init_timeout = Some(parse_duration(&value(flag)?)?),
            "--init-duration-ms" => o.init_duration = Duration::from_millis(num(flag, value(flag)?)?),
            "--port" => o.port = port(flag, value(flag)?)?,
            "--snap-start" => o.snap_start = true,
            "--json-logs" => o.json_logs = true,
            "--echo" => o.echo = true,
            "--quiet" => o.quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if o.gateway.is_some() && o.command != "fleet" {
        return Err("--gateway is a fleet option".into());
    }
    match (&mut o.gateway, outage) {
        (Some(gateway), outage) => gateway.outage = outage,
        (None, Some(_)) => return Err("--gateway-outage needs --gateway".into()),
        (None, None) => {}
    }
    if o.concurrency.is_some() && !o.managed_instances {
        return Err("--concurrency needs --managed-instances (on-demand sandboxes run one invocation at a time)".into());
    }
    if o.managed_instances && o.snap_start {
        return Err("--managed-instances and --snap-start are different environments; choose one".into());
    }
    let receiver_flag = [("--otlp-delay-ms", o.otlp_delay.is_some()), ("--otlp-nagle", o.otlp_nagle)];
    if let Some((flag, _)) = receiver_flag.iter().find(|(_, set)| *set && !o.otlp && o.command != "fleet") {
        return Err(format!("{flag} needs --otlp"));
    }
    Ok(o)
}

impl Options {
    /// The simulator configuration these options describe.
    pub fn sim_config(&self) -> SimConfig {
        let mut cfg = SimConfig {
            extensions: self.extensions.clone(),
            extensions_dir: self.extensions_dir.clone(),
            env: self.env.clone(),
            freeze: self.freeze,
            memory_mb: self.memory_mb,
            timeout: self.timeout,
            init_timeout: self.init_timeout.unwrap_or(SimConfig::default().init_timeout),
            runtime_api_port: self.port,
            echo_output: self.echo,
            snap_start: self.snap_start,
            invoke_api: self.command == "serve",
            record_events: self.events,
            json_logs: self.json_logs,
            managed_instances: self.managed_instances.then(|| ManagedInstances {
                concurrency: self.concurrency.unwrap_or(1),
                init_timeout_floor: self.init_timeout.unwrap_or(ManagedInstances::INIT_TIMEOUT_FLOOR),
            }),
            function: FunctionSpec::Scripted(ScriptedFunction { init_duration: self.init_duration, init_error: None }),
            ..SimConfig::default()
        };
        if let Some(h) = &self.handler {
            cfg.handler = h.clone();
        }
        if let Some(cmd) = &self.function_command {
            cfg.function = FunctionSpec::Process(ProcessFunction {
                command: cmd.clone(),
                args: self.function_args.clone(),
                working_dir: self.function_dir.clone(),
            });
        }
        cfg
    }
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(o: Options) -> i32 {
    match run_inner(o).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lambdatel-sim: {e}");
            1
        }
    }
}

async fn start_sink(o: &Options) -> Result<Option<OtlpSink>, String> {
    if !o.otlp && o.command != "fleet" {
        return Ok(None);
    }
    let grpc = std::net::SocketAddr::from(([127, 0, 0, 1], o.otlp_grpc_port));
    let http = o.otlp_http_port.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    let sink = OtlpSink::start_with(grpc, SinkOptions { http, nodelay: !o.otlp_nagle })
        .await
        .map_err(|e| format!("cannot start the OTLP receiver on {grpc}: {e} (is the port in use?)"))?;
    if let Some(delay) = o.otlp_delay {
        sink.set_behaviour(SinkBehaviour::Delay(delay));
    }
    Ok(Some(sink))
}

async fn run_inner(o: Options) -> Result<i32, String> {
    if o.command == "fleet" {
        return run_fleet(o).await;
    }
    let steps: Vec<Step> = match &o.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("scenario {}: {e}", path.display()))?;
            let once = crate::scenario::parse(&text).map_err(|e| format!("scenario {}: {e}", path.display()))?;
            let times = o.invocations as usize;
            once.iter().cycle().take(once.len() * times).cloned().collect()
        }
        None => (0..o.invocations)
            .map(|_| Step {
                invocation: Invocation {
                    payload: "{}".into(),
                    script: Script { duration: o.duration, ..Script::default() },
                    ..Invocation::default()
                },
                idle: Duration::ZERO,
            })
            .collect(),
    };
    if o.extensions.is_empty() && o.extensions_dir.is_none() && !o.quiet {
        // Allowed (a bare function run), but worth knowing.
        eprintln!("note: no --extension given; running the function alone");
    }
    let sink = start_sink(&o).await?;
    let mut cfg = o.sim_config();
    if let Some(sink) = &sink {
        cfg.env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), sink.grpc_endpoint()));
        cfg.env.push(("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into()));
        if !o.quiet {
            eprintln!("OTLP receiver: gRPC {}", sink.grpc_endpoint());
            if let Some(h) = sink.http_endpoint() {
                eprintln!("OTLP receiver: HTTP {h}");
            }
        }
    }
    let mut sim = Simulator::start(cfg).await.map_err(|e| e.to_string())?;
    if !o.quiet {
        eprintln!("Runtime API on {}", sim.runtime_api());
    }
    // Trace id -> invocation, to name each trace of the OTLP account.
    let mut labels = std::collections::HashMap::new();
    if o.command == "serve" {
        serve(&mut sim, &o, sink.as_ref(), &mut labels).await;
    } else if o.managed_instances {
        run_concurrently(&mut sim, steps, &o, &mut labels).await?;
    } else {
        let total = steps.len() as u64;
        // About twenty progress lines however long the run.
        let every = total.div_ceil(20).max(1);
        for (i, step) in steps.into_iter().enumerate() {
            let n = i as u64 + 1;
            let out = sim.invoke(step.invocation).await.map_err(|e| e.to_string())?;
            if let Some(id) = crate::render::xray_trace_id(&out.trace_header) {
                labels.insert(id, format!("invocation {n} {}", out.request_id));
            }
            if !o.quiet && (total <= 20 || n % every == 0 || n == total) {
                eprintln!("{}", outcome_line(n, Some(total), &out));
            }
            if !step.idle.is_zero() {
                tokio::time::sleep(step.idle).await;
            }
        }
    }
    let report = sim.shutdown(ShutdownReason::Spindown).await.map_err(|e| e.to_string())?;
    let to_stdout = o.report.as_deref() == Some("-");
    let mut out = String::new();
    if let Some(sink) = &sink {
        // Extensions flush at SHUTDOWN; give the last exports a moment to land.
        settle(sink).await;
    }
    if !to_stdout {
        out.push_str(&summary(&report));
        out.push_str(&backend_note(&o.env, sink.as_ref(), &report).await);
    }
    if let Some(sink) = &sink {
        if !to_stdout {
            out.push_str("\nOTLP received:\n");
            out.push_str(&crate::render::render_labeled(&sink.received(), &labels));
        }
    }
    print!("{out}");
    if let Some(dest) = &o.report {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        if to_stdout {
            println!("{json}");
        } else {
            std::fs::write(dest, json).map_err(|e| format!("report {dest}: {e}"))?;
        }
    }
    let init_failed = report.inits.last().is_some_and(|i| i.status != "success");
    Ok(if init_failed { 2 } else { 0 })
}

/// `fleet`: the sandboxes all export to the embedded receiver (always on).
async fn run_fleet(o: Options) -> Result<i32, String> {
    let Some(backend) = start_sink(&o).await? else { return Err("the fleet's OTLP receiver did not start".into()) };
    let script = match &o.scenario {
        Some(_) => return Err("fleet runs one kind of invocation: use --duration-ms, not --scenario".into()),
        None => Script { duration: o.duration, ..Script::default() },
    };
    let cfg = FleetConfig {
        sandbox: o.sim_config(),
        max_sandboxes: o.sandboxes,
        invocations: o.invocations as usize,
        rate: o.rate,
        pattern: o.pattern,
        idle_shutdown: o.idle_shutdown,
        script,
        gateway: o.gateway.clone(),
    };
    if !o.quiet {
        eprintln!(
            "fleet: {} invocation(s), {:?} at {}/s, up to {} sandbox(es); OTLP receiver {}",
            cfg.invocations,
            cfg.pattern,
            cfg.rate,
            cfg.max_sandboxes,
            backend.grpc_endpoint()
        );
    }
    let report = run_with_backend(cfg, &backend).await.map_err(|e| e.to_string())?;
    let to_stdout = o.report.as_deref() == Some("-");
    if !to_stdout {
        print!("{}", crate::summary::fleet_summary(&report));
    }
    if let Some(dest) = &o.report {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        if to_stdout {
            println!("{json}");
        } else {
            std::fs::write(dest, json).map_err(|e| format!("report {dest}: {e}"))?;
        }
    }
    Ok(0)
}

/// `run` on Managed Instances: every invocation handed over at once, `concurrency` at a time.
async fn run_concurrently(
    sim: &mut Simulator,
    steps: Vec<Step>,
    o: &Options,
    labels: &mut std::collections::HashMap<String, String>,
) -> Result<(), String> {
    if steps.iter().any(|s| !s.idle.is_zero()) && !o.quiet {
        eprintln!(
            "note: idleMs is ignored with --managed-instances (invocations run back to back, {} at once)",
            o.concurrency.unwrap_or(1)
        );
    }
    let total = steps.len() as u64;
    let invocations = steps.into_iter().map(|s| s.invocation).collect();
    let outcomes = sim.invoke_concurrently(invocations).await.map_err(|e| e.to_string())?;
    let every = total.div_ceil(20).max(1);
    for (i, out) in outcomes.iter().enumerate() {
        let n = i as u64 + 1;
        if let Some(id) = crate::render::xray_trace_id(&out.trace_header) {
            labels.insert(id, format!("invocation {n} {}", out.request_id));
        }
        if !o.quiet && (total <= 20 || n % every == 0 || n == total) {
            eprintln!("{}", outcome_line(n, Some(total), out));
        }
    }
    Ok(())
}

/// Waits until no new OTLP request arrived for 200 ms (at most 2 s).
async fn settle(sink: &OtlpSink) {
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut last = sink.request_count();
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sink.request_count();
        if now == last {
            return;
        }
        last = now;
    }
}

async fn serve(
    sim: &mut Simulator,
    o: &Options,
    sink: Option<&OtlpSink>,
    labels: &mut std::collections::HashMap<String, String>,
) {
    let Some(mut requests) = sim.take_invoke_requests() else {
        return;
    };
    eprintln!(
        "invoke with: curl -d '{{}}' http://{}/2015-03-31/functions/function/invocations   (Ctrl-C to stop)",
        sim.runtime_api()
    );
    // One signal stream for the whole loop: a signal that arrives while an invocation runs is
    // kept until the loop looks again (a fresh `ctrl_c()` per iteration would lose it).
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        eprintln!("lambdatel-sim: cannot install signal handlers");
        return;
    };
    let mut n = 0;
    loop {
        let req = tokio::select! {
            r = requests.recv() => match r { Some(r) => r, None => break },
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        };
        n += 1;
        // The built-in function echoes the payload.
        let body = String::from_utf8_lossy(&req.payload).into_owned();
        let inv = Invocation {
            payload: req.payload,
            script: Script { duration: o.duration, result: ScriptResult::Ok(body), ..Script::default() },
            ..Invocation::default()
        };
        match sim.invoke_with(inv, Some(req.respond)).await {
            Ok(out) => {
                eprintln!("{}", outcome_line(n, None, &out));
                if let Some(id) = crate::render::xray_trace_id(&out.trace_header) {
                    labels.insert(id, format!("invocation {n} {}", out.request_id));
                }
            }
            Err(e) => {
                eprintln!("lambdatel-sim: {e}");
                break;
            }
        }
        if let Some(sink) = sink {
            // What the extension exported during this invocation (it may flush later, e.g. at
            // the next invoke or at shutdown).
            let got = sink.received();
            if !got.is_empty() {
                print!("{}", crate::render::render_labeled(&got, labels));
                sink.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_run_options() {
        let o = parse_args(&args(
            "run --extension a --extension b --invocations 5 --no-freeze --otlp --env K=V=W --timeout 500ms --memory 512 --quiet",
        ))
        .unwrap();
        assert_eq!(o.command, "run");
        assert_eq!(o.extensions, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(o.invocations, 5);
        assert!(!o.freeze && o.otlp && o.quiet);
        assert_eq!(o.env, vec![("K".to_string(), "V=W".to_string())]);
        assert_eq!(o.timeout, Duration::from_millis(500));
        let cfg = o.sim_config();
        assert_eq!(cfg.memory_mb, 512);
        assert!(!cfg.freeze);
        assert!(matches!(cfg.function, FunctionSpec::Scripted(_)));
        let p =
            parse_args(&args("serve --function-command python3 --function-arg -m --function-arg awslambdaric --quiet"))
                .unwrap();
        match p.sim_config().function {
            FunctionSpec::Process(f) => {
                assert_eq!(f.command, PathBuf::from("python3"));
                assert_eq!(f.args, vec!["-m", "awslambdaric"]);
            }
            _ => panic!("expected a process runtime"),
        }
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(parse_args(&args("launch")).unwrap_err(), "unknown command `launch` (expected run, serve or fleet)");
        assert_eq!(parse_args(&args("run --bogus")).unwrap_err(), "unknown option `--bogus`");
        assert_eq!(parse_args(&args("run --invocations")).unwrap_err(), "--invocations needs a value");
        assert_eq!(parse_args(&args("run --invocations x")).unwrap_err(), "--invocations needs a number, got `x`");
        assert_eq!(parse_args(&args("run --env novalue")).unwrap_err(), "--env needs K=V, got `novalue`");
        assert_eq!(
            parse_args(&args("run --quiet --timeout 3h")).unwrap_err(),
            "invalid duration `3h` (use e.g. 3s or 500ms)"
        );
        assert_eq!(parse_args(&args("--help")).unwrap_err(), "");
        assert_eq!(
            parse_args(&args("fleet --gateway-outage 10s@30%")).unwrap_err(),
            "--gateway-outage needs --gateway"
        );
        assert_eq!(
            parse_args(&args("run --gateway http://127.0.0.1:4317")).unwrap_err(),
            "--gateway is a fleet option"
        );
        let o = parse_args(&args("fleet --gateway-outage 5s@50% --gateway http://127.0.0.1:4317")).unwrap();
        assert_eq!(
            o.gateway,
            Some(GatewayConfig {
                kind: crate::gateway::GatewayKind::External("127.0.0.1:4317".parse().unwrap()),
                outage: Some(Outage { duration: Duration::from_secs(5), at_fraction: 0.5 }),
            })
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("x").is_err());
    }
}
