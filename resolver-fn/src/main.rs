//! `resolver-fn` (packaged as `bootstrap`): wiring only. See the crate docs.

use resolver_fn::App;
use resolver_fn::backend::{Backend, ExtensionClient};
use resolver_fn::config::Config;
use resolver_fn::metrics::Metrics;
use shared::clock::SystemClock;
use shared::resolver::Resolver;
use shared::source::sdk::load_sdk_config;
use shared::wiring::sdk_sources;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    config.log.init();
    let sdk = load_sdk_config(config.engine.upstream_timeout).await;
    let stats = Arc::new(shared::stats::Stats::for_regions(&config.engine.regions));
    let sources = sdk_sources(&config.engine, &sdk, Arc::clone(&stats), &|k| std::env::var(k).ok());
    // Not prewarmed: the in-process engine loads only if the extension is ever unreachable.
    let local = Resolver::new(config.engine.clone(), sources, Arc::new(SystemClock), stats);
    let extension = ExtensionClient::new(&config.extension_url, config.token.clone(), config.extension_timeout);
    let metrics = Metrics::new(config.function_name.clone(), Box::new(std::io::stdout()));
    let backend = Backend::new(extension, local).unfrozen(config.managed_instances);
    let app = Arc::new(App::new(backend, &config, metrics));
    let handler = lambda_runtime::service_fn(move |event| {
        let app = Arc::clone(&app);
        async move { app.handle(event).await }
    });
    // `AWS_LAMBDA_MAX_CONCURRENCY` invokes at once on Lambda Managed Instances, which never
    // freeze; one at a time in a classic sandbox, whose freeze bookkeeping assumes it.
    if config.managed_instances {
        lambda_runtime::run_concurrent(handler).await
    } else {
        lambda_runtime::run(handler).await
    }
}
