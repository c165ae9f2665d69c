//! Test support for profile-resolver: the local AWS emulator ([`emulator`]) and the harness
//! that starts it, moto's SSM server and the project's binaries on free ports ([`harness`]).

pub mod bench;
pub mod emulator;
pub mod harness;
pub mod sim;
