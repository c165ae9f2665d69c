//! The function's configuration: the engine's settings (for the in-process fallback), where the
//! extension is, the token, and tenant isolation.

use shared::config::{ConfigError, EngineConfig, parse};
use shared::logging::LogConfig;
use std::fmt;
use std::time::Duration;

/// `PROFILE_RESOLVER_EXTENSION_URL`
pub const EXTENSION_URL: &str = "PROFILE_RESOLVER_EXTENSION_URL";
/// `PROFILE_RESOLVER_EXTENSION_TIMEOUT_MS`
pub const EXTENSION_TIMEOUT_MS: &str = "PROFILE_RESOLVER_EXTENSION_TIMEOUT_MS";
/// `PROFILE_RESOLVER_TENANT_TAG`
pub const TENANT_TAG: &str = "PROFILE_RESOLVER_TENANT_TAG";
/// `PROFILE_RESOLVER_TENANT_CLAIM`
pub const TENANT_CLAIM: &str = "PROFILE_RESOLVER_TENANT_CLAIM";

/// The tenant tag under Lambda's tenant isolation mode when `PROFILE_RESOLVER_TENANT_TAG` is unset.
pub const DEFAULT_TENANT_TAG: &str = "tenant";

/// Tenant isolation: the tag forced from the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// The tag key that names the tenant (`tenant`).
    pub tag: String,
    /// The authorizer claim that carries it (`custom:tenant`).
    pub claim: String,
}

/// Everything the function reads from the environment.
#[derive(Clone)]
pub struct Config {
    /// The engine, for the in-process fallback.
    pub engine: EngineConfig,
    /// The extension's base URL.
    pub extension_url: String,
    /// How long to wait for the extension before resolving in-process.
    pub extension_timeout: Duration,
    /// The token the extension wants.
    pub token: Option<String>,
    /// Tenant isolation from claims, when both variables are set.
    pub tenancy: Option<Tenancy>,
    /// The tag forced to the invoke's tenant id under Lambda's tenant isolation mode:
    /// `PROFILE_RESOLVER_TENANT_TAG`, else `tenant`.
    pub tenant_tag: String,
    /// The function name, a metric dimension.
    pub function_name: String,
    /// Logging.
    pub log: LogConfig,
    /// Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`):
    /// never frozen; `AWS_LAMBDA_MAX_CONCURRENCY` invokes at once.
    pub managed_instances: bool,
}

impl fmt::Debug for Config {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("engine", &self.engine)
            .field("extension_url", &self.extension_url)
            .field("extension_timeout", &self.extension_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tenancy", &self.tenancy)
            .field("tenant_tag", &self.tenant_tag)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first variable with a bad value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads through `lookup`.
    ///
    /// # Errors
    /// The first variable with a bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let log = LogConfig::from_lookup(&lookup)?;
        let engine = EngineConfig::from_lookup(&lookup)?;
        let extension_url = lookup(EXTENSION_URL).unwrap_or_else(|| "http://127.0.0.1:9797".to_owned());
        if !is_loopback_url(&extension_url) {
            return Err(ConfigError::new(
                EXTENSION_URL,
                "an http:// URL on loopback (127.0.0.0/8, localhost or [::1]) such as http://127.0.0.1:9797; \
                 the token is never sent elsewhere",
            ));
        }
        // By default the function waits a little longer than the extension may wait upstream on a
        // cold start, so that a cold extension is not mistaken for a dead one.
        let default_ms = engine.upstream_timeout.as_millis() as u64 + 1000;
        let ms: u64 = parse(
            &lookup,
            EXTENSION_TIMEOUT_MS,
            default_ms,
            "milliseconds from 1 to 60000",
        )?;
        if !(1..=60_000).contains(&ms) {
            return Err(ConfigError::new(EXTENSION_TIMEOUT_MS, "milliseconds from 1 to 60000"));
        }
        let tag = lookup(TENANT_TAG).filter(|s| !s.is_empty());
        if tag.as_ref().is_some_and(|t| t.chars().count() > 128) {
            return Err(ConfigError::new(TENANT_TAG, "a tag key of 1 to 128 characters"));
        }
        let tenant_tag = tag.clone().unwrap_or_else(|| DEFAULT_TENANT_TAG.to_owned());
        // The tag alone serves Lambda's tenant isolation mode (the tenant id comes with each
        // invoke); claims need both.
        let tenancy = match (tag, lookup(TENANT_CLAIM).filter(|s| !s.is_empty())) {
            (Some(tag), Some(claim)) => Some(Tenancy { tag, claim }),
            (_, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    TENANT_TAG,
                    "a tag key, set together with PROFILE_RESOLVER_TENANT_CLAIM",
                ));
            }
        };
        Ok(Self {
            engine,
            extension_url: extension_url.trim_end_matches('/').to_owned(),
            extension_timeout: Duration::from_millis(ms),
            token: shared::config::token(&lookup),
            tenancy,
            tenant_tag,
            function_name: lookup("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "resolver-fn".to_owned()),
            log,
            managed_instances: lookup("AWS_LAMBDA_INITIALIZATION_TYPE").as_deref() == Some("lambda-managed-instances"),
        })
    }
}

