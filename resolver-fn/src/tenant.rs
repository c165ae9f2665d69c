//! Tenant isolation from authorizer claims: the query's tenant tag is forced to the claim's
//! value; naming another tenant is 403; no claim is 401. Each query of a batch is checked alone.

use crate::config::Tenancy;
use serde_json::Value;
use shared::query::{Query, ValueFilter};
use shared::{ApiError, ErrorCode};

/// The claim's value from an HTTP event's authorizer, wherever that event type puts it:
/// - HTTP API (v2): `requestContext.authorizer.jwt.claims` or `requestContext.authorizer.lambda`;
/// - REST API (v1): `requestContext.authorizer.claims` (Cognito) or `requestContext.authorizer`
///   itself (a Lambda authorizer's context).
///
/// Function URLs and ALB carry no authorizer claims, so under tenant isolation they get 401.
pub fn claim(event: &Value, name: &str) -> Option<String> {
    let authorizer = event.pointer("/requestContext/authorizer")?;
    let candidates = [
        authorizer.pointer("/jwt/claims").and_then(|c| c.get(name)),
        authorizer.get("lambda").and_then(|c| c.get(name)),
        authorizer.get("claims").and_then(|c| c.get(name)),
        authorizer.get(name),
    ];
    candidates.into_iter().flatten().find_map(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Forces the tenant tag of `query` to `tenant`, or refuses a query that names another tenant.
///
/// # Errors
/// `Forbidden` when the query asks for another tenant, several tenants, or any tenant.
pub fn enforce(query: &mut Query, tenancy: &Tenancy, tenant: &str) -> Result<(), ApiError> {
    let allowed = ValueFilter::OneOf(vec![tenant.to_owned()]);
    match query.tags.get(&tenancy.tag) {
        None => {
            query.tags.insert(tenancy.tag.clone(), allowed);
            Ok(())
        }
        Some(filter) if *filter == allowed => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("the query names a {} other than the caller's", tenancy.tag),
        )),
    }
}

/// The 401 for a request without the claim.
pub fn missing(tenancy: &Tenancy) -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        format!("the request carries no {} claim from its authorizer", tenancy.claim),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenancy() -> Tenancy {
        Tenancy {
            tag: "tenant".into(),
            claim: "custom:tenant".into(),
        }
    }

    fn q(body: &str) -> Query {
        Query::from_json_bytes(body.as_bytes()).unwrap()
    }

    #[test]
    fn claims_are_found_in_each_authorizer_shape() {
        let v2_jwt = json!({"requestContext": {"authorizer": {"jwt": {"claims": {"custom:tenant": "acme"}}}}});
        let v2_lambda = json!({"requestContext": {"authorizer": {"lambda": {"custom:tenant": "acme"}}}});
        let v1_cognito = json!({"requestContext": {"authorizer": {"claims": {"custom:tenant": "acme"}}}});
        let v1_lambda = json!({"requestContext": {"authorizer": {"custom:tenant": "acme", "principalId": "x"}}});
        for event in [v2_jwt, v2_lambda, v1_cognito, v1_lambda] {
            assert_eq!(claim(&event, "custom:tenant").as_deref(), Some("acme"), "{event}");
        }
        assert_eq!(
            claim(&json!({"requestContext": {"authorizer": {"iam": {}}}}), "custom:tenant"),
            None
        );
        assert_eq!(
            claim(
                &json!({"requestContext": {"authorizer": {"custom:tenant": ""}}}),
                "custom:tenant"
            ),
            None
        );
    }

    #[test]
    fn a_query_without_the_tenant_tag_gets_the_callers() {
        let mut query = q(r#"{"tags": {"app": "chat"}}"#);
        enforce(&mut query, &tenancy(), "acme").unwrap();
        assert_eq!(query.tags["tenant"], ValueFilter::OneOf(vec!["acme".into()]));
    }

    #[test]
    fn the_callers_own_tenant_passes() {
        let mut query = q(r#"{"tags": {"tenant": "acme", "app": "chat"}}"#);
        assert!(enforce(&mut query, &tenancy(), "acme").is_ok());
    }

    #[test]
    fn another_tenant_several_tenants_or_any_tenant_is_forbidden() {
        for body in [
            r#"{"tags": {"tenant": "globex"}}"#,
            r#"{"tags": {"tenant": ["acme", "globex"]}}"#,
            r#"{"tags": {"tenant": []}}"#,
        ] {
            let err = enforce(&mut q(body), &tenancy(), "acme").unwrap_err();
            assert_eq!(err.code, ErrorCode::Forbidden, "{body}");
        }
    }
}
