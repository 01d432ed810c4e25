//! The sandbox's HTTP APIs on `AWS_LAMBDA_RUNTIME_API`: Runtime API 2018-06-01, Extensions API
//! 2020-01-01, Telemetry API 2022-07-01 and Logs API 2020-08-15, plus the Invoke API.
//!
//! Handlers only record what the processes did (registrations, `next` calls, responses, errors)
//! and wake the controller in `sim.rs`, which owns the lifecycle and emits the platform events.

use crate::events::{EventRecord, Schema, Subscription};
use crate::http::{body_bytes, error, json, response, Resp};
use crate::telemetry::{parse_subscription, Hub, Subscriber};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use streaming::streamed_error;
use tokio::sync::{mpsc, oneshot, watch};

mod streaming;

/// The header with which a runtime streams its response (`streaming`) instead of buffering it.
pub const RESPONSE_MODE: &str = "Lambda-Runtime-Function-Response-Mode";

/// The only Telemetry API schema Lambda Managed Instances accept.
pub const MANAGED_INSTANCES_SCHEMA: &str = "2025-01-29";

/// Lifecycle phase of the sandbox, as the APIs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Extensions and runtime are initialising.
    Init,
    /// Between invocations (frozen or not).
    Idle,
    /// An invocation is running.
    Invoke,
    /// SHUTDOWN has been sent.
    Shutdown,
}

/// An error an extension reported through `init/error` or `exit/error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionError {
    /// `init` or `exit`.
    pub kind: String,
    /// The `Lambda-Extension-Function-Error-Type` header.
    pub error_type: String,
    /// `errorMessage` of the body, when given.
    pub message: Option<String>,
    /// The raw body, when it was not the documented JSON shape.
    pub body: Option<String>,
}

/// An invocation handed to the runtime.
#[derive(Debug, Clone)]
pub struct PendingInvoke {
    /// Request id.
    pub request_id: String,
    /// Event payload.
    pub payload: Bytes,
    /// Deadline as epoch milliseconds.
    pub deadline_ms: u64,
    /// Function ARN.
    pub arn: String,
    /// X-Ray header value.
    pub trace: String,
    /// Client context header, when given.
    pub client_context: Option<String>,
    /// The scripted behaviour, for the built-in function.
    pub script: Option<crate::sim::Script>,
}

/// What the runtime posted for the current invocation.
#[derive(Debug, Clone)]
pub enum RuntimeResult {
    /// `.../response` body.
    Response(Bytes),
    /// `.../error` with its error type and body.
    Error {
        /// `Lambda-Runtime-Function-Error-Type` (or the body's errorType).
        error_type: String,
        /// The body.
        body: Bytes,
    },
}

pub(crate) struct ExtSlot {
    pub id: String,
    pub name: String,
    pub invoke: bool,
    pub shutdown: bool,
    pub tx: mpsc::UnboundedSender<Value>,
    pub rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>>,
    /// Holds an event it has not finished with (it has not called `next` since).
    pub busy: bool,
    pub next_calls: u64,
    pub first_next: Option<Instant>,
    pub last_next: Option<Instant>,
    pub failed: bool,
    pub errors: Vec<ExtensionError>,
    pub subscription: Option<(bool, Arc<Subscriber>)>,
}

pub(crate) struct RtSlot {
    pub tx: mpsc::UnboundedSender<PendingInvoke>,
    pub rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<PendingInvoke>>>,
    pub next_calls: u64,
    pub last_next: Option<Instant>,
    /// Wall-clock time of `last_next`: the time of the `runtimeDone` it ends an invocation with.
    pub last_next_wall: Option<SystemTime>,
    /// Set from the runtime's `next` that ends an on-demand invocation until its `runtimeDone` is out: the
    /// function's output read in between was written before that `next`, and is stamped no later than it.
    pub output_cap: Option<SystemTime>,
    /// Invocations handed to the runtime and not yet answered (several at once on Managed Instances).
    pub in_flight: HashSet<String>,
    /// Answers posted, by request id, until the controller takes them.
    pub results: HashMap<String, (Instant, RuntimeResult)>,
    pub init_error: Option<(String, Bytes)>,
    pub exited: bool,
    /// Which sandbox generation's runtime this slot is for: the exit of an earlier one (reaped after the
    /// reset) is not this runtime's.
    pub generation: u64,
}

