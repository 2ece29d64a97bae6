//! Given events, the ranking: each consumed event type's effect, and the order it ranks in.

use events::reviews::ReviewEdited;
use events::{MemberId, PlaceId, ReviewId};
use top_reviewers::ranking::{Limit, Reviewer, top};

use crate::support::{
    Feed, apply, checksum, deactivated, deleted, members_in_id_order, model, nickname_changed,
    ranking, rated, rated_review, registered, removed, standings, written,
};

#[tokio::test]
async fn members_rank_by_their_live_reviews() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (ada, grace, alan) = (
        MemberId::generate(),
        MemberId::generate(),
        MemberId::generate(),
    );
    let mut events = Vec::new();
    for (member, reviews) in [(ada, 2), (grace, 1), (alan, 3)] {
        for _ in 0..reviews {
            events.extend(rated_review(&mut feed, member, None));
        }
    }

    apply(&pool, &events).await;

    assert_eq!(
        standings(&pool).await,
        [(alan, 3, None), (ada, 2, None), (grace, 1, None)]
    );
    let ranks: Vec<u32> = ranking(&pool).await.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, [1, 2, 3]);
}

#[tokio::test]
async fn equal_counts_rank_by_average_stars_then_no_stars_then_member_id() {
    let pool = model().await;
    let mut feed = Feed::default();
    let members = members_in_id_order(4);
    let (first_of_tie, unrated, best, second_of_tie) =
        (members[0], members[1], members[2], members[3]);
    let mut events = Vec::new();
    for (member, stars) in [
        (second_of_tie, [5, 3]),
        (unrated, [0, 0]),
        (best, [5, 4]),
        (first_of_tie, [4, 4]),
    ] {
        for stars in stars {
            events.extend(rated_review(
                &mut feed,
                member,
                (stars > 0).then_some(stars),
            ));
        }
    }

    apply(&pool, &events).await;

    assert_eq!(
        standings(&pool).await,
        [
            (best, 2, Some(4.5)),
            (first_of_tie, 2, Some(4.0)),
            (second_of_tie, 2, Some(4.0)),
            (unrated, 2, None),
        ]
    );
}

#[tokio::test]
async fn more_reviews_outrank_better_stars() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (prolific, picky) = (MemberId::generate(), MemberId::generate());
    let mut events = rated_review(&mut feed, picky, Some(5));
    for _ in 0..2 {
        events.extend(rated_review(&mut feed, prolific, Some(1)));
    }

    apply(&pool, &events).await;

    assert_eq!(
        standings(&pool).await,
        [(prolific, 2, Some(1.0)), (picky, 1, Some(5.0))]
    );
}

#[tokio::test]
async fn only_the_authors_own_rating_of_the_reviewed_place_gives_a_review_stars() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (author, other) = (MemberId::generate(), MemberId::generate());
    let (reviewed, elsewhere) = (PlaceId::generate(), PlaceId::generate());
    apply(
        &pool,
        &[
            feed.review(written(ReviewId::generate(), author, reviewed)),
            // Someone else's stars for the place, and the author's for another place.
            feed.rating(rated(other, reviewed, 5)),
            feed.rating(rated(author, elsewhere, 5)),
        ],
    )
    .await;
    assert_eq!(standings(&pool).await, [(author, 1, None)]);

    apply(&pool, &[feed.rating(rated(author, reviewed, 2))]).await;

    assert_eq!(standings(&pool).await, [(author, 1, Some(2.0))]);
}

#[tokio::test]
async fn a_rating_given_before_the_review_counts_once_the_review_is_written() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (author, place) = (MemberId::generate(), PlaceId::generate());
    apply(&pool, &[feed.rating(rated(author, place, 4))]).await;
    assert_eq!(standings(&pool).await, []);

    apply(
        &pool,
        &[feed.review(written(ReviewId::generate(), author, place))],
    )
    .await;

    assert_eq!(standings(&pool).await, [(author, 1, Some(4.0))]);
}

#[tokio::test]
async fn a_new_rating_replaces_the_stars_and_a_removed_one_takes_them_away() {
    let pool = model().await;
    let mut feed = Feed::default();
    let author = MemberId::generate();
    let (cafe, bar) = (PlaceId::generate(), PlaceId::generate());
    apply(
        &pool,
        &[
            feed.review(written(ReviewId::generate(), author, cafe)),
            feed.review(written(ReviewId::generate(), author, bar)),
            feed.rating(rated(author, cafe, 5)),
            feed.rating(rated(author, bar, 2)),
        ],
    )
    .await;
    assert_eq!(standings(&pool).await, [(author, 2, Some(3.5))]);

    apply(&pool, &[feed.rating(rated(author, bar, 4))]).await;
    assert_eq!(standings(&pool).await, [(author, 2, Some(4.5))]);

    apply(&pool, &[feed.rating(removed(author, cafe))]).await;
    assert_eq!(standings(&pool).await, [(author, 2, Some(4.0))]);

    apply(&pool, &[feed.rating(removed(author, bar))]).await;
    assert_eq!(standings(&pool).await, [(author, 2, None)]);
}

