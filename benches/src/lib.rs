//! Helpers of `scripts/bench`: reading `lambdatel-sim` JSON reports into the figures the README's performance
//! table shows, rendering that table, and writing generated scenarios. The criterion benches are in
//! `benches/`; the floor extension is `src/bin/bench-floor-extension.rs`.

use serde_json::Value;

/// One extension in one scenario, summarised from one or more simulator reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Extension label (`lambdatel end`, `peer`, ...).
    pub extension: String,
    /// Scenario label (`quiet`, `chatty`).
    pub scenario: String,
    /// Invocations measured.
    pub invocations: usize,
    /// Invocations that did not end in `success`.
    pub failed: usize,
    /// Process start to first `event/next`, one figure per cold start, in ms.
    pub startup_ms: Vec<f64>,
    /// runtimeDone to the extension's next `event/next`, per invocation, in ms.
    pub post_runtime_ms: Vec<f64>,
    /// Peak RSS in KiB as the simulator reports it (`wait4`'s `ru_maxrss`).
    pub peak_rss_kb: u64,
    /// Peak RSS in KiB sampled from `/proc/PID/status` (`VmHWM`) while the extension ran, when given: the
    /// simulator's figure also counts its own memory (see scripts/bench), so this one is preferred.
    pub sampled_rss_kb: Option<u64>,
    /// CPU time (user + system) of the extension over the measured run, in ms.
    pub cpu_ms: f64,
}

/// A report's figures for the extension whose `name` is `extension` (the file name the simulator started).
pub fn read_report(report: &Value, extension: &str) -> Result<Row, String> {
    let exts = report["extensions"].as_array().ok_or("the report has no `extensions` list")?;
    let ext = exts
        .iter()
        .find(|e| e["name"].as_str() == Some(extension))
        .ok_or_else(|| format!("the report has no extension named {extension:?}"))?;
    let invocations = report["invocations"].as_array().ok_or("the report has no `invocations` list")?;
    let numbers = |v: &Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()
    };
    Ok(Row {
        extension: extension.to_owned(),
        scenario: String::new(),
        invocations: invocations.len(),
        failed: invocations.iter().filter(|i| i["status"].as_str() != Some("success")).count(),
        startup_ms: ext["time_to_first_next_ms"].as_f64().into_iter().collect(),
        post_runtime_ms: numbers(&ext["post_runtime_ms"]),
        peak_rss_kb: ext["peak_rss_kb"].as_u64().unwrap_or(0),
        sampled_rss_kb: None,
        cpu_ms: ext["cpu_ms"].as_f64().unwrap_or(0.0),
    })
}

/// The `p`-quantile (0..=1) of `values` by nearest rank, as the simulator's summary computes it; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// Figures of a row, as the table and the JSON summary show them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Start-up p50, ms.
    pub startup_p50: Option<f64>,
    /// Post-runtime p50, p99, max, ms.
    pub post_p50: Option<f64>,
    /// See `post_p50`.
    pub post_p99: Option<f64>,
    /// See `post_p50`.
    pub post_max: Option<f64>,
    /// Peak RSS, MiB.
    pub rss_mib: f64,
    /// CPU per invocation, ms.
    pub cpu_per_invocation_ms: f64,
}

