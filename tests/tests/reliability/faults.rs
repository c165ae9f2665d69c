//! The fault matrix, through the real extension binary with the emulator's fault injection and
//! moto. For each fault: what cached queries get, what a cold region gets, and recovery.

use crate::helpers::*;
use harness::harness::Emulator;
use harness::harness::lambda::eventually;
use serde_json::{Value, json};
use std::time::Duration;

const BUDGET: Duration = Duration::from_millis(TIMEOUT_MS + 1000);

/// What the warm region must get while the fault lasts.
#[derive(Clone, Copy, Debug)]
enum Cached {
    /// Answered, from whatever snapshot (a refresh may still succeed).
    Served,
    /// Answered from the old snapshot.
    Stale,
}

/// Runs one fault: eu-west-1 suffers it from the start (so it is cold), us-east-1 is warmed,
/// then every region suffers it; then it clears.
fn matrix_case(name: &str, filler: usize, fault: Value, cached: Cached, cold_operation: Option<&str>) {
    let limited = {
        let mut f = fault.clone();
        f["regions"] = json!(["eu-west-1"]);
        f
    };
    let rig = Rig::start(
        name,
        RigOptions {
            filler,
            ..RigOptions::default()
        },
        |emu| emu.set_fault(limited).unwrap(),
    );
    rig.warm();
    rig.emu.set_fault(fault).unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    for _ in 0..5 {
        let (status, body, _) = rig.acme("us-east-1");
        assert_eq!(status, 200, "{name}: cached queries are still answered: {body}");
        assert_eq!(
            body["profile"]["arn"],
            arn("us-east-1", "usacmechat01").as_str(),
            "{name}"
        );
        if let Cached::Stale = cached {
            assert_eq!(body["cache"], "stale", "{name}: {body}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body, took) = rig.acme("eu-west-1");
    match cold_operation {
        Some(op) => {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (503, Some("UpstreamUnavailable")),
                "{name}: {body}"
            );
            assert!(
                body["error"]["operation"].as_str().unwrap_or("").contains(op),
                "{name}: {body}"
            );
            assert!(
                body["error"]["message"].as_str().unwrap_or("").contains(op),
                "{name}: the message names {op}: {body}"
            );
            assert!(took < BUDGET, "{name}: the cold region answered in {took:?}");
        }
        // Retries absorb the fault, but a cold request waits only one upstream timeout and the
        // retried build can take longer: the region must answer soon, not necessarily at once.
        None => {
            let answered = status == 200
                || eventually(Duration::from_secs(10), || {
                    (rig.acme("eu-west-1").0 == 200).then_some(())
                })
                .is_some();
            assert!(
                answered,
                "{name}: the cold region answers once the retried build lands: {body}"
            );
        }
    }
    rig.emu.clear_faults().unwrap();
    let recovered = eventually(Duration::from_secs(20), || {
        let (us, us_body, _) = rig.acme("us-east-1");
        let (eu, _, _) = rig.acme("eu-west-1");
        (us == 200 && us_body["cache"] == "hit" && eu == 200).then_some(())
    });
    assert!(
        recovered.is_some(),
        "{name}: recovers once the fault clears: {}",
        rig.ext.logs()
    );
}

#[test]
fn a_quarter_of_tagging_calls_throttled_is_absorbed_by_retries() {
    matrix_case(
        "throttle25",
        150,
        json!({"operation": "GetResources", "throttleRate": 0.25}),
        Cached::Served,
        None,
    );
}

#[test]
fn all_tagging_calls_throttled_serves_stale_and_fails_cold_regions_clearly() {
    matrix_case(
        "throttle100",
        0,
        json!({"operation": "GetResources", "throttleRate": 1.0}),
        Cached::Stale,
        Some("GetResources"),
    );
}

#[test]
fn tagging_down_serves_stale_and_fails_cold_regions_clearly() {
    matrix_case(
        "down",
        0,
        json!({"operation": "GetResources", "down": true}),
        Cached::Stale,
        Some("GetResources"),
    );
}

#[test]
fn tagging_slower_than_the_timeout_serves_stale_and_fails_cold_regions_within_the_budget() {
    let slow = json!({"operation": "GetResources", "latencyMs": TIMEOUT_MS * 3});
    matrix_case("slow", 0, slow, Cached::Stale, Some("GetResources"));
}

#[test]
fn a_malformed_tagging_response_serves_stale_and_fails_cold_regions_clearly() {
    matrix_case(
        "malformed",
        0,
        json!({"operation": "GetResources", "malformed": true}),
        Cached::Stale,
        Some("GetResources"),
    );
}

#[test]
fn pagination_token_expiry_mid_build_serves_stale_and_fails_cold_regions_clearly() {
    let rig = Rig::start(
        "token",
        RigOptions {
            filler: 150,
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    rig.emu
        .settings(json!({"ghostSeconds": 60, "tokenTtlSeconds": 0}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let (status, body, _) = rig.acme("us-east-1");
    assert_eq!(
        (status, body["profile"]["arn"].as_str()),
        (200, Some(arn("us-east-1", "usacmechat01").as_str()))
    );
    let stale = eventually(Duration::from_secs(5), || {
        (rig.acme("us-east-1").1["cache"] == "stale").then_some(())
    });
    assert!(stale.is_some(), "refreshes keep failing on the expired token");
    let failed = eventually(Duration::from_secs(5), || {
        (rig.health()["regions"]["us-east-1"]["lastError"] == "GetResources").then_some(())
    });
    assert!(
        failed.is_some(),
        "the failed refresh names GetResources: {}",
        rig.health()
    );
    rig.emu
        .settings(json!({"ghostSeconds": 60, "tokenTtlSeconds": 900}))
        .unwrap();
    let recovered = eventually(Duration::from_secs(20), || {
        (rig.acme("us-east-1").1["cache"] == "hit").then_some(())
    });
    assert!(recovered.is_some(), "{}", rig.ext.logs());
}

#[test]
fn a_bedrock_denial_or_failure_builds_snapshots_from_tags_alone() {
    for (name, fault) in [
        ("deny", json!({"operation": "ListInferenceProfiles", "deny": true})),
        ("fail", json!({"operation": "ListInferenceProfiles", "errorRate": 1.0})),
    ] {
        let rig = Rig::start(name, RigOptions::default(), |emu: &Emulator| {
            emu.set_fault(fault.clone()).unwrap()
        });
        // The build takes a whole upstream timeout in ListInferenceProfiles, as long as a cold
        // request waits: the first request may still find the region loading.
        let (status, body) = eventually(Duration::from_secs(5), || {
            let (status, body, _) = rig.acme("eu-west-1");
            (status != 503).then_some((status, body))
        })
        .unwrap_or_else(|| panic!("{name}: never answered: {}", rig.ext.logs()));
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["profile"]["arn"], arn("eu-west-1", "euacmechat01").as_str());
        assert!(
            body["profile"].get("models").is_none() && body["profile"].get("status").is_none(),
            "{name}: {body}"
        );
        rig.emu.clear_faults().unwrap();
        let recovered = eventually(Duration::from_secs(20), || {
            let (_, b, _) = rig.acme("eu-west-1");
            b["profile"]["models"].is_array().then_some(())
        });
        assert!(recovered.is_some(), "{name}: models return once Bedrock answers");
    }
}

#[test]
fn ssm_down_keeps_serving_loaded_routes_and_recovers() {
    let mut rig = Rig::start(
        "ssm",
        RigOptions {
            moto: true,
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    let route = || rig_route(&rig);
    assert_eq!(route().0, 200);
    let moto_port: u16 = rig
        .moto
        .as_ref()
        .unwrap()
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    rig.moto.as_mut().unwrap().proc.kill();
    std::thread::sleep(Duration::from_millis(1300));
    for _ in 0..3 {
        let (status, body) = rig_route(&rig);
        assert_eq!(
            (status, body["source"].as_str()),
            (200, Some("parameter-store")),
            "{body}"
        );
        assert_eq!(body["profile"]["arn"], ROUTE_ARN);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(rig.acme("us-east-1").0, 200, "tag answers never needed SSM");
    let moto = harness::harness::Moto::start_on(Some(moto_port)).unwrap();
    put_route(&moto);
    rig.moto = Some(moto);
    let recovered = eventually(Duration::from_secs(20), || {
        (rig_route(&rig).1["cache"] == "hit").then_some(())
    });
    assert!(recovered.is_some(), "{}", rig.ext.logs());
}

fn rig_route(rig: &Rig) -> (u16, Value) {
    let (status, body, _) = rig.resolve("us-east-1", json!({"tenant": "initech"}));
    (status, body)
}

#[test]
fn an_emulator_restart_with_different_data_is_picked_up_and_stale_serves_meanwhile() {
    let mut rig = Rig::start("restart", RigOptions::default(), |_| {});
    rig.warm();
    rig.emu.proc.kill();
    std::thread::sleep(Duration::from_millis(1300));
    let (status, body, _) = rig.acme("us-east-1");
    assert_eq!((status, body["cache"].as_str()), (200, Some("stale")), "{body}");
    let seed = rig.scratch.path("second-seed.json");
    std::fs::write(&seed, org(0, "acmechat02").to_string()).unwrap();
    rig.emu = Emulator::start_on(&rig.emu_listen, Some(&seed)).unwrap();
    let switched = eventually(Duration::from_secs(20), || {
        let (_, b, _) = rig.acme("us-east-1");
        (b["profile"]["arn"] == arn("us-east-1", "usacmechat02").as_str()).then_some(())
    });
    assert!(switched.is_some(), "{}", rig.ext.logs());
    for _ in 0..5 {
        let (_, b, _) = rig.acme("us-east-1");
        assert_eq!(
            b["profile"]["arn"],
            arn("us-east-1", "usacmechat02").as_str(),
            "the old ARN never comes back"
        );
    }
}

#[test]
fn beyond_the_maximum_staleness_a_cached_region_becomes_unavailable() {
    let rig = Rig::start(
        "maxstale",
        RigOptions {
            max_stale: "2",
            ..RigOptions::default()
        },
        |_| {},
    );
    rig.warm();
    rig.emu
        .set_fault(json!({"operation": "GetResources", "throttleRate": 1.0}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(rig.acme("us-east-1").1["cache"], "stale");
    let unavailable = eventually(Duration::from_secs(8), || {
        let (status, body, _) = rig.acme("us-east-1");
        (status == 503).then_some(body)
    })
    .expect("the bound is enforced");
    assert_eq!(unavailable["error"]["operation"], "GetResources");
}