#[tokio::test]
async fn a_deleted_review_no_longer_counts_nor_do_its_stars() {
    let pool = model().await;
    let mut feed = Feed::default();
    let author = MemberId::generate();
    let (kept, dropped) = (
        written(ReviewId::generate(), author, PlaceId::generate()),
        written(ReviewId::generate(), author, PlaceId::generate()),
    );
    apply(
        &pool,
        &[
            feed.review(kept.clone()),
            feed.review(dropped.clone()),
            feed.rating(rated(author, kept.place_id, 2)),
            feed.rating(rated(author, dropped.place_id, 5)),
        ],
    )
    .await;
    assert_eq!(standings(&pool).await, [(author, 2, Some(3.5))]);

    apply(&pool, &[feed.review(deleted(&dropped))]).await;
    assert_eq!(standings(&pool).await, [(author, 1, Some(2.0))]);

    apply(&pool, &[feed.review(deleted(&kept))]).await;
    assert_eq!(standings(&pool).await, [], "no live review, not ranked");
}

#[tokio::test]
async fn the_stars_of_a_deleted_review_return_with_a_new_review_of_the_place() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (author, place) = (MemberId::generate(), PlaceId::generate());
    let first = written(ReviewId::generate(), author, place);
    apply(
        &pool,
        &[
            feed.review(first.clone()),
            feed.rating(rated(author, place, 3)),
            feed.review(deleted(&first)),
        ],
    )
    .await;
    assert_eq!(standings(&pool).await, []);

    apply(
        &pool,
        &[feed.review(written(ReviewId::generate(), author, place))],
    )
    .await;

    assert_eq!(standings(&pool).await, [(author, 1, Some(3.0))]);
}

#[tokio::test]
async fn review_edited_changes_nothing() {
    let pool = model().await;
    let mut feed = Feed::default();
    let review = written(
        ReviewId::generate(),
        MemberId::generate(),
        PlaceId::generate(),
    );
    apply(&pool, &[feed.review(review.clone())]).await;
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
async fn nicknames_come_from_registrations_and_changes() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (ada, grace) = (MemberId::generate(), MemberId::generate());
    let mut events = vec![
        feed.member(registered(ada, "ada")),
        feed.member(registered(grace, "grace")),
        feed.member(nickname_changed(ada, "countess")),
    ];
    events.extend(rated_review(&mut feed, ada, None));
    events.extend(rated_review(&mut feed, ada, None));
    events.extend(rated_review(&mut feed, grace, Some(5)));

    apply(&pool, &events).await;

    assert_eq!(
        ranking(&pool).await,
        [
            Reviewer {
                rank: 1,
                member_id: ada,
                nickname: Some("countess".to_owned()),
                deactivated: false,
                review_count: 2,
                average_stars: None,
            },
            Reviewer {
                rank: 2,
                member_id: grace,
                nickname: Some("grace".to_owned()),
                deactivated: false,
                review_count: 1,
                average_stars: Some(5.0),
            },
        ]
    );
}

#[tokio::test]
async fn a_deactivated_member_stays_ranked_as_a_deleted_member() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let mut events = vec![feed.member(registered(member, "ada"))];
    events.extend(rated_review(&mut feed, member, Some(4)));
    events.push(feed.member(deactivated(member)));

    apply(&pool, &events).await;

    let shown = ranking(&pool).await;
    assert_eq!(shown.len(), 1);
    assert!(shown[0].deactivated);
    assert_eq!(shown[0].nickname, None);
    assert_eq!(
        (shown[0].review_count, shown[0].average_stars),
        (1, Some(4.0))
    );
}

#[tokio::test]
async fn a_reviewer_whose_registration_has_not_arrived_is_ranked_without_a_nickname() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    apply(&pool, &rated_review(&mut feed, member, Some(3))).await;

    let shown = ranking(&pool).await;
    assert_eq!(
        (shown[0].member_id, &shown[0].nickname, shown[0].deactivated),
        (member, &None, false)
    );

    apply(&pool, &[feed.member(registered(member, "ada"))]).await;

    let shown = ranking(&pool).await;
    assert_eq!(shown[0].nickname.as_deref(), Some("ada"));
    assert_eq!(
        (shown[0].review_count, shown[0].average_stars),
        (1, Some(3.0))
    );
}

#[tokio::test]
async fn members_without_a_live_review_are_not_ranked() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (registered_only, rater) = (MemberId::generate(), MemberId::generate());

    apply(
        &pool,
        &[
            feed.member(registered(registered_only, "ada")),
            feed.rating(rated(rater, PlaceId::generate(), 5)),
        ],
    )
    .await;

    assert_eq!(standings(&pool).await, []);
}

#[tokio::test]
async fn the_limit_cuts_the_ranking_from_the_top() {
    let pool = model().await;
    let mut feed = Feed::default();
    let members = members_in_id_order(12);
    let mut events = Vec::new();
    for member in &members {
        events.extend(rated_review(&mut feed, *member, Some(3)));
    }
    apply(&pool, &events).await;

    let three = top(&pool, Limit::parse(Some("3")).unwrap()).await.unwrap();
    let default = top(&pool, Limit::DEFAULT).await.unwrap();

    let ids = |items: &[Reviewer]| items.iter().map(|r| r.member_id).collect::<Vec<_>>();
    assert_eq!(ids(&three.items), members[..3]);
    assert_eq!(ids(&default.items), members[..10]);
}
