//! `noop-fn`: a Lambda function that returns its payload, the baseline of the whole-path
//! benchmark (the same emulator, the same invoke path, no resolver).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
