//! The in-process engine: a 3-key query over 2,000 and 100,000 profiles, a snapshot build from
//! 2,000 tagged resources, query parsing, a whole in-process hit with its JSON, and a fleet reader's decoding of a published snapshot. `cargo bench -p profile-resolver-shared --bench engine`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use shared::query::Query;
use shared::snapshot::Snapshot;
use shared::source::{CatalogEntry, TaggedResource};

/// `n` profiles over 50 tenants x 8 apps x 5 models x 3 depts, each with 4 tags.
fn org(n: usize) -> (Vec<TaggedResource>, Vec<CatalogEntry>) {
    let arn = |i: usize| format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/p{i:011}");
    let tagged = (0..n)
        .map(|i| TaggedResource {
            arn: arn(i),
            tags: vec![
                ("tenant".into(), format!("tenant-{}", i % 50)),
                ("app".into(), format!("app-{}", (i / 50) % 8)),
                ("model".into(), format!("model-{}", (i / 400) % 5)),
                ("dept".into(), format!("dept-{}", i % 3)),
                ("serial".into(), i.to_string()),
            ],
        })
        .collect();
    let catalog = (0..n)
        .map(|i| CatalogEntry {
            arn: arn(i),
            name: format!("profile-{i}"),
            status: Some("ACTIVE".into()),
            models: vec!["arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into()],
        })
        .collect();
    (tagged, catalog)
}

fn query() -> Query {
    Query::from_json_bytes(br#"{"tags": {"tenant": "tenant-7", "app": "app-3", "model": "model-2"}, "match": "all"}"#)
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let q = query();
    let mut group = c.benchmark_group("query_3_keys");
    for n in [2_000usize, 100_000] {
        let (tagged, catalog) = org(n);
        let (snapshot, _) = Snapshot::join(tagged, Some(catalog));
        assert!(!snapshot.matches(&q).is_empty() || n < 2000);
        group.bench_with_input(BenchmarkId::from_parameter(n), &snapshot, |b, s| {
            b.iter(|| black_box(s.matches(black_box(&q))))
        });
    }
    group.finish();

    let (tagged, catalog) = org(2_000);
    c.bench_function("snapshot_build_2000", |b| {
        b.iter(|| black_box(Snapshot::join(tagged.clone(), Some(catalog.clone()))))
    });
    c.bench_function("parse_query_string", |b| {
        b.iter(|| {
            black_box(Query::from_query_string(black_box(
                "tag:tenant=tenant-7&tag:app=app-3&tag:model=model-2&match=all",
            )))
        })
    });
    c.bench_function("parse_query_json", |b| {
        b.iter(|| {
            black_box(Query::from_json_bytes(black_box(
                br#"{"tags": {"tenant": "acme", "app": "chat", "model": "claude"}}"#,
            )))
        })
    });
}

/// A fleet reader's cost of a new published snapshot: checking its hash, parsing and indexing it.
fn published(c: &mut Criterion) {
    use shared::published::format::{decode, encode};
    let mut group = c.benchmark_group("read_published_snapshot");
    group.sample_size(10);
    for n in [2_000usize, 100_000] {
        let (tagged, catalog) = org(n);
        let (snapshot, _) = Snapshot::join(tagged, Some(catalog));
        let body = encode(
            &snapshot,
            "us-east-1",
            Some("123456789012"),
            std::time::SystemTime::now(),
        )
        .body;
        eprintln!("read_published_snapshot/{n}: {} bytes", body.len());
        group.bench_with_input(BenchmarkId::from_parameter(n), &body, |b, body| {
            b.iter(|| black_box(decode(black_box(body), "us-east-1", None).unwrap()))
        });
    }
    group.finish();
}

/// The whole in-process hit: resolve a 3-key query against a loaded resolver and render the
/// answer's JSON, as the extension does per request.
fn resolve_hit(c: &mut Criterion) {
    use shared::build::Sources;
    use shared::clock::SystemClock;
    use shared::config::{EngineConfig, Fallback};
    use shared::resolver::{RawQuery, Resolver};
    use shared::source::memory::MemorySource;
    use std::sync::Arc;
    use std::time::Duration;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("resolve_hit_and_render");
    for n in [2_000usize, 100_000] {
        let source = Arc::new(MemorySource::default());
        let (tagged, catalog) = org(n);
        source.set_region("us-east-1", tagged, catalog);
        let config = EngineConfig {
            home_region: "us-east-1".into(),
            regions: vec!["us-east-1".into()],
            ttl: Duration::from_secs(3600),
            max_stale: Duration::from_secs(3600),
            ssm_prefix: None,
            upstream_timeout: Duration::from_secs(5),
            snapshot_url: None,
            snapshot_fallback: Fallback::Direct,
            account: None,
        };
        let sources = Sources {
            tags: source.clone(),
            catalog: source.clone(),
            routes: None,
            published: None,
        };
        let resolver = Resolver::new(config, sources, Arc::new(SystemClock), Arc::default());
        // One profile at 2,000, 50 at 100,000.
        let q = query();
        let first = rt.block_on(resolver.resolve(&q)).unwrap();
        assert!(first.profiles().next().is_some());
        group.bench_with_input(BenchmarkId::from_parameter(n), &q, |b, q| {
            b.iter(|| black_box(rt.block_on(resolver.resolve(black_box(q))).unwrap().to_json()))
        });
        // The extension's GET as a whole: parsed every time, and answered from the memo.
        let raw = "tag:tenant=tenant-7&tag:app=app-3&tag:model=model-2&match=all";
        let once = rt.block_on(resolver.resolve_raw(RawQuery::QueryString(raw))).unwrap();
        let head = |body: &str| body[..body.find(r#","cache""#).unwrap_or(body.len())].to_owned();
        assert_eq!(head(&once), head(&rt.block_on(resolver.resolve(&q)).unwrap().to_json()));
        group.bench_with_input(BenchmarkId::new("get_parsed", n), raw, |b, raw| {
            b.iter(|| {
                let q = Query::from_query_string(black_box(raw)).unwrap();
                black_box(rt.block_on(resolver.resolve(&q)).unwrap().to_json())
            })
        });
        group.bench_with_input(BenchmarkId::new("get_remembered", n), raw, |b, raw| {
            b.iter(|| {
                black_box(
                    rt.block_on(resolver.resolve_raw(RawQuery::QueryString(black_box(raw))))
                        .unwrap(),
                )
            })
        });
        // The same from two threads at once, as the extension's two workers ask: what is
        // shared between threads (reference counts, counters) shows here, not above.
        group.bench_with_input(BenchmarkId::new("get_remembered_2_threads", n), raw, |b, raw| {
            b.iter_custom(|iters| {
                let started = std::time::Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..2 {
                        scope.spawn(|| {
                            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                            for _ in 0..iters {
                                black_box(
                                    rt.block_on(resolver.resolve_raw(RawQuery::QueryString(black_box(raw))))
                                        .unwrap(),
                                );
                            }
                        });
                    }
                });
                // Per request: two threads answered `iters` each.
                started.elapsed() / 2
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, resolve_hit, published);
criterion_main!(benches);
