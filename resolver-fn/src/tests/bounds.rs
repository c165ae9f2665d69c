//! Answers are bounded on every path (`shared::answer::MAX_ANSWER_BYTES`), and the function's
//! calls to the extension end with the invoke.

use super::hop::{engine, hop_over};
use super::*;
use shared::answer::MAX_ANSWER_BYTES;
use shared::source::Operation;
use tokio::net::TcpListener;

/// 1,000 profiles tagged `tenant=acme`, each with a 2,000-character `note`: a `match=all` over
/// them is about 2.1 MB, within the limit alone and over it twice.
fn heavy_source() -> Arc<MemorySource> {
    let note = "n".repeat(2000);
    let ids: Vec<String> = (0..1000).map(|i| format!("heavy{i:04}")).collect();
    let tagged = ids
        .iter()
        .map(|id| TaggedResource {
            arn: arn(id),
            tags: vec![("tenant".into(), "acme".into()), ("note".into(), note.clone())],
        })
        .collect();
    let catalog = ids
        .iter()
        .map(|id| CatalogEntry {
            arn: arn(id),
            name: id.clone(),
            status: Some("ACTIVE".into()),
            models: vec![],
        })
        .collect();
    let source = Arc::new(MemorySource::default());
    source.set_region("us-east-1", tagged, catalog);
    source
}

fn all_acme() -> Value {
    json!({"tags": {"tenant": "acme"}, "match": "all"})
}

#[tokio::test]
async fn a_batch_whose_whole_answer_is_over_the_limit_is_too_many_results_on_every_path() {
    let batch = json!({"queries": [all_acme(), all_acme()]});
    for with_extension in [true, false] {
        let hop = hop_over(heavy_source, with_extension, None).await;
        let one = invoke(&hop.app, &all_acme()).await.unwrap();
        assert_eq!(one["profiles"].as_array().unwrap().len(), 1000);
        assert!(one.to_string().len() < MAX_ANSWER_BYTES);

        let err = invoke(&hop.app, &batch).await.unwrap_err();
        assert_eq!(err.error_type, "TooManyResults", "{}", err.message);
        assert!(err.message.contains("2000 profiles"), "{}", err.message);

        let event = v2("POST", "/v1/resolve/batch", "", Some(&batch.to_string()));
        let (status, body, _) = http(&hop.app, &event).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "TooManyResults");
        assert_eq!(body["error"]["count"], 2000);
        if with_extension {
            assert_eq!(
                hop.local.calls(Operation::GetResources),
                0,
                "the extension's TooManyResults is the answer, not a reason to build the region here"
            );
        }
    }
}

#[tokio::test]
async fn a_hundred_copies_of_a_broad_query_are_refused_whole_not_built_into_a_huge_answer() {
    let batch = json!({"queries": vec![all_acme(); 100]});
    let hop = hop_over(heavy_source, true, None).await;
    let event = v2("POST", "/v1/resolve/batch", "", Some(&batch.to_string()));
    let (status, body, resp) = http(&hop.app, &event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("TooManyResults")));
    assert_eq!(body["error"]["count"], 100_000);
    assert!(resp.to_string().len() < 4096, "the refusal is small");
}

#[tokio::test]
async fn the_extension_is_given_no_more_than_the_invoke_has_left() {
    // An extension that accepts connections and never answers, and a client that would wait
    // 20 s for it: the invoke's deadline (2 s) cuts the wait, and the engine here answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let local = engine(&heavy_source());
    let config = Config::from_lookup(|k| (k == "AWS_REGION").then(|| "us-east-1".to_owned())).unwrap();
    let extension = ExtensionClient::new(&url, None, Duration::from_secs(20));
    let app = App::new(
        Backend::new(extension, local),
        &config,
        Metrics::new("resolver-fn", Box::new(Buffer::default())),
    );
    let started = std::time::Instant::now();
    let batch = json!({"queries": [{"tags": {"note": []}, "match": "all"}]});
    let answered = invoke_within(&app, &batch, Duration::from_secs(2)).await.unwrap();
    assert_eq!(answered["results"][0]["status"], 200);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "waited {:?}, past the invoke's deadline",
        started.elapsed()
    );
    held.abort();
}

#[test]
fn a_deadline_that_is_no_epoch_time_bounds_nothing_and_a_real_one_bounds_the_invoke() {
    let now = std::time::UNIX_EPOCH + Duration::from_millis(1_800_000_000_000);
    assert_eq!(crate::invoke_budget(600_000, now), Duration::from_secs(900));
    assert_eq!(crate::invoke_budget(0, now), Duration::from_secs(900));
    assert_eq!(
        crate::invoke_budget(1_800_000_002_000, now),
        Duration::from_millis(2000) - crate::DEADLINE_MARGIN
    );
    assert_eq!(crate::invoke_budget(1_799_999_999_000, now), Duration::ZERO, "passed");
}

#[tokio::test]
async fn a_batch_split_over_several_extension_requests_counts_every_profile_it_refused() {
    // Each query names acme among 20 long values: about 5 KB, so 20 of them take two requests
    // to the extension (64 KiB each), and each request's answer is over the limit.
    let values: Vec<String> = std::iter::once("acme".to_owned())
        .chain((0..19).map(|i| format!("{i:0>250}")))
        .collect();
    let query = json!({"tags": {"tenant": values}, "match": "all"});
    let batch = json!({"queries": vec![query; 20]});
    assert!(batch.to_string().len() > shared::query::MAX_BODY);
    let mut counts = Vec::new();
    for with_extension in [true, false] {
        let hop = hop_over(heavy_source, with_extension, None).await;
        let err = invoke(&hop.app, &batch).await.unwrap_err();
        assert_eq!(err.error_type, "TooManyResults", "{}", err.message);
        counts.push(err.message.clone());
        if with_extension {
            assert_eq!(hop.local.calls(Operation::GetResources), 0, "answered by the extension");
        }
    }
    for message in &counts {
        assert!(message.contains("20000 profiles"), "{message}");
    }
}
