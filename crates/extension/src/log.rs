//! The extension's own log lines, on stderr with a fixed prefix. In Lambda they reach CloudWatch and come
//! back through the Telemetry API as `extension` records, so they are few: start-up, problems, shutdown.

pub const PREFIX: &str = "[lambdatel]";

pub fn info(message: &str) {
    eprintln!("{PREFIX} {message}");
}

pub fn warn(message: &str) {
    eprintln!("{PREFIX} WARN {message}");
}

pub fn error(message: &str) {
    eprintln!("{PREFIX} ERROR {message}");
}