impl RtSlot {
    fn new() -> RtSlot {
        let (tx, rx) = mpsc::unbounded_channel();
        RtSlot {
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            next_calls: 0,
            last_next: None,
            last_next_wall: None,
            output_cap: None,
            in_flight: HashSet::new(),
            results: HashMap::new(),
            init_error: None,
            exited: false,
            generation: 0,
        }
    }
}

pub(crate) struct State {
    pub phase: Phase,
    /// File names of launched extensions that may still register.
    pub allowed_names: Vec<String>,
    pub exts: Vec<ExtSlot>,
    pub rt: RtSlot,
}

/// Function facts the APIs answer with.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    /// Function name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Handler string.
    pub handler: String,
    /// Account id (returned with the accountId feature).
    pub account_id: String,
}

/// A request of the Invoke API, passed to whoever drives the simulator.
pub struct InvokeRequest {
    /// Payload.
    pub payload: Bytes,
    /// Receives the function's response as soon as the runtime posts it.
    pub respond: oneshot::Sender<crate::sim::EarlyResponse>,
}

/// Shared state between the API handlers and the controller.
pub struct Env {
    pub(crate) st: Mutex<State>,
    changed: watch::Sender<u64>,
    /// The telemetry hub.
    pub hub: Arc<Hub>,
    pub(crate) info: FunctionInfo,
    /// Lambda Managed Instances rules: SHUTDOWN is the only extension event, Telemetry schema
    /// 2025-01-29 only, no Logs API.
    pub(crate) managed_instances: bool,
    pub(crate) invoke_tx: Mutex<Option<mpsc::Sender<InvokeRequest>>>,
}

impl Env {
    pub(crate) fn new(info: FunctionInfo, hub: Arc<Hub>, managed_instances: bool) -> Arc<Env> {
        Arc::new(Env {
            st: Mutex::new(State {
                phase: Phase::Idle,
                allowed_names: Vec::new(),
                exts: Vec::new(),
                rt: RtSlot::new(),
            }),
            changed: watch::channel(0).0,
            hub,
            info,
            managed_instances,
            invoke_tx: Mutex::new(None),
        })
    }

    /// Wakes the controller.
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Waits until `cond` holds on the state or `deadline` passes; returns whether it held.
    pub(crate) async fn wait_until(&self, deadline: tokio::time::Instant, cond: impl Fn(&State) -> bool) -> bool {
        let mut rx = self.changed.subscribe();
        loop {
            if cond(&self.st.lock().unwrap()) {
                return true;
            }
            tokio::select! {
                r = rx.changed() => { if r.is_err() { return false; } }
                _ = tokio::time::sleep_until(deadline) => return cond(&self.st.lock().unwrap()),
            }
        }
    }

    /// Starts a new sandbox generation: forget extensions and the runtime of the previous one.
    pub(crate) fn reset_for_init(&self, allowed: Vec<String>) {
        let mut st = self.st.lock().unwrap();
        st.phase = Phase::Init;
        st.allowed_names = allowed;
        st.exts.clear();
        let generation = st.rt.generation + 1;
        st.rt = RtSlot::new();
        st.rt.generation = generation;
    }

    /// The built-in runtime's `invocation/next`.
    pub(crate) async fn runtime_next(&self) -> Option<PendingInvoke> {
        let rx = {
            let mut st = self.st.lock().unwrap();
            st.rt.next_calls += 1;
            st.rt.last_next = Some(Instant::now());
            let now = SystemTime::now();
            st.rt.last_next_wall = Some(now);
            if st.phase == Phase::Invoke && !self.managed_instances {
                st.rt.output_cap = Some(now);
            }
            st.rt.rx.clone()
        };
        self.bump();
        let mut rx = rx.lock().await;
        rx.recv().await
    }

    /// The built-in runtime's `response` / `error`. False if `request_id` is not in flight or
    /// was already answered.
    pub(crate) fn runtime_result(&self, request_id: &str, result: RuntimeResult) -> bool {
        let mut st = self.st.lock().unwrap();
        if !st.rt.in_flight.remove(request_id) {
            return false;
        }
        st.rt.results.insert(request_id.to_string(), (Instant::now(), result));
        drop(st);
        self.bump();
        true
    }

    /// Marks the runtime as gone (crash or exit).
    pub(crate) fn runtime_exited(&self) {
        self.st.lock().unwrap().rt.exited = true;
        self.bump();
    }

