//! Seed files: profiles to load at start (`--seed FILE`) or through `POST /_emulator/seed`.
//!
//! ```json
//! {"profiles": [{"region": "us-east-1", "account": "123456789012", "name": "claims-chat",
//!                "model": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
//!                "tags": {"dept": "claims", "tenant": "acme"}, "id": "optional12chr"}]}
//! ```
//! `account` defaults to 123456789012 and `id` to a random one. Seeded tags skip Bedrock's tag
//! character rules (only the length limits apply), so tests can model tags set by other tools.

use super::state::{DEFAULT_ACCOUNT, State, StoredProfile, epoch_seconds, new_id};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// A seed document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The profiles.
    pub profiles: Vec<SeedProfile>,
}

/// One seeded profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProfile {
    /// Region.
    pub region: String,
    /// Account; defaults to 123456789012.
    pub account: Option<String>,
    /// Name.
    pub name: String,
    /// The source model ARN.
    pub model: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A fixed id (12 lowercase alphanumerics); random when absent.
    pub id: Option<String>,
}

/// Loads a seed into the state.
///
/// # Errors
/// A message naming the first bad profile.
pub fn load(state: &mut State, seed: Seed) -> Result<usize, String> {
    let n = seed.profiles.len();
    for (i, p) in seed.profiles.into_iter().enumerate() {
        let id = p.id.unwrap_or_else(new_id);
        let valid_id = id.len() == 12 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid_id {
            return Err(format!("profiles[{i}].id must be 12 lowercase alphanumerics"));
        }
        if p.tags.len() > super::state::MAX_TAGS
            || p.tags
                .iter()
                .any(|(k, v)| k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256)
        {
            return Err(format!("profiles[{i}].tags break the tag limits"));
        }
        let profile = StoredProfile {
            region: p.region,
            account: p.account.unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned()),
            id,
            name: p.name,
            description: None,
            models: vec![p.model],
            ever_tagged: !p.tags.is_empty(),
            tags: p.tags.into_iter().collect(),
            created_at: epoch_seconds(SystemTime::now()),
        };
        state
            .insert(profile)
            .map_err(|e| format!("profiles[{i}]: {}", e.message))?;
    }
    Ok(n)
}
