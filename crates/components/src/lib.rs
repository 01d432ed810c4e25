//! Built-in receivers, processors and exporters, and the registry that wires them by type name.

pub mod receivers;
