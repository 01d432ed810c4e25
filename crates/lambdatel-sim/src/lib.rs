//! `lambdatel-sim`: a local AWS Lambda execution environment for testing extensions.
//!
//! It serves the Runtime, Extensions, Telemetry and Logs APIs on a loopback port, starts
//! extensions and an external or built-in runtime as Lambda does, runs the Init, Invoke and
//! Shutdown phases with their limits (freezing processes between invocations), delivers the
//! platform events in their documented shapes and order, and measures what each extension
//! costs. [`OtlpSink`] is an embedded OTLP receiver for the extension under test to export to.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lambdatel_sim::*;
//! let mut sim = Simulator::start(SimConfig {
//!     extensions: vec!["target/release/my-extension".into()],
//!     ..SimConfig::default()
//! })
//! .await?;
//! let outcome = sim.invoke(Invocation::default()).await?;
//! assert_eq!(outcome.status, "success");
//! let report = sim.shutdown(ShutdownReason::Spindown).await?;
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod events;
pub mod fleet;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod otlp;
pub mod ports;
pub mod process;
pub mod render;
pub mod scenario;
pub mod sim;
pub mod summary;
pub mod telemetry;

pub use api::ExtensionError;
pub use events::TelemetryEvent;
pub use otlp::{OtlpSink, Received, SinkBehaviour, SinkOptions};
pub use sim::{
    extensions_in_dir, EarlyResponse, ExtensionReport, FunctionSpec, InitRecord, Invocation, InvocationRecord, LogLine,
    ManagedInstances, Outcome, ProcessFunction, Report, Script, ScriptResult, ScriptedFunction, ShutdownReason,
    SimConfig, SimError, Simulator, SubscriptionReport,
};
