//! The extension's configuration: the engine's settings plus the listen address, the port and
//! the token.

use shared::config::{ConfigError, EngineConfig, parse};
use shared::logging::LogConfig;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// `PROFILE_RESOLVER_PORT`
pub const PORT: &str = "PROFILE_RESOLVER_PORT";
/// `PROFILE_RESOLVER_LISTEN_ADDRESS`
pub const LISTEN_ADDRESS: &str = "PROFILE_RESOLVER_LISTEN_ADDRESS";
/// `PROFILE_RESOLVER_TOKEN`
pub const TOKEN: &str = "PROFILE_RESOLVER_TOKEN";
/// `PROFILE_RESOLVER_AUTH`
pub const AUTH: &str = "PROFILE_RESOLVER_AUTH";
/// `PROFILE_RESOLVER_MAX_CONNECTIONS`
pub const MAX_CONNECTIONS: &str = "PROFILE_RESOLVER_MAX_CONNECTIONS";

/// `AWS_LAMBDA_INITIALIZATION_TYPE`, which Lambda sets for extensions and runtimes.
pub const INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
/// `AWS_LAMBDA_RUNTIME_API`: the Extensions API's address, set inside Lambda only.
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// Where the extension runs, which decides what keeps its data fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Classic Lambda: the sandbox freezes between invokes; refreshes run inside invokes.
    Classic,
    /// Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`):
    /// never frozen, many invokes at once, extensions may register for `SHUTDOWN` only.
    ManagedInstances,
    /// No `AWS_LAMBDA_RUNTIME_API`: a plain process (a sidecar on ECS, EKS or EC2), never
    /// frozen, stopped by `SIGTERM` or `SIGINT`.
    Agent,
}

/// How `/v1/` requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `X-Profile-Resolver-Token` must equal this.
    Token(String),
    /// `PROFILE_RESOLVER_AUTH=disabled`: no check.
    Disabled,
}

impl fmt::Debug for Auth {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Disabled => f.write_str("Disabled"),
        }
    }
}

