//! The Runtime API proxy in front of the simulator's Runtime API, with a real runtime process started the way
//! Lambda starts it under `AWS_LAMBDA_EXEC_WRAPPER`: through the layer's wrapper. Every invocation must
//! behave as without the proxy, each trigger must be read, and once the proxy dies the function must go on
//! working after Lambda restarts its runtime.

mod runtime_proxy {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use lambdatel_components::runtime_proxy::{FaasTrigger, ProxyConfig, RuntimeProxy, TriggerStore};
    use lambdatel_e2e::{free_port, repository, TempDir};
    use lambdatel_sim::{FunctionSpec, Invocation, ProcessFunction, ShutdownReason, SimConfig, Simulator};
    use serde_json::Value;

    fn event(name: &str) -> Vec<u8> {
        let path = repository().join("crates/components/tests/fixtures/triggers").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn simulator(runtime_api_port: u16, address_file: &Path) -> SimConfig {
        SimConfig {
            // Lambda runs `<wrapper> <bootstrap>`; the simulator's Python test runtime is the bootstrap.
            function: FunctionSpec::Process(ProcessFunction {
                command: repository().join("layer/lambdatel-wrapper"),
                args: vec![repository().join("crates/lambdatel-sim/tests/fixtures/runtime.py").display().to_string()],
                working_dir: None,
            }),
            env: vec![("LAMBDATEL_RUNTIME_PROXY_FILE".into(), address_file.display().to_string())],
            runtime_api_port,
            echo_output: std::env::var_os("SIM_ECHO").is_some(),
            ..SimConfig::default()
        }
    }

    /// The event as the runtime saw it (the test runtime echoes it back).
    fn echoed(response: &[u8]) -> Value {
        let response: Value = serde_json::from_slice(response).expect("the runtime's response is JSON");
        response["echo"].clone()
    }

    const TIMED: usize = 100;

    /// Invocation times (invoke to response) of `TIMED` SQS invocations; with the proxy up, the store is
    /// drained as the extension would.
    async fn response_times(sim: &mut Simulator, triggers: &TriggerStore) -> Vec<f64> {
        let mut times = Vec::new();
        for _ in 0..TIMED {
            let outcome = sim
                .invoke(Invocation { payload: event("sqs-event.json").into(), ..Invocation::default() })
                .await
                .unwrap();
            assert_eq!(outcome.status, "success", "{outcome:?}");
            let _ = triggers.take(&outcome.request_id);
            times.push(outcome.response_ms.expect("a response time"));
        }
        times.sort_by(f64::total_cmp);
        times
    }

    fn percentile(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runtime_started_through_the_wrapper_works_with_and_after_the_proxy() {
        let dir = TempDir::new("runtime-proxy");
        let address_file = dir.path().join("runtime-proxy");
        let runtime_api_port = free_port();
        let bound =
            RuntimeProxy::bind(ProxyConfig { address_file: Some(address_file.clone()), ..ProxyConfig::default() })
                .await
                .unwrap();
        let (triggers, stats) = (bound.triggers(), bound.stats());
        let upstream = format!("127.0.0.1:{runtime_api_port}");
        let proxy = tokio::spawn(async move { bound.serve(&upstream).await });

        let mut sim = Simulator::start(simulator(runtime_api_port, &address_file)).await.expect("the simulator starts");
        assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
        let cases = [
            ("lambda-urls-request.json", FaasTrigger::Http),
            ("sqs-event.json", FaasTrigger::Pubsub),
            ("s3-event.json", FaasTrigger::Datasource),
            ("cloudwatch-scheduled-event.json", FaasTrigger::Timer),
        ];
        for (name, trigger) in cases {
            let payload = event(name);
            let outcome =
                sim.invoke(Invocation { payload: payload.clone().into(), ..Invocation::default() }).await.unwrap();
            assert_eq!(outcome.status, "success", "{name}: {outcome:?}");
            let sent: Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(echoed(outcome.response.as_ref().unwrap()), sent, "{name}");
            let info = triggers.take(&outcome.request_id).unwrap_or_else(|| panic!("{name}: no trigger was read"));
            assert_eq!(info.trigger, trigger, "{name}");
        }
        let proxied_ms = response_times(&mut sim, &triggers).await;

        // Every call went through the proxy: a `next` and a response per invocation answered so far (the
        // runtime's latest `next` is still waiting for an event).
        assert_eq!(stats.forwarded.load(Ordering::Relaxed), 2 * (cases.len() + TIMED) as u64);

        // lambdatel dies while the runtime waits in `next` through it.
        proxy.abort();
        assert!(proxy.await.unwrap_err().is_cancelled());
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let outcome = sim
                .invoke(Invocation { payload: event("sqs-event.json").into(), ..Invocation::default() })
                .await
                .unwrap();
            statuses.push(outcome.status);
        }
        // The runtime lost its connection and exited: the invocation that finds it gone fails, as one does when
        // an extension dies during it (Lambda resets the sandbox then, proxy or not). The sandbox is initialised
        // again through the wrapper, which finds no proxy and leaves the runtime on the real Runtime API: every
        // later invocation works.
        assert_eq!(statuses, ["failure", "success", "success", "success"]);
        assert_eq!(sim.last_init().unwrap().status, "success");
        let direct_ms = response_times(&mut sim, &triggers).await;
        println!("invoke-to-response time of the same runtime, {TIMED} invocations each, in ms (p50, p99):");
        println!("through the proxy: {:.3}, {:.3}", percentile(&proxied_ms, 0.5), percentile(&proxied_ms, 0.99));
        println!("direct:            {:.3}, {:.3}", percentile(&direct_ms, 0.5), percentile(&direct_ms, 0.99));
        sim.shutdown(ShutdownReason::Spindown).await.unwrap();
    }
}

/// The built lambdatel as the extension, the function's runtime started through the layer's wrapper: what a
/// function with `AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdatel-wrapper` runs.
mod behind_lambdatel {
    use std::path::PathBuf;

