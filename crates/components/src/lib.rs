//! Built-in receivers, processors and exporters, and the registry that wires them by type name.

pub mod exporters;
pub mod processors;
pub mod receivers;
pub mod registry;
pub mod runtime_proxy;

pub use registry::{ProcessorFactory, ReceiverConfig, Registry};
