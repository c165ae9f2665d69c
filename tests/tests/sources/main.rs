//! shared's SDK-backed sources against the emulator and moto, over real HTTP: paging and the
//! join, ghosts, throttling under SDK retries, pagination-token expiry, and routes from moto.

// A test that cannot set up its world should fail loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

use helpers::*;
use serde_json::json;
use shared::clock::SystemClock;
use shared::snapshot::Snapshot;
use shared::source::bedrock::SdkCatalogSource;
use shared::source::routes::SdkRouteSource;
use shared::source::tagging::SdkTagSource;
use shared::source::{CatalogSource, FailureKind, Heartbeat, Operation, RouteSource, TagSource};
use shared::stats::Stats;
use std::sync::Arc;

fn beat() -> Heartbeat {
    Heartbeat::new(Arc::new(SystemClock))
}

fn regions() -> Vec<String> {
    vec![REGION.to_owned(), "eu-west-1".to_owned()]
}

#[tokio::test]
async fn every_page_is_read_and_joined_with_the_bedrock_catalogue() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 250)).unwrap();
    emu.seed(&seed("eu-west-1", 3)).unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let stats = Arc::new(Stats::default());
    let tags = SdkTagSource::new(&sdk, &regions(), stats.clone());
    let catalog = SdkCatalogSource::new(&sdk, &regions(), stats.clone());

    let tagged = tags.tagged_resources(REGION, &beat()).await.unwrap();
    assert_eq!(tagged.len(), 250);
    assert_eq!(emu.calls("GetResources", REGION).unwrap(), 3, "100 per page");
    let listed = catalog.application_profiles(REGION, &beat()).await.unwrap();
    assert_eq!(
        listed.len(),
        250,
        "system-defined profiles are not listed with typeEquals=APPLICATION"
    );
    assert_eq!(emu.calls("ListInferenceProfiles", REGION).unwrap(), 1);
    assert_eq!(stats.upstream_calls(Operation::GetResources), 3);

    let (snapshot, dropped) = Snapshot::join(tagged, Some(listed));
    assert_eq!((snapshot.len(), dropped), (250, 0));
    let p = &snapshot.profiles()[0];
    assert!(p.name.as_deref().is_some_and(|n| n.starts_with("us-east-1-p")));
    assert_eq!(
        p.models
            .as_deref()
            .map(|m| m.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
        Some(vec![MODEL.to_owned()])
    );
    assert_eq!(p.status.as_deref(), Some("ACTIVE"));

    let west = tags.tagged_resources("eu-west-1", &beat()).await.unwrap();
    assert_eq!(west.len(), 3, "the region comes from the signing scope");
}

#[tokio::test]
async fn a_deleted_profile_comes_back_as_a_ghost_and_the_join_drops_it() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 3)).unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let bedrock = aws_sdk_bedrock::Client::new(&sdk);
    let victim = bedrock
        .list_inference_profiles()
        .send()
        .await
        .unwrap()
        .inference_profile_summaries()
        .iter()
        .find(|s| s.inference_profile_arn().contains("application-inference-profile"))
        .map(|s| s.inference_profile_arn().to_owned())
        .unwrap();
    bedrock
        .delete_inference_profile()
        .inference_profile_identifier(&victim)
        .send()
        .await
        .unwrap();

    let stats = Arc::new(Stats::default());
    let tagged = SdkTagSource::new(&sdk, &regions(), stats.clone())
        .tagged_resources(REGION, &beat())
        .await
        .unwrap();
    let ghost = tagged.iter().find(|r| r.arn == victim).expect("tagging still lists it");
    assert!(ghost.tags.is_empty());
    let listed = SdkCatalogSource::new(&sdk, &regions(), stats)
        .application_profiles(REGION, &beat())
        .await
        .unwrap();
    let (snapshot, dropped) = Snapshot::join(tagged, Some(listed));
    assert_eq!((snapshot.len(), dropped), (2, 1));
    assert!(snapshot.profiles().iter().all(|p| *p.arn != *victim));
}

#[tokio::test]
async fn throttled_pages_are_retried_by_the_sdk() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 250)).unwrap();
    emu.set_fault(json!({"operation": "GetResources", "throttleRate": 0.5}))
        .unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let tagged = SdkTagSource::new(&sdk, &regions(), Arc::default())
        .tagged_resources(REGION, &beat())
        .await
        .unwrap();
    assert_eq!(tagged.len(), 250);
    // Every second call is throttled: page 1 passes, pages 2 and 3 each pass on their retry.
    assert_eq!(emu.calls("GetResources", REGION).unwrap(), 5);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_reported_as_throttling() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 5)).unwrap();
    emu.set_fault(json!({"operation": "GetResources", "throttleRate": 1.0}))
        .unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let err = SdkTagSource::new(&sdk, &regions(), Arc::default())
        .tagged_resources(REGION, &beat())
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        (Operation::GetResources, FailureKind::Throttled)
    );
}

