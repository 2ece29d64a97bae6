//! `waypoint rebuild`: the review feed rebuilt blue/green and switched while queries and
//! writes go on through the gateway, none failing or going back; then rollback, drop-old and
//! the listing, and a switch with no instance running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use message_bus::CancellationToken;
use projection::generations;
use projection::{ReadModel, catchup};
use replay_tool::Outcome;
use reqwest::{Method, StatusCode};
use review_feed::ReviewFeed;
use serde_json::{Value, json};
use service_kit::settings::PostgresSettings;
use sqlx::PgPool;
use system_testkit::{Projection, Service, Session, TestApp};
use testkit::poll;

use crate::support::waypoint;

const DEADLINE: Duration = Duration::from_secs(60);

/// The services and the gateway, with rate limits out of the way: the query loop and the
/// writers all come from this machine's one address.
async fn system() -> TestApp {
    let mut app = TestApp::new().await;
    // A loaded machine may take longer than the default 3 s to hash a new member's password.
    app.settings.commands.reply_timeout_ms = 15_000;
    let limits = &mut app.settings.rate_limit;
    (limits.per_ip_per_s, limits.per_ip_burst) = (100_000.0, 100_000);
    (limits.per_member_per_s, limits.per_member_burst) = (100_000.0, 100_000);
    for service in Service::ALL {
        app.start_service(service).await;
    }
    app.start_gateway().await;
    app
}

/// Sends a command until it is accepted: the reviews and ratings services learn about a new
/// place from their local copies, a moment after it was added.
async fn command(app: &TestApp, session: &Session, method: Method, path: &str, body: Value) {
    poll::until(&format!("{method} {path} accepted"), DEADLINE, || {
        let (method, body) = (method.clone(), body.clone());
        async move {
            let answer = app
                .call(method, path, Some(&session.access_token), Some(body))
                .await;
            answer.status.is_success().then_some(())
        }
    })
    .await;
}

/// A new member who reviews `place` and rates it `ratings` times (the last rating stands).
async fn reviewer(app: &TestApp, place: &str, ratings: u8) {
    let member = app.register().await;
    review(app, &member, place).await;
    let path = format!("/api/v1/places/{place}/rating");
    for stars in 0..ratings {
        let rating = json!({ "stars": 1 + stars % 5 });
        command(app, &member, Method::PUT, &path, rating).await;
    }
}

async fn review(app: &TestApp, member: &Session, place: &str) {
    let review = json!({ "title": "Worth the detour", "body": "Good coffee, quiet corner." });
    let path = format!("/api/v1/places/{place}/reviews");
    command(app, member, Method::POST, &path, review).await;
}

/// The number of reviews the feed of `place` shows, through the gateway.
async fn feed_length(app: &TestApp, place: &str) -> Result<usize, String> {
    let answer = app
        .get(&format!("/api/v1/places/{place}/reviews?limit=100"), None)
        .await;
    if answer.status != StatusCode::OK {
        return Err(format!("{}: {:?}", answer.status, answer.body));
    }
    if answer.header("x-waypoint-stale").is_some() {
        return Err(format!("a stale fallback: {:?}", answer.headers));
    }
    answer.body["items"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| format!("no items in {:?}", answer.body))
}

/// Reads the feeds of `places` in turn until `stop`, asserting that every read succeeds and
/// that no feed gets shorter. Returns how many reads it made.
async fn keep_reading(app: Arc<TestApp>, places: Vec<String>, stop: CancellationToken) -> u64 {
    let mut last = vec![0_usize; places.len()];
    let mut reads = 0_u64;
    while !stop.is_cancelled() {
        for (place, last) in places.iter().zip(last.iter_mut()) {
            let length = feed_length(&app, place)
                .await
                .unwrap_or_else(|problem| panic!("a query failed after {reads} reads: {problem}"));
            assert!(length >= *last, "a feed went back from {last} to {length}");
            (reads, *last) = (reads + 1, length);
        }
    }
    reads
}

/// Takes (member, place) pairs off `work` and writes those reviews until `stop` or the work
/// runs out, counting them in `written`.
async fn keep_writing(
    app: Arc<TestApp>,
    work: Arc<Mutex<Vec<(Session, String)>>>,
    written: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let next = work.lock().unwrap().pop();
        let Some((member, place)) = next else {
            return;
        };
        review(&app, &member, &place).await;
        written.fetch_add(1, Ordering::SeqCst);
    }
}

