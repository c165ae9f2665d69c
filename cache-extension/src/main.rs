//! `cache-extension`: wiring only. See the crate docs for the lifecycle and the environment.
// `PROFILE_RESOLVER_LINK_MAP=1` (build.rs): show the linker's map, for `scripts/link-order.sh`.
#![cfg_attr(print_link_map, warn(linker_messages))]

use cache_extension::config::Config;
use cache_extension::lifecycle::RUNTIME_API;
use cache_extension::{extension_name, report_config_error, run};
use std::process::ExitCode;

// mimalloc over glibc's malloc: twice the throughput of glibc's at 64 connections, where hyper
// allocates its 512-entry header arrays per request, and glibc's slow path shows in profiles.
// Its arena is committed as used, not up front (`.cargo/config.toml`). See docs/performance.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let name = extension_name();
    let runtime_api = std::env::var(RUNTIME_API).ok();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            if runtime_api.is_some() {
                report_config_error(&name, &e.to_string()).await;
            }
            return ExitCode::FAILURE;
        }
    };
    config.log.init();
    match run(config, &name).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cache-extension failed");
            ExitCode::FAILURE
        }
    }
}