/// Whether `url` is `http://HOST[:PORT][/...]` with a loopback host.
fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    if rest.contains(['?', '#', ' ', '@']) {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, "")) => (host, ""),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) if !port.is_empty() => (host, port),
                _ => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, port),
            None => (authority, ""),
        },
    };
    let port_ok = port.is_empty() || port.parse::<u16>().is_ok();
    let host_ok =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("AWS_REGION", "us-east-1")];
        all.extend_from_slice(pairs);
        Config::from_lookup(shared::config::lookup_from(&all))
    }

    #[test]
    fn defaults_point_at_the_local_extension() {
        let c = config(&[]).unwrap();
        assert_eq!(c.extension_url, "http://127.0.0.1:9797");
        assert_eq!(c.tenancy, None);
        assert_eq!(c.token, None);
    }

    #[test]
    fn the_extension_timeout_outlasts_the_extension_cold_start_wait() {
        assert_eq!(config(&[]).unwrap().extension_timeout, Duration::from_millis(3000));
        let c = config(&[("PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS", "500")]).unwrap();
        assert_eq!(c.extension_timeout, Duration::from_millis(1500));
        assert_eq!(
            config(&[(EXTENSION_TIMEOUT_MS, "250")]).unwrap().extension_timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn tenant_isolation_from_claims_needs_both_variables_and_the_tag_alone_names_the_tenant_id_tag() {
        let c = config(&[(TENANT_TAG, "org"), (TENANT_CLAIM, "custom:tenant")]).unwrap();
        assert_eq!(
            c.tenancy,
            Some(Tenancy {
                tag: "org".into(),
                claim: "custom:tenant".into()
            })
        );
        assert_eq!(c.tenant_tag, "org");
        let tag_only = config(&[(TENANT_TAG, "org")]).unwrap();
        assert_eq!((tag_only.tenancy, tag_only.tenant_tag.as_str()), (None, "org"));
        assert_eq!(config(&[]).unwrap().tenant_tag, "tenant");
        assert_eq!(config(&[(TENANT_CLAIM, "c")]).unwrap_err().variable, TENANT_TAG);
    }

    #[test]
    fn bad_extension_settings_name_their_variable() {
        assert_eq!(
            config(&[(EXTENSION_URL, "https://x")]).unwrap_err().variable,
            EXTENSION_URL
        );
        assert_eq!(
            config(&[(EXTENSION_TIMEOUT_MS, "0")]).unwrap_err().variable,
            EXTENSION_TIMEOUT_MS
        );
    }

    #[test]
    fn the_token_is_only_ever_sent_to_loopback() {
        for ok in [
            "http://127.0.0.1:9797",
            "http://127.9.9.9:1/",
            "http://localhost:9797",
            "http://[::1]:9797",
        ] {
            assert!(config(&[(EXTENSION_URL, ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com:9797",
            "http://10.0.0.1:9797",
            "http://127.0.0.1.example.com:9797",
            "http://user@127.0.0.1:9797",
            "http://127.0.0.1@example.com",
            "http://[::2]:9797",
            "http://127.0.0.1:99999",
            "https://127.0.0.1:9797",
        ] {
            let err = config(&[(EXTENSION_URL, bad)]).unwrap_err();
            assert_eq!(err.variable, EXTENSION_URL, "{bad}");
            assert!(err.to_string().contains(EXTENSION_URL), "{err}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let c = config(&[("AWS_SESSION_TOKEN", "very-secret")]).unwrap();
        assert_eq!(c.token.as_deref(), Some("very-secret"));
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
