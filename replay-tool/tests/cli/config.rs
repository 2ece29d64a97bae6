//! `waypoint config` against a running system: a change reaches every instance and changes
//! the gateway's behaviour; a refused change changes nothing; apply, history, diff and get.

use std::time::Duration;

use replay_tool::Outcome;
use serde_json::{Value, json};
use service_kit::discovery::Registry;
use service_kit::settings::RedisSettings;
use system_testkit::{Projection, Service, TestApp};

use crate::support::{Ran, settings_for, waypoint};

const DEADLINE: Duration = Duration::from_secs(20);

/// `waypoint <args> --json`, which must end with `outcome`; its document.
async fn json(app: &TestApp, args: &[&str], outcome: Outcome) -> Value {
    let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
    let ran = waypoint(app, &args).await;
    assert_outcome(&ran, outcome);
    ran.json()
}

fn assert_outcome(ran: &Ran, outcome: Outcome) {
    match &ran.outcome {
        Ok(ended) => assert_eq!(*ended, outcome, "{}", ran.stdout),
        Err(error) => panic!("the command failed: {error}\n{}", ran.stdout),
    }
}

/// Every live instance of `services` and the configuration version it reports.
async fn reported(app: &TestApp, services: &[&str]) -> Vec<(String, Option<i64>)> {
    let registry = Registry::connect(&redis(app)).await.unwrap();
    let mut reported = Vec::new();
    for service in services {
        for instance in registry.instances(service).await.unwrap() {
            reported.push((instance.service, instance.config_version));
        }
    }
    reported
}

/// Waits until every instance of `services` (at least one each) reports `version`.
async fn converged(app: &TestApp, services: &[&str], version: i64) {
    testkit::poll::until(
        &format!("{services:?} to report version {version}"),
        DEADLINE,
        || async {
            let reported = reported(app, services).await;
            let all_there = services
                .iter()
                .all(|service| reported.iter().any(|(name, _)| name == service));
            let all_current = reported
                .iter()
                .all(|(_, applied)| *applied == Some(version));
            (all_there && all_current).then_some(())
        },
    )
    .await;
}

fn redis(app: &TestApp) -> RedisSettings {
    settings_for(app).redis
}

