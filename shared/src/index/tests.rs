#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::query::Query;

type Tags = Vec<(Arc<str>, Arc<str>)>;

fn tags(pairs: &[(&str, String)]) -> Tags {
    let mut t: Tags = pairs
        .iter()
        .map(|(k, v)| (Arc::from(*k), Arc::from(v.as_str())))
        .collect();
    t.sort();
    t
}

/// The positions a scan of every profile finds: what the index must return.
fn scan(profiles: &[Tags], query: &Query) -> Postings {
    (0u32..)
        .zip(profiles)
        .filter(|(_, tags)| {
            query.tags.iter().all(|(key, filter)| {
                let value = tags.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v.as_ref());
                match (filter, value) {
                    (_, None) => false,
                    (ValueFilter::AnyValue, Some(_)) => true,
                    (ValueFilter::OneOf(values), Some(v)) => values.iter().any(|w| w == v),
                }
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// `"key": [...]` with 0 to 2 of the key's values (0: any value).
fn values(rng: &mut fastrand::Rng, key: &str, m: usize) -> String {
    let vs: Vec<String> = (0..rng.usize(..3))
        .map(|_| format!("\"{}{}\"", &key[..1], rng.usize(..m)))
        .collect();
    format!("\"{key}\": [{}]", vs.join(","))
}

#[test]
fn each_list_is_stored_in_the_form_its_density_calls_for() {
    assert_eq!(List::from_sorted(vec![7], 1000), List::One(7));
    assert!(matches!(List::from_sorted((0..15).collect(), 1000), List::Sorted(_)));
    assert!(matches!(
        List::from_sorted((0..16).collect(), 1000),
        List::Bits { count: 16, .. }
    ));
    assert!(matches!(List::from_sorted((0..40).collect(), 3000), List::Sorted(_)));
    let dense = List::from_sorted((0..100).map(|i| i * 3).collect(), 300);
    assert!(matches!(dense, List::Bits { count: 100, .. }));
    assert_eq!(dense.positions(), (0..100).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn galloping_finds_each_target_and_never_moves_back() {
    let list: Vec<u32> = (0..1000).map(|i| i * 2).collect();
    let mut cursor = 0;
    for target in 0..2100u32 {
        let before = cursor;
        assert_eq!(
            gallop(&list, &mut cursor, target),
            target % 2 == 0 && target < 2000,
            "{target}"
        );
        assert!(cursor >= before);
    }
}

#[test]
fn every_query_finds_what_a_scan_of_every_profile_finds() {
    // Keys from unique to near-universal, so that every list form meets every other in an
    // intersection: `id` (one per value), `mob` (sorted arrays in the larger snapshots),
    // `tenant`, `app` and `tier` (bitmaps), `rare` (on some profiles only).
    let mut rng = fastrand::Rng::with_seed(7);
    let mut found = 0;
    for n in [1usize, 31, 64, 65, 500, 4_000] {
        let profiles: Vec<Tags> = (0..n)
            .map(|i| {
                let mut pairs = vec![
                    ("id", i.to_string()),
                    ("tenant", format!("t{}", rng.usize(..40))),
                    ("app", format!("a{}", rng.usize(..3))),
                    ("tier", format!("t{}", rng.usize(..2))),
                    ("mob", format!("m{}", rng.usize(..300))),
                ];
                if rng.u8(..10) == 0 {
                    pairs.push(("rare", format!("r{}", rng.usize(..2))));
                }
                tags(&pairs)
            })
            .collect();
        let index = Index::build(profiles.iter().map(Vec::as_slice));
        if n == 4_000 {
            let has = |key: &str, form: fn(&List) -> bool| index.keys[key].by_value.values().any(form);
            assert!(has("mob", |l| matches!(l, List::Sorted(_))), "the arrays are exercised");
            assert!(
                has("tenant", |l| matches!(l, List::Bits { .. })),
                "the bitmaps are exercised"
            );
        }
        for _ in 0..300 {
            let mut parts = Vec::new();
            for (key, m) in [
                ("tenant", 40),
                ("app", 3),
                ("tier", 2),
                ("rare", 2),
                ("mob", 300),
                ("id", n.max(1)),
            ] {
                if rng.bool() {
                    parts.push(if key == "id" {
                        format!("\"id\": [\"{}\"]", rng.usize(..n + 1))
                    } else {
                        values(&mut rng, key, m)
                    });
                }
            }
            let json = format!(r#"{{"tags": {{{}}}, "match": "all"}}"#, parts.join(","));
            let query = Query::from_json_bytes(json.as_bytes()).unwrap();
            let expected = scan(&profiles, &query);
            found += usize::from(expected.len() > 1);
            assert_eq!(index.matches(&query), expected, "n={n} {json}");
        }
    }
    assert!(found > 300, "too few queries matched more than one profile: {found}");
    let index = Index::build([tags(&[("mob", "m1".into())])].iter().map(Vec::as_slice));
    assert!(matches!(index.keys["mob"].any, List::One(0)));
}
