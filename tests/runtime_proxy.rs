//! The Runtime API proxy in front of the simulator's Runtime API, with a real runtime process started the way
//! Lambda starts it under `AWS_LAMBDA_EXEC_WRAPPER`: through the layer's wrapper. Every invocation must
//! behave as without the proxy, each trigger must be read, and once the proxy dies the function must go on
//! working after Lambda restarts its runtime.

mod runtime_proxy {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::Ordering;

    use lambdatel_components::runtime_proxy::{FaasTrigger, ProxyConfig, RuntimeProxy, TriggerStore};
    use lambdatel_e2e::{free_port, TempDir};
    use lambdatel_sim::{FunctionSpec, Invocation, ProcessFunction, ShutdownReason, SimConfig, Simulator};
    use serde_json::Value;

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

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
