//! Reliability and security: the fault matrix, a correctness oracle, hostile input and the
//! security checks, all against the real extension binary, the emulator and moto.

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod helpers;
mod hostile;
mod oracle;
mod ports;
mod security;
