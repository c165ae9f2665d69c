//! Links the functions the extension runs (start-up, a snapshot build, requests) together at the
//! start of its text, in release builds for Linux. The kernel maps code 64 KiB around each
//! fault, so code that runs, spread over the text, makes nearly all of it resident: 1.4 MiB more
//! idle RSS at 2,000 profiles without the order (docs/performance.md).
//!
//! `link-order.txt` (from `scripts/link-order.sh`) lists the functions by mangled name. rust-lld
//! (rustc's default on `x86_64-unknown-linux-gnu`) takes it as `--symbol-ordering-file`. zig's
//! lld, which `cargo lambda` uses for the layer, rejects that flag, so for zig this script turns
//! the list into a linker script that gathers their sections (`.text.<name>`, one per function,
//! or `.text.unlikely.<name>` for cold ones) into an output section `.text.hot` inserted before
//! `.text`; everything else keeps the linker's default layout. In that script the names' hashes
//! are also wildcards, because the layer's build (`--target`, and aarch64) hashes differently
//! from the native one the list comes from. A name that matches nothing is ignored: a stale list
//! costs memory, never correctness. Any other linker gets no order.
//!
//! Patterns alone do not fit the layer: they match every instance of a generic function, hot or
//! not. So the layer's own build has its own list, `link-order.<arch>-lambda.txt`, taken from it
//! (`scripts/link-order.sh --layer`): its exact names come first in the script, then the native
//! list's, then both as patterns. `PROFILE_RESOLVER_LINK_MAP=1` makes the linker print its map
//! (as rustc's `linker_messages` warning), which that script needs to name the stripped layer's
//! code; it changes no symbol name, so the list fits the layer as shipped.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The linkers that take an order, each its own way.
enum Linker {
    /// rustc's default on `x86_64-unknown-linux-gnu`: lld's `--symbol-ordering-file`, which
    /// orders by symbol whatever the section; 0.3 MiB fewer resident pages than the script.
    RustLld,
    /// cargo-zigbuild's `zigcc` wrapper, which `cargo lambda` configures: zig rejects
    /// `--symbol-ordering-file` but passes `-T` to its lld.
    Zig,
}

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=PROFILE_RESOLVER_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=PROFILE_RESOLVER_LINK_MAP");
    println!("cargo:rustc-check-cfg=cfg(print_link_map)");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let dir = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let order = dir.join("link-order.txt");
    let own = dir.join(format!("link-order.{}-lambda.txt", var("CARGO_CFG_TARGET_ARCH")));
    // A path that does not exist is stale to cargo on every build, which would rebuild and
    // relink the extension each time: without a list for this architecture, the directory is
    // watched instead, so that a list added later is noticed.
    let watched = if own.is_file() { &own } else { &dir };
    println!("cargo:rerun-if-changed={}", watched.display());
    let bin = "cargo:rustc-link-arg-bin=cache-extension";
    if var("PROFILE_RESOLVER_LINK_MAP") == "1" {
        println!("{bin}=-Wl,--print-map");
        println!("cargo:rustc-cfg=print_link_map");
    }
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    // `PROFILE_RESOLVER_LINK_ORDER=off` links without it, for a build to profile: valgrind
    // reads the symbols of one executable section only, so callgrind over a build with
    // `.text.hot` names a tenth of what ran. (The native build that `scripts/link-order.sh`
    // profiles is ordered by the ordering file, in one `.text`, and needs no switch.)
    let off = var("PROFILE_RESOLVER_LINK_ORDER") == "off";
    if var("PROFILE") != "release" || !linux_gnu || !order.is_file() || off {
        return;
    }
    match linker(&var) {
        Some(Linker::RustLld) => {
            println!("{bin}=-Wl,--symbol-ordering-file={}", order.display());
            println!("{bin}=-Wl,--no-warn-symbol-ordering");
        }
        Some(Linker::Zig) => {
            let Ok(native) = fs::read_to_string(&order) else {
                return;
            };
            // The layer's own list, when there is one for this architecture, leads.
            let list = fs::read_to_string(&own).unwrap_or_default() + &native;
            let script = PathBuf::from(var("OUT_DIR")).join("link-order.ld");
            match fs::write(&script, linker_script(&list)) {
                Ok(()) => println!("{bin}=-Wl,-T,{}", script.display()),
                Err(e) => println!("cargo:warning=no link order: cannot write {}: {e}", script.display()),
            }
        }
        None => {}
    }
}

/// rust-lld when nothing configures another linker (`RUSTC_LINKER`, or a linker flag in
/// RUSTFLAGS such as `-C linker=...` or `-C link-arg=-fuse-ld=...`); zig by its wrapper's name.
fn linker(var: &dyn Fn(&str) -> String) -> Option<Linker> {
    let linker = var("RUSTC_LINKER");
    let zig = Path::new(&linker)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("zigcc"));
    if zig {
        Some(Linker::Zig)
    } else if linker.is_empty()
        && var("TARGET") == "x86_64-unknown-linux-gnu"
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link")
    {
        Some(Linker::RustLld)
    } else {
        None
    }
}

/// One input section description per listed function, in the list's order: first each exact
/// name, which this build has when the list is current, then each name with its hashes made
/// wildcards, which also gathers generic instances that differ only in hash, so that they come
/// after every exact match. Duplicates once. Lines that are not a symbol name (callgrind's
/// addresses of code it could not name) are skipped; C names (mimalloc's, ring's) are kept.
fn linker_script(list: &str) -> String {
    let names: Vec<&str> = list.lines().map(str::trim).filter(|l| is_symbol(l)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut script = String::from("SECTIONS {\n  .text.hot : {\n");
    let exact = names.iter().map(|n| (*n).to_owned());
    for pattern in exact.chain(names.iter().map(|n| pattern(n))) {
        if seen.insert(pattern.clone()) {
            // LLVM puts `#[cold]` functions in `.text.unlikely.<name>`: std's slow paths
            // (a contended lock, a vector's growth) run, and would each pin 64 KiB elsewhere.
            let _ = writeln!(script, "    *(.text.{pattern} .text.unlikely.{pattern})");
        }
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    script
}

/// A name a linker script can hold as it is: an identifier or a legacy Rust name (`$`, `.`).
fn is_symbol(line: &str) -> bool {
    let mut bytes = line.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b))
}

/// A legacy name's `17h<16 hex digits>E` suffix, and a v0 name's crate disambiguators
/// (`Cs<base-62>_`), become `*`; any other name stays as it is.
fn pattern(name: &str) -> String {
    if let Some(body) = name.strip_prefix("_ZN") {
        let at = body.len().saturating_sub(20);
        return match (body.get(..at), body.get(at..)) {
            (Some(path), Some(hash)) if at > 0 && hash.starts_with("17h") && hash.ends_with('E') => {
                format!("_ZN{path}17h*")
            }
            _ => name.to_owned(),
        };
    }
    if !name.starts_with("_R") {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("Cs") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let digits = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
        if digits > 0 && rest.as_bytes().get(digits) == Some(&b'_') {
            out.push('*');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}
