//! Links the functions the extension runs (start-up, a snapshot build, requests) together at the
//! start of its text, in release builds linked by rust-lld, rustc's default linker on
//! `x86_64-unknown-linux-gnu`. The kernel maps code 64 KiB around each fault, so code that runs,
//! spread over 6 MB of text, made nearly all of it resident: 5.9 MiB of the idle RSS, 2.9 MiB
//! with the order (docs/performance.md, session 11). `link-order.txt` comes from
//! `scripts/link-order.sh`; names it lists that the build no longer has are ignored, so a stale
//! list costs memory, never correctness. Other linkers (zig for the Lambda layer, GNU ld) do not
//! take the flag, and get no order.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    // rustc's default linker on this target is rust-lld; a linker configured for the target
    // (`RUSTC_LINKER`: cargo lambda's zig) or any linker flag in RUSTFLAGS (`-C linker=...`,
    // `-C linker-features=...`, `-C link-arg=...`) may mean another linker, so no order then.
    let rust_lld = var("TARGET") == "x86_64-unknown-linux-gnu"
        && env::var_os("RUSTC_LINKER").is_none()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link");
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if var("PROFILE") != "release" || !rust_lld || !order.is_file() {
        return;
    }
    let bin = "cargo:rustc-link-arg-bin=cache-extension";
    println!("{bin}=-Wl,--symbol-ordering-file={}", order.display());
    println!("{bin}=-Wl,--no-warn-symbol-ordering");
}
