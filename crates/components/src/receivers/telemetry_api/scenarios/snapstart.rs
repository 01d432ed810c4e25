//! SnapStart: a sandbox restored from a snapshot. The extension's memory (this converter's included) comes
//! from the snapshot, so it may hold the snapshot's init; the restored sandbox's first invocation is not a
//! cold start.

use super::*;

/// The snapshot's init, as the converter saw it before the snapshot was taken.
fn snapshot_init(initialization_type: &str) -> String {
    format!(
        r#"[{{"time":"2024-05-01T12:00:00.000Z","type":"platform.initStart","record":{{"initializationType":"{initialization_type}","phase":"init"}}}},
           {{"time":"2024-05-01T12:00:00.300Z","type":"platform.initRuntimeDone","record":{{"initializationType":"{initialization_type}","phase":"init","status":"success"}}}}]"#
    )
}

fn assert_restored_first_invocation_is_warm(initialization_type: &str) {
    let mut c = converter();
    c.ingest(snapshot_init(initialization_type).as_bytes());
    assert!(!c.take_restored(), "{initialization_type}: no restore yet");
    let stats = c.ingest(&fixture("telemetry_snapstart.json"));
    assert_eq!(stats, IngestStats { events: 7, ..IngestStats::default() });
    assert!(c.take_restored(), "{initialization_type}: the caller learns of the restore");
    assert!(!c.take_restored(), "{initialization_type}: once");
    assert_eq!(c.counters().restores, 1);
    let out = c.drain();
    let inv = span(&out, "orders-api");
    assert!(attrs(&inv.attributes).contains(&("faas.coldstart", Av::BoolValue(false))), "{initialization_type}");
    // The restore is this sandbox's start: it joins the first invocation's trace.
    let restore = span(&out, "Restore");
    assert_eq!(
        (restore.trace_id.clone(), restore.parent_span_id.clone()),
        (inv.trace_id.clone(), inv.parent_span_id.clone())
    );
    // The snapshot's init stands alone, in a trace of its own.
    let init = span(&out, "Init");
    assert_ne!(init.trace_id, inv.trace_id, "{initialization_type}");
    assert_eq!(init.parent_span_id, Vec::<u8>::new(), "{initialization_type}");
    assert_eq!(init.end_time_unix_nano, ts("2024-05-01T12:00:00.300Z"));
    assert_eq!(
        attrs(&init.attributes)[1],
        ("aws.lambda.initialization_type", s(initialization_type)),
        "{initialization_type}"
    );
}

#[test]
fn the_first_invocation_after_a_restore_is_not_a_cold_start() {
    assert_restored_first_invocation_is_warm("snap-start");
    // Even when the snapshot's init looked like an on-demand one (a cold start waiting for its invocation).
    assert_restored_first_invocation_is_warm("on-demand");
}

#[test]
fn a_repeated_restore_start_is_one_restore() {
    let mut c = converter();
    let body = fixture("telemetry_snapstart.json");
    c.ingest(&body);
    c.ingest(&body);
    assert_eq!(c.counters().restores, 1);
    assert!(c.take_restored());
    let out = c.drain();
    assert_eq!(spans(&out).iter().filter(|s| s.name == "Restore").count(), 1);
}

#[test]
fn without_a_restore_the_flag_stays_down() {
    let mut c = converter();
    c.ingest(&fixture("telemetry_cold_start.json"));
    assert!(!c.take_restored());
    assert_eq!(c.counters().restores, 0);
}
