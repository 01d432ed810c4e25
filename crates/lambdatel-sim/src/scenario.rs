//! Scenario files (JSON or YAML): a list of scripted invocations, each optionally repeated,
//! with the idle time to leave before the next one.
//!
//! ```yaml
//! invocations:
//!   - repeat: 3
//!     payload: {"orderId": 42}
//!     durationMs: 50
//!     logs: ["plain line", {json: {level: INFO, message: structured}}, {stderr: "warning"}]
//!     result: ok                # ok | {ok: <body>} | {error: {type, message}} | timeout | crash
//!     memoryUsedMb: 64
//!     traceHeader: "Root=1-...;Parent=...;Sampled=1"
//!     idleMs: 100               # frozen time before the next invocation
//! ```

use crate::sim::{Invocation, LogLine, Script, ScriptResult};
use serde_json::Value;
use std::time::Duration;

/// One step of a scenario: an invocation and the idle time after it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The invocation.
    pub invocation: Invocation,
    /// Idle (frozen) time before the next step.
    pub idle: Duration,
}

/// Parses a scenario from JSON or YAML text (chosen by content: JSON if it parses as JSON).
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(_) => yaml_to_json(text)?,
    };
    from_value(&value)
}

fn yaml_to_json(text: &str) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    fn conv(y: &Yaml) -> Result<Value, String> {
        Ok(match y {
            Yaml::Real(r) => r.parse::<f64>().map(Value::from).map_err(|e| format!("bad number {r}: {e}"))?,
            Yaml::Integer(i) => Value::from(*i),
            Yaml::String(s) => Value::from(s.clone()),
            Yaml::Boolean(b) => Value::from(*b),
            Yaml::Array(a) => Value::Array(a.iter().map(conv).collect::<Result<_, _>>()?),
            Yaml::Hash(h) => {
                let mut m = serde_json::Map::new();
                for (k, v) in h {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => return Err(format!("unsupported YAML key {other:?}")),
                    };
                    m.insert(key, conv(v)?);
                }
                Value::Object(m)
            }
            Yaml::Null => Value::Null,
            Yaml::Alias(_) | Yaml::BadValue => return Err("unsupported YAML value (alias or bad value)".into()),
        })
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| format!("not JSON or YAML: {e}"))?;
    docs.first().map(conv).unwrap_or(Ok(Value::Null))
}

fn from_value(v: &Value) -> Result<Vec<Step>, String> {
    let list = v.get("invocations").and_then(Value::as_array).ok_or("a scenario needs an `invocations` list")?;
    let mut steps = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = |msg: String| format!("invocations[{i}]: {msg}");
        let obj = item.as_object().ok_or_else(|| at("must be a mapping".into()))?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "repeat" | "payload" | "durationMs" | "logs" | "result" | "memoryUsedMb" | "traceHeader" | "idleMs"
            ) {
                return Err(at(format!("unknown key `{key}`")));
            }
        }
        let num = |key: &str| -> Result<Option<u64>, String> {
            match obj.get(key) {
                None => Ok(None),
                Some(n) => n.as_u64().map(Some).ok_or_else(|| at(format!("`{key}` must be a non-negative integer"))),
            }
        };
        let repeat = num("repeat")?.unwrap_or(1);
        let payload = match obj.get("payload") {
            None => "{}".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let logs = match obj.get("logs") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.iter().map(|l| log_line(l).map_err(&at)).collect::<Result<_, _>>()?,
            Some(_) => return Err(at("`logs` must be a list".into())),
        };
        let result = result(obj.get("result")).map_err(&at)?;
        let trace_header = match obj.get("traceHeader") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(at("`traceHeader` must be a string".into())),
        };
        let script = Script {
            duration: Duration::from_millis(num("durationMs")?.unwrap_or(0)),
            logs,
            result,
            memory_used_mb: num("memoryUsedMb")?,
        };
        let idle = Duration::from_millis(num("idleMs")?.unwrap_or(0));
        for _ in 0..repeat {
            steps.push(Step {
                invocation: Invocation {
                    payload: payload.clone().into(),
                    script: script.clone(),
                    trace_header: trace_header.clone(),
                    client_context: None,
                },
                idle,
            });
        }
    }
    Ok(steps)
}

