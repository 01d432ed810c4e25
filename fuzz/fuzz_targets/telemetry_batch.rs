//! The Telemetry API and Logs API batch parser and the converter behind it: any body Lambda (or anything on
//! the sandbox network) might POST. Nothing may panic, the parser's counts must agree with what it hands
//! over, and the converter's memory budget must hold.

#![no_main]

use lambdatel_components::receivers::telemetry_api::{
    convert::{ConvertOptions, Converter, InvokeContext, ResourceInfo, Temporality},
    events::{parse_batch, IngestStats},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The parser alone: every event it counts is handed over, a malformed body yields nothing.
    let mut stats = IngestStats::default();
    let mut events = 0usize;
    parse_batch(data, &mut stats, |_| events += 1);
    assert_eq!(stats.events, events);
    if stats.malformed_batches > 0 {
        assert_eq!(events + stats.skipped_events, 0);
    }

    // The converter on the same body, as on-demand and Managed Instances sandboxes, with both temporalities and a tiny log budget.
    let (selector, body) = data.split_first().unwrap_or((&0, data));
    let options = ConvertOptions {
        platform_logs: selector & 1 == 1,
        temporality: if selector & 2 == 2 { Temporality::Delta } else { Temporality::Cumulative },
        instance_id_attribute: (selector & 8 == 8).then_some(selector & 16 == 16),
    };
    let mut converter = Converter::new(ResourceInfo::default(), options);
    converter.set_log_budget(4096);
    converter.set_managed_instances(selector & 4 == 4);
    converter.on_invoke(InvokeContext { request_id: "fuzz-request".into(), ..Default::default() });
    let stats = converter.ingest(body);
    assert!(stats.events + stats.skipped_events <= body.len());
    let _ = converter.drain();
    let _ = converter.finish();
});
