//! Test fixture: a function built on the third-party `lambda_runtime` crate.
//!
//! It answers with what its context saw, and fails when the event has `"fail": true`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        if event.payload.get("fail").is_some() {
            return Err(Error::from("asked to fail"));
        }
        println!("handling {}", event.context.request_id);
        Ok::<Value, Error>(json!({
            "echo": event.payload,
            "requestId": event.context.request_id,
            "xray": event.context.xray_trace_id,
            "deadline": event.context.deadline,
            "arn": event.context.invoked_function_arn,
            "functionName": event.context.env_config.function_name,
            "memory": event.context.env_config.memory,
        }))
    }))
    .await
}
