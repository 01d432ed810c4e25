//! Test fixture: an external extension built on the third-party `lambda-extension` crate.
//!
//! It prints what it receives (`invoke <requestId> <trace>`, `shutdown <reason>`,
//! `telemetry <type>`) so the simulator's conformance tests can check that a client we did not
//! write understands every event. The telemetry listener port comes from
//! `CONFORMANCE_TELEMETRY_PORT`.

use lambda_extension::{service_fn, Error, Extension, LambdaEvent, LambdaTelemetry, NextEvent, SharedService};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let port: u16 =
        std::env::var("CONFORMANCE_TELEMETRY_PORT").map_err(|_| "CONFORMANCE_TELEMETRY_PORT is not set")?.parse()?;
    let events = service_fn(|event: LambdaEvent| async move {
        match event.next {
            NextEvent::Invoke(e) => println!("invoke {} {} {}", e.request_id, e.tracing.value, e.deadline_ms),
            NextEvent::Shutdown(s) => {
                println!("shutdown {} {}", s.shutdown_reason, s.deadline_ms);
                // The crate's loop would call `next` again and wait for SIGKILL; exit cleanly instead.
                std::process::exit(0);
            }
        }
        Ok::<(), Error>(())
    });
    let telemetry = SharedService::new(service_fn(|batch: Vec<LambdaTelemetry>| async move {
        for event in batch {
            let v = serde_json::to_value(&event)?;
            println!("telemetry {}", v["type"].as_str().unwrap_or("?"));
        }
        Ok::<(), Error>(())
    }));
    Extension::new()
        .with_events_processor(events)
        .with_telemetry_processor(telemetry)
        .with_telemetry_types(&["platform", "function"])
        .with_telemetry_port_number(port)
        .run()
        .await
}