/// Removes what `config` left in this test's Redis prefix (the rest expires by itself).
async fn forget_current(app: &TestApp) {
    let settings = redis(app);
    let mut redis = dynamic_config::broadcast::redis_connection(&settings)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(dynamic_config::broadcast::current_key(&settings.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_set_reaches_every_instance_and_the_gateway_limits_by_it() {
    let app = TestApp::with_services().await;
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let everyone = ["gateway", "places", "review-feed"];

    // Version 1 is the gateway's own defaults: seeding it changes nothing.
    let current = json(&app, &["config", "get"], Outcome::Ok).await;
    assert_eq!(current["version"], 1);
    let limits = &app.settings.rate_limit;
    assert_eq!(
        current["document"]["rate_limit"],
        json!({
            "per_ip_per_s": limits.per_ip_per_s,
            "per_ip_burst": limits.per_ip_burst,
            "per_member_per_s": limits.per_member_per_s,
            "per_member_burst": limits.per_member_burst,
            "fail_open": limits.fail_open,
        })
    );
    assert_eq!(
        current["document"]["commands"]["reply_timeout_ms"],
        app.settings.commands.reply_timeout_ms
    );
    assert_eq!(
        current["document"]["breaker"]["window"],
        app.settings.breaker.window
    );

    // One token every 10 s, so the burst alone decides what passes.
    json(
        &app,
        &["config", "set", "rate_limit.per_ip_per_s", "0.1"],
        Outcome::Ok,
    )
    .await;
    let set = json(
        &app,
        &[
            "config",
            "set",
            "rate_limit.per_ip_burst",
            "3",
            "--wait",
            "20",
        ],
        Outcome::Ok,
    )
    .await;
    assert_eq!(set["status"], "stored");
    assert_eq!(
        (set["version"].clone(), set["previous"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(
        set["changes"],
        json!([{"key": "rate_limit.per_ip_burst", "old": 100, "new": 3}])
    );
    assert_eq!(set["convergence"]["converged"], true, "{set:#}");
    let listed: Vec<&str> = set["convergence"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|instance| instance["service"].as_str())
        .collect();
    for service in everyone {
        assert!(listed.contains(&service), "{service} in {listed:?}");
    }
    // Read back from discovery itself: the gateway, a command service and a projection.
    converged(&app, &everyone, 3).await;
    assert!(
        reported(&app, &["members", "reviews", "ratings"])
            .await
            .iter()
            .all(|(_, applied)| *applied == Some(3))
    );

    // The new burst is in force: three requests pass, the next ones are limited.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.get("/.well-known/jwks.json", None)
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);

    feed.stop().await;
    forget_current(&app).await;
    app.finish().await;
}

#[tokio::test]
async fn an_invalid_value_is_refused_and_nothing_changes() {
    let mut app = TestApp::new().await;
    app.start_service(Service::Places).await;
    app.start_gateway().await;
    let everyone = ["gateway", "places"];
    let set = json(
        &app,
        &[
            "config",
            "set",
            "rate_limit.per_ip_burst",
            "50",
            "--wait",
            "20",
        ],
        Outcome::Ok,
    )
    .await;
    assert_eq!(set["version"], 2);
    converged(&app, &everyone, 2).await;

    let refusals: [(&[&str], &str); 4] = [
        (
            &["rate_limit.per_ip_per_s", "-1"],
            "rate_limit.per_ip_per_s",
        ),
        (&["rate_limit.colour", "5"], "rate_limit.colour"),
        (&["log_filter", "gateway=loud"], "log_filter"),
        (&["breaker.failure_rate", "1.5"], "breaker.failure_rate"),
    ];
    for (key_and_value, field) in refusals {
        let args: Vec<&str> = ["config", "set"]
            .iter()
            .chain(key_and_value)
            .copied()
            .collect();
        let refused = json(&app, &args, Outcome::Degraded).await;
        assert_eq!(refused["status"], "refused", "{refused:#}");
        assert_eq!(refused["version"], 2);
        assert_eq!(refused["errors"][0]["field"], field, "{refused:#}");
        assert!(
            refused["errors"][0]["problem"]
                .as_str()
                .is_some_and(|p| !p.is_empty())
        );
    }
    // The person at the terminal reads which field and why.
    let human = waypoint(&app, &["config", "set", "rate_limit.per_ip_burst", "0"]).await;
    assert_outcome(&human, Outcome::Degraded);
    assert!(
        human
            .stdout
            .contains("rate_limit.per_ip_burst: must be at least 1"),
        "{}",
        human.stdout
    );

    let file = std::env::temp_dir().join(format!("waypoint-{}.toml", testkit::unique_suffix()));
    std::fs::write(
        &file,
        "[rate_limit]\nper_ip_burst = 7\n[colour]\nshade = 1\n",
    )
    .unwrap();
    let applied = json(
        &app,
        &["config", "apply", file.to_str().unwrap()],
        Outcome::Degraded,
    )
    .await;
    std::fs::remove_file(&file).unwrap();
    assert_eq!(applied["errors"][0]["field"], "colour");

    let current = json(&app, &["config", "get"], Outcome::Ok).await;
    assert_eq!(current["version"], 2);
    assert_eq!(current["document"]["rate_limit"]["per_ip_burst"], 50);
    let history = json(&app, &["config", "history"], Outcome::Ok).await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    assert!(
        reported(&app, &everyone)
            .await
            .iter()
            .all(|(_, applied)| *applied == Some(2))
    );

    forget_current(&app).await;
    app.finish().await;
}

#[tokio::test]
async fn apply_history_diff_and_get() {
    let app = TestApp::new().await;
    let file = std::env::temp_dir().join(format!("waypoint-{}.toml", testkit::unique_suffix()));
    std::fs::write(
        &file,
        "log_filter = \"warn,gateway=debug\"\n\n[rate_limit]\nper_ip_burst = 7\n\n[breaker]\nopen_ms = 2000\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let applied = json(
        &app,
        &["config", "apply", path, "-m", "from the ops repository"],
        Outcome::Ok,
    )
    .await;
    assert_eq!(applied["status"], "stored");
    assert_eq!(applied["version"], 2);
    let keys: Vec<&str> = applied["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|change| change["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["breaker.open_ms", "log_filter", "rate_limit.per_ip_burst"]
    );
    // The same file again: nothing new.
    let again = json(&app, &["config", "apply", path], Outcome::Ok).await;
    assert_eq!(
        (again["status"].clone(), again["version"].clone()),
        (json!("unchanged"), json!(2))
    );
    std::fs::remove_file(&file).unwrap();

    json(
        &app,
        &[
            "config",
            "set",
            "features.new-search",
            "true",
            "-m",
            "trying it",
        ],
        Outcome::Ok,
    )
    .await;

    let history = json(&app, &["config", "history"], Outcome::Ok).await;
    let versions = history["versions"].as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = versions
        .iter()
        .map(|version| {
            (
                version["version"].as_i64().unwrap(),
                version["author"].as_str().unwrap(),
                version["comment"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, "waypoint-test", "trying it"),
            (2, "waypoint-test", "from the ops repository"),
            (1, "waypoint", "the defaults"),
        ]
    );
    assert_eq!(versions[0]["changed"], json!(["features.new-search"]));
    assert_eq!(versions[2]["changed"], json!([]));
    assert!(versions[0]["created_at"].as_str().is_some());

    let latest = json(&app, &["config", "diff"], Outcome::Ok).await;
    assert_eq!(
        latest,
        json!({
            "from": 2,
            "to": 3,
            "changes": [{"key": "features.new-search", "old": null, "new": true}],
        })
    );
    let whole = json(&app, &["config", "diff", "1", "3"], Outcome::Ok).await;
    assert_eq!(whole["changes"].as_array().unwrap().len(), 4);
    assert_eq!(
        whole["changes"][1],
        json!({"key": "features.new-search", "old": null, "new": true})
    );
    assert_eq!(
        json(&app, &["config", "diff", "1"], Outcome::Ok).await,
        whole
    );

    let burst = json(
        &app,
        &["config", "get", "rate_limit.per_ip_burst"],
        Outcome::Ok,
    )
    .await;
    assert_eq!(
        (burst["version"].clone(), burst["value"].clone()),
        (json!(3), json!(7))
    );
    let section = json(&app, &["config", "get", "breaker"], Outcome::Ok).await;
    assert_eq!(section["value"]["open_ms"], 2000);
    let all = json(&app, &["config", "get"], Outcome::Ok).await;
    assert_eq!(all["document"]["features"], json!({"new-search": true}));
    assert_eq!(all["document"]["log_filter"], "warn,gateway=debug");
    assert_eq!(all["author"], "waypoint-test");

    // What a person sees, and what cannot be answered.
    let table = waypoint(&app, &["config", "history"]).await;
    assert_outcome(&table, Outcome::Ok);
    assert!(
        table.stdout.contains("from the ops repository"),
        "{}",
        table.stdout
    );
    let unknown = waypoint(&app, &["config", "get", "rate_limit.nope"]).await;
    let error = unknown.outcome.expect_err("an unknown key is an error");
    assert!(error.problem.contains("rate_limit.nope"), "{error}");
    let missing = waypoint(&app, &["config", "diff", "99"]).await;
    let error = missing.outcome.expect_err("an unknown version is an error");
    assert!(error.problem.contains("99"), "{error}");
    assert!(error.hint.is_some_and(|hint| hint.contains("history")));

    forget_current(&app).await;
    app.finish().await;
}
