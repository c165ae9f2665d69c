//! The Lambda side, through the `lambda-extension` crate: register (for INVOKE and SHUTDOWN in a
//! classic sandbox, SHUTDOWN alone on Lambda Managed Instances), wait for the first loads
//! before the first `/next` (which ends init), then handle each event before the crate asks for
//! the next one, so that a due refresh ends while the sandbox is awake.
//!
//! The crate reads the API's address from `AWS_LAMBDA_RUNTIME_API`, registers under the name
//! given here, and keeps asking for events after SHUTDOWN; so the SHUTDOWN handler signals the
//! end and the loop is dropped.

use crate::metrics::Emf;
use lambda_extension::{Extension, LambdaEvent, NextEvent, requests, service_fn};
use lambda_runtime_api_client::Client;
use shared::resolver::Resolver;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::oneshot;

pub use crate::config::RUNTIME_API;

/// The events of a classic sandbox, which freezes between invokes.
pub const CLASSIC_EVENTS: &[&str] = &["INVOKE", "SHUTDOWN"];

/// The only event Lambda Managed Instances accept a registration for.
pub const MANAGED_INSTANCES_EVENTS: &[&str] = &["SHUTDOWN"];

/// A failure talking to the Extensions API.
#[derive(Debug, thiserror::Error)]
#[error("extensions API: {0}")]
pub struct LifecycleError(String);

impl LifecycleError {
    fn from_crate(e: &lambda_extension::Error) -> Self {
        Self(e.to_string())
    }
}

/// What the extension does between register and SHUTDOWN.
pub struct Lambda {
    /// The name to register under (the executable's file name, as Lambda requires).
    pub name: String,
    /// The engine.
    pub resolver: Resolver,
    /// The metrics.
    pub emf: Arc<Emf>,
    /// Whether the sandbox freezes between invokes (classic) or never does (Managed Instances).
    pub classic: bool,
}

impl Lambda {
    /// Registers, waits for the first loads (at most [`crate::INIT_WAIT`]), and handles events
    /// until SHUTDOWN.
    ///
    /// # Errors
    /// The registration or an event request fails.
    pub async fn run(self) -> Result<(), LifecycleError> {
        let events = if self.classic {
            CLASSIC_EVENTS
        } else {
            MANAGED_INSTANCES_EVENTS
        };
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let done = Arc::new(parking_lot::Mutex::new(Some(done_tx)));
        let (resolver, emf) = (self.resolver.clone(), Arc::clone(&self.emf));
        let processor = service_fn(move |event: LambdaEvent| {
            let (resolver, emf, done) = (resolver.clone(), Arc::clone(&emf), Arc::clone(&done));
            async move {
                match event.next {
                    NextEvent::Invoke(invoke) => on_invoke(&resolver, &emf, invoke.deadline_ms).await,
                    NextEvent::Shutdown(shutdown) => {
                        tracing::info!(reason = %shutdown.shutdown_reason, "shutdown");
                        if let Some(tx) = done.lock().take() {
                            let _ = tx.send(());
                        }
                    }
                }
                Ok::<(), Infallible>(())
            }
        });
        let registered = Extension::new()
            .with_extension_name(&self.name)
            .with_events(events)
            .with_events_processor(processor)
            .register()
            .await
            .map_err(|e| LifecycleError::from_crate(&e))?;
        tracing::info!(name = %self.name, ?events, "registered");
        if !self
            .resolver
            .settle(tokio::time::Instant::now() + crate::INIT_WAIT)
            .await
        {
            tracing::warn!(
                wait_ms = crate::INIT_WAIT.as_millis() as u64,
                "the first loads did not end during init"
            );
        }
        if self.classic {
            self.resolver.parked();
        }
        tracing::debug!("waiting for the next event");
        tokio::select! {
            ended = registered.run() => ended.map_err(|e| LifecycleError::from_crate(&e)),
            _ = done_rx => Ok(()),
        }
    }
}

/// INVOKE: the sandbox has thawed. Due refreshes run and are waited for (bounded by the
/// invoke's deadline) before the crate asks for the next event; a frozen sandbox runs no timer,
/// so the metrics are paced by invokes too.
async fn on_invoke(resolver: &Resolver, emf: &Emf, deadline_ms: u64) {
    resolver.thawed();
    let left = shared::clock::time_left(deadline_ms, std::time::SystemTime::now(), crate::DEADLINE_MARGIN);
    if !resolver.refresh_and_settle(tokio::time::Instant::now() + left).await {
        tracing::warn!("a refresh did not end within the invoke; it resumes at the next one");
    }
    emf.maybe_emit(resolver, std::time::SystemTime::now());
    resolver.parked();
    tracing::debug!("waiting for the next event");
}

/// Registers and reports a configuration error through `init/error`, so that the failure shows
/// up as the init error of the function.
pub async fn report_config_error(name: &str, managed: bool, message: &str) {
    let events = if managed {
        MANAGED_INSTANCES_EVENTS
    } else {
        CLASSIC_EVENTS
    };
    let registered = match Extension::new()
        .with_extension_name(name)
        .with_events(events)
        .register()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot register to report the error: {e}");
            return;
        }
    };
    let error = requests::ErrorRequest {
        error_message: message,
        error_type: "Extension.ConfigInvalid",
        stack_trace: Vec::new(),
    };
    let sent = match (
        Client::builder().build(),
        requests::init_error(&registered.extension_id, "Extension.ConfigInvalid", Some(error)),
    ) {
        (Ok(client), Ok(req)) => client.call(req).await.map(drop).map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        eprintln!("{name}: cannot report the error: {e}");
    }
}
