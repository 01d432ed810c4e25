//! The marker on the extension's own debug output. The `debug` exporter starts each line with it, and the
//! Telemetry API receiver drops `extension` log records that carry it: in Lambda an extension's stdout
//! comes back through the Telemetry API, and without the marker the exporter would feed on its own output.

/// Marks every line the debug exporter writes.
pub const DEBUG_LINE_PREFIX: &str = "lambdatel.debug ";
