//! Property tests of the Telemetry/Logs API batch parser: it never panics on any body, and valid events
//! mixed with garbage all come through, in order, while the garbage is counted as skipped.

use lambdatel_components::receivers::telemetry_api::events::{parse_batch, EventBody, IngestStats, LogPayload};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A valid event: a function log line or a `platform.start`, identified by `n`.
fn valid(n: usize, platform: bool) -> Value {
    if platform {
        json!({"time": "2024-05-01T10:00:00.000Z", "type": "platform.start",
               "record": {"requestId": format!("req-{n}"), "version": "$LATEST"}})
    } else {
        json!({"time": "2024-05-01T10:00:00.000Z", "type": "function", "record": format!("line {n}\n")})
    }
}

/// Something that is not a usable event.
fn garbage() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        ".{0,12}".prop_map(|t| json!({"time": "2024-05-01T10:00:00.000Z", "record": t})),
        any::<u32>().prop_map(|n| json!({"type": n, "record": "x"})),
        "[a-z.]{1,16}".prop_map(|t| json!({"type": format!("unknown.{t}"), "record": {}})),
        Just(json!({"type": "function"})),
        Just(json!({"type": "platform.start", "record": "not an object"})),
    ]
}

/// The identity of a parsed event, to compare with what was sent.
fn identity(body: &EventBody) -> Option<String> {
    match body {
        EventBody::FunctionLog(LogPayload::Text(text)) => Some(text.trim_end().to_string()),
        EventBody::Start(start) => Some(start.request_id.clone()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_body_parses_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut stats = IngestStats::default();
        let mut events = 0;
        parse_batch(&body, &mut stats, |_| events += 1);
        prop_assert_eq!(stats.events, events);
        prop_assert!(stats.malformed_batches <= 1);
    }

    #[test]
    fn json_shaped_bodies_parse_without_panicking(text in r#"[\[\]{}":,0-9a-z. \\-]{0,200}"#) {
        let mut stats = IngestStats::default();
        parse_batch(text.as_bytes(), &mut stats, |_| ());
        prop_assert!(stats.malformed_batches <= 1);
    }

    #[test]
    fn valid_events_among_garbage_all_come_through_in_order(
        items in proptest::collection::vec(prop_oneof![any::<bool>().prop_map(Ok), garbage().prop_map(Err)], 0..40)
    ) {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        let mut garbage_count = 0;
        for (n, item) in items.into_iter().enumerate() {
            match item {
                Ok(platform) => {
                    batch.push(valid(n, platform));
                    expected.push(if platform { format!("req-{n}") } else { format!("line {n}") });
                }
                Err(value) => {
                    batch.push(value);
                    garbage_count += 1;
                }
            }
        }
        let body = serde_json::to_vec(&batch).unwrap();
        let mut stats = IngestStats::default();
        let mut seen = Vec::new();
        parse_batch(&body, &mut stats, |event| seen.push(identity(&event.body)));
        prop_assert_eq!(seen, expected.into_iter().map(Some).collect::<Vec<_>>());
        prop_assert_eq!(stats.skipped_events, garbage_count);
        prop_assert_eq!(stats.malformed_batches, 0);
    }
}
