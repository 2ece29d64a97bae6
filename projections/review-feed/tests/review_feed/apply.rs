//! Each event type's effect on the model, read back through the query functions.

use events::{MemberId, PhotoId, PlaceId};
use projection::query::PageParams;
use review_feed::read::{self, Author, PageRequest, Review, Sort};
use sqlx::PgPool;
use uuid::Uuid;

use super::support::{Sources, Written, apply, at, model};

async fn review(pool: &PgPool, written: &Written) -> Option<Review> {
    read::review(pool, written.review_id.as_uuid())
        .await
        .unwrap()
}

fn first_page(sort: Sort) -> PageRequest {
    PageRequest::parse(sort, &PageParams::default()).unwrap()
}

async fn place_review_ids(pool: &PgPool, place_id: PlaceId) -> Option<Vec<Uuid>> {
    let page = read::place_reviews(pool, place_id.as_uuid(), &first_page(Sort::Newest))
        .await
        .unwrap()?;
    Some(page.items.iter().map(|review| review.review_id).collect())
}

async fn member_review_ids(pool: &PgPool, member_id: MemberId) -> Option<Vec<Uuid>> {
    let page = read::member_reviews(pool, member_id.as_uuid(), &first_page(Sort::Newest))
        .await
        .unwrap()?;
    Some(page.items.iter().map(|review| review.review_id).collect())
}

fn url(photo_id: PhotoId) -> String {
    format!("/api/v1/photos/{photo_id}")
}

#[tokio::test]
async fn a_written_review_shows_its_author_place_photos_in_order_and_stars() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place, avatar) = (
        MemberId::generate(),
        PlaceId::generate(),
        PhotoId::generate(),
    );
    let mut written = Written::new(place, member, 5);
    let photos = vec![
        PhotoId::generate(),
        PhotoId::generate(),
        PhotoId::generate(),
    ];
    written.photo_ids = photos.clone();
    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.avatar(member, avatar),
            sources.add_place(place, "Café Central"),
            sources.rate(member, place, 4),
            sources.write(&written),
        ],
    )
    .await;

    let shown = review(&pool, &written).await.unwrap();
    assert_eq!(shown.review_id, written.review_id.as_uuid());
    assert_eq!(shown.place.place_id, place.as_uuid());
    assert_eq!(shown.place.name.as_deref(), Some("Café Central"));
    assert_eq!(
        shown.author,
        Author {
            member_id: member.as_uuid(),
            nickname: Some("ana".to_owned()),
            avatar_url: Some(url(avatar)),
            deleted: false,
        }
    );
    assert_eq!(shown.title, format!("Title of {}", written.review_id));
    assert_eq!(
        shown.photo_urls,
        photos.into_iter().map(url).collect::<Vec<_>>()
    );
    assert_eq!(shown.stars, Some(4));
    assert_eq!(shown.created_at, at(5));
    assert_eq!(shown.edited_at, None);
    assert_eq!(
        place_review_ids(&pool, place).await.unwrap(),
        vec![written.review_id.as_uuid()]
    );
    assert_eq!(
        member_review_ids(&pool, member).await.unwrap(),
        vec![written.review_id.as_uuid()]
    );
}

#[tokio::test]
async fn a_review_before_its_author_place_and_rating_shows_them_once_they_arrive() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let written = Written::new(place, member, 1);
    apply(&pool, &[sources.write(&written)]).await;

    let early = review(&pool, &written).await.unwrap();
    assert_eq!(early.author.nickname, None);
    assert!(!early.author.deleted);
    assert_eq!(early.place.name, None);
    assert_eq!(early.stars, None);

    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.rename_member(member, "ana-maria"),
            sources.add_place(place, "Café Central"),
            sources.rate(member, place, 2),
        ],
    )
    .await;
    let late = review(&pool, &written).await.unwrap();
    assert_eq!(late.author.nickname.as_deref(), Some("ana-maria"));
    assert_eq!(late.place.name.as_deref(), Some("Café Central"));
    assert_eq!(late.stars, Some(2));
}

#[tokio::test]
async fn an_edit_replaces_title_body_and_photos_and_sets_edited_at() {
    let pool = model().await;
    let mut sources = Sources::default();
    let mut written = Written::new(PlaceId::generate(), MemberId::generate(), 3);
    written.photo_ids = vec![PhotoId::generate(), PhotoId::generate()];
    let new_photo = PhotoId::generate();
    apply(
        &pool,
        &[
            sources.write(&written),
            sources.edit(&written, "Better on Sundays", vec![new_photo]),
        ],
    )
    .await;

    let shown = review(&pool, &written).await.unwrap();
    assert_eq!(shown.title, "Better on Sundays");
    assert_eq!(shown.body, "Edited body");
    assert_eq!(shown.photo_urls, vec![url(new_photo)]);
    assert_eq!(shown.created_at, at(3));
    assert_eq!(shown.edited_at, Some(at(3) + time::Duration::hours(1)));
}