/// Everything the extension reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The engine.
    pub engine: EngineConfig,
    /// The loopback address it listens on (`127.0.0.1` unless set).
    pub address: IpAddr,
    /// Port on that address.
    pub port: u16,
    /// The token check.
    pub auth: Auth,
    /// The most connections served at once; more get 429.
    pub max_connections: usize,
    /// Logging.
    pub log: LogConfig,
    /// Where it runs under Lambda.
    pub platform: Platform,
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
    /// The first variable with a bad value, or no token source without `AUTH=disabled`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let log = LogConfig::from_lookup(&lookup)?;
        let engine = EngineConfig::from_lookup(&lookup)?;
        let port: u16 = parse(&lookup, PORT, 9797, "a port from 1 to 65535")?;
        if port == 0 {
            return Err(ConfigError::new(PORT, "a port from 1 to 65535"));
        }
        // A sidecar may need another loopback address (an IPv6-only pod's `::1`), never one
        // that other hosts reach: the token would travel off the host.
        let address = match lookup(LISTEN_ADDRESS).filter(|v| !v.is_empty()) {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(v) => v
                .parse::<IpAddr>()
                .ok()
                .filter(IpAddr::is_loopback)
                .ok_or_else(|| ConfigError::new(LISTEN_ADDRESS, "a loopback address: 127.0.0.0/8 or ::1"))?,
        };
        let max_connections: usize = parse(&lookup, MAX_CONNECTIONS, 256, "a number from 1 to 65536")?;
        if !(1..=65_536).contains(&max_connections) {
            return Err(ConfigError::new(MAX_CONNECTIONS, "a number from 1 to 65536"));
        }
        let auth = match lookup(AUTH).as_deref() {
            Some("disabled") => Auth::Disabled,
            None | Some("token") => {
                let token = shared::config::token(&lookup).ok_or_else(|| {
                    ConfigError::new(
                        TOKEN,
                        "a token (or AWS_SESSION_TOKEN / AWS_CONTAINER_AUTHORIZATION_TOKEN); \
                             set PROFILE_RESOLVER_AUTH=disabled to run without one",
                    )
                })?;
                Auth::Token(token)
            }
            Some(_) => return Err(ConfigError::new(AUTH, "token or disabled")),
        };
        let platform = match (lookup(RUNTIME_API), lookup(INITIALIZATION_TYPE).as_deref()) {
            (None, _) => Platform::Agent,
            (Some(_), Some("lambda-managed-instances")) => Platform::ManagedInstances,
            (Some(_), _) => Platform::Classic,
        };
        Ok(Self {
            engine,
            address,
            port,
            auth,
            max_connections,
            log,
            platform,
        })
    }
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
    fn the_token_comes_from_the_first_variable_that_is_set() {
        let c = config(&[
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container"),
        ])
        .unwrap();
        assert_eq!(c.auth, Auth::Token("session".into()));
        let c = config(&[(TOKEN, "mine"), ("AWS_SESSION_TOKEN", "session")]).unwrap();
        assert_eq!(c.auth, Auth::Token("mine".into()));
        let c = config(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container")]).unwrap();
        assert_eq!(c.auth, Auth::Token("container".into()));
    }

    #[test]
    fn without_any_token_start_up_fails_unless_auth_is_disabled() {
        assert_eq!(config(&[]).unwrap_err().variable, TOKEN);
        assert_eq!(config(&[(AUTH, "disabled")]).unwrap().auth, Auth::Disabled);
        assert_eq!(config(&[(AUTH, "off")]).unwrap_err().variable, AUTH);
    }

    #[test]
    fn port_defaults_to_9797_and_bad_ports_name_the_variable() {
        assert_eq!(config(&[(AUTH, "disabled")]).unwrap().port, 9797);
        for bad in ["0", "65536", "http"] {
            assert_eq!(config(&[(AUTH, "disabled"), (PORT, bad)]).unwrap_err().variable, PORT);
        }
    }

    #[test]
    fn the_listen_address_is_127_0_0_1_unless_another_loopback_address_is_set() {
        let base = [(AUTH, "disabled")];
        assert_eq!(config(&base).unwrap().address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        for good in ["::1", "127.0.0.2"] {
            let c = config(&[(AUTH, "disabled"), (LISTEN_ADDRESS, good)]).unwrap();
            assert_eq!(c.address, good.parse::<IpAddr>().unwrap());
        }
        for bad in ["0.0.0.0", "::", "10.0.0.5", "localhost", "127.0.0.1:9797", "[::1]"] {
            let err = config(&[(AUTH, "disabled"), (LISTEN_ADDRESS, bad)]).unwrap_err();
            assert_eq!(err.variable, LISTEN_ADDRESS, "{bad}");
        }
    }

    #[test]
    fn the_platform_is_told_by_the_runtime_api_and_the_initialization_type() {
        let api = (RUNTIME_API, "127.0.0.1:9001");
        let lmi = config(&[
            (AUTH, "disabled"),
            api,
            (INITIALIZATION_TYPE, "lambda-managed-instances"),
        ])
        .unwrap();
        assert_eq!(lmi.platform, Platform::ManagedInstances);
        for other in ["on-demand", "provisioned-concurrency", "snap-start"] {
            let c = config(&[(AUTH, "disabled"), api, (INITIALIZATION_TYPE, other)]).unwrap();
            assert_eq!(c.platform, Platform::Classic, "{other}");
        }
        assert_eq!(config(&[(AUTH, "disabled"), api]).unwrap().platform, Platform::Classic);
        assert_eq!(config(&[(AUTH, "disabled")]).unwrap().platform, Platform::Agent);
        let lmi_vars_outside_lambda = [(AUTH, "disabled"), (INITIALIZATION_TYPE, "lambda-managed-instances")];
        assert_eq!(config(&lmi_vars_outside_lambda).unwrap().platform, Platform::Agent);
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let c = config(&[(TOKEN, "s3cr3t-value")]).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }
}
