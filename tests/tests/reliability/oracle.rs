//! A correctness oracle: seeded random profiles and queries; every answer of the real extension
//! is compared with a straightforward reading of the contract (a linear filter). A wrong ARN or
//! a missed one fails the test. `ORACLE_SEED=n` replays a run.

use crate::helpers::*;
use harness::harness::http;
use harness::harness::lambda::eventually;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const KEYS: [&str; 7] = ["tenant", "Tenant", "app", "env", "ü-key", "k k", "cost:center"];
const VALUES: [&str; 9] = [
    "acme",
    "Acme",
    "globex",
    "",
    "ünïcödé",
    " x",
    "x ",
    "e\u{301}",
    "a/b=c+d",
];

struct Profile {
    arn: String,
    tags: BTreeMap<String, String>,
}

fn world(rng: &mut fastrand::Rng, n: usize) -> Vec<Profile> {
    (0..n)
        .map(|i| {
            let mut tags = BTreeMap::new();
            for _ in 0..rng.usize(1..=4) {
                tags.insert(
                    KEYS[rng.usize(..KEYS.len())].to_owned(),
                    VALUES[rng.usize(..VALUES.len())].to_owned(),
                );
            }
            Profile {
                arn: arn("us-east-1", &format!("o{i:011}")),
                tags,
            }
        })
        .collect()
}

/// `None` means "any value".
type Filters = Vec<(String, Option<Vec<String>>)>;

fn random_query(rng: &mut fastrand::Rng) -> Filters {
    let mut keys: Vec<&str> = KEYS.to_vec();
    rng.shuffle(&mut keys);
    keys.into_iter()
        .take(rng.usize(1..=3))
        .map(|k| {
            let values = (rng.u8(..10) >= 2).then(|| {
                (0..rng.usize(1..=3))
                    .map(|_| VALUES[rng.usize(..VALUES.len())].to_owned())
                    .collect()
            });
            (k.to_owned(), values)
        })
        .collect()
}

/// The contract, read plainly: every key present, and its value one of those listed (if any).
fn expected(world: &[Profile], filters: &Filters) -> Vec<String> {
    let mut arns: Vec<String> = world
        .iter()
        .filter(|p| {
            filters.iter().all(|(k, values)| match (p.tags.get(k), values) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(list)) => list.contains(v),
            })
        })
        .map(|p| p.arn.clone())
        .collect();
    arns.sort();
    arns
}

fn ask(rig: &Rig, filters: &Filters, all: bool, as_get: bool) -> (u16, Value) {
    let mode = if all { "all" } else { "one" };
    let reply = if as_get {
        let mut qs = vec![format!("match={mode}")];
        for (k, values) in filters {
            let key = utf8_percent_encode(k, NON_ALPHANUMERIC);
            match values {
                None => qs.push(format!("tag:{key}")),
                Some(vs) => qs.extend(
                    vs.iter()
                        .map(|v| format!("tag:{key}={}", utf8_percent_encode(v, NON_ALPHANUMERIC))),
                ),
            }
        }
        http::request(
            &rig.ext.url,
            "GET",
            &format!("/v1/resolve?{}", qs.join("&")),
            &[("x-profile-resolver-token", TOKEN)],
            b"",
        )
        .unwrap()
    } else {
        let tags: Map<String, Value> = filters
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or(json!([]), |v| json!(v))))
            .collect();
        rig.ext.resolve(TOKEN, &json!({"tags": tags, "match": mode})).unwrap()
    };
    (reply.status, reply.json())
}

#[test]
fn every_answer_matches_a_plain_reading_of_the_contract() {
    let seed = std::env::var("ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("oracle seed {seed} (ORACLE_SEED={seed} replays it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let profiles = world(&mut rng, 300);
    let rig = Rig::start(
        "oracle",
        RigOptions {
            ttl: "600",
            ..RigOptions::default()
        },
        |emu| {
            emu.clear_seed().unwrap();
            let seed_doc: Vec<Value> = profiles
                .iter()
                .map(|p| {
                    let id = p.arn.rsplit('/').next().unwrap();
                    json!({"region": "us-east-1", "name": id, "id": id, "model": MODEL, "tags": p.tags})
                })
                .collect();
            emu.seed(&json!({ "profiles": seed_doc })).unwrap();
        },
    );
    let ready = eventually(Duration::from_secs(15), || {
        (rig.health()["regions"]["us-east-1"]["profiles"] == 300).then_some(())
    });
    assert!(ready.is_some(), "{}", rig.ext.logs());
    let (mut checked, mut nonempty) = (0, 0);
    for i in 0..500 {
        let filters = random_query(&mut rng);
        let want = expected(&profiles, &filters);
        let (all, as_get) = (rng.bool(), i % 4 == 0);
        let (status, body) = ask(&rig, &filters, all, as_get);
        let context = format!("seed {seed}, query {i}: {filters:?} (all={all}, get={as_get}) -> {status} {body}");
        if all {
            assert_eq!(status, 200, "{context}");
            let got: Vec<String> = body["profiles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["arn"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got, want, "{context}");
        } else {
            match want.len() {
                0 => assert_eq!(
                    (status, body["error"]["code"].as_str()),
                    (404, Some("NoMatch")),
                    "{context}"
                ),
                1 => {
                    assert_eq!(
                        (status, body["profile"]["arn"].as_str()),
                        (200, Some(want[0].as_str())),
                        "{context}"
                    );
                    let tags: BTreeMap<String, String> =
                        serde_json::from_value(body["profile"]["tags"].clone()).unwrap();
                    let original = &profiles.iter().find(|p| p.arn == want[0]).unwrap().tags;
                    assert_eq!(&tags, original, "{context}");
                }
                _ => {
                    assert_eq!(status, 409, "{context}");
                    let candidates: Vec<String> = serde_json::from_value(body["error"]["candidates"].clone()).unwrap();
                    let listed = want.len().min(shared::resolver::MAX_CANDIDATES);
                    assert_eq!(candidates, want[..listed], "{context}");
                    assert_eq!(body["error"]["count"], want.len(), "{context}");
                }
            }
        }
        checked += 1;
        nonempty += usize::from(!want.is_empty());
    }
    assert_eq!(checked, 500);
    assert!(
        nonempty > 50,
        "the generator must produce matching queries too ({nonempty} of 500)"
    );
}
