//! The marker on the extension's own debug output. The `debug` exporter starts each line with it, and the
//! Telemetry API receiver drops `extension` log records that carry it: in Lambda an extension's stdout
//! comes back through the Telemetry API, and without the marker the exporter would feed on its own output.

/// Marks every line the debug exporter writes.
pub const DEBUG_LINE_PREFIX: &str = "lambdatel.debug ";

/// Starts every EMF line the `awsemf` exporter writes: a JSON member ahead of the EMF ones (CloudWatch keeps
/// it as a log field), so the lines stay EMF and the Telemetry API receiver can still tell them apart.
pub const EMF_LINE_PREFIX: &str = "{\"lambdatel\":\"emf\",";
/// The member [`EMF_LINE_PREFIX`] writes, as a key and value of a parsed record.
pub const EMF_MARKER_KEY: &str = "lambdatel";
/// See [`EMF_MARKER_KEY`].
pub const EMF_MARKER_VALUE: &str = "emf";

/// Whether an extension log line is the extension's own output (debug or EMF), never to be fed back.
pub fn is_own_line(text: &str) -> bool {
    text.starts_with(DEBUG_LINE_PREFIX) || text.starts_with(EMF_LINE_PREFIX)
}
