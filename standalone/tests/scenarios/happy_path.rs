//! A member's whole journey through the API, each step asserted by what a client then sees.

use local_copies::KnownPlace;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use standalone::parts::Part;
use system_testkit::assert_problem;

use crate::support::client::{Command, Member};
use crate::{Scenario, png};

/// The reviews in a page of reviews.
fn items(page: &Value) -> &Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("`items` in {page}"))
}

/// The ids of the reviews in a page of reviews.
fn review_ids(page: &Value) -> Vec<&str> {
    items(page)
        .iter()
        .map(|review| review["review_id"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_signs_up_reviews_renames_closes_deletes_and_signs_out() {
    // A rotated refresh token presented again revokes its family at once, with no grace.
    let scenario = Scenario::start(&[("auth.refresh_grace_s", "0")]).await;
    let api = &scenario.api;

    // 1. Sign up, log in.
    let mut ann = api.sign_up("ann").await;
    let registered = ann.session.clone();
    let login = ann.log_in().await;
    assert_eq!(login.status, StatusCode::OK, "1. logs in: {:?}", login.body);
    assert_eq!(
        ann.id(),
        registered.member_id,
        "1. as the member who signed up"
    );
    assert_ne!(
        ann.session.access_token, registered.access_token,
        "1. in a session of its own"
    );

    // 2. Add a place, upload a photo.
    let harbour = ann.add_place("Harbour Café").await;
    let photo = ann.upload_photo(png(7)).await;
    let served = api
        .request(Method::GET, &format!("/photos/{photo}"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK, "2. the photo is served");
    assert_eq!(
        served.bytes().await.unwrap().as_ref(),
        png(7).as_slice(),
        "2. as uploaded"
    );

    // 3. Review the place with the photo, rate it.
    for service in [Part::Reviews, Part::Ratings] {
        scenario
            .until_known(service, &harbour, KnownPlace::Open)
            .await;
    }
    let review = ann
        .write_review(&harbour, "Worth the queue", std::slice::from_ref(&photo))
        .await;
    ann.rate(&harbour, 4).await;

    // 4. The feed, the place and the profile show all of it.
    let feed = ann.read(&format!("/places/{harbour}/reviews")).await.body;
    assert_eq!(review_ids(&feed), [review.as_str()], "4. the feed: {feed}");
    let shown = &items(&feed)[0];
    assert_eq!(shown["title"], "Worth the queue", "4. {shown}");
    assert_eq!(shown["place"]["name"], "Harbour Café", "4. {shown}");
    assert_eq!(shown["author"]["member_id"], ann.id(), "4. {shown}");
    assert_eq!(shown["author"]["nickname"], "ann", "4. {shown}");
    let photo_url = format!("/api/v1/photos/{photo}");
    assert_eq!(
        shown["photo_urls"],
        serde_json::json!([photo_url]),
        "4. {shown}"
    );
    assert_eq!(
        shown["stars"], 4,
        "4. the review shows its author's stars: {shown}"
    );
    let place = ann.read(&format!("/places/{harbour}")).await.body;
    assert_eq!(place["rating"]["average"], 4.0, "4. the place: {place}");
    assert_eq!(place["rating"]["count"], 1, "4. {place}");
    assert_eq!(place["rating"]["histogram"]["4"], 1, "4. {place}");
    assert_eq!(place["review_count"], 1, "4. {place}");
    let profile = ann.read(&format!("/members/{}", ann.id())).await.body;
    assert_eq!(profile["nickname"], "ann", "4. the profile: {profile}");
    assert_eq!(profile["review_count"], 1, "4. {profile}");
    assert_eq!(profile["rating_count"], 1, "4. {profile}");
    assert_eq!(profile["average_stars_given"], 4.0, "4. {profile}");

    // 5. After a second review elsewhere, a new nickname shows on every review.
    let night_owl = ann.add_place("Night Owl Bar").await;
    scenario
        .until_known(Part::Reviews, &night_owl, KnownPlace::Open)
        .await;
    let second = ann.write_review(&night_owl, "Late and loud", &[]).await;
    ann.apply(&Command::change_nickname("annie")).await;
    let written = ann
        .read(&format!("/members/{}/reviews", ann.id()))
        .await
        .body;
    let mut ids = review_ids(&written);
    ids.sort_unstable();
    let mut expected = [review.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "5. both reviews: {written}");
    for shown in items(&written) {
        assert_eq!(shown["author"]["nickname"], "annie", "5. {shown}");
    }
    let feed = ann.read(&format!("/places/{night_owl}/reviews")).await.body;
    assert_eq!(items(&feed)[0]["author"]["nickname"], "annie", "5. {feed}");

    // 6. A closed place takes no new reviews.
    ann.apply(&Command::close_place(&night_owl)).await;
    scenario
        .until_known(Part::Reviews, &night_owl, KnownPlace::Closed)
        .await;
    let bob = api.sign_up("bob").await;
    let refused = bob
        .send(&Command::write_review(&night_owl, "Too late", &[]))
        .await;
    assert_problem(&refused, 422, "validation");
    assert_eq!(
        refused.body["errors"][0]["field"], "place_id",
        "6. {:?}",
        refused.body
    );
    let closed = ann.read(&format!("/places/{night_owl}")).await.body;
    assert_eq!(closed["closed"], true, "6. {closed}");
    assert_eq!(
        closed["review_count"], 1,
        "6. the refused review is not counted"
    );

    // 7. A deleted review is gone, and the counts follow.
    ann.apply(&Command::delete_review(&review)).await;
    let feed = ann.read(&format!("/places/{harbour}/reviews")).await.body;
    assert!(
        review_ids(&feed).is_empty(),
        "7. gone from the feed: {feed}"
    );
    let place = ann.read(&format!("/places/{harbour}")).await.body;
    assert_eq!(place["review_count"], 0, "7. {place}");
    assert_eq!(place["rating"]["count"], 1, "7. the rating stays: {place}");
    let profile = ann.read(&format!("/members/{}", ann.id())).await.body;
    assert_eq!(profile["review_count"], 1, "7. {profile}");
    let gone = api.get(&format!("/reviews/{review}")).await;
    assert_problem(&gone, 404, "not_found");

    // 8. After logging out, the session's tokens are dead.
    let logged_out = ann.log_out().await;
    assert_eq!(
        logged_out.status,
        StatusCode::NO_CONTENT,
        "8. {:?}",
        logged_out.body
    );
    assert_problem(
        &ann.get_as_member("/members/me").await,
        401,
        "unauthenticated",
    );
    let ended = ann.session.refresh_token.clone();
    assert_problem(&ann.refresh_with(&ended).await, 401, "unauthenticated");

    // 9. A refresh token presented again after its rotation revokes its whole family.
    signed_in_again(&mut ann).await;
    let first = ann.session.refresh_token.clone();
    let rotated = ann.refresh_with(&first).await;
    assert_eq!(rotated.status, StatusCode::OK, "9. {:?}", rotated.body);
    let successor = ann.session.refresh_token.clone();
    assert_ne!(successor, first, "9. rotated");
    assert_problem(&ann.refresh_with(&first).await, 401, "unauthenticated");
    assert_problem(&ann.refresh_with(&successor).await, 401, "unauthenticated");
    assert_problem(
        &ann.get_as_member("/members/me").await,
        401,
        "unauthenticated",
    );

    scenario.finish().await;
}

/// Logs `member` in again and checks the session works.
async fn signed_in_again(member: &mut Member) {
    let login = member.log_in().await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let me = member.get_as_member("/members/me").await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["member_id"], member.id());
}
