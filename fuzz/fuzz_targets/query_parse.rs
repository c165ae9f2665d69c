//! Query parsing never panics, and what parses is canonical: its canonical form parses back to
//! the same query. `cargo fuzz run query_parse` (see docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::query::{Query, parse_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = Query::from_json_bytes(data) {
        let again = Query::from_json_bytes(q.to_string().as_bytes()).expect("the canonical form parses");
        assert_eq!(again, q);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(q) = Query::from_query_string(text) {
            let again = Query::from_json_bytes(q.to_string().as_bytes()).expect("the canonical form parses");
            assert_eq!(again, q);
        }
    }
    let _ = parse_batch(data);
});