fn log_line(v: &Value) -> Result<LogLine, String> {
    match v {
        Value::String(s) => Ok(LogLine::Text(s.clone())),
        Value::Object(o) if o.len() == 1 => match (o.get("stderr"), o.get("json")) {
            (Some(Value::String(s)), _) => Ok(LogLine::Stderr(s.clone())),
            (_, Some(j)) => Ok(LogLine::Json {
                level: j.get("level").and_then(Value::as_str).unwrap_or("INFO").to_string(),
                message: j.get("message").and_then(Value::as_str).ok_or("a json log line needs a `message`")?.into(),
            }),
            _ => Err(format!("unknown log line {v}")),
        },
        _ => Err(format!("unknown log line {v}")),
    }
}

fn result(v: Option<&Value>) -> Result<ScriptResult, String> {
    Ok(match v {
        None => ScriptResult::Ok("{}".into()),
        Some(Value::String(s)) => match s.as_str() {
            "ok" => ScriptResult::Ok("{}".into()),
            "timeout" => ScriptResult::Timeout,
            "crash" => ScriptResult::Crash,
            other => return Err(format!("unknown result `{other}` (ok, timeout, crash, {{ok: ..}}, {{error: ..}})")),
        },
        Some(Value::Object(o)) if o.len() == 1 => {
            if let Some(body) = o.get("ok") {
                ScriptResult::Ok(match body {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            } else if let Some(e) = o.get("error") {
                ScriptResult::Error {
                    error_type: e.get("type").and_then(Value::as_str).unwrap_or("Error").into(),
                    message: e.get("message").and_then(Value::as_str).unwrap_or("").into(),
                }
            } else {
                return Err(format!("unknown result {}", Value::Object(o.clone())));
            }
        }
        Some(other) => return Err(format!("unknown result {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_give_the_same_steps() {
        let yaml = r#"
invocations:
  - repeat: 2
    payload: {"orderId": 42}
    durationMs: 50
    logs: ["plain", {json: {level: WARN, message: structured}}, {stderr: "oops"}]
    result: {error: {type: ValueError, message: bad}}
    memoryUsedMb: 64
    idleMs: 100
  - result: crash
"#;
        let steps = parse(yaml).unwrap();
        assert_eq!(steps.len(), 3);
        let s = &steps[0];
        assert_eq!(&s.invocation.payload[..], br#"{"orderId":42}"#);
        assert_eq!(s.invocation.script.duration, Duration::from_millis(50));
        assert_eq!(
            s.invocation.script.logs,
            vec![
                LogLine::Text("plain".into()),
                LogLine::Json { level: "WARN".into(), message: "structured".into() },
                LogLine::Stderr("oops".into())
            ]
        );
        assert_eq!(
            s.invocation.script.result,
            ScriptResult::Error { error_type: "ValueError".into(), message: "bad".into() }
        );
        assert_eq!(s.invocation.script.memory_used_mb, Some(64));
        assert_eq!(s.idle, Duration::from_millis(100));
        assert_eq!(steps[2].invocation.script.result, ScriptResult::Crash);
        let json = r#"{"invocations":[{"result":{"ok":{"a":1}}},{"result":"timeout","traceHeader":"Root=1-a"}]}"#;
        let steps = parse(json).unwrap();
        assert_eq!(steps[0].invocation.script.result, ScriptResult::Ok(r#"{"a":1}"#.into()));
        assert_eq!(steps[1].invocation.script.result, ScriptResult::Timeout);
        assert_eq!(steps[1].invocation.trace_header.as_deref(), Some("Root=1-a"));
    }

    #[test]
    fn errors_name_the_step_and_key() {
        assert_eq!(parse("{}").unwrap_err(), "a scenario needs an `invocations` list");
        assert_eq!(
            parse(r#"{"invocations":[{},{"durationMS":1}]}"#).unwrap_err(),
            "invocations[1]: unknown key `durationMS`"
        );
        assert!(parse(r#"{"invocations":[{"result":"boom"}]}"#)
            .unwrap_err()
            .starts_with("invocations[0]: unknown result `boom`"));
        assert_eq!(
            parse(r#"{"invocations":[{"repeat":-1}]}"#).unwrap_err(),
            "invocations[0]: `repeat` must be a non-negative integer"
        );
        assert!(parse("invocations: [unclosed").unwrap_err().starts_with("not JSON or YAML"));
    }
}