#[tokio::test]
async fn a_listing_that_repeats_its_token_fails_the_build_instead_of_looping() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 350)).unwrap();
    emu.set_fault(json!({"operation": "GetResources", "repeatToken": true}))
        .unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let (source, progress) = (SdkTagSource::new(&sdk, &regions(), Arc::default()), beat());
    let listing = source.tagged_resources(REGION, &progress);
    let err = tokio::time::timeout(std::time::Duration::from_secs(20), listing)
        .await
        .expect("the listing ends")
        .unwrap_err();
    assert_eq!(err.operation, Operation::GetResources);
    assert!(err.message.contains("already returned"), "{}", err.message);
    assert_eq!(
        emu.calls("GetResources", REGION).unwrap(),
        2,
        "page 2 repeated page 1's token: stop there"
    );
}

#[tokio::test]
async fn an_expired_pagination_token_restarts_the_listing_once() {
    let emu = spawn_emulator();
    emu.seed(&seed(REGION, 150)).unwrap();
    emu.settings(json!({"ghostSeconds": 60, "tokenTtlSeconds": 0})).unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let err = SdkTagSource::new(&sdk, &regions(), Arc::default())
        .tagged_resources(REGION, &beat())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::PaginationTokenExpired);
    assert_eq!(
        emu.calls("GetResources", REGION).unwrap(),
        4,
        "two listings of two calls each, then it gives up"
    );
}

#[tokio::test]
async fn a_denied_catalogue_is_reported_as_denied() {
    let emu = spawn_emulator();
    emu.set_fault(json!({"operation": "ListInferenceProfiles", "deny": true}))
        .unwrap();
    let sdk = sdk_config(&emu.url, REGION).await;
    let err = SdkCatalogSource::new(&sdk, &regions(), Arc::default())
        .application_profiles(REGION, &beat())
        .await
        .unwrap_err();
    assert_eq!(
        (err.operation, err.kind),
        (Operation::ListInferenceProfiles, FailureKind::Denied)
    );
}

#[tokio::test]
async fn routes_are_read_recursively_from_moto_and_malformed_ones_are_skipped() {
    let moto = spawn_moto();
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/route1abc";
    let prefix = "/profile-resolver/routes/";
    moto.put_parameter(
        REGION,
        &format!("{prefix}acme"),
        &json!({"tags": {"tenant": "acme"}, "arn": arn}).to_string(),
    )
    .unwrap();
    moto.put_parameter(
        REGION,
        &format!("{prefix}deep/initech"),
        &json!({"tags": {"tenant": "initech"}, "arn": arn}).to_string(),
    )
    .unwrap();
    moto.put_parameter(REGION, &format!("{prefix}broken"), "{not json")
        .unwrap();
    moto.put_parameter(
        REGION,
        &format!("{prefix}wrong-arn"),
        &json!({"tags": {"t": "x"}, "arn": "arn:aws:s3:::b"}).to_string(),
    )
    .unwrap();
    moto.put_parameter(
        REGION,
        "/elsewhere/x",
        &json!({"tags": {"t": "x"}, "arn": arn}).to_string(),
    )
    .unwrap();
    for i in 0..12 {
        moto.put_parameter(
            REGION,
            &format!("{prefix}bulk/{i}"),
            &json!({"tags": {"bulk": i.to_string()}, "arn": arn}).to_string(),
        )
        .unwrap();
    }
    let sdk = sdk_config(&moto.url, REGION).await;
    let stats = Arc::new(Stats::default());
    let mut routes = SdkRouteSource::new(&sdk, prefix, stats.clone())
        .routes(&beat())
        .await
        .unwrap();
    routes.sort_by(|a, b| a.parameter.cmp(&b.parameter));
    let names: Vec<&str> = routes
        .iter()
        .map(|r| r.parameter.as_str())
        .filter(|n| !n.contains("/bulk/"))
        .collect();
    assert_eq!(names, [format!("{prefix}acme"), format!("{prefix}deep/initech")]);
    assert_eq!(routes.len(), 14);
    assert!(
        stats.upstream_calls(Operation::GetParametersByPath) >= 2,
        "more than one page was read"
    );
}