    use lambdatel_e2e::{otlp_config, raw_runtime_behind_lambdatel, repository, TempDir};
    use lambdatel_sim::events::{EventRecord, LogRecord};
    use lambdatel_sim::{Invocation, OtlpSink, Outcome, ShutdownReason, SimConfig, Simulator};
    use serde_json::json;

    struct Function {
        sim: Simulator,
        address_file: PathBuf,
        _sink: OtlpSink,
        _dir: TempDir,
    }

    /// The raw runtime (it answers an event with its own bytes, or streams what the event asks for) under
    /// lambdatel; `through_wrapper` false starts it without the wrapper, as a function that did not opt in.
    async fn start(through_wrapper: bool) -> Function {
        let sink = OtlpSink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = TempDir::new("runtime-proxy-lambdatel");
        let config = dir.write("config.yaml", &otlp_config(&sink.grpc_endpoint(), ""));
        let address_file = dir.path().join("runtime-proxy");
        let sim = Simulator::start(SimConfig {
            echo_output: std::env::var_os("SIM_ECHO").is_some(),
            ..raw_runtime_behind_lambdatel(&config, &address_file, through_wrapper)
        })
        .await
        .expect("the simulator starts");
        assert_eq!(sim.last_init().unwrap().status, "success", "{:?}", sim.last_init());
        Function { sim, address_file, _sink: sink, _dir: dir }
    }

    impl Function {
        /// The proxy's address as lambdatel published it.
        fn proxy_address(&self) -> String {
            std::fs::read_to_string(&self.address_file).expect("lambdatel wrote its proxy's address").trim().to_string()
        }

        async fn invoke(&mut self, payload: &[u8]) -> Outcome {
            self.sim.invoke(Invocation { payload: payload.to_vec().into(), ..Invocation::default() }).await.unwrap()
        }
    }

    /// The Runtime API address each start of the runtime was given, in order.
    fn runtime_apis(events: &[lambdatel_sim::TelemetryEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match &e.record {
                EventRecord::Function(LogRecord::Text(t)) => t.strip_prefix("runtime api ").map(str::to_string),
                _ => None,
            })
            .collect()
    }

