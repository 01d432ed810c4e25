//! The Telemetry API receiver (being built).
