//! Log records lambdatel writes for platform events: CloudWatch-style `START`, `END` and `REPORT` lines (when
//! configured), `platform.fault` text, and a warning for `platform.logsDropped`.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;

use super::{
    convert::Converter,
    events::{InvokeDone, LogsDropped},
    log_records::{new_record, LogType},
    logs::is_request_id,
    resource::string,
};

impl Converter {
    pub(super) fn push_start_line(&mut self, time: u64, request_id: &str, version: Option<&str>) {
        let line = match version {
            Some(version) => format!("START RequestId: {request_id} Version: {version}"),
            None => format!("START RequestId: {request_id}"),
        };
        self.push_platform_line(time, line, request_id.to_owned());
    }

    /// The `END` line of invocation `idx`, once.
    pub(super) fn push_end_line(&mut self, idx: usize, time: u64) {
        let inv = &mut self.invocations[idx];
        if !std::mem::replace(&mut inv.end_logged, true) {
            let request_id = inv.request_id.clone();
            self.push_platform_line(time, format!("END RequestId: {request_id}"), request_id);
        }
    }

    /// The `END` line (unless `platform.end` gave it) and the `REPORT` line with the metrics the report has.
    pub(super) fn push_end_and_report_lines(&mut self, idx: usize, time: u64, report: &InvokeDone) {
        self.push_end_line(idx, time);
        let mut line = format!("REPORT RequestId: {}", report.request_id);
        let fields = [
            ("Duration", report.duration_ms, "ms", 2),
            ("Billed Duration", report.billed_duration_ms, "ms", 0),
            ("Memory Size", report.memory_size_mb, "MB", 0),
            ("Max Memory Used", report.max_memory_used_mb, "MB", 0),
            ("Init Duration", report.init_duration_ms, "ms", 2),
            ("Restore Duration", report.restore_duration_ms, "ms", 2),
        ];
        for (name, value, unit, precision) in fields {
            if let Some(value) = value {
                let _ = write!(line, "\t{name}: {value:.precision$} {unit}");
            }
        }
        self.push_platform_line(time, line, report.request_id.clone());
    }

    /// `platform.fault` (Logs API): an ERROR record, attributed by the request id its text names.
    pub(super) fn on_fault(&mut self, time: u64, text: String) {
        let request_id = text
            .find("RequestId: ")
            .and_then(|at| text.get(at + 11..at + 47))
            .filter(|id| is_request_id(id))
            .map(str::to_owned);
        let record = new_record(time, time, string(text), SeverityNumber::Error, "ERROR");
        self.push_log(record, request_id, LogType::Platform);
    }

    /// `platform.logsDropped`: a WARN record saying how much Lambda dropped and why.
    pub(super) fn on_logs_dropped(&mut self, time: u64, dropped: &LogsDropped) {
        let body = format!(
            "Lambda dropped {} log records ({} bytes): {}",
            dropped.dropped_records.unwrap_or(0),
            dropped.dropped_bytes.unwrap_or(0),
            dropped.reason.as_deref().unwrap_or("no reason given")
        );
        let record = new_record(time, time, string(body), SeverityNumber::Warn, "WARN");
        self.push_log(record, None, LogType::Platform);
    }

    fn push_platform_line(&mut self, time: u64, line: String, request_id: String) {
        let record = new_record(time, time, string(line), SeverityNumber::Info, "INFO");
        self.push_log(record, Some(request_id), LogType::Platform);
    }
}
