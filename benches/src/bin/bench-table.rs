//! scripts/bench's report tool.
//!
//! `bench-table scenario --invocations N --lines L --bytes B` prints a scenario of N invocations that each
//! write L log lines of B bytes.
//!
//! `bench-table free-port` prints a loopback TCP port that is free now.
//!
//! `bench-table table [--json FILE] [--row 'SCENARIO|LABEL|EXTENSION|REPORT']... [--startup 'LABEL|EXTENSION|REPORT']...
//! [--floor 'SCENARIO|EXTENSION|REPORT']... [--rss 'SCENARIO|LABEL|KIB']... [--ratio 'OURS|PEER']...
//! [--size 'LABEL|BINARY']...` reads
//! lambdatel-sim JSON reports and prints the markdown tables (and writes their figures as JSON). EXTENSION is
//! the extension's file name in the report; `--startup` reports add cold starts to every row of LABEL; `--rss`
//! gives a row's peak RSS as sampled from /proc (an empty KIB is ignored).

use lambdatel_benches::{log_scenario, ratio_row, read_report, table, Row, RATIO_HEADER};
use serde_json::{json, Value};

const USAGE: &str = "usage: bench-table scenario --invocations N --lines L --bytes B
       bench-table free-port
       bench-table table [--json FILE] [--row 'SCENARIO|LABEL|EXTENSION|REPORT']... \
[--startup 'LABEL|EXTENSION|REPORT']... [--floor 'SCENARIO|EXTENSION|REPORT']... [--rss 'SCENARIO|LABEL|KIB']... \
[--ratio 'OURS|PEER']... \
[--size 'LABEL|BINARY']...";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("scenario") => scenario(&args[1..]),
        Some("table") => tables(&args[1..]),
        Some("free-port") => free_port(),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("bench-table: {e}");
            std::process::exit(2);
        }
    }
}

/// `--flag value` pairs, in order.
fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    if args.len() % 2 != 0 {
        return Err(format!("{} needs a value\n{USAGE}", args[args.len() - 1]));
    }
    Ok(args.chunks(2).map(|p| (p[0].as_str(), p[1].as_str())).collect())
}

fn fields<const N: usize>(flag: &str, value: &str) -> Result<[String; N], String> {
    let parts: Vec<String> = value.split('|').map(str::to_owned).collect();
    parts.try_into().map_err(|_| format!("{flag} takes {N} fields separated by '|', got {value:?}"))
}

fn scenario(args: &[String]) -> Result<String, String> {
    let (mut invocations, mut lines, mut bytes) = (1000u64, 4096usize, 256usize);
    for (flag, value) in pairs(args)? {
        let n = value.parse::<u64>().map_err(|_| format!("{flag} needs a number, got {value:?}"))?;
        match flag {
            "--invocations" => invocations = n,
            "--lines" => lines = n as usize,
            "--bytes" => bytes = n as usize,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(log_scenario(invocations, lines, bytes))
}

fn free_port() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind a port: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    Ok(format!("{port}\n"))
}

fn load(path: &str, extension: &str) -> Result<Row, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let report: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    read_report(&report, extension).map_err(|e| format!("{path}: {e}"))
}

fn figures_json(row: &Row) -> Value {
    let f = row.figures();
    json!({
        "scenario": row.scenario, "extension": row.extension, "invocations": row.invocations, "failed": row.failed,
        "cold_starts": row.startup_ms.len(), "startup_p50_ms": f.startup_p50,
        "post_runtime_p50_ms": f.post_p50, "post_runtime_p99_ms": f.post_p99, "post_runtime_max_ms": f.post_max,
        "peak_rss_mib": f.rss_mib, "sim_peak_rss_mib": row.peak_rss_kb as f64 / 1024.0,
        "rss_sampled_from_proc": row.sampled_rss_kb.is_some(), "cpu_ms_per_invocation": f.cpu_per_invocation_ms,
    })
}

fn tables(args: &[String]) -> Result<String, String> {
    let (mut rows, mut floor, mut ratios, mut sizes, mut startups) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut json_out = None;
    let mut rss = Vec::new();
    for (flag, value) in pairs(args)? {
        match flag {
            "--json" => json_out = Some(value.to_owned()),
            "--row" => {
                let [scenario, label, ext, path] = fields(flag, value)?;
                rows.push(Row { scenario, extension: label, ..load(&path, &ext)? });
            }
            "--floor" => {
                let [scenario, ext, path] = fields(flag, value)?;
                floor.push(Row { scenario, extension: "floor".into(), ..load(&path, &ext)? });
            }
            "--startup" => {
                let [label, ext, path] = fields(flag, value)?;
                startups.push((label, load(&path, &ext)?.startup_ms));
            }
            "--rss" => {
                let [scenario, label, kib] = fields(flag, value)?;
                if !kib.is_empty() {
                    let kib = kib.parse::<u64>().map_err(|_| format!("--rss needs KiB, got {kib:?}"))?;
                    rss.push((scenario, label, kib));
                }
            }
            "--ratio" => ratios.push(fields::<2>(flag, value)?),
            "--size" => {
                let [label, path] = fields(flag, value)?;
                let bytes = std::fs::metadata(&path).map_err(|e| format!("{path}: {e}"))?.len();
                sizes.push((label, bytes));
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    for row in rows.iter_mut().chain(floor.iter_mut()) {
        if let Some((_, _, kib)) = rss.iter().find(|(s, l, _)| *s == row.scenario && *l == row.extension) {
            row.sampled_rss_kb = Some(*kib);
        }
        for (label, ms) in &startups {
            if *label == row.extension {
                row.startup_ms.extend(ms);
            }
        }
    }
    let mut out = table(&rows, &floor);
    if !floor.is_empty() {
        out.push_str("\nfloor (an extension that only waits for runtimeDone's delivery):\n\n");
        out.push_str(&table(&floor, &[]));
    }
    let mut ratio_json = Vec::new();
    if !ratios.is_empty() {
        out.push_str("\npeer / lambdatel (above 1: lambdatel is cheaper):\n\n");
        out.push_str(RATIO_HEADER);
        for [ours, peer] in &ratios {
            for mine in rows.iter().filter(|r| r.extension == *ours) {
                if let Some(theirs) = rows.iter().find(|r| r.extension == *peer && r.scenario == mine.scenario) {
                    let line = ratio_row(mine, theirs);
                    ratio_json.push(Value::from(line.trim_end()));
                    out.push_str(&line);
                }
            }
        }
    }
    if !sizes.is_empty() {
        out.push_str("\n| binary | size bytes | MiB |\n| --- | ---: | ---: |\n");
        for (label, bytes) in &sizes {
            out.push_str(&format!("| {label} | {bytes} | {:.2} |\n", *bytes as f64 / 1048576.0));
        }
    }
    if let Some(path) = json_out {
        let summary = json!({
            "rows": rows.iter().map(figures_json).collect::<Vec<_>>(),
            "floor": floor.iter().map(figures_json).collect::<Vec<_>>(),
            "ratios": ratio_json,
            "binaries": sizes.iter().map(|(l, b)| json!({"binary": l, "bytes": b})).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(out)
}
