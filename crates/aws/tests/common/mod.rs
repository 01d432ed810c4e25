//! Starting the Python fixtures (botocore verifier, container credentials endpoint, delay proxy) and a moto
//! server from the tests. Each process is killed when its handle drops. The end-to-end tests include this
//! file too (tests/aws_fixtures.rs), so the fixtures are found from the workspace root.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A started process, killed on drop.
pub struct Process {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixture(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.ancestors().find(|dir| dir.join("Cargo.lock").is_file()).expect("the workspace root");
    root.join("crates/aws/tests/fixtures").join(name)
}

/// Whether `python3` can import botocore, boto3 and moto; prints why a test is skipped when not.
pub fn python_ready(test: &str) -> bool {
    let status = Command::new("python3")
        .args(["-c", "import botocore, boto3, moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let ready = matches!(status, Ok(s) if s.success());
    if !ready {
        eprintln!(
            "SKIPPED {test}: python3 with botocore, boto3 and moto[server] is needed \
             (pip install -r .ci/requirements.txt)"
        );
    }
    ready
}

/// Runs a fixture script that prints `PORT <n>` once listening.
pub fn start_fixture(script: &str, args: &[&str]) -> Process {
    let mut child = Command::new("python3")
        .arg(fixture(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{script} printed {line:?} instead of its port"));
    Process { child, port }
}

/// A moto server (Secrets Manager, SSM, S3, STS) on a free port, ready to answer.
pub fn start_moto() -> Process {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start moto");
    let process = Process { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    process
}

/// Seeds moto (see fixtures/seed_moto.py) and returns the secrets' ARNs as JSON.
pub fn seed_moto(port: u16, seed: &serde_json::Value) -> serde_json::Value {
    let mut child = Command::new("python3")
        .arg(fixture("seed_moto.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run seed_moto.py");
    child.stdin.take().unwrap().write_all(seed.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "seeding moto failed");
    serde_json::from_slice(&output.stdout).expect("seed_moto.py prints JSON")
}