impl Row {
    /// The row's summary figures.
    pub fn figures(&self) -> Figures {
        Figures {
            startup_p50: percentile(&self.startup_ms, 0.5),
            post_p50: percentile(&self.post_runtime_ms, 0.5),
            post_p99: percentile(&self.post_runtime_ms, 0.99),
            post_max: self.post_runtime_ms.iter().copied().reduce(f64::max),
            rss_mib: self.sampled_rss_kb.unwrap_or(self.peak_rss_kb) as f64 / 1024.0,
            cpu_per_invocation_ms: if self.invocations == 0 { 0.0 } else { self.cpu_ms / self.invocations as f64 },
        }
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn signed(v: Option<f64>) -> String {
    v.map(|v| format!("{v:+.2}")).unwrap_or_else(|| "-".into())
}

/// The markdown table of `rows`. `floor` gives, per scenario, the floor extension's row: the time any
/// extension waits for Lambda's delivery of `platform.runtimeDone`, subtracted percentile by percentile to
/// show what the extension itself adds after it.
pub fn table(rows: &[Row], floor: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | extension | invocations | start-up p50 ms | post-runtime p50 / p99 / max ms | \
         beyond runtimeDone wait p50 / p99 ms | peak RSS MiB | CPU ms / invocation |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let f = row.figures();
        let base = floor.iter().find(|b| b.scenario == row.scenario).map(Row::figures);
        let beyond = |mine: Option<f64>, theirs: Option<f64>| match (mine, theirs) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        let failed = if row.failed > 0 { format!(" ({} failed)", row.failed) } else { String::new() };
        out.push_str(&format!(
            "| {} | {} | {}{} | {} | {} / {} / {} | {} / {} | {:.1} | {:.3} |\n",
            row.scenario,
            row.extension,
            row.invocations,
            failed,
            ms(f.startup_p50),
            ms(f.post_p50),
            ms(f.post_p99),
            ms(f.post_max),
            signed(beyond(f.post_p50, base.and_then(|b| b.post_p50))),
            signed(beyond(f.post_p99, base.and_then(|b| b.post_p99))),
            f.rss_mib,
            f.cpu_per_invocation_ms,
        ));
    }
    out
}

/// Ratios of `peer` to `ours` (how many times better we are: above 1 means we are cheaper), per figure, as a
/// markdown table row.
pub fn ratio_row(ours: &Row, peer: &Row) -> String {
    let (a, b) = (ours.figures(), peer.figures());
    let ratio = |ours: Option<f64>, peer: Option<f64>| match (ours, peer) {
        (Some(o), Some(p)) if o > 0.0 => format!("{:.1}x", p / o),
        _ => "-".into(),
    };
    format!(
        "| {} | {} vs {} | {} | {} | {} | {} | {} |\n",
        ours.scenario,
        ours.extension,
        peer.extension,
        ratio(a.startup_p50, b.startup_p50),
        ratio(a.post_p50, b.post_p50),
        ratio(a.post_p99, b.post_p99),
        ratio(Some(a.rss_mib), Some(b.rss_mib)),
        ratio(Some(a.cpu_per_invocation_ms), Some(b.cpu_per_invocation_ms)),
    )
}

/// Header of the rows of [`ratio_row`].
pub const RATIO_HEADER: &str = "| scenario | comparison | start-up p50 | post-runtime p50 | post-runtime p99 | \
                                peak RSS | CPU / invocation |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n";

/// A scenario of `invocations` invocations, each writing `lines` text log lines of `line_bytes` bytes (newline
/// included), as YAML for `lambdatel-sim run --scenario`.
pub fn log_scenario(invocations: u64, lines: usize, line_bytes: usize) -> String {
    let mut out = format!("invocations:\n  - repeat: {invocations}\n    durationMs: 0\n    logs:\n");
    for i in 0..lines {
        let head = format!("INFO processed item {i:05} of batch: ");
        // Single quotes keep YAML from reading anything in the line; the filler needs no escaping.
        let fill = line_bytes.saturating_sub(head.len() + 1);
        out.push_str(&format!("      - '{head}{}'\n", "x".repeat(fill)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        serde_json::json!({
            "invocations": [
                {"request_id": "a", "status": "success"},
                {"request_id": "b", "status": "success"},
                {"request_id": "c", "status": "timeout"},
                {"request_id": "d", "status": "success"}
            ],
            "extensions": [
                {"name": "other", "time_to_first_next_ms": 1.0, "post_runtime_ms": [], "peak_rss_kb": 1, "cpu_ms": 1.0},
                {"name": "lambdatel", "time_to_first_next_ms": 3.5, "post_runtime_ms": [4.0, 1.0, 3.0, 2.0],
                 "peak_rss_kb": 10240, "cpu_ms": 20.0}
            ]
        })
    }

    #[test]
    fn reads_the_named_extension() {
        let row = read_report(&report(), "lambdatel").unwrap();
        assert_eq!(
            row,
            Row {
                extension: "lambdatel".into(),
                scenario: String::new(),
                invocations: 4,
                failed: 1,
                startup_ms: vec![3.5],
                post_runtime_ms: vec![4.0, 1.0, 3.0, 2.0],
                peak_rss_kb: 10240,
                sampled_rss_kb: None,
                cpu_ms: 20.0,
            }
        );
        let f = row.figures();
        assert_eq!((f.post_p50, f.post_p99, f.post_max), (Some(3.0), Some(4.0), Some(4.0)));
        assert_eq!((f.rss_mib, f.cpu_per_invocation_ms), (10.0, 5.0));
        let sampled = Row { sampled_rss_kb: Some(2048), ..row };
        assert_eq!(sampled.figures().rss_mib, 2.0);
    }

    #[test]
    fn report_errors_are_named() {
        assert_eq!(read_report(&report(), "peer").unwrap_err(), "the report has no extension named \"peer\"");
        assert_eq!(read_report(&serde_json::json!({}), "x").unwrap_err(), "the report has no `extensions` list");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(51.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn table_subtracts_the_floor_of_the_same_scenario() {
        let row = Row {
            extension: "lambdatel".into(),
            scenario: "quiet".into(),
            invocations: 2,
            startup_ms: vec![2.0],
            post_runtime_ms: vec![26.0, 27.0],
            peak_rss_kb: 5120,
            cpu_ms: 1.0,
            ..Row::default()
        };
        let floor = Row { scenario: "quiet".into(), post_runtime_ms: vec![25.5, 25.75], ..Row::default() };
        let text = table(std::slice::from_ref(&row), &[floor]);
        assert_eq!(
            text.lines().nth(2).unwrap(),
            "| quiet | lambdatel | 2 | 2.00 | 27.00 / 27.00 / 27.00 | +1.25 / +1.25 | 5.0 | 0.500 |"
        );
        let text = table(&[row], &[]);
        assert!(text.lines().nth(2).unwrap().contains("| - / - |"), "{text}");
    }

    #[test]
    fn ratios_say_how_many_times_cheaper() {
        let ours = Row {
            extension: "lambdatel".into(),
            scenario: "quiet".into(),
            invocations: 1,
            startup_ms: vec![2.0],
            post_runtime_ms: vec![1.0],
            peak_rss_kb: 1024,
            cpu_ms: 1.0,
            ..Row::default()
        };
        let peer = Row {
            extension: "peer".into(),
            startup_ms: vec![10.0],
            post_runtime_ms: vec![3.0],
            peak_rss_kb: 4096,
            cpu_ms: 2.5,
            invocations: 1,
            ..Row::default()
        };
        assert_eq!(ratio_row(&ours, &peer), "| quiet | lambdatel vs peer | 5.0x | 3.0x | 3.0x | 4.0x | 2.5x |\n");
        let none = Row { extension: "x".into(), ..Row::default() };
        assert_eq!(ratio_row(&none, &peer), "|  | x vs peer | - | - | - | - | - |\n");
    }

    #[test]
    fn log_scenario_lines_have_the_asked_size() {
        let text = log_scenario(3, 2, 64);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[..4], &["invocations:", "  - repeat: 3", "    durationMs: 0", "    logs:"]);
        assert_eq!(lines.len(), 6);
        let line = lines[4].trim_start_matches("      - '").trim_end_matches('\'');
        assert_eq!(line.len() + 1, 64);
        assert!(line.starts_with("INFO processed item 00000 of batch: x"));
    }
}
