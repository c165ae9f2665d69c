//! `aws-emulator`: the local AWS for tests and the demo.
//!
//! `aws-emulator --listen 127.0.0.1:0 [--seed FILE] [--ghost-seconds N] [--token-ttl-seconds N]
//! [--cloudwatch URL]` prints `listening on http://127.0.0.1:PORT` as its first stdout line.
//! With `--cloudwatch`, every metered `Converse` call publishes its runtime metrics there.

use anyhow::{Context, bail};
use harness::emulator::{self, seed, state::State};
use parking_lot::Mutex;
use std::io::Write;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();
    let mut listen = String::from("127.0.0.1:0");
    let mut state = State::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?,
            "--seed" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                let parsed = serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
                seed::load(&mut state, parsed).map_err(anyhow::Error::msg)?;
            }
            "--ghost-seconds" => state.settings.ghost_seconds = value()?.parse()?,
            "--token-ttl-seconds" => state.settings.token_ttl_seconds = value()?.parse()?,
            "--cloudwatch" => state.settings.cloudwatch = Some(value()?),
            other => {
                bail!(
                    "unknown flag {other}; flags: --listen ADDR --seed FILE --ghost-seconds N --token-ttl-seconds N \
                     --cloudwatch URL"
                )
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    let app = emulator::router(Arc::new(Mutex::new(state)));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
