//! RabbitMQ restarting mid-traffic: every service recovers by itself and no accepted command
//! is lost or applied twice.
//!
//! Restarting the broker every test shares would break the tests running beside this one, so
//! this test force-closes every connection of its own Waypoint through the management API
//! while commands are in flight, which is what each client sees when the broker restarts.
//! (`cargo xtask chaos` restarts the real broker.)

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use local_copies::KnownPlace;
use reqwest::StatusCode;
use serde_json::Value;
use standalone::Standalone;
use standalone::parts::Part;
use system_testkit::Answer;

use crate::support::client::{Command, Member};
use crate::{PATIENCE, Scenario};

/// Places added before the outage: each gets a review and a rating during it.
const PLACES: usize = 6;
/// Places added during it.
const NEW_PLACES: usize = 4;
/// Commands in flight at once.
const IN_FLIGHT: usize = 4;

/// What one command of the traffic is for, to check what came of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Review,
    Rating,
    NewPlace,
}

/// A command of the traffic, with the key that makes its retries the same command.
#[derive(Debug)]
struct Planned {
    kind: Kind,
    command: Command,
    key: String,
}

fn planned(kind: Kind, command: Command) -> Planned {
    Planned {
        kind,
        command,
        key: testkit::unique_suffix(),
    }
}

