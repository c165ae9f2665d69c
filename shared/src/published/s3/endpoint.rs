//! Where an S3 request goes: the URL of an object, as the SDK's endpoint rules give it for the
//! cases fleet mode meets.
//!
//! - An endpoint override (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or the SDK config's
//!   `endpoint_url`), as for moto or a VPC endpoint: path-style, `{endpoint}/{bucket}/{key}`.
//! - AWS: virtual-hosted style, `https://{bucket}.s3.{region}.amazonaws.com/{key}`, with the
//!   `s3-fips` and `s3.dualstack` hosts when the configuration asks for them, and the
//!   `amazonaws.com.cn` domain in the China regions. A bucket whose name holds a dot cannot be
//!   a TLS host name under `*.s3…`, so it is addressed path-style, as the SDK does.
//! - Any other partition (the ISO regions, the European Sovereign Cloud, one added later) has
//!   hosts of its own that this client does not guess: every call fails, naming the region and
//!   `AWS_ENDPOINT_URL_S3` as the remedy, rather than go to a wrong host.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What SigV4 leaves unescaped in an S3 path: RFC 3986's unreserved characters and `/`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// How to reach one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme and authority with the path that comes before the key, without a final `/`:
    /// `https://bucket.s3.us-east-1.amazonaws.com` or `http://127.0.0.1:5000/bucket`; or why
    /// there is none.
    base: Result<String, String>,
}

/// The DNS suffix of `region`'s partition, for the partitions this client knows: the
/// commercial regions, GovCloud (`amazonaws.com`) and China (`amazonaws.com.cn`).
pub fn dns_suffix(region: &str) -> Option<&'static str> {
    const COMMERCIAL: &[&str] = &["us-", "eu-", "ap-", "sa-", "ca-", "me-", "af-", "il-", "mx-"];
    if region.starts_with("cn-") {
        Some("amazonaws.com.cn")
    } else if region.starts_with("us-iso") {
        None
    } else if COMMERCIAL.iter().any(|p| region.starts_with(p)) {
        Some("amazonaws.com")
    } else {
        None
    }
}

/// The endpoint options of an SDK configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// An endpoint override, if any.
    pub endpoint_url: Option<String>,
    /// `AWS_USE_FIPS_ENDPOINT`.
    pub fips: bool,
    /// `AWS_USE_DUALSTACK_ENDPOINT`.
    pub dual_stack: bool,
}

impl Endpoint {
    /// The endpoint of `bucket` in `region`.
    pub fn new(bucket: &str, region: &str, options: &Options) -> Self {
        let base = match options.endpoint_url.as_deref() {
            Some(url) => format!("{}/{bucket}", url.trim_end_matches('/')),
            None => match dns_suffix(region) {
                None => {
                    return Self {
                        base: Err(format!(
                            "S3 in {region} is in a partition this client does not know the hosts of; \
                             set AWS_ENDPOINT_URL_S3 to its S3 endpoint"
                        )),
                    };
                }
                Some(domain) => {
                    let service = match (options.fips, options.dual_stack) {
                        (true, true) => "s3-fips.dualstack",
                        (true, false) => "s3-fips",
                        (false, true) => "s3.dualstack",
                        (false, false) => "s3",
                    };
                    if bucket.contains('.') {
                        format!("https://{service}.{region}.{domain}/{bucket}")
                    } else {
                        format!("https://{bucket}.{service}.{region}.{domain}")
                    }
                }
            },
        };
        Self { base: Ok(base) }
    }

    /// The URL of `key`, each byte outside the unreserved set percent-encoded once.
    ///
    /// # Errors
    /// The region's partition is not one this client knows (see the module docs).
    pub fn object_url(&self, key: &str) -> Result<String, String> {
        let base = self.base.as_ref().map_err(Clone::clone)?;
        Ok(format!("{base}/{}", utf8_percent_encode(key, KEY)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn aws() -> Options {
        Options::default()
    }

    #[test]
    fn a_bucket_on_aws_is_addressed_virtual_hosted_style() {
        let e = Endpoint::new("fleet-snapshots", "eu-west-1", &aws());
        assert_eq!(
            e.object_url("prod/eu-west-1.json").unwrap(),
            "https://fleet-snapshots.s3.eu-west-1.amazonaws.com/prod/eu-west-1.json"
        );
    }

    #[test]
    fn a_bucket_with_a_dot_is_addressed_path_style_on_aws() {
        let e = Endpoint::new("acme.snapshots", "us-east-1", &aws());
        assert_eq!(
            e.object_url("us-east-1.json").unwrap(),
            "https://s3.us-east-1.amazonaws.com/acme.snapshots/us-east-1.json"
        );
    }

    #[test]
    fn fips_dual_stack_and_china_pick_their_hosts() {
        let fips = Options { fips: true, ..aws() };
        let dual = Options {
            dual_stack: true,
            ..aws()
        };
        let both = Options {
            fips: true,
            dual_stack: true,
            ..aws()
        };
        assert_eq!(
            Endpoint::new("b-1", "us-gov-west-1", &fips).object_url("k").unwrap(),
            "https://b-1.s3-fips.us-gov-west-1.amazonaws.com/k"
        );
        assert_eq!(
            Endpoint::new("b-1", "us-east-1", &dual).object_url("k").unwrap(),
            "https://b-1.s3.dualstack.us-east-1.amazonaws.com/k"
        );
        assert_eq!(
            Endpoint::new("b-1", "us-east-1", &both).object_url("k").unwrap(),
            "https://b-1.s3-fips.dualstack.us-east-1.amazonaws.com/k"
        );
        assert_eq!(
            Endpoint::new("b-1", "cn-north-1", &aws()).object_url("k").unwrap(),
            "https://b-1.s3.cn-north-1.amazonaws.com.cn/k"
        );
    }

    #[test]
    fn an_endpoint_override_is_addressed_path_style() {
        let local = Options {
            endpoint_url: Some("http://127.0.0.1:5000/".to_owned()),
            ..aws()
        };
        assert_eq!(
            Endpoint::new("fleet", "us-east-1", &local)
                .object_url("a/us-east-1.json")
                .unwrap(),
            "http://127.0.0.1:5000/fleet/a/us-east-1.json"
        );
    }

    #[test]
    fn a_partition_whose_hosts_it_does_not_know_is_refused_not_guessed() {
        for region in ["us-iso-east-1", "us-isob-east-1", "eusc-de-east-1", "xx-new-1"] {
            let why = Endpoint::new("b-1", region, &aws()).object_url("k").unwrap_err();
            assert!(why.contains(region) && why.contains("AWS_ENDPOINT_URL_S3"), "{why}");
        }
        let over = Options {
            endpoint_url: Some("https://s3.eusc-de-east-1.example".to_owned()),
            ..aws()
        };
        assert!(Endpoint::new("b-1", "eusc-de-east-1", &over).object_url("k").is_ok());
        assert!(Endpoint::new("b-1", "us-gov-east-1", &aws()).object_url("k").is_ok());
    }

    #[test]
    fn a_key_is_percent_encoded_once_except_unreserved_bytes_and_slashes() {
        let e = Endpoint::new("b-1", "us-east-1", &aws());
        assert_eq!(
            e.object_url("team a/ü+x=~_.-.json").unwrap(),
            "https://b-1.s3.us-east-1.amazonaws.com/team%20a/%C3%BC%2Bx%3D~_.-.json"
        );
    }
}
