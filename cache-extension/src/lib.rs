//! # cache-extension
//!
//! A Lambda extension that keeps every Bedrock application inference profile of the allowed
//! regions in memory and answers tag queries on `http://127.0.0.1:PORT`. Any function, in any
//! language, attaches it as a layer and calls it over loopback with the token.
//!
//! ## Lifecycle
//! 1. Read and validate the configuration; a bad value stops start-up, naming the variable (and
//!    is reported to Lambda through `init/error` when running under Lambda).
//! 2. Bind `127.0.0.1:PORT`, then start loading every region's snapshot and the routes.
//! 3. Register with the Extensions API for INVOKE and SHUTDOWN (classic Lambda), under the executable's file name,
//!    and wait for the first loads (at most [`INIT_WAIT`]; a failure is allowed, the extension
//!    then serves routes or 503) before the first `/next`: the sandbox freezes once every
//!    extension is back in `/next`, and a load left running would be cut mid-flight.
//! 4. Event loop. INVOKE means the sandbox has thawed: refreshes cut by the freeze are
//!    superseded, due refreshes start, and the extension waits for them to end (bounded by the
//!    invoke's deadline, and by the upstream timeout without progress) before it asks for the
//!    next event. SHUTDOWN stops accepting, lets in-flight requests finish (at most 300 ms) and
//!    exits.
//!
//! On Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`),
//! which never freeze and refuse `INVOKE` registrations, it registers for SHUTDOWN alone and
//! refreshes on a schedule of its own. Without `AWS_LAMBDA_RUNTIME_API` it runs as an agent (a
//! sidecar outside Lambda) on the same schedule until SIGTERM or Ctrl-C.
//!
//! ## Environment
//! | variable | default | meaning |
//! |---|---|---|
//! | `PROFILE_RESOLVER_PORT` | 9797 | port on 127.0.0.1 |
//! | `PROFILE_RESOLVER_TTL_SECONDS` | 60 | snapshot TTL, jittered ±10 % |
//! | `PROFILE_RESOLVER_MAX_STALE_SECONDS` | 3600 | stale serving while refreshes fail |
//! | `PROFILE_RESOLVER_REGIONS` | `AWS_REGION` | allowed regions |
//! | `PROFILE_RESOLVER_SSM_PREFIX` | `/profile-resolver/routes/` | routes; empty disables |
//! | `PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS` | 2000 | per upstream call |
//! | `PROFILE_RESOLVER_TOKEN` | `AWS_SESSION_TOKEN`, then `AWS_CONTAINER_AUTHORIZATION_TOKEN` | the token |
//! | `PROFILE_RESOLVER_AUTH` | `token` | `disabled` turns the token check off |
//! | `PROFILE_RESOLVER_MAX_CONNECTIONS` | 256 | concurrent connections; more get 429 |

pub mod config;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod server;

use config::{Config, Platform};
use lifecycle::{Lambda, LifecycleError};
use shared::clock::SystemClock;
use shared::resolver::Resolver;
use shared::source::sdk::load_sdk_config;
use shared::wiring::sdk_sources;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long in-flight requests may run after SHUTDOWN.
pub const DRAIN: Duration = Duration::from_millis(300);

/// The longest wait for the first loads at init. Lambda gives the whole init phase (every
/// extension and the runtime) 10 s; a load still running after this is finished by the first
/// invoke.
pub const INIT_WAIT: Duration = Duration::from_secs(5);

/// Refreshes awaited after an INVOKE stop this long before the invoke's deadline.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Why the extension stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address and port.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The Extensions API failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

/// The name to register under: the executable's file name, as Lambda requires.
pub fn extension_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "cache-extension".to_owned())
}

/// Runs the extension until SHUTDOWN (under Lambda) or a signal (standalone).
///
/// # Errors
/// The port is taken, or the Extensions API fails.
pub async fn run(config: Config, name: &str) -> Result<(), RunError> {
    let addr = SocketAddr::from((config.address, config.port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    tracing::info!(%addr, regions = ?config.engine.regions, "listening");

    let sdk = load_sdk_config(config.engine.upstream_timeout).await;
    let stats = Arc::new(shared::stats::Stats::for_regions(&config.engine.regions));
    let sources = sdk_sources(&config.engine, &sdk, Arc::clone(&stats), &|k| std::env::var(k).ok());
    let resolver = Resolver::new(config.engine.clone(), sources, Arc::new(SystemClock), stats);
    resolver.prewarm();

    let api = Arc::new(http::Api::new(http::AppState::new(
        resolver.clone(),
        config.auth.clone(),
    )));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        move |req| api.call(req),
        server::Limits {
            max_connections: config.max_connections,
            idle_timeout: server::IDLE_TIMEOUT,
            drain: DRAIN,
        },
        async { drop(stop_rx.await) },
    ));

    let emf = Arc::new(metrics::Emf::new(
        Box::new(std::io::stdout()),
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
    ));
    let outcome = match config.platform {
        Platform::Classic => lambda(name, &resolver, &emf, true).run().await.map_err(RunError::from),
        // Nothing freezes the process: a schedule of its own keeps the data fresh and paces the
        // metrics, until SHUTDOWN (Lambda Managed Instances) or a signal (an agent).
        Platform::ManagedInstances => {
            tokio::select! {
                outcome = lambda(name, &resolver, &emf, false).run() => outcome.map_err(RunError::from),
                () = on_schedule(&resolver, &emf) => Ok(()),
            }
        }
        Platform::Agent => {
            tokio::select! {
                () = wait_for_signal() => {},
                () = on_schedule(&resolver, &emf) => {},
            }
            Ok(())
        }
    };
    emf.emit(&resolver, std::time::SystemTime::now());
    let _ = stop_tx.send(());
    let _ = server.await;
    tracing::info!("stopped");
    outcome
}

/// Where nothing freezes: refreshes on the engine's schedule, and the metrics on theirs. Never
/// returns.
async fn on_schedule(resolver: &Resolver, emf: &metrics::Emf) {
    let tick = resolver.schedule_tick();
    let mut emitted = tokio::time::Instant::now();
    loop {
        resolver.refresh_on_schedule();
        if emitted.elapsed() >= metrics::INTERVAL {
            emf.maybe_emit(resolver, std::time::SystemTime::now());
            emitted = tokio::time::Instant::now();
        }
        tokio::time::sleep(tick).await;
    }
}

/// The Lambda side of the extension (see [`lifecycle`]).
fn lambda(name: &str, resolver: &Resolver, emf: &Arc<metrics::Emf>, classic: bool) -> Lambda {
    Lambda {
        name: name.to_owned(),
        resolver: resolver.clone(),
        emf: Arc::clone(emf),
        classic,
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Under Lambda, registers and reports a configuration error through `init/error`, so that the
/// failure shows up as the init error of the function.
pub async fn report_config_error(name: &str, message: &str) {
    let managed = std::env::var(config::INITIALIZATION_TYPE).as_deref() == Ok("lambda-managed-instances");
    lifecycle::report_config_error(name, managed, message).await;
}
