//! No code: this crate's manifest asks for the union of the features that the Lambda binaries'
//! common dependencies need, so that `sam build`'s one build per binary compiles each of those
//! dependencies once (see `Cargo.toml`).
