//! The floor of the end-to-end benchmark: a Lambda extension that does nothing but what every
//! end-of-invocation extension must do. It subscribes to the Telemetry API exactly as lambdatel does by
//! default (platform, function and extension events; 25 ms, 256 KiB, 1,000 items), and after each INVOKE
//! asks for the next event as soon as that invocation's `platform.runtimeDone` has been delivered.
//!
//! Its post-runtime time is therefore Lambda's own delivery wait (plus a socket round trip): what scripts/bench
//! subtracts to show the time an extension adds beyond it. Standard library only, so its own cost is nil.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Request ids whose runtimeDone was delivered.
type Done = Arc<(Mutex<HashSet<String>>, Condvar)>;

/// One HTTP response: status, headers (lower-case names), body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(api)?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Response { status, headers, body })
}

/// Reads a request or status line and the headers; the first line's second word is parsed as a status (0
/// for a request line).
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok((status, headers))
}

/// Serves Telemetry API deliveries on one connection (keep-alive), noting each runtimeDone.
fn serve(stream: TcpStream, done: &Done) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let (_, headers) = read_head(&mut reader)?;
        let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok());
        let mut body = vec![0; length.unwrap_or(0)];
        reader.read_exact(&mut body)?;
        // Only batches holding a runtimeDone are parsed: log batches are passed over as cheaply as possible.
        if memfind(&body, b"platform.runtimeDone") {
            if let Ok(serde_json::Value::Array(events)) = serde_json::from_slice(&body) {
                let ids = events
                    .iter()
                    .filter(|e| e["type"] == "platform.runtimeDone")
                    .filter_map(|e| e["record"]["requestId"].as_str().map(str::to_owned));
                let (set, cv) = &**done;
                set.lock().unwrap().extend(ids);
                cv.notify_all();
            }
        }
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
        if headers.iter().any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")) {
            return Ok(());
        }
    }
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-floor-extension: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set")?;
    let name = std::env::args()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bench-floor-extension".into());
    let io = |e: std::io::Error| e.to_string();
    let reg = request(
        &api,
        "POST",
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", &name)],
        br#"{"events":["INVOKE","SHUTDOWN"]}"#,
    )
    .map_err(io)?;
    if reg.status != 200 {
        return Err(format!("register: HTTP {}", reg.status));
    }
    let id = reg
        .headers
        .iter()
        .find(|(k, _)| k == "lambda-extension-identifier")
        .map(|(_, v)| v.clone())
        .ok_or("register: no Lambda-Extension-Identifier")?;

    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let done: Done = Arc::new((Mutex::new(HashSet::new()), Condvar::new()));
    let d = done.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let d = d.clone();
            std::thread::spawn(move || serve(stream, &d));
        }
    });
    let subscription = serde_json::json!({
        "schemaVersion": "2022-12-13",
        "types": ["platform", "function", "extension"],
        "buffering": {"timeoutMs": 25, "maxBytes": 262_144, "maxItems": 1_000},
        "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/")},
    });
    let sub = request(
        &api,
        "PUT",
        "/2022-07-01/telemetry",
        &[("Lambda-Extension-Identifier", &id), ("Content-Type", "application/json")],
        subscription.to_string().as_bytes(),
    )
    .map_err(io)?;
    if sub.status != 200 {
        return Err(format!("subscribe: HTTP {}: {}", sub.status, String::from_utf8_lossy(&sub.body)));
    }

    loop {
        let next =
            request(&api, "GET", "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", &id)], b"")
                .map_err(io)?;
        let event: serde_json::Value = serde_json::from_slice(&next.body).map_err(|e| format!("next: {e}"))?;
        match event["eventType"].as_str() {
            Some("INVOKE") => {
                let request_id = event["requestId"].as_str().unwrap_or_default().to_owned();
                // Never past the invocation's deadline: Lambda would time the invocation out.
                let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
                let left = event["deadlineMs"].as_u64().unwrap_or(now_ms + 3_000).saturating_sub(now_ms);
                let until = Instant::now() + Duration::from_millis(left);
                let (set, cv) = &*done;
                let mut seen = set.lock().unwrap();
                while !seen.remove(&request_id) {
                    let wait = until.saturating_duration_since(Instant::now());
                    if wait.is_zero() {
                        break;
                    }
                    seen = cv.wait_timeout(seen, wait).unwrap().0;
                }
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_headers() {
        let text = b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: abc\r\nContent-Length: 2\r\n\r\n{}";
        let mut reader = BufReader::new(&text[..]);
        let (status, headers) = read_head(&mut reader).unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            headers,
            vec![("lambda-extension-identifier".into(), "abc".into()), ("content-length".into(), "2".into())]
        );
        assert!(read_head(&mut BufReader::new(&b""[..])).is_err());
    }

    #[test]
    fn serves_deliveries_and_notes_runtime_done() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let done: Done = Arc::new((Mutex::new(HashSet::new()), Condvar::new()));
        let d = done.clone();
        let server = std::thread::spawn(move || serve(listener.accept().unwrap().0, &d));
        let mut client = TcpStream::connect(addr).unwrap();
        let logs = br#"[{"type":"function","record":"hello"}]"#;
        let runtime_done = br#"[{"type":"platform.runtimeDone","record":{"requestId":"r1","status":"success"}}]"#;
        for (body, last) in [(&logs[..], false), (&runtime_done[..], true)] {
            let close = if last { "Connection: close\r\n" } else { "" };
            write!(client, "POST / HTTP/1.1\r\nContent-Length: {}\r\n{close}\r\n", body.len()).unwrap();
            client.write_all(body).unwrap();
        }
        server.join().unwrap().unwrap();
        let mut answers = String::new();
        client.read_to_string(&mut answers).unwrap();
        assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 2);
        assert_eq!(*done.0.lock().unwrap(), HashSet::from(["r1".to_owned()]));
    }
}
