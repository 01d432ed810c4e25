//! Built-in receivers, processors and exporters, and the registry that wires them by type name.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod debug_line;
pub mod exporters;
pub mod extensions;
pub mod graph;
pub mod processors;
pub mod receivers;
pub mod registry;
pub mod runtime_proxy;

pub use graph::Graph;
pub use registry::{ExporterFactory, Kind, ProcessorFactory, ReceiverConfig, ReceiverFactory, Registry};