    fn event(i: usize) -> Vec<u8> {
        let path = repository().join("crates/components/tests/fixtures/triggers/sqs-event.json");
        let mut bytes = std::fs::read(path).unwrap();
        // Each event its own bytes, so that an answer cannot be another invocation's.
        bytes.extend_from_slice(format!("\n\t{i} ").as_bytes());
        bytes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_invocation_after_lambdatel_is_killed_works() {
        const BEFORE: usize = 5;
        const AFTER: usize = 10;
        let mut function = start(true).await;
        let first_proxy = function.proxy_address();
        assert_ne!(first_proxy, function.sim.runtime_api());
        for i in 0..BEFORE {
            let outcome = function.invoke(&event(i)).await;
            assert_eq!((outcome.status.as_str(), outcome.error_type), ("success", None));
            assert_eq!(outcome.response.as_deref(), Some(&event(i)[..]));
        }
        // lambdatel dies between invocations (the runtime waits in `next` through its proxy).
        let extensions = function.sim.extension_pids();
        assert_eq!(extensions.len(), 1, "{extensions:?}");
        let pid = extensions[0].1;
        let kill = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        assert!(kill.success());
        while !matches!(lambdatel_sim::process::proc_state(pid), None | Some('Z')) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let mut outcomes = Vec::new();
        for i in BEFORE..BEFORE + AFTER {
            let outcome = function.invoke(&event(i)).await;
            assert_eq!(outcome.response.as_deref(), Some(&event(i)[..]), "invocation {i}: {outcome:?}");
            outcomes.push((outcome.status, outcome.error_type, outcome.suppressed_init));
        }
        // Lambda resets an environment whose extension died: the next invocation initialises a new one (a
        // suppressed init), whose lambdatel publishes a new proxy that the wrapper points the new runtime at.
        let mut expected = vec![("success".to_string(), None, false); AFTER];
        expected[0].2 = true;
        assert_eq!(outcomes, expected);
        let second_proxy = function.proxy_address();
        assert_ne!(second_proxy, first_proxy);
        let report = function.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
        assert_eq!(runtime_apis(&report.events), [first_proxy, second_proxy]);
        let killed = &report.extensions[0];
        assert_eq!((killed.generation, killed.exit_status.as_ref().unwrap().signal), (1, Some(9)));
        assert_eq!(report.extensions[1].generation, 2);
        assert_eq!(report.extensions[1].exit_status.as_ref().unwrap().code, Some(0), "{:?}", report.extensions[1]);
    }

    /// Streamed bytes: invalid UTF-8, NUL, and chunk boundaries inside multi-byte sequences (é = c3 a9, an
    /// emoji = f0 9f 98 80).
    const CHUNKS: [&[u8]; 6] =
        [b"{\"caf\xc3", b"\xa9\":\"", b"\xf0", b"\x9f\x98\x80\"}\n", b"\xff\xfe\x00\x80", b"\r\n0\r\n\r\n"];

    fn streamed(error: Option<(&str, &str)>) -> Vec<u8> {
        let mut plan = json!({"stream": CHUNKS.iter().map(hex).collect::<Vec<_>>()});
        if let Some((error_type, body)) = error {
            plan["error"] = json!({"type": error_type, "body": body});
        }
        serde_json::to_vec(&plan).unwrap()
    }

    fn hex(bytes: &&[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What the caller got for a streamed response, and a streamed response that ends with an error.
    async fn stream_outcomes(function: &mut Function) -> Vec<(String, Option<String>, Option<Vec<u8>>)> {
        let mut outcomes = Vec::new();
        for error in [None, Some(("Function.StreamCut", r#"{"errorMessage":"cut after 6 chunks"}"#))] {
            let outcome = function.invoke(&streamed(error)).await;
            outcomes.push((outcome.status, outcome.error_type, outcome.response.map(|b| b.to_vec())));
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_response_passes_through_byte_for_byte() {
        let expected = vec![
            ("success".to_string(), None, Some(CHUNKS.concat())),
            (
                "error".to_string(),
                Some("Function.StreamCut".to_string()),
                Some(br#"{"errorMessage":"cut after 6 chunks"}"#.to_vec()),
            ),
        ];
        let mut direct = start(false).await;
        assert_eq!(stream_outcomes(&mut direct).await, expected, "without the proxy");
        let report = direct.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
        assert_eq!(runtime_apis(&report.events).len(), 1);

        let mut proxied = start(true).await;
        let proxy = proxied.proxy_address();
        assert_eq!(stream_outcomes(&mut proxied).await, expected, "through the proxy");
        let report = proxied.sim.shutdown(ShutdownReason::Spindown).await.unwrap();
        assert_eq!(runtime_apis(&report.events), [proxy]);
    }
}