/// The stars the traffic gives the `n`th place.
fn stars(n: usize) -> u8 {
    u8::try_from(n % 5 + 1).expect("1 to 5")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broker_connection_dropped_mid_traffic_loses_and_repeats_nothing() {
    let scenario = Scenario::start(&[
        // A command whose reply is lost with its connection is answered 202 soon enough.
        ("commands.reply_timeout_ms", "5000"),
    ])
    .await;
    let ann = scenario.api.sign_up("ann").await;
    let mut places = Vec::new();
    for n in 0..PLACES {
        places.push(ann.add_place(&format!("Before {n}")).await);
    }
    for place in &places {
        for service in [Part::Reviews, Part::Ratings] {
            scenario.until_known(service, place, KnownPlace::Open).await;
        }
    }
    // Listed beforehand, so that they drop the moment the traffic is under way.
    let parts_connections = listed(&scenario.system).await;
    let mut traffic = Vec::new();
    for (n, place) in places.iter().enumerate() {
        let title = format!("Visit {n}");
        traffic.push(planned(
            Kind::Review,
            Command::write_review(place, &title, &[]),
        ));
        traffic.push(planned(Kind::Rating, Command::rate(place, stars(n))));
        if n < NEW_PLACES {
            let name = format!("During {n}");
            traffic.push(planned(Kind::NewPlace, Command::add_place(&name)));
        }
    }

    // The first half is under way when the connections drop; the second half is sent while
    // everything reconnects.
    let second_half = traffic.split_off(traffic.len() / 2);
    let answered = AtomicUsize::new(0);
    let (dropped, mut outage_over) = tokio::sync::watch::channel(false);
    let sending = async {
        let mut answers = accepted(&ann, traffic, &answered).await;
        outage_over
            .wait_for(|over| *over)
            .await
            .expect("the outage ends");
        answers.extend(accepted(&ann, second_half, &answered).await);
        answers
    };
    let outage = async {
        testkit::poll::until("the traffic to be under way", PATIENCE, || async {
            (answered.load(Ordering::Relaxed) >= 2).then_some(())
        })
        .await;
        drop_connections(&parts_connections).await;
        dropped.send_replace(true);
    };
    let (answers, ()) = tokio::join!(sending, outage);

    // Every accepted command ran, once.
    let mut reviews = BTreeSet::new();
    let mut new_places = BTreeSet::new();
    for (kind, answer) in answers {
        let outcome = ann.settle(answer).await;
        match kind {
            Kind::Review => assert!(reviews.insert(outcome.created("review_id"))),
            Kind::NewPlace => assert!(new_places.insert(outcome.created("place_id"))),
            Kind::Rating => {}
        }
    }
    assert_eq!(reviews.len(), PLACES);
    assert_eq!(new_places.len(), NEW_PLACES);
    let written = ann
        .read(&format!("/members/{}/reviews?limit=100", ann.id()))
        .await
        .body;
    assert_eq!(ids(&written, "review_id"), reviews, "{written}");
    let profile = ann.read(&format!("/members/{}", ann.id())).await.body;
    assert_eq!(profile["review_count"], PLACES, "{profile}");
    assert_eq!(profile["rating_count"], PLACES, "{profile}");
    let listed = ann.read("/places?limit=100").await.body;
    let mut all_places: BTreeSet<String> = places.iter().cloned().collect();
    all_places.extend(new_places.iter().cloned());
    assert_eq!(ids(&listed, "place_id"), all_places, "{listed}");
    for summary in listed["items"].as_array().expect("a page of places") {
        let place = summary["place_id"].as_str().unwrap_or_default();
        match places.iter().position(|before| before == place) {
            Some(n) => {
                assert_eq!(summary["review_count"], 1, "{summary}");
                assert_eq!(summary["rating_count"], 1, "{summary}");
                assert_eq!(summary["average_stars"], f64::from(stars(n)), "{summary}");
            }
            None => {
                assert_eq!(summary["review_count"], 0, "{summary}");
                assert_eq!(summary["rating_count"], 0, "{summary}");
            }
        }
    }

    // Every part reconnected by itself, and new commands are answered at once.
    scenario.until_ready().await;
    let bob = scenario.api.sign_up("bob").await;
    let place = &places[0];
    for command in [
        Command::write_review(place, "After the storm", &[]),
        Command::rate(place, 2),
    ] {
        let answer = bob.send(&command).await;
        assert!(
            answer.status == StatusCode::CREATED || answer.status == StatusCode::NO_CONTENT,
            "{command:?}: {answer:?}"
        );
    }
    let feed = bob.read(&format!("/places/{place}/reviews")).await.body;
    let bobs = feed["items"]
        .as_array()
        .expect("a page of reviews")
        .iter()
        .find(|review| review["author"]["member_id"] == bob.id())
        .unwrap_or_else(|| panic!("bob's review in {feed}"));
    assert_eq!(bobs["stars"], 2, "{bobs}");

    scenario.finish().await;
}

/// Sends each command, IN_FLIGHT at a time, until it is accepted (2xx, or 202: queued): a
/// command refused with 503 could not be handed to the broker and is sent again with the same
/// key, as the API tells clients to.
async fn accepted(
    member: &Member,
    traffic: Vec<Planned>,
    answered: &AtomicUsize,
) -> Vec<(Kind, Answer)> {
    futures::stream::iter(traffic)
        .map(|planned| async move {
            let what = format!("{:?} to be accepted", planned.command);
            let answer = testkit::poll::until(&what, PATIENCE, || async {
                let answer = member.send_keyed(&planned.command, &planned.key).await;
                match answer.status {
                    StatusCode::SERVICE_UNAVAILABLE => None,
                    status if status.is_success() => Some(answer),
                    status => panic!("{:?} answered {status}: {:?}", planned.command, answer.body),
                }
            })
            .await;
            answered.fetch_add(1, Ordering::Relaxed);
            (planned.kind, answer)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// The `field` of every item of a page.
fn ids(page: &Value, field: &str) -> BTreeSet<String> {
    let items = page["items"].as_array().expect("a page");
    let ids: BTreeSet<String> = items
        .iter()
        .map(|item| item[field].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), items.len(), "each once: {page}");
    ids
}

/// The broker's open connections, as its management API lists them.
async fn connections() -> Vec<Value> {
    reqwest::get(format!(
        "{}/api/connections",
        testkit::rabbitmq::management_url()
    ))
    .await
    .and_then(reqwest::Response::error_for_status)
    .expect("the management API lists connections")
    .json()
    .await
    .expect("a list of connections")
}

/// The broker-side names of the connections among `open` whose client-given name starts with
/// `instance_id`: the part's own, named after its instance, and those it opens beside it (the
/// configuration follower's).
fn of_instance(open: &[Value], instance_id: &str) -> Vec<String> {
    open.iter()
        .filter(|connection| {
            connection["client_properties"]["connection_name"]
                .as_str()
                .is_some_and(|name| name.starts_with(instance_id))
        })
        .filter_map(|connection| connection["name"].as_str().map(str::to_owned))
        .collect()
}

/// Every part's connections, once the management API lists a connection of each: it lists
/// a new connection only once the broker has sampled its statistics.
async fn listed(system: &Standalone) -> Vec<(Part, Vec<String>)> {
    testkit::poll::until(
        "the broker to list every part's connections",
        PATIENCE,
        || async {
            let open = connections().await;
            let listed: Vec<(Part, Vec<String>)> = system
                .instance_ids()
                .map(|(part, instance_id)| (part, of_instance(&open, instance_id)))
                .collect();
            listed
                .iter()
                .all(|(_, names)| !names.is_empty())
                .then_some(listed)
        },
    )
    .await
}

/// Force-closes all of `connections` at once, as a broker restart would.
async fn drop_connections(connections: &[(Part, Vec<String>)]) {
    let closing = connections.iter().flat_map(|(_, names)| names);
    futures::future::join_all(closing.map(|name| testkit::rabbitmq::close_connection(name))).await;
}
