//! Lambda's tenant isolation mode: the invoke's tenant id (set by the invoker, never by the
//! event) pins every kind of event to that tenant, direct invokes included.

use super::*;

async fn as_tenant(app: &App, payload: &Value, tenant: &str) -> Result<Value, FnError> {
    invoke_as(app, payload, Duration::from_secs(30), Some(tenant)).await
}

#[tokio::test]
async fn a_direct_invoke_with_a_tenant_id_is_pinned_to_it_and_cannot_name_another_tenant() {
    let w = world(None);
    // Ambiguous for the whole organisation; globex has one chat profile.
    let answer = as_tenant(&w.app, &json!({"tags": {"app": "chat"}}), "globex")
        .await
        .unwrap();
    assert_eq!(answer["profile"]["arn"], arn("p3"));
    for other in [
        json!({"tags": {"tenant": "acme", "app": "batch"}}),
        json!({"tags": {"tenant": ["acme", "globex"]}}),
        json!({"tags": {"tenant": []}, "match": "all"}),
    ] {
        let err = as_tenant(&w.app, &other, "globex").await.unwrap_err();
        assert_eq!(err.error_type, "Forbidden", "{other}");
    }
    // Without a tenant id, direct invokes stay trusted.
    let trusted = invoke(&w.app, &json!({"tags": {"tenant": "acme", "app": "batch"}}))
        .await
        .unwrap();
    assert_eq!(trusted["profile"]["arn"], arn("p2"));
}

#[tokio::test]
async fn a_batch_and_a_reverse_lookup_are_pinned_too() {
    let w = world(None);
    let batch = json!({"queries": [{"tags": {"app": "chat"}}, {"tags": {"tenant": "acme"}, "match": "all"}]});
    let answer = as_tenant(&w.app, &batch, "globex").await.unwrap();
    assert_eq!(answer["results"][0]["profile"]["arn"], arn("p3"));
    assert_eq!(answer["results"][1]["status"], 403);
    let own = as_tenant(&w.app, &json!({"profile": arn("p3")}), "globex")
        .await
        .unwrap();
    assert_eq!(own["profile"]["arn"], arn("p3"));
    let other = as_tenant(&w.app, &json!({"profile": arn("p1")}), "globex")
        .await
        .unwrap_err();
    assert_eq!(other.error_type, "NoMatch", "another tenant's profile looks unknown");
}

#[tokio::test]
async fn an_http_event_is_pinned_to_the_tenant_id_with_or_without_claim_isolation() {
    let event = v2("POST", "/v1/resolve", "", Some(r#"{"tags": {"app": "chat"}}"#));
    let w = world(None);
    let resp = as_tenant(&w.app, &event, "globex").await.unwrap();
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["profile"]["arn"], arn("p3"));
    // Under claim isolation the tenant id stands in for a missing claim, and a claim that
    // names another tenant is refused.
    let w = world(tenancy());
    let resp = as_tenant(&w.app, &event, "globex").await.unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let claimed = v2_jwt(r#"{"tags": {"app": "chat"}}"#, json!({"custom:tenant": "acme"}));
    let resp = as_tenant(&w.app, &claimed, "globex").await.unwrap();
    assert_eq!(resp["statusCode"], 403, "{resp}");
    // Neither a tenant id nor a claim: 401, as before.
    let (status, body, _) = http(&w.app, &event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("Unauthorized")));
}