#[tokio::test]
async fn a_deleted_review_disappears_from_every_query() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let kept = Written::new(place, member, 1);
    let deleted = Written::new(place, member, 2);
    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.add_place(place, "Café Central"),
            sources.write(&kept),
            sources.write(&deleted),
            sources.delete(&deleted),
        ],
    )
    .await;

    assert_eq!(review(&pool, &deleted).await, None);
    assert!(review(&pool, &kept).await.is_some());
    let only_kept = Some(vec![kept.review_id.as_uuid()]);
    assert_eq!(place_review_ids(&pool, place).await, only_kept);
    assert_eq!(member_review_ids(&pool, member).await, only_kept);
    let by_stars = read::place_reviews(&pool, place.as_uuid(), &first_page(Sort::Stars))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_stars.items.len(), 1);
}

#[tokio::test]
async fn nickname_and_avatar_changes_show_on_all_the_members_reviews() {
    let pool = model().await;
    let mut sources = Sources::default();
    let member = MemberId::generate();
    let reviews: Vec<_> = (0..3)
        .map(|minute| Written::new(PlaceId::generate(), member, minute))
        .collect();
    let mut batch = vec![sources.register(member, "ana")];
    batch.extend(reviews.iter().map(|written| sources.write(written)));
    apply(&pool, &batch).await;
    let avatar = PhotoId::generate();
    apply(
        &pool,
        &[
            sources.rename_member(member, "ana-b"),
            sources.avatar(member, avatar),
        ],
    )
    .await;

    for written in &reviews {
        let author = review(&pool, written).await.unwrap().author;
        assert_eq!(author.nickname.as_deref(), Some("ana-b"));
        assert_eq!(author.avatar_url, Some(url(avatar)));
    }
}

#[tokio::test]
async fn a_deactivated_author_shows_as_a_deleted_member() {
    let pool = model().await;
    let mut sources = Sources::default();
    let member = MemberId::generate();
    let written = Written::new(PlaceId::generate(), member, 1);
    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.avatar(member, PhotoId::generate()),
            sources.write(&written),
            sources.deactivate(member),
        ],
    )
    .await;

    assert_eq!(
        review(&pool, &written).await.unwrap().author,
        Author {
            member_id: member.as_uuid(),
            nickname: None,
            avatar_url: None,
            deleted: true,
        }
    );
}

#[tokio::test]
async fn a_place_rename_shows_on_its_reviews_and_other_updates_keep_the_name() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    let written = Written::new(place, MemberId::generate(), 1);
    apply(
        &pool,
        &[
            sources.add_place(place, "Café Central"),
            sources.write(&written),
        ],
    )
    .await;

    apply(&pool, &[sources.update_place(place, Some("Central"))]).await;
    let renamed = review(&pool, &written).await.unwrap().place.name;
    assert_eq!(renamed.as_deref(), Some("Central"));

    apply(&pool, &[sources.update_place(place, None)]).await;
    let kept = review(&pool, &written).await.unwrap().place.name;
    assert_eq!(kept.as_deref(), Some("Central"));
}

#[tokio::test]
async fn a_rating_change_and_removal_update_the_reviews_stars() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let written = Written::new(place, member, 1);
    let other_place = Written::new(PlaceId::generate(), member, 2);
    apply(
        &pool,
        &[
            sources.write(&written),
            sources.write(&other_place),
            sources.rate(member, place, 3),
        ],
    )
    .await;
    assert_eq!(review(&pool, &written).await.unwrap().stars, Some(3));
    // A rating is for one place: the member's other review is untouched.
    assert_eq!(review(&pool, &other_place).await.unwrap().stars, None);

    apply(&pool, &[sources.rate(member, place, 5)]).await;
    assert_eq!(review(&pool, &written).await.unwrap().stars, Some(5));

    apply(&pool, &[sources.unrate(member, place)]).await;
    assert_eq!(review(&pool, &written).await.unwrap().stars, None);
}

#[tokio::test]
async fn stars_out_of_range_are_poison_and_change_nothing() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let written = Written::new(place, member, 1);
    let bad = sources.rate(member, place, 6);
    let outcome = apply(&pool, &[sources.write(&written), bad.clone()]).await;

    assert_eq!(outcome.applied, 1);
    assert_eq!(outcome.poisoned.len(), 1);
    assert_eq!(outcome.poisoned[0].0, bad.event_id);
    assert_eq!(review(&pool, &written).await.unwrap().stars, None);
}
