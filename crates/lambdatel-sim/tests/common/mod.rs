//! Helpers shared by the integration tests: fixture extensions under chosen file names and a
//! telemetry listener that records every batch it receives.
#![allow(dead_code)]

use lambdatel_sim::http::{body_bytes, response};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Copies the Python fixture extension into a fresh folder under `name` (the name it registers with).
pub fn extension(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambdatel-sim-test-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ext.py"), &path).unwrap();
    path
}

/// A telemetry destination on loopback.
pub struct Listener {
    pub port: u16,
    pub batches: Arc<Mutex<Vec<Vec<Value>>>>,
    pub status: Arc<Mutex<u16>>,
    /// Requests received, rejected ones included.
    pub hits: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    pub async fn start() -> Listener {
        Self::on(0).await
    }

    pub async fn on(port: u16) -> Listener {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let batches = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(200u16));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (b, s, h) = (batches.clone(), status.clone(), hits.clone());
        let task = lambdatel_sim::http::serve(l, move |req| {
            let (b, s, h) = (b.clone(), s.clone(), h.clone());
            async move {
                let body = body_bytes(req.into_body()).await;
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let code = *s.lock().unwrap();
                if code == 200 {
                    let v: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
                    b.lock().unwrap().push(v);
                }
                response(hyper::StatusCode::from_u16(code).unwrap(), &[], "")
            }
        });
        Listener { port, batches, status, hits, task }
    }

    pub fn events(&self) -> Vec<Value> {
        self.batches.lock().unwrap().iter().flatten().cloned().collect()
    }

    pub fn types(&self) -> Vec<String> {
        self.events().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
    }

    pub async fn wait_for(&self, ty: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.types().iter().any(|t| t == ty) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