/// A small pool on the review feed's database.
async fn feed_database(app: &TestApp) -> PgPool {
    let server = PostgresSettings {
        url: testkit::database::admin_url(),
        max_connections: 2,
    };
    let database = app.projection_database(ReviewFeed::NAME);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&server.database_url(&database))
        .await
        .unwrap()
}

/// The active generation's digest, once it equals that of a fresh rebuild from the stores
/// (caught up again on every look, as events may still be on their way).
async fn converged(app: &TestApp, base: &PgPool) -> String {
    let mut stores = Vec::new();
    for service in Service::ALL {
        stores.push(app.store_of(service).await);
    }
    let fresh = projection_testkit::model::fresh(&ReviewFeed).await;
    poll::until(
        "the active generation to equal a rebuild",
        DEADLINE,
        || async {
            catchup::catch_up(&fresh, &ReviewFeed, &stores)
                .await
                .unwrap();
            let rebuilt = projection_testkit::model::checksum(&ReviewFeed, &fresh).await;
            let active = generations::active(base).await.unwrap();
            let pool = generations::connect(base, &active, 1).await.unwrap();
            let live = projection_testkit::model::checksum(&ReviewFeed, &pool).await;
            pool.close().await;
            (live == rebuilt).then_some(live)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_feed_is_rebuilt_and_switched_while_queries_and_writes_go_on() {
    let app = system().await;
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let owner = app.register().await;
    let mut places = Vec::new();
    for name in [
        "Harbour Café",
        "Lighthouse Bar",
        "Quay Books",
        "Pier Bakery",
    ] {
        places.push(app.add_place(&owner, name).await);
    }
    // History: reviews with their authors' ratings changing a few times.
    for _ in 0..20 {
        reviewer(&app, &places[0], 5).await;
    }
    poll::until("the feed shows the history", DEADLINE, || async {
        (feed_length(&app, &places[0]).await.ok()? == 20).then_some(())
    })
    .await;
    // The writers' members are registered beforehand (passwords are slow to hash on purpose),
    // so the feeds grow quickly during the switch.
    let mut members = Vec::new();
    for _ in 0..30 {
        members.push(app.register().await);
    }
    let work: Vec<(Session, String)> = members
        .iter()
        .flat_map(|member| {
            places[1..]
                .iter()
                .map(move |place| (member.clone(), place.clone()))
        })
        .collect();
    let work = Arc::new(Mutex::new(work));

    let app = Arc::new(app);
    let stop = CancellationToken::new();
    let readers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(keep_reading(Arc::clone(&app), places.clone(), stop.clone())))
        .collect();
    let written = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(keep_writing(
                Arc::clone(&app),
                Arc::clone(&work),
                Arc::clone(&written),
                stop.clone(),
            ))
        })
        .collect();
    poll::until("writes under way", DEADLINE, || async {
        (written.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;

    let ran = waypoint(&app, &["--json", "rebuild", "review-feed"]).await;

    assert!(matches!(ran.outcome, Ok(Outcome::Ok)), "{ran:?}");
    let report = ran.json();
    assert_eq!(report["generation"], 2, "{report}");
    assert_eq!(report["schema"], "gen_2", "{report}");
    assert_eq!(report["previous"], 1, "{report}");
    assert_eq!(report["switched"], true, "{report}");
    assert_eq!(
        report["instances"][0]["instance_id"],
        feed.instance_id.as_str()
    );
    assert_eq!(report["instances"][0]["generation"], 2, "{report}");
    assert!(report["events"].as_u64().unwrap() > 100, "{report}");
    let rate = report["events_per_second"].as_f64().unwrap();
    assert!(rate > 0.0, "{report}");
    eprintln!(
        "waypoint rebuild review-feed: {} events in {:.3} s, {rate:.0} events/s",
        report["events"], report["seconds"]
    );

    // Reviews written after the switch can only reach the new generation.
    for member in &members[..3] {
        review(&app, member, &places[0]).await;
    }
    stop.cancel();
    for writer in writers {
        writer.await.unwrap();
    }
    let total = 20 + 3 + usize::try_from(written.load(Ordering::SeqCst)).unwrap();
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    eprintln!(
        "{reads} queries, none failed, while {} reviews were written around the switch",
        total - 20
    );
    poll::until("the feeds show every review", DEADLINE, || async {
        let mut shown = 0;
        for place in &places {
            shown += feed_length(&app, place).await.ok()?;
        }
        (shown == total).then_some(())
    })
    .await;

    let base = feed_database(&app).await;
    converged(&app, &base).await;
    let retired: i64 = sqlx::query_scalar("SELECT count(*) FROM public.reviews")
        .fetch_one(&base)
        .await
        .unwrap();
    assert!(
        usize::try_from(retired).unwrap() < total,
        "the retired generation stopped at the switch"
    );
    let ready: Value = reqwest::get(format!("http://{}/health/ready", feed.http))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["review-feed"]["detail"]["generation"], 2,
        "{ready}"
    );

    feed.stop().await;
    let Some(app) = Arc::into_inner(app) else {
        panic!("the readers and the writer let go of the system");
    };
    app.finish().await;
}

#[tokio::test]
async fn status_rollback_and_drop_old_and_a_switch_with_no_instance_running() {
    let app = system().await;
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let owner = app.register().await;
    let place = app.add_place(&owner, "Lighthouse Bar").await;
    for _ in 0..3 {
        reviewer(&app, &place, 1).await;
    }

    let built = waypoint(&app, &["rebuild", "review-feed"]).await;
    assert!(matches!(built.outcome, Ok(Outcome::Ok)), "{built:?}");
    assert!(built.stdout.contains("events/s"), "{}", built.stdout);
    assert!(
        built
            .stdout
            .contains("generation 2 is active; generation 1 is retired"),
        "{}",
        built.stdout
    );

    let listed = waypoint(&app, &["--json", "rebuild", "review-feed", "--status"]).await;
    let states = |ran: &crate::support::Ran| -> Vec<(i64, String)> {
        ran.json()["generations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|generation| {
                (
                    generation["number"].as_i64().unwrap(),
                    generation["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        states(&listed),
        [(1, "retired".to_owned()), (2, "active".to_owned())]
    );
    let table = waypoint(&app, &["rebuild", "review-feed", "--status"]).await;
    assert!(table.stdout.contains("gen_2"), "{}", table.stdout);
    assert!(table.stdout.contains(&feed.instance_id), "{}", table.stdout);

    let rolled_back = waypoint(&app, &["--json", "rebuild", "review-feed", "--rollback"]).await;
    assert!(
        matches!(rolled_back.outcome, Ok(Outcome::Ok)),
        "{rolled_back:?}"
    );
    let report = rolled_back.json();
    assert_eq!(
        (report["generation"].as_i64(), report["previous"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(report["instances"][0]["generation"], 1, "{report}");

    let dropped = waypoint(&app, &["--json", "rebuild", "review-feed", "--drop-old"]).await;
    assert!(matches!(dropped.outcome, Ok(Outcome::Ok)), "{dropped:?}");
    assert_eq!(dropped.json()["dropped"][0]["schema"], "gen_2");
    let nothing = waypoint(&app, &["rebuild", "review-feed", "--rollback"]).await;
    let error = nothing.outcome.unwrap_err();
    assert!(error.problem.contains("no retired generation"), "{error}");
    assert!(error.hint.is_some());

    // With no instance running, the CLI's activation is the whole switch; an instance that
    // starts later serves the new generation.
    feed.stop().await;
    for _ in 0..2 {
        reviewer(&app, &place, 1).await;
    }
    let alone = waypoint(&app, &["rebuild", "review-feed"]).await;
    assert!(matches!(alone.outcome, Ok(Outcome::Ok)), "{alone:?}");
    assert!(
        alone.stdout.contains("no instance is running"),
        "{}",
        alone.stdout
    );
    let feed = app.start_projection(Projection::ReviewFeed).await;
    let ready: Value = reqwest::get(format!("http://{}/health/ready", feed.http))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["review-feed"]["detail"]["generation"], 3,
        "{ready}"
    );
    poll::until("the feed shows all five reviews", DEADLINE, || async {
        (feed_length(&app, &place).await.ok()? == 5).then_some(())
    })
    .await;
    let base = feed_database(&app).await;
    converged(&app, &base).await;

    feed.stop().await;
    app.finish().await;
}
