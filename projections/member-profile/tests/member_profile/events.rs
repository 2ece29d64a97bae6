//! Each consumed event type's effect on a profile.

use events::reviews::ReviewEdited;
use events::{MemberId, PhotoId, PlaceId, ReviewId};

use crate::support::{
    Feed, apply, avatar_changed, checksum, deactivated, deleted, fresh_profile, model,
    nickname_changed, profile, rated, registered, removed, written,
};

#[tokio::test]
async fn member_registered_creates_the_profile() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    assert_eq!(profile(&pool, member).await, None);

    apply(&pool, &[feed.member(registered(member, "ada"))]).await;

    assert_eq!(
        profile(&pool, member).await,
        Some(fresh_profile(member, "ada"))
    );
}

#[tokio::test]
async fn nickname_changed_renames_only_that_member() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (member, other) = (MemberId::generate(), MemberId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.member(registered(other, "grace")),
            feed.member(nickname_changed(member, "countess")),
        ],
    )
    .await;

    assert_eq!(
        profile(&pool, member).await,
        Some(fresh_profile(member, "countess"))
    );
    assert_eq!(
        profile(&pool, other).await,
        Some(fresh_profile(other, "grace"))
    );
}

#[tokio::test]
async fn avatar_changed_sets_the_avatar_url() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let (first, second) = (PhotoId::generate(), PhotoId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.member(avatar_changed(member, first)),
            feed.member(avatar_changed(member, second)),
        ],
    )
    .await;

    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(shown.avatar_url, Some(format!("/api/v1/photos/{second}")));
}

#[tokio::test]
async fn member_deactivated_hides_nickname_and_avatar_and_keeps_the_counts() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.member(avatar_changed(member, PhotoId::generate())),
            feed.review(written(ReviewId::generate(), member)),
            feed.rating(rated(member, PlaceId::generate(), 4)),
            feed.member(deactivated(member)),
        ],
    )
    .await;

    let shown = profile(&pool, member).await.unwrap();
    assert!(shown.deactivated);
    assert_eq!((shown.nickname, shown.avatar_url), (None, None));
    assert_eq!((shown.review_count, shown.rating_count), (1, 1));
    assert_eq!(shown.average_stars_given, Some(4.0));
}

#[tokio::test]
async fn reviews_written_and_deleted_move_the_review_count() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (member, other) = (MemberId::generate(), MemberId::generate());
    let (kept, dropped) = (ReviewId::generate(), ReviewId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.review(written(kept, member)),
            feed.review(written(dropped, member)),
            feed.review(written(ReviewId::generate(), other)),
        ],
    )
    .await;
    assert_eq!(profile(&pool, member).await.unwrap().review_count, 2);

    apply(&pool, &[feed.review(deleted(dropped, member))]).await;

    assert_eq!(profile(&pool, member).await.unwrap().review_count, 1);
}

#[tokio::test]
async fn review_edited_changes_nothing() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let review = written(ReviewId::generate(), member);
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.review(review.clone()),
        ],
    )
    .await;
    let before = checksum(&pool).await;

    let outcome = apply(
        &pool,
        &[feed.review(ReviewEdited {
            review_id: review.review_id,
            place_id: review.place_id,
            title: "Changed my mind".to_owned(),
            body: "Still good.".to_owned(),
            photo_ids: Vec::new(),
            edited_at: review.written_at,
        })],
    )
    .await;

    assert_eq!(outcome.applied, 1);
    assert_eq!(checksum(&pool).await, before);
}

#[tokio::test]
async fn a_new_rating_of_a_place_replaces_the_old_one() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let (cafe, bar) = (PlaceId::generate(), PlaceId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.rating(rated(member, cafe, 5)),
            feed.rating(rated(member, bar, 2)),
        ],
    )
    .await;
    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(
        (shown.rating_count, shown.average_stars_given),
        (2, Some(3.5))
    );

    apply(&pool, &[feed.rating(rated(member, bar, 4))]).await;

    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(
        (shown.rating_count, shown.average_stars_given),
        (2, Some(4.5))
    );
}

#[tokio::test]
async fn a_removed_rating_no_longer_counts_and_none_left_means_no_average() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let (cafe, bar) = (PlaceId::generate(), PlaceId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.rating(rated(member, cafe, 5)),
            feed.rating(rated(member, bar, 2)),
            feed.rating(removed(member, bar)),
        ],
    )
    .await;
    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(
        (shown.rating_count, shown.average_stars_given),
        (1, Some(5.0))
    );

    apply(&pool, &[feed.rating(removed(member, cafe))]).await;

    let shown = profile(&pool, member).await.unwrap();
    assert_eq!((shown.rating_count, shown.average_stars_given), (0, None));
}

#[tokio::test]
async fn reviews_and_ratings_before_the_registration_count_once_it_arrives() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let place = PlaceId::generate();
    apply(
        &pool,
        &[
            feed.review(written(ReviewId::generate(), member)),
            feed.rating(rated(member, place, 3)),
        ],
    )
    .await;
    assert_eq!(profile(&pool, member).await, None);

    apply(&pool, &[feed.member(registered(member, "ada"))]).await;

    let shown = profile(&pool, member).await.unwrap();
    assert_eq!((shown.review_count, shown.rating_count), (1, 1));
    assert_eq!(shown.average_stars_given, Some(3.0));
}

#[tokio::test]
async fn stars_outside_one_to_five_are_poison() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let zero = feed.rating(rated(member, PlaceId::generate(), 0));
    let six = feed.rating(rated(member, PlaceId::generate(), 6));
    let five = feed.rating(rated(member, PlaceId::generate(), 5));

    let outcome = apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            zero.clone(),
            six.clone(),
            five,
        ],
    )
    .await;

    let poisoned: Vec<_> = outcome.poisoned.iter().map(|(id, _)| *id).collect();
    assert_eq!(poisoned, vec![zero.event_id, six.event_id]);
    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(
        (shown.rating_count, shown.average_stars_given),
        (1, Some(5.0))
    );
}
