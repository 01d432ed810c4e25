//! The layer's wrapper (layer/lambdatel-wrapper) with and without a listening proxy, and a runtime that
//! outlives its proxy: the function must never depend on lambdatel.

mod runtime_proxy_support;

mod runtime_proxy {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::runtime_proxy_support::*;
    use lambdatel_components::runtime_proxy::FaasTrigger;

    const LAMBDA_RUNTIME_API: &str = "127.0.0.1:9001";

    fn wrapper() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../layer/lambdatel-wrapper")
    }

    /// Runs the wrapper as Lambda would (`wrapper <bootstrap> <args>`), with a bootstrap that prints the
    /// runtime's view: its `AWS_LAMBDA_RUNTIME_API` and the arguments it got.
    fn runtime_view(address_file: &Path, runtime_api: &str) -> String {
        let output = Command::new(wrapper())
            .args(["/bin/bash", "-c", r#"printf '%s' "$AWS_LAMBDA_RUNTIME_API"; printf ' [%s]' "$@""#, "bootstrap"])
            .args(["handler.main", "two words"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("LAMBDATEL_RUNTIME_PROXY_FILE", address_file)
            .output()
            .expect("the wrapper did not run");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "the wrapper wrote to stderr");
        String::from_utf8(output.stdout).unwrap()
    }

    fn unchanged() -> String {
        format!("{LAMBDA_RUNTIME_API} [handler.main] [two words]")
    }

    fn write_file(path: &Path, text: &str) {
        std::fs::File::create(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn without_a_listening_proxy_the_variable_is_unchanged() {
        let dir = temp_dir("wrapper");
        let file = dir.join("runtime-proxy");
        // No file at all.
        assert_eq!(runtime_view(&file, LAMBDA_RUNTIME_API), unchanged());
        // Not an address of ours.
        for text in ["", "garbage\n", "10.0.0.1:9001\n", "127.0.0.1:\n", "127.0.0.1:1234; rm -rf /\n"] {
            write_file(&file, text);
            assert_eq!(runtime_view(&file, LAMBDA_RUNTIME_API), unchanged(), "{text:?}");
        }
        // Nothing listening at the address (lambdatel gone, file left behind).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        write_file(&file, &format!("{closed}\n"));
        assert_eq!(runtime_view(&file, LAMBDA_RUNTIME_API), unchanged());
        // Something else listening there: an HTTP server that is not the proxy.
        let other = FakeRuntimeApi::start();
        write_file(&file, &format!("{}\n", other.address));
        assert_eq!(runtime_view(&file, LAMBDA_RUNTIME_API), unchanged());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_listener_that_never_answers_costs_about_a_second() {
        let dir = temp_dir("wrapper-silent");
        let file = dir.join("runtime-proxy");
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        write_file(&file, &format!("{}\n", silent.local_addr().unwrap()));
        let started = Instant::now();
        assert_eq!(runtime_view(&file, LAMBDA_RUNTIME_API), unchanged());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "the probe took {took:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn with_the_proxy_listening_the_runtime_is_pointed_at_it() {
        let dir = temp_dir("wrapper-proxy");
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(Some(&dir)), fake.address);
        let view = runtime_view(&dir.join("runtime-proxy"), LAMBDA_RUNTIME_API);
        assert_eq!(view, format!("{} [handler.main] [two words]", proxy.address));
        proxy.stop();
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// One invocation as a runtime does it: `next`, then the response.
    fn invoke(runtime_api: SocketAddr) -> std::io::Result<()> {
        let mut runtime = RawClient::connect(runtime_api)?;
        let next = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nTest-Event: sqs-event.json\r\n\r\n";
        runtime.send(next);
        let event = runtime.read_response().ok_or(std::io::ErrorKind::ConnectionAborted)?;
        assert_eq!(event.body, fixture("sqs-event.json"));
        let response = b"POST /2018-06-01/runtime/invocation/req-sqs-event.json/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Length: 2\r\n\r\n{}";
        runtime.send(response);
        let answer = runtime.read_response().ok_or(std::io::ErrorKind::ConnectionAborted)?;
        assert!(answer.head.starts_with("HTTP/1.1 202 "), "{}", answer.head);
        Ok(())
    }

    #[test]
    fn killing_the_proxy_mid_run_leaves_later_invocations_working() {
        let dir = temp_dir("wrapper-kill");
        let file = dir.join("runtime-proxy");
        let fake = FakeRuntimeApi::start();
        let proxy = RunningProxy::start(config_with_file(Some(&dir)), fake.address);
        let triggers = proxy.triggers.clone();

        let runtime_api = |view: String| -> SocketAddr { view.split(' ').next().unwrap().parse().unwrap() };
        let first = runtime_api(runtime_view(&file, &fake.address.to_string()));
        assert_eq!(first, proxy.address);
        for _ in 0..3 {
            invoke(first).unwrap();
        }
        assert_eq!(triggers.take("req-sqs-event.json").map(|i| i.trigger), Some(FaasTrigger::Pubsub));

        // lambdatel dies: the runtime's next call fails, so Lambda restarts the runtime through the wrapper,
        // which now leaves it on the real Runtime API.
        proxy.stop();
        assert!(invoke(first).is_err(), "the stopped proxy still answered");
        let restarted = runtime_api(runtime_view(&file, &fake.address.to_string()));
        assert_eq!(restarted, fake.address);
        for _ in 0..3 {
            invoke(restarted).unwrap();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
