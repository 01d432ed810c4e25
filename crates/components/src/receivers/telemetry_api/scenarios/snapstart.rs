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

/// Two sandboxes restored from one snapshot start from the same generator state (a fixed seed here): after
/// the restore their ids and instance ids differ, and their cumulative series start over.
#[test]
fn copies_of_one_snapshot_part_ways_at_the_restore() {
    let instance = |out: &Signals| {
        let resource = out.spans[0].resource.as_ref().unwrap();
        attrs(&resource.attributes).into_iter().find(|(k, _)| *k == "service.instance.id").map(|(_, v)| v)
    };
    let run = |restore: bool| {
        crate::receivers::telemetry_api::ids::seed(7);
        let mut c = converter();
        c.ingest(snapshot_init("snap-start").as_bytes());
        c.metrics.add(super::super::metrics::Instrument::Invocations, 5);
        // Without an instanceId from Lambda (which would be the sandbox's own), and without the restore
        // events for the control run.
        let mut events: Vec<serde_json::Value> = serde_json::from_slice(&fixture("telemetry_snapstart.json")).unwrap();
        events.retain(|e| restore || !e["type"].as_str().unwrap().starts_with("platform.restore"));
        for event in &mut events {
            if let Some(record) = event["record"].as_object_mut() {
                record.remove("instanceId");
            }
        }
        c.ingest(&serde_json::to_vec(&events).unwrap());
        let out = c.finish();
        // The fixture's invocation takes its ids from X-Ray; the snapshot's init span has ids of ours.
        let init = span(&out, "Init").clone();
        (init.trace_id, init.span_id, instance(&out), counter(&out, "faas.invocations"))
    };
    let (a, b) = (run(false), run(false));
    assert_eq!(a, b, "without a restore the copies repeat each other: the test can tell");
    assert_eq!(a.3, Some(6), "the snapshot's count carries on without a restore");
    let (a, b) = (run(true), run(true));
    assert_ne!(a.0, b.0, "trace ids");
    assert_ne!(a.1, b.1, "span ids");
    assert_ne!(a.2, b.2, "service.instance.id");
    assert_eq!((a.3, b.3), (Some(1), Some(1)), "the series start over at the restore");
}
