//! In-memory sources for tests: data set by the test, failures injected per operation, calls
//! counted, and a gate that holds loads so concurrent readers can pile up behind one.

use super::{
    CatalogEntry, CatalogSource, FailureKind, Heartbeat, Operation, Route, RouteSource, SourceError, TagSource,
    TaggedResource,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::HashMap;
use tokio::sync::watch;

/// One fake upstream that serves all three sources.
#[derive(Debug)]
pub struct MemorySource {
    state: Mutex<State>,
    gate: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    tagged: HashMap<String, Vec<TaggedResource>>,
    catalog: HashMap<String, Vec<CatalogEntry>>,
    routes: Vec<Route>,
    failures: HashMap<Operation, FailureKind>,
    panics: Vec<Operation>,
    calls: HashMap<Operation, u64>,
}

impl Default for MemorySource {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            gate: watch::Sender::new(true),
        }
    }
}

impl MemorySource {
    /// Sets a region's tagged resources and Bedrock catalogue.
    pub fn set_region(&self, region: &str, tagged: Vec<TaggedResource>, catalog: Vec<CatalogEntry>) {
        let mut s = self.state.lock();
        s.tagged.insert(region.to_owned(), tagged);
        s.catalog.insert(region.to_owned(), catalog);
    }

    /// Sets the routes.
    pub fn set_routes(&self, routes: Vec<Route>) {
        self.state.lock().routes = routes;
    }

    /// Makes every call of `op` fail with `kind` (`None` heals it).
    pub fn fail(&self, op: Operation, kind: Option<FailureKind>) {
        let mut s = self.state.lock();
        match kind {
            Some(kind) => s.failures.insert(op, kind),
            None => s.failures.remove(&op),
        };
    }

    /// Makes every call of `op` panic (`false` heals it), as a bug in a source would.
    pub fn panic_on(&self, op: Operation, panic: bool) {
        let mut s = self.state.lock();
        s.panics.retain(|o| *o != op);
        if panic {
            s.panics.push(op);
        }
    }

    /// Calls made so far to `op`.
    pub fn calls(&self, op: Operation) -> u64 {
        self.state.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Holds every call until [`MemorySource::open`].
    pub fn close(&self) {
        self.gate.send_replace(false);
    }

    /// Lets held and future calls through.
    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    async fn call(&self, op: Operation) -> Result<(), SourceError> {
        self.state.lock().calls.entry(op).and_modify(|n| *n += 1).or_insert(1);
        let mut gate = self.gate.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we are borrowed.
        let _ = gate.wait_for(|open| *open).await;
        let panics = self.state.lock().panics.contains(&op);
        assert!(!panics, "injected panic in {op}");
        match self.state.lock().failures.get(&op) {
            Some(kind) => Err(SourceError::new(op, *kind, "injected failure")),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl TagSource for MemorySource {
    async fn tagged_resources(&self, region: &str, progress: &Heartbeat) -> Result<Vec<TaggedResource>, SourceError> {
        self.call(Operation::GetResources).await?;
        progress.beat();
        Ok(self.state.lock().tagged.get(region).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl CatalogSource for MemorySource {
    async fn application_profiles(&self, region: &str, progress: &Heartbeat) -> Result<Vec<CatalogEntry>, SourceError> {
        self.call(Operation::ListInferenceProfiles).await?;
        progress.beat();
        Ok(self.state.lock().catalog.get(region).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl RouteSource for MemorySource {
    async fn routes(&self, progress: &Heartbeat) -> Result<Vec<Route>, SourceError> {
        self.call(Operation::GetParametersByPath).await?;
        progress.beat();
        Ok(self.state.lock().routes.clone())
    }
}
