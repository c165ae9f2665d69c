//! Event parsing never panics: any JSON is classified, read as an HTTP request and routed, or
//! refused with an error. `cargo fuzz run event_parse` (see docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use resolver_fn::event::{self, Kind};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    match event::classify(&value) {
        Kind::Direct => {
            let _ = shared::query::Query::from_json_bytes(data);
            let _ = shared::query::parse_batch(data);
        }
        Kind::Http(flavor) => {
            if let Ok(req) = event::http_request(&value, flavor) {
                let _ = event::route(&req.method, &req.path);
                if let event::Params::Decoded(pairs) = &req.params {
                    let _ = shared::query::Query::from_params(pairs.iter().map(|(k, v)| (k, v.as_ref())));
                }
                let _ = event::http_response(flavor, 200, String::new());
            }
        }
    }
});
