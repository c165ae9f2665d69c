//! Tenant isolation: the query's tenant tag is forced to the caller's tenant, from Lambda's tenant
//! isolation mode (the invoke's tenant id, set by the invoker) or from an authorizer claim;
//! naming another tenant is 403; an HTTP request without either, under claim isolation, is 401.
//! Each query of a batch is checked alone.

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

/// The caller's tenant: the tag its queries are pinned by, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The tag key.
    pub tag: String,
    /// The tenant.
    pub tenant: String,
}

impl Pin {
    /// Forces the tenant tag of `query` to the tenant, or refuses a query that names another.
    ///
    /// # Errors
    /// `Forbidden` when the query asks for another tenant, several tenants, or any tenant.
    pub fn enforce(&self, mut query: Query) -> Result<Query, ApiError> {
        let allowed = ValueFilter::OneOf(vec![self.tenant.clone()]);
        match query.tags.get(&self.tag) {
            None => {
                query.tags.insert(self.tag.clone(), allowed);
                Ok(query)
            }
            Some(filter) if *filter == allowed => Ok(query),
            Some(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("the query names a {} other than the caller's", self.tag),
            )),
        }
    }
}

/// The pin of an HTTP event: the invoke's tenant id (Lambda's tenant isolation mode) under
/// `tenant_tag`, else the claim under `tenancy`, else none.
///
/// # Errors
/// `Unauthorized` under claim isolation without the claim and without a tenant id; `Forbidden`
/// when both are present and name different tenants.
pub fn http_pin(
    event: &Value,
    tenant_id: Option<&str>,
    tenancy: Option<&Tenancy>,
    tenant_tag: &str,
) -> Result<Option<Pin>, ApiError> {
    let claimed = tenancy.and_then(|t| claim(event, &t.claim));
    match (tenant_id, tenancy) {
        (Some(id), Some(t)) => {
            if claimed.as_deref().is_some_and(|c| c != id) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("the {} claim names another tenant than the invoke's tenant id", t.claim),
                ));
            }
            Ok(Some(Pin {
                tag: t.tag.clone(),
                tenant: id.to_owned(),
            }))
        }
        (Some(id), None) => Ok(Some(Pin {
            tag: tenant_tag.to_owned(),
            tenant: id.to_owned(),
        })),
        (None, Some(t)) => claimed
            .map(|tenant| {
                Some(Pin {
                    tag: t.tag.clone(),
                    tenant,
                })
            })
            .ok_or_else(|| missing(t)),
        (None, None) => Ok(None),
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

    fn pin() -> Pin {
        Pin {
            tag: "tenant".into(),
            tenant: "acme".into(),
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
        let query = pin().enforce(q(r#"{"tags": {"app": "chat"}}"#)).unwrap();
        assert_eq!(query.tags["tenant"], ValueFilter::OneOf(vec!["acme".into()]));
    }

    #[test]
    fn the_callers_own_tenant_passes() {
        assert!(
            pin()
                .enforce(q(r#"{"tags": {"tenant": "acme", "app": "chat"}}"#))
                .is_ok()
        );
    }

    #[test]
    fn another_tenant_several_tenants_or_any_tenant_is_forbidden() {
        for body in [
            r#"{"tags": {"tenant": "globex"}}"#,
            r#"{"tags": {"tenant": ["acme", "globex"]}}"#,
            r#"{"tags": {"tenant": []}}"#,
        ] {
            let err = pin().enforce(q(body)).unwrap_err();
            assert_eq!(err.code, ErrorCode::Forbidden, "{body}");
        }
    }
}
