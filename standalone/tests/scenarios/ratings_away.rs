//! The ratings service stops while the rest runs on: a rating is queued (202) and runs when
//! the service is back; reviews are written and served meanwhile.

use local_copies::KnownPlace;
use reqwest::StatusCode;
use serde_json::Value;
use standalone::parts::Part;

use crate::Scenario;
use crate::support::client::Command;

#[tokio::test(flavor = "multi_thread")]
async fn while_ratings_are_away_reviews_go_on_and_a_rating_waits_in_its_queue() {
    // A command whose service does not answer in this time is answered 202.
    let mut scenario = Scenario::start(&[("commands.reply_timeout_ms", "1500")]).await;
    let ann = scenario.api.sign_up("ann").await;
    let place = ann.add_place("Harbour Café").await;
    for service in [Part::Reviews, Part::Ratings] {
        scenario
            .until_known(service, &place, KnownPlace::Open)
            .await;
    }

    scenario.system.stop_part(Part::Ratings).await;
    let accepted = ann.send(&Command::rate(&place, 5)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let location = accepted
        .header("location")
        .expect("a 202 says where to follow it");
    let pending = ann.get_as_member(location).await;
    assert_eq!(pending.status, StatusCode::OK, "{:?}", pending.body);
    assert_eq!(pending.body["status"], "pending", "{:?}", pending.body);

    let review = ann.write_review(&place, "Worth the queue", &[]).await;
    let feed = ann.read(&format!("/places/{place}/reviews")).await.body;
    let shown = the_review(&feed, &review);
    assert_eq!(shown["stars"], Value::Null, "not rated yet: {shown}");
    let unrated = ann.read(&format!("/places/{place}")).await.body;
    assert_eq!(unrated["rating"]["count"], 0, "{unrated}");
    assert_eq!(unrated["review_count"], 1, "{unrated}");

    scenario
        .system
        .start_part(Part::Ratings)
        .await
        .expect("ratings starts again");
    // Follows the command until it succeeded, and reads with the token its status gives.
    ann.follow(&accepted).await;
    let rated = ann.read(&format!("/places/{place}")).await.body;
    assert_eq!(rated["rating"]["count"], 1, "{rated}");
    assert_eq!(rated["rating"]["average"], 5.0, "{rated}");
    let feed = ann.read(&format!("/places/{place}/reviews")).await.body;
    assert_eq!(the_review(&feed, &review)["stars"], 5, "{feed}");

    scenario.finish().await;
}

/// The review `review_id` in a page of reviews, which holds only it.
fn the_review<'a>(page: &'a Value, review_id: &str) -> &'a Value {
    let items = page["items"].as_array().expect("a page of reviews");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["review_id"], review_id, "{page}");
    &items[0]
}