    /// Marks the runtime of sandbox `generation` as gone, if it is the current one.
    pub(crate) fn runtime_of_generation_exited(&self, generation: u64) {
        let mut st = self.st.lock().unwrap();
        if st.rt.generation == generation {
            st.rt.exited = true;
            drop(st);
            self.bump();
        }
    }

    /// Routes one API request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (&method, parts.as_slice()) {
            (&Method::POST, ["2020-01-01", "extension", "register"]) => self.register(req).await,
            (&Method::GET, ["2020-01-01", "extension", "event", "next"]) => self.ext_next(req).await,
            (&Method::POST, ["2020-01-01", "extension", kind @ ("init" | "exit"), "error"]) => {
                let kind = kind.to_string();
                self.ext_error(req, &kind).await
            }
            (&Method::PUT, ["2022-07-01", "telemetry"]) => self.subscribe(req, false).await,
            (&Method::PUT, ["2020-08-15", "logs"]) if self.managed_instances => error(
                StatusCode::NOT_FOUND,
                "InvalidRequest",
                "the Logs API does not exist on Lambda Managed Instances; use the Telemetry API (schema 2025-01-29)",
            ),
            (&Method::PUT, ["2020-08-15", "logs"]) => self.subscribe(req, true).await,
            (&Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => self.rt_next().await,
            (&Method::POST, ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
                let (id, is_error) = (id.to_string(), *kind == "error");
                self.rt_post(req, &id, is_error).await
            }
            (&Method::POST, ["2018-06-01", "runtime", "init", "error"]) => self.rt_init_error(req).await,
            (&Method::POST, ["2015-03-31", "functions", _, "invocations"]) => self.invoke_api(req).await,
            _ => error(StatusCode::NOT_FOUND, "InvalidRequest", &format!("no route for {method} {path}")),
        }
    }

    fn ext_id(req: &Request<Incoming>) -> Option<String> {
        req.headers().get("Lambda-Extension-Identifier").and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    async fn register(&self, req: Request<Incoming>) -> Resp {
        let name = req.headers().get("Lambda-Extension-Name").and_then(|v| v.to_str().ok()).map(str::to_string);
        let account_feature = req
            .headers()
            .get("Lambda-Extension-Accept-Feature")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').any(|f| f.trim() == "accountId"))
            .unwrap_or(false);
        let body = body_bytes(req.into_body()).await;
        let Some(name) = name else {
            return error(StatusCode::BAD_REQUEST, "InvalidRequest", "Lambda-Extension-Name header is required");
        };
        let (mut invoke, mut shutdown) = (false, false);
        if !body.is_empty() {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return error(StatusCode::BAD_REQUEST, "InvalidRequest", "body is not valid JSON");
            };
            for e in v.get("events").and_then(Value::as_array).into_iter().flatten() {
                match e.as_str() {
                    // As Lambda (and AWS's emulator) does on Managed Instances: only SHUTDOWN exists.
                    Some(ev @ "INVOKE") if self.managed_instances => {
                        return error(
                            StatusCode::FORBIDDEN,
                            "Extension.InvalidEventType",
                            &format!("{ev}: ErrorInvalidEventType"),
                        );
                    }
                    Some("INVOKE") => invoke = true,
                    Some("SHUTDOWN") => shutdown = true,
                    _ => return error(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("unknown event {e}")),
                }
            }
        }
        let id = crate::ids::uuid();
        {
            let mut st = self.st.lock().unwrap();
            if st.phase != Phase::Init {
                return error(StatusCode::FORBIDDEN, "Extension.InvalidPhase", "extensions register during Init only");
            }
            let Some(pos) = st.allowed_names.iter().position(|n| *n == name) else {
                return error(
                    StatusCode::FORBIDDEN,
                    "Extension.InvalidExtensionName",
                    &format!("Lambda-Extension-Name {name:?} is not the file name of an extension being started"),
                );
            };
            if st.exts.len() >= 10 {
                return error(StatusCode::FORBIDDEN, "Extension.TooManyExtensions", "at most 10 extensions");
            }
            st.allowed_names.remove(pos);
            let (tx, rx) = mpsc::unbounded_channel();
            st.exts.push(ExtSlot {
                id: id.clone(),
                name,
                invoke,
                shutdown,
                tx,
                rx: Arc::new(tokio::sync::Mutex::new(rx)),
                busy: true,
                next_calls: 0,
                first_next: None,
                last_next: None,
                failed: false,
                errors: Vec::new(),
                subscription: None,
            });
        }
        self.bump();
        let mut body = json!({
            "functionName": self.info.name,
            "functionVersion": self.info.version,
            "handler": self.info.handler,
        });
        if account_feature {
            body["accountId"] = json!(self.info.account_id);
        }
        response(
            StatusCode::OK,
            &[("Lambda-Extension-Identifier", id), ("Content-Type", "application/json".into())],
            body.to_string(),
        )
    }

    async fn ext_next(&self, req: Request<Incoming>) -> Resp {
        let Some(id) = Self::ext_id(&req) else {
            return error(StatusCode::FORBIDDEN, "Extension.MissingExtensionIdentifier", "missing identifier");
        };
        let rx = {
            let mut st = self.st.lock().unwrap();
            let Some(ext) = st.exts.iter_mut().find(|e| e.id == id) else {
                return error(StatusCode::FORBIDDEN, "Extension.UnknownExtensionIdentifier", "unknown identifier");
            };
            if ext.failed {
                return error(StatusCode::FORBIDDEN, "Extension.AlreadyFailed", "the extension reported an error");
            }
            let now = Instant::now();
            ext.busy = false;
            ext.next_calls += 1;
            ext.first_next.get_or_insert(now);
            ext.last_next = Some(now);
            ext.rx.clone()
        };
        self.bump();
        let ev = rx.lock().await.recv().await;
        match ev {
            Some(ev) => response(
                StatusCode::OK,
                &[
                    ("Content-Type", "application/json".into()),
                    ("Lambda-Extension-Event-Identifier", crate::ids::uuid()),
                ],
                ev.to_string(),
            ),
            None => error(StatusCode::INTERNAL_SERVER_ERROR, "Extension.Terminated", "the sandbox is gone"),
        }
    }

    async fn ext_error(&self, req: Request<Incoming>, kind: &str) -> Resp {
        let id = Self::ext_id(&req);
        let ty =
            req.headers().get("Lambda-Extension-Function-Error-Type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = body_bytes(req.into_body()).await;
        let Some(id) = id else {
            return error(StatusCode::FORBIDDEN, "Extension.MissingExtensionIdentifier", "missing identifier");
        };
        let Some(ty) = ty else {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Lambda-Extension-Function-Error-Type header is required",
            );
        };
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let message = parsed.as_ref().and_then(|v| v.get("errorMessage")).and_then(Value::as_str).map(str::to_string);
        let raw = (!body.is_empty() && message.is_none()).then(|| String::from_utf8_lossy(&body).into_owned());
        {
            let mut st = self.st.lock().unwrap();
            let Some(ext) = st.exts.iter_mut().find(|e| e.id == id) else {
                return error(StatusCode::FORBIDDEN, "Extension.UnknownExtensionIdentifier", "unknown identifier");
            };
            if ext.failed {
                return error(
                    StatusCode::FORBIDDEN,
                    "Extension.AlreadyFailed",
                    "the extension already reported an error",
                );
            }
            ext.failed = true;
            ext.errors.push(ExtensionError { kind: kind.to_string(), error_type: ty, message, body: raw });
        }
        self.bump();
        json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
    }

    async fn subscribe(&self, req: Request<Incoming>, logs_api: bool) -> Resp {
        let id = Self::ext_id(&req);
        let body = body_bytes(req.into_body()).await;
        let vtype = if logs_api { "Logs.ValidationError" } else { "ValidationError" };
        let Some(id) = id else {
            return error(StatusCode::FORBIDDEN, "Extension.MissingExtensionIdentifier", "missing identifier");
        };
        let request = match parse_subscription(&body, logs_api) {
            Ok(r) => r,
            Err(msg) => return error(StatusCode::BAD_REQUEST, vtype, &msg),
        };
        if self.managed_instances {
            if let Schema::Telemetry(v) = &request.schema {
                if v != MANAGED_INSTANCES_SCHEMA {
                    let msg = format!(
                        "schemaVersion {v} is not supported on Lambda Managed Instances; use {MANAGED_INSTANCES_SCHEMA}"
                    );
                    return error(StatusCode::BAD_REQUEST, vtype, &msg);
                }
            }
        }
        let name = {
            let st = self.st.lock().unwrap();
            let Some(ext) = st.exts.iter().find(|e| e.id == id) else {
                return error(StatusCode::FORBIDDEN, "Extension.UnknownExtensionIdentifier", "unknown identifier");
            };
            if let Some((was_logs, _)) = &ext.subscription {
                if *was_logs != logs_api {
                    let (have, want) = if logs_api { ("Telemetry", "Logs") } else { ("Logs", "Telemetry") };
                    return error(
                        StatusCode::BAD_REQUEST,
                        vtype,
                        &format!("already subscribed to the {have} API; the {want} API cannot also be used"),
                    );
                }
            }
            if logs_api && st.phase != Phase::Init {
                return error(StatusCode::BAD_REQUEST, vtype, "Logs API subscriptions are only possible during Init");
            }
            ext.name.clone()
        };
        let types = request.types.clone();
        let sub = self.hub.subscribe(&name, request);
        if let Some(ext) = self.st.lock().unwrap().exts.iter_mut().find(|e| e.id == id) {
            ext.subscription = Some((logs_api, sub));
        }
        self.hub.emit(EventRecord::TelemetrySubscription(Subscription { name, state: "Subscribed".into(), types }));
        response(StatusCode::OK, &[("Content-Type", "application/json".into())], "\"OK\"")
    }

    async fn rt_next(&self) -> Resp {
        let Some(inv) = self.runtime_next().await else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Runtime.Terminated", "the sandbox is gone");
        };
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id.clone()),
            ("Lambda-Runtime-Deadline-Ms", inv.deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn", inv.arn.clone()),
            ("Lambda-Runtime-Trace-Id", inv.trace.clone()),
        ];
        if let Some(c) = &inv.client_context {
            headers.push(("Lambda-Runtime-Client-Context", c.clone()));
        }
        response(StatusCode::OK, &headers, inv.payload)
    }

    async fn rt_post(&self, req: Request<Incoming>, id: &str, is_error: bool) -> Resp {
        let ty =
            req.headers().get("Lambda-Runtime-Function-Error-Type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let streaming =
            req.headers().get(RESPONSE_MODE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
        let Ok(collected) = req.into_body().collect().await else {
            // The runtime's connection broke midway: nothing was posted.
            return error(StatusCode::BAD_REQUEST, "InvalidRequest", "the body was cut short");
        };
        let trailers = collected.trailers().cloned();
        let body = collected.to_bytes();
        if streaming && !is_error {
            if let Some(result) = trailers.as_ref().and_then(streamed_error) {
                // An error in the middle of a streamed response comes in trailers.
                return self.answer_result(id, result);
            }
        }
        let result = if is_error {
            let body_type = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("errorType").and_then(Value::as_str).map(str::to_string));
            RuntimeResult::Error { error_type: ty.or(body_type).unwrap_or_else(|| "Unhandled".into()), body }
        } else {
            RuntimeResult::Response(body)
        };
        self.answer_result(id, result)
    }

    fn answer_result(&self, id: &str, result: RuntimeResult) -> Resp {
        if self.runtime_result(id, result) {
            json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
        } else {
            error(StatusCode::BAD_REQUEST, "InvalidRequestID", &format!("{id} is not an invocation in flight"))
        }
    }

    async fn rt_init_error(&self, req: Request<Incoming>) -> Resp {
        let ty = req
            .headers()
            .get("Lambda-Runtime-Function-Error-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Runtime.Unknown")
            .to_string();
        let body = body_bytes(req.into_body()).await;
        {
            let mut st = self.st.lock().unwrap();
            if st.phase != Phase::Init {
                return error(StatusCode::FORBIDDEN, "InvalidStateTransition", "init/error outside Init");
            }
            st.rt.init_error = Some((ty, body));
        }
        self.bump();
        json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
    }

    async fn invoke_api(&self, req: Request<Incoming>) -> Resp {
        let payload = body_bytes(req.into_body()).await;
        let tx = self.invoke_tx.lock().unwrap().clone();
        let Some(tx) = tx else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the simulator is not serving invokes",
            );
        };
        let (respond, rx) = oneshot::channel();
        if tx.send(InvokeRequest { payload, respond }).await.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "the simulator stopped");
        }
        match rx.await {
            Ok(r) => {
                let mut headers = vec![("Content-Type", "application/json".to_string())];
                if let Some(t) = r.function_error {
                    headers.push(("X-Amz-Function-Error", t));
                }
                response(StatusCode::OK, &headers, r.body)
            }
            Err(_) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "the invocation produced no response")
            }
        }
    }
}
